"""Freed memory handed back to the system while a local pipeline runs.

Beam's local runners run a job's stages one after another in this process, and much of what a
stage frees stays with the allocators: pyarrow's jemalloc pool keeps freed memory for reuse, and
glibc keeps the freed pages of its heaps until something trims them. The next stage then starts
from the last one's high-water mark. While a local pipeline runs, pyarrow allocates through the
system allocator and a thread trims glibc's heaps every few seconds (as Dask's workers do).
Measured on a 6,250-article segment de-duplicated against a 37,500-article index: peak RSS 1,061
-> 999 MiB, run time unchanged (211 s both, side by side).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Optional

import pyarrow as pa

_LOG = logging.getLogger(__name__)


def _malloc_trim() -> Optional[Callable[[int], int]]:
    """glibc's malloc_trim, or None where the C library has none (macOS, musl)."""
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


@contextlib.contextmanager
def handed_back(period: float = 2.0) -> Iterator[None]:
    """While the block runs: pyarrow on the system allocator, glibc's heaps trimmed every `period` s."""
    trim = _malloc_trim()
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    stop = threading.Event()
    trimmer = None
    if trim is not None:

        def run() -> None:
            while not stop.wait(period):
                trim(0)

        trimmer = threading.Thread(target=run, name="newsbeam-malloc-trim", daemon=True)
        trimmer.start()
    else:
        _LOG.debug("no malloc_trim in this C library: freed memory stays with the allocator")
    try:
        yield
    finally:
        stop.set()
        if trimmer is not None:
            trimmer.join()
        pa.set_memory_pool(previous)
