"""HTTP fetching for feeds and article pages: polite, bounded and safe by default.

One `Fetcher` per worker thread (a `requests.Session` and its connection pool); the per-host
state it respects is shared (`politeness.Hosts`). For every request:
- only http and https; the host must resolve to a public address unless its network is listed in
  `fetch.allowed_networks`. The check runs inside the connection, on the address actually
  connected to, so a DNS answer cannot change between the check and the connection;
- robots.txt of the origin is honoured (fetched once per worker, RFC 9309 semantics);
- a request to a host starts at least 1/`requests_per_second` (or the robots.txt crawl-delay)
  after the previous one to that host ended;
- connect, read and whole-response timeouts; redirects followed by hand (each hop is checked
  like the first) up to `max_redirects`; bodies capped at `max_bytes` after decompression;
- 429, 5xx, timeouts and connection errors are retried with exponential back-off, honouring
  Retry-After, at most `retries` times.
Every failure raises `Rejected` with a readable reason, a failure kind, the last HTTP status and
the number of requests made.
"""

from __future__ import annotations

import email.utils
import ipaddress
import socket
import time
from collections.abc import Collection
from datetime import datetime, timezone
from typing import Any, NamedTuple, Optional
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
import urllib3.response
from protego import Protego
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError

from transforms.core.dead_letters import Rejected
from transforms.core.settings import FetchSettings
from transforms.read.http.politeness import Hosts, RobotsRules

SCHEMES = ("http", "https")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = ("text/html", "application/xhtml+xml")
ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309: parse at least the first 500 KiB
_CHUNK = 64 * 1024

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Response(NamedTuple):
    url: str  # after redirects
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    attempts: int  # requests made, retries and redirects included


class BlockedAddress(Exception):
    """A host resolved only to addresses the policy refuses (private, loopback, ...)."""


