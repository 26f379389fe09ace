"""`newsbeam report`: the terminal summary, the HTML page (rendered in headless Chromium: the map
and the time line draw their marks, the family filter hides them), and what it reads: one run,
a lake's partitions, one run of a lake, JSON Lines where there is no Parquet."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ElementTree
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli import main
from pipeline.report import ReportError, Selection, build, to_html
from pipeline.tables import read_table
from tests.conftest import SEEDS, run_cli
from transforms.events.taxonomy import family
from transforms.testing.corpus import write_jsonl

CHROMIUM = "/usr/bin/chromium"  # Debian's, installed by .ci/run
# Without the background-networking flags Chromium tries Google's hosts at every start (offline here).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_the_report_shows_what_the_seeds_run_wrote(
    seeds_run: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tables = seeds_run["tables"]
    page = tmp_path / "report.html"
    assert main(["report", str(seeds_run["output"]), "--html", str(page)]) == 0
    text = capsys.readouterr().out
    assert re.search(rf"articles\s+{len(tables['articles'])}\n", text)
    assert re.search(rf"events\s+{len(tables['events'])}\n", text)
    assert "duplicate ratio: 0.0%" in text
    types = Counter(e["event_type"] for e in tables["events"])
    top_type, top_count = max(types.items(), key=lambda kv: (kv[1], kv[0]))
    assert re.search(rf"{top_type}\s+{top_count}\n", text)
    families = Counter(family(e["acled_event_type"], e["cameo_root"]) for e in tables["events"])
    for name, n in families.items():
        assert re.search(rf"{re.escape(name)}\s+{n}\s", text)
    assert "Taliban" in text.split("top actors")[1].split("top places")[0]
    assert "Badakhshan" in text.split("top places")[1]
    kabul = next(e for e in tables["events"] if e["event_type"] == "bombing" and e["location"] == "Kabul")
    assert kabul["latitude"] is not None  # a city: a point on the map

    html = page.read_text(encoding="utf-8")
    for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S):
        ElementTree.fromstring(svg)  # well-formed
    assert 'class="map"' in html and "Kabul: " in html  # the bombing's point and its tooltip
    assert "no dated events" in html  # the seeds have no publication dates
    assert f"{top_type}: {top_count}" in html  # a bar's tooltip
    assert not re.search(r"(src|href)=|https?://(?!www\.w3\.org/2000/svg)", html)  # nothing to fetch


def test_dead_letters_and_duplicates_show_by_reason(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for path in SEEDS.glob("*.txt"):
        (inputs / path.name).write_text(path.read_text())
        (inputs / f"copy-{path.name}").write_text(path.read_text())  # the same story again
    (inputs / "empty.txt").write_text("")
    assert run_cli("--input", str(inputs), "--output", str(tmp_path / "out")) == 0
    report = build(str(tmp_path / "out"))
    assert report.duplicate_ratio == pytest.approx(0.5)
    assert [(stage, n) for stage, _, n in report.dead_letters] == [("read", 1)]
    assert "read" in to_html(report)


def test_a_folder_without_tables_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert f"report: no newsbeam tables under {tmp_path}" in capsys.readouterr().err


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run over 40 generated articles: dated, placed events of several families."""
    root = tmp_path_factory.mktemp("corpus_run")
    write_jsonl(root / "in", 40, seed=5, files=2)
    assert run_cli("--input", str(root / "in"), "--output", str(root / "out")) == 0
    return root / "out"


def test_names_are_counted_by_their_normalised_form(corpus_run: Path, tmp_path: Path) -> None:
    """A place written "NEW DELHI" in one run and "New Delhi" in another is one place."""
    lake = tmp_path / "two-runs"
    shutil.copytree(corpus_run / "jsonl", lake / "jsonl")
    events = lake / "jsonl" / "events" / "part-00000-of-00001.jsonl"
    lines = events.read_text(encoding="utf-8").splitlines()
    place = Counter(re.search(r'"location": "([^"]+)"', line).group(1) for line in lines if '"location": "' in line)
    name, n = place.most_common(1)[0]
    shouting = [line.replace(f'"location": "{name}"', f'"location": "{name.upper()}"') for line in lines]
    (lake / "jsonl" / "events" / "part-other.jsonl").write_text("\n".join(shouting) + "\n", encoding="utf-8")
    counted = {place: events for place, _, events in build(str(lake)).top_places}
    assert counted[name] == 2 * n and name.upper() not in counted


