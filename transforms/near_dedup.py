"""Near-duplicate detection (MinHash-LSH), within a run and against the runs before it.

    articles -> Sketch (MinHash signature) + keys (id:, url:, hash:, one per LSH band)
    keys now + keys of earlier runs (index) -> packed by shard -> GroupByKey -> buckets -> pairs
    each shard's pairs + the candidates' sketches (side input) -> verified edges, in the shard
    verified edges of all shards -> connected components (one worker; edges are few) -> assignments
    articles + this run's assignments (side input) -> articles that flow on | duplicates

The keys, whose number grows with the data, are grouped by key in a shuffle that scales out; they
travel packed, many (key, id) pairs per element, into `dedup.shards` groups, because one Beam
element per key costs more than the dedup itself. What meets in side inputs or on one worker is
bounded by this run and its candidates in the history (the earlier articles sharing a band with
it), never by the whole history. A candidate pair is a
near-duplicate when its estimated Jaccard similarity reaches `dedup.threshold`; pairs found by an
exact key (the same URL or content hash as an article of an earlier run) need no estimate.

Representative of a cluster: an article written by an earlier run if the cluster has one (it is
already in the warehouse), else the earliest published, then longest, then smallest id. Every
other article of the cluster becomes a `Duplicate` of it; an article that an earlier run already
wrote (the same `article_id`) becomes a `seen` duplicate of itself.
"""
from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import combinations
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.config import DedupSettings
from pipeline.records import Article, DeadLetter, Duplicate, IndexKey, Sketch
from transforms import minhash
from transforms.dead_letters import DEAD_LETTERS, guarded
from transforms.dedup import DUPLICATES, DedupResult, duplicate_row, rank

NAMESPACE = "newsbeam.dedup"
STAGE = "dedup"
SEEN, MINHASH = "seen", "minhash"
# Exact keys win over a similarity estimate when a pair shares several keys.
_METHOD_PRIORITY = {"url": 0, "content": 1, MINHASH: 2}


_PackedKeys = tuple[int, tuple[str, list[tuple[str, str]]]]


class Edge(NamedTuple):
    """A verified near-duplicate pair."""

    first: Sketch
    second: Sketch
    similarity: float
    method: str


class Assignment(NamedTuple):
    representative: str
    similarity: float
    method: str


def article_keys(article_id: str, url: Optional[str], content_hash: str, signature: bytes,
                 bands: int) -> list[str]:
    """Every key an article is found by: its id, URL, content hash and LSH bands."""
    keys = [f"id:{article_id}", f"hash:{content_hash}"]
    if url:
        keys.append(f"url:{url}")
    keys.extend(f"band:{key}" for key in minhash.band_keys(minhash.from_bytes(signature), bands))
    return keys


class SketchingFn(beam.DoFn):
    """Base of the DoFns that sketch articles (batch, index, streaming): one MinHasher each."""

    def __init__(self, settings: DedupSettings):
        self._settings = settings
        self._hasher: Optional[minhash.MinHasher] = None

    def setup(self) -> None:
        self._hasher = minhash.MinHasher.create(self._settings.num_perm, self._settings.shingle_size)

    def sketch(self, article: Article, seen: bool = False) -> tuple[Sketch, list[str]]:
        """The article's Sketch and every key it is found by (`article_keys`)."""
        assert self._hasher is not None
        signature = minhash.to_bytes(self._hasher.signature(article.text))
        keys = article_keys(article.article_id, article.url, article.content_hash, signature, self._settings.bands)
        return Sketch(article.article_id, article.published, article.word_count, signature, seen), keys


class SketchFn(SketchingFn):
    """Article -> the article, its Sketch, and the list of its (key, article_id)."""

    KEYS, SKETCHES = "keys", "sketches"

    def process(self, article: Article) -> Iterator[Any]:
        return guarded(STAGE, article.source, self._sketch(article))

    def _sketch(self, article: Article) -> Iterator[Any]:
        sketch, keys = self.sketch(article)
        yield article
        yield beam.pvalue.TaggedOutput(self.SKETCHES, sketch)
        yield beam.pvalue.TaggedOutput(self.KEYS, [(key, article.article_id) for key in keys])