class AddressPolicy:
    """Public unicast addresses are allowed; others only inside `allowed_networks`."""

    def __init__(self, allowed_networks: Collection[str] = ()):
        self._allowed = [ipaddress.ip_network(n, strict=False) for n in allowed_networks]

    def allows(self, address: Address) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if any(address in network for network in self._allowed):
            return True
        return address.is_global and not address.is_multicast

    def resolve(self, host: str, port: int, connection: HTTPConnection) -> str:
        """An allowed address of `host`, or BlockedAddress / NameResolutionError."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameResolutionError(host, connection, exc) from exc
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        for address in addresses:
            if self.allows(address):
                return str(address)
        found = ", ".join(f"{a} ({_kind(a)})" for a in sorted(set(addresses), key=str))
        where = f"{host} is" if found.startswith(host + " ") else f"{host} resolves to"
        raise BlockedAddress(f"{where} {found}: not fetched unless fetch.allowed_networks includes it")


def _kind(address: Address) -> str:
    for kind in ("loopback", "link_local", "multicast", "private", "reserved", "unspecified"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-") + " address"
    return "non-public address"


class _CheckedConnection:
    """Mixin for urllib3 connections: connect only to an address the policy allows."""

    policy: AddressPolicy

    def _new_conn(self) -> socket.socket:
        host: str = self._dns_host  # type: ignore[has-type]
        self._dns_host = self.policy.resolve(host, self.port, self)  # type: ignore[attr-defined,arg-type]
        try:
            return super()._new_conn()  # type: ignore[misc]
        finally:
            self._dns_host = host  # TLS still verifies the certificate against the host name


class _CheckedAdapter(HTTPAdapter):
    def __init__(self, policy: AddressPolicy, pool_size: int):
        self._policy = policy
        super().__init__(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        attrs = {"policy": self._policy}
        http = type("CheckedHTTPConnection", (_CheckedConnection, HTTPConnection), attrs)
        https = type("CheckedHTTPSConnection", (_CheckedConnection, HTTPSConnection), attrs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("CheckedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("CheckedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
        }


class _Transient(Exception):
    """A failure worth retrying; carries the `Rejected` to raise when retries run out."""

    def __init__(self, failure: Rejected):
        super().__init__(failure.reason)
        self.failure = failure


def retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def host_of(url: str) -> str:
    """The host name a request to `url` goes to (the key of per-host politeness)."""
    return (urlsplit(url).hostname or "").lower()


def robots_agent(user_agent: str) -> str:
    """The robots.txt product token of a User-Agent: `newsbeam/0.1 (+url)` -> `newsbeam`."""
    return user_agent.split("/", 1)[0].split(maxsplit=1)[0] if user_agent.strip() else "*"


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception behind requests' and urllib3's wrappers."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException):
            inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc.__cause__
        if inner is None:
            break
        exc = inner
    return exc


def _failure(exc: Exception, settings: FetchSettings) -> Rejected:
    """A requests or urllib3 exception as a `Rejected` (the caller decides whether to retry)."""
    cause = _root_cause(exc)
    if isinstance(exc, requests.ConnectTimeout):
        return Rejected(f"connection timed out after {settings.connect_timeout:g} s", error_type="timeout")
    if isinstance(exc, requests.ReadTimeout) or isinstance(cause, (TimeoutError, urllib3.exceptions.TimeoutError)):
        return Rejected(f"no data for {settings.read_timeout:g} s (fetch.read_timeout)", error_type="timeout")
    if isinstance(exc, requests.exceptions.SSLError):
        return Rejected(f"TLS error: {cause}", error_type="tls")
    if isinstance(cause, (NameResolutionError, socket.gaierror)):
        return Rejected(f"cannot resolve the host name ({cause})", error_type="dns")
    if isinstance(cause, ConnectionRefusedError):
        return Rejected("connection refused", error_type="connection")
    if isinstance(
        exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema)
    ):
        return Rejected(f"invalid URL: {exc}", error_type="bad_url")
    return Rejected(f"connection failed: {cause}", error_type="connection")


_NOT_RETRIED = ("dns", "tls", "bad_url")


class Fetcher:
    """HTTP GET with the policies of the module docstring. One per thread; not thread-safe."""

    def __init__(self, settings: FetchSettings, hosts: Hosts):
        self._settings = settings
        self._hosts = hosts
        self._agent = robots_agent(settings.user_agent)
        self._session = requests.Session()
        self._session.trust_env = False  # no proxies or .netrc from the environment
        self._session.headers["User-Agent"] = settings.user_agent
        adapter = _CheckedAdapter(AddressPolicy(settings.allowed_networks), pool_size=4)
        for scheme in SCHEMES:
            self._session.mount(f"{scheme}://", adapter)

    def close(self) -> None:
        self._session.close()

    def get(
        self,
        url: str,
        *,
        content_types: Collection[str] = (),
        headers: Optional[dict[str, str]] = None,
        max_bytes: Optional[int] = None,
        robots: bool = True,
    ) -> Response:
        """GET `url` following redirects; a 2xx or 304 response, or `Rejected`.

        `content_types`: the media types accepted for a 2xx body (any when empty).
        """
        attempts, current = 0, url
        for _hop in range(self._settings.max_redirects + 1):
            check_url(current)
            if robots and self._settings.robots:
                self._check_robots(current, attempts)
            response = self._with_retries(current, content_types, headers or {}, max_bytes, attempts)
            attempts = response.attempts
            location = response.headers.get("location")
            if response.status in REDIRECT_STATUSES and location:
                current = urljoin(current, location.strip())
                continue
            if not (200 <= response.status < 300 or response.status == 304):
                raise Rejected(f"HTTP {response.status}", error_type="http", status=response.status, attempts=attempts)
            return response._replace(url=current)
        raise Rejected(
            f"more than {self._settings.max_redirects} redirects (fetch.max_redirects)",
            error_type="redirects",
            detail=current,
            attempts=attempts,
        )

    # -- one URL, with retries -----------------------------------------------------------------
    def _with_retries(
        self,
        url: str,
        content_types: Collection[str],
        headers: dict[str, str],
        max_bytes: Optional[int],
        attempts: int,
    ) -> Response:
        settings = self._settings
        host = host_of(url)
        for retry in range(settings.retries + 1):
            attempts += 1
            interval = self._interval(url)
            self._hosts.wait_turn(host, interval)
            backoff = min(settings.backoff_seconds * 2**retry, settings.max_retry_after)
            try:
                response = self._request(url, content_types, headers, max_bytes or settings.max_bytes, interval)
            except _Transient as transient:
                failure = transient.failure
                if retry == settings.retries or failure.error_type in _NOT_RETRIED:
                    failure.attempts = attempts
                    raise failure from None
                self._hosts.defer(host, backoff)
                continue
            except Rejected as failure:
                failure.attempts = attempts
                raise
            if response.status not in RETRY_STATUSES:
                return response._replace(attempts=attempts)
            asked = retry_after(response.headers.get("retry-after"))
            if asked is not None and asked > settings.max_retry_after:
                raise Rejected(
                    f"HTTP {response.status}; the server asks to retry after {asked:.0f} s, more than "
                    f"fetch.max_retry_after ({settings.max_retry_after:g} s)",
                    error_type="http",
                    status=response.status,
                    attempts=attempts,
                )
            if retry == settings.retries:
                raise Rejected(
                    f"HTTP {response.status} after {attempts} attempts",
                    error_type="http",
                    status=response.status,
                    attempts=attempts,
                )
            self._hosts.defer(host, max(asked or 0.0, backoff))
        raise AssertionError("unreachable")

    def _request(
        self, url: str, content_types: Collection[str], headers: dict[str, str], max_bytes: int, interval: float
    ) -> Response:
        """One GET. Raises `_Transient` for what a retry may fix, `Rejected` for the rest."""
        try:
            return self._request_once(url, content_types, headers, max_bytes)
        finally:
            self._hosts.finished(host_of(url), interval)

    def _request_once(
        self, url: str, content_types: Collection[str], headers: dict[str, str], max_bytes: int
    ) -> Response:
        settings = self._settings
        deadline = time.monotonic() + settings.total_timeout
        try:
            with self._session.get(
                url,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=(settings.connect_timeout, settings.read_timeout),
            ) as raw:
                status = raw.status_code
                found = {name.lower(): value for name, value in raw.headers.items()}
                body = b""
                if 200 <= status < 300:
                    _check_content_type(found.get("content-type"), content_types)
                    _check_content_encoding(found.get("content-encoding"))
                    body = _read_body(raw, max_bytes, deadline, settings.total_timeout)
                return Response(url, status, found, body, 0)
        except BlockedAddress as exc:
            raise Rejected(f"refused: {exc}", error_type="blocked_address") from None
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise _Transient(_failure(exc, settings)) from None

    # -- robots.txt ----------------------------------------------------------------------------
    def _interval(self, url: str) -> float:
        interval = 1.0 / self._settings.requests_per_second
        rules = self._hosts.robots(_origin(url)) if self._settings.robots else None
        return max(interval, rules.interval(self._agent)) if rules else interval

    def _check_robots(self, url: str, attempts: int) -> None:
        rules, made = self._robots(url)
        attempts += made
        if rules.blocked:
            raise Rejected(rules.blocked, error_type=rules.error_type or "robots", attempts=attempts)
        if not rules.allows(url, self._agent):
            raise Rejected(
                f"robots.txt of {_origin(url)} disallows it for user-agent '{self._agent}'",
                error_type="robots",
                attempts=attempts,
            )
        delay = rules.interval(self._agent)
        if delay > self._settings.max_crawl_delay:
            raise Rejected(
                f"robots.txt of {_origin(url)} asks for {delay:g} s between requests, more than "
                f"fetch.max_crawl_delay ({self._settings.max_crawl_delay:g} s)",
                error_type="robots",
                attempts=attempts,
            )

    def _robots(self, url: str) -> tuple[RobotsRules, int]:
        """The origin's rules, and the requests made to fetch them now (0 when they were known)."""
        origin = _origin(url)
        rules = self._hosts.robots(origin)
        if rules is not None:
            return rules, 0
        with self._hosts.origin_lock(origin):
            rules = self._hosts.robots(origin)
            if rules is not None:
                return rules, 0
            rules, made = self._fetch_robots(origin)
            self._hosts.set_robots(origin, rules)
            return rules, made

    def _fetch_robots(self, origin: str) -> tuple[RobotsRules, int]:
        """RFC 9309: 2xx rules apply; 4xx (none published) allows everything; a server error or an
        unreachable host disallows everything. Also returns the requests made."""
        now = time.monotonic()
        try:
            response = self.get(f"{origin}/robots.txt", max_bytes=ROBOTS_MAX_BYTES, robots=False)
        except Rejected as failure:
            made = failure.attempts or 0
            if failure.status is None:  # the host cannot be reached: the page would fail the same way
                return RobotsRules(None, f"{failure.reason} (fetching robots.txt)", failure.error_type, now), made
            if 400 <= failure.status < 500:
                return RobotsRules(None, None, None, now), made
            return RobotsRules(
                None,
                f"robots.txt of {origin} is unavailable ({failure.reason}); per RFC 9309 "
                "nothing on the host is fetched",
                "robots",
                now,
            ), made
        text = response.body.decode("utf-8", errors="replace")
        return RobotsRules(Protego.parse(text), None, None, now), response.attempts


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise Rejected(f"not an http(s) URL: {url[:200]}", error_type="bad_url")
    if not parts.hostname:
        raise Rejected(f"URL has no host: {url[:200]}", error_type="bad_url")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _check_content_type(value: Optional[str], accepted: Collection[str]) -> None:
    media_type = (value or "").split(";", 1)[0].strip().lower()
    if accepted and media_type and media_type not in accepted:
        raise Rejected(f"content type {media_type} is not one of {', '.join(accepted)}", error_type="content_type")