def _lake(corpus_run: Path, root: Path) -> Path:
    """The corpus run's Parquet files as a lake of three runs: r1 on 03-01, r2 on 03-02, r3 in Hive's
    partition of rows without a date (a lake partitioned by event date)."""
    for table in (corpus_run / "parquet").iterdir():
        for part in table.glob("*.parquet"):
            for dt, run in (("2026-03-01", "r1"), ("2026-03-02", "r2"), ("__HIVE_DEFAULT_PARTITION__", "r3")):
                folder = root / "parquet" / table.name / f"dt={dt}"
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copy(part, folder / f"{run}-{part.name}")
    return root


def test_the_whole_lake_its_partitions_or_one_run(corpus_run: Path, tmp_path: Path) -> None:
    events = len(read_table(corpus_run, "events"))
    lake = _lake(corpus_run, tmp_path / "lake")
    assert build(str(lake)).counts["events"] == 3 * events
    assert build(str(lake), Selection(since=date(2026, 3, 2))).counts["events"] == events
    assert build(str(lake), Selection(until=date(2026, 3, 1))).counts["events"] == events
    assert build(str(lake), Selection(run="r2")).counts["events"] == events
    with pytest.raises(ReportError, match=r"no newsbeam tables under .*lake since 2026-04-01 \("):
        build(str(lake), Selection(since=date(2026, 4, 1)))


def test_json_lines_read_as_parquet_does(corpus_run: Path, tmp_path: Path) -> None:
    shutil.copytree(corpus_run / "jsonl", tmp_path / "jsonl")  # a run that wrote JSON Lines only
    from_jsonl, from_parquet = build(str(tmp_path)), build(str(corpus_run))
    assert from_jsonl.counts == from_parquet.counts
    assert from_jsonl.dated_events == from_parquet.dated_events and from_jsonl.points == from_parquet.points
    assert from_jsonl.top_actors == from_parquet.top_actors


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


_VISIBLE_MARKS = """selector => [...document.querySelectorAll(selector)]
    .filter(el => { const box = el.getBoundingClientRect(); return box.width > 0 && box.height > 0; })
    .map(el => ({family: el.dataset.family || el.closest('[data-family]')?.dataset.family || '',
                 x: el.getBoundingClientRect().x, width: el.getBoundingClientRect().width,
                 title: el.querySelector('title')?.textContent || ''}))"""


def test_the_page_draws_its_map_and_time_line_in_a_browser(corpus_run: Path, tmp_path: Path, browser: Any) -> None:
    page_file = tmp_path / "report.html"
    assert main(["report", str(corpus_run), "--html", str(page_file)]) == 0
    report = build(str(corpus_run))
    page = browser.new_page(viewport={"width": 1000, "height": 1400})
    page.goto(page_file.as_uri())

    points = page.evaluate(_VISIBLE_MARKS, "svg.map circle.mark")
    assert len(points) == len(report.points) > 5
    assert {p["family"] for p in points} == {p.family for p in report.points}
    map_box = page.locator("svg.map").bounding_box()
    assert map_box["width"] > 600 and map_box["height"] > 250

    bars = page.evaluate(_VISIBLE_MARKS, "svg.timeline rect.mark")
    everything = [b for b in bars if b["family"] == ""]  # the top row: all events
    assert len(everything) > 5
    # A true date axis: the distance between two columns is proportional to the days between them.
    starts = sorted((_first_day(b["title"]), b["x"]) for b in everything)
    (day0, x0), (day1, x1) = starts[0], starts[-1]
    per_day = (x1 - x0) / (day1 - day0).days
    for day, x in starts:
        assert x == pytest.approx(x0 + (day - day0).days * per_day, abs=1.0)

    family_shown = report.families[0]
    page.uncheck(f'[data-filter="{family_shown}"]')
    hidden = page.evaluate(_VISIBLE_MARKS, "svg.map circle.mark, svg.timeline rect.mark")
    assert hidden and family_shown not in {m["family"] for m in hidden}

    page.goto(page_file.as_uri() + "#families=Battles")  # a shared, filtered view
    page.reload()
    shown = {m["family"] for m in page.evaluate(_VISIBLE_MARKS, "svg.map circle.mark")}
    assert shown == {"Battles"}
    page.close()


def _first_day(title: str) -> date:
    found = re.search(r"\d{4}-\d{2}-\d{2}", title)
    if found:
        return date.fromisoformat(found.group())
    return datetime.strptime(title.split(":")[0], "%B %Y").date()  # a month
