"""The event corpus, the learned classifier, and the type decision with the shipped model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from tests.conftest import EVENT_CORPUS as CORPUS
from transforms.core.settings import ConfigError, EventsSettings
from transforms.events.classifier import BUILTIN_MODEL, MANIFEST, WEIGHTS, EventClassifier, fit, train
from transforms.events.corpus import NONE, Example, fingerprint, read_corpus
from transforms.events.decision import TypeDecision, Vote
from transforms.events.extractor import EventExtractor
from transforms.events.stage import type_decision
from transforms.events.taxonomy import Taxonomy
from transforms.events.tfidf import TfidfLogit


def small_corpus(taxonomy: Taxonomy, per_class: int = 40) -> list[Example]:
    """Three classes of the project's corpus, `per_class` texts each, splits as written."""
    examples, _ = read_corpus(CORPUS, taxonomy, "event_type")
    chosen: list[Example] = []
    for label in ("airstrike", "protest", NONE):
        chosen += [e for e in examples if e.label == label][:per_class]
    return chosen


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


# --- the corpus -------------------------------------------------------------------------------


def test_the_corpus_has_100_texts_per_class_and_400_without_an_event(taxonomy: Taxonomy) -> None:
    examples, level = read_corpus(CORPUS, taxonomy)
    assert level == "event_type"
    by_acled, _ = read_corpus(CORPUS, taxonomy, "acled")
    by_plover, _ = read_corpus(CORPUS, taxonomy, "plover")
    acled = {e.label: 0 for e in by_acled}
    for e in by_acled:
        acled[e.label] += 1
    plover = {e.label: 0 for e in by_plover}
    for e in by_plover:
        plover[e.label] += 1
    assert acled.pop(NONE) >= 400
    assert min(acled.values()) >= 100, acled  # every ACLED sub-event type
    assert len(acled) == 25
    assert min(plover.values()) >= 100, plover  # every PLOVER type the taxonomy maps to
    dev = sum(e.split == "dev" for e in examples)
    assert 0.18 < dev / len(examples) < 0.22


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ([{"text": "Police fired tear gas.", "event_type": "teargas"}], "unknown event_type label 'teargas'"),
        ([{"text": "  ", "event_type": "protest"}], "empty text"),
        (
            [{"text": "Troops shelled the town.", "event_type": "shelling", "split": "train"},
             {"text": "troops  shelled the town.", "event_type": "shelling", "split": "dev"}],
            "the same text in both splits (first at",
        ),
        (
            [{"text": "Troops shelled the town.", "event_type": "shelling"},
             {"text": "Troops shelled the town.", "event_type": "shelling"}],
            "the same text twice",
        ),
        ([{"text": "Rebels took the town.", "event_type": "territory_taken", "split": "test"}], "split must be one of"),
        ([{"text": "no label at all"}], "no label: give one of event_type, acled, plover"),
    ],
)  # fmt: skip
def test_a_bad_corpus_is_one_line_naming_file_and_line(
    tmp_path: Path, taxonomy: Taxonomy, rows: list[dict[str, Any]], problem: str
) -> None:
    path = write(tmp_path / "bad.jsonl", rows)
    with pytest.raises(ConfigError) as raised:
        read_corpus(path, taxonomy)
    message = str(raised.value)
    assert problem in message and f"{path}:" in message and "\n" not in message


