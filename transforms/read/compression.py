"""Reading a file on any Beam filesystem as a stream of byte chunks, decompressed by its suffix.

Beam's own decompressing reader ends quietly at a truncated stream, so a cut-off .gz reads as
empty or short. Here the raw bytes come through Beam's filesystem (local, gs://, s3://) and are
decompressed incrementally: a stream that ends before its end-of-stream marker raises EOFError,
and concatenated streams (several gzip members, several zstd frames) are all read.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import zstandard
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

CHUNK = 1 << 20
# What an unreadable, corrupt or truncated file raises while it is read and decompressed.
READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError)
# Compressed input is read in small raw blocks: one block of a decompression bomb (about 1000:1
# for zlib) then expands to tens of megabytes at most before the caller's size cap applies.
_RAW_BLOCK = 1 << 16

_DECOMPRESSORS: dict[str, Callable[[], Any]] = {
    CompressionTypes.GZIP: lambda: zlib.decompressobj(wbits=zlib.MAX_WBITS | 16),
    CompressionTypes.DEFLATE: zlib.decompressobj,
    CompressionTypes.BZIP2: bz2.BZ2Decompressor,
    CompressionTypes.LZMA: lzma.LZMADecompressor,
    CompressionTypes.ZSTD: lambda: zstandard.ZstdDecompressor().decompressobj(),
}


def read_chunks(path: str, size: int = CHUNK) -> Iterator[bytes]:
    """The file's content in chunks of about `size` bytes, decompressed if its name says so."""
    make = _DECOMPRESSORS.get(CompressionTypes.detect_compression_type(path))
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
        if make is None:
            yield from iter(lambda: raw.read(size), b"")
            return
        blocks = iter(lambda: raw.read(min(size, _RAW_BLOCK)), b"")
        decompressor, started = make(), False
        for block in blocks:
            started, pending = True, block
            while pending:
                if decompressor.eof:  # the next member or frame of a concatenated file
                    decompressor = make()
                output = decompressor.decompress(pending)
                if output:
                    yield output
                pending = decompressor.unused_data if decompressor.eof else b""
        if started and not decompressor.eof:
            raise EOFError("compressed data ends before its end-of-stream marker (truncated file?)")


def read_head(path: str, limit: int) -> bytes:
    """The file's content up to one byte past `limit` (enough to tell it is too large)."""
    data = bytearray()
    for chunk in read_chunks(path):
        data += chunk
        if len(data) > limit:
            break
    return bytes(data[: limit + 1])
