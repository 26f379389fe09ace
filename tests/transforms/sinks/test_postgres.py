"""The PostgreSQL sink against the real server on this machine (127.0.0.1:5432, database `test`).

These tests fail, not skip, when the server is down: CI (`.ci/run`) starts it first.
"""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import psycopg
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.tables import read_table
from tests.conftest import DSN, SEEDS, count, counts, run_cli
from tests.fixtures import article
from transforms.core.dead_letters import dead_letter
from transforms.core.records import TABLES, TABLES_BY_NAME, Article, DeadLetter, Duplicate
from transforms.core.schemas import sql_columns
from transforms.core.settings import PostgresSettings
from transforms.sinks.postgres import DatabaseError, UpsertFn, UpsertTables, prepare_database


def test_tables_are_created_with_their_keys_and_versions_and_a_second_start_changes_nothing(schema: str) -> None:
    done = prepare_database(DSN, schema)
    assert done == [f"created {schema}.{t.name} (schema version {t.version})" for t in TABLES]
    assert prepare_database(DSN, schema) == []
    with psycopg.connect(DSN) as conn:
        keys = dict(
            conn.execute(
                "SELECT tc.table_name, kc.column_name FROM information_schema.table_constraints tc "
                "JOIN information_schema.key_column_usage kc USING (constraint_schema, constraint_name) "
                "WHERE tc.table_schema = %s AND tc.constraint_type = 'PRIMARY KEY'",
                (schema,),
            ).fetchall()
        )
        columns = conn.execute(
            "SELECT column_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'entities' ORDER BY ordinal_position",
            (schema,),
        ).fetchall()
    assert keys == {**{t.name: t.key[0] for t in TABLES}, "newsbeam_tables": "table_name"}
    assert [
        (name, "NO" if "NOT NULL" in kind else "YES") for name, kind in sql_columns(TABLES_BY_NAME["entities"])
    ] == columns


def test_an_older_schema_version_is_migrated_and_a_newer_one_refused(schema: str) -> None:
    prepare_database(DSN, schema)
    with psycopg.connect(DSN) as conn:  # as an older newsbeam left it: no `url`, a column since dropped
        conn.execute(f"ALTER TABLE {schema}.duplicates DROP COLUMN url")
        conn.execute(f"ALTER TABLE {schema}.duplicates ADD COLUMN old_score real NOT NULL DEFAULT 0")
        conn.execute(f"INSERT INTO {schema}.duplicates VALUES ('a', 'b', 'c', 'url', 1.0, 's', 0.5)")
        conn.execute(f"UPDATE {schema}.newsbeam_tables SET version = 0 WHERE table_name = 'duplicates'")
    assert prepare_database(DSN, schema) == [
        f"migrated {schema}.duplicates to schema version 1: added url, kept old_score (no longer written)"
    ]
    with psycopg.connect(DSN) as conn:
        assert conn.execute(f"SELECT article_id, url FROM {schema}.duplicates").fetchall() == [("a", None)]
        conn.execute(f"UPDATE {schema}.newsbeam_tables SET version = 99 WHERE table_name = 'events'")
    with pytest.raises(DatabaseError, match=r"events has schema version 99; this newsbeam writes version 1"):
        prepare_database(DSN, schema)


def test_a_bad_dsn_is_one_line() -> None:
    with pytest.raises(DatabaseError, match=r"^postgres: cannot connect: .*") as caught:
        prepare_database("postgresql://postgres@127.0.0.1:1/test", "public")
    assert "\n" not in str(caught.value)


def duplicate(article_id: str, source: str = "s") -> Duplicate:
    return Duplicate(article_id, "rep", "story", "content", 1.0, source, None)


