"""Sinks: every table as JSON Lines and/or Parquet under the output directory.

Layout: `<dir>/jsonl/<table>/part-SSSSS-of-NNNNN.jsonl` and `<dir>/parquet/<table>/part-...parquet`
(with `output.layout: partitioned`, `<dir>` is the run's staging folder; `pipeline.lake` files
the parts under `dt=<date>/` after the run).
The Parquet schema is derived from the table's record type (`transforms.core.schemas.arrow_schema`);
an empty table is still written (a file with the schema and no rows), so readers can rely on
every table existing. With a fixed number of shards (`output.num_shards`, default 1) a row goes
to the shard its primary key hashes to, and a re-run overwrites the same files rather than adding
new ones; with 0, each bundle of the runner's writes its own part.

All tables and formats go through one writer (`WriteTables`): rows are keyed by (table, shard),
grouped, and each group written in every format to hidden temporary files beside its final ones
(`.tmp-*`, which Parquet and DuckDB readers skip); one last step renames them into place,
writes the empty tables and removes what a failed attempt left. Beam's `WriteToText` and
`WriteToParquet`, one pair per table, cost about ten times more transforms: 2.4 s of a two-article
run's start (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, Any, Optional

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

from transforms.core import metrics
from transforms.core.records import TABLES_BY_NAME, Table, table_label
from transforms.core.schemas import table_arrow_schema, to_json_dict
from transforms.core.settings import OutputSettings

SUFFIXES = {"jsonl": ".jsonl", "parquet": ".parquet"}
_TEMP = ".tmp-"
_ROW_GROUP = 10_000  # rows per Parquet row group


def table_folder(output_dir: str, fmt: str, table: str) -> str:
    """The folder of one table's files in one format."""
    return f"{output_dir.rstrip('/')}/{fmt}/{table}"


def to_json_line(record: tuple) -> str:
    return json.dumps(to_json_dict(record), ensure_ascii=False)


class CountRows(beam.DoFn):
    """Counts the rows handed to a table's writers (`newsbeam.tables/<table>`)."""

    def __init__(self, table: str):
        self._rows = Metrics.counter(metrics.TABLES, table)

    def process(self, row: Any):
        self._rows.inc()
        yield row


def shard_of(table: Table, record: tuple, shards: int) -> int:
    """The shard a row goes to: a stable hash of its primary key (the same row, the same file)."""
    key = "\x1f".join(str(getattr(record, field)) for field in table.key)
    return zlib.crc32(key.encode("utf-8")) % shards


class _Part:
    """One table's rows being written, in each format, to hidden files in the table's folders."""

    def __init__(self, table: Table, output: OutputSettings):
        self._files: dict[str, tuple[str, IO[bytes]]] = {}
        for fmt in output.formats:
            folder = table_folder(output.dir, fmt, table.name)
            path = f"{folder}/{_TEMP}{uuid.uuid4().hex}{SUFFIXES[fmt]}"
            self._files[fmt] = (path, FileSystems.create(path))
        self._schema = table_arrow_schema(table)
        self._parquet = pq.ParquetWriter(self._files["parquet"][1], self._schema) if "parquet" in self._files else None
        self._buffer: list[dict[str, Any]] = []

    def write(self, record: Any) -> None:
        if "jsonl" in self._files:
            self._files["jsonl"][1].write(to_json_line(record).encode("utf-8") + b"\n")
        if self._parquet is not None:
            self._buffer.append(record._asdict())
            if len(self._buffer) >= _ROW_GROUP:
                self._flush()

    def close(self) -> dict[str, str]:
        """Format -> the written file."""
        if self._parquet is not None:
            self._flush()
            self._parquet.close()
        for _, handle in self._files.values():
            handle.close()
        return {fmt: path for fmt, (path, _) in self._files.items()}

    def _flush(self) -> None:
        assert self._parquet is not None
        if self._buffer:
            self._parquet.write_table(pa.Table.from_pylist(self._buffer, schema=self._schema))
            self._buffer = []


class KeyByShard(beam.DoFn):
    """A table's rows -> ((table, shard), row), counted (`newsbeam.tables/<table>`). Shard None:
    the bundle decides (`output.num_shards: 0`)."""

    def __init__(self, table: str, shards: int):
        self._table = TABLES_BY_NAME[table]
        self._shards = shards
        self._rows = Metrics.counter(metrics.TABLES, table)

    def process(self, row: tuple) -> Iterator[tuple[tuple[str, Optional[int]], tuple]]:
        self._rows.inc()
        yield (self._table.name, shard_of(self._table, row, self._shards) if self._shards else None), row


