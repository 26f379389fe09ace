"""Labelled near-duplicate corpora, and the pair precision/recall/F1 of newsbeam's dedup on them.

Stories are generated text: sentences of words drawn from a Zipf-distributed vocabulary of 20,000
made-up words (the frequent ones recur everywhere, as function words do), so two different stories
share few word sequences, as real ones do. To make precision hard, every story carries site
furniture from a shared pool, and a fifth of the stories quote a sentence that another story
also quotes (two outlets covering one event). Each story is then republished 0-4 times, each copy
with one to three edits of the kinds wire stories go through:

- a new headline; a dateline/agency prefix; syndication or credit lines added at the end;
- boilerplate lines added or removed; two paragraphs swapped; a paragraph dropped;
- truncation to 55-90% of the words; typos in 1-3% of the words.

Gold: copies of one story are duplicates of each other; nothing else is. The evaluation runs the
NearDedup stage (FnApiRunner) and scores every pair of articles: predicted together (same
representative) against gold together.

    python -m bench.neardup --stories 2000
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import random
import string
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.clean import content_hash, word_count
from transforms.core.records import Article
from transforms.core.settings import DedupSettings
from transforms.dedup.near import NearDedup

VOCABULARY = 20_000
FURNITURE = [
    "Advertisement",
    "Follow us on Twitter and Facebook for the latest updates.",
    "Sign up for our daily newsletter.",
    "Read more: the week in pictures.",
    "This article has been updated with additional information.",
    "Share this story.",
    "Copyright 2024 The Daily Wire Service. All rights reserved.",
    "Related coverage",
]
AGENCIES = ["(Reuters) -", "(AP) -", "(AFP) -", "KABUL (Reuters) -", "NAIROBI, Kenya (AP) -"]
CREDITS = [
    "Reporting by Staff Writers; Editing by the Desk",
    "This story was first published by a partner site.",
    "Additional reporting by correspondents in the capital.",
    "Writing by the newsroom; editing by editors",
]


class Doc(NamedTuple):
    doc_id: str
    story: int
    text: str
    published: datetime


def vocabulary(rng: random.Random) -> list[str]:
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["th", "sh", "ar", "en", "is", "on"]
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(syllables) for _ in range(rng.choice((1, 2, 2, 3, 3, 4)))))
    return sorted(words)


class Generator:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.words = vocabulary(self.rng)
        weights = [1.0 / (rank + 1) ** 1.07 for rank in range(VOCABULARY)]
        self.cumulative = list(itertools.accumulate(weights))
        self.quotes: list[str] = []

    def sentence(self) -> str:
        count = self.rng.randint(10, 28)
        chosen = self.rng.choices(self.words, cum_weights=self.cumulative, k=count)
        return " ".join(chosen).capitalize() + "."

    def story(self) -> list[str]:
        """Paragraphs: a headline, then 5-10 paragraphs of 1-3 sentences, with site furniture."""
        paragraphs = [
            " ".join(self.sentence() for _ in range(self.rng.randint(1, 3))) for _ in range(self.rng.randint(5, 10))
        ]
        if self.quotes and self.rng.random() < 0.2:  # the same quote as another outlet's story
            paragraphs.insert(self.rng.randint(1, len(paragraphs)), self.rng.choice(self.quotes))
        elif self.rng.random() < 0.2:
            self.quotes.append(f'"{self.sentence()}" an official said.')
        furniture = self.rng.sample(FURNITURE, self.rng.randint(1, 3))
        return [self.sentence().rstrip(".")] + paragraphs + furniture

    def typo(self, word: str) -> str:
        if len(word) < 3:
            return word
        i = self.rng.randrange(len(word) - 1)
        return self.rng.choice(
            [
                word[:i] + word[i + 1 :],
                word[:i] + word[i + 1] + word[i] + word[i + 2 :],
                word[:i] + self.rng.choice(string.ascii_lowercase) + word[i + 1 :],
            ]
        )

    def variant(self, paragraphs: list[str]) -> list[str]:
        copy = list(paragraphs)
        edits = self.rng.sample(
            ["headline", "dateline", "credits", "furniture", "swap", "drop", "truncate", "typos"],
            self.rng.randint(1, 3),
        )
        for edit in edits:
            if edit == "headline":
                copy[0] = self.sentence().rstrip(".")
            elif edit == "dateline" and len(copy) > 1:
                copy[1] = f"{self.rng.choice(AGENCIES)} {copy[1]}"
            elif edit == "credits":
                copy.append(self.rng.choice(CREDITS))
            elif edit == "furniture":
                copy = [p for p in copy if p not in FURNITURE] + self.rng.sample(FURNITURE, 2)
            elif edit == "swap" and len(copy) > 4:
                i, j = self.rng.sample(range(1, len(copy) - 1), 2)
                copy[i], copy[j] = copy[j], copy[i]
            elif edit == "drop" and len(copy) > 4:
                del copy[self.rng.randrange(2, len(copy) - 1)]
            elif edit == "truncate":
                text = "\n".join(copy).split(" ")
                copy = " ".join(text[: int(len(text) * self.rng.uniform(0.55, 0.9))]).split("\n")
            elif edit == "typos":
                rate = self.rng.uniform(0.01, 0.03)
                copy = [" ".join(self.typo(w) if self.rng.random() < rate else w for w in p.split(" ")) for p in copy]
        return copy


def corpus(stories: int, seed: int = 0) -> list[Doc]:
    """`stories` stories, each with 0-4 republished copies (about 2.3 documents per story)."""
    generator = Generator(seed)
    rng = generator.rng
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    docs = []
    for story in range(stories):
        original = generator.story()
        published = start + timedelta(minutes=rng.randint(0, 500_000))
        copies = rng.choice((0, 0, 1, 1, 2, 3, 4))
        for n, paragraphs in enumerate([original] + [generator.variant(original) for _ in range(copies)]):
            when = published + timedelta(minutes=rng.randint(0, 600) if n else 0)
            docs.append(Doc(f"s{story:06d}-{n}", story, "\n".join(paragraphs), when))
    rng.shuffle(docs)
    return docs


def as_article(doc: Doc) -> Article:
    return Article(
        article_id=doc.doc_id,
        source=doc.doc_id,
        source_format="txt",
        url=None,
        title=None,
        author=None,
        published=doc.published,
        language="en",
        text=doc.text,
        word_count=word_count(doc.text),
        content_hash=content_hash(doc.text),
        text_source="file",
        feed=None,
        site_name=None,
    )


def read_articles(pipeline: beam.Pipeline, docs: list[Doc], directory: str) -> beam.PCollection:
    """The documents as Articles in `pipeline`, read from a JSON Lines file written to `directory`
    (cheaper and closer to a real run than putting thousands of articles in a `Create`)."""
    path = Path(directory) / "docs.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for doc in docs:
            handle.write(
                json.dumps({"id": doc.doc_id, "text": doc.text, "published": doc.published.isoformat()}) + "\n"
            )
    return (
        pipeline
        | "ReadDocs" >> beam.io.ReadFromText(str(path))
        | "AsArticles" >> beam.Map(lambda line: as_article(_doc_of(json.loads(line)))).with_output_types(Article)
    )


def _doc_of(row: dict) -> Doc:
    return Doc(row["id"], -1, row["text"], datetime.fromisoformat(row["published"]))


def newsbeam_clusters(docs: list[Doc], settings: DedupSettings) -> dict[str, str]:
    """doc id -> representative id, from the NearDedup stage on the FnApiRunner."""
    with tempfile.TemporaryDirectory() as directory:
        with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as pipeline:
            result = read_articles(pipeline, docs, directory) | NearDedup(settings)
            _ = (
                result.duplicates
                | beam.Map(lambda d: f"{d.article_id} {d.duplicate_of}")
                | beam.io.WriteToText(f"{directory}/duplicates")
            )
        found = dict(
            line.split() for path in Path(directory).glob("duplicates*") for line in path.read_text().splitlines()
        )
    return {doc.doc_id: found.get(doc.doc_id, doc.doc_id) for doc in docs}


def pair_scores(docs: list[Doc], clusters: dict[str, str]) -> tuple[float, float, float, int]:
    """Pair precision, recall, F1 and the number of gold pairs."""
    gold, predicted = defaultdict(list), defaultdict(list)
    for doc in docs:
        gold[doc.story].append(doc.doc_id)
        predicted[clusters[doc.doc_id]].append(doc.doc_id)

    def pairs(groups: dict) -> set[tuple[str, str]]:
        return {tuple(sorted(p)) for members in groups.values() for p in itertools.combinations(members, 2)}

    gold_pairs, predicted_pairs = pairs(gold), pairs(predicted)
    true = len(gold_pairs & predicted_pairs)
    precision = true / len(predicted_pairs) if predicted_pairs else 1.0
    recall = true / len(gold_pairs) if gold_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, len(gold_pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stories", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=None, help="override dedup.threshold")
    parser.add_argument("--shingle-size", type=int, default=None, help="override dedup.shingle_size")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    overrides = {k: v for k, v in (("threshold", args.threshold), ("shingle_size", args.shingle_size)) if v}
    settings = DedupSettings(index=False, **overrides)
    docs = corpus(args.stories, args.seed)
    started = time.monotonic()
    clusters = newsbeam_clusters(docs, settings)
    elapsed = time.monotonic() - started
    precision, recall, f1, gold = pair_scores(docs, clusters)
    print(f"corpus     {len(docs)} documents, {args.stories} stories, {gold} duplicate pairs (seed {args.seed})")
    print(
        f"settings   shingle_size {settings.shingle_size}, num_perm {settings.num_perm}, bands {settings.bands}, "
        f"threshold {settings.threshold}"
    )
    print(f"pairs      precision {precision:.4f}  recall {recall:.4f}  F1 {f1:.4f}  (target F1 >= 0.95, P >= 0.98)")
    print(f"time       {elapsed:.1f} s")


def documents(count: int, seed: int = 0) -> Iterator[Doc]:
    """About `count` documents (whole stories with their copies)."""
    yield from corpus(max(1, round(count / 2.3)), seed)


if __name__ == "__main__":
    main()
