"""PostgreSQL sink: every table upserted on its primary key, in batches, from one connection per
worker.

- `prepare_database` (run by the driver before the pipeline) creates the schema and missing
  tables from `transforms.core.schemas.sql_ddl` and migrates tables written by an older schema version:
  columns the record gained are added, columns it lost stop being NOT NULL (their data is kept);
  a column whose type changed, or a table written by a newer newsbeam, is a one-line error.
  Versions live in `<schema>.newsbeam_tables`.
- `WriteToPostgres` batches rows (`postgres.batch_size`), and `UpsertFn` writes a batch with one
  `COPY` into the table when its keys are new (the usual case, at COPY's speed); when the table
  holds one of them already, with `COPY` into a temporary table and one `INSERT ... ON CONFLICT
  (key) DO UPDATE`: the latest row of a key wins, so repeating a run, or re-running one that was
  killed, leaves each row once.
- A transient failure (connection lost, serialization failure, deadlock, too many connections)
  is retried with back-off on a fresh connection; a batch the database refuses for its data is
  split in halves until the refused rows are alone, and each becomes a dead letter (stage
  `postgres`) while the rest are written.
- An article is a duplicate or a written story, never both: a `duplicates` row retracts its
  article's rows from `articles`, `entities`, `events` and the `event_clusters` naming it, and
  an `articles` row retracts the article's `duplicates` row (same transaction). Rows of a run
  killed before its commit can otherwise outlive it: replayed with a copy of the story that
  arrived meanwhile (a streaming segment), the run may choose the other copy as the
  representative.
"""

from __future__ import annotations

import logging
import time
import typing
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from transforms.core import metrics
from transforms.core.dead_letters import DEAD_LETTERS, dead_letter
from transforms.core.records import TABLES, TABLES_BY_NAME, DeadLetter, Table, table_label
from transforms.core.schemas import sql_columns, sql_ddl
from transforms.core.settings import PostgresSettings

STAGE = "postgres"
VERSIONS_TABLE = "newsbeam_tables"
# What a table's rows delete, by article id: the rows saying the opposite about their articles.
RETRACTS = {
    "duplicates": (
        *(f"DELETE FROM {{schema}}.{table} WHERE article_id = ANY(%s)" for table in ("articles", "entities", "events")),
        "DELETE FROM {schema}.event_clusters WHERE article_ids && %s::text[]",
    ),
    "articles": ("DELETE FROM {schema}.duplicates WHERE article_id = ANY(%s)",),
}
_LOG = logging.getLogger(__name__)


class DatabaseError(Exception):
    """The database cannot be used as configured; the message is one line for the user."""


def _psycopg() -> Any:
    import psycopg  # imported late: only runs with the PostgreSQL sink need it

    return psycopg


def connect(dsn: str) -> Any:
    psycopg = _psycopg()
    try:
        return psycopg.connect(dsn, connect_timeout=10)
    except psycopg.Error as exc:
        raise DatabaseError(f"postgres: cannot connect: {str(exc).strip().splitlines()[0]}") from None


def _existing_columns(cur: Any, schema: str, table: str) -> dict[str, tuple[str, bool]]:
    """column -> (udt name, nullable) of an existing table."""
    cur.execute(
        "SELECT column_name, udt_name, is_nullable = 'YES' FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s",
        (schema, table),
    )
    return {name: (udt, nullable) for name, udt, nullable in cur.fetchall()}


# information_schema's udt_name for each type `transforms.core.schemas` uses
_UDT = {
    "text": "text",
    "bigint": "int8",
    "double precision": "float8",
    "boolean": "bool",
    "bytea": "bytea",
    "timestamptz": "timestamptz",
    "text[]": "_text",
    "bigint[]": "_int8",
    "double precision[]": "_float8",
}


def _migrate(cur: Any, schema: str, table: Table) -> list[str]:
    """Bring a table written by an older schema version to `table.version`; the changes made."""
    existing = _existing_columns(cur, schema, table.name)
    wanted = dict(sql_columns(table))
    changes = []
    for name, kind in wanted.items():
        base = kind.removesuffix(" NOT NULL")
        if name not in existing:
            cur.execute(f'ALTER TABLE {schema}.{table.name} ADD COLUMN "{name}" {base}')
            changes.append(f"added {name}")
        elif existing[name][0] != _UDT[base]:
            raise DatabaseError(
                f"postgres: {schema}.{table.name}.{name} is {existing[name][0]} in the database but {base} in schema "
                f"version {table.version}; migrate it by hand"
            )
    for name, (_, nullable) in existing.items():
        if name not in wanted and not nullable:
            cur.execute(f'ALTER TABLE {schema}.{table.name} ALTER COLUMN "{name}" DROP NOT NULL')
            changes.append(f"kept {name} (no longer written)")
    return changes


