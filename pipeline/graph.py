"""The pipeline graph: wires the stages; holds no logic of its own.

    files -> ReadArticles --+  (re-driven dead letters of pages -> FetchPages -+)
                            +-> CleanArticles -> ExactDedup -> NearDedup -> ExtractEntities -> ExtractEvents -> ClusterEvents
    feeds -> ReadFeeds -----+
               |               |               |              |                  |
               +---------------+--- dead letters (every stage), duplicates, entities, events, articles, event_clusters
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Optional

import apache_beam as beam

from pipeline.config import Settings
from pipeline.records import FeedState
from pipeline.runners import is_remote
from transforms import dedup_index, feed_state
from transforms.actors import Actor
from transforms.clean import CleanArticles
from transforms.dedup import DropAlreadyWritten, ExactDedup
from transforms.entities import ExtractEntities
from transforms.event_clusters import ClusterEvents
from transforms.events import ExtractEvents
from transforms.feeds import FetchPages, ReadFeeds
from transforms.near_dedup import NearDedup
from transforms.sources import ReadArticles
from transforms.taxonomy import Taxonomy


class Tables(NamedTuple):
    """Every output table of a run, as PCollections of its record type."""

    articles: beam.PCollection
    entities: beam.PCollection
    events: beam.PCollection
    event_clusters: beam.PCollection
    duplicates: beam.PCollection
    dead_letters: beam.PCollection


def build_pipeline(
    pipeline: beam.Pipeline,
    settings: Settings,
    patterns: list[str],
    taxonomy: Taxonomy,
    lang: str = "en",
    feed_states: Optional[dict[str, FeedState]] = None,
    feed_state_outputs: Optional[tuple[str, str]] = None,
    index_output: Optional[str] = None,
    actors: Sequence[Actor] = (),
    history: Sequence[str] = (),
) -> Tables:
    """Add the stages to `pipeline`, reading the files of `patterns` (see
    `sources.resolve_patterns`) and the feeds of `settings.feeds`. With `settings.dedup.index`,
    articles are de-duplicated against the index of earlier runs and, when `index_output` is
    set, the articles written are added to it there (see `dedup_index.commit`); `history` names
    more index directories to read (the segments of a run, `pipeline.segments`). Feeds send the
    validators of earlier runs (`feed_states`), skip the entries earlier runs passed on (the
    state directory's entries file) and, with `feed_state_outputs`, write what they learnt there
    for `feed_state` to commit."""
    reads = []
    if patterns:
        files = pipeline | "ReadArticles" >> ReadArticles(patterns, settings.input.max_bytes, settings.input.encoding)
        reads += [files, files.pages | "RedrivePages" >> FetchPages(settings.fetch)]
    if settings.feeds.sources:
        known = feed_state.read_known(pipeline, settings.state_path, settings.dedup.expiry_days)
        reads.append(pipeline | "ReadFeeds" >> ReadFeeds(settings.feeds.sources, settings.feeds, settings.fetch,
                                                         feed_states, known, feed_state_outputs))
    documents = [read.documents for read in reads] | "Documents" >> beam.Flatten()
    cleaned = documents | "Clean" >> CleanArticles(settings.clean)
    unique = cleaned.articles | "Dedup" >> ExactDedup()
    stages = [unique]
    if settings.dedup.near or settings.dedup.index:
        earlier = dedup_index.read_earlier([settings.index_path, *history]) if settings.dedup.index else None
        stages.append(unique.articles | "NearDedup" >> NearDedup(settings.dedup, earlier,
                                                                 narrow_earlier=not is_remote(pipeline.options)))
    annotated = stages[-1].articles | "Entities" >> ExtractEntities(settings.entities, settings.progress_seconds,
                                                                                    actors)
    events = annotated.annotated | "Events" >> ExtractEvents(taxonomy, settings.events.min_confidence, lang)
    dead_letters = (
        *(read.dead_letters for read in reads),
        cleaned.dead_letters,
        *(stage.dead_letters for stage in stages),
        annotated.dead_letters,
        events.dead_letters,
    ) | "DeadLetters" >> beam.Flatten()
    if settings.dedup.index and index_output:
        _ = events.articles | "AddToIndex" >> dedup_index.WriteIndex(settings.dedup, index_output)
    return Tables(
        articles=events.articles,
        entities=annotated.entities,
        events=events.events,
        event_clusters=events.events | "EventClusters" >> ClusterEvents(),
        duplicates=[stage.duplicates for stage in stages] | "Duplicates" >> beam.Flatten()
        | "DropAlreadyWritten" >> DropAlreadyWritten(),
        dead_letters=dead_letters,
    )
