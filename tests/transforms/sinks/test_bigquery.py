"""The BigQuery sink: schemas, partitioning and clustering derived from the records, the MERGE
that makes a repeated run idempotent, and the transform's construction (there is no cloud here)."""

from __future__ import annotations

import typing
from datetime import datetime, timezone

import apache_beam as beam
import duckdb
import pytest
import sqlglot

from pipeline.config import load_settings
from pipeline.execute import add_sinks
from pipeline.graph import build_pipeline
from tests.conftest import graph_job
from tests.pipeline.test_deploy import config, filled, offline_options
from transforms.core.records import TABLES, TABLES_BY_NAME, table_label
from transforms.core.schemas import bigquery_table
from transforms.sinks.bigquery import merge_sql, staging_table


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_each_table_is_partitioned_on_a_timestamp_and_clustered_on_plain_columns(table: typing.Any) -> None:
    spec = bigquery_table(table)
    fields = {f["name"]: f for f in spec["schema"]["fields"]}
    assert list(fields) == list(typing.get_type_hints(table.record))
    assert {fields[k]["mode"] for k in table.key} == {"REQUIRED"}
    partition = spec["timePartitioning"]
    assert partition["type"] == "DAY"
    if "field" in partition:
        assert fields[partition["field"]]["type"] == "TIMESTAMP"
    clustering = spec["clustering"]["fields"]
    assert 1 <= len(clustering) <= 4  # BigQuery's limit; clustering columns cannot be repeated
    assert all(fields[c]["mode"] != "REPEATED" and fields[c]["type"] in ("STRING", "INT64") for c in clustering)


def test_types_and_modes_follow_the_records() -> None:
    fields = {f["name"]: f for f in bigquery_table(TABLES_BY_NAME["entities"])["schema"]["fields"]}
    assert fields["variants"] == {"name": "variants", "type": "STRING", "mode": "REPEATED"}
    assert fields["latitude"] == {"name": "latitude", "type": "FLOAT64", "mode": "NULLABLE"}
    assert fields["mention_count"] == {"name": "mention_count", "type": "INT64", "mode": "REQUIRED"}


def test_a_run_merges_its_staged_rows_on_the_key() -> None:
    create, merge, drop = merge_sql("my-project:news", TABLES_BY_NAME["events"], "20261123T0500Z")
    assert create.startswith("CREATE TABLE IF NOT EXISTS `my-project.news.events` (\n  event_id STRING NOT NULL,")
    assert create.endswith("PARTITION BY DATE(published) CLUSTER BY event_type, location_country, actor_sector")
    assert merge.startswith(
        "MERGE INTO `my-project.news.events` T USING (SELECT * FROM `my-project.news.events__run_20261123T0500Z`"
    )
    assert "S ON T.event_id = S.event_id" in merge
    assert "WHEN MATCHED THEN UPDATE SET article_id = S.article_id," in merge and ", event_id = S." not in merge
    assert drop == "DROP TABLE IF EXISTS `my-project.news.events__run_20261123T0500Z`"
    create, _, _ = merge_sql("my-project:news", TABLES_BY_NAME["entities"], "r")
    assert "variants ARRAY<STRING>" in create and create.endswith(
        "PARTITION BY _PARTITIONDATE CLUSTER BY label, country, name"
    )
    assert staging_table("p.d", "articles", "2026-11-23 05:00") == "p:d.articles__run_2026_11_23_05_00"


def _bigquery_on_duckdb(con: duckdb.DuckDBPyConnection, statement: str) -> None:
    """Run one statement of BigQuery's dialect on DuckDB: sqlglot parses it as BigQuery SQL (a
    syntax error fails here) and writes it for DuckDB."""
    (translated,) = sqlglot.transpile(statement, read="bigquery", write="duckdb")
    con.execute(translated)


def _stage(con: duckdb.DuckDBPyConnection, table: str, run_id: str, rows: list[tuple[typing.Any, ...]]) -> None:
    staged = staging_table("p:news", table, run_id).replace(":", ".")
    con.execute(f"CREATE TABLE {staged} AS SELECT * FROM p.news.{table} LIMIT 0")
    con.executemany(f"INSERT INTO {staged} VALUES ({', '.join('?' * len(rows[0]))})", rows)


