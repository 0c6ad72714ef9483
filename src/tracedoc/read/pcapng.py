"""pcapng files (IETF draft-ietf-opsawg-pcapng), read as a stream.

Behaviour follows Wireshark's ``wiretap/pcapng.c`` (tshark 4.0 is the oracle
of the tests):

* Every Section Header Block sets the byte order of its section and starts a
  new, empty interface table; versions 1.0 and 1.2 are accepted, others are
  refused (``unknown SHB version``).
* Packets come from Enhanced, Simple and (obsolete) Packet Blocks.  A frame's
  ``interface_id`` is the interface's index *within its section*, as tshark's
  ``frame.interface_id``.  An SPB uses interface 0; its captured length is
  ``min(original length, snaplen (0 = none), data in the block)``.  An SPB has
  no time stamp: its ``ts_ns`` is 0, as Wireshark's record time is.
* Time stamps are exact integers: ``units = 10**n`` or ``2**n`` per
  ``if_tsresol``; seconds are ``ts // units`` plus ``if_tsoffset``,
  nanoseconds ``(ts % units) * 10**9 // units`` (truncated, as Wireshark
  does; Wireshark 4.0's 64-bit product overflows for resolutions finer than
  2**-32 or 10**-10, current Wireshark and tracedoc do not).
* A block total length that is not a multiple of 4 is rounded up, as
  Wireshark does (some writers leave the padding out of it); a warning says
  so.  Lengths over Wireshark's ``MAX_BLOCK_SIZE`` are damage and are never
  allocated.
* Per-packet options become ``FrameBatch.meta`` columns ``frame.comment``
  (opt_comment; several are joined with "\\n"), ``frame.packet_flags``
  (epb_flags / pack_flags) and ``frame.drop_count`` (epb_dropcount, or the
  PB's drops_count unless 0xFFFF).  Options are parsed only for blocks that
  have some.
* ISB options go to ``InterfaceInfo.stats`` (the latest value of each);
  ``isb_starttime``/``isb_endtime``/``timestamp`` become ns since the epoch.
* ``if_fcslen`` is in bits in pcapng; ``InterfaceInfo.fcs_len`` is in bytes
  (as the pcap reader's), so a multiple of 8 is divided by 8; other values are
  kept as written.

Faults stop the read: every whole block before the fault is yielded, then
one error naming the offset goes to ``info.errors``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from tracedoc.read.batch import FrameBatch
from tracedoc.read.info import InterfaceInfo, TraceInfo
from tracedoc.read.linktypes import DLT_TO_LINKTYPE, is_known, linktype_name, max_caplen
from tracedoc.read.source import ChunkReader

SHB = b"\x0a\x0d\x0d\x0a"

BT_SHB = 0x0A0D0D0A
BT_IDB = 0x00000001
BT_PB = 0x00000002
BT_SPB = 0x00000003
BT_NRB = 0x00000004
BT_ISB = 0x00000005
BT_EPB = 0x00000006
BT_DSB = 0x0000000A
BT_CB_COPY = 0x00000BAD
BT_CB_NOCOPY = 0x40000BAD

BLOCK_NAMES = {
    BT_SHB: "SHB", BT_IDB: "IDB", BT_PB: "PB", BT_SPB: "SPB", BT_NRB: "NRB",
    BT_ISB: "ISB", BT_EPB: "EPB", BT_DSB: "DSB", BT_CB_COPY: "custom", BT_CB_NOCOPY: "custom",
}

# Minimum total length of each block type (header + fixed part + trailer).
MIN_LENGTH = {
    BT_SHB: 28, BT_IDB: 20, BT_PB: 32, BT_SPB: 16, BT_NRB: 16, BT_ISB: 24,
    BT_EPB: 32, BT_DSB: 20, BT_CB_COPY: 16, BT_CB_NOCOPY: 16,
}
MIN_BLOCK = 12
_PACKET_MIN = {BT_EPB: 32, BT_SPB: 16, BT_PB: 32}

# Wireshark's MAX_BLOCK_SIZE: an EPB with a maximum-size D-Bus packet and
# 128 KiB of options.
MAX_BLOCK_SIZE = 32 + 128 * 1024 * 1024 + 131072

MAX_BATCH_RECORDS = 1 << 18

BOM_LITTLE = b"\x4d\x3c\x2b\x1a"
BOM_BIG = b"\x1a\x2b\x3c\x4d"

# Option codes
OPT_ENDOFOPT = 0
OPT_COMMENT = 1
OPT_CUSTOM = (2988, 2989, 19372, 19373)
IF_NAME, IF_DESCRIPTION, IF_FILTER, IF_TSRESOL, IF_FCSLEN, IF_TSOFFSET = 2, 3, 11, 9, 13, 14
EPB_FLAGS, EPB_HASH, EPB_DROPCOUNT, EPB_PACKETID, EPB_QUEUE, EPB_VERDICT = 2, 3, 4, 5, 6, 7
ISB_OPTIONS = {2: "isb_starttime", 3: "isb_endtime", 4: "isb_ifrecv", 5: "isb_ifdrop",
               6: "isb_filteraccept", 7: "isb_osdrop", 8: "isb_usrdeliv"}

META_KEYS = ("frame.comment", "frame.packet_flags", "frame.drop_count")

# ts_ns range: seconds that fit in int64 nanoseconds.
_MAX_SECS = (2**63 - 1) // 1_000_000_000 - 1
_MIN_SECS = -(2**63) // 1_000_000_000 + 1
_CLAMP = 1 << 40

_U32 = {e: struct.Struct(e + "I") for e in "<>"}
_HDR = {e: struct.Struct(e + "II") for e in "<>"}
_OPT = {e: struct.Struct(e + "HH") for e in "<>"}


def sniff(head: bytes) -> bool:
    return head[:4] == SHB


def block_name(bt: int) -> str:
    return BLOCK_NAMES.get(bt, "unknown")


class _Damage(Exception):
    """Internal: a fault inside a block (never escapes the reader)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass
class _Iface:
    linktype: int
    snaplen: int
    limit: int
    binary: bool
    exp: int
    tsoffset: int
    info: InterfaceInfo


def _walk(buf: bytes, pos: int, end: int, endian: str, max_records: int) -> tuple[list[int], int]:
    """Walk consecutive packet blocks (EPB, SPB, PB) from ``pos``.

    The one sequential loop of the reader: each header gives the position of
    the next block.  Stops at the first block that is not a packet block, is
    not whole in ``buf``, or whose length is not plausible (the caller looks
    at that block again and says why).
    """
    unpack = _HDR[endian].unpack_from
    pmin = _PACKET_MIN.get
    maxb = MAX_BLOCK_SIZE
    starts: list[int] = []
    append = starts.append
    n = 0
    while n < max_records and pos + 12 <= end:
        bt, bl = unpack(buf, pos)
        m = pmin(bt)
        padded = (bl + 3) & ~3
        if m is None or padded < m or padded > maxb:
            break
        nxt = pos + padded
        if nxt > end:
            break
        append(pos)
        pos = nxt
        n += 1
    return starts, pos


def _split_ts(ts: np.ndarray, binary: bool, exp: int) -> tuple[np.ndarray, np.ndarray]:
    """uint64 ticks -> (uint64 seconds, int64 nanoseconds), exact, truncated."""
    ts = ts.astype(np.uint64, copy=False)
    one_e9 = np.uint64(1_000_000_000)
    if not binary:
        if exp <= 9:
            units = np.uint64(10**exp)
            return ts // units, ((ts % units) * np.uint64(10 ** (9 - exp))).astype(np.int64)
        if exp <= 19:
            units = np.uint64(10**exp)
            return ts // units, ((ts % units) // np.uint64(10 ** (exp - 9))).astype(np.int64)
        # units > 2**64: every tick count is a fraction of a second.
        secs = np.zeros(len(ts), dtype=np.uint64)
        if exp - 9 <= 19:
            return secs, (ts // np.uint64(10 ** (exp - 9))).astype(np.int64)
        return secs, np.zeros(len(ts), dtype=np.int64)
    if exp <= 63:
        secs = ts >> np.uint64(exp)
        frac = ts & np.uint64((1 << exp) - 1)
    else:
        secs = np.zeros(len(ts), dtype=np.uint64)
        frac = ts
    if exp <= 34:
        # frac < 2**34, so frac * 10**9 < 2**64.
        return secs, ((frac * one_e9) >> np.uint64(exp)).astype(np.int64)
    lo = (frac & np.uint64(0xFFFFFFFF)) * one_e9
    hi = (frac >> np.uint64(32)) * one_e9 + (lo >> np.uint64(32))
    shift = exp - 32
    if shift >= 64:
        return secs, np.zeros(len(ts), dtype=np.int64)
    return secs, (hi >> np.uint64(shift)).astype(np.int64)


def ticks_to_ns(ts: int, binary: bool, exp: int, tsoffset: int = 0) -> int:
    """The exact (Python int) conversion ``_split_ts`` vectorises."""
    units = (1 << exp) if binary else 10**exp
    secs, frac = divmod(ts, units)
    return (secs + tsoffset) * 1_000_000_000 + frac * 1_000_000_000 // units


def _decode_str(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


class _Acc:
    """Per-record columns of the batch being assembled (one window)."""

    def __init__(self) -> None:
        self.n = 0
        self.parts: list[dict[str, np.ndarray]] = []
        self.comments: list[tuple[int, str]] = []

    def add(self, cols: dict[str, np.ndarray], comments: list[tuple[int, str]]) -> None:
        n0 = self.n
        self.parts.append(cols)
        self.comments.extend((n0 + i, s) for i, s in comments)
        self.n += len(cols["offset"])

    def make(self, buf: bytes, number: int) -> FrameBatch:
        def cat(k: str) -> np.ndarray:
            if len(self.parts) == 1:
                return self.parts[0][k]
            return np.concatenate([p[k] for p in self.parts])

        n = self.n
        if self.comments:
            comments: list[str | None] = [None] * n
            for i, s in self.comments:
                comments[i] = s
            comment_arr = pa.array(comments, type=pa.string())
        else:
            comment_arr = pa.nulls(n, type=pa.string())
        flags = cat("flags")
        flags_ok = cat("flags_ok")
        drops = cat("drops")
        drops_ok = cat("drops_ok")
        meta = {
            "frame.comment": comment_arr,
            "frame.packet_flags": pa.array(flags, type=pa.uint32(), mask=~flags_ok),
            "frame.drop_count": pa.array(drops, type=pa.uint64(), mask=~drops_ok),
        }
        return FrameBatch(
            data=np.frombuffer(buf, dtype=np.uint8),
            offset=cat("offset"),
            caplen=cat("caplen"),
            origlen=cat("origlen"),
            ts_ns=cat("ts_ns"),
            linktype=cat("linktype"),
            interface_id=cat("interface_id"),
            record_offset=cat("record_offset"),
            first_number=number,
            meta=meta,
        )


class PcapngReader:
    def __init__(self, chunks: ChunkReader, info: TraceInfo) -> None:
        self.chunks = chunks
        self.info = info
        info.format = "pcapng"
        self.endian = "<"
        self.section = -1
        self.ifaces: list[_Iface] = []
        self._tables: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._warned: set[str] = set()
        self.ok = self._first_section()

    # ------------------------------------------------------------------ setup

    def _first_section(self) -> bool:
        c = self.chunks
        info = self.info
        c.fill(MIN_LENGTH[BT_SHB])
        while True:
            kind, a, b, e = self._classify(c.buf, 0, len(c.buf), c.base)
            if kind == "fault":
                info.fail(a, b)
                return False
            if kind == "need":
                if c.fill(a):
                    continue
                if c.stream_error is not None:
                    info.errors.append(c.stream_error)
                else:
                    self._fail_truncated()
                return False
            break
        bt, bl, padded = a
        try:
            self._block(c.buf, 0, c.base, bt, bl, padded, e)
        except _Damage as d:
            info.fail(d.message, d.offset)
            return False
        c.advance(padded)
        return True

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.info.warnings.append(message)

    # ------------------------------------------------------------- block walk

    def _classify(self, buf: bytes, pos: int, end: int,
                  base: int) -> tuple[str, Any, int, str]:
        """Look at the block at ``pos``: ("need", n, 0, "") when fewer than
        ``n`` bytes from ``pos`` are in the window, ("fault", message,
        offset, "") when its header is damaged, else ("block", (type,
        length, padded length), 0, byte order of the block)."""
        left = end - pos
        off = base + pos
        if left < 8:
            return "need", 8, 0, ""
        e = self.endian
        bt = _U32[e].unpack_from(buf, pos)[0]
        if bt == BT_SHB:
            if left < 12:
                return "need", 12, 0, ""
            bom = buf[pos + 8:pos + 12]
            if bom == BOM_LITTLE:
                e = "<"
            elif bom == BOM_BIG:
                e = ">"
            else:
                return ("fault", f"SHB at offset {off}: unknown byte-order magic 0x{bom.hex()}",
                        off + 8, "")
        bl = _U32[e].unpack_from(buf, pos + 4)[0]
        name = block_name(bt)
        if bl < MIN_BLOCK:
            return ("fault", f"block at offset {off} ({name}): total length {bl} is less than "
                    f"the minimum block size {MIN_BLOCK}", off, "")
        padded = (bl + 3) & ~3
        if padded > MAX_BLOCK_SIZE:
            return ("fault", f"block at offset {off} ({name}): total length {bl} is too large "
                    f"(> {MAX_BLOCK_SIZE})", off, "")
        m = MIN_LENGTH.get(bt, MIN_BLOCK)
        if padded < m:
            return ("fault", f"{name} at offset {off}: total length {bl} is less than the "
                    f"minimum {name} size {m}", off, "")
        if bl & 3:
            self._warn("unaligned", f"block at offset {off} ({name}): total length {bl} is not a "
                       f"multiple of 4; rounded up to {padded}, as Wireshark does")
        if left < padded:
            return "need", padded, 0, ""
        return "block", (bt, bl, padded), 0, e

    def _fail_truncated(self) -> None:
        """The stream ended inside the block at the start of the window."""
        c = self.chunks
        buf = c.buf
        left = len(buf)
        off = c.base
        if left < 8:
            self.info.fail(f"truncated block header at offset {off}: {left} of 8 bytes", off)
            return
        e = self.endian
        bt = _U32[e].unpack_from(buf, 0)[0]
        name = block_name(bt)
        if bt == BT_SHB:
            bom = buf[8:12]
            if len(bom) < 4:
                self.info.fail(f"truncated block at offset {off} (SHB): {left} bytes left, at "
                               f"least {MIN_LENGTH[BT_SHB]} needed", off)
                return
            e = "<" if bom == BOM_LITTLE else ">"
        bl = _U32[e].unpack_from(buf, 4)[0]
        self.info.fail(f"truncated block at offset {off}: header says {bl} bytes, {left} left "
                       f"({name})", off)

    def batches(self) -> Iterator[FrameBatch]:
        if not self.ok:
            return
        c = self.chunks
        info = self.info
        number = 1
        while True:
            buf = c.buf
            end = len(buf)
            base = c.base
            pos = 0
            acc = _Acc()
            need = 0
            fault: tuple[str, int] | None = None
            while True:
                starts, pos_after = _walk(buf, pos, end, self.endian, MAX_BATCH_RECORDS - acc.n)
                if starts:
                    fault = self._run(buf, starts, base, acc)
                    if fault is not None:
                        break
                pos = pos_after
                if acc.n >= MAX_BATCH_RECORDS:
                    break
                kind, a, b, e = self._classify(buf, pos, end, base)
                if kind == "need":
                    need = a
                    break
                if kind == "fault":
                    fault = (a, b)
                    break
                bt, bl, padded = a
                try:
                    self._block(buf, pos, base, bt, bl, padded, e)
                except _Damage as d:
                    fault = (d.message, d.offset)
                    break
                pos += padded
            if acc.n:
                yield acc.make(buf, number)
                number += acc.n
            if fault is not None:
                info.fail(*fault)
                return
            c.advance(pos)
            if need == 0:
                continue  # batch full
            if c.fill(need):
                continue
            if c.stream_error is not None:
                info.errors.append(c.stream_error)
            elif len(c.buf) == 0:
                pass
            else:
                self._fail_truncated()
            return

    # ----------------------------------------------------------- packet runs

    def _iface_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._tables is None:
            self._tables = (
                np.array([f.limit for f in self.ifaces], dtype=np.int64),
                np.array([f.linktype for f in self.ifaces], dtype=np.int32),
                np.array([f.snaplen for f in self.ifaces], dtype=np.int64),
            )
        return self._tables

    def _run(self, buf: bytes, starts: list[int], base: int, acc: _Acc) -> tuple[str, int] | None:
        """Decode a run of packet blocks of one section; add the records
        before the first fault (if any) to ``acc`` and return the fault."""
        e = self.endian
        s = np.asarray(starts, dtype=np.int64)
        n = len(s)
        w = np.frombuffer(buf, dtype=np.dtype(e + "u4"), count=len(buf) // 4)
        last = len(w) - 1
        i = s >> 2
        bt = w[i]
        bl = w[i + 1].astype(np.int64)
        padded = (bl + 3) & ~3
        trailer = w[i + (padded >> 2) - 1].astype(np.int64)
        is_spb = bt == BT_SPB
        is_pb = bt == BT_PB
        any_spb = bool(is_spb.any())
        any_pb = bool(is_pb.any())
        word2 = w[i + 2].astype(np.int64)

        def field(k: int) -> np.ndarray:
            idx = i + k
            if any_spb:
                idx = np.minimum(idx, last)
            return w[idx].astype(np.int64)

        ts_hi = field(3)
        ts_lo = field(4)
        caplen = field(5)
        origlen = field(6)
        iface = word2
        drops = np.full(n, -1, dtype=np.int64)
        if any_pb:
            if e == "<":
                pb_if, pb_drops = word2 & 0xFFFF, word2 >> 16
            else:
                pb_if, pb_drops = word2 >> 16, word2 & 0xFFFF
            iface = np.where(is_pb, pb_if, iface)
            drops = np.where(is_pb & (pb_drops != 0xFFFF), pb_drops, -1)
        hdrlen = np.full(n, 28, dtype=np.int64)
        nif = len(self.ifaces)
        if nif:
            limits, linktypes, snaplens = self._iface_tables()
        else:
            limits = np.zeros(1, dtype=np.int64)
            linktypes = np.zeros(1, dtype=np.int32)
            snaplens = np.zeros(1, dtype=np.int64)
        if any_spb:
            iface = np.where(is_spb, 0, iface)
            origlen = np.where(is_spb, word2, origlen)
            snap0 = int(snaplens[0]) if nif else 0
            spb_cap = np.minimum(word2, padded - 16)
            if snap0:
                spb_cap = np.minimum(spb_cap, snap0)
            caplen = np.where(is_spb, spb_cap, caplen)
            hdrlen = np.where(is_spb, 12, hdrlen)
        bad_if = iface >= nif
        ic = np.minimum(iface, max(nif - 1, 0))
        limit = limits[ic]
        bad_max = ~bad_if & (caplen > limit)
        cap_padded = (caplen + 3) & ~3
        opt_start = hdrlen + cap_padded
        bad_fit = ~bad_if & ~bad_max & (opt_start + 4 > padded)
        bad_trailer = ((trailer + 3) & ~3) != padded
        bad = bad_if | bad_max | bad_fit | bad_trailer
        k = int(np.argmax(bad)) if bad.any() else n
        fault: tuple[str, int] | None = None
        if k < n and (bad_if[k] or bad_max[k] or bad_fit[k]):
            fault = self._packet_fault(k, s, bt, iface, caplen, limit, bl, base)
        # Options: only blocks with bytes between the packet data and the trailer.
        has_opt = ~is_spb & (opt_start + 4 < padded)
        flags = np.zeros(n, dtype=np.uint32)
        flags_ok = np.zeros(n, dtype=bool)
        drops_ok = drops >= 0
        drops_u = np.where(drops_ok, drops, 0).astype(np.uint64)
        comments: list[tuple[int, str]] = []
        # Wireshark reads a block's options before its trailer: an option
        # fault in the block with a bad trailer is the one reported.
        opt_limit = k + 1 if (k < n and fault is None) else k
        for j in np.flatnonzero(has_opt[:opt_limit]).tolist():
            p = int(s[j])
            try:
                cm, fl, dr = self._packet_options(buf, p + int(opt_start[j]), p + int(padded[j]) - 4,
                                                  base, block_name(int(bt[j])), base + p)
            except _Damage as d:
                k = j
                fault = (d.message, d.offset)
                break
            if cm is not None:
                comments.append((j, cm))
            if fl is not None:
                flags[j] = fl
                flags_ok[j] = True
            if dr is not None:
                drops_u[j] = dr
                drops_ok[j] = True
        if fault is None and k < n:
            fault = (f"block at offset {base + int(s[k])} ({block_name(int(bt[k]))}): trailing "
                     f"length {int(trailer[k])} does not match {int(bl[k])}", base + int(s[k]))
        if k < n:
            comments = [(j, cm) for j, cm in comments if j < k]
        if k == 0:
            return fault
        if k < n:
            s, bt, bl, iface, caplen, origlen, ts_hi, ts_lo, hdrlen, is_spb = (
                a[:k] for a in (s, bt, bl, iface, caplen, origlen, ts_hi, ts_lo, hdrlen, is_spb))
            flags, flags_ok, drops_u, drops_ok = flags[:k], flags_ok[:k], drops_u[:k], drops_ok[:k]
        if bool((bl & 3).any()):
            j = int(np.argmax((bl & 3) != 0))
            self._warn("unaligned", f"block at offset {base + int(s[j])} ({block_name(int(bt[j]))}): "
                       f"total length {int(bl[j])} is not a multiple of 4; rounded up, as "
                       f"Wireshark does")
        ts_ns = self._timestamps(ts_hi, ts_lo, iface, is_spb, base + s)
        info = self.info
        for code, name in ((BT_EPB, "EPB"), (BT_SPB, "SPB"), (BT_PB, "PB")):
            cnt = int(np.count_nonzero(bt == code))
            if cnt:
                info.blocks[name] = info.blocks.get(name, 0) + cnt
        acc.add({
            "offset": s + hdrlen,
            "caplen": caplen,
            "origlen": origlen,
            "ts_ns": ts_ns,
            "linktype": linktypes[np.minimum(iface, max(nif - 1, 0))].astype(np.int32),
            "interface_id": iface.astype(np.int32),
            "record_offset": s + base,
            "flags": flags,
            "flags_ok": flags_ok,
            "drops": drops_u,
            "drops_ok": drops_ok,
        }, comments)
        return fault

    def _packet_fault(self, k: int, s: np.ndarray, bt: np.ndarray, iface: np.ndarray,
                      caplen: np.ndarray, limit: np.ndarray, bl: np.ndarray,
                      base: int) -> tuple[str, int] | None:
        off = base + int(s[k])
        name = block_name(int(bt[k]))
        nif = len(self.ifaces)
        if int(iface[k]) >= nif:
            if int(bt[k]) == BT_SPB:
                return (f"SPB at offset {off}: no interface defined in the section "
                        f"(an SPB uses interface 0)", off)
            return (f"{name} at offset {off}: interface id {int(iface[k])} not defined "
                    f"({nif} interface{'s' if nif != 1 else ''} in section)", off)
        if int(caplen[k]) > int(limit[k]):
            lt = self.ifaces[int(iface[k])].linktype
            return (f"{name} at offset {off}: captured length {int(caplen[k])} exceeds the maximum "
                    f"of {int(limit[k])} for link type {lt}", off)
        hdr = 12 if int(bt[k]) == BT_SPB else 28
        if hdr + ((int(caplen[k]) + 3) & ~3) + 4 > ((int(bl[k]) + 3) & ~3):
            return (f"{name} at offset {off}: captured length {int(caplen[k])} does not fit in the "
                    f"block (total length {int(bl[k])})", off)
        return None

    def _timestamps(self, ts_hi: np.ndarray, ts_lo: np.ndarray, iface: np.ndarray,
                    is_spb: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        n = len(ts_hi)
        out = np.zeros(n, dtype=np.int64)
        ticks = (ts_hi.astype(np.uint64) << np.uint64(32)) | ts_lo.astype(np.uint64)
        has_ts = ~is_spb
        if not has_ts.any():
            return out
        lo, hi = int(iface[has_ts].min()), int(iface[has_ts].max())
        ids = [lo] if lo == hi else np.unique(iface[has_ts]).tolist()
        for j in ids:
            f = self.ifaces[j]
            sel = None if (lo == hi and has_ts.all()) else (has_ts & (iface == j))
            t = ticks if sel is None else ticks[sel]
            secs, ns = _split_ts(t, f.binary, f.exp)
            over = secs > np.uint64(_CLAMP)
            secs_i = np.minimum(secs, np.uint64(_CLAMP)).astype(np.int64) + f.tsoffset
            bad = over | (secs_i > _MAX_SECS) | (secs_i < _MIN_SECS)
            val = secs_i * 1_000_000_000 + ns
            if bad.any():
                b0 = int(np.argmax(bad))
                o = offsets if sel is None else offsets[sel]
                self._warn("ts_range", f"time stamp of the record at offset {int(o[b0])} is outside "
                           f"the range of int64 nanoseconds (years 1678-2262); clamped")
                val = np.where(bad & (secs_i > 0), np.int64(2**63 - 1), val)
                val = np.where(bad & (secs_i <= 0), np.int64(-(2**63) + 1), val)
            if sel is None:
                out = val
            else:
                out[sel] = val
        return out

    # --------------------------------------------------------------- options

    @staticmethod
    def _options(buf: bytes, p: int, end: int, base: int, e: str,
                 what: str) -> list[tuple[int, int, int]]:
        """Parse the options in ``buf[p:end]``: (code, value position,
        length) of each, up to opt_endofopt.  Damage raises _Damage."""
        unpack = _OPT[e].unpack_from
        out: list[tuple[int, int, int]] = []
        while p < end:
            if end - p < 4:
                raise _Damage(f"option at offset {base + p}: {end - p} bytes left, an option header "
                              f"needs 4 ({what})", base + p)
            code, length = unpack(buf, p)
            rounded = (length + 3) & ~3
            if rounded > end - p - 4:
                raise _Damage(f"option at offset {base + p}: length {length} runs past the end of "
                              f"the block ({what})", base + p)
            if code == OPT_ENDOFOPT:
                break
            if code in OPT_CUSTOM and length < 4:
                raise _Damage(f"option at offset {base + p}: custom option length {length} is less "
                              f"than 4 ({what})", base + p)
            out.append((code, p + 4, length))
            p += 4 + rounded
        return out

    def _packet_options(self, buf: bytes, p: int, end: int, base: int, name: str,
                        block_off: int) -> tuple[str | None, int | None, int | None]:
        what = f"{name} at offset {block_off}"
        e = self.endian
        comments: list[str] = []
        flags: int | None = None
        drops: int | None = None
        for code, v, length in self._options(buf, p, end, base, e, what):
            if code == OPT_COMMENT:
                if length:
                    comments.append(_decode_str(buf[v:v + length]))
            elif code == EPB_FLAGS:
                if length != 4:
                    raise _Damage(f"{what}: flags option length {length} is not 4", base + v - 4)
                if flags is None:
                    flags = struct.unpack_from(e + "I", buf, v)[0]
            elif code == EPB_DROPCOUNT:
                if length != 8:
                    raise _Damage(f"{what}: drop count option length {length} is not 8", base + v - 4)
                if drops is None:
                    drops = struct.unpack_from(e + "Q", buf, v)[0]
            elif code == EPB_PACKETID:
                if length != 8:
                    raise _Damage(f"{what}: packet id option length {length} is not 8", base + v - 4)
            elif code == EPB_QUEUE:
                if length != 4:
                    raise _Damage(f"{what}: queue option length {length} is not 4", base + v - 4)
            elif code == EPB_VERDICT:
                if length < 1:
                    raise _Damage(f"{what}: verdict option length {length} is less than 1",
                                  base + v - 4)
                if buf[v] in (1, 2) and length != 9:
                    raise _Damage(f"{what}: verdict option of type {buf[v]} has length {length}, "
                                  f"not 9", base + v - 4)
        return ("\n".join(comments) if comments else None), flags, drops

    # --------------------------------------------------------- other blocks

    def _block(self, buf: bytes, pos: int, base: int, bt: int, bl: int, padded: int, e: str) -> None:
        """Process one whole non-packet block (its header already checked).

        As in Wireshark, the block's content is checked before its trailing
        length; what the block changes (a new section, an interface, its
        statistics) is applied only once both are sound."""
        off = base + pos
        name = block_name(bt)
        end = pos + padded - 4
        commit = None
        if bt == BT_SHB:
            commit = self._shb(buf, pos, end, off, e)
        elif bt == BT_IDB:
            commit = self._idb(buf, pos, end, off)
        elif bt == BT_ISB:
            commit = self._isb(buf, pos, end, off)
        elif bt == BT_NRB:
            self._nrb(buf, pos, end, off)
        elif bt == BT_DSB:
            secrets_len = _U32[e].unpack_from(buf, pos + 12)[0]
            if 16 + secrets_len > end - pos:
                raise _Damage(f"DSB at offset {off}: secrets length {secrets_len} runs past the end "
                              f"of the block", off)
        elif bt in _PACKET_MIN:  # pragma: no cover - the walk takes these
            raise _Damage(f"{name} at offset {off}: unexpected packet block", off)
        # custom and unknown blocks are skipped.
        trailer = _U32[e].unpack_from(buf, end)[0]
        if (trailer + 3) & ~3 != padded:
            raise _Damage(f"block at offset {off} ({name}): trailing length {trailer} does not "
                          f"match {bl}", off)
        if commit is not None:
            commit()
        self.info.count_block(name)

    def _shb(self, buf: bytes, pos: int, end: int, off: int, e: str):
        info = self.info
        major, minor = struct.unpack_from(e + "HH", buf, pos + 12)
        if info.version is None:
            info.version = f"{major}.{minor}"
            info.byte_order = "little" if e == "<" else "big"
        if not (major == 1 and minor in (0, 2)):
            raise _Damage(f"SHB at offset {off}: unsupported version {major}.{minor}", off + 12)
        opts = self._options(buf, pos + 24, end, off - pos, e, f"SHB at offset {off}")
        comments = [_decode_str(buf[v:v + n]) for c, v, n in opts if c == OPT_COMMENT and n]

        def commit() -> None:
            self.endian = e
            self.section += 1
            self.ifaces = []
            self._tables = None
            info.sections += 1
            info.comments.extend(comments)
        return commit

    def _idb(self, buf: bytes, pos: int, end: int, off: int):
        e = self.endian
        raw_lt, _reserved, snaplen = struct.unpack_from(e + "HHI", buf, pos + 8)
        lt = DLT_TO_LINKTYPE.get(raw_lt, raw_lt)
        base = off - pos
        opts = self._options(buf, pos + 16, end, base, e, f"IDB at offset {off}")
        ifname = desc = None
        tsresol: int | None = None
        tsoffset: int | None = None
        fcslen: int | None = None
        for code, v, n in opts:
            if code == IF_NAME and ifname is None:
                ifname = _decode_str(buf[v:v + n])
            elif code == IF_DESCRIPTION and desc is None:
                desc = _decode_str(buf[v:v + n])
            elif code == IF_TSRESOL and n == 1 and tsresol is None:
                tsresol = buf[v]
            elif code == IF_TSOFFSET and n == 8 and tsoffset is None:
                tsoffset = struct.unpack_from(e + "q", buf, v)[0]
            elif code == IF_FCSLEN and n == 1 and fcslen is None:
                fcslen = buf[v]
            elif code == IF_FILTER and n < 1:
                raise _Damage(f"IDB at offset {off}: filter option length {n} is less than 1",
                              base + v - 4)
        if not is_known(lt):
            # Wireshark reads such a file (frames of an unknown encapsulation);
            # so does tracedoc, without decoding those frames.
            self._warn(f"linktype{lt}", f"IDB at offset {off}: unknown link type {raw_lt}; "
                       f"its frames are kept but not decoded")
        binary = tsresol is not None and bool(tsresol & 0x80)
        exp = 6 if tsresol is None else tsresol & 0x7F
        tso = tsoffset or 0
        if not -_CLAMP <= tso <= _CLAMP:
            self._warn("tsoffset", f"IDB at offset {off}: if_tsoffset {tso} s is out of range; "
                       f"clamped to +-2**40 s")
            tso = max(-_CLAMP, min(_CLAMP, tso))
        ii = InterfaceInfo(
            id=len(self.ifaces), linktype=lt, linktype_name=linktype_name(lt), snaplen=snaplen,
            section=self.section, name=ifname, description=desc,
            tsresol=-exp if binary else exp, tsoffset=tsoffset or 0,
            fcs_len=None if fcslen is None else (fcslen // 8 if fcslen % 8 == 0 else fcslen))
        iface = _Iface(linktype=lt, snaplen=snaplen, limit=max_caplen(lt), binary=binary, exp=exp,
                       tsoffset=tso, info=ii)

        def commit() -> None:
            self.ifaces.append(iface)
            self._tables = None
            self.info.interfaces.append(ii)
        return commit

    def _isb(self, buf: bytes, pos: int, end: int, off: int):
        e = self.endian
        ifid, hi, lo = struct.unpack_from(e + "III", buf, pos + 8)
        opts = self._options(buf, pos + 20, end, off - pos, e, f"ISB at offset {off}")

        def commit() -> None:
            # Wireshark ignores statistics of an interface it does not know.
            if ifid >= len(self.ifaces):
                self._warn("isb", f"ISB at offset {off}: interface id {ifid} not defined "
                           f"({len(self.ifaces)} interfaces in section); ignored (and so "
                           f"are later ones)")
                return
            f = self.ifaces[ifid]
            stats = f.info.stats
            stats["timestamp"] = ticks_to_ns((hi << 32) | lo, f.binary, f.exp, f.tsoffset)
            comments = []
            for code, v, n in opts:
                key = ISB_OPTIONS.get(code)
                if key is None:
                    if code == OPT_COMMENT and n:
                        comments.append(_decode_str(buf[v:v + n]))
                    continue
                if n != 8:
                    continue  # Wireshark ignores a statistic of the wrong size
                if code in (2, 3):
                    thi, tlo = struct.unpack_from(e + "II", buf, v)
                    stats[key] = ticks_to_ns((thi << 32) | tlo, f.binary, f.exp, f.tsoffset)
                else:
                    stats[key] = struct.unpack_from(e + "Q", buf, v)[0]
            if comments:
                stats["isb_comment"] = "\n".join(comments)
        return commit

    def _nrb(self, buf: bytes, pos: int, end: int, off: int) -> None:
        e = self.endian
        unpack = _OPT[e].unpack_from
        base = off - pos
        p = pos + 8
        while p < end:
            if end - p < 4:
                raise _Damage(f"NRB at offset {off}: {end - p} bytes left, a record header needs 4",
                              base + p)
            rtype, rlen = unpack(buf, p)
            rounded = (rlen + 3) & ~3
            if rounded > end - p - 4:
                raise _Damage(f"NRB at offset {off}: record at offset {base + p} of length {rlen} "
                              f"runs past the end of the block", base + p)
            if rtype == 0:
                self._options(buf, p + 4 + rounded, end, base, e, f"NRB at offset {off}")
                return
            if rtype in (1, 2):
                alen = 4 if rtype == 1 else 16
                if rlen < alen:
                    raise _Damage(f"NRB at offset {off}: IPv{4 if rtype == 1 else 6} record at "
                                  f"offset {base + p} has length {rlen}, less than {alen}", base + p)
                names = buf[p + 4 + alen:p + 4 + rlen]
                if names and not names.endswith(b"\0"):
                    raise _Damage(f"NRB at offset {off}: record at offset {base + p} has a name "
                                  f"without a terminating NUL", base + p)
            p += 4 + rounded
