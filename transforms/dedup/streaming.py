"""Streaming de-duplication: the same keys as the batch stages, held in stateful DoFns that forget
after `dedup.expiry_days`, so memory stays bounded however long the stream runs.

    article -> (key code, claim) for each of its keys (`transforms.dedup.keys`)
      ClaimKeyFn, keyed by key: the first article to claim a key holds it until it expires;
        every later claimant gets a vote: duplicate of the holder, or new
      DecideFn, keyed by article id: waits for the article and all its votes, then emits the
        article once, or a `Duplicate` of the article it repeats

Earlier runs: the cross-run index (`transforms.dedup.index`) seeds the keys: each indexed
article claims its keys just before the stream starts, holding them without a vote, so a copy of
an old story arriving now is its duplicate (a restarted stream, or the next segment of a local
one, knows what was written before).

Order: claims on a key wait for the watermark to pass their timestamp and are then judged in
(event timestamp, id) order, so of two copies in flight together the earlier one wins every key
and exactly one survives, whatever order the claims arrived in. A holder expires `expiry_days`
after it claimed the key (an event-time timer), after which a copy of it counts as new; with no
expiry (a bounded segment of a local stream, whose successor is seeded from the index) keys are
held for the life of the job.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from transforms.core.records import Article, Duplicate, KeyBlock, Sketch
from transforms.core.settings import DedupSettings
from transforms.dedup import keys as dedup_keys
from transforms.dedup import minhash
from transforms.dedup.duplicates import CONTENT, DUPLICATES, MINHASH, PRIORITY, SEEN, URL, duplicate_row
from transforms.dedup.near import Earlier, SketchingFn
from transforms.dedup.sketch_table import SketchTable

_DAY = 24 * 3600


class Claim(NamedTuple):
    sketch: Sketch
    timestamp: float  # event time, seconds
    keys: int  # how many keys the article has (the votes DecideFn waits for)
    delivery: str  # DecideFn's key: one per arrival, so two arrivals of one article never mix


class Vote(NamedTuple):
    duplicate_of: Optional[str]  # None: new on this key
    similarity: float
    method: str


def _millis(seconds: float) -> int:
    """Event time in whole milliseconds, the resolution timers fire at: claims are judged in
    these units (a claim at .974389 s whose timer fires at .974 s would otherwise stay pending)."""
    return round(seconds * 1_000_000) // 1000


def _at(seconds: float) -> Timestamp:
    return Timestamp(micros=_millis(seconds) * 1000)


def _order(claim: Claim) -> tuple[float, str]:
    return (claim.timestamp, claim.sketch.article_id)


class ClaimsFn(SketchingFn):
    """Article -> (delivery, article) and (key, Claim) for each of its keys."""

    CLAIMS = "claims"

    def process(self, article: Article, timestamp: Any = beam.DoFn.TimestampParam) -> Iterator[Any]:
        sketch, keys = self.sketch(article)
        delivery = f"{article.article_id}/{uuid.uuid4().hex}"
        yield delivery, ("article", article)
        for key in keys.tolist():
            yield beam.pvalue.TaggedOutput(self.CLAIMS, (key, Claim(sketch, float(timestamp), len(keys), delivery)))


class ClaimKeyFn(beam.DoFn):
    """(key, Claim) -> (delivery, ("vote", Vote, keys)): who holds the key decides the vote.

    Claims wait until the watermark passes their timestamp, then are judged in (timestamp, id)
    order, so the earliest copy holds the key however the claims arrived.
    """

    HOLDER = ReadModifyWriteStateSpec("holder", PickleCoder())
    PENDING = BagStateSpec("pending", PickleCoder())
    FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)
    EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, threshold: float, expiry_days: Optional[float]):
        self._threshold = threshold
        self._expiry = None if expiry_days is None else expiry_days * _DAY

    def process(
        self,
        keyed: tuple[int, Claim],
        pending: Any = beam.DoFn.StateParam(PENDING),
        flush: Any = beam.DoFn.TimerParam(FLUSH),
    ) -> None:
        key, claim = keyed
        pending.add((key, claim))
        flush.set(_at(claim.timestamp))

    @on_timer(FLUSH)
    def on_flush(
        self,
        fired: Any = beam.DoFn.TimestampParam,
        pending: Any = beam.DoFn.StateParam(PENDING),
        holder: Any = beam.DoFn.StateParam(HOLDER),
        flush: Any = beam.DoFn.TimerParam(FLUSH),
        expiry: Any = beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[tuple[str, tuple[str, Any, int]]]:
        yield from self._judge(float(fired), pending, holder, flush, expiry)

    @on_timer(EXPIRY)
    def on_expiry(
        self,
        fired: Any = beam.DoFn.TimestampParam,
        pending: Any = beam.DoFn.StateParam(PENDING),
        holder: Any = beam.DoFn.StateParam(HOLDER),
        flush: Any = beam.DoFn.TimerParam(FLUSH),
        expiry: Any = beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[tuple[str, tuple[str, Any, int]]]:
        yield from self._judge(float(fired), pending, holder, flush, expiry)  # claims due first
        held: Optional[Claim] = holder.read()
        if held is not None and self._expired(held, float(fired)):
            holder.clear()

    def _expired(self, held: Claim, at: float) -> bool:
        return self._expiry is not None and _millis(held.timestamp + self._expiry) <= _millis(at)

    def _judge(self, upto: float, pending: Any, holder: Any, flush: Any, expiry: Any) -> Iterator[Any]:
        waiting = list(pending.read())
        due = sorted((c for c in waiting if _millis(c[1].timestamp) <= _millis(upto)), key=lambda kc: _order(kc[1]))
        later = [c for c in waiting if _millis(c[1].timestamp) > _millis(upto)]
        pending.clear()
        for item in later:
            pending.add(item)
        if later:
            flush.set(_at(min(c[1].timestamp for c in later)))
        for key, claim in due:
            held: Optional[Claim] = holder.read()
            if held is not None and self._expired(held, claim.timestamp):
                held = None  # expired, though its timer has not fired yet
            if held is None:
                holder.write(claim)
                if self._expiry is not None:
                    expiry.set(_at(claim.timestamp + self._expiry))
            if not claim.sketch.seen:  # an indexed article holds its keys, nobody waits for its votes
                yield claim.delivery, ("vote", self._vote(key, claim, held), claim.keys)

    def _vote(self, key: int, claim: Claim, held: Optional[Claim]) -> Vote:
        kind = dedup_keys.kind(key)
        if held is None or held.delivery == claim.delivery:
            return Vote(None, 0.0, MINHASH)
        if kind == dedup_keys.ID:
            return Vote(held.sketch.article_id, 1.0, SEEN)
        if kind in (dedup_keys.URL, dedup_keys.HASH):
            return Vote(held.sketch.article_id, 1.0, URL if kind == dedup_keys.URL else CONTENT)
        score = minhash.similarity(
            minhash.from_bytes(claim.sketch.signature), minhash.from_bytes(held.sketch.signature)
        )
        return Vote(held.sketch.article_id, score, MINHASH) if score >= self._threshold else Vote(None, score, MINHASH)


class DecideFn(beam.DoFn):
    """(delivery, article | votes) -> the article once all its votes are in, or its Duplicate."""

    MESSAGES = BagStateSpec("messages", PickleCoder())

    def process(
        self, keyed: tuple[str, tuple[Any, ...]], messages: Any = beam.DoFn.StateParam(MESSAGES)
    ) -> Iterator[Any]:
        messages.add(keyed[1])
        received = list(messages.read())
        article = next((m[1] for m in received if m[0] == "article"), None)
        votes = [m[1] for m in received if m[0] == "vote"]
        if article is not None and votes and len(votes) == next(m[2] for m in received if m[0] == "vote"):
            messages.clear()
            repeats = [vote for vote in votes if vote.duplicate_of is not None]
            if repeats:
                best = min(repeats, key=lambda v: (PRIORITY[v.method], -v.similarity))
                yield beam.pvalue.TaggedOutput(
                    DUPLICATES, duplicate_row(article, best.duplicate_of, best.method, best.similarity)
                )
            else:
                yield article


def index_claims(keyed: tuple[int, dict[str, list[Any]]], timestamp: float) -> Iterator[tuple[int, Claim]]:
    """An indexed article's keys and sketch -> a claim per key, dated `timestamp`."""
    _, grouped = keyed
    keys, sketches = grouped["keys"], grouped["sketches"]
    for sketch in sketches[:1]:
        for key in keys:
            yield key, Claim(sketch._replace(seen=True), timestamp, len(keys), f"seen/{sketch.article_id}")