def _check_content_encoding(value: Optional[str]) -> None:
    """A body in an encoding urllib3 does not decode (br, zstd: never asked for) would pass as
    compressed bytes; say so instead."""
    for coding in (part.strip().lower() for part in (value or "").split(",")):
        if coding and coding != "identity" and coding not in urllib3.response.HTTPResponse.CONTENT_DECODERS:
            raise Rejected(
                f"content encoding {coding} is not supported (gzip and deflate are)", error_type="content_type"
            )


def _read_body(raw: requests.Response, max_bytes: int, deadline: float, total_timeout: float) -> bytes:
    """The decoded body, read as it arrives so the size cap and the deadline hold between reads
    (decompression is bounded by the read size: a small gzip cannot expand past the cap)."""
    declared = raw.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise Rejected(
            f"response of {int(declared):,} bytes is larger than fetch.max_bytes ({max_bytes:,})",
            error_type="too_large",
        )
    body = bytearray()
    while chunk := raw.raw.read1(_CHUNK, decode_content=True):
        body += chunk
        if len(body) > max_bytes:
            raise Rejected(f"response larger than fetch.max_bytes ({max_bytes:,} bytes)", error_type="too_large")
        if time.monotonic() > deadline:
            raise _Transient(
                Rejected(f"response not complete after {total_timeout:g} s (fetch.total_timeout)", error_type="timeout")
            )
    return bytes(body)