class WriteGroups(beam.DoFn):
    """((table, shard), rows) -> (table, shard, {format: temporary file})."""

    def __init__(self, output: OutputSettings):
        self._output = output

    def process(self, group: tuple[tuple[str, int], Iterable[tuple]]) -> Iterator[tuple[str, int, dict[str, str]]]:
        (name, shard), rows = group
        part = _Part(TABLES_BY_NAME[name], self._output)
        for row in rows:
            part.write(row)
        yield name, shard, part.close()


class WriteBundles(beam.DoFn):
    """((table, None), row) -> one part per table per bundle: (table, None, {format: temporary file})."""

    def __init__(self, output: OutputSettings):
        self._output = output
        self._parts: dict[str, _Part] = {}

    def start_bundle(self) -> None:
        self._parts = {}

    def process(self, keyed: tuple[tuple[str, None], tuple]) -> None:
        (name, _), row = keyed
        if name not in self._parts:
            self._parts[name] = _Part(TABLES_BY_NAME[name], self._output)
        self._parts[name].write(row)

    def finish_bundle(self) -> Iterator[WindowedValue]:
        for name, part in self._parts.items():
            yield WindowedValue((name, None, part.close()), GlobalWindow().max_timestamp(), (GlobalWindow(),))
        self._parts = {}


class Publish(beam.DoFn):
    """All the parts written -> renamed to `part-SSSSS-of-NNNNN`, an empty part for a table (or a
    fixed shard) without rows, and what failed attempts left behind removed."""

    def __init__(self, output: OutputSettings, tables: list[str]):
        self._output = output
        self._tables = tables

    def display_data(self) -> dict[str, Any]:
        """Where the tables go, for the runner's UI (Dataflow's step details)."""
        return {"output_dir": self._output.dir, "formats": ", ".join(self._output.formats)}

    def process(self, parts: list[tuple[str, Optional[int], dict[str, str]]]) -> Iterator[str]:
        output, fixed = self._output, self._output.num_shards
        for name in self._tables:
            table = TABLES_BY_NAME[name]
            mine = sorted(((shard, files) for n, shard, files in parts if n == name), key=lambda p: p[0] or 0)
            for fmt in output.formats:
                folder = table_folder(output.dir, fmt, name)
                if fixed:
                    written = {shard: files[fmt] for shard, files in mine}
                    sources = [written.get(shard) for shard in range(fixed)]
                else:
                    sources = [files[fmt] for _, files in mine] or [None]
                targets = [f"{folder}/part-{i:05d}-of-{len(sources):05d}{SUFFIXES[fmt]}" for i in range(len(sources))]
                for source, target in zip(sources, targets):
                    if source is None:
                        _write_empty(table, fmt, target)
                    else:
                        FileSystems.rename([source], [target])
                    yield target
                leftovers = FileSystems.match([f"{folder}/{_TEMP}*"])[0].metadata_list
                if leftovers:
                    FileSystems.delete([m.path for m in leftovers])


def _write_empty(table: Table, fmt: str, path: str) -> None:
    with FileSystems.create(path) as handle:
        if fmt == "parquet":
            pq.write_table(table_arrow_schema(table).empty_table(), handle)


class WriteTables(beam.PTransform):
    """`{table name: PCollection of its records}` -> files for every table, in every format ->
    the paths written."""

    def __init__(self, output: OutputSettings):
        super().__init__()
        self._output = output

    def expand(self, tables: dict[str, beam.PCollection]) -> beam.PCollection:
        output, shards = self._output, self._output.num_shards
        keyed = [
            rows | f"Key{table_label(name)}" >> beam.ParDo(KeyByShard(name, shards)) for name, rows in tables.items()
        ]
        rows = keyed | "AllTables" >> beam.Flatten()
        if shards:
            parts = rows | "GroupByShard" >> beam.GroupByKey() | "WriteShards" >> beam.ParDo(WriteGroups(output))
        else:
            parts = rows | "WriteBundles" >> beam.ParDo(WriteBundles(output))
        return parts | "AllParts" >> beam.combiners.ToList() | "Publish" >> beam.ParDo(Publish(output, list(tables)))
