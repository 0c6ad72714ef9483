"""NTP (RFC 5905; control messages, mode 6, RFC 1305 appendix B / RFC 9327;
ntpd private messages, mode 7) on UDP port 123.

Fields are named and shown as Wireshark 4.0 shows them: the flag sub-fields
are the shifted values, root delay and dispersion the raw 32-bit fixed-point
numbers, the reference ID raw bytes.  The four timestamps are ``time``
columns (ns since 1970, era rules as Wireshark's: a timestamp whose top bit is
clear counts from the 2036 era; all-zero is Wireshark's "NULL", kept as 0);
``base="utc"`` shows them in tshark's text form ("May 30, 2019
20:03:34.048406864 UTC", "NULL").  Mode 7 items are decoded for the request codes that carry the
common fields (PEER_LIST_SUM, PEER_INFO, SYS_INFO); a field repeated by
several items keeps its first occurrence.

Packet Summary wording: ``ntp : client request (v4)``, ``ntp : server reply
(v4) stratum 2``, ``ntp : control request (v2) read variables``, ``ntp :
private response (v2) PEER_LIST_SUM``.
"""

from __future__ import annotations

from tracedoc.decode.app import AppInfo
from tracedoc.decode.apptree import Reader, Tree
from tracedoc.decode.display import utc_text
from tracedoc.decode.fields import F, Field

NAME = "ntp"

FIELDS = (
    F("ntp.flags", "u8", "Flags", "hex", 2),
    F("ntp.flags.li", "u8", "Leap Indicator"),
    F("ntp.flags.vn", "u8", "Version number"),
    F("ntp.flags.mode", "u8", "Mode"),
    F("ntp.stratum", "u8", "Peer Clock Stratum"),
    F("ntp.ppoll", "u8", "Peer Polling Interval"),
    F("ntp.precision", "u8", "Peer Clock Precision"),
    F("ntp.rootdelay", "u32", "Root Delay (1/65536 s)"),
    F("ntp.rootdispersion", "u32", "Root Dispersion (1/65536 s)"),
    F("ntp.refid", "bytes", "Reference ID"),
    F("ntp.reftime", "time", "Reference Timestamp", "utc"),
    F("ntp.org", "time", "Origin Timestamp", "utc"),
    F("ntp.rec", "time", "Receive Timestamp", "utc"),
    F("ntp.xmt", "time", "Transmit Timestamp", "utc"),
    F("ntp.ext.type", "u16", "Extension Field Type", "hex", 4, multi=True),
    F("ntp.ext.length", "u16", "Extension Length", multi=True),
    F("ntp.keyid", "bytes", "Key ID"),
    F("ntp.mac", "bytes", "Message Authentication Code"),
    # mode 6: control messages
    F("ntp.ctrl.flags2", "u8", "Flags 2", "hex", 2),
    F("ntp.ctrl.flags2.r", "u8", "Response bit"),
    F("ntp.ctrl.flags2.error", "u8", "Error bit"),
    F("ntp.ctrl.flags2.more", "u8", "More bit"),
    F("ntp.ctrl.flags2.opcode", "u8", "Opcode"),
    F("ntp.ctrl.sequence", "u16", "Sequence"),
    F("ntp.ctrl.status", "u16", "Status", "hex", 4),
    F("ntp.ctrl.associd", "u16", "AssociationID"),
    F("ntp.ctrl.offset", "u16", "Offset"),
    F("ntp.ctrl.count", "u16", "Count"),
    # mode 7: ntpd private messages
    F("ntp.priv.flags.r", "u8", "Response bit"),
    F("ntp.priv.flags.more", "u8", "More bit"),
    F("ntp.priv.auth_seq", "u8", "Auth, sequence"),
    F("ntp.priv.auth", "u8", "Auth bit"),
    F("ntp.priv.seq", "u8", "Sequence number"),
    F("ntp.priv.impl", "u8", "Implementation"),
    F("ntp.priv.reqcode", "u8", "Request code"),
    F("ntp.priv.err", "u8", "Err", "hex", 2),
    F("ntp.priv.numitems", "u16", "Number of data items"),
    F("ntp.priv.itemsize", "u16", "Size of data item"),
)
(FLAGS, LI, VN, MODE, STRATUM, PPOLL, PRECISION, ROOTDELAY, ROOTDISPERSION, REFID, REFTIME, ORG, REC, XMT,
 EXT_TYPE, EXT_LENGTH, KEYID, MAC, CTRL_FLAGS2, CTRL_R, CTRL_ERROR, CTRL_MORE, CTRL_OPCODE, CTRL_SEQUENCE,
 CTRL_STATUS, CTRL_ASSOCID, CTRL_OFFSET, CTRL_COUNT, PRIV_R, PRIV_MORE, PRIV_AUTH_SEQ, PRIV_AUTH, PRIV_SEQ,
 PRIV_IMPL, PRIV_REQCODE, PRIV_ERR, PRIV_NUMITEMS, PRIV_ITEMSIZE) = FIELDS

