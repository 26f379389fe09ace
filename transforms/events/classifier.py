"""The learned event classifier: a text -> probabilities over event classes.

TF-IDF of word 1-2-grams and character 2-5-grams (within words) with a multinomial logistic
regression (scikit-learn), trained by `newsbeam train events` on a labelled corpus at one level:
the taxonomy's types (the default model, trained on `corpora/events/`), ACLED sub-event types or
PLOVER types, `none` included. Chosen by measurement (`python -m bench.event_classifier`,
docs/events.md): sentence embeddings (all-MiniLM-L6-v2, int8 ONNX) scored 0.03-0.05 higher on the
corpus's dev split but cost about 50 ms a text on one core, half of spaCy's time per article.

A model is a folder: `manifest.json` (level, labels, features, training data hash, metrics,
library versions) and `model.joblib` (the fitted scikit-learn pipeline). It is loaded once per
worker and used read-only.
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

MANIFEST, WEIGHTS = "manifest.json", "model.joblib"
BUILTIN_MODEL = Path(__file__).resolve().parent / "model"
FORMAT = 1  # of the model folder

if TYPE_CHECKING:
    from sklearn.pipeline import FeatureUnion, Pipeline

# scikit-learn (with SciPy and pandas: 2.5 s) and joblib are imported where a model is fitted or
# loaded, in a worker's setup, not by every process that only builds the pipeline's graph.


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

    def __init__(self, pipeline: Pipeline, manifest: dict[str, Any]):
        self._pipeline = pipeline
        self.manifest = manifest
        self.labels: list[str] = list(pipeline.classes_)
        self.level: str = manifest["level"]

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, one column per label (`self.labels`), summing to 1."""
        if not texts:
            return np.zeros((0, len(self.labels)))
        return np.asarray(self._pipeline.predict_proba(list(texts)))

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.labels[i] for i in self.probabilities(texts).argmax(1)]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        import joblib

        joblib.dump(self._pipeline, folder / WEIGHTS, compress=3)
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
                f"events.classifier: {folder} holds a model of format {manifest.get('format')}, not {FORMAT}"
            )
        trained_with = manifest.get("libraries", {}).get("scikit-learn")
        if trained_with and trained_with.split(".")[:2] != metadata.version("scikit-learn").split(".")[:2]:
            raise ConfigError(
                f"events.classifier: {folder} was trained with scikit-learn {trained_with}, this is "
                f"{metadata.version('scikit-learn')}: train it again (newsbeam train events)"
            )
        import joblib

        return cls(joblib.load(folder / WEIGHTS), manifest)


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
        "libraries": {name: metadata.version(name) for name in ("scikit-learn", "numpy", "scipy", "joblib")}
        | {"python": platform.python_version()},
    }
    return EventClassifier(pipeline, manifest)
