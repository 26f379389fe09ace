"""Near-duplicate clusters and representatives (TestPipeline), and the cross-run index (CLI runs)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import NamedTuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import SEEDS, read_table, run_cli
from tests.fixtures import article
from transforms.core.records import ArticleKeys, KeyBlock, Sketch
from transforms.core.schemas import arrow_schema
from transforms.core.settings import DedupSettings
from transforms.dedup import index as dedup_index
from transforms.dedup import keys as dedup_keys
from transforms.dedup.duplicates import cluster_id
from transforms.dedup.index import IndexRowsFn, key_blocks, sketch_tables
from transforms.dedup.keys import id_code, key_code
from transforms.dedup.near import Candidates, Earlier, NearDedup, buckets, members, merged, narrowed, pack
from transforms.dedup.sketch_table import SketchTable

OPTIONS = ["--runner=FnApiRunner"]
SEED_TEXTS = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
STORY, OTHER = SEED_TEXTS


def retitled(text: str) -> str:
    """A syndicated copy: new first line, a wire dateline, a footer."""
    first, rest = text.split("\n", 1)
    return f"KABUL (Wire) - Afghan district falls to insurgents.\n{rest}\nReporting by staff; editing by desk."


def truncated(text: str, keep: float = 0.7) -> str:
    words = text.split(" ")
    return " ".join(words[: int(len(words) * keep)])


def test_near_duplicates_cluster_behind_the_earliest_article() -> None:
    articles = [
        article("original", STORY, day=2),
        article("syndicated", retitled(STORY), day=1),  # earliest: the representative
        article("short", truncated(STORY), day=3),
        article("other", OTHER, day=1),
    ]
    with TestPipeline(argv=OPTIONS) as p:
        result = p | beam.Create(articles) | NearDedup(DedupSettings(index=False))
        assert_that(result.articles | beam.Map(lambda a: a.article_id), equal_to(["syndicated", "other"]), label="kept")
        assert_that(
            result.duplicates
            | beam.Map(lambda d: (d.article_id, d.duplicate_of, d.cluster_id, d.method, 0.5 <= d.similarity < 1.0)),
            equal_to(
                [
                    ("original", "syndicated", cluster_id("syndicated"), "minhash", True),
                    ("short", "syndicated", cluster_id("syndicated"), "minhash", True),
                ]
            ),
            label="duplicates",
        )


class InMemoryKeys(NamedTuple):
    """An index's keys held in memory."""

    block: KeyBlock

    def read(self, keys_now: np.ndarray) -> KeyBlock:
        return narrowed(self.block, keys_now)

    def blocks(self, pipeline: beam.Pipeline) -> beam.PCollection:
        return pipeline | "IndexKeys" >> beam.Create([self.block])


class InMemorySketches(NamedTuple):
    """An index's sketches held in memory."""

    table: SketchTable

    def read(self, wanted: np.ndarray) -> SketchTable:
        return self.table.take(np.flatnonzero(members(self.table.codes, wanted)))

    def tables(self, pipeline: beam.Pipeline) -> beam.PCollection:
        return pipeline | "IndexSketches" >> beam.Create([self.table])


@pytest.mark.parametrize("narrow_earlier", [False, True])
def test_a_run_against_the_index_finds_the_same_duplicates_with_the_index_narrowed_or_not(narrow_earlier: bool) -> None:
    settings = DedupSettings(index=True)
    indexer = IndexRowsFn(settings)
    indexer.setup()
    earlier_articles = [article("old-story", STORY, day=1), article("old-other", OTHER, day=1)]
    rows = [row for a in earlier_articles for row in indexer.process(a)]
    keys = merged(
        KeyBlock(
            np.array(row.key_codes, np.uint64).tobytes(), np.full(len(row.key_codes), row.id_code, np.uint64).tobytes()
        )
        for row in rows
        if isinstance(row, ArticleKeys)
    )
    sketches = SketchTable.of_sketches([row.value for row in rows if isinstance(row, beam.pvalue.TaggedOutput)])
    now = [
        article("copy", retitled(STORY), day=2),
        article("old-other", OTHER, day=1),
        article("new", truncated(SEED_TEXTS[1], 0.2), day=2),
    ]
    with TestPipeline(argv=OPTIONS) as p:
        earlier = Earlier(InMemoryKeys(keys), InMemorySketches(sketches))
        result = p | beam.Create(now) | NearDedup(settings, earlier, narrow_earlier=narrow_earlier)
        assert_that(result.articles | beam.Map(lambda a: a.article_id), equal_to(["new"]), label="kept")
        assert_that(
            result.duplicates | beam.Map(lambda d: (d.article_id, d.duplicate_of, d.method)),
            equal_to([("copy", "old-story", "minhash"), ("old-other", "old-other", "seen")]),
            label="duplicates",
        )


