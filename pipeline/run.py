"""Running a prepared job to the end: one pipeline, consecutive segments of the input (local
runners, `pipeline.segments`) or a streaming run (`pipeline.streaming`); then the summary, written
beside the tables as `run_summary.json`.
"""

from __future__ import annotations

import logging
import time

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import StandardOptions

from pipeline import lake, segments
from pipeline.config import Settings
from pipeline.execute import execute, publish
from pipeline.job import Job
from pipeline.summary import RunSummary

_LOG = logging.getLogger(__name__)
SUMMARY_FILE = "run_summary.json"


def summary_path(settings: Settings) -> str:
    """`run_summary.json` beside the tables; with the partitioned layout, one per run under `_runs/`."""
    root = settings.output.dir.rstrip("/")
    if settings.output.layout == "partitioned":
        return f"{root}/_runs/dt={lake.run_date(settings.run_id)}/run={settings.run_id}/{SUMMARY_FILE}"
    return f"{root}/{SUMMARY_FILE}"


def run(job: Job) -> RunSummary:
    """Run the job to completion (a streaming job: until its max duration or a stop signal),
    write `run_summary.json` beside the tables and return the summary."""
    settings = job.settings
    if job.options.view_as(StandardOptions).streaming:
        from pipeline.streaming import run_streaming

        _LOG.info(
            "streaming %d feed(s), tables in %s-second windows to %s",
            len(settings.feeds.sources),
            settings.streaming.window_seconds,
            settings.output.dir,
        )
        summary = run_streaming(job)
        _write_summary(summary, settings)
        return summary
    if job.patterns:
        _LOG.info("reading %d file(s) from %s", job.files, ", ".join(job.patterns))
    if settings.feeds.sources:
        _LOG.info(
            "reading %d feed(s); %d with validators from earlier runs",
            len(settings.feeds.sources),
            sum(1 for s in settings.feeds.sources if s.url in job.feed_states),
        )
    _LOG.info("writing %s to %s", "+".join(settings.output.formats), settings.output.dir)
    started = time.monotonic()
    groups = (
        segments.plan(job.patterns, settings.input.segment_mb * 2**20)
        if job.patterns and segments.applies(settings, job.options)
        else [job.patterns]
    )
    if len(groups) > 1:
        summary = segments.run_segments(job, groups)
    else:
        summary, commit = execute(job)
        publish(commit, partitioned=settings.output.layout == "partitioned")
        if settings.output.layout == "flat" and settings.output.num_shards:
            segments.delete_other_parts(settings.output.dir, settings.output.formats, settings.output.num_shards)
    summary = summary.with_elapsed(time.monotonic() - started)
    _write_summary(summary, settings)
    return summary


def _write_summary(summary: RunSummary, settings: Settings) -> None:
    with FileSystems.create(summary_path(settings)) as handle:
        handle.write(summary.to_json().encode("utf-8"))
