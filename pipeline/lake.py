"""The lake (`output.layout: partitioned`): every table as files under `dt=YYYY-MM-DD/`, each key
once, however often a run repeats or is killed and run again.

    <dir>/<format>/<table>/dt=<date>/<run_id>-part-SSSSS-of-NNNNN.<ext>     the tables
    <dir>/_staging/<run_id>/<format>/<table>/part-...                       a run's rows, before its commit
    <dir>/_runs/<run_id>.commit.json                                        a commit under way

A run's pipeline writes only to its staging folder. When it has finished, the driver writes the
commit record (the run's partition, its staging folder, its pending index and feed state), then
applies it: rows of other files whose key the run writes again are removed from those files (the
latest row of a key wins, as in PostgreSQL), the staged files move into the run's partition, the
index and feed state are committed, and the record is deleted. Every step can be done twice, so
a run killed during its commit is rolled forward by the next run (`recover`), and a run killed
before it leaves nothing but a staging folder, which the next run deletes; its input is read
again because the index never learnt of it.

The partition is the date a row was (last) written: every table has one, and a run's files land
in one partition. With `output.partition_by: event_date` (or `published_date`), events,
event_clusters and articles are filed by the date of each row instead (`DATE_COLUMNS`): the
commit first splits each staged file into one per date (`_split_by_date`, idempotent), then
publishes as above, a run's files landing in as many partitions as its rows have dates; a key
still lives in one file, so a row whose date changes moves partition. Readers: DuckDB
`read_parquet('<dir>/parquet/events/*/*.parquet', hive_partitioning=true)`, Spark, BigQuery
external tables with hive partitioning (`transforms.sinks.bigquery.external_table_sql`).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
from datetime import datetime, timezone
from typing import Any, Optional

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.core.records import TABLES, Table
from transforms.dedup import index as dedup_index
from transforms.events import cluster_store
from transforms.read import feed_state

_LOG = logging.getLogger(__name__)
EXTENSIONS = {"jsonl": ".jsonl", "parquet": ".parquet"}
NO_DATE = "__HIVE_DEFAULT_PARTITION__"  # Hive's (DuckDB's, Spark's, BigQuery's) partition of nulls
# output.partition_by -> table -> the columns whose first non-null value is a row's dt=.
DATE_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "event_date": {
        "events": ("event_date", "published"),
        "event_clusters": ("first_date",),
        "articles": ("published",),
    },
    "published_date": {"events": ("published",), "event_clusters": ("first_date",), "articles": ("published",)},
}


@dataclasses.dataclass(frozen=True)
class Commit:
    """What a finished run must do to publish its rows; stored as JSON while under way."""

    output_dir: str
    run_id: str
    dt: str
    formats: tuple[str, ...]
    index_pending: Optional[str] = None
    index_dir: Optional[str] = None
    state_dir: Optional[str] = None
    state_pending: tuple[str, ...] = ()  # pending validators and entries files, when the run read feeds
    entries_expiry_days: float = 7.0
    windowed: bool = False  # a local streaming segment's files, in dt=/window= folders (`_publish_windows`)
    partition_by: str = "run_date"  # output.partition_by: the dt= of events, clusters, articles (`DATE_COLUMNS`)
    cluster_days: float = 30.0  # events.cluster_days: the stored clusters' span kept by compaction

    @property
    def path(self) -> str:
        return f"{_runs(self.output_dir)}/{self.run_id}.commit.json"

    @property
    def staging(self) -> str:
        return staging_dir(self.output_dir, self.run_id)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Commit:
        data = json.loads(text)
        return cls(**{**data, "formats": tuple(data["formats"]), "state_pending": tuple(data["state_pending"])})


def run_date(run_id: Optional[str]) -> str:
    """The date a run's rows are filed under: the one its run_id starts with (20261123T0500Z,
    2026-11-23...), else today's (UTC)."""
    found = re.match(r"(\d{4})-?(\d{2})-?(\d{2})", run_id or "")
    return "-".join(found.groups()) if found else datetime.now(timezone.utc).strftime("%Y-%m-%d")


def _runs(output_dir: str) -> str:
    return f"{output_dir.rstrip('/')}/_runs"


def staging_dir(output_dir: str, run_id: str) -> str:
    """Where a run's pipeline writes its tables (`transforms.sinks.files` layout under it)."""
    return f"{output_dir.rstrip('/')}/_staging/{run_id}"


def partition_dir(output_dir: str, fmt: str, table: str, dt: str) -> str:
    return f"{output_dir.rstrip('/')}/{fmt}/{table}/dt={dt}"


def _dt(value: Any) -> str:
    """A row's partition date (UTC) from a timestamp or its ISO text; `NO_DATE` for none."""
    if value is None:
        return NO_DATE
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d") if value.tzinfo else value.strftime("%Y-%m-%d")


