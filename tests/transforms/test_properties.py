"""Property-based tests (hypothesis) of the pure functions every document goes through."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.provisional import urls

from transforms.clean import canonical_url, clean_text, parse_published
from transforms.dedup.minhash import MinHasher, similarity
from transforms.events.dates import DateResolver

# Text as news arrives: any Unicode, with the troublemakers over-represented.
TRICKY = st.sampled_from(
    [
        "\u200b",
        "\u200f",
        "\u202e",
        "\ufeff",
        "\u00a0",
        "\r\n",
        "\t",
        "\x00",
        "é",
        "e\u0301",
        "ﬁ",
        "Ａ",
        "“",
        "—",
        "\U0001f600",
        "\ud7ff",
        "&amp;",
        "<b>",
        "  ",
    ]
)
TEXT = st.lists(st.one_of(st.text(max_size=40), TRICKY), max_size=30).map("".join)
URL_PARTS = st.sampled_from(
    [
        "?utm_source=x",
        "#frag",
        "?b=2&a=1",
        "/../x",
        "/%7Euser",
        ":443",
        "?",
        "/",
        "//",
        "?fbclid=1&id=7",
        "/A%2fb",
        " ",
        "\u00e9",
    ]
)
URL = st.one_of(
    urls(), st.tuples(urls(), st.lists(URL_PARTS, max_size=4)).map(lambda u: u[0] + "".join(u[1])), st.text(max_size=60)
)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(URL)
def test_url_canonicalisation_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


@FAST
@given(TEXT)
def test_cleaning_is_idempotent(text: str) -> None:
    once = clean_text(text)
    assert clean_text(once) == once


HASHER = MinHasher.create(num_perm=64, shingle_size=5)


@FAST
@given(TEXT)
def test_a_text_is_fully_similar_to_itself(text: str) -> None:
    assert similarity(HASHER.signature(text), HASHER.signature(text)) == 1.0


DATES = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(timezone.utc)),
)
DATE_TEXT = st.one_of(
    TEXT,
    st.sampled_from(
        [
            "Thursday night",
            "last month",
            "year 0",
            "9999-12-31",
            "0000-00-00",
            "+25:00",
            "yesterday",
            "in 3 weeks",
            "32 January",
            "the 1st of May 2021",
            "2021-13-45T25:61:61+25:00",
            "Feb 29 2023",
            "10 days ago",
        ]
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DATE_TEXT, DATES)
def test_date_resolution_never_raises(text: str, published: datetime | None) -> None:
    resolved = DateResolver().resolve(text, published)
    assert resolved is None or resolved.date.tzinfo is not None


@FAST
@given(st.one_of(TEXT, DATE_TEXT))
def test_publication_dates_parse_or_are_none(value: str) -> None:
    parsed = parse_published(value)
    assert parsed is None or parsed.tzinfo is not None
