"""PostgreSQL sink throughput: newsbeam's upserts against a plain COPY of the same rows.

The tables of a generated run (`--seed-docs` articles through the whole pipeline) are copied
with new keys until they hold `--articles` articles' worth of rows, shaped as a real run's. Then,
side by side, into fresh schemas of the local server:
- COPY: `psycopg` COPY of every row into the tables (no key handling: the limit);
- newsbeam: the rows through `UpsertTables` in a Beam pipeline (batches, COPY into a temporary
  table, INSERT ... ON CONFLICT), on empty tables and again on full ones (a repeated run);
- the same pipeline with a sink that drops the rows: what moving 200k elements costs Beam's
  local runner whatever the sink, subtracted to give the sink's own rate.

    python -m bench.postgres_load --articles 10000
"""

from __future__ import annotations

import argparse
import os
import pickle
import tempfile
import time
import typing
import uuid
from pathlib import Path
from typing import Optional

import apache_beam as beam
import psycopg

from pipeline.config import load_settings
from pipeline.prepare import prepare
from pipeline.run import run
from pipeline.tables import read_tables
from transforms.core.records import TABLES, TABLES_BY_NAME
from transforms.core.settings import PostgresSettings
from transforms.sinks.postgres import UpsertTables, prepare_database
from transforms.testing.corpus import write_jsonl

ROOT = Path(__file__).resolve().parent.parent
DSN = os.environ.get("NEWSBEAM_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
ID_FIELDS = ("article_id", "entity_id", "event_id", "cluster_id", "dead_letter_id", "duplicate_of")


def generated_run(docs: int, folder: Path) -> dict[str, list[tuple]]:
    """Records of every table of a pipeline run over `docs` generated articles."""
    write_jsonl(folder / "corpus", docs, seed=11, files=4)
    settings = load_settings(
        str(ROOT / "configs" / "local.yaml"),
        [
            f"input.paths=[{folder / 'corpus'}]",
            f"output.dir={folder / 'out'}",
            "output.formats=[jsonl]",
            f"events.taxonomy={ROOT / 'configs' / 'taxonomy.yaml'}",
        ],
    )
    run(prepare(settings))
    records = {}
    for name, rows in read_tables(folder / "out").items():
        record = TABLES_BY_NAME[name].record
        hints = typing.get_type_hints(record)
        records[name] = [record(**{k: _typed(v, hints[k]) for k, v in row.items()}) for row in rows]
    return records


def _typed(value: typing.Any, hint: typing.Any) -> typing.Any:
    from datetime import datetime

    if isinstance(value, str) and datetime in typing.get_args(hint) + (hint,):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def scaled(records: dict[str, list[typing.Any]], copies: int) -> dict[str, list[typing.Any]]:
    """`copies` copies of every row, keys and the article ids they refer to made unique per copy."""
    out: dict[str, list[typing.Any]] = {}
    for name, rows in records.items():
        out[name] = [
            row._replace(**{f: f"{getattr(row, f)}-{n}" for f in ID_FIELDS if hasattr(row, f)})
            for n in range(copies)
            for row in rows
        ]
    return out


def copy_rows(schema: str, records: dict[str, list[tuple]]) -> float:
    started = time.perf_counter()
    with psycopg.connect(DSN) as conn, conn.cursor() as cur:
        for name, rows in records.items():
            columns = ", ".join(f'"{c}"' for c in typing.get_type_hints(TABLES_BY_NAME[name].record))
            with cur.copy(f"COPY {schema}.{name} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    return time.perf_counter() - started


def _load(path: str) -> list[tuple]:
    with open(path, "rb") as handle:
        return pickle.load(handle)


def upsert_rows(schema: Optional[str], files: dict[str, str], batch_size: int) -> float:
    """The rows (read from `files` inside the pipeline, as a run's rows flow into its sinks;
    a Create of them would embed them all in the graph) through `UpsertTables`; with no schema,
    through the same batching into a DoFn that drops them: what moving the rows costs Beam."""
    started = time.perf_counter()
    with beam.Pipeline(argv=["--runner=FnApiRunner"]) as p:
        tables = {
            name: p
            | f"Path{name}" >> beam.Create([path])
            | f"Rows{name}" >> beam.FlatMap(_load).with_output_types(TABLES_BY_NAME[name].record)
            for name, path in files.items()
        }
        if schema:
            _ = tables | UpsertTables(PostgresSettings(enabled=True, schema=schema, batch_size=batch_size), DSN)
        else:
            for name, rows in tables.items():
                _ = (
                    rows
                    | f"Batch{name}" >> beam.BatchElements(min_batch_size=batch_size, max_batch_size=batch_size)
                    | f"Drop{name}" >> beam.FlatMap(lambda batch: ())
                )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description="PostgreSQL sink rows/s against a plain COPY")
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--seed-docs", type=int, default=200, help="articles run through the pipeline")
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = generated_run(args.seed_docs, Path(tmp))
        copies = max(1, -(-args.articles // max(1, len(base["articles"]))))
        records = scaled(base, copies)
        files = {}
        for name, table_rows in records.items():
            files[name] = f"{tmp}/{name}.pickle"
            with open(files[name], "wb") as handle:
                pickle.dump(table_rows, handle)
        copy_s, first_s, again_s, stored = measure(records, files, args.batch_size)
        moving_s = upsert_rows(None, files, args.batch_size)
    rows = sum(len(r) for r in records.values())
    print(
        f"{len(records['articles'])} articles' tables: {rows} rows "
        + ", ".join(f"{name} {len(r)}" for name, r in records.items())
    )
    print(f"{'':34}{'seconds':>9}{'rows/s':>10}{'vs COPY':>9}")
    for label, seconds in (
        ("plain COPY (the limit)", copy_s),
        ("newsbeam upsert, empty tables", first_s),
        ("newsbeam upsert, repeated run", again_s),
    ):
        print(f"{label:34}{seconds:9.1f}{rows / seconds:10.0f}{copy_s / seconds:8.2f}x")
    print(f"{'Beam moving the rows, no sink':34}{moving_s:9.1f}")
    for label, seconds in (
        ("sink alone, empty tables", first_s - moving_s),
        ("sink alone, repeated run", again_s - moving_s),
    ):
        print(f"{label:34}{seconds:9.1f}{rows / seconds:10.0f}{copy_s / seconds:8.2f}x")
    print(f"rows stored after both upsert runs: {stored} (expected {rows})")


def measure(records: dict[str, list[tuple]], files: dict[str, str], batch_size: int) -> tuple[float, float, float, int]:
    """COPY into one fresh schema, upserts twice into another; the seconds and the rows stored."""
    schemas = [f"nb_bench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    try:
        for schema in schemas:
            prepare_database(DSN, schema)
        copy_s = copy_rows(schemas[0], records)
        first_s = upsert_rows(schemas[1], files, batch_size)
        again_s = upsert_rows(schemas[1], files, batch_size)
        with psycopg.connect(DSN) as conn:
            stored = sum(
                (conn.execute(f"SELECT count(*) FROM {schemas[1]}.{t.name}").fetchone() or (0,))[0] for t in TABLES
            )
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return copy_s, first_s, again_s, stored


if __name__ == "__main__":
    main()
