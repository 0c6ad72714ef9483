"""IPCS SUMMARY reports of z/OS Communications Server SYSTCPDA traces.

``CTRACE COMP(SYSTCPDA) SUB((TCPCS)) SUMMARY`` (or ``OPTIONS((SUMMARY))``)
prints one or two lines a record instead of the formatted record.  The
layout is the one of the *z/OS Communications Server: IP Diagnosis Guide*,
"SUMMARY" (Figure 1, "Example of a SUMMARY report")::

    **** 2004/01/26
    I - Inbound packet
    O - Outbound packet

    DP   Nr hh:mm:ss.mmmmmm IpId    Seq_num    Ack_num  Wndw Flags            DatLn Source/Destination
    OT    1 14:18:00.447462 19E6 1452693653          0 32768 SYN                  0 10.7.1.61-3470
                                                                                    192.168.248.44-5000
    IT    4 14:18:01.111074 4E3D 3454024896 1452693654 32768 ACK PSH             47 192.168.248.44-5000
                            3232302D 2057656C *.......% 220- Wel*                   10.7.1.61-3470

* ``D`` is the direction (I inbound, O outbound), ``P`` the protocol (T TCP,
  U UDP, I ICMP, G IGMP, D a data trace record, P anything else), ``Nr`` the
  CTRACE record number; then the time (the date comes from the ``****``
  lines), the IP identifier, the TCP sequence and acknowledgement numbers,
  window and flags, the data length and the source address-port.  The second
  line holds the first bytes of the data (hex, then EBCDIC and ASCII between
  ``*``) and the destination address-port.
* Only TCP records appear in IBM's sample.  Other protocols are read with
  the same columns, whatever of them is blank (IPv6 has no IP identifier;
  UDP, ICMP and IGMP no sequence numbers); the renderer of the tests writes
  them so.

Nothing else of the packet is in the report, so a record becomes a packet
rebuilt from exactly those fields: an IPv4 (20 bytes) or IPv6 (40 bytes)
header and a TCP (20 bytes) or UDP (8 bytes) header, then the data bytes the
report shows.  Every field the report does not carry is zero in the rebuilt
header (TTL, checksums, TOS, fragment bits, urgent pointer; the header
lengths are the minimal ones, so ``ip.len`` is the headers' 40 / 28 / 60 / 48
bytes plus DatLn, the packet's own ``ip.len`` only when it had no options);
``ctrace.summary_fields`` lists the Wireshark names of the fields that are
the report's, ``ctrace.payload_absent`` is true, frame.len is the rebuilt
headers plus DatLn and frame.cap_len the bytes rebuilt.  ICMP and IGMP
records get the IP header only (their type and code are not in the report;
DatLn of an ICMP record is read as the bytes after the 8-byte ICMP header).
A ``D`` record (data trace) becomes a data record like those of the
formatted report (LINKTYPE_ZOS_DATA, the data bytes shown; Source is the
job's end of the socket).  ``P`` records are skipped with a warning: their
protocol number is not in the report.

Banner lines (``COMPONENT TRACE SUMMARY FORMAT``, ``SYSNAME(...)``, page
headings) are read as in the formatted report; a damaged record is skipped
with a warning naming its line, and one error at the end counts them.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tracedoc.read import ctrace
from tracedoc.read.batch import FrameBatch
from tracedoc.read.ctrace import (LINKTYPE_RAW, LINKTYPE_ZOS_DATA, MAX_BATCH_BYTES, MAX_BATCH_RECORDS, Malformed,
                                  _Batch, _Packet, _looks_text, date_ns, hms_ns)
from tracedoc.read.info import TraceInfo
from tracedoc.read.source import ChunkReader

HEADING_RE = re.compile(r"^\s*DP\s+Nr\s+hh:mm:ss\S*\s+.*\bSeq_?num\b.*\bAck_?num\b.*\bDat_?Ln\b", re.I)
"""The report's column headings (``DP Nr hh:mm:ss.mmmmmm IpId Seq_num
Ack_num Wndw Flags DatLn Source/Destination``), whatever the spacing."""

FIRST_RE = re.compile(r"^\s*([IO])([TUIGDP])\s+(\d{1,12})\s+(\d{1,2}:\d{2}:\d{2}(?:\.\d{1,9})?)(?:\s+(.*?))?\s*$")
"""A record's first line: ``OT    1 14:18:00.447462 ...``."""

_CHAR_COLUMN_RE = re.compile(r"[*|]")
_HEX_RE = re.compile(r"^(?:[0-9A-Fa-f]{2})+$")
_INT_RE = re.compile(r"^\d{1,10}$")
_ADDRISH_RE = re.compile(r"^[0-9A-Fa-f:.]+(?:-\d+)?$")
_HEXID_RE = re.compile(r"^[0-9A-Fa-f]{1,4}$")