def _files(pattern: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def _read_bytes(path: str) -> bytes:
    with FileSystems.open(path) as handle:
        return handle.read()


def _write_bytes(path: str, data: bytes) -> None:
    """Write a whole file so that readers see the old or the new one, never half of it."""
    temporary = f"{path}.tmp"
    with FileSystems.create(temporary) as handle:
        handle.write(data)
    FileSystems.rename([temporary], [path])


class _Rows:
    """Reading keys and removing rows by key, in one file format."""

    def __init__(self, fmt: str, table: Table):
        (self.key,) = table.key  # every table has a one-column key
        self.fmt = fmt

    def keys(self, path: str) -> set[Any]:
        if self.fmt == "parquet":
            return set(pq.read_table(io.BytesIO(_read_bytes(path)), columns=[self.key]).column(0).to_pylist())
        return {json.loads(line)[self.key] for line in _read_bytes(path).decode("utf-8").splitlines() if line}

    def split(self, path: str, columns: tuple[str, ...], empty_dt: str) -> dict[str, bytes]:
        """The file's rows grouped by the date of the first of `columns` each has: dt -> file bytes."""
        data = _read_bytes(path)
        if self.fmt == "parquet":
            table = pq.read_table(io.BytesIO(data))
            values = zip(*(table.column(c).to_pylist() for c in columns)) if table.num_rows else iter(())
            dates = [_dt(next((v for v in row if v is not None), None)) for row in values]
            out: dict[str, bytes] = {}
            for dt in sorted(set(dates)) or [empty_dt]:
                sink = io.BytesIO()
                indices = [i for i, d in enumerate(dates) if d == dt]
                pq.write_table(table.take(pa.array(indices, pa.int64())), sink)
                out[dt] = sink.getvalue()
            return out
        lines = [line for line in data.decode("utf-8").splitlines() if line]
        grouped: dict[str, list[str]] = {}
        for line in lines:
            row = json.loads(line)
            grouped.setdefault(_dt(next((row[c] for c in columns if row.get(c) is not None), None)), []).append(line)
        if not grouped:
            return {empty_dt: b""}
        return {dt: "".join(line + "\n" for line in group).encode("utf-8") for dt, group in grouped.items()}

    def remove(self, path: str, keys: set[Any]) -> int:
        """Rows of `path` whose key is in `keys` removed (the file deleted if none remain); how many."""
        if self.fmt == "parquet":
            table = pq.read_table(io.BytesIO(_read_bytes(path)))
            drop = pc.is_in(table.column(self.key), value_set=pa.array(list(keys), table.schema.field(self.key).type))
            removed = pc.sum(drop).as_py() or 0
            if removed:
                kept = table.filter(pc.invert(drop))
                if kept.num_rows:
                    sink = io.BytesIO()
                    pq.write_table(kept, sink)
                    _write_bytes(path, sink.getvalue())
                else:
                    FileSystems.delete([path])
            return removed
        lines = [line for line in _read_bytes(path).decode("utf-8").splitlines() if line]
        kept_lines = [line for line in lines if json.loads(line)[self.key] not in keys]
        if len(kept_lines) < len(lines):
            if kept_lines:
                _write_bytes(path, "".join(line + "\n" for line in kept_lines).encode("utf-8"))
            else:
                FileSystems.delete([path])
        return len(lines) - len(kept_lines)


def _publish_table(commit: Commit, fmt: str, table: Table) -> int:
    """Move one table's staged files into their partitions (the run's, or with `partition_by` the
    dates of their rows), after removing the keys they hold from every other file of the table.
    The rows replaced."""
    rows, ext = _Rows(fmt, table), EXTENSIONS[fmt]
    staging, root = f"{commit.staging}/{fmt}/{table.name}", f"{commit.output_dir.rstrip('/')}/{fmt}/{table.name}"
    columns = DATE_COLUMNS.get(commit.partition_by, {}).get(table.name)
    if columns:
        for path in _files(f"{staging}/*{ext}"):
            _split_by_date(rows, path, columns, commit.dt)
    staged = _files(f"{staging}/dt=*/*{ext}") + _files(f"{staging}/*{ext}")
    target_of = {
        path: f"{root}/{path[len(staging) + 1 :].rsplit('/', 1)[0] if columns else f'dt={commit.dt}'}/"
        f"{commit.run_id}-{path.rsplit('/', 1)[-1]}"
        for path in staged
    }
    keys_of = {path: rows.keys(path) for path in staged}
    keys: set[Any] = set().union(*keys_of.values())
    # Files an interrupted attempt of this commit moved hold none of these keys: a key is in one file.
    targets = set(target_of.values())
    others = [p for p in _files(f"{root}/dt=*/*{ext}") if p not in targets]
    replaced = sum(rows.remove(path, keys) for path in others) if keys else 0
    empty = [path for path in staged if not keys_of[path]]
    if empty and (others or len(empty) < len(staged)):  # an empty file only while the table has none
        FileSystems.delete(empty)
        staged = [path for path in staged if path not in empty]
    for folder in sorted({target_of[path].rsplit("/", 1)[0] for path in staged}):
        if not FileSystems.exists(folder):
            FileSystems.mkdirs(folder)
    if staged:
        FileSystems.rename(staged, [target_of[path] for path in staged])
    return replaced


def _split_by_date(rows: _Rows, path: str, columns: tuple[str, ...], run_dt: str) -> None:
    """A staged file -> one file per date of its rows, `<staging>/dt=<date>/<name>` (the date:
    the first of `columns` a row has, UTC; none: `NO_DATE`), then the file deleted. Written again
    whole if interrupted; an empty file goes to the run's date, so the table keeps its schema."""
    folder, name = path.rsplit("/", 1)
    for dt, data in rows.split(path, columns, run_dt).items():
        _write_bytes(f"{folder}/dt={dt}/{name}", data)
    FileSystems.delete([path])


def _publish_windows(commit: Commit, fmt: str, table: Table) -> None:
    """Move a streaming segment's staged files into the same window folders of the output, under
    names prefixed with the segment's id: segments sharing a window add files, never replace
    them, and a window's rows are exactly once because the segment emitted each item once."""
    ext = EXTENSIONS[fmt]
    staged_root = f"{commit.staging}/{fmt}/{table.name}/"
    staged = [
        p
        for p in _files(f"{staged_root}*/*/*{ext}") + _files(f"{staged_root}*/*{ext}")
        if "/." not in p[len(staged_root) :]
    ]  # not fileio's temporary files
    targets = []
    for path in staged:
        folder, name = path[len(staged_root) :].rsplit("/", 1)
        target_dir = f"{commit.output_dir.rstrip('/')}/{fmt}/{table.name}/{folder}"
        if not FileSystems.exists(target_dir):
            FileSystems.mkdirs(target_dir)
        targets.append(f"{target_dir}/{commit.run_id}-{name}")
    if staged:
        FileSystems.rename(staged, targets)


def apply(commit: Commit, publish: bool = True) -> dict[str, int]:
    """Publish a run's tables (unless the run wrote them in place, the flat layout), then commit
    its index and feed state; rows replaced per table. Safe to call again after an interruption."""
    replaced: dict[str, int] = {}
    for fmt in commit.formats if publish else ():
        for table in TABLES:
            if commit.windowed:
                _publish_windows(commit, fmt, table)
                continue
            count = _publish_table(commit, fmt, table)
            if fmt == commit.formats[-1]:
                replaced[table.name] = count
    if commit.index_pending and commit.index_dir:
        dedup_index.commit(commit.index_dir, commit.index_pending)
        cluster_store.compact(commit.index_dir, commit.cluster_days)
    if commit.state_dir and commit.state_pending:
        validators, entries = commit.state_pending
        feed_state.VALIDATORS.commit(commit.state_dir, validators)
        feed_state.ENTRIES.commit(commit.state_dir, entries, feed_state.unexpired(commit.entries_expiry_days))
    for done in (commit.staging, commit.path):
        if FileSystems.exists(done):
            FileSystems.delete([done])
    root = commit.staging.rsplit("/", 1)[0]
    if FileSystems.exists(root) and not _files(f"{root}/*"):
        FileSystems.delete([root])
    return replaced


def begin(commit: Commit) -> None:
    """Record the commit before changing anything: from here on, it will be completed."""
    runs = _runs(commit.output_dir)
    if not FileSystems.exists(runs):
        FileSystems.mkdirs(runs)
    _write_bytes(commit.path, commit.to_json().encode("utf-8"))


def recover(output_dir: str) -> list[str]:
    """Before a run: finish the commits killed runs left under way, delete the staging folders of
    runs killed before their commit. What was done, one line each."""
    done = []
    for path in _files(f"{_runs(output_dir)}/*.commit.json"):
        commit = Commit.from_json(_read_bytes(path).decode("utf-8"))
        replaced = apply(commit)
        done.append(f"finished the commit of run {commit.run_id} ({sum(replaced.values())} rows replaced)")
    root = f"{output_dir.rstrip('/')}/_staging"
    if FileSystems.exists(root):
        runs = sorted({p.split("/_staging/", 1)[1].split("/", 1)[0] for p in _files(f"{root}/*")})
        for run_id in runs:
            FileSystems.delete([staging_dir(output_dir, run_id)])
            done.append(f"deleted the staging folder of run {run_id}, killed before its commit")
    return done
