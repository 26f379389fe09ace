"""Table schemas derived from the records, and the sinks that write them."""

from __future__ import annotations

import json
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple, Optional

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from tests.conftest import ROOT, read_table
from transforms.core.records import TABLES, Article, DeadLetter, Entity, Table
from transforms.core.schemas import arrow_schema, markdown, to_json_dict
from transforms.core.settings import OutputSettings
from transforms.sinks.files import WriteTables


def test_arrow_schema_follows_the_record_types() -> None:
    schema = arrow_schema(Article)
    assert schema.names == list(Article._fields)
    assert schema.field("published").type == pa.timestamp("us", tz="UTC") and schema.field("published").nullable
    assert schema.field("article_id").type == pa.string() and not schema.field("article_id").nullable
    assert schema.field("word_count").type == pa.int64()
    assert arrow_schema(Entity).field("variants").type == pa.list_(pa.string())


def test_json_rows_have_utc_timestamps() -> None:
    when = datetime(2024, 3, 5, 15, 30, tzinfo=timezone.utc)
    article = Article("a", "s", "txt", None, None, None, when, "en", "t", 1, "h", "file", None, None)
    assert to_json_dict(article)["published"] == "2024-03-05T15:30:00Z"


def test_every_field_of_every_table_is_documented() -> None:
    markdown(TABLES)  # raises on a field without documentation

    class Extra(NamedTuple):
        documented: str
        forgotten: Optional[int]

    with pytest.raises(ValueError, match="forgotten"):
        markdown([Table("extra", Extra, ("documented",), "x", {"documented": "yes"})])


def test_the_table_reference_in_docs_matches_the_records() -> None:
    docs = (ROOT / "docs" / "tables.md").read_text(encoding="utf-8")
    assert markdown(TABLES) in docs, "docs/tables.md is out of date: paste the output of `newsbeam schema`"


def test_every_table_is_written_in_both_formats_even_when_empty(tmp_path: Path) -> None:
    letter = DeadLetter("d1", "in/x.txt", "read", "empty file", "rejected", None, None, None)
    entity = Entity(
        "e1", "a1", "Kabul", "GPE", "city", None, "AFG", "AF-KAB", 34.5, 69.2, "city", 2, 10, 0.9, ["Kabul"]
    )
    output = OutputSettings(dir=str(tmp_path))
    with TestPipeline(argv=["--runner=FnApiRunner"]) as p:
        tables = {
            "articles": p | "A" >> beam.Create([]).with_output_types(Article),
            "entities": p | "E" >> beam.Create([entity]),
            "dead_letters": p | "D" >> beam.Create([letter]),
        }
        _ = tables | WriteTables(output)
    assert read_table(tmp_path, "entities") == [json.loads(json.dumps(entity._asdict()))]
    assert read_table(tmp_path, "dead_letters")[0]["reason"] == "empty file"
    assert read_table(tmp_path, "articles") == []
    for name, record, rows in (("articles", Article, 0), ("entities", Entity, 1), ("dead_letters", DeadLetter, 1)):
        table = pq.read_table(tmp_path / "parquet" / name)
        assert table.schema.equals(arrow_schema(record), check_metadata=False)
        assert table.num_rows == rows


def _letters(n: int) -> list[DeadLetter]:
    return [DeadLetter(f"d{i}", f"in/{i}.txt", "read", "empty file", "rejected", None, None, None) for i in range(n)]


@pytest.mark.parametrize("shards", [3, 0])
def test_rows_are_spread_over_shards_once_each_and_old_leftovers_removed(tmp_path: Path, shards: int) -> None:
    """Fixed shards: every shard file exists (empty ones too), a row lands in the shard its key
    hashes to, and a re-run writes the same files. Shards 0: one part per bundle. Either way a
    temporary file a killed attempt left behind is gone after the run."""
    leftover = tmp_path / "jsonl" / "dead_letters" / ".tmp-0123.jsonl"
    leftover.parent.mkdir(parents=True)
    leftover.write_text("half a row")
    output = OutputSettings(dir=str(tmp_path), num_shards=shards)
    for _ in range(2):
        with TestPipeline(argv=["--runner=FnApiRunner"]) as p:
            _ = {"dead_letters": p | beam.Create(_letters(40))} | WriteTables(output)
    for fmt, ext in (("jsonl", ".jsonl"), ("parquet", ".parquet")):
        names = sorted(f.name for f in (tmp_path / fmt / "dead_letters").iterdir())
        count = shards or len(names)
        assert names == [f"part-{i:05d}-of-{count:05d}{ext}" for i in range(count)]
    assert sorted(row["dead_letter_id"] for row in read_table(tmp_path, "dead_letters")) == sorted(
        f"d{i}" for i in range(40)
    )
    assert pq.read_table(tmp_path / "parquet" / "dead_letters").num_rows == 40
    if shards:
        parts = [
            {json.loads(line)["dead_letter_id"] for line in path.read_text().splitlines()}
            for path in sorted((tmp_path / "jsonl" / "dead_letters").iterdir())
        ]
        assert all(parts), "40 keys over 3 shards: none empty"
        assert parts == [{f"d{i}" for i in range(40) if zlib.crc32(f"d{i}".encode()) % 3 == n} for n in range(3)]
