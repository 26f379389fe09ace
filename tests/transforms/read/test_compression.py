"""Reading files as decompressed chunks: every format, truncation, concatenation, size bounds."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from transforms.read.compression import read_chunks

DATA = ("Protesters marched through the city centre. " * 3000).encode()
COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
    ".deflate": zlib.compress,
    ".zst": lambda data: zstandard.ZstdCompressor().compress(data),
}


@pytest.fixture(params=sorted(COMPRESSORS))
def suffix(request: pytest.FixtureRequest) -> str:
    return request.param


def write(tmp_path: Path, name: str, blob: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(blob)
    return str(path)


def test_plain_and_compressed_files_read_whole(tmp_path: Path, suffix: str) -> None:
    assert b"".join(read_chunks(write(tmp_path, "a.txt", DATA))) == DATA
    assert b"".join(read_chunks(write(tmp_path, f"a.txt{suffix}", COMPRESSORS[suffix](DATA)), size=4096)) == DATA


def test_concatenated_streams_are_all_read(tmp_path: Path, suffix: str) -> None:
    blob = COMPRESSORS[suffix](DATA) * 2
    assert b"".join(read_chunks(write(tmp_path, f"a.txt{suffix}", blob))) == DATA * 2


def test_a_truncated_stream_is_an_error_not_a_short_read(tmp_path: Path, suffix: str) -> None:
    blob = COMPRESSORS[suffix](DATA)
    with pytest.raises(EOFError, match="truncated"):
        b"".join(read_chunks(write(tmp_path, f"a.txt{suffix}", blob[: len(blob) // 2])))


def test_an_empty_compressed_file_reads_as_empty(tmp_path: Path, suffix: str) -> None:
    assert b"".join(read_chunks(write(tmp_path, f"a.txt{suffix}", b""))) == b""


def test_a_decompression_bomb_is_read_in_bounded_steps(tmp_path: Path) -> None:
    bomb = gzip.compress(b"\0" * (200 << 20))  # 200 MB of zeros in about 200 KB
    chunks = read_chunks(write(tmp_path, "bomb.txt.gz", bomb))
    first = next(chunks)
    chunks.close()
    assert len(first) <= 70 << 20  # one 64 KB raw block at zlib's ~1000:1 ratio at most
