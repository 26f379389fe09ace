"""Source stage: file patterns on any Beam filesystem -> `RawDocument`s and dead letters.

A .txt or .html file is one document; a .jsonl file is one document per non-blank line and a
.json file one per record (an object, or each object of a top-level array). Compressed files
(.gz, .bz2, .zst, ...) are read transparently. Every document read is counted once, whether it
becomes a `RawDocument` or a dead letter, so the run summary can account for all of them.
"""
from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pipeline.config import ConfigError
from pipeline.records import DeadLetter, RawDocument
from transforms import files, formats
from transforms.dead_letters import DEAD_LETTERS, Rejected, guarded

STAGE = "read"
NAMESPACE = "newsbeam.sources"
DOCUMENTS_READ = "documents_read"


class ReadResult(NamedTuple):
    documents: beam.PCollection  # RawDocument
    dead_letters: beam.PCollection  # DeadLetter


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
        try:
            matched = FileSystems.match([pattern])[0].metadata_list
        except ValueError as exc:  # unknown scheme, or its filesystem is not installed
            raise ConfigError(f"input.paths: {pattern}: {exc}") from None
        found = [m for m in matched if not (is_local and os.path.isdir(m.path))]
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
        self._read = Metrics.counter(NAMESPACE, DOCUMENTS_READ)

    def process(self, path: str) -> Iterator[Any]:
        for output in guarded(STAGE, path, self._documents(path)):
            self._read.inc()
            yield output

    def _documents(self, path: str) -> Iterator[Any]:
        kind = formats.format_of(path)
        try:
            if kind == "jsonl":
                yield from self._json_lines(path)
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

    def _json_lines(self, path: str) -> Iterator[Any]:
        chunks = files.read_chunks(path)
        first = next(chunks, b"")
        formats.check_text_bytes(first)  # an empty or binary file is one dead letter, not many
        for number, line in formats.split_lines(itertools.chain([first], chunks), self._max_bytes):
            if line is not None and not line.strip():
                continue  # blank lines are not documents
            source = f"{path}#L{number}"
            yield from guarded(STAGE, source, _once(self._record, source, line))

    def _record(self, source: str, line: Optional[bytes]) -> RawDocument:
        if line is None:
            raise Rejected(f"record larger than input.max_bytes ({self._max_bytes:,} bytes)")
        return formats.record_document(source, formats.parse_json(formats.decode(line, self._encoding)))

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


class ReadArticles(beam.PTransform):
    """File patterns -> `ReadResult(documents=RawDocument, dead_letters=DeadLetter)`."""

    def __init__(self, patterns: list[str], max_bytes: int, encoding: str = "utf-8"):
        super().__init__()
        self._patterns = patterns
        self._max_bytes = max_bytes
        self._encoding = encoding

    def expand(self, pbegin: beam.pvalue.PBegin) -> ReadResult:
        parsed = (
            pbegin
            | "Patterns" >> beam.Create(self._patterns)
            | "Match" >> fileio.MatchAll()
            | "Paths" >> beam.Map(lambda metadata: metadata.path)
            # Overlapping patterns name a file once; the shuffle also spreads files over workers.
            | "DistinctPaths" >> beam.Distinct()
            | "Parse"
            >> beam.ParDo(ParseFile(self._max_bytes, self._encoding))
            .with_output_types(RawDocument, dead_letters=DeadLetter)
            .with_outputs(DEAD_LETTERS, main="documents")
        )
        return ReadResult(parsed.documents, parsed[DEAD_LETTERS])
