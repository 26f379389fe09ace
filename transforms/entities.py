"""Entity stage: `Article` -> `Entity` rows, plus the article's parse for the event stage.

spaCy runs once per article here: documents are batched (`BatchElements`) through `nlp.pipe`
with one model per worker process. Within an article, mentions with the same normalised name
(no leading article, no possessive, no trailing place word) are merged into one row with the most
frequent label; places named as different kinds stay apart, spelling variants merge (see
`entities_of`).
"""
from __future__ import annotations

import difflib
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils import shared
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from pipeline.config import EntitiesSettings
from pipeline.records import AnnotatedArticle, Article, DeadLetter, Entity
from transforms.actors import Actor, patterns
from transforms.dead_letters import DEAD_LETTERS, dead_letter, guarded, stable_id, tagged
from transforms.geocode import UNRESOLVED, Gazetteer, Place
from transforms.nlp import ACTOR_SPANS, SpacyModel, doc_to_bytes, entity_name, place_noun_of
from transforms.places import is_country
from transforms.progress import LogProgress

STAGE = "entities"
NAMESPACE = "newsbeam.entities"  # one counter per entity label
TIMING_NAMESPACE = "newsbeam.timing"
SPACY_MILLISECONDS = "spacy_ms"  # time inside nlp.pipe, summed over workers
ENTITIES = "entities"

class EntitiesResult(NamedTuple):
    annotated: beam.PCollection  # AnnotatedArticle
    entities: beam.PCollection  # Entity
    dead_letters: beam.PCollection  # DeadLetter


_PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
SPELLING_SIMILARITY = 0.9  # difflib ratio from which two names of one label are one name misspelt
_MIN_SPELLING_LENGTH = 5  # shorter names differ by a letter too often (Iran, Iraq)


ACTOR_LABEL = "ACTOR"  # an actor the dictionary found where NER found nothing


class _Group:
    """The mentions of one entity in one document."""

    def __init__(self, first: int, actor: Optional[Actor] = None):
        self.names: Counter[str] = Counter()
        self.labels: Counter[str] = Counter()
        self.variants: dict[str, None] = {}
        self.first = first
        self.actor = actor
        self.sectors: Counter[str] = Counter()  # of the generic actors it qualifies (`Afghan` forces)

    @property
    def name(self) -> str:
        return self.names.most_common(1)[0][0]

    @property
    def label(self) -> str:
        return self.labels.most_common(1)[0][0]

    def add(self, name: str, label: str, surface: str, start: int) -> None:
        self.names[name] += 1
        self.labels[label] += 1
        self.variants.setdefault(surface, None)
        self.first = min(self.first, start)

    def absorb(self, other: _Group) -> None:
        self.actor = self.actor or other.actor
        self.names.update(other.names)
        self.labels.update(other.labels)
        for variant in other.variants:
            self.variants.setdefault(variant, None)
        self.first = min(self.first, other.first)


def place_type(span: Span, place_words: frozenset[str]) -> Optional[str]:
    """The kind of place a mention names, when the text says it: `Kandahar province`, `Kandahar
    city`, `the town of Kidal` -> province, city, town."""
    doc = span.doc
    following = doc[span.end] if span.end < len(doc) else None
    if following is not None and following.lemma_.lower() in place_words:
        return following.lemma_.lower()
    last = span[-1]
    if len(span) > 1 and last.lemma_.lower() in place_words:
        return last.lemma_.lower()  # the word is inside the span: `Kandahar Province`
    noun = place_noun_of(span, place_words)
    if noun is not None and "Plur" not in noun.morph.get("Number", []):  # not `the provinces of X`
        return noun.lemma_.lower()
    return None


def _base_name(name: str, kind: Optional[str]) -> str:
    """`Kandahar Province` -> `Kandahar` when the place word is part of the mention."""
    if kind and name.lower().endswith(" " + kind):
        return name[: -len(kind) - 1].strip()
    return name


