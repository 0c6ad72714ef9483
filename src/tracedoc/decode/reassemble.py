"""IPv4 and IPv6 fragment reassembly, as Wireshark does it by default.

A fragmented datagram's transport header is decoded once the datagram is
whole, and its fields go on the frame whose fragment completed it (tshark's
"Reassembled in" frame); the other fragments carry only their IP fields.
Fragments whose bytes were not all captured cannot be reassembled.  State is
kept across batches; only fragments (rare) are handled one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tracedoc.decode.layer import Layer, Next
from tracedoc.read.batch import FrameBatch

MAX_PENDING = 4096
"""Datagrams waiting for fragments; the oldest is dropped past this."""
MAX_DATAGRAM = 65535 + 8


@dataclass
class _Datagram:
    parts: dict[int, bytes] = field(default_factory=dict)
    total: int | None = None


@dataclass
class FragmentSet:
    """Fragments found in one batch by one IP decoder."""

    idx: np.ndarray
    payload_pos: np.ndarray
    payload_len: np.ndarray
    offset: np.ndarray
    more: np.ndarray
    keys: list[tuple]
    proto: np.ndarray


class Reassembler:
    def __init__(self) -> None:
        self.pending: dict[tuple, _Datagram] = {}

    def feed(self, ctx, batch: FrameBatch) -> None:
        from tracedoc.decode.context import Ctx  # noqa: F401  (type only)
        from tracedoc.decode.table import run

        done_rows: list[int] = []
        done_proto: list[int] = []
        done_data: list[bytes] = []
        for fs in ctx.fragments:
            have = fs.payload_pos + fs.payload_len <= ctx.end[fs.idx]
            for j in range(len(fs.idx)):
                if not have[j] or fs.payload_len[j] < 0:
                    continue
                key = fs.keys[j]
                dg = self.pending.get(key)
                if dg is None:
                    if len(self.pending) >= MAX_PENDING:
                        self.pending.pop(next(iter(self.pending)))
                    dg = self.pending[key] = _Datagram()
                off = int(fs.offset[j])
                p = int(fs.payload_pos[j])
                dg.parts[off] = ctx.data[p:p + int(fs.payload_len[j])].tobytes()
                if not fs.more[j]:
                    dg.total = off + int(fs.payload_len[j])
                whole = self._whole(dg)
                if whole is not None:
                    del self.pending[key]
                    done_rows.append(int(fs.idx[j]))
                    done_proto.append(int(fs.proto[j]))
                    done_data.append(whole)
        if done_rows:
            self._decode(ctx, run, done_rows, done_proto, done_data)

    @staticmethod
    def _whole(dg: _Datagram) -> bytes | None:
        if dg.total is None or dg.total > MAX_DATAGRAM:
            return None
        out = bytearray(dg.total)
        covered = 0
        for off in sorted(dg.parts):
            if off > covered:
                return None
            chunk = dg.parts[off]
            out[off:off + len(chunk)] = chunk[:max(0, dg.total - off)]
            covered = max(covered, off + len(chunk))
        return bytes(out) if covered >= dg.total else None

    @staticmethod
    def _decode(ctx, run, rows: list[int], protos: list[int], datas: list[bytes]) -> None:
        from tracedoc.decode.context import Ctx

        lens = np.array([len(d) for d in datas], dtype=np.int64)
        offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
        m = len(rows)
        buf = b"".join(datas) or b"\x00"
        sub = FrameBatch(
            data=np.frombuffer(buf, dtype=np.uint8), offset=offs, caplen=lens, origlen=lens,
            ts_ns=np.zeros(m, np.int64), linktype=np.zeros(m, np.int32),
            interface_id=np.full(m, -1, np.int32), record_offset=np.zeros(m, np.int64), first_number=1)
        sctx = Ctx(sub)
        sub_rows = np.arange(m, dtype=np.int64)
        run(sctx, [Next("ipproto", np.array(protos, dtype=np.uint32), Layer(sub_rows, offs.copy(), lens.copy(), "", 1))])
        real = np.array(rows, dtype=np.int64)
        sc = sctx.cols
        for name, f in sc.fields.items():
            if name.endswith("payload_offset"):
                continue  # positions inside the rebuilt datagram, not the frame
            prefix = name[: len(name) - len(f.name)]
            if name in sc.objects:
                vals = sc.objects[name]
                have = [i for i, v in enumerate(vals) if v is not None]
                ctx.cols.put(f, real[have], [vals[i] for i in have], prefix)
            else:
                v = sc.valid[name]
                ctx.cols.put(f, real[v], sc.values[name][v], prefix)
