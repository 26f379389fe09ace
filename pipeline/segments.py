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
"""
from __future__ import annotations

import glob
from collections.abc import Sequence

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.config import Settings
from pipeline.records import TABLES
from pipeline.runners import DASK_RUNNER, is_remote, runner_name
from pipeline.lake import EXTENSIONS
from transforms.sources import matched_files


def applies(settings: Settings, options: PipelineOptions) -> bool:
    """Whether the runner holds collections in this process's memory (remote runners and Dask
    shuffle through disk) and segmenting is on."""
    return settings.input.segment_mb > 0 and not is_remote(options) and runner_name(options) != DASK_RUNNER


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
    old = [path for fmt in formats for table in TABLES
           for path in _parts(f"{output_dir.rstrip('/')}/{fmt}/{table.name}", EXTENSIONS[fmt])
           if not path.endswith(f"-of-{num_shards:05d}{EXTENSIONS[fmt]}")]
    if old:
        FileSystems.delete(old)
    return len(old)
