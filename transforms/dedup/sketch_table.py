"""Sketches as columns: many articles' MinHash signatures and ranking fields in numpy arrays.

Near-duplicate detection holds this run's sketches, and those of its candidates from the index,
as one `SketchTable` (about 550 bytes per article with 128 permutations) instead of one `Sketch`
object per article (about three times that, and a Python object the runner encodes and decodes).
A `Sketch` is made only for the rows a verified pair names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional

import numpy as np
import pyarrow as pa

from transforms.core.records import Sketch
from transforms.dedup import minhash
from transforms.dedup.keys import id_codes

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_NO_DATE = np.iinfo(np.int64).min  # `published` unknown


def _micros(published: Optional[datetime]) -> int:
    return _NO_DATE if published is None else (published - _EPOCH) // _MICROSECOND


def _uint32_rows(signatures: pa.BinaryArray) -> np.ndarray:
    """A binary column of equally long little-endian uint32 signatures as a [rows, num_perm] array,
    read from the column's one data buffer (no Python object per row)."""
    if not len(signatures):
        return np.zeros((0, 0), np.uint32)
    offsets = np.frombuffer(
        signatures.buffers()[1], dtype=np.int32, count=len(signatures) + 1, offset=signatures.offset * 4
    )
    lengths = np.diff(offsets)
    if lengths.min() != lengths.max() or lengths[0] % 4:
        raise ValueError("index sketches of different lengths: was dedup.num_perm changed?")
    data = np.frombuffer(
        signatures.buffers()[2], dtype="<u4", count=(offsets[-1] - offsets[0]) // 4, offset=int(offsets[0])
    )
    return data.reshape(len(signatures), lengths[0] // 4).astype(np.uint32)


@dataclass(frozen=True)
class SketchTable:
    """Rows of sketches sorted by id code; an article's index copy (seen) comes before its copy of
    this run, so `find` prefers what an earlier run wrote."""

    codes: np.ndarray  # uint64 id codes (`keys.id_code`)
    seen: np.ndarray  # bool
    signatures: np.ndarray  # uint32 [rows, num_perm]
    published: np.ndarray  # int64 microseconds since the epoch, _NO_DATE where unknown
    word_counts: np.ndarray  # int64
    article_ids: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def of_sketches(cls, sketches: Sequence[Sketch]) -> SketchTable:
        return cls._sorted(
            id_codes([s.article_id for s in sketches]),
            np.array([s.seen for s in sketches], dtype=bool),
            np.stack([minhash.from_bytes(s.signature) for s in sketches]) if sketches else np.zeros((0, 0), np.uint32),
            np.array([_micros(s.published) for s in sketches], dtype=np.int64),
            np.array([s.word_count for s in sketches], dtype=np.int64),
            tuple(s.article_id for s in sketches),
        )

    @classmethod
    def of_arrow(cls, table: pa.Table) -> SketchTable:
        """A table of the rows of an Arrow table of `Sketch` records (an index file)."""
        article_ids = table.column("article_id").to_pylist()
        return cls._sorted(
            id_codes(article_ids),
            table.column("seen").to_numpy(zero_copy_only=False).astype(bool),
            _uint32_rows(table.column("signature").combine_chunks()),
            table.column("published").cast(pa.int64()).fill_null(_NO_DATE).to_numpy().astype(np.int64),
            table.column("word_count").to_numpy().astype(np.int64),
            tuple(article_ids),
        )

    @classmethod
    def concat(cls, tables: Iterable[SketchTable]) -> SketchTable:
        parts = [t for t in tables if len(t)]
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return cls.of_sketches([])
        return cls._sorted(
            np.concatenate([t.codes for t in parts]),
            np.concatenate([t.seen for t in parts]),
            np.concatenate([t.signatures for t in parts]),
            np.concatenate([t.published for t in parts]),
            np.concatenate([t.word_counts for t in parts]),
            tuple(i for t in parts for i in t.article_ids),
        )

    @classmethod
    def _sorted(
        cls,
        codes: np.ndarray,
        seen: np.ndarray,
        signatures: np.ndarray,
        published: np.ndarray,
        word_counts: np.ndarray,
        article_ids: tuple[str, ...],
    ) -> SketchTable:
        order = np.lexsort((~seen, codes))
        return cls(
            codes[order],
            seen[order],
            signatures[order],
            published[order],
            word_counts[order],
            tuple(article_ids[i] for i in order.tolist()),
        )

    def take(self, rows: np.ndarray) -> SketchTable:
        """The rows numbered `rows` (ascending, so the table stays sorted)."""
        return SketchTable(
            self.codes[rows],
            self.seen[rows],
            self.signatures[rows],
            self.published[rows],
            self.word_counts[rows],
            tuple(self.article_ids[i] for i in rows.tolist()),
        )

    def find(self, codes: np.ndarray) -> np.ndarray:
        """The row of each id code (its seen copy where there are two), -1 where it has none."""
        rows = np.searchsorted(self.codes, codes)
        found = rows < len(self.codes)
        found[found] = self.codes[rows[found]] == codes[found]
        return np.where(found, rows, -1)

    def sketch(self, row: int) -> Sketch:
        micros = int(self.published[row])
        return Sketch(
            self.article_ids[row],
            None if micros == _NO_DATE else _EPOCH + micros * _MICROSECOND,
            int(self.word_counts[row]),
            minhash.to_bytes(self.signatures[row]),
            bool(self.seen[row]),
        )

    def similarities(self, first: np.ndarray, second: np.ndarray, chunk: int = 16_384) -> np.ndarray:
        """Estimated Jaccard similarity of the rows `first[i]` and `second[i]`, a chunk of pairs at a time."""
        result = np.empty(len(first), dtype=np.float64)
        for start in range(0, len(first), chunk):
            a, b = first[start : start + chunk], second[start : start + chunk]
            result[start : start + chunk] = minhash.similarities(self.signatures[a], self.signatures[b])
        return result
