"""What the exact, near and streaming dedup passes share: the stage's name and outputs, the
methods a duplicate is found by (and which one wins when an article matches an earlier one in
several ways), the order that picks a story's representative, and the `Duplicate` row."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.core import metrics
from transforms.core.ids import stable_id
from transforms.core.records import Article, Duplicate
from transforms.dedup import keys

STAGE = "dedup"
DUPLICATES = "duplicates"  # the tagged output of Duplicate rows

SEEN = "seen"  # an article an earlier run wrote (the cross-run index)
URL = "url"  # the same canonical URL
CONTENT = "content"  # the same text (content hash)
MINHASH = "minhash"  # a near-duplicate: estimated Jaccard similarity at or above dedup.threshold
PRIORITY = {SEEN: 0, URL: 1, CONTENT: 2, MINHASH: 3}  # the lower wins
OF_KEY_KIND = {keys.URL: URL, keys.HASH: CONTENT, keys.BAND: MINHASH}  # the method a shared key means

_NEVER = datetime.max.replace(tzinfo=timezone.utc)


class DedupResult(NamedTuple):
    articles: beam.PCollection  # Article, one per story
    duplicates: beam.PCollection  # Duplicate
    dead_letters: beam.PCollection  # DeadLetter


def rank(published: Optional[datetime], word_count: int, article_id: str) -> tuple[Any, ...]:
    """Representative order: earliest published first (undated last), then longest, then smallest id."""
    return (published or _NEVER, -word_count, article_id)


def representative_order(article: Article) -> tuple[Any, ...]:
    return rank(article.published, article.word_count, article.article_id)


def cluster_id(representative_id: str) -> str:
    return stable_id("story", representative_id)


def duplicate_row(article: Article, representative_id: str, method: str, similarity: float = 1.0) -> Duplicate:
    return Duplicate(
        article_id=article.article_id,
        duplicate_of=representative_id,
        cluster_id=cluster_id(representative_id),
        method=method,
        similarity=round(similarity, 4),
        source=article.source,
        url=article.url,
    )


class DropAlreadyWritten(beam.PTransform):
    """Duplicates -> those that are new facts. An article an earlier run wrote itself (method
    `seen`, its own duplicate) is already a row of `articles`; a row saying so would grow the
    warehouse each time the same input comes again. It is counted (`already_written`) instead,
    and the summary counts it among the duplicates."""

    def expand(self, duplicates: beam.PCollection) -> beam.PCollection:
        counter = Metrics.counter(metrics.DEDUP, metrics.ALREADY_WRITTEN)

        def new_fact(row: Duplicate) -> bool:
            if row.method == SEEN and row.article_id == row.duplicate_of:
                counter.inc()
                return False
            return True

        return duplicates | "New" >> beam.Filter(new_fact).with_output_types(Duplicate)
