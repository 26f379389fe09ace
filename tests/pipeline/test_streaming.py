"""Streaming runs: feeds polled on a clock, each item emitted once, tables written per window.

The windowing and state logic runs under TestStream (BundleBasedDirectRunner, streaming); the
end-to-end tests run `newsbeam run --streaming` against a loopback feed that gains items between
polls.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import apache_beam as beam
import psycopg
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from pipeline.cli import main
from tests.conftest import DSN, ROOT, TAXONOMY, read_table
from tests.fixtures import article
from transforms.core.records import TABLES_BY_NAME, FeedEntry
from transforms.core.settings import OutputSettings
from transforms.read.feeds import FirstSightingFn
from transforms.sinks.windowed import WriteWindowedTable
from transforms.testing.sites import Item, Reply, Request, Site, article_page, rss

DAY = 24 * 3600
RSS_TYPE = {"Content-Type": "application/rss+xml"}


def streaming_pipeline() -> TestPipeline:
    options = PipelineOptions(["--runner=BundleBasedDirectRunner"])
    options.view_as(StandardOptions).streaming = True
    return TestPipeline(options=options)


def entry(key: str) -> FeedEntry:
    return FeedEntry(
        source=key,
        feed="wire",
        url=f"http://wire.example/{key}",
        title=key,
        summary=None,
        published=None,
        language="en",
    )


# -- state and windows under TestStream -------------------------------------------------------
@pytest.mark.parametrize("expiry_days, expected", [(1, ["a", "b", "a"]), (None, ["a", "b"])])
def test_an_entry_repeated_by_later_polls_passes_once_until_it_is_forgotten(expiry_days, expected) -> None:
    stream = (
        TestStream(coder=beam.coders.registry.get_coder(FeedEntry))
        .advance_watermark_to(0)
        .add_elements([TimestampedValue(entry("a"), 0)])
        .advance_watermark_to(900)
        .add_elements([TimestampedValue(entry("a"), 900), TimestampedValue(entry("b"), 900)])  # next poll
        .advance_watermark_to(2 * DAY)  # past a one-day memory
        .add_elements([TimestampedValue(entry("a"), 2 * DAY)])
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        passed = (
            p
            | stream
            | beam.Map(lambda e: (e.source, e))
            | beam.ParDo(FirstSightingFn(expiry_days))
            | beam.Map(lambda e: e.source)
        )
        assert_that(passed, equal_to(expected))


def test_windowed_tables_get_one_set_of_files_per_window(tmp_path: Path) -> None:
    rows = [("a", 10), ("b", 250), ("c", 310), ("d", 1000)]  # windows of 300 s: [0,300) twice, [300,600), [900,1200)
    stream = TestStream(coder=beam.coders.PickleCoder()).advance_watermark_to(0)
    for article_id, at in rows:
        stream = stream.add_elements([TimestampedValue(article(article_id, "Text of " + article_id), at)])
        stream = stream.advance_watermark_to(at + 1)
    stream = stream.advance_watermark_to_infinity()
    output = OutputSettings(dir=str(tmp_path), formats=["jsonl", "parquet"])
    with streaming_pipeline() as p:
        _ = p | stream | WriteWindowedTable(TABLES_BY_NAME["articles"], output, 300)
    folders = sorted(
        {
            str(path.parent.relative_to(tmp_path / "jsonl" / "articles"))
            for path in (tmp_path / "jsonl" / "articles").rglob("*.jsonl")
        }
    )
    assert folders == [
        "dt=1970-01-01/window=000000-000500",
        "dt=1970-01-01/window=000500-001000",
        "dt=1970-01-01/window=001500-002000",
    ]
    first = tmp_path / "jsonl" / "articles" / folders[0]
    assert sorted(
        json.loads(line)["article_id"] for f in first.glob("*.jsonl") for line in f.read_text().splitlines()
    ) == ["a", "b"]
    parquet = sorted((tmp_path / "parquet" / "articles").rglob("*.parquet"))
    assert {path.parent.name for path in parquet} == {folder.split("/")[1] for folder in folders}
    assert sum(pq.read_table(path).num_rows for path in parquet) == 4


# -- end to end: a feed that grows between polls ----------------------------------------------
STORIES = {
    "quake": [
        "An earthquake of magnitude 6.1 struck the coastal province on Tuesday, officials said.",
        "Rescue teams searched collapsed buildings in three towns through the night.",
    ],
    "talks": [
        "Negotiators from both parties agreed to resume peace talks in Geneva next month.",
        "The mediator said a ceasefire would be discussed at the first session.",
    ],
    "strike": [
        "Teachers walked out of schools across the country on Wednesday demanding higher pay.",
        "The union said more than ten thousand members joined the strike.",
    ],
    "harvest": [
        "Farmers in the northern valleys reported the largest wheat harvest in a decade.",
        "Grain prices fell by a fifth at the regional market after the first deliveries.",
    ],
}
# What the feed lists at its n-th poll: items appear over time; "quake-copy" is the quake story
# republished under another address.
GROWTH = [
    ["quake"],
    ["quake", "talks"],
    ["quake", "talks", "strike"],
    ["quake", "talks", "strike", "quake-copy"],
    ["quake", "talks", "strike", "quake-copy", "harvest"],
]


@pytest.fixture
def growing_feed() -> Iterator[Site]:
    with Site() as site:
        for name, paragraphs in STORIES.items():
            site.route(f"/{name}.html", Reply(200, article_page(name.title(), paragraphs)))
        site.route("/quake-copy.html", Reply(200, article_page("Quake strikes coast", STORIES["quake"])))

        def feed(request: Request) -> Reply:
            listed = GROWTH[min(len(site.hits("/rss.xml")), len(GROWTH)) - 1]
            return Reply(200, rss([Item(name.title(), f"/{name}.html") for name in reversed(listed)]), RSS_TYPE)

        site.route("/rss.xml", feed)
        yield site


def stream_config(tmp_path: Path, site: Site) -> Path:
    config = tmp_path / "stream.yaml"
    config.write_text(
        f"""
