"""Running a job: check everything that can be checked before anything runs, then build, run and
summarise. `prepare` turns every configuration problem into a `ConfigError`; `run` only fails
for problems found while running.
"""
from __future__ import annotations

import concurrent.futures
import ctypes
import ctypes.util
import dataclasses
import functools
import logging
import multiprocessing
import os
import re
import resource
import signal
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Optional

import apache_beam as beam
import spacy.util
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline.config import ConfigError, FeedSource, Settings
from pipeline import lake, memory, segments
from pipeline.graph import Tables, build_pipeline
from pipeline.options import pipeline_options
from pipeline.records import FeedState
from pipeline.runners import check_remote, dask_cluster, runner_name
from pipeline.summary import RunSummary, summarize
from transforms import bigquery, dedup_index, feed_state
from transforms.actors import Actor, load_actors
from transforms.bigquery import WriteToBigQueryTables
from transforms.dead_letters import Rejected
from transforms.feeds import is_remote, local_feed_exists
from transforms.fetch import check_url
from transforms.postgres import DatabaseError, UpsertTables, prepare_database
from transforms.sinks import WriteTables
from transforms.sources import resolve_patterns
from transforms.taxonomy import Taxonomy, load_taxonomy

_LOG = logging.getLogger(__name__)
SUMMARY_FILE = "run_summary.json"


@dataclasses.dataclass(frozen=True)
class Job:
    """A validated job: settings, Beam options and everything loaded from disk for the graph."""

    settings: Settings
    options: PipelineOptions
    patterns: list[str]
    files: int
    taxonomy: Taxonomy
    lang: str
    feed_states: dict[str, FeedState]
    actors: list[Actor]
    postgres_dsn: Optional[str] = None

    @property
    def runner(self) -> str:
        return runner_name(self.options)


def model_language(name: str) -> str:
    """The language of an installed spaCy pipeline package, without loading the model."""
    if not spacy.util.is_package(name):
        raise ConfigError(f"entities.model: spaCy pipeline '{name}' is not installed")
    return str(spacy.util.get_model_meta(spacy.util.get_package_path(name))["lang"])


def check_output_dir(path: str) -> None:
    """A local output directory must be creatable and writable (remote ones are checked by Beam)."""
    if FileSystems.get_scheme(path) is not None:
        return
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"output.dir: cannot create {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK):
        raise ConfigError(f"output.dir: {path} is not writable")


