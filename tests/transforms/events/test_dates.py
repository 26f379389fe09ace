"""Event dates resolved against the publication time: never invented, never in the future."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

import pytest

from transforms.events.dates import DateResolver

SATURDAY = datetime(2018, 5, 5, 8, 30, tzinfo=timezone.utc)  # the Kohistan seed's week


def day(text: str, published: Optional[datetime] = SATURDAY) -> Optional[tuple[str, str]]:
    found = DateResolver().resolve(text, published)
    return (found.date.date().isoformat(), found.precision) if found else None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Thursday night", ("2018-05-03", "day")),
        ("on Saturday", ("2018-05-05", "day")),  # the weekday of publication is that very day
        ("Sunday", ("2018-04-29", "day")),
        ("May 1", ("2018-05-01", "day")),
        ("last month", ("2018-04-01", "month")),
        ("early May", ("2018-05-01", "month")),
        ("6:30pm local time on Friday", ("2018-05-04", "day")),
        ("late on Tuesday", ("2018-05-01", "day")),
        ("yesterday", ("2018-05-04", "day")),
        ("2015", ("2015-01-01", "year")),
        ("December 28, 2017", ("2017-12-28", "day")),
    ],
)
def test_relative_expressions_resolve_against_the_publication_time(text: str, expected: tuple[str, str]) -> None:
    assert day(text) == expected


@pytest.mark.parametrize("text", ["next week", "May 9", "the morning", "", None])
def test_future_and_dateless_expressions_get_no_date(text: Optional[str]) -> None:
    assert day(text) is None  # May 9 after a May 5 story is a coming date, not last year's


def test_no_date_is_invented_without_a_publication_time() -> None:
    assert day("Thursday night", None) is None and day("May 1", None) is None
    assert day("May 1, 2019", None) == ("2019-05-01", "day")  # it names its year


def test_a_date_late_in_the_year_read_early_in_the_next() -> None:
    assert day("December 28", datetime(2021, 1, 3, tzinfo=timezone.utc)) == ("2020-12-28", "day")
