"""Loopback web sites for the feed tests and benchmarks: scripted replies, recorded requests.

    with Site() as site:
        site.route("/feed.xml", Reply(body=rss, headers={"Content-Type": "application/rss+xml"}))
        site.route("/flaky", [Reply(500), Reply(200, b"<html>...")])   # one reply per request, last repeats
        site.route("/cond", lambda request: Reply(304) if request.headers.get("If-None-Match") else ...)
        fetch(site.url("/feed.xml"))
        site.requests   # what was asked, when

Each site listens on its own loopback address (127.0.0.N), so several sites are several hosts.
Unknown paths (robots.txt included) answer 404.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple, Optional, Union


class Reply(NamedTuple):
    status: int = 200
    body: bytes = b""
    headers: Optional[dict[str, str]] = None
    delay: float = 0.0  # seconds before the status line
    chunk_delay: float = 0.0  # seconds between body chunks of `chunk_size` bytes (a slow body)
    chunk_size: int = 1024


class Request(NamedTuple):
    time: float  # time.monotonic()
    path: str
    headers: dict[str, str]


Handler = Union[Reply, Sequence[Reply], Callable[[Request], Reply]]


class Site:
    """An HTTP server on `host` (a loopback address) with scripted replies per path."""

    def __init__(self, host: str = "127.0.0.1", latency: float = 0.0):
        self.host = host
        self.latency = latency  # added before every reply
        self.requests: list[Request] = []
        self._routes: dict[str, Handler] = {}
        self._served: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None

    def route(self, path: str, handler: Handler) -> None:
        self._routes[path] = handler

    def url(self, path: str = "/") -> str:
        assert self._server is not None, "start the site first"
        return f"http://{self.host}:{self._server.server_address[1]}{path}"

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def __enter__(self) -> Site:
        site = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                site._serve(self)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # quiet

        self._server = ThreadingHTTPServer((self.host, 0), _Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _reply_for(self, request: Request) -> Reply:
        handler = self._routes.get(request.path)
        if handler is None:
            return Reply(404, b"not found")
        if isinstance(handler, Reply):
            return handler
        if callable(handler):
            return handler(request)
        with self._lock:
            index = self._served[request.path]
            self._served[request.path] += 1
        return handler[min(index, len(handler) - 1)]

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        request = Request(time.monotonic(), handler.path, dict(handler.headers.items()))
        with self._lock:
            self.requests.append(request)
        reply = self._reply_for(request)
        time.sleep(self.latency + reply.delay)
        try:
            handler.send_response(reply.status)
            headers = {"Content-Type": "text/html; charset=utf-8", **(reply.headers or {})}
            for name, value in headers.items():
                handler.send_header(name, value)
            if "Content-Length" not in headers:
                handler.send_header("Content-Length", str(len(reply.body)))
            handler.end_headers()
            if not reply.chunk_delay:
                handler.wfile.write(reply.body)
                return
            for start in range(0, len(reply.body), reply.chunk_size):
                handler.wfile.write(reply.body[start : start + reply.chunk_size])
                handler.wfile.flush()
                time.sleep(reply.chunk_delay)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should with slow bodies