def shard_of(key: str, shards: int) -> int:
    return zlib.crc32(key.encode("utf-8")) % shards


def pack(batch: Iterable[Any], side: str, shards: int, key_of: Callable[[Any], str]) -> Iterator[tuple[int, tuple[str, list[Any]]]]:
    """A batch of items -> one (shard, (side, items)) per shard their keys fall in."""
    groups: dict[int, list[Any]] = defaultdict(list)
    for item in batch:
        groups[shard_of(key_of(item), shards)].append(item)
    yield from ((shard, (side, items)) for shard, items in groups.items())


def bucket_pairs(key: str, now: set[str], earlier: set[str], max_bucket: int) -> Iterator[tuple[tuple[str, str], str]]:
    """((id, id), method) for the articles of this run sharing `key`, with each other and with the
    articles of earlier runs that have it. A bucket larger than `max_bucket` pairs each member
    with its smallest id only."""
    method = {"url": "url", "hash": "content"}.get(key.split(":", 1)[0], MINHASH)
    members = sorted(now | earlier)
    pairs: Iterable[tuple[str, str]] = (
        combinations(members, 2) if len(members) <= max_bucket else ((members[0], m) for m in members[1:])
    )
    for first, second in pairs:
        if first in now or second in now:
            yield (first, second), method


class Candidates(NamedTuple):
    """What the buckets found: candidate pairs with their best method, and the articles of this
    run that an earlier run wrote (their `id:` key is in the index)."""

    pairs: dict[tuple[str, str], str]
    seen: set[str]

    @property
    def ids(self) -> set[str]:
        return {article_id for pair in self.pairs for article_id in pair}


def buckets(shard: tuple[int, Iterable[tuple[str, list[tuple[str, str]]]]], max_bucket: int) -> Iterator[Candidates]:
    """All keys of one shard -> its `Candidates`, one element (a pair shares many bands: emitting
    it once per band would multiply the elements)."""
    # Most keys belong to one article: keep a single (side, id) until a second one arrives.
    found: dict[str, Any] = {}
    for side, items in shard[1]:
        for key, article_id in items:
            entry = found.get(key)
            if entry is None:
                found[key] = (side, article_id)
            elif isinstance(entry, tuple):
                found[key] = [entry, (side, article_id)]
            else:
                entry.append((side, article_id))
    result = Candidates({}, set())
    for key, entry in found.items():
        if isinstance(entry, tuple):
            continue  # one article: no pair, and not seen before
        now = {article_id for side, article_id in entry if side == "now"}
        earlier = {article_id for side, article_id in entry if side != "now"}
        if not now:
            continue
        if key.startswith("id:"):
            if earlier:
                result.seen.add(key[3:])
            continue
        for pair, method in bucket_pairs(key, now, earlier, max_bucket):
            result.pairs[pair] = best_method((method, result.pairs.get(pair, method)))
    yield result


def best_method(methods: Iterable[str]) -> str:
    return min(methods, key=_METHOD_PRIORITY.__getitem__)


class Verified(NamedTuple):
    """What one shard's candidates came to: the near-duplicate pairs among them, and the articles
    of this run that an earlier run wrote."""

    edges: list[Edge]
    seen: set[str]


def verify(candidates: Candidates, sketches: Mapping[tuple[str, bool], Sketch], threshold: float) -> Verified:
    """One shard's candidate pairs -> those that are near-duplicates: estimated similarity at or
    above the threshold (pairs found by an exact key always are). `sketches`: (id, seen) -> Sketch;
    the index's copy (seen) is preferred; pairs whose sketch is missing are skipped."""

    def sketch(article_id: str) -> Optional[Sketch]:
        return sketches.get((article_id, True)) or sketches.get((article_id, False))

    edges = []
    for (first_id, second_id), method in candidates.pairs.items():
        first, second = sketch(first_id), sketch(second_id)
        if first is None or second is None:
            continue
        if method != MINHASH:
            edges.append(Edge(first, second, 1.0, method))
            continue
        score = minhash.similarity(minhash.from_bytes(first.signature), minhash.from_bytes(second.signature))
        if score >= threshold:
            edges.append(Edge(first, second, score, method))
    return Verified(edges, candidates.seen)


