"""The Python API: ``tracedoc.open(path)`` -> :class:`Trace`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pyarrow as pa

from tracedoc.analyze.derived import SCHEMA, Packets
from tracedoc.read import open_reader
from tracedoc.read.batch import FrameBatch
from tracedoc.read.info import TraceInfo

Progress = Callable[[int, int], None]
"""Called with (file bytes consumed, file size) as reading goes on."""


class Trace:
    """One trace file.

    ``info`` holds what the file says about itself (format, interfaces, ...);
    it is complete, with ``info.errors``, once the frames have been read.
    ``packets`` is the decoded packet table (read and decoded on first use);
    :meth:`iter_packets` streams it batch by batch in bounded memory.
    """

    def __init__(self, path: str | os.PathLike[str], chunk_size: int | None = None) -> None:
        self.path = os.fspath(path)
        kw = {"chunk_size": chunk_size} if chunk_size else {}
        self._reader = open_reader(self.path, **kw)
        self.info: TraceInfo = self._reader.info
        self._packets: pa.Table | None = None
        self._used = False

    def _fresh_reader(self):
        if not self._used:
            self._used = True
            return self._reader
        r = open_reader(self.path)
        self.info = r.info
        return r

    def iter_frames(self, progress: Progress | None = None) -> Iterator[FrameBatch]:
        reader = self._fresh_reader()
        chunks = getattr(reader, "_chunks", None)
        counter = getattr(getattr(chunks, "stream", None), "raw_counter", None)
        for b in reader.batches():
            if progress is not None and counter is not None:
                progress(counter.count, self.info.file_size)
            yield b

    def iter_packets(self, progress: Progress | None = None, columns: list[str] | None = None,
                     skip_opaque: bool = False) -> Iterator[pa.RecordBatch]:
        """Decoded batches with the derived columns (all columns, or only
        ``columns``); ``skip_opaque``: see :class:`~tracedoc.decode.app.AppDecoder`."""
        dec = Packets(columns, skip_opaque=skip_opaque)
        for b in self.iter_frames(progress):
            yield dec.decode(b)

    @property
    def packets(self) -> pa.Table:
        if self._packets is None:
            self._packets = pa.Table.from_batches(list(self.iter_packets()), schema=SCHEMA)
        return self._packets

    def table(self, columns: list[str] | None = None, progress: Progress | None = None,
              skip_opaque: bool = False) -> pa.Table:
        """The packet table (only ``columns``, if given), decoded now."""
        batches = self.iter_packets(progress, columns, skip_opaque)
        if columns is None:
            return pa.Table.from_batches(list(batches), schema=SCHEMA)
        return pa.Table.from_batches(list(batches), schema=Packets(columns).schema)

    @property
    def errors(self) -> list[str]:
        return [str(e) for e in self.info.errors]


def open(path: str | os.PathLike[str]) -> Trace:  # noqa: A001 - the API's name
    """Open a trace (pcap, pcapng, compressed or not)."""
    return Trace(path)
