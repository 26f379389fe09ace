"""Freed memory handed back while a local pipeline runs (pipeline.memory)."""

from __future__ import annotations

import threading

import pyarrow as pa

from pipeline import memory


def _trimmers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "newsbeam-malloc-trim"]


def test_within_the_block_pyarrow_uses_the_system_allocator_and_a_thread_trims_the_heap() -> None:
    before = pa.default_memory_pool().backend_name
    with memory.handed_back(period=0.01):
        assert pa.default_memory_pool().backend_name == "system"
        assert len(_trimmers()) == 1
        assert sum(len(pa.array(range(100_000))) for _ in range(20)) == 2_000_000  # allocations work
    assert pa.default_memory_pool().backend_name == before
    assert not _trimmers()
