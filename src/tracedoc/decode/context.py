"""Vectorised byte access and the column store one batch is decoded into.

Decoders see a batch as ``data`` (uint8) plus, for the packets they were
handed, index arrays ``idx`` (row numbers in the batch) and ``pos`` (byte
position of their header in ``data``).  Reads are gathers over all those
packets at once; a read past a packet's captured end yields a false ``ok``
mask instead of touching other packets' bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field

import numpy as np
import pyarrow as pa

from tracedoc.decode.fields import Field
from tracedoc.read.batch import FrameBatch


class Columns:
    """Per-batch column arrays, first occurrence wins (as tshark's first value)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.values: dict[str, np.ndarray] = {}
        self.valid: dict[str, np.ndarray] = {}
        self.objects: dict[str, list[object]] = {}
        self.fields: dict[str, Field] = {}
        # anomaly: first per packet: layer, offset and reason code index
        self.anom_set = np.zeros(n, dtype=bool)
        self.anom_layer = np.zeros(n, dtype=np.int16)
        self.anom_offset = np.zeros(n, dtype=np.int64)
        self.anom_reason = np.zeros(n, dtype=np.int16)
        self._anom_names: list[str] = []
        self._anom_index: dict[str, int] = {}

    def put(self, f: Field, idx: np.ndarray, values: np.ndarray | list, prefix: str = "") -> None:
        """Set field ``f`` for rows ``idx`` that do not have it yet (``values``
        is a list for object-typed fields: bytes, strings)."""
        if len(idx) == 0:
            return
        name = prefix + f.name
        if name not in self.values:
            dtype = None if f.multi else _NP_TYPES.get(f.type)
            if dtype is None:
                self.objects.setdefault(name, [None] * self.n)
                self.fields[name] = f
            else:
                self.values[name] = np.zeros(self.n if f.type != "ipv6" else (self.n, 16), dtype=dtype)
                self.valid[name] = np.zeros(self.n, dtype=bool)
                self.fields[name] = f
        if name in self.objects:
            obj = self.objects[name]
            for i, v in zip(idx.tolist(), values):
                if obj[i] is None:
                    obj[i] = v
            return
        valid = self.valid[name]
        fresh = ~valid[idx]
        if not fresh.all():
            idx = idx[fresh]
            values = values[fresh]
        self.values[name][idx] = values
        valid[idx] = True

    def put_last(self, f: Field, idx: np.ndarray, values: np.ndarray) -> None:
        """Set fixed-size field ``f`` for rows ``idx``, over any value they
        have: the last occurrence wins (the innermost header of a tunnel)."""
        if len(idx) == 0:
            return
        name = f.name
        if name not in self.values:
            dtype = _NP_TYPES[f.type]
            self.values[name] = np.zeros(self.n if f.type != "ipv6" else (self.n, 16), dtype=dtype)
            self.valid[name] = np.zeros(self.n, dtype=bool)
            self.fields[name] = f
        self.values[name][idx] = values
        self.valid[name][idx] = True

    def anomaly(self, idx: np.ndarray, layer: str, offset: np.ndarray, reason: str) -> None:
        """Record a malformed-header anomaly (first per packet is kept)."""
        if len(idx) == 0:
            return
        key = f"{layer}\x00{reason}"
        code = self._anom_index.get(key)
        if code is None:
            code = len(self._anom_names)
            self._anom_names.append(key)
            self._anom_index[key] = code
        fresh = ~self.anom_set[idx]
        idx = idx[fresh]
        self.anom_set[idx] = True
        self.anom_reason[idx] = code
        self.anom_offset[idx] = np.broadcast_to(offset, fresh.shape)[fresh]

    def anomaly_strings(self, frame_start: np.ndarray) -> pa.Array:
        out: list[str | None] = [None] * self.n
        for i in np.flatnonzero(self.anom_set).tolist():
            layer, reason = self._anom_names[self.anom_reason[i]].split("\x00", 1)
            out[i] = f"{layer}: {reason} (offset {int(self.anom_offset[i] - frame_start[i])})"
        return pa.array(out, type=pa.string())

    def arrow(self, name: str) -> pa.Array:
        f = self.fields[name]
        if name in self.objects:
            return pa.array(self.objects[name], type=f.arrow_type)
        vals = self.values[name]
        mask = ~self.valid[name]
        if f.type == "ipv6":
            return pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(16), self.n, [pa.py_buffer(_mask_bits(mask)), pa.py_buffer(vals.tobytes())])
        return pa.array(vals, type=f.arrow_type, mask=mask)


def _mask_bits(mask: np.ndarray) -> bytes:
    """Arrow validity bitmap (1 = valid) from a numpy 'is null' mask."""
    return np.packbits(~mask, bitorder="little").tobytes()


