"""The feed source stage (TestPipeline) and feed runs end to end (CLI), against loopback sites."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.cli import main
from tests.conftest import SEEDS, TAXONOMY, read_table
from transforms.core.settings import FeedSource, FeedsSettings, FetchSettings
from transforms.read.feeds import ReadFeeds
from transforms.testing.sites import Item, Reply, Site, article_page, atom, rss

OPTIONS = ["--runner=FnApiRunner"]
FAST = FetchSettings(allowed_networks=["127.0.0.0/8"], requests_per_second=100, retries=1, backoff_seconds=0.05)
STORY = [
    "Police arrested twelve protesters in the capital on Monday after clashes near parliament.",
    "Witnesses said officers fired tear gas as the crowd tried to reach the building.",
]
RSS_TYPE = {"Content-Type": "application/rss+xml"}


@pytest.fixture
def site() -> Iterator[Site]:
    with Site() as running:
        yield running


def read_feeds(sources: list[FeedSource], fetch: FetchSettings = FAST, **feeds: bool):
    """A pipeline reading `sources`; returns (pipeline, ReadResult)."""
    p = TestPipeline(argv=OPTIONS)
    return p, p | ReadFeeds(sources, FeedsSettings(**feeds), fetch)


def test_entries_become_documents_from_their_pages_or_their_own_text(site: Site, tmp_path: Path) -> None:
    site.route("/a.html", Reply(200, article_page("Protesters arrested", STORY, site_name="Capital Times")))
    site.route("/b.html", Reply(200, b"%PDF-1.7", {"Content-Type": "application/pdf"}))
    items = [
        Item("Protesters arrested", "/a.html", summary="Twelve held."),
        Item("PDF only", "/b.html", summary="The report says aid is needed."),  # page unusable: summary
        Item("Gone", "/gone.html"),  # 404 and no text: dead letter
        Item("No link", None, summary="Talks resumed.", guid="urn:x:1"),
    ]
    site.route("/feed.xml", Reply(200, rss(items), RSS_TYPE))
    base = site.url("")
    p, read = read_feeds([FeedSource(url=site.url("/feed.xml"), name="wire")])
    with p:
        assert_that(
            read.documents | beam.Map(lambda d: (d.source.removeprefix(base), d.text_source, d.feed, d.title)),
            equal_to(
                [
                    ("/a.html", "page", "wire", "Protesters arrested"),
                    ("/b.html", "summary", "wire", "PDF only"),
                    ("/feed.xml#urn:x:1", "summary", "wire", "No link"),
                ]
            ),
            label="documents",
        )
        assert_that(
            read.documents
            | beam.Filter(lambda d: d.text_source == "page")
            | beam.Map(lambda d: (d.text.splitlines(), d.site_name, d.language, d.url.removeprefix(base))),
            equal_to([(STORY, "Capital Times", "en", "/a.html")]),
            label="page text without navigation",
        )
        assert_that(
            read.dead_letters
            | beam.Map(lambda d: (d.source.removeprefix(base), d.stage, d.error_type, d.status, d.attempts)),
            equal_to([("/b.html", "page", "content_type", None, 1), ("/gone.html", "page", "http", 404, 1)]),
            label="dead letters",
        )


def test_a_broken_feed_is_one_dead_letter_and_never_stops_the_others(site: Site, tmp_path: Path) -> None:
    site.route("/a.html", Reply(200, article_page("Protesters arrested", STORY)))
    site.route(
        "/good.xml", Reply(200, atom([Item("Protesters arrested", "/a.html", published="2021-05-07T05:00:00Z")]))
    )
    site.route("/malformed.xml", Reply(200, b"<rss><channel><title>oops", RSS_TYPE))
    site.route("/error.xml", Reply(500))
    local = tmp_path / "local.xml"
    local.write_bytes(rss([Item("Local entry", None, summary="From a file on disk.", guid="g1")]))
    sources = [FeedSource(url=site.url(p)) for p in ("/good.xml", "/malformed.xml", "/error.xml", "/absent.xml")]
    sources.append(FeedSource(url=str(local), name="disk"))
    base = site.url("")
    p, read = read_feeds(sources)
    with p:
        assert_that(
            read.documents | beam.Map(lambda d: (d.source.removeprefix(base), d.text_source)),
            equal_to([("/a.html", "page"), (f"{local}#g1", "summary")]),
            label="documents",
        )
        assert_that(
            read.dead_letters | beam.Map(lambda d: (d.source.removeprefix(base), d.stage, d.error_type, d.status)),
            equal_to(
                [
                    ("/malformed.xml", "feed", "bad_feed", None),
                    ("/error.xml", "feed", "http", 500),
                    ("/absent.xml", "feed", "http", 404),
                ]
            ),
            label="dead letters",
        )
    assert len(site.hits("/error.xml")) == 2  # retried once, as configured


def test_one_page_linked_from_two_feeds_is_fetched_once(site: Site) -> None:
    site.route("/a.html", Reply(200, article_page("Protesters arrested", STORY)))
    site.route("/one.xml", Reply(200, rss([Item("Protesters arrested", "/a.html")]), RSS_TYPE))
    site.route("/two.xml", Reply(200, rss([Item("Arrests in the capital", "/a.html")]), RSS_TYPE))
    p, read = read_feeds([FeedSource(url=site.url("/one.xml")), FeedSource(url=site.url("/two.xml"))])
    with p:
        assert_that(
            read.documents | beam.Map(lambda d: d.title), equal_to(["Protesters arrested", "Arrests in the capital"])
        )
    assert len(site.hits("/a.html")) == 1


def test_pages_are_not_fetched_when_the_config_says_so(site: Site) -> None:
    site.route("/feed.xml", Reply(200, rss([Item("Protesters arrested", "/a.html", summary="Twelve held.")]), RSS_TYPE))
    p, read = read_feeds([FeedSource(url=site.url("/feed.xml"))], fetch_pages=False)
    with p:
        assert_that(
            read.documents | beam.Map(lambda d: (d.text, d.text_source)), equal_to([("Twelve held.", "summary")])
        )
    assert not site.hits("/a.html")


# -- end to end ------------------------------------------------------------------------------
def serve_seeds(site: Site) -> list[str]:
    """The seed articles as pages, in an RSS feed with relative links; returns their titles."""
    titles, items = [], []
    for n, path in enumerate(sorted(SEEDS.glob("*.txt"))):
        paragraphs = path.read_text(encoding="utf-8").splitlines()
        title = f"Afghanistan report {n}"
        site.route(f"/news/{n}.html", Reply(200, article_page(title, paragraphs)))
        items.append(Item(title, f"/news/{n}.html", summary=paragraphs[0]))
        titles.append(title)
    feed = rss(items)
    site.route(
        "/rss.xml",
        lambda r: (
            Reply(304) if r.headers.get("If-None-Match") == '"v1"' else Reply(200, feed, {**RSS_TYPE, "ETag": '"v1"'})
        ),
    )
    return titles


def run_feeds_config(tmp_path: Path, site: Site, *extra: str) -> int:
    """`newsbeam run` with a feeds config reading the site's /rss.xml into `tmp_path/output`."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"""