def test_rows_are_upserted_and_a_row_the_database_refuses_becomes_a_dead_letter(schema: str) -> None:
    prepare_database(DSN, schema)
    settings = PostgresSettings(enabled=True, schema=schema, batch_size=4)
    good = [article(f"a{n}", f"Text number {n} about the talks.") for n in range(9)]
    bad = article("nul", "A text with a NUL \x00 byte, which PostgreSQL text cannot hold.")
    letters = [dead_letter("read", "x.txt", "empty file")]
    with TestPipeline() as p:
        tables = {
            "articles": p | "Articles" >> beam.Create(good + [bad, good[0]]),  # good[0] twice: upserted once
            "duplicates": p | "Duplicates" >> beam.Create([duplicate("d1")]),
            "dead_letters": p | "Letters" >> beam.Create(letters).with_output_types(DeadLetter),
        }
        out = tables | UpsertTables(settings, DSN)
        assert_that(
            out["dead_letters"] | beam.Map(lambda d: (d.stage, d.source, d.reason.split(":")[0])),
            equal_to([("read", "x.txt", "empty file"), ("postgres", "articles:nul", "PostgreSQL refused the row")]),
        )
    assert (count(schema, "articles"), count(schema, "duplicates"), count(schema, "dead_letters")) == (9, 1, 2)
    with psycopg.connect(DSN) as conn:
        reason = conn.execute(f"SELECT reason FROM {schema}.dead_letters WHERE stage = 'postgres'").fetchone()[0]
    assert "0x00" in reason


def test_the_latest_row_of_a_key_wins(schema: str) -> None:
    prepare_database(DSN, schema)
    fn = UpsertFn(TABLES_BY_NAME["duplicates"], DSN, schema, retries=0, backoff_seconds=0)
    fn.setup()
    try:
        assert list(fn.process([duplicate("d1", "first"), duplicate("d2")])) == []
        assert list(fn.process([duplicate("d1", "second")])) == []
    finally:
        fn.teardown()
    with psycopg.connect(DSN) as conn:
        assert conn.execute(f"SELECT article_id, source FROM {schema}.duplicates ORDER BY 1").fetchall() == [
            ("d1", "second"),
            ("d2", "s"),
        ]


def test_a_lost_connection_is_retried_on_a_new_one(schema: str) -> None:
    prepare_database(DSN, schema)
    fn = UpsertFn(TABLES_BY_NAME["duplicates"], DSN, schema, retries=2, backoff_seconds=0.01)
    fn.setup()
    try:
        pid = fn._conn.info.backend_pid  # pylint: disable=protected-access
        with psycopg.connect(DSN, autocommit=True) as admin:  # the server drops the worker's connection
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert list(fn.process([duplicate("d1"), duplicate("d2")])) == []
        assert fn._conn.info.backend_pid != pid  # pylint: disable=protected-access
    finally:
        fn.teardown()
    assert count(schema, "duplicates") == 2


def test_when_retries_run_out_the_rows_are_dead_letters_not_lost(schema: str) -> None:
    prepare_database(DSN, schema)
    fn = UpsertFn(TABLES_BY_NAME["duplicates"], DSN, schema, retries=1, backoff_seconds=0.01)
    fn.setup()
    try:
        fn._dsn = "postgresql://postgres@127.0.0.1:1/test"  # pylint: disable=protected-access  # the server is gone
        fn._conn.close()  # pylint: disable=protected-access
        out = [o.value for o in fn.process([duplicate("d1"), duplicate("d2")])]
    finally:
        fn.teardown()
    assert sorted((d.stage, d.source, d.error_type) for d in out) == [
        ("postgres", "duplicates:d1", "connection"),
        ("postgres", "duplicates:d2", "connection"),
    ]


def test_running_the_same_input_twice_leaves_every_table_unchanged(schema: str, tmp_path: Path) -> None:
    args = ("--input", str(SEEDS), "--postgres-dsn", DSN, "--set", f"postgres.schema={schema}")
    assert run_cli(*args, "--output", str(tmp_path / "one")) == 0
    first = counts(schema)
    assert first["articles"] == 2 and first["entities"] > 20 and first["events"] > 3
    with psycopg.connect(DSN) as conn:
        before = conn.execute(f"SELECT * FROM {schema}.events ORDER BY event_id").fetchall()
    assert run_cli(*args, "--output", str(tmp_path / "two")) == 0
    assert counts(schema) == first
    with psycopg.connect(DSN) as conn:
        assert conn.execute(f"SELECT * FROM {schema}.events ORDER BY event_id").fetchall() == before
        stored = conn.execute(f"SELECT entity_id, variants, salience FROM {schema}.entities").fetchall()
    files = read_table(tmp_path / "two", "entities")  # the database holds what the files hold
    assert sorted(stored) == sorted((e["entity_id"], e["variants"], e["salience"]) for e in files)


