"""Near-duplicate detection (MinHash-LSH), within a run and against the runs before it.

    articles -> Sketch (MinHash signature) + keys (id:, url:, hash:, one per LSH band)
    keys now + keys of earlier runs (index) -> packed by shard -> GroupByKey -> buckets -> pairs
    each shard's pairs + the candidates' sketches (side input) -> verified edges, in the shard
    verified edges of all shards -> connected components (one worker; edges are few) -> assignments
    articles + this run's assignments (side input) -> articles that flow on | duplicates

The keys, whose number grows with the data, are grouped by key in a shuffle that scales out; they
travel packed into `dedup.shards` groups, many (key, id) pairs per element as two arrays of 64-bit
codes (`key_code`, `id_code`), because one Beam element, or one Python string, per key costs more
than the dedup itself. What meets in side inputs or on one worker is
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

from collections.abc import Iterable, Iterator, Mapping
from itertools import combinations
from typing import Any, NamedTuple, Optional

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from pipeline.config import DedupSettings
from pipeline.records import Article, DeadLetter, Duplicate, IndexKey, Sketch
from transforms import minhash
from transforms.dead_letters import DEAD_LETTERS, guarded, stable_id
from transforms.dedup import DUPLICATES, DedupResult, duplicate_row, rank

NAMESPACE = "newsbeam.dedup"
STAGE = "dedup"
SEEN, MINHASH = "seen", "minhash"
# Exact keys win over a similarity estimate when a pair shares several keys.
_METHOD_PRIORITY = {"url": 0, "content": 1, MINHASH: 2}


# (shard, (side, key codes, id codes)): uint64 arrays as bytes, "now" or "earlier".
_PackedKeys = tuple[int, tuple[str, bytes, bytes]]
# The two bits of a key code below its sign bit say what kind of key it is; a pair's method follows from it.
_KINDS = ("id", "url", "hash", "band")
_METHOD_OF_KIND = {1: "url", 2: "content", 3: MINHASH}
_KIND_SHIFT = 61


def _hash64(text: str) -> int:
    return int(stable_id(text), 16)


def key_code(key: str) -> int:
    """A 63-bit code of a key (Beam's int coder is signed): its kind (id, url, hash, band) in the
    top two bits, a hash below."""
    kind, _ = key.split(":", 1)
    return (_KINDS.index(kind) << _KIND_SHIFT) | (_hash64(key) >> 3)


def id_code(article_id: str) -> int:
    """A 63-bit code of an article id (n ids hold two equal codes with odds of about n^2 / 2^64)."""
    return _hash64(article_id) >> 1


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


def pack(pairs: Iterable[tuple[str, str]], side: str, shards: int) -> Iterator[_PackedKeys]:
    """(key, article id) pairs -> one (shard, (side, key codes, id codes)) per shard their keys fall in."""
    pairs = list(pairs)
    keys = np.fromiter((key_code(key) for key, _ in pairs), dtype=np.uint64, count=len(pairs))
    ids = np.fromiter((id_code(article_id) for _, article_id in pairs), dtype=np.uint64, count=len(pairs))
    of_shard = keys % np.uint64(shards)
    for shard in np.unique(of_shard).tolist():
        chosen = of_shard == shard
        yield shard, (side, keys[chosen].tobytes(), ids[chosen].tobytes())


def bucket_pairs(key: int, now: set[int], earlier: set[int], max_bucket: int) -> Iterator[tuple[tuple[int, int], str]]:
    """((id, id), method) for the articles of this run sharing the key coded `key`, with each other
    and with the articles of earlier runs that have it. A bucket larger than `max_bucket` pairs
    each member with its smallest id only."""
    method = _METHOD_OF_KIND[key >> _KIND_SHIFT]
    members = sorted(now | earlier)
    pairs: Iterable[tuple[int, int]] = (
        combinations(members, 2) if len(members) <= max_bucket else ((members[0], m) for m in members[1:])
    )
    for first, second in pairs:
        if first in now or second in now:
            yield (first, second), method


class Candidates(NamedTuple):
    """What the buckets found, by id code: candidate pairs with their best method, and the articles
    of this run that an earlier run wrote (their `id:` key is in the index)."""

    pairs: dict[tuple[int, int], str]
    seen: set[int]

    @property
    def ids(self) -> set[int]:
        return {code for pair in self.pairs for code in pair}


def buckets(shard: tuple[int, Iterable[tuple[str, bytes, bytes]]], max_bucket: int) -> Iterator[Candidates]:
    """All keys of one shard -> its `Candidates`, one element (a pair shares many bands: emitting
    it once per band would multiply the elements). The keys are sorted as arrays; only keys that
    several articles share, one of them of this run, become Python objects."""
    parts = list(shard[1])
    keys = np.concatenate([np.frombuffer(key_codes, dtype=np.uint64) for _, key_codes, _ in parts])
    ids = np.concatenate([np.frombuffer(id_codes, dtype=np.uint64) for _, _, id_codes in parts])
    now = np.concatenate([np.full(len(key_codes) // 8, side == "now") for side, key_codes, _ in parts])
    order = np.argsort(keys, kind="stable")
    keys, ids, now = keys[order], ids[order], now[order]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    ends = np.append(starts[1:], len(keys))
    shared = (ends - starts > 1) & (np.add.reduceat(now, starts) > 0) if len(keys) else np.zeros(0, bool)
    result = Candidates({}, set())
    for start, end in zip(starts[shared].tolist(), ends[shared].tolist()):
        key = int(keys[start])
        members_now = set(ids[start:end][now[start:end]].tolist())
        earlier = set(ids[start:end][~now[start:end]].tolist())
        if key >> _KIND_SHIFT == 0:  # an id: key
            result.seen.update(members_now & earlier)
            continue
        for pair, method in bucket_pairs(key, members_now, earlier, max_bucket):
            result.pairs[pair] = best_method((method, result.pairs.get(pair, method)))
    yield result


def best_method(methods: Iterable[str]) -> str:
    return min(methods, key=_METHOD_PRIORITY.__getitem__)


class Verified(NamedTuple):
    """What one shard's candidates came to: the near-duplicate pairs among them, and the articles
    of this run that an earlier run wrote."""

    edges: list[Edge]
    seen: set[str]


def verify(candidates: Candidates, sketches: Mapping[tuple[int, bool], Sketch], threshold: float) -> Verified:
    """One shard's candidate pairs -> those that are near-duplicates: estimated similarity at or
    above the threshold (pairs found by an exact key always are). `sketches`: (id code, seen) ->
    Sketch; the index's copy (seen) is preferred; pairs whose sketch is missing are skipped."""

    def sketch(code: int) -> Optional[Sketch]:
        return sketches.get((code, True)) or sketches.get((code, False))

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
    return Verified(edges, {sketches[code, False].article_id for code in candidates.seen if (code, False) in sketches})


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
            | "PackKeys" >> beam.FlatMap(lambda batch: pack((kv for keys in batch for kv in keys), "now", shards))
            .with_output_types(_PackedKeys)
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
                                                                       "earlier", shards))
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
                earlier_ids = index_keys | "EarlierIds" >> beam.Map(lambda k: id_code(k.article_id)).with_output_types(int)
            else:
                earlier_ids = candidates | "CandidateIds" >> beam.FlatMap(lambda c: c.ids).with_output_types(int)
            wanted = beam.pvalue.AsSingleton(earlier_ids | "EarlierIdSet" >> beam.combiners.ToSet())
            sketches = (now_sketches, earlier_sketches | "EarlierOfCandidates" >> beam.Filter(
                lambda s, ids: id_code(s.article_id) in ids, wanted).with_output_types(Sketch)) | "Sketches" >> beam.Flatten()
        by_id = beam.pvalue.AsDict(sketches | "ById" >> beam.Map(lambda s: ((id_code(s.article_id), s.seen), s))
                                   .with_output_types(tuple[tuple[int, bool], Sketch]))
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
