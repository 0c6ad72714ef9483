"""Decode frame batches into the packet table (Arrow)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa

from tracedoc.decode import app as app_module
from tracedoc.decode import frame, innermost, zos_discard
from tracedoc.decode.app import AppDecoder
from tracedoc.decode.context import Ctx, Payloads
from tracedoc.decode.dispatch import APP_PROTOCOLS, INNER_PROTOCOLS, MAX_DEPTH, PROTOCOLS, TABLES
from tracedoc.decode.fields import INNER_PREFIX, Field
from tracedoc.decode.layer import Layer, Next
from tracedoc.decode.reassemble import Reassembler
from tracedoc.read.batch import FrameBatch


def all_fields() -> dict[str, Field]:
    """Every column of the packet table, by name, in table order."""
    out: dict[str, Field] = {f.name: f for f in frame.FIELDS}
    for mod in PROTOCOLS:
        for f in mod.FIELDS:
            out[f.name] = f
    for mod in INNER_PROTOCOLS:
        for f in mod.FIELDS:
            out[INNER_PREFIX + f.name] = f
    for mod in APP_PROTOCOLS:
        for f in mod.FIELDS:
            out[f.name] = f
    return out


APP_COLUMNS = frozenset(f.name for mod in APP_PROTOCOLS for f in mod.FIELDS)
"""Columns only the application pass fills; it runs when a view asks for one."""


FIELDS = all_fields()
SCHEMA = pa.schema([pa.field(name, f.arrow_type, metadata={"type": f.type, "desc": f.desc})
                    for name, f in FIELDS.items()])


def run(ctx: Ctx, pending: list[Next]) -> None:
    """Hand packets from decoder to decoder until none is left."""
    while pending:
        nx = pending.pop()
        table = TABLES[nx.table]
        ly = nx.layer
        if len(ly.idx) == 0 or ly.depth > MAX_DEPTH:
            continue
        keys = nx.key
        uniq = np.unique(keys)
        for k in uniq.tolist():
            fn = table.get(int(k))
            if fn is None:
                continue
            part = ly if len(uniq) == 1 else ly.take(keys == k)
            pending.extend(fn(ctx, part))


MAX_REBUILD_ROUNDS = 4

INNERMOST = {f.name for f in innermost.FIELDS}


def decode_rebuilt(ctx: Ctx) -> None:
    """Decode payloads rebuilt from other bytes (reassembled datagrams,
    decompressed IPComp) and put their fields on the rows they belong to.
    A rebuilt payload may itself yield another (IPComp inside a reassembled
    datagram), hence the rounds."""
    for _ in range(MAX_REBUILD_ROUNDS):
        if not ctx.rebuilt:
            return
        items, ctx.rebuilt = ctx.rebuilt, []
        rows = np.array([r for r, _, _ in items], dtype=np.int64)
        protos = np.array([p for _, p, _ in items], dtype=np.uint32)
        datas = [d for _, _, d in items]
        lens = np.array([len(d) for d in datas], dtype=np.int64)
        offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
        m = len(items)
        sub = FrameBatch(
            data=np.frombuffer(b"".join(datas) or b"\x00", dtype=np.uint8), offset=offs, caplen=lens,
            origlen=lens, ts_ns=np.zeros(m, np.int64), linktype=np.zeros(m, np.int32),
            interface_id=np.full(m, -1, np.int32), record_offset=np.zeros(m, np.int64), first_number=1)
        sctx = Ctx(sub)
        # The datagram was carried by an IP header of its row: an IP header
        # inside it makes the row tunnelled, and a row already tunnelled has
        # its innermost transport in it.
        sctx.inside_ip = np.ones(m, dtype=bool)
        tunnelled = ctx.cols.valid.get(innermost.SRC.name)
        sctx.inside_tunnel = tunnelled[rows] if tunnelled is not None else np.zeros(m, dtype=bool)
        if ctx.payloads is not None:
            sctx.payloads = Payloads()
        run(sctx, [Next("ipproto", protos, Layer(np.arange(m, dtype=np.int64), offs.copy(), lens.copy(), "", 1))])
        sc = sctx.cols
        for name, f in sc.fields.items():
            if name.endswith("payload_offset"):
                continue  # positions inside the rebuilt payload, not the frame
            prefix = name[: len(name) - len(f.name)]
            if name in sc.objects:
                vals = sc.objects[name]
                have = [i for i, v in enumerate(vals) if v is not None]
                ctx.cols.put(f, rows[have], [vals[i] for i in have], prefix)
            elif name in INNERMOST:
                v = sc.valid[name]
                ctx.cols.put_last(f, rows[v], sc.values[name][v])  # deeper than the row's own
            else:
                v = sc.valid[name]
                ctx.cols.put(f, rows[v], sc.values[name][v], prefix)
        ctx.rebuilt = [(int(rows[r]), p, d) for r, p, d in sctx.rebuilt]
        if sctx.payloads is not None and ctx.payloads is not None:
            _rebuilt_payloads(sctx, rows, ctx.payloads)


def _rebuilt_payloads(sctx: Ctx, rows: np.ndarray, out: Payloads) -> None:
    """Payloads found in rebuilt datagrams, as bytes credited to their rows."""
    data = sctx.data
    pl = sctx.payloads
    assert pl is not None
    for r, p, n, sp, dp, _ in pl.udp:
        for a, b, c, d, e in zip(r.tolist(), p.tolist(), n.tolist(), sp.tolist(), dp.tolist()):
            out.rebuilt_udp.append((int(rows[a]), data[b:b + c].tobytes(), d, e))
    for r, p, cap, sl, seq, fl, sp, dp in pl.tcp:
        for a, b, c, n, q, f, s_, d_ in zip(r.tolist(), p.tolist(), cap.tolist(), sl.tolist(), seq.tolist(),
                                            fl.tolist(), sp.tolist(), dp.tolist()):
            out.rebuilt_tcp.append((int(rows[a]), data[b:b + c].tobytes(), s_, d_, q, f, n))
    out.rebuilt_udp.extend((int(rows[a]), b, c, d) for a, b, c, d in pl.rebuilt_udp)
    out.rebuilt_tcp.extend((int(rows[a]), b, c, d, e, f, g) for a, b, c, d, e, f, g in pl.rebuilt_tcp)


DISCARD_DERIVED = {"ctrace.discard_name": "name", "ctrace.discard_category": "category"}


def discard_text(codes: pa.Array, attr: str) -> pa.Array:
    """Name or category of each CTRACE discard code (null where none)."""
    return pa.array([None if c is None else getattr(zos_discard.lookup(c), attr) for c in codes.to_pylist()],
                    type=pa.string())


_NULLS: dict[pa.DataType, pa.Array] = {}


def nulls(n: int, typ: pa.DataType) -> pa.Array:
    """An all-null column: a slice of one shared array (no allocation)."""
    arr = _NULLS.get(typ)
    if arr is None or len(arr) < n:
        arr = _NULLS[typ] = pa.nulls(max(n, 1 << 18), type=typ)
    return arr.slice(0, n)


class Decoder:
    """Decodes the batches of one trace in order (IP reassembly keeps state
    across batches).

    ``columns`` limits the table to those columns (in that order); the
    default is every column of :data:`SCHEMA`.  The application pass runs
    only when one of the columns is an application column.
    ``detail_frames`` are frame numbers whose Packet Details trees the
    application pass keeps (``self.app.trees``).  ``skip_opaque``: the
    application pass stops at the sealed rest of a conversation (see
    :class:`~tracedoc.decode.app.AppDecoder`).
    """

    def __init__(self, columns: list[str] | None = None, detail_frames: set[int] | None = None,
                 skip_opaque: bool = False) -> None:
        self.reassembler = Reassembler()
        if columns is None:
            self.schema = SCHEMA
        else:
            unknown = [c for c in columns if c not in FIELDS]
            if unknown:
                raise KeyError(f"unknown columns: {unknown}")
            self.schema = pa.schema([SCHEMA.field(c) for c in dict.fromkeys(columns)])
        names = frozenset(self.schema.names)
        wants_apps = columns is None or not APP_COLUMNS.isdisjoint(names)
        # Which protocol a frame shows, and its message, need every protocol decoded.
        every = columns is None or not names.isdisjoint(f.name for f in app_module.FIELDS)
        self.app: AppDecoder | None = AppDecoder(detail_frames, None if every else names, skip_opaque) \
            if wants_apps else None

    def decode(self, batch: FrameBatch) -> pa.RecordBatch:
        ctx = Ctx(batch)
        if self.app is not None:
            ctx.payloads = Payloads()
        n = len(batch)
        rows = np.arange(n, dtype=np.int64)
        run(ctx, [Next("linktype", batch.linktype.astype(np.uint32), Layer(rows, batch.offset.copy()))])
        self.reassembler.feed(ctx)
        if ctx.rebuilt:
            decode_rebuilt(ctx)
        if self.app is not None and ctx.payloads is not None:
            self.app.decode(ctx, ctx.payloads)
        return self._assemble(ctx, batch)

    def _assemble(self, ctx: Ctx, batch: FrameBatch) -> pa.RecordBatch:
        n = len(batch)
        cols = ctx.cols
        arrays: list[pa.Array] = []
        for name in self.schema.names:
            f = FIELDS[name]
            if name in cols.fields:
                arrays.append(cols.arrow(name))
            elif name == "frame.number":
                arrays.append(pa.array(np.arange(batch.first_number, batch.first_number + n, dtype=np.uint64)))
            elif name == "frame.time_epoch":
                arrays.append(pa.array(batch.ts_ns, type=pa.int64()))
            elif name == "frame.len":
                arrays.append(pa.array(batch.origlen.astype(np.uint32)))
            elif name == "frame.cap_len":
                arrays.append(pa.array(batch.caplen.astype(np.uint32)))
            elif name == "frame.interface_id":
                iid = batch.interface_id
                arrays.append(pa.array(iid.astype(np.uint32), mask=iid < 0))
            elif name == "frame.linktype":
                arrays.append(pa.array(batch.linktype.astype(np.uint32)))
            elif name == "frame.offset":
                arrays.append(pa.array(batch.record_offset.astype(np.uint64)))
            elif name in batch.meta:
                arrays.append(batch.meta[name].cast(f.arrow_type))
            elif name in DISCARD_DERIVED and "ctrace.discard" in batch.meta:
                arrays.append(discard_text(batch.meta["ctrace.discard"], DISCARD_DERIVED[name]))
            elif name == "_ws.malformed":
                arrays.append(cols.anomaly_strings(ctx.start))
            else:
                arrays.append(nulls(n, f.arrow_type))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def decode_batches(batches: Iterable[FrameBatch]) -> Iterator[pa.RecordBatch]:
    dec = Decoder()
    for b in batches:
        yield dec.decode(b)
