"""`newsbeam report` over the seeds' output: the terminal summary and the HTML page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli import main
from pipeline.report import build, to_html


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
    types: dict[str, int] = {}
    for event in tables["events"]:
        types[event["event_type"]] = types.get(event["event_type"], 0) + 1
    top_type, top_count = max(types.items(), key=lambda kv: (kv[1], kv[0]))
    assert re.search(rf"{top_type}\s+{top_count}\n", text)
    assert "Taliban" in text.split("top actors")[1].split("top places")[0]
    assert "Badakhshan" in text.split("top places")[1]

    html = page.read_text(encoding="utf-8")
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert len(svgs) == 3  # events by type, actors, places (the seeds have no dates, no duplicates)
    for svg in svgs:
        ElementTree.fromstring(svg)  # well-formed
    assert f"{top_type}: {top_count}" in html  # a bar's tooltip
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")


def test_dead_letters_and_duplicates_show_by_reason(tmp_path: Path) -> None:
    from tests.conftest import SEEDS, run_cli

    inputs = tmp_path / "in"
    inputs.mkdir()
    for path in SEEDS.glob("*.txt"):
        (inputs / path.name).write_text(path.read_text())
        (inputs / f"copy-{path.name}").write_text(path.read_text())  # the same story again
    (inputs / "empty.txt").write_text("")
    assert run_cli("--input", str(inputs), "--output", str(tmp_path / "out")) == 0
    report = build(tmp_path / "out")
    assert report.duplicate_ratio == pytest.approx(0.5)
    assert [(stage, n) for stage, _, n in report.dead_letters] == [("read", 1)]
    assert "read" in to_html(report)


def test_a_folder_without_tables_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert f"report: no newsbeam tables under {tmp_path}" in capsys.readouterr().err
