"""An event's type from the classifier's probabilities and the rules' vote together.

For one sentence, the classifier gives a probability to each of its labels (`none` included) and
the rules vote for the type of each event they found there, or for `none` when no trigger fired.
A vote for a type adds `rule_weight` times the rules' confidence in the event (their score:
trigger, arguments, factuality) to that type; no trigger adds `no_trigger_weight` to `none`. The
result, normalised, is a distribution over the taxonomy's types and `none`: the event takes its
most probable class (`none`: the sentence holds no event), with that probability as its
confidence. Where the rules found several events in a sentence, their most confident one is the
sentence's main event and the others keep the rules' types.

A model trained at another level (ACLED sub-event or PLOVER types) gives each taxonomy type the
probability of its label, shared equally among the types that map to that label, so the rules'
vote picks one among them ("Agreement" is `agreement` or `ceasefire`). A type the model has no
label for keeps the rules' type and confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Optional

import numpy as np

from transforms.events.classifier import EventClassifier
from transforms.events.corpus import NONE
from transforms.events.taxonomy import EventType, Taxonomy


class Vote(NamedTuple):
    """The rules' event in a sentence: its type and their confidence in it (their score)."""

    event_type: str
    confidence: float


class Decision(NamedTuple):
    event_type: str
    confidence: Optional[float]  # None: the rules' own (a type the model has no label for)


def label_of(event_type: EventType, level: str) -> Optional[str]:
    """The label a model trained at `level` gives events of this type (None: it has none)."""
    if level == "event_type":
        return event_type.name
    if level == "acled":
        return event_type.acled.sub_event_type if event_type.acled else None
    return event_type.plover.type


class TypeDecision:
    """Combines a classifier's probabilities with the rules' votes, sentence by sentence."""

    def __init__(self, classifier: EventClassifier, taxonomy: Taxonomy, rule_weight: float, no_trigger_weight: float):
        self.classifier = classifier
        self._weight = rule_weight
        self._no_trigger = no_trigger_weight
        self._names = [t.name for t in taxonomy.types]
        self._index = {name: i for i, name in enumerate(self._names)}
        columns = {label: i for i, label in enumerate(classifier.labels)}
        labels = [label_of(t, classifier.level) for t in taxonomy.types]
        shared = {label: labels.count(label) for label in set(labels)}
        # probabilities (one row per text, one column per model label) @ spread -> one column per type
        self._spread = np.zeros((len(classifier.labels), len(self._names)))
        for i, label in enumerate(labels):
            if label in columns:
                self._spread[columns[label], i] = 1.0 / shared[label]
        self._known = {self._names[i] for i, label in enumerate(labels) if label in columns}
        # a type the model has no label for (the rules' generic `attack`): the known types of its PLOVER type
        self._family = {
            t.name: np.array([i for i, u in enumerate(taxonomy.types) if u.plover.type == t.plover.type
                              and u.name in self._known], dtype=int)
            for t in taxonomy.types
            if t.name not in self._known
        }  # fmt: skip
        self._none = columns.get(NONE)

    def probabilities(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per text: the probability of each taxonomy type (in taxonomy order), and of `none`."""
        raw = self.classifier.probabilities(texts)
        none = raw[:, self._none] if self._none is not None else np.zeros(len(texts))
        return raw @ self._spread, none

    def decide(self, types: np.ndarray, none: float, votes: Sequence[Optional[Vote]]) -> list[Optional[Decision]]:
        """For one sentence (`types`, `none`: its probabilities): one decision per rule vote (None
        where no trigger fired), None when the class is `none`. The rules' order of the votes
        (their most confident first) says which is the sentence's main event: the first whose
        class is not `none` takes the combined class; the others keep their type, with at most
        its confidence (a noun's "aid" in "agreed to provide aid" is not what the sentence is about)."""
        decided: list[Optional[Decision]] = []
        taken: set[str] = set()
        main: Optional[Decision] = None
        for vote in votes:
            weight = self._weight * min(vote.confidence, 1.0) if vote is not None else self._no_trigger
            if vote is not None and vote.event_type not in self._known:
                decision = self._within_family(types, none, vote, weight) if main is None else None
                if decision is None or decision.event_type in taken:
                    decision = None if vote.event_type in taken else Decision(vote.event_type, None)
                decided.append(decision)
                if decision is not None:
                    taken.add(decision.event_type)
                    main = main or decision
                continue
            if main is not None and vote is not None:
                score = (types[self._index[vote.event_type]] + weight) / (1 + weight)
                kept = vote.event_type not in taken and score > none / (1 + weight)
                decided.append(Decision(vote.event_type, min(score, main.confidence or 1.0)) if kept else None)
                taken.add(vote.event_type)
                continue
            scores = types.copy()
            none_score = none + (weight if vote is None else 0.0)
            if vote is not None:
                scores[self._index[vote.event_type]] += weight
            best = int(scores.argmax())
            name = self._names[best]
            if scores[best] <= none_score or name in taken:
                decided.append(None)
                continue
            taken.add(name)
            main = Decision(name, float(scores[best]) / (1 + weight))
            decided.append(main)
        return decided

    def _within_family(self, types: np.ndarray, none: float, vote: Vote, weight: float) -> Optional[Decision]:
        """A vote for a type the model has no label for, read as a vote for its PLOVER type: the
        model's most probable type of that kind, with the kind's probability; None when the
        model knows none of its kind or `none` is more probable."""
        family = self._family[vote.event_type]
        if not len(family):
            return None
        mass = float(types[family].sum()) + weight
        if mass <= none:
            return None
        return Decision(self._names[int(family[types[family].argmax()])], mass / (1 + weight))
