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


def split_columns(columns: list[str], groups: int = 2) -> tuple[list[list[str]], list[str]]:
    """``columns`` as (groups of the columns the application pass makes, or
    that are derived from them; the rest).

    Each group can be decoded by a process of its own: with two groups, the
    datagram protocols' columns (DNS, DHCP, SNMP, ...) in one, the stream
    protocols' (TLS, HTTP, FTP, mail) in the other; a derived column goes
    with the protocols it is built on (groups it spans are merged).  With
    one group, all of them together.
    """
    from tracedoc.analyze.derived import DERIVERS
    from tracedoc.decode.dispatch import APP_PROTOCOLS, UDP_APPS

    datagram = {id(m) for m in UDP_APPS.values()}
    group_of: dict[str, int] = {}
    for m in APP_PROTOCOLS:
        for f in m.FIELDS:
            group_of[f.name] = 0 if id(m) in datagram else 1
    names: list[set[str]] = [set(), set()]
    for name, g in group_of.items():
        names[g].add(name)
    for d in DERIVERS:
        hit = {group_of[n] for n in d.NEEDS if n in group_of}
        if len(hit) > 1:   # built on both: one process makes both
            names = [names[0] | names[1], set()]
            group_of = dict.fromkeys(group_of, 0)
            hit = {0}
        for g in hit:
            for f in d.FIELDS:
                group_of[f.name] = g
                names[g].add(f.name)
    if groups < 2:
        names = [names[0] | names[1]]
    wanted = list(dict.fromkeys(columns))
    made = [[c for c in wanted if c in group] for group in names]
    return [g for g in made if g], [c for c in wanted if c not in group_of]


class BackgroundTable:
    """Some columns of a trace's packet table, decoded by a forked process
    while this one goes on with other work (on a second core).

    The child reads the file itself and writes the table to a temporary
    Arrow file; :meth:`result` waits for it.  Fork before this process has
    decoded anything (no Arrow or numpy worker threads yet: a fork is only
    safe then).
    """

    def __init__(self, path: str, columns: list[str], skip_opaque: bool = False) -> None:
        import multiprocessing as mp
        import tempfile

        fd, self._file = tempfile.mkstemp(prefix="tracedoc-", suffix=".arrow")
        os.close(fd)
        self._proc = mp.get_context("fork").Process(
            target=_background_worker, args=(path, columns, skip_opaque, self._file),
            name="tracedoc-decode", daemon=True)
        self._proc.start()

    def result(self) -> pa.Table:
        """The table (waits for the child); RuntimeError if the child failed."""
        try:
            self._proc.join()
            if self._proc.exitcode != 0:
                raise RuntimeError(f"the decoding process failed (exit code {self._proc.exitcode})")
            with pa.OSFile(self._file, "rb") as src:   # read into memory: the file goes next
                return pa.ipc.open_file(src).read_all()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the child if it still runs and remove its file (never raises)."""
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join()
        try:
            os.unlink(self._file)
        except OSError:
            pass


def _background_worker(path: str, columns: list[str], skip_opaque: bool, out: str) -> None:
    import sys

    from tracedoc import _malloc

    _malloc.tune()
    try:
        tbl = Trace(path).table(columns, skip_opaque=skip_opaque)
        with pa.OSFile(out, "wb") as sink, pa.ipc.new_file(sink, tbl.schema) as w:
            w.write_table(tbl)
    except BaseException as e:  # reported by the parent, which owns the exit code
        sys.stderr.write(f"tracedoc: internal error in the decoding process: {type(e).__name__}: {e}\n")
        os._exit(3)
    os._exit(0)


def open(path: str | os.PathLike[str]) -> Trace:  # noqa: A001 - the API's name
    """Open a trace (pcap, pcapng, compressed or not)."""
    return Trace(path)
