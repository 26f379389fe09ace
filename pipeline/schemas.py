"""Schemas derived from the table records in `pipeline.records`: Arrow (Parquet), JSON, Markdown.

Nothing here names a field: every schema is computed from the NamedTuple's type hints, so adding
a field to a record adds it to every output format.
"""
from __future__ import annotations

import types
import typing
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

from pipeline.records import Table

_ARROW_TYPES: dict[type, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    bytes: pa.binary(),
    datetime: pa.timestamp("us", tz="UTC"),
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


def arrow_schema(record: type) -> pa.Schema:
    """Arrow schema of a record type; `Optional` fields are nullable, the others are not."""
    fields = []
    for name, hint in typing.get_type_hints(record).items():
        inner, nullable = _unwrap_optional(hint)
        fields.append(pa.field(name, _arrow_type(inner), nullable=nullable))
    return pa.schema(fields)


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
        parts.append(
            "\n".join(
                [
                    f"#### `{table.name}`",
                    "",
                    f"{table.doc} Primary key: {key}.",
                    "",
                    "| field | type | meaning |",
                    "|---|---|---|",
                    *rows,
                ]
            )
        )
    return "\n\n".join(parts) + "\n"
