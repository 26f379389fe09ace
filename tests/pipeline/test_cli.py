"""The `newsbeam run` command end to end: seeds, bad input, re-runs, the summary."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.conftest import SEEDS, read_tables, run_cli, sorted_tables
from tests.fixtures import bad_inputs, good_inputs
from tests.transforms.entities.test_stage import REQUIRED
from transforms.core.progress import LogProgress
from transforms.core.records import TABLES


def test_seeds_run_exits_0_and_balances(seeds_run: dict[str, Any]) -> None:
    assert seeds_run["code"] == 0
    summary = json.loads((seeds_run["output"] / "run_summary.json").read_text())
    assert summary["balanced"] and (summary["read"], summary["written"]) == (2, 2)
    assert summary["entities"] == len(seeds_run["tables"]["entities"])
    assert summary["events_by_type"]["bombing"] == 2
    assert summary["event_clusters"] == len(seeds_run["tables"]["event_clusters"]) > 0
    assert 0 < summary["spacy_seconds"] < summary["elapsed_seconds"]
    # start-up: the graph, and the loads of spaCy, the gazetteer, the classifier, the language model
    assert summary["graph_seconds"] > 0 and 0.1 < summary["model_load_seconds"] < summary["elapsed_seconds"]


def test_seeds_tables(seeds_run: dict[str, Any]) -> None:
    tables = seeds_run["tables"]
    assert len(tables["articles"]) == 2 and tables["duplicates"] == [] and tables["dead_letters"] == []
    assert {e["name"] for e in tables["entities"]} >= REQUIRED
    events = tables["events"]
    bombing = [e for e in events if e["event_type"] == "bombing" and e["location"] == "Kabul"]
    assert [(e["fatalities"], e["date_text"]) for e in bombing] == [(25, "May 1")]
    taken = {(e["actor"], e["location"]) for e in events if e["event_type"] == "territory_taken"}
    assert {("Taliban", "Kohistan"), ("Taliban", "Panjwai")} <= taken
    assert not [e for e in events if "topple" in e["sentence"] or "elections" in e["sentence"]]
    assert {e["article_id"] for e in events} <= {a["article_id"] for a in tables["articles"]}


def test_parquet_and_jsonl_hold_the_same_rows(seeds_run: dict[str, Any]) -> None:
    for table in TABLES:
        parquet = pq.read_table(seeds_run["output"] / "parquet" / table.name).to_pylist()
        assert len(parquet) == len(seeds_run["tables"][table.name]), table.name


def test_bad_input_becomes_dead_letters_and_the_run_still_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in"
    shutil.copytree(SEEDS, inputs / "seeds")
    shutil.copy(SEEDS / "000_b89b20759bfda383.txt", inputs / "copy-of-000.txt")  # exact duplicate
    good_inputs(inputs)  # story.txt and page.html carry the same text: a second duplicate
    bad = bad_inputs(inputs)
    output = tmp_path / "out"
    code = run_cli(
        "--input",
        str(inputs),
        "--input",
        str(inputs / "seeds"),
        "--output",
        str(output),
        "--set",
        "input.max_bytes=100000",
    )
    assert code == 0
    printed = capsys.readouterr().out
    # 3 seeds + 5 good inputs + the good line of the mixed JSONL file + 7 bad inputs = 16. The six
    # good texts are one story with a word changed here and there: one is kept, five are
    # near-duplicates; the copied seed is an exact duplicate.
    assert "read 16 = written 3 + duplicates 6 + dead letters 7 (ok)" in printed
    tables = read_tables(output)
    letters = {(d["source"], d["stage"]) for d in tables["dead_letters"]}
    assert letters == {(str(path) + ("#L2" if name == "malformed_json" else ""), "read") for name, path in bad.items()}
    assert all(d["reason"] for d in tables["dead_letters"])
    assert sorted(d["method"] for d in tables["duplicates"]) == ["content", "content"] + ["minhash"] * 4
    kept = {a["article_id"] for a in tables["articles"]}
    assert all(d["duplicate_of"] in kept for d in tables["duplicates"])


def test_a_rerun_rewrites_the_same_tables(tmp_path: Path, seeds_run: dict[str, Any]) -> None:
    output = tmp_path / "out"
    shutil.copytree(seeds_run["output"], output)
    assert run_cli("--input", str(SEEDS), "--output", str(output)) == 0
    assert sorted_tables(output) == sorted_tables(seeds_run["output"])


def test_summary_lists_entities_and_events_by_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("--input", str(SEEDS / "000_b89b20759bfda383.txt"), "--output", str(tmp_path)) == 0
    printed = capsys.readouterr().out
    assert "read 1 = written 1 + duplicates 0 + dead letters 0 (ok)" in printed
    assert "entities      " in printed and "GPE" in printed
    assert "bombing 1" in printed and " finished in " in printed


def test_progress_is_logged_with_a_rate(caplog: pytest.LogCaptureFixture) -> None:
    progress = LogProgress("entities", interval=0.0)
    with caplog.at_level(logging.INFO, logger="transforms.core.progress"):
        assert [x for e in range(3) for x in progress.process(e)] == [0, 1, 2]
    assert "entities: 3 documents done (" in caplog.text and "docs/s)" in caplog.text
