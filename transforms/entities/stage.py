"""Entity stage: `Article` -> `Entity` rows, plus the article's parse for the event stage.

spaCy runs once per article here: documents are batched (`BatchElements`) through `nlp.pipe`
with one model per worker process (and the gazetteer, one per process too). What becomes of one
article's mentions (merging, actors, roles, geocoding) is `transforms.entities.rows`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils import shared
from spacy.tokens import Doc

from transforms.core import metrics
from transforms.core.dead_letters import DEAD_LETTERS, dead_letter, guarded, tagged
from transforms.core.ids import stable_id
from transforms.core.load_time import LoadTime
from transforms.core.progress import LogProgress
from transforms.core.records import AnnotatedArticle, Article, DeadLetter, Entity
from transforms.core.settings import EntitiesSettings
from transforms.entities.actors import Actor, patterns
from transforms.entities.nlp import SpacyModel, doc_to_bytes
from transforms.entities.rows import entities_of
from transforms.geo.geocode import Gazetteer

STAGE = "entities"
ENTITIES = "entities"


class EntitiesResult(NamedTuple):
    annotated: beam.PCollection  # AnnotatedArticle
    entities: beam.PCollection  # Entity
    dead_letters: beam.PCollection  # DeadLetter


def load_model(settings: EntitiesSettings, actors: Sequence[Actor], gazetteer: Optional[Gazetteer]) -> SpacyModel:
    """The spaCy pipeline the stage runs: the model, the place labeller (with the gazetteer) and
    the actor dictionary."""
    return SpacyModel(
        settings.model,
        settings.place_words,
        patterns(list(actors)),
        gazetteer.is_place if gazetteer is not None else None,
    )


class Annotator:
    """The entity stage's work on documents, also used outside Beam (`newsbeam eval`): the model,
    the gazetteer, and the entity rows of a parsed document."""

    def __init__(
        self, settings: EntitiesSettings, actors: Sequence[Actor], model: SpacyModel, gazetteer: Optional[Gazetteer]
    ):
        self.settings = settings
        self.model = model
        self.gazetteer = gazetteer
        self._actors = {actor.name: actor for actor in actors}
        self._labels = frozenset(settings.labels)
        self._place_words = frozenset(w.lower() for w in settings.place_words)

    @classmethod
    def load(cls, settings: EntitiesSettings, actors: Sequence[Actor]) -> Annotator:
        gazetteer = Gazetteer()
        return cls(settings, actors, load_model(settings, actors, gazetteer), gazetteer)

    def entities(self, doc: Doc, article_id: str) -> list[Entity]:
        return entities_of(doc, article_id, self._labels, self._place_words, self._actors, self.gazetteer)


class AnnotateFn(beam.DoFn):
    """A batch of Articles -> AnnotatedArticle (main) and Entity rows (`entities`)."""

    def __init__(
        self,
        settings: EntitiesSettings,
        shared_model: shared.Shared,
        actors: Sequence[Actor] = (),
        shared_gazetteer: Optional[shared.Shared] = None,
    ):
        self._settings = settings
        self._shared = shared_model
        self._shared_gazetteer = shared_gazetteer or shared.Shared()
        self._actors = list(actors)
        self._annotator: Optional[Annotator] = None
        self._spacy_ms = Metrics.counter(metrics.TIMING, metrics.SPACY_MILLISECONDS)
        self._load_time = LoadTime()

    def setup(self) -> None:
        settings, actors = self._settings, self._actors
        with self._load_time.measure():
            gazetteer = self._shared_gazetteer.acquire(Gazetteer, tag="newsbeam.gazetteer")
            model = self._shared.acquire(
                lambda: load_model(settings, actors, gazetteer),
                tag=stable_id(settings.model, *settings.place_words, *(sorted(str(r) for r in patterns(actors)))),
            )
        self._annotator = Annotator(settings, actors, model, gazetteer)

    def process(self, batch: Sequence[Article]) -> Iterator[Any]:
        self._load_time.report()
        limit = self._settings.max_chars
        fits = []
        for article in batch:
            if len(article.text) > limit:
                reason = (
                    f"text too long for entity extraction: {len(article.text):,} characters "
                    f"(entities.max_chars is {limit:,})"
                )
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
        annotator = self._annotator
        assert annotator is not None

        def analyse(doc: Doc, article: Article) -> tuple[bytes, list[Entity]]:
            return doc_to_bytes(doc), annotator.entities(doc, article.article_id)

        items = [(a.text, a) for a in articles]
        started = time.perf_counter()
        results = annotator.model.map_docs(items, self._settings.batch_size, analyse)
        self._spacy_ms.inc(round((time.perf_counter() - started) * 1000))
        for article, (doc_bytes, entities) in zip(articles, results, strict=True):
            yield AnnotatedArticle(article, doc_bytes, entities)
            for entity in entities:
                Metrics.counter(metrics.ENTITIES, entity.label).inc()
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
