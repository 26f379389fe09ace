"""MinHash signatures and LSH band keys for near-duplicate detection. Pure functions, numpy.

A text is reduced to the set of its word k-shingles (lower-cased word sequences of length k), each
hashed to 32 bits. Words are found and hashed on the text's UTF-8 bytes with numpy (a polynomial
hash from one prefix sum), and their hashes combined into shingle hashes the same way, so no
per-word or per-shingle Python work is done. The
signature is, for each of `num_perm` hash functions h(x) = ((a*x + b) mod 2^64) >> 32 (multiply-
add-shift with odd 64-bit a: a universal family for 32-bit keys, and cheaper than a prime
modulus), the minimum over the shingles, computed as one (shingles x permutations) array
operation. The fraction of equal signature positions estimates the Jaccard similarity of two
shingle sets.

LSH: the signature is cut into `bands` bands of `rows` values; two texts share a band key with
probability 1 - (1 - J^rows)^bands, so texts above the threshold (about (1/bands)^(1/rows))
almost always share one. Band keys are strings, usable as Beam keys.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

_WORD = re.compile(r"\w+")
_SHIFT = np.uint64(32)
_SHINGLE_BASE = np.uint64(0x100000001B3)  # an odd 64-bit multiplier (FNV prime)
_MIX = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio constant: spreads the combined hash's bits


class MinHasher(NamedTuple):
    """The hash functions of one configuration; equal parameters give equal signatures anywhere."""

    shingle_size: int
    a: np.ndarray  # uint64[num_perm]
    b: np.ndarray  # uint64[num_perm]

    @classmethod
    def create(cls, num_perm: int, shingle_size: int, seed: int = 1) -> MinHasher:
        rng = np.random.RandomState(seed)

        def random64() -> np.ndarray:
            high = rng.randint(0, 1 << 32, size=num_perm, dtype=np.uint64)
            return (high << np.uint64(32)) | rng.randint(0, 1 << 32, size=num_perm, dtype=np.uint64)

        return cls(shingle_size, random64() | np.uint64(1), random64())

    @property
    def num_perm(self) -> int:
        return len(self.a)

    def signature(self, text: str) -> np.ndarray:
        """uint32[num_perm]: the MinHash signature of `text`'s shingles."""
        hashes = shingle_hashes(text, self.shingle_size, distinct=False)  # repeats do not change a minimum
        if hashes.size == 0:
            return np.full(self.num_perm, 0xFFFFFFFF, dtype=np.uint32)
        permuted = (np.outer(hashes, self.a) + self.b) >> _SHIFT
        return permuted.min(axis=0).astype(np.uint32)


def words(text: str) -> list[str]:
    """The words of `text` as `word_hashes` splits them (it also splits at ASCII punctuation, the
    Unicode punctuation block and no-break spaces, but keeps other non-ASCII symbols in words)."""
    return _WORD.findall(text.lower())


def _word_table() -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    for char in string.ascii_lowercase + string.digits + "_":
        table[ord(char)] = True
    table[0x80:] = True  # bytes of multi-byte UTF-8 characters: letters of other scripts
    return table


_WORD_BYTES = _word_table()
_INVERSE_BASE = np.uint64(pow(int(_SHINGLE_BASE), -1, 1 << 64))  # the base is odd: invertible mod 2^64


def word_hashes(text: str) -> np.ndarray:
    """uint64 hash of each word of `text` (lower-cased runs of letters, digits and _; the Unicode
    punctuation block and no-break spaces separate words), computed on the UTF-8 bytes with
    prefix sums instead of a Python call per word."""
    data = np.frombuffer(text.lower().encode("utf-8"), dtype=np.uint8)
    if data.size == 0:
        return np.empty(0, dtype=np.uint64)
    inside = _WORD_BYTES[data]
    for lead, second in ((0xE2, 0x80), (0xC2, 0xA0)):  # U+2000-U+203F punctuation, U+00A0
        marks = np.flatnonzero((data[:-1] == lead) & (data[1:] == second))
        for offset in range(3 if lead == 0xE2 else 2):
            inside[np.minimum(marks + offset, data.size - 1)] = False
    edges = np.flatnonzero(np.diff(np.concatenate(([False], inside, [False])).astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    if starts.size == 0:
        return np.empty(0, dtype=np.uint64)
    # h(word) = sum of byte * base^(end-1-k) over its bytes k, mod 2^64, from one prefix sum of
    # byte * base^-k: (S[end] - S[start]) * base^(end-1).
    powers = _powers(_SHINGLE_BASE, data.size)  # base^k
    inverse = _powers(_INVERSE_BASE, data.size)  # base^-k
    prefix = np.concatenate(
        ([np.uint64(0)], np.cumsum((data.astype(np.uint64) + np.uint64(1)) * inverse, dtype=np.uint64))
    )
    return ((prefix[ends] - prefix[starts]) * powers[ends - 1]) * _MIX


def _powers(base: np.uint64, count: int) -> np.ndarray:
    """base^0 .. base^(count-1), modulo 2^64."""
    return np.concatenate(([np.uint64(1)], np.cumprod(np.full(count - 1, base, dtype=np.uint64), dtype=np.uint64)))


def shingle_hashes(text: str, size: int, distinct: bool = True) -> np.ndarray:
    """uint64 array of the 32-bit hashes of `text`'s word `size`-shingles, each once if `distinct`
    (a text shorter than `size` words is one shingle)."""
    hashed_words = word_hashes(text)
    if hashed_words.size == 0:
        return hashed_words
    width = min(size, hashed_words.size)
    count = hashed_words.size - width + 1
    combined = np.zeros(count, dtype=np.uint64)
    for offset in range(width):  # polynomial hash of each window, modulo 2^64
        combined = combined * _SHINGLE_BASE + hashed_words[offset : offset + count]
    hashes = (combined * _MIX) >> _SHIFT
    return np.unique(hashes) if distinct else hashes


def similarity(first: np.ndarray, second: np.ndarray) -> float:
    """Estimated Jaccard similarity: the fraction of equal signature positions."""
    return float(np.count_nonzero(first == second)) / len(first)


def similarities(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """`similarity` of each row of `first` with the same row of `second` ([pairs, num_perm] arrays)."""
    return np.count_nonzero(first == second, axis=1) / first.shape[1]


def band_keys(signature: np.ndarray, bands: int) -> list[str]:
    """One key per band: `<band>:<64-bit hash of the band's values>`; equal keys = equal bands."""
    rows = signature.reshape(bands, -1).astype(np.uint64)
    combined = np.zeros(bands, dtype=np.uint64)
    for column in range(rows.shape[1]):  # polynomial hash of each band's values, modulo 2^64
        combined = combined * _SHINGLE_BASE + rows[:, column]
    hashes = (combined * _MIX) ^ (combined >> _SHIFT)
    return [f"{band:02d}:{value:016x}" for band, value in enumerate(hashes.tolist())]


def to_bytes(signature: np.ndarray) -> bytes:
    return signature.astype("<u4").tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u4")


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """Probability that two texts of this Jaccard similarity share at least one band."""
    return float(1.0 - (1.0 - jaccard**rows) ** bands)


def components(edges: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Connected components of an undirected graph: node -> the smallest node of its component."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        parent.setdefault(node, node)
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    for left, right in edges:
        a, b = find(left), find(right)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return {node: find(node) for node in parent}