def prepare(settings: Settings, beam_flags: Iterable[str] = (), postgres_dsn: Optional[str] = None) -> Job:
    """Validate settings against the world: inputs exist, the output can be written, the taxonomy
    parses, the model is installed, the Beam options and runner are known, the database (if any)
    takes the tables."""
    options = pipeline_options(settings.beam, beam_flags)
    if settings.run_id is None:
        settings = settings.model_copy(update={"run_id": datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")})
    check_remote(settings, options)
    if options.view_as(StandardOptions).streaming and (settings.input.paths or not settings.feeds.sources):
        raise ConfigError("a streaming run reads feeds: set feeds.sources and no input.paths (files are read in batch)")
    if options.view_as(StandardOptions).streaming and settings.bigquery.table_prefix:
        raise ConfigError("bigquery.table_prefix: the BigQuery sink loads files in batch runs; streaming runs write "
                          "files and PostgreSQL")
    if not settings.input.paths and not settings.feeds.sources:
        raise ConfigError("nothing to read: set input.paths or feeds.sources (or pass --input or --feed)")
    patterns, files = resolve_patterns(settings.input.paths) if settings.input.paths else ([], 0)
    check_feeds(settings.feeds.sources)
    check_output_dir(settings.output.dir)
    taxonomy = load_taxonomy(settings.events.taxonomy)
    lang = model_language(settings.entities.model)
    states = feed_state.VALIDATORS.load(settings.state_path) if settings.feeds.sources else {}
    actors = load_actors(settings.entities.actors) if settings.entities.actors else []
    dsn = prepare_postgres(settings, postgres_dsn) if settings.postgres.enabled else None
    return Job(settings, options, patterns, files, taxonomy, lang, states, actors, dsn)


def prepare_postgres(settings: Settings, dsn: Optional[str]) -> str:
    """The DSN (the flag, else the environment), with the tables created or migrated."""
    dsn = dsn or os.environ.get(settings.postgres.dsn_env)
    if not dsn:
        raise ConfigError(f"postgres.enabled: no DSN: set ${settings.postgres.dsn_env} or pass --postgres-dsn")
    try:
        for line in prepare_database(dsn, settings.postgres.schema_name):
            _LOG.info("postgres: %s", line)
    except DatabaseError as exc:
        raise ConfigError(str(exc)) from None
    return dsn


def check_feeds(sources: list[FeedSource]) -> None:
    """Feed URLs must be http(s) or an existing feed file."""
    for source in sources:
        if is_remote(source.url):
            try:
                check_url(source.url)
            except Rejected as exc:
                raise ConfigError(f"feeds.sources: {exc.reason}") from None
        elif "://" in source.url and not source.url.startswith("file://"):
            raise ConfigError(f"feeds.sources: {source.url}: only http, https and file feeds are supported")
        elif not local_feed_exists(source.url):
            raise ConfigError(f"feeds.sources: feed file not found: {source.url}")


def run_date(settings: Settings) -> str:
    """The date a run's rows are filed under: the one its run_id starts with (20261123T0500Z,
    2026-11-23...), else today's (UTC)."""
    found = re.match(r"(\d{4})-?(\d{2})-?(\d{2})", settings.run_id or "")
    return "-".join(found.groups()) if found else datetime.now(timezone.utc).strftime("%Y-%m-%d")


def summary_path(settings: Settings) -> str:
    """`run_summary.json` beside the tables; with the partitioned layout, one per run under `_runs/`."""
    root = settings.output.dir.rstrip("/")
    if settings.output.layout == "partitioned":
        return f"{root}/_runs/dt={run_date(settings)}/run={settings.run_id}/{SUMMARY_FILE}"
    return f"{root}/{SUMMARY_FILE}"


def add_sinks(tables: Tables, settings: Settings, postgres_dsn: Optional[str] = None) -> None:
    """Every table to PostgreSQL (with a DSN), to BigQuery staging tables (with a table prefix)
    and to files: the output folder, or with the partitioned layout the run's staging folder,
    published by `pipeline.lake` after the run."""
    written = tables._asdict()
    if postgres_dsn:
        written = written | "Postgres" >> UpsertTables(settings.postgres, postgres_dsn)
    if settings.bigquery.table_prefix:
        _ = written | "BigQuery" >> WriteToBigQueryTables(settings.bigquery, str(settings.run_id))
    output = settings.output
    if output.layout == "partitioned":
        output = output.model_copy(update={"dir": lake.staging_dir(output.dir, str(settings.run_id))})
    _ = written | "Write" >> WriteTables(output)


def run(job: Job) -> RunSummary:
    """Run the job to completion (a streaming job: until its max duration or a stop signal),
    write `run_summary.json` beside the tables and return the summary."""
    settings = job.settings
    if job.options.view_as(StandardOptions).streaming:
        from pipeline.streaming import run_streaming, write_windowed

        _LOG.info("streaming %d feed(s), tables in %s-second windows to %s", len(settings.feeds.sources),
                  settings.streaming.window_seconds, settings.output.dir)
        summary = run_streaming(settings, job.options, job.taxonomy, job.lang, job.actors,
                                functools.partial(write_windowed, postgres_dsn=job.postgres_dsn))
        _write_summary(summary, settings)
        return summary
    if job.patterns:
        _LOG.info("reading %d file(s) from %s", job.files, ", ".join(job.patterns))
    if settings.feeds.sources:
        _LOG.info("reading %d feed(s); %d with validators from earlier runs", len(settings.feeds.sources),
                  sum(1 for s in settings.feeds.sources if s.url in job.feed_states))
    _LOG.info("writing %s to %s", "+".join(settings.output.formats), settings.output.dir)
    started = time.monotonic()
    groups = (segments.plan(job.patterns, settings.input.segment_mb * 2**20)
              if job.patterns and segments.applies(settings, job.options) else [job.patterns])
    if len(groups) > 1:
        summary = _run_segments(job, groups)
    else:
        summary, commit = _execute(job, settings, job.patterns)
        _publish(commit, settings)
        if settings.output.layout == "flat" and settings.output.num_shards:
            segments.delete_other_parts(settings.output.dir, settings.output.formats, settings.output.num_shards)
    summary = summary.with_elapsed(time.monotonic() - started)
    _write_summary(summary, settings)
    return summary


def _execute(job: Job, settings: Settings, patterns: list[str], history: Sequence[str] = ()) -> tuple[
        RunSummary, lake.Commit]:
    """One pipeline over `patterns` and the feeds of `settings`: its summary, and the commit that
    publishes it (left to the caller)."""
    if settings.output.layout == "partitioned":
        for line in lake.recover(settings.output.dir):
            _LOG.warning("lake: %s", line)
    started = time.monotonic()
    pipeline = beam.Pipeline(options=job.options)
    pending = (feed_state.VALIDATORS.pending_file(settings.state_path),
               feed_state.ENTRIES.pending_file(settings.state_path)) if settings.feeds.sources else None
    index_pending = dedup_index.pending_dir(settings.index_path) if settings.dedup.index else None
    tables = build_pipeline(pipeline, settings, patterns, job.taxonomy, job.lang, job.feed_states, pending,
                            index_pending, job.actors, history)
    add_sinks(tables, settings, job.postgres_dsn)
    with dask_cluster(settings, job.options), memory.handed_back():
        result = pipeline.run()
        result.wait_until_finish()
    if settings.bigquery.table_prefix:
        bigquery.merge(settings.bigquery, str(settings.run_id))
    commit = lake.Commit(settings.output.dir, str(settings.run_id), run_date(settings),
                         tuple(settings.output.formats), index_pending,
                         settings.index_path if index_pending else None, settings.state_path if pending else None,
                         pending or (), settings.dedup.expiry_days)
    summary = summarize(result, time.monotonic() - started, job.runner, settings.output.dir, settings.run_id)
    return summary, commit


def _publish(commit: lake.Commit, settings: Settings) -> None:
    """Commit a finished pipeline: its tables into the lake (partitioned layout), its index
    additions and feed state."""
    partitioned = settings.output.layout == "partitioned"
    if partitioned:
        lake.begin(commit)  # from here on, a killed run's commit is finished by the next run
    replaced = lake.apply(commit, publish=partitioned)
    if any(replaced.values()):
        _LOG.info("replaced rows of earlier runs with this run's: %s",
                  ", ".join(f"{table} {n}" for table, n in replaced.items() if n))


_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent ends


def _peak_mib() -> int:
    """This process's peak resident memory, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _log_levels() -> dict[str, int]:
    """The levels set on this process's loggers (the root's under ""), for a child process."""
    loggers = logging.root.manager.loggerDict.items()
    return {"": logging.root.level} | {name: lg.level for name, lg in loggers if isinstance(lg, logging.Logger)
                                       and lg.level}


def _execute_measured(job: Job, settings: Settings, patterns: list[str], history: Sequence[str],
                      log_levels: dict[str, int]) -> tuple[RunSummary, lake.Commit, int]:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for name, level in log_levels.items():
        logging.getLogger(name).setLevel(level)
    return (*_execute(job, settings, patterns, history), _peak_mib())


def _execute_apart(job: Job, settings: Settings, patterns: list[str], history: Sequence[str]) -> tuple[
        RunSummary, lake.Commit, int]:
    """`_execute` in a fresh process, and that process's peak memory (MiB): each segment's memory
    is given back when it ends (one long-lived process keeps the allocator's high-water mark and
    the caches of every segment before it: measured +140 MiB over 8 segments of 750 articles)."""
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn, initializer=_die_with_parent,
                                                initargs=(os.getpid(),)) as pool:
        return pool.submit(_execute_measured, job, settings, patterns, history, _log_levels()).result()


def _die_with_parent(parent: int) -> None:
    """In a segment's process: end when the run that started it ends, however it ends (a driver
    SIGKILLed alone would otherwise leave its segment running beside the next run). Linux only."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(ctypes.util.find_library("c")).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the line above
        os._exit(1)