def prepare_database(dsn: str, schema: str, tables: Sequence[Table] = TABLES) -> list[str]:
    """Create or migrate the tables (see the module docstring); what was done, one line each."""
    done: list[str] = []
    with connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.{VERSIONS_TABLE} (table_name text PRIMARY KEY, "
            "version integer NOT NULL, updated timestamptz NOT NULL)"
        )
        cur.execute(f"LOCK TABLE {schema}.{VERSIONS_TABLE}")  # two runs starting together migrate once
        cur.execute(f"SELECT table_name, version FROM {schema}.{VERSIONS_TABLE}")
        versions = dict(cur.fetchall())
        for table in tables:
            stored = versions.get(table.name)
            if stored is not None and stored > table.version:
                raise DatabaseError(
                    f"postgres: {schema}.{table.name} has schema version {stored}; this newsbeam "
                    f"writes version {table.version}: upgrade newsbeam"
                )
            if stored == table.version:
                continue
            cur.execute("SELECT to_regclass(%s)", (f"{schema}.{table.name}",))
            if cur.fetchone()[0] is None:
                cur.execute(sql_ddl(table, schema))
                done.append(f"created {schema}.{table.name} (schema version {table.version})")
            else:
                changes = _migrate(cur, schema, table)
                done.append(
                    f"migrated {schema}.{table.name} to schema version {table.version}"
                    + (f": {', '.join(changes)}" if changes else "")
                )
            cur.execute(
                f"INSERT INTO {schema}.{VERSIONS_TABLE} VALUES (%s, %s, %s) ON CONFLICT (table_name) "
                "DO UPDATE SET version = EXCLUDED.version, updated = EXCLUDED.updated",
                (table.name, table.version, datetime.now(timezone.utc)),
            )
    return done


def upsert_sql(table: Table, schema: str, staging: str) -> str:
    """INSERT ... SELECT from the staging table, the latest row of a key replacing the stored one."""
    columns = list(typing.get_type_hints(table.record))
    names = ", ".join(f'"{c}"' for c in columns)
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c not in table.key)
    return (
        f"INSERT INTO {schema}.{table.name} ({names}) SELECT {names} FROM {staging} "
        f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {updates}"
    )


def _transient(exc: BaseException) -> bool:
    """Worth retrying on a new connection: the connection or the server's state, not the data."""
    psycopg = _psycopg()
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return True
    return getattr(exc, "sqlstate", None) in {"40001", "40P01", "53300", "57P01", "57P03", "08006", "08003"}


