"""The scheduled batch job: the Airflow DAG imports (Airflow stubbed: it is not a dependency) and
its operator's options are a valid newsbeam run; repeated runs add only what is new."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.cli import main
from tests.conftest import ROOT

DAG_FILE = ROOT / "configs" / "airflow" / "newsbeam_dag.py"


class _Dag:
    def __init__(self, **kwargs: Any):
        self.kwargs, self.tasks = kwargs, []

    def __enter__(self) -> "_Dag":
        _Dag.current = self
        return self

    def __exit__(self, *exc: Any) -> None:
        _Dag.current = None


class _BeamOperator:
    def __init__(self, **kwargs: Any):
        self.kwargs = kwargs
        _Dag.current.tasks.append(self)


def beam_args(options: dict[str, Any]) -> list[str]:
    """Airflow's Beam provider turns pipeline_options into flags this way (lists repeat a flag)."""
    args = []
    for key, value in options.items():
        for item in value if isinstance(value, list) else [value]:
            args.append(f"--{key}" if item is True else f"--{key}={item}")
    return args


@pytest.fixture
def dag(monkeypatch: pytest.MonkeyPatch) -> _Dag:
    modules = {
        name: types.ModuleType(name)
        for name in (
            "airflow",
            "airflow.providers",
            "airflow.providers.apache",
            "airflow.providers.apache.beam",
            "airflow.providers.apache.beam.operators",
            "airflow.providers.apache.beam.operators.beam",
        )
    }
    modules["airflow"].DAG = _Dag
    modules["airflow.providers.apache.beam.operators.beam"].BeamRunPythonPipelineOperator = _BeamOperator
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setenv("NEWSBEAM_HOME", str(ROOT))
    spec = importlib.util.spec_from_file_location("newsbeam_dag", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def test_the_dag_runs_newsbeam_hourly_one_run_at_a_time(dag: _Dag) -> None:
    assert dag.kwargs["schedule"] == "@hourly" and dag.kwargs["max_active_runs"] == 1
    (task,) = dag.tasks
    assert (task.kwargs["py_file"], task.kwargs["py_options"]) == ("pipeline.launch", ["-m"])


def test_the_dags_options_are_a_valid_newsbeam_run(dag: _Dag, capsys: pytest.CaptureFixture[str]) -> None:
    (task,) = dag.tasks
    options = {**task.kwargs["pipeline_options"], "runner": task.kwargs["runner"]}
    rendered = [arg.replace("{{ ts_nodash }}", "20261123T050000") for arg in beam_args(options)]
    newsbeam_flags = [a for a in rendered if not a.startswith("--runner")]
    assert main(["config", *newsbeam_flags]) == 0  # what `python -m pipeline.launch` parses before running
    settings = yaml.safe_load(capsys.readouterr().out)
    assert settings["run_id"] == "20261123T050000Z" and settings["output"]["layout"] == "partitioned"
    assert settings["feeds"]["sources"] and settings["dedup"]["index"] is True
    assert settings["events"]["taxonomy"] == settings["entities"]["actors"] == "builtin"  # shipped in the package


def partition_rows(output: Path, table: str, run_id: str) -> list[dict[str, Any]]:
    """The rows a run filed in the lake (its files are named after it)."""
    return [
        json.loads(line)
        for path in (output / "jsonl" / table).glob(f"dt=*/{run_id}-*.jsonl")
        for line in path.read_text().splitlines()
        if line
    ]


def test_hourly_runs_add_only_what_is_new_and_a_retry_replaces_its_own_partition(tmp_path: Path) -> None:
    from tests.conftest import SEEDS
    from tests.transforms.read.test_feeds import RSS_TYPE, run_feeds_config
    from transforms.testing.sites import Item, Reply, Request, Site, article_page, rss

    with Site() as site:
        items: list[Item] = []
        for n, path in enumerate(sorted(SEEDS.glob("*.txt"))):
            site.route(f"/news/{n}.html", Reply(200, article_page(f"Report {n}", path.read_text().splitlines())))

        def feed(request: Request) -> Reply:
            if request.headers.get("If-None-Match") == f'"{len(items)}"':
                return Reply(304)
            return Reply(200, rss(items), {**RSS_TYPE, "ETag": f'"{len(items)}"'})

        site.route("/rss.xml", feed)
        partitioned = ("--set", "output.layout=partitioned")
        items.append(Item("Report 0", "/news/0.html"))
        assert run_feeds_config(tmp_path, site, *partitioned, "--set", "run_id=20261123T0500Z") == 0
        assert run_feeds_config(tmp_path, site, *partitioned, "--set", "run_id=20261123T0600Z") == 0  # 304
        assert run_feeds_config(tmp_path, site, *partitioned, "--set", "run_id=20261123T0600Z") == 0  # a retry
        items.append(Item("Report 1", "/news/1.html"))
        assert run_feeds_config(tmp_path, site, *partitioned, "--set", "run_id=20261123T0700Z") == 0
        assert len(site.hits("/news/0.html")) == 1  # the feed changed, but the old item's page is not fetched again
    output = tmp_path / "output"
    written = {
        run: len(partition_rows(output, "articles", run))
        for run in ("20261123T0500Z", "20261123T0600Z", "20261123T0700Z")
    }
    assert written == {"20261123T0500Z": 1, "20261123T0600Z": 0, "20261123T0700Z": 1}
    assert (
        len(list((output / "jsonl" / "articles").glob("dt=2026-11-23/*.jsonl"))) == 2
    )  # runs that add nothing add no file
    assert not (output / "_staging").exists() and not list((output / "_runs").glob("*.commit.json"))
    assert partition_rows(output, "duplicates", "20261123T0700Z") == []  # skipped before it became a document
    summary = json.loads((output / "_runs" / "dt=2026-11-23" / "run=20261123T0700Z" / "run_summary.json").read_text())
    assert (summary["read"], summary["entries_known"]) == (1, 1)
