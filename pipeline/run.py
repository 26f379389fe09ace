"""Running a job: check everything that can be checked before anything runs, then build, run and
summarise. `prepare` turns every configuration problem into a `ConfigError`; `run` only fails
for problems found while running.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Optional

import apache_beam as beam
import spacy.util
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline.config import ConfigError, FeedSource, Settings
from pipeline.graph import build_pipeline
from pipeline.options import pipeline_options
from pipeline.records import FeedState
from pipeline.runners import check_remote, dask_cluster, runner_name
from pipeline.summary import RunSummary, summarize
from transforms import dedup_index, feed_state
from transforms.actors import Actor, load_actors
from transforms.dead_letters import Rejected
from transforms.feeds import is_remote, local_feed_exists
from transforms.fetch import check_url
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


def prepare(settings: Settings, beam_flags: Iterable[str] = ()) -> Job:
    """Validate settings against the world: inputs exist, the output can be written, the taxonomy
    parses, the model is installed, the Beam options and runner are known."""
    options = pipeline_options(settings.beam, beam_flags)
    if settings.run_id is None:
        settings = settings.model_copy(update={"run_id": datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")})
    check_remote(settings, options)
    if options.view_as(StandardOptions).streaming and (settings.input.paths or not settings.feeds.sources):
        raise ConfigError("a streaming run reads feeds: set feeds.sources and no input.paths (files are read in batch)")
    if not settings.input.paths and not settings.feeds.sources:
        raise ConfigError("nothing to read: set input.paths or feeds.sources (or pass --input or --feed)")
    patterns, files = resolve_patterns(settings.input.paths) if settings.input.paths else ([], 0)
    check_feeds(settings.feeds.sources)
    check_output_dir(settings.output.dir)
    taxonomy = load_taxonomy(settings.events.taxonomy)
    lang = model_language(settings.entities.model)
    states = feed_state.VALIDATORS.load(settings.state_path) if settings.feeds.sources else {}
    actors = load_actors(settings.entities.actors) if settings.entities.actors else []
    return Job(settings, options, patterns, files, taxonomy, lang, states, actors)


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


def run_partition(settings: Settings) -> Optional[str]:
    """`dt=<date>/run=<run_id>` for the partitioned layout: the date the run_id starts with
    (20261123T0500Z, 2026-11-23...), else today's (UTC)."""
    if settings.output.layout != "partitioned":
        return None
    found = re.match(r"(\d{4})-?(\d{2})-?(\d{2})", settings.run_id or "")
    day = "-".join(found.groups()) if found else datetime.now(timezone.utc).strftime("%Y-%m-%d")
    return f"dt={day}/run={settings.run_id}"


def summary_path(settings: Settings) -> str:
    """`run_summary.json` beside the tables; with the partitioned layout, one per run under `_runs/`."""
    root = settings.output.dir.rstrip("/")
    partition = run_partition(settings)
    return f"{root}/_runs/{partition}/{SUMMARY_FILE}" if partition else f"{root}/{SUMMARY_FILE}"


def run(job: Job) -> RunSummary:
    """Run the job to completion (a streaming job: until its max duration or a stop signal),
    write `run_summary.json` beside the tables and return the summary."""
    settings = job.settings
    if job.options.view_as(StandardOptions).streaming:
        from pipeline.streaming import run_streaming, write_windowed

        _LOG.info("streaming %d feed(s), tables in %s-second windows to %s", len(settings.feeds.sources),
                  settings.streaming.window_seconds, settings.output.dir)
        summary = run_streaming(settings, job.options, job.taxonomy, job.lang, job.actors, write_windowed)
        _write_summary(summary, settings)
        return summary
    output_dir = settings.output.dir
    if job.patterns:
        _LOG.info("reading %d file(s) from %s", job.files, ", ".join(job.patterns))
    if settings.feeds.sources:
        _LOG.info("reading %d feed(s); %d with validators from earlier runs", len(settings.feeds.sources),
                  sum(1 for s in settings.feeds.sources if s.url in job.feed_states))
    _LOG.info("writing %s to %s", "+".join(settings.output.formats), output_dir)
    started = time.monotonic()
    pipeline = beam.Pipeline(options=job.options)
    pending = (feed_state.VALIDATORS.pending_file(settings.state_path),
               feed_state.ENTRIES.pending_file(settings.state_path)) if settings.feeds.sources else None
    index_pending = dedup_index.pending_dir(settings.index_path) if settings.dedup.index else None
    tables = build_pipeline(pipeline, settings, job.patterns, job.taxonomy, job.lang, job.feed_states, pending,
                            index_pending, job.actors)
    _ = tables._asdict() | "Write" >> WriteTables(settings.output, run_partition(settings))
    with dask_cluster(settings, job.options):
        result = pipeline.run()
        result.wait_until_finish()
    if pending:
        feed_state.VALIDATORS.commit(settings.state_path, pending[0])
        feed_state.ENTRIES.commit(settings.state_path, pending[1], feed_state.unexpired(settings.dedup.expiry_days))
    if index_pending:
        dedup_index.commit(settings.index_path, index_pending)
    summary = summarize(result, time.monotonic() - started, job.runner, output_dir, settings.run_id)
    _write_summary(summary, settings)
    return summary


def _write_summary(summary: RunSummary, settings: Settings) -> None:
    with FileSystems.create(summary_path(settings)) as handle:
        handle.write(summary.to_json().encode("utf-8"))
