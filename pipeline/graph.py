"""The batch graph: wires the stages; holds no logic of its own.

    files -> ReadArticles --+  (re-driven dead letters of pages -> FetchPages -+)
                            +-> Clean -> Dedup -> NearDedup -> Analyse (Entities -> Events -> EventClusters)
    feeds -> ReadFeeds -----+
               |              |        |          |                 |
               +--------------+--------+----------+-----------------+--> dead letters, duplicates, the tables

`Analyse`, the graph's tail, is shared with the streaming graph (`pipeline.streaming`), and so are
the sinks that take its `Tables`.
"""

from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam

from pipeline.job import Job
from pipeline.runners import is_remote_runner
from transforms.clean import CleanArticles
from transforms.dedup import index as dedup_index
from transforms.dedup.duplicates import DropAlreadyWritten
from transforms.dedup.exact import ExactDedup
from transforms.dedup.near import NearDedup
from transforms.entities.stage import ExtractEntities
from transforms.events import cluster_store
from transforms.events.clusters import ClusterEvents
from transforms.events.stage import ExtractEvents
from transforms.read import feed_state
from transforms.read.feeds import FetchPages, ReadFeeds
from transforms.read.files import ReadArticles


class Tables(NamedTuple):
    """Every output table of a run, as PCollections of its record type."""

    articles: beam.PCollection
    entities: beam.PCollection
    events: beam.PCollection
    event_clusters: beam.PCollection
    duplicates: beam.PCollection
    dead_letters: beam.PCollection


class Analysed(NamedTuple):
    articles: beam.PCollection  # Article, with its primary event
    entities: beam.PCollection  # Entity
    events: beam.PCollection  # Event
    event_clusters: beam.PCollection  # EventCluster
    dead_letters: beam.PCollection  # DeadLetter of the entity and event stages


class Analyse(beam.PTransform):
    """Unique articles -> entities, events, their clusters, and the articles with their primary
    event. With `job.index_pending`, the articles written are added to the cross-run index there
    (committed after the run, `transforms.dedup.index.commit`)."""

    def __init__(self, job: Job):
        super().__init__()
        self._job = job

    def expand(self, articles: beam.PCollection) -> Analysed:
        settings = self._job.settings
        annotated = articles | "Entities" >> ExtractEntities(
            settings.entities, settings.progress_seconds, self._job.actors
        )
        events = annotated.annotated | "Events" >> ExtractEvents(self._job.taxonomy, settings.events, self._job.lang)
        if self._job.index_pending:
            _ = events.articles | "AddToIndex" >> dedup_index.WriteIndex(settings.dedup, self._job.index_pending)
        earlier = None
        if self._job.clusters_across_runs:
            earlier = cluster_store.read(articles.pipeline, [settings.index_path, *self._job.history])
        clusters = events.events | "EventClusters" >> ClusterEvents(earlier)
        if earlier is not None and self._job.index_pending:
            _ = clusters | "AddClustersToIndex" >> cluster_store.WriteClusters(self._job.index_pending)
        return Analysed(
            articles=events.articles,
            entities=annotated.entities,
            events=events.events,
            event_clusters=clusters,
            dead_letters=(annotated.dead_letters, events.dead_letters) | "DeadLetters" >> beam.Flatten(),
        )


def tables(analysed: Analysed, duplicates: beam.PCollection, dead_letters: beam.PCollection) -> Tables:
    """The run's tables: what `Analyse` made, the duplicates that are new facts, every dead letter."""
    return Tables(
        articles=analysed.articles,
        entities=analysed.entities,
        events=analysed.events,
        event_clusters=analysed.event_clusters,
        duplicates=duplicates | "DropAlreadyWritten" >> DropAlreadyWritten(),
        dead_letters=dead_letters,
    )


def build_pipeline(pipeline: beam.Pipeline, job: Job) -> Tables:
    """Add the stages to `pipeline`, reading the files of `job.patterns` (see
    `transforms.read.files.resolve_patterns`) and the feeds of `settings.feeds`. With
    `settings.dedup.index`, articles are de-duplicated against the index of earlier runs (and the
    folders of `job.history`, the segments of a run before this one). Feeds send the validators of
    earlier runs (`job.feed_states`), skip the entries earlier runs passed on (the state
    directory's entries file) and, with `job.feed_state_pending`, write what they learnt there for
    `transforms.read.feed_state` to commit."""
    settings = job.settings
    reads = []
    if job.patterns:
        files = pipeline | "ReadArticles" >> ReadArticles(
            job.patterns, settings.input.max_bytes, settings.input.encoding
        )
        reads += [files, files.pages | "RedrivePages" >> FetchPages(settings.fetch)]
    if settings.feeds.sources:
        known = feed_state.read_known(pipeline, settings.state_path, settings.dedup.expiry_days)
        reads.append(
            pipeline
            | "ReadFeeds"
            >> ReadFeeds(
                settings.feeds.sources, settings.feeds, settings.fetch, job.feed_states, known, job.feed_state_pending
            )
        )
    documents = [read.documents for read in reads] | "Documents" >> beam.Flatten()
    cleaned = documents | "Clean" >> CleanArticles(settings.clean, settings.entities.max_chars)
    unique = cleaned.articles | "Dedup" >> ExactDedup()
    stages = [unique]
    if settings.dedup.near or settings.dedup.index:
        earlier = dedup_index.read_earlier([settings.index_path, *job.history]) if settings.dedup.index else None
        stages.append(
            unique.articles
            | "NearDedup" >> NearDedup(settings.dedup, earlier, narrow_earlier=not is_remote_runner(pipeline.options))
        )
    analysed = stages[-1].articles | "Analyse" >> Analyse(job)
    dead_letters = (
        *(read.dead_letters for read in reads),
        cleaned.dead_letters,
        *(stage.dead_letters for stage in stages),
        analysed.dead_letters,
    ) | "DeadLetters" >> beam.Flatten()
    duplicates = [stage.duplicates for stage in stages] | "Duplicates" >> beam.Flatten()
    return tables(analysed, duplicates, dead_letters)
