"""Segmented batch runs (`input.segment_mb`): the same tables as one pipeline, memory bounded by
the segment, and a run killed at random points and run again ends with every row once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline import segments
from pipeline.tables import read_table, sorted_tables
from tests.conftest import DSN, LOCAL_CONFIG, ROOT, drop_schemas, run_cli
from transforms.testing.corpus import write_jsonl

EVERY_FILE = ("--set", "input.segment_mb=0.000001")  # each file a segment of its own
ONE_PIPELINE = ("--set", "input.segment_mb=0")


def corpus_with_copies(directory: Path) -> Path:
    """20 generated articles in 2 files, and a 3rd file republishing two of them a day later: one
    word for word under another URL, one with its first paragraph rewritten."""
    files = write_jsonl(directory, 20, seed=11, files=2)
    first, second = (json.loads(path.read_text().splitlines()[0]) for path in files[:2])

    def later(record: dict[str, Any], url: str, text: str) -> dict[str, Any]:
        published = datetime.fromisoformat(record["published"].replace("Z", "+00:00")) + timedelta(days=1)
        return {**record, "url": url, "text": text, "published": published.isoformat()}

    rewritten = "Officials gave a fuller account later in the day.\n" + second["text"].split("\n", 1)[1]
    copies = [
        later(first, "https://wire.example.org/copy-1", first["text"]),
        later(second, "https://wire.example.org/copy-2", rewritten),
    ]
    (directory / "corpus-999.jsonl").write_text("".join(json.dumps(c) + "\n" for c in copies))
    return directory


def summary(output: Path) -> dict[str, Any]:
    return json.loads((output / "run_summary.json").read_text())


def test_the_files_are_grouped_into_segments_of_whole_files_in_path_order(tmp_path: Path) -> None:
    for name, size in (("b.jsonl", 600), ("a.jsonl", 300), ("c[1].jsonl", 300), ("d.jsonl", 2000)):
        (tmp_path / name).write_bytes(b"x" * size)
    (tmp_path / "sub").mkdir()
    groups = segments.plan([f"{tmp_path}/*"], 1000)
    names = [[Path(p.replace("[[]", "[")).name for p in group] for group in groups]
    assert names == [["a.jsonl", "b.jsonl"], ["c[1].jsonl"], ["d.jsonl"]]
    # each pattern matches its one file, brackets in names included
    assert [len(segments.plan([p], 10**9)[0]) for group in groups for p in group] == [1, 1, 1, 1]


@pytest.mark.slow
def test_a_segmented_run_writes_the_tables_of_one_pipeline(tmp_path: Path) -> None:
    corpus = corpus_with_copies(tmp_path / "corpus")
    assert run_cli("--input", str(corpus), "--output", str(tmp_path / "whole"), *ONE_PIPELINE) == 0
    assert run_cli("--input", str(corpus), "--output", str(tmp_path / "parts"), *EVERY_FILE) == 0
    whole, parts = sorted_tables(tmp_path / "whole"), sorted_tables(tmp_path / "parts")
    for table in ("articles", "entities", "events", "dead_letters"):
        assert parts[table] == whole[table], table
    pairs = {(d["article_id"], d["duplicate_of"]) for d in parts["duplicates"]}
    assert pairs == {(d["article_id"], d["duplicate_of"]) for d in whole["duplicates"]} and len(pairs) == 2
    assert len(parts["articles"]) == 20
    # every mention is in one cluster (clusters are made within a segment, so they may differ)
    assert sum(len(c["event_ids"]) for c in parts["event_clusters"]) == len(parts["events"])
    counted = summary(tmp_path / "parts")
    assert (counted["read"], counted["written"], counted["duplicates"], counted["balanced"]) == (22, 20, 2, True)
    assert len(list((tmp_path / "parts" / "jsonl" / "articles").iterdir())) == 3  # a part per segment
    assert not (tmp_path / "parts" / "_segments").exists() and not (tmp_path / "parts" / "_state").exists()
    # one pipeline over the same folder leaves one part per table, not the segments' three
    assert run_cli("--input", str(corpus), "--output", str(tmp_path / "parts"), *ONE_PIPELINE) == 0
    assert [p.name for p in (tmp_path / "parts" / "jsonl" / "articles").iterdir()] == ["part-00000-of-00001.jsonl"]
    assert sorted_tables(tmp_path / "parts") == whole


@pytest.mark.slow
def test_with_the_index_a_segmented_run_adds_only_what_earlier_runs_did_not_write(tmp_path: Path) -> None:
    corpus = corpus_with_copies(tmp_path / "corpus")
    index = ("--set", "dedup.index=true", "--set", f"state_dir={tmp_path / 'state'}")
    assert run_cli("--input", str(corpus / "corpus-000.jsonl"), "--output", str(tmp_path / "first"), *index) == 0
    assert run_cli("--input", str(corpus), "--output", str(tmp_path / "out"), *index, *EVERY_FILE) == 0
    counted = summary(tmp_path / "out")
    assert (counted["read"], counted["written"], counted["already_written"]) == (22, 10, 10)
    assert len(read_table(tmp_path / "out", "duplicates")) == 2  # the copies, of articles of both runs
    assert run_cli("--input", str(corpus), "--output", str(tmp_path / "again"), *index, *EVERY_FILE) == 0
    assert summary(tmp_path / "again")["written"] == 0


def lake_command(corpus: Path, output: Path, schema: str, run_id: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pipeline",
        "run",
        "--config",
        str(LOCAL_CONFIG),
        "-q",
        "--input",
        str(corpus),
        "--output",
        str(output),
        "--set",
        "output.layout=partitioned",
        "--set",
        f"run_id={run_id}",
        "--set",
        "dedup.index=true",
        "--set",
        "input.segment_mb=0.002",
        "--postgres-dsn",
        DSN,
        "--set",
        f"postgres.schema={schema}",
        "--set",
        "postgres.batch_size=5",
    ]


@pytest.mark.slow
def test_a_segmented_run_killed_at_random_points_and_run_again_has_every_row_once(tmp_path: Path, schema: str) -> None:
    from tests.pipeline.test_lake import pg_rows

    corpus = tmp_path / "corpus"
    write_jsonl(corpus, 24, seed=7, files=3)  # ~17 kB a file: segments of 1 file
    clean_schema = f"{schema}_clean"
    seed = int(os.environ.get("NEWSBEAM_KILL_SEED", time.time_ns() % 10_000))
    rng = random.Random(seed)
    try:
        started = time.monotonic()
        subprocess.run(
            lake_command(corpus, tmp_path / "clean", clean_schema, "20261123T0400Z"),
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        duration = time.monotonic() - started
        output, kills = tmp_path / "lake", []
        for attempt in range(3):  # killed three times, each at a random moment of its run
            delay = rng.uniform(0.15, 0.9) * duration
            victim = subprocess.Popen(
                lake_command(corpus, output, schema, f"20261123T05{attempt}0Z"),
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                victim.wait(timeout=delay)
                kills.append(f"finished before {delay:.1f} s")
            except subprocess.TimeoutExpired:
                os.killpg(victim.pid, signal.SIGKILL)
                victim.wait()
                kills.append(f"killed at {delay:.1f} s")
        subprocess.run(
            lake_command(corpus, output, schema, "20261123T0600Z"), cwd=ROOT, check=True, capture_output=True
        )
        note = f"NEWSBEAM_KILL_SEED={seed}: {kills}"
        print(note)
        clean, resumed = sorted_tables(tmp_path / "clean"), sorted_tables(output)
        for table in clean:
            assert resumed[table] == clean[table], f"{table} ({note})"
        assert pg_rows(schema) == pg_rows(clean_schema), note
        assert len(clean["articles"]) > 18
    finally:
        drop_schemas(clean_schema)


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(p) for p in (task / "children").read_text().split())
    return found


def _rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024 if "VmRSS:" in status else 0.0


def _alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_segment_ends_when_its_driver_is_killed_alone(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_jsonl(corpus, 40, seed=7, files=4)
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--config",
            str(LOCAL_CONFIG),
            "-q",
            "--input",
            str(corpus),
            "--output",
            str(tmp_path / "out"),
            *EVERY_FILE,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        segment = None
        while segment is None and time.monotonic() < deadline:
            segment = next(
                (pid for pid in _children(driver.pid) if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()),
                None,
            )
            time.sleep(0.2)
        assert segment is not None, "no segment process started"
        while _rss_mib(segment) < 400 and time.monotonic() < deadline:  # until its pipeline runs
            time.sleep(0.2)
        driver.kill()  # the driver alone, not its process group
        driver.wait()
        deadline = time.monotonic() + 10
        while _alive(segment) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(segment)
    finally:
        driver.kill()
        driver.wait()
