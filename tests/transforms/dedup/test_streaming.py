"""The streaming de-duplication path: stateful DoFns with expiry, driven by TestStream."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from tests.fixtures import article
from tests.transforms.dedup.test_near import OTHER, STORY, retitled, truncated
from transforms.core.records import Article
from transforms.core.settings import DedupSettings
from transforms.dedup.streaming import StreamingDedup

DAY = 24 * 3600
# Claims are judged when the watermark passes them; the stream ends at a finite watermark first,
# so what the timers emit reaches the assertions before the final watermark closes the window.
END = 30 * DAY


def streaming_pipeline() -> TestPipeline:
    options = PipelineOptions(["--runner=BundleBasedDirectRunner"])
    options.view_as(StandardOptions).streaming = True
    return TestPipeline(options=options)


def test_each_story_is_emitted_once_until_its_keys_expire() -> None:
    first = article("first", STORY, day=1)
    copy = article("copy", retitled(STORY), day=1)
    late_copy = article("late", truncated(STORY), day=3)
    other = article("other", OTHER, day=3)
    stream = (
        TestStream(coder=beam.coders.registry.get_coder(Article))
        .advance_watermark_to(0)
        .add_elements([TimestampedValue(first, 0)])
        .advance_watermark_to(60)
        .add_elements([TimestampedValue(copy, 100)])  # a near-duplicate, an hour later
        .add_elements([TimestampedValue(first, 200)])  # the same item seen by another poll
        .advance_watermark_to(2 * DAY)  # past the one-day expiry: the story is forgotten
        .add_elements([TimestampedValue(late_copy, 2 * DAY + 10), TimestampedValue(other, 2 * DAY + 20)])
        .advance_watermark_to(END)
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        articles, duplicates = p | stream | StreamingDedup(DedupSettings(expiry_days=1))
        assert_that(
            articles | beam.Map(lambda a: a.article_id), equal_to(["first", "late", "other"]), label="emitted once"
        )
        assert_that(
            duplicates | beam.Map(lambda d: (d.article_id, d.duplicate_of, d.method)),
            equal_to([("copy", "first", "minhash"), ("first", "first", "seen")]),
            label="duplicates",
        )


def test_two_copies_arriving_together_leave_exactly_one() -> None:
    a, b = article("a", STORY), article("b", retitled(STORY))
    stream = (
        TestStream(coder=beam.coders.registry.get_coder(Article))
        .add_elements([TimestampedValue(b, 5), TimestampedValue(a, 5)])
        .advance_watermark_to(END)
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        articles, duplicates = p | stream | StreamingDedup(DedupSettings())
        assert_that(articles | beam.Map(lambda x: x.article_id), equal_to(["a"]), label="one kept")
        assert_that(
            duplicates | beam.Map(lambda d: (d.article_id, d.duplicate_of)),
            equal_to([("b", "a")]),
            label="the other repeats it",
        )
