"""The cross-run index: what earlier runs wrote, as Parquet, so a run adds only new stories.

    <index dir>/keys/*.parquet       ArticleKeys(id_code, key_codes): id:, url:, hash: and LSH band keys
    <index dir>/sketches/*.parquet   Sketch(article_id, published, word_count, signature, seen=True)
    <index dir>/clusters/*.parquet   the event clusters of earlier runs (transforms/events/cluster_store.py)

Both are read as arrays (`KeyBlock`s, `SketchTable`s), never as an object per row, and either
where they are used (`IndexKeys.read`, `IndexSketches.read`: narrowed to this run's keys and
candidates as they are read, for the local runners) or as PCollections (`blocks`, `tables`: the
keys joined with the run's in a shuffle, on runners that scale out). The articles a run writes
are added as new files under a pending directory, which `commit` moves into place only after the
run succeeded, so a failed run never hides its stories from the next one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, Optional

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io import ReadFromParquetBatched
from apache_beam.io.filesystems import FileSystems

from transforms.core.pending import WritePending
from transforms.core.records import Article, ArticleKeys, KeyBlock, Sketch
from transforms.core.schemas import arrow_schema
from transforms.core.settings import DedupSettings
from transforms.dedup import keys as dedup_keys
from transforms.dedup.near import Earlier, SketchingFn, members, merged, narrowed
from transforms.dedup.sketch_table import SketchTable

KEYS, SKETCHES, CLUSTERS = "keys", "sketches", "clusters"
_ROWS = 2048  # index rows (articles) made into arrays at a time
COMPACT_AT = 32  # files per part of the index above which a commit merges them (an hourly job: daily or so)


def _dir(index_dir: str, part: str) -> str:
    return f"{index_dir.rstrip('/')}/{part}"


def pending_dir(index_dir: str) -> str:
    """A new, unique directory for one run's additions."""
    return _dir(index_dir, f"pending-{uuid.uuid4().hex}")


def has_history(index_dir: str) -> bool:
    return bool(FileSystems.match([f"{_dir(index_dir, KEYS)}/*.parquet"])[0].metadata_list)


def key_blocks(table: pa.Table, rows: int = _ROWS) -> Iterator[KeyBlock]:
    """Rows of an index keys file -> `KeyBlock`s of the keys of up to `rows` rows (files written
    before version 0.2 hold a row per key, with key and article id as strings: coded here)."""
    for start in range(0, len(table), rows):
        part = table.slice(start, rows)
        if "key_codes" in part.column_names:
            lists = part.column("key_codes").combine_chunks()
            keys = lists.flatten().to_numpy().astype(np.uint64)
            ids = np.repeat(part.column("id_code").to_numpy().astype(np.uint64), lists.value_lengths().to_numpy())
        else:
            keys = dedup_keys.codes(part.column("key").to_pylist())
            ids = dedup_keys.id_codes(part.column("article_id").to_pylist())
        yield KeyBlock(keys.tobytes(), ids.tobytes())


def sketch_tables(table: pa.Table, rows: int = _ROWS) -> Iterator[SketchTable]:
    """Rows of an index sketches file -> `SketchTable`s of up to `rows` sketches."""
    for start in range(0, len(table), rows):
        yield SketchTable.of_arrow(table.slice(start, rows))


def read_batches(patterns: Sequence[str], rows: int = _ROWS) -> Iterator[pa.Table]:
    """The rows of the Parquet files of `patterns` (globs or paths), a few thousand at a time."""
    for pattern in patterns:
        for found in FileSystems.match([pattern])[0].metadata_list:
            with FileSystems.open(found.path) as handle:
                for batch in pq.ParquetFile(handle).iter_batches(batch_size=rows):
                    yield pa.Table.from_batches([batch])


class IndexKeys(NamedTuple):
    """The keys files of index directories."""

    dirs: tuple[str, ...]

    def patterns(self) -> list[str]:
        return [f"{_dir(d, KEYS)}/*.parquet" for d in self.dirs]

    def read(self, keys_now: np.ndarray) -> KeyBlock:
        """The index keys that are among `keys_now` (sorted codes): what a run shares with the history."""
        return merged(
            narrowed(block, keys_now) for table in read_batches(self.patterns(), _ROWS) for block in key_blocks(table)
        )

    def blocks(self, pipeline: beam.Pipeline) -> beam.PCollection:
        """Every key of the index, as a PCollection of `KeyBlock`s."""
        reads = [
            pipeline | f"ReadIndexKeys{n or ''}" >> ReadFromParquetBatched(pattern)
            for n, pattern in enumerate(self.patterns())
        ]
        return (
            reads
            | "IndexKeys" >> beam.Flatten()
            | "IndexKeyBlocks" >> beam.FlatMap(key_blocks).with_output_types(KeyBlock)
        )


