"""Peak memory against corpus size: the same batch job over N and 5N generated articles.

Each size runs `newsbeam run` (configs/local.yaml, one process) in a child process; its peak
resident set comes from `wait4`'s resource usage. The two runs go side by side (one core each;
peak RSS is per process, so they do not affect each other's figure). A pipeline whose memory
grows with the input (a list held whole, a runner holding every collection) shows a ratio near 5;
target <= 1.2x. `--segment-mb 0` measures one pipeline over the whole input, without segments.

    python -m bench.memory --articles 10000 --factor 5      # 10,000 and 50,000 articles
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from transforms.testing.corpus import write_jsonl

ROOT = Path(__file__).resolve().parent.parent


def start(corpus: Path, output: Path, segment_mb: float, log: Path) -> subprocess.Popen:
    """`newsbeam run` over `corpus`, in a child process logging to `log`."""
    command = [
        sys.executable,
        "-m",
        "pipeline",
        "run",
        "--config",
        str(ROOT / "configs" / "local.yaml"),
        "--input",
        str(corpus),
        "--output",
        str(output),
        "--set",
        "output.formats=[parquet]",
        "--set",
        f"input.segment_mb={segment_mb}",
        "--set",
        f"events.taxonomy={ROOT / 'configs' / 'taxonomy.yaml'}",
    ]
    with log.open("w") as handle:
        return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=handle)


def segment_peaks(log: Path) -> list[int]:
    """The peak memory (MiB) of each segment of a run, from its log."""
    return [int(m.group(1)) for m in re.finditer(r"segment \d+ of \d+: .*peak memory (\d+) MiB", log.read_text())]


def finish(child: subprocess.Popen, started: float, log: Path) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of a child run; its log's last lines if it failed."""
    _, status, usage = os.wait4(child.pid, 0)
    if status:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise SystemExit(f"the run {child.args!r} failed (status {status}); its log ends:\n{tail}")
    return usage.ru_maxrss / 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description="peak RSS of a run over N and factor x N articles")
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--factor", type=int, default=5)
    parser.add_argument("--segment-mb", type=float, default=16.0, help="input.segment_mb of both runs")
    args = parser.parse_args()
    counts = (args.articles, args.articles * args.factor)
    with tempfile.TemporaryDirectory() as tmp:
        children = []
        for count in counts:
            corpus = Path(tmp) / f"corpus-{count}"
            write_jsonl(corpus, count, seed=5, files=16)
            megabytes = sum(p.stat().st_size for p in corpus.iterdir()) / 2**20
            print(f"{count:>8} articles: {megabytes:.1f} MB of JSON Lines in 16 files", flush=True)
            log = Path(tmp) / f"log-{count}.txt"
            children.append(
                (count, start(corpus, Path(tmp) / f"out-{count}", args.segment_mb, log), log, time.perf_counter())
            )
        rows = []
        for count, child, log, started in children:
            rss, seconds = finish(child, started, log)
            rows.append((count, rss))
            peaks = ", ".join(map(str, segment_peaks(log))) or "one pipeline"
            print(
                f"{count:>8} articles: peak RSS {rss:7.0f} MiB in {seconds:6.0f} s ({count / seconds:.1f} docs/s); "
                f"segments {peaks} MiB",
                flush=True,
            )
    (small, small_rss), (large, large_rss) = rows
    print(
        f"segment_mb={args.segment_mb:g}: peak RSS at {large:,} articles is {large_rss / small_rss:.2f}x that at "
        f"{small:,} (target <= 1.2x)"
    )


if __name__ == "__main__":
    main()
