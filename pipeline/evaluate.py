"""`newsbeam eval entities`: NER and actor-sector precision/recall/F1 against labelled data.

Two input formats:
- JSON Lines, one record per text: {"text": ..., "spans": [{"start", "end", "label", "sector"?}]}
  (labels are spaCy's; `sector` marks an actor, e.g. REB, MIL, GOV);
- the PLOVER gold-standard JSON (a list of records with `text` and `source`/`target` actors
  carrying `actorText` and `sector`): actors only, located by their text.

Scores: NER over exact (start, end, label) spans, for records that label entities; actors over
gold actor mentions: found when an entity of newsbeam's covers the mention's text (recall; PLOVER
marks only each event's source and target, so its precision says little), with the right sector
when the covering entity that holds the mention's head word (its syntactic root: `leaders` in
"Afghan rebel leaders", else the first covering entity) has the gold sector. Sector precision:
the share of newsbeam's actor entities (those with a sector) that match a gold actor of their sector.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from transforms.core.settings import ConfigError, EntitiesSettings

# PLOVER 0.5 sector codes (their first three letters: `CVLalb` is CVL) mapped to newsbeam's. PLOVER's
# MED is medical (doctors, the Red Cross), its JRN journalists; CIV is its typo of CVL. Codes with no
# counterpart (ELI elites, UAF unidentified forces, ...) are left out of the sector scores.
_PLOVER_SECTORS = {
    "REB": "REB",
    "INS": "REB",
    "MIL": "MIL",
    "GOV": "GOV",
    "LEG": "GOV",
    "COP": "COP",
    "CVL": "CVL",
    "CIV": "CVL",
    "OPP": "OPP",
    "JUD": "JUD",
    "MED": "HLH",
    "JRN": "MED",
    "NGO": "NGO",
    "IGO": "IGO",
    "REF": "REF",
    "EDU": "EDU",
    "LAB": "LAB",
    "BUS": "BUS",
    "CRM": "CRM",
    "REL": "REL",
}


_WORDS = re.compile(r"\w+")


@dataclasses.dataclass
class Score:
    true: int = 0  # gold items found
    predicted: int = 0
    gold: int = 0
    correct: Optional[int] = None  # predictions that are right, when not one per true gold item

    @property
    def precision(self) -> float:
        right = self.true if self.correct is None else self.correct
        return right / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.true / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def line(self, name: str) -> str:
        return (
            f"{name:<16} P {self.precision:.3f}  R {self.recall:.3f}  F1 {self.f1:.3f}"
            f"   (true {self.true}, predicted {self.predicted}, gold {self.gold})"
        )


@dataclasses.dataclass
class Record:
    text: str
    spans: list[dict[str, Any]]  # start, end, label (optional), sector (optional)
    labels_entities: bool  # whether `spans` is a full NER labelling


def read_data(path: str) -> tuple[bool, list[Any]]:
    """(whether the file is a JSON array, as the PLOVER gold file is; its records), else its JSON
    Lines. An unreadable file is a ConfigError; malformed JSON raises ValueError."""
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if raw.lstrip().startswith("["):
        return True, json.loads(raw)
    return False, [json.loads(line) for line in raw.splitlines() if line.strip()]


def read_records(path: str) -> list[Record]:
    """Records from JSON Lines with spans, or from the PLOVER gold-standard JSON."""
    try:
        plover, rows = read_data(path)
        return list(_plover_records(rows)) if plover else [_jsonl_record(row) for row in rows]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not labelled JSON Lines or PLOVER JSON ({exc})") from None


def _jsonl_record(row: dict[str, Any]) -> Record:
    return Record(row["text"], list(row.get("spans", [])), any("label" in s for s in row.get("spans", [])))


def _plover_records(rows: list[dict[str, Any]]) -> Iterator[Record]:
    for row in rows:
        text = row.get("text")
        if not text:
            continue  # the documentation record
        spans: list[dict[str, Any]] = []
        for actor in [*(row.get("source") or []), *(row.get("target") or [])]:
            if not isinstance(actor, dict):
                continue
            mention = actor.get("actorText") or ""
            start = text.find(mention) if mention else -1
            if start >= 0 and not any(s["start"] == start for s in spans):
                spans.append(
                    {
                        "start": start,
                        "end": start + len(mention),
                        "sector": _PLOVER_SECTORS.get(str(actor.get("sector") or "")[:3].upper()),
                    }
                )
        yield Record(text, spans, labels_entities=False)


def evaluate(
    records: list[Record], settings: EntitiesSettings, actors_path: Optional[str]
) -> tuple[Score, Score, Score]:
    """(NER, actor found, actor sector) scores of the entity stage's model, actors and gazetteer."""
    from transforms.entities.actors import load_actors
    from transforms.entities.stage import Annotator

    annotator = Annotator.load(settings, load_actors(actors_path) if actors_path else [])
    labels = frozenset(settings.labels)

    def analyse(doc: Any, record: Record) -> tuple[set[tuple[int, int, str]], list[Any], list[str]]:
        found = {(e.start_char, e.end_char, e.label_) for e in doc.ents if e.label_ in labels}
        spans = [doc.char_span(s["start"], s["end"], alignment_mode="expand") for s in record.spans]
        heads = [span.root.lower_ if span is not None else "" for span in spans]
        return found, annotator.entities(doc, "eval"), heads

    ner, found, sector = Score(), Score(), Score(correct=0)
    results = annotator.model.map_docs([(r.text, r) for r in records], 32, analyse)
    for record, (mentions, entities, heads) in zip(records, results, strict=True):
        if record.labels_entities:
            gold = {(s["start"], s["end"], s["label"]) for s in record.spans if "label" in s}
            ner.true += len(gold & mentions)
            ner.predicted += len(mentions)
            ner.gold += len(gold)
        with_sector = [e for e in entities if e.sector]
        matched_predictions: set[str] = set()
        for span, head in zip(record.spans, heads, strict=True):
            if not (span.get("sector") or not record.labels_entities):
                continue  # an entity span that is not an actor
            mention = record.text[span["start"] : span["end"]].casefold()
            covering = [e for e in entities if _covers(e, mention)]
            entity = next((e for e in covering if _covers(e, head)), covering[0] if covering else None)
            found.gold += 1
            found.true += entity is not None
            if span.get("sector"):
                sector.gold += 1
                if entity is not None and entity.sector == span["sector"]:
                    sector.true += 1
                    matched_predictions.add(entity.entity_id)
        found.predicted += len([e for e in entities if e.sector or e.label in ("PERSON", "ORG", "NORP", "GPE")])
        sector.predicted += len(with_sector)
        sector.correct = (sector.correct or 0) + len(matched_predictions)
    return ner, found, sector


def _covers(entity: Any, mention: str) -> bool:
    """An entity covers a gold mention when the words of one of its surface forms include the
    mention's words, or the other way round."""
    words = set(_WORDS.findall(mention))
    forms = [entity.name, *entity.variants]
    return bool(words) and any(
        (found := set(_WORDS.findall(f.casefold()))) and (found <= words or words <= found) for f in forms
    )
