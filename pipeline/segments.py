"""Segmented batch runs: memory bounded by `input.segment_mb`, not by the size of the input.

Beam's local runners (FnApiRunner, DirectRunner, a local job server) hold every collection that
crosses a stage boundary in memory: a run over 50,000 articles needs five times the memory of one
over 10,000. A local batch run over more input files than `input.segment_mb` therefore runs as
consecutive pipelines over groups of whole files (a file is never split; feeds go with the last
group), and the cross-run dedup index carries what earlier segments wrote to later ones, so the
tables are those of one run: no story twice, the accounting line summed over segments.

- `output.layout: partitioned` with `dedup.index` on: each segment is a run of its own
  (`<run_id>-sNNN`) committed to the lake and the index; a killed run, run again, skips what its
  committed segments wrote.
- Otherwise segments record their articles in a private index under
  `<output>/_segments/<run_id>/`. Lake segments are committed one by one; flat segments are
  written there and moved into the output after the last one, then the feed state and (with
  `dedup.index`) the index are committed. The folder is deleted at the end.

Differences from one pipeline, as between scheduled runs: a story's copies in two segments keep
the first segment's as the representative (within a segment, the earliest published), an
article seen again in a later segment is counted among the duplicates without a row, and event
clusters are made within a segment.

Each segment runs in a fresh process (`execute_apart`), so that its memory is given back when it
ends; the process ends with the run that started it, however that run ends.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import ctypes.util
import dataclasses
import glob
import logging
import multiprocessing
import os
import resource
import signal
import sys
from collections.abc import Sequence
from typing import Optional

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline import lake
from pipeline.config import Settings
from pipeline.execute import execute, publish
from pipeline.job import Job
from pipeline.lake import EXTENSIONS
from pipeline.runners import DASK_RUNNER, is_remote_runner, runner_name
from pipeline.summary import RunSummary
from transforms.core.records import TABLES
from transforms.dedup import index as dedup_index
from transforms.read.listing import matched_files

_LOG = logging.getLogger(__name__)


def applies(settings: Settings, options: PipelineOptions) -> bool:
    """Whether the runner holds collections in this process's memory (remote runners and Dask
    shuffle through disk) and segmenting is on."""
    return settings.input.segment_mb > 0 and not is_remote_runner(options) and runner_name(options) != DASK_RUNNER


def plan(patterns: Sequence[str], limit_bytes: float) -> list[list[str]]:
    """The files of `patterns` (each once, in path order) in consecutive groups of at most
    `limit_bytes`, as patterns that match exactly one file each; a larger file is a group alone."""
    sizes = {m.path: m.size_in_bytes for pattern in patterns for m in matched_files(pattern)}
    groups: list[list[str]] = []
    total = 0.0
    for path in sorted(sizes):
        if not groups or total + sizes[path] > limit_bytes:
            groups.append([])
            total = 0.0
        groups[-1].append(glob.escape(path))
        total += sizes[path]
    return groups


def root(output_dir: str, run_id: str) -> str:
    """The folder of a segmented run's own files (private index, flat segments' tables)."""
    return f"{output_dir.rstrip('/')}/_segments/{run_id}"


def remove(output_dir: str, run_id: str) -> None:
    """A finished run's own folder deleted (and `_segments`, when no other run has one)."""
    folder = root(output_dir, run_id)
    if FileSystems.exists(folder):
        FileSystems.delete([folder])
    parent = folder.rsplit("/", 1)[0]
    if FileSystems.exists(parent) and not FileSystems.match([f"{parent}/*"])[0].metadata_list:
        FileSystems.delete([parent])


def segment_output(output_dir: str, run_id: str, number: int) -> str:
    return f"{root(output_dir, run_id)}/s{number:03d}"


def private_index(output_dir: str, run_id: str) -> str:
    """The index of a run's segments; its name makes it a pending index `dedup_index.commit` takes."""
    return f"{root(output_dir, run_id)}/index/pending-{run_id}"


def _parts(folder: str, ext: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([f"{folder}/part-*{ext}"])[0].metadata_list)


