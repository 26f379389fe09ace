"""Near-duplicate detection speed: newsbeam's stage beside datasketch, on the same documents.

Both compute the same dedup of the same generated corpus (`bench.neardup`: stories with
republished copies) with the same parameters (word 5-shingles, 128 permutations, 32 bands of 4
rows, estimated Jaccard >= 0.5, connected components, earliest copy kept):

- datasketch: `MinHash.update_batch` over each document's shingles, `MinHashLSH.insert`, then
  `query` + `jaccard` to verify candidates, union-find in Python; one process, no Beam;
- newsbeam: the `NearDedup` PTransform on the FnApiRunner (one worker), timed end to end with
  pipeline construction and Beam's shuffles; and the stage's own time: that minus the time of the
  same pipeline without the stage (reading the documents into Beam and counting them).

It also times the signatures alone (datasketch `update_batch` vs `MinHasher.signature`), runs
newsbeam on a quarter of the documents to show how time grows (target: 4x documents <= 4.4x
time), and scores both clusterings against the labels.

    python -m bench.dedup_speed --docs 20000
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections import defaultdict

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from datasketch import MinHash, MinHashLSH

from bench.neardup import Doc, documents, newsbeam_clusters, pair_scores, read_articles
from transforms.core.settings import DedupSettings
from transforms.dedup import minhash


def datasketch_signatures(docs: list[Doc], settings: DedupSettings) -> dict[str, MinHash]:
    signatures = {}
    k = settings.shingle_size
    for doc in docs:
        tokens = minhash.words(doc.text)
        shingles = {" ".join(tokens[i : i + k]).encode() for i in range(max(1, len(tokens) - k + 1))}
        signature = MinHash(num_perm=settings.num_perm, seed=1)
        signature.update_batch(list(shingles))
        signatures[doc.doc_id] = signature
    return signatures


def datasketch_clusters(docs: list[Doc], settings: DedupSettings) -> dict[str, str]:
    """doc id -> representative id, with datasketch's MinHash and MinHashLSH."""
    signatures = datasketch_signatures(docs, settings)
    rows = settings.num_perm // settings.bands
    lsh = MinHashLSH(num_perm=settings.num_perm, params=(settings.bands, rows))
    for doc_id, signature in signatures.items():
        lsh.insert(doc_id, signature)
    edges = []
    for doc_id, signature in signatures.items():
        for other in lsh.query(signature):
            if other > doc_id and signature.jaccard(signatures[other]) >= settings.threshold:
                edges.append((doc_id, other))
    roots = minhash.components(edges)
    published = {doc.doc_id: doc.published for doc in docs}
    members = defaultdict(list)
    for node, root in roots.items():
        members[root].append(node)
    clusters = {doc.doc_id: doc.doc_id for doc in docs}
    for group in members.values():
        representative = min(group, key=lambda d: (published[d], d))
        for node in group:
            clusters[node] = representative
    return clusters


def beam_baseline(docs: list[Doc]) -> None:
    """The part of `newsbeam_clusters` that is not dedup: documents read into Beam, counted."""
    with (
        tempfile.TemporaryDirectory() as directory,
        beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as pipeline,
    ):
        _ = read_articles(pipeline, docs, directory) | beam.combiners.Count.Globally()


def timed(function, *args):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    result = function(*args)
    return result, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = DedupSettings(index=False)
    docs = list(documents(args.docs))
    quarter = list(documents(args.docs // 4, seed=1))
    hasher = minhash.MinHasher.create(settings.num_perm, settings.shingle_size)

    _, ds_sign = timed(datasketch_signatures, docs, settings)
    _, nb_sign = timed(lambda: [hasher.signature(d.text) for d in docs])
    ds_clusters, ds_time = timed(datasketch_clusters, docs, settings)
    nb_clusters, nb_time = timed(newsbeam_clusters, docs, settings)
    _, base_time = timed(beam_baseline, docs)
    _, nb_quarter = timed(newsbeam_clusters, quarter, settings)
    _, base_quarter = timed(beam_baseline, quarter)
    stage, stage_quarter = nb_time - base_time, nb_quarter - base_quarter

    print(f"documents          {len(docs)} (and {len(quarter)} for the growth check)")
    print(
        f"signatures only    datasketch {ds_sign:.1f} s, newsbeam {nb_sign:.1f} s: newsbeam "
        f"{ds_sign / nb_sign:.2f}x as fast"
    )
    print(
        f"whole dedup        datasketch {ds_time:.1f} s; newsbeam stage {stage:.1f} s: newsbeam "
        f"{ds_time / stage:.2f}x as fast"
    )
    print(
        f"  with Beam        newsbeam end to end {nb_time:.1f} s = {base_time:.1f} s to read the documents into "
        f"Beam and count them + {stage:.1f} s dedup: {ds_time / nb_time:.2f}x datasketch's speed"
    )
    growth = len(docs) / len(quarter)
    print(
        f"growth             newsbeam stage {stage_quarter:.1f} s for {len(quarter)} -> {stage:.1f} s for {len(docs)}: "
        f"{growth:.2f}x documents, {stage / stage_quarter:.2f}x time (target <= {growth * 1.1:.2f}x); "
        f"end to end {nb_time / nb_quarter:.2f}x"
    )
    for name, clusters in (("datasketch", ds_clusters), ("newsbeam", nb_clusters)):
        precision, recall, f1, _ = pair_scores(docs, clusters)
        print(f"quality {name:<11}P {precision:.4f}  R {recall:.4f}  F1 {f1:.4f}")


if __name__ == "__main__":
    main()
