"""z/OS Communications Server traces (CTRACE components SYSTCPDA and
SYSTCPOT) formatted as text by IPCS: packet trace, data trace and OSAENTA
records.  (IPCS SUMMARY reports: :mod:`tracedoc.read.ctrace_summary`.)

The layout is the one the *z/OS Communications Server: IP Diagnosis Guide*
documents for ``CTRACE COMP(SYSTCPDA) ... OPTIONS((FORMAT))`` and
``OPTIONS((DUMP))`` (SHORT or FULL).  One record looks like this (IPCS aligns
the fields in columns; PDF or e-mail copies often collapse the spaces, so
everything here is matched whitespace-tolerantly)::

    54550962 SOW1     PACKET   00000004 14:13:05.687445 Packet Trace
     From Interface    : OSDL             Device: QDIO Ethernet    Full=78
      Tod Clock        : 2011/01/25 14:13:05.687445 Intfx: 9
      Discard          : 4114 (IP_MAC_BRDCST)
      Segment #        : 0                Flags: In Dscrd
      Source Port      : 137              Dest Port: 137   Asid: 004F TCB: 00000000
     IpHeader: Version : 4                Header Length: 20
      Tos              : 00               QOS: Routine Normal Service
      Packet Length    : 78               ID Number: 78B7
      Fragment         :                  Offset: 0
      TTL              : 82               Protocol: UDP    CheckSum: 77A4 FFFF
      Source           : 172.29.96.9
      Destination      : 172.29.191.255
     UDP
      Source Port      : 137   (netbios-ns) Destination Port: 137   (netbios-ns)
      Datagram Length  : 58               CheckSum: 0000 6B36
     Ip Header         : 20               IP: 172.29.96.9, 172.29.191.255 Offset: 0
     000000 4500004E 78B70000 521177A4 AC1D6009 AC1DBFFF
     Protocol Header   : 8                Port: 137, 137   Offset: 14
     000000 00890089 003A0000
     Data              : 50               Data Length: 50  Offset: 1C
     000000 84E20110 00010000 00000000 20464946  |dS..... ...... FIF|
     ...

* The record header line (record number, system, mnemonic, entry id, time,
  description) starts a record; its description (else its mnemonic) says
  the kind.  ``Packet Trace`` records become frames; any other kind (EE,
  ...) is skipped with a warning, as are continuation segments
  (``Segment #`` > 0 without an IP header) of a trace formatted without
  reassembly.
* ``Data Trace`` records (IBM's sample, "Formatting data traces using
  IPCS"::

         63 MVS182   DATA     00000005 13:18:52.705250 Data Trace
       To Jobname        : USER12                                    Full=0
        Tod Clock        : 2009/06/22 13:18:52.705248                Cid: 00000058
        Domain           : AF_Inet          Type: Stream             Protocol: TCP
        State            : API Data Flow Starts
        Segment #        : 0                Flags: Out

  then the socket's ends and the data) are socket data a job read or wrote,
  not IP packets: frames of LINKTYPE_ZOS_DATA (147, not decoded) holding the
  data of the ``Data`` hex section(s), with ctrace.jobname, ctrace.conn_id
  (Cid) and ctrace.data.* (local / remote address and port, data length,
  Domain/Type/Protocol, State).  The ends are read under the labels of a
  packet record (``Source``, ``Destination``, ``Source Port ... Dest
  Port``: the job's end first, as IBM's "Correlating the data trace"
  describes the source port as the local one) or as ``Local`` / ``Lcl
  IpAddr/Port`` / ``Remote`` / ``Rmt IpAddr/Port`` (``ip port``,
  ``ip..port``, ``ip-port``).  To Jobname is Out, From Jobname In.  A start
  or end record (``Full=0``) is a frame of no bytes.
* OSAENTA records (SYSTCPOT: "the same program is used to format OSA traces
  as well as packet traces") are frames as the OSA saw them: the hex
  sections, a link-level one first (``Mac Header``, ``Frame Header``,
  ``Frame`` ...; IBM shows no sample, so several names are accepted) are
  the Ethernet frame, MAC header and VLAN tags included, and become
  LINKTYPE_ETHERNET (1) frames (RAW when the dump starts at an IP header).
  Offsets after the MAC header may count from the frame or from the IP
  header.  ``Discard`` (OSA codes 1-4095) goes to ctrace.discard, a
  ``Device ID`` / ``DevId`` line to ctrace.osa.device_id.  A record without
  a hex dump is skipped with a warning (nothing to rebuild the frame from).
* With DUMP, the packet's bytes are rebuilt exactly from the hex sections
  (``Ip Header``, ``Protocol Header``, ``Data``): section lengths are
  decimal, the ``Offset:`` of a section is hex and says where it goes.  The
  characters right of the hex (EBCDIC / ASCII translation) are ignored: each
  hex line holds exactly as many bytes as the offset of the next line (or the
  section length) says.  ``Data : shown  Data Length: full`` tells how much
  of the data an abbreviated record lost.
* Without DUMP, the IP header and the TCP / UDP / ICMP / ICMPv6 header are
  rebuilt from the decoded fields; ``ctrace.payload_absent`` is set and the
  frame's captured length covers only those headers (plus the data, when a
  ``Data :`` hex section is shown anyway).
* ``Full=n``: the packet, n bytes, traced whole.  ``Abbrev=n``: n bytes
  traced of a longer packet; its length comes from the Data Length, or the IP
  header's length field.
* Page breaks (form feed, page heading lines), IPCS banners, blank lines and
  anything else between or inside records that is not a field of the record
  are skipped.  Banner lines give ``info.extra["trace_options"]`` and the
  ``**** yyyy/mm/dd`` date for records without a ``Tod Clock`` line.

Field layouts the IBM samples do not show (TCP, IPv6 and most ICMP fields in
FORMAT) are matched by label, whatever the spacing, as
``tests/support/ctrace_render.py`` writes them.

Packet records give LINKTYPE_RAW (101) frames.  A damaged record of any
kind is skipped with a warning naming its line; one error at the end counts
them.
"""

from __future__ import annotations

import calendar
import ipaddress
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from tracedoc.read.batch import FrameBatch
from tracedoc.read.info import InterfaceInfo, TraceInfo
from tracedoc.read.source import ChunkReader

LINKTYPE_RAW = 101
LINKTYPE_ETHERNET = 1
LINKTYPE_ZOS_DATA = 147
"""Data trace records: socket data, not packets (see decode/ctrace.py)."""
LINKTYPE_NAMES = {LINKTYPE_RAW: "RAW", LINKTYPE_ETHERNET: "ETHERNET", LINKTYPE_ZOS_DATA: "USER0"}
SNAPLEN = 65535

MAX_LINE = 1 << 16
"""A "line" longer than this (no newline in sight) is cut: text readers must
not hold a whole binary blob as one line."""
MAX_RECORD_LINES = 20000
"""Lines kept for one record (a 64 KiB packet dumps in about 4,100 hex
lines); text after that, up to the next record header, is ignored."""
MAX_BATCH_RECORDS = 1 << 16
MAX_BATCH_BYTES = 16 << 20
MAX_WARNINGS = 1000
"""Per-record warnings kept; past that only their number is reported."""

# ------------------------------------------------------------------ patterns

_TIME = r"\d{1,2}:\d{2}:\d{2}(?:\.\d{1,9})?"
HEADER_RE = re.compile(
    r"^\s*([0-9A-Fa-f]{1,16})\s+([A-Za-z0-9@#$_]{1,8})\s+([A-Za-z0-9@#$_-]{1,8})\s+([0-9A-Fa-f]{8})\s+"
    r"(" + _TIME + r")\s+(\S.*?)\s*$")
"""``RcdNr Sysname Mnemonic EntryId hh:mm:ss.ffffff Description``."""

LINK_RE = re.compile(r"^\s*(From|To)\s+(Interface|Link)\s*:\s*(.*?)\s*$", re.I)
JOB_RE = re.compile(r"^\s*(From|To)\s+(Job\s*name|Job)\s*:\s*(.*?)\s*$", re.I)
"""A data trace record's first line: ``To Jobname : USER12   Full=0``."""
DEVICE_RE = re.compile(r"(?:^|\s)Device\s*:\s*(.*?)\s*(?=(?:Full|Abbrev)\s*=|$)", re.I)
FULL_RE = re.compile(r"\bFull\s*=\s*(\d+)", re.I)
ABBREV_RE = re.compile(r"\bAbbrev\s*=\s*(\d+)", re.I)

SECTION_RE = re.compile(
    r"^\s*(IP(?:v[46])?\s*Header|Protocol\s+Header|Ext(?:ension)?\s+Header|Data)\s*:\s*(\d+)(?!\S)(.*)$", re.I)
