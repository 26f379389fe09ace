"""Test inputs written by the tests themselves: good articles and every kind of bad input."""

from __future__ import annotations

import gzip
import json
import os
import random
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from transforms.clean import content_hash
from transforms.core.records import Article

ARTICLE = (
    "Protesters marched through the centre of Nairobi on Tuesday to demand lower fuel prices, "
    "and police arrested at least 12 people near the parliament building, officials said. "
    "The demonstration was organised by a coalition of unions and student groups.\n"
    "Witnesses said the march remained peaceful until the evening, when police fired tear gas "
    "at a crowd outside the central market."
)

HTML_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Police arrest protesters in Nairobi | Example News</title>
<link rel="canonical" href="https://news.example.com/africa/nairobi-protest?utm_source=rss&amp;id=7#comments">
<meta name="author" content="Jane Wanjiru">
<meta property="article:published_time" content="2024-03-05T18:30:00+03:00">
</head><body><nav><a href="/">Home</a> | <a href="/africa">Africa</a></nav>
<article><h1>Police arrest protesters in Nairobi</h1>
<p>{article}</p></article>
<section class="comments"><p>First comment: this is outrageous and I want it removed.</p></section>
<footer>Copyright 2024 Example News. All rights reserved.</footer></body></html>""".format(
    article=ARTICLE.replace("\n", "</p><p>")
)

NO_MAIN_TEXT_HTML = "<html><head><title>x</title><script>var a = 1;</script></head><body><nav>Home</nav></body></html>"


def article(article_id: str, text: str, url: Optional[str] = None, day: Optional[int] = None) -> Article:
    """A cleaned article as the clean stage would make it (published on 2024-01-<day> if given)."""
    published = datetime(2024, 1, day, tzinfo=timezone.utc) if day else None
    return Article(
        article_id=article_id,
        source=f"src/{article_id}",
        source_format="txt",
        url=url,
        title=None,
        author=None,
        published=published,
        language="en",
        text=text,
        word_count=len(text.split()),
        content_hash=content_hash(text),
        text_source="file",
        feed=None,
        site_name=None,
    )


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def good_inputs(directory: Path) -> dict[str, Path]:
    """One good input per format: .txt, .txt.gz, .html, .json (array) and .jsonl."""
    record = {
        "url": "https://wire.example.org/story/42?utm_medium=feed",
        "title": "Fuel protest",
        "text": ARTICLE.replace("Nairobi", "Mombasa"),
        "published": "2024-03-06T08:00:00Z",
    }
    return {
        "txt": write(directory / "story.txt", ARTICLE),
        "gz": write(directory / "story2.txt.gz", gzip.compress(ARTICLE.replace("Tuesday", "Monday").encode())),
        "html": write(directory / "page.html", HTML_PAGE),
        "json": write(directory / "records.json", json.dumps([record])),
        "jsonl": write(
            directory / "records.jsonl",
            json.dumps(
                {**record, "url": "https://wire.example.org/story/43", "text": ARTICLE.replace("Nairobi", "Kisumu")}
            )
            + "\n",
        ),
    }


def bad_inputs(directory: Path) -> dict[str, Path]:
    """Each is exactly one dead letter: name -> path (the JSONL file also holds one good line)."""
    rng = random.Random(7)
    good_line = json.dumps({"text": ARTICLE.replace("Nairobi", "Nakuru"), "url": "https://example.net/a"})
    return {
        "empty": write(directory / "empty.txt", ""),
        "binary": write(directory / "binary.txt", bytes(rng.randrange(256) for _ in range(4096)) + b"\x00"),
        "latin1": write(directory / "latin1.txt", ("Le café est fermé. " * 20).encode("latin-1")),
        "cp1256": write(
            directory / "arabic.txt", ("قال مسؤولون إن قوات الأمن انسحبت من المنطقة. " * 10).encode("cp1256")
        ),
        "oversized": write(directory / "oversized.txt", "word " * 60_000),
        "malformed_json": write(directory / "mixed.jsonl", good_line + '\n{"text": "unterminated\n'),
        "no_main_text": write(directory / "empty-page.html", NO_MAIN_TEXT_HTML),
    }


def special_files(folder: Path) -> dict[str, str]:
    """Everything in a folder that is not a regular file, made there: source -> its dead letter's reason."""
    folder.mkdir(parents=True, exist_ok=True)
    os.mkfifo(folder / "pipe.txt")  # opening it would wait for a writer forever
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(folder / "socket.txt"))
    (folder / "device.txt").symlink_to("/dev/zero")  # a device never ends
    (folder / "dangling.txt").symlink_to("gone.txt")
    (folder / "loop1.txt").symlink_to("loop2.txt")
    (folder / "loop2.txt").symlink_to("loop1.txt")
    return {
        str(folder / "pipe.txt"): "not a regular file (a named pipe): not read",
        str(folder / "socket.txt"): "not a regular file (a socket): not read",
        str(folder / "device.txt"): "not a regular file (a character device): not read",
        str(folder / "dangling.txt"): "a broken symbolic link (to gone.txt, which does not exist): not read",
        str(folder / "loop1.txt"): "a symbolic link loop: not read",
        str(folder / "loop2.txt"): "a symbolic link loop: not read",
    }


JAPANESE = "東京で警察が抗議デモの参加者を逮捕した。政府は治安部隊が市内の主要な道路を封鎖したと述べた。"
RUSSIAN = "Полиция задержала участников акции протеста в центре города. Власти перекрыли главные улицы."
# Legacy encodings real feeds and pages still use, often without declaring them.
LEGACY = [("euc-jp", JAPANESE), ("shift_jis", JAPANESE), ("koi8-r", RUSSIAN), ("windows-1251", RUSSIAN)]
