"""Exact de-duplication: `Article` -> one representative per story, and `Duplicate` rows for the rest.

Two passes, each a keyed group so the work scales out: articles with the same canonical URL, then
representatives with the same content hash. The representative is the earliest published
article (undated ones last), then the longest (in words), then the smallest id, so every runner picks the
same one. A URL duplicate whose representative later turns out to be a content duplicate is
pointed at the final representative, so `duplicate_of` always names a row of `articles`.
If choosing a representative fails (a bug, not bad input), every article of that group becomes
a dead letter rather than stopping the run.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from pipeline.records import Article, DeadLetter, Duplicate
from transforms.dead_letters import DEAD_LETTERS, from_exception, stable_id, tagged

STAGE = "dedup"
NAMESPACE = "newsbeam.dedup"
DUPLICATES = "duplicates"
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


ALREADY_WRITTEN = "already_written"


class DropAlreadyWritten(beam.PTransform):
    """Duplicates -> those that are new facts. An article an earlier run wrote itself (method
    `seen`, its own duplicate) is already a row of `articles`; a row saying so would grow the
    warehouse each time the same input comes again. It is counted (`already_written`) instead,
    and the summary counts it among the duplicates."""

    def expand(self, duplicates: beam.PCollection) -> beam.PCollection:
        counter = Metrics.counter(NAMESPACE, ALREADY_WRITTEN)

        def new_fact(row: Duplicate) -> bool:
            if row.method == "seen" and row.article_id == row.duplicate_of:
                counter.inc()
                return False
            return True

        return duplicates | "New" >> beam.Filter(new_fact).with_output_types(Duplicate)


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


class PickRepresentative(beam.DoFn):
    """(key, articles) -> the representative, and a `Duplicate` for each other article."""

    def __init__(self, method: str):
        self._method = method
        self._duplicates = Metrics.counter(NAMESPACE, f"duplicates_by_{method}")

    def process(self, keyed: tuple[str, Iterable[Article]]) -> Iterator[Any]:
        group = list(keyed[1])
        try:
            first, *others = sorted(group, key=representative_order)
        except Exception as exc:  # pylint: disable=broad-except  # see the module docstring
            for article in group:
                yield tagged(from_exception(STAGE, article.source, exc))
            return
        yield first
        for other in others:
            self._duplicates.inc()
            yield pvalue.TaggedOutput(DUPLICATES, duplicate_row(other, first.article_id, self._method))


def repoint(keyed: tuple[str, dict[str, list[Any]]]) -> Iterator[Duplicate]:
    """URL duplicates of `key`, pointed at the representative of `key` if `key` is itself a duplicate."""
    _, joined = keyed
    final: Optional[str] = joined["final"][0] if joined["final"] else None
    for duplicate in joined["duplicates"]:
        yield duplicate._replace(duplicate_of=final) if final else duplicate


def _url_key(article: Article) -> tuple[str, Article]:
    # Articles without a URL cannot be URL duplicates: each gets a key of its own.
    return (f"url:{article.url}" if article.url else f"id:{article.article_id}", article)


class ExactDedup(beam.PTransform):
    """Article -> `DedupResult(articles=Article, duplicates=Duplicate)`."""

    def _pass(self, articles: beam.PCollection, name: str, key: Any) -> pvalue.DoOutputsTuple:
        return (
            articles
            | f"KeyBy{name}" >> beam.Map(key).with_output_types(tuple[str, Article])
            | f"GroupBy{name}" >> beam.GroupByKey()
            | f"Pick{name}"
            >> beam.ParDo(PickRepresentative(name.lower()))
            .with_output_types(Article, duplicates=Duplicate, dead_letters=DeadLetter)
            .with_outputs(DUPLICATES, DEAD_LETTERS, main="kept")
        )

    def expand(self, articles: beam.PCollection) -> DedupResult:
        by_url = self._pass(articles, "Url", _url_key)
        by_content = self._pass(by_url.kept, "Content", lambda a: (a.content_hash, a))
        url_duplicates = (
            {
                "duplicates": by_url[DUPLICATES]
                | "KeyByRepresentative" >> beam.Map(lambda d: (d.duplicate_of, d)).with_output_types(tuple[str, Duplicate]),
                "final": by_content[DUPLICATES]
                | "KeyByDuplicate" >> beam.Map(lambda d: (d.article_id, d.duplicate_of)).with_output_types(tuple[str, str]),
            }
            | "JoinRepresentatives" >> beam.CoGroupByKey()
            | "Repoint" >> beam.FlatMap(repoint).with_output_types(Duplicate)
        )
        duplicates = (url_duplicates, by_content[DUPLICATES]) | "AllDuplicates" >> beam.Flatten()
        dead_letters = (by_url[DEAD_LETTERS], by_content[DEAD_LETTERS]) | "DeadLetters" >> beam.Flatten()
        return DedupResult(by_content.kept, duplicates, dead_letters)