"""DUMP section headers: ``Ip Header : 20``, ``Protocol Header : 8``,
``Data : 50 Data Length: 50 Offset: 1C``."""
_LINK_SECTIONS = (r"(?:MAC|Mac|Frame|Link|Ethernet(?:\s+II)?|Eth|Enet|LLC|SNAP|VLAN|802\.1Q|802\.3|OSA|Osa|Lan|LAN"
                  r"|Media|DLC|Dlc|Hardware|Mac\s+Frame)\s*Header|Frame")
OSA_SECTION_RE = re.compile(
    r"^\s*(" + _LINK_SECTIONS + r"|IP(?:v[46])?\s*Header|Protocol\s+Header|Ext(?:ension)?\s+Header|Data)"
    r"\s*:\s*(\d+)(?!\S)(.*)$", re.I)
"""DUMP sections of an OSAENTA record: the frame's link-level header comes
first (``Mac Header``, ``Frame Header``, ... : the name is not known from an
IBM sample, so several are accepted), then the sections of a packet record."""
LINK_SECTION_NAME_RE = re.compile(r"^(?:" + _LINK_SECTIONS + r")$", re.I)
SEC_OFFSET_RE = re.compile(r"\bOffset\s*:\s*([0-9A-Fa-f]+)\s*$", re.I)
SEC_DLEN_RE = re.compile(r"\bData\s+Length\s*:\s*(\d+)", re.I)

HEXLINE_RE = re.compile(r"^\s*([0-9A-Fa-f]{4,8})\s+[0-9A-Fa-f]{2,8}(?:\s|\||\*|$)")
LOOSE_HEXLINE_RE = re.compile(r"^\s*([0-9A-Fa-f]{6})\s+\S")
_HEX_CHARS = frozenset("0123456789abcdefABCDEF")
_CHAR_COLUMN_RE = re.compile(r"[|*]")
"""The EBCDIC / ASCII translation right of the hex starts at | (or *)."""

PROTO_MARK_RE = re.compile(r"^\s*(TCP|UDP|ICMPv6|ICMP6|ICMP|IGMP)\s*$", re.I)

COMPONENT_RE = re.compile(r"COMPONENT TRACE \w+ FORMAT")
DATE_LINE_RE = re.compile(r"^\s*\*{4}\s+(\d{4})/(\d{2})/(\d{2})\s*$")
"""IPCS prints ``**** yyyy/mm/dd`` before the records of each day."""
TOD_RE = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?")
HMS_RE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$")

# Field labels, as IPCS prints them (matched case-insensitively, any
# spacing).  A line starts with a primary label, padded to a column before its
# colon; further labels on the line follow a value.
_PRIMARY = [
    "Tod Clock", "Lost Records", "Sequence #", "Segment #", "Discard", "Source Port", "Job Name", "Source",
    "Destination", "IpHeader: Version", "Tos", "Packet Length", "Fragment", "TTL", "Traffic Class", "Flow Label",
    "Payload Length", "Next Header", "Hop Limit", "Datagram Length", "Sequence Number", "Header Length",
    "Window Size", "Type/Code", "Id", "Gateway", "Pointer", "MTU", "Unused", "Option",
]
_SECONDARY = [
    "Intfx", "Module", "Flags", "Dest Port", "Destination Port", "Asid", "TCB", "Header Length", "QOS",
    "ID Number", "Offset", "Protocol", "CheckSum", "Traffic Class", "Flow Label", "Payload Length",
    "Next Header", "Hop Limit", "Ack Number", "Urgent Data Pointer", "Seq", "Job Name",
]


def _norm(label: str) -> str:
    return " ".join(label.lower().replace(":", ": ").split())


def _secondary_re(labels: list[str]) -> re.Pattern[str]:
    return re.compile(
        r"(?<![^\s)])(" + "|".join(r"\s+".join(re.escape(w) for w in lb.split())
                                  for lb in sorted(labels, key=len, reverse=True)) + r")\s*:", re.I)


PRIMARY = frozenset(_norm(lb) for lb in _PRIMARY)
SECONDARY_RE = _secondary_re(_SECONDARY)

# Data trace records (IBM's sample: ``To Jobname``, ``Tod Clock ... Cid:``,
# ``Domain : AF_Inet Type: Stream Protocol: TCP``, ``State``, ``Segment #``;
# the address lines after it are matched under the labels packet records
# use and under the local / remote spellings other formatters print).
_DATA_PRIMARY = [
    "Tod Clock", "Lost Records", "Sequence #", "Segment #", "Domain", "State", "Source", "Destination",
    "Source Port", "Destination Port", "Dest Port", "Source Address", "Destination Address", "Local", "Remote",
    "Lcl IpAddr/Port", "Rmt IpAddr/Port", "Local IpAddr/Port", "Remote IpAddr/Port", "Lcl IpAddr", "Rmt IpAddr",
    "Local Address", "Remote Address", "Local Port", "Remote Port", "Local IP", "Remote IP", "Lcl Port", "Rmt Port",
    "Foreign", "Foreign Port", "Asid", "Cid", "Connection Id", "Conn Id", "Job Name", "Jobname", "Type", "Protocol",
    "Flags", "Discard",
]
_DATA_SECONDARY = [
    "Cid", "Type", "Protocol", "Flags", "Dest Port", "Destination Port", "Asid", "TCB", "Intfx", "Module",
    "Remote Port", "Local Port", "Lcl Port", "Rmt Port", "Foreign Port", "Port", "Seq", "Job Name", "Jobname",
]
DATA_PRIMARY = frozenset(_norm(lb) for lb in _DATA_PRIMARY)
DATA_SECONDARY_RE = _secondary_re(_DATA_SECONDARY)

# OSAENTA records: the trace header of a packet record plus the OSA's device
# id (its label spelled several ways).
_OSA_PRIMARY = ["Tod Clock", "Lost Records", "Sequence #", "Segment #", "Discard", "Device ID", "Device Id",
                "DeviceId", "DevId", "Dev Id", "OSA Device ID", "Source Port", "Asid", "Flags"]
_OSA_SECONDARY = ["Intfx", "Module", "Flags", "Dest Port", "Destination Port", "Asid", "TCB", "Device ID",
                  "DeviceId", "DevId", "Dev Id", "Discard", "Seq"]
OSA_PRIMARY = frozenset(_norm(lb) for lb in _OSA_PRIMARY)
OSA_SECONDARY_RE = _secondary_re(_OSA_SECONDARY)
DEVICE_ID_LABELS = frozenset(_norm(lb) for lb in ("Device ID", "DeviceId", "DevId", "Dev Id", "OSA Device ID"))


def split_fields(line: str, primary: frozenset[str] = PRIMARY,
                 secondary: re.Pattern[str] = SECONDARY_RE) -> list[tuple[str, str]] | None:
    """``Label : value  Label2: value2`` -> [(label, value), ...] with the
    labels normalised (lower case, single spaces); None when the line does
    not start with a known label."""
    colon = line.find(":")
    if colon < 0:
        return None
    name = _norm(line[:colon])
    if name == "ipheader":
        colon = line.find(":", colon + 1)
        if colon < 0:
            return None
        name = _norm(line[:colon])
    if name not in primary:
        return None
    out = []
    vstart = colon + 1
    if name == "option":
        return [(name, line[vstart:].strip())]  # the option's own words are its value
    for m in secondary.finditer(line, vstart):
        out.append((name, line[vstart:m.start()].strip()))
        name = _norm(m.group(1))
        vstart = m.end()
    out.append((name, line[vstart:].strip()))
    return out


# ------------------------------------------------------------------ values

IP_PROTOCOLS = {"ICMP": 1, "IGMP": 2, "IPIP": 4, "IPINIP": 4, "TCP": 6, "EGP": 8, "UDP": 17, "IPV6": 41,
                "ROUTING": 43, "FRAGMENT": 44, "GRE": 47, "ESP": 50, "AH": 51, "ICMPV6": 58, "ICMP6": 58,
                "NONE": 59, "DSTOPTS": 60, "OSPF": 89, "PIM": 103, "SCTP": 132, "HOPOPTS": 0}

ICMP_NAMES = {"ECHO REPLY": (0, 0), "ECHOREPLY": (0, 0), "ECHO": (8, 0), "ECHO REQUEST": (8, 0),
              "SOURCE QUENCH": (4, 0), "TIMESTAMP": (13, 0), "TIMESTAMP REPLY": (14, 0),
              "INFO REQUEST": (15, 0), "INFO REPLY": (16, 0), "ADDRESS MASK REQUEST": (17, 0),
              "ADDRESS MASK REPLY": (18, 0), "ROUTER ADVERTISEMENT": (9, 0), "ROUTER SOLICITATION": (10, 0)}

