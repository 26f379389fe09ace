"""A fitted TF-IDF + logistic regression model as plain arrays, predicting with numpy alone.

scikit-learn fits the model (`transforms.events.classifier.fit`); a worker only predicts, and
importing scikit-learn (with SciPy) to do so cost 1.4 s of every worker's start and about 60 MB of
its memory. `TfidfLogit.from_pipeline` takes what prediction needs from the fitted pipeline (each
vectorizer's vocabulary and idf weights, the coefficients); `probabilities` recomputes
scikit-learn's analyzers (lower-cased `\\b\\w\\w+\\b` word n-grams, `char_wb` n-grams), sublinear
tf, idf, l2 norm and the softmax of the linear scores. `tests/transforms/events/test_classifier`
checks it against the pipeline's own `predict_proba`. The arrays are saved in one `.npz` file,
readable whatever scikit-learn version is installed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

_WORD = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern
_SPACES = re.compile(r"\s\s+")
_SEPARATOR = "\n"  # vocabulary terms never hold one: words split on white space


class Analyzer(NamedTuple):
    """One vectorizer: how it cuts a text into terms, and its vocabulary."""

    kind: str  # word | char_wb
    low: int  # n-gram range
    high: int
    vocabulary: dict[str, int]  # term -> column, counted from this vectorizer's first column
    idf: np.ndarray

    def terms(self, text: str) -> Iterator[str]:
        text = text.lower()
        if self.kind == "word":
            tokens = _WORD.findall(text)
            for n in range(self.low, self.high + 1):
                for i in range(len(tokens) - n + 1):
                    yield " ".join(tokens[i : i + n])
            return
        for word in _SPACES.sub(" ", text).split():
            padded = f" {word} "
            for n in range(self.low, self.high + 1):
                if len(padded) <= n:  # a word this short counts once, whole, for every longer n
                    yield padded
                    break
                for i in range(len(padded) - n + 1):
                    yield padded[i : i + n]

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The text's columns and their l2-normalised, sublinear tf-idf values."""
        counts = Counter(column for column in map(self.vocabulary.get, self.terms(text)) if column is not None)
        columns = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        values = (np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts))) + 1) * self.idf[columns]
        norm = np.sqrt(values @ values)
        return columns, values / norm if norm else values


class TfidfLogit:
    """Class probabilities of texts from the analyzers' concatenated features."""

    def __init__(
        self, analyzers: Sequence[Analyzer], weights: np.ndarray, intercept: np.ndarray, labels: Sequence[str]
    ):
        self.analyzers = list(analyzers)
        self.weights = weights  # (features, classes)
        self.intercept = intercept
        self.labels = list(labels)
        self._offsets = np.cumsum([0, *(len(a.vocabulary) for a in self.analyzers)])[:-1]

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        scores = np.tile(self.intercept.astype(np.float64), (len(texts), 1))
        for row, text in enumerate(texts):
            parts = [analyzer.features(text) for analyzer in self.analyzers]
            columns = np.concatenate([c + offset for (c, _), offset in zip(parts, self._offsets)])
            scores[row] += np.concatenate([v for _, v in parts]) @ self.weights[columns]
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline) -> TfidfLogit:
        """The arrays of a fitted `FeatureUnion` of `TfidfVectorizer`s + `LogisticRegression`."""
        union, model = pipeline.steps[0][1], pipeline.steps[-1][1]
        analyzers = []
        for _, vectorizer in union.transformer_list:
            kind = vectorizer.analyzer
            assert kind in ("word", "char_wb") and vectorizer.sublinear_tf and vectorizer.norm == "l2"
            assert vectorizer.lowercase and vectorizer.strip_accents is None and vectorizer.stop_words is None
            low, high = vectorizer.ngram_range
            analyzers.append(Analyzer(kind, low, high, dict(vectorizer.vocabulary_), np.asarray(vectorizer.idf_)))
        return cls(analyzers, np.ascontiguousarray(model.coef_.T), np.asarray(model.intercept_), list(model.classes_))

    def save(self, path: Path) -> None:
        arrays: dict[str, Any] = {
            "weights": self.weights,
            "intercept": self.intercept,
            "labels": _joined(self.labels),
            "kinds": _joined(f"{a.kind} {a.low} {a.high}" for a in self.analyzers),
        }
        for i, analyzer in enumerate(self.analyzers):
            terms = sorted(analyzer.vocabulary, key=analyzer.vocabulary.__getitem__)
            arrays[f"terms{i}"], arrays[f"idf{i}"] = _joined(terms), analyzer.idf
        with path.open("wb") as file:
            np.savez_compressed(file, **arrays)

    @classmethod
    def load(cls, path: Path) -> TfidfLogit:
        with np.load(path) as arrays:
            analyzers = []
            for i, kind in enumerate(_split(arrays["kinds"])):
                name, low, high = kind.split()
                vocabulary = {term: column for column, term in enumerate(_split(arrays[f"terms{i}"]))}
                analyzers.append(Analyzer(name, int(low), int(high), vocabulary, arrays[f"idf{i}"]))
            return cls(analyzers, arrays["weights"], arrays["intercept"], _split(arrays["labels"]))


def _joined(strings: Iterator[str] | Sequence[str]) -> np.ndarray:
    return np.frombuffer(_SEPARATOR.join(strings).encode("utf-8"), dtype=np.uint8)


def _split(array: np.ndarray) -> list[str]:
    return array.tobytes().decode("utf-8").split(_SEPARATOR)
