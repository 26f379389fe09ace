"""Loopback web sites for the feed tests and benchmarks: scripted replies, recorded requests
(GET, and PUT/POST with their bodies).

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
    method: str = "GET"
    body: bytes = b""  # of a PUT or POST


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

            def do_PUT(self) -> None:  # noqa: N802
                site._serve(self)

            def do_POST(self) -> None:  # noqa: N802
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
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        request = Request(time.monotonic(), handler.path, dict(handler.headers.items()), handler.command, body)
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


# -- content ---------------------------------------------------------------------------------
class Item(NamedTuple):
    """One feed item: `link` may be relative; `summary` is HTML."""

    title: str
    link: Optional[str]
    summary: Optional[str] = None
    published: str = "Fri, 07 May 2021 09:30:00 +0430"  # RFC 822, as RSS has it
    guid: Optional[str] = None


def _x(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def rss(items: Sequence[Item], title: str = "Test wire", encoding: str = "utf-8") -> bytes:
    """An RSS 2.0 feed."""
    body = "".join(
        "<item>"
        f"<title>{_x(i.title)}</title>"
        + (f"<link>{_x(i.link)}</link>" if i.link else "")
        + (f"<description>{_x(i.summary)}</description>" if i.summary else "")
        + f"<pubDate>{i.published}</pubDate>"
        + (f'<guid isPermaLink="false">{_x(i.guid)}</guid>' if i.guid else "")
        + "</item>"
        for i in items
    )
    return (
        f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel><title>{_x(title)}</title>'
        f"<link>http://example.org/</link><description>x</description>{body}</channel></rss>"
    ).encode(encoding)


def atom(items: Sequence[Item], title: str = "Test wire") -> bytes:
    """An Atom 1.0 feed (dates must be RFC 3339: `published` is used as given)."""
    body = "".join(
        f"<entry><title>{_x(i.title)}</title><id>{_x(i.guid or i.link or i.title)}</id>"
        + (f'<link rel="alternate" href="{_x(i.link)}"/>' if i.link else "")
        + (f'<summary type="html">{_x(i.summary)}</summary>' if i.summary else "")
        + f"<updated>{i.published}</updated></entry>"
        for i in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{_x(title)}</title><id>urn:test</id><updated>2021-05-07T05:00:00Z</updated>{body}</feed>"
    ).encode()


def rdf(items: Sequence[Item], title: str = "Test wire") -> bytes:
    """An RSS 1.0 (RDF) feed with Dublin Core dates (`published` is used as given)."""
    body = "".join(
        f'<item rdf:about="{_x(i.link or i.title)}"><title>{_x(i.title)}</title>'
        + (f"<link>{_x(i.link)}</link>" if i.link else "")
        + (f"<description>{_x(i.summary)}</description>" if i.summary else "")
        + f"<dc:date>{i.published}</dc:date></item>"
        for i in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<channel rdf:about="urn:test"><title>{_x(title)}</title><link>http://example.org/</link>'
        f"<description>x</description></channel>{body}</rdf:RDF>"
    ).encode()


def article_page(title: str, paragraphs: Sequence[str], site_name: str = "Test Wire", lang: str = "en") -> bytes:
    """A news article page with navigation, a sidebar and a footer around the story."""
    story = "".join(f"<p>{_x(p)}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{_x(title)} | {_x(site_name)}'
        f'</title><meta property="og:site_name" content="{_x(site_name)}"></head><body>'
        '<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>'
        f"<article><h1>{_x(title)}</h1>{story}</article>"
        '<aside><h2>Most read</h2><ul><li><a href="/x">Another story</a></li></ul></aside>'
        "<footer>Copyright Test Wire. All rights reserved.</footer></body></html>"
    ).encode()