TCP_FLAG_BITS = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20, "ECE": 0x40,
                 "CWR": 0x80, "NS": 0x100}


class Continuation(Exception):
    """A record that is not a packet of its own (skipped, not malformed)."""

    def __init__(self, line: int, message: str, what: str = "continuation segment") -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.what = what


class Malformed(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def _first(v: str | None) -> str:
    return v.split()[0] if v and v.split() else ""


def _int(v: str | None, base: int = 10) -> int | None:
    t = _first(v).replace(",", "")
    if not t:
        return None
    try:
        return int(t, base)
    except ValueError:
        return None


def _ranged(v: int | None, bits: int) -> int | None:
    return v if v is not None and 0 <= v < (1 << bits) else None


def _need(v: int | None, line: int, what: str, bits: int) -> int:
    if v is None or not 0 <= v < (1 << bits):
        raise Malformed(line, f"bad or missing {what}")
    return v


def _frac_ns(frac: str | None) -> int:
    return int((frac or "0").ljust(9, "0")[:9])


def tod_ns(text: str) -> tuple[int, tuple[int, int, int]] | None:
    """``yyyy/mm/dd hh:mm:ss.ffffff`` as UTC ns since the epoch, and the date."""
    m = TOD_RE.match(text.strip())
    if not m:
        return None
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 61 and _date_ok(y)):
        return None
    if d > calendar.monthrange(y, mo)[1]:
        return None  # 2011/02/30
    try:
        secs = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    return secs * 1_000_000_000 + _frac_ns(m.group(7)), (y, mo, d)


def _date_ok(year: int) -> bool:
    """Years whose times fit int64 nanoseconds since the epoch."""
    return 1678 <= year <= 2261


def hms_ns(text: str) -> int | None:
    m = HMS_RE.match(text)
    if not m:
        return None
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if h >= 24 or mi >= 60 or s >= 61:
        return None
    return ((h * 60 + mi) * 60 + s) * 1_000_000_000 + _frac_ns(m.group(4))


def date_ns(date: tuple[int, int, int]) -> int:
    return calendar.timegm((date[0], date[1], date[2], 0, 0, 0, 0, 0, 0)) * 1_000_000_000


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _proto_num(v: str | None) -> int | None:
    t = _first(v)
    if not t:
        return None
    if t.isdigit():
        return int(t)
    return IP_PROTOCOLS.get(t.upper().strip("()"))


# ------------------------------------------------------------------ sniffing

_TEXT_CONTROL = bytes(range(0, 9)) + bytes(range(14, 32)) + b"\x7f"


def _looks_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    bad = len(head) - len(head.translate(None, _TEXT_CONTROL))
    return bad * 100 <= len(head)


def _kind(desc: str, mnemonic: str = "") -> str:
    """The record's kind from its header line's description (``Packet
    Trace``, ``Data Trace``, ``OSAENTA``), else its mnemonic (``PACKET``,
    ``DATA``, ``OSAENTA``)."""
    d = desc.lower()
    mn = mnemonic.upper()
    if d.startswith("packet trace"):
        return "packet"
    if d.startswith("data trace"):
        return "data"
    if "osaenta" in d or d.startswith(("osa ", "osa-express")) or mn == "OSAENTA":
        return "osaenta"
    if mn == "PACKET":
        return "packet"
    if mn == "DATA":
        return "data"
    return "other"


def sniff(head: bytes) -> bool:
    """IPCS-formatted SYSTCPDA text: a record header line of a packet, data
    or OSAENTA trace record within the first bytes of a text file."""
    if not _looks_text(head):
        return False
    text = head.decode("latin-1")
    for line in text.replace("\f", "\n").replace("\r", "\n").split("\n"):
        if "Trace" not in line and "OSAENTA" not in line.upper():
            continue
        m = HEADER_RE.match(line)
        if m and _kind(m.group(6), m.group(3)) != "other":
            return True
    return False


# ------------------------------------------------------------------ records


@dataclass
class _Section:
    name: str
    line: int
    length: int
    offset: int | None
    data_length: int | None
    lines: list[tuple[int, int, list[str]]] = field(default_factory=list)
    """(line number, offset, the words after the offset, up to a | or *)."""
    closed: bool = False


@dataclass
class _Packet:
    data: bytes
    origlen: int
    ts_ns: int
    meta: dict[str, Any]
    link: str | None
    device: str | None
    warning: str | None = None


@dataclass
class _Record:
    line: int
    offset: int
    header: tuple[str, ...]
    kind: str
    lines: list[tuple[int, str]] = field(default_factory=list)
    overflow: bool = False


def _section_bytes(sec: _Section) -> bytes:
    out = bytearray()
    n_lines = len(sec.lines)
    if not n_lines:
        if sec.length == 0:
            return b""
        raise Malformed(sec.line, f"{sec.name} section of {sec.length} bytes has no hex dump lines")
    for i, (ln, off, words) in enumerate(sec.lines):
        nxt = sec.lines[i + 1][1] if i + 1 < n_lines else sec.length
        need = 2 * (nxt - off)
        have = 0
        toks = []
        bad = False
        for t in words:
            if have >= need:
                break
            if len(t) % 2 or not _HEX_CHARS.issuperset(t):
                # A word that is nearly a hex group is damaged hex; anything
                # else is the character column after a dump that ended early.
                bad = len(t) <= 8 and t.isalnum() and sum(ch in _HEX_CHARS for ch in t) >= len(t) - 2
                break
            toks.append(t)
            have += len(t)
        if have != need:
            if i + 1 == n_lines and have < need and not bad:
                got = len(out) + have // 2
                raise Malformed(ln, f"hex dump shorter than its section header says: {sec.name} holds "
                                    f"{got} of {sec.length} bytes")
            raise Malformed(ln, f"bad hex dump line at offset {off:06X} in {sec.name}")
        out += bytes.fromhex("".join(toks))
    return bytes(out)


def _tcp_option(text: str, line: int) -> bytes:
    """One ``Option : ...`` line of a formatted TCP header, back to bytes."""
    t = " ".join(text.split())
    lo = t.lower()

    def num(label: str, base: int = 10) -> int:
        m = re.search(r"\b" + label + r"\s*:?\s*([0-9A-Fa-f]+)", t, re.I)
        if not m:
            raise Malformed(line, f"TCP option '{t}' without {label}")
        return int(m.group(1), base)

    if lo.startswith(("end of", "eol")):
        return b"\x00"
    if lo.startswith(("nop", "no op", "no-op", "no operation")):
        return b"\x01"
    if lo.startswith(("max seg", "mss")):
        return struct.pack("!BBH", 2, 4, num("MSS"))
    if lo.startswith("window scale"):
        return struct.pack("!BBB", 3, 3, num("Shift"))
    if lo.startswith("sack permitted"):
        return b"\x04\x02"
    if lo.startswith("timestamp"):
        return struct.pack("!BBII", 8, 10, num("Value"), num("Echo"))
    if lo.startswith("sack"):
        blocks = re.findall(r"(\d+)-(\d+)", t)
        return struct.pack("!BB", 5, 2 + 8 * len(blocks)) + b"".join(
            struct.pack("!II", int(a), int(b)) for a, b in blocks)
    m = re.search(r"\bKind\s*:?\s*(\d+)", t, re.I)
    if m:
        kind = int(m.group(1))
        dm = re.search(r"\bData\s*:\s*([0-9A-Fa-f]*)", t, re.I)
        body = bytes.fromhex(dm.group(1)) if dm and dm.group(1) else b""
        return struct.pack("!BB", kind, 2 + len(body)) + body
    raise Malformed(line, f"TCP option '{t}' not understood")


