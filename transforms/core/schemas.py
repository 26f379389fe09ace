"""Schemas derived from the table records in `transforms.core.records`: Arrow (Parquet), PostgreSQL DDL,
BigQuery, JSON, Markdown.

Nothing here names a field: every schema is computed from the NamedTuple's type hints, so adding
a field to a record adds it to every output format.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, Optional

import pyarrow as pa

from transforms.core.records import Table

SCHEMA_VERSION_KEY = "newsbeam.schema_version"

_ARROW_TYPES: dict[type, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    bytes: pa.binary(),
    datetime: pa.timestamp("us", tz="UTC"),
}
_SQL_TYPES: dict[type, str] = {
    str: "text",
    int: "bigint",
    float: "double precision",
    bool: "boolean",
    bytes: "bytea",
    datetime: "timestamptz",
}
_BIGQUERY_TYPES: dict[type, str] = {
    str: "STRING",
    int: "INT64",
    float: "FLOAT64",
    bool: "BOOL",
    bytes: "BYTES",
    datetime: "TIMESTAMP",
}


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """(inner type, nullable) for `Optional[X]` / `X | None`; (hint, False) otherwise."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def _arrow_type(hint: Any) -> pa.DataType:
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return pa.list_(_arrow_type(item))
    try:
        return _ARROW_TYPES[hint]
    except KeyError:
        raise TypeError(f"no Arrow type for {hint!r}") from None


def _columns(record: type) -> Iterator[tuple[str, Any, bool]]:
    """(name, inner type, nullable) of each field of a record, in order."""
    for name, hint in typing.get_type_hints(record).items():
        inner, nullable = _unwrap_optional(hint)
        yield name, inner, nullable


def arrow_schema(record: type, version: Optional[int] = None) -> pa.Schema:
    """Arrow schema of a record type; `Optional` fields are nullable, the others are not. With a
    version, the schema's metadata carries it (`newsbeam.schema_version`)."""
    fields = [pa.field(name, _arrow_type(inner), nullable=nullable) for name, inner, nullable in _columns(record)]
    metadata = {SCHEMA_VERSION_KEY: str(version)} if version is not None else None
    return pa.schema(fields, metadata=metadata)


def table_arrow_schema(table: Table) -> pa.Schema:
    return arrow_schema(table.record, table.version)


def _sql_type(hint: Any) -> str:
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return f"{_sql_type(item)}[]"
    try:
        return _SQL_TYPES[hint]
    except KeyError:
        raise TypeError(f"no SQL type for {hint!r}") from None


def sql_columns(table: Table) -> list[tuple[str, str]]:
    """(column, PostgreSQL type with NOT NULL where the field is not Optional) of a table."""
    return [
        (name, _sql_type(inner) + ("" if nullable else " NOT NULL")) for name, inner, nullable in _columns(table.record)
    ]


def sql_ddl(table: Table, schema: str = "public") -> str:
    """`CREATE TABLE IF NOT EXISTS` for PostgreSQL, primary key included."""
    columns = [f"    {name} {kind}" for name, kind in sql_columns(table)]
    columns.append(f"    PRIMARY KEY ({', '.join(table.key)})")
    return f"CREATE TABLE IF NOT EXISTS {schema}.{table.name} (\n" + ",\n".join(columns) + "\n);"


def _bigquery_field(name: str, hint: Any, nullable: bool) -> dict[str, Any]:
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return {"name": name, "type": _BIGQUERY_TYPES[item], "mode": "REPEATED"}
    return {"name": name, "type": _BIGQUERY_TYPES[hint], "mode": "NULLABLE" if nullable else "REQUIRED"}


def bigquery_schema(table: Table) -> dict[str, Any]:
    """The table's schema as BigQuery's JSON form (`{"fields": [{name, type, mode}, ...]}`)."""
    return {"fields": [_bigquery_field(name, inner, nullable) for name, inner, nullable in _columns(table.record)]}


def type_name(hint: Any) -> str:
    """Readable type of a field for documentation: `string`, `list<string>`, `timestamp (UTC)`."""
    inner, nullable = _unwrap_optional(hint)
    arrow = _arrow_type(inner)
    text = "timestamp (UTC)" if inner is datetime else str(arrow).replace("item: ", "")
    return f"{text}, nullable" if nullable else text


def to_json_dict(record: tuple) -> dict[str, Any]:
    """A record as a JSON-ready dict: datetimes become ISO 8601 strings in UTC (`...Z`)."""
    row = record._asdict()  # type: ignore[attr-defined]
    for name, value in row.items():
        if isinstance(value, datetime):
            row[name] = value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return row


def bigquery_table(table: Table) -> dict[str, Any]:
    """Schema, time partitioning and clustering of a table for BigQuery: partitioned by day on
    its own timestamp (ingestion time when it has none), clustered by the fields queries filter
    and group by."""
    partitioning: dict[str, Any] = {"type": "DAY"}
    if table.partition_field:
        partitioning["field"] = table.partition_field
    spec: dict[str, Any] = {"schema": bigquery_schema(table), "timePartitioning": partitioning}
    if table.cluster_fields:
        spec["clustering"] = {"fields": list(table.cluster_fields)}
    return spec


def markdown(tables: typing.Iterable[Table]) -> str:
    """The table reference used in README.md (`newsbeam schema` prints it)."""
    parts = []
    for table in tables:
        hints = typing.get_type_hints(table.record)
        missing = set(hints) ^ set(table.fields)
        if missing:
            raise ValueError(f"table {table.name}: fields without documentation: {sorted(missing)}")
        rows = [f"| `{name}` | {type_name(hints[name])} | {table.fields[name]} |" for name in hints]
        key = ", ".join(f"`{k}`" for k in table.key)
        extras = f" Schema version {table.version}."
        parts.append(
            "\n".join(
                [
                    f"#### `{table.name}`",
                    "",
                    f"{table.doc} Primary key: {key}.{extras}",
                    "",
                    "| field | type | meaning |",
                    "|---|---|---|",
                    *rows,
                ]
            )
        )
    return "\n\n".join(parts) + "\n"
