"""MinHash signatures and LSH band keys for near-duplicate detection. Pure functions, numpy.

A text is reduced to the set of its word k-shingles (lower-cased word sequences of length k), each
hashed to 32 bits: every word is hashed once (CRC-32), and the words' hashes are combined into
shingle hashes with vectorised polynomial arithmetic, so no per-shingle Python work is done. The
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
import zlib
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
    return _WORD.findall(text.lower())


def shingle_hashes(text: str, size: int, distinct: bool = True) -> np.ndarray:
    """uint64 array of the 32-bit hashes of `text`'s word `size`-shingles, each once if `distinct`
    (a text shorter than `size` words is one shingle)."""
    tokens = words(text)
    if not tokens:
        return np.empty(0, dtype=np.uint64)
    word_hashes = np.fromiter((zlib.crc32(w.encode("utf-8")) for w in tokens), dtype=np.uint64, count=len(tokens))
    width = min(size, len(tokens))
    count = len(tokens) - width + 1
    combined = np.zeros(count, dtype=np.uint64)
    for offset in range(width):  # polynomial hash of each window, modulo 2^64
        combined = combined * _SHINGLE_BASE + word_hashes[offset : offset + count]
    hashes = (combined * _MIX) >> _SHIFT
    return np.unique(hashes) if distinct else hashes


def similarity(first: np.ndarray, second: np.ndarray) -> float:
    """Estimated Jaccard similarity: the fraction of equal signature positions."""
    return float(np.count_nonzero(first == second)) / len(first)


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
