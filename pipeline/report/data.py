"""What a report shows, read from a run's tables or a whole lake, on any Beam filesystem.

The files of each table are listed with Beam's `FileSystems` (local, gs://, s3://, ...): Parquet
where the run wrote it, else JSON Lines; in a lake, every `dt=` partition, or those from `since`
to `until`, and with `run` only the files that run wrote. Only the columns the report needs are
read, into Arrow tables typed by the records' schemas, which DuckDB queries in memory.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timezone
from typing import Any, Optional

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.core.names import name_key, preferred_spelling
from transforms.core.records import TABLES, TABLES_BY_NAME
from transforms.core.schemas import table_arrow_schema
from transforms.events.taxonomy import family
from transforms.geo.shapes import country_centres, subdivision_centres

TOP = 10
_PARTITION = re.compile(r"/dt=([^/]+)/")
# The columns each table contributes (the counts need only one).
COLUMNS: dict[str, tuple[str, ...]] = {
    "articles": ("article_id",),
    "entities": ("entity_id",),
    "events": (
        "event_type",
        "acled_event_type",
        "cameo_root",
        "actor",
        "actor_sector",
        "actor_country",
        "location",
        "location_country",
        "location_subdivision",
        "latitude",
        "longitude",
        "fatalities",
        "event_date",
        "date_precision",
        "published",
    ),
    "event_clusters": ("cluster_id",),
    "duplicates": ("method",),
    "dead_letters": ("stage", "reason"),
}


class ReportError(Exception):
    """The folder holds no newsbeam tables; the message is one line for the user."""


@dataclasses.dataclass(frozen=True)
class Selection:
    """Which of the files under the output folder the report reads."""

    since: Optional[date] = None  # lake partitions (dt=) from this date
    until: Optional[date] = None  # ... to this one, inclusive
    run: Optional[str] = None  # only the files this run wrote (`<run_id>-part-*`)

    def describe(self) -> str:
        """` since 2026-03-01 until ... of run R`, or nothing for the whole folder."""
        parts = [(" since", self.since), (" until", self.until), (" of run", self.run)]
        return "".join(f"{word} {value}" for word, value in parts if value)

    def takes(self, path: str) -> bool:
        name = path.rsplit("/", 1)[-1]
        if name.startswith((".", "_")) or (self.run and not name.startswith(f"{self.run}-")):
            return False
        found = _PARTITION.search(path.replace("\\", "/"))
        if found is None or not (self.since or self.until):
            return True
        try:
            day = date.fromisoformat(found.group(1))
        except ValueError:  # Hive's partition of rows without a date: outside any range of dates
            return False
        return not ((self.since and day < self.since) or (self.until and day > self.until))


@dataclasses.dataclass(frozen=True)
class Point:
    """Events of one family at one place on the map."""

    latitude: float
    longitude: float
    precision: str  # city | subdivision | country: where the point stands
    place: str
    family: str
    events: int
    fatalities: int


@dataclasses.dataclass
class Report:
    source: str
    counts: dict[str, int]
    events_by_type: list[tuple[str, int]]
    events_by_family: list[tuple[str, int, int]]  # family, events, fatalities
    dated_events: list[tuple[date, str, int]]  # day, family, events
    undated_events: int  # no date to the day or week: none in the text and no publication date
    coarse_events: int  # of those, the ones whose text dates them to a month or year only
    points: list[Point]
    unplaced_events: int  # events with no place the map can show
    top_actors: list[tuple[str, Optional[str], Optional[str], int]]  # actor, sector, country, events
    top_places: list[tuple[str, Optional[str], int]]  # place, country, events
    duplicates_by_method: list[tuple[str, int]]
    dead_letters: list[tuple[str, str, int]]  # stage, reason, count

    @property
    def duplicate_ratio(self) -> float:
        """Duplicates among the articles read that passed cleaning (articles + duplicates)."""
        seen = self.counts.get("articles", 0) + self.counts.get("duplicates", 0)
        return self.counts.get("duplicates", 0) / seen if seen else 0.0

    @property
    def families(self) -> list[str]:
        return [name for name, _, _ in self.events_by_family]


def _files(output: str, table: str, selection: Selection) -> tuple[str, list[str]]:
    """(format, paths) of one table's files: Parquet where there are any, else JSON Lines."""
    for fmt in ("parquet", "jsonl"):
        (matched,) = FileSystems.match([f"{output.rstrip('/')}/{fmt}/{table}/**"])
        paths = sorted(m.path for m in matched.metadata_list if m.path.endswith(f".{fmt}") and selection.takes(m.path))
        if paths:
            return fmt, paths
    return "", []


