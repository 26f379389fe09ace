"""Cleaning: text repair, URLs, dates, hashes (pure), and the stage with TestPipeline."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import peak_rss_mib
from tests.fixtures import ARTICLE
from transforms.clean import CleanArticles, CleanFn, canonical_url, clean_text, content_hash, parse_published
from transforms.core.records import RawDocument
from transforms.core.settings import CleanSettings

BOILERPLATE = re.compile(r"(?:advertisement)|(?:read more\b.{0,80})", re.IGNORECASE)


def test_clean_text_repairs_and_normalises() -> None:
    messy = (
        "The groupâ€™s  advances\u200b &amp; \u201cquotes\u201d\r\n\n\n"
        "  Advertisement \n Read more: other story\ncafe\u0301\u00a0bar\u202e"
    )
    assert clean_text(messy, BOILERPLATE) == 'The group\'s advances & "quotes"\ncafé bar'


def test_clean_text_is_idempotent() -> None:
    once = clean_text("A  b\u200b\n\n c&amp;d\u00ad e", BOILERPLATE)
    assert clean_text(once, BOILERPLATE) == once


@pytest.mark.parametrize(
    "url, canonical",
    [
        ("HTTPS://News.Example.com:443/a/B?utm_source=x&id=3&fbclid=y#frag", "https://news.example.com/a/B?id=3"),
        ("http://example.com/story?b=2&a=1", "http://example.com/story?a=1&b=2"),
        ("https://example.com/path/", "https://example.com/path"),
        ("https://example.com", "https://example.com/"),
        ("ftp://example.com/file", None),
        ("not a url", None),
        ("", None),
        (None, None),
    ],
)
def test_canonical_url(url: str | None, canonical: str | None) -> None:
    assert canonical_url(url) == canonical


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2021-07-04T08:00:00+04:30", datetime(2021, 7, 4, 3, 30, tzinfo=timezone.utc)),
        ("Sun, 04 Jul 2021 10:00:00 GMT", datetime(2021, 7, 4, 10, 0, tzinfo=timezone.utc)),
        ("2021-07-04", datetime(2021, 7, 4, tzinfo=timezone.utc)),  # naive: taken as UTC
        ("1625392800", datetime(2021, 7, 4, 10, 0, tzinfo=timezone.utc)),  # epoch seconds
        ("1625392800000", datetime(2021, 7, 4, 10, 0, tzinfo=timezone.utc)),  # epoch milliseconds
        ("0000-01-01", None),
        ("9999-12-31", None),
        ("2021-07-04T08:00:00+25:00", None),
        ("yesterday-ish", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_published(value: str | None, expected: datetime | None) -> None:
    assert parse_published(value) == expected


def test_content_hash_ignores_case_punctuation_and_spacing_only() -> None:
    assert content_hash("Taliban seize district.") == content_hash("taliban  SEIZE district")
    assert content_hash("ｆｕｌｌ width") == content_hash("full width")
    assert content_hash("Taliban seize district") != content_hash("Taliban seize a district")


def raw(source: str, text: str, **fields: str) -> RawDocument:
    return RawDocument(source=source, source_format="json", text=text, **fields)


def test_clean_stage_builds_articles_and_rejects_short_broken_or_foreign_text() -> None:
    french = (
        "Les talibans ont pris le contrôle d'un district dans le nord de l'Afghanistan après "
        "plusieurs jours de combats acharnés, ont indiqué vendredi des responsables locaux."
    )
    documents = [
        raw(
            "a.jsonl#L1",
            ARTICLE,
            url="https://Example.com/x?utm_source=rss",
            title=" Fuel  protest ",
            published="2024-03-05T18:30:00+03:00",
        ),
        raw("a.jsonl#L2", "Subscribe to read."),
        raw("a.jsonl#L3", french),
        # Read as UTF-8 from a Windows-1252 source with errors replaced: a word in four is broken.
        raw("a.jsonl#L4", ARTICLE.replace("e ", "\ufffd ")),
        raw("a.jsonl#L5", ARTICLE.replace("fuel", "fu\ufffdl", 1)),  # one stray character: kept
    ]
    with TestPipeline(argv=["--runner=FnApiRunner"]) as p:
        cleaned = p | beam.Create(documents) | CleanArticles(CleanSettings())
        assert_that(
            cleaned.articles | beam.Map(lambda a: (a.source, a.url, a.title, a.published, a.language, a.word_count)),
            equal_to(
                [
                    (
                        "a.jsonl#L1",
                        "https://example.com/x",
                        "Fuel protest",
                        datetime(2024, 3, 5, 15, 30, tzinfo=timezone.utc),
                        "en",
                        60,
                    ),
                    ("a.jsonl#L5", None, None, None, "en", 61),  # \w+ splits "fu\ufffdl"
                ]
            ),
            label="articles",
        )
        assert_that(
            cleaned.dead_letters | beam.Map(lambda d: (d.source, d.stage, d.reason.split(" (")[0].split(":")[0])),
            equal_to(
                [
                    ("a.jsonl#L2", "clean", "too short"),
                    ("a.jsonl#L3", "clean", "language 'fr'"),
                    ("a.jsonl#L4", "clean", "broken text"),
                ]
            ),
            label="dead letters",
        )


def test_article_id_is_stable_and_depends_on_source_and_content() -> None:
    settings = CleanSettings()
    from transforms.clean import CleanFn

    fn = CleanFn(settings)
    fn.setup()
    first = next(iter(fn.process(raw("s#1", ARTICLE))))
    again = next(iter(fn.process(raw("s#1", ARTICLE))))
    other_source = next(iter(fn.process(raw("s#2", ARTICLE))))
    assert first.article_id == again.article_id
    assert first.article_id != other_source.article_id
    assert first.content_hash == other_source.content_hash


def test_a_text_over_the_entity_stages_limit_is_refused_before_it_is_cleaned() -> None:
    long = RawDocument("big.txt", "txt", ("word " * 2000).strip())
    with TestPipeline(argv=["--runner=FnApiRunner"]) as p:
        result = p | beam.Create([long]) | CleanArticles(CleanSettings(), max_chars=5_000)
        assert_that(result.articles, equal_to([]), label="no article")
        assert_that(
            result.dead_letters | beam.Map(lambda d: (d.stage, d.reason)),
            equal_to([("clean", "text too long: 9,999 characters (entities.max_chars is 5,000)")]),
            label="dead letter",
        )


UP_TO_ENTITIES = """
import apache_beam as beam
from pipeline.config import Settings
from transforms.clean import CleanArticles
from transforms.dedup.exact import ExactDedup
from transforms.dedup.near import NearDedup
from transforms.read.files import ReadArticles
settings = Settings()
with beam.Pipeline(runner="FnApiRunner") as p:
    read = p | ReadArticles([{path!r}], settings.input.max_bytes)
    cleaned = read.documents | CleanArticles(settings.clean, settings.entities.max_chars)
    unique = cleaned.articles | ExactDedup()
    _ = unique.articles | NearDedup(settings.dedup, None)