def test_an_acled_export_is_a_corpus_at_acled_level(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = write(
        tmp_path / "acled.jsonl",
        [{"text": "Militants attacked a police post.", "acled": "Armed clash"},
         {"text": "Markets closed higher.", "acled": None}],
    )  # fmt: skip
    examples, level = read_corpus(path, taxonomy)
    assert level == "acled"
    assert [e.label for e in examples] == ["Armed clash", NONE]


# --- training ---------------------------------------------------------------------------------


def test_training_is_deterministic_and_the_model_round_trips(tmp_path: Path, taxonomy: Taxonomy) -> None:
    examples = small_corpus(taxonomy)
    first = train(examples, "event_type", {"note": "test"})
    second = train(examples, "event_type", {})
    dev = [e.text for e in examples if e.split == "dev"]
    assert np.array_equal(first.probabilities(dev), second.probabilities(dev))
    first.save(tmp_path / "model")
    loaded = EventClassifier.load(str(tmp_path / "model"))
    assert np.allclose(loaded.probabilities(dev), first.probabilities(dev))
    assert np.allclose(loaded.probabilities(dev).sum(axis=1), 1.0)
    manifest = loaded.manifest
    assert manifest["labels"] == ["airstrike", NONE, "protest"]
    assert manifest["training_texts"] == sum(e.split == "train" for e in examples)
    assert manifest["training_data_sha256"] == fingerprint([e for e in examples if e.split == "train"])
    assert {"scikit-learn", "numpy", "python"} <= set(manifest["libraries"])
    right = sum(p == e.label for p, e in zip(loaded.predict(dev), (e for e in examples if e.split == "dev")))
    assert right / len(dev) > 0.8  # three distinct classes, texts it never saw


def test_a_missing_old_or_broken_model_is_a_config_error(tmp_path: Path, taxonomy: Taxonomy) -> None:
    with pytest.raises(ConfigError, match="no model at"):
        EventClassifier.load(str(tmp_path / "missing"))
    model = tmp_path / "model"
    train(small_corpus(taxonomy, 10), "event_type", {}).save(model)
    manifest = json.loads((model / MANIFEST).read_text())
    (model / MANIFEST).write_text(json.dumps(manifest | {"format": 1}))  # a pickled pipeline (version 0.2)
    with pytest.raises(ConfigError, match="format 1, not 2: train it again"):
        EventClassifier.load(str(model))
    (model / MANIFEST).write_text(json.dumps(manifest))
    (model / WEIGHTS).write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="model.npz: not a readable model"):
        EventClassifier.load(str(model))


def test_numpy_prediction_equals_the_fitted_scikit_learn_pipeline(taxonomy: Taxonomy) -> None:
    """A worker predicts with `TfidfLogit`'s arrays; they give scikit-learn's own probabilities,
    on texts it trained on, texts it never saw, and odd ones (empty, accents, runs of white space,
    a word shorter than the n-grams, unknown words)."""
    examples = small_corpus(taxonomy)
    pipeline = fit([e for e in examples if e.split == "train"])
    texts = [e.text for e in examples] + [
        "",
        "a",
        "Zzyzx qwrt",
        "É  café\t\tnaïve, ÉTAT-MAJOR\n\nß ok",
        "Rebels SHELLED the town; 3 killed.",
    ]
    arrays = TfidfLogit.from_pipeline(pipeline)
    assert arrays.labels == list(pipeline.classes_)
    assert np.allclose(arrays.probabilities(texts), pipeline.predict_proba(texts), atol=1e-5)


def test_the_shipped_model_is_the_one_the_corpus_gives(taxonomy: Taxonomy) -> None:
    """`make model` reproduces it: it was trained on exactly the corpus's train split, at the
    taxonomy's level, with every corpus class."""
    model = EventClassifier.load("builtin")
    examples, _ = read_corpus(CORPUS, taxonomy)
    training = [e for e in examples if e.split == "train"]
    assert (BUILTIN_MODEL / MANIFEST).exists()
    assert model.manifest["training_data_sha256"] == fingerprint(training)
    assert model.level == "event_type"
    assert set(model.labels) == {e.label for e in examples}
    cv = model.manifest["metrics"]["cross_validation"]
    assert cv["weighted_f1"] > 0.7 and model.manifest["metrics"]["dev"]["weighted_f1"] > 0.7


# --- the decision with the shipped model ------------------------------------------------------


@pytest.fixture(scope="module")
def decision(taxonomy: Taxonomy) -> TypeDecision:
    made = type_decision(EventsSettings(), taxonomy)
    assert made is not None
    return made