def _read(fmt: str, paths: list[str], table: str) -> pa.Table:
    """The report's columns of a table's files, typed by the table's schema."""
    schema = table_arrow_schema(TABLES_BY_NAME[table])
    # Timestamps as UTC wall time without a zone, so DuckDB's dates are UTC dates wherever it runs.
    wanted = pa.schema(
        [
            f.with_type(pa.timestamp(f.type.unit)) if pa.types.is_timestamp(f.type) else f
            for f in (schema.field(c) for c in COLUMNS[table])
        ]
    )
    parts = [_read_parquet(p, wanted) if fmt == "parquet" else _read_jsonl(p, wanted) for p in paths]
    return pa.concat_tables(parts) if parts else wanted.empty_table()


def _read_parquet(path: str, wanted: pa.Schema) -> pa.Table:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        parquet = pq.ParquetFile(handle)  # reads only the column chunks asked for
        present = set(parquet.schema_arrow.names)
        data = parquet.read(columns=[f.name for f in wanted if f.name in present])
    columns = [
        data.column(f.name).cast(f.type) if f.name in data.column_names else pa.nulls(len(data), f.type) for f in wanted
    ]
    return pa.Table.from_arrays(columns, schema=wanted.with_metadata(None))


def _read_jsonl(path: str, wanted: pa.Schema) -> pa.Table:
    timestamps = {f.name for f in wanted if pa.types.is_timestamp(f.type)}

    def value(row: dict[str, Any], name: str) -> Any:
        raw = row.get(name)
        if name in timestamps and raw:
            return datetime.fromisoformat(raw).astimezone(timezone.utc).replace(tzinfo=None)
        return raw

    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        rows = [json.loads(line) for line in handle.read().decode("utf-8").splitlines() if line.strip()]
    return pa.Table.from_pylist([{f.name: value(r, f.name) for f in wanted} for r in rows], schema=wanted)


def build(output: str, selection: Selection = Selection()) -> Report:
    """Read the tables under `output` (see the module docstring) into a Report."""
    con = duckdb.connect()
    found: dict[str, bool] = {}
    for table in TABLES:
        fmt, paths = _files(output, table.name, selection)
        found[table.name] = bool(paths)
        con.register(table.name, _read(fmt, paths, table.name))
    if not any(found.values()):
        raise ReportError(
            f"report: no newsbeam tables under {output}{selection.describe()} "
            f"(expected {output}/parquet/<table>/ or jsonl/)"
        )

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return con.execute(sql).fetchall()

    counts = {t.name: rows(f"SELECT count(*) FROM {t.name}")[0][0] for t in TABLES}
    # The day an event happened: its date when the text gives it to the day or week; the publication
    # day when the text gives none; none when it gives only a month or year ("this year" is no day).
    day = (
        "CASE WHEN event_date IS NULL THEN CAST(published AS DATE) "
        "WHEN coalesce(date_precision, 'day') IN ('day', 'week') THEN CAST(event_date AS DATE) END"
    )
    kinds = rows(
        "SELECT acled_event_type, cameo_root, count(*), coalesce(sum(fatalities), 0) FROM events GROUP BY 1, 2"
    )
    by_family: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for acled, cameo, n, killed in kinds:
        totals = by_family[family(acled, cameo)]
        totals[0] += n
        totals[1] += int(killed)
    dated = rows(
        f"SELECT {day}, acled_event_type, cameo_root, count(*) FROM events WHERE {day} IS NOT NULL GROUP BY 1, 2, 3"
    )
    by_day: Counter[tuple[date, str]] = Counter()
    for when, acled, cameo, n in dated:
        by_day[(when, family(acled, cameo))] += n
    points, unplaced = _points(
        rows(
            "SELECT latitude, longitude, location_subdivision, location_country, location, acled_event_type, "
            "cameo_root, count(*), coalesce(sum(fatalities), 0) FROM events GROUP BY ALL"
        )
    )
    return Report(
        source=output,
        counts=counts,
        events_by_type=rows("SELECT event_type, count(*) n FROM events GROUP BY 1 ORDER BY n DESC, 1"),
        events_by_family=sorted(((f, n, k) for f, (n, k) in by_family.items()), key=lambda r: (-r[1], r[0])),
        dated_events=sorted((when, kin, n) for (when, kin), n in by_day.items()),
        undated_events=rows(f"SELECT count(*) FROM events WHERE {day} IS NULL")[0][0],
        coarse_events=rows(f"SELECT count(*) FROM events WHERE {day} IS NULL AND event_date IS NOT NULL")[0][0],
        points=points,
        unplaced_events=unplaced,
        top_actors=[
            (name, sector, country, n)
            for name, (sector, country), n in _by_name(
                rows(
                    "SELECT actor, actor_sector, actor_country, count(*) FROM events "
                    "WHERE actor IS NOT NULL GROUP BY ALL"
                )
            )
        ],
        top_places=[
            (name, country, n)
            for name, (country,), n in _by_name(
                rows("SELECT location, location_country, count(*) FROM events WHERE location IS NOT NULL GROUP BY ALL")
            )
        ],
        duplicates_by_method=rows("SELECT method, count(*) n FROM duplicates GROUP BY 1 ORDER BY n DESC, 1"),
        dead_letters=rows(
            f"SELECT stage, reason, count(*) n FROM dead_letters GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT {TOP * 2}"
        ),
    )


