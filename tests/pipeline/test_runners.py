"""The same run gives the same tables on other runners: multi-process DirectRunner, PortableRunner."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli import main
from tests.conftest import SEEDS, run_cli, sorted_tables
from tests.transforms.read.test_feeds import run_feeds_config, serve_seeds
from transforms.testing.sites import Site

pytestmark = pytest.mark.slow


def test_multi_process_direct_running_gives_the_same_tables(tmp_path: Path, seeds_run: dict[str, Any]) -> None:
    code = run_cli(
        "--input",
        str(SEEDS),
        "--output",
        str(tmp_path),
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
    )
    assert code == 0
    assert sorted_tables(tmp_path) == sorted_tables(seeds_run["output"])


def test_feeds_fetched_from_worker_processes_give_the_same_tables(tmp_path: Path) -> None:
    """The fetch stages (thread pools, shared per-host state) pickle and run in worker processes."""
    with Site() as site:
        serve_seeds(site)
        assert run_feeds_config(tmp_path / "one", site) == 0
        assert (
            run_feeds_config(tmp_path / "two", site, "--direct_running_mode=multi_processing", "--direct_num_workers=2")
            == 0
        )
    first, second = sorted_tables(tmp_path / "one" / "output"), sorted_tables(tmp_path / "two" / "output")
    assert len(first["articles"]) == 2 and first == second


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def job_service() -> Iterator[str]:
    """Beam's local job service (a Python process, no downloads), as host:port."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("the local job service did not start within 60 s")
        yield f"localhost:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_portable_runner_gives_the_same_tables(tmp_path: Path, seeds_run: dict[str, Any], job_service: str) -> None:
    code = run_cli(
        "--input",
        str(SEEDS),
        "--output",
        str(tmp_path),
        "--runner=PortableRunner",
        f"--job_endpoint={job_service}",
        "--environment_type=LOOPBACK",
    )
    assert code == 0
    assert sorted_tables(tmp_path) == sorted_tables(seeds_run["output"])


def test_a_dask_cluster_gives_the_same_tables_for_the_seeds_and_a_generated_corpus(tmp_path: Path) -> None:
    """configs/dask.yaml with no scheduler address starts a 2-worker LocalCluster for the run."""
    from transforms.testing.corpus import write_jsonl

    corpus = tmp_path / "corpus"
    write_jsonl(corpus, 24, seed=3, files=2)
    for seed in SEEDS.glob("*.txt"):
        shutil.copy(seed, corpus)
    assert run_cli("--input", str(corpus), "--output", str(tmp_path / "direct")) == 0
    assert (
        main(
            [
                "run",
                "--config",
                str(SEEDS.parent / "configs" / "dask.yaml"),
                "--input",
                str(corpus),
                "--output",
                str(tmp_path / "dask"),
                "-q",
                "--set",
                f"events.taxonomy={SEEDS.parent / 'configs' / 'taxonomy.yaml'}",
            ]
        )
        == 0
    )
    direct, on_dask = sorted_tables(tmp_path / "direct"), sorted_tables(tmp_path / "dask")
    assert len(direct["articles"]) > 20 and on_dask == direct
    assert {a["source"].rsplit("/", 1)[-1] for a in direct["articles"]} >= {p.name for p in SEEDS.glob("*.txt")}
    summary = json.loads((tmp_path / "dask" / "run_summary.json").read_text())
    assert summary["balanced"] and summary["runner"] == "pipeline.dask_runner.DaskRunner"
