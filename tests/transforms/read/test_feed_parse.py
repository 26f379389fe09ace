"""Feed parsing: RSS 2.0, Atom, RDF, relative links, encodings, malformed and hostile feeds."""

from __future__ import annotations

import time

import pytest

from tests.fixtures import LEGACY
from transforms.core.dead_letters import Rejected
from transforms.core.settings import FeedSource
from transforms.read.feed_parse import feed_entries, html_text, parse_feed
from transforms.testing.sites import Item, atom, rdf, rss

BASE = "http://news.example.org/feeds/world.xml"
SOURCE = FeedSource(url=BASE, name="world")


def entries(data: bytes, source: FeedSource = SOURCE, content_type: str = "application/xml") -> list:
    return list(feed_entries(source, parse_feed(data, source.url, content_type), source.url))


def test_rss2_entries_carry_link_title_text_utc_time_and_feed() -> None:
    (entry,) = entries(
        rss(
            [
                Item(
                    "Taliban seize district",
                    "http://news.example.org/a/1",
                    summary="<p>Fighters took <b>Kohistan</b>.</p><p>Police withdrew.</p>",
                    published="Fri, 07 May 2021 09:30:00 +0430",
                )
            ]
        )
    )
    assert entry.url == "http://news.example.org/a/1" and entry.source == entry.url
    assert entry.title == "Taliban seize district"
    assert entry.summary == "Fighters took Kohistan.\nPolice withdrew."
    assert entry.published == "2021-05-07T05:00:00+00:00"  # +04:30 converted to UTC
    assert entry.feed == "world"


def test_atom_and_rdf_feeds_give_the_same_entries() -> None:
    item = Item(
        "Protest in the capital",
        "http://news.example.org/a/2",
        summary="Thousands marched.",
        published="2021-05-07T05:00:00Z",
    )
    (from_atom,) = entries(atom([item]))
    (from_rdf,) = entries(rdf([item]))
    for entry in (from_atom, from_rdf):
        assert (entry.url, entry.title, entry.summary, entry.published) == (
            "http://news.example.org/a/2",
            "Protest in the capital",
            "Thousands marched.",
            "2021-05-07T05:00:00+00:00",
        )


def test_relative_links_resolve_against_the_feed_url() -> None:
    got = entries(rss([Item("a", "/a/1"), Item("b", "b/2"), Item("c", "https://other.example/c")]))
    assert [e.url for e in got] == [
        "http://news.example.org/a/1",
        "http://news.example.org/feeds/b/2",
        "https://other.example/c",
    ]


def test_entry_without_link_uses_a_url_guid_or_keeps_its_text() -> None:
    got = entries(
        rss(
            [
                Item("guid", None, summary="text", guid="http://news.example.org/a/9"),
                Item("none", None, summary="only text", guid="tag:x,2021:1"),
                Item("mail", "mailto:desk@example.org", summary="text"),
                Item("opaque", None, summary="text", guid="g5"),
            ]
        )
    )
    assert got[0].url == "http://news.example.org/a/9"
    assert got[1].url is None and got[1].source == f"{BASE}#tag:x,2021:1" and got[1].summary == "only text"
    assert got[2].url is None  # not an http(s) link
    assert got[3].url is None and got[3].source == f"{BASE}#g5"  # an identifier, not a page beside the feed


def test_a_non_utf8_feed_is_decoded_by_its_declared_encoding() -> None:
    data = rss(
        [Item("Café in São Tomé reopens", "http://x.example/a", summary="Señor Muñoz said")], encoding="iso-8859-1"
    )
    assert b"Caf\xe9" in data
    (entry,) = entries(data, content_type="text/xml; charset=iso-8859-1")
    assert entry.title == "Café in São Tomé reopens" and entry.summary == "Señor Muñoz said"


def undeclared_feed(encoding: str, text: str) -> bytes:
    """An RSS feed in a legacy encoding that declares none (no XML declaration, no charset)."""
    return (
        f'<rss version="2.0"><channel><title>Wire</title><item><title>{text[:16]}</title>'
        f"<description>{text}</description><link>http://x.example/1</link></item></channel></rss>"
    ).encode(encoding)


@pytest.mark.parametrize("encoding, text", LEGACY)
@pytest.mark.parametrize("content_type", [None, "application/rss+xml", "text/xml"])  # None: a file on disk
def test_a_feed_in_a_legacy_encoding_without_a_declaration_is_decoded_right(
    encoding: str, text: str, content_type: str | None
) -> None:
    (entry,) = list(feed_entries(SOURCE, parse_feed(undeclared_feed(encoding, text), BASE, content_type), BASE))
    assert (entry.title, entry.summary) == (text[:16], text)


def test_the_feed_language_is_the_default_of_its_entries() -> None:
    data = rss([Item("a", "http://x.example/a")]).replace(
        b"<description>x", b"<language>fr-FR</language><description>x"
    )
    assert entries(data)[0].language == "fr-FR"
    assert entries(data, FeedSource(url=BASE, language="en"))[0].language == "en"


def test_malformed_feed_with_no_entries_is_rejected_but_a_sloppy_one_is_read() -> None:
    with pytest.raises(Rejected, match="not a readable feed") as caught:
        parse_feed(b"<rss><channel><title>broken", BASE)
    assert caught.value.error_type == "bad_feed"
    with pytest.raises(Rejected, match="not a readable feed"):
        parse_feed(b"<html><body>This is a web page, not a feed</body></html>", BASE, "text/html")
    with pytest.raises(Rejected, match="^not an RSS, Atom or RDF feed$"):
        parse_feed(b'<?xml version="1.0"?><inventory><part>no feed</part></inventory>', BASE)
    sloppy = rss([Item("a", "http://x.example/a")]).replace(b"</channel></rss>", b"")  # truncated end
    assert [e.title for e in entries(sloppy)] == ["a"]


def test_entity_expansion_is_refused_before_parsing() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            b'<!ENTITY %s "%s">' % (b"b%d" % n, (b"&a;" if n == 0 else b"&b%d;" % (n - 1)) * 10) for n in range(9)
        )
        + b']><rss version="2.0"><channel><title>&b8;</title></channel></rss>'
    )
    started = time.monotonic()
    with pytest.raises(Rejected, match="declares XML entities"):
        parse_feed(bomb, BASE)
    assert time.monotonic() - started < 1


def test_invalid_dates_are_left_empty() -> None:
    (entry,) = entries(rss([Item("a", "http://x.example/a", published="Someday, 99 Foo 0000 25:61:00 +2500")]))
    assert entry.published is None


def test_html_text() -> None:
    assert html_text("<p>One <i>two</i></p><p>three<br>four</p>") == "One two\nthree\nfour"
    assert html_text("  plain   text ") == "plain text"
    assert html_text("") is None and html_text("<p> </p>") is None


@pytest.mark.parametrize("feed", [rss([]), atom([]), rdf([])], ids=["rss", "atom", "rdf"])
@pytest.mark.parametrize("content_type", [None, "application/rss+xml"])  # None: a file on disk
def test_a_feed_without_entries_is_a_feed_not_an_error(feed: bytes, content_type: str | None) -> None:
    parsed = parse_feed(feed, BASE, content_type)
    assert parsed.version and parsed.entries == []