class _RecordParser:
    """Turns the lines of one Packet Trace record into a packet."""

    def __init__(self, rec: _Record, section_re: re.Pattern[str] = SECTION_RE, link_re: re.Pattern[str] = LINK_RE,
                 primary: frozenset[str] = PRIMARY, secondary: re.Pattern[str] = SECONDARY_RE) -> None:
        self.rec = rec
        self.section_re = section_re
        self.link_re = link_re
        self.primary = primary
        self.secondary = secondary
        self.ctx: dict[str, dict[str, str]] = {"trace": {}, "ip": {}}
        self.ctx_line: dict[str, int] = {}
        self.tcp_options: list[tuple[int, str]] = []
        self.proto: str | None = None
        self.cur = "trace"
        self.sections: list[_Section] = []
        self.open: _Section | None = None
        self.link_line: tuple[int, re.Match[str]] | None = None

    def feed(self) -> None:
        for ln, text in self.rec.lines:
            self._line(ln, text)

    def _line(self, ln: int, text: str) -> None:
        if not text.strip():
            return
        m = HEXLINE_RE.match(text)
        if m is None and self.open is not None and not self.open.closed:
            m = LOOSE_HEXLINE_RE.match(text)  # damaged hex in a dump section: said so when its bytes are read
        if m:
            sec = self.open
            if sec is None or sec.closed:
                return  # a hex dump that is not a DUMP section (FORMAT data, FULL entry dump)
            off = int(m.group(1), 16)
            last = sec.lines[-1][1] if sec.lines else -1
            if (not sec.lines and off != 0) or off <= last or off >= max(sec.length, 1):
                sec.closed = True  # not this section's: it ended before
                return
            sec.lines.append((ln, off, _CHAR_COLUMN_RE.split(text, maxsplit=1)[0].split()[1:]))
            return
        m = self.section_re.match(text)
        if m:
            tail = m.group(3)
            om = SEC_OFFSET_RE.search(tail)
            dm = SEC_DLEN_RE.search(tail)
            name = " ".join(m.group(1).split())
            sec = _Section(name, ln, int(m.group(2)), int(om.group(1), 16) if om else None,
                           int(dm.group(1)) if dm else None)
            self.sections.append(sec)
            self.open = sec
            return
        m2 = self.link_re.match(text)
        if m2:
            if self.link_line is None:
                self.link_line = (ln, m2)
            self._close()
            return
        m3 = PROTO_MARK_RE.match(text)
        if m3:
            p = m3.group(1).upper()
            self.proto = "ICMPV6" if p in ("ICMPV6", "ICMP6") else p
            self.cur = self.proto
            self.ctx.setdefault(self.cur, {})
            self._close()
            return
        fields = split_fields(text, self.primary, self.secondary)
        if fields is None:
            return  # page heading, banner, data formatting, ...: not a field of the record
        self._close()
        if fields[0][0] == "ipheader: version":
            self.cur = "ip"
        d = self.ctx.setdefault(self.cur, {})
        first_label = fields[0][0]
        for label, value in fields:
            if label == "port" and first_label != "port":
                label = first_label + " port"  # "Source : 9.1.2.3  Port: 21" (data trace spellings)
            if label == "option" and self.cur == "TCP":
                self.tcp_options.append((ln, value))
                continue
            if label not in d:
                d[label] = value
                self.ctx_line.setdefault(self.cur + ":" + label, ln)

    def _close(self) -> None:
        if self.open is not None:
            self.open.closed = True
            self.open = None

    # ------------------------------------------------------------ packet

    def packet(self, last_date: tuple[tuple[int, int, int], str] | None, last_ts: int | None) -> _Packet:
        rec = self.rec
        self.feed()
        tr = self.ctx["trace"]
        lln, direction, link_kind, link, device, full, abbrev = self._link_facts("Interface/Link")
        ts, tod_given, warning = self._time(last_date, last_ts)

        ip_dumped = any(sec.name.lower().replace(" ", "").startswith("ip") for sec in self.sections)
        if not ip_dumped and "ipheader: version" not in self.ctx["ip"]:
            seg = _int(tr.get("segment #")) or _int(tr.get("sequence #")) or 0
            if seg > 0:
                # A later segment of a packet too big for one record (formatted
                # without reassembly): only data, no headers to make a frame of.
                raise Continuation(rec.line, f"line {rec.line}: continuation segment {seg} of a packet "
                                             f"(no IP header) skipped; format with the SEGMENT option to "
                                             f"reassemble")
        if ip_dumped:
            data, origlen = self._from_dump(full, abbrev)
            absent = False
        else:
            data, origlen = self._rebuild(full, abbrev)
            absent = True
            if self.sections:
                data = self._format_payload(data, origlen)
        if not len(data) <= origlen < 1 << 32:
            raise Malformed(lln, f"packet length {origlen} does not fit the {len(data)} bytes of the record")

        meta = self._common_meta("packet", ts, tod_given, direction, full, abbrev)
        meta.update({
            "ctrace.link": link,
            "ctrace.link_kind": link_kind,
            "ctrace.device": device,
            "ctrace.payload_absent": absent,
        })
        return _Packet(data, origlen, ts, meta, link, device, warning)

    def _link_facts(self, what: str) -> tuple[int, str, str, str | None, str | None, int | None, int | None]:
        """The ``From/To Interface|Link|Jobname : name  Device: ...  Full=n``
        line: (its line, direction, kind, name, device, Full=, Abbrev=); the
        direction is the record's In / Out flag where it has one."""
        rec = self.rec
        if self.link_line is None:
            raise Malformed(rec.line, f"no 'From/To {what}' line")
        lln, lm = self.link_line
        direction = "In" if lm.group(1).lower() == "from" else "Out"
        kind = lm.group(2).lower()
        link_kind = "Link" if kind == "link" else "Interface" if kind == "interface" else "Jobname"
        rest = lm.group(3)
        name_tok = rest.split()[0] if rest.split() else ""
        link = None if not name_tok or name_tok.lower().startswith(("device", "full=", "abbrev=")) else name_tok
        dm = DEVICE_RE.search(" " + rest)
        device = (dm.group(1).strip() or None) if dm else None
        fm = FULL_RE.search(rest)
        am = ABBREV_RE.search(rest)
        full = int(fm.group(1)) if fm else None
        abbrev = int(am.group(1)) if am else None
        if full is not None and full >= 1 << 32 or abbrev is not None and abbrev >= 1 << 32:
            raise Malformed(lln, "packet length out of range")
        flags = self.ctx["trace"].get("flags")
        if flags:
            toks = {t.lower() for t in flags.split()}
            if "in" in toks and "out" not in toks:
                direction = "In"
            elif "out" in toks and "in" not in toks:
                direction = "Out"
        return lln, direction, link_kind, link, device, full, abbrev

    def _common_meta(self, kind: str, ts: int, tod_given: bool, direction: str, full: int | None,
                     abbrev: int | None) -> dict[str, Any]:
        """The ctrace.* facts every kind of record has."""
        rec = self.rec
        recno, system, _mnem, entry_id, hms, _desc = rec.header
        tr = self.ctx["trace"]
        flags = tr.get("flags")
        return {
            "ctrace.record_type": kind,
            "ctrace.system": system,
            # IBM's samples number records 1, 2, 3 ... (RcdNr, decimal);
            # a number with hex letters is read as hex rather than refused.
            "ctrace.record": int(recno) if recno.isdigit() else int(recno, 16),
            "ctrace.entry_id": entry_id,
            "ctrace.local_time": hms,
            "ctrace.tod": ts if tod_given else None,
            "ctrace.direction": direction,
            "ctrace.full_len": full,
            "ctrace.abbrev_len": abbrev,
            "ctrace.seq": _ranged(_int(tr.get("sequence #")), 64),
            "ctrace.lost": _ranged(_int(tr.get("lost records")), 64),
            "ctrace.flags": " ".join(flags.split()) if flags else None,
            "ctrace.intfx": _ranged(_int(tr.get("intfx")), 32),
            "ctrace.asid": _ranged(_int(tr.get("asid"), 16), 16),
            "ctrace.tcb": _ranged(_int(tr.get("tcb"), 16), 32),
            "ctrace.segment": _ranged(_int(tr.get("segment #")), 32),
            "ctrace.discard": _ranged(_int(tr.get("discard")), 32),
            "ctrace.line": rec.line,
        }

    def _dumped(self) -> tuple[list[tuple[_Section, bytes]], int, bool]:
        """Every hex section's bytes, the bytes a ``Data Length`` says are
        missing from them, and whether one said so."""
        out = []
        short = 0
        have_dlen = False
        for sec in self.sections:
            b = _section_bytes(sec)
            if sec.data_length is not None:
                short += _data_short(sec)
                have_dlen = True
            out.append((sec, b))
        return out, short, have_dlen

    @staticmethod
    def _traced_length(caplen: int, short: int, have_dlen: bool, full: int | None, abbrev: int | None,
                       line: int, what: str, guess: int | None = None) -> int:
        """The length of what was traced, ``caplen`` bytes of it in the dump
        (Full= / Abbrev= / Data Length / ``guess``, the length a header in
        the bytes gives)."""
        if abbrev is not None:
            if caplen > abbrev:
                raise Malformed(line, f"hex dump holds {caplen} bytes, more than Abbrev={abbrev}")
            if have_dlen:
                origlen = caplen + short
            elif full is not None:
                origlen = full
            elif guess is not None and guess >= caplen:
                return guess  # the header's length (an Abbrev= setting longer than the frame)
            else:
                origlen = max(abbrev, caplen)
            if caplen < abbrev and abbrev != origlen:
                raise Malformed(line, f"hex dump holds {caplen} bytes, Abbrev={abbrev}")
            return origlen
        if full is not None:
            if caplen + short != full:
                raise Malformed(line, f"hex dump sections hold {caplen + short} bytes of {what}, Full={full}")
            return full
        return caplen + short

    # ------------------------------------------------------------ data trace

    def data_record(self, last_date: tuple[tuple[int, int, int], str] | None, last_ts: int | None) -> _Packet:
        """A Data Trace record: the socket data a job read or wrote (not an
        IP packet), and the socket's facts."""
        self.feed()
        tr = self.ctx["trace"]
        lln, direction, _kind_, jobname, _device, full, abbrev = self._link_facts("Jobname")
        if jobname is None and (tr.get("job name") or tr.get("jobname")):
            jobname = _first(tr.get("job name") or tr.get("jobname")) or None
        ts, tod_given, warning = self._time(last_date, last_ts)

        parts, short, have_dlen = self._dumped()
        pos = 0
        for sec, b in parts:
            if sec.offset is not None and sec.offset != pos:
                raise Malformed(sec.line, f"{sec.name} section at offset {sec.offset:X} but {pos:X} bytes precede it")
            pos += len(b)
        data = b"".join(b for _, b in parts)
        absent = False
        if not parts and abbrev is None and full:
            origlen, absent = full, True  # the data is not shown (formatted without it)
        else:
            origlen = self._traced_length(len(data), short, have_dlen, full, abbrev, lln, "socket data")
        if origlen >= 1 << 32:
            raise Malformed(lln, "data length out of range")

        local = self._endpoint(("local", "lcl ipaddr/port", "local ipaddr/port", "lcl ipaddr", "local address",
                                "local ip"), ("local port", "lcl port"))
        remote = self._endpoint(("remote", "rmt ipaddr/port", "remote ipaddr/port", "rmt ipaddr",
                                 "remote address", "remote ip", "foreign"), ("remote port", "rmt port",
                                                                            "foreign port"))
        # IBM: "The source port number in the data trace record matches the
        # local port number" (a READ, data into the job): Source and
        # Destination name the job's socket, local first, whichever way the
        # data went.
        source = self._endpoint(("source", "source address"), ("source port",))
        dest = self._endpoint(("destination", "destination address"), ("dest port", "destination port"))
        lip = local[0] if local[0] is not None else source[0]
        lport = local[1] if local[1] is not None else source[1]
        rip = remote[0] if remote[0] is not None else dest[0]
        rport = remote[1] if remote[1] is not None else dest[1]
        dtp = [" ".join(tr[k].split()) for k in ("domain", "type", "protocol") if tr.get(k)]
        state = tr.get("state")
        cid = tr.get("cid") or tr.get("connection id") or tr.get("conn id")

        meta = self._common_meta("data", ts, tod_given, direction, full, abbrev)
        meta.update({
            "ctrace.jobname": jobname,
            "ctrace.conn_id": _ranged(_int(cid, 16), 32),
            "ctrace.payload_absent": absent,
            "ctrace.data.local_ip": lip,
            "ctrace.data.local_port": lport,
            "ctrace.data.remote_ip": rip,
            "ctrace.data.remote_port": rport,
            "ctrace.data.length": origlen,
            "ctrace.data.domain": "/".join(dtp) or None,
            "ctrace.data.state": " ".join(state.split()) if state else None,
        })
        return _Packet(data, origlen, ts, meta, jobname, None, warning)

    def _endpoint(self, addr_labels: tuple[str, ...], port_labels: tuple[str, ...]) -> tuple[str | None, int | None]:
        """(address, port) of one end of a data trace record's socket: an
        ``ip``, ``ip port``, ``ip..port`` or ``ip-port`` value, and/or a
        port label of its own."""
        tr = self.ctx["trace"]
        ip: str | None = None
        port: int | None = None
        for lb in addr_labels:
            v = tr.get(lb)
            if not v or not v.split():
                continue
            ln = self.ctx_line.get("trace:" + lb, self.rec.line)
            words = v.split()
            tok = words[0]
            ptxt = words[1] if len(words) > 1 and words[1].isdigit() else None
            m = re.match(r"^(.*?)(?:\.\.|-)(\d+)$", tok)
            if m and _is_ip(m.group(1)):
                tok, ptxt = m.group(1), m.group(2)
            if not _is_ip(tok):
                raise Malformed(ln, f"bad {lb} address '{tok}'")
            ip = str(ipaddress.ip_address(tok))
            if ptxt is not None:
                port = _need(int(ptxt), ln, f"{lb} port", 16)
            break
        for lb in port_labels:
            v = tr.get(lb)
            if v is None or not v.split():
                continue
            ln = self.ctx_line.get("trace:" + lb, self.rec.line)
            port = _need(_int(v), ln, lb, 16)
            break
        return ip, port

    # ------------------------------------------------------------ OSAENTA

    def osa_frame(self, last_date: tuple[tuple[int, int, int], str] | None,
                  last_ts: int | None) -> tuple[_Packet, int]:
        """An OSAENTA record: the frame the OSA saw, MAC header (and VLAN
        tags) included, rebuilt from the hex sections; and its link type
        (Ethernet, or RAW when the dump starts at an IP header)."""
        rec = self.rec
        self.feed()
        tr = self.ctx["trace"]
        lln, direction, link_kind, link, device, full, abbrev = self._link_facts("Interface/Link")
        ts, tod_given, warning = self._time(last_date, last_ts)
        if not self.sections:
            raise Continuation(rec.line, f"line {rec.line}: OSAENTA record without a hex dump of the frame "
                                         f"skipped (format it with the DUMP option)", "OSAENTA without DUMP")
        parts, short, have_dlen = self._dumped()
        pos = 0
        link_len = 0
        in_link = True
        for sec, b in parts:
            is_link = bool(LINK_SECTION_NAME_RE.match(sec.name))
            off = sec.offset
            # Offsets count from the frame's start, or (after the MAC
            # header) from the IP header's.
            if off is not None and off != pos and not (not is_link and link_len and off == pos - link_len):
                raise Malformed(sec.line, f"{sec.name} section at offset {off:X} but {pos:X} bytes precede it")
            if is_link and in_link:
                link_len += len(b)
            else:
                in_link = False
            pos += len(b)
        data = b"".join(b for _, b in parts)
        if not data:
            raise Malformed(rec.line, "hex dump sections hold no bytes")
        first = parts[0][0].name.lower().replace(" ", "")
        linktype = LINKTYPE_RAW if first.startswith("ip") else LINKTYPE_ETHERNET
        guess = None
        if linktype == LINKTYPE_RAW:
            guess = _ip_length(data)
        elif link_len >= 14 and data[link_len - 2:link_len] in (b"\x08\x00", b"\x86\xdd"):
            ipl = _ip_length(data[link_len:])
            guess = link_len + ipl if ipl is not None else None
        try:
            origlen = self._traced_length(len(data), short, have_dlen, full, abbrev, lln, "the frame", guess)
        except Malformed as first_err:
            if not link_len:
                raise
            # Full= / Abbrev= counting the packet without its MAC header?
            try:
                origlen = self._traced_length(len(data), short, have_dlen,
                                              None if full is None else full + link_len,
                                              None if abbrev is None else abbrev + link_len, lln, "the frame", guess)
            except Malformed:
                raise first_err from None
        if origlen >= 1 << 32:
            raise Malformed(lln, "frame length out of range")
        dev_id = next((" ".join(v.split()) for k, v in tr.items() if k in DEVICE_ID_LABELS and v.strip()), None)
        meta = self._common_meta("osaenta", ts, tod_given, direction, full, abbrev)
        meta.update({
            "ctrace.link": link,
            "ctrace.link_kind": link_kind,
            "ctrace.device": device,
            "ctrace.osa.device_id": dev_id,
            "ctrace.payload_absent": False,
        })
        return _Packet(data, origlen, ts, meta, link, device, warning), linktype

    def _time(self, last_date: tuple[tuple[int, int, int], str] | None,
              last_ts: int | None) -> tuple[int, bool, str | None]:
        """The record's time (ns): its Tod Clock, else the header line's time
        on the date of the record before (with a warning saying so)."""
        rec = self.rec
        hms = rec.header[4]
        tod = self.ctx["trace"].get("tod clock")
        if tod is not None:
            got = tod_ns(tod)
            if got is None:
                raise Malformed(self.ctx_line.get("trace:tod clock", rec.line), f"bad Tod Clock '{tod}'")
            return got[0], True, None
        t = hms_ns(hms)
        if t is None or last_date is None:
            raise Malformed(rec.line, "no Tod Clock line and no earlier date to place the header time on")
        ts = date_ns(last_date[0]) + t
        if last_ts is not None and ts < last_ts - 12 * 3600 * 1_000_000_000:
            ts += 86400 * 1_000_000_000  # past midnight since the record before
        y, mo, d = _civil(ts // (86400 * 1_000_000_000))
        return ts, False, (f"line {rec.line}: record has no Tod Clock line; its time is the header line's "
                           f"{hms} on {y:04d}/{mo:02d}/{d:02d} (date of {last_date[1]})")

    def _from_dump(self, full: int | None, abbrev: int | None) -> tuple[bytes, int]:
        rec = self.rec
        pos = 0
        parts = []
        data_short = 0
        have_dlen = False
        for sec in self.sections:
            off = sec.offset if sec.offset is not None else pos
            if off != pos:
                raise Malformed(sec.line, f"{sec.name} section at offset {off:X} but {pos:X} bytes precede it")
            b = _section_bytes(sec)
            if sec.data_length is not None:
                data_short += _data_short(sec)
                have_dlen = True
            parts.append(b)
            pos += len(b)
        data = b"".join(parts)
        caplen = len(data)
        if not data:
            raise Malformed(rec.line, "hex dump sections hold no bytes")
        ip_len = _ip_length(data)
        fl = self.ctx["ip"].get("packet length")
        if fl is not None and data[0] >> 4 == 4 and len(data) >= 4:
            v = _int(fl)
            if v is not None and ip_len is not None and v != ip_len:
                raise Malformed(self.ctx_line.get("ip:packet length", rec.line),
                                f"Packet Length {v} but the IP header in the dump says {ip_len}")
        link_line = self.link_line[0] if self.link_line else rec.line
        if abbrev is not None:
            if caplen > abbrev:
                raise Malformed(link_line, f"hex dump holds {caplen} bytes, more than Abbrev={abbrev}")
            # The packet's length: what the Data Length says is missing, else
            # Full=, else the IP header's length field, else Abbrev= itself
            # when more than the dump holds (read as the packet's length).
            if have_dlen:
                origlen = caplen + data_short
            elif full is not None:
                origlen = full
            elif ip_len is not None and ip_len > caplen:
                origlen = ip_len
            else:
                origlen = max(abbrev, caplen)
            if caplen < abbrev and abbrev != origlen:
                raise Malformed(link_line, f"hex dump holds {caplen} bytes, Abbrev={abbrev}")
            return data, origlen
        if full is not None:
            if caplen + data_short != full:
                raise Malformed(link_line, f"hex dump sections hold {caplen + data_short} bytes, Full={full}")
            return data, full
        return data, caplen + data_short

    def _format_payload(self, headers: bytes, origlen: int) -> bytes:
        """A FORMAT record without the IP header dump that still shows the
        packet data in hex (``Data :`` sections): the data follows the
        rebuilt headers."""
        pos = len(headers)
        parts = [headers]
        for sec in self.sections:
            if sec.offset is not None and sec.offset != pos:
                raise Malformed(sec.line, f"{sec.name} section at offset {sec.offset:X} but the rebuilt headers "
                                          f"end at {pos:X}")
            b = _section_bytes(sec)
            parts.append(b)
            pos += len(b)
        if pos > origlen:
            raise Malformed(self.sections[0].line, f"headers and data hold {pos} bytes, more than the "
                                                   f"{origlen}-byte packet")
        return b"".join(parts)

    def _rebuild(self, full: int | None, abbrev: int | None) -> tuple[bytes, int]:
        """IP and transport headers from the formatted fields (no DUMP)."""
        rec = self.rec
        ip = self.ctx["ip"]
        vln = self.ctx_line.get("ip:ipheader: version", rec.line)
        ver = _int(ip.get("ipheader: version"))
        if ver not in (4, 6):
            raise Malformed(rec.line, "no hex dump and no formatted IP header (IpHeader: Version line)")
        src, dst = ip.get("source"), ip.get("destination")
        if not src or not dst:
            raise Malformed(vln, "formatted IP header without Source / Destination")
        frag_off = 0
        if ver == 4:
            hl = _int(ip.get("header length")) or 20
            if hl < 20 or hl > 60 or hl % 4:
                raise Malformed(vln, f"bad IP Header Length {hl}")
            total = _need(_int(ip.get("packet length")), vln, "IP Packet Length", 16)
            tos = _need(_int(ip.get("tos"), 16) if ip.get("tos") else 0, vln, "Tos", 8)
            ident = _need(_int(ip.get("id number"), 16) if ip.get("id number") else 0, vln, "ID Number", 16)
            fr = (ip.get("fragment") or "").lower()
            ff = 0
            if "dont" in fr or "df" in fr.split():
                ff |= 0x4000
            if "more" in fr or "mf" in fr.split():
                ff |= 0x2000
            if "reserved" in fr or "evil" in fr:
                ff |= 0x8000
            o = _int(ip.get("offset")) or 0
            units = o // 8 if o % 8 == 0 else o
            if units >= 1 << 13:
                raise Malformed(vln, f"bad fragment Offset {o}")
            frag_off = units
            ttl = _need(_int(ip.get("ttl")), vln, "TTL", 8)
            proto = _need(_proto_num(ip.get("protocol")), vln, "Protocol", 8)
            csum = _need(_int(ip.get("checksum"), 16), vln, "IP CheckSum", 16)
            hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | hl // 4, tos, total, ident, ff | units, ttl, proto, csum,
                              ipaddress.IPv4Address(_first(src)).packed, ipaddress.IPv4Address(_first(dst)).packed)
            hdr += b"\x00" * (hl - 20)
            pkt_len = total
        else:
            tc = _need(_int(ip.get("traffic class"), 16) if ip.get("traffic class") else 0, vln, "Traffic Class", 8)
            flow = _need(_int(ip.get("flow label"), 16) if ip.get("flow label") else 0, vln, "Flow Label", 20)
            plen = _need(_int(ip.get("payload length")), vln, "Payload Length", 16)
            proto = _need(_proto_num(ip.get("next header")), vln, "Next Header", 8)
            hlim = _need(_int(ip.get("hop limit")), vln, "Hop Limit", 8)
            hdr = struct.pack("!IHBB16s16s", (6 << 28) | (tc << 20) | flow, plen, proto, hlim,
                              ipaddress.IPv6Address(_first(src)).packed, ipaddress.IPv6Address(_first(dst)).packed)
            pkt_len = 40 + plen
        data = hdr + (self._transport(proto) if frag_off == 0 else b"")
        origlen = full if full is not None else pkt_len
        if abbrev is not None and full is None:
            origlen = max(pkt_len, len(data))
        if origlen < len(data):
            where = self.link_line[0] if self.link_line else rec.line
            raise Malformed(where, f"packet length {origlen} shorter than its rebuilt headers ({len(data)} bytes)")
        return data, origlen

    def _transport(self, proto: int) -> bytes:
        rec = self.rec
        if proto == 6 and "TCP" in self.ctx:
            t = self.ctx["TCP"]
            ln = self.ctx_line.get("TCP:source port", rec.line)
            sport = _need(_int(t.get("source port")), ln, "TCP Source Port", 16)
            dport = _need(_int(t.get("destination port")), ln, "TCP Destination Port", 16)
            seq = _need(_int(t.get("sequence number")), ln, "TCP Sequence Number", 32)
            ack = _need(_int(t.get("ack number")), ln, "TCP Ack Number", 32)
            hl = _need(_int(t.get("header length")), ln, "TCP Header Length", 8)
            if hl < 20 or hl > 60 or hl % 4:
                raise Malformed(ln, f"bad TCP Header Length {hl}")
            fl = 0
            for tok in (t.get("flags") or "").replace(",", " ").split():
                bit = TCP_FLAG_BITS.get(tok.upper())
                if bit is None:
                    raise Malformed(ln, f"unknown TCP flag '{tok}'")
                fl |= bit
            win = _need(_int(t.get("window size")), ln, "TCP Window Size", 16)
            csum = _need(_int(t.get("checksum"), 16), ln, "TCP CheckSum", 16)
            urg = _need(_int(t.get("urgent data pointer"), 16) if t.get("urgent data pointer") else 0, ln,
                        "Urgent Data Pointer", 16)
            opts = b"".join(_tcp_option(v, oln) for oln, v in self.tcp_options)
            if len(opts) > hl - 20:
                raise Malformed(ln, f"TCP options take {len(opts)} bytes, Header Length {hl} leaves {hl - 20}")
            opts += b"\x00" * (hl - 20 - len(opts))
            return struct.pack("!HHIIHHHH", sport, dport, seq, ack, ((hl // 4) << 12) | fl, win, csum, urg) + opts
        if proto == 17 and "UDP" in self.ctx:
            u = self.ctx["UDP"]
            ln = self.ctx_line.get("UDP:source port", rec.line)
            return struct.pack("!HHHH", _need(_int(u.get("source port")), ln, "UDP Source Port", 16),
                               _need(_int(u.get("destination port")), ln, "UDP Destination Port", 16),
                               _need(_int(u.get("datagram length")), ln, "UDP Datagram Length", 16),
                               _need(_int(u.get("checksum"), 16), ln, "UDP CheckSum", 16))
        key = "ICMP" if proto == 1 else "ICMPV6" if proto == 58 else None
        if key is not None and key in self.ctx:
            c = self.ctx[key]
            ln = self.ctx_line.get(key + ":type/code", rec.line)
            tc = (c.get("type/code") or "").strip()
            m = re.match(r"^(\d+)\s*(?:/\s*(\d+))?", tc)
            if m:
                typ, code = int(m.group(1)), int(m.group(2) or 0)
            else:
                name = " ".join(tc.upper().replace("_", " ").split("(")[0].split())
                if name not in ICMP_NAMES:
                    raise Malformed(ln, f"ICMP Type/Code '{tc}' not understood")
                typ, code = ICMP_NAMES[name]
                if key == "ICMPV6":
                    typ = {8: 128, 0: 129}.get(typ, typ)
            csum = _need(_int(c.get("checksum"), 16), ln, "ICMP CheckSum", 16)
            _need(typ, ln, "ICMP type", 8)
            _need(code, ln, "ICMP code", 8)
            if "id" in c or "seq" in c:
                rest = struct.pack("!HH", _need(_int(c.get("id")), ln, "ICMP Id", 16),
                                   _need(_int(c.get("seq")), ln, "ICMP Seq", 16))
            elif "gateway" in c:
                rest = ipaddress.IPv4Address(_first(c["gateway"])).packed
            elif "pointer" in c:
                ptr = _need(_int(c.get("pointer")), ln, "ICMP Pointer", 32 if key == "ICMPV6" else 8)
                rest = struct.pack("!I", ptr) if key == "ICMPV6" else struct.pack("!B3x", ptr)
            elif "unused" in c:
                rest = bytes.fromhex(_first(c["unused"]))
                if len(rest) != 4:
                    raise Malformed(ln, "ICMP Unused is not 4 bytes")
            elif "mtu" in c:
                mtu = _need(_int(c.get("mtu")), ln, "MTU", 32)
                rest = struct.pack("!I", mtu) if key == "ICMPV6" else struct.pack("!HH", 0, mtu & 0xFFFF)
            else:
                rest = b"\x00" * 4
            return struct.pack("!BBH", typ, code, csum) + rest
        return b""


def _ip_length(data: bytes) -> int | None:
    if not data:
        return None
    v = data[0] >> 4
    if v == 4 and len(data) >= 4:
        return int.from_bytes(data[2:4], "big")
    if v == 6 and len(data) >= 6:
        return 40 + int.from_bytes(data[4:6], "big")
    return None


# ------------------------------------------------------------------ reader

_META_TYPES: dict[str, pa.DataType] = {
    "ctrace.record_type": pa.string(),
    "ctrace.system": pa.string(),
    "ctrace.record": pa.uint64(),
    "ctrace.entry_id": pa.string(),
    "ctrace.local_time": pa.string(),
    "ctrace.tod": pa.int64(),
    "ctrace.direction": pa.string(),
    "ctrace.link": pa.string(),
    "ctrace.link_kind": pa.string(),
    "ctrace.device": pa.string(),
    "ctrace.full_len": pa.uint32(),
    "ctrace.abbrev_len": pa.uint32(),
    "ctrace.seq": pa.uint64(),
    "ctrace.lost": pa.uint64(),
    "ctrace.flags": pa.string(),
    "ctrace.intfx": pa.uint32(),
    "ctrace.asid": pa.uint16(),
    "ctrace.tcb": pa.uint32(),
    "ctrace.segment": pa.uint32(),
    "ctrace.discard": pa.uint32(),
    "ctrace.payload_absent": pa.bool_(),
    "ctrace.line": pa.uint64(),
    "ctrace.jobname": pa.string(),
    "ctrace.conn_id": pa.uint32(),
    "ctrace.data.local_ip": pa.string(),
    "ctrace.data.local_port": pa.uint16(),
    "ctrace.data.remote_ip": pa.string(),
    "ctrace.data.remote_port": pa.uint16(),
    "ctrace.data.length": pa.uint32(),
    "ctrace.data.domain": pa.string(),
    "ctrace.data.state": pa.string(),
    "ctrace.osa.device_id": pa.string(),
    "ctrace.summary_fields": pa.string(),
}

_BANNER_STARTS = ("COMPONENT TRACE", "CTRACE ", "CTRACE(", "OPTIONS((", "COMP(", "SYSNAME(", "DSNAME(", "****")


class _Batch:
    def __init__(self) -> None:
        self.data = bytearray()
        self.offset: list[int] = []
        self.caplen: list[int] = []
        self.origlen: list[int] = []
        self.ts: list[int] = []
        self.iface: list[int] = []
        self.rec_off: list[int] = []
        self.linktype: list[int] = []
        self.meta: dict[str, list[Any]] = {k: [] for k in _META_TYPES}

    def __len__(self) -> int:
        return len(self.offset)

    def add(self, p: _Packet, iface: int, rec_off: int, linktype: int = LINKTYPE_RAW) -> None:
        self.linktype.append(linktype)
        self.offset.append(len(self.data))
        self.data += p.data
        self.caplen.append(len(p.data))
        self.origlen.append(p.origlen)
        self.ts.append(p.ts_ns)
        self.iface.append(iface)
        self.rec_off.append(rec_off)
        for k, col in self.meta.items():
            col.append(p.meta.get(k))

    def frames(self, number: int) -> FrameBatch:
        n = len(self.offset)
        return FrameBatch(
            data=np.frombuffer(bytes(self.data) or b"\x00", dtype=np.uint8),
            offset=np.asarray(self.offset, dtype=np.int64),
            caplen=np.asarray(self.caplen, dtype=np.int64),
            origlen=np.asarray(self.origlen, dtype=np.int64),
            ts_ns=np.asarray(self.ts, dtype=np.int64),
            linktype=np.asarray(self.linktype, dtype=np.int32).reshape(n),
            interface_id=np.asarray(self.iface, dtype=np.int32),
            record_offset=np.asarray(self.rec_off, dtype=np.int64),
            first_number=number,
            meta={k: pa.array(v, type=_META_TYPES[k]) for k, v in self.meta.items()},
        )


class CtraceTextReader:
    def __init__(self, chunks: ChunkReader, info: TraceInfo) -> None:
        self.chunks = chunks
        self.info = info
        info.format = "ctrace-format"
        # Set again at the end: SYSTCPDA (packet and data trace records),
        # SYSTCPOT (OSAENTA records), or both.
        info.extra["component"] = "SYSTCPDA"
        self.systems: list[str] = []
        self.options_shown: list[str] = []
        self.saw_dump = False
        self.saw_format = False
        self.ifaces: dict[tuple[int, str | None, str | None], int] = {}
        self.malformed = 0
        self.first_bad: tuple[int, str, int] | None = None
        self.skipped: dict[str, int] = {}
        self.components: list[str] = []
        self.n_warnings = 0
        self.warnings_dropped = 0
        self.last_date: tuple[tuple[int, int, int], str] | None = None
        """The date records without a Tod Clock line are placed on, and where
        it came from."""
        self.last_ts: int | None = None
        self.pending_date: tuple[tuple[int, int, int], str] | None = None
        self._opt_block: list[str] | None = None

    # ------------------------------------------------------------ lines

    def _lines(self) -> Iterator[tuple[int, int, str]]:
        """(line number, byte offset, text) of every line, streaming through
        the chunk window (the file is never held whole)."""
        c = self.chunks
        lineno = 0
        while True:
            buf = c.buf
            pos = 0
            n = len(buf)
            while pos < n:
                nl = buf.find(b"\n", pos, pos + MAX_LINE + 1)
                if nl < 0:
                    if n - pos <= MAX_LINE:
                        break
                    cut = pos + MAX_LINE  # an endless "line": cut it
                    lineno += 1
                    yield lineno, c.base + pos, buf[pos:cut].decode("latin-1")
                    pos = cut
                    continue
                lineno += 1
                yield lineno, c.base + pos, buf[pos:nl].decode("latin-1")
                pos = nl + 1
            c.advance(pos)
            if c.eof:
                if c.buf:
                    lineno += 1
                    yield lineno, c.base, c.buf.decode("latin-1")
                    c.advance(len(c.buf))
                return
            c.fill(len(c.buf) + 1)

    # ------------------------------------------------------------ warnings

    def _warn(self, msg: str) -> None:
        if self.n_warnings < MAX_WARNINGS:
            self.info.warnings.append(msg)
        else:
            self.warnings_dropped += 1
        self.n_warnings += 1

    # ------------------------------------------------------------ banner

    def _banner(self, text: str) -> None:
        s = " ".join(text.split())
        if self._opt_block is not None:
            self._opt_block.append(s)
            if "))" in s or len(self._opt_block) > 30:
                self._add_option(" ".join(self._opt_block))
                self._opt_block = None
            return
        if not s.startswith(_BANNER_STARTS):
            return
        m = DATE_LINE_RE.match(s)
        if m and _date_ok(int(m.group(1))) and 1 <= int(m.group(2)) <= 12 and 1 <= int(m.group(3)) <= 31:
            # Applies to the records after it (the open record was before it).
            self.pending_date = ((int(m.group(1)), int(m.group(2)), int(m.group(3))),
                                 f"the '**** {m.group(1)}/{m.group(2)}/{m.group(3)}' line")
            return
        if s.startswith("COMPONENT TRACE"):
            m2 = COMPONENT_RE.match(s)
            self._add_option(m2.group(0) if m2 else s)  # without the page number
        elif s.startswith("CTRACE") and "COMP(" in s.upper():
            self._add_option(s)
        elif s.startswith("COMP("):
            comp = s[len("COMP("):].split(")")[0].strip().upper()
            if comp in ("SYSTCPDA", "SYSTCPOT"):
                self._add_component(comp)
        elif s.startswith("OPTIONS(("):
            if "))" in s:
                self._add_option(s)
            else:
                self._opt_block = [s]
        elif s.startswith("SYSNAME("):
            name = s[len("SYSNAME("):].split(")")[0].strip()
            if name and name not in self.systems:
                self.systems.append(name)

    def _add_option(self, s: str) -> None:
        if s not in self.options_shown and len(self.options_shown) < 20:
            self.options_shown.append(s)

    # ------------------------------------------------------------ records

    def _interface(self, link: str | None, device: str | None, linktype: int = LINKTYPE_RAW) -> int:
        if linktype == LINKTYPE_ZOS_DATA:
            link, device = "data trace", "socket data (Data Trace records)"
        key = (linktype, link, device)
        iid = self.ifaces.get(key)
        if iid is None:
            iid = len(self.info.interfaces)
            self.ifaces[key] = iid
            self.info.interfaces.append(InterfaceInfo(
                id=iid, linktype=linktype, linktype_name=LINKTYPE_NAMES.get(linktype, str(linktype)),
                snaplen=SNAPLEN, name=link, description=device))
        return iid

    def _add_component(self, comp: str) -> None:
        if comp not in self.components:
            self.components.append(comp)

    def _finish_record(self, rec: _Record, batch: _Batch) -> None:
        system = rec.header[1]
        if system not in self.systems:
            self.systems.append(system)
        if rec.kind == "other":
            what = f"'{rec.header[5]}'"
            self.skipped[what] = self.skipped.get(what, 0) + 1
            self._warn(f"line {rec.line}: {what} record skipped (not supported yet)")
            return
        self._add_component("SYSTCPOT" if rec.kind == "osaenta" else "SYSTCPDA")
        if rec.kind == "data":
            parser = _RecordParser(rec, SECTION_RE, JOB_RE, DATA_PRIMARY, DATA_SECONDARY_RE)
        elif rec.kind == "osaenta":
            parser = _RecordParser(rec, OSA_SECTION_RE, LINK_RE, OSA_PRIMARY, OSA_SECONDARY_RE)
        else:
            parser = _RecordParser(rec)
        linktype = LINKTYPE_RAW
        try:
            if rec.overflow:
                raise Malformed(rec.line, f"record longer than {MAX_RECORD_LINES} lines")
            if rec.kind == "data":
                p = parser.data_record(self.last_date, self.last_ts)
                linktype = LINKTYPE_ZOS_DATA
            elif rec.kind == "osaenta":
                p, linktype = parser.osa_frame(self.last_date, self.last_ts)
            else:
                p = parser.packet(self.last_date, self.last_ts)
        except Continuation as e:
            self.skipped[e.what] = self.skipped.get(e.what, 0) + 1
            self._warn(e.message)
            return
        except Malformed as e:
            self._bad(rec, e.line, e.reason)
            return
        except (ValueError, IndexError, KeyError, struct.error, OverflowError) as e:
            self._bad(rec, rec.line, f"record not understood ({e})")
            return
        if parser.sections:
            self.saw_dump = True
        if "ip" in parser.ctx and parser.ctx["ip"] or rec.kind == "data":
            self.saw_format = True
        if p.warning:
            self._warn(p.warning)
        tod = p.meta.get("ctrace.tod")
        if tod is not None or p.warning:
            t = p.ts_ns
            days = t // (86400 * 1_000_000_000)
            self.last_date = (_civil(days), f"the record at line {rec.line}")
            self.last_ts = t
        batch.add(p, self._interface(p.link, p.device, linktype), rec.offset, linktype)

    def _bad(self, rec: _Record, line: int, reason: str) -> None:
        self.malformed += 1
        if self.first_bad is None:
            self.first_bad = (line, reason, rec.offset)
        self._warn(f"line {line}: malformed CTRACE record (header at line {rec.line}) skipped: {reason}")

    def batches(self) -> Iterator[FrameBatch]:
        number = 1
        batch = _Batch()
        rec: _Record | None = None
        for lineno, off, raw in self._lines():
            text = raw.replace("\r", "").replace("\f", "").replace("\x00", "")
            m = HEADER_RE.match(text) if ":" in text else None
            if m is not None:
                if rec is not None:
                    self._finish_record(rec, batch)
                    if len(batch) >= MAX_BATCH_RECORDS or len(batch.data) >= MAX_BATCH_BYTES:
                        yield batch.frames(number)
                        number += len(batch)
                        batch = _Batch()
                if self.pending_date is not None:
                    self.last_date, self.pending_date = self.pending_date, None
                rec = _Record(lineno, off, m.groups(), _kind(m.group(6), m.group(3)))
                continue
            if rec is not None and rec.kind != "other":
                if len(rec.lines) < MAX_RECORD_LINES:
                    rec.lines.append((lineno, text))
                else:
                    rec.overflow = True
            if rec is None or not HEXLINE_RE.match(text):
                self._banner(text)
            if rec is None and self.pending_date is not None:
                self.last_date, self.pending_date = self.pending_date, None
        if rec is not None:
            self._finish_record(rec, batch)
        if len(batch):
            yield batch.frames(number)
            number += len(batch)
        self._finish_info()
        report_end(self.info, self.chunks, self.malformed, self.first_bad)

    def _finish_info(self) -> None:
        info = self.info
        if self.components:
            info.extra["component"] = ", ".join(self.components)
        if self.systems:
            info.extra["system"] = ", ".join(self.systems)
        if self.options_shown:
            info.extra["trace_options"] = "; ".join(self.options_shown)
        else:
            inferred = [w for w, on in (("FORMAT", self.saw_format), ("DUMP", self.saw_dump)) if on]
            info.extra["trace_options"] = ("OPTIONS((" + " ".join(inferred) + ")) (inferred from the records)"
                                           if inferred else "not shown")
        for what, n in self.skipped.items():
            info.extra.setdefault("skipped_records", {})[what] = n
        if self.warnings_dropped:
            info.warnings.append(f"{self.warnings_dropped} more warnings not shown")
        if not info.interfaces:
            info.interfaces.append(InterfaceInfo(id=0, linktype=LINKTYPE_RAW, linktype_name="RAW",
                                                 snaplen=SNAPLEN))


def _data_short(sec: _Section) -> int:
    """Bytes a section's ``Data Length`` says were not dumped."""
    assert sec.data_length is not None
    if sec.data_length < sec.length:
        raise Malformed(sec.line, f"{sec.name} section shows {sec.length} bytes of a "
                                  f"{sec.data_length}-byte Data Length")
    return sec.data_length - sec.length


def report_end(info: TraceInfo, chunks: ChunkReader, malformed: int,
               first_bad: tuple[int, str, int] | None) -> None:
    """The errors a formatted-text read ends with: a decompression fault,
    and one error counting the malformed records (each already has its
    warning), so the exit code says the trace was not all read."""
    if chunks.stream_error is not None:
        info.errors.append(chunks.stream_error)
    if malformed and first_bad is not None:
        line, reason, offset = first_bad
        info.fail(f"{malformed} malformed CTRACE record(s); first at line {line}: {reason}", offset)


def _civil(days: int) -> tuple[int, int, int]:
    """Days since 1970-01-01 -> (year, month, day) (proleptic Gregorian)."""
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + (m <= 2), m, d)


# The SUMMARY report reader lives in its own module (it builds on this one).
from tracedoc.read.ctrace_summary import CtraceSummaryReader  # noqa: E402
from tracedoc.read.ctrace_summary import sniff as summary_sniff  # noqa: E402

__all__ = ["CtraceSummaryReader", "CtraceTextReader", "sniff", "summary_sniff"]