def test_the_rules_vote_settles_what_the_model_is_unsure_of(decision: TypeDecision, taxonomy: Taxonomy) -> None:
    names = [t.name for t in taxonomy.types]
    types = np.zeros(len(names))
    types[names.index("protest")], types[names.index("riot")] = 0.35, 0.5
    none = 0.15
    (riot,) = decision.decide(types, none, [None])
    assert riot is not None and riot.event_type == "riot"  # no trigger: the model's class, above none + 0.2
    (protest,) = decision.decide(types, none, [Vote("protest", 0.9)])
    assert protest is not None and protest.event_type == "protest"
    assert protest.confidence == pytest.approx((0.35 + 0.75 * 0.9) / (1 + 0.75 * 0.9))
    assert decision.decide(types, 0.45, [None]) == [None]  # 0.5 is not above 0.45 + 0.2
    unsure = np.full(len(names), 0.2 / len(names))
    assert decision.decide(unsure, 0.8, [None]) == [None]  # no trigger, and the model says none


def test_the_rules_main_event_keeps_the_lead_over_a_nested_one(decision: TypeDecision, taxonomy: Taxonomy) -> None:
    names = [t.name for t in taxonomy.types]
    types = np.zeros(len(names))
    types[names.index("aid")], types[names.index("pledge")] = 0.6, 0.2
    main, nested = decision.decide(types, 0.2, [Vote("pledge", 0.8), Vote("aid", 0.5)])
    assert main is not None and nested is not None
    assert (main.event_type, nested.event_type) == ("pledge", "aid")
    assert main.confidence is not None and nested.confidence is not None
    assert nested.confidence <= main.confidence


def test_a_vote_for_the_generic_attack_lets_the_model_name_the_kind(decision: TypeDecision, taxonomy: Taxonomy) -> None:
    names = [t.name for t in taxonomy.types]
    assert "attack" not in decision.classifier.labels  # the corpus labels what ACLED codes
    types = np.zeros(len(names))
    types[names.index("armed_clash")], types[names.index("protest")] = 0.5, 0.3
    (decided,) = decision.decide(types, 0.2, [Vote("attack", 0.7)])
    assert decided is not None and decided.event_type == "armed_clash"


def test_the_classifier_finds_events_no_trigger_fired_and_drops_what_it_finds_none(
    parse: Callable[[str], Any], taxonomy: Taxonomy, decision: TypeDecision
) -> None:
    rules, learned = EventExtractor(taxonomy), EventExtractor(taxonomy, decision)
    headline = parse("Truck bomb rips through market in Mogadishu")
    assert rules.extract(headline, "a") == []
    (bombing,) = learned.extract(headline, "a")
    assert (bombing.event_type, bombing.acled_sub_event_type, bombing.location) == (
        "bombing",
        "Remote explosive/landmine/IED",
        "Mogadishu",
    )
    assert 0.3 <= bombing.confidence <= 1.0
    clear = parse("Fighter jets bombed rebel positions near Idlib on Tuesday, killing nine fighters.")
    (strike,) = learned.extract(clear, "b")
    assert (strike.event_type, strike.actor, strike.location, strike.fatalities) == (
        "airstrike",
        "Fighter jets",
        "Idlib",
        9,
    )
    assert strike.confidence > 0.9  # rules and model agree
    markets = parse("The central bank kept interest rates unchanged at 5.5 percent on Thursday.")
    assert learned.extract(markets, "c") == []


def test_null_classifier_is_the_rules_alone(taxonomy: Taxonomy) -> None:
    settings = EventsSettings(classifier=None)
    assert type_decision(settings, taxonomy) is None
    assert settings.threshold == 0.5 and EventsSettings().threshold == 0.3
    assert EventsSettings(min_confidence=0.7).threshold == 0.7


def test_the_model_is_loaded_once_per_worker(taxonomy: Taxonomy) -> None:
    from apache_beam.utils import shared

    handle = shared.Shared()  # one per ExtractEvents; its DoFn instances in a worker share the model
    first, second = type_decision(EventsSettings(), taxonomy, handle), type_decision(EventsSettings(), taxonomy, handle)
    assert first is not None and second is not None and first.classifier is second.classifier
