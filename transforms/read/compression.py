"""Reading a file on any Beam filesystem as a stream of byte chunks, decompressed by its suffix.

Beam's own decompressing reader ends quietly at a truncated stream, so a cut-off .gz reads as
empty or short. Here the raw bytes come through Beam's filesystem (local, gs://, s3://) and are
decompressed incrementally: a stream that ends before its end-of-stream marker raises EOFError,
and concatenated streams (several gzip members, several zstd frames) are all read.

Every chunk is at most `size` bytes however much the input expands (a decompression bomb: a few
kilobytes of bzip2 or zstd can hold gigabytes of zeros), so a caller that stops at its size cap
has held the cap and one chunk, never the bomb. The gzip, deflate, bzip2 and xz decompressors
take an output limit; zstd's does not, so it is fed small slices of input, each of which expands
to a few megabytes at most.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import zstandard
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

CHUNK = 1 << 20
# What an unreadable, corrupt or truncated file raises while it is read and decompressed.
READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError)
_RAW_BLOCK = 1 << 16  # compressed bytes read at a time
# A zstd block of one repeated byte takes 4 bytes for up to 128 KiB, so 128 bytes of input
# expand to 4 MiB at most.
_ZSTD_SLICE = 128


class _Stream(Protocol):
    """One compressed stream (a gzip member, a zstd frame...) being decompressed."""

    @property
    def eof(self) -> bool: ...

    @property
    def leftover(self) -> bytes:
        """Once `eof`: the input that followed the stream's end (the next stream's start)."""
        ...

    def feed(self, data: bytes, size: int) -> Iterator[bytes]:
        """The output of `data`, in pieces of at most `size` bytes."""
        ...


class _Limited:
    """A zlib, bz2 or lzma decompressor asked for at most `size` bytes per call."""

    def __init__(self, decompressor: Any, keeps_input: bool = False):
        self._decompressor = decompressor
        self._keeps_input = keeps_input  # zlib hands back what it did not consume; bz2 and lzma keep it

    @property
    def eof(self) -> bool:
        return bool(self._decompressor.eof)

    @property
    def leftover(self) -> bytes:
        return bytes(self._decompressor.unused_data)

    def feed(self, data: bytes, size: int) -> Iterator[bytes]:
        decompressor = self._decompressor
        while True:
            output = decompressor.decompress(data, size)
            if output:
                yield output
            if decompressor.eof:
                return
            if self._keeps_input:
                data = b""
                if decompressor.needs_input:
                    return
            else:
                data = decompressor.unconsumed_tail
                if not data and not output:
                    return


class _Sliced:
    """A zstd decompressor fed `_ZSTD_SLICE` bytes at a time: it takes no output limit."""

    def __init__(self) -> None:
        self._decompressor = zstandard.ZstdDecompressor().decompressobj()
        self.leftover = b""

    @property
    def eof(self) -> bool:
        return bool(self._decompressor.eof)

    def feed(self, data: bytes, size: int) -> Iterator[bytes]:
        for start in range(0, len(data), _ZSTD_SLICE):
            output = self._decompressor.decompress(data[start : start + _ZSTD_SLICE])
            for at in range(0, len(output), size):
                yield output[at : at + size]
            if self._decompressor.eof:
                self.leftover = self._decompressor.unused_data + data[start + _ZSTD_SLICE :]
                return


_DECOMPRESSORS: dict[str, Callable[[], _Stream]] = {
    CompressionTypes.GZIP: lambda: _Limited(zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)),
    CompressionTypes.DEFLATE: lambda: _Limited(zlib.decompressobj()),
    CompressionTypes.BZIP2: lambda: _Limited(bz2.BZ2Decompressor(), keeps_input=True),
    CompressionTypes.LZMA: lambda: _Limited(lzma.LZMADecompressor(), keeps_input=True),
    CompressionTypes.ZSTD: _Sliced,
}


def read_chunks(path: str, size: int = CHUNK) -> Iterator[bytes]:
    """The file's content in chunks of at most `size` bytes, decompressed if its name says so."""
    make = _DECOMPRESSORS.get(CompressionTypes.detect_compression_type(path))
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
        if make is None:
            yield from iter(lambda: raw.read(size), b"")
            return
        stream, started = make(), False
        for block in iter(lambda: raw.read(_RAW_BLOCK), b""):
            started, pending = True, block
            while pending:
                if stream.eof:  # the next member or frame of a concatenated file
                    stream = make()
                yield from stream.feed(pending, size)
                pending = stream.leftover if stream.eof else b""
        if started and not stream.eof:
            raise EOFError("compressed data ends before its end-of-stream marker (truncated file?)")


def read_head(path: str, limit: int) -> bytes:
    """The file's content up to one byte past `limit` (enough to tell it is too large)."""
    data = bytearray()
    for chunk in read_chunks(path, min(CHUNK, limit + 1)):
        data += chunk[: limit + 1 - len(data)]
        if len(data) > limit:
            break
    return bytes(data)
