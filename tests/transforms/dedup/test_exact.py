"""Exact de-duplication with TestPipeline: representatives, duplicates and their pointers."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.fixtures import article
from transforms.core.records import Article
from transforms.dedup.exact import ExactDedup


def run(articles: list[Article], kept: list[str], duplicates: list[tuple[str, str, str]]) -> None:
    with TestPipeline(argv=["--runner=FnApiRunner"]) as p:
        result = p | beam.Create(articles) | ExactDedup()
        assert_that(result.articles | beam.Map(lambda a: a.article_id), equal_to(kept), label="kept")
        assert_that(
            result.duplicates | beam.Map(lambda d: (d.article_id, d.duplicate_of, d.method)),
            equal_to(duplicates),
            label="duplicates",
        )


def test_same_content_keeps_the_earliest_published() -> None:
    run(
        [
            article("late", "Same story.", day=3),
            article("early", "same  STORY", day=1),
            article("undated", "Same story"),
        ],
        kept=["early"],
        duplicates=[("late", "early", "content"), ("undated", "early", "content")],
    )


def test_same_url_keeps_one_even_when_the_text_was_updated() -> None:
    run(
        [
            article("v1", "First version.", url="https://x.org/a", day=1),
            article("v2", "Second, longer version of it.", url="https://x.org/a", day=2),
        ],
        kept=["v1"],
        duplicates=[("v2", "v1", "url")],
    )


def test_undated_ties_go_to_the_longest_then_the_smallest_id() -> None:
    run([article("b", "Short text"), article("a", "Short text")], kept=["a"], duplicates=[("b", "a", "content")])
    run(
        [
            article("z", "A much longer text, same url.", url="https://x.org/b"),
            article("y", "Short.", url="https://x.org/b"),
        ],
        kept=["z"],
        duplicates=[("y", "z", "url")],
    )


def test_duplicates_point_at_the_final_representative() -> None:
    # u2 repeats u1's URL; u1 repeats c0's text: both end up pointing at c0.
    run(
        [
            article("c0", "Shared words.", day=1),
            article("u1", "Shared words", url="https://x.org/c", day=2),
            article("u2", "Updated text.", url="https://x.org/c", day=3),
        ],
        kept=["c0"],
        duplicates=[("u1", "c0", "content"), ("u2", "c0", "url")],
    )


def test_articles_without_url_or_shared_text_are_all_kept() -> None:
    run(
        [article("a", "One story."), article("b", "Another story."), article("c", "Third.", url="https://x.org/c")],
        kept=["a", "b", "c"],
        duplicates=[],
    )


def test_a_group_that_cannot_be_ordered_becomes_dead_letters() -> None:
    from transforms.dedup.exact import PickRepresentative

    broken = [article("x", "Same text.")._replace(word_count=None), article("y", "Same text.")]  # -None fails
    outputs = list(PickRepresentative("content").process(("key", broken)))
    assert [(o.value.source, o.value.stage, o.value.error_type) for o in outputs] == [
        ("src/x", "dedup", "TypeError"),
        ("src/y", "dedup", "TypeError"),
    ]