def resolve(shards: Iterable[Verified]) -> Iterator[tuple[str, Assignment]]:
    """Every shard's verified pairs -> (article id, Assignment) for every article of this run that
    repeats another."""
    shards = list(shards)
    seen = set().union(*(shard.seen for shard in shards))
    for article_id in seen:
        yield article_id, Assignment(article_id, 1.0, SEEN)
    for article_id, assignment in assign(edge for shard in shards for edge in shard.edges):
        if article_id not in seen:
            yield article_id, assignment


def assign(edges: Iterable[Edge]) -> Iterator[tuple[str, Assignment]]:
    """Connected components of the verified edges -> (article id, Assignment) for every article of
    this run that is not its cluster's representative."""
    sketches: dict[str, Sketch] = {}
    direct: dict[tuple[str, str], tuple[float, str]] = {}
    for edge in edges:
        for sketch in (edge.first, edge.second):
            if sketch.article_id not in sketches or sketch.seen:
                sketches[sketch.article_id] = sketch
        pair = _pair(edge.first.article_id, edge.second.article_id)
        previous = direct.get(pair)
        if previous is None or _METHOD_PRIORITY[edge.method] < _METHOD_PRIORITY[previous[1]]:
            direct[pair] = (edge.similarity, edge.method)
    roots = minhash.components(direct)
    clusters: dict[str, list[Sketch]] = {}
    for node, root in roots.items():
        clusters.setdefault(root, []).append(sketches[node])
    for members in clusters.values():
        seen = [m for m in members if m.seen]
        representative = min(seen or members, key=lambda m: rank(m.published, m.word_count, m.article_id))
        signature = minhash.from_bytes(representative.signature)
        for member in members:
            if member.seen or member.article_id == representative.article_id:
                continue
            found = direct.get(_pair(member.article_id, representative.article_id))
            if found is None:  # joined to the representative through other members
                found = (minhash.similarity(minhash.from_bytes(member.signature), signature), MINHASH)
            yield member.article_id, Assignment(representative.article_id, *found)


def _pair(first: str, second: str) -> tuple[str, str]:
    return (first, second) if first <= second else (second, first)


def apply_assignment(article: Article, assignments: dict[str, Assignment]) -> Iterator[Any]:
    """The article, or its `Duplicate` on the duplicates output."""
    chosen = assignments.get(article.article_id)
    if chosen is None:
        yield article
    else:
        Metrics.counter(NAMESPACE, f"duplicates_by_{chosen.method}").inc()
        yield beam.pvalue.TaggedOutput(
            DUPLICATES, duplicate_row(article, chosen.representative, chosen.method, chosen.similarity))


