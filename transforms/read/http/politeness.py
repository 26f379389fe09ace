"""Per-host politeness shared by a worker's fetch threads: request spacing and robots.txt rules.

A worker keeps one `Hosts` (through `apache_beam.utils.shared`), so every thread and every fetch
stage of the worker respects the same spacing for a host and reads its robots.txt once.
"""

from __future__ import annotations

import threading
import time
from typing import NamedTuple, Optional

from protego import Protego

# RFC 9309: robots.txt may be cached for up to 24 hours; longer streaming runs fetch it again.
ROBOTS_TTL_SECONDS = 24 * 3600


class RobotsRules(NamedTuple):
    """A host's robots.txt: parsed rules, none (allow everything), or a reason to fetch nothing."""

    parser: Optional[Protego]
    blocked: Optional[str]  # why nothing may be fetched (robots.txt unreachable), if so
    error_type: Optional[str]  # the failure kind behind `blocked`
    fetched_at: float

    def allows(self, url: str, agent: str) -> bool:
        return self.blocked is None and (self.parser is None or self.parser.can_fetch(url, agent))

    def interval(self, agent: str) -> float:
        """The spacing between requests the rules ask for (crawl-delay or request-rate), 0 if none."""
        if self.parser is None:
            return 0.0
        delay = float(self.parser.crawl_delay(agent) or 0.0)
        rate = self.parser.request_rate(agent)
        if rate is not None and rate.requests:
            delay = max(delay, rate.seconds / rate.requests)
        return delay


class Hosts:
    """When each host may next be requested, and each origin's robots.txt rules. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_request: dict[str, float] = {}
        self._robots: dict[str, RobotsRules] = {}
        self._origin_locks: dict[str, threading.Lock] = {}

    def wait_turn(self, host: str, interval: float) -> None:
        """Block until `host` may be requested: `interval` seconds after its previous request
        (reserved here, so threads sharing a host queue in order)."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_request.get(host, now))
            self._next_request[host] = start + interval
        if start > now:
            time.sleep(start - now)

    def finished(self, host: str, interval: float) -> None:
        """A request to `host` has ended: the next may start `interval` seconds from now.

        Counting from the end of the response keeps every gap at least `interval` however late a
        busy worker thread got to send the request, and asks a slow host less often."""
        self.defer(host, interval)

    def defer(self, host: str, seconds: float) -> None:
        """No request to `host` for `seconds` from now (a Retry-After, a back-off)."""
        with self._lock:
            now = time.monotonic()
            self._next_request[host] = max(self._next_request.get(host, now), now + seconds)

    def origin_lock(self, origin: str) -> threading.Lock:
        """A lock per origin, so one thread fetches its robots.txt while the others wait for it."""
        with self._lock:
            return self._origin_locks.setdefault(origin, threading.Lock())

    def robots(self, origin: str) -> Optional[RobotsRules]:
        with self._lock:
            rules = self._robots.get(origin)
        if rules is not None and time.monotonic() - rules.fetched_at > ROBOTS_TTL_SECONDS:
            return None
        return rules

    def set_robots(self, origin: str, rules: RobotsRules) -> None:
        with self._lock:
            self._robots[origin] = rules
