"""A per-machine cache of what a worker builds at start from installed data (the gazetteer's name
indexes, the language identifier's decompressed model), so that the next worker reads it.

Files live in `$XDG_CACHE_HOME/newsbeam/` (default `~/.cache/newsbeam/`), named by a hash of the
files and versions the built object depends on: a new release of the data, a change to the code
that builds it or another Python gives another name, never a stale object. A file is written to
a temporary name and renamed, so workers starting together never read half of one; a damaged file
is built again and replaced; without a writable cache directory every worker builds its own.
The files are the worker's own output (pickle or marshal), trusted like the packages they come from.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Optional, TypeVar

T = TypeVar("T")


def cached(
    name: str,
    sources: Sequence[Path],
    packages: Sequence[str],
    build: Callable[[], T],
    dumps: Callable[[T], bytes],
    loads: Callable[[bytes], T],
) -> T:
    """`build()`, or what an earlier `build()` with the same `sources` (their bytes) and `packages`
    (their installed versions) cached as `<cache>/newsbeam/<stem>-<hash>.<suffix>` for a `name`
    `stem.suffix`. Whatever `loads` raises on a damaged file, the object is built again."""
    path = _path(name, sources, packages)
    if path is not None:
        try:
            return loads(path.read_bytes())
        except Exception:  # pylint: disable=broad-except  # no cache yet, or a damaged one (any error): build
            pass
    built = build()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
            partial.write_bytes(dumps(built))
            os.replace(partial, path)
        except OSError:
            pass
    return built


def _path(name: str, sources: Sequence[Path], packages: Sequence[str]) -> Optional[Path]:
    try:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no home directory
        return None
    key = hashlib.blake2b(digest_size=10)
    for source in sources:
        key.update(source.read_bytes())
    key.update(" ".join([*(metadata.version(p) for p in packages), str(sys.version_info[:2])]).encode())
    stem, _, suffix = name.partition(".")
    return root / "newsbeam" / f"{stem}-{key.hexdigest()}.{suffix}"