def _by_name(rows: Iterable[tuple[Any, ...]]) -> list[tuple[str, tuple[Any, ...], int]]:
    """(spelling, *attributes, count) rows -> the top names counted by normalised name
    (`transforms.core.names`): its preferred spelling, its most frequent attributes, its count."""
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    attributes: dict[str, Counter[tuple[Any, ...]]] = defaultdict(Counter)
    for spelling, *values, n in rows:
        key = name_key(spelling)
        spellings[key][spelling] += n
        attributes[key][tuple(values)] += n
    ranked = sorted(spellings, key=lambda k: (-sum(spellings[k].values()), k))[:TOP]
    return [
        (preferred_spelling(_ranked(spellings[k])), _most_known(attributes[k]), sum(spellings[k].values()))
        for k in ranked
    ]


def _ranked(counts: Counter[str]) -> list[tuple[str, int]]:
    """Most frequent first, ties by spelling: the same whatever order DuckDB grouped the rows in."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _most_known(counts: Counter[tuple[Any, ...]]) -> tuple[Any, ...]:
    """The most frequent attribute tuple, preferring one with its values known."""
    return max(counts.items(), key=lambda item: (sum(v is not None for v in item[0]), item[1], repr(item[0])))[0]


def _points(rows: Iterable[tuple[Any, ...]]) -> tuple[list[Point], int]:
    """Map points, one per place and family: at the city's coordinates, else the centre of its
    subdivision or country; and how many events have none of them."""
    subdivisions, countries = subdivision_centres(), country_centres()
    merged: dict[tuple[float, float, str, str], list[Any]] = {}
    unplaced = 0
    for lat, lon, subdivision, country, location, acled, cameo, n, killed in rows:
        where = _where(lat, lon, subdivision, country, subdivisions, countries)
        if where is None:
            unplaced += n
            continue
        (lat, lon), precision = where
        place = location or subdivision or country
        key = (round(lat, 3), round(lon, 3), precision, family(acled, cameo))
        entry = merged.setdefault(key, [Counter(), 0, 0])
        entry[0][place] += n
        entry[1] += n
        entry[2] += int(killed)
    points = [
        Point(lat, lon, precision, _ranked(places)[0][0], kin, n, killed)
        for (lat, lon, precision, kin), (places, n, killed) in merged.items()
    ]
    # A total order: DuckDB's parallel GROUP BY returns groups in any order.
    return sorted(
        points, key=lambda p: (-p.fatalities, -p.events, p.place, p.family, p.latitude, p.longitude)
    ), unplaced


def _where(
    lat: Optional[float],
    lon: Optional[float],
    subdivision: Optional[str],
    country: Optional[str],
    subdivisions: dict[str, tuple[float, float]],
    countries: dict[str, tuple[float, float]],
) -> Optional[tuple[tuple[float, float], str]]:
    if lat is not None and lon is not None:
        return (lat, lon), "city"
    if subdivision in subdivisions:
        return subdivisions[subdivision], "subdivision"
    if country in countries:
        return countries[country], "country"
    return None
