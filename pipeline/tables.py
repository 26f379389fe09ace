"""Reading a run's tables back from its JSON Lines output (for comparisons, benchmarks, tests)."""

from __future__ import annotations

import json
import operator
from pathlib import Path
from typing import Any

from transforms.core.records import TABLES


def read_table(output_dir: Path, table: str) -> list[dict[str, Any]]:
    """All rows of one table's JSON Lines files, of every partition or window."""
    rows: list[dict[str, Any]] = []
    for path in sorted((output_dir / "jsonl" / table).rglob("*.jsonl")):
        rows.extend(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line)
    return rows


def read_tables(output_dir: Path) -> dict[str, list[dict[str, Any]]]:
    return {t.name: read_table(output_dir, t.name) for t in TABLES}


def sorted_tables(output_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Every table with its rows sorted by primary key, for comparing runs."""
    return {t.name: sorted(read_table(output_dir, t.name), key=operator.itemgetter(*t.key)) for t in TABLES}
