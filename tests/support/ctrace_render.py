"""Render IP packets as IPCS-formatted SYSTCPDA packet trace text.

The layout follows the samples of the *z/OS Communications Server: IP
Diagnosis Guide* ("Formatting packet traces using IPCS": the FORMAT and DUMP
reports, "Using IP packet trace") and the formatted record of the seed
presentation, with IPCS's column alignment::

    54550962 SOW1     PACKET   00000004 14:13:05.687446 Packet Trace
     From Interface    : OSDL             Device: QDIO Ethernet    Full=78
      Tod Clock        : 2011/01/25 14:13:05.687445 Intfx: 9
      ...
     Ip Header         : 20               IP: 172.29.96.9, 172.29.191.255  Offset: 0
    000000 4500004E 78B70000 521177A4 AC1D6009 AC1DBFFF

:func:`render` writes the FULL form (formatted fields and DUMP hex),
``dump=False`` the FORMAT-only form (no hex: the reader rebuilds the
headers), ``fmt=False`` the DUMP-only form; a packet whose ``origlen`` is more
than its bytes is written as an abbreviated record (``Abbrev=``).  Page
breaks (form feed and an IPCS page heading) go between records
(``page_every``) or every so many lines, inside records too (``page_lines``).

Field layouts IBM does not show in those samples (TCP, IPv6, ICMP other than
echo) are this helper's choice; the reader is written to the same choice and
matches every label whitespace- and case-tolerantly.

The other record kinds: :func:`data_record_lines` (Data Trace records, the
first lines as IBM's "Formatting data traces using IPCS" sample shows them),
:func:`osa_record_lines` (OSAENTA records of Ethernet frames: IBM publishes
no sample, the ``Mac Header`` section and ``Device ID`` line are this
helper's choice), :func:`render_records` (any mix of the three kinds) and
:func:`render_summary` (the IPCS SUMMARY report, in the columns of IBM's
"SUMMARY" sample; its UDP / ICMP / IPv6 / data trace lines are this helper's
choice, IBM showing TCP over IPv4 only).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass

PROTO_NAMES = {1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 58: "ICMPv6"}
SERVICES = {20: "ftp-data", 21: "ftp", 22: "ssh", 23: "telnet", 25: "smtp", 53: "domain", 67: "bootps",
            68: "bootpc", 80: "www", 123: "ntp", 137: "netbios-ns", 138: "netbios-dgm", 161: "snmp", 443: "https"}
ECHO_TYPES_V4 = {0, 8, 13, 14, 15, 16, 17, 18}
ECHO_TYPES_V6 = {128, 129}
EXT_HEADERS_V6 = {0, 43, 44, 51, 60}


@dataclass
class Packet:
    data: bytes
    """The IP packet (as traced: may be fewer bytes than ``origlen``)."""
    ts_ns: int
    direction: str = "In"
    link: str = "OSDL"
    link_kind: str = "Interface"
    device: str = "QDIO Ethernet"
    discard: int | None = None
    origlen: int | None = None
    """Length of the packet; more than ``len(data)`` makes an Abbrev record."""
    asid: int = 0x004F
    tcb: int = 0
    intfx: int | None = 9


# ------------------------------------------------------------------ layout


def _field(label: str, value: object = "", indent: int = 2, width: int = 17) -> str:
    return f"{' ' * indent}{label:<{width - indent + 2}}: {value}"


def _pair(label: str, value: object, rest: str = "", indent: int = 2) -> str:
    head = f"{' ' * indent}{label:<{19 - indent}}: {value}"
    return f"{head:<37} {rest}".rstrip()


def _sumcheck(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data)) if data else 0
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _tod(ts_ns: int) -> str:
    t = dt.datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=dt.timezone.utc)
    return t.strftime("%Y/%m/%d %H:%M:%S") + f".{ts_ns % 1_000_000_000 // 1000:06d}"


def _hms(ts_ns: int) -> str:
    return _tod(ts_ns)[11:]


def _ebcdic(b: bytes) -> str:
    out = []
    for ch in b.decode("cp037"):
        out.append(ch if ch.isascii() and ch.isprintable() else ".")
    return "".join(out)


def _ascii(b: bytes) -> str:
    return "".join(chr(c) if 32 <= c < 127 else "." for c in b)


def hex_lines(data: bytes, per_line: int = 16, chars: bool = True) -> list[str]:
    out = []
    for off in range(0, len(data), per_line):
        chunk = data[off:off + per_line]
        groups = " ".join(chunk[i:i + 4].hex().upper() for i in range(0, len(chunk), 4))
        if chars:
            width = per_line * 2 + (per_line + 3) // 4 - 1
            out.append(f"{off:06X} {groups:<{width}}  |{_ebcdic(chunk):<{per_line}} {_ascii(chunk):<{per_line}}|")
        else:
            out.append(f"{off:06X} {groups}")
    return out


# ------------------------------------------------------------------ packets


@dataclass
class Layout:
    version: int
    ip_len: int
    """Bytes of the IP header section (IPv4 options, IPv6 extension headers)."""
    proto: int | None
    """Upper-layer protocol whose header follows, None when none does."""
    tp_len: int
    """Bytes of the protocol header section."""
    frag_off: int = 0


def layout(data: bytes) -> Layout | None:
    if not data:
        return None
    v = data[0] >> 4
    if v == 4:
        if len(data) < 20:
            return Layout(4, len(data), None, 0)
        ihl = (data[0] & 15) * 4
        hl = min(max(ihl, 20), len(data))
        frag = struct.unpack("!H", data[6:8])[0] & 0x1FFF
        proto = data[9]
        if ihl < 20 or frag:
            return Layout(4, hl, None, 0, frag)
        return _with_transport(data, Layout(4, hl, proto, 0))
    if v == 6:
        if len(data) < 40:
            return Layout(6, len(data), None, 0)
        nxt, pos = data[6], 40
        while nxt in EXT_HEADERS_V6:
            if pos + 8 > len(data):
                return Layout(6, len(data), None, 0)
            if nxt == 44:
                if struct.unpack("!H", data[pos + 2:pos + 4])[0] & 0xFFF8:
                    return Layout(6, pos + 8, None, 0, 1)
                size = 8
            elif nxt == 51:
                size = (data[pos + 1] + 2) * 4
            else:
                size = (data[pos + 1] + 1) * 8
            nxt, pos = data[pos], pos + size
        if pos > len(data):
            return Layout(6, len(data), None, 0)
        return _with_transport(data, Layout(6, pos, nxt, 0))
    return None


def _with_transport(data: bytes, lo: Layout) -> Layout:
    rest = len(data) - lo.ip_len
    if lo.proto == 6:
        want = 20
        if rest >= 13:
            want = max(20, (data[lo.ip_len + 12] >> 4) * 4)
    elif lo.proto in (17, 1, 58):
        want = 8
    else:
        lo.proto = None
        return lo
    lo.tp_len = min(want, rest)
    return lo


# ------------------------------------------------------------------ FORMAT


def _ip_format(data: bytes, lo: Layout) -> list[str]:
    if lo.version == 4:
        if len(data) < 20:
            return []
        vihl, tos, total, ident, ff, ttl, proto, csum = struct.unpack("!BBHHHBBH", data[:12])
        hl = (vihl & 15) * 4
        flags = [n for bit, n in ((0x8000, "Reserved"), (0x4000, "DontFragment"), (0x2000, "MoreFragments"))
                 if ff & bit]
        verify = _sumcheck(data[:min(max(hl, 20), len(data))])
        return [
            _pair("IpHeader: Version", 4, f"Header Length: {hl}", indent=1),
            _pair("Tos", f"{tos:02X}", "QOS: Routine Normal Service"),
            _pair("Packet Length", total, f"ID Number: {ident:04X}"),
            _pair("Fragment", " ".join(flags), f"Offset: {(ff & 0x1FFF) * 8}"),
            _pair("TTL", ttl, f"Protocol: {PROTO_NAMES.get(proto, str(proto)):<14} CheckSum: {csum:04X} {verify:04X}"),
            _field("Source", ipaddress.IPv4Address(data[12:16])),
            _field("Destination", ipaddress.IPv4Address(data[16:20])),
        ]
    if len(data) < 40:
        return []
    first, plen, nxt, hlim = struct.unpack("!IHBB", data[:8])
    name = PROTO_NAMES.get(nxt)
    return [
        _pair("IpHeader: Version", 6, f"Traffic Class: {(first >> 20) & 0xFF:02X}      Flow Label: "
                                      f"{first & 0xFFFFF:05X}", indent=1),
        _pair("Payload Length", plen, f"Next Header: {nxt}{f' ({name})' if name else ''}  Hop Limit: {hlim}"),
        _field("Source", ipaddress.IPv6Address(data[8:24])),
        _field("Destination", ipaddress.IPv6Address(data[24:40])),
    ]


def _port(p: int) -> str:
    return f"{p:<5} ({SERVICES.get(p, '')})"


def tcp_options_text(opts: bytes) -> list[str] | None:
    """The options as ``Option :`` values; None when they cannot be written
    back exactly (a bad length, bytes after End of List)."""
    out = []
    i = 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            out.append("End of List")
            if any(opts[i + 1:]):
                return None
            break
        if kind == 1:
            out.append("NOP")
            i += 1
            continue
        if i + 1 >= len(opts):
            return None
        ln = opts[i + 1]
        if ln < 2 or i + ln > len(opts):
            return None
        body = opts[i + 2:i + ln]
        if kind == 2 and ln == 4:
            out.append(f"Max Seg Size     Len: 4 MSS: {struct.unpack('!H', body)[0]}")
        elif kind == 3 and ln == 3:
            out.append(f"Window Scale     Len: 3 Shift: {body[0]}")
        elif kind == 4 and ln == 2:
            out.append("SACK Permitted   Len: 2")
        elif kind == 8 and ln == 10:
            val, echo = struct.unpack("!II", body)
            out.append(f"Timestamp        Len: 10 Value: {val} Echo: {echo}")
        elif kind == 5 and (ln - 2) % 8 == 0:
            blocks = [struct.unpack("!II", body[j:j + 8]) for j in range(0, len(body), 8)]
            out.append(f"SACK             Len: {ln} Blocks: " + " ".join(f"{a}-{b}" for a, b in blocks))
        else:
            out.append(f"Kind: {kind:<11} Len: {ln} Data: {body.hex().upper()}")
        i += ln
    return out


def _transport_format(data: bytes, lo: Layout) -> tuple[list[str], bool]:
    """FORMAT lines of the protocol header, and whether they hold every byte
    of it (so the header can be rebuilt from them)."""
    h = data[lo.ip_len:lo.ip_len + lo.tp_len]
    if lo.proto == 6 and len(h) >= 20:
        sport, dport, seq, ack, offfl, win, csum, urg = struct.unpack("!HHIIHHHH", h[:20])
        hl = (offfl >> 12) * 4
        names = [n for bit, n in ((0x20, "Urg"), (0x10, "Ack"), (0x08, "Psh"), (0x04, "Rst"), (0x02, "Syn"),
                                  (0x01, "Fin"), (0x40, "Ece"), (0x80, "Cwr"), (0x100, "Ns")) if offfl & bit]
        lines = [" TCP",
                 _pair("Source Port", _port(sport), f"Destination Port: {_port(dport)}"),
                 _pair("Sequence Number", seq, f"Ack Number: {ack}"),
                 _pair("Header Length", hl, f"Flags: {' '.join(names)}"),
                 _pair("Window Size", win, f"CheckSum: {csum:04X} FFFF Urgent Data Pointer: {urg:04X}")]
        opts = tcp_options_text(h[20:hl]) if hl >= 20 and len(h) >= hl else None
        for o in opts or []:
            lines.append(_field("Option", o))
        ok = opts is not None and hl >= 20 and not offfl & 0x0E00
        return lines, ok
    if lo.proto == 17 and len(h) >= 8:
        sport, dport, length, csum = struct.unpack("!HHHH", h)
        return [" UDP",
                _pair("Source Port", _port(sport), f"Destination Port: {_port(dport)}"),
                _pair("Datagram Length", length, f"CheckSum: {csum:04X} FFFF")], True
    if lo.proto in (1, 58) and len(h) >= 8:
        typ, code, csum = struct.unpack("!BBH", h[:4])
        rest = h[4:8]
        v6 = lo.proto == 58
        if not v6 and (typ, code) == (8, 0):
            tc = "ECHO"
        elif not v6 and (typ, code) == (0, 0):
            tc = "ECHO REPLY"
        else:
            tc = f"{typ}/{code}"
        lines = [" ICMPv6" if v6 else " ICMP", _pair("Type/Code", tc, f"CheckSum: {csum:04X} FFFF")]
        if typ in (ECHO_TYPES_V6 if v6 else ECHO_TYPES_V4):
            ident, sq = struct.unpack("!HH", rest)
            lines.append(_pair("Id", ident, f"Seq: {sq}"))
        elif not v6 and typ == 5:
            lines.append(_field("Gateway", ipaddress.IPv4Address(rest)))
        elif any(rest):
            lines.append(_field("Unused", rest.hex().upper()))
        return lines, True
    return [], lo.proto is None


# ------------------------------------------------------------------ records


def record_lines(p: Packet, recno: int, system: str = "SOW1", *, dump: bool = True, fmt: bool = True,
                 tod: bool = True, seq_label: str = "Sequence #") -> list[str]:
    data = p.data
    origlen = p.origlen if p.origlen is not None else len(data)
    abbrev = origlen > len(data)
    lo = layout(data)
    if lo is None:
        raise ValueError("not an IPv4 / IPv6 packet")
    # The header line's time: when the record reached the trace buffer.
    out = [f"{recno:>5d} {system:<8} {'PACKET':<8} 00000004 {_hms(p.ts_ns + 1000)} Packet Trace"]
    d = "From" if p.direction == "In" else "To"
    length = f"Abbrev={len(data)}" if abbrev else f"Full={origlen}"
    out.append(f"{' ' + d + ' ' + p.link_kind:<19}: {p.link:<17}Device: {p.device:<17}{length}".rstrip())
    if tod:
        out.append(_field("Tod Clock", _tod(p.ts_ns) + (f" Intfx: {p.intfx}" if p.intfx is not None else "")))
    flags = ["Pkt", "Ver2", p.direction]
    if p.discard is not None:
        from tracedoc.decode import zos_discard

        name = zos_discard.lookup(p.discard).name
        out.append(_field("Discard", f"{p.discard} ({name})" if not name.startswith("code ") else p.discard))
        flags.append("Dscrd")
    if abbrev:
        flags.append("Abbrev")
    out.append(_pair(seq_label, 0, f"Flags: {' '.join(flags)}"))
    sport = dport = 0
    if lo.proto in (6, 17) and lo.tp_len >= 4:
        sport, dport = struct.unpack("!HH", data[lo.ip_len:lo.ip_len + 4])
    out.append(_pair("Source Port", sport, f"Dest Port: {dport:<5} Asid: {p.asid:04X} TCB: {p.tcb:08X}"))
    if fmt or not dump:
        out += _ip_format(data, lo)
        tlines, _ = _transport_format(data, lo)
        if tlines:
            out.append("")
            out += tlines
    if dump:
        out += _dump_lines(data, origlen, lo)
    return out


def _dump_lines(data: bytes, origlen: int, lo: Layout, base: int = 0) -> list[str]:
    """The DUMP sections of an IP packet (``Ip Header``, ``Protocol
    Header``, ``Data``); ``base``: where the packet starts in the record
    (after an OSAENTA frame's MAC header), added to the Offset values."""
    out = []
    abbrev = origlen > len(data)
    sport = dport = 0
    if lo.proto in (6, 17) and lo.tp_len >= 4:
        sport, dport = struct.unpack("!HH", data[lo.ip_len:lo.ip_len + 4])
    if lo.version == 4 and len(data) >= 20:
        ips = f"IP: {ipaddress.IPv4Address(data[12:16])}, {ipaddress.IPv4Address(data[16:20])}"
    elif lo.version == 6 and len(data) >= 40:
        ips = f"IP: {ipaddress.IPv6Address(data[8:24])}, {ipaddress.IPv6Address(data[24:40])}"
    else:
        ips = ""
    out.append(_pair("Ip Header", lo.ip_len, f"{ips}  Offset: {base:X}", indent=1))
    out += hex_lines(data[:lo.ip_len], 20, chars=False)
    pos = lo.ip_len
    if lo.tp_len:
        ports = f"Port: {sport}, {dport}  " if lo.proto in (6, 17) else ""
        out.append(_pair("Protocol Header", lo.tp_len, f"{ports}Offset: {base + pos:X}", indent=1))
        out += hex_lines(data[pos:pos + lo.tp_len], 20, chars=False)
        pos += lo.tp_len
    shown = len(data) - pos
    if shown or abbrev:
        full_data = origlen - pos
        out.append(_pair("Data", shown, f"Data Length: {full_data}  Offset: {base + pos:X}", indent=1))
        out += hex_lines(data[pos:], 16)
    return out


# ------------------------------------------------------------------ data trace


@dataclass
class DataRecord:
    """One Data Trace record: socket data a job wrote (Out, "To Jobname")
    or read (In, "From Jobname")."""
    data: bytes
    ts_ns: int
    direction: str = "Out"
    jobname: str = "FTPD1"
    local: tuple[str, int] = ("10.0.0.1", 21)
    remote: tuple[str, int] = ("10.0.0.2", 40000)
    cid: int = 0x58
    domain: str = "AF_Inet"
    type: str = "Stream"
    protocol: str = "TCP"
    state: str | None = None
    length: int | None = None
    """Bytes of socket data; more than ``len(data)`` makes an Abbrev record."""
    asid: int = 0x004F
    tcb: int = 0x007F62C0
    segment: int = 0


def data_record_lines(d: DataRecord, recno: int, system: str = "SOW1") -> list[str]:
    """A Data Trace record as IBM's "Formatting data traces using IPCS"
    sample prints it (``To Jobname``, ``Tod Clock ... Cid:``, ``Domain ...
    Type: ... Protocol:``, ``State``, ``Segment # ... Flags:``; the third
    column at 63), then the socket's ends under the labels of a packet
    record (Source is the job's end: IBM's "Correlating the data trace"
    says the data trace's source port is the socket's local port, for a READ)
    and the data as a DUMP section."""
    length = d.length if d.length is not None else len(d.data)
    abbrev = length > len(d.data)
    word = "To" if d.direction == "Out" else "From"
    lens = f"Abbrev={len(d.data)}" if abbrev else f"Full={length}"
    out = [f"{recno:>5d} {system:<8} {'DATA':<8} 00000005 {_hms(d.ts_ns + 1000)} Data Trace",
           f"{' ' + word + ' Jobname':<19}: {d.jobname:<42}{lens}",
           f"  {'Tod Clock':<17}: {_tod(d.ts_ns):<42}Cid: {d.cid:08X}",
           f"  {'Domain':<17}: {d.domain:<17}Type: {d.type:<19}Protocol: {d.protocol}"]
    if d.state:
        out.append(f"  {'State':<17}: {d.state}")
    out.append(_pair("Segment #", d.segment, f"Flags: {d.direction}"))
    out.append(_field("Source", d.local[0]))
    out.append(_field("Destination", d.remote[0]))
    out.append(_pair("Source Port", d.local[1], f"Dest Port: {d.remote[1]:<5} Asid: {d.asid:04X} TCB: {d.tcb:08X}"))
    if d.data or length:
        out.append(_pair("Data", len(d.data), f"Data Length: {length}", indent=1))
        out += hex_lines(d.data, 16)
    return out


# ------------------------------------------------------------------ OSAENTA

VLAN_TYPES = (b"\x81\x00", b"\x88\xa8", b"\x91\x00")


@dataclass
class Frame:
    """One OSAENTA record: an Ethernet frame as the OSA saw it."""
    data: bytes
    ts_ns: int
    direction: str = "In"
    link: str = "EZANTAQDIO4101"
    device: str = "QDIO Ethernet"
    origlen: int | None = None
    discard: int | None = None
    device_id: str | None = "00-01-00-02"


def mac_header_len(frame: bytes) -> int | None:
    """Bytes of the Ethernet header, VLAN tags included (None: too short)."""
    pos = 12
    while frame[pos:pos + 2] in VLAN_TYPES and pos + 6 <= len(frame):
        pos += 4
    return pos + 2 if pos + 2 <= len(frame) else None


def osa_record_lines(f: Frame, recno: int, system: str = "SOW1") -> list[str]:
    """An OSAENTA record in the packet trace layout (IBM: "the same program
    is used to format OSA traces as well as packet traces"), the frame dumped
    as a ``Mac Header`` section (destination, source, VLAN tags, type) and
    then the packet's ``Ip Header`` / ``Protocol Header`` / ``Data``
    sections (or one ``Data`` section for what is not IP), Offsets counted
    from the frame's start.  IBM publishes no OSAENTA sample: the section
    name and the ``Device ID`` line are this helper's choice."""
    data = f.data
    origlen = f.origlen if f.origlen is not None else len(data)
    abbrev = origlen > len(data)
    mac = mac_header_len(data)
    if mac is None:
        raise ValueError("frame shorter than an Ethernet header")
    length = f"Abbrev={len(data)}" if abbrev else f"Full={origlen}"
    d = "From" if f.direction == "In" else "To"
    out = [f"{recno:>5d} {system:<8} {'OSAENTA':<8} 00000007 {_hms(f.ts_ns + 1000)} OSAENTA",
           f"{' ' + d + ' Interface':<19}: {f.link:<17}Device: {f.device:<17}{length}".rstrip(),
           _field("Tod Clock", _tod(f.ts_ns))]
    flags = ["Pkt", "Ver2", f.direction]
    if f.discard is not None:
        out.append(_field("Discard", f.discard))
        flags.append("Dscrd")
    if abbrev:
        flags.append("Abbrev")
    out.append(_pair("Sequence #", 0, f"Flags: {' '.join(flags)}"))
    if f.device_id is not None:
        out.append(_field("Device ID", f.device_id))
    out.append(_pair("Mac Header", mac, "Offset: 0", indent=1))
    out += hex_lines(data[:mac], 20, chars=False)
    rest = data[mac:]
    lo = layout(rest) if data[mac - 2:mac] in (b"\x08\x00", b"\x86\xdd") else None
    if lo is not None and lo.ip_len >= (20 if lo.version == 4 else 40):
        out += _dump_lines(rest, origlen - mac, lo, base=mac)
    elif rest or abbrev:
        out.append(_pair("Data", len(rest), f"Data Length: {origlen - mac}  Offset: {mac:X}", indent=1))
        out += hex_lines(rest, 16)
    return out


# ------------------------------------------------------------------ SUMMARY

_SUMMARY_FLAGS = ((0x80, "CWR"), (0x40, "ECE"), (0x20, "URG"), (0x10, "ACK"), (0x08, "PSH"), (0x04, "RST"),
                  (0x02, "SYN"), (0x01, "FIN"))
SUMMARY_HEADING = "DP   Nr hh:mm:ss.mmmmmm IpId    Seq_num    Ack_num  Wndw Flags            DatLn Source/Destination"


def _addr(ip: bytes) -> str:
    return str(ipaddress.IPv4Address(ip)) if len(ip) == 4 else str(ipaddress.IPv6Address(ip)).upper()


@dataclass
class SummaryFacts:
    """What one SUMMARY line pair says about a packet."""
    letter: str
    ipid: int | None
    seq: int | None
    ack: int | None
    window: int | None
    flags: int | None
    datln: int
    src: str
    dst: str
    data: bytes


def summary_facts(data: bytes) -> SummaryFacts | None:
    """The SUMMARY report's fields of an IP packet (None: not IPv4 / IPv6)."""
    lo = layout(data)
    if lo is None or lo.ip_len < (20 if lo.version == 4 else 40):
        return None
    if lo.version == 4:
        total = struct.unpack("!H", data[2:4])[0]
        ipid: int | None = struct.unpack("!H", data[4:6])[0]
        src, dst = _addr(data[12:16]), _addr(data[16:20])
    else:
        total = 40 + struct.unpack("!H", data[4:6])[0]
        ipid = None
        src, dst = _addr(data[8:24]), _addr(data[24:40])
    h = data[lo.ip_len:lo.ip_len + lo.tp_len]
    payload = max(total - lo.ip_len, 0)
    if lo.proto == 6 and len(h) >= 20:
        sport, dport, seq, ack, offfl, win = struct.unpack("!HHIIHH", h[:16])
        thl = (offfl >> 12) * 4
        start = lo.ip_len + thl
        datln = max(payload - thl, 0)
        return SummaryFacts("T", ipid, seq, ack, win, offfl & 0xFF, datln, f"{src}-{sport}",
                            f"{dst}-{dport}", data[start:start + min(8, datln)])
    if lo.proto == 17 and len(h) >= 8:
        sport, dport = struct.unpack("!HH", h[:4])
        start = lo.ip_len + 8
        datln = max(payload - 8, 0)
        return SummaryFacts("U", ipid, None, None, None, None, datln, f"{src}-{sport}",
                            f"{dst}-{dport}", data[start:start + min(8, datln)])
    if lo.proto in (1, 58) and len(h) >= 8:
        start = lo.ip_len + 8
        datln = max(payload - 8, 0)
        return SummaryFacts("I", ipid, None, None, None, None, datln, src, dst, data[start:start + min(8, datln)])
    nxt = data[9] if lo.version == 4 else None
    letter = "G" if nxt == 2 and not lo.frag_off else "P"
    return SummaryFacts(letter, ipid, None, None, None, None, payload, src, dst,
                        data[lo.ip_len:lo.ip_len + min(8, payload)])


def _summary_pair(direction: str, recno: int, ts_ns: int, f: SummaryFacts) -> list[str]:
    d = "I" if direction == "In" else "O"
    ipid = f"{f.ipid:04X}" if f.ipid is not None else ""
    if f.letter == "T":
        names = " ".join(n for bit, n in _SUMMARY_FLAGS if (f.flags or 0) & bit)
        tcp = f"{f.seq:>10} {f.ack:>10} {f.window:>5} {names:<16}"
    else:
        tcp = " " * 44
    first = f"{d}{f.letter} {recno:>4} {_hms(ts_ns)} {ipid:<4} {tcp} {f.datln:>5} {f.src}"
    if f.data:
        groups = " ".join(f.data[i:i + 4].hex().upper() for i in range(0, len(f.data), 4))
        chars = f"*{_ebcdic(f.data):<8} {_ascii(f.data):<8}*"
        second = f"{' ' * 24}{groups:<17} {chars}"
        second = f"{second:<80}{f.dst}"
    else:
        second = f"{' ' * 80}{f.dst}"
    return [first.rstrip(), second]


def summary_lines(p: Packet | DataRecord, recno: int) -> list[str]:
    """One record of a SUMMARY report (two lines), in the columns of IBM's
    sample: TCP fields as there; UDP, ICMP, IGMP and other protocols with
    the TCP columns blank, IPv6 without an IP identifier (IBM's sample shows
    TCP over IPv4 only); a data trace record (``D``) with Source the job's
    end of the socket."""
    if isinstance(p, DataRecord):
        length = p.length if p.length is not None else len(p.data)
        f = SummaryFacts("D", None, None, None, None, None, length, f"{p.local[0].upper()}-{p.local[1]}",
                         f"{p.remote[0].upper()}-{p.remote[1]}", p.data[:8])
        return _summary_pair(p.direction, recno, p.ts_ns, f)
    facts = summary_facts(p.data)
    if facts is None:
        raise ValueError("not an IPv4 / IPv6 packet")
    return _summary_pair(p.direction, recno, p.ts_ns, facts)


def render_summary(packets: Iterable[Packet | DataRecord], *, system: str | None = "SOW1", aligned: bool = True,
                   page_lines: int | None = None, first_record: int = 1) -> str:
    """The packets (and data trace records) as an IPCS SUMMARY report of
    SYSTCPDA: IBM's banner, a ``****`` date line before the records of
    each day, the legend and column headings of IBM's sample, page breaks
    (form feed and the headings again) every ``page_lines`` lines."""
    lines: list[str] = []
    if system is not None:
        lines += [" COMPONENT TRACE SUMMARY FORMAT",
                  f"  SYSNAME({system})",
                  "  COMP(SYSTCPDA)SUBNAME((TCPIP))",
                  "  DSNAME('IBMUSER.CTRACE.PKTTRACE')",
                  ""]
    day = None
    body: list[str] = []
    for i, p in enumerate(packets):
        d = _tod(p.ts_ns)[:10]
        if d != day:
            if day is None:
                body += [f"**** {d}", "I - Inbound packet", "O - Outbound packet", "", SUMMARY_HEADING]
            else:
                body.append(f"**** {d}")
            day = d
        body += summary_lines(p, first_record + i)
    if page_lines:
        paged: list[str] = []
        page = 1
        for i, ln in enumerate(body):
            if i and i % page_lines == 0:
                page += 1
                paged += [f"\f COMPONENT TRACE SUMMARY FORMAT{'PAGE':>44} {page:>5}", "", SUMMARY_HEADING]
            paged.append(ln)
        body = paged
    lines += body
    if not aligned:
        lines = [("\f" if ln.startswith("\f") else "") + " ".join(ln.split()) for ln in lines]
    return "\n".join(lines) + "\n"


def faithful_format(data: bytes) -> bool:
    """Whether the FORMAT fields of this packet hold every byte of its IP
    and protocol headers (no IPv4 options, IPv6 extension headers, odd TCP
    options or reserved bits), so a FORMAT-only record rebuilds them."""
    lo = layout(data)
    if lo is None:
        return False
    if lo.version == 4 and (len(data) < 20 or (data[0] & 15) != 5):
        return False
    if lo.version == 6 and (len(data) < 40 or lo.ip_len != 40):
        return False
    _, ok = _transport_format(data, lo)
    if lo.proto is not None and lo.tp_len < (8 if lo.proto != 6 else 20):
        return False
    return ok


def banner(system: str, dump: bool, fmt: bool, size: str, first_ts: int | None, comp: str = "SYSTCPDA") -> list[str]:
    opts = " ".join(w for w, on in (("FORMAT", fmt or not dump), ("DUMP", dump)) if on)
    lines = [f" COMPONENT TRACE {size} FORMAT",
             f"  SYSNAME({system})",
             f"  COMP({comp})SUBNAME((TCPIP))",
             f"  OPTIONS(({opts}))",
             "  DSNAME('IBMUSER.CTRACE.PKTTRACE')",
             ""]
    if first_ts is not None:
        lines.append(f" **** {_tod(first_ts)[:10]}")
    lines += [" RcdNr Sysname  Mnemonic Entry Id   Time Stamp    Description",
              " ----- -------- -------- -------- --------------- --------------------------------",
              ""]
    return lines


def page_heading(page: int, size: str) -> list[str]:
    return [f"\f COMPONENT TRACE {size} FORMAT{'PAGE':>44} {page:>5}",
            "",
            " RcdNr Sysname  Mnemonic Entry Id   Time Stamp    Description",
            " ----- -------- -------- -------- --------------- --------------------------------",
            ""]


def render(packets: Iterable[Packet], *, system: str = "SOW1", dump: bool = True, fmt: bool = True,
           aligned: bool = True, with_banner: bool = True, page_every: int | None = None,
           page_lines: int | None = None, first_record: int = 1, tod: bool = True,
           seq_label: str = "Sequence #", size: str = "FULL") -> str:
    """The packets as one IPCS CTRACE report (text, lines ending in \\n)."""
    pkts = list(packets)
    lines: list[str] = []
    if with_banner:
        lines += banner(system, dump, fmt, size, pkts[0].ts_ns if pkts else None)
    page = 1
    for i, p in enumerate(pkts):
        if page_every and i and i % page_every == 0:
            page += 1
            lines += page_heading(page, size)
        lines += record_lines(p, first_record + i, system, dump=dump, fmt=fmt, tod=tod, seq_label=seq_label)
        lines.append("")
    if page_lines:
        paged: list[str] = []
        for i, ln in enumerate(lines):
            if i and i % page_lines == 0:
                page += 1
                paged += page_heading(page, size)
            paged.append(ln)
        lines = paged
    if not aligned:
        lines = [("\f" if ln.startswith("\f") else "") + " ".join(ln.split()) for ln in lines]
    return "\n".join(lines) + "\n"


def render_records(records: Iterable[Packet | DataRecord | Frame], *, system: str = "SOW1", aligned: bool = True,
                   with_banner: bool = True, page_every: int | None = None, first_record: int = 1,
                   comp: str = "SYSTCPDA") -> str:
    """Packet, data trace and OSAENTA records as one IPCS report (FULL:
    FORMAT and DUMP)."""
    recs = list(records)
    lines: list[str] = []
    if with_banner:
        lines += banner(system, True, True, "FULL", recs[0].ts_ns if recs else None, comp)
    page = 1
    for i, r in enumerate(recs):
        if page_every and i and i % page_every == 0:
            page += 1
            lines += page_heading(page, "FULL")
        if isinstance(r, DataRecord):
            lines += data_record_lines(r, first_record + i, system)
        elif isinstance(r, Frame):
            lines += osa_record_lines(r, first_record + i, system)
        else:
            lines += record_lines(r, first_record + i, system)
        lines.append("")
    if not aligned:
        lines = [("\f" if ln.startswith("\f") else "") + " ".join(ln.split()) for ln in lines]
    return "\n".join(lines) + "\n"


__all__ = ["DataRecord", "Frame", "Packet", "data_record_lines", "faithful_format", "hex_lines", "layout",
           "mac_header_len", "osa_record_lines", "record_lines", "render", "render_records", "render_summary",
           "summary_facts", "summary_lines"]


# ------------------------------------------------------------------ fixtures
# tests/data/ctrace/*.txt that are not hand-written come from here:
#     python -m tests.support.ctrace_render tests/data/ctrace

FIXTURE_TS = 1_295_964_785_687_445_000  # 2011/01/25 14:13:05.687445 UTC (the seed record's TOD)


def _fixture_packets() -> dict[str, bytes]:
    from tests.support import pcapgen as g

    ts_opt = bytes([1, 1, 8, 10]) + struct.pack("!II", 123456789, 987654321)
    sack = bytes([1, 1, 5, 18]) + struct.pack("!IIII", 2000, 3000, 4000, 5000)
    dns_answer = (bytes.fromhex("abcd81800001000100000000") + b"\x07example\x03com\x00\x00\x01\x00\x01"
                  + bytes.fromhex("c00c000100010000012c00045db8d822"))
    pk = {k: v[14:] for k, v in g.PACKETS.items() if k != "arp"}
    pk["tcp_ts_sack"] = g.ipv4("10.0.0.2", "10.0.0.1", 6, g.tcp(
        80, 40000, 5001, 1019, 0x010, 501, options=ts_opt + sack), ident=0x0001)
    pk["dns_answer"] = g.ipv4("8.8.8.8", "10.0.0.1", 17, g.udp(53, 53000, dns_answer), ident=0x2001, ttl=57)
    pk["echo_reply"] = g.ipv4("10.0.0.2", "10.0.0.1", 1, g.icmp(0, 0, struct.pack("!HH", 0x0101, 7), b"ping" * 8),
                              ident=0x3001, flags_frag=0)
    pk["v6_syn"] = g.ipv6("2001:db8::1", "2001:db8::2", 6, g.tcp(
        50001, 443, 77, 0, 0x002, 65535, options=bytes([2, 4, 0x05, 0xA0, 4, 2, 8, 10]) + bytes(8)
        + bytes([1, 3, 3, 7])))
    pk["v6_echo"] = g.ipv6("2001:db8::1", "2001:db8::2", 58, g.icmp(128, 0, struct.pack("!HH", 42, 1), b"abc" * 4))
    pk["v6_echo_reply"] = g.ipv6("2001:db8::2", "2001:db8::1", 58, g.icmp(129, 0, struct.pack("!HH", 42, 1),
                                                                           b"abc" * 4))
    hbh = bytes([58, 0, 5, 2, 0, 0, 1, 0])  # hop-by-hop: router alert, PadN
    pk["v6_hbh_mld"] = g.ipv6("fe80::1", "ff02::16", 0, hbh + g.icmp(143, 0, b"\0\0\0\1",
                                                                      bytes([4, 0, 0, 0]) + g.ip6("ff02::fb")),
                              hlim=1)
    pk["big_tcp"] = g.ipv4("10.0.0.2", "10.0.0.1", 6, g.tcp(80, 40000, 5001, 1019, 0x018, 501,
                                                             payload=bytes(range(256)) * 5 + b"end"), ident=0x0002)
    return pk


def _pk(data: bytes, i: int, **kw: object) -> Packet:
    return Packet(data, FIXTURE_TS + i * 1_250_000, direction="Out" if i % 2 == 0 else "In", **kw)  # type: ignore[arg-type]


def fixtures() -> dict[str, str]:
    pk = _fixture_packets()
    out: dict[str, str] = {}
    v4 = ["syn", "synack", "tcp_data", "tcp_ts_sack", "udp_dns", "dns_answer", "icmp_echo", "echo_reply",
          "icmp_unreach"]
    multi = [_pk(pk[n], i) for i, n in enumerate(v4)]
    multi[8].discard = 4114
    out["multi_record.txt"] = render(multi, page_every=3)
    out["page_split.txt"] = render(multi, page_lines=17)
    out["collapsed_pages.txt"] = render(multi, page_lines=23, aligned=False)
    v6 = ["ipv6_udp", "ipv6_tcp", "v6_syn", "v6_echo", "v6_echo_reply", "v6_hbh_mld"]
    out["ipv6.txt"] = render([_pk(pk[n], i, link="OSAQDIO6", device="IPAQENET6") for i, n in enumerate(v6)],
                             system="SYS6")
    fo = ["syn", "tcp_ts_sack", "udp_dns", "icmp_echo", "icmp_unreach", "ipv6_udp", "v6_syn", "v6_echo"]
    out["format_only.txt"] = render([_pk(pk[n], i) for i, n in enumerate(fo)], dump=False, size="SHORT")
    out["dump_only.txt"] = render([_pk(pk[n], i, link="ETH1", link_kind="Link", device="LCS Ethernet")
                                   for i, n in enumerate(["syn", "udp_dns", "ipv6_udp"])], fmt=False)
    ab = []
    for i, (n, keep) in enumerate([("big_tcp", 200), ("dns_answer", 40), ("big_tcp", 30), ("syn", 48)]):
        p = _pk(pk[n][:keep], i)
        p.origlen = len(pk[n])
        ab.append(p)
    out["abbrev.txt"] = render(ab)
    # Records without a Tod Clock line: the header time, on the date of the
    # record before (or of the **** date line); the second crosses midnight.
    late = [Packet(pk["udp_dns"], 1_295_999_999_000_000_000), Packet(pk["dns_answer"], 1_296_000_000_500_000_000)]
    out["no_tod.txt"] = render(late, tod=False, system="SOW2")
    out["data_trace.txt"] = _with_other_records([_pk(pk[n], i) for i, n in enumerate(["syn", "synack", "tcp_data"])])
    out["malformed.txt"] = _malformed([_pk(pk[n], i) for i, n in enumerate(
        ["syn", "synack", "tcp_data", "udp_dns", "dns_answer", "icmp_echo", "echo_reply", "icmp_unreach"])])
    out["data_records.txt"] = render_records(data_records(), system="MVS182")
    out["osaenta.txt"] = render_records(osa_frames(), comp="SYSTCPOT", page_every=3)
    out["osaenta_collapsed.txt"] = render_records(osa_frames(), comp="SYSTCPOT", aligned=False)
    out["summary.txt"] = render_summary(summary_records(), page_lines=9)
    out["summary_collapsed.txt"] = render_summary(summary_records(), aligned=False, page_lines=7)
    out["malformed_other.txt"] = _malformed_other()
    out["summary_malformed.txt"] = _summary_malformed()
    return out


def data_records() -> list[DataRecord]:
    """A socket's data trace records (start, data both ways, an abbreviated
    record, end), then an IPv6 UDP socket's."""
    t = FIXTURE_TS
    http = b"GET / HTTP/1.0\r\nHost: example\r\n\r\n"
    reply = b"HTTP/1.0 200 OK\r\n\r\n" + bytes(range(256)) * 2
    v6 = {"local": ("2001:db8::1", 5353), "remote": ("2001:db8::2", 5353), "domain": "AF_Inet6", "type": "Dgram",
          "protocol": "UDP", "cid": 0x1A2B, "jobname": "MDNSD", "asid": 0x31, "tcb": 0x6E6A68}
    return [
        DataRecord(b"", t, "Out", "USER12", state="API Data Flow Starts"),
        DataRecord(http, t + 1_000, "Out", "USER12"),
        DataRecord(reply, t + 2_000, "In", "USER12"),
        DataRecord(reply[:64], t + 3_000, "In", "USER12", length=len(reply)),
        DataRecord(b"", t + 4_000, "In", "USER12", state="API Data Flow Ends"),
        DataRecord(b"hello, v6", t + 5_000, "Out", **v6),  # type: ignore[arg-type]
        DataRecord(b"hello back", t + 6_000, "In", **v6),  # type: ignore[arg-type]
    ]


def osa_frames() -> list[Frame]:
    """Frames as an OSA traces them: ARP, 802.1Q and QinQ tags, IPv6,
    802.3 / LLC, an abbreviated frame, an OSA discard, both directions."""
    from tests.support import pcapgen as g

    pk = _fixture_packets()
    a, b = "00:11:22:33:44:55", "66:77:88:99:aa:bb"
    vlan = g.ether(b, a, 0x8100, struct.pack("!HH", (3 << 13) | 100, 0x0800) + pk["syn"])
    qinq = g.ether(b, a, 0x88A8, struct.pack("!HH", 200, 0x8100) + struct.pack("!HH", 300, 0x0800) + pk["udp_dns"])
    llc = (bytes.fromhex("0180c2000000") + bytes.fromhex(a.replace(":", "")) + struct.pack("!H", 38)
           + bytes.fromhex("424203") + bytes(35) + bytes(8))
    big = g.ether(b, a, 0x0800, pk["big_tcp"])
    t = FIXTURE_TS
    return [
        Frame(g.PACKETS["arp"], t, "In"),
        Frame(vlan, t + 1_000, "In"),
        Frame(qinq, t + 2_000, "Out"),
        Frame(g.PACKETS["ipv6_udp"], t + 3_000, "Out", device_id=None),
        Frame(g.ether(b, a, 0x86DD, pk["v6_echo"]), t + 4_000, "In"),
        Frame(llc, t + 5_000, "In"),
        Frame(big[:256], t + 6_000, "In", origlen=len(big)),
        Frame(g.PACKETS["icmp_echo"], t + 7_000, "In", discard=12),
    ]


def summary_records() -> list[Packet | DataRecord]:
    """IBM's kinds of SUMMARY lines over a TCP session and more: UDP, ICMP,
    IPv6 TCP / UDP / ICMPv6, a data trace record, an IPv4 fragment (``P``),
    and a new day (``****`` line)."""
    from tests.support import pcapgen as g

    pk = _fixture_packets()
    frag = g.ipv4("10.0.0.1", "10.0.0.2", 17, bytes(40), ident=0x5000, flags_frag=185)
    names = ["syn", "synack", "tcp_data", "tcp_ts_sack", "udp_dns", "dns_answer", "icmp_echo", "echo_reply",
             "ipv6_udp", "ipv6_tcp", "v6_echo"]
    out: list[Packet | DataRecord] = [_pk(pk[n], i) for i, n in enumerate(names)]
    out.append(DataRecord(b"GET / HTTP/1.0\r\n\r\n", FIXTURE_TS + 11 * 1_250_000, "Out",
                          local=("10.0.0.1", 40000), remote=("10.0.0.2", 80)))
    out.append(Packet(frag, FIXTURE_TS + 12 * 1_250_000, "Out"))
    out.append(Packet(pk["big_tcp"], 1_296_000_000_250_000_000, "Out"))  # 2011/01/26 00:00:00.250000
    return out


def _with_other_records(pkts: list[Packet]) -> str:
    """Packet records with a data trace and an OSAENTA record among them."""
    from tests.support import pcapgen as g

    recs: list[Packet | DataRecord | Frame] = list(pkts)
    recs.insert(1, DataRecord(b"GET / HTTP/1.0\r\n\r\n", pkts[0].ts_ns + 500_000, "Out",
                              local=("10.0.0.1", 40000), remote=("10.0.0.2", 80)))
    recs.insert(3, Frame(g.PACKETS["arp"], pkts[1].ts_ns + 500_000, "In"))
    return render_records(recs)


def _edit(lines: list[str], find: str, repl: str | None, after: int = 0) -> None:
    """Change (or, repl None, delete) the first line at or after ``after``
    holding ``find``."""
    for k in range(after, len(lines)):
        if find in lines[k]:
            if repl is None:
                del lines[k]
            else:
                lines[k] = lines[k].replace(find, repl, 1)
            return
    raise AssertionError(find)


def _malformed_other() -> str:
    """Data trace and OSAENTA records alternating, four of each damaged one
    way; the others whole."""
    recs: list[DataRecord | Frame] = []
    for d, f in zip(data_records()[1:], osa_frames()):
        recs += [d, f]
    lines = render_records(recs, comp="SYSTCPDA").split("\n")

    def head(i: int) -> int:
        return next(k for k, ln in enumerate(lines) if ln.split()[:1] == [str(i + 1)] and ln.endswith(
            ("Data Trace", "OSAENTA")))

    _edit(lines, " To Jobname", " Sideways Jobname", head(0))          # data: no From/To Jobname line
    _edit(lines, "Full=60", "Full=61", head(1))                          # OSA: Full contradicts the frame
    _edit(lines, "000010 ", None, head(2))                               # data: dump cut short
    _edit(lines, "000000 66778899", "000000 6677Z899", head(3))          # OSA: bad hex in the MAC header
    _edit(lines, "Source           : 2001", "Source           : 2001:::", head(10))  # data: bad address
    _edit(lines, "Offset: 2A", "Offset: 2B", head(5))                   # OSA: a section not after the one before
    _edit(lines, "Data Length: 531", "Data Length: 1", head(4))         # data: Data Length under what is shown
    _edit(lines, " From Interface", " Sideways Interface", head(9))      # OSA: no From/To Interface line
    return "\n".join(lines)


def _summary_malformed() -> str:
    """A SUMMARY report, five of its records damaged one way each."""
    lines = render_summary(summary_records()[:11]).split("\n")

    def first(i: int) -> int:
        return next(k for k, ln in enumerate(lines) if ln[2:].split()[:1] == [str(i + 1)])

    del lines[first(1) + 1]                                               # no second line
    _edit(lines, "ACK PSH", "ACK PUSH", first(2))                         # unknown TCP flag
    lines[first(4)] = lines[first(4)].replace("10.0.0.1-53000", "10.0.0.1-99999")  # port out of range
    lines[first(5)] = lines[first(5)].replace("8.8.8.8-53", "2001:DB8::8-53")  # IPv6 source, IPv4 destination
    lines[first(6)] = lines[first(6)].replace("14:13:05", "14:73:05")    # bad time
    return "\n".join(lines)


def _split_records(text: str) -> list[list[str]]:
    """The report's lines cut before each record header line (part 0 is the banner)."""
    parts: list[list[str]] = [[]]
    for ln in text.split("\n"):
        if ln.endswith("Packet Trace") and ln.split() and ln.split()[2] == "PACKET":
            parts.append([])
        parts[-1].append(ln)
    return parts


def _malformed(pkts: list[Packet]) -> str:
    """Records 2-6 damaged one way each; 1, 7 and 8 whole."""
    parts = _split_records(render(pkts))

    def edit(i: int, find: str, repl: str | None) -> None:
        rec = parts[i]
        for k, ln in enumerate(rec):
            if find in ln:
                if repl is None:
                    del rec[k]
                else:
                    rec[k] = ln.replace(find, repl, 1)
                return
        raise AssertionError((i, find))

    edit(2, "From Interface", None)                       # missing From/To line
    edit(3, "501801F6", "50Z801F6")                            # bad hex in the TCP header
    edit(4, "000010 ", None)                              # DNS query's dump cut short
    edit(5, "Full=73", "Full=99")                         # Full contradicts the dump
    edit(6, "Offset: 14", "Offset: 18")                   # protocol header not after the IP header
    return "\n".join(ln for part in parts for ln in part)


def main(argv: list[str]) -> None:
    import os

    d = argv[0] if argv else "tests/data/ctrace"
    for name, text in fixtures().items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