"""


@pytest.mark.slow
def test_a_multi_megabyte_single_line_costs_no_more_memory_than_an_article(tmp_path: Path) -> None:
    """Read, cleaned and de-duplicated as a run does (input.max_bytes, 5 MB, lets it in; the entity
    stage's limit stops it at cleaning): peak memory beside the same process over one ordinary
    article. Without the limit at cleaning, cleaning and de-duplication took 1.7 GB for it."""
    line = tmp_path / "line.txt"
    line.write_text(("Protesters marched through the city centre on Monday. " * 90_000)[:4_900_000], encoding="utf-8")
    article = tmp_path / "article.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    ordinary = peak_rss_mib(UP_TO_ENTITIES.format(path=str(article)))
    huge = peak_rss_mib(UP_TO_ENTITIES.format(path=str(line)))
    assert huge - ordinary <= 60, (ordinary, huge)


def test_a_headline_or_one_sentence_brief_is_news_in_its_declared_or_default_language() -> None:
    """Short English text dense with names is often identified as another language with low
    probability: it takes the declared language, else clean.default_language."""
    documents = [
        raw("brief.txt", "Army takes back Bambari from rebels"),  # py3langid: Nigerian Pidgin, p=0.38
        raw("note.txt", "On 12 March, ISWAP killed 3 in Gwoza, Borno."),
        raw("declared.txt", "Army takes back Bambari from rebels", language="fr"),
        raw("junk.txt", "Subscribe to read."),
        raw("german.txt", "Der Bundestag hat am Dienstag das neue Gesetz mit großer Mehrheit beschlossen."),
    ]
    with TestPipeline(argv=["--runner=FnApiRunner"]) as p:
        cleaned = p | beam.Create(documents) | CleanArticles(CleanSettings())
        assert_that(
            cleaned.articles | beam.Map(lambda a: (a.source, a.language)),
            equal_to([("brief.txt", "en"), ("note.txt", "en")]),
            label="articles",
        )
        assert_that(
            cleaned.dead_letters | beam.Map(lambda d: (d.source, d.reason.split(" (")[0].split(":")[0])),
            equal_to([("declared.txt", "language 'fr'"), ("junk.txt", "too short"), ("german.txt", "language 'de'")]),
            label="dead letters",
        )


def test_the_language_model_is_decompressed_once_per_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first worker caches py3langid's decompressed model; the next reads it and identifies
    the same; a damaged cache file is rebuilt."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    texts = ["The army took back the town on Monday after a week of fighting.", "L'armée a repris la ville lundi."]
    built = CleanFn(CleanSettings())
    built.setup()
    (cache,) = (tmp_path / "newsbeam").glob("langid-*.pickle")
    read = CleanFn(CleanSettings())
    read.setup()
    cache.write_bytes(b"\x80\x05damaged")
    rebuilt = CleanFn(CleanSettings())
    rebuilt.setup()
    assert [fn._language(t, None) for t in texts for fn in (built, read, rebuilt)] == [
        built._language(t, None) for t in texts for _ in range(3)
    ]
    assert [built._language(t, None)[0] for t in texts] == ["en", "fr"]
    assert cache.stat().st_size > 1_000_000