TCP_FLAGS = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20, "ECE": 0x40,
             "CWR": 0x80, "NS": 0x100}
PROTOCOLS = {"T": 6, "U": 17, "I": 1, "G": 2}
MAX_LINES_TO_SECOND = 12
"""Lines (page headings, banners) looked through for a record's second line."""


def sniff(head: bytes) -> bool:
    """A SUMMARY report of SYSTCPDA: its column headings in the first bytes
    of a text file."""
    if not _looks_text(head):
        return False
    text = head.decode("latin-1")
    return any(HEADING_RE.match(line) for line in text.replace("\f", "\n").replace("\r", "\n").split("\n"))


def endpoint(tok: str) -> tuple[str, int | None] | None:
    """``10.7.1.61-3470`` / ``FEC9::1-21`` / ``9.67.115.69`` -> (address, port)."""
    m = re.match(r"^(.*?)(?:-|\.\.)(\d{1,5})$", tok)
    for addr, port in ((m.group(1), int(m.group(2))) if m else (None, None), (tok, None)):
        if addr is None:
            continue
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            continue
        if port is not None and port > 0xFFFF:
            return None
        return str(ip), port
    return None


@dataclass
class _Rec:
    line: int
    offset: int
    direction: str
    proto: str
    number: int
    hms: str
    ts: int
    middle: list[str]
    datln: int
    src: tuple[str, int | None]
    dst: tuple[str, int | None] | None = None
    data: bytes = b""
    lines_waited: int = 0


