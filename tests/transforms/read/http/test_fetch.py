"""The HTTP fetcher against loopback sites: politeness, retries, limits and address safety."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import peak_rss_mib
from transforms.core.dead_letters import Rejected
from transforms.core.settings import FetchSettings
from transforms.read.http.fetch import HTML_TYPES, AddressPolicy, Fetcher, retry_after, robots_agent
from transforms.read.http.politeness import Hosts
from transforms.testing.sites import Reply, Site

LOOPBACK = ["127.0.0.0/8"]
PAGE = b"<html><body><article><p>A story.</p></article></body></html>"


def fetcher(**overrides: Any) -> Fetcher:
    """A fetcher allowed on loopback, fast by default (tests of spacing set their own rate)."""
    settings = {
        "allowed_networks": LOOPBACK,
        "requests_per_second": 100.0,
        "retries": 2,
        "backoff_seconds": 0.05,
        **overrides,
    }
    return Fetcher(FetchSettings(**settings), Hosts())


@pytest.fixture
def site() -> Iterator[Site]:
    with Site() as running:
        yield running


def failure(fetch: Fetcher, url: str, **kwargs: Any) -> Rejected:
    with pytest.raises(Rejected) as caught:
        fetch.get(url, **kwargs)
    return caught.value


def test_a_page_is_fetched_with_a_clear_user_agent(site: Site) -> None:
    site.route("/a", Reply(200, PAGE))
    response = fetcher().get(site.url("/a"))
    assert (response.status, response.body, response.attempts) == (200, PAGE, 1)
    agent = site.hits("/a")[0].headers["User-Agent"]
    assert agent.startswith("newsbeam/") and "+http" in agent
    assert robots_agent(agent) == "newsbeam"


def test_robots_txt_disallow_is_honoured_and_fetched_once_per_host(site: Site) -> None:
    site.route(
        "/robots.txt",
        Reply(
            200,
            b"User-agent: newsbeam\nDisallow: /private/\n\nUser-agent: *\nAllow: /\n",
            {"Content-Type": "text/plain"},
        ),
    )
    site.route("/private/a", Reply(200, PAGE))
    site.route("/public/a", Reply(200, PAGE))
    fetch = fetcher()
    rejected = failure(fetch, site.url("/private/a"))
    assert rejected.error_type == "robots" and "disallows" in rejected.reason
    assert fetch.get(site.url("/public/a")).status == 200
    assert not site.hits("/private/a")
    assert len(site.hits("/robots.txt")) == 1


def test_robots_txt_missing_allows_everything_but_a_server_error_allows_nothing(site: Site) -> None:
    site.route("/a", Reply(200, PAGE))
    assert fetcher().get(site.url("/a")).status == 200  # robots.txt is a 404 here
    with Site("127.0.0.2") as broken:
        broken.route("/robots.txt", Reply(503))
        broken.route("/a", Reply(200, PAGE))
        rejected = failure(fetcher(), broken.url("/a"))
        assert rejected.error_type == "robots" and "RFC 9309" in rejected.reason
        assert not broken.hits("/a")


def test_crawl_delay_spaces_requests_to_a_host(site: Site) -> None:
    site.route("/robots.txt", Reply(200, b"User-agent: *\nCrawl-delay: 0.4\n", {"Content-Type": "text/plain"}))
    for n in range(3):
        site.route(f"/{n}", Reply(200, PAGE))
    fetch = fetcher()
    for n in range(3):
        fetch.get(site.url(f"/{n}"))
    times = [site.hits(f"/{n}")[0].time for n in range(3)]
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.38


def test_a_crawl_delay_above_the_limit_is_a_dead_letter_not_a_stalled_run(site: Site) -> None:
    site.route("/robots.txt", Reply(200, b"User-agent: *\nCrawl-delay: 3600\n", {"Content-Type": "text/plain"}))
    site.route("/a", Reply(200, PAGE))
    rejected = failure(fetcher(max_crawl_delay=30), site.url("/a"))
    assert rejected.error_type == "robots" and "3600 s" in rejected.reason


def test_requests_per_second_is_a_per_host_limit_and_hosts_run_in_parallel() -> None:
    hosts = Hosts()
    settings = FetchSettings(allowed_networks=LOOPBACK, requests_per_second=4.0, robots=False)
    with Site("127.0.0.3") as one, Site("127.0.0.4") as two:
        for site in (one, two):
            for n in range(4):
                site.route(f"/{n}", Reply(200, PAGE))

        def crawl(site: Site) -> None:
            fetch = Fetcher(settings, hosts)
            for n in range(4):
                fetch.get(site.url(f"/{n}"))

        started = time.monotonic()
        threads = [threading.Thread(target=crawl, args=(site,)) for site in (one, two)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        for site in (one, two):
            times = sorted(r.time for r in site.requests)
            assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.24  # 4 requests/s on each host
    assert elapsed < 1.5  # the two hosts were not fetched one after the other (that takes >= 1.5 s)


def test_429_is_retried_after_the_time_retry_after_asks_for(site: Site) -> None:
    site.route("/a", [Reply(429, headers={"Retry-After": "1"}), Reply(200, PAGE)])
    response = fetcher().get(site.url("/a"))
    first, second = site.hits("/a")
    assert (response.status, response.attempts) == (200, 2)
    assert second.time - first.time >= 0.95


def test_a_retry_after_longer_than_allowed_gives_up_at_once(site: Site) -> None:
    site.route("/a", Reply(503, headers={"Retry-After": "7200"}))
    rejected = failure(fetcher(max_retry_after=60), site.url("/a"))
    assert (rejected.status, rejected.attempts, rejected.error_type) == (503, 1, "http")
    assert "7200 s" in rejected.reason


def test_500_then_200_succeeds_and_persistent_5xx_stops_after_the_retries(site: Site) -> None:
    site.route("/flaky", [Reply(500), Reply(200, PAGE)])
    site.route("/down", Reply(502))
    response = fetcher().get(site.url("/flaky"))
    assert (response.status, response.body, response.attempts) == (200, PAGE, 2)
    rejected = failure(fetcher(retries=2), site.url("/down"))
    assert (rejected.status, rejected.attempts) == (502, 3)
    assert len(site.hits("/down")) == 3
    down = [r.time for r in site.hits("/down")]
    assert down[2] - down[1] >= 2 * (down[1] - down[0]) * 0.8  # exponential back-off


def test_client_errors_are_not_retried(site: Site) -> None:
    rejected = failure(fetcher(), site.url("/missing"))
    assert (rejected.status, rejected.attempts, rejected.reason) == (404, 1, "HTTP 404")


def test_a_body_slower_than_the_timeouts_is_abandoned(site: Site) -> None:
    site.route("/stalled", Reply(200, PAGE, delay=2.0))  # nothing at all for 2 s
    site.route("/drip", Reply(200, PAGE * 40, chunk_delay=0.2, chunk_size=100))  # bytes, slowly
    started = time.monotonic()
    stalled = failure(fetcher(read_timeout=0.3, retries=1), site.url("/stalled"))
    assert (stalled.error_type, stalled.attempts) == ("timeout", 2)
    drip = failure(fetcher(read_timeout=1, total_timeout=0.5, retries=0), site.url("/drip"))
    assert drip.error_type == "timeout" and "total_timeout" in drip.reason
    assert time.monotonic() - started < 3.5


def test_a_redirect_loop_stops_at_the_limit(site: Site) -> None:
    site.route("/loop", Reply(302, headers={"Location": "/loop"}))
    site.route("/moved", Reply(301, headers={"Location": "/a"}))
    site.route("/a", Reply(200, PAGE))
    rejected = failure(fetcher(max_redirects=3), site.url("/loop"))
    assert rejected.error_type == "redirects" and rejected.attempts == 4
    response = fetcher().get(site.url("/moved"))
    assert response.url == site.url("/a") and response.body == PAGE


def test_a_redirect_to_a_forbidden_scheme_or_address_is_refused(site: Site) -> None:
    site.route("/to-file", Reply(302, headers={"Location": "file:///etc/passwd"}))
    site.route("/to-private", Reply(302, headers={"Location": "http://10.1.2.3/admin"}))
    assert failure(fetcher(), site.url("/to-file")).error_type == "bad_url"
    rejected = failure(fetcher(), site.url("/to-private"))
    assert rejected.error_type == "blocked_address" and "10.1.2.3" in rejected.reason


def test_oversized_pages_are_refused_declared_or_not(site: Site) -> None:
    big = b"<html><body>" + b"x" * 200_000 + b"</body></html>"
    site.route("/declared", Reply(200, big))
    site.route("/chunked", Reply(200, big, headers={"Content-Length": ""}, chunk_delay=0.0001, chunk_size=65536))
    for path in ("/declared", "/chunked"):
        rejected = failure(fetcher(max_bytes=100_000), site.url(path))
        assert rejected.error_type == "too_large", path


def test_a_decompression_bomb_stops_at_the_size_cap(site: Site) -> None:
    bomb = gzip.compress(b"<html>" + b" " * 50_000_000)  # 50 MB of spaces in ~50 KB
    site.route("/bomb", Reply(200, bomb, {"Content-Encoding": "gzip"}))
    rejected = failure(fetcher(max_bytes=1_000_000), site.url("/bomb"))
    assert rejected.error_type == "too_large"


FETCH_BODY = """
import sys, zlib
from transforms.core.dead_letters import Rejected
from transforms.core.settings import FetchSettings
from transforms.read.http.fetch import Fetcher
from transforms.read.http.politeness import Hosts
from transforms.testing.sites import Reply, Site
encoding, megabytes = {encoding!r}, {megabytes}
compressor = zlib.compressobj(6, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
body = b"".join(compressor.compress(b" " * (1 << 20)) for _ in range(megabytes)) + compressor.flush()
with Site() as site:
    site.route("/page", Reply(200, body, {{"Content-Encoding": encoding}}))
    try:
        Fetcher(FetchSettings(allowed_networks=["127.0.0.0/8"], robots=False), Hosts()).get(site.url("/page"))
    except Rejected as exc:
        assert exc.error_type == "too_large" and megabytes > 5, exc.reason
"""


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compressed_bomb_over_http_holds_the_cap_not_the_bomb(encoding: str) -> None:
    """Peak memory of a process fetching 128 MB of spaces in a few hundred KB (Content-Encoding),
    beside the same process fetching 1 MB: the cap (fetch.max_bytes, 5 MB) and a read or two."""
    normal = peak_rss_mib(FETCH_BODY.format(encoding=encoding, megabytes=1))
    bomb = peak_rss_mib(FETCH_BODY.format(encoding=encoding, megabytes=128))
    assert bomb - normal <= 40, (normal, bomb)


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, br"])
def test_a_body_in_an_encoding_not_decoded_is_refused_not_passed_on_compressed(site: Site, encoding: str) -> None:
    site.route("/page", Reply(200, PAGE, {"Content-Encoding": encoding}))
    rejected = failure(fetcher(), site.url("/page"))
    assert rejected.error_type == "content_type" and "is not supported" in rejected.reason


def test_only_html_pages_are_parsed(site: Site) -> None:
    site.route("/doc.pdf", Reply(200, b"%PDF-1.4", {"Content-Type": "application/pdf"}))
    rejected = failure(fetcher(), site.url("/doc.pdf"), content_types=HTML_TYPES)
    assert rejected.error_type == "content_type" and "application/pdf" in rejected.reason


def test_private_and_loopback_addresses_are_refused_by_default(site: Site) -> None:
    site.route("/a", Reply(200, PAGE))
    strict = Fetcher(FetchSettings(), Hosts())
    rejected = failure(strict, site.url("/a"))
    assert rejected.error_type == "blocked_address" and "loopback" in rejected.reason
    assert not site.requests  # refused before connecting
    started = time.monotonic()
    assert failure(strict, "http://10.255.255.1/a").error_type == "blocked_address"
    assert failure(strict, "http://[::1]/a").error_type == "blocked_address"
    assert time.monotonic() - started < 1  # no connection attempt to wait for


def test_the_address_policy() -> None:
    import ipaddress

    policy = AddressPolicy(["10.20.0.0/16"])
    allowed = {
        a: policy.allows(ipaddress.ip_address(a))
        for a in (
            "93.184.216.34",
            "10.20.1.1",
            "10.0.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "224.0.0.1",
            "0.0.0.0",
            "::ffff:127.0.0.1",
            "2606:4700::1111",
            "fe80::1",
        )
    }
    assert allowed == {
        "93.184.216.34": True,
        "10.20.1.1": True,
        "10.0.0.1": False,
        "192.168.1.1": False,
        "169.254.169.254": False,
        "224.0.0.1": False,
        "0.0.0.0": False,
        "::ffff:127.0.0.1": False,
        "2606:4700::1111": True,
        "fe80::1": False,
    }


def test_connection_failures_are_retried_and_name_failures_are_not() -> None:
    refused = failure(fetcher(retries=1), "http://127.0.0.1:9/a")  # nothing listens on port 9
    assert (refused.error_type, refused.attempts) == ("connection", 2)
    unknown = failure(fetcher(retries=3), "http://no-such-host.invalid/a")
    assert (unknown.error_type, unknown.attempts) == ("dns", 1)


def test_conditional_get_headers_are_sent_and_304_is_returned(site: Site) -> None:
    site.route("/feed", lambda r: Reply(304) if r.headers.get("If-None-Match") == '"v1"' else Reply(200, b"x"))
    response = fetcher().get(site.url("/feed"), headers={"If-None-Match": '"v1"'})
    assert (response.status, response.body) == (304, b"")


def test_retry_after_parsing() -> None:
    assert retry_after("120") == 120.0
    assert retry_after(None) is None and retry_after("soon") is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