UDP_PORTS = (123,)

MODES = {0: "reserved", 1: "symmetric active", 2: "symmetric passive", 3: "client", 4: "server",
         5: "broadcast", 6: "reserved for NTP control message", 7: "reserved for private use"}
LEAP = {0: "no warning", 1: "last minute of the day has 61 seconds",
        2: "last minute of the day has 59 seconds", 3: "unknown (clock unsynchronized)"}
CTRL_OPCODES = {0: "reserved", 1: "read status", 2: "read variables", 3: "write variables",
                4: "read clock variables", 5: "write clock variables", 6: "set trap address/port",
                7: "trap response", 8: "runtime configuration", 9: "export configuration to file",
                10: "retrieve remote address stats", 11: "retrieve ordered list",
                12: "request client-specific nonce", 31: "unset trap address/port"}
PRIV_REQUESTS = dict(enumerate((
    "PEER_LIST", "PEER_LIST_SUM", "PEER_INFO", "PEER_STATS", "SYS_INFO", "SYS_STATS", "IO_STATS", "MEM_STATS",
    "LOOP_INFO", "TIMER_STATS", "CONFIG", "UNCONFIG", "SET_SYS_FLAG", "CLR_SYS_FLAG", "MONITOR", "NOMONITOR",
    "GET_RESTRICT", "RESADDFLAGS", "RESSUBFLAGS", "UNRESTRICT", "MON_GETLIST", "RESET_STATS", "RESET_PEER",
    "REREAD_KEYS", "DO_DIRTY_HACK", "DONT_DIRTY_HACK", "TRUSTKEY", "UNTRUSTKEY", "AUTHINFO", "TRAPS", "ADD_TRAP",
    "CLR_TRAP", "REQUEST_KEY", "CONTROL_KEY", "GET_CTLSTATS", "GET_LEAPINFO", "GET_CLOCKINFO", "SET_CLKFUDGE",
    "GET_KERNEL", "GET_CLKBUGINFO")))
PRIV_REQUESTS.update({41: "SET_PRECISION", 42: "MON_GETLIST_1", 43: "HOSTNAME_ASSOCID", 44: "IF_STATS",
                      45: "IF_RELOAD"})
XNTPD = 3
"""Mode 7 implementation number whose header carries item counts and sizes."""

NTP_1900_TO_1970 = 2208988800
NTP_1970_TO_2036 = 2085978496
"""Seconds from 1970 to the start of NTP era 1 (2036-02-07 06:28:16 UTC)."""

# Mode 7 items (ntpd's ntp_request.h): the common NTP fields they carry,
# as (field, offset in the item, length).
_PEER_LIST_SUM = ((STRATUM, 10, 1), (PPOLL, 12, 1))
_PEER_INFO = ((STRATUM, 14, 1), (PPOLL, 15, 1), (PRECISION, 17, 1), (KEYID, 28, 4), (REFID, 36, 4),
              (ROOTDELAY, 44, 4), (ROOTDISPERSION, 48, 4), (REFTIME, 52, 8), (ORG, 60, 8), (REC, 68, 8),
              (XMT, 76, 8))
