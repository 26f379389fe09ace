"""Parsers from file bytes to `RawDocument`s, one per supported format. Pure functions.

Failures raise `Rejected` with a reason meant for the person reading the dead-letter table.
"""

from __future__ import annotations

import codecs
import json
import posixpath
import re
from collections.abc import Iterable, Iterator
from typing import Any, Optional

import trafilatura
from trafilatura.settings import Document

from transforms.core.dead_letters import Rejected
from transforms.core.records import RawDocument
from transforms.read import deep_html

# Extension (after any compression suffix) -> format.
FORMATS = {
    ".txt": "txt",
    ".text": "txt",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
# Beam's file IO decompresses these transparently (CompressionTypes.AUTO).
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".deflate", ".zst", ".zstd", ".xz", ".lzma")

# JSON record fields: the first key present wins.
TEXT_KEYS = ("text", "body", "content")
TITLE_KEYS = ("title", "headline")
URL_KEYS = ("url", "link")
PUBLISHED_KEYS = ("published", "published_at", "date", "pubDate", "datePublished")
AUTHOR_KEYS = ("author", "authors", "byline")

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# trafilatura date extraction: keep the time and offset, prefer the original publication date.
_HTML_LANG = re.compile(rb"<html\b[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)", re.IGNORECASE)
SHORT_WORDS = 150  # main texts shorter than this are checked against the fallback extractors
_DATE_PARAMS = {"outputformat": "%Y-%m-%dT%H:%M:%S%z", "original_date": True, "extensive_search": True}


def format_of(path: str) -> str:
    """The format of `path` from its extension, ignoring a compression suffix."""
    name = posixpath.basename(path).lower()
    for suffix in COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    ext = posixpath.splitext(name)[1]
    if ext not in FORMATS:
        shown = f"'{ext}'" if ext else "no extension"
        raise Rejected(
            f"unsupported file type ({shown}); newsbeam reads {', '.join(sorted(set(FORMATS)))} (optionally compressed)"
        )
    return FORMATS[ext]


def _bom_codec(data: bytes) -> Optional[str]:
    """The codec named by a byte-order mark at the start of `data`, if any."""
    return next((codec for bom, codec in _BOMS if data.startswith(bom)), None)


def check_text_bytes(data: bytes) -> None:
    """Reject empty and binary content (NUL bytes or more than 2% control characters)."""
    if not data.strip():
        raise Rejected("empty file")
    if _bom_codec(data):
        return
    sample = data[:8192]
    controls = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 12, 13))
    if b"\x00" in sample or controls > len(sample) * 0.02:
        raise Rejected("binary content, not text", detail=repr(sample[:60]))


def decode(data: bytes, encoding: str) -> str:
    """Bytes to text: empty, binary or undecodable input is rejected, never guessed at."""
    check_text_bytes(data)
    codec = _bom_codec(data)
    if codec:
        return data.decode(codec)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise Rejected(
            f"not valid {encoding} (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "set input.encoding if the files use another encoding",
            detail=repr(data[max(0, exc.start - 30) : exc.start + 30]),
        ) from None


def text_document(source: str, text: str) -> RawDocument:
    return RawDocument(source=source, source_format="txt", text=text)


def html_document(source: str, data: bytes) -> RawDocument:
    """Main text and metadata of an HTML page (`extract_main_text`); comments and navigation are
    dropped, and a page with no main text is a dead letter rather than an article made of links."""
    check_text_bytes(data)
    extracted = extract_main_text(data)
    text = (extracted.text or "").strip() if extracted else ""
    if not text and (flat := deep_html.flatten(data)) is not None:  # nested deeper than lxml parses
        extracted = extract_main_text(flat)
        text = (extracted.text or "").strip() if extracted else ""
    if not extracted or not text:
        raise Rejected("no main text found in the HTML page")
    title = extracted.title
    first, _, rest = text.partition("\n")
    if title and first.strip() == title.strip() and rest.strip():
        text = rest  # trafilatura repeats the headline as the first line
    return RawDocument(
        source=source,
        source_format="html",
        text=text,
        url=extracted.url,
        title=title,
        author=extracted.author,
        published=extracted.date,
        site_name=extracted.sitename,
        language=_html_language(data),
    )


def extract_main_text(data: bytes) -> Optional[Document]:
    """trafilatura in precision mode without its fallback extractors, which scored best on real
    news pages (`python -m bench.extraction`, docs/benchmarks.md); when that finds nothing or
    fewer than `SHORT_WORDS` words, which is where it keeps a navigation block or a teaser instead
    of the article, trafilatura's default mode with its fallback extractors is tried too, and its
    text wins when it is at least twice as long."""
    precise = trafilatura_extract(data, favor_precision=True, fast=True)
    words = len(precise.text.split()) if precise is not None and precise.text else 0
    if words >= SHORT_WORDS:
        return precise
    fallback = trafilatura_extract(data, fast=False)
    if fallback is not None and fallback.text and len(fallback.text.split()) >= 2 * max(words, 1):
        return fallback
    return precise


def trafilatura_extract(
    data: bytes, favor_precision: bool = False, favor_recall: bool = False, fast: bool = False
) -> Optional[Document]:
    """trafilatura's main text and metadata in one of its modes (`fast`: without the fallback
    extractors), comments left out."""
    extracted = trafilatura.bare_extraction(
        data,
        with_metadata=True,
        include_comments=False,
        favor_precision=favor_precision,
        favor_recall=favor_recall,
        fast=fast,
        date_extraction_params=_DATE_PARAMS,
    )
    return extracted if isinstance(extracted, Document) else None


def _html_language(data: bytes) -> Optional[str]:
    """The language the page declares on its <html> element (`lang="en-GB"` -> `en-GB`)."""
    found = _HTML_LANG.search(data[:8192])
    return found.group(1).decode("ascii") if found else None


def split_lines(chunks: Iterable[bytes], max_bytes: int) -> Iterator[tuple[int, Optional[bytes]]]:
    """(1-based line number, line) for each line of a stream of byte chunks; the line is None
    when it is longer than `max_bytes` (it is skipped, never held in memory whole)."""
    number, partial, oversized = 0, b"", False
    for chunk in chunks:
        *complete, partial = (partial + chunk).split(b"\n")
        for line in complete:
            number += 1
            too_long = oversized or len(line) > max_bytes
            oversized = False
            yield number, None if too_long else line
        if len(partial) > max_bytes:
            partial, oversized = b"", True
    if partial or oversized:
        yield number + 1, None if oversized else partial


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Rejected(
            f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", detail=text[:200]
        ) from None


def _first(record: dict[str, Any], keys: tuple[str, ...]) -> Optional[str]:
    for key in keys:
        value = record.get(key)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value if v)
        if value not in (None, ""):
            return str(value)
    return None


def record_document(source: str, record: Any) -> RawDocument:
    """A JSON record with a text field (and optional url, title, published, author)."""
    if not isinstance(record, dict):
        raise Rejected(f"JSON record is a {type(record).__name__}, not an object", detail=str(record)[:200])
    text = _first(record, TEXT_KEYS)
    if text is None:
        raise Rejected(
            f"JSON record has no text (expected one of: {', '.join(TEXT_KEYS)})",
            detail=", ".join(sorted(record))[:200],
        )
    return RawDocument(
        source=source,
        source_format="json",
        text=text,
        url=_first(record, URL_KEYS),
        title=_first(record, TITLE_KEYS),
        author=_first(record, AUTHOR_KEYS),
        published=_first(record, PUBLISHED_KEYS),
    )