def test_the_merge_keeps_one_row_per_key_when_a_run_stages_a_key_twice() -> None:
    """Two feed entries linking one failing page stage one dead letter twice; an article republished
    in one run stages its row twice. The MERGE statements, run as SQL, keep each key once (the
    latest where the table has a timestamp), update what an earlier run stored, and drop the
    staging tables."""
    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS p")
    con.execute("CREATE SCHEMA p.news")
    for table in ("dead_letters", "articles"):
        _bigquery_on_duckdb(con, merge_sql("p:news", TABLES_BY_NAME[table], "first")[0])
    page = ("dl1", "https://example.com/a", "page", "HTTP 404", "http", None, 404, 1)
    _stage(
        con,
        "dead_letters",
        "first",
        [page, page[:-1] + (2,), ("dl2", "x.txt", "read", "not UTF-8", "rejected", None, None, None)],
    )
    articles = list(typing.get_type_hints(TABLES_BY_NAME["articles"].record))
    march = dict.fromkeys(articles) | {
        "article_id": "a1",
        "source": "feed",
        "source_format": "html",
        "language": "en",
        "text": "text",
        "word_count": 1,
        "content_hash": "h",
        "text_source": "page",
        "published": datetime(2026, 3, 1, tzinfo=timezone.utc),
    }
    later = march | {"title": "updated", "published": datetime(2026, 3, 2, tzinfo=timezone.utc)}
    _stage(con, "articles", "first", [tuple(march.values()), tuple(later.values())])
    for table in ("dead_letters", "articles"):
        for statement in merge_sql("p:news", TABLES_BY_NAME[table], "first")[1:]:
            _bigquery_on_duckdb(con, statement)
    assert con.execute("SELECT dead_letter_id, count(*) FROM p.news.dead_letters GROUP BY 1 ORDER BY 1").fetchall() == [
        ("dl1", 1),
        ("dl2", 1),
    ]
    assert con.execute("SELECT article_id, title FROM p.news.articles").fetchall() == [("a1", "updated")]
    _stage(con, "dead_letters", "second", [page[:-1] + (3,), page[:-1] + (3,)])  # a later run: updated, not added
    for statement in merge_sql("p:news", TABLES_BY_NAME["dead_letters"], "second")[1:]:
        _bigquery_on_duckdb(con, statement)
    assert con.execute("SELECT dead_letter_id, attempts FROM p.news.dead_letters ORDER BY 1").fetchall() == [
        ("dl1", 3),
        ("dl2", None),
    ]
    staged = "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '%__run_%'"
    assert con.execute(staged).fetchone() == (0,)


def test_the_dataflow_graph_loads_every_table_into_the_runs_staging_tables() -> None:
    settings = load_settings(
        config("dataflow"),
        filled("dataflow", "dedup.index=false", "bigquery.table_prefix=newsbeam-test:news", "run_id=20261123T0500Z"),
    )
    options = offline_options(settings)
    pipeline = beam.Pipeline(options=options)
    job = graph_job(settings, options)
    add_sinks(build_pipeline(pipeline, job), job)
    found = {}

    class Visitor(beam.pipeline.PipelineVisitor):
        def enter_composite_transform(self, node: typing.Any) -> None:
            if type(node.transform).__name__ == "WriteToBigQuery":
                found[node.full_label] = node.transform

    pipeline.visit(Visitor())
    assert sorted(found) == sorted(f"BigQuery/BigQuery{table_label(t.name)}" for t in TABLES)
    events = found["BigQuery/BigQueryEvents"]
    assert events.table_reference.tableId == "events__run_20261123T0500Z"
    assert events.method == "FILE_LOADS" and events.write_disposition == "WRITE_TRUNCATE"
    assert events.additional_bq_parameters == {
        "timePartitioning": {"type": "DAY", "field": "published"},
        "clustering": {"fields": ["event_type", "location_country", "actor_sector"]},
    }
    beam.Pipeline.from_runner_api(pipeline.to_runner_api(), pipeline.runner, options)  # pickles whole