_NP_TYPES: dict[str, type] = {
    "u8": np.uint8, "u16": np.uint16, "u32": np.uint32, "u64": np.uint64, "i64": np.int64,
    "bool": np.bool_, "ether": np.uint64, "ipv4": np.uint32, "ipv6": np.uint8, "time": np.int64,
}


@dataclass
class Payloads:
    """Transport payloads of one batch, collected while L2-L4 decode runs,
    for the application pass (:mod:`tracedoc.decode.app`)."""

    udp: list[tuple] = dc_field(default_factory=list)
    """(rows, payload pos, captured payload len, srcport, dstport, payload len the UDP header states) arrays."""
    tcp: list[tuple] = dc_field(default_factory=list)
    """(rows, payload pos, captured len, segment len, seq, flags, srcport, dstport) arrays."""
    quoted_udp: list[tuple] = dc_field(default_factory=list)
    """Like ``udp``, for datagrams quoted inside ICMP errors."""
    rebuilt_udp: list[tuple[int, bytes, int, int]] = dc_field(default_factory=list)
    """(row, payload, srcport, dstport) of datagrams rebuilt from fragments."""
    rebuilt_tcp: list[tuple[int, bytes, int, int, int, int, int]] = dc_field(default_factory=list)
    """(row, payload, srcport, dstport, seq, flags, segment len)."""


class Ctx:
    """One batch being decoded."""

    def __init__(self, batch: FrameBatch) -> None:
        self.batch = batch
        self.data = batch.data
        self.last = len(batch.data) - 1
        self.n = len(batch)
        self.start = batch.offset
        self.end = batch.offset + batch.caplen
        # On-the-wire end (for fields computed from lengths, not bytes); an
        # enclosing header that bounds its payload (PPPoE) lowers both.
        self.wire_end = batch.offset + np.maximum(batch.origlen, batch.caplen)
        self.cols = Columns(self.n)
        self.fragments: list = []  # FragmentSet from the IP decoders, for reassembly
        # (row, IP protocol, bytes): payloads rebuilt from other bytes (a
        # reassembled datagram, a decompressed IPComp payload), decoded after
        # the batch and credited to that row.
        self.rebuilt: list[tuple[int, int, bytes]] = []
        # Transport payloads for the application pass (None: no view asked
        # for application columns, so none are collected).
        self.payloads: Payloads | None = None
        # Rows of a datagram rebuilt from fragments: already inside an IP
        # header (``inside_ip``), and inside a tunnel (``inside_tunnel``)
        # when the frame's own headers made it tunnelled (see innermost.py).
        self.inside_ip: np.ndarray | None = None
        self.inside_tunnel: np.ndarray | None = None

    # -- gathers ---------------------------------------------------------
    def have(self, idx: np.ndarray, pos: np.ndarray, nbytes: int | np.ndarray) -> np.ndarray:
        """Mask: ``nbytes`` at ``pos`` lie inside the captured packet."""
        return pos + nbytes <= self.end[idx]

    def u8(self, pos: np.ndarray) -> np.ndarray:
        return self.data[np.minimum(pos, self.last)]

    def u16(self, pos: np.ndarray) -> np.ndarray:
        d = self.data
        p = np.minimum(pos, self.last - 1)
        return (d[p].astype(np.uint16) << 8) | d[p + 1]

    def u16le(self, pos: np.ndarray) -> np.ndarray:
        d = self.data
        p = np.minimum(pos, self.last - 1)
        return (d[p + 1].astype(np.uint16) << 8) | d[p]

    def u32(self, pos: np.ndarray) -> np.ndarray:
        d = self.data
        p = np.minimum(pos, self.last - 3)
        return ((d[p].astype(np.uint32) << 24) | (d[p + 1].astype(np.uint32) << 16)
                | (d[p + 2].astype(np.uint32) << 8) | d[p + 3])

    def u32le(self, pos: np.ndarray) -> np.ndarray:
        d = self.data
        p = np.minimum(pos, self.last - 3)
        return ((d[p + 3].astype(np.uint32) << 24) | (d[p + 2].astype(np.uint32) << 16)
                | (d[p + 1].astype(np.uint32) << 8) | d[p])

    def mac(self, pos: np.ndarray) -> np.ndarray:
        d = self.data
        p = np.minimum(pos, self.last - 5)
        v = np.zeros(len(p), dtype=np.uint64)
        for k in range(6):
            v = (v << np.uint64(8)) | d[p + k].astype(np.uint64)
        return v

    def bytes16(self, pos: np.ndarray) -> np.ndarray:
        p = np.minimum(pos, self.last - 15)
        return self.data[p[:, None] + np.arange(16)]

    def put(self, f: Field, idx: np.ndarray, values: np.ndarray | list, prefix: str = "") -> None:
        self.cols.put(f, idx, values, prefix)


def sel(mask: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Keep the elements of each array where ``mask`` is true."""
    return tuple(a[mask] for a in arrays)
