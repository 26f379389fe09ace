"""BigQuery sink: every table loaded into a staging table of the run, then merged on its key.

`WriteToBigQueryTables` loads each table with `WriteToBigQuery` (`FILE_LOADS`: load jobs from
files under a gs:// temp location, pure Python; the Storage Write API needs a Java expansion
service) into `<dataset>.<table>__run_<run_id>`, replacing what an earlier attempt of the run
loaded. After the pipeline, `merge` creates each target table if missing (partitioned by day on
the table's own timestamp, ingestion time when it has none, and clustered; see
`transforms.core.schemas.bigquery_table`) and runs one `MERGE` per table: the staged rows are
first reduced to one per key (the latest by the table's timestamp, any one where it has none:
rows of one key in one run describe one thing, the key hashes it), and that row replaces the
stored one, so a repeated or re-run job leaves each row once, as in the lake and PostgreSQL.
Needs `pip install 'newsbeam[gcp]'`.
"""

from __future__ import annotations

import re
from typing import Any

import apache_beam as beam

from transforms.core.records import TABLES, TABLES_BY_NAME, Table, table_label
from transforms.core.schemas import bigquery_table, to_json_dict
from transforms.core.settings import BigQuerySettings


def _project_dataset(prefix: str) -> tuple[str, str]:
    project, _, dataset = prefix.replace(":", ".").rpartition(".")
    return project, dataset


def staging_table(prefix: str, table: str, run_id: str) -> str:
    """`project:dataset.<table>__run_<run_id>` (characters BigQuery refuses become `_`)."""
    project, dataset = _project_dataset(prefix)
    return f"{project}:{dataset}.{table}__run_{re.sub(r'[^A-Za-z0-9_]', '_', run_id)}"


def _sql_name(spec: str) -> str:
    """`project:dataset.table` -> `` `project.dataset.table` `` for SQL."""
    return f"`{spec.replace(':', '.')}`"


def _ddl_type(field: dict[str, Any]) -> str:
    kind = f"ARRAY<{field['type']}>" if field["mode"] == "REPEATED" else field["type"]
    return kind + (" NOT NULL" if field["mode"] == "REQUIRED" else "")


def merge_sql(prefix: str, table: Table, run_id: str) -> list[str]:
    """The statements that publish one table's staged rows: create the target if missing, merge
    on the key, drop the staging table."""
    project, dataset = _project_dataset(prefix)
    target, staged = (
        _sql_name(f"{project}.{dataset}.{table.name}"),
        _sql_name(staging_table(prefix, table.name, run_id)),
    )
    spec = bigquery_table(table)
    fields = spec["schema"]["fields"]
    partition = (
        f"DATE({spec['timePartitioning']['field']})" if "field" in spec["timePartitioning"] else "_PARTITIONDATE"
    )
    cluster = f" CLUSTER BY {', '.join(spec['clustering']['fields'])}" if "clustering" in spec else ""
    columns = ",\n  ".join(f"{f['name']} {_ddl_type(f)}" for f in fields)
    names = [f["name"] for f in fields]
    on = " AND ".join(f"T.{k} = S.{k}" for k in table.key)
    latest = f" ORDER BY {table.partition_field} DESC" if table.partition_field else ""
    # One staged row per key: two feed entries linking one failing page stage one dead letter
    # twice, and MERGE fails when several source rows match one target row.
    staged_once = (
        f"(SELECT * FROM {staged} WHERE TRUE\n"
        f"  QUALIFY ROW_NUMBER() OVER (PARTITION BY {', '.join(table.key)}{latest}) = 1)"
    )
    updates = ", ".join(f"{n} = S.{n}" for n in names if n not in table.key)
    return [
        f"CREATE TABLE IF NOT EXISTS {target} (\n  {columns}\n) PARTITION BY {partition}{cluster}",
        f"MERGE INTO {target} T USING {staged_once} S ON {on}\n"
        f"WHEN MATCHED THEN UPDATE SET {updates}\n"
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(names)}) VALUES ({', '.join(f'S.{n}' for n in names)})",
        f"DROP TABLE IF EXISTS {staged}",
    ]


def external_table_sql(prefix: str, table: Table, lake: str) -> str:
    """A BigQuery external table over one table's Parquet files in a lake (`output.layout:
    partitioned` on gs://), its `dt=` folders read as a DATE column by hive partitioning: a query
    filtering on dt reads only those partitions (with `output.partition_by: event_date`, the events
    of the dates asked for)."""
    project, dataset = _project_dataset(prefix)
    root = f"{lake.rstrip('/')}/parquet/{table.name}"
    return (
        f"CREATE OR REPLACE EXTERNAL TABLE {_sql_name(f'{project}.{dataset}.{table.name}')}\n"
        "WITH PARTITION COLUMNS (dt DATE)\n"
        f"OPTIONS (format = 'PARQUET', uris = ['{root}/*'], hive_partition_uri_prefix = '{root}', "
        "require_hive_partition_filter = false)"
    )


class WriteToBigQueryTables(beam.PTransform):
    """`{table: rows}` -> each loaded into its staging table of the run (see the module docstring)."""

    def __init__(self, settings: BigQuerySettings, run_id: str):
        super().__init__()
        if not settings.table_prefix:
            raise ValueError("bigquery.table_prefix is not set")
        self._settings = settings
        self._run_id = run_id

    def expand(self, tables: dict[str, beam.PCollection]) -> dict[str, Any]:
        from apache_beam.io.gcp.bigquery import BigQueryDisposition, WriteToBigQuery

        prefix = str(self._settings.table_prefix)
        written = {}
        for name, rows in tables.items():
            table = TABLES_BY_NAME[name]
            spec = bigquery_table(table)
            title = table_label(name)
            written[name] = (
                rows
                | f"ToBigQueryRow{title}" >> beam.Map(to_json_dict)
                | f"BigQuery{title}"
                >> WriteToBigQuery(
                    table=staging_table(prefix, name, self._run_id),
                    schema=spec["schema"],
                    additional_bq_parameters={k: v for k, v in spec.items() if k != "schema"},
                    method=WriteToBigQuery.Method.FILE_LOADS,
                    create_disposition=BigQueryDisposition.CREATE_IF_NEEDED,
                    write_disposition=BigQueryDisposition.WRITE_TRUNCATE,
                    custom_gcs_temp_location=self._settings.temp_location,
                )
            )
        return written


def merge(settings: BigQuerySettings, run_id: str) -> None:
    """Publish every staged table of the run (after the pipeline has loaded them)."""
    from google.cloud import bigquery  # the gcp extra

    project, _ = _project_dataset(str(settings.table_prefix))
    client = bigquery.Client(project=project)
    for table in TABLES:
        for statement in merge_sql(str(settings.table_prefix), table, run_id):
            client.query(statement).result()
