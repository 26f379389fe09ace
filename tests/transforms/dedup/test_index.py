"""The cross-run index's files: nothing added by a run that wrote nothing, compaction."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from transforms.core.records import ArticleKeys, Sketch
from transforms.core.schemas import arrow_schema
from transforms.dedup import index


def write_pending(root: Path, articles: range) -> str:
    """A run's pending additions for articles `articles` (numbers), as WriteIndex lays them out."""
    pending = index.pending_dir(str(root))
    when = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    keys = [ArticleKeys(n, [n * 10 + k for k in range(3)])._asdict() for n in articles]
    sketches = [Sketch(f"a{n}", when, 100 + n, bytes(8), True)._asdict() for n in articles]
    for part, record, rows in ((index.KEYS, ArticleKeys, keys), (index.SKETCHES, Sketch, sketches)):
        folder = Path(pending) / part
        folder.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema(record)), folder / "part-00000-of-00001.parquet")
    return pending


def index_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet"))


def stored(root: Path) -> tuple[set[tuple[int, tuple[int, ...]]], set[str]]:
    """The keys of each article and the article ids of the sketches the index holds."""
    keys = pq.read_table(root / index.KEYS)
    sketches = pq.read_table(root / index.SKETCHES)
    pairs = zip(keys.column("id_code").to_pylist(), keys.column("key_codes").to_pylist())
    return {(code, tuple(codes)) for code, codes in pairs}, set(sketches.column("article_id").to_pylist())


def test_a_run_that_wrote_no_article_adds_no_file(tmp_path: Path) -> None:
    index.commit(str(tmp_path), write_pending(tmp_path, range(3)))
    before = index_files(tmp_path)
    index.commit(str(tmp_path), write_pending(tmp_path, range(0)))  # a repeated run: nothing new
    assert index_files(tmp_path) == before and len(before) == 2
    assert not list(tmp_path.glob("pending-*"))


def test_many_small_commits_are_compacted_into_one_file_per_part_holding_the_same(tmp_path: Path) -> None:
    for run in range(index.COMPACT_AT):
        index.commit(str(tmp_path), write_pending(tmp_path, range(run * 2, run * 2 + 2)))
    assert len(index_files(tmp_path)) == 2 * index.COMPACT_AT
    before_keys, before_articles = stored(tmp_path)
    index.commit(str(tmp_path), write_pending(tmp_path, range(1000, 1002)))  # one file more: compacted
    files = index_files(tmp_path)
    assert [f.split("/")[0] for f in files] == ["keys", "sketches"] and all("/compacted-" in f for f in files)
    keys, articles = stored(tmp_path)
    assert keys == before_keys | {(n, (n * 10, n * 10 + 1, n * 10 + 2)) for n in (1000, 1001)}
    assert articles == before_articles | {"a1000", "a1001"} and len(articles) == 2 * index.COMPACT_AT + 2
    assert index.read_earlier([str(tmp_path)]) is not None


def test_compaction_keeps_each_article_once_and_leaves_files_it_cannot_merge(tmp_path: Path) -> None:
    index.commit(str(tmp_path), write_pending(tmp_path, range(4)))
    index.commit(str(tmp_path), write_pending(tmp_path, range(2, 6)))  # articles 2 and 3 twice
    old = tmp_path / index.KEYS / "v01.parquet"  # version 0.1: a row per key, as strings
    pq.write_table(pa.table({"key": ["url:x"], "article_id": ["a99"]}), old)
    merged = index.compact(str(tmp_path))
    assert merged == {index.KEYS: 2, index.SKETCHES: 2}
    assert old.exists() and len(list((tmp_path / index.KEYS).glob("compacted-*.parquet"))) == 1
    sketches = pq.read_table(next((tmp_path / index.SKETCHES).glob("compacted-*.parquet")))
    assert sorted(sketches.column("article_id").to_pylist()) == [f"a{n}" for n in range(6)]
    keys = pq.read_table(next((tmp_path / index.KEYS).glob("compacted-*.parquet")))
    assert sorted(keys.column("id_code").to_pylist()) == list(range(6))
