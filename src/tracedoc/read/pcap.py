"""Classic libpcap files (tcpdump.org/manpages/pcap-savefile.5.txt).

Both byte orders, microsecond and nanosecond magic, and the "modified" pcap
of Alexey Kuznetsov's patches (24-byte record headers).  The link-type field's
upper bits carry the FCS length (bits 26-31); bits 16-25 must be zero, as in
Wireshark's ``wiretap/libpcap.c``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np

from tracedoc.read.batch import FrameBatch
from tracedoc.read.info import InterfaceInfo, TraceInfo
from tracedoc.read.linktypes import DLT_TO_LINKTYPE, is_known, linktype_name, max_caplen
from tracedoc.read.source import ChunkReader

MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000, 16, "little"),
    b"\xa1\xb2\xc3\xd4": (">", 1000, 16, "big"),
    b"\x4d\x3c\xb2\xa1": ("<", 1, 16, "little"),
    b"\xa1\xb2\x3c\x4d": (">", 1, 16, "big"),
    b"\x34\xcd\xb2\xa1": ("<", 1000, 24, "little"),  # modified (Kuznetsov) pcap
    b"\xa1\xb2\xcd\x34": (">", 1000, 24, "big"),
}

LT_RESERVED1 = 0x03FF0000
LT_FCS_PRESENT = 0x04000000

MAX_BATCH_RECORDS = 1 << 18


def sniff(head: bytes) -> bool:
    return head[:4] in MAGIC


def _walk(buf: bytes, pos: int, end: int, endian: str, hdrlen: int, limit: int,
          max_records: int) -> tuple[list[int], int, int]:
    """Walk record headers from ``pos``.  Returns (record starts, position
    after the last whole record, caplen of a record over ``limit`` or -1).

    This is the one sequential loop of the reader: each header gives the
    position of the next.  It stops at the first record that is not whole in
    ``buf`` (the caller reads more) or whose length is over ``limit``.
    """
    unpack = struct.Struct(endian + "I").unpack_from
    starts: list[int] = []
    append = starts.append
    n = 0
    while pos + hdrlen <= end and n < max_records:
        caplen = unpack(buf, pos + 8)[0]
        if caplen > limit:
            return starts, pos, caplen
        nxt = pos + hdrlen + caplen
        if nxt > end:
            break
        append(pos)
        pos = nxt
        n += 1
    return starts, pos, -1


class PcapReader:
    def __init__(self, chunks: ChunkReader, info: TraceInfo) -> None:
        self.chunks = chunks
        self.info = info
        self._parse_header()

    def _parse_header(self) -> None:
        c = self.chunks
        info = self.info
        info.format = "pcap"
        c.fill(24)
        hdr = c.buf[:24]
        self.endian, self.tick_ns, self.hdrlen, info.byte_order = MAGIC[hdr[:4]]
        if len(hdr) < 24:
            info.fail(f"truncated pcap file header: {len(hdr)} of 24 bytes", 0)
            self.ok = False
            return
        major, minor, _thiszone, _sigfigs, snaplen, network = struct.unpack(self.endian + "HHiIII", hdr[4:24])
        info.version = f"{major}.{minor}"
        if self.tick_ns == 1:
            info.format = "pcap (nanosecond)"
        if self.hdrlen == 24:
            info.format = "pcap (modified)"
        self.ok = True
        if major != 2:
            info.fail(f"pcap major version {major} unsupported (file header at offset 0)", 4)
            self.ok = False
            return
        if network & LT_RESERVED1:
            info.fail(f"pcap link-type reserved bits not zero (0x{network & LT_RESERVED1:08x}) at offset 20", 20)
            self.ok = False
            return
        linktype = network & 0xFFFF
        linktype = DLT_TO_LINKTYPE.get(linktype, linktype)
        fcs_len = ((network >> 28) & 0xF) * 2 if network & LT_FCS_PRESENT else None
        if not is_known(linktype):
            info.fail(f"unsupported link type {network & 0xFFFF} (file header at offset 20)", 20)
            self.ok = False
            return
        info.sections = 1
        info.interfaces.append(InterfaceInfo(
            id=0, linktype=linktype, linktype_name=linktype_name(linktype), snaplen=snaplen,
            tsresol=9 if self.tick_ns == 1 else 6, fcs_len=fcs_len))
        self.linktype = linktype
        self.limit = max_caplen(linktype)
        c.advance(24)

    def batches(self) -> Iterator[FrameBatch]:
        if not self.ok:
            return
        c = self.chunks
        info = self.info
        number = 1
        hdrlen = self.hdrlen
        e = self.endian
        while True:
            c.fill(hdrlen)
            buf = c.buf
            starts, pos, over = _walk(buf, 0, len(buf), e, hdrlen, self.limit, MAX_BATCH_RECORDS)
            if starts:
                yield self._batch(buf, starts, c.base, number)
                number += len(starts)
            if over >= 0:
                info.fail(f"record at offset {c.base + pos}: captured length {over} exceeds the "
                          f"maximum of {self.limit} for link type {self.linktype}", c.base + pos)
                return
            c.advance(pos)
            if len(starts) == MAX_BATCH_RECORDS:
                continue
            # Not a whole record left in the window: read more, at least enough
            # for the record whose header we may already have.
            need = hdrlen
            if len(c.buf) >= hdrlen:
                need = hdrlen + struct.unpack_from(e + "I", c.buf, 8)[0]
            if c.fill(need):
                continue
            if c.stream_error is not None:
                info.errors.append(c.stream_error)
            elif len(c.buf) == 0:
                pass
            elif len(c.buf) < hdrlen:
                info.fail(f"truncated record header at offset {c.base}: {len(c.buf)} of {hdrlen} bytes",
                          c.base)
            else:
                info.fail(f"truncated record at offset {c.base}: header says {need - hdrlen} bytes, "
                          f"{len(c.buf) - hdrlen} left", c.base)
            return

    def _batch(self, buf: bytes, starts: list[int], base: int, number: int) -> FrameBatch:
        data = np.frombuffer(buf, dtype=np.uint8)
        s = np.asarray(starts, dtype=np.int64)
        dt = np.dtype(self.endian + "u4")
        ts_sec = gather_u32(buf, s, dt)
        ts_frac = gather_u32(buf, s + 4, dt)
        caplen = gather_u32(buf, s + 8, dt)
        origlen = gather_u32(buf, s + 12, dt)
        n = len(s)
        return FrameBatch(
            data=data,
            offset=s + self.hdrlen,
            caplen=caplen,
            origlen=origlen,
            ts_ns=ts_sec * 1_000_000_000 + ts_frac * self.tick_ns,
            linktype=np.full(n, self.linktype, dtype=np.int32),
            interface_id=np.full(n, -1, dtype=np.int32),
            record_offset=s + base,
            first_number=number,
        )


def gather_u32(buf: bytes, pos: np.ndarray, dt: np.dtype) -> np.ndarray:
    """The 32-bit words at byte positions ``pos`` (any alignment), as int64.

    One word view of the buffer per alignment class, so each word is one
    gather instead of four byte gathers."""
    out = np.empty(len(pos), dtype=np.int64)
    rem = pos & 3
    for k in range(4):
        m = rem == k
        if not m.any():
            continue
        words = np.frombuffer(buf, dtype=dt, count=(len(buf) - k) // 4, offset=k)
        out[m] = words[(pos[m] - k) >> 2]
    return out
