"""A hostile corpus, generated here: files and feeds built to break a parser. Every input ends as
an article, a duplicate or a dead letter with a reason; the run finishes and its accounting
balances."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.tables import read_tables
from tests.conftest import TAXONOMY
from tests.fixtures import ARTICLE, special_files, write
from transforms.testing.sites import Item, Reply, Site, article_page, rss

RSS_TYPE = {"Content-Type": "application/rss+xml"}
BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
    b'<rss version="2.0"><channel><title>&lol4;</title><item><title>&lol4;</title></item></channel></rss>'
)
ABSURD_DATES = [
    "Sat, 01 Jan 0000 00:00:00 +0000",
    "Fri, 31 Dec 9999 23:59:59 +0000",
    "Mon, 07 May 2021 09:30:00 +2500",
    "yesterday-ish",
    "",
]


def story(n: int) -> str:
    """A distinct article of ARTICLE's length (so each is written, not a near-duplicate)."""
    rng = random.Random(n)
    words = ARTICLE.split()
    rng.shuffle(words)
    return f"Report number {n} from the wire. " + " ".join(words)


def hostile_files(folder: Path) -> dict[str, Path]:
    rng = random.Random(9)
    gz_story = gzip.compress(story(1).encode())
    nested = "<html><body>" + "<div>" * 100_000 + f"<p>{story(2)}</p>" + "</div>" * 100_000 + "</body></html>"
    return {
        "random bytes .txt": write(folder / "noise.txt", bytes(rng.randrange(256) for _ in range(20_000))),
        "random bytes .html": write(folder / "noise.html", bytes(rng.randrange(256) for _ in range(20_000))),
        "random bytes .jsonl": write(folder / "noise.jsonl", bytes(rng.randrange(256) for _ in range(20_000))),
        "truncated gzip": write(folder / "cut.txt.gz", gz_story[: len(gz_story) // 2]),
        "concatenated gzip": write(folder / "two.txt.gz", gzip.compress(story(3).encode()) + gzip.compress(b" more")),
        "deeply nested html": write(folder / "nested.html", nested),
        "scripts only": write(
            folder / "scripts.html",
            "<html><head><script>"
            + "var a=1;" * 5000
            + "</script></head><body><script>alert(1)</script></body></html>",
        ),
        "zero-width and rtl": write(
            folder / "marks.txt", story(4).replace(" ", " \u200b", 40).replace("wire", "\u202ewire\u202c")
        ),
        "mixed encodings": write(
            folder / "mixed.txt", story(5).encode() + " café ".encode("latin-1") + story(6).encode()
        ),
        "absurd dates": write(
            folder / "dates.jsonl",
            "".join(
                json.dumps({"text": story(10 + i), "published": date, "url": f"https://example.org/d{i}"}) + "\n"
                for i, date in enumerate(["0000-01-01", "9999-12-31T23:59:59+25:00", "year 0", "-0001-01-01", 1e300])
            ),
        ),
        "a copy": write(folder / "copy.txt", story(4).replace(" ", " \u200b", 40).replace("wire", "\u202ewire\u202c")),
    }


def hostile_site(site: Site) -> list[str]:
    """Feeds that attack the parser or the fetcher; their URLs."""
    site.route("/bomb.xml", Reply(200, BOMB, RSS_TYPE))
    many = [Item(f"Item {n}", None, summary=None if n % 2 else f"Short note {n}.", guid=f"g{n}") for n in range(3000)]
    site.route("/many.xml", Reply(200, rss(many), RSS_TYPE))
    odd = [
        Item("A PDF", "/report.pdf", summary=story(20)),
        Item("An image", "/photo.jpg"),
        *(Item(f"Dated {i}", f"/dated{i}.html", published=date) for i, date in enumerate(ABSURD_DATES)),
    ]
    site.route("/odd.xml", Reply(200, rss(odd), RSS_TYPE))
    site.route("/report.pdf", Reply(200, b"%PDF-1.4 " + b"0" * 5000, {"Content-Type": "application/pdf"}))
    site.route("/photo.jpg", Reply(200, b"\xff\xd8\xff" + b"0" * 5000, {"Content-Type": "image/jpeg"}))
    for i in range(len(ABSURD_DATES)):
        site.route(f"/dated{i}.html", Reply(200, article_page(f"Dated {i}", [story(30 + i)])))
    shared = [Item("Shared guid", None, summary=story(40), guid="same-guid")]  # one guid in two feeds
    site.route("/a.xml", Reply(200, rss(shared), RSS_TYPE))
    site.route("/b.xml", Reply(200, rss(shared), RSS_TYPE))
    return [site.url(p) for p in ("/bomb.xml", "/many.xml", "/odd.xml", "/a.xml", "/b.xml")]


@pytest.mark.slow
def test_every_hostile_input_is_accounted_for_and_the_run_finishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = hostile_files(tmp_path / "in")
    special = special_files(tmp_path / "in")  # pipes, sockets, devices, broken links, loops
    with Site() as site:
        feeds = hostile_site(site)
        config = tmp_path / "hostile.yaml"
        config.write_text(
            json.dumps(
                {
                    "input": {"paths": [str(tmp_path / "in")]},
                    "feeds": {"sources": [{"url": url, "language": "en"} for url in feeds]},
                    "fetch": {"allowed_networks": ["127.0.0.0/8"], "requests_per_second": 100, "retries": 0},
                    "output": {"dir": str(tmp_path / "out")},
                    "events": {"taxonomy": str(TAXONOMY)},
                    "beam": {"runner": "FnApiRunner"},
                }
            ),
            encoding="utf-8",
        )
        code = main(["run", "--config", str(config), "-q"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "(ok)" in out, out
    tables = read_tables(tmp_path / "out")
    sources = {row["source"] for name in ("articles", "duplicates", "dead_letters") for row in tables[name]}
    for what, path in files.items():
        assert any(s == str(path) or s.startswith(f"{path}#") for s in sources), f"{what} ({path}) vanished"
    letters = {row["source"]: row for row in tables["dead_letters"]}
    assert all(row["reason"] and row["stage"] for row in letters.values())
    assert {source: letters[source]["reason"] for source in special} == special
    assert any("entit" in row["reason"].lower() for src, row in letters.items() if src.endswith("bomb.xml"))
    assert letters[str(files["truncated gzip"])]["stage"] == "read"
    assert any(src.endswith("/report.pdf") and "application/pdf" in row["reason"] for src, row in letters.items())
    written = {row["source"] for row in tables["articles"]}
    assert str(files["deeply nested html"]) in written  # its story, below 100,000 tags
    assert letters[str(files["mixed encodings"])]["reason"].startswith("not valid utf-8 (byte 0xe9 at offset")
    assert str(files["zero-width and rtl"]) in written or str(files["a copy"]) in written
    shared = sorted(
        (name, row["source"].split("/")[-1])
        for name in ("articles", "duplicates")
        for row in tables[name]
        if row["source"].endswith("#same-guid")
    )
    assert [name for name, _ in shared] == ["articles", "duplicates"]  # one guid, two feeds: one story
    dates = [row["published"] for row in tables["articles"]]
    assert all(d is None or "0000" < d[:4] <= "9999" for d in dates)
    many = [row for row in tables["dead_letters"] if "many.xml#" in row["source"]]
    assert len(many) == 3000  # none vanish; opaque GUIDs are not fetched as pages
    assert {row["stage"] for row in many} == {"page", "clean"}  # no text at all | too short
