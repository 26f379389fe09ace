"""Remote runners (Dataflow, Flink, Spark) by construction: their configs refuse what cannot work,
and the graph built with their options pickles whole and names no local path."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.config import Settings, load_settings
from pipeline.execute import add_sinks
from pipeline.graph import build_pipeline
from pipeline.options import pipeline_options
from pipeline.prepare import prepare
from pipeline.runners import check_remote
from tests.conftest import ROOT, graph_job
from transforms.core.settings import ConfigError

SCHEMES = {"dataflow": "gs", "flink": "s3", "spark": "s3"}
REMOTES = list(SCHEMES)


def config(name: str) -> str:
    return str(ROOT / "configs" / f"{name}.yaml")


def filled(name: str, *more: str) -> list[str]:
    """Overrides replacing a remote config's placeholders with real-looking values."""
    bucket = f"{SCHEMES[name]}://newsbeam-test-bucket/newsbeam"
    values = [f"input.paths=[{bucket}/input/*.jsonl]", f"output.dir={bucket}/output", f"state_dir={bucket}/state"]
    if name == "dataflow":
        values += [
            "beam.project=newsbeam-test",
            f"beam.temp_location={bucket}/tmp",
            f"beam.staging_location={bucket}/staging",
        ]
    else:
        values += ["beam.sdk_container_image=registry.example.org/newsbeam:0.1.0"]
    return values + list(more)


def offline_options(settings: Settings) -> PipelineOptions:
    """The config's Beam options, with Beam's own checks of the cloud (a GCS bucket's soft-delete
    policy, when the gcp extra is installed) skipped: no test touches the internet."""
    return pipeline_options(settings.beam, ["--dry_run=True"])


@pytest.mark.parametrize("name", REMOTES)
def test_remote_configs_refuse_placeholders_and_local_paths(name: str) -> None:
    with pytest.raises(ConfigError, match="replace the placeholder"):
        prepare(load_settings(config(name)))
    with pytest.raises(ConfigError, match="input.paths: 'seeds/' is a local path"):
        prepare(load_settings(config(name), filled(name, "input.paths=[seeds/]")))
    with pytest.raises(ConfigError, match="output.dir: '/tmp/out' is a local path"):
        prepare(load_settings(config(name), filled(name, "output.dir=/tmp/out", "state_dir=gs://b/state")))


def test_dataflow_needs_a_project_and_a_gs_temp_location() -> None:
    settings = load_settings(config("dataflow"), filled("dataflow"))
    with pytest.raises(ConfigError, match="beam.temp_location: Dataflow needs a gs:// location"):
        check_remote(settings, pipeline_options(settings.beam, ["--temp_location=s3://x/tmp"]))


@pytest.mark.parametrize("name", REMOTES)
def test_remote_graphs_pickle_whole_and_name_no_local_path(name: str) -> None:
    settings = load_settings(config(name), filled(name, "dedup.index=false"))
    options = offline_options(settings)
    check_remote(settings, options)
    pipeline = beam.Pipeline(options=options)
    job = graph_job(settings.model_copy(update={"run_id": "20261123T0500Z"}), options)
    add_sinks(build_pipeline(pipeline, job), job)
    proto = pipeline.to_runner_api()
    beam.Pipeline.from_runner_api(proto, pipeline.runner, options)  # every DoFn unpickles
    payload = proto.SerializeToString()
    for local in (str(ROOT), str(Path.cwd()), "/tmp/", "file://"):
        assert local.encode() not in payload, f"the {name} graph names the local path {local}"
    staged = "output/_staging/20261123T0500Z" if settings.output.layout == "partitioned" else "output"
    assert f"{SCHEMES[name]}://newsbeam-test-bucket/newsbeam/{staged}".encode() in payload
