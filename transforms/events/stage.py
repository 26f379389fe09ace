"""Event stage: `AnnotatedArticle` -> `Event` rows, and the `Article` row once its events are done.

The sentence-level events come from `extractor.EventExtractor` (which says how a trigger becomes
an event, and how its actor, target, place, date, casualties and confidence are found). The stage
then resolves each event's date against the article's publication time (`dates`), attaches the
actor's and location's entity fields (`entity_fields`), and gives the article its primary event
(`primary`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, Optional
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils import shared

from transforms.core import metrics
from transforms.core.dead_letters import DEAD_LETTERS, guarded
from transforms.core.load_time import LoadTime
from transforms.core.records import AnnotatedArticle, Article, DeadLetter, Entity, Event
from transforms.core.settings import EventsSettings
from transforms.entities.nlp import DocReader
from transforms.events.classifier import EventClassifier
from transforms.events.dates import DateResolver
from transforms.events.decision import TypeDecision
from transforms.events.entity_fields import attach
from transforms.events.extractor import EventExtractor
from transforms.events.taxonomy import Taxonomy

STAGE = "events"
EVENTS = "events"


class EventsResult(NamedTuple):
    articles: beam.PCollection  # Article
    events: beam.PCollection  # Event
    dead_letters: beam.PCollection  # DeadLetter


def with_entities(event: Event, entities: Sequence[Entity], taxonomy: Taxonomy) -> Event:
    """The event with its actor's and location's entity fields, and the ACLED type its actor's
    sector decides where the taxonomy says so (the army retaking a town: Government regains territory)."""
    event = attach(event, entities)
    acled = taxonomy.by_name[event.event_type].acled_for(event.actor_sector)
    return event._replace(
        acled_event_type=acled.event_type if acled else None,
        acled_sub_event_type=acled.sub_event_type if acled else None,
    )


def type_decision(
    settings: EventsSettings, taxonomy: Taxonomy, handle: Optional[shared.Shared] = None
) -> Optional[TypeDecision]:
    """The classifier `events.classifier` names with the rules' weights, or None (rules alone).
    With a `handle`, the model is loaded once per worker process and shared by its threads."""
    name = settings.classifier
    if not name:
        return None
    if handle is None:
        classifier = EventClassifier.load(name)
    else:
        classifier = handle.acquire(lambda: EventClassifier.load(name), tag=f"newsbeam.events.classifier:{name}")
    return TypeDecision(classifier, taxonomy, settings.rule_weight, settings.no_trigger_weight)


_LEAD_DECAY = 0.25  # salience of an event falls with its sentence's distance from the opening
_CASUALTY_BONUS = 0.1


def salience(event: Event) -> float:
    """How much an event is what its article is about: its confidence, weighted towards the
    opening sentences (news states its main event first) and towards events with casualties."""
    casualties = any(n for n in (event.fatalities, event.injured, event.arrested))
    return event.confidence / (1 + _LEAD_DECAY * event.sentence_index) + (_CASUALTY_BONUS if casualties else 0)


def primary_event(events: Sequence[Event]) -> Optional[Event]:
    """The most salient event (the first in the text on ties), or None."""
    return max(events, key=lambda e: (salience(e), -e.sentence_index)) if events else None


def primary_acled_event(events: Sequence[Event]) -> Optional[Event]:
    """The most salient event that has an ACLED type."""
    return primary_event([e for e in events if e.acled_sub_event_type])


def primary(article: Article, events: Sequence[Event]) -> Article:
    """The article with its primary event's fields; when that event has no ACLED type (a
    statement, a meeting), the ACLED columns come from its most salient event that has one."""
    best = primary_event(events)
    if best is None:
        return article
    acled = primary_acled_event(events)
    return article._replace(
        primary_event_id=best.event_id,
        primary_event_type=best.event_type,
        primary_plover_type=best.plover_type,
        primary_plover_mode=best.plover_mode,
        primary_cameo_root=best.cameo_root,
        primary_acled_event_type=acled.acled_event_type if acled else None,
        primary_acled_sub_event_type=acled.acled_sub_event_type if acled else None,
    )


def publisher(article: Article) -> Optional[str]:
    """The feed's name, else the site's name, else the URL's host."""
    return article.feed or article.site_name or (urlsplit(article.url).hostname if article.url else None)


class ExtractEventsFn(beam.DoFn):
    """AnnotatedArticle -> its Article with its primary event (main) and its Events above the
    threshold (`events`)."""

    def __init__(self, taxonomy: Taxonomy, settings: EventsSettings, lang: str, handle: shared.Shared):
        self._taxonomy = taxonomy
        self._settings = settings
        self._handle = handle
        self._min_confidence = settings.threshold
        self._lang = lang
        self._reader: Optional[DocReader] = None
        self._extractor: Optional[EventExtractor] = None
        self._dates: Optional[DateResolver] = None
        self._load_time = LoadTime()

    def setup(self) -> None:
        with self._load_time.measure():
            self._reader = DocReader(self._lang)
            self._extractor = EventExtractor(
                self._taxonomy, type_decision(self._settings, self._taxonomy, self._handle)
            )
            self._dates = DateResolver()

    def process(self, annotated: AnnotatedArticle) -> Iterator[Any]:
        self._load_time.report()
        return guarded(STAGE, annotated.article.source, self._extract(annotated))

    def _extract(self, annotated: AnnotatedArticle) -> Iterator[Any]:
        assert self._reader is not None and self._extractor is not None and self._dates is not None
        article = annotated.article
        doc = self._reader.read(annotated.doc)
        events = []
        for event in self._extractor.extract(doc, article.article_id):
            if event.confidence < self._min_confidence:
                continue
            date = self._dates.resolve(event.date_text, article.published)
            events.append(
                with_entities(event, annotated.entities, self._taxonomy)._replace(
                    event_date=date.date if date else None,
                    date_precision=date.precision if date else None,
                    published=article.published,
                    publisher=publisher(article),
                )
            )
        yield primary(article, events)
        for event in events:
            Metrics.counter(metrics.EVENTS, event.event_type).inc()
            yield beam.pvalue.TaggedOutput(EVENTS, event)


class ExtractEvents(beam.PTransform):
    """AnnotatedArticle -> `EventsResult(articles=Article, events=Event, dead_letters=DeadLetter)`."""

    def __init__(self, taxonomy: Taxonomy, settings: EventsSettings, lang: str = "en"):
        super().__init__()
        self._taxonomy = taxonomy
        self._settings = settings
        self._lang = lang

    def expand(self, annotated: beam.PCollection) -> EventsResult:
        outputs = annotated | "Extract" >> beam.ParDo(
            ExtractEventsFn(self._taxonomy, self._settings, self._lang, shared.Shared())
        ).with_output_types(Article, events=Event, dead_letters=DeadLetter).with_outputs(
            EVENTS, DEAD_LETTERS, main="articles"
        )
        return EventsResult(outputs.articles, outputs[EVENTS], outputs[DEAD_LETTERS])
