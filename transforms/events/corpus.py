"""A labelled event corpus (`corpora/events/`, or a user's own): reading and validating it.

One JSON object per line, in any number of `*.jsonl` files of a folder (or one file): `text`
and a label at one level: `event_type` (the taxonomy's types, or `none`), `acled` (ACLED
sub-event types; null for none) or `plover` (PLOVER types; null for none); optionally `id`,
`split` (`train` or `dev`; default `train`), `actor`, `target`. A corpus an ACLED export was
turned into needs only `text` and `acled`. Problems are one-line `ConfigError`s naming the file
and line: unknown labels, empty texts, a text given twice, a text in both splits.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import NamedTuple, Optional

from transforms.core.settings import ConfigError
from transforms.events.taxonomy import Taxonomy

NONE = "none"
LEVELS = ("event_type", "acled", "plover")
SPLITS = ("train", "dev")


class Example(NamedTuple):
    id: str
    text: str
    label: str  # at the corpus's level; `none` for no event
    split: str
    where: str  # file:line


def labels_at(level: str, taxonomy: Taxonomy) -> set[str]:
    """Every label a corpus at `level` may use."""
    if level == "event_type":
        found = {t.name for t in taxonomy.types}
    elif level == "acled":
        found = {
            acled.sub_event_type
            for kind in taxonomy.types
            for acled in (kind.acled, *kind.acled_by_actor_sector.values())
            if acled is not None and acled.sub_event_type
        }
    else:
        found = {t.plover.type for t in taxonomy.types}
    return found | {NONE}


def files_of(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(path.glob("*.jsonl"))
        if not found:
            raise ConfigError(f"{path}: no *.jsonl files")
        return found
    if not path.exists():
        raise ConfigError(f"corpus not found: {path}")
    return [path]


def read_corpus(path: Path, taxonomy: Taxonomy, level: Optional[str] = None) -> tuple[list[Example], str]:
    """The examples of a corpus and its level (`level`, else the first of `LEVELS` its first
    record carries)."""
    examples: list[Example] = []
    seen: dict[str, Example] = {}
    allowed: set[str] = set()
    for file in files_of(path):
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{file}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{where}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ConfigError(f"{where}: not a JSON object")
            if level is None:
                level = next((name for name in LEVELS if name in row), None)
                if level is None:
                    raise ConfigError(f"{where}: no label: give one of {', '.join(LEVELS)}")
            if not allowed:
                allowed = labels_at(level, taxonomy)
            examples.append(_example(row, level, allowed, where, seen))
    if not examples:
        raise ConfigError(f"{path}: the corpus holds no texts")
    assert level is not None
    return examples, level


def _example(row: dict, level: str, allowed: set[str], where: str, seen: dict[str, Example]) -> Example:
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{where}: empty text")
    if level not in row:
        raise ConfigError(f"{where}: no {level!r} label (the corpus's level)")
    label = row[level] if row[level] is not None else NONE
    if label not in allowed:
        raise ConfigError(f"{where}: unknown {level} label {label!r}")
    split = row.get("split", "train")
    if split not in SPLITS:
        raise ConfigError(f"{where}: split must be one of {', '.join(SPLITS)}, not {split!r}")
    key = " ".join(text.lower().split())
    example = Example(str(row.get("id") or _digest(key)), text, label, split, where)
    earlier = seen.get(key)
    if earlier is not None:
        problem = "in both splits" if earlier.split != split else "twice"
        raise ConfigError(f"{where}: the same text {problem} (first at {earlier.where})")
    seen[key] = example
    return example


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=6).hexdigest()


def fingerprint(examples: list[Example]) -> str:
    """A hash of the training data (texts, labels, splits), for the model's manifest."""
    digest = hashlib.sha256()
    for example in sorted(examples, key=lambda e: (e.split, e.text)):
        digest.update(f"{example.split}\x1f{example.label}\x1f{example.text}\x1e".encode("utf-8"))
    return digest.hexdigest()
