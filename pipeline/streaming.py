"""Streaming: feeds polled on their period, each new item emitted once, tables written per window.

    clock (PeriodicImpulse) -> due feeds -> FetchFeeds (first sighting, entries seen before skipped)
      -> Clean -> StreamingDedup (keys held in state, seeded from the cross-run index)
      -> Entities -> Events -> event clusters -> every table in `streaming.window_seconds` windows

On a streaming runner (Dataflow, Flink, Spark, Prism, a portable job server) this is one
unbounded job; `--max-duration` (or `streaming.max_duration`) stops its clock, so it drains and
ends. Beam's local runners cannot run an unbounded pipeline whose steps group (the fetch stages
group by host, the outputs by window), so locally the same graph runs in consecutive segments of
one window each: a bounded pipeline over its slice of the clock, after which the feed validators,
the entries seen and the dedup index are committed, so the next segment carries on where the
last one stopped. A segment's state never expires (a bounded clock lets the runner's watermark
run ahead of the ticks, which would fire a days-long expiry timer at once); the state files and
the index, which do expire, carry memory from one segment to the next. Each segment writes to a
staging folder and is committed like a lake run (`pipeline.lake`, its files added to their
window folders under the segment's name), so a segment killed midway is emitted again, whole, by
the restarted job, and two segments sharing a window both keep their files. A stop signal
(Ctrl-C, SIGTERM) ends the run after the current segment, with the summary; a second one stops
at once.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms import window
from apache_beam.transforms.periodicsequence import PeriodicImpulse

from pipeline import lake, memory
from pipeline.execute import commit_of
from pipeline.graph import Analyse, Tables, tables
from pipeline.job import Job
from pipeline.runners import runner_name
from pipeline.summary import RunSummary, summarize
from transforms.clean import CleanArticles
from transforms.core.records import FeedState
from transforms.core.settings import FeedSource
from transforms.dedup import index as dedup_index
from transforms.dedup.streaming import StreamingDedup
from transforms.read import feed_state
from transforms.read.feeds import FetchFeeds
from transforms.sinks.postgres import UpsertTables
from transforms.sinks.windowed import WriteWindowedTables

STREAMING_RUNNERS = ("DataflowRunner", "FlinkRunner", "SparkRunner", "PrismRunner", "PortableRunner")
FOREVER = float(2**62)  # PeriodicImpulse's stop for a job that runs until cancelled
_LOG = logging.getLogger(__name__)


def tick_seconds(sources: Sequence[FeedSource]) -> float:
    """The clock's period: the shortest poll period of the feeds."""
    return min(source.poll_seconds for source in sources)


def due_feeds(
    tick: Any, sources: Sequence[FeedSource], start: float, period: float, states: dict[str, FeedState]
) -> Iterator[tuple[FeedSource, Optional[FeedState]]]:
    """The feeds to poll at a clock tick: every feed whose poll period has come round."""
    elapsed = round((float(tick) - start) / period)
    for source in sources:
        if elapsed % max(1, round(source.poll_seconds / period)) == 0:
            yield source, states.get(source.url)


def build_stream(pipeline: beam.Pipeline, job: Job, start: float, stop: float, expires: bool = True) -> Tables:
    """The streaming graph over the clock's ticks from `start` to `stop` (seconds since the epoch).
    `expires`: whether stateful memory (first sightings, dedup keys) expires after `dedup.expiry_days`."""
    settings = job.settings
    sources, windowing = settings.feeds.sources, window.FixedWindows(settings.streaming.window_seconds)
    period = tick_seconds(sources)
    feeds = (
        pipeline
        | "Clock"
        >> PeriodicImpulse(start_timestamp=start, stop_timestamp=stop, fire_interval=period, apply_windowing=False)
        | "DueFeeds" >> beam.FlatMap(due_feeds, sources, start, period, job.feed_states)
        | "PollWindows" >> beam.WindowInto(window.FixedWindows(period))
    )
    known = feed_state.read_known(pipeline, settings.state_path, settings.dedup.expiry_days)
    read = feeds | "Feeds" >> FetchFeeds(
        settings.feeds,
        settings.fetch,
        known,
        job.feed_state_pending,
        first_sighting=True,
        first_sighting_days=settings.dedup.expiry_days if expires else None,
        poll_seconds=period,
    )
    cleaned = read.documents | "Clean" >> CleanArticles(settings.clean, settings.entities.max_chars)
    earlier = dedup_index.read_earlier([settings.index_path]) if settings.dedup.index else None
    articles, duplicates = (
        cleaned.articles
        | "AcrossWindows" >> beam.WindowInto(window.GlobalWindows())
        | "Dedup" >> StreamingDedup(settings.dedup, earlier, start - 1, expires)
    )
    analysed = articles | "OutputWindows" >> beam.WindowInto(windowing) | "Analyse" >> Analyse(job)
    letters = (read.dead_letters, cleaned.dead_letters, analysed.dead_letters)
    dead_letters = [
        pc | f"DeadLetterWindows{n}" >> beam.WindowInto(windowing) for n, pc in enumerate(letters)
    ] | "DeadLetters" >> beam.Flatten()
    return tables(analysed, duplicates | "DuplicateWindows" >> beam.WindowInto(windowing), dead_letters)


