"""The learned event classifier: a text -> probabilities over event classes.

TF-IDF of word 1-2-grams and character 2-5-grams (within words) with a multinomial logistic
regression (scikit-learn), trained by `newsbeam train events` on a labelled corpus at one level:
the taxonomy's types (the default model, trained on `corpora/events/`), ACLED sub-event types or
PLOVER types, `none` included. Chosen by measurement (`python -m bench.event_classifier`,
docs/events.md): sentence embeddings (all-MiniLM-L6-v2, int8 ONNX) scored 0.03-0.05 higher on the
corpus's dev split but cost about 50 ms a text on one core, half of spaCy's time per article.

A model is a folder: `manifest.json` (level, labels, features, training data hash, metrics,
library versions) and `model.npz` (the fitted pipeline's vocabularies, idf weights and
coefficients, `transforms.events.tfidf`). A worker predicts with numpy alone: it loads a model in
0.07 s where unpickling the scikit-learn pipeline took 1.5 s (mostly importing scikit-learn and
SciPy), and any scikit-learn version reads it. It is loaded once per worker and used read-only.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from transforms.core.settings import BUILTIN, ConfigError
from transforms.events.corpus import NONE, Example, fingerprint
from transforms.events.tfidf import TfidfLogit

MANIFEST, WEIGHTS = "manifest.json", "model.npz"
BUILTIN_MODEL = Path(__file__).resolve().parent / "model"
FORMAT = 2  # of the model folder; 1 was a pickled scikit-learn pipeline (model.joblib)

if TYPE_CHECKING:
    from sklearn.pipeline import FeatureUnion, Pipeline

# scikit-learn (with SciPy: 1.4 s) is imported where a model is fitted, never by a worker.


def features() -> FeatureUnion:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, dtype=np.float32)),
            (
                "chars",
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, dtype=np.float32),
            ),
        ]
    )


class EventClassifier:
    """A fitted model and what it was trained on."""

    def __init__(self, model: TfidfLogit, manifest: dict[str, Any]):
        self._model = model
        self.manifest = manifest
        self.labels: list[str] = model.labels
        self.level: str = manifest["level"]

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, one column per label (`self.labels`), summing to 1."""
        if not texts:
            return np.zeros((0, len(self.labels)))
        return self._model.probabilities(texts)

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.labels[i] for i in self.probabilities(texts).argmax(1)]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._model.save(folder / WEIGHTS)
        (folder / MANIFEST).write_text(json.dumps(self.manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, where: str) -> EventClassifier:
        """The model at `where` (a folder), or the one newsbeam ships (`builtin`)."""
        folder = BUILTIN_MODEL if where == BUILTIN else Path(where)
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"events.classifier: no model at {folder} (no {MANIFEST})") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"events.classifier: {folder / MANIFEST}: not JSON ({exc.msg})") from None
        if manifest.get("format") != FORMAT:
            raise ConfigError(
                f"events.classifier: {folder} holds a model of format {manifest.get('format')}, not {FORMAT}: "
                "train it again (newsbeam train events)"
            )
        try:
            return cls(TfidfLogit.load(folder / WEIGHTS), manifest)
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"events.classifier: {folder / WEIGHTS}: not a readable model ({exc})") from None


def fit(examples: Sequence[Example], c: float = 10.0) -> Pipeline:
    """A fitted pipeline on `examples` (deterministic: the solver has no randomness)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline([("features", features()), ("model", LogisticRegression(C=c, max_iter=5000))])
    pipeline.fit([e.text for e in examples], [e.label for e in examples])
    return pipeline


def train(examples: Sequence[Example], level: str, metrics: dict[str, Any], c: float = 10.0) -> EventClassifier:
    """The classifier of the `train` examples, with its manifest."""
    training = [e for e in examples if e.split == "train"]
    pipeline = fit(training, c)
    manifest = {
        "format": FORMAT,
        "level": level,
        "labels": list(pipeline.classes_),
        "none": NONE,
        "features": "tf-idf word 1-2-grams + char_wb 2-5-grams (min_df 2, sublinear tf)",
        "model": f"logistic regression, C={c}",
        "training_texts": len(training),
        "training_data_sha256": fingerprint(training),
        "metrics": metrics,
        "libraries": {name: metadata.version(name) for name in ("scikit-learn", "numpy", "scipy")}
        | {"python": platform.python_version()},
    }
    return EventClassifier(TfidfLogit.from_pipeline(pipeline), manifest)