def move_flat_tables(output_dir: str, segment_dirs: Sequence[str], formats: Sequence[str]) -> None:
    """The segments' files of each table moved into the flat layout as the table's only parts
    (`part-SSSSS-of-NNNNN`), after the files of an earlier run are deleted."""
    for fmt in formats:
        ext = EXTENSIONS[fmt]
        for table in TABLES:
            target = f"{output_dir.rstrip('/')}/{fmt}/{table.name}"
            parts = [path for folder in segment_dirs for path in _parts(f"{folder}/{fmt}/{table.name}", ext)]
            old = _parts(target, ext)
            if old:
                FileSystems.delete(old)
            if not FileSystems.exists(target):
                FileSystems.mkdirs(target)
            FileSystems.rename(parts, [f"{target}/part-{n:05d}-of-{len(parts):05d}{ext}" for n in range(len(parts))])


def delete_other_parts(output_dir: str, formats: Sequence[str], num_shards: int) -> int:
    """Flat layout after a run of `num_shards` files per table: the parts of other shard counts
    (left by a run with more shards or segments) deleted; how many."""
    old = [
        path
        for fmt in formats
        for table in TABLES
        for path in _parts(f"{output_dir.rstrip('/')}/{fmt}/{table.name}", EXTENSIONS[fmt])
        if not path.endswith(f"-of-{num_shards:05d}{EXTENSIONS[fmt]}")
    ]
    if old:
        FileSystems.delete(old)
    return len(old)


_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent ends


def _peak_mib() -> int:
    """This process's peak resident memory, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _log_levels() -> dict[str, int]:
    """The levels set on this process's loggers (the root's under ""), for a child process."""
    loggers = logging.root.manager.loggerDict.items()
    return {"": logging.root.level} | {
        name: lg.level for name, lg in loggers if isinstance(lg, logging.Logger) and lg.level
    }


def _execute_measured(job: Job, log_levels: dict[str, int]) -> tuple[RunSummary, lake.Commit, int]:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for name, level in log_levels.items():
        logging.getLogger(name).setLevel(level)
    return (*execute(job), _peak_mib())


def execute_apart(job: Job) -> tuple[RunSummary, lake.Commit, int]:
    """`execute` in a fresh process, and that process's peak memory (MiB): each segment's memory
    is given back when it ends (one long-lived process keeps the allocator's high-water mark and
    the caches of every segment before it: measured +140 MiB over 8 segments of 750 articles)."""
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        1, mp_context=spawn, initializer=_die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        return pool.submit(_execute_measured, job, _log_levels()).result()


def _die_with_parent(parent: int) -> None:
    """In a segment's process: end when the run that started it ends, however it ends (a driver
    SIGKILLed alone would otherwise leave its segment running beside the next run). Linux only."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(ctypes.util.find_library("c")).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the line above
        os._exit(1)


def run_segments(job: Job, groups: list[list[str]]) -> RunSummary:
    """The run as consecutive pipelines over `groups` of files (see `pipeline.segments`)."""
    settings, run_id = job.settings, str(job.settings.run_id)
    output_dir, flat = settings.output.dir, settings.output.layout == "flat"
    own_index = flat or not settings.dedup.index  # else each segment commits into the run's index
    private = private_index(output_dir, run_id)
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
            folders.append(segment_output(output_dir, run_id, number))
            update["output"] = settings.output.model_copy(update={"dir": folders[-1]})
        part = settings.model_copy(update=update)
        _LOG.info("segment %d of %d: %d file(s)", number, len(groups), len(files))
        summary, commit, peak = execute_apart(job.replace(settings=part, patterns=files, history=tuple(history)))
        if flat and number == len(groups):
            last_commit = commit
        else:
            publish(commit, partitioned=part.output.layout == "partitioned")
        rate = summary.read / summary.elapsed_seconds if summary.elapsed_seconds else 0.0
        _LOG.info(
            "segment %d of %d: %s (%.1f documents/s, peak memory %d MiB)",
            number,
            len(groups),
            summary.accounting_line(),
            rate,
            peak,
        )
        total = summary if total is None else total.plus(summary)
    if flat and last_commit:
        move_flat_tables(output_dir, folders, settings.output.formats)
        lake.apply(last_commit, publish=False)
    if own_index and settings.dedup.index:
        dedup_index.commit(settings.index_path, private)
    remove(output_dir, run_id)
    assert total is not None
    return dataclasses.replace(total, run_id=settings.run_id, output_dir=output_dir)
