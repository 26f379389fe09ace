"""The layout's one-way dependencies: `pipeline/` wires `transforms/`, never the reverse, and each
stage package imports only what every stage shares and the stages before it in the flow."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT

TRANSFORMS = ROOT / "transforms"
SHARED = ("core", "geo")  # core: what every stage shares; geo: places, for entities and events
FLOW = ("read", "clean", "dedup", "entities", "events", "sinks")  # the order the data flows in
ALLOWED = {
    "core": set(),
    "geo": {"core"},
    **{stage: {"core", "geo", *FLOW[:n]} for n, stage in enumerate(FLOW)},
    "testing": {"core", "geo", *FLOW},
}


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in a file, `from a import b` as both `a` and `a.b`."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.lineno, node.module
            yield from ((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)


def upward_and_sideways_imports(transforms: Path = TRANSFORMS) -> list[str]:
    """Every import in `transforms` of the application, or of a stage not before the importer."""
    found = []
    for path in sorted(transforms.rglob("*.py")):
        if path.parent == transforms and path.name == "__init__.py":
            continue
        here = path.relative_to(transforms).parts[0].removesuffix(".py")
        for line, module in imported_modules(path):
            top, _, rest = module.partition(".")
            where = f"{path.relative_to(transforms.parent)}:{line} imports {module}"
            if top in ("pipeline", "bench", "tests"):
                found.append(where)
            elif top == "transforms" and rest:
                target = rest.split(".")[0]
                if target != here and target in ALLOWED and target not in ALLOWED[here]:
                    found.append(where)
    return sorted(set(found))


def test_transforms_never_import_the_application_and_stages_import_only_what_comes_before() -> None:
    assert upward_and_sideways_imports() == []


def test_every_package_of_transforms_has_a_place_in_the_flow() -> None:
    packages = {
        p.name.removesuffix(".py")
        for p in TRANSFORMS.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.name != "__init__.py")
    }
    assert packages == set(ALLOWED)


def test_the_check_finds_upward_and_sideways_imports(tmp_path: Path) -> None:
    (tmp_path / "transforms" / "core").mkdir(parents=True)
    (tmp_path / "transforms" / "core" / "ids.py").write_text("import hashlib\n")
    (tmp_path / "transforms" / "clean.py").write_text(
        "from transforms.core.ids import stable_id\nfrom pipeline.config import Settings\n"
        "from transforms.events import stage\nimport bench.corpus\n"
    )
    assert upward_and_sideways_imports(tmp_path / "transforms") == [
        "transforms/clean.py:2 imports pipeline.config",
        "transforms/clean.py:2 imports pipeline.config.Settings",
        "transforms/clean.py:3 imports transforms.events",
        "transforms/clean.py:3 imports transforms.events.stage",
        "transforms/clean.py:4 imports bench.corpus",
    ]
