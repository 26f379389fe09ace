"""One pipeline of a job: build the graph, add the sinks, run it, and the commit that publishes it.

A batch run is one such pipeline (`pipeline.run`), or several over groups of files
(`pipeline.segments`); a local streaming run is one per window (`pipeline.streaming`). Each is
published by its `lake.Commit` only after it has finished, so a pipeline killed midway leaves
nothing a later run would take for its output.
"""

from __future__ import annotations

import logging
import time

import apache_beam as beam

from pipeline import lake, memory
from pipeline.graph import Tables, build_pipeline
from pipeline.job import Job
from pipeline.runners import dask_cluster
from pipeline.summary import RunSummary, summarize
from transforms.dedup import index as dedup_index
from transforms.read import feed_state
from transforms.sinks import bigquery
from transforms.sinks.bigquery import WriteToBigQueryTables
from transforms.sinks.files import WriteTables
from transforms.sinks.postgres import UpsertTables

_LOG = logging.getLogger(__name__)


def with_pending(job: Job) -> Job:
    """The job with fresh pending paths for what its pipeline learns (feed state, index additions)."""
    settings = job.settings
    return job.replace(
        feed_state_pending=(
            feed_state.VALIDATORS.pending_file(settings.state_path),
            feed_state.ENTRIES.pending_file(settings.state_path),
        )
        if settings.feeds.sources
        else None,
        index_pending=dedup_index.pending_dir(settings.index_path) if settings.dedup.index else None,
    )


def commit_of(job: Job, dt: str, windowed: bool = False) -> lake.Commit:
    """The commit that publishes the pipeline of `job` (see `with_pending`) under partition `dt`."""
    settings = job.settings
    return lake.Commit(
        output_dir=settings.output.dir,
        run_id=str(settings.run_id),
        dt=dt,
        formats=tuple(settings.output.formats),
        index_pending=job.index_pending,
        index_dir=settings.index_path if job.index_pending else None,
        state_dir=settings.state_path if job.feed_state_pending else None,
        state_pending=job.feed_state_pending or (),
        entries_expiry_days=settings.dedup.expiry_days,
        windowed=windowed,
        partition_by=settings.output.partition_by,
        cluster_days=settings.events.cluster_days,
    )


def add_sinks(tables: Tables, job: Job) -> None:
    """Every table to PostgreSQL (with a DSN), to BigQuery staging tables (with a table prefix)
    and to files: the output folder, or with the partitioned layout the run's staging folder,
    published by `pipeline.lake` after the run."""
    settings = job.settings
    written = tables._asdict()
    if job.postgres_dsn:
        written = written | "Postgres" >> UpsertTables(settings.postgres, job.postgres_dsn)
    if settings.bigquery.table_prefix:
        _ = written | "BigQuery" >> WriteToBigQueryTables(settings.bigquery, str(settings.run_id))
    output = settings.output
    if output.layout == "partitioned":
        output = output.model_copy(update={"dir": lake.staging_dir(output.dir, str(settings.run_id))})
    _ = written | "Write" >> WriteTables(output)


def execute(job: Job) -> tuple[RunSummary, lake.Commit]:
    """One pipeline over `job.patterns` and the feeds of its settings: its summary, and the commit
    that publishes it (left to the caller, `publish`)."""
    settings = job.settings
    if settings.output.layout == "partitioned":
        for line in lake.recover(settings.output.dir):
            _LOG.warning("lake: %s", line)
    started, cpu = time.monotonic(), time.process_time()
    job = with_pending(job)
    pipeline = beam.Pipeline(options=job.options)
    add_sinks(build_pipeline(pipeline, job), job)
    graph_seconds = time.monotonic() - started
    with dask_cluster(settings, job.options), memory.handed_back():
        result = pipeline.run()
        result.wait_until_finish()
    if settings.bigquery.table_prefix:
        bigquery.merge(settings.bigquery, str(settings.run_id))
    summary = summarize(
        result,
        time.monotonic() - started,
        job.runner,
        settings.output.dir,
        settings.run_id,
        graph_seconds,
        time.process_time() - cpu,
    )
    return summary, commit_of(job, lake.run_date(settings.run_id))


def publish(commit: lake.Commit, partitioned: bool) -> None:
    """Commit a finished pipeline: its tables into the lake (partitioned layout), its index
    additions and feed state."""
    if partitioned:
        lake.begin(commit)  # from here on, a killed run's commit is finished by the next run
    replaced = lake.apply(commit, publish=partitioned)
    if any(replaced.values()):
        _LOG.info(
            "replaced rows of earlier runs with this run's: %s",
            ", ".join(f"{table} {n}" for table, n in replaced.items() if n),
        )
