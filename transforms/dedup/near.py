"""Near-duplicate detection (MinHash-LSH), within a run and against the runs before it.

    articles -> Sketch (MinHash signature) + keys (id:, url:, hash:, one per LSH band)
    keys now + keys of earlier runs (index) -> packed by shard -> GroupByKey -> buckets -> pairs
    each shard's pairs + this run's sketches (side input) + the candidates' from the index ->
      verified edges, in the shard
    verified edges of all shards -> connected components (one worker; edges are few) -> assignments
    articles + this run's assignments (side input) -> articles that flow on | duplicates

The keys, whose number grows with the data, are grouped by key in a shuffle that scales out; they
travel packed into `dedup.shards` groups, many (key, id) pairs per element as two arrays of 64-bit
codes (`transforms.dedup.keys`), because one Beam element, or one Python string, per key costs more
than the dedup itself; buckets, pairs and sketches stay arrays too. What meets in side inputs or
on one worker is bounded by this run and its candidates in the history (the earlier articles
sharing a band with it), never by the whole history. A candidate pair is a near-duplicate when
its estimated Jaccard similarity reaches `dedup.threshold`; pairs found by an exact key (the
same URL or content hash as an article of an earlier run) need no estimate.

Representative of a cluster: an article written by an earlier run if the cluster has one (it is
already in the warehouse), else the earliest published, then longest, then smallest id. Every
other article of the cluster becomes a `Duplicate` of it; an article that an earlier run already
wrote (the same `article_id`) becomes a `seen` duplicate of itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple, Optional, Protocol

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from transforms.core import metrics
from transforms.core.dead_letters import DEAD_LETTERS, guarded
from transforms.core.records import Article, DeadLetter, Duplicate, KeyBlock, Sketch
from transforms.core.settings import DedupSettings
from transforms.dedup import keys as dedup_keys
from transforms.dedup import minhash
from transforms.dedup.duplicates import (
    DUPLICATES,
    MINHASH,
    OF_KEY_KIND,
    PRIORITY,
    SEEN,
    STAGE,
    DedupResult,
    duplicate_row,
    rank,
)
from transforms.dedup.sketch_table import SketchTable

# (shard, (side, key codes, id codes)): uint64 arrays as bytes, NOW or EARLIER.
_PackedKeys = tuple[int, tuple[str, bytes, bytes]]
NOW, EARLIER = "now", "earlier"


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


class SketchingFn(beam.DoFn):
    """Base of the DoFns that sketch articles (batch, index, streaming): one MinHasher each."""

    def __init__(self, settings: DedupSettings):
        self._settings = settings
        self._hasher: Optional[minhash.MinHasher] = None

    def setup(self) -> None:
        self._hasher = minhash.MinHasher.create(self._settings.num_perm, self._settings.shingle_size)

    def sketch(self, article: Article, seen: bool = False) -> tuple[Sketch, np.ndarray]:
        """The article's Sketch and the codes of every key it is found by (`dedup_keys.article_keys`)."""
        assert self._hasher is not None
        signature = minhash.to_bytes(self._hasher.signature(article.text))
        keys = dedup_keys.article_keys(
            article.article_id, article.url, article.content_hash, signature, self._settings.bands
        )
        return (
            Sketch(article.article_id, article.published, article.word_count, signature, seen),
            dedup_keys.codes(keys),
        )


class SketchFn(SketchingFn):
    """Article -> the article, its Sketch, and its `KeyBlock` (its key codes)."""

    KEYS, SKETCHES = "keys", "sketches"

    def process(self, article: Article) -> Iterator[Any]:
        return guarded(STAGE, article.source, self._sketch(article))

    def _sketch(self, article: Article) -> Iterator[Any]:
        sketch, codes = self.sketch(article)
        yield article
        yield beam.pvalue.TaggedOutput(self.SKETCHES, sketch)
        ids = np.full(len(codes), dedup_keys.id_code(article.article_id), dtype=np.uint64)
        yield beam.pvalue.TaggedOutput(self.KEYS, KeyBlock(codes.tobytes(), ids.tobytes()))


def merged(blocks: Iterable[KeyBlock]) -> KeyBlock:
    """Several blocks of keys as one."""
    blocks = list(blocks)
    return KeyBlock(b"".join(b.key_codes for b in blocks), b"".join(b.id_codes for b in blocks))


