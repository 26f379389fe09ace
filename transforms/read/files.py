"""Source stage: file patterns on any Beam filesystem -> `RawDocument`s and dead letters.

A .txt or .html file is one document; a .jsonl file is one document per non-blank line and a
.json file one per record (an object, or each object of a top-level array). Compressed files
(.gz, .bz2, .zst, ...) are read transparently. Every document read is counted once, whether it
becomes a `RawDocument` or a dead letter, so the run summary can account for all of them.

Re-drive: a line of a .jsonl file that is a dead letter (the `dead_letters` table's JSON Lines)
stands for the input it names, which is read again: a file, or one record of a file
(`path#L12`, `path#3`), under its original source, so what now succeeds gets the id it would
have had. A page (an http(s) source) comes out on the `pages` output, as a feed entry whose page
is fetched again (`feeds.FetchPages`). Feeds, feed entries without a link and database rows
cannot be read again here; each is a dead letter saying what re-drives it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.core import metrics
from transforms.core.dead_letters import DEAD_LETTERS, Rejected, guarded
from transforms.core.records import DeadLetter, FeedEntry, RawDocument
from transforms.core.settings import ConfigError
from transforms.read import compression as files
from transforms.read import formats
from transforms.read.listing import check_readable, matched_files

STAGE = "read"
FEED_STAGE = "feed"  # the stage of a feed's own dead letters (`transforms.read.feeds`)
PAGES = "pages"


class ReadResult(NamedTuple):
    documents: beam.PCollection  # RawDocument
    dead_letters: beam.PCollection  # DeadLetter


class FileReadResult(NamedTuple):
    documents: beam.PCollection  # RawDocument
    dead_letters: beam.PCollection  # DeadLetter
    pages: beam.PCollection  # FeedEntry: pages named by re-driven dead letters, to fetch again


def resolve_patterns(paths: list[str]) -> tuple[list[str], int]:
    """Input paths as Beam file patterns (a directory reads its files), and the number of files.

    Raises ConfigError when there are no paths or a path matches nothing.
    """
    if not paths:
        raise ConfigError("input.paths: no input given (set input.paths or pass --input)")
    patterns, files = [], 0
    for path in paths:
        is_local = FileSystems.get_scheme(path) is None
        is_directory = (is_local and os.path.isdir(path)) or path.endswith("/")
        pattern = path.rstrip("/") + "/*" if is_directory else path
        if is_local and os.path.isdir(path) and not os.access(path, os.R_OK | os.X_OK):
            raise ConfigError(f"input.paths: cannot list the folder {path}: permission denied")
        try:
            found = matched_files(pattern)
        except ValueError as exc:  # unknown scheme, or its filesystem is not installed
            raise ConfigError(f"input.paths: {pattern}: {exc}") from None
        if not found:
            raise ConfigError(f"input.paths: '{pattern}' matches no files")
        patterns.append(pattern)
        files += len(found)
    return patterns, files


def _once(make: Callable[..., Any], *args: Any) -> Iterator[Any]:
    """A generator of `make(*args)`, so `guarded` catches what `make` raises."""
    yield make(*args)


class ParseFile(beam.DoFn):
    """Path -> `RawDocument`s; one dead letter per unreadable file or bad JSON record.

    A .txt or .html file is one document and a .json file is parsed whole, so `max_bytes` caps
    the file. A .jsonl file is streamed line by line: the cap applies to each record, and one
    bad line (undecodable, malformed, too long) is one dead letter.
    """

    def __init__(self, max_bytes: int, encoding: str):
        self._max_bytes = max_bytes
        self._encoding = encoding
        self._read = Metrics.counter(metrics.SOURCES, metrics.DOCUMENTS_READ)

    def process(self, path: str) -> Iterator[Any]:
        for output in guarded(STAGE, path, self._documents(path)):
            self._read.inc()
            yield output

    def _documents(self, path: str, redrive: bool = True) -> Iterator[Any]:
        check_readable(path)
        kind = formats.format_of(path)
        try:
            if kind == "jsonl":
                yield from self._json_lines(path, redrive)
                return
            data = files.read_head(path, self._max_bytes)
        except files.READ_ERRORS as exc:
            raise Rejected(f"cannot read file: {exc}") from None
        if len(data) > self._max_bytes:
            raise Rejected(f"file larger than input.max_bytes ({self._max_bytes:,} bytes)")
        if kind == "txt":
            yield formats.text_document(path, formats.decode(data, self._encoding))
        elif kind == "html":
            yield formats.html_document(path, data)
        else:
            yield from self._json(path, data)

    def _lines(self, path: str) -> Iterator[tuple[int, Optional[bytes]]]:
        chunks = files.read_chunks(path)
        first = next(chunks, b"")
        formats.check_text_bytes(first)  # an empty or binary file is one dead letter, not many
        for number, line in formats.split_lines(itertools.chain([first], chunks), self._max_bytes):
            if line is None or line.strip():  # blank lines are not documents
                yield number, line

    def _json_lines(self, path: str, redrive: bool = True) -> Iterator[Any]:
        for number, line in self._lines(path):
            source = f"{path}#L{number}"
            yield from guarded(STAGE, source, self._records(source, line, redrive))

    def _records(self, source: str, line: Optional[bytes], redrive: bool = False) -> Iterator[Any]:
        if line is None:
            raise Rejected(f"record larger than input.max_bytes ({self._max_bytes:,} bytes)")
        record = formats.parse_json(formats.decode(line, self._encoding))
        if redrive and is_dead_letter(record):
            yield from guarded(STAGE, record["source"], self._redrive(record))
        else:
            yield formats.record_document(source, record)

    def _redrive(self, letter: dict[str, Any]) -> Iterator[Any]:
        """The input a dead letter names, read again (see the module docstring)."""
        source = letter["source"]
        if FileSystems.get_scheme(source) in ("http", "https"):
            if letter["stage"] == FEED_STAGE or "#" in source:
                raise Rejected(
                    "re-drive: feeds and their link-less entries are read by feed runs; the next run "
                    "reads this feed again (an entry once it is gone from <state_dir>/entries.jsonl)"
                )
            yield beam.pvalue.TaggedOutput(PAGES, FeedEntry(source, "re-drive", source, None, None, None, None))
            return
        if letter["stage"] == "postgres":
            raise Rejected("re-drive: a row PostgreSQL refused is written again by running its job again")
        path, line = _record_of(source)
        try:
            if line is None:
                yield from self._documents(path, redrive=False)
            elif line.startswith("L"):
                wanted = int(line[1:])
                found = [text for number, text in self._lines(path) if number == wanted]
                if not found:
                    raise Rejected(f"re-drive: {path} has no line {wanted} now")
                yield from self._records(source, found[0])
            else:
                records = formats.parse_json(formats.decode(files.read_head(path, self._max_bytes), self._encoding))
                if not isinstance(records, list) or int(line) >= len(records):
                    raise Rejected(f"re-drive: {path} has no record {line} now")
                yield formats.record_document(source, records[int(line)])
        except files.READ_ERRORS as exc:
            raise Rejected(f"re-drive: cannot read {path}: {exc}") from None

    def _json(self, path: str, data: bytes) -> Iterator[Any]:
        value = formats.parse_json(formats.decode(data, self._encoding))
        if not isinstance(value, list):
            yield formats.record_document(path, value)
            return
        if not value:
            raise Rejected("JSON array holds no records")
        for index, record in enumerate(value):
            source = f"{path}#{index}"
            yield from guarded(STAGE, source, _once(formats.record_document, source, record))


DEAD_LETTER_KEYS = frozenset({"dead_letter_id", "source", "stage", "reason"})


def is_dead_letter(record: Any) -> bool:
    """A record of the `dead_letters` table (its JSON Lines form)."""
    return isinstance(record, dict) and record.keys() >= DEAD_LETTER_KEYS


def _record_of(source: str) -> tuple[str, Optional[str]]:
    """`path#L12` -> (path, "L12"); `path#3` -> (path, "3"); `path` -> (path, None)."""
    path, sep, part = source.rpartition("#")
    if sep and (part.isdigit() or (part.startswith("L") and part[1:].isdigit())):
        return path, part
    return source, None


class ReadArticles(beam.PTransform):
    """File patterns -> `FileReadResult(documents=RawDocument, dead_letters=DeadLetter, pages=FeedEntry)`."""

    def __init__(self, patterns: list[str], max_bytes: int, encoding: str = "utf-8"):
        super().__init__()
        self._patterns = patterns
        self._max_bytes = max_bytes
        self._encoding = encoding

    def expand(self, pbegin: beam.pvalue.PBegin) -> FileReadResult:
        parsed = (
            pbegin
            | "Patterns" >> beam.Create(self._patterns)
            | "Match" >> beam.FlatMap(matched_files)
            | "Paths" >> beam.Map(lambda metadata: metadata.path)
            # Overlapping patterns name a file once; the shuffle also spreads files over workers.
            | "DistinctPaths" >> beam.Distinct()
            | "Parse"
            >> beam.ParDo(ParseFile(self._max_bytes, self._encoding))
            .with_output_types(RawDocument, dead_letters=DeadLetter, pages=FeedEntry)
            .with_outputs(DEAD_LETTERS, PAGES, main="documents")
        )
        return FileReadResult(parsed.documents, parsed[DEAD_LETTERS], parsed[PAGES])
