"""`newsbeam eval events`: the event classifier against labelled texts.

Input, one of:
- JSON Lines, one record per text: {"id": ..., "text": ..., "labels": [...]}, the labels being
  event classes at one level: PLOVER types (`ASSAULT`), ACLED sub-event types (`Armed clash`)
  or taxonomy types (`territory_taken`); `[]` means the text reports no event. A record may
  instead carry its labels per level (`"plover": [...]`, `"acled": [...]`, `"type": [...]`), so
  one file serves every level;
- the PLOVER gold-standard JSON: one label per sentence, its event type mapped to the 16 current
  PLOVER types (FIGHT -> ASSAULT, DEMAND -> REQUEST, DISAPPROVE and INVESTIGATE -> ACCUSE).

Each text goes through the pipeline's own steps (spaCy with the place labeller and actor
dictionary, entities, events above the threshold (`events.min_confidence`)). Its prediction is the class of its
primary event (`transforms.events.stage.primary`) or `none`; it is right when the text's labels hold
it. Printed: per-class precision/recall/F1 of that prediction, macro and weighted F1 (weighted
by the gold support), a confusion table (gold rows, predicted columns), and the multi-label
recall: the share of gold labels found among any of the text's events. Where the data names the
source actors (PLOVER's `source`, or `"actors": [...]` in JSON Lines), also who did it: of the
texts whose primary event class is right, the share whose event actor shares a word with one.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Optional

from pipeline.config import Settings
from pipeline.evaluate import Score, read_data
from transforms.core.records import Event
from transforms.core.settings import ConfigError

NONE = "none"
_FUNCTION_WORDS = frozenset({"the", "of", "and", "a", "an", "in", "for", "on"})
LEVELS: dict[str, Callable[[Any], Optional[str]]] = {
    "plover": lambda event: event.plover_type,
    "acled": lambda event: event.acled_sub_event_type,
    "type": lambda event: event.event_type,
}
# PLOVER 0.5b1 types of the gold file -> the 16 current ones.
_PLOVER_TYPES = {"FIGHT": "ASSAULT", "DEMAND": "REQUEST", "DISAPPROVE": "ACCUSE", "INVESTIGATE": "ACCUSE"}


@dataclasses.dataclass
class Labelled:
    id: str
    text: str
    labels: list[str]
    actors: list[str] = dataclasses.field(default_factory=list)  # who did it, as written


@dataclasses.dataclass
class Report:
    texts: int
    scores: dict[str, Score]  # per class, of the primary prediction
    confusion: Counter[tuple[str, str]]  # (gold, predicted) -> texts
    found: int  # gold labels found among any event of their text
    gold_labels: int
    actors_named: int = 0  # rightly typed texts with gold actors whose event actor names one
    actors_gold: int = 0  # rightly typed texts with gold actors

    @property
    def classes(self) -> list[str]:
        return sorted(c for c in self.scores if self.scores[c].gold or self.scores[c].predicted)

    @property
    def macro_f1(self) -> float:
        classes = self.classes
        return sum(self.scores[c].f1 for c in classes) / len(classes) if classes else 0.0

    @property
    def weighted_f1(self) -> float:
        support = sum(self.scores[c].gold for c in self.classes)
        return sum(self.scores[c].f1 * self.scores[c].gold for c in self.classes) / support if support else 0.0

    @property
    def accuracy(self) -> float:
        right = sum(n for (gold, predicted), n in self.confusion.items() if gold == predicted)
        return right / self.texts if self.texts else 0.0

    def lines(self) -> Iterator[str]:
        width = max([len(c) for c in self.classes] + [8])
        yield f"{'class':<{width}}  {'P':>5}  {'R':>5}  {'F1':>5}  {'gold':>5}  {'pred':>5}"
        for name in self.classes:
            score = self.scores[name]
            yield (
                f"{name:<{width}}  {score.precision:5.3f}  {score.recall:5.3f}  {score.f1:5.3f}  "
                f"{score.gold:5d}  {score.predicted:5d}"
            )
        yield f"{'macro F1':<{width}}  {self.macro_f1:5.3f}"
        yield f"{'weighted F1':<{width}}  {self.weighted_f1:5.3f}"
        yield (
            f"{'accuracy':<{width}}  {self.accuracy:5.3f}   (primary event class, {NONE} included, {self.texts} texts)"
        )
        recall = self.found / self.gold_labels if self.gold_labels else 0.0
        yield (
            f"{'any-event R':<{width}}  {recall:5.3f}   "
            f"({self.found} of {self.gold_labels} gold labels among any event)"
        )
        if self.actors_gold:
            yield (
                f"{'actor':<{width}}  {self.actors_named / self.actors_gold:5.3f}   ({self.actors_named} of "
                f"{self.actors_gold} rightly typed texts with a gold actor: the event's actor names it)"
            )
        yield from self._confusion_lines()

    def _confusion_lines(self) -> Iterator[str]:
        labels = sorted({g for g, _ in self.confusion} | {p for _, p in self.confusion})
        if len(labels) <= 18:
            short = {label: label[:6] for label in labels}
            width = max(len(label) for label in labels)
            yield ""
            yield "confusion (rows gold, columns predicted)"
            yield " " * (width + 1) + " ".join(f"{short[label]:>6}" for label in labels)
            for gold in labels:
                yield f"{gold:<{width}} " + " ".join(f"{self.confusion.get((gold, p), 0) or '.':>6}" for p in labels)
        else:
            yield ""
            yield "most frequent confusions (gold -> predicted: texts)"
            wrong = [(pair, n) for pair, n in self.confusion.most_common() if pair[0] != pair[1]]
            for (gold, predicted), count in wrong[:20]:
                yield f"  {gold} -> {predicted}: {count}"


def read_labelled(path: str, level: str = "plover") -> tuple[list[Labelled], str]:
    """The labelled texts and the level their labels are at (always PLOVER for the PLOVER file)."""
    try:
        plover, rows = read_data(path)
        if plover:
            return [
                Labelled(
                    str(row["id"]),
                    row["text"],
                    [_PLOVER_TYPES.get(row["event"], row["event"])],
                    [a["actorText"] for a in row.get("source") or [] if a.get("actorText")],
                )
                for row in rows
                if row.get("text") and row.get("event") not in (None, "DOCUMENT")
            ], "plover"
        return [
            Labelled(
                str(row.get("id", n)),
                row["text"],
                [str(label) for label in row.get(level, row.get("labels", [])) if str(label) != NONE],
                [str(a) for a in row.get("actors", [])],
            )
            for n, row in enumerate(rows)
        ], level
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not labelled JSON Lines ({{id, text, labels}}) or PLOVER JSON ({exc})") from None


def text_events(texts: Sequence[tuple[str, str]], settings: Settings) -> list[list[Event]]:
    """The events the pipeline finds in each `(id, text)`: spaCy with the place labeller and actor
    dictionary, entities, the rules and the classifier `events.classifier` names, events above the
    threshold, entity fields."""
    from transforms.entities.actors import load_actors
    from transforms.entities.stage import Annotator
    from transforms.events.extractor import EventExtractor
    from transforms.events.stage import type_decision, with_entities
    from transforms.events.taxonomy import load_taxonomy

    annotator = Annotator.load(
        settings.entities, load_actors(settings.entities.actors) if settings.entities.actors else []
    )
    taxonomy = load_taxonomy(settings.events.taxonomy)
    extractor = EventExtractor(taxonomy, type_decision(settings.events, taxonomy))

    def analyse(doc: Any, text_id: str) -> list[Event]:
        entities = annotator.entities(doc, text_id)
        return [
            with_entities(e, entities, taxonomy)
            for e in extractor.extract(doc, text_id)
            if e.confidence >= settings.events.threshold
        ]

    return annotator.model.map_docs([(text, text_id) for text_id, text in texts], 32, analyse)


def evaluate_events(records: list[Labelled], settings: Settings, level: str) -> Report:
    from transforms.events.stage import primary_acled_event, primary_event

    of = LEVELS[level]
    results = []
    for events in text_events([(r.id, r.text) for r in records], settings):
        best = primary_acled_event(events) if level == "acled" else primary_event(events)
        results.append(
            ((of(best) if best else None), {c for c in map(of, events) if c}, (best.actor if best else None))
        )
    scores: dict[str, Score] = {}
    confusion: Counter[tuple[str, str]] = Counter()
    found = gold_labels = actors_named = actors_gold = 0
    for record, (predicted, any_classes, actor) in zip(records, results, strict=True):
        predicted = predicted or NONE
        gold = record.labels
        for label in gold:
            scores.setdefault(label, Score()).gold += 1
        if predicted != NONE:
            scores.setdefault(predicted, Score()).predicted += 1
            if predicted in gold:
                scores[predicted].true += 1
        confusion[(predicted if predicted in gold else (gold[0] if gold else NONE), predicted)] += 1
        found += len(set(gold) & any_classes)
        gold_labels += len(set(gold))
        if predicted in gold and record.actors:
            actors_gold += 1
            actors_named += names_one(actor, record.actors)
    return Report(len(records), scores, confusion, found, gold_labels, actors_named, actors_gold)


def names_one(actor: Optional[str], gold: list[str]) -> bool:
    """Whether the actor phrase shares a word (not a function word) with one of the gold actors."""

    def words(text: str) -> set[str]:
        return set(re.findall(r"[a-z0-9]+", text.lower().replace("'s", ""))) - _FUNCTION_WORDS

    return actor is not None and any(words(actor) & words(g) for g in gold)
