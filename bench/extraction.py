"""Main-text extraction quality: trafilatura's settings side by side on real pages with known text.

    python -m bench.extraction PAGES_DIR GROUND_TRUTH.json

PAGES_DIR holds `<id>.html` or `<id>.html.gz` pages as fetched; GROUND_TRUTH maps each id to
`{"articleBody": ...}` (the layout of scrapinghub's article-extraction-benchmark). Each setting
extracts every page; a page's text is scored against its article body by token 4-gram shingles
(precision: the share of extracted shingles that are in the article, recall: the share of the
article's shingles extracted; counted with multiplicity), and the table prints the mean precision,
recall and F1 over pages, the share of pages with F1 >= 0.9, and seconds per page. `newsbeam` is
the extraction the read stage uses (`transforms.read.formats.extract_main_text`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from transforms.read import formats

_TOKEN = re.compile(r"\w+")


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)))


def score(true: str, predicted: str) -> tuple[float, float, float]:
    """(precision, recall, F1) of `predicted` against `true` by token 4-gram shingles."""
    want, got = shingles(true), shingles(predicted)
    hit = sum((want & got).values())
    precision = hit / sum(got.values()) if got else 0.0
    recall = hit / sum(want.values()) if want else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def trafilatura_with(**mode: bool) -> Callable[[bytes], str]:
    """One of trafilatura's modes, called as the read stage calls it (metadata included)."""

    def extract(data: bytes) -> str:
        found = formats.trafilatura_extract(data, **mode)
        return found.text if found is not None and found.text else ""

    return extract


def newsbeam(data: bytes) -> str:
    found = formats.extract_main_text(data)
    return found.text if found is not None and found.text else ""


SETTINGS: dict[str, Callable[[bytes], str]] = {
    "precision, fast (newsbeam 0.2.0)": trafilatura_with(favor_precision=True, fast=True),
    "defaults (fallbacks on)": trafilatura_with(),
    "defaults, fast": trafilatura_with(fast=True),
    "precision, fallbacks": trafilatura_with(favor_precision=True),
    "recall, fallbacks": trafilatura_with(favor_recall=True),
    "recall, fast": trafilatura_with(favor_recall=True, fast=True),
    "newsbeam": newsbeam,
}


def load(pages: Path, truth: Path) -> list[tuple[str, bytes, str]]:
    bodies = json.loads(truth.read_text(encoding="utf-8"))
    found = []
    for page_id, record in sorted(bodies.items()):
        path: Optional[Path] = next(
            (p for p in (pages / f"{page_id}.html.gz", pages / f"{page_id}.html") if p.exists()), None
        )
        if path is None:
            continue
        data = path.read_bytes()
        found.append((page_id, gzip.decompress(data) if path.suffix == ".gz" else data, record.get("articleBody", "")))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", type=Path, help="folder of <id>.html(.gz) pages")
    parser.add_argument("truth", type=Path, help="JSON: id -> {articleBody}")
    parser.add_argument("--only", nargs="*", help="settings to run (default: all)")
    parser.add_argument("--worst", type=int, default=0, help="list the N worst pages of each setting")
    args = parser.parse_args()
    pages = load(args.pages, args.truth)
    print(f"{len(pages)} pages with known text")
    print(f"{'setting':36} {'precision':>9} {'recall':>7} {'F1':>6} {'F1>=0.9':>8} {'s/page':>7}")
    for name, extract in SETTINGS.items():
        if args.only and name not in args.only:
            continue
        started = time.perf_counter()
        scores: list[tuple[str, float, float, float]] = [
            (page_id, *score(true, extract(data))) for page_id, data, true in pages
        ]
        seconds = (time.perf_counter() - started) / len(pages)
        mean = [sum(s[1] for s in scores), sum(s[2] for s in scores), sum(s[3] for s in scores)]
        mean = [total / len(scores) for total in mean]
        good = sum(1 for s in scores if s[3] >= 0.9) / len(scores)
        print(f"{name:36} {mean[0]:9.3f} {mean[1]:7.3f} {mean[2]:6.3f} {good:8.2f} {seconds:7.3f}")
        for page_id, p, r, f in sorted(scores, key=lambda s: s[3])[: args.worst]:
            print(f"    {page_id[:16]}  P {p:.2f} R {r:.2f} F1 {f:.2f}")


if __name__ == "__main__":
    main()
