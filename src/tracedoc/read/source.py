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
import zlib
from typing import Any, BinaryIO

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
        self.count = max(self.count, self.f.tell())
        return n

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.count = max(self.count, self.f.tell())
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
    except OSError as e:
        raise TraceFormatError(f"{os.fspath(path)}: {e.strerror or e}") from None
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
        stream = lzma.LZMAFile(raw, mode="rb")  # type: ignore[assignment,arg-type]
    elif comp == "zstd":
        stream = _ZstdStream(raw)  # type: ignore[assignment]
    else:
        stream = raw  # type: ignore[assignment]
    stream.raw_counter = raw  # type: ignore[attr-defined]
    return stream, comp, size


class _ZstdStream:
    """zstd decompression, frame by frame, that notices a truncated frame.

    zstandard's ``stream_reader`` ends silently when the input stops inside a
    frame, which would pass a cut file off as whole; here the bytes decoded
    so far are returned first, then :class:`EOFError` is raised.  Frames may
    follow one another (``zstd`` writes one per input file, ``pzstd`` many).
    """

    IN_CHUNK = 8192
    """Compressed bytes per decompress call: a corrupt block loses at most what
    the call would have returned (gzip's reader works in 8 KiB steps too)."""

    def __init__(self, raw: CountingFile) -> None:
        self.raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._frame: Any = None  # decompressor of the frame in progress, None between frames
        self._out = bytearray()
        self._done = False
        self._error: Exception | None = None

    def _step(self) -> None:
        data = self.raw.read(self.IN_CHUNK)
        if not data:
            self._done = True
            if self._frame is not None:
                self._error = EOFError("compressed file ended before the end of a zstd frame")
            return
        while data:
            if self._frame is None:
                self._frame = self._dctx.decompressobj()
            try:
                self._out += self._frame.decompress(data)
            except zstandard.ZstdError as e:
                self._done = True
                self._error = e
                return
            if self._frame.eof:
                data = self._frame.unused_data
                self._frame = None
            else:
                data = b""

    def read(self, n: int = -1) -> bytes:
        while not self._done and (n < 0 or len(self._out) < n):
            self._step()
        if not self._out and self._error is not None:
            e, self._error = self._error, None
            raise e
        if n < 0 or n >= len(self._out):
            data = bytes(self._out)
            self._out.clear()
        else:
            data = bytes(self._out[:n])
            del self._out[:n]
        return data

    def close(self) -> None:
        self.raw.close()


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
        self.seekable = isinstance(stream, CountingFile)

    def _read(self, n: int, at: int) -> bytes:
        """Read up to ``n`` bytes; ``at`` is the stream offset they start at."""
        if self.eof:
            return b""
        # read1 where the stream has it (the decompressors): a buffered
        # read(n) that meets a fault throws away what it decoded before it.
        read = getattr(self.stream, "read1", self.stream.read)
        try:
            data = read(n)
        except (OSError, EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError, ValueError) as e:
            self.eof = True
            self.stream_error = TraceFormatError(f"decompression failed at offset {at}: {e}", at)
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
        if self.seekable and self.buf and not self.eof:
            # A plain file: read the window again from its start instead of
            # joining the leftover to new data (a copy of the whole chunk).
            self.stream.seek(self.base)
            self.buf = b""
        parts = [self.buf]
        have = len(self.buf)
        want = max(need, self.chunk_size)
        while have < want and not self.eof:
            data = self._read(want - have, self.base + have)
            if data:
                parts.append(data)
                have += len(data)
        parts = [p for p in parts if p]
        self.buf = parts[0] if len(parts) == 1 else b"".join(parts)
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