def test_a_duplicates_row_retracts_its_article_written_by_a_run_killed_before_its_commit(
    schema: str, tmp_path: Path
) -> None:
    # A killed streaming segment wrote a story to the database; its replay chose another copy of
    # the story as the representative and writes the first as its duplicate.
    assert (
        run_cli(
            "--input",
            str(SEEDS),
            "--postgres-dsn",
            DSN,
            "--set",
            f"postgres.schema={schema}",
            "--output",
            str(tmp_path / "out"),
        )
        == 0
    )
    with psycopg.connect(DSN) as conn:
        orphan, kept = (a for (a,) in conn.execute(f"SELECT article_id FROM {schema}.articles ORDER BY 1"))
        orphan_article = conn.execute(f"SELECT * FROM {schema}.articles WHERE article_id = %s", (orphan,)).fetchone()
        assert conn.execute(
            f"SELECT count(*) FROM {schema}.event_clusters WHERE %s = ANY(article_ids)", (orphan,)
        ).fetchone() != (0,)
    tables = ("articles", "entities", "events", "event_clusters")
    rows_of = {table: count(schema, table) for table in tables}
    fn = UpsertFn(TABLES_BY_NAME["duplicates"], DSN, schema, retries=0, backoff_seconds=0)
    fn.setup()
    try:
        assert list(fn.process([Duplicate(kept, kept, "story", "seen", 1.0, "s", None)])) == []  # retracts nothing
        assert [count(schema, table) for table in rows_of] == list(rows_of.values())
        assert list(fn.process([Duplicate(orphan, kept, "story", "content", 1.0, "s", None)])) == []
    finally:
        fn.teardown()
    with psycopg.connect(DSN) as conn:
        for table in tables[:3]:
            ids = {a for (a,) in conn.execute(f"SELECT DISTINCT article_id FROM {schema}.{table}")}
            assert ids == {kept}, table  # the story once: its representative's rows only
        clusters = {tuple(a) for (a,) in conn.execute(f"SELECT article_ids FROM {schema}.event_clusters")}
        assert clusters and all(orphan not in ids for ids in clusters)
        assert (orphan, kept) in conn.execute(f"SELECT article_id, duplicate_of FROM {schema}.duplicates").fetchall()

    # The mirror case: a killed run wrote the article as a duplicate; its replay writes the article.
    fn = UpsertFn(TABLES_BY_NAME["articles"], DSN, schema, retries=0, backoff_seconds=0)
    fn.setup()
    try:
        assert list(fn.process([Article(*orphan_article)])) == []
    finally:
        fn.teardown()
    with psycopg.connect(DSN) as conn:
        assert conn.execute(
            f"SELECT count(*) FROM {schema}.duplicates WHERE article_id = %s", (orphan,)
        ).fetchone() == (0,)
        assert count(schema, "articles") == 2


def test_a_dsn_missing_or_in_a_config_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEWSBEAM_POSTGRES_DSN", raising=False)
    assert run_cli("--input", str(SEEDS), "--output", str(tmp_path), "--set", "postgres.enabled=true") == 2
    assert "postgres.enabled: no DSN: set $NEWSBEAM_POSTGRES_DSN or pass --postgres-dsn" in capsys.readouterr().err
    assert run_cli("--input", str(SEEDS), "--output", str(tmp_path), "--set", f"postgres.dsn={DSN}") == 2
    assert "unknown key 'postgres.dsn'" in capsys.readouterr().err