feeds:
  sources:
    - url: {site.url("/rss.xml")}
      name: test wire
      language: en
fetch:
  allowed_networks: [127.0.0.0/8]   # the test server is on loopback
  requests_per_second: 50
output:
  dir: {tmp_path / "output"}
events:
  taxonomy: {TAXONOMY}
beam:
  runner: FnApiRunner
""",
        encoding="utf-8",
    )
    return main(["run", "--config", str(config), "-q", *extra])


def test_a_feeds_config_writes_articles_entities_and_events_and_a_second_run_costs_a_304(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    titles = serve_seeds(site)
    assert run_feeds_config(tmp_path, site) == 0
    assert "read 2 = written 2 + duplicates 0 + dead letters 0 (ok)" in capsys.readouterr().out
    output = tmp_path / "output"
    articles = read_table(output, "articles")
    assert sorted(a["title"] for a in articles) == titles
    assert {(a["text_source"], a["feed"], a["source_format"]) for a in articles} == {("page", "test wire", "html")}
    assert all(a["published"] == "2021-05-07T05:00:00Z" for a in articles)  # the feed's time, in UTC
    assert all("Most read" not in a["text"] and "Copyright" not in a["text"] for a in articles)
    names = {e["name"] for e in read_table(output, "entities")}
    assert {"Kohistan", "Badakhshan", "Kandahar", "Panjwai", "Taliban"} <= names
    events = read_table(output, "events")
    seized = {e["location"] for e in events if e["event_type"] == "territory_taken"}
    assert {"Kohistan", "Panjwai"} <= seized
    state = [json.loads(line) for line in (output / "_state" / "feeds.jsonl").read_text().splitlines()]
    assert [(s["url"], s["etag"]) for s in state] == [(site.url("/rss.xml"), '"v1"')]

    assert run_feeds_config(tmp_path, site) == 0
    assert "read 0 = written 0" in capsys.readouterr().out
    first, second = site.hits("/rss.xml")
    assert "If-None-Match" not in first.headers and second.headers["If-None-Match"] == '"v1"'
    assert len(site.hits("/news/0.html")) == 1  # pages were not fetched again


def test_feed_flag_adds_a_feed_from_the_command_line(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_seeds(site)
    site.route("/more.xml", Reply(200, rss([Item("Extra", "/news/0.html")]), RSS_TYPE))
    assert run_feeds_config(tmp_path, site, "--feed", site.url("/more.xml")) == 0
    out = capsys.readouterr().out
    assert "read 3 = written 2 + duplicates 1 + dead letters 0 (ok)" in out  # same page, two feeds


def test_a_failed_run_does_not_remember_the_feed_as_seen(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validators are committed only after the run succeeded: otherwise the next run would get a
    304 for a feed whose entries were never written."""
    serve_seeds(site)
    original = beam.Pipeline.run

    def run_then_fail(self: beam.Pipeline, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs).wait_until_finish()
        raise RuntimeError("worker lost")

    monkeypatch.setattr(beam.Pipeline, "run", run_then_fail)
    assert run_feeds_config(tmp_path, site) == 1
    assert not (tmp_path / "output" / "_state" / "feeds.jsonl").exists()
    monkeypatch.undo()
    assert run_feeds_config(tmp_path, site) == 0
    assert "If-None-Match" not in site.hits("/rss.xml")[-1].headers


def test_an_empty_feed_is_reported_the_same_from_disk_and_over_http(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    site.route("/empty.xml", Reply(200, rss([]), RSS_TYPE))
    on_disk = tmp_path / "empty.xml"
    on_disk.write_bytes(atom([]))  # as saved: no content type to go by
    code = main(
        [
            "run", "--feed", site.url("/empty.xml"), "--feed", str(on_disk), "--output", str(tmp_path / "out"),
            "--set", "fetch.allowed_networks=[127.0.0.0/8]", "--runner=FnApiRunner",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "read 0 = written 0 + duplicates 0 + dead letters 0 (ok)" in out
    assert "  feeds         2 read with no entries (named in the log)" in out
    assert read_table(tmp_path / "out", "dead_letters") == []
    named = sorted(r.getMessage() for r in caplog.records if "has no entries" in r.getMessage())
    assert named == sorted(f"feed {url}: read, but it has no entries" for url in (site.url("/empty.xml"), str(on_disk)))
