"""z/OS CTRACE traces formatted by IPCS (placeholder until the reader lands)."""

from __future__ import annotations

from collections.abc import Iterator

from tracedoc.read.batch import FrameBatch
from tracedoc.read.info import TraceInfo
from tracedoc.read.source import ChunkReader


def sniff(head: bytes) -> bool:
    return False


class CtraceTextReader:
    def __init__(self, chunks: ChunkReader, info: TraceInfo) -> None:
        self.info = info

    def batches(self) -> Iterator[FrameBatch]:
        return iter(())
