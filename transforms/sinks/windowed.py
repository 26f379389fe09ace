"""Windowed sinks for streaming runs: each table, per output window, as JSON Lines and Parquet.

Layout: `<dir>/<format>/<table>/dt=<window day>/window=<HHMMSS>-<HHMMSS>/part-SSSSS-of-NNNNN.<ext>`
(UTC), with the same schemas as the batch sinks (`transforms.sinks.files`, `transforms.core.schemas`). Files
of a window are written when the window closes (the watermark passes its end), through Beam's
`fileio.WriteToFiles`, which works unbounded on Dataflow and Flink.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from typing import Any, Callable, Optional

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms import window

from transforms.core.records import TABLES_BY_NAME, Table, table_label
from transforms.core.schemas import table_arrow_schema
from transforms.core.settings import OutputSettings
from transforms.sinks.files import CountRows, to_json_line


class JsonLinesSink(fileio.TextSink):
    def write(self, record: Any) -> None:
        super().write(to_json_line(record))


class ParquetSink(fileio.FileSink):
    """Records of one table, buffered and written as one Parquet file when the file closes."""

    def __init__(self, table: Table):
        self._schema = table_arrow_schema(table)
        self._rows: list[dict[str, Any]] = []
        self._handle: Any = None

    def open(self, fh: Any) -> None:
        self._handle, self._rows = fh, []

    def write(self, record: Any) -> None:
        self._rows.append(record._asdict())

    def flush(self) -> None:
        pq.write_table(pa.Table.from_pylist(self._rows, schema=self._schema), self._handle)


def window_naming(root: str, suffix: str) -> Callable[..., str]:
    """File names under the window's day and span: `dt=2026-11-23/window=050000-050500/part-00000-of-00001.jsonl`.

    `fileio` renames a window's files into `root` without creating folders below it, so the
    window's folder is made here, when its name is asked for (a no-op on object stores)."""

    def name(
        win: Any, pane: Any, shard_index: Optional[int], total_shards: Optional[int], compression: Any, destination: Any
    ) -> str:
        if isinstance(win, window.IntervalWindow):
            start = datetime.fromtimestamp(float(win.start), timezone.utc)
            end = datetime.fromtimestamp(float(win.end), timezone.utc)
            folder = f"dt={start:%Y-%m-%d}/window={start:%H%M%S}-{end:%H%M%S}"
        else:
            folder = "window=global"
        with contextlib.suppress(OSError):  # BeamIOError is one; it exists already
            FileSystems.mkdirs(FileSystems.join(root, folder))
        return f"{folder}/part-{shard_index or 0:05d}-of-{total_shards or 1:05d}{suffix}"

    return name


class WriteWindowedTable(beam.PTransform):
    """Records of one table -> its files per `window_seconds` window, in each configured format."""

    def __init__(self, table: Table, output: OutputSettings, window_seconds: float):
        super().__init__()
        self._table = table
        self._output = output
        self._window_seconds = window_seconds

    def expand(self, rows: beam.PCollection) -> dict[str, Any]:
        table, output = self._table, self._output
        windowed = (
            rows
            | "Window" >> beam.WindowInto(window.FixedWindows(self._window_seconds))
            | "Count" >> beam.ParDo(CountRows(table.name)).with_output_types(table.record)
        )
        root = f"{output.dir.rstrip('/')}"
        shards = max(output.num_shards, 1)
        written: dict[str, Any] = {}
        if "jsonl" in output.formats:
            written["jsonl"] = windowed | "WriteJsonl" >> fileio.WriteToFiles(
                f"{root}/jsonl/{table.name}",
                sink=lambda _: JsonLinesSink(),
                file_naming=window_naming(f"{root}/jsonl/{table.name}", ".jsonl"),
                shards=shards,
            )
        if "parquet" in output.formats:
            written["parquet"] = windowed | "WriteParquet" >> fileio.WriteToFiles(
                f"{root}/parquet/{table.name}",
                sink=lambda _, t=table: ParquetSink(t),
                file_naming=window_naming(f"{root}/parquet/{table.name}", ".parquet"),
                shards=shards,
            )
        return written


class WriteWindowedTables(beam.PTransform):
    """`{table name: PCollection of its records}` -> windowed files for every table."""

    def __init__(self, output: OutputSettings, window_seconds: float):
        super().__init__()
        self._output = output
        self._window_seconds = window_seconds

    def expand(self, tables: dict[str, beam.PCollection]) -> dict[str, Any]:
        return {
            name: rows
            | f"Write{table_label(name)}"
            >> WriteWindowedTable(TABLES_BY_NAME[name], self._output, self._window_seconds)
            for name, rows in tables.items()
        }
