"""newsbeam as a package: it runs from any folder once installed, ships its default taxonomy and
actor dictionary, installs without warnings, and declares every package it imports."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import tomllib

from pipeline.cli import BUILTIN_FILES, main
from tests.conftest import ROOT, SEEDS
from transforms.core.settings import builtin_file


@pytest.mark.parametrize("name", sorted(BUILTIN_FILES))
def test_the_copies_in_configs_are_the_files_newsbeam_ships_and_prints(name: str, capsys) -> None:
    shipped = builtin_file(*BUILTIN_FILES[name])
    copy = ROOT / "configs" / f"{name}.yaml"
    assert copy.read_text(encoding="utf-8") == shipped.read_text(encoding="utf-8"), (
        f"{copy} differs from {shipped}: edit the shipped file and copy it over"
    )
    assert main(["config", "--builtin", name]) == 0
    assert capsys.readouterr().out == shipped.read_text(encoding="utf-8")


def _normalised(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imports(*roots: Path) -> dict[str, set[str]]:
    """Top-level modules imported by the package's code (not the standard library's, not its own)."""
    found: dict[str, set[str]] = {}
    for path in (path for root in roots for path in root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module and not node.level
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("pipeline", "transforms"):
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_imported_package_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_normalised(r) for r in project["dependencies"]}
    declared |= {_normalised(r) for extra in project["optional-dependencies"].values() for r in extra}
    distributions = packages_distributions()
    undeclared = {}
    for module, files in _imports(ROOT / "pipeline", ROOT / "transforms").items():
        names = {_normalised(d) for d in distributions.get(module, [module])}
        if not names & declared:
            undeclared[module] = sorted(files)
    assert undeclared == {}


@pytest.mark.slow
def test_installed_from_a_wheel_it_runs_from_any_folder(tmp_path: Path) -> None:
    """The wheel in a fresh virtual environment (its dependencies taken from the test
    environment's, so nothing is downloaded), run from an empty folder outside the checkout."""
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info beside the sources
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "__pycache__", "build", "*.egg-info", "output"))
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "warning" not in (build.stdout + build.stderr).lower(), build.stdout + build.stderr
    (wheel,) = (tmp_path / "dist").glob("newsbeam-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "test-environment.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)],
        check=True,
    )
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "news").mkdir(parents=True)
    for seed in SEEDS.iterdir():
        (elsewhere / "news" / seed.name).write_bytes(seed.read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [python, "-c", "import transforms; print(transforms.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    assert where.startswith(site), where  # the installed copy, not the checkout
    ran = subprocess.run(
        [venv / "bin" / "newsbeam", "run", "--input", "news", "--output", "out", "--runner=FnApiRunner"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
    )
    assert ran.returncode == 0, ran.stderr
    assert "read 2 = written 2 + duplicates 0 + dead letters 0 (ok)" in ran.stdout
    summary = json.loads((elsewhere / "out" / "run_summary.json").read_text())
    assert summary["events"] > 0 and summary["entities"] > 0  # the shipped taxonomy and actors were found
    assert sorted(p.name for p in (elsewhere / "out" / "jsonl").iterdir()) == [
        "articles",
        "dead_letters",
        "duplicates",
        "entities",
        "event_clusters",
        "events",
    ]
