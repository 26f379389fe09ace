"""Event dates: an event's date expression resolved against its article's publication time.

dateparser reads the expression relative to the publication time, preferring the past (news
reports what has happened): "Thursday night" is the Thursday before publication, "May 1" the
last May 1, "last month" the month before, "2015" that year. Wire copy names the day of
publication by its weekday ("said on Sunday" in a Sunday story), so a weekday is the latest such
day on or before publication. Words around the date that dateparser does not take ("late on
Tuesday", "6:30pm local time on Saturday", "early May") are tried without. A date after the
publication day is not an event that happened: no date; nor is a day and month without a year
that the past-preferring reading puts most of a year back ("June 25" in a June 20 story names a
coming date). Without a publication time only an expression that names its year resolves; no
date is invented.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple, Optional

DAY, WEEK, MONTH, YEAR = "day", "week", "month", "year"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY = re.compile(r"\b(" + "|".join(_WEEKDAYS) + r")\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(1[89]\d\d|2[01]\d\d)\b")
# Words that qualify a date without changing which day it is.
_NOISE = re.compile(
    r"\b(early|late|mid|earlier|later|on|at|in|by|about|around|since|until|the|local|time|overnight|night|"
    r"morning|afternoon|evening|dawn|dusk|midday|noon|midnight|hours|o'clock|rush|hour)\b|"
    r"\b\d{1,2}([:.]\d{2})?\s*(a\.?m\.?|p\.?m\.?)?(?=\s|$)(?!\s*(,\s*)?(19|20)\d\d)|-",
    re.IGNORECASE,
)
_PRECISIONS = {"day": DAY, "time": DAY, "week": WEEK, "month": MONTH, "year": YEAR}
_LAST_YEARS_DATE = timedelta(days=300)  # a yearless date further back than this was a coming one


class EventDate(NamedTuple):
    date: datetime  # midnight UTC of the day, or of the first day of the week, month or year
    precision: str  # day | week | month | year


class DateResolver:
    """Resolves date expressions. dateparser fixes the relative base when a parser is built
    (about 1 ms), so the parser of the last publication time is kept: an article's events share it."""

    def __init__(self) -> None:
        self._base: Optional[datetime] = None
        self._parser: Any = None
        self._resolved: dict[str, Optional[EventDate]] = {}  # of the current base: an article repeats its dates

    def resolve(self, text: Optional[str], published: Optional[datetime]) -> Optional[EventDate]:
        if not text:
            return None
        base = published.astimezone(timezone.utc).replace(tzinfo=None) if published else None
        if base != self._base or self._parser is None:
            from dateparser.date import DateDataParser

            settings: dict[str, Any] = {"PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False}
            if base is not None:
                settings["RELATIVE_BASE"] = base
            self._parser, self._base, self._resolved = DateDataParser(languages=["en"], settings=settings), base, {}
        if text not in self._resolved:
            self._resolved[text] = self._resolve(text, base)
        return self._resolved[text]

    def _resolve(self, text: str, base: Optional[datetime]) -> Optional[EventDate]:
        if base is None and not _YEAR.search(text):
            return None  # relative to nothing: not invented
        cleaned = " ".join(_NOISE.sub(" ", text).split())
        weekday = _WEEKDAY.fullmatch(cleaned)
        if weekday and base is not None:
            back = (base.weekday() - _WEEKDAYS.index(weekday.group(1).lower())) % 7
            return EventDate(_midnight(base - timedelta(days=back)), DAY)
        for candidate in dict.fromkeys((text, cleaned)):
            found = self._parse(candidate)
            if found is None:
                continue
            if base is not None and found.date > _midnight(base) + timedelta(days=1):
                return None  # after publication: not something that happened
            if (
                base is not None
                and found.precision == DAY
                and not _YEAR.search(text)
                and _midnight(base) - found.date > _LAST_YEARS_DATE
            ):
                return None
            return found
        return None

    def _parse(self, text: str) -> Optional[EventDate]:
        if not text:
            return None
        data = self._parser.get_date_data(text)
        if data is None or data.date_obj is None:
            return None
        precision = _PRECISIONS.get(data.period or DAY, DAY)
        day = data.date_obj
        if precision == MONTH:
            day = day.replace(day=1)
        elif precision == YEAR:
            day = day.replace(month=1, day=1)
        return EventDate(_midnight(day), precision)


def _midnight(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc)
