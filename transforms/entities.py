"""Entity stage: `Article` -> `Entity` rows, plus the article's parse for the event stage.

spaCy runs once per article here: documents are batched (`BatchElements`) through `nlp.pipe`
with one model per worker process. Within an article, mentions with the same normalised name
(no leading article, no possessive) are merged into one row with the most frequent label.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils import shared
from spacy.tokens import Doc

from pipeline.config import EntitiesSettings
from pipeline.records import AnnotatedArticle, Article, DeadLetter, Entity
from transforms.dead_letters import DEAD_LETTERS, dead_letter, guarded, stable_id, tagged
from transforms.nlp import SpacyModel, doc_to_bytes, entity_name
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


def entities_of(doc: Doc, article_id: str, labels: frozenset[str]) -> list[Entity]:
    """One `Entity` per normalised name among the doc's entities with an accepted label."""
    groups: dict[str, dict[str, Any]] = {}
    for ent in doc.ents:
        if ent.label_ not in labels:
            continue
        name = entity_name(ent)
        if not name:
            continue
        group = groups.setdefault(
            name.casefold(), {"names": Counter(), "labels": Counter(), "first": ent.start_char, "variants": {}}
        )
        group["names"][name] += 1
        group["labels"][ent.label_] += 1
        group["variants"].setdefault(ent.text, None)
    return [
        Entity(
            entity_id=stable_id(article_id, key),
            article_id=article_id,
            name=group["names"].most_common(1)[0][0],
            label=group["labels"].most_common(1)[0][0],
            mention_count=sum(group["names"].values()),
            first_offset=group["first"],
            variants=list(group["variants"]),
        )
        for key, group in groups.items()
    ]


class AnnotateFn(beam.DoFn):
    """A batch of Articles -> AnnotatedArticle (main) and Entity rows (`entities`)."""

    def __init__(self, settings: EntitiesSettings, shared_model: shared.Shared):
        self._settings = settings
        self._shared = shared_model
        self._labels = frozenset(settings.labels)
        self._model: SpacyModel | None = None
        self._spacy_ms = Metrics.counter(TIMING_NAMESPACE, SPACY_MILLISECONDS)

    def setup(self) -> None:
        settings = self._settings
        self._model = self._shared.acquire(
            lambda: SpacyModel(settings.model, settings.place_words),
            tag=f"{settings.model}|{','.join(settings.place_words)}",
        )

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
        labels = self._labels

        def analyse(doc: Doc, article: Article) -> tuple[bytes, list[Entity]]:
            return doc_to_bytes(doc), entities_of(doc, article.article_id, labels)

        items = [(a.text, a) for a in articles]
        started = time.perf_counter()
        results = self._model.map_docs(items, self._settings.batch_size, analyse)
        self._spacy_ms.inc(round((time.perf_counter() - started) * 1000))
        for article, (doc_bytes, entities) in zip(articles, results, strict=True):
            yield AnnotatedArticle(article, doc_bytes)
            for entity in entities:
                Metrics.counter(NAMESPACE, entity.label).inc()
                yield beam.pvalue.TaggedOutput(ENTITIES, entity)


class ExtractEntities(beam.PTransform):
    """Article -> `EntitiesResult(annotated=AnnotatedArticle, entities=Entity, dead_letters=DeadLetter)`."""

    def __init__(self, settings: EntitiesSettings, progress_seconds: float = 10.0):
        super().__init__()
        self._settings = settings
        self._progress_seconds = progress_seconds

    def expand(self, articles: beam.PCollection) -> EntitiesResult:
        size = self._settings.batch_size
        outputs = (
            articles
            | "Batch" >> beam.BatchElements(min_batch_size=size, max_batch_size=size)
            | "Annotate"
            >> beam.ParDo(AnnotateFn(self._settings, shared.Shared()))
            .with_output_types(AnnotatedArticle, entities=Entity, dead_letters=DeadLetter)
            .with_outputs(ENTITIES, DEAD_LETTERS, main="annotated")
        )
        annotated = outputs.annotated | "Progress" >> beam.ParDo(
            LogProgress("entities", self._progress_seconds)
        ).with_output_types(AnnotatedArticle)
        return EntitiesResult(annotated, outputs[ENTITIES], outputs[DEAD_LETTERS])