def is_streaming_runner(options: PipelineOptions) -> bool:
    return runner_name(options).rsplit(".", 1)[-1] in STREAMING_RUNNERS


@contextlib.contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """An event set by the first SIGINT/SIGTERM; the second one interrupts at once."""
    stop = threading.Event()

    def handle(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        _LOG.warning("stopping after the current segment (signal again to stop at once)")
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_streaming(job: Job) -> RunSummary:
    """Run the streaming job until `streaming.max_duration` or a stop signal; the summary of all
    of it."""
    settings, options = job.settings, job.options
    started = time.time()
    deadline = started + settings.streaming.max_duration if settings.streaming.max_duration else FOREVER
    if is_streaming_runner(options):
        pipeline = beam.Pipeline(options=options)
        write_windowed(
            build_stream(
                pipeline, job.replace(feed_states=feed_state.VALIDATORS.load(settings.state_path)), started, deadline
            ),
            job,
        )
        result = pipeline.run()
        result.wait_until_finish()
        return summarize(result, time.time() - started, runner_name(options), settings.output.dir, settings.run_id)
    for line in lake.recover(settings.output.dir):
        _LOG.warning("lake: %s", line)
    total: Optional[RunSummary] = None
    with stop_signals() as stop:
        segment = 0
        while not stop.is_set() and time.time() < deadline:
            segment += 1
            begin = time.time()
            summary = _segment(job, begin, min(begin + settings.streaming.window_seconds, deadline), segment)
            _LOG.info("segment %d: %s", segment, summary.accounting_line())
            total = summary if total is None else total.plus(summary)
    assert total is not None, "the run stopped before its first segment"
    return total.with_elapsed(time.time() - started)


def _segment(job: Job, start: float, stop: float, number: int) -> RunSummary:
    """One bounded run of the streaming graph over [start, stop), run as a batch job (its clock
    is bounded), writing to a staging folder; then one lake commit moves its files into their
    window folders and commits its state, so a segment killed at any point is emitted again
    whole or not at all."""
    settings = job.settings
    state_dir, output_dir = settings.state_path, settings.output.dir
    segment = job.replace(
        settings=settings.model_copy(update={"state_dir": state_dir, "run_id": f"{settings.run_id}-w{number:05d}"}),
        feed_states=feed_state.VALIDATORS.load(state_dir),
        feed_state_pending=(feed_state.VALIDATORS.pending_file(state_dir), feed_state.ENTRIES.pending_file(state_dir)),
        index_pending=dedup_index.pending_dir(settings.index_path) if settings.dedup.index else None,
    )
    staged = segment.replace(
        settings=segment.settings.model_copy(
            update={
                "output": settings.output.model_copy(
                    update={"dir": lake.staging_dir(output_dir, str(segment.settings.run_id))}
                )
            }
        )
    )
    batch = PipelineOptions.from_dictionary({**job.options.get_all_options(drop_default=True), "streaming": False})
    pipeline = beam.Pipeline(options=batch)
    write_windowed(build_stream(pipeline, staged, start, stop, expires=False), staged)
    with memory.handed_back():
        result = pipeline.run()
        result.wait_until_finish()
    commit = commit_of(segment, dt="", windowed=True)
    lake.begin(commit)
    lake.apply(commit)
    return summarize(result, time.time() - start, runner_name(job.options), output_dir, settings.run_id)


def write_windowed(tables: Tables, job: Job) -> None:
    """Every table to its window's files (and upserted into PostgreSQL when the job has a DSN)."""
    settings = job.settings
    written = tables._asdict()
    if job.postgres_dsn:
        written = written | "Postgres" >> UpsertTables(settings.postgres, job.postgres_dsn)
    _ = written | "Write" >> WriteWindowedTables(settings.output, settings.streaming.window_seconds)
