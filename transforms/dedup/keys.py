"""The keys an article is found by in de-duplication, as 63-bit integer codes.

Every article has an `id:` key (its id), a `hash:` key (its content hash), a `url:` key when it
has a URL, and one `band:` key per LSH band of its MinHash signature. Two articles sharing a key
are candidates: the same article again (id), the same URL or text (url, hash), or possibly the
same story (band). Keys travel, are grouped and are stored as codes: the kind of key in the top
two bits below the sign bit (Beam's integer coder is signed), a blake2b hash of the key below; an
article id has a code of its own (`id_code`). Codes are 8 bytes in a numpy array where a key
string is an object of about 80.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np

from transforms.core.ids import stable_id
from transforms.core.records import KeyBlock
from transforms.dedup import minhash

KINDS = ("id", "url", "hash", "band")
ID, URL, HASH, BAND = range(len(KINDS))
_KIND_SHIFT = 61


def _hash64(text: str) -> int:
    return int(stable_id(text), 16)


def key_code(key: str) -> int:
    """The code of a key written `<kind>:<value>` (kind: one of KINDS)."""
    kind, _ = key.split(":", 1)
    return (KINDS.index(kind) << _KIND_SHIFT) | (_hash64(key) >> 3)


def id_code(article_id: str) -> int:
    """A 63-bit code of an article id (n ids hold two equal codes with odds of about n^2 / 2^64)."""
    return _hash64(article_id) >> 1


def id_codes(article_ids: Sequence[str]) -> np.ndarray:
    """uint64 codes of article ids."""
    return np.fromiter(map(id_code, article_ids), dtype=np.uint64, count=len(article_ids))


def kinds(codes: np.ndarray) -> np.ndarray:
    """The kind (ID, URL, HASH or BAND) of each key code, as uint8."""
    return (codes >> np.uint64(_KIND_SHIFT)).astype(np.uint8)


def kind(code: int) -> int:
    return code >> _KIND_SHIFT


def article_keys(article_id: str, url: Optional[str], content_hash: str, signature: bytes, bands: int) -> list[str]:
    """Every key an article is found by: its id, URL, content hash and LSH bands."""
    keys = [f"id:{article_id}", f"hash:{content_hash}"]
    if url:
        keys.append(f"url:{url}")
    keys.extend(f"band:{key}" for key in minhash.band_keys(minhash.from_bytes(signature), bands))
    return keys


def codes(keys: list[str]) -> np.ndarray:
    """uint64 codes of keys."""
    return np.fromiter((key_code(key) for key in keys), dtype=np.uint64, count=len(keys))


def arrays(block: KeyBlock) -> tuple[np.ndarray, np.ndarray]:
    """(key codes, id codes) of a block, as uint64 arrays."""
    return np.frombuffer(block.key_codes, dtype=np.uint64), np.frombuffer(block.id_codes, dtype=np.uint64)