def entities_of(doc: Doc, article_id: str, labels: frozenset[str], place_words: frozenset[str] = frozenset(),
                actors: Optional[Mapping[str, Actor]] = None, gazetteer: Optional[Gazetteer] = None) -> list[Entity]:
    """One `Entity` per entity of the doc with an accepted label: mentions merged by normalised
    name; places apart by their kind (`Kandahar province` is not `Kandahar city`), a bare mention
    joining the one kind the doc names; spelling variants of a name (`Badakhshan`, `Badakshan`)
    merged; salience from mention count and first position. A mention the actor dictionary
    matches takes the actor's name, sector and country (`ISIS`, `Daesh` -> `Islamic State`, REB);
    dictionary matches NER missed are entities labelled ACTOR. Places are geocoded with
    `gazetteer` in the context of each other (`transforms.geocode`)."""
    actors = actors or {}
    matches = filter_spans(list(doc.spans[ACTOR_SPANS])) if ACTOR_SPANS in doc.spans else []
    actor_at = {i: span for span in matches if span.id_ in actors for i in range(span.start, span.end)}
    claimed: set[int] = set()
    groups: dict[tuple[str, Optional[str]], _Group] = {}

    def add(key: tuple[str, Optional[str]], name: str, label: str, surface: str, start: int,
            actor: Optional[Actor] = None) -> None:
        groups.setdefault(key, _Group(start, actor)).add(name, label, surface, start)

    for ent in doc.ents:
        if ent.label_ not in labels:
            continue
        match = next((actor_at[i] for i in range(ent.start, ent.end) if i in actor_at), None)
        if match is not None:
            claimed.add(match.start)
            add((match.id_.casefold(), None), match.id_, ent.label_, match.text, min(ent.start_char, match.start_char),
                actors[match.id_])
            continue
        kind = place_type(ent, place_words) if ent.label_ in _PLACE_LABELS else None
        name = _base_name(entity_name(ent), kind)
        if kind and is_country(name):
            kind = None  # a country is not a province of anything
        if name:
            add((name.casefold(), kind), name, ent.label_, ent.text, ent.start_char)
    for span in matches:
        if span.id_ in actors and span.start not in claimed:
            add((span.id_.casefold(), None), span.id_, ACTOR_LABEL, span.text, span.start_char, actors[span.id_])
            _qualify(span, actors[span.id_], doc, groups)
    groups = _merge_bare_places(groups)
    groups = _merge_spellings(groups)
    most = max((sum(g.names.values()) for g in groups.values()), default=1)
    length = max(len(doc.text), 1)
    for group in groups.values():  # a country's name is a place, whatever NER called it (`Tajikistan` NORP)
        if group.label in ("NORP", "ORG") and not group.actor and is_country(group.name):
            group.labels = Counter({"GPE": sum(group.labels.values())})
    places = {key: group for key, group in groups.items() if group.label in _PLACE_LABELS and not group.actor}
    # Every spelling of a place is tried (the article may misspell it where it names it most).
    located = gazetteer.resolve_all((name, k[1]) for k, g in places.items() for name, _ in g.names.most_common()) \
        if gazetteer else {}
    entities = []
    for key, group in groups.items():
        place = _located(group, key[1], located) if key in places else None
        entities.append(Entity(
            entity_id=stable_id(article_id, key[0], key[1] or ""),
            article_id=article_id,
            name=group.name,
            label=_label(group),
            place_type=key[1],
            sector=group.actor.sector if group.actor else _most_common(group.sectors),
            country=place.country if place else group.actor.country if group.actor else None,
            subdivision=place.subdivision if place else None,
            latitude=place.latitude if place else None,
            longitude=place.longitude if place else None,
            geo=place.level if place else None,
            mention_count=sum(group.names.values()),
            first_offset=group.first,
            salience=round(0.5 * sum(group.names.values()) / most + 0.5 * (1 - group.first / length), 3),
            variants=list(group.variants),
        ))
    return entities


def _qualify(span: Span, actor: Actor, doc: Doc, groups: dict[tuple[str, Optional[str]], _Group]) -> None:
    """`Hungarian officials`, `Afghan forces`: the nationality or place right before a generic
    actor (one without a country) names whose it is, so that entity gets the actor's sector."""
    if actor.country or span.start == 0:
        return
    before = next((e for e in doc.ents if e.end == span.start and e.label_ in ("NORP", "GPE")), None)
    if before is None:
        return
    group = groups.get((entity_name(before).casefold(), None))
    if group is not None and group.actor is None:
        group.sectors[actor.sector] += 1


def _most_common(counts: Counter[str]) -> Optional[str]:
    return counts.most_common(1)[0][0] if counts else None


def _located(group: _Group, kind: Optional[str], located: Mapping[tuple[str, Optional[str]], Place]) -> Place:
    """The first spelling of the group the gazetteer resolved, else unresolved."""
    found = [located[(name, kind)] for name, _ in group.names.most_common() if (name, kind) in located]
    return next((p for p in found if p.level != "unresolved"), found[0] if found else UNRESOLVED)


def _label(group: _Group) -> str:
    """The most frequent NER label; ACTOR only when NER never labelled the actor."""
    named = Counter({label: n for label, n in group.labels.items() if label != ACTOR_LABEL})
    return named.most_common(1)[0][0] if named else ACTOR_LABEL


def _merge_bare_places(groups: dict[tuple[str, Optional[str]], _Group]) -> dict[tuple[str, Optional[str]], _Group]:
    """`Kohistan` joins `Kohistan district` when the doc names only one kind of place Kohistan."""
    kinds: dict[str, list[str]] = {}
    for name, kind in groups:
        if kind:
            kinds.setdefault(name, []).append(kind)
    for (name, kind) in list(groups):
        if kind is None and len(kinds.get(name, [])) == 1 and groups[(name, None)].label in _PLACE_LABELS:
            groups[(name, kinds[name][0])].absorb(groups.pop((name, None)))
    return groups


