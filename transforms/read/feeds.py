"""Feed source stage: RSS/Atom/RDF feeds -> entries -> article pages -> `RawDocument`s.

    feeds -> by host -> FetchFeeds -> entries -> [first sighting] -> not seen before
                           |  \\-> feed validators (conditional GET)        \\-> seen entries (state)
                           |      -> by host -> FetchPages -> documents
                           +-----------------------+-> dead letters

Each new entry is one document read: it becomes a document with the page's main text
(`text_source=page`), or with the entry's own text when the page cannot be used
(`text_source=summary`; the page's failure is still a dead letter, counted apart), or a dead
letter. An entry an earlier run (or, streaming, an earlier poll) already passed on is skipped
before its page is fetched and is no document read (`newsbeam.feeds/entries_known`,
`entries_repeated`). A feed that cannot be fetched or read is one document read and one dead
letter. Feeds and pages are fetched politely and safely (`transforms.read.http.fetch`), hosts in parallel
(`transforms.read.http.hostpool`). A feed `url` that is a path or file:// URL is read from disk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.coders import BooleanCoder
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms import window
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils import shared

from transforms.core import metrics
from transforms.core.dead_letters import DEAD_LETTERS, Rejected, from_exception, tagged
from transforms.core.pending import PENDING_SHARDS
from transforms.core.records import DeadLetter, FeedEntry, FeedState, RawDocument, SeenEntry
from transforms.core.settings import FeedSource, FeedsSettings, FetchSettings
from transforms.read import compression as files
from transforms.read import feed_state, formats
from transforms.read.feed_parse import feed_entries, parse_feed
from transforms.read.files import FEED_STAGE, ReadResult
from transforms.read.http.fetch import HTML_TYPES, SCHEMES, Response, host_of
from transforms.read.http.hostpool import PerHostFetchFn

PAGE_STAGE = "page"
STATES, SEEN = "states", "seen"
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.9, "
    "text/xml;q=0.9, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
_LOG = logging.getLogger(__name__)


class _Fallback(NamedTuple):
    """A page failure whose entry was written from the feed's own text instead."""

    letter: DeadLetter


class _EmptyFeed(NamedTuple):
    """A feed that was read and holds no entries."""

    feed: str


def is_http_url(url: str) -> bool:
    """Whether a feed or page URL is fetched over HTTP(S) (else it is a file on disk)."""
    return url.split(":", 1)[0].lower() in SCHEMES


