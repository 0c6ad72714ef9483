"""pcapng (placeholder until the pcapng reader lands)."""

from __future__ import annotations

from collections.abc import Iterator

from tracedoc.read.batch import FrameBatch
from tracedoc.read.info import TraceInfo
from tracedoc.read.source import ChunkReader

SHB = b"\x0a\x0d\x0d\x0a"


def sniff(head: bytes) -> bool:
    return head[:4] == SHB


class PcapngReader:
    def __init__(self, chunks: ChunkReader, info: TraceInfo) -> None:
        self.chunks = chunks
        self.info = info
        info.format = "pcapng"
        info.fail("pcapng reading is not implemented yet", 0)

    def batches(self) -> Iterator[FrameBatch]:
        return iter(())
