"""The BigQuery sink: schemas, partitioning and clustering derived from the records, the MERGE
that makes a repeated run idempotent, and the transform's construction (there is no cloud here)."""

from __future__ import annotations

import typing

import apache_beam as beam
import pytest

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
        "MERGE `my-project.news.events` T USING `my-project.news.events__run_20261123T0500Z` S "
        "ON T.event_id = S.event_id"
    )
    assert "WHEN MATCHED THEN UPDATE SET article_id = S.article_id," in merge and ", event_id = S." not in merge
    assert drop == "DROP TABLE IF EXISTS `my-project.news.events__run_20261123T0500Z`"
    create, _, _ = merge_sql("my-project:news", TABLES_BY_NAME["entities"], "r")
    assert "variants ARRAY<STRING>" in create and create.endswith(
        "PARTITION BY _PARTITIONDATE CLUSTER BY label, country, name"
    )
    assert staging_table("p.d", "articles", "2026-11-23 05:00") == "p:d.articles__run_2026_11_23_05_00"


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
