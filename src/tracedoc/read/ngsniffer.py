"""Network General Sniffer (DOS) .trc files (placeholder until the reader lands)."""

from __future__ import annotations

from collections.abc import Iterator

from tracedoc.read.batch import FrameBatch
from tracedoc.read.info import TraceInfo
from tracedoc.read.source import ChunkReader

MAGIC = b"TRSNIFF data    \x1a"


def sniff(head: bytes) -> bool:
    return False


class NgSnifferReader:
    def __init__(self, chunks: ChunkReader, info: TraceInfo) -> None:
        self.info = info

    def batches(self) -> Iterator[FrameBatch]:
        return iter(())
