"""Scale-out: the same generated corpus on one worker, on two worker processes, and on a
two-worker Dask cluster, timed side by side in one run.

Each way of running is the project's own config (`configs/local.yaml`, `multiprocess.yaml`,
`dask.yaml`) over the same JSON Lines corpus, timed end to end as a user sees it: graph
construction, worker start-up (the Dask LocalCluster included), model loads, all sinks. A run of
20 articles on each measures that fixed cost; the marginal rate, (N - 20) / (T(N) - T(20)), is what
a longer run approaches. Tables are compared row for row: every way must write the same rows.

    python -m bench.scale --docs 2000
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from pipeline.config import load_settings
from pipeline.prepare import prepare
from pipeline.run import run
from pipeline.tables import sorted_tables
from transforms.testing.corpus import write_jsonl

ROOT = Path(__file__).resolve().parent.parent
WAYS = {  # label -> config file
    "DirectRunner, 1 worker": "local.yaml",
    "DirectRunner, 2 workers": "multiprocess.yaml",
    "Dask LocalCluster, 2 workers": "dask.yaml",
}
SMALL = 20


class Timing(NamedTuple):
    seconds: float
    written: int


def timed_run(config: str, corpus: Path, output: Path) -> Timing:
    settings = load_settings(
        str(ROOT / "configs" / config),
        [
            f"input.paths=[{corpus}]",
            f"output.dir={output}",
            f"events.taxonomy={ROOT / 'configs' / 'taxonomy.yaml'}",
        ],
    )
    started = time.perf_counter()
    summary = run(prepare(settings))
    return Timing(time.perf_counter() - started, summary.written)


def main() -> None:
    parser = argparse.ArgumentParser(description="docs/s on 1 worker, 2 workers and a 2-worker Dask cluster")
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--files", type=int, default=16, help="corpus files (readers split by file)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("distributed", "newsbeam", "pipeline", "transforms"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        corpus, small = Path(tmp) / "corpus", Path(tmp) / "small"
        write_jsonl(corpus, args.docs, seed=7, files=args.files)
        write_jsonl(small, SMALL, seed=7, files=2)
        full: dict[str, Timing] = {}
        fixed: dict[str, Timing] = {}
        for label, config in WAYS.items():
            fixed[label] = timed_run(config, small, Path(tmp) / f"small-{config}")
            full[label] = timed_run(config, corpus, Path(tmp) / f"out-{config}")
            print(f"  {label}: {full[label].seconds:.1f} s", flush=True)
        tables = {label: sorted_tables(Path(tmp) / f"out-{config}") for label, config in WAYS.items()}
    base_label = next(iter(WAYS))
    base = full[base_label]
    base_marginal = (args.docs - SMALL) / (base.seconds - fixed[base_label].seconds)
    print(f"corpus: {args.docs} generated articles in {args.files} files; {os.cpu_count()} cores")
    print(f"{'':30}{'seconds':>9}{'docs/s':>9}{'speed-up':>10}{'fixed s':>9}{'marginal docs/s':>17}{'speed-up':>10}")
    for label, timing in full.items():
        marginal = (args.docs - SMALL) / (timing.seconds - fixed[label].seconds)
        print(
            f"{label:30}{timing.seconds:9.1f}{args.docs / timing.seconds:9.1f}{base.seconds / timing.seconds:9.2f}x"
            f"{fixed[label].seconds:9.1f}{marginal:17.1f}{marginal / base_marginal:9.2f}x"
        )
    same = all(tables[label] == tables[base_label] for label in WAYS)
    print(
        f"tables equal to the 1-worker run's: {'yes' if same else 'NO'}; articles written: "
        + ", ".join(str(t.written) for t in full.values())
    )


if __name__ == "__main__":
    main()
