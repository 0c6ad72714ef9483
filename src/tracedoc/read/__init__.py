"""Readers: trace files in, :class:`FrameBatch` es out.

The format is sniffed from the (decompressed) content, never from the file
name.  :func:`open_reader` returns a reader whose ``info`` is filled as the
file is read and whose ``batches()`` yields frames; faults found on the way
are appended to ``info.errors`` after every whole record before them has been
yielded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Protocol

from tracedoc.errors import TraceFormatError
from tracedoc.read import ctrace, ngsniffer, pcap, pcapng
from tracedoc.read.batch import FrameBatch
from tracedoc.read.info import InterfaceInfo, TraceInfo
from tracedoc.read.source import ChunkReader, DEFAULT_CHUNK, open_stream


class Reader(Protocol):
    info: TraceInfo

    def batches(self) -> Iterator[FrameBatch]: ...


# Format sniffers, tried in order; each looks at the first decompressed bytes.
# (name, bytes of the file's start the sniffer needs, sniffer, reader).
# Binary formats need a few bytes; IPCS-formatted text may open with pages
# of banners.  Sniffers needing more are tried only when the quick ones fail,
# so a binary file's first window stays the reader's chunk size.
FORMATS: list[tuple[str, int, Callable[[bytes], bool], Callable[[ChunkReader, TraceInfo], Reader]]] = [
    ("pcap", 64, pcap.sniff, pcap.PcapReader),
    ("pcapng", 64, pcapng.sniff, pcapng.PcapngReader),
    ("ngsniffer", 64, ngsniffer.sniff, ngsniffer.NgSnifferReader),
    ("ctrace", 64 << 10, ctrace.sniff, ctrace.CtraceTextReader),
    ("ctrace-summary", 64 << 10, ctrace.summary_sniff, ctrace.CtraceSummaryReader),
]


class _Closing:
    """Wraps a reader so the underlying stream is closed when iteration ends."""

    def __init__(self, reader: Reader, chunks: ChunkReader) -> None:
        self._reader = reader
        self._chunks = chunks
        self.info = reader.info

    def batches(self) -> Iterator[FrameBatch]:
        try:
            yield from self._reader.batches()
        finally:
            self._chunks.close()


def open_reader(path: str | os.PathLike[str], chunk_size: int = DEFAULT_CHUNK) -> Reader:
    """Open a trace file and return its reader.

    Raises :class:`TraceFormatError` when the file cannot be opened or its
    format is not recognised; damage found later is reported in
    ``reader.info.errors``.
    """
    stream, comp, size = open_stream(path)
    chunks = ChunkReader(stream, chunk_size)
    info = TraceInfo(path=os.fspath(path), compression=comp, file_size=size)
    head = b""
    for _name, need, sniff, cls in FORMATS:
        if len(chunks.buf) < need and not chunks.eof:
            chunks.fill(need)
        head = chunks.buf[:need]
        if not head:
            break
        if sniff(head):
            return _Closing(cls(chunks, info), chunks)
    # A decompression fault found while reading ahead is reported by the
    # format reader after the records before it: raise it only when there is
    # nothing to read.
    chunks.close()
    if chunks.stream_error is not None and (not head or len(head) < 64):
        raise TraceFormatError(f"{os.fspath(path)}: {chunks.stream_error}", chunks.stream_error.offset)
    if not head:
        raise TraceFormatError(f"{os.fspath(path)}: empty file", 0)
    what = f" ({comp}-compressed)" if comp else ""
    raise TraceFormatError(
        f"{os.fspath(path)}: not a capture file tracedoc knows{what}: "
        f"first bytes {head[:8].hex(' ')} match no pcap, pcapng, Sniffer or CTRACE signature", 0)


__all__ = ["FrameBatch", "InterfaceInfo", "Reader", "TraceInfo", "open_reader"]