class NearDedup(beam.PTransform):
    """Article -> `DedupResult(articles, duplicates, dead_letters)`, against `earlier` runs.

    `earlier`: (keys, sketches) PCollections of the cross-run index (`IndexKey`, `Sketch` with
    seen=True), or None for a run that remembers nothing. `narrow_earlier`: only the index keys
    this run's articles also have go on to the shuffle (the run's key set is a side input; exact,
    since other keys pair no article of this run). For runners that hold collections in memory,
    where the index outgrows the run: memory then follows the run and its candidates, not the
    whole history (on text built from shared templates, the candidates can be most of it).
    """

    def __init__(self, settings: DedupSettings, earlier: Optional[tuple[beam.PCollection, beam.PCollection]] = None,
                 narrow_earlier: bool = False):
        super().__init__()
        self._settings = settings
        self._earlier = earlier
        self._narrow_earlier = narrow_earlier

    def expand(self, articles: beam.PCollection) -> DedupResult:
        settings, shards = self._settings, self._settings.shards
        sketched = articles | "Sketch" >> beam.ParDo(SketchFn(settings)).with_output_types(
            Article, keys=list[tuple[str, str]], sketches=Sketch, dead_letters=DeadLetter,
        ).with_outputs(SketchFn.KEYS, SketchFn.SKETCHES, DEAD_LETTERS, main="articles")
        now_keys = (
            sketched[SketchFn.KEYS]
            | "BatchKeys" >> beam.BatchElements(min_batch_size=64, max_batch_size=2048)
            | "PackKeys" >> beam.FlatMap(lambda batch: pack((kv for keys in batch for kv in keys), "now", shards,
                                                             lambda kv: kv[0])).with_output_types(_PackedKeys)
        )
        packed_keys = [now_keys]
        now_sketches = sketched[SketchFn.SKETCHES]
        earlier_sketches = None
        if self._earlier is not None:
            index_keys, earlier_sketches = self._earlier
            if self._narrow_earlier:
                keys_now = (sketched[SketchFn.KEYS]
                            | "KeysNow" >> beam.FlatMap(lambda keys: [key for key, _ in keys]).with_output_types(str)
                            | "KeySetNow" >> beam.combiners.ToSet())
                index_keys = index_keys | "EarlierKeysOfNow" >> beam.Filter(
                    lambda k, now: k.key in now, beam.pvalue.AsSingleton(keys_now)).with_output_types(IndexKey)
            packed_keys.append(
                index_keys
                | "BatchEarlierKeys" >> beam.BatchElements(min_batch_size=64, max_batch_size=2048)
                | "PackEarlierKeys" >> beam.FlatMap(lambda batch: pack(((k.key, k.article_id) for k in batch),
                                                                       "earlier", shards, lambda kv: kv[0]))
                .with_output_types(_PackedKeys)
            )
        candidates = (
            packed_keys
            | "AllKeys" >> beam.Flatten()
            | "GroupKeys" >> beam.GroupByKey()
            | "Buckets" >> beam.FlatMap(buckets, settings.max_bucket)
        )
        # Each shard's pairs are verified where they are found, against the signatures in a side
        # input: the pairs, which grow with the history on a runner that holds collections in
        # memory, are never gathered in one place. The side input holds this run's sketches and,
        # of the earlier runs', those of the candidates: narrowed, the articles sharing a key with
        # this run (known before the shuffle, so bucketing and verifying fuse); else the ids the
        # buckets name. Sketches are filtered where they are read, never shuffled.
        if earlier_sketches is None:
            sketches = now_sketches
        else:
            if self._narrow_earlier:
                earlier_ids = index_keys | "EarlierIds" >> beam.Map(lambda k: k.article_id).with_output_types(str)
            else:
                earlier_ids = candidates | "CandidateIds" >> beam.FlatMap(lambda c: c.ids).with_output_types(str)
            wanted = beam.pvalue.AsSingleton(earlier_ids | "EarlierIdSet" >> beam.combiners.ToSet())
            sketches = (now_sketches, earlier_sketches | "EarlierOfCandidates" >> beam.Filter(
                lambda s, ids: s.article_id in ids, wanted).with_output_types(Sketch)) | "Sketches" >> beam.Flatten()
        by_id = beam.pvalue.AsDict(sketches | "ById" >> beam.Map(lambda s: ((s.article_id, s.seen), s))
                                   .with_output_types(tuple[tuple[str, bool], Sketch]))
        assignments = (
            candidates
            | "Verify" >> beam.Map(verify, by_id, settings.threshold)
            | "AllVerified" >> beam.combiners.ToList()
            | "Resolve" >> beam.FlatMap(resolve)
        )
        # Only this run's duplicates are in the side input, never the history.
        result = sketched.articles | "Apply" >> beam.FlatMap(
            apply_assignment, beam.pvalue.AsDict(assignments)
        ).with_output_types(Article, duplicates=Duplicate).with_outputs(DUPLICATES, main="kept")
        return DedupResult(result.kept, result[DUPLICATES], sketched[DEAD_LETTERS])
