"""The cross-run index: what earlier runs wrote, as Parquet, so a run adds only new stories.

    <index dir>/keys/*.parquet       IndexKey(key, article_id): id:, url:, hash: and LSH band keys
    <index dir>/sketches/*.parquet   Sketch(article_id, published, word_count, signature, seen=True)

A run reads both as PCollections and joins them by key and by id (`near_dedup.NearDedup`): the
history is never a side input. The articles a run writes are added as new files under a pending
directory, which `commit` moves into place only after the run succeeded, so a failed run never
hides its stories from the next one.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.io import ReadFromParquetBatched, WriteToParquet
from apache_beam.io.filesystems import FileSystems

from pipeline.config import DedupSettings
from pipeline.records import Article, IndexKey, Sketch
from pipeline.schemas import arrow_schema
from transforms.near_dedup import SketchingFn
from transforms.sinks import PENDING_SHARDS

KEYS, SKETCHES = "keys", "sketches"


def _dir(index_dir: str, part: str) -> str:
    return f"{index_dir.rstrip('/')}/{part}"


def pending_dir(index_dir: str) -> str:
    """A new, unique directory for one run's additions."""
    return _dir(index_dir, f"pending-{uuid.uuid4().hex}")


def has_history(index_dir: str) -> bool:
    return bool(FileSystems.match([f"{_dir(index_dir, KEYS)}/*.parquet"])[0].metadata_list)


class RecordsFn(beam.DoFn):
    """A Parquet row group (Arrow table) -> one `record` per row, made a few thousand rows at a time:
    Beam's ReadFromParquet turns a whole row group into Python objects at once (a quarter of a
    million index keys per run file), which stayed in the process as its high-water mark."""

    CHUNK_ROWS = 4096

    def __init__(self, record: type[NamedTuple]):
        self._record = record

    def process(self, table: Any) -> Iterator[Any]:
        record = self._record
        for batch in table.select(list(record._fields)).to_batches(max_chunksize=self.CHUNK_ROWS):
            yield from (record(*values) for values in zip(*batch.to_pydict().values()))


def read_earlier(pipeline: beam.Pipeline, index_dirs: Sequence[str]) -> Optional[tuple[beam.PCollection, beam.PCollection]]:
    """(IndexKey, Sketch) PCollections of earlier runs in any of `index_dirs`, or None when there are none."""
    dirs = [d for d in index_dirs if has_history(d)]
    if not dirs:
        return None
    parts = []
    for n, index_dir in enumerate(dirs):
        suffix = str(n) if n else ""
        keys = (
            pipeline
            | f"ReadIndexKeys{suffix}" >> ReadFromParquetBatched(f"{_dir(index_dir, KEYS)}/*.parquet")
            | f"AsIndexKeys{suffix}" >> beam.ParDo(RecordsFn(IndexKey)).with_output_types(IndexKey)
        )
        sketches = (
            pipeline
            | f"ReadIndexSketches{suffix}" >> ReadFromParquetBatched(f"{_dir(index_dir, SKETCHES)}/*.parquet")
            | f"AsSketches{suffix}" >> beam.ParDo(RecordsFn(Sketch)).with_output_types(Sketch)
        )
        parts.append((keys, sketches))
    if len(parts) == 1:
        return parts[0]
    return (tuple(keys for keys, _ in parts) | "AllIndexKeys" >> beam.Flatten(),
            tuple(sketches for _, sketches in parts) | "AllIndexSketches" >> beam.Flatten())


class IndexRowsFn(SketchingFn):
    """A written article -> its index keys, and its sketch on the `sketches` output."""

    def process(self, article: Article) -> Iterator[Any]:
        sketch, keys = self.sketch(article, seen=True)
        for key in keys:
            yield IndexKey(key, article.article_id)
        yield beam.pvalue.TaggedOutput(SKETCHES, sketch)


class WriteIndex(beam.PTransform):
    """Written articles -> index files under `pending` (see `commit`)."""

    def __init__(self, settings: DedupSettings, pending: str):
        super().__init__()
        self._settings = settings
        self._pending = pending

    def expand(self, articles: beam.PCollection) -> Any:
        rows = articles | "IndexRows" >> beam.ParDo(IndexRowsFn(self._settings)).with_output_types(
            IndexKey, sketches=Sketch).with_outputs(SKETCHES, main=KEYS)
        for part, record in ((KEYS, IndexKey), (SKETCHES, Sketch)):
            _ = (
                rows[part]
                | f"{part.title()}AsDicts" >> beam.Map(lambda r: r._asdict())
                | f"Write{part.title()}" >> WriteToParquet(f"{_dir(self._pending, part)}/part", arrow_schema(record),
                                                          file_name_suffix=".parquet", num_shards=1,
                                                          shard_name_template=PENDING_SHARDS)
            )
        return rows


def commit(index_dir: str, pending: str) -> None:
    """Move a successful run's index files into the index, under names no other run uses. Doing
    it again after an interruption finishes the move (a killed run's commit is rolled forward)."""
    if not FileSystems.exists(pending):
        return
    run = pending.rstrip("/").rsplit("pending-", 1)[-1]
    for part in (KEYS, SKETCHES):
        found = FileSystems.match([f"{_dir(pending, part)}/*.parquet"])[0].metadata_list
        sources = [m.path for m in found]
        targets = [f"{_dir(index_dir, part)}/{run}-{path.rsplit('/', 1)[-1]}" for path in sources]
        if not sources:
            continue
        if not FileSystems.exists(_dir(index_dir, part)):
            FileSystems.mkdirs(_dir(index_dir, part))
        FileSystems.rename(sources, targets)
    FileSystems.delete([pending])
