"""Reading files as decompressed chunks: every format, truncation, concatenation, size bounds."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard

from tests.conftest import peak_rss_mib
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


BOMB_MB = 128  # of zeros, a few hundred bytes to a few hundred kilobytes compressed
BOMB_COMPRESSORS: dict[str, Callable[[], Any]] = {
    ".gz": lambda: zlib.compressobj(6, zlib.DEFLATED, 31),
    ".deflate": lambda: zlib.compressobj(6),
    ".bz2": bz2.BZ2Compressor,
    ".xz": lambda: lzma.LZMACompressor(preset=0),
    ".zst": lambda: zstandard.ZstdCompressor().compressobj(),
}


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One decompression bomb per format, written without holding its content."""
    folder, zeros, made = tmp_path_factory.mktemp("bombs"), b"\0" * (1 << 20), {}
    for suffix, make in BOMB_COMPRESSORS.items():
        compressor, path = make(), folder / f"bomb.txt{suffix}"
        with path.open("wb") as out:
            for _ in range(BOMB_MB):
                out.write(compressor.compress(zeros))
            out.write(compressor.flush())
        made[suffix] = path
    return made


def test_no_chunk_of_a_decompression_bomb_is_larger_than_asked(bombs: dict[str, Path], suffix: str) -> None:
    chunks = read_chunks(str(bombs[suffix]), size=1 << 20)
    sizes = [len(chunk) for _, chunk in zip(range(40), chunks)]
    chunks.close()
    assert len(sizes) == 40 and max(sizes) <= 1 << 20


@pytest.mark.slow
def test_reading_a_bomb_up_to_the_cap_holds_the_cap_not_the_bomb(bombs: dict[str, Path], tmp_path: Path) -> None:
    """Peak memory of a process that reads each bomb to input.max_bytes (5 MB), beside the same
    process reading a small file: the bomb adds the cap and a chunk or two, not its 128 MB."""
    small = write(tmp_path, "small.txt.gz", gzip.compress(DATA))

    def peak(path: str) -> int:
        return peak_rss_mib(f"from transforms.read.compression import read_head; read_head({path!r}, 5_000_000)")

    baseline = peak(small)
    grown = {suffix: peak(str(path)) - baseline for suffix, path in bombs.items()}
    assert all(growth <= 40 for growth in grown.values()), grown