def _merge_spellings(groups: dict[tuple[str, Optional[str]], _Group]) -> dict[tuple[str, Optional[str]], _Group]:
    """Merge the less mentioned of two groups into the other when their names are one name
    spelt two ways: same label, same kind of place, similar enough and long enough."""
    keys = sorted(groups, key=lambda k: (-sum(groups[k].names.values()), groups[k].first))
    for i, key in enumerate(keys):
        if key not in groups:
            continue
        for other in keys[i + 1 :]:
            if other not in groups or other[1] != key[1] or groups[other].label != groups[key].label:
                continue
            if min(len(key[0]), len(other[0])) < _MIN_SPELLING_LENGTH:
                continue
            if difflib.SequenceMatcher(None, key[0], other[0]).ratio() >= SPELLING_SIMILARITY:
                groups[key].absorb(groups.pop(other))
    return groups


class AnnotateFn(beam.DoFn):
    """A batch of Articles -> AnnotatedArticle (main) and Entity rows (`entities`)."""

    def __init__(self, settings: EntitiesSettings, shared_model: shared.Shared, actors: Sequence[Actor] = (),
                 shared_gazetteer: Optional[shared.Shared] = None):
        self._settings = settings
        self._shared = shared_model
        self._shared_gazetteer = shared_gazetteer or shared.Shared()
        self._gazetteer: Optional[Gazetteer] = None
        self._actors = list(actors)
        self._labels = frozenset(settings.labels)
        self._place_words = frozenset(w.lower() for w in settings.place_words)
        self._model: SpacyModel | None = None
        self._spacy_ms = Metrics.counter(TIMING_NAMESPACE, SPACY_MILLISECONDS)

    def setup(self) -> None:
        settings, rules = self._settings, patterns(self._actors)
        self._model = self._shared.acquire(
            lambda: SpacyModel(settings.model, settings.place_words, rules),
            tag=stable_id(settings.model, *settings.place_words, *(sorted(str(r) for r in rules))),
        )
        self._gazetteer = self._shared_gazetteer.acquire(Gazetteer, tag="newsbeam.gazetteer")

    def process(self, batch: Sequence[Article]) -> Iterator[Any]:
        limit = self._settings.max_chars
        fits = []
        for article in batch:
            if len(article.text) > limit:
                reason = f"text too long for entity extraction: {len(article.text):,} characters (entities.max_chars is {limit:,})"
                yield tagged(dead_letter(STAGE, article.source, reason, detail=article.article_id))
            else:
                fits.append(article)
        try:
            outputs = list(self._annotate(fits))
        except Exception:  # pylint: disable=broad-except  # isolate the article that failed
            for article in fits:
                yield from guarded(STAGE, article.source, self._annotate([article]))
            return
        yield from outputs

    def _annotate(self, articles: Sequence[Article]) -> Iterator[Any]:
        assert self._model is not None
        labels, place_words = self._labels, self._place_words
        actors = {actor.name: actor for actor in self._actors}
        gazetteer = self._gazetteer

        def analyse(doc: Doc, article: Article) -> tuple[bytes, list[Entity]]:
            return doc_to_bytes(doc), entities_of(doc, article.article_id, labels, place_words, actors, gazetteer)

        items = [(a.text, a) for a in articles]
        started = time.perf_counter()
        results = self._model.map_docs(items, self._settings.batch_size, analyse)
        self._spacy_ms.inc(round((time.perf_counter() - started) * 1000))
        for article, (doc_bytes, entities) in zip(articles, results, strict=True):
            yield AnnotatedArticle(article, doc_bytes, entities)
            for entity in entities:
                Metrics.counter(NAMESPACE, entity.label).inc()
                yield beam.pvalue.TaggedOutput(ENTITIES, entity)


class ExtractEntities(beam.PTransform):
    """Article -> `EntitiesResult(annotated=AnnotatedArticle, entities=Entity, dead_letters=DeadLetter)`."""

    def __init__(self, settings: EntitiesSettings, progress_seconds: float = 10.0, actors: Sequence[Actor] = ()):
        super().__init__()
        self._settings = settings
        self._progress_seconds = progress_seconds
        self._actors = list(actors)

    def expand(self, articles: beam.PCollection) -> EntitiesResult:
        size = self._settings.batch_size
        outputs = (
            articles
            | "Batch" >> beam.BatchElements(min_batch_size=size, max_batch_size=size)
            | "Annotate"
            >> beam.ParDo(AnnotateFn(self._settings, shared.Shared(), self._actors))
            .with_output_types(AnnotatedArticle, entities=Entity, dead_letters=DeadLetter)
            .with_outputs(ENTITIES, DEAD_LETTERS, main="annotated")
        )
        annotated = outputs.annotated | "Progress" >> beam.ParDo(
            LogProgress("entities", self._progress_seconds)
        ).with_output_types(AnnotatedArticle)
        return EntitiesResult(annotated, outputs[ENTITIES], outputs[DEAD_LETTERS])