def test_a_chain_of_copies_is_one_cluster() -> None:
    """A ~ B and B ~ C make one story even when A and C alone fall under the threshold."""
    words = STORY.split(" ")
    third = len(words) // 3
    a = " ".join(words[: 2 * third])
    b = " ".join(words[third // 2 : 2 * third + third // 2])
    c = " ".join(words[third:])
    with TestPipeline(argv=OPTIONS) as p:
        result = (
            p
            | beam.Create([article("a", a, day=1), article("b", b, day=2), article("c", c, day=3)])
            | NearDedup(DedupSettings(index=False, threshold=0.3))
        )
        assert_that(result.articles | beam.Map(lambda x: x.article_id), equal_to(["a"]), label="kept")
        assert_that(
            result.duplicates | beam.Map(lambda d: (d.article_id, d.duplicate_of)),
            equal_to([("b", "a"), ("c", "a")]),
            label="duplicates",
        )


def test_different_stories_on_one_template_are_not_merged() -> None:
    """Same boilerplate lines, different stories: below the threshold, all kept."""
    footer = "\nFollow our live coverage for updates. Subscribe to the newsletter for daily briefings."
    articles = [article(f"s{n}", text + footer * 3, day=n + 1) for n, text in enumerate(SEED_TEXTS)]
    with TestPipeline(argv=OPTIONS) as p:
        result = p | beam.Create(articles) | NearDedup(DedupSettings(index=False))
        assert_that(result.articles | beam.Map(lambda a: a.article_id), equal_to(["s0", "s1"]))


# -- across runs -----------------------------------------------------------------------------
def run_with_index(inputs: Path, output: Path, state: Path) -> int:
    return run_cli(
        "--input", str(inputs), "--output", str(output), "--set", "dedup.index=true", "--set", f"state_dir={state}"
    )


def test_the_index_makes_a_rerun_add_nothing_and_links_new_copies_to_old_stories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dedup_index, "COMPACT_AT", 1)  # the third run's commit compacts the index
    state = tmp_path / "state"
    first = tmp_path / "first"
    shutil.copytree(SEEDS, first)
    assert run_with_index(first, tmp_path / "out1", state) == 0
    assert "read 2 = written 2 + duplicates 0" in capsys.readouterr().out
    written = {a["source"].rsplit("/", 1)[-1]: a["article_id"] for a in read_table(tmp_path / "out1", "articles")}

    index_files = sorted(p.relative_to(state) for p in (state / "index").rglob("*") if p.is_file())
    assert len(index_files) == 2  # keys and sketches of the two articles
    assert run_with_index(first, tmp_path / "out2", state) == 0  # the same input again
    assert sorted(p.relative_to(state) for p in (state / "index").rglob("*") if p.is_file()) == index_files
    out = capsys.readouterr().out
    assert "read 2 = written 0 + duplicates 2" in out
    assert "2 of the duplicates already written by earlier runs" in out
    assert read_table(tmp_path / "out2", "duplicates") == []  # no row: the warehouse holds them already

    later = tmp_path / "later"
    later.mkdir()
    (later / "syndicated.txt").write_text(retitled(STORY), encoding="utf-8")  # a new copy of an old story
    (later / "copy.txt").write_text(OTHER, encoding="utf-8")  # an exact copy under another name
    (later / "new.txt").write_text(
        "Protesters marched through the capital on Monday to demand the release of detained journalists, "
        "and police arrested at least 30 people near the parliament, witnesses said.",
        encoding="utf-8",
    )
    assert run_with_index(later, tmp_path / "out3", state) == 0
    assert "read 3 = written 1 + duplicates 2" in capsys.readouterr().out
    duplicates = {d["source"].rsplit("/", 1)[-1]: d for d in read_table(tmp_path / "out3", "duplicates")}
    story_id = written[sorted(p.name for p in SEEDS.glob("*.txt"))[0]]
    other_id = written[sorted(p.name for p in SEEDS.glob("*.txt"))[1]]
    assert (duplicates["syndicated.txt"]["duplicate_of"], duplicates["syndicated.txt"]["method"]) == (
        story_id,
        "minhash",
    )
    assert (duplicates["copy.txt"]["duplicate_of"], duplicates["copy.txt"]["method"]) == (other_id, "content")
    assert [a["source"].rsplit("/", 1)[-1] for a in read_table(tmp_path / "out3", "articles")] == ["new.txt"]
    compacted = sorted(p.name.split("-")[0] for p in (state / "index").rglob("*.parquet"))
    assert compacted == ["compacted", "compacted"]
    assert run_with_index(later, tmp_path / "out4", state) == 0  # against the compacted index
    assert "read 3 = written 0 + duplicates 3" in capsys.readouterr().out


def test_a_failed_run_adds_nothing_to_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The index is committed only after the run succeeded: else the next run would skip stories
    that were never written."""
    original = beam.Pipeline.run

    def run_then_fail(self: beam.Pipeline, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs).wait_until_finish()
        raise RuntimeError("worker lost")

    monkeypatch.setattr(beam.Pipeline, "run", run_then_fail)
    assert run_with_index(SEEDS, tmp_path / "out", tmp_path / "state") == 1
    assert not list((tmp_path / "state" / "index" / "keys").glob("*.parquet"))  # only a pending dir
    monkeypatch.undo()
    assert run_with_index(SEEDS, tmp_path / "out", tmp_path / "state") == 0
    assert len(read_table(tmp_path / "out", "articles")) == 2


def _shard(*parts: tuple[str, list[tuple[str, str]]]) -> tuple[int, list[tuple[str, bytes, bytes]]]:
    """One shard's packed keys, as the shuffle hands them to `buckets`, from (side, [(key, id)])."""
    packed = []
    for side, pairs in parts:
        block = KeyBlock(
            dedup_keys.codes([key for key, _ in pairs]).tobytes(),
            np.array([id_code(i) for _, i in pairs], dtype=np.uint64).tobytes(),
        )
        packed.extend(element for _, element in pack(block, side, shards=1))
    return 0, packed


def _pairs(found: Candidates) -> dict[tuple[int, int], int]:
    return {(a, b): kind for a, b, kind in zip(found.first.tolist(), found.second.tolist(), found.kinds.tolist())}


def test_buckets_pair_articles_sharing_a_key_and_name_articles_an_earlier_run_wrote() -> None:
    shard = _shard(
        (
            "now",
            [
                ("band:00:aa", "new-1"),
                ("band:00:aa", "new-2"),
                ("url:https://x.org/1", "new-1"),
                ("id:new-3", "new-3"),
                ("band:01:bb", "new-3"),
                ("band:02:cc", "new-4"),
            ],
        ),
        (
            "earlier",
            [
                ("url:https://x.org/1", "old-1"),
                ("id:new-3", "new-3"),
                ("band:01:bb", "new-3"),
                ("band:03:dd", "old-2"),
                ("band:03:dd", "old-3"),
            ],
        ),
    )
    (found,) = buckets(shard, max_bucket=50)
    code = {name: id_code(name) for name in ("new-1", "new-2", "new-3", "old-1")}
    pair = lambda a, b: tuple(sorted((code[a], code[b])))  # noqa: E731
    # a band shared in this run, a URL shared with an earlier run; a band held by one article, or
    # only by earlier articles, pairs nothing; new-3 is an article an earlier run wrote
    assert _pairs(found) == {pair("new-1", "new-2"): dedup_keys.BAND, pair("new-1", "old-1"): dedup_keys.URL}
    assert found.seen.tolist() == [code["new-3"]]


def test_a_pair_sharing_several_keys_is_one_candidate_with_its_most_exact_key() -> None:
    shard = _shard(
        (
            "now",
            [
                ("band:00:aa", "a"),
                ("band:01:bb", "a"),
                ("hash:ff", "a"),
                ("band:00:aa", "b"),
                ("band:01:bb", "b"),
                ("band:02:cc", "a"),
            ],
        ),
        ("earlier", [("hash:ff", "b"), ("band:02:cc", "c")]),
    )
    (found,) = buckets(shard, max_bucket=50)
    pair = tuple(sorted((id_code("a"), id_code("b"))))
    assert _pairs(found) == {pair: dedup_keys.HASH, tuple(sorted((id_code("a"), id_code("c")))): dedup_keys.BAND}


def test_a_bucket_larger_than_max_bucket_pairs_each_member_with_one() -> None:
    names = [f"a{n}" for n in range(6)]
    (found,) = buckets(_shard(("now", [("band:00:aa", name) for name in names])), max_bucket=3)
    smallest = min(id_code(name) for name in names)
    assert len(_pairs(found)) == 5 and all(smallest in pair for pair in _pairs(found))
    (small,) = buckets(_shard(("now", [("band:00:aa", name) for name in names[:3]])), max_bucket=3)
    assert len(_pairs(small)) == 3


def test_keys_held_by_one_article_find_nothing() -> None:
    (found,) = buckets(_shard(("now", [("band:00:aa", "a"), ("id:a", "a")]), ("earlier", [("band:01:bb", "b")])), 50)
    assert not len(found.first) and not len(found.seen)


def test_key_and_id_codes_fit_beams_signed_int_coder_and_keep_the_key_kind() -> None:
    keys = ["id:x", "url:https://x.org/", "hash:00ff", "band:31:ffffffffffffffff"]
    codes = [key_code(key) for key in keys]
    assert [dedup_keys.kind(c) for c in codes] == [dedup_keys.ID, dedup_keys.URL, dedup_keys.HASH, dedup_keys.BAND]
    assert all(0 <= c < 2**63 for c in codes) and all(0 <= id_code(f"id-{n}") < 2**63 for n in range(1000))
    assert len({id_code(f"id-{n}") for n in range(100_000)}) == 100_000


def test_index_keys_are_read_as_blocks_of_codes_from_this_and_the_earlier_file_format() -> None:
    keys = [f"band:00:{n:016x}" for n in range(10_000)]
    ids = [f"article-{n // 10}" for n in range(10_000)]  # 1,000 articles of 10 keys
    expected = (dedup_keys.codes(keys).tolist(), [id_code(i) for i in ids])
    per_article = pa.Table.from_pylist(
        [{"id_code": id_code(f"article-{a}"), "key_codes": expected[0][a * 10 : a * 10 + 10]} for a in range(1000)],
        schema=arrow_schema(ArticleKeys),
    )
    for table, rows in ((per_article, 400), (pa.table({"key": keys, "article_id": ids}), 4000)):  # 2nd: version 0.1
        blocks = list(key_blocks(table, rows=rows))
        assert [len(b.key_codes) // 8 for b in blocks] == [4000, 4000, 2000]
        arrays = [dedup_keys.arrays(b) for b in blocks]
        assert (
            np.concatenate([k for k, _ in arrays]).tolist(),
            np.concatenate([i for _, i in arrays]).tolist(),
        ) == expected


def test_index_sketches_are_read_as_tables_that_give_back_each_sketch() -> None:
    from datetime import datetime, timezone

    sketches = [
        Sketch(
            f"a{n}",
            datetime(2024, 1, 1 + n % 28, 6, 30, 1, 250, tzinfo=timezone.utc) if n % 3 else None,
            100 + n,
            np.arange(n, n + 16, dtype="<u4").tobytes(),
            True,
        )
        for n in range(100)
    ]
    table = pa.Table.from_pylist([s._asdict() for s in sketches], schema=arrow_schema(Sketch))
    tables = list(sketch_tables(table, rows=40))
    assert [len(t) for t in tables] == [40, 40, 20]
    merged = SketchTable.concat(tables)
    rows = merged.find(np.array([id_code(s.article_id) for s in sketches] + [id_code("missing")], dtype=np.uint64))
    assert rows[-1] == -1
    assert [merged.sketch(row) for row in rows[:-1].tolist()] == sketches


def test_the_index_reads_only_the_keys_and_sketches_a_run_shares_with_it(tmp_path: Path) -> None:
    (tmp_path / "sketches").mkdir()
    (tmp_path / "keys").mkdir()
    for part in range(2):
        names = [f"p{part}-{n}" for n in range(300)]
        sketches = [Sketch(name, None, n, np.full(8, n, "<u4").tobytes(), True) for n, name in enumerate(names)]
        pq.write_table(
            pa.Table.from_pylist([s._asdict() for s in sketches], schema=arrow_schema(Sketch)),
            tmp_path / "sketches" / f"run{part}.parquet",
            row_group_size=100,
        )
        keys = [
            {"id_code": id_code(name), "key_codes": [key_code(f"url:{name}"), key_code("band:00:aa")]} for name in names
        ]
        pq.write_table(
            pa.Table.from_pylist(keys, schema=arrow_schema(ArticleKeys)),
            tmp_path / "keys" / f"run{part}.parquet",
            row_group_size=100,
        )
    index = dedup_index.read_earlier([str(tmp_path), str(tmp_path / "empty")])
    assert index is not None and index.keys.dirs == (str(tmp_path),)
    keys_now = np.sort(np.array([key_code("url:p1-5"), key_code("url:new")], dtype=np.uint64))
    shared, articles = dedup_keys.arrays(index.keys.read(keys_now))
    assert shared.tolist() == [key_code("url:p1-5")] and articles.tolist() == [id_code("p1-5")]
    wanted = sorted(id_code(name) for name in ("p0-7", "p1-299", "p1-150", "nobody"))
    table = index.sketches.read(np.array(wanted, dtype=np.uint64))
    assert sorted(table.article_ids) == ["p0-7", "p1-150", "p1-299"]
    assert table.sketch(int(table.find(np.array([id_code("p1-150")], dtype=np.uint64))[0])).word_count == 150


def test_a_sketch_table_finds_the_index_copy_of_an_article_first() -> None:
    now = Sketch("a", None, 10, np.zeros(8, "<u4").tobytes(), False)
    indexed = now._replace(word_count=12, seen=True)
    table = SketchTable.concat([SketchTable.of_sketches([now]), SketchTable.of_sketches([indexed])])
    (row,) = table.find(np.array([id_code("a")], dtype=np.uint64)).tolist()
    assert table.sketch(row) == indexed
