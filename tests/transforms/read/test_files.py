"""The source stage over real files, with TestPipeline."""

from __future__ import annotations

import errno
import gzip
import json
import os
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to, is_empty

from tests.fixtures import ARTICLE, bad_inputs, good_inputs, special_files
from transforms.core.dead_letters import Rejected
from transforms.core.settings import ConfigError
from transforms.read.files import ReadArticles, resolve_patterns
from transforms.read.listing import check_readable, matched_files

OPTIONS = ["--runner=FnApiRunner"]


def test_reads_every_format_and_each_file_once(tmp_path: Path) -> None:
    files = good_inputs(tmp_path)
    # Overlapping patterns: the directory and a pattern inside it name the same files twice.
    patterns, count = resolve_patterns([str(tmp_path), str(tmp_path / "*.txt")])
    assert count == 6  # 5 files in the directory + story.txt again
    with TestPipeline(argv=OPTIONS) as p:
        read = p | ReadArticles(patterns, max_bytes=1_000_000)
        assert_that(
            read.documents | beam.Map(lambda d: (d.source, d.source_format)),
            equal_to(
                [
                    (str(files["txt"]), "txt"),
                    (str(files["gz"]), "txt"),
                    (str(files["html"]), "html"),
                    (f"{files['json']}#0", "json"),
                    (f"{files['jsonl']}#L1", "json"),
                ]
            ),
            label="documents",
        )
        assert_that(read.dead_letters, is_empty(), label="no dead letters")


def test_compressed_text_is_decompressed(tmp_path: Path) -> None:
    files = good_inputs(tmp_path)
    with TestPipeline(argv=OPTIONS) as p:
        read = p | ReadArticles([str(files["gz"])], max_bytes=1_000_000)
        assert_that(read.documents | beam.Map(lambda d: "Monday" in d.text), equal_to([True]))


def test_each_bad_input_is_one_dead_letter_with_a_reason(tmp_path: Path) -> None:
    files = bad_inputs(tmp_path)
    expected = [
        (str(files["empty"]), "empty file"),
        (str(files["binary"]), "binary content, not text"),
        (str(files["latin1"]), "not valid utf-8"),
        (str(files["cp1256"]), "not valid utf-8"),
        (str(files["oversized"]), "file larger than input.max_bytes (100,000 bytes)"),
        (f"{files['malformed_json']}#L2", "malformed JSON"),
        (str(files["no_main_text"]), "no main text found in the HTML page"),
    ]
    with TestPipeline(argv=OPTIONS) as p:
        read = p | ReadArticles(resolve_patterns([str(tmp_path)])[0], max_bytes=100_000)
        letters = read.dead_letters | beam.Map(lambda d: (d.source, d.stage, d.reason))

        def check(rows: list[tuple[str, str, str]]) -> None:
            assert len(rows) == len(expected), rows
            for source, reason in expected:
                assert any(s == source and st == "read" and reason in r for s, st, r in rows), (source, rows)

        assert_that(letters, check, label="dead letters")
        # The good line of the mixed JSON Lines file still gets through.
        assert_that(
            read.documents | beam.Map(lambda d: d.source),
            equal_to([f"{files['malformed_json']}#L1"]),
            label="documents",
        )


def test_resolve_patterns_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no input given"):
        resolve_patterns([])
    with pytest.raises(ConfigError, match="matches no files"):
        resolve_patterns([str(tmp_path / "*.txt")])
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(ConfigError, match="matches no files"):
        resolve_patterns([str(tmp_path / "empty-dir")])


def test_json_lines_are_streamed_and_capped_per_record(tmp_path: Path) -> None:
    record = json.dumps({"text": "word " * 100})  # about 500 bytes
    lines = [record] * 300  # about 150 KB in all, far above the cap
    lines[10] = json.dumps({"text": "word " * 400})  # one record above the cap
    lines[20] = '{"text": "caf\xe9 ' + "word " * 50 + '"}'  # one line in latin-1
    data = "\n".join(lines).encode("utf-8").replace("caf\xe9".encode(), b"caf\xe9")
    path = tmp_path / "big.jsonl"
    path.write_bytes(data)
    with TestPipeline(argv=OPTIONS) as p:
        read = p | ReadArticles([str(path)], max_bytes=1000)
        assert_that(read.documents | beam.combiners.Count.Globally(), equal_to([298]), label="documents")
        assert_that(
            read.dead_letters | beam.Map(lambda d: (d.source.rsplit("#", 1)[1], d.reason.split(" (")[0])),
            equal_to([("L11", "record larger than input.max_bytes"), ("L21", "not valid utf-8")]),
            label="dead letters",
        )


