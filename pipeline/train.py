"""`newsbeam train events CORPUS`: cross-validate, evaluate on the dev split, train, write a model.

The corpus is read and validated first (`transforms.events.corpus`): a bad corpus is one line
and exit 2. Then stratified k-fold cross-validation on the `train` split (per class and overall),
the model trained on the whole `train` split scored on the `dev` split, and the model written with
its manifest. The same corpus and settings give the same model (the solver is deterministic, the
folds are seeded).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold

from transforms.core.settings import ConfigError
from transforms.events.classifier import EventClassifier, fit, train
from transforms.events.corpus import Example, read_corpus
from transforms.events.taxonomy import Taxonomy


def scores(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Per-class precision, recall, F1 and support, and macro and weighted F1."""
    labels = sorted(set(gold) | set(predicted))
    p, r, f, support = precision_recall_fscore_support(gold, predicted, labels=labels, zero_division=0)
    classes = {
        label: {"precision": round(float(p[i]), 3), "recall": round(float(r[i]), 3), "f1": round(float(f[i]), 3),
                "support": int(support[i])}
        for i, label in enumerate(labels)
        if support[i]
    }  # fmt: skip
    total = sum(c["support"] for c in classes.values())
    return {
        "macro_f1": round(sum(c["f1"] for c in classes.values()) / len(classes), 3),
        "weighted_f1": round(sum(c["f1"] * c["support"] for c in classes.values()) / total, 3),
        "accuracy": round(sum(g == p for g, p in zip(gold, predicted)) / len(gold), 3),
        "classes": classes,
    }


def cross_validate(
    examples: Sequence[Example], folds: int, c: float, say: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """Stratified `folds`-fold cross-validation over `examples`: every text predicted once, by a
    model that did not see it. `say` hears one progress line per fold."""
    labels = np.array([e.label for e in examples])
    smallest = min(np.unique(labels, return_counts=True)[1])
    if smallest < folds:
        raise ConfigError(f"every class needs at least {folds} training texts for {folds}-fold cross-validation")
    predicted = np.empty(len(examples), dtype=object)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    started = time.perf_counter()
    for fold, (train_index, test_index) in enumerate(splitter.split(np.zeros(len(examples)), labels), 1):
        model = fit([examples[i] for i in train_index], c)
        predicted[test_index] = model.predict([examples[i].text for i in test_index])
        elapsed = time.perf_counter() - started
        say(f"  fold {fold}/{folds} done ({fold * len(examples) // folds} texts predicted, {elapsed:.0f} s)")
    return scores(list(labels), list(predicted))


def train_events(
    corpus: Path, out: Path, taxonomy: Taxonomy, level: str | None, folds: int, c: float, say: Callable[[str], None]
) -> None:
    """Train and write the model, telling `say` the report's lines as it goes."""
    examples, level = read_corpus(corpus, taxonomy, level)
    training = [e for e in examples if e.split == "train"]
    dev = [e for e in examples if e.split == "dev"]
    say(f"{corpus}: {len(examples)} texts at level {level}: {len(training)} train, {len(dev)} dev, "
        f"{len({e.label for e in examples})} classes")  # fmt: skip
    metrics: dict[str, Any] = {"cross_validation": cross_validate(training, folds, c, say), "folds": folds}
    for line in report(f"{folds}-fold cross-validation on the train split", metrics["cross_validation"]):
        say(line)
    classifier: EventClassifier = train(examples, level, metrics, c)
    if dev:
        metrics["dev"] = scores([e.label for e in dev], classifier.predict([e.text for e in dev]))
        for line in report("the dev split (never trained on)", metrics["dev"]):
            say(line)
    classifier.manifest["metrics"] = metrics
    classifier.save(out)
    say(f"model written to {out} ({len(classifier.labels)} labels)")


def report(title: str, result: dict[str, Any]) -> Iterator[str]:
    width = max(len(label) for label in result["classes"])
    yield ""
    yield title
    yield f"  {'class':<{width}}  {'P':>5}  {'R':>5}  {'F1':>5}  {'n':>5}"
    for label, s in sorted(result["classes"].items()):
        yield f"  {label:<{width}}  {s['precision']:5.3f}  {s['recall']:5.3f}  {s['f1']:5.3f}  {s['support']:5d}"
    yield f"  {'macro F1':<{width}}  {result['macro_f1']:5.3f}"
    yield f"  {'weighted F1':<{width}}  {result['weighted_f1']:5.3f}"
    yield f"  {'accuracy':<{width}}  {result['accuracy']:5.3f}"