class UpsertFn(beam.DoFn):
    """Batches of one table's records -> upserted rows; rows the database refuses -> dead letters."""

    def __init__(self, table: Table, dsn: str, schema: str, retries: int, backoff_seconds: float):
        self._table = table
        self._retract = [sql.format(schema=schema) for sql in RETRACTS.get(table.name, ())]
        self._dsn = dsn
        self._schema = schema
        self._retries = retries
        self._backoff = backoff_seconds
        self._columns = list(typing.get_type_hints(table.record))
        self._conn: Any = None
        self._sql = upsert_sql(table, schema, self._staging)
        self._target = f"{schema}.{table.name}"
        self._names = ", ".join(f'"{c}"' for c in self._columns)
        self._conflicted = False  # the last batch had a stored key: try the plain COPY every other batch
        self._rows = Metrics.counter(metrics.POSTGRES, f"rows/{table.name}")
        self._refused = Metrics.counter(metrics.POSTGRES, f"refused/{table.name}")
        self._retried = Metrics.counter(metrics.POSTGRES, "retries")

    @property
    def _staging(self) -> str:
        return f"newsbeam_stage_{self._table.name}"  # a temporary table: one per connection

    def setup(self) -> None:
        try:
            self._open()
        except DatabaseError as exc:  # each batch tries again; rows that cannot be written are dead letters
            self._conn = None
            _LOG.warning("%s", exc)

    def _open(self) -> None:
        self._conn = connect(self._dsn)
        with self._conn.cursor() as cur:  # one staging table per connection, emptied at each commit
            cur.execute(
                f"CREATE TEMP TABLE {self._staging} (LIKE {self._schema}.{self._table.name}) ON COMMIT DELETE ROWS"
            )
        self._conn.commit()

    def teardown(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def process(self, batch: list[tuple]) -> Iterator[Any]:
        latest = {tuple(getattr(row, k) for k in self._table.key): row for row in batch}  # one row per key
        for letter in self._write(list(latest.values())):
            self._refused.inc()
            yield pvalue.TaggedOutput(DEAD_LETTERS, letter)

    def _write(self, rows: list[tuple]) -> list[DeadLetter]:
        """Write `rows`, retrying transient failures; split on data errors. The dead letters left."""
        psycopg = _psycopg()
        for attempt in range(self._retries + 1):
            try:
                if self._conn is None:  # an earlier reconnection failed
                    self._open()
                self._copy_and_upsert(rows)
                self._rows.inc(len(rows))
                return []
            except (psycopg.Error, DatabaseError) as exc:
                self._rollback()
                transient = isinstance(exc, DatabaseError) or _transient(exc)
                if transient and attempt < self._retries:
                    self._retried.inc()
                    _LOG.warning(
                        "postgres: %s, retrying (%d/%d)", str(exc).strip().splitlines()[0], attempt + 1, self._retries
                    )
                    time.sleep(self._backoff * 2**attempt)
                    self._reconnect()
                    continue
                if transient:
                    return [self._letter(row, exc, "connection") for row in rows]
                if len(rows) == 1:
                    return [self._letter(rows[0], exc, "data")]
                half = len(rows) // 2
                return self._write(rows[:half]) + self._write(rows[half:])
        raise AssertionError("unreachable")

    def _copy_and_upsert(self, rows: list[Any]) -> None:
        """New keys (the usual case) are copied straight into the table; a batch holding a key
        the table has already goes through the staging table and INSERT ... ON CONFLICT (and so
        does the next batch: a repeated run's keys all conflict)."""
        psycopg = _psycopg()
        with self._conn.cursor() as cur:
            try:
                if self._conflicted:
                    raise psycopg.errors.UniqueViolation()
                with self._conn.transaction():  # a savepoint: a key conflict undoes only this
                    self._copy(cur, self._target, rows)
            except psycopg.errors.UniqueViolation:
                self._copy(cur, self._staging, rows)
                cur.execute(self._sql)
                self._conflicted = not self._conflicted
            if self._retract:  # (a seen duplicate, its own representative, retracts nothing)
                retracted = [row.article_id for row in rows if getattr(row, "duplicate_of", None) != row.article_id]
                for sql in self._retract if retracted else ():
                    cur.execute(sql, (retracted,))
        self._conn.commit()

    def _copy(self, cur: Any, table: str, rows: list[tuple]) -> None:
        with cur.copy(f"COPY {table} ({self._names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def _rollback(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rollback()
        except Exception:  # pylint: disable=broad-except  # a broken connection is replaced next
            pass

    def _reconnect(self) -> None:
        self.teardown()
        try:
            self._open()
        except DatabaseError as exc:
            self._conn = None  # the next attempt connects again, and counts against the retries
            _LOG.warning("%s", exc)

    def _letter(self, row: tuple, exc: BaseException, kind: str) -> DeadLetter:
        key = "/".join(str(getattr(row, k)) for k in self._table.key)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return dead_letter(
            STAGE,
            f"{self._table.name}:{key}",
            f"PostgreSQL refused the row: {message}"[:500],
            error_type=type(exc).__name__ if kind == "data" else "connection",
        )


class WriteToPostgres(beam.PTransform):
    """Records of one table -> upserted into `<schema>.<table>`; returns the dead letters."""

    def __init__(self, table: Table, dsn: str, schema: str, batch_size: int, retries: int, backoff_seconds: float):
        super().__init__()
        self._table = table
        self._fn = UpsertFn(table, dsn, schema, retries, backoff_seconds)
        self._batch_size = batch_size

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        return (
            rows
            | "Batch" >> beam.BatchElements(min_batch_size=self._batch_size, max_batch_size=self._batch_size)
            | "Upsert" >> beam.ParDo(self._fn).with_outputs(DEAD_LETTERS, main="written")
        )[DEAD_LETTERS]


def _log_unwritable(letter: DeadLetter) -> Iterator[None]:
    _LOG.error(
        "postgres: a dead letter could not be written to the database (%s: %s): %s",
        letter.stage,
        letter.source,
        letter.reason,
    )
    return iter(())


class UpsertTables(beam.PTransform):
    """`{table: rows}` -> the same tables, each also upserted into PostgreSQL; rows the database
    refuses join `dead_letters` (stage `postgres`), so the file sinks keep them. A dead letter the
    database refuses is logged (and counted, `refused/dead_letters`)."""

    def __init__(self, settings: PostgresSettings, dsn: str):
        super().__init__()
        self._settings = settings
        self._dsn = dsn

    def _writer(self, table: Table) -> WriteToPostgres:
        pg = self._settings
        return WriteToPostgres(table, self._dsn, pg.schema_name, pg.batch_size, pg.retries, pg.backoff_seconds)

    def expand(self, tables: dict[str, beam.PCollection]) -> dict[str, beam.PCollection]:
        refused = [
            rows | f"Upsert{table_label(name)}" >> self._writer(TABLES_BY_NAME[name])
            for name, rows in tables.items()
            if name != DEAD_LETTERS
        ]
        letters = (tables[DEAD_LETTERS], *refused) | "WithRefusedRows" >> beam.Flatten()
        _ = (
            letters
            | "UpsertDeadLetters" >> self._writer(TABLES_BY_NAME[DEAD_LETTERS])
            | "LogUnwritable" >> beam.FlatMap(_log_unwritable)
        )
        return {**tables, DEAD_LETTERS: letters}
