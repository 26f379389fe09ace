"""Memory of near-duplicate detection against a growing cross-run index, without the NLP stages.

One segment of the benchmark corpus (`--segment` articles) is read, cleaned and de-duplicated
(ExactDedup + NearDedup, narrowed as on the local runners) against an index of the `--history`
articles generated before it, then counted; each run is a fresh child process whose peak RSS comes
from `wait4`. The runs are side by side with no index at all, so the ratio is the index side's
cost; a dedup whose memory followed the history, not the run, grows with `--history`.

    python -m bench.dedup_memory --segment 6250 --history 12500 37500
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import typing
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.config import Settings
from transforms.clean import CleanArticles, CleanResult
from transforms.dedup import index as dedup_index
from transforms.dedup.duplicates import DedupResult
from transforms.dedup.exact import ExactDedup
from transforms.dedup.near import NearDedup
from transforms.read.files import ReadArticles
from transforms.testing.corpus import write_jsonl


def _articles(pipeline: beam.Pipeline, settings: Settings, pattern: str, label: str) -> CleanResult:
    files = pipeline | f"Read{label}" >> ReadArticles([pattern], settings.input.max_bytes, settings.input.encoding)
    return typing.cast(CleanResult, files.documents | f"Clean{label}" >> CleanArticles(settings.clean))


def build_index(corpus: Path, index: Path) -> None:
    """The index of every article in `corpus` (as if one earlier run had written them all)."""
    settings = Settings()
    pending = dedup_index.pending_dir(str(index))
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        _ = _articles(p, settings, f"{corpus}/*.jsonl", "").articles | dedup_index.WriteIndex(settings.dedup, pending)
    dedup_index.commit(str(index), pending)


def dedup(corpus: Path, index: str) -> None:
    """One segment de-duplicated against `index` ('' for none); prints the counts."""
    settings = Settings()
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        unique = typing.cast(
            DedupResult, _articles(p, settings, f"{corpus}/*.jsonl", "").articles | "Dedup" >> ExactDedup()
        )
        earlier = dedup_index.read_earlier([index]) if index else None
        result = unique.articles | NearDedup(settings.dedup, earlier, narrow_earlier=True)
        for name, rows in (("kept", result.articles), ("duplicates", result.duplicates)):
            _ = (
                rows
                | f"Count{name}" >> beam.combiners.Count.Globally()
                | f"Print{name}" >> beam.Map(lambda n, name=name: print(f"{name} {n}", flush=True))
            )


def child(*args: str) -> tuple[float, float, str]:
    """(peak RSS in MiB, seconds, output) of this module run with `args` in a fresh process."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "bench.dedup_memory", *args], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    output = process.stdout.read() if process.stdout else ""
    if status:
        raise SystemExit(f"{args} failed (status {status})")
    return usage.ru_maxrss / 1024, time.perf_counter() - started, " ".join(output.split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segment", type=int, default=6250)
    parser.add_argument("--history", type=int, nargs="+", default=[12_500, 37_500])
    parser.add_argument("--build-index", nargs=2, metavar=("CORPUS", "INDEX"), help=argparse.SUPPRESS)
    parser.add_argument("--dedup", nargs=2, metavar=("CORPUS", "INDEX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_index:
        return build_index(Path(args.build_index[0]), Path(args.build_index[1]))
    if args.dedup:
        return dedup(Path(args.dedup[0]), args.dedup[1])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # The history is the corpus's first articles, the segment the next ones: one generator
        # stream (seed 5, as bench.memory), split by position.
        total = max(args.history) + args.segment
        write_jsonl(root / "all", total, seed=5, files=1)
        lines = (root / "all" / "corpus-000.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        (root / "segment").mkdir()
        (root / "segment" / "s.jsonl").write_text("".join(lines[max(args.history) :]), encoding="utf-8")
        rss, seconds, out = child("--dedup", str(root / "segment"), "")
        print(
            f"segment {args.segment:,}, no index:{'':>14} peak RSS {rss:6.0f} MiB  {seconds:5.0f} s  {out}", flush=True
        )
        base = rss
        for history in sorted(args.history):
            (root / f"h{history}").mkdir()
            (root / f"h{history}" / "h.jsonl").write_text(
                "".join(lines[max(args.history) - history : max(args.history)]), encoding="utf-8"
            )
            child("--build-index", str(root / f"h{history}"), str(root / f"index{history}"))
            rss, seconds, out = child("--dedup", str(root / "segment"), str(root / f"index{history}"))
            print(
                f"segment {args.segment:,}, index of {history:>7,}: peak RSS {rss:6.0f} MiB  {seconds:5.0f} s  "
                f"{out}  ({rss / base:.2f}x no index)",
                flush=True,
            )


if __name__ == "__main__":
    main()
