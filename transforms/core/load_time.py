"""How long a worker spent loading what a stage needs (spaCy, the gazetteer, the classifier)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from apache_beam.metrics import Metrics

from transforms.core import metrics


class LoadTime:
    """Times the loads of a `DoFn.setup` and counts them (`newsbeam.timing/model_load_ms`) in its
    first bundle: Beam records metrics only while a bundle runs. A model shared by the DoFns of a
    process is counted once, by the one that loaded it; the others wait about nothing."""

    def __init__(self) -> None:
        self._counter = Metrics.counter(metrics.TIMING, metrics.MODEL_LOAD_MILLISECONDS)
        self._pending = 0

    @contextmanager
    def measure(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._pending += round((time.perf_counter() - started) * 1000)

    def report(self) -> None:
        """Count what was measured since the last report (call at the start of a bundle)."""
        if self._pending:
            self._counter.inc(self._pending)
            self._pending = 0
