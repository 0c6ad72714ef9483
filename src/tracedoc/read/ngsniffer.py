"""Network General Sniffer (DOS) capture files (".trc", ".enc", ".cap").

Written by the DOS Sniffer, by Wireshark (``editcap -F ngsniffer``) and by
z/OS IPCS (``CTRACE ... OPTIONS((SNIFFER))``).  The layout, as Wireshark's
``wiretap/ngsniffer.c`` reads it, all little-endian:

* the 17-byte magic ``"TRSNIFF data    \\x1a"``;
* records, each a 6-byte header (type, length of what follows, 2 reserved
  bytes) and ``length`` bytes;
* first a version record (type 1): major/minor version, DOS time and date of
  the capture start, record type, network type (the link layer), format (1 =
  plain; anything else = the compressed variant), time unit (an index into a
  table of tick lengths), compression version/level;
* header records Wireshark skips (types 6, 7, 13-17; 8 too in version 2
  files), then data records: REC_FRAME2 (type 4, a 14-byte frame header),
  REC_FRAME6 (type 12, 34 bytes), REC_FRAME4 (type 8, ATM only), and an
  optional EOF record (type 3).

A frame header holds a 40-bit tick count since midnight of the start date
(``time_low``, ``time_med``, ``time_high``), a day count (``time_day``),
the captured size and the size on the wire (``true_size``, 0 = same).
Time stamps are computed exactly as Wireshark does: ticks x picoseconds per
tick, split into seconds and nanoseconds (truncated), plus the days, plus the
start date at local midnight (``mktime``: the file carries no time zone, so
the result depends on the TZ tracedoc runs in, as Wireshark's does).

In the compressed variant the header records stay plain and the rest of the
file is a series of blobs: a signed 16-bit length, negative for |length|
stored bytes, else that many bytes of Sniffer's LZ77/RLE coding that expand to
at most 64 KiB.  Records run across blob boundaries; offsets of records are
offsets in the expanded stream (as Wireshark counts them), starting where the
blobs start.

Where this reader differs from Wireshark: a record type Wireshark does not
name, met among the data, is reported as damage (Wireshark skips its length
silently); header records cut short by the end of the file are reported
(Wireshark ends quietly); Internetwork-analyzer (WAN, network types 7 and 8)
and ATM (10) captures are refused, their pseudo-headers having no place in a
FrameBatch.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterator

import numpy as np

from tracedoc.errors import TraceFormatError
from tracedoc.read.batch import FrameBatch
from tracedoc.read.info import InterfaceInfo, TraceInfo
from tracedoc.read.linktypes import linktype_name
from tracedoc.read.source import ChunkReader

MAGIC = b"TRSNIFF data    \x1a"

REC_HDR = 6
VERS_LEN = 18
VERS_AT = len(MAGIC)                      # offset of the version record's header
DATA_AT = VERS_AT + REC_HDR + VERS_LEN    # where the records after it start

REC_VERS, REC_EOF, REC_FRAME2, REC_FRAME4, REC_FRAME6 = 1, 3, 4, 8, 12
REC_V2DESC = 8
HEADER_TYPES = frozenset({6, 7, 13, 14, 15, 16, 17})
"""Header records Wireshark skips before the data (REC_HEADER1..7)."""
SKIPPED_TYPES = HEADER_TYPES | {REC_VERS}
"""Records skipped among the data: the header types, a repeated version
record.  Any other type there is reported as damage."""
FRAME_HDR = {REC_FRAME2: 14, REC_FRAME4: 48, REC_FRAME6: 34}

REC_NAMES = {REC_VERS: "REC_VERS", REC_EOF: "REC_EOF", REC_FRAME2: "REC_FRAME2", REC_FRAME4: "REC_FRAME4",
             REC_FRAME6: "REC_FRAME6", 6: "REC_HEADER1", 7: "REC_HEADER2", 13: "REC_HEADER3",
             14: "REC_HEADER4", 15: "REC_HEADER5", 16: "REC_HEADER6", 17: "REC_HEADER7"}

# Picoseconds per tick, by the version record's time-unit index (Wireshark's table).
PSEC_PER_TICK = (15_000_000, 838_096, 15_000_000, 500_000, 2_000_000, 1_000_000, 100_000)

NETWORK_NAMES = {
    0: "Token Ring", 1: "Ethernet", 2: "ARCNET", 3: "StarLAN", 4: "PC Network broadband",
    5: "LocalTalk", 6: "Znet", 7: "Internetwork analyzer (synchronous)",
    8: "Internetwork analyzer (asynchronous)", 9: "FDDI", 10: "ATM",
}
# Network type -> LINKTYPE_ for the ones read here.  Sniffer FDDI frames have
# bit-swapped MAC addresses (Wireshark's FDDI_BITSWAPPED); tracedoc does not
# decode FDDI, so they are passed on as LINKTYPE_FDDI.
NETWORK_LINKTYPE = {0: 6, 1: 1, 2: 7, 9: 10}
# Networks Wireshark reads that tracedoc refuses, and why.
NETWORK_UNSUPPORTED = {
    7: "its per-packet WAN encapsulations (PPP, Frame Relay, LAPB, ISDN, ... with a direction "
       "pseudo-header) have no link type tracedoc carries",
    8: "its per-packet WAN encapsulations (PPP, Frame Relay, LAPB, ISDN, ... with a direction "
       "pseudo-header) have no link type tracedoc carries",
    10: "its ATM PDUs need the ATM pseudo-header (VPI/VCI, AAL type) tracedoc does not carry",
}

MAX_BATCH_RECORDS = 1 << 18
BLOB_OUT_MAX = 65536

_U16x2 = struct.Struct("<HH")

STOP_EOF, STOP_SHORT, STOP_SIZE, STOP_UNKNOWN = 1, 2, 3, 4


def sniff(head: bytes) -> bool:
    return head.startswith(MAGIC)


def dos_date(date: int) -> tuple[int, int, int]:
    """(year, month, day) of a DOS date word, unnormalised (month 0 and day 0
    occur: ``mktime`` rolls them back, as Wireshark's does)."""
    return ((date >> 9) & 0x7F) + 1980, (date >> 5) & 0x0F, date & 0x1F


def start_time(date: int) -> int:
    """Wireshark's capture start: local midnight of the DOS date, by mktime."""
    y, m, d = dos_date(date)
    try:
        return int(time.mktime((y, m, d, 0, 0, 0, 0, 0, -1)))
    except (OverflowError, ValueError):
        return -1  # what C mktime returns when it fails


def _walk(buf: bytes, pos: int, end: int, max_records: int,
          skipped: dict[int, int]) -> tuple[list[int], list[int], int, int]:
    """Walk records from ``pos``.  Returns (frame record starts, their frame
    header lengths, position after the last whole record walked, stop code).

    The one sequential loop of the reader.  It steps over skipped record
    types (counting them in ``skipped``), and stops at the first record not
    whole in ``buf`` (stop code 0: the caller reads more), at an EOF record,
    or at a damaged or unknown record (a STOP_ code; ``pos`` is its start).
    """
    unpack = _U16x2.unpack_from
    starts: list[int] = []
    hlens: list[int] = []
    n = 0
    while n < max_records and pos + REC_HDR <= end:
        rtype, rlen = unpack(buf, pos)
        if rtype == REC_FRAME2 or rtype == REC_FRAME6:
            fh = 14 if rtype == REC_FRAME2 else 34
            if rlen < fh:
                return starts, hlens, pos, STOP_SHORT
            if pos + REC_HDR + fh <= end and (buf[pos + 12] | buf[pos + 13] << 8) > rlen - fh:
                return starts, hlens, pos, STOP_SIZE
            nxt = pos + REC_HDR + rlen
            if nxt > end:
                break
            starts.append(pos)
            hlens.append(fh)
            n += 1
            pos = nxt
        elif rtype in SKIPPED_TYPES:
            nxt = pos + REC_HDR + rlen
            if nxt > end:
                break
            skipped[rtype] = skipped.get(rtype, 0) + 1
            pos = nxt
        elif rtype == REC_EOF:
            return starts, hlens, pos, STOP_EOF
        elif rtype == REC_FRAME4:
            return starts, hlens, pos, STOP_UNKNOWN
        else:
            # A type Wireshark does not know is skipped by its length, as
            # ngsniffer.c does ("unknown type, skip it").
            nxt = pos + REC_HDR + rlen
            if nxt > end:
                break
            skipped[rtype] = skipped.get(rtype, 0) + 1
            pos = nxt
    return starts, hlens, pos, 0


class BlobError(ValueError):
    """A compressed blob that does not expand."""


def decompress_blob(src: bytes, limit: int = BLOB_OUT_MAX) -> bytes:
    """Expand one compressed Sniffer blob (the LZ77/RLE coding Wireshark's
    ``SnifferDecompress`` reads).  Raises :class:`BlobError` on bad data.

    A 16-bit little-endian control word precedes each group of up to 16
    items, most significant bit first: a clear bit is a literal byte; a set
    bit is a coded item whose first byte's high nibble says what it is:
    0 a short run (low nibble + 3 copies of the next byte), 1 a long run
    (low nibble + 16 x next byte + 19 copies of the byte after), 2 a long
    string (offset low nibble + 16 x next byte + 3 back, length next byte +
    16), 3-15 a short string of that length (offset coded as for 2).  A
    string may not reach back before the blob's start nor overlap its copy.
    """
    out = bytearray()
    n = len(src)
    i = 0
    bits = 0
    mask = 0
    while i < n:
        mask >>= 1
        if mask == 0:
            if i + 3 > n:
                raise BlobError("control word at the end of the blob with no item after it")
            bits = src[i] | src[i + 1] << 8
            i += 2
            mask = 0x8000
        if not bits & mask:
            if len(out) >= limit:
                raise BlobError(f"expands to more than {limit} bytes")
            out.append(src[i])
            i += 1
            continue
        code = src[i]
        i += 1
        kind = code >> 4
        low = code & 0x0F
        if kind <= 1:
            if kind == 0:
                length = low + 3
            else:
                if i >= n:
                    raise BlobError("run length goes past the end of the blob")
                length = low + (src[i] << 4) + 19
                i += 1
            if len(out) + length > limit:
                raise BlobError(f"expands to more than {limit} bytes")
            if i >= n:
                raise BlobError("run byte goes past the end of the blob")
            out += bytes((src[i],)) * length
            i += 1
        else:
            if i >= n:
                raise BlobError("string offset goes past the end of the blob")
            offset = low + (src[i] << 4) + 3
            i += 1
            if kind == 2:
                if i >= n:
                    raise BlobError("string length goes past the end of the blob")
                length = src[i] + 16
                i += 1
            else:
                length = kind
            if len(out) + length > limit:
                raise BlobError(f"expands to more than {limit} bytes")
            start = len(out) - offset
            if start < 0 or length > offset:
                raise BlobError(f"string offset {offset} (length {length}) points outside what the blob "
                                 f"has expanded so far ({len(out)} bytes)")
            out += out[start:start + length]
    return bytes(out)


class _BlobStream:
    """The expanded byte stream of a compressed Sniffer file's blobs, read
    from the file's window ``chunks`` (a stream for a second ChunkReader).

    It never raises: a damaged or cut blob ends the stream and is kept in
    ``error`` (with the file offset of the blob) after everything expanded
    before it has been returned."""

    def __init__(self, chunks: ChunkReader) -> None:
        self.c = chunks
        self.pos = 0            # read position in chunks.buf
        self.pending = b""
        self.done = False
        self.error: TraceFormatError | None = None
        self.blobs = 0

    def _window(self, need: int) -> bool:
        """Make ``need`` bytes from ``pos`` available in the window."""
        c = self.c
        if self.pos + need <= len(c.buf):
            return True
        c.advance(self.pos)
        self.pos = 0
        return c.fill(need)

    def _fail(self, message: str, offset: int) -> None:
        self.done = True
        if self.c.stream_error is not None:
            self.error = self.c.stream_error
        else:
            self.error = TraceFormatError(message, offset)

    def _next_blob(self) -> None:
        c = self.c
        if not self._window(2):
            have = len(c.buf) - self.pos
            if have == 0 and c.stream_error is None:
                self.done = True
                return
            self._fail(f"truncated compressed blob header at offset {c.base + self.pos}: {have} of 2 bytes",
                       c.base + self.pos)
            return
        at = c.base + self.pos
        blen = struct.unpack_from("<h", c.buf, self.pos)[0]
        size = -blen if blen < 0 else blen
        if not self._window(2 + size):
            have = len(c.buf) - self.pos - 2
            self._fail(f"truncated compressed blob at offset {at}: length says {size} bytes, {have} left", at)
            return
        raw = c.buf[self.pos + 2:self.pos + 2 + size]
        self.pos += 2 + size
        self.blobs += 1
        if blen < 0:
            self.pending = raw
            return
        try:
            self.pending = decompress_blob(raw)
        except BlobError as e:
            self._fail(f"bad compressed blob at offset {at}: {e}", at)

    def read(self, n: int = -1) -> bytes:
        while not self.pending and not self.done:
            self._next_blob()
        if n < 0 or n >= len(self.pending):
            data, self.pending = self.pending, b""
        else:
            data, self.pending = self.pending[:n], self.pending[n:]
        return data

    def close(self) -> None:
        pass


class NgSnifferReader:
    def __init__(self, chunks: ChunkReader, info: TraceInfo) -> None:
        self.chunks = chunks
        self.info = info
        self.ok = False
        self.compressed = False
        self._parse_header()

    # ---------------------------------------------------------------- header

    def _cut(self, what: str, at: int, need: int) -> None:
        c = self.chunks
        if c.stream_error is not None:
            self.info.errors.append(c.stream_error)
            return
        have = max(len(c.buf) - at, 0)
        self.info.fail(f"truncated {what} at offset {c.base + at}: {have} of {need} bytes", c.base + at)

    def _parse_header(self) -> None:
        c = self.chunks
        info = self.info
        info.format = "ngsniffer"
        info.byte_order = "little"
        c.fill(DATA_AT)
        buf = c.buf
        if len(buf) < VERS_AT + REC_HDR:
            self._cut("Sniffer version record header", VERS_AT, REC_HDR)
            return
        rtype, rlen = _U16x2.unpack_from(buf, VERS_AT)
        if rtype != REC_VERS:
            info.fail(f"Sniffer file does not start with a version record: record type {rtype} at offset "
                      f"{VERS_AT}", VERS_AT)
            return
        if len(buf) < DATA_AT:
            self._cut("Sniffer version record", VERS_AT + REC_HDR, VERS_LEN)
            return
        v = VERS_AT + REC_HDR
        maj, minor, _time_dos, date, _rtype, network, fmt, timeunit, cvers, clevel = struct.unpack_from(
            "<HHHHBBbBbb", buf, v)
        info.version = f"{maj}.{minor}"
        info.extra["sniffer_version"] = info.version
        info.count_block("REC_VERS")
        if rlen != VERS_LEN:
            # Wireshark reads 18 bytes whatever the length says.
            info.warnings.append(f"version record length {rlen} (not {VERS_LEN}) ignored, as Wireshark does")
        if network not in NETWORK_NAMES or network in (3, 4, 5, 6):
            what = f" ({NETWORK_NAMES[network]})" if network in NETWORK_NAMES else ""
            info.fail(f"unknown or unsupported Sniffer network type {network}{what} (version record at "
                      f"offset {VERS_AT}, network byte at offset {v + 9})", v + 9)
            return
        info.extra["sniffer_network"] = NETWORK_NAMES[network]
        if network in NETWORK_UNSUPPORTED:
            info.fail(f"Sniffer network type {network} ({NETWORK_NAMES[network]}) is not supported by "
                      f"tracedoc: {NETWORK_UNSUPPORTED[network]} (network byte at offset {v + 9})", v + 9)
            return
        if timeunit >= len(PSEC_PER_TICK):
            info.fail(f"unknown Sniffer time unit {timeunit} (time-unit byte at offset {v + 11})", v + 11)
            return
        self.maj_signed = maj - 0x10000 if maj & 0x8000 else maj
        self.psec = PSEC_PER_TICK[timeunit]
        self.start = start_time(date)
        self.compressed = fmt != 1
        y, m, d = dos_date(date)
        info.extra["sniffer_date"] = f"{y:04d}-{m:02d}-{d:02d}"  # as stored: month/day 0 occur
        if self.start != -1:
            info.extra["sniffer_start"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.start))
        info.extra["sniffer_time_unit_ps"] = self.psec
        if self.compressed:
            info.extra["sniffer_compressed"] = True
            info.extra["sniffer_compression"] = f"format {fmt}, version {cvers}, level {clevel}"
        self.linktype = NETWORK_LINKTYPE[network]
        info.sections = 1
        info.interfaces.append(InterfaceInfo(
            id=0, linktype=self.linktype, linktype_name=linktype_name(self.linktype), snaplen=0, tsresol=9,
            description=f"Sniffer {NETWORK_NAMES[network]}"))
        c.advance(DATA_AT)
        self.ok = True

    def _header_records(self) -> bool:
        """Step over the header records before the data, as Wireshark does:
        stop at the first record of another type (it may be a frame, or a
        compressed blob's length word).  Returns False on damage."""
        c = self.chunks
        info = self.info
        pos = 0  # in c.buf; the window moves on only when it must be refilled

        def have(n: int) -> bool:
            nonlocal pos
            if pos + n <= len(c.buf):
                return True
            c.advance(pos)
            pos = 0
            return c.fill(n)

        try:
            while True:
                if not have(2):
                    if len(c.buf) == 0 and c.stream_error is None:
                        return True
                    self._cut("record header", pos, REC_HDR)
                    return False
                rtype = c.buf[pos] | c.buf[pos + 1] << 8
                if rtype not in HEADER_TYPES and not (rtype == REC_V2DESC and self.maj_signed <= 2):
                    return True
                if not have(REC_HDR):
                    self._cut("record header", pos, REC_HDR)
                    return False
                rlen = c.buf[pos + 2] | c.buf[pos + 3] << 8
                if not have(REC_HDR + rlen):
                    if c.stream_error is not None:
                        info.errors.append(c.stream_error)
                    else:
                        info.fail(f"truncated header record (type {rtype}) at offset {c.base}: record length says "
                                  f"{rlen} bytes, {len(c.buf) - REC_HDR} left", c.base)
                    return False
                info.count_block("REC_V2DESC" if rtype == REC_V2DESC else REC_NAMES[rtype])
                pos += REC_HDR + rlen
        finally:
            c.advance(pos)

    # ----------------------------------------------------------------- data

    def batches(self) -> Iterator[FrameBatch]:
        if not self.ok or not self._header_records():
            return
        c = self.chunks
        if not self.compressed:
            yield from self._records(c, lambda: None)
            return
        blobs = _BlobStream(c)
        d = ChunkReader(blobs, c.chunk_size)  # type: ignore[arg-type]
        d.base = c.base
        try:
            yield from self._records(d, lambda: blobs.error)
        finally:
            self.info.blocks["compressed blobs"] = blobs.blobs

    def _records(self, d: ChunkReader, stream_fault: Callable[[], TraceFormatError | None]) -> Iterator[FrameBatch]:
        info = self.info
        where = " of the expanded data" if self.compressed else ""
        number = 1
        counts: dict[int, int] = {}  # records by type, for info.blocks
        try:
            while True:
                d.fill(REC_HDR)
                buf = d.buf
                starts, hlens, pos, stop = _walk(buf, 0, len(buf), MAX_BATCH_RECORDS, counts)
                if starts:
                    n6 = hlens.count(FRAME_HDR[REC_FRAME6])
                    counts[REC_FRAME2] = counts.get(REC_FRAME2, 0) + len(starts) - n6
                    if n6:
                        counts[REC_FRAME6] = counts.get(REC_FRAME6, 0) + n6
                    yield self._batch(buf, starts, hlens, d.base, number)
                    number += len(starts)
                d.advance(pos)
                if stop:
                    self._stop(d, stop, where, stream_fault)
                    return
                if len(starts) == MAX_BATCH_RECORDS:
                    continue
                need = REC_HDR
                if len(d.buf) >= REC_HDR:
                    need = REC_HDR + _U16x2.unpack_from(d.buf, 0)[1]
                if d.fill(need):
                    continue
                fault = d.stream_error or stream_fault()
                if fault is not None:
                    info.errors.append(fault)
                elif len(d.buf) == 0:
                    pass  # no EOF record: Wireshark takes the end of the file as one
                elif len(d.buf) < REC_HDR:
                    info.fail(f"truncated record header at offset {d.base}{where}: {len(d.buf)} of {REC_HDR} "
                              f"bytes", d.base)
                else:
                    rtype = _U16x2.unpack_from(d.buf, 0)[0]
                    info.fail(f"truncated {REC_NAMES.get(rtype, 'record')} at offset {d.base}{where}: record "
                              f"length says {need - REC_HDR} bytes, {len(d.buf) - REC_HDR} left", d.base)
                return
        finally:
            unknown = 0
            for rtype, k in counts.items():
                name = REC_NAMES.get(rtype, "unknown")
                unknown += k if name == "unknown" else 0
                info.blocks[name] = info.blocks.get(name, 0) + k
            if unknown:
                info.warnings.append(f"{unknown} record(s) of unknown type skipped, as Wireshark does")

    def _stop(self, d: ChunkReader, stop: int, where: str,
              stream_fault: Callable[[], TraceFormatError | None]) -> None:
        info = self.info
        at = d.base
        rtype, rlen = _U16x2.unpack_from(d.buf, 0)
        name = REC_NAMES.get(rtype, f"record type {rtype}")
        if stop == STOP_EOF:
            if not d.fill(REC_HDR + rlen):
                fault = d.stream_error or stream_fault()
                if fault is not None:
                    info.errors.append(fault)
                else:
                    info.fail(f"truncated REC_EOF at offset {at}{where}: record length says {rlen} bytes, "
                              f"{len(d.buf) - REC_HDR} left", at)
                return
            info.count_block("REC_EOF")
            d.advance(REC_HDR + rlen)
            if d.fill(1):
                info.warnings.append(f"data after the EOF record (from offset {d.base}{where}) ignored, "
                                     f"as Wireshark does")
        elif stop == STOP_SHORT:
            info.fail(f"{name} at offset {at}{where}: record length {rlen} is less than its "
                      f"{FRAME_HDR[rtype]}-byte frame header", at)
        elif stop == STOP_SIZE:
            size = d.buf[12] | d.buf[13] << 8
            info.fail(f"{name} at offset {at}{where}: record length {rlen} is less than the "
                      f"{FRAME_HDR[rtype]}-byte frame header plus the packet size {size}", at)
        else:
            info.fail(f"REC_FRAME4 (ATM frame) record at offset {at}{where} in a non-ATM Sniffer file", at)

    def _batch(self, buf: bytes, starts: list[int], hlens: list[int], base: int, number: int) -> FrameBatch:
        data = np.frombuffer(buf, dtype=np.uint8)
        s = np.asarray(starts, dtype=np.int64)
        f = s + REC_HDR  # frame header

        def u16(p: np.ndarray) -> np.ndarray:
            return data[p].astype(np.int64) | (data[p + 1].astype(np.int64) << 8)

        ticks = (u16(f).astype(np.uint64) | (u16(f + 2).astype(np.uint64) << np.uint64(16))
                 | (data[f + 4].astype(np.uint64) << np.uint64(32)))
        day = data[f + 5].astype(np.int64)
        size = u16(f + 6)
        true_size = u16(f + 10)
        # 40-bit ticks x picoseconds per tick (< 2**64), to seconds and whole
        # nanoseconds, then the day count and the start date, as Wireshark.
        ps = ticks * np.uint64(self.psec)
        secs = ps // np.uint64(10**12)
        nsec = ((ps - secs * np.uint64(10**12)) // np.uint64(1000)).astype(np.int64)
        ts_sec = secs.astype(np.int64) + day * 86400 + self.start
        n = len(s)
        return FrameBatch(
            data=data,
            offset=f + np.asarray(hlens, dtype=np.int64),
            caplen=size,
            origlen=np.where(true_size != 0, true_size, size),
            ts_ns=ts_sec * 1_000_000_000 + nsec,
            linktype=np.full(n, self.linktype, dtype=np.int32),
            interface_id=np.full(n, -1, dtype=np.int32),
            record_offset=s + base,
            first_number=number,
        )


__all__ = ["MAGIC", "BlobError", "NgSnifferReader", "decompress_blob", "sniff"]