class FetchFeedsFn(PerHostFetchFn):
    """(host, [(FeedSource, previous FeedState or None)]) -> FeedEntry, FeedState, dead letters."""

    stage = FEED_STAGE

    def __init__(self, settings: FetchSettings, hosts: shared.Shared):
        super().__init__(settings, hosts)
        self._read = Metrics.counter(metrics.SOURCES, metrics.DOCUMENTS_READ)
        self._unchanged = Metrics.counter(metrics.FEEDS, metrics.FEEDS_UNCHANGED)
        self._entries = Metrics.counter(metrics.FEEDS, metrics.FEED_ENTRIES)
        self._empty = Metrics.counter(metrics.FEEDS, metrics.FEEDS_EMPTY)

    def setup(self) -> None:
        super().setup()
        self._validators: dict[str, FeedState] = {}  # the latest per feed on this worker: polls reuse them

    def source_of(self, item: tuple[FeedSource, Optional[FeedState]]) -> str:
        return item[0].url

    def handle(self, item: tuple[FeedSource, Optional[FeedState]]) -> Iterator[Any]:
        source, previous = item
        latest = self._validators.get(source.url)
        if latest is not None and (previous is None or latest.checked > previous.checked):
            previous = latest
        if not is_http_url(source.url):
            yield from self._entries_of(source, parse_feed(self._read_file(source.url), source.url), source.url)
            return
        headers = {"Accept": FEED_ACCEPT}
        if previous and previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous and previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
        response = self.fetcher().get(source.url, headers=headers)
        unchanged = response.status == 304
        yield FeedState(
            url=source.url,
            etag=response.headers.get("etag") or (previous.etag if unchanged and previous else None),
            last_modified=response.headers.get("last-modified")
            or (previous.last_modified if unchanged and previous else None),
            checked=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        if unchanged:
            _LOG.info("feed %s: not modified since the last run", source.feed_id)
            return
        parsed = parse_feed(response.body, response.url, response.headers.get("content-type"))
        yield from self._entries_of(source, parsed, response.url)

    @staticmethod
    def _entries_of(source: FeedSource, parsed: Any, base_url: str) -> Iterator[Any]:
        if not parsed.entries:
            yield _EmptyFeed(source.feed_id)
        yield from feed_entries(source, parsed, base_url)

    def route(self, output: Any) -> Any:
        if isinstance(output, _EmptyFeed):  # no document: a note in the summary and the log
            self._empty.inc()
            _LOG.warning("feed %s: read, but it has no entries", output.feed)
            return None
        if isinstance(output, FeedState):
            self._validators[output.url] = output
            return beam.pvalue.TaggedOutput(STATES, output)
        if isinstance(output, DeadLetter):
            self._read.inc()  # the feed is one document read, and it ends here
            return tagged(output)
        self._entries.inc()  # read once `NewEntriesFn` has let it through
        return output

    def _read_file(self, path: str) -> bytes:
        try:
            data = files.read_head(path.removeprefix("file://"), self._settings.max_bytes)
        except files.READ_ERRORS as exc:
            raise Rejected(f"cannot read feed file: {exc}", error_type="read") from None
        if len(data) > self._settings.max_bytes:
            raise Rejected(
                f"feed file larger than fetch.max_bytes ({self._settings.max_bytes:,} bytes)", error_type="too_large"
            )
        return data


class FetchPagesFn(PerHostFetchFn):
    """(host, [FeedEntry]) -> RawDocument per entry (page text, else the entry's text) or a dead letter."""

    stage = PAGE_STAGE

    def __init__(self, settings: FetchSettings, hosts: shared.Shared, fetch_pages: bool):
        super().__init__(settings, hosts)
        self._fetch_pages = fetch_pages
        self._fallbacks = Metrics.counter(metrics.FEEDS, metrics.SUMMARY_FALLBACKS)
        self._pages = Metrics.counter(metrics.FEEDS, metrics.PAGES)

    def source_of(self, item: FeedEntry) -> str:
        return item.source

    def ordered(self, items: list[FeedEntry]) -> list[FeedEntry]:
        # Entries linking to the same page (one story in several feeds) become neighbours, so the
        # page is fetched once: `_page` remembers the last URL it fetched on this thread.
        return sorted(items, key=lambda entry: (entry.url or "", entry.source))

    def handle(self, item: FeedEntry) -> Iterator[Any]:
        if not self._fetch_pages or item.url is None:
            if not item.summary:
                raise Rejected("the feed entry has neither a link nor any text")
            yield summary_document(item)
            return
        try:
            yield page_document(item, self._page(item.url))
        except Rejected as failure:
            letter = from_exception(PAGE_STAGE, item.source, failure)
            if not item.summary:
                yield letter
                return
            yield _Fallback(
                letter._replace(detail="the feed entry's own text was written instead (text_source=summary)")
            )
            yield summary_document(item)

    def _page(self, url: str) -> Response:
        """The page at `url`, or its failure, fetched once for consecutive entries with that URL."""
        local = self.thread_local()
        last_url, outcome = getattr(local, "last_page", (None, None))
        if last_url != url:
            try:
                outcome = self.fetcher().get(url, content_types=HTML_TYPES, headers={"Accept": PAGE_ACCEPT})
            except Rejected as failure:
                outcome = failure
            local.last_page = (url, outcome)
        if isinstance(outcome, Rejected):
            raise outcome
        assert isinstance(outcome, Response)
        return outcome

    def route(self, output: Any) -> Any:
        if isinstance(output, _Fallback):
            self._fallbacks.inc()
            return tagged(output.letter)
        if isinstance(output, DeadLetter):
            return tagged(output)
        if output.text_source == "page":
            self._pages.inc()
        return output


def page_document(entry: FeedEntry, response: Response) -> RawDocument:
    """The article page's main text and metadata; the feed's title and time win where given."""
    page = formats.html_document(entry.source, response.body)
    return page._replace(
        url=response.url,
        title=entry.title or page.title,
        published=entry.published or page.published,
        text_source="page",
        feed=entry.feed,
        language=entry.language or page.language,
    )


def summary_document(entry: FeedEntry) -> RawDocument:
    """The entry's own text (its longest content or summary) as the document."""
    assert entry.summary
    return RawDocument(
        source=entry.source,
        source_format="feed",
        text=entry.summary,
        url=entry.url,
        title=entry.title,
        published=entry.published,
        text_source="summary",
        feed=entry.feed,
        language=entry.language,
    )


def _host_key(url: Optional[str]) -> str:
    return host_of(url) if url and is_http_url(url) else ""


class FirstSightingFn(beam.DoFn):
    """(entry key, FeedEntry) -> the entry the first time its key is seen in the stream; the key
    is forgotten `expiry_days` later (an event-time timer), or never when that is None (a bounded
    segment of a local stream, whose successor learns the entries from the state file)."""

    SEEN = ReadModifyWriteStateSpec("seen", BooleanCoder())
    EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, expiry_days: Optional[float]):
        self._expiry = None if expiry_days is None else expiry_days * 24 * 3600
        self._repeated = Metrics.counter(metrics.FEEDS, metrics.ENTRIES_REPEATED)

    def process(
        self,
        keyed: tuple[str, FeedEntry],
        timestamp: Any = beam.DoFn.TimestampParam,
        seen: Any = beam.DoFn.StateParam(SEEN),
        expiry: Any = beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[FeedEntry]:
        if seen.read():
            self._repeated.inc()
            return
        seen.write(True)
        if self._expiry is not None:
            expiry.set(timestamp + self._expiry)
        yield keyed[1]

    @on_timer(EXPIRY)
    def expire(self, seen: Any = beam.DoFn.StateParam(SEEN)) -> None:
        seen.clear()


class NewEntriesFn(beam.DoFn):
    """FeedEntry -> the entry unless an earlier run passed it on (`known`: their keys, a side
    input), counted as a document read; and its `SeenEntry` on the `seen` output."""

    def __init__(self) -> None:
        self._read = Metrics.counter(metrics.SOURCES, metrics.DOCUMENTS_READ)
        self._known_count = Metrics.counter(metrics.FEEDS, metrics.ENTRIES_KNOWN)
        self._known: frozenset[str] = frozenset()
        self._known_from: Optional[int] = None

    def process(self, entry: FeedEntry, known: Iterable[str] = ()) -> Iterator[Any]:
        if self._known_from != id(known):  # a side input is read once per bundle, not per element
            self._known, self._known_from = frozenset(known), id(known)
        if entry.source in self._known:
            self._known_count.inc()
            return
        self._read.inc()
        yield entry
        yield beam.pvalue.TaggedOutput(SEEN, feed_state.seen_now(entry.source))


class FetchFeeds(beam.PTransform):
    """(FeedSource, its validators or None) -> `ReadResult(documents=RawDocument, dead_letters=DeadLetter)`.

    `known`: keys of the entries earlier runs passed on (a PCollection of str), skipped before
    their pages are fetched. `first_sighting`: streaming, where polls repeat entries: each entry
    passes once, forgotten after `first_sighting_days` (None: never); first sightings are judged
    in the global window, and entries are then windowed again by `poll_seconds`. When `state_outputs` (validators file,
    entries file) are given, what the run learnt is written there for `feed_state` to commit.
    """

    def __init__(
        self,
        feeds: FeedsSettings,
        fetch: FetchSettings,
        known: Optional[beam.PCollection] = None,
        state_outputs: Optional[tuple[str, str]] = None,
        first_sighting: bool = False,
        first_sighting_days: Optional[float] = None,
        poll_seconds: float = 60.0,
    ):
        super().__init__()
        self._feeds = feeds
        self._fetch = fetch
        self._known = known
        self._state_outputs = state_outputs
        self._first_sighting = first_sighting
        self._first_sighting_days = first_sighting_days
        self._poll_seconds = poll_seconds

    def expand(self, feeds: beam.PCollection) -> ReadResult:
        hosts = shared.Shared()  # one per worker process: politeness holds across both fetch stages
        fetched = (
            feeds
            | "FeedsByHost" >> beam.Map(lambda item: (_host_key(item[0].url), item))
            | "GroupFeeds" >> beam.GroupByKey()
            | "FetchFeeds"
            >> beam.ParDo(FetchFeedsFn(self._fetch, hosts))
            .with_output_types(FeedEntry, states=FeedState, dead_letters=DeadLetter)
            .with_outputs(STATES, DEAD_LETTERS, main="entries")
        )
        entries = fetched.entries
        if self._first_sighting:
            entries = (
                entries
                | "AcrossPolls" >> beam.WindowInto(window.GlobalWindows())
                | "ByEntryKey" >> beam.Map(lambda entry: (entry.source, entry)).with_output_types(tuple[str, FeedEntry])
                | "FirstSighting" >> beam.ParDo(FirstSightingFn(self._first_sighting_days)).with_output_types(FeedEntry)
                | "PollWindows" >> beam.WindowInto(window.FixedWindows(self._poll_seconds))
            )
        known = beam.pvalue.AsList(
            self._known
            if self._known is not None
            else feeds.pipeline | "NoneKnown" >> beam.Create([]).with_output_types(str)
        )
        new = entries | "NewEntries" >> beam.ParDo(NewEntriesFn(), known=known).with_output_types(
            FeedEntry, seen=SeenEntry
        ).with_outputs(SEEN, main="entries")
        pages = new.entries | "Pages" >> FetchPages(self._fetch, self._feeds.fetch_pages, hosts)
        if self._state_outputs:
            validators, seen = self._state_outputs
            _ = (
                fetched[STATES]
                | "ValidatorsAsJson" >> beam.Map(feed_state.VALIDATORS.to_json)
                | "SaveValidators" >> beam.io.WriteToText(validators, shard_name_template=PENDING_SHARDS, num_shards=1)
            )
            _ = (
                new[SEEN]
                | "SeenAsJson" >> beam.Map(feed_state.ENTRIES.to_json)
                | "SaveSeen" >> beam.io.WriteToText(seen, shard_name_template=PENDING_SHARDS, num_shards=1)
            )
        dead_letters = (fetched[DEAD_LETTERS], pages.dead_letters) | "FeedDeadLetters" >> beam.Flatten()
        return ReadResult(pages.documents, dead_letters)


class FetchPages(beam.PTransform):
    """FeedEntry -> `ReadResult(documents=RawDocument, dead_letters=DeadLetter)`: each entry's page
    (else its own text), fetched host by host. `hosts`: the politeness pool, to share it with
    the feed fetches of the same worker."""

    def __init__(self, fetch: FetchSettings, fetch_pages: bool = True, hosts: Optional[shared.Shared] = None):
        super().__init__()
        self._fetch = fetch
        self._fetch_pages = fetch_pages
        self._hosts = hosts

    def expand(self, entries: beam.PCollection) -> ReadResult:
        pages = (
            entries
            | "EntriesByHost" >> beam.Map(lambda entry: (_host_key(entry.url), entry))
            | "GroupEntries" >> beam.GroupByKey()
            | "FetchPages"
            >> beam.ParDo(FetchPagesFn(self._fetch, self._hosts or shared.Shared(), self._fetch_pages))
            .with_output_types(RawDocument, dead_letters=DeadLetter)
            .with_outputs(DEAD_LETTERS, main="documents")
        )
        return ReadResult(pages.documents, pages[DEAD_LETTERS])


class ReadFeeds(beam.PTransform):
    """The configured feeds, once -> `ReadResult`: `FetchFeeds` fed with each source and the
    validators earlier runs got for it (`states`)."""

    def __init__(
        self,
        sources: list[FeedSource],
        feeds: FeedsSettings,
        fetch: FetchSettings,
        states: Optional[dict[str, FeedState]] = None,
        known: Optional[beam.PCollection] = None,
        state_outputs: Optional[tuple[str, str]] = None,
    ):
        super().__init__()
        self._sources = sources
        self._fetch_feeds = FetchFeeds(feeds, fetch, known, state_outputs)
        self._states = states or {}

    def expand(self, pbegin: beam.pvalue.PBegin) -> ReadResult:
        return (
            pbegin
            | "Feeds" >> beam.Create([(s, self._states.get(s.url)) for s in self._sources])
            | "Fetch" >> self._fetch_feeds
        )


def local_feed_exists(url: str) -> bool:
    return FileSystems.exists(url.removeprefix("file://"))