_SYS_INFO = ((STRATUM, 6, 1), (PRECISION, 7, 1), (ROOTDELAY, 8, 4), (ROOTDISPERSION, 12, 4), (REFID, 16, 4),
             (REFTIME, 20, 8))


def ntp_time_ns(secs: int, frac: int) -> int:
    """An NTP timestamp as ns since 1970, as Wireshark 4.0 reads it: the top
    bit clear means era 1 (from 2036); all zero is "NULL" (0)."""
    if secs == 0 and frac == 0:
        return 0
    s = secs - NTP_1900_TO_1970 if secs & 0x80000000 else secs + NTP_1970_TO_2036
    return s * 1_000_000_000 + int(1000000000 * (frac / 4294967296.0))


format_ntp_time = utc_text
"""tshark's text for an NTP timestamp (``May 30, 2019 20:03:34.048406864 UTC``)."""


def dissect(data: bytes, tree: Tree, info: AppInfo) -> None:
    r = Reader(data)
    flags = r.u8(0)
    mode = flags & 7
    tree.message = _summary(data, flags)
    if mode == 6:
        _control(r, tree, flags)
    elif mode == 7:
        _private(r, tree, flags)
    else:
        _standard(r, tree, flags)


def _summary(data: bytes, flags: int) -> str:
    mode, vn = flags & 7, (flags >> 3) & 7
    if mode == 6:
        if len(data) < 2:
            return f"ntp : control message (v{vn})"
        f2 = data[1]
        kind = "response" if f2 & 0x80 else "request"
        text = f"ntp : control {kind} (v{vn}) {CTRL_OPCODES.get(f2 & 0x1F, f'opcode {f2 & 0x1F}')}"
        return text + (" error" if f2 & 0x40 else "")
    if mode == 7:
        kind = "response" if flags & 0x80 else "request"
        code = PRIV_REQUESTS.get(data[3], f"request code {data[3]}") if len(data) > 3 else ""
        return f"ntp : private {kind} (v{vn}) {code}".rstrip()
    what = {0: "reserved mode 0", 1: "symmetric active", 2: "symmetric passive", 3: "client request",
            4: "server reply", 5: "broadcast"}[mode]
    text = f"ntp : {what} (v{vn})"
    if mode == 3 or len(data) < 2:
        return text
    stratum = data[1]
    text += f" stratum {stratum}"
    if stratum == 0 and len(data) >= 16:
        kiss = data[12:16].rstrip(b"\0")
        if kiss and all(0x20 < b < 0x7F for b in kiss):
            text += f" kiss code {kiss.decode('ascii')}"  # RFC 5905 section 7.4
    elif stratum == 16:
        text += " (unsynchronized)"
    return text


def _flags(r: Reader, tree: Tree, flags: int, li: bool) -> None:
    mode, vn = flags & 7, (flags >> 3) & 7
    want = tree.want_nodes
    lab = None
    if want:
        parts = [f"Flags: 0x{flags:02x}"]
        if li:
            parts.append(f"Leap Indicator: {LEAP[flags >> 6]}")
        else:
            parts.append(f"Response bit: {'Response' if flags & 0x80 else 'Request'}")
        parts += [f"Version number: NTP Version {vn}", f"Mode: {MODES[mode]}"]
        lab = ", ".join(parts)
    tree.add(FLAGS, flags, 0, 1, lab)
    if li:
        tree.add(LI, flags >> 6, 0, 1, _bits(flags, 0xC0, f"Leap Indicator: {LEAP[flags >> 6]}") if want else None)
    else:
        tree.add(PRIV_R, flags >> 7, 0, 1, _bits(flags, 0x80, "Response bit") if want else None)
        tree.add(PRIV_MORE, (flags >> 6) & 1, 0, 1, _bits(flags, 0x40, "More bit") if want else None)
    tree.add(VN, vn, 0, 1, _bits(flags, 0x38, f"Version number: NTP Version {vn}") if want else None)
    tree.add(MODE, mode, 0, 1, _bits(flags, 0x07, f"Mode: {MODES[mode]}") if want else None)


