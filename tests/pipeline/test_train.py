"""`newsbeam train events`: a report a user can read, a model `events.classifier` can name, exit 2
on a bad corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import load_settings
from pipeline.evaluate_events import text_events
from tests.conftest import EVENT_CORPUS as CORPUS

CLASSES = ("airstrike", "protest", "none")


def small_corpus(folder: Path, per_class: int = 30) -> Path:
    """Three classes of the project's corpus, as a user's own corpus folder."""
    folder.mkdir()
    kept: dict[str, int] = {}
    with (folder / "mine.jsonl").open("w", encoding="utf-8") as out:
        for file in sorted(CORPUS.glob("*.jsonl")):
            for line in file.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                label = row["event_type"]
                if label in CLASSES and kept.get(label, 0) < per_class:
                    kept[label] = kept.get(label, 0) + 1
                    out.write(line + "\n")
    return folder


def test_train_reports_cross_validation_and_dev_and_writes_a_usable_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    model = tmp_path / "model"
    assert main(["train", "events", str(corpus), "--out", str(model), "--folds", "3"]) == 0
    printed = capsys.readouterr().out
    assert "90 texts at level event_type" in printed and "3 classes" in printed
    assert "fold 1/3 done" in printed and "fold 3/3 done" in printed  # progress while it trains
    assert "3-fold cross-validation on the train split" in printed
    assert "the dev split (never trained on)" in printed
    for label in CLASSES:
        assert f"  {label} " in printed
    assert "weighted F1" in printed and f"model written to {model}" in printed
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["metrics"]["cross_validation"]["classes"]["protest"]["support"] > 0
    assert manifest["metrics"]["folds"] == 3

    settings = load_settings(None, [f"events.classifier={model}"])
    (events,) = text_events(
        [("1", "Thousands of people rallied in central Lagos on Saturday against fuel prices.")], settings
    )
    assert [e.event_type for e in events] == ["protest"]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"text": "Police fired tear gas.", "event_type": "teargas"}', "unknown event_type label 'teargas'"),
        ('{"text": "", "event_type": "protest"}', "empty text"),
        ("not json", "not JSON"),
    ],
)
def test_a_bad_corpus_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, problem: str
) -> None:
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text(line + "\n", encoding="utf-8")
    assert main(["train", "events", str(corpus), "--out", str(tmp_path / "model")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and problem in error and f"{corpus}:1" in error
    assert not (tmp_path / "model").exists()


def test_too_few_texts_for_the_folds_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = small_corpus(tmp_path / "corpus", per_class=4)
    assert main(["train", "events", str(corpus), "--out", str(tmp_path / "model"), "--folds", "5"]) == 2
    assert "at least 5 training texts" in capsys.readouterr().err
    assert main(["train", "events", str(corpus), "--folds", "1"]) == 2
    assert "--folds must be at least 2" in capsys.readouterr().err
