"""Re-driving dead letters: `newsbeam run` over the dead_letters table reads again the inputs it
names; what now succeeds is written under its original source and id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import read_table, run_cli
from tests.fixtures import ARTICLE, write
from tests.pipeline.test_hostile import story
from transforms.testing.sites import Item, Reply, Site, article_page, rss


def test_a_run_over_dead_letters_reprocesses_what_can_now_succeed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in"
    write(inputs / "good.txt", ARTICLE)
    empty = write(inputs / "empty.txt", "")
    lines = write(inputs / "lines.jsonl", json.dumps({"text": story(1)}) + '\n{"text": "unterminated\n')
    short = write(inputs / "short.txt", "Too short to keep.")
    assert run_cli("--input", str(inputs), "--output", str(tmp_path / "first")) == 0
    first = {row["source"]: row["stage"] for row in read_table(tmp_path / "first", "dead_letters")}
    assert first == {str(empty): "read", f"{lines}#L2": "read", str(short): "clean"}
    capsys.readouterr()

    write(empty, story(2))  # the causes are fixed, but for short.txt
    write(lines, json.dumps({"text": story(1)}) + "\n" + json.dumps({"text": story(3)}) + "\n")
    letters = tmp_path / "first" / "jsonl" / "dead_letters"
    assert run_cli("--input", str(letters), "--output", str(tmp_path / "again")) == 0
    assert "read 3 = written 2 + duplicates 0 + dead letters 1 (ok)" in capsys.readouterr().out
    again = {row["source"]: row["article_id"] for row in read_table(tmp_path / "again", "articles")}
    assert set(again) == {str(empty), f"{lines}#L2"}  # the original sources, not the dead-letter file's
    assert [row["source"] for row in read_table(tmp_path / "again", "dead_letters")] == [str(short)]

    assert run_cli("--input", str(inputs), "--output", str(tmp_path / "clean")) == 0  # a run over the fixed files
    clean = {row["source"]: row["article_id"] for row in read_table(tmp_path / "clean", "articles")}
    assert all(clean[source] == article_id for source, article_id in again.items())  # the same ids


def test_dead_letters_of_feeds_and_database_rows_say_what_re_drives_them(tmp_path: Path) -> None:
    letters = write(
        tmp_path / "letters" / "part.jsonl",
        "".join(
            json.dumps(row) + "\n"
            for row in [
                {
                    "dead_letter_id": "1",
                    "source": "https://news.example.org/rss",
                    "stage": "feed",
                    "reason": "HTTP 503",
                },
                {"dead_letter_id": "2", "source": "articles:abc", "stage": "postgres", "reason": "refused"},
                {"dead_letter_id": "3", "source": str(tmp_path / "gone.txt"), "stage": "read", "reason": "empty file"},
                {
                    "dead_letter_id": "4",
                    "source": "https://news.example.org/rss#guid-7",
                    "stage": "clean",
                    "reason": "short",
                },
            ]
        ),
    )
    assert run_cli("--input", str(letters), "--output", str(tmp_path / "out")) == 0
    reasons = {row["source"]: row["reason"] for row in read_table(tmp_path / "out", "dead_letters")}
    assert reasons["https://news.example.org/rss"].startswith("re-drive: feeds and their link-less entries are read")
    assert reasons["https://news.example.org/rss#guid-7"] == reasons["https://news.example.org/rss"]
    assert reasons["articles:abc"].startswith("re-drive: a row PostgreSQL refused")
    assert reasons[str(tmp_path / "gone.txt")] == "file not found (moved or deleted since it was listed?)"


def test_a_run_over_dead_letters_fetches_failed_pages_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loopback = ("--set", "fetch.allowed_networks=[127.0.0.0/8]", "--set", "fetch.retries=0")
    with Site() as site:
        site.route(
            "/rss.xml",
            Reply(
                200,
                rss([Item("Talks", "/talks.html"), Item("Quake", "/quake.html")]),
                {"Content-Type": "application/rss+xml"},
            ),
        )
        site.route("/talks.html", Reply(200, article_page("Talks", [story(1)])))
        site.route("/quake.html", Reply(503))
        assert run_cli("--feed", site.url("/rss.xml"), "--output", str(tmp_path / "first"), *loopback) == 0
        letters = read_table(tmp_path / "first", "dead_letters")
        assert [(row["source"], row["stage"]) for row in letters] == [(site.url("/quake.html"), "page")]
        capsys.readouterr()

        site.route("/quake.html", Reply(200, article_page("Quake", [story(2)])))  # the server is back
        assert (
            run_cli(
                "--input",
                str(tmp_path / "first" / "jsonl" / "dead_letters"),
                "--output",
                str(tmp_path / "again"),
                *loopback,
            )
            == 0
        )
        assert "read 1 = written 1 + duplicates 0 + dead letters 0 (ok)" in capsys.readouterr().out
        (article,) = read_table(tmp_path / "again", "articles")
        assert (article["source"], article["title"], article["text_source"]) == (
            site.url("/quake.html"),
            "Quake",
            "page",
        )
        assert len(site.hits("/quake.html")) == 2 and len(site.hits("/rss.xml")) == 1  # the page, not the feed