def pack(block: KeyBlock, side: str, shards: int) -> Iterator[_PackedKeys]:
    """A block of keys -> one (shard, (side, key codes, id codes)) per shard its keys fall in."""
    keys, ids = dedup_keys.arrays(block)
    of_shard = keys % np.uint64(shards)
    for shard in np.unique(of_shard).tolist():
        chosen = of_shard == shard
        yield shard, (side, keys[chosen].tobytes(), ids[chosen].tobytes())


def narrowed(block: KeyBlock, keys_now: np.ndarray) -> KeyBlock:
    """The keys of `block` that are among `keys_now` (a sorted array of key codes)."""
    keys, ids = dedup_keys.arrays(block)
    chosen = members(keys, keys_now)
    return KeyBlock(keys[chosen].tobytes(), ids[chosen].tobytes())


def members(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """Which of `values` are in the sorted array `sorted_set`."""
    at = np.minimum(np.searchsorted(sorted_set, values), max(len(sorted_set) - 1, 0))
    return sorted_set[at] == values if len(sorted_set) else np.zeros(len(values), dtype=bool)


class UniqueCodes(beam.CombineFn):
    """Elements -> one sorted array of the distinct uint64 codes `of` each of them."""

    def __init__(self, of: Callable[[Any], np.ndarray]):
        self._of = of

    def create_accumulator(self) -> list[np.ndarray]:
        return []

    def add_input(self, accumulator: list[np.ndarray], element: Any) -> list[np.ndarray]:
        accumulator.append(self._of(element))
        return [self.extract_output(accumulator)] if len(accumulator) >= 256 else accumulator

    def merge_accumulators(self, accumulators: Iterable[list[np.ndarray]]) -> list[np.ndarray]:
        return [self.extract_output([codes for accumulator in accumulators for codes in accumulator])]

    def extract_output(self, accumulator: list[np.ndarray]) -> np.ndarray:
        return np.unique(np.concatenate(accumulator)) if accumulator else np.zeros(0, dtype=np.uint64)


def key_codes_of(block: KeyBlock) -> np.ndarray:
    return dedup_keys.arrays(block)[0]


def candidate_ids(candidates: Candidates) -> np.ndarray:
    return candidates.ids


class Sketches(beam.CombineFn):
    """Tables of sketches -> one `SketchTable`."""

    def create_accumulator(self) -> list[SketchTable]:
        return []

    def add_input(self, accumulator: list[SketchTable], table: SketchTable) -> list[SketchTable]:
        accumulator.append(table)
        return [self.extract_output(accumulator)] if len(accumulator) >= 64 else accumulator

    def merge_accumulators(self, accumulators: Iterable[list[SketchTable]]) -> list[SketchTable]:
        return [self.extract_output([table for accumulator in accumulators for table in accumulator])]

    def extract_output(self, accumulator: list[SketchTable]) -> SketchTable:
        return SketchTable.concat(accumulator)


class Candidates(NamedTuple):
    """What one shard's buckets found, by id code: candidate pairs (first < second) with the
    kind of the most exact key they share, and the articles of this run that an earlier run
    wrote (their `id:` key is in the index)."""

    first: np.ndarray  # uint64
    second: np.ndarray  # uint64
    kinds: np.ndarray  # uint8: dedup_keys.URL, HASH or BAND
    seen: np.ndarray  # uint64

    @property
    def ids(self) -> np.ndarray:
        return np.unique(np.concatenate((self.first, self.second)))


def buckets(shard: tuple[int, Iterable[tuple[str, bytes, bytes]]], max_bucket: int) -> Iterator[Candidates]:
    """All keys of one shard -> its `Candidates`: the pairs of articles sharing a key, one of them
    of this run (a bucket larger than `max_bucket` pairs each member with its smallest id code
    only), each pair once. Done on the arrays (sorted by key, then id): no Python object per key
    or pair."""
    parts = list(shard[1])
    keys = np.concatenate([np.frombuffer(key_codes, dtype=np.uint64) for _, key_codes, _ in parts])
    ids = np.concatenate([np.frombuffer(id_codes, dtype=np.uint64) for _, _, id_codes in parts])
    now = np.concatenate([np.full(len(key_codes) // 8, side == NOW) for side, key_codes, _ in parts])
    order = np.lexsort((ids, keys))
    keys, ids, now = keys[order], ids[order], now[order]
    # One entry per (key, article): an article of this run that an earlier run wrote is in both.
    first_of_entry = _starts(keys, ids)
    entry_now = np.maximum.reduceat(now, first_of_entry) if len(keys) else now
    entry_earlier = np.maximum.reduceat(~now, first_of_entry) if len(keys) else now
    keys, ids, now = keys[first_of_entry], ids[first_of_entry], entry_now
    kind = dedup_keys.kinds(keys)
    seen = ids[(kind == dedup_keys.ID) & now & entry_earlier]
    # Buckets: the entries of one key; those of several articles, one of this run, pair.
    starts = _starts(keys)
    sizes = np.diff(np.append(starts, len(keys)))
    pairing = (sizes > 1) & (kind[starts] != dedup_keys.ID)
    if len(keys):
        pairing &= np.maximum.reduceat(now, starts)
    bucket = np.repeat(np.arange(len(starts)), sizes)
    entry = np.arange(len(keys))
    start_of, size_of = starts[bucket], sizes[bucket]
    # Each entry pairs with the entries after it in its bucket, or in a large bucket the first
    # entry with all the others.
    after = np.where(size_of <= max_bucket, start_of + size_of - entry - 1, np.where(entry == start_of, size_of - 1, 0))
    after = np.where(pairing[bucket], after, 0)
    left = np.repeat(entry, after)
    right = left + np.arange(len(left)) - np.repeat(np.cumsum(after) - after, after) + 1
    either_now = now[left] | now[right]
    first, second, pair_kind = ids[left[either_now]], ids[right[either_now]], kind[left[either_now]]
    # Each pair once, with its most exact key.
    order = np.lexsort((pair_kind, second, first))
    first, second, pair_kind = first[order], second[order], pair_kind[order]
    once = _starts(first, second)
    yield Candidates(first[once], second[once], pair_kind[once], seen)


def _starts(*columns: np.ndarray) -> np.ndarray:
    """Indices where a run of equal rows begins, in arrays sorted by `columns`."""
    if not len(columns[0]):
        return np.zeros(0, dtype=np.int64)
    change = np.zeros(len(columns[0]), dtype=bool)
    change[0] = True
    for column in columns:
        change[1:] |= column[1:] != column[:-1]
    return np.flatnonzero(change)


class Verified(NamedTuple):
    """What one shard's candidates came to: the near-duplicate pairs among them (by id code, with
    the sketches they name), and the articles of this run that an earlier run wrote."""

    sketches: SketchTable
    first: np.ndarray  # uint64
    second: np.ndarray  # uint64
    similarities: np.ndarray  # float64
    kinds: np.ndarray  # uint8
    seen: tuple[str, ...]


def verify(candidates: Candidates, sketches: SketchTable, threshold: float) -> Verified:
    """One shard's candidate pairs -> those that are near-duplicates: estimated similarity at or
    above the threshold (pairs found by an exact key always are). The index's copy of a sketch is
    preferred; pairs whose sketch is missing are skipped."""
    first, second = sketches.find(candidates.first), sketches.find(candidates.second)
    found = (first >= 0) & (second >= 0)
    first, second, kinds = first[found], second[found], candidates.kinds[found]
    scores = np.ones(len(first))
    estimated = kinds == dedup_keys.BAND
    scores[estimated] = sketches.similarities(first[estimated], second[estimated])
    near = scores >= threshold
    first, second = first[near], second[near]
    seen = sketches.find(candidates.seen)
    return Verified(
        sketches.take(np.unique(np.concatenate((first, second)))),
        sketches.codes[first],
        sketches.codes[second],
        scores[near],
        kinds[near],
        tuple(sketches.article_ids[row] for row in seen[seen >= 0].tolist()),
    )


class _VerifyingFn(beam.DoFn):
    """A DoFn that verifies candidate pairs against this run's sketches (a side input) and, with an
    index, the sketches of the earlier articles among the candidates (`wanted`, id codes), which
    `earlier` reads from the index once per worker and run: held as arrays, never copied through
    the runner."""

    def __init__(self, threshold: float, earlier: Optional[SketchSource] = None):
        self._threshold = threshold
        self._earlier = earlier
        self._sketches_of: Optional[tuple[int, SketchTable]] = None

    def sketches(self, now: SketchTable, wanted: Optional[np.ndarray]) -> SketchTable:
        """This run's sketches and the earlier ones `wanted`, read once for this run."""
        if self._earlier is None or wanted is None:
            return now
        key = hash((now.codes.tobytes(), wanted.tobytes()))
        if self._sketches_of is None or self._sketches_of[0] != key:
            self._sketches_of = None  # the last run's table goes before this one is read
            self._sketches_of = key, SketchTable.concat([now, self._earlier.read(wanted)])
        return self._sketches_of[1]


class VerifyFn(_VerifyingFn):
    """One shard's `Candidates` -> its `Verified`."""

    def process(
        self, candidates: Candidates, now: SketchTable, wanted: Optional[np.ndarray] = None
    ) -> Iterator[Verified]:
        yield verify(candidates, self.sketches(now, wanted), self._threshold)


class _ShardedKeys(NamedTuple):
    """The index keys a run shares with the history, in shard order."""

    keys: np.ndarray  # uint64 key codes
    ids: np.ndarray  # uint64 id codes of their articles
    bounds: np.ndarray  # where each shard's keys begin (one more: the end)
    articles: np.ndarray  # the distinct id codes, sorted


class MatchShardFn(_VerifyingFn):
    """One shard of this run's keys -> its `Verified`. The index keys this run shares with the
    history are read by `earlier.keys` once per worker and run, narrowed to this run's key codes
    (a side input) as they are read, and join each shard's buckets; their articles' sketches are
    the earlier ones verified against. For runners that hold collections in memory: what the
    history adds is held once, as arrays, and never passes through the runner's buffers."""

    def __init__(self, settings: DedupSettings, earlier: Earlier):
        super().__init__(settings.threshold, earlier.sketches)
        self._settings = settings
        self._keys = earlier.keys
        self._keys_of: Optional[tuple[int, _ShardedKeys]] = None

    def process(
        self, shard: tuple[int, Iterable[tuple[str, bytes, bytes]]], now: SketchTable, keys_now: np.ndarray
    ) -> Iterator[Verified]:
        earlier = self._earlier_keys(keys_now)
        number, parts = shard
        start, end = earlier.bounds[number], earlier.bounds[number + 1]
        part = (EARLIER, earlier.keys[start:end].tobytes(), earlier.ids[start:end].tobytes())
        for candidates in buckets((number, [*parts, part]), self._settings.max_bucket):
            yield verify(candidates, self.sketches(now, earlier.articles), self._threshold)

    def _earlier_keys(self, keys_now: np.ndarray) -> _ShardedKeys:
        key = hash(keys_now.tobytes())
        if self._keys_of is None or self._keys_of[0] != key:
            self._keys_of = None
            keys, ids = dedup_keys.arrays(self._keys.read(keys_now))
            of_shard = keys % np.uint64(self._settings.shards)
            order = np.argsort(of_shard, kind="stable")
            bounds = np.searchsorted(of_shard[order], np.arange(self._settings.shards + 1, dtype=np.uint64))
            self._keys_of = key, _ShardedKeys(keys[order], ids[order], bounds, np.unique(ids))
        return self._keys_of[1]


def resolve(shards: Iterable[Verified]) -> Iterator[tuple[str, Assignment]]:
    """Every shard's verified pairs -> (article id, Assignment) for every article of this run that
    repeats another."""
    shards = list(shards)
    seen = {article_id for shard in shards for article_id in shard.seen}
    for article_id in seen:
        yield article_id, Assignment(article_id, 1.0, SEEN)
    for article_id, assignment in assign(edges(shards)):
        if article_id not in seen:
            yield article_id, assignment


def edges(shards: Sequence[Verified]) -> Iterator[Edge]:
    """The verified pairs of every shard as `Edge`s (a Sketch made once per article)."""
    sketches = SketchTable.concat(shard.sketches for shard in shards)
    made: dict[int, Sketch] = {}

    def sketch(row: int) -> Sketch:
        if row not in made:
            made[row] = sketches.sketch(row)
        return made[row]

    for shard in shards:
        firsts, seconds = sketches.find(shard.first).tolist(), sketches.find(shard.second).tolist()
        for first, second, score, kind in zip(firsts, seconds, shard.similarities.tolist(), shard.kinds.tolist()):
            yield Edge(sketch(first), sketch(second), score, OF_KEY_KIND[kind])


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
        if previous is None or PRIORITY[edge.method] < PRIORITY[previous[1]]:
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
        Metrics.counter(metrics.DEDUP, metrics.duplicates_by(chosen.method)).inc()
        yield beam.pvalue.TaggedOutput(
            DUPLICATES, duplicate_row(article, chosen.representative, chosen.method, chosen.similarity)
        )


class KeySource(Protocol):
    """Where the keys of earlier runs are read (`dedup_index.IndexKeys`)."""

    def read(self, keys_now: np.ndarray) -> KeyBlock:
        """The keys that are among `keys_now` (sorted codes), with the id codes of their articles."""

    def blocks(self, pipeline: beam.Pipeline) -> beam.PCollection:
        """All of them, as a PCollection of `KeyBlock`s."""


class SketchSource(Protocol):
    """Where the sketches of earlier runs are read (`dedup_index.IndexSketches`)."""

    def read(self, wanted: np.ndarray) -> SketchTable:
        """The sketches of the articles whose id codes are among `wanted` (sorted)."""

    def tables(self, pipeline: beam.Pipeline) -> beam.PCollection:
        """All of them, as a PCollection of `SketchTable`s."""


class Earlier(NamedTuple):
    """The cross-run index (`dedup_index.read_earlier`)."""

    keys: KeySource
    sketches: SketchSource


class NearDedup(beam.PTransform):
    """Article -> `DedupResult(articles, duplicates, dead_letters)`, against `earlier` runs.

    `earlier`: the cross-run index, or None for a run that remembers nothing. The index keys join
    this run's in the key shuffle, or with `narrow_earlier` (for runners that hold collections
    in memory, where the index outgrows the run) are read where the shards are bucketed, only
    those this run's articles also have (exact: other keys pair no article of this run)
    (`MatchShardFn`). Memory then follows the run and its candidates, not the whole history (on
    text built from shared templates, the candidates can be most of it; they are held as arrays,
    16 bytes per key and about 550 per sketch).
    """

    def __init__(self, settings: DedupSettings, earlier: Optional[Earlier] = None, narrow_earlier: bool = False):
        super().__init__()
        self._settings = settings
        self._earlier = earlier
        self._narrow_earlier = narrow_earlier

    def expand(self, articles: beam.PCollection) -> DedupResult:
        settings, shards = self._settings, self._settings.shards
        sketched = articles | "Sketch" >> beam.ParDo(SketchFn(settings)).with_output_types(
            Article,
            keys=KeyBlock,
            sketches=Sketch,
            dead_letters=DeadLetter,
        ).with_outputs(SketchFn.KEYS, SketchFn.SKETCHES, DEAD_LETTERS, main="articles")
        keys_now = sketched[SketchFn.KEYS]
        packed_keys = [
            keys_now
            | "BatchKeys" >> beam.BatchElements(min_batch_size=64, max_batch_size=2048)
            | "PackKeys"
            >> beam.FlatMap(lambda blocks: pack(merged(blocks), NOW, shards)).with_output_types(_PackedKeys)
        ]
        now_sketches = beam.pvalue.AsSingleton(
            sketched[SketchFn.SKETCHES]
            | "BatchSketches" >> beam.BatchElements(min_batch_size=64, max_batch_size=2048)
            | "SketchTables" >> beam.Map(SketchTable.of_sketches)
            | "SketchTable" >> beam.CombineGlobally(Sketches())
        )
        earlier = self._earlier
        if earlier is not None and self._narrow_earlier:
            key_set = beam.pvalue.AsSingleton(keys_now | "KeySetNow" >> beam.CombineGlobally(UniqueCodes(key_codes_of)))
            verified = (
                packed_keys
                | "AllKeys" >> beam.Flatten()
                | "GroupKeys" >> beam.GroupByKey()
                | "MatchShards" >> beam.ParDo(MatchShardFn(settings, earlier), now_sketches, key_set)
            )
        else:
            if earlier is not None:
                packed_keys.append(
                    earlier.keys.blocks(articles.pipeline)
                    | "PackEarlierKeys" >> beam.FlatMap(pack, EARLIER, shards).with_output_types(_PackedKeys)
                )
            candidates = (
                packed_keys
                | "AllKeys" >> beam.Flatten()
                | "GroupKeys" >> beam.GroupByKey()
                | "Buckets" >> beam.FlatMap(buckets, settings.max_bucket)
            )
            # Each shard's pairs are verified where they are found: the pairs, which grow with
            # the history, are never gathered in one place. Of the earlier runs' sketches, those
            # of the candidates are read.
            wanted = (
                []
                if earlier is None
                else [
                    beam.pvalue.AsSingleton(
                        candidates | "CandidateIds" >> beam.CombineGlobally(UniqueCodes(candidate_ids))
                    )
                ]
            )
            verified = candidates | "Verify" >> beam.ParDo(
                VerifyFn(settings.threshold, earlier.sketches if earlier is not None else None), now_sketches, *wanted
            )
        assignments = verified | "AllVerified" >> beam.combiners.ToList() | "Resolve" >> beam.FlatMap(resolve)
        # Only this run's duplicates are in the side input, never the history.
        result = sketched.articles | "Apply" >> beam.FlatMap(
            apply_assignment, beam.pvalue.AsDict(assignments)
        ).with_output_types(Article, duplicates=Duplicate).with_outputs(DUPLICATES, main="kept")
        return DedupResult(result.kept, result[DUPLICATES], sketched[DEAD_LETTERS])
