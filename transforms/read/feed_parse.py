"""Feed bytes -> `FeedEntry`s (feedparser: RSS 0.9x/1.0/2.0, Atom, RDF). Pure functions.

feedparser is lenient: it sets `bozo` for harmless problems (a wrong content type, an undeclared
encoding) and still returns entries. A feed is rejected only when it is no RSS, Atom or RDF feed
at all, or when it declares XML entities, which no real feed needs and which entity-expansion
attacks use. A feed with no entries is a feed: the caller reports it.

Feeds that declare no encoding are decoded by what the bytes look like (chardet, which feedparser
uses when it is installed: EUC-JP, Shift-JIS, KOI8-R, Windows-1251...). A feed file from disk is
parsed as `application/xml`, as a server would label it; without a content type feedparser takes
undeclared bytes for ISO-8859-1.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, Optional
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.etree
import lxml.html

from transforms.core.dead_letters import Rejected
from transforms.core.records import FeedEntry
from transforms.core.settings import FeedSource

# An internal DTD subset that declares an entity: `<!DOCTYPE rss [ <!ENTITY a "..."> ]>`.
_ENTITY_DECLARATION = re.compile(rb"<!DOCTYPE[^\[>]*\[[^\]]*<!ENTITY", re.IGNORECASE)
# What feedparser flags in feeds it read whole: a content type or an encoding it overrode.
_HARMLESS = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)
# Elements after which the text of an HTML fragment starts a new line.
_BLOCKS = (
    "p",
    "div",
    "br",
    "li",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "section",
    "article",
    "figcaption",
    "dd",
    "dt",
)


def parse_feed(data: bytes, url: str, content_type: Optional[str] = None) -> Any:
    """feedparser's result for the feed `data` fetched from `url` (the base of relative links)."""
    if _ENTITY_DECLARATION.search(data[:65536]):
        raise Rejected(
            "the feed declares XML entities; refused as a possible entity-expansion attack",
            error_type="bad_feed",
            detail=data[:200].decode("utf-8", "replace"),
        )
    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    parsed = feedparser.parse(data, response_headers=headers, sanitize_html=True, resolve_relative_uris=True)
    problem = parsed.get("bozo_exception")
    if not parsed.entries and (not parsed.get("version") or (problem and not isinstance(problem, _HARMLESS))):
        raise Rejected(
            f"not a readable feed ({type(problem).__name__}: {problem})" if problem else "not an RSS, Atom or RDF feed",
            error_type="bad_feed",
            detail=data[:200].decode("utf-8", "replace"),
        )
    return parsed


def feed_entries(source: FeedSource, parsed: Any, base_url: str) -> Iterator[FeedEntry]:
    """One `FeedEntry` per entry of a parsed feed; links resolved against `base_url`."""
    language = source.language or parsed.feed.get("language") or None
    for index, entry in enumerate(parsed.entries):
        url = entry_link(entry, base_url)
        guid = entry.get("id") or None
        yield FeedEntry(
            source=url or f"{source.url}#{guid or index}",
            feed=source.feed_id,
            url=url,
            title=html_text(entry.get("title")),
            summary=_longest_text(entry),
            published=_utc_iso(entry.get("published_parsed") or entry.get("updated_parsed")),
            language=language,
        )


def entry_link(entry: Any, base_url: str) -> Optional[str]:
    """The entry's absolute link; a GUID that is an absolute URL when there is no link (an opaque
    GUID such as `g5` or `tag:...` is an identifier, not a page to fetch: it is never resolved
    against the feed's URL)."""
    candidates = [entry.get("link")] + [link.get("href") for link in entry.get("links", [])]
    for candidate in candidates:
        if not candidate or not candidate.strip():
            continue
        absolute = urljoin(base_url, candidate.strip())
        if urlsplit(absolute).scheme in ("http", "https"):
            return absolute
    guid = (entry.get("id") or "").strip()
    return guid if urlsplit(guid).scheme in ("http", "https") and urlsplit(guid).netloc else None


def _longest_text(entry: Any) -> Optional[str]:
    """Plain text of the entry's longest body: full content (`content:encoded`) or summary."""
    bodies = [content.get("value") for content in entry.get("content", [])] + [entry.get("summary")]
    texts = [text for text in map(html_text, bodies) if text]
    return max(texts, key=len) if texts else None


def html_text(fragment: Optional[str]) -> Optional[str]:
    """Plain text of an HTML fragment: one line per block element, whitespace collapsed."""
    if not fragment or not fragment.strip():
        return None
    text = fragment
    if "<" in fragment:
        try:
            root = lxml.html.fragment_fromstring(fragment, create_parent="div")
        except (lxml.etree.ParserError, ValueError):
            root = None
        if root is not None:
            for element in root.iter(*_BLOCKS):
                element.tail = "\n" + (element.tail or "")
            text = root.text_content()
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line) or None


def _utc_iso(parsed: Optional[time.struct_time]) -> Optional[str]:
    """feedparser's UTC struct_time as ISO 8601; None when absent or impossible."""
    if not parsed:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=timezone.utc).isoformat()
    except (TypeError, ValueError):
        return None
