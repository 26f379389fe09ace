"""A DoFn base for fetching grouped by host: hosts in parallel on a worker's threads, each host's
items one after another, so concurrency costs no politeness.

Input elements are `(host, items)` groups from a GroupByKey. `process` hands each group to a
thread pool and returns; finished groups are emitted by later `process` calls and, at the latest,
by `finish_bundle`, in the window and with the timestamp of their input group. Fetch threads only
compute; metrics are counted and outputs routed (`route`) on the bundle's thread, where Beam's
metrics live.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Optional

import apache_beam as beam
from apache_beam.utils import shared
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from transforms.core.dead_letters import from_exception
from transforms.core.settings import FetchSettings
from transforms.read.http.fetch import Fetcher
from transforms.read.http.politeness import Hosts


class PerHostFetchFn(beam.DoFn):
    """Subclasses implement `handle` (on a fetch thread) and `route` (on the bundle thread)."""

    stage = "fetch"

    def __init__(self, settings: FetchSettings, hosts: shared.Shared):
        self._settings = settings
        self._shared_hosts = hosts
        self._hosts: Optional[Hosts] = None
        self._pool: Optional[ThreadPoolExecutor] = None
        self._local: Optional[threading.local] = None  # created in setup: not picklable
        self._fetchers: list[Fetcher] = []
        self._pending: list[tuple[Future[list[Any]], Any, Timestamp]] = []

    def setup(self) -> None:
        # One `Hosts` per worker process, shared by every fetch stage, thread and bundle in it.
        self._hosts = self._shared_hosts.acquire(Hosts, tag="newsbeam.hosts")
        self._pool = ThreadPoolExecutor(self._settings.concurrent_hosts, thread_name_prefix=type(self).__name__)
        self._local = threading.local()
        self._fetchers = []

    def start_bundle(self) -> None:
        self._pending = []

    def process(
        self,
        group: tuple[str, Iterable[Any]],
        window: Any = beam.DoFn.WindowParam,
        timestamp: Any = beam.DoFn.TimestampParam,
    ) -> Iterator[Any]:
        host, items = group
        assert self._pool is not None
        self._pending.append((self._pool.submit(self._run_host, host, list(items)), window, timestamp))
        yield from self._emit(wait=False)

    def finish_bundle(self) -> Iterator[Any]:
        yield from self._emit(wait=True)

    def teardown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        for fetcher in self._fetchers:
            fetcher.close()

    # -- for subclasses ------------------------------------------------------------------------
    def handle(self, item: Any) -> Iterable[Any]:
        """The outputs for one item; runs on a fetch thread. Raising makes a dead letter."""
        raise NotImplementedError

    def ordered(self, items: list[Any]) -> list[Any]:
        """The order a host's items are handled in (default: as they came)."""
        return items

    def source_of(self, item: Any) -> str:
        """The dead-letter `source` of an item."""
        raise NotImplementedError

    def route(self, output: Any) -> Any:
        """An output of `handle` as the value or `TaggedOutput` to emit, or None for nothing;
        runs on the bundle thread."""
        raise NotImplementedError

    def thread_local(self) -> threading.local:
        """Storage of the current fetch thread."""
        assert self._local is not None
        return self._local

    def fetcher(self) -> Fetcher:
        """This thread's HTTP client."""
        assert self._hosts is not None
        local = self.thread_local()
        fetcher = getattr(local, "fetcher", None)
        if fetcher is None:
            fetcher = local.fetcher = Fetcher(self._settings, self._hosts)
            self._fetchers.append(fetcher)
        return fetcher

    # -- internals -----------------------------------------------------------------------------
    def _run_host(self, host: str, items: list[Any]) -> list[Any]:
        outputs: list[Any] = []
        for item in self.ordered(items):
            try:
                produced = list(self.handle(item))  # all of an item's outputs, or its dead letter
                outputs.extend(produced)
            except Exception as exc:  # pylint: disable=broad-except  # every item ends somewhere
                outputs.append(from_exception(self.stage, self.source_of(item), exc))
        return outputs

    def _emit(self, wait: bool) -> Iterator[Any]:
        still_running = []
        for future, window, timestamp in self._pending:
            if not wait and not future.done():
                still_running.append((future, window, timestamp))
                continue
            for output in future.result():
                routed = self.route(output)
                if routed is None:
                    continue
                if isinstance(routed, beam.pvalue.TaggedOutput):
                    yield beam.pvalue.TaggedOutput(routed.tag, WindowedValue(routed.value, timestamp, (window,)))
                else:
                    yield WindowedValue(routed, timestamp, (window,))
        self._pending = still_running