def _bits(byte: int, mask: int, text: str) -> str:
    """Wireshark's bit-field label: ``..10 0... = Version number: NTP Version 4 (4)``."""
    pattern = "".join(("1" if byte & (0x80 >> i) else "0") if mask & (0x80 >> i) else "." for i in range(8))
    value = (byte & mask) >> ((mask & -mask).bit_length() - 1)
    return f"{pattern[:4]} {pattern[4:]} = {text} ({value})"


def _standard(r: Reader, tree: Tree, flags: int) -> None:
    """Modes 0-5: the 48-byte header, extension fields, MAC (RFC 5905
    section 7.3, RFC 7822)."""
    want = tree.want_nodes
    _flags(r, tree, flags, True)
    stratum = r.u8(1)
    tree.add(STRATUM, stratum, 1, 1, f"Peer Clock Stratum: {_stratum_text(stratum)} ({stratum})" if want else None)
    poll = r.u8(2)
    tree.add(PPOLL, poll, 2, 1, f"Peer Polling Interval: {_signed8(poll)} ({_pow2(poll)} seconds)" if want else None)
    prec = r.u8(3)
    tree.add(PRECISION, prec, 3, 1, f"Peer Clock Precision: {2.0 ** _signed8(prec):.6f} seconds" if want else None)
    _fixed_point(r, tree, ROOTDELAY, 4)
    _fixed_point(r, tree, ROOTDISPERSION, 8)
    refid = r.bytes(12, 4)
    tree.add(REFID, refid, 12, 4, f"Reference ID: {_refid_text(refid, stratum)}" if want else None)
    for f, off in ((REFTIME, 16), (ORG, 24), (REC, 32), (XMT, 40)):
        _timestamp(r, tree, f, off)
    # Extension fields, then a MAC: told apart as Wireshark does (an
    # extension is >= 16 bytes and its length must fit; trailing bytes are
    # the MAC, and a MAC under 20 bytes means the last "extension" was not).
    n = len(r.data)
    efs_end = 48
    last = 0
    while n - efs_end >= 16:
        extlen = int.from_bytes(r.data[efs_end + 2:efs_end + 4], "big")
        if extlen < 16 or n - efs_end < extlen:
            break
        efs_end += extlen
        last = extlen
    maclen = n - efs_end
    if maclen and not (maclen == 4 and r.data[efs_end:efs_end + 4] == b"\0\0\0\0") and maclen < 20:
        efs_end -= last
    off = 48
    while off < efs_end:
        extlen = r.u16(off + 2)
        tree.open(f"Extension (type 0x{r.u16(off):04x}, {extlen} bytes)", off, extlen)
        tree.add(EXT_TYPE, r.u16(off), off, 2)
        tree.add(EXT_LENGTH, extlen, off + 2, 2)
        tree.close()
        off += extlen
    if n - off >= 4:
        tree.add(KEYID, r.bytes(off, 4), off, 4)
    off += 4
    if n - off > 0:
        tree.add(MAC, r.bytes(off, n - off), off, n - off)


def _control(r: Reader, tree: Tree, flags: int) -> None:
    """Mode 6 (RFC 9327 section 2): a 12-byte header and Count bytes of data."""
    want = tree.want_nodes
    _flags(r, tree, flags, True)
    f2 = r.u8(1)
    op = f2 & 0x1F
    lab = None
    if want:
        lab = (f"Flags 2: 0x{f2:02x}, Response bit: {'Response' if f2 & 0x80 else 'Request'}, "
               f"Opcode: {CTRL_OPCODES.get(op, 'unknown')}")
    tree.add(CTRL_FLAGS2, f2, 1, 1, lab)
    tree.add(CTRL_R, f2 >> 7, 1, 1, _bits(f2, 0x80, "Response bit") if want else None)
    tree.add(CTRL_ERROR, (f2 >> 6) & 1, 1, 1, _bits(f2, 0x40, "Error bit") if want else None)
    tree.add(CTRL_MORE, (f2 >> 5) & 1, 1, 1, _bits(f2, 0x20, "More bit") if want else None)
    tree.add(CTRL_OPCODE, op, 1, 1, _bits(f2, 0x1F, f"Opcode: {CTRL_OPCODES.get(op, 'unknown')}") if want else None)
    tree.add(CTRL_SEQUENCE, r.u16(2), 2, 2)
    status = r.u16(4)
    tree.add(CTRL_STATUS, status, 4, 2, f"Status: 0x{status:04x}" if want else None)
    tree.add(CTRL_ASSOCID, r.u16(6), 6, 2)
    tree.add(CTRL_OFFSET, r.u16(8), 8, 2)
    count = r.u16(10)
    tree.add(CTRL_COUNT, count, 10, 2)
    if count:
        r.need(12, count, "control message data")
        tree.text(f"Data ({count} bytes)", 12, count)