def test_truncated_and_corrupt_compressed_files_are_dead_letters(tmp_path: Path) -> None:
    text = gzip.compress(("Protesters marched. " * 500).encode())
    (tmp_path / "cut.txt.gz").write_bytes(text[: len(text) // 2])
    (tmp_path / "junk.txt.gz").write_bytes(b"not gzip at all " * 8)
    lines = gzip.compress("\n".join(json.dumps({"text": "word " * 30}) for _ in range(2000)).encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(lines[: len(lines) * 2 // 3])
    with TestPipeline(argv=OPTIONS) as p:
        read = p | ReadArticles(resolve_patterns([str(tmp_path)])[0], max_bytes=1_000_000)
        assert_that(
            read.dead_letters | beam.Map(lambda d: (d.source.rsplit("/", 1)[1], d.reason.split(":")[0])),
            equal_to(
                [
                    ("cut.txt.gz", "cannot read file"),
                    ("junk.txt.gz", "cannot read file"),
                    ("cut.jsonl.gz", "cannot read file"),
                ]
            ),
            label="dead letters",
        )

        def some_lines_before_the_cut(count: list[int]) -> None:
            assert 0 < count[0] < 2000

        assert_that(read.documents | beam.combiners.Count.Globally(), some_lines_before_the_cut, label="documents")


@pytest.mark.timeout(120)
def test_only_regular_files_are_opened_and_every_other_entry_is_a_dead_letter(tmp_path: Path) -> None:
    expected = special_files(tmp_path / "in")
    (tmp_path / "in" / "story.txt").write_text(ARTICLE, encoding="utf-8")
    patterns, count = resolve_patterns([str(tmp_path / "in")])
    assert count == 7  # what Beam's own match would drop (broken links, loops) is counted too
    with TestPipeline(argv=OPTIONS) as p:
        read = p | ReadArticles(patterns, max_bytes=1_000_000)
        assert_that(
            read.dead_letters | beam.Map(lambda d: (d.source, d.stage, d.reason, d.error_type)),
            equal_to([(source, "read", reason, "not_a_file") for source, reason in expected.items()]),
            label="dead letters",
        )
        assert_that(read.documents | beam.Map(lambda d: d.source), equal_to([str(tmp_path / "in" / "story.txt")]))


def test_a_folder_that_cannot_be_listed_is_a_dead_letter_for_a_recursive_pattern(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root reads every folder, so the permission error is simulated where os.walk and the check
    meet it."""
    (tmp_path / "news" / "locked").mkdir(parents=True)
    (tmp_path / "news" / "a.txt").write_text(ARTICLE, encoding="utf-8")
    locked = str(tmp_path / "news" / "locked")
    real_scandir, real_listdir = os.scandir, os.listdir

    def refuse(real: Any) -> Any:
        def wrapped(path: Any = ".") -> Any:
            if str(path) == locked:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real(path)

        return wrapped

    monkeypatch.setattr(os, "scandir", refuse(real_scandir))
    monkeypatch.setattr(os, "listdir", refuse(real_listdir))
    found = [m.path for m in matched_files(str(tmp_path / "news" / "**"))]
    assert found == [str(tmp_path / "news" / "a.txt"), locked]
    with pytest.raises(Rejected, match="cannot list the folder: Permission denied"):
        check_readable(locked)
    assert [m.path for m in matched_files(str(tmp_path / "news" / "*"))] == [str(tmp_path / "news" / "a.txt")]


def test_an_input_folder_that_cannot_be_listed_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: str(path) != str(locked) and real_access(path, mode))
    with pytest.raises(ConfigError, match=f"input.paths: cannot list the folder {locked}: permission denied"):
        resolve_patterns([str(locked)])