def _run_segments(job: Job, groups: list[list[str]]) -> RunSummary:
    """The run as consecutive pipelines over `groups` of files (see `pipeline.segments`)."""
    settings, run_id = job.settings, str(job.settings.run_id)
    output_dir, flat = settings.output.dir, settings.output.layout == "flat"
    own_index = flat or not settings.dedup.index  # else each segment commits into the run's index
    private = segments.private_index(output_dir, run_id)
    history = [settings.index_path] if own_index and settings.dedup.index else []
    total: Optional[RunSummary] = None
    folders: list[str] = []
    last_commit: Optional[lake.Commit] = None
    for number, files in enumerate(groups, 1):
        update: dict = {"run_id": f"{run_id}-s{number:03d}", "state_dir": settings.state_path}
        if number < len(groups):  # feeds go with the last segment, whose commit is the run's last
            update["feeds"] = settings.feeds.model_copy(update={"sources": []})
        if own_index:
            update["dedup"] = settings.dedup.model_copy(update={"index": True, "index_dir": private})
        if flat:
            folders.append(segments.segment_output(output_dir, run_id, number))
            update["output"] = settings.output.model_copy(update={"dir": folders[-1]})
        part = settings.model_copy(update=update)
        _LOG.info("segment %d of %d: %d file(s)", number, len(groups), len(files))
        summary, commit, peak = _execute_apart(job, part, files, history)
        if flat and number == len(groups):
            last_commit = commit
        else:
            _publish(commit, part)
        rate = summary.read / summary.elapsed_seconds if summary.elapsed_seconds else 0.0
        _LOG.info("segment %d of %d: %s (%.1f documents/s, peak memory %d MiB)", number, len(groups),
                  summary.accounting_line(), rate, peak)
        total = summary if total is None else total.plus(summary)
    if flat and last_commit:
        segments.move_flat_tables(output_dir, folders, settings.output.formats)
        lake.apply(last_commit, publish=False)
    if own_index and settings.dedup.index:
        dedup_index.commit(settings.index_path, private)
    segments.remove(output_dir, run_id)
    assert total is not None
    return dataclasses.replace(total, run_id=settings.run_id, output_dir=output_dir)


def _write_summary(summary: RunSummary, settings: Settings) -> None:
    with FileSystems.create(summary_path(settings)) as handle:
        handle.write(summary.to_json().encode("utf-8"))