class IndexSketches(NamedTuple):
    """The sketches files of index directories."""

    dirs: tuple[str, ...]

    def patterns(self) -> list[str]:
        return [f"{_dir(d, SKETCHES)}/*.parquet" for d in self.dirs]

    def read(self, wanted: np.ndarray) -> SketchTable:
        """The sketches of the articles whose id codes are among `wanted` (sorted), chosen by id
        before they become arrays: what is kept is the candidates', never the whole index."""
        parts = []
        for table in read_batches(self.patterns(), _ROWS):
            chosen = members(dedup_keys.id_codes(table.column("article_id").to_pylist()), wanted)
            if chosen.any():
                parts.append(SketchTable.of_arrow(table.filter(pa.array(chosen))))
        return SketchTable.concat(parts)

    def tables(self, pipeline: beam.Pipeline) -> beam.PCollection:
        """Every sketch of the index, as a PCollection of `SketchTable`s."""
        reads = [
            pipeline | f"ReadIndexSketches{n or ''}" >> ReadFromParquetBatched(pattern)
            for n, pattern in enumerate(self.patterns())
        ]
        return reads | "IndexSketches" >> beam.Flatten() | "IndexSketchTables" >> beam.FlatMap(sketch_tables)


def read_earlier(index_dirs: Sequence[str]) -> Optional[Earlier]:
    """The index of earlier runs in any of `index_dirs`, or None when there are none."""
    dirs = tuple(d for d in index_dirs if has_history(d))
    return Earlier(IndexKeys(dirs), IndexSketches(dirs)) if dirs else None


class IndexRowsFn(SketchingFn):
    """A written article -> its `ArticleKeys`, and its sketch on the `sketches` output."""

    def process(self, article: Article) -> Iterator[Any]:
        sketch, codes = self.sketch(article, seen=True)
        yield ArticleKeys(dedup_keys.id_code(article.article_id), codes.astype(np.int64).tolist())
        yield beam.pvalue.TaggedOutput(SKETCHES, sketch)


class WriteIndex(beam.PTransform):
    """Written articles -> index files under `pending` (see `commit`)."""

    def __init__(self, settings: DedupSettings, pending: str):
        super().__init__()
        self._settings = settings
        self._pending = pending

    def expand(self, articles: beam.PCollection) -> Any:
        rows = articles | "IndexRows" >> beam.ParDo(IndexRowsFn(self._settings)).with_output_types(
            ArticleKeys, sketches=Sketch
        ).with_outputs(SKETCHES, main=KEYS)
        for part, record in ((KEYS, ArticleKeys), (SKETCHES, Sketch)):
            _ = rows[part] | f"Write{part.title()}" >> WritePending(_dir(self._pending, part), record)
        return rows


def parquet_files(folder: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([f"{folder}/*.parquet"])[0].metadata_list)


def _rows(path: str) -> int:
    with FileSystems.open(path) as handle:
        return int(pq.ParquetFile(handle).metadata.num_rows)


def commit(index_dir: str, pending: str) -> None:
    """Move a successful run's index files into the index, under names no other run uses; files
    without rows (a run that wrote no article) are dropped, not kept. Doing it again after an
    interruption finishes the move (a killed run's commit is rolled forward). Then, when a part
    of the index holds more than `COMPACT_AT` files, it is compacted (`compact`)."""
    if not FileSystems.exists(pending):
        return
    run = pending.rstrip("/").rsplit("pending-", 1)[-1]
    for part in (KEYS, SKETCHES, CLUSTERS):
        sources = [path for path in parquet_files(_dir(pending, part)) if _rows(path)]
        targets = [f"{_dir(index_dir, part)}/{run}-{path.rsplit('/', 1)[-1]}" for path in sources]
        if not sources:
            continue
        if not FileSystems.exists(_dir(index_dir, part)):
            FileSystems.mkdirs(_dir(index_dir, part))
        FileSystems.rename(sources, targets)
    FileSystems.delete([pending])
    if any(len(parquet_files(_dir(index_dir, part))) > COMPACT_AT for part in (KEYS, SKETCHES)):
        compact(index_dir)


def compact(index_dir: str) -> dict[str, int]:
    """Merge each part's files of the current schema into one, a row group at a time (memory
    bounded by a row group, not the index), each article once. The merged file is renamed in
    before the files it replaces are deleted: a compaction stopped between the two leaves some
    articles twice, which reading tolerates and the next compaction undoes. Files of version 0.1
    (a row per key) are left as they are. Returns the number of files merged per part."""
    merged = {}
    for part, record, key in ((KEYS, ArticleKeys, "id_code"), (SKETCHES, Sketch, "article_id")):
        schema = arrow_schema(record)
        folder = _dir(index_dir, part)
        sources = [path for path in parquet_files(folder) if _schema_of(path).equals(schema, check_metadata=False)]
        merged[part] = len(sources)
        if len(sources) < 2:
            continue
        stale = [m.path for m in FileSystems.match([f"{folder}/compacted-*.partial"])[0].metadata_list]
        if stale:  # what a compaction stopped midway had begun
            FileSystems.delete(stale)
        temporary = f"{folder}/compacted-{uuid.uuid4().hex}.partial"
        seen: set[Any] = set()
        with FileSystems.create(temporary) as out, pq.ParquetWriter(out, schema) as writer:
            for path in sources:
                with FileSystems.open(path) as handle:
                    for batch in pq.ParquetFile(handle).iter_batches(batch_size=_ROWS):
                        keys = batch.column(key).to_pylist()
                        fresh = [n for n, value in enumerate(keys) if value not in seen]
                        seen.update(keys)
                        if fresh:
                            writer.write_table(pa.Table.from_batches([batch]).take(fresh).cast(schema))
        FileSystems.rename([temporary], [temporary.removesuffix(".partial") + ".parquet"])
        FileSystems.delete(sources)
    return merged


def _schema_of(path: str) -> pa.Schema:
    with FileSystems.open(path) as handle:
        return pq.ParquetFile(handle).schema_arrow