def _private(r: Reader, tree: Tree, flags: int) -> None:
    """Mode 7 (ntpd's ntp_request.h): an 8-byte header and data items."""
    want = tree.want_nodes
    _flags(r, tree, flags, False)
    auth_seq = r.u8(1)
    tree.add(PRIV_AUTH_SEQ, auth_seq, 1, 1)
    tree.add(PRIV_AUTH, auth_seq >> 7, 1, 1, _bits(auth_seq, 0x80, "Auth bit") if want else None)
    tree.add(PRIV_SEQ, auth_seq & 0x7F, 1, 1, _bits(auth_seq, 0x7F, "Sequence number") if want else None)
    impl = r.u8(2)
    tree.add(PRIV_IMPL, impl, 2, 1)
    code = r.u8(3)
    tree.add(PRIV_REQCODE, code, 3, 1, f"Request code: {PRIV_REQUESTS.get(code, 'Unknown')} ({code})" if want else None)
    if impl != XNTPD:
        return
    w = r.u16(4)
    tree.add(PRIV_ERR, w >> 12, 4, 1)
    numitems = w & 0xFFF
    tree.add(PRIV_NUMITEMS, numitems, 4, 2)
    itemsize = r.u16(6) & 0xFFF
    tree.add(PRIV_ITEMSIZE, itemsize, 6, 2)
    layout = {1: _PEER_LIST_SUM, 4: _SYS_INFO}.get(code)
    if code == 2 and flags & 0x80:
        layout = _PEER_INFO
    if layout is None:
        return
    name = PRIV_REQUESTS[code]
    for i in range(numitems):
        base = 8 + itemsize * i
        tree.open(f"{name} Item", base, itemsize)
        try:
            for f, off, size in layout:
                at = base + off
                if f.type == "time":
                    _timestamp(r, tree, f, at)
                elif f.type == "bytes":
                    tree.add(f, r.bytes(at, size), at, size)
                elif size == 4:
                    tree.add(f, r.u32(at), at, 4)
                else:
                    tree.add(f, r.u8(at), at, 1)
        finally:
            tree.close()


def _fixed_point(r: Reader, tree: Tree, f: Field, off: int) -> None:
    v = r.u32(off)
    lab = f"{f.desc.split(' (')[0]}: {(v >> 16) + (v & 0xFFFF) / 65536.0:.6f} seconds" if tree.want_nodes else None
    tree.add(f, v, off, 4, lab)


def _timestamp(r: Reader, tree: Tree, f: Field, off: int) -> None:
    ns = ntp_time_ns(r.u32(off), r.u32(off + 4))
    tree.add(f, ns, off, 8, f"{f.desc}: {format_ntp_time(ns)}" if tree.want_nodes else None)


def _signed8(v: int) -> int:
    return v - 256 if v & 0x80 else v


def _pow2(v: int) -> str:
    e = _signed8(v)
    return f"{2 ** e}" if e >= 0 else f"{2.0 ** e:5.3f}"


def _stratum_text(s: int) -> str:
    if s == 0:
        return "unspecified or invalid"
    if s == 1:
        return "primary reference"
    if s < 16:
        return "secondary reference"
    if s == 16:
        return "unsynchronized"
    return "reserved"


def _refid_text(refid: bytes, stratum: int) -> str:
    if stratum <= 1:
        text = refid.rstrip(b"\0")
        if all(0x20 <= b < 0x7F for b in text):
            return f"'{text.decode('ascii')}'"
    return ".".join(map(str, refid))
