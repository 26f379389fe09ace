"""The pipeline graph: wires the stages; holds no logic of its own.

    files -> ReadArticles -> CleanArticles -> ExactDedup -> ExtractEntities -> ExtractEvents
               |               |               |              |                  |
               +---------------+--- dead letters (every stage), duplicates, entities, events, articles
"""
from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam

from pipeline.config import Settings
from transforms.clean import CleanArticles
from transforms.dedup import ExactDedup
from transforms.entities import ExtractEntities
from transforms.events import ExtractEvents
from transforms.sources import ReadArticles
from transforms.taxonomy import Taxonomy


class Tables(NamedTuple):
    """Every output table of a run, as PCollections of its record type."""

    articles: beam.PCollection
    entities: beam.PCollection
    events: beam.PCollection
    duplicates: beam.PCollection
    dead_letters: beam.PCollection


def build_pipeline(
    pipeline: beam.Pipeline, settings: Settings, patterns: list[str], taxonomy: Taxonomy, lang: str = "en"
) -> Tables:
    """Add the stages to `pipeline`, reading `patterns` (see `sources.resolve_patterns`)."""
    read = pipeline | "ReadArticles" >> ReadArticles(patterns, settings.input.max_bytes, settings.input.encoding)
    cleaned = read.documents | "Clean" >> CleanArticles(settings.clean)
    unique = cleaned.articles | "Dedup" >> ExactDedup()
    annotated = unique.articles | "Entities" >> ExtractEntities(settings.entities, settings.progress_seconds)
    events = annotated.annotated | "Events" >> ExtractEvents(taxonomy, settings.events.min_confidence, lang)
    dead_letters = (
        read.dead_letters,
        cleaned.dead_letters,
        unique.dead_letters,
        annotated.dead_letters,
        events.dead_letters,
    ) | "DeadLetters" >> beam.Flatten()
    return Tables(
        articles=events.articles,
        entities=annotated.entities,
        events=events.events,
        duplicates=unique.duplicates,
        dead_letters=dead_letters,
    )
