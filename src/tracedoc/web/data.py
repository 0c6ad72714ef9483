"""The tables behind the workbench's tabs, for one trace of the inventory.

A :class:`TraceData` reads the packet table from the inventory's Parquet
cache one column at a time, as views ask for them (a Packet Summary page
needs 45 of the table's ~850 columns), and keeps what it computed: the
local side (once per trace), the rows a display filter selects (a few
recent filters), the sessions, transactions and findings.  A Packet Summary
page is the summary of just that page's packets, so any page of a
million-packet trace costs the same few milliseconds; only the filter mask
and the local side look at every row.

The semantics of every view follow its CLI command (``tracedoc sessions``,
``hosts``, ``response-times``, ``diagnose``, ``sequence``), including what a
display filter means there; the modules under :mod:`tracedoc.analyze` do
the work, this one only chooses rows and columns.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracedoc.analyze.summary import LocalSide

T = TypeVar("T")

PAGE = 200
"""Packet Summary rows per page, unless the request asks otherwise."""
PAGE_MAX = 500
"""The most rows one page request returns."""
NOTES_TTL = 5.0
"""Seconds a trace's annotations are kept before they are read again (another
process, ``tracedoc annotate``, may add some)."""
FILTERS_KEPT = 8
"""Selections (filter text -> rows) kept per trace."""

SUMMARY_COLUMNS = [
    "frame.number", "frame.time_epoch", "frame.len", "ip.version", "ip.src", "ip.dst", "ip.len",
    "ipv6.version", "ipv6.src", "ipv6.dst", "ipv6.plen", "arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4",
    "arp.dst.proto_ipv4", "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.seq_raw", "tcp.ack_raw",
    "tcp.window_size_value", "udp.srcport", "udp.dstport", "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code",
    "tracedoc.message", "tracedoc.tunnel.src", "tracedoc.tunnel.dst", "tracedoc.tunnel.proto",
    "tracedoc.tunnel.srcport", "tracedoc.tunnel.dstport", "ctrace.record_type", "ctrace.direction",
    "ctrace.discard", "ctrace.discard_name", "ctrace.jobname", "ctrace.data.length", "ctrace.data.local_ip",
    "ctrace.data.remote_ip", "ctrace.data.local_port", "ctrace.data.remote_port", "ctrace.data.domain",
    "ctrace.data.state",
]
"""Every packet-table column :func:`tracedoc.analyze.summary.summary` reads
(``tests/web/test_data.py`` checks that a table of only these gives the
same rows as the whole table)."""

ADDRESS_COLUMNS = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "arp.src.proto_ipv4", "arp.dst.proto_ipv4",
                   "tracedoc.tunnel.src", "tracedoc.tunnel.dst"]
"""What :func:`tracedoc.analyze.summary.infer_local` reads."""


def _texts_of(kind: str, values: pa.Array) -> list[str]:
    """Address text as :func:`tracedoc.analyze.summary._addresses` writes it."""
    from tracedoc.analyze.endpoints import address_text
    from tracedoc.decode.display import format_ipv4, format_ipv6

    if kind == "tunnel":
        return [address_text(v) for v in values.to_pylist()]
    arr = format_ipv4(values) if kind == "ipv4" else format_ipv6(values)
    return [str(v) for v in arr.to_pylist()]


def local_side(tbl: pa.Table) -> LocalSide:
    """:func:`tracedoc.analyze.summary.infer_local` (no ``--local``) in a
    fraction of its time: the address in most packets, counted over the
    distinct raw values of each address column rather than over a text per
    packet.  Same source and destination per packet (the innermost IP
    header, else IPv4, IPv6, ARP), same tie-break (first seen among the
    sources, then among the destinations), so the same answer
    (``tests/web/test_units.py`` compares the two)."""
    import ipaddress

    n = tbl.num_rows
    counts: dict[str, int] = {}
    rank: dict[str, tuple[int, int]] = {}
    for order, end in enumerate(("src", "dst")):
        taken = np.zeros(n, dtype=bool)
        for col, kind in ((f"tracedoc.tunnel.{end}", "tunnel"), (f"ip.{end}", "ipv4"), (f"ipv6.{end}", "ipv6"),
                          (f"arp.{end}.proto_ipv4", "ipv4")):
            if col not in tbl.column_names:
                continue
            arr = tbl[col].combine_chunks()
            if arr.null_count == len(arr):
                continue
            valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
            chosen = valid & ~taken
            taken |= valid
            if not chosen.any():
                continue
            rows = np.flatnonzero(chosen)
            enc = pc.dictionary_encode(arr.filter(pa.array(chosen)))
            idx = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
            # Dictionary entries are numbered in order of first appearance.
            new = np.empty(len(idx), dtype=bool)
            new[0] = True
            new[1:] = idx[1:] > np.maximum.accumulate(idx)[:-1]
            firsts = rows[np.flatnonzero(new)]
            per = np.bincount(idx, minlength=len(enc.dictionary))
            for text, c, first in zip(_texts_of(kind, enc.dictionary), per.tolist(), firsts.tolist()):
                counts[text] = counts.get(text, 0) + int(c)
                r = (order, int(first))
                if text not in rank or r < rank[text]:
                    rank[text] = r
    if not counts:
        return LocalSide(None, True)
    best = min(counts, key=lambda t: (-counts[t], rank[t]))
    return LocalSide(ipaddress.ip_network(ipaddress.ip_address(best)), True)


class NotInTrace(LookupError):
    """A frame or session the trace does not have."""


@dataclass
class Selection:
    """The rows (positions in the packet table) a display filter selects."""

    text: str
    rows: np.ndarray | None
    """int64 positions, or None for every row."""
    total: int
    """Rows in the whole trace."""

    @property
    def count(self) -> int:
        return self.total if self.rows is None else len(self.rows)

    def positions(self, offset: int, limit: int) -> np.ndarray:
        offset = max(0, min(offset, self.count))
        end = min(self.count, offset + max(0, limit))
        if self.rows is None:
            return np.arange(offset, end, dtype=np.int64)
        return self.rows[offset:end]

    def mask(self) -> np.ndarray:
        m = np.zeros(self.total, dtype=bool)
        if self.rows is None:
            m[:] = True
        else:
            m[self.rows] = True
        return m


def zone() -> str:
    from tracedoc.cli.render import local_zone

    return local_zone()


def texts(values: list[Any]) -> list[str]:
    return ["" if v is None else str(v) for v in values]


def table_texts(tbl: pa.Table) -> list[list[str]]:
    """Rows of ``tbl`` as display text ("" for null), column by column."""
    cols = [texts(tbl[c].to_pylist()) for c in tbl.column_names]
    return [list(r) for r in zip(*cols)] if cols else []


class TraceData:
    """One trace's tables, loaded and computed on demand, shared by requests.

    ``load(columns)`` gives the packet table with those columns (others it
    already holds are kept).  The inventory is safe to call from several
    threads (it opens its file per operation).
    """

    def __init__(self, inventory: Any, trace_id: int) -> None:
        self.inv = inventory
        self.id = trace_id
        self.record = inventory.get(trace_id)
        self._cols: dict[str, pa.ChunkedArray] = {}
        self._load_lock = threading.Lock()
        self._memo: dict[Any, Any] = {}
        self._key_locks: dict[Any, threading.Lock] = {}
        self._memo_lock = threading.Lock()
        self._selections: OrderedDict[str, Selection] = OrderedDict()
        self.num_rows: int | None = None
        self._file: tuple[Any, np.ndarray] | None = None
        self._notes: tuple[float, dict[int, list[str]]] | None = None

    # -- columns ----------------------------------------------------------------------

    def load(self, columns: list[str]) -> pa.Table:
        """The packet table with ``columns`` (read from the cache when missing)."""
        from tracedoc.analyze.derived import FIELDS

        wanted = [c for c in dict.fromkeys(columns) if c in FIELDS]
        with self._load_lock:
            missing = [c for c in wanted if c not in self._cols]
            if missing:
                got = self.inv.table(self.id, missing)
                for c in missing:
                    self._cols[c] = got[c]
                if self.num_rows is None:
                    self.num_rows = got.num_rows
            cols = {c: self._cols[c] for c in wanted}
        return pa.table(cols) if cols else pa.table({})

    def rows(self) -> int:
        if self.num_rows is None:
            self.num_rows = int(self._parquet()[0].metadata.num_rows)
        return self.num_rows

    def _parquet(self) -> tuple[Any, np.ndarray]:
        """The cache file opened (memory-mapped) and where each row group starts."""
        import pyarrow.parquet as pq

        if self._file is None:
            path = self.inv.cache_file(self.id)
            md = None
            try:
                from tracedoc.store import cache

                md = cache.footer(path, self.record.sha256)   # parsed once by the inventory already
            except (ImportError, AttributeError):
                pass
            pf = pq.ParquetFile(path, memory_map=True, metadata=md)
            sizes = [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)]
            self._file = (pf, np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]))
        return self._file

    def _file_rows(self, offset: int, limit: int, columns: list[str]) -> pa.Table:
        """Rows ``offset .. offset+limit`` of ``columns`` read from the row
        groups that hold them (the rest of the file is not touched)."""
        from tracedoc.analyze.derived import SCHEMA

        pf, starts = self._parquet()
        end = min(offset + limit, int(starts[-1]))
        if end <= offset:
            tbl = pf.schema_arrow.empty_table().select(columns)
        else:
            first = int(np.searchsorted(starts, offset, side="right")) - 1
            last = int(np.searchsorted(starts, end - 1, side="right")) - 1
            tbl = pf.read_row_groups(list(range(first, last + 1)), columns=columns, use_threads=True)
            tbl = tbl.slice(offset - int(starts[first]), end - offset)
        want = pa.schema([SCHEMA.field(c) for c in columns])
        return tbl.cast(want) if not tbl.schema.equals(want, check_metadata=False) else \
            tbl.replace_schema_metadata(None)

    def annotations(self) -> dict[int, list[str]]:
        """Frame -> its annotations' texts, read again after :data:`NOTES_TTL` seconds
        (or at once after :meth:`changed`)."""
        import time

        now = time.monotonic()
        got = self._notes
        if got is None or now - got[0] > NOTES_TTL:
            out: dict[int, list[str]] = {}
            for a in self.inv.annotations(self.id):
                if a.frame is not None:
                    out.setdefault(int(a.frame), []).append(a.text)
            got = self._notes = (now, out)
        return got[1]

    def changed(self) -> None:
        """The record or its annotations changed (tags, notes, annotations)."""
        self.record = self.inv.get(self.id)
        self._notes = None

    def _have(self, columns: list[str]) -> bool:
        return all(c in self._cols for c in columns)

    def memo(self, key: Any, make: Callable[[], T]) -> T:
        """``make()`` once per key (concurrent askers wait for the first)."""
        with self._memo_lock:
            if key in self._memo:
                return self._memo[key]  # type: ignore[no-any-return]
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            with self._memo_lock:
                if key in self._memo:
                    return self._memo[key]  # type: ignore[no-any-return]
            value = make()
            with self._memo_lock:
                self._memo[key] = value
            return value

    # -- the local side and filters ---------------------------------------------------

    @property
    def side(self) -> LocalSide:
        def make() -> LocalSide:
            # Columns the file's statistics say are all null are left out (an
            # IPv4 trace need not read 64 MB of empty IPv6 addresses).
            return local_side(self.load([c for c in ADDRESS_COLUMNS if not self._all_null(c)]))

        return self.memo("side", make)

    def _all_null(self, column: str) -> bool:
        """The cache file's statistics say every value of ``column`` is null."""
        pf, starts = self._parquet()
        md = pf.metadata
        try:
            i = pf.schema_arrow.get_field_index(column)
            if i < 0 or i >= md.num_columns:
                return False
            path = md.schema.column(i).path
            if path != column and not path.startswith(column + "."):
                return False   # not one leaf column per field: do not guess
            nulls = 0
            for g in range(md.num_row_groups):
                st = md.row_group(g).column(i).statistics
                if st is None or not st.has_null_count:
                    return False
                nulls += st.null_count
        except (IndexError, KeyError, ValueError):
            return False
        return nulls == int(starts[-1])

    def select(self, text: str | None) -> Selection:
        """The rows display filter ``text`` selects (every row for none);
        :class:`~tracedoc.errors.FilterSyntaxError` for a bad filter."""
        from tracedoc.filter import compile_filter

        t = (text or "").strip()
        with self._memo_lock:
            got = self._selections.get(t)
            if got is not None:
                self._selections.move_to_end(t)
                return got
        if not t:
            sel = Selection("", None, self.rows())
        else:
            flt = compile_filter(t)
            tbl = self.load(list(dict.fromkeys(["frame.number", *flt.columns])))
            mask = np.asarray(flt(tbl), dtype=bool)
            sel = Selection(t, np.flatnonzero(mask).astype(np.int64), tbl.num_rows)
        with self._memo_lock:
            self._selections[t] = sel
            while len(self._selections) > FILTERS_KEPT:
                self._selections.popitem(last=False)
        return sel

    def frame_numbers(self) -> np.ndarray:
        return self.memo("frames", lambda: np.asarray(
            self.load(["frame.number"])["frame.number"].combine_chunks().to_numpy(zero_copy_only=False),
            dtype=np.int64))

    def position_of(self, frame: int) -> int:
        """The row of frame number ``frame``; :class:`NotInTrace` if none."""
        frames = self.frame_numbers()
        i = int(np.searchsorted(frames, frame))
        if i >= len(frames) or frames[i] != frame:
            raise NotInTrace(f"the trace has no frame {frame}")
        return i

    def frame_row(self, frame: int, columns: list[str]) -> dict[str, Any] | None:
        """Frame ``frame``'s values of ``columns`` (None if the table has no such frame)."""
        pos = frame - 1   # frames are numbered from 1 in file order; checked below
        got = self._file_rows(pos, 1, columns) if 0 <= pos < self.rows() else None
        if got is None or got.num_rows != 1 or got["frame.number"][0].as_py() != frame:
            try:
                pos = self.position_of(frame)
            except NotInTrace:
                return None
            got = self._file_rows(pos, 1, columns)
        return got.to_pylist()[0]

    # -- Packet Summary -----------------------------------------------------------------

    def summary_page(self, sel: Selection, offset: int, limit: int) -> pa.Table:
        """Packet Summary rows ``offset .. offset+limit`` of the selection,
        with the timestamps as text (as ``tracedoc summary --format csv``)."""
        from tracedoc.analyze.summary import summary
        from tracedoc.cli.render import timestamp_texts

        side = self.side
        if sel.rows is None and not self._have(SUMMARY_COLUMNS):
            # Unfiltered: the page's rows from the row groups that hold them
            # (tens of ms), never the whole columns (a third of a second for
            # a million packets, which a filter pays once).
            page = self._file_rows(max(0, offset), max(0, limit), SUMMARY_COLUMNS)
        else:
            pos = sel.positions(offset, limit)
            page = self.load(SUMMARY_COLUMNS).take(pa.array(pos, type=pa.int64()))
        rows = summary(page, side)
        i = rows.schema.get_field_index("Timestamp")
        return rows.set_column(i, "Timestamp", timestamp_texts(rows["Timestamp"].combine_chunks(), zone()))

    def offset_of(self, sel: Selection, frame: int) -> int:
        """Where frame ``frame`` (or the first selected frame after it) is in the selection."""
        frames = self.frame_numbers()
        chosen = frames if sel.rows is None else frames[sel.rows]
        return int(np.searchsorted(chosen, frame))

    # -- sessions -----------------------------------------------------------------------

    def sessions_full(self) -> Any:
        """Sessions of the whole trace (what the ladder and IP Summary use)."""
        from tracedoc.analyze.sessions import SESSION_COLUMNS, build_sessions

        def make() -> Any:
            return build_sessions(self.load(list(SESSION_COLUMNS)), self.side)

        return self.memo("sessions", make)

    def sessions(self, sel: Selection) -> Any:
        """The Session Summary: sessions built from the selected packets
        (``tracedoc sessions -Y``), the local side from every packet."""
        from tracedoc.analyze.sessions import SESSION_COLUMNS, build_sessions

        if sel.rows is None:
            return self.sessions_full()

        def make() -> Any:
            tbl = self.load(list(SESSION_COLUMNS)).take(pa.array(sel.rows, type=pa.int64()))
            return build_sessions(tbl, self.side)

        return self.memo(("sessions", sel.text), make)

    def session_of(self, frame: int) -> int:
        """The SID of frame ``frame`` (0 when it is in none)."""
        return int(self.sessions_full().sid[self.position_of(frame)])

    # -- IP Summary ------------------------------------------------------------------------

    def hosts(self, sel: Selection) -> pa.Table:
        """``tracedoc hosts [-Y]``: counts over the selected packets, sessions
        of the whole trace that have a selected packet."""
        from tracedoc.analyze.hosts import COLUMNS, hosts

        def make() -> pa.Table:
            sessions = self.sessions_full()
            tbl = self.load(list(COLUMNS))
            stable = sessions.table
            if sel.rows is not None:
                tbl = tbl.take(pa.array(sel.rows, type=pa.int64()))
                sids = np.unique(sessions.sid[sel.rows])
                stable = stable.filter(pc.is_in(stable["sid"], value_set=pa.array(sids[sids > 0], pa.int64())))
            return hosts(tbl, stable)

        return self.memo(("hosts", sel.text), make)

    def hierarchy(self, sel: Selection) -> pa.Table:
        from tracedoc.analyze.hosts import COLUMNS, protocol_hierarchy

        def make() -> pa.Table:
            tbl = self.load(list(COLUMNS))
            if sel.rows is not None:
                tbl = tbl.take(pa.array(sel.rows, type=pa.int64()))
            return protocol_hierarchy(tbl)

        return self.memo(("hierarchy", sel.text), make)

    # -- Response Time Summary -------------------------------------------------------------

    def transactions(self, sel: Selection) -> pa.Table:
        """Transactions of the whole trace; with a filter, those whose request
        or response frame it selects (``tracedoc response-times -Y``)."""
        from tracedoc.analyze.transactions import COLUMNS, transactions

        full = self.memo("transactions", lambda: transactions(self.load(list(COLUMNS))))
        if sel.rows is None:
            return full

        def make() -> pa.Table:
            frames = pa.array(self.frame_numbers()[sel.rows], pa.int64())
            keep = pc.or_(pc.is_in(full["request_frame"], value_set=frames),
                          pc.fill_null(pc.is_in(full["response_frame"], value_set=frames), False))
            return full.filter(keep)

        return self.memo(("transactions", sel.text), make)

    # -- Exception Report ------------------------------------------------------------------

    def findings(self, sel: Selection) -> list[Any]:
        """``tracedoc diagnose [-Y]`` with the default settings."""
        from tracedoc.analyze.diagnose import Evidence, diagnose, diagnosis_columns
        from tracedoc.analyze.rules import all_rules, settings

        def make() -> list[Any]:
            rules = all_rules()
            conf = settings(rules, [])
            tbl = self.load(diagnosis_columns(rules))
            if sel.rows is not None:
                tbl = tbl.take(pa.array(sel.rows, type=pa.int64()))
            return diagnose(Evidence(tbl, self.side), rules, conf, "info")

        return self.memo(("findings", sel.text), make)

    # -- Sequence of Execution -----------------------------------------------------------------

    def sequence(self, sid: int, sel: Selection, relative: bool = False) -> Any:
        """``tracedoc sequence --session SID [-Y]``."""
        from tracedoc.analyze.sequence import sequence

        sessions = self.sessions_full()
        n = sessions.table.num_rows
        if not 1 <= sid <= n:
            raise NotInTrace(f"no session {sid} (the trace has {n})")
        cols = list(dict.fromkeys(SUMMARY_COLUMNS + ["tcp.seq", "tcp.ack"]))
        select = sessions.sid == sid
        if sel.rows is not None:
            select &= sel.mask()
        count = len(np.unique(sessions.sid[select & (sessions.sid > 0)]))
        return sequence(self.load(cols), self.side, select, relative, count)


