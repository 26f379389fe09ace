"""Clean stage: `RawDocument` -> canonical `Article`, or a dead letter.

Text: Unicode repaired (ftfy: mojibake, HTML entities, curly quotes) and NFC-normalised, invisible
formatting characters removed, whitespace collapsed, one paragraph per line, boilerplate lines
dropped. Then: language identified (py3langid; the feed's or page's declared language where the
identification is unsure, as it is for short texts), URL canonicalised (courlan), publication date
parsed into UTC, a content hash and a stable `article_id` computed. Articles that are too short,
broken (undecodable bytes in more than `clean.max_broken_words` of the words) or in a language
the config does not accept are dead letters.
"""

from __future__ import annotations

import pickle
import re
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple, Optional
from urllib.parse import urlsplit, urlunsplit

import apache_beam as beam
import courlan
import ftfy
import py3langid
from apache_beam.metrics import Metrics
from dateutil import parser as dateparser
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from transforms.core import metrics
from transforms.core.cache import cached
from transforms.core.dead_letters import DEAD_LETTERS, Rejected, guarded
from transforms.core.ids import stable_id
from transforms.core.load_time import LoadTime
from transforms.core.names import REPLACEMENT
from transforms.core.records import Article, DeadLetter, RawDocument
from transforms.core.settings import CleanSettings

STAGE = "clean"