class CtraceSummaryReader(ctrace.CtraceTextReader):
    def __init__(self, chunks: ChunkReader, info: TraceInfo) -> None:
        super().__init__(chunks, info)
        info.format = "ctrace-summary"
        self.date: tuple[int, int, int] | None = None
        self.saw_heading = False

    # ------------------------------------------------------------ records

    def _first(self, lineno: int, off: int, m: re.Match[str]) -> _Rec:
        direction = "In" if m.group(1) == "I" else "Out"
        number = int(m.group(3))
        hms = m.group(4)
        t = hms_ns(hms)
        if t is None:
            raise Malformed(lineno, f"bad time '{hms}'")
        if self.date is None:
            raise Malformed(lineno, "no '**** yyyy/mm/dd' date line before the record")
        ts = date_ns(self.date) + t
        if self.last_ts is not None and ts < self.last_ts - 12 * 3600 * 1_000_000_000:
            ts += 86400 * 1_000_000_000  # past midnight without a new date line
            self.date = ctrace._civil(ts // (86400 * 1_000_000_000))
        toks = (m.group(5) or "").split()
        at = next((i for i, t in enumerate(toks) if endpoint(t) is not None), None)
        if at is None:
            bad = next((t for t in reversed(toks) if _ADDRISH_RE.match(t) and ("." in t or ":" in t)), None)
            if bad is not None:
                raise Malformed(lineno, f"bad Source address-port '{bad}'")
            raise Malformed(lineno, "no Source address-port on the record's first line")
        if at == 0 or not _INT_RE.match(toks[at - 1]):
            raise Malformed(lineno, "no DatLn before the Source address")
        src = endpoint(toks[at])
        assert src is not None
        rec = _Rec(lineno, off, direction, m.group(2), number, hms, ts, toks[:at - 1], int(toks[at - 1]), src)
        if at + 1 < len(toks):
            dst = endpoint(toks[at + 1])
            if dst is None or at + 2 != len(toks):
                raise Malformed(lineno, f"'{' '.join(toks[at + 1:])}' after the Source address")
            rec.dst = dst
        return rec

    def _second(self, rec: _Rec, lineno: int, text: str) -> bool:
        """The record's second line (data bytes, destination); False when
        ``text`` is not one."""
        toks = text.split()
        if not toks:
            return False
        dst = endpoint(toks[-1])
        if dst is None:
            return False
        rec.dst = dst
        head = _CHAR_COLUMN_RE.split(text.rsplit(toks[-1], 1)[0], maxsplit=1)[0].split()
        hexes = []
        for t in head:
            if not _HEX_RE.match(t):
                break
            hexes.append(t)
        rec.data = bytes.fromhex("".join(hexes))
        if len(rec.data) > rec.datln:
            raise Malformed(lineno, f"{len(rec.data)} data bytes shown, DatLn {rec.datln}")
        return True

    def _build(self, rec: _Rec) -> tuple[_Packet, int] | None:
        if rec.dst is None:
            raise Malformed(rec.line, "no Source/Destination second line")
        (sip, sport), (dip, dport) = rec.src, rec.dst
        meta: dict[str, Any] = {
            "ctrace.record_type": "summary",
            "ctrace.system": self.systems[0] if self.systems else None,
            "ctrace.record": rec.number,
            "ctrace.local_time": rec.hms,
            "ctrace.direction": rec.direction,
            "ctrace.payload_absent": True,
            "ctrace.line": rec.line,
        }
        if rec.proto == "P":
            self.skipped["SUMMARY record of another protocol"] = \
                self.skipped.get("SUMMARY record of another protocol", 0) + 1
            self._warn(f"line {rec.line}: SUMMARY record of a protocol other than TCP, UDP, ICMP or IGMP skipped "
                       f"(its protocol number is not in the report)")
            return None
        if rec.proto == "D":
            # A data trace record: the job's socket data; Source is the
            # job's end of the socket (as in the formatted data trace).
            if rec.datln >= 1 << 32:
                raise Malformed(rec.line, "DatLn out of range")
            shown = [f"payload:{len(rec.data)}"] if rec.data else []
            meta.update({
                "ctrace.record_type": "data",
                "ctrace.payload_absent": len(rec.data) < rec.datln,
                "ctrace.data.local_ip": sip, "ctrace.data.local_port": sport,
                "ctrace.data.remote_ip": dip, "ctrace.data.remote_port": dport,
                "ctrace.data.length": rec.datln,
                "ctrace.summary_fields": ",".join(["ctrace.data.local_ip", "ctrace.data.remote_ip"]
                                                  + (["ctrace.data.local_port"] if sport is not None else [])
                                                  + (["ctrace.data.remote_port"] if dport is not None else [])
                                                  + ["ctrace.data.length"] + shown),
            })
            return _Packet(rec.data, rec.datln, rec.ts, meta, None, None), LINKTYPE_ZOS_DATA

        v6 = ":" in sip
        if v6 != (":" in dip):
            raise Malformed(rec.line, "Source and Destination of different IP versions")
        proto = PROTOCOLS[rec.proto]
        if proto == 1 and v6:
            proto = 58
        mid = list(rec.middle)
        names = ["ipv6.src", "ipv6.dst", "ipv6.nxt"] if v6 else ["ip.src", "ip.dst", "ip.proto"]
        ipid = 0
        seq = ack = wnd = flags = 0
        idtok: str | None
        # The IP identifier is the first column (hex); IPv6 has none (blank).
        if rec.proto == "T":
            if len(mid) >= 4 and _HEXID_RE.match(mid[0]) and all(_INT_RE.match(t) for t in mid[1:4]):
                idtok, nums, rest = mid[0], mid[1:4], mid[4:]
            elif len(mid) >= 3 and all(_INT_RE.match(t) for t in mid[:3]):
                idtok, nums, rest = None, mid[:3], mid[3:]
            else:
                raise Malformed(rec.line, "TCP record without its Seq_num, Ack_num and Wndw columns")
            seq, ack, wnd = (int(t) for t in nums)
            if seq >= 1 << 32 or ack >= 1 << 32 or wnd > 0xFFFF:
                raise Malformed(rec.line, "Seq_num / Ack_num / Wndw out of range")
            for t in rest:
                bit = TCP_FLAGS.get(t.upper().strip(","))
                if bit is None:
                    raise Malformed(rec.line, f"unknown TCP flag '{t}'")
                flags |= bit
        else:
            idtok = mid[0] if mid and _HEXID_RE.match(mid[0]) else None
            rest = mid[1:] if idtok is not None else mid
            if rest:
                meta["ctrace.flags"] = " ".join(rest)
        if idtok is not None and not v6:
            ipid = int(idtok, 16)
            names.append("ip.id")
        if rec.proto in ("T", "U") and (sport is None or dport is None):
            raise Malformed(rec.line, "TCP / UDP record without its ports")

        data = rec.data
        if rec.proto == "T":
            assert sport is not None and dport is not None
            th = struct.pack("!HHIIHHHH", sport, dport, seq, ack, (5 << 12) | flags, wnd, 0, 0)
            names += ["tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.window_size_value",
                      "tcp.flags", "tcp.len"]
            tlen = 20
        elif rec.proto == "U":
            assert sport is not None and dport is not None
            if 8 + rec.datln > 0xFFFF:
                raise Malformed(rec.line, f"DatLn {rec.datln} too long for a UDP datagram")
            th = struct.pack("!HHHH", sport, dport, 8 + rec.datln, 0)
            names += ["udp.srcport", "udp.dstport", "udp.length"]
            tlen = 8
        else:
            # ICMP: type and code are not in the report; no header is rebuilt
            # (the 8 bytes it takes count in the length).  IGMP: DatLn is
            # the IP payload.
            th = b""
            tlen = 8 if proto in (1, 58) else 0
            if proto in (1, 58):
                data = b""
        if data:
            names.append(f"payload:{len(data)}")
        payload_len = tlen + rec.datln
        if v6:
            if payload_len > 0xFFFF:
                raise Malformed(rec.line, f"DatLn {rec.datln} too long for an IPv6 packet")
            hdr = struct.pack("!IHBB16s16s", 6 << 28, payload_len, proto, 0,
                              ipaddress.IPv6Address(sip).packed, ipaddress.IPv6Address(dip).packed)
        else:
            if 20 + payload_len > 0xFFFF:
                raise Malformed(rec.line, f"DatLn {rec.datln} too long for an IPv4 packet")
            hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, ipid, 0, 0, proto, 0,
                              ipaddress.IPv4Address(sip).packed, ipaddress.IPv4Address(dip).packed)
        meta["ctrace.summary_fields"] = ",".join(names)
        return _Packet(hdr + th + data, len(hdr) + payload_len, rec.ts, meta, None, None), LINKTYPE_RAW

    def _finish(self, rec: _Rec, batch: _Batch) -> None:
        try:
            got = self._build(rec)
        except Malformed as e:
            self._bad_line(rec.line, rec.offset, e.reason, rec.line)
            return
        except (ValueError, struct.error, OverflowError) as e:
            self._bad_line(rec.line, rec.offset, f"record not understood ({e})", rec.line)
            return
        if got is None:
            return
        p, linktype = got
        self.last_ts = p.ts_ns
        batch.add(p, self._interface(None, None, linktype), rec.offset, linktype)

    def _bad_line(self, line: int, offset: int, reason: str, rec_line: int) -> None:
        self.malformed += 1
        if self.first_bad is None:
            self.first_bad = (line, reason, offset)
        self._warn(f"line {line}: malformed CTRACE SUMMARY record (first line at line {rec_line}) skipped: {reason}")

    def batches(self) -> Iterator[FrameBatch]:
        number = 1
        batch = _Batch()
        rec: _Rec | None = None
        for lineno, off, raw in self._lines():
            text = raw.replace("\r", "").replace("\f", "").replace("\x00", "")
            m = FIRST_RE.match(text)
            if m is not None:
                if rec is not None:
                    self._finish(rec, batch)
                    rec = None
                    if len(batch) >= MAX_BATCH_RECORDS or len(batch.data) >= MAX_BATCH_BYTES:
                        yield batch.frames(number)
                        number += len(batch)
                        batch = _Batch()
                try:
                    rec = self._first(lineno, off, m)
                except Malformed as e:
                    self._bad_line(e.line, off, e.reason, lineno)
                    rec = None
                    continue
                if rec.dst is not None:
                    self._finish(rec, batch)
                    rec = None
                continue
            if rec is not None and text.strip():
                try:
                    done = self._second(rec, lineno, text)
                except Malformed as e:
                    self._bad_line(e.line, rec.offset, e.reason, rec.line)
                    rec = None
                    continue
                if done:
                    self._finish(rec, batch)
                    rec = None
                    continue
                rec.lines_waited += 1
                if rec.lines_waited > MAX_LINES_TO_SECOND:
                    self._finish(rec, batch)  # reported: no second line
                    rec = None
            self._summary_banner(text)
        if rec is not None:
            self._finish(rec, batch)
        if len(batch):
            yield batch.frames(number)
            number += len(batch)
        self._finish_info()
        ctrace.report_end(self.info, self.chunks, self.malformed, self.first_bad)

    def _summary_banner(self, text: str) -> None:
        s = " ".join(text.split())
        if HEADING_RE.match(s):
            self.saw_heading = True
            return
        m = ctrace.DATE_LINE_RE.match(s)
        if m:
            y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
            if ctrace._date_ok(y) and 1 <= mo <= 12 and 1 <= d <= 31:
                self.date = (y, mo, d)
            return
        self._banner(text)

    def _finish_info(self) -> None:
        info = self.info
        info.extra["component"] = ", ".join(self.components) if self.components else "SYSTCPDA"
        info.extra["system"] = ", ".join(self.systems) if self.systems else "not shown (no SYSNAME line)"
        info.extra["trace_options"] = ("; ".join(self.options_shown) if self.options_shown
                                       else "SUMMARY report (from its column headings)")
        for what, n in self.skipped.items():
            info.extra.setdefault("skipped_records", {})[what] = n
        if self.warnings_dropped:
            info.warnings.append(f"{self.warnings_dropped} more warnings not shown")
        if not info.interfaces:
            info.interfaces.append(ctrace.InterfaceInfo(id=0, linktype=LINKTYPE_RAW, linktype_name="RAW",
                                                        snaplen=ctrace.SNAPLEN))


__all__ = ["CtraceSummaryReader", "endpoint", "sniff"]
