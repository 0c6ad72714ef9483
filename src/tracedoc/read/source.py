"""Byte sources: plain or compressed files, read as a stream in chunks.

Compression is sniffed from the first bytes (gzip, bzip2, xz, zstd), never
from the file name, and is undone while streaming: the whole file is never in
memory, whatever its size.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
from typing import BinaryIO

import zstandard

from tracedoc.errors import TraceFormatError

_COMPRESSION_MAGIC = [
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
]

DEFAULT_CHUNK = 32 << 20


def sniff_compression(head: bytes) -> str | None:
    for magic, name in _COMPRESSION_MAGIC:
        if head.startswith(magic):
            return name
    return None


class CountingFile(io.RawIOBase):
    """The raw file, counting bytes read (progress for compressed input too)."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        n = self.f.readinto(b)  # type: ignore[attr-defined]
        self.count += n or 0
        return n

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.count += len(data)
        return data

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.f.seek(pos, whence)

    def tell(self) -> int:
        return self.f.tell()

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self.f.close()
        super().close()


def open_stream(path: str | os.PathLike[str]) -> tuple[BinaryIO, str | None, int]:
    """Open ``path`` and return (decompressed stream, compression, file size).

    The stream has an attribute ``raw_counter`` (a :class:`CountingFile`)
    whose ``count`` is the number of file bytes consumed so far."""
    try:
        raw = CountingFile(open(path, "rb"))  # type: ignore[assignment]
    except FileNotFoundError:
        raise TraceFormatError(f"{os.fspath(path)}: no such file") from None
    except IsADirectoryError:
        raise TraceFormatError(f"{os.fspath(path)}: is a directory") from None
    except PermissionError:
        raise TraceFormatError(f"{os.fspath(path)}: permission denied") from None
    size = os.fstat(raw.f.fileno()).st_size
    head = raw.read(8)
    raw.seek(0)
    raw.count = 0
    comp = sniff_compression(head)
    stream: BinaryIO
    if comp == "gzip":
        stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
    elif comp == "bzip2":
        stream = bz2.BZ2File(raw, mode="rb")  # type: ignore[assignment]
    elif comp == "xz":
        stream = lzma.LZMAFile(raw, mode="rb")  # type: ignore[assignment]
    elif comp == "zstd":
        stream = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)  # type: ignore[assignment]
    else:
        stream = raw  # type: ignore[assignment]
    try:
        stream.raw_counter = raw  # type: ignore[attr-defined]
    except AttributeError:  # zstd's reader has slots
        stream = _WithCounter(stream, raw)  # type: ignore[assignment]
    return stream, comp, size


class _WithCounter:
    def __init__(self, stream: BinaryIO, counter: CountingFile) -> None:
        self._s = stream
        self.raw_counter = counter

    def read(self, n: int = -1) -> bytes:
        return self._s.read(n)

    def close(self) -> None:
        self._s.close()


class ChunkReader:
    """A sliding window over a stream.

    ``buf`` holds bytes ``[base, base + len(buf))`` of the decompressed
    stream.  Readers parse inside ``buf``; :meth:`advance` drops what they
    consumed and :meth:`fill` reads more.  Errors of the decompressor (a
    corrupt or truncated gzip member, say) become :class:`TraceFormatError`
    with the offset reached.
    """

    def __init__(self, stream: BinaryIO, chunk_size: int = DEFAULT_CHUNK) -> None:
        self.stream = stream
        self.chunk_size = chunk_size
        self.buf = b""
        self.base = 0
        self.eof = False
        self.stream_error: TraceFormatError | None = None

    def _read(self, n: int) -> bytes:
        if self.eof:
            return b""
        try:
            data = self.stream.read(n)
        except (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError, ValueError) as e:
            self.eof = True
            self.stream_error = TraceFormatError(
                f"decompression failed at offset {self.base + len(self.buf)}: {e}",
                self.base + len(self.buf),
            )
            return b""
        if not data:
            self.eof = True
        return data

    def fill(self, need: int) -> bool:
        """Make ``len(buf) >= need`` if the stream has that much; read at
        least one chunk when more is needed.  Returns whether ``need`` bytes
        are available."""
        if len(self.buf) >= need:
            return True
        parts = [self.buf]
        have = len(self.buf)
        want = max(need, self.chunk_size)
        while have < want and not self.eof:
            data = self._read(want - have)
            if data:
                parts.append(data)
                have += len(data)
        self.buf = b"".join(parts)
        return len(self.buf) >= need

    def advance(self, n: int) -> None:
        """Drop the first ``n`` bytes of the window."""
        self.buf = self.buf[n:]
        self.base += n

    def close(self) -> None:
        try:
            self.stream.close()
        except Exception:  # closing a broken decompressor must not mask the real error
            pass


def read_head(path: str | os.PathLike[str], n: int = 64) -> bytes:
    """The first ``n`` decompressed bytes of a file (for format sniffing)."""
    stream, _, _ = open_stream(path)
    try:
        r = ChunkReader(stream, chunk_size=n)
        r.fill(n)
        return r.buf[:n]
    finally:
        stream.close()


__all__ = ["ChunkReader", "open_stream", "read_head", "sniff_compression"]
