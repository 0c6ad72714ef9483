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

    def feed(self, ctx) -> None:
        """Add this batch's fragments; datagrams they complete go to
        ``ctx.rebuilt`` as (row, IP protocol, payload)."""
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
        ctx.rebuilt.extend(zip(done_rows, done_proto, done_data))

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
