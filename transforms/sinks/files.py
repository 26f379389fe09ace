"""Sinks: every table as JSON Lines and/or Parquet under the output directory.

Layout: `<dir>/jsonl/<table>/part-SSSSS-of-NNNNN.jsonl` and `<dir>/parquet/<table>/part-...parquet`
(with `output.layout: partitioned`, `<dir>` is the run's staging folder; `pipeline.lake` files
the parts under `dt=<date>/` after the run).
The Parquet schema is derived from the table's record type (`transforms.core.schemas.arrow_schema`);
an empty table is still written (a file with the schema and no rows), so readers can rely on
every table existing. With a fixed number of shards (`output.num_shards`, default 1) a re-run
overwrites the same files rather than adding new ones.
"""

from __future__ import annotations

import json
from typing import Any

import apache_beam as beam
from apache_beam.io import WriteToParquet, WriteToText
from apache_beam.metrics import Metrics

from transforms.core import metrics
from transforms.core.records import TABLES_BY_NAME, Table, table_label
from transforms.core.schemas import table_arrow_schema, to_json_dict
from transforms.core.settings import OutputSettings


def table_path(output_dir: str, fmt: str, table: str) -> str:
    """The file prefix of one table in one format."""
    return f"{output_dir.rstrip('/')}/{fmt}/{table}/part"


def to_json_line(record: tuple) -> str:
    return json.dumps(to_json_dict(record), ensure_ascii=False)


class CountRows(beam.DoFn):
    """Counts the rows handed to a table's writers (`newsbeam.tables/<table>`)."""

    def __init__(self, table: str):
        self._rows = Metrics.counter(metrics.TABLES, table)

    def process(self, row: Any):
        self._rows.inc()
        yield row


class WriteTable(beam.PTransform):
    """Records of one table -> its files in each configured format."""

    def __init__(self, table: Table, output: OutputSettings):
        super().__init__()
        self._table = table
        self._output = output

    def expand(self, rows: beam.PCollection) -> dict[str, Any]:
        name, output = self._table.name, self._output
        counted = rows | "Count" >> beam.ParDo(CountRows(name)).with_output_types(self._table.record)
        written: dict[str, Any] = {}
        if "jsonl" in output.formats:
            written["jsonl"] = (
                counted
                | "ToJson" >> beam.Map(to_json_line)
                | "WriteJsonl"
                >> WriteToText(
                    table_path(output.dir, "jsonl", name), file_name_suffix=".jsonl", num_shards=output.num_shards
                )
            )
        if "parquet" in output.formats:
            written["parquet"] = (
                counted
                | "ToDict" >> beam.Map(lambda record: record._asdict())
                | "WriteParquet"
                >> WriteToParquet(
                    table_path(output.dir, "parquet", name),
                    table_arrow_schema(self._table),
                    file_name_suffix=".parquet",
                    num_shards=output.num_shards,
                )
            )
        return written


class WriteTables(beam.PTransform):
    """`{table name: PCollection of its records}` -> files for every table."""

    def __init__(self, output: OutputSettings):
        super().__init__()
        self._output = output

    def expand(self, tables: dict[str, beam.PCollection]) -> dict[str, Any]:
        return {
            name: rows | f"Write{table_label(name)}" >> WriteTable(TABLES_BY_NAME[name], self._output)
            for name, rows in tables.items()
        }
