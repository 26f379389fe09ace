"""Stable ids: the same input gives the same id on every worker and in every run, so rows are
keys a warehouse can upsert on and a re-run replaces rather than doubles."""

from __future__ import annotations

import hashlib
from typing import Any


def stable_id(*parts: Any, size: int = 8) -> str:
    """A hex id of `size` bytes that depends only on `parts` (the same input, the same id)."""
    digest = hashlib.blake2b(digest_size=size)
    for part in parts:
        digest.update(str(part).encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return digest.hexdigest()
