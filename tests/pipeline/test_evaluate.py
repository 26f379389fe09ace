"""`newsbeam eval entities` on labelled examples written for the project, and on PLOVER-style JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main
from tests.conftest import ROOT

TEXTS = [
    (
        "Taliban fighters seized Kohistan district in Badakhshan province on Thursday, police said.",
        [("Taliban", "ORG", "REB"), ("Kohistan", "GPE", None), ("Badakhshan", "GPE", None), ("police", None, "COP")],
    ),
    (
        "Hungarian officials met Romanian officials in Budapest on Wednesday.",
        [("Hungarian", "NORP", "GOV"), ("Romanian", "NORP", "GOV"), ("Budapest", "GPE", None)],
    ),
]


def labelled(tmp_path: Path) -> Path:
    path = tmp_path / "labelled.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for text, spans in TEXTS:
            rows = []
            for mention, label, sector in spans:
                start = text.index(mention)
                row = {"start": start, "end": start + len(mention)}
                if label:
                    row["label"] = label
                if sector:
                    row["sector"] = sector
                rows.append(row)
            handle.write(json.dumps({"text": text, "spans": rows}) + "\n")
    return path


def test_eval_prints_ner_and_actor_sector_scores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(ROOT / "configs" / "local.yaml")
    assert main(["eval", "entities", str(labelled(tmp_path)), "--config", config]) == 0
    out = capsys.readouterr().out
    assert "2 texts" in out
    ner = next(line for line in out.splitlines() if line.startswith("NER"))
    sector = next(line for line in out.splitlines() if line.startswith("actor sector"))
    assert "gold 6)" in ner and "gold 4)" in sector
    assert float(sector.split("R ")[1].split()[0]) >= 0.75  # Taliban REB, police COP, Hungarian/Romanian GOV


def test_eval_reads_plover_json_and_rejects_other_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plover = tmp_path / "plover.json"
    plover.write_text(
        json.dumps(
            [
                {"id": "doc", "event": "DOCUMENT"},
                {
                    "id": "x",
                    "text": "Israeli troops fired on protesters in Gaza.",
                    "source": [{"actorText": "Israeli", "code": "ISR", "sector": "MIL"}],
                    "target": [{"actorText": "protesters", "code": "PSE", "sector": "CVL"}],
                },
            ]
        ),
        encoding="utf-8",
    )
    config = str(ROOT / "configs" / "local.yaml")
    assert main(["eval", "entities", str(plover), "--config", config]) == 0
    out = capsys.readouterr().out
    assert "1 texts, 2 gold actor mentions" in out and "R 1.000  F1" in out  # Israeli MIL, protesters CVL
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n", encoding="utf-8")
    assert main(["eval", "entities", str(broken)]) == 2
    assert "not labelled JSON Lines or PLOVER JSON" in capsys.readouterr().err


LABELLED = ROOT / "tests" / "data" / "entities.jsonl"


def test_the_projects_labelled_examples_are_consistent_and_scored(capsys: pytest.CaptureFixture[str]) -> None:
    """tests/data/entities.jsonl: 30 news sentences from many regions, NER spans (OntoNotes style:
    an organisation's leading "the" is part of it) and actor sectors, written for the project."""
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        for span in row["spans"]:
            assert row["text"][span["start"] : span["end"]] == span["text"]
    assert main(["eval", "entities", str(LABELLED), "--config", str(ROOT / "configs" / "local.yaml")]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}

    def score(line: str, name: str) -> float:
        return float(line.split(f"{name} ")[1].split()[0])

    assert score(lines["NER"], "F1") >= 0.70  # measured 0.753
    assert score(lines["actor"], "R") >= 0.90 and score(lines["actor"], "P") >= 0.65  # measured 0.955, 0.708


EVENTS = ROOT / "tests" / "data" / "events.jsonl"


def test_the_event_examples_cover_every_acled_sub_event_type() -> None:
    from collections import Counter

    from transforms.events.taxonomy import ACLED_TYPES

    rows = [json.loads(line) for line in EVENTS.read_text(encoding="utf-8").splitlines()]
    counts = Counter(label for row in rows for label in row["acled"])
    assert all(counts[sub] >= 10 for subs in ACLED_TYPES.values() for sub in subs), counts
    assert any(not row["plover"] for row in rows)  # texts that report no event


def scores(output: str) -> dict[str, float]:
    found = {}
    for line in output.splitlines():
        for name in ("macro F1", "weighted F1", "accuracy"):
            if line.startswith(name):
                found[name] = float(line[len(name) :].split()[0])
    return found


@pytest.mark.parametrize("level, floor", [("acled", 0.90), ("plover", 0.85)])
def test_eval_events_prints_per_class_scores_and_a_confusion_table(
    capsys: pytest.CaptureFixture[str], level: str, floor: float
) -> None:
    config = str(ROOT / "configs" / "local.yaml")
    assert main(["eval", "events", str(EVENTS), "--level", level, "--config", config]) == 0
    out = capsys.readouterr().out
    assert f"level {level}" in out and ("confusion" in out)
    assert scores(out)["macro F1"] >= floor  # measured 0.965 (acled), 0.948 (plover)
    assert "Armed clash" in out if level == "acled" else "ASSAULT" in out


def test_eval_events_reads_plover_json_and_rejects_other_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plover = tmp_path / "plover.json"
    plover.write_text(
        json.dumps(
            [
                {"id": "doc", "event": "DOCUMENT"},
                {
                    "id": "1",
                    "event": "FIGHT",
                    "text": "Government troops clashed with rebels near Goma on Monday.",
                    "source": [{"actorText": "Government troops", "code": "COD"}],
                },
                {
                    "id": "2",
                    "event": "DEMAND",
                    "text": "The opposition demanded the release of political prisoners.",
                    "source": [{"actorText": "Congolese opposition", "code": "COD"}],
                },
                {
                    "id": "3",
                    "event": "AGREE",
                    "text": "The Kinshasa government signed a peace agreement.",
                    "source": [{"actorText": "rebels", "code": "COD"}],
                },
            ]
        ),
        encoding="utf-8",
    )
    assert main(["eval", "events", str(plover), "--config", str(ROOT / "configs" / "local.yaml")]) == 0
    out = capsys.readouterr().out
    assert "3 texts" in out and scores(out)["accuracy"] == 1.0  # FIGHT -> ASSAULT, DEMAND -> REQUEST
    # who did it: the event's actor shares a word with the gold source in 2 of 3 texts
    assert "0.667   (2 of 3 rightly typed texts with a gold actor" in out
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": 1}\n', encoding="utf-8")
    assert main(["eval", "events", str(broken)]) == 2
    assert "not labelled JSON Lines" in capsys.readouterr().err
