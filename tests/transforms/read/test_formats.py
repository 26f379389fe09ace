"""Parsing file bytes into raw documents (pure functions)."""

from __future__ import annotations

import codecs

import pytest
from trafilatura.settings import Document

from tests.fixtures import ARTICLE, HTML_PAGE, LEGACY, NO_MAIN_TEXT_HTML
from transforms.core.dead_letters import Rejected
from transforms.read import deep_html, formats


@pytest.mark.parametrize(
    "path, kind",
    [
        ("a.txt", "txt"),
        ("a.TXT", "txt"),
        ("a.html", "html"),
        ("a.htm", "html"),
        ("a.json", "json"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("gs://b/a.txt.gz", "txt"),
        ("a.jsonl.zst", "jsonl"),
    ],
)
def test_format_from_extension(path: str, kind: str) -> None:
    assert formats.format_of(path) == kind


@pytest.mark.parametrize("path", ["a.pdf", "README", "a.gz"])
def test_unsupported_extension_is_rejected_with_the_list_of_formats(path: str) -> None:
    with pytest.raises(Rejected, match=r"unsupported file type .*\.jsonl"):
        formats.format_of(path)


def test_decode_utf8_and_byte_order_marks() -> None:
    assert formats.decode("café".encode(), "utf-8") == "café"
    assert formats.decode(codecs.BOM_UTF8 + "café".encode(), "utf-8") == "café"
    assert formats.decode(codecs.BOM_UTF16_LE + "café".encode("utf-16-le"), "utf-8") == "café"


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty file"),
        (b"  \n\t ", "empty file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary content"),
        ("Le café est fermé".encode("latin-1"), "not valid utf-8 (byte 0xe9 at offset 6)"),
        ("قوات الأمن".encode("cp1256"), "not valid utf-8"),
    ],
)
def test_decode_rejects_what_it_cannot_read(data: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as rejected:
        formats.decode(data, "utf-8")
    assert reason in rejected.value.reason


def test_configured_legacy_encoding_decodes() -> None:
    assert formats.decode("Le café".encode("latin-1"), "latin-1") == "Le café"
    assert formats.decode("قوات".encode("cp1256"), "cp1256") == "قوات"


def test_html_main_text_and_metadata() -> None:
    document = formats.html_document("page.html", HTML_PAGE.encode())
    assert document.source_format == "html"
    assert document.text.startswith("Protesters marched")  # the headline is not repeated
    assert "parliament building" in document.text
    assert "First comment" not in document.text and "Home" not in document.text
    assert document.title == "Police arrest protesters in Nairobi"
    assert document.author == "Jane Wanjiru"
    assert document.published.startswith("2024-03-05T18:30:00")
    assert document.url.startswith("https://news.example.com/africa/nairobi-protest")


def test_html_without_main_text_is_rejected() -> None:
    with pytest.raises(Rejected, match="no main text"):
        formats.html_document("x.html", NO_MAIN_TEXT_HTML.encode())


@pytest.mark.parametrize("depth", [300, 100_000])
def test_html_nested_deeper_than_lxml_parses_keeps_its_text(depth: int) -> None:
    paragraphs = ARTICLE.split("\n")
    page = (
        "<!DOCTYPE html><html><head><meta charset='iso-8859-1'><title>Deep</title></head><body>"
        + "<div class='wrap'>" * depth
        + "".join(f"<p>{p} caf&eacute; &amp; co</p>" for p in paragraphs)
        + "</div>" * depth
        + "</body></html>"
    )
    document = formats.html_document("deep.html", page.encode("utf-8"))
    assert document.text.count("café & co") == len(paragraphs)
    assert paragraphs[0] in document.text and document.title == "Deep"


def test_a_page_within_the_depth_limit_is_not_flattened() -> None:
    assert deep_html.flatten(HTML_PAGE.encode("utf-8")) is None
    assert deep_html.flatten(b"<div>" * 150 + b"text" + b"</div>" * 150) is None


def test_json_record_field_aliases() -> None:
    document = formats.record_document(
        "f.json#0",
        {
            "body": ARTICLE,
            "headline": "H",
            "link": "https://x.org/a",
            "pubDate": "2024-01-01",
            "authors": ["A. One", "B. Two"],
        },
    )
    assert (document.text, document.title, document.url, document.published, document.author) == (
        ARTICLE,
        "H",
        "https://x.org/a",
        "2024-01-01",
        "A. One, B. Two",
    )


@pytest.mark.parametrize(
    "record, reason",
    [({"title": "no text"}, "has no text"), ([1, 2], "is a list, not an object"), ("text", "is a str")],
)
def test_json_records_without_text_are_rejected(record: object, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        formats.record_document("f.jsonl#L1", record)


def test_malformed_json_names_line_and_column() -> None:
    with pytest.raises(Rejected, match=r"malformed JSON: .* \(line 1, column \d+\)"):
        formats.parse_json('{"text": "unterminated')


@pytest.mark.parametrize(
    "chunks, lines",
    [
        ([b"a\nbb\n", b"c"], [(1, b"a"), (2, b"bb"), (3, b"c")]),
        ([b"a", b"b\n", b"", b"c\n"], [(1, b"ab"), (2, b"c")]),  # lines across chunks
        ([b"a\n\nb\n"], [(1, b"a"), (2, b""), (3, b"b")]),  # blank lines keep their numbers
        ([b"short\n", b"x" * 8, b"x" * 8, b"x\nok\n"], [(1, b"short"), (2, None), (3, b"ok")]),  # 17 bytes > 10
        ([b"ok\n", b"y" * 30], [(1, b"ok"), (2, None)]),  # an oversized last line without newline
        ([b"0123456789\n"], [(1, b"0123456789")]),  # exactly the limit
        ([], []),
    ],
)
def test_split_lines_caps_each_line_without_holding_it(chunks: list[bytes], lines: list) -> None:
    assert list(formats.split_lines(chunks, max_bytes=10)) == lines


@pytest.mark.parametrize("encoding, text", LEGACY)
def test_a_page_in_a_legacy_encoding_without_a_declaration_is_decoded_right(encoding: str, text: str) -> None:
    page = (
        f"<html><head><title>Wire</title></head><body><article><h1>Report</h1><p>{text}</p><p>{text[::-1]}</p>"
        "</article></body></html>"
    ).encode(encoding)
    document = formats.html_document("page.html", page)
    assert document.text.splitlines() == [text, text[::-1]]


def test_a_short_main_text_is_checked_against_the_fallback_extractors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Precision mode sometimes keeps a notice or a navigation block instead of the article: a
    result under SHORT_WORDS words is compared with the default mode's, which wins at twice the
    length; a long result is taken at once."""
    found: dict[bool, str] = {}
    calls: list[bool] = []

    def fake(data: bytes, favor_precision: bool = False, fast: bool = False) -> Document:
        calls.append(favor_precision)
        return Document.from_dict({"text": found[favor_precision]})

    monkeypatch.setattr(formats, "trafilatura_extract", fake)
    notice = "This copy is for your personal, non-commercial use only. To order copies visit our site."
    article = " ".join(ARTICLE.split() * 5)
    found.update({True: notice, False: article})
    assert formats.extract_main_text(b"<html>").text == article  # the notice was kept: replaced
    found.update({True: article, False: article + " More."})
    calls.clear()
    assert formats.extract_main_text(b"<html>").text == article and calls == [True]  # long: one pass
    short_story = " ".join(ARTICLE.split()[:60])
    found.update({True: short_story, False: short_story + " Share this story. Related: " + notice})
    assert formats.extract_main_text(b"<html>").text == short_story  # not twice as long: kept
