"""HTML nested deeper than lxml parses, flattened so that its text can still be extracted.

libxml2 (lxml, and so trafilatura) stops building the tree 256 elements deep: text below is
lost and a page of 100,000 nested <div>s has no main text. `flatten` re-serialises such a page
with the Python standard library's tokenizer, which keeps no tree: container tags deeper than
`MAX_DEPTH` are dropped, their text and the text-level tags inside them (paragraphs, headings)
kept. A page within the limit is left to trafilatura as it is.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser
from typing import Optional

from trafilatura.utils import decode_file

MAX_DEPTH = 200  # below libxml2's 256, with room for the <p> and inline tags kept below it
VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
# Elements that do not nest in HTML: kept at any depth, so the text keeps its paragraphs.
TEXT_LEVEL = frozenset("p h1 h2 h3 h4 h5 h6 br title meta pre".split())


def _declares_charset(tag: str, attrs: list[tuple[str, Optional[str]]]) -> bool:
    """A <meta> naming the page's encoding: dropped, the flattened page is UTF-8."""
    return tag == "meta" and any(name in ("charset", "http-equiv") for name, _ in attrs)


class _Flattener(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.open: list[tuple[str, bool]] = []  # (tag, written) for each open element
        self.deepest = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        written = (len(self.open) < MAX_DEPTH or tag in TEXT_LEVEL) and not _declares_charset(tag, attrs)
        if written:
            self.parts.append(self.get_starttag_text() or f"<{tag}>")
        if tag not in VOID:
            self.open.append((tag, written))
            self.deepest = max(self.deepest, len(self.open))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        if (len(self.open) < MAX_DEPTH or tag in TEXT_LEVEL) and not _declares_charset(tag, attrs):
            self.parts.append(self.get_starttag_text() or f"<{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.open) - 1, max(-1, len(self.open) - 64), -1):  # unclosed tags in between
            if self.open[index][0] == tag:
                for open_tag, written in reversed(self.open[index:]):
                    if written:
                        self.parts.append(f"</{open_tag}>")
                del self.open[index:]
                return

    def handle_data(self, data: str) -> None:
        self.parts.append(html.escape(data, quote=False))

    def handle_decl(self, decl: str) -> None:
        self.parts.append(f"<!{decl}>")


def flatten(data: bytes) -> Optional[bytes]:
    """The page with its nesting cut to `MAX_DEPTH`, or None when it is no deeper than that."""
    parser = _Flattener()
    parser.feed(decode_file(data))
    parser.close()
    if parser.deepest <= MAX_DEPTH:
        return None
    return "".join(parser.parts).encode("utf-8")
