"""Running a job: check everything that can be checked before anything runs, then build, run and
summarise. `prepare` turns every configuration problem into a `ConfigError`; `run` only fails
for problems found while running.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterable

import apache_beam as beam
import spacy.util
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline.config import ConfigError, Settings
from pipeline.graph import build_pipeline
from pipeline.options import pipeline_options
from pipeline.summary import RunSummary, summarize
from transforms.sinks import WriteTables
from transforms.sources import resolve_patterns
from transforms.taxonomy import Taxonomy, load_taxonomy

_LOG = logging.getLogger(__name__)
SUMMARY_FILE = "run_summary.json"


@dataclasses.dataclass(frozen=True)
class Job:
    """A validated job: settings, Beam options and everything loaded from disk for the graph."""

    settings: Settings
    options: PipelineOptions
    patterns: list[str]
    files: int
    taxonomy: Taxonomy
    lang: str

    @property
    def runner(self) -> str:
        return str(self.options.view_as(StandardOptions).runner)


def model_language(name: str) -> str:
    """The language of an installed spaCy pipeline package, without loading the model."""
    if not spacy.util.is_package(name):
        raise ConfigError(f"entities.model: spaCy pipeline '{name}' is not installed")
    return str(spacy.util.get_model_meta(spacy.util.get_package_path(name))["lang"])


def check_output_dir(path: str) -> None:
    """A local output directory must be creatable and writable (remote ones are checked by Beam)."""
    if FileSystems.get_scheme(path) is not None:
        return
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"output.dir: cannot create {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK):
        raise ConfigError(f"output.dir: {path} is not writable")


def prepare(settings: Settings, beam_flags: Iterable[str] = ()) -> Job:
    """Validate settings against the world: inputs exist, the output can be written, the taxonomy
    parses, the model is installed, the Beam options and runner are known."""
    options = pipeline_options(settings.beam, beam_flags)
    patterns, files = resolve_patterns(settings.input.paths)
    check_output_dir(settings.output.dir)
    taxonomy = load_taxonomy(settings.events.taxonomy)
    lang = model_language(settings.entities.model)
    return Job(settings, options, patterns, files, taxonomy, lang)


def run(job: Job) -> RunSummary:
    """Run the job to completion, write `run_summary.json` beside the tables and return the summary."""
    output_dir = job.settings.output.dir
    _LOG.info("reading %d file(s) from %s; writing %s to %s", job.files, ", ".join(job.patterns),
              "+".join(job.settings.output.formats), output_dir)
    started = time.monotonic()
    pipeline = beam.Pipeline(options=job.options)
    tables = build_pipeline(pipeline, job.settings, job.patterns, job.taxonomy, job.lang)
    _ = tables._asdict() | "Write" >> WriteTables(job.settings.output)
    result = pipeline.run()
    result.wait_until_finish()
    summary = summarize(result, time.monotonic() - started, job.runner, output_dir)
    with FileSystems.create(f"{output_dir.rstrip('/')}/{SUMMARY_FILE}") as handle:
        handle.write(summary.to_json().encode("utf-8"))
    return summary