feeds:
  sources:
    - url: {site.url("/rss.xml")}
      name: test wire
      poll_seconds: 1
fetch:
  allowed_networks: [127.0.0.0/8]
  requests_per_second: 50
output:
  dir: {tmp_path / "output"}
events:
  taxonomy: {TAXONOMY}
streaming:
  window_seconds: 3
dedup:
  index: true
beam:
  runner: FnApiRunner
""",
        encoding="utf-8",
    )
    return config


def run_stream(tmp_path: Path, site: Site, seconds: float, *flags: str) -> int:
    config = stream_config(tmp_path, site)
    return main(["run", "--streaming", "--config", str(config), "--max-duration", str(seconds), "-q", *flags])


def test_a_stream_emits_each_item_once_across_polls_and_restarts(
    growing_feed: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str], schema: str
) -> None:
    database = ("--postgres-dsn", DSN, "--set", f"postgres.schema={schema}")  # the database sink streams too
    assert run_stream(tmp_path, growing_feed, 3, *database) == 0  # three polls: the feed grows to three items
    first = capsys.readouterr().out
    assert "read 3 = written 3 + duplicates 0 + dead letters 0 (ok)" in first
    assert run_stream(tmp_path, growing_feed, 3, *database) == 0  # a restart: three more polls, two new items
    second = capsys.readouterr().out
    assert "read 2 = written 1 + duplicates 1 + dead letters 0 (ok)" in second, second
    output = tmp_path / "output"
    titles = sorted(a["title"] for a in read_table(output, "articles"))
    assert titles == ["Harvest", "Quake", "Strike", "Talks"]  # each once, however many polls listed it
    with psycopg.connect(DSN) as conn:
        assert sorted(t for (t,) in conn.execute(f"SELECT title FROM {schema}.articles")) == titles
        assert conn.execute(f"SELECT count(*) FROM {schema}.duplicates").fetchone()[0] == 1
    duplicates = read_table(output, "duplicates")
    assert [
        (d["method"], d["duplicate_of"] in {a["article_id"] for a in read_table(output, "articles")})
        for d in duplicates
    ] == [("content", True)]
    for name in STORIES:
        assert len(growing_feed.hits(f"/{name}.html")) == 1, name  # each page fetched once
    assert len(growing_feed.hits("/rss.xml")) >= 6
    windows = {p.parent.name for p in (output / "jsonl" / "articles").rglob("*.jsonl")}
    assert windows and all(w.startswith("window=") for w in windows)


@pytest.mark.slow
def test_a_stream_killed_at_random_moments_and_restarted_emits_each_item_once(
    growing_feed: Site, tmp_path: Path, schema: str
) -> None:
    command = [
        sys.executable,
        "-m",
        "pipeline",
        "run",
        "--streaming",
        "--config",
        str(stream_config(tmp_path, growing_feed)),
        "-q",
        "--postgres-dsn",
        DSN,
        "--set",
        f"postgres.schema={schema}",
    ]
    seed = int(os.environ.get("NEWSBEAM_KILL_SEED", time.time_ns() % 10_000))
    rng, kills = random.Random(seed), []
    for _ in range(3):  # SIGKILLed three times at random moments, in start-up, a segment or a commit
        delay = rng.uniform(3.0, 15.0)
        victim = subprocess.Popen(
            [*command, "--max-duration", "60"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            victim.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
        kills.append(f"{delay:.1f} s")
    finished = subprocess.run([*command, "--max-duration", "10"], cwd=ROOT, capture_output=True, text=True)
    note = f"NEWSBEAM_KILL_SEED={seed}, killed at {kills}"
    print(note)
    assert finished.returncode == 0, finished.stderr[-2000:]
    output = tmp_path / "output"
    titles = sorted(a["title"] for a in read_table(output, "articles"))
    # each story once, none missed; if a kill lost the polls before "quake-copy" appeared, both quake
    # pages arrive in one poll and the representative rule (earliest, longest, smallest id) picks one
    assert len(titles) == 4 and [t for t in titles if not t.startswith("Quake")] == ["Harvest", "Strike", "Talks"], note
    assert {t for t in titles if t.startswith("Quake")} <= {"Quake", "Quake-Copy"}, note
    with psycopg.connect(DSN) as conn:
        assert sorted(t for (t,) in conn.execute(f"SELECT title FROM {schema}.articles")) == titles, note
    ids = {a["article_id"] for a in read_table(output, "articles")}
    assert [d["duplicate_of"] in ids for d in read_table(output, "duplicates")] == [True], note
    for table in ("entities", "events"):
        rows = read_table(output, table)
        key = TABLES_BY_NAME[table].key
        assert len({tuple(r[k] for k in key) for r in rows}) == len(rows) > 0, (table, note)
    assert not (output / "_staging").exists() and not list((output / "_runs").glob("*.commit.json")), note
