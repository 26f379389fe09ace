"""The lake (`output.layout: partitioned`) and PostgreSQL: each row once by key, however often a
run repeats, and after a run killed midway is run again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow.parquet as pq
import pytest

from pipeline import lake
from pipeline.tables import sorted_tables
from tests.conftest import DSN, LOCAL_CONFIG, ROOT, SEEDS, counts, drop_schemas, run_cli
from transforms.core.records import TABLES, TABLES_BY_NAME
from transforms.testing.corpus import write_jsonl

LAKE = ("--set", "output.layout=partitioned")


def lake_run(inputs: Path, output: Path, run_id: str, *args: str) -> int:
    return run_cli("--input", str(inputs), "--output", str(output), *LAKE, "--set", f"run_id={run_id}", *args)


def table_files(output: Path, fmt: str = "parquet") -> list[str]:
    return sorted(str(p.relative_to(output)) for p in (output / fmt).rglob(f"*.{'jsonl' if fmt == 'jsonl' else fmt}"))


def test_a_repeated_run_replaces_its_rows_instead_of_adding_them(tmp_path: Path) -> None:
    output = tmp_path / "lake"
    no_index = ("--set", "dedup.index=false")  # every row is written again: the lake must keep one per key
    assert lake_run(SEEDS, output, "20261122T0500Z", *no_index) == 0
    first = sorted_tables(output)
    assert len(first["articles"]) == 2 and len(first["entities"]) > 20
    assert lake_run(SEEDS, output, "20261123T0500Z", *no_index) == 0
    assert sorted_tables(output) == first
    files = [f for f in table_files(output) if f.split("/")[1] in ("articles", "entities", "events")]
    assert len(files) == 3 and all(f.split("/")[2] == "dt=2026-11-23" for f in files), files  # yesterday's moved
    assert not (output / "_staging").exists()
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT dt, count(*) FROM read_parquet('{output}/parquet/articles/*/*.parquet', "
        "hive_partitioning=true) GROUP BY dt"
    ).fetchall()
    assert [(str(dt), n) for dt, n in rows] == [("2026-11-23", 2)]
    schema = pq.read_schema(output / files[0])  # the version travels with the data
    assert schema.metadata[b"newsbeam.schema_version"] == str(TABLES_BY_NAME["articles"].version).encode()


def test_with_the_index_a_repeated_run_adds_nothing(tmp_path: Path) -> None:
    output, index = tmp_path / "lake", ("--set", "dedup.index=true")
    assert lake_run(SEEDS, output, "20261122T0500Z", *index) == 0
    first, files = sorted_tables(output), table_files(output, "jsonl")
    assert lake_run(SEEDS, output, "20261123T0500Z", *index) == 0
    assert sorted_tables(output) == first
    assert table_files(output, "jsonl") == files  # not a file touched


def test_a_run_killed_during_its_commit_is_finished_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean, index = tmp_path / "clean", ("--set", "dedup.index=true")
    assert lake_run(SEEDS, clean, "20261123T0400Z", *index) == 0
    output = tmp_path / "lake"
    publish = lake._publish_table  # pylint: disable=protected-access
    published: list[str] = []

    def dies_after_two_tables(commit: lake.Commit, fmt: str, table: Any) -> int:
        if len(published) == 2:
            raise KeyboardInterrupt("killed")  # as a kill would: nothing after this point runs
        published.append(table.name)
        return publish(commit, fmt, table)

    monkeypatch.setattr(lake, "_publish_table", dies_after_two_tables)
    assert lake_run(SEEDS, output, "20261123T0500Z", *index) == 130  # "interrupted"
    assert list((output / "_runs").glob("*.commit.json")) and (output / "_staging").exists()
    monkeypatch.setattr(lake, "_publish_table", publish)
    assert lake_run(SEEDS, output, "20261123T0600Z", *index) == 0  # finishes 0500's commit, then finds nothing new
    assert sorted_tables(output) == sorted_tables(clean)
    assert not list((output / "_runs").glob("*.commit.json")) and not (output / "_staging").exists()


def pg_rows(schema: str) -> dict[str, list[tuple]]:
    with psycopg.connect(DSN) as conn:
        return {t.name: conn.execute(f"SELECT * FROM {schema}.{t.name} ORDER BY 1").fetchall() for t in TABLES}


@pytest.mark.slow
def test_a_run_killed_midway_and_run_again_has_every_row_once_in_the_lake_and_postgres(
    tmp_path: Path, schema: str
) -> None:
    corpus = tmp_path / "corpus"
    write_jsonl(corpus, 60, seed=3, files=4)

    def command(output: Path, pg_schema: str, run_id: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--config",
            str(LOCAL_CONFIG),
            "-q",
            "--input",
            str(corpus),
            "--output",
            str(output),
            *LAKE,
            "--set",
            f"run_id={run_id}",
            "--set",
            "dedup.index=true",
            "--postgres-dsn",
            DSN,
            "--set",
            f"postgres.schema={pg_schema}",
            "--set",
            "postgres.batch_size=5",
            "--set",
            "entities.batch_size=4",
        ]

    clean_schema = f"{schema}_clean"
    try:
        subprocess.run(
            command(tmp_path / "clean", clean_schema, "20261123T0400Z"), cwd=ROOT, check=True, capture_output=True
        )
        output = tmp_path / "lake"
        victim = subprocess.Popen(
            command(output, schema, "20261123T0500Z"),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and victim.poll() is None:  # kill it once it has written some rows
            try:
                if counts(schema)["entities"] > 0:
                    break
            except psycopg.Error:
                pass  # tables not created yet
            time.sleep(0.2)
        assert victim.poll() is None, "the run ended before it could be killed"
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        partial = counts(schema)
        assert partial["entities"] > 0, "killed after its first database rows"
        assert not list(output.glob("*/*/dt=*/20261123T0500Z-*")), "a killed run publishes nothing to the lake"
        subprocess.run(command(output, schema, "20261123T0600Z"), cwd=ROOT, check=True, capture_output=True)
        assert sorted_tables(output) == sorted_tables(tmp_path / "clean")
        assert pg_rows(schema) == pg_rows(clean_schema)
        assert counts(schema)["articles"] == len(sorted_tables(output)["articles"]) > 40
    finally:
        drop_schemas(clean_schema)


def test_streaming_segments_sharing_a_window_both_keep_their_files(tmp_path: Path) -> None:
    output = tmp_path / "output"
    for segment, title in (("run-w00001", "first"), ("run-w00002", "second")):
        window = (
            Path(lake.staging_dir(str(output), segment))
            / "jsonl"
            / "articles"
            / "dt=2026-11-23"
            / "window=100000-100300"
        )
        window.mkdir(parents=True)
        (window / "part-00000-of-00001.jsonl").write_text(json.dumps({"title": title}) + "\n")
        (window.parent.parent / ".temp-fileio").mkdir()  # fileio's leftovers are not published
        commit = lake.Commit(str(output), segment, "", ("jsonl",), windowed=True)
        lake.begin(commit)
        lake.apply(commit)
    published = sorted(p.relative_to(output / "jsonl") for p in (output / "jsonl").rglob("*.jsonl"))
    assert [str(p) for p in published] == [
        "articles/dt=2026-11-23/window=100000-100300/run-w00001-part-00000-of-00001.jsonl",
        "articles/dt=2026-11-23/window=100000-100300/run-w00002-part-00000-of-00001.jsonl",
    ]
    assert not (output / "_staging").exists() and not list((output / "_runs").iterdir())
