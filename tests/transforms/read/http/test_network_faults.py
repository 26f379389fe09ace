"""Network faults against loopback servers: each ends as a bounded failure (a `Rejected` the
fetch stages turn into a dead letter), never a hang or a crash."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from tests.transforms.read.http.test_fetch import PAGE, failure, fetcher
from transforms.testing.sites import Reply, Site


@pytest.fixture
def web() -> Iterator[Site]:
    with Site() as running:
        yield running


@pytest.fixture
def resetting_server() -> Iterator[str]:
    """Answers every request with a header promising 100,000 bytes, sends 20, then resets the
    connection (RST, not a clean close)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n<html><body>partial"
            )
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    listener.close()


def test_a_connection_reset_mid_body_is_retried_then_a_failure(resetting_server: str) -> None:
    started = time.monotonic()
    rejected = failure(fetcher(retries=2), f"{resetting_server}/a")
    assert rejected.error_type == "connection" and rejected.attempts == 3
    assert time.monotonic() - started < 5


def test_a_tls_failure_is_a_failure_not_a_crash(web: Site) -> None:
    web.route("/a", Reply(200, PAGE))
    https = web.url("/a").replace("http://", "https://")  # the server speaks plain HTTP: the handshake fails
    rejected = failure(fetcher(retries=1), https)
    assert rejected.error_type in ("tls", "connection") and rejected.reason


def test_a_429_storm_gives_up_after_the_retries_within_the_configured_bound(web: Site) -> None:
    web.route("/busy", Reply(429, b"slow down", {"Retry-After": "1"}))
    started = time.monotonic()
    rejected = failure(fetcher(retries=3, backoff_seconds=0.05), web.url("/busy"))
    elapsed = time.monotonic() - started
    assert (rejected.status, rejected.attempts) == (429, 4)
    assert len(web.hits("/busy")) == 4
    assert 3 <= elapsed < 6  # three waits of the 1 s the server asked for, no more
    impatient = failure(fetcher(retries=3, max_retry_after=0.5), web.url("/busy"))
    assert impatient.attempts == 1  # it asks for longer than allowed: no waiting at all
