"""A job: what `pipeline.prepare` validated and loaded, and what the graph builders and the runs
take as one object."""

from __future__ import annotations

import dataclasses
from typing import Optional

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline.config import Settings
from pipeline.runners import runner_name
from transforms.core.records import FeedState
from transforms.entities.actors import Actor
from transforms.events.taxonomy import Taxonomy


@dataclasses.dataclass(frozen=True)
class Job:
    """A validated job: settings, Beam options and everything loaded from disk for the graph.

    The last three fields belong to one pipeline of the job (a run, a segment of it): where that
    pipeline writes what its commit publishes afterwards (`pipeline.execute`), and which more
    index folders its dedup reads (the earlier segments of a run, `pipeline.segments`)."""

    settings: Settings
    options: PipelineOptions
    patterns: list[str]
    files: int
    taxonomy: Taxonomy
    lang: str
    feed_states: dict[str, FeedState]
    actors: list[Actor]
    postgres_dsn: Optional[str] = None
    feed_state_pending: Optional[tuple[str, str]] = None  # the validators and entries files, when feeds are read
    index_pending: Optional[str] = None  # the folder of this pipeline's index additions (dedup.index)
    history: tuple[str, ...] = ()  # more index folders to de-duplicate against

    @property
    def runner(self) -> str:
        return runner_name(self.options)

    @property
    def clusters_across_runs(self) -> bool:
        """Event clusters join those of earlier runs: a batch run into the lake (which replaces a
        cluster's row by its key) with the cross-run index (which stores the clusters)."""
        settings = self.settings
        streaming = bool(self.options.view_as(StandardOptions).streaming)
        return settings.dedup.index and settings.output.layout == "partitioned" and not streaming

    def replace(self, **changes: object) -> Job:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