def keys_by_id(block: KeyBlock) -> Iterator[tuple[int, int]]:
    """(id code, key code) of each key of a block of the index."""
    keys, ids = dedup_keys.arrays(block)
    return zip(ids.tolist(), keys.tolist())


def sketches_by_id(table: SketchTable) -> Iterator[tuple[int, Sketch]]:
    return ((code, table.sketch(row)) for row, code in enumerate(table.codes.tolist()))


class StreamingDedup(beam.PTransform):
    """Article stream -> `(articles, duplicates)`: each story emitted once within the expiry.

    `earlier`: the cross-run index, whose articles hold their
    keys from `earlier_at` (seconds since the epoch, before the stream's first element).
    `expires`: False holds keys for the life of the job (see the module docstring).
    """

    def __init__(
        self, settings: DedupSettings, earlier: Optional[Earlier] = None, earlier_at: float = 0.0, expires: bool = True
    ):
        super().__init__()
        self._settings = settings
        self._expires = expires
        self._earlier = earlier
        self._earlier_at = earlier_at

    def expand(self, articles: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        settings = self._settings
        claims = articles | "Claims" >> beam.ParDo(ClaimsFn(settings)).with_output_types(
            tuple[str, tuple], claims=tuple[int, Claim]
        ).with_outputs(ClaimsFn.CLAIMS, main="articles")
        all_claims = claims[ClaimsFn.CLAIMS]
        if self._earlier is not None:
            at = self._earlier_at
            seeded = (
                {
                    "keys": self._earlier.keys.blocks(articles.pipeline) | "IndexKeysById" >> beam.FlatMap(keys_by_id),
                    "sketches": self._earlier.sketches.tables(articles.pipeline)
                    | "IndexSketchesById" >> beam.FlatMap(sketches_by_id),
                }
                | "IndexByArticle" >> beam.CoGroupByKey()
                | "IndexClaims" >> beam.FlatMap(index_claims, at).with_output_types(tuple[int, Claim])
                | "DatedClaims"
                >> beam.Map(lambda claim, at=at: TimestampedValue(claim, at)).with_output_types(tuple[int, Claim])
            )
            all_claims = (all_claims, seeded) | "WithIndexClaims" >> beam.Flatten()
        votes = all_claims | "ClaimKeys" >> beam.ParDo(
            ClaimKeyFn(settings.threshold, settings.expiry_days if self._expires else None)
        ).with_output_types(tuple[str, tuple])
        decided = (
            (claims.articles, votes)
            | "ArticlesAndVotes" >> beam.Flatten()
            | "Decide"
            >> beam.ParDo(DecideFn())
            .with_output_types(Article, duplicates=Duplicate)
            .with_outputs(DUPLICATES, main="articles")
        )
        return decided.articles, decided[DUPLICATES]
