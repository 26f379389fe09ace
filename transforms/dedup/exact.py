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
from typing import Any, Optional

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from transforms.core import metrics
from transforms.core.dead_letters import DEAD_LETTERS, from_exception, tagged
from transforms.core.records import Article, DeadLetter, Duplicate
from transforms.dedup.duplicates import (
    CONTENT,
    DUPLICATES,
    STAGE,
    URL,
    DedupResult,
    duplicate_row,
    representative_order,
)


class PickRepresentative(beam.DoFn):
    """(key, articles) -> the representative, and a `Duplicate` for each other article."""

    def __init__(self, method: str):
        self._method = method
        self._duplicates = Metrics.counter(metrics.DEDUP, metrics.duplicates_by(method))

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

    def _pass(self, articles: beam.PCollection, name: str, method: str, key: Any) -> pvalue.DoOutputsTuple:
        return (
            articles
            | f"KeyBy{name}" >> beam.Map(key).with_output_types(tuple[str, Article])
            | f"GroupBy{name}" >> beam.GroupByKey()
            | f"Pick{name}"
            >> beam.ParDo(PickRepresentative(method))
            .with_output_types(Article, duplicates=Duplicate, dead_letters=DeadLetter)
            .with_outputs(DUPLICATES, DEAD_LETTERS, main="kept")
        )

    def expand(self, articles: beam.PCollection) -> DedupResult:
        by_url = self._pass(articles, "Url", URL, _url_key)
        by_content = self._pass(by_url.kept, "Content", CONTENT, lambda a: (a.content_hash, a))
        url_duplicates = (
            {
                "duplicates": by_url[DUPLICATES]
                | "KeyByRepresentative"
                >> beam.Map(lambda d: (d.duplicate_of, d)).with_output_types(tuple[str, Duplicate]),
                "final": by_content[DUPLICATES]
                | "KeyByDuplicate"
                >> beam.Map(lambda d: (d.article_id, d.duplicate_of)).with_output_types(tuple[str, str]),
            }
            | "JoinRepresentatives" >> beam.CoGroupByKey()
            | "Repoint" >> beam.FlatMap(repoint).with_output_types(Duplicate)
        )
        duplicates = (url_duplicates, by_content[DUPLICATES]) | "AllDuplicates" >> beam.Flatten()
        dead_letters = (by_url[DEAD_LETTERS], by_content[DEAD_LETTERS]) | "DeadLetters" >> beam.Flatten()
        return DedupResult(by_content.kept, duplicates, dead_letters)
