"""Near-duplicate detection (MinHash-LSH), within a run and against the runs before it.

    articles -> Sketch (MinHash signature) -> keys (id:, url:, hash:, LSH bands)
        keys now + keys of earlier runs (index) -> CoGroupByKey by key -> candidate pairs
        candidate pairs + sketches (now and earlier) -> two joins by id -> verified edges
        verified edges -> connected components (one worker; edges are few) -> assignments
        articles + assignments -> CoGroupByKey by id -> articles that flow on | duplicates

Everything that depends on the data volume is a keyed group, so it scales out; only the verified
edges (pairs of near-duplicates) meet on one worker, for the components. A candidate pair is a
near-duplicate when its estimated Jaccard similarity reaches `dedup.threshold`; pairs found by an
exact key (the same URL or content hash as an article of an earlier run) need no estimate.

Representative of a cluster: an article written by an earlier run if the cluster has one (it is
already in the warehouse), else the earliest published, then longest, then smallest id. Every
other article of the cluster becomes a `Duplicate` of it; an article that an earlier run already
wrote (the same `article_id`) becomes a `seen` duplicate of itself.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import combinations
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.config import DedupSettings
from pipeline.records import Article, DeadLetter, Duplicate, Sketch
from transforms import minhash
from transforms.dead_letters import DEAD_LETTERS, guarded
from transforms.dedup import DUPLICATES, DedupResult, duplicate_row, rank

NAMESPACE = "newsbeam.dedup"
STAGE = "dedup"
SEEN, MINHASH = "seen", "minhash"
# Exact keys win over a similarity estimate when a pair shares several keys.
_METHOD_PRIORITY = {"url": 0, "content": 1, MINHASH: 2}


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


class SketchFn(beam.DoFn):
    """Article -> the article (keyed by id), its Sketch, and (key, article_id) for each of its keys."""

    KEYS, SKETCHES = "keys", "sketches"

    def __init__(self, settings: DedupSettings):
        self._settings = settings
        self._hasher: Optional[minhash.MinHasher] = None

    def setup(self) -> None:
        self._hasher = hasher(self._settings)

    def process(self, article: Article) -> Iterator[Any]:
        return guarded(STAGE, article.source, self._sketch(article))

    def _sketch(self, article: Article) -> Iterator[Any]:
        assert self._hasher is not None
        signature = minhash.to_bytes(self._hasher.signature(article.text))
        keys = article_keys(article.article_id, article.url, article.content_hash, signature, self._settings.bands)
        yield (article.article_id, article)
        yield beam.pvalue.TaggedOutput(
            self.SKETCHES, Sketch(article.article_id, article.published, article.word_count, signature, seen=False))
        for key in keys:
            yield beam.pvalue.TaggedOutput(self.KEYS, (key, article.article_id))


def hasher(settings: DedupSettings) -> minhash.MinHasher:
    return minhash.MinHasher.create(settings.num_perm, settings.shingle_size)


def candidate_pairs(keyed: tuple[str, dict[str, list[str]]], max_bucket: int) -> Iterator[tuple[tuple[str, str], str]]:
    """((id, id), method) for the articles of this run sharing `key`, with each other and with the
    articles of earlier runs that have it. A bucket larger than `max_bucket` pairs each member
    with its smallest id only. An `id:` key pairs nothing (see `seen_assignments`)."""
    key, sides = keyed
    now = set(sides["now"])
    kind = key.split(":", 1)[0]
    if now and kind != "id":
        method = {"url": "url", "hash": "content"}.get(kind, MINHASH)
        members = sorted(now | set(sides["earlier"]))
        pairs: Iterable[tuple[str, str]] = (
            combinations(members, 2) if len(members) <= max_bucket else ((members[0], m) for m in members[1:])
        )
        for first, second in pairs:
            if first in now or second in now:
                yield (first, second), method


def seen_assignments(keyed: tuple[str, dict[str, list[str]]]) -> Iterator[tuple[str, Assignment]]:
    """An article of this run that an earlier run wrote (same id) is a `seen` duplicate of itself."""
    key, sides = keyed
    if key.startswith("id:") and sides["now"] and sides["earlier"]:
        article_id = key[3:]
        yield article_id, Assignment(article_id, 1.0, SEEN)


def best_method(methods: Iterable[str]) -> str:
    return min(methods, key=_METHOD_PRIORITY.__getitem__)


def merge_sketches(sketches: Iterable[Sketch]) -> Optional[Sketch]:
    """One sketch per id: seen if any copy comes from the index."""
    merged = None
    for sketch in sketches:
        if merged is None or (sketch.seen and not merged.seen):
            merged = sketch
    return merged


class VerifyFn(beam.DoFn):
    """Second join of a candidate pair: (second id, {sketch, pending}) -> verified `Edge`s."""

    def __init__(self, threshold: float):
        self._threshold = threshold
        self._rejected = Metrics.counter(NAMESPACE, "near_candidates_rejected")

    def process(self, keyed: tuple[str, dict[str, list[Any]]]) -> Iterator[Edge]:
        _, joined = keyed
        second = merge_sketches(joined["sketch"])
        if second is None:
            return
        for first, method in joined["pending"]:
            score = minhash.similarity(minhash.from_bytes(first.signature), minhash.from_bytes(second.signature))
            if method != MINHASH:
                yield Edge(first, second, 1.0, method)
            elif score >= self._threshold:
                yield Edge(first, second, score, method)
            else:
                self._rejected.inc()


def attach_first(keyed: tuple[str, dict[str, list[Any]]]) -> Iterator[tuple[str, tuple[Sketch, str]]]:
    """First join of a candidate pair: (first id, {sketch, pairs}) -> (second id, (first sketch, method))."""
    _, joined = keyed
    first = merge_sketches(joined["sketch"])
    if first is not None:
        for second_id, method in joined["pairs"]:
            yield second_id, (first, method)


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


def apply_assignment(keyed: tuple[str, dict[str, list[Any]]]) -> Iterator[Any]:
    """(id, {article, assignment}) -> the article, or its `Duplicate` on the duplicates output."""
    _, joined = keyed
    assignments = sorted(joined["assignment"], key=lambda a: a.method != SEEN)  # `seen` wins
    for article in joined["article"]:
        if not assignments:
            yield article
            continue
        chosen = assignments[0]
        Metrics.counter(NAMESPACE, f"duplicates_by_{chosen.method}").inc()
        yield beam.pvalue.TaggedOutput(
            DUPLICATES, duplicate_row(article, chosen.representative, chosen.method, chosen.similarity)
        )


class NearDedup(beam.PTransform):
    """Article -> `DedupResult(articles, duplicates, dead_letters)`, against `earlier` runs.

    `earlier`: (keys, sketches) PCollections of the cross-run index (`IndexKey`, `Sketch` with
    seen=True), or None for a run that remembers nothing.
    """

    def __init__(self, settings: DedupSettings, earlier: Optional[tuple[beam.PCollection, beam.PCollection]] = None):
        super().__init__()
        self._settings = settings
        self._earlier = earlier

    def expand(self, articles: beam.PCollection) -> DedupResult:
        settings = self._settings
        sketched = articles | "Sketch" >> beam.ParDo(SketchFn(settings)).with_output_types(
            tuple[str, Article], keys=tuple[str, str], sketches=Sketch, dead_letters=DeadLetter,
        ).with_outputs(SketchFn.KEYS, SketchFn.SKETCHES, DEAD_LETTERS, main="articles")
        sketches = sketched[SketchFn.SKETCHES]
        pipeline = articles.pipeline
        if self._earlier is None:
            earlier_keys = pipeline | "NoEarlierKeys" >> beam.Create([]).with_output_types(tuple[str, str])
            earlier_sketches = pipeline | "NoEarlierSketches" >> beam.Create([]).with_output_types(Sketch)
        else:
            index_keys, earlier_sketches = self._earlier
            earlier_keys = index_keys | "EarlierKeyPairs" >> beam.Map(
                lambda k: (k.key, k.article_id)).with_output_types(tuple[str, str])
        buckets = {"now": sketched[SketchFn.KEYS], "earlier": earlier_keys} | "Buckets" >> beam.CoGroupByKey()
        pairs = (
            buckets
            | "CandidatePairs" >> beam.FlatMap(candidate_pairs, settings.max_bucket)
            | "UniquePairs" >> beam.CombinePerKey(best_method)
        )
        all_sketches = (
            (sketches, earlier_sketches)
            | "AllSketches" >> beam.Flatten()
            | "SketchById" >> beam.Map(lambda s: (s.article_id, s)).with_output_types(tuple[str, Sketch])
        )
        edges = (
            {
                "sketch": all_sketches,
                "pairs": pairs | "ByFirst" >> beam.Map(lambda pm: (pm[0][0], (pm[0][1], pm[1]))),
            }
            | "JoinFirst" >> beam.CoGroupByKey()
            | "AttachFirst" >> beam.FlatMap(attach_first)
        )
        verified = (
            {"sketch": all_sketches, "pending": edges}
            | "JoinSecond" >> beam.CoGroupByKey()
            | "Verify" >> beam.ParDo(VerifyFn(settings.threshold))
        )
        assignments = (
            (
                verified
                | "OneGraph" >> beam.Map(lambda edge: (None, edge))
                | "GroupGraph" >> beam.GroupByKey()
                | "Components" >> beam.FlatMap(lambda keyed: assign(keyed[1])),
                buckets | "Seen" >> beam.FlatMap(seen_assignments),
            )
            | "AllAssignments" >> beam.Flatten()
        )
        result = (
            {
                "article": sketched.articles,
                "assignment": assignments,
            }
            | "JoinAssignments" >> beam.CoGroupByKey()
            | "Apply" >> beam.FlatMap(apply_assignment).with_output_types(Article, duplicates=Duplicate)
            .with_outputs(DUPLICATES, main="kept")
        )
        return DedupResult(result.kept, result[DUPLICATES], sketched[DEAD_LETTERS])
