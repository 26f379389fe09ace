"""Feed fetching: elapsed time beside the politeness bound.

Serves `--hosts` loopback sites (127.0.0.N), each with one RSS feed of `--articles` generated
article pages and a robots.txt, every reply `--latency` seconds late. Runs the feed source stage
(`ReadFeeds`: feeds, robots.txt, pages, text extraction) on the FnApiRunner, one worker, at
`--rate` requests per second per host, and reports (request times as the sites saw them; the
sites run in a separate process)

- elapsed: wall time of the pipeline run, graph construction included;
- bound: the politeness bound, the slowest host's requests x its interval (1 / rate): no polite
  crawler can be faster;
- the ratio elapsed / bound (target <= 1.2), and the smallest gap seen between two requests to
  one host (politeness held if it is >= the interval).

    python -m bench.feeds --hosts 20 --articles 50 --latency 0.05 --rate 1
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import multiprocessing
import random
import time
from multiprocessing.connection import Connection

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.core.settings import FeedSource, FeedsSettings, FetchSettings
from transforms.read.feeds import ReadFeeds
from transforms.testing.corpus import article
from transforms.testing.sites import Item, Reply, Site, article_page, rss


def build_site(site: Site, articles: int, rng: random.Random, offset: int) -> None:
    site.route("/robots.txt", Reply(200, b"User-agent: *\nDisallow: /private/\n", {"Content-Type": "text/plain"}))
    items = []
    for n in range(articles):
        story = article(offset + n, rng)
        site.route(f"/news/{n}.html", Reply(200, article_page(story["title"], story["text"].split("\n"))))
        items.append(Item(story["title"], f"/news/{n}.html", summary=story["text"][:200]))
    site.route("/rss.xml", Reply(200, rss(items), {"Content-Type": "application/rss+xml"}))


def serve(hosts: int, articles: int, latency: float, connection: Connection) -> None:
    """In a child process: run the sites, send their feed URLs, and on request their request times."""
    rng = random.Random(0)
    with contextlib.ExitStack() as stack:
        sites = [stack.enter_context(Site(f"127.0.0.{10 + n}", latency=latency)) for n in range(hosts)]
        for n, site in enumerate(sites):
            build_site(site, articles, rng, n * articles)
        connection.send([site.url("/rss.xml") for site in sites])
        connection.recv()  # the benchmark is done
        connection.send([sorted(r.time for r in site.requests) for site in sites])


def run(hosts: int, articles: int, latency: float, rate: float) -> None:
    # The sites run in their own process, so that their request times are not skewed by the
    # pipeline holding the GIL.
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(hosts, articles, latency, theirs), daemon=True)
    server.start()
    sources = [FeedSource(url=url) for url in ours.recv()]
    fetch = FetchSettings(allowed_networks=["127.0.0.0/8"], requests_per_second=rate)
    started = time.monotonic()
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as pipeline:
        read = pipeline | ReadFeeds(sources, FeedsSettings(), fetch)
        _ = (
            read.documents
            | "CountDocuments" >> beam.combiners.Count.Globally()
            | beam.Map(lambda n: print(f"documents  {n}"))
        )
        _ = (
            read.dead_letters
            | "CountDeadLetters" >> beam.combiners.Count.Globally()
            | beam.Map(lambda n: print(f"dead letters {n}"))
        )
    elapsed = time.monotonic() - started
    ours.send("done")
    times = ours.recv()
    server.join()
    interval = 1.0 / rate
    busiest = max(len(host) for host in times)
    bound = busiest * interval
    gaps = [b - a for host in times for a, b in itertools.pairwise(host)]
    total = sum(len(host) for host in times)
    print(f"hosts {hosts} x {articles} articles, latency {latency * 1000:.0f} ms, {rate:g} request/s per host")
    print(f"requests   {total} ({busiest} on the busiest host: robots.txt, feed, pages)")
    print(f"elapsed    {elapsed:.1f} s ({total / elapsed:.1f} requests/s overall)")
    print(f"bound      {bound:.1f} s (= {busiest} requests x {interval:g} s)")
    print(f"ratio      {elapsed / bound:.3f} (target <= 1.2)")
    print(f"politeness smallest gap between two requests to one host: {min(gaps):.3f} s (interval {interval:g} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--articles", type=int, default=50, help="articles per host")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every reply")
    parser.add_argument("--rate", type=float, default=1.0, help="requests per second per host")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    run(args.hosts, args.articles, args.latency, args.rate)


if __name__ == "__main__":
    main()
