"""The event clusters earlier runs wrote, kept with the cross-run index so that a story whose
reports arrive in two scheduled runs stays one cluster (`transforms.events.clusters`).

    <index dir>/clusters/*.parquet   EventCluster rows: each run's new and updated clusters

A run reads the clusters that have a place and dates (`read`; a new mention joins one only within
a day of its first day), and writes the clusters it made or updated to its pending index folder
(`WriteClusters`), which the index commit moves into place after the run succeeded
(`transforms.dedup.index.commit`): a failed run leaves the store as it was. A cluster several runs
updated has a row in each of their files; readers keep the one with the most mentions
(`clusters.latest`: a cluster only grows), and `compact` merges the files into one, keeping that
row and dropping clusters `events.cluster_days` older than the newest.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io import ReadFromParquet
from apache_beam.io.filesystems import FileSystems

from transforms.core.pending import WritePending
from transforms.core.records import EventCluster
from transforms.core.schemas import arrow_schema
from transforms.dedup.index import CLUSTERS, COMPACT_AT, parquet_files, read_batches
from transforms.events.clusters import latest


def folder(index_dir: str) -> str:
    return f"{index_dir.rstrip('/')}/{CLUSTERS}"


def as_cluster(row: dict[str, Any]) -> EventCluster:
    """A stored row (a dict, as Parquet readers give it) as an EventCluster; fields a file of an
    older schema lacks are None."""
    fields: dict[str, Any] = {name: row.get(name) for name in EventCluster._fields}
    return EventCluster(**fields)


def joinable(cluster: EventCluster) -> bool:
    """A cluster a later mention can join: it has a place and dates (an undated cluster would take
    any mention, and one without a place any of its type)."""
    return bool(cluster.location) and cluster.first_date is not None and cluster.last_date is not None


def read(pipeline: beam.Pipeline, index_dirs: Sequence[str]) -> beam.PCollection:
    """The joinable clusters of the stores under `index_dirs`, as a PCollection of EventCluster."""
    patterns = [f"{folder(d)}/*.parquet" for d in index_dirs if parquet_files(folder(d))]
    if not patterns:
        return pipeline | "NoEarlierClusters" >> beam.Create([]).with_output_types(EventCluster)
    reads = [
        pipeline | f"ReadEarlierClusters{n or ''}" >> ReadFromParquet(pattern) for n, pattern in enumerate(patterns)
    ]
    return (
        reads
        | "EarlierClusterRows" >> beam.Flatten()
        | "AsClusters" >> beam.Map(as_cluster).with_output_types(EventCluster)
        | "Joinable" >> beam.Filter(joinable)
    )


class WriteClusters(beam.PTransform):
    """The run's clusters (new and updated) -> a Parquet file under `pending` for the index commit."""

    def __init__(self, pending: str):
        super().__init__()
        self._pending = pending

    def expand(self, clusters: beam.PCollection) -> Any:
        return clusters | "WriteClusters" >> WritePending(folder(self._pending), EventCluster)


def compact(index_dir: str, days: float, at: int = COMPACT_AT) -> int:
    """When the store holds more than `at` files: merge them into one, each cluster once (its
    latest row), dropping those not joinable and those whose last date is more than `days` before
    the newest in the store (relative to the news, not the clock, so a backfill of old news keeps
    its clusters). The merged file is renamed in before the others are deleted (stopped between
    the two, a cluster has two rows, which readers resolve). The files merged, or 0."""
    paths = parquet_files(folder(index_dir))
    if len(paths) <= at:
        return 0
    rows = (as_cluster(row) for table in read_batches(paths) for row in table.to_pylist())
    clusters = [c for c in latest(rows) if joinable(c)]
    newest = max((c.last_date for c in clusters if c.last_date is not None), default=None)
    kept = [c for c in clusters if newest is None or (c.last_date and c.last_date >= newest - timedelta(days=days))]
    schema = arrow_schema(EventCluster)
    temporary = f"{folder(index_dir)}/compacted-{uuid.uuid4().hex}.partial"
    with FileSystems.create(temporary) as out:
        pq.write_table(pa.Table.from_pylist([c._asdict() for c in kept], schema=schema), out)
    FileSystems.rename([temporary], [temporary.removesuffix(".partial") + ".parquet"])
    FileSystems.delete(paths)
    return len(paths)
