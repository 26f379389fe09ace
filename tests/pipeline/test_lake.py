"""The lake (`output.layout: partitioned`) and PostgreSQL: each row once by key, however often a
run repeats, and after a run killed midway is run again."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import lake
from pipeline.tables import sorted_tables
from tests.conftest import DSN, LOCAL_CONFIG, ROOT, SEEDS, counts, drop_schemas, run_cli
from transforms.core.records import TABLES, TABLES_BY_NAME, EventCluster
from transforms.core.schemas import arrow_schema
from transforms.events import cluster_store
from transforms.sinks.bigquery import external_table_sql
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


BY_EVENT_DATE = ("--set", "output.partition_by=event_date", "--set", "dedup.index=false")


def _day(value: Any) -> str:
    """A row's date as the lake files it: UTC, ISO text or timestamp; none: Hive's null partition."""
    if value is None:
        return lake.NO_DATE
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d")


def test_events_clusters_and_articles_partitioned_by_the_date_they_happened(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_jsonl(corpus, 24, seed=3, files=2)
    by_run, by_event = tmp_path / "by-run", tmp_path / "by-event"
    assert lake_run(corpus, by_run, "20261123T0500Z", "--set", "dedup.index=false") == 0
    assert lake_run(corpus, by_event, "20261123T0500Z", *BY_EVENT_DATE) == 0
    assert sorted_tables(by_event) == sorted_tables(by_run)  # the same rows, filed otherwise
    assert lake_run(corpus, by_event, "20261124T0500Z", *BY_EVENT_DATE) == 0  # a repeat: replaced, not added
    assert sorted_tables(by_event) == sorted_tables(by_run)

    con = duckdb.connect()
    for table, first, second in (
        ("events", "event_date", "published"),
        ("event_clusters", "first_date", "first_date"),
        ("articles", "published", "published"),
    ):
        for fmt, reader in (("parquet", "read_parquet"), ("jsonl", "read_json_auto")):
            rows = con.execute(
                f"SELECT dt, {first}, {second} FROM {reader}('{by_event}/{fmt}/{table}/*/*.{fmt}', "
                "hive_partitioning=true, hive_types={'dt': DATE})"
            ).fetchall()
            assert rows, table
            for dt, a, b in rows:  # every row in the partition of its own date; undated ones: dt NULL
                assert (str(dt) if dt is not None else lake.NO_DATE) == _day(a if a is not None else b), (table, a, b)
        days = {p.name for p in (by_event / "parquet" / table).iterdir()}
        assert len(days) > 3, (table, days)  # many dates, not the run's one
    entities = [f for f in table_files(by_event) if f.split("/")[1] == "entities"]
    assert entities and all(f.split("/")[2] == "dt=2026-11-24" for f in entities)  # filed by run date as before
    march = con.execute(
        f"SELECT count(*) FROM read_parquet('{by_event}/parquet/events/*/*.parquet', hive_partitioning=true, "
        "hive_types={'dt': DATE}) WHERE dt BETWEEN DATE '2024-03-01' AND DATE '2024-03-31'"
    ).fetchone()
    expected = sum(
        1 for e in sorted_tables(by_run)["events"] if _day(e["event_date"] or e["published"])[:7] == "2024-03"
    )
    assert march == (expected,) and expected > 0
    # BigQuery's external table reads the same layout: every file is <prefix>/dt=<date>/<name>.
    ddl = external_table_sql("p:news", TABLES_BY_NAME["events"], str(by_event))
    prefix = re.search(r"hive_partition_uri_prefix = '([^']+)'", ddl).group(1)
    for path in (by_event / "parquet" / "events").rglob("*.parquet"):
        assert re.fullmatch(rf"{re.escape(prefix)}/dt=(\d{{4}}-\d\d-\d\d|{lake.NO_DATE})/[^/]+\.parquet", str(path))
    assert f"uris = ['{prefix}/*']" in ddl and "WITH PARTITION COLUMNS (dt DATE)" in ddl


def test_a_commit_killed_while_splitting_by_date_is_finished_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    write_jsonl(corpus, 12, seed=4, files=1)
    clean, output = tmp_path / "clean", tmp_path / "lake"
    assert lake_run(corpus, clean, "20261123T0500Z", *BY_EVENT_DATE) == 0
    split = lake._split_by_date  # pylint: disable=protected-access
    calls: list[str] = []

    def dies_on_the_third_file(rows: Any, path: str, columns: tuple[str, ...], run_dt: str) -> None:
        calls.append(path)
        if len(calls) == 3:  # its files by date written, the staged file not yet deleted
            folder, name = path.rsplit("/", 1)
            for dt, data in rows.split(path, columns, run_dt).items():
                lake._write_bytes(f"{folder}/dt={dt}/{name}", data)  # pylint: disable=protected-access
            raise KeyboardInterrupt("killed")
        split(rows, path, columns, run_dt)

    monkeypatch.setattr(lake, "_split_by_date", dies_on_the_third_file)
    assert lake_run(corpus, output, "20261123T0500Z", *BY_EVENT_DATE) == 130
    monkeypatch.setattr(lake, "_split_by_date", split)
    assert lake.recover(str(output))  # what the next run does first
    assert sorted_tables(output) == sorted_tables(clean)
    assert table_files(output) == table_files(clean)


STORY = (
    {
        "url": "https://wire-a.example.com/kabul-blast",
        "title": "Bomb kills 12 at Kabul market",
        "published": "2024-05-01T08:00:00Z",
        "text": "A bomb exploded at a crowded market in Kabul on Wednesday, killing 12 people and wounding 30 "
        "others, police said.\nThe blast went off near a row of fruit stalls shortly after the morning rush, "
        "witnesses said.\nNo group has claimed responsibility for the attack so far.",
    },
    {
        "url": "https://wire-b.example.com/kabul-toll",
        "title": "Kabul market blast toll rises to 19",
        "published": "2024-05-02T09:30:00Z",
        "text": "The death toll from a bomb blast at a Kabul market on Wednesday has risen to 19, health officials "
        "said on Thursday.\nSeveral of the wounded died overnight in hospital, a doctor told reporters.\n"
        "Shopkeepers reopened some stalls on Thursday under heavy police guard.",
    },
)


def test_a_story_whose_reports_straddle_two_scheduled_runs_is_one_cluster(tmp_path: Path, schema: str) -> None:
    """Run 1 reads the first report of a blast, run 2 (the next day) the second: the cluster run 1
    wrote keeps its id and grows, replaced in the lake and in PostgreSQL, not duplicated."""
    output = tmp_path / "lake"
    scheduled = ("--set", "dedup.index=true", "--postgres-dsn", DSN, "--set", f"postgres.schema={schema}")
    for number, report in enumerate(STORY, 1):
        (tmp_path / f"in{number}").mkdir()
        (tmp_path / f"in{number}" / "wire.jsonl").write_text(json.dumps(report) + "\n", encoding="utf-8")
    assert lake_run(tmp_path / "in1", output, "20240501T1000Z", *scheduled) == 0

    def blasts() -> list[dict[str, Any]]:
        return [c for c in sorted_tables(output)["event_clusters"] if c["event_type"] == "bombing" and c["first_date"]]

    (first,) = blasts()
    assert first["fatalities"] == 12 and first["articles"] == 1
    assert lake_run(tmp_path / "in2", output, "20240502T1000Z", *scheduled) == 0
    (story,) = blasts()
    assert story["cluster_id"] == first["cluster_id"]
    assert story["articles"] == 2 and story["mentions"] == first["mentions"] + 1
    assert story["sources"] == ["wire-a.example.com", "wire-b.example.com"] and story["fatalities"] == 19
    with psycopg.connect(DSN) as conn:
        rows = conn.execute(
            f"SELECT cluster_id, articles, fatalities FROM {schema}.event_clusters WHERE event_type = 'bombing' "
            "AND first_date IS NOT NULL"
        ).fetchall()
    assert rows == [(story["cluster_id"], 2, 19)]
    summary = json.loads(next((output / "_runs").rglob("run=20240502T1000Z/run_summary.json")).read_text())
    assert summary["event_clusters_updated"] == 1
    assert lake_run(tmp_path / "in2", output, "20240503T1000Z", *scheduled) == 0  # the report again: nothing new
    assert blasts() == [story]


def test_the_cluster_store_compacts_to_each_clusters_latest_row(tmp_path: Path) -> None:
    from tests.transforms.events.test_clusters import MAY_1, earlier_cluster, mention

    index = tmp_path / "index"
    folder = Path(cluster_store.folder(str(index)))
    folder.mkdir(parents=True)
    kabul = earlier_cluster(mention("a", "x"))
    grown = kabul._replace(mentions=2, event_ids=["a", "b"])
    old = earlier_cluster(mention("o", "z", location="Herat"))._replace(
        first_date=MAY_1 - timedelta(days=60), last_date=MAY_1 - timedelta(days=60)
    )
    for number, rows in enumerate(([kabul, old], [grown])):
        pq.write_table(
            pa.Table.from_pylist([r._asdict() for r in rows], schema=arrow_schema(EventCluster)),
            folder / f"run{number}.parquet",
        )
    assert cluster_store.compact(str(index), days=30, at=5) == 0  # few files: left alone
    assert cluster_store.compact(str(index), days=30, at=1) == 2
    (merged,) = folder.glob("*.parquet")
    rows = [cluster_store.as_cluster(r) for r in pq.read_table(merged).to_pylist()]
    assert [(r.cluster_id, r.mentions) for r in rows] == [(kabul.cluster_id, 2)]  # the latest; Herat too old