# Zero-width space, word joiner, BOM, soft hyphen and the bidirectional controls: formatting that
# changes no meaning in running text. ZWJ/ZWNJ are kept (they matter in Persian, Arabic, emoji).
_INVISIBLE = dict.fromkeys(
    map(ord, "\u200b\u2060\ufeff\u00ad\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), None
)
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
# Repair passes before giving up on a fixed point (ftfy output is not always final).
_MAX_ROUNDS = 4
_EPOCH = re.compile(r"\d{9,13}(\.\d+)?")
# Dates outside this range are treated as wrong (year 0, 9999, ...), not as publication dates.
_EARLIEST, _LATEST = datetime(1900, 1, 1, tzinfo=timezone.utc), datetime(2200, 1, 1, tzinfo=timezone.utc)
# Below this (normalised) probability the identified language is a guess; a language the feed or
# the page declares, else clean.default_language, is trusted instead.
MIN_LANGUAGE_PROBABILITY = 0.9


class CleanResult(NamedTuple):
    articles: beam.PCollection  # Article
    dead_letters: beam.PCollection  # DeadLetter


def clean_line(line: str) -> str:
    return _SPACES.sub(" ", line).strip()


def _repair(text: str) -> str:
    return unicodedata.normalize("NFC", ftfy.fix_text(text.translate(_INVISIBLE)).translate(_INVISIBLE))


def _to_fixed_point(clean: Callable[[str], str], text: str) -> str:
    """`clean` applied until the text stops changing (at most `_MAX_ROUNDS` times).

    One pass is not idempotent: removing an invisible character or collapsing a no-break space
    can join bytes into mojibake that ftfy repairs on a second pass. Clean text costs one pass.
    """
    for _ in range(_MAX_ROUNDS):
        cleaned = clean(text)
        if cleaned == text:
            break
        text = cleaned
    return text


def clean_text(text: str, boilerplate: Optional[re.Pattern[str]] = None) -> str:
    """Repaired, normalised text with one paragraph per line; idempotent."""

    def once(value: str) -> str:
        lines = (clean_line(line) for line in _repair(value).splitlines())
        return "\n".join(line for line in lines if line and not (boilerplate and boilerplate.fullmatch(line)))

    return _to_fixed_point(once, text)


def clean_field(value: Optional[str]) -> Optional[str]:
    """A one-line metadata field (title, author) cleaned like text; None when empty."""
    if value is None:
        return None
    return _to_fixed_point(lambda v: clean_line(_repair(v)), value) or None


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def content_hash(text: str) -> str:
    """Hash of the words of `text`, ignoring case, punctuation, spacing and compatibility forms."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    return stable_id(" ".join(words), size=16)


def canonical_url(url: Optional[str]) -> Optional[str]:
    """Lower-case scheme and host, no default port, tracking parameters or fragment, sorted query.

    None for anything that is not an absolute http(s) URL.
    """
    if not url:
        return None
    try:
        normalised = courlan.normalize_url(url.strip(), trailing_slash=False)
        parts = urlsplit(normalised)
    except (ValueError, TypeError):
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def parse_published(value: Optional[str]) -> Optional[datetime]:
    """A publication date in UTC (naive times are taken as UTC); None when absent or invalid."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        if _EPOCH.fullmatch(text):
            seconds = float(text) / (1000 if len(text.split(".")[0]) > 10 else 1)
            parsed = datetime.fromtimestamp(seconds, tz=timezone.utc)
        else:
            parsed = dateparser.parse(text)
    except (ValueError, OverflowError, OSError, dateparser.ParserError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        parsed = parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None
    return parsed if _EARLIEST <= parsed < _LATEST else None


def _boilerplate_pattern(patterns: list[str]) -> Optional[re.Pattern[str]]:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


def _identifier(data: bytes) -> LanguageIdentifier:
    identifier = pickle.loads(data)
    if not isinstance(identifier, LanguageIdentifier):
        raise TypeError("not a language identifier")
    return identifier


class CleanFn(beam.DoFn):
    """RawDocument -> Article; too long, too short or unaccepted language -> dead letter.

    A text longer than `max_chars` (the entity stage's limit, `entities.max_chars`) is refused
    before it is cleaned: what no later stage would take is not repaired, identified, hashed and
    shingled first (a 4.9 MB single line took 1.9 GB on its way to the entity stage's refusal)."""

    def __init__(self, settings: CleanSettings, max_chars: Optional[int] = None):
        self._settings = settings
        self._max_chars = max_chars
        self._bad_dates = Metrics.counter(metrics.CLEAN, metrics.UNPARSED_DATES)
        self._identifier: Optional[LanguageIdentifier] = None
        self._boilerplate: Optional[re.Pattern[str]] = None
        self._load_time = LoadTime()

    def setup(self) -> None:
        with self._load_time.measure():  # py3langid decompresses its model (0.5 s): cached, 0.05 s
            self._identifier = cached(
                "langid.pickle",
                [Path(py3langid.__file__).parent / MODEL_FILE],
                ["py3langid"],
                lambda: LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True),
                pickle.dumps,
                _identifier,
            )
        self._boilerplate = _boilerplate_pattern(self._settings.boilerplate)

    def process(self, document: RawDocument) -> Iterator[Article]:
        self._load_time.report()
        return guarded(STAGE, document.source, self._clean(document))

    def _clean(self, document: RawDocument) -> Iterator[Article]:
        if self._max_chars is not None and len(document.text) > self._max_chars:
            raise Rejected(
                f"text too long: {len(document.text):,} characters (entities.max_chars is {self._max_chars:,})",
                detail=document.text[:200],
            )
        text = clean_text(document.text, self._boilerplate)
        words = word_count(text)
        if words < self._settings.min_words:
            raise Rejected(
                f"too short: {words} words (clean.min_words is {self._settings.min_words})", detail=text[:200] or None
            )
        broken = sum(1 for word in text.split() if REPLACEMENT in word)
        if broken > self._settings.max_broken_words * words:
            raise Rejected(
                f"broken text: {broken} of {words} words hold U+FFFD, bytes the source's encoding could not "
                f"decode (clean.max_broken_words is {self._settings.max_broken_words})",
                detail=text[:200],
            )
        language, probability = self._language(text, document.language)
        accepted = self._settings.languages
        if accepted and language not in accepted:
            raise Rejected(
                f"language '{language}' (p={probability:.2f}) is not in clean.languages {accepted}",
                detail=text[:200],
            )
        published = parse_published(document.published)
        if document.published and published is None:
            self._bad_dates.inc()
        hashed = content_hash(text)
        yield Article(
            article_id=stable_id(document.source, hashed),
            source=document.source,
            source_format=document.source_format,
            url=canonical_url(document.url),
            title=clean_field(document.title),
            author=clean_field(document.author),
            published=published,
            language=language,
            text=text,
            word_count=words,
            content_hash=hashed,
            text_source=document.text_source,
            feed=document.feed,
            site_name=clean_field(document.site_name),
        )

    def _language(self, text: str, declared: Optional[str]) -> tuple[str, float]:
        """The identified language; when identification is unsure, the declared one (feed, page),
        else `clean.default_language` ("Army takes back Bambari from rebels" is not Pidgin)."""
        assert self._identifier is not None
        language, probability = self._identifier.classify(text)
        if probability >= MIN_LANGUAGE_PROBABILITY:
            return language, probability
        declared_code = (declared or "").split("-")[0].split("_")[0].strip().lower()
        if len(declared_code) == 2:
            return declared_code, probability
        return self._settings.default_language or language, probability


class CleanArticles(beam.PTransform):
    """RawDocument -> `CleanResult(articles=Article, dead_letters=DeadLetter)`; texts longer than
    `max_chars` are dead letters before they are cleaned."""

    def __init__(self, settings: CleanSettings, max_chars: Optional[int] = None):
        super().__init__()
        self._settings = settings
        self._max_chars = max_chars

    def expand(self, documents: beam.PCollection) -> CleanResult:
        cleaned = documents | "Clean" >> beam.ParDo(CleanFn(self._settings, self._max_chars)).with_output_types(
            Article, dead_letters=DeadLetter
        ).with_outputs(DEAD_LETTERS, main="articles")
        return CleanResult(cleaned.articles, cleaned[DEAD_LETTERS])