class Workbench:
    """The inventory and the :class:`TraceData` of recently used traces."""

    def __init__(self, inventory: Any, keep: int = 3) -> None:
        self.inv = inventory
        self.keep = keep
        self._data: OrderedDict[int, TraceData] = OrderedDict()
        self._data_lock = threading.Lock()

    def data(self, trace_id: int) -> TraceData:
        """KeyError for a trace the inventory does not have."""
        with self._data_lock:
            d = self._data.get(trace_id)
            if d is not None:
                self._data.move_to_end(trace_id)
                return d
        d = TraceData(self.inv, trace_id)
        with self._data_lock:
            self._data[trace_id] = self._data.get(trace_id, d)
            while len(self._data) > self.keep:
                self._data.popitem(last=False)
            return self._data[trace_id]

    def changed(self, trace_id: int) -> None:
        """A trace's record or annotations changed: what is held for it is refreshed."""
        with self._data_lock:
            d = self._data.get(trace_id)
        if d is not None:
            d.changed()

    def recent(self) -> int | None:
        """The trace opened last, if any."""
        with self._data_lock:
            return next(reversed(self._data), None)

    def forget(self, trace_id: int) -> None:
        """Drop what is held for a trace (its file moved or changed)."""
        with self._data_lock:
            self._data.pop(trace_id, None)
