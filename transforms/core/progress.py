"""Progress lines for long runs: documents done and the rate, logged by each worker."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any, Optional

import apache_beam as beam

_LOG = logging.getLogger(__name__)


class LogProgress(beam.DoFn):
    """Pass-through that logs, every `interval` seconds, how many elements this worker has seen."""

    def __init__(self, what: str, interval: float):
        self._what = what
        self._interval = interval
        self._count = 0
        self._started: Optional[float] = None
        self._logged = 0.0

    def process(self, element: Any) -> Iterator[Any]:
        now = time.monotonic()
        if self._started is None:
            self._started = self._logged = now
        self._count += 1
        if now - self._logged >= self._interval:
            self._logged = now
            _LOG.info(
                "%s: %d documents done (%.1f docs/s)",
                self._what,
                self._count,
                self._count / max(now - self._started, 1e-9),
            )
        yield element
