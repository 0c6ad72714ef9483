"""DNS (RFC 1035), multicast DNS (RFC 6762) and LLMNR (RFC 4795).

One decoder serves the three: Wireshark names all their fields ``dns.*``;
they differ in a few header bits (LLMNR's C and T flags), in mDNS's use of
the class's top bit (the "QU" question / cache-flush bit) and in the name of
the protocol.  :data:`MDNS` and :data:`LLMNR` are the module objects bound to
UDP 5353 and 5355; this module itself takes UDP and TCP port 53 (and TCP
5353, which Wireshark 4.0 decodes as plain DNS).

Over TCP every message has a two-byte length in front (RFC 1035 4.2.2):
:func:`pdu_length` frames the stream by it, and compression pointers count
from the byte after it.  On UDP ports no decoder owns, :func:`heuristic`
finds DNS as tshark 4.0 does by default, a little more strictly.

Names and records are read as Wireshark 4.0 reads them, so the columns
agree with tshark on malformed messages too (a record whose data runs past
the message shows nothing; rdata is read past RDLENGTH where Wireshark does;
NSEC type bitmaps add ``dns.resp.type`` values).  Names: the root is
``<Root>``, a name whose text would pass 253 bytes is ``<Name too long>``, a
pointer cycle gives ``<Name contains a pointer that loops>``, and bytes that
are not printable UTF-8 are escaped as Wireshark's ``format_text`` escapes
them (``\\t``, ``\\001``, ``\\u200B``).
"""

from __future__ import annotations

import ipaddress
import struct
import unicodedata
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable

from tracedoc.decode.apptree import Reader, Tree, Truncated
from tracedoc.decode.fields import F, Field

if TYPE_CHECKING:
    from tracedoc.decode.app import AppInfo

NAME = "dns"

# -- fields, named and shown as Wireshark 4.0 shows them ------------------------------
LENGTH = F("dns.length", "u16", "Length")
ID = F("dns.id", "u16", "Transaction ID", "hex", 4)
FLAGS = F("dns.flags", "u16", "Flags", "hex", 4)
F_RESPONSE = F("dns.flags.response", "bool", "Response")
F_OPCODE = F("dns.flags.opcode", "u16", "Opcode")
F_AUTHORITATIVE = F("dns.flags.authoritative", "bool", "Authoritative")
F_CONFLICT = F("dns.flags.conflict", "bool", "Conflict")
F_TRUNCATED = F("dns.flags.truncated", "bool", "Truncated")
F_RECDESIRED = F("dns.flags.recdesired", "bool", "Recursion desired")
F_TENTATIVE = F("dns.flags.tentative", "bool", "Tentative")
F_RECAVAIL = F("dns.flags.recavail", "bool", "Recursion available")
F_Z = F("dns.flags.z", "bool", "Z")
F_AUTHENTICATED = F("dns.flags.authenticated", "bool", "Answer authenticated")
F_CHECKDISABLE = F("dns.flags.checkdisable", "bool", "Non-authenticated data")
F_RCODE = F("dns.flags.rcode", "u16", "Reply code")
COUNT_QUERIES = F("dns.count.queries", "u16", "Questions")
COUNT_ZONES = F("dns.count.zones", "u16", "Zones")
COUNT_ANSWERS = F("dns.count.answers", "u16", "Answer RRs")
COUNT_PREREQ = F("dns.count.prerequisites", "u16", "Prerequisites")
COUNT_AUTH = F("dns.count.auth_rr", "u16", "Authority RRs")
COUNT_UPDATES = F("dns.count.updates", "u16", "Updates")
COUNT_ADD = F("dns.count.add_rr", "u16", "Additional RRs")
QRY_NAME = F("dns.qry.name", "string", "Name", multi=True)
QRY_NAME_LEN = F("dns.qry.name.len", "u16", "Name Length", multi=True)
COUNT_LABELS = F("dns.count.labels", "u16", "Label Count", multi=True)
QRY_TYPE = F("dns.qry.type", "u16", "Type", multi=True)
QRY_CLASS = F("dns.qry.class", "u16", "Class", "hex", 4, multi=True)
QRY_QU = F("dns.qry.qu", "bool", "\"QU\" question", multi=True)
RESP_NAME = F("dns.resp.name", "string", "Name", multi=True)
RESP_TYPE = F("dns.resp.type", "u16", "Type", multi=True)
RESP_CLASS = F("dns.resp.class", "u16", "Class", "hex", 4, multi=True)
RESP_CACHE_FLUSH = F("dns.resp.cache_flush", "bool", "Cache flush", multi=True)
RESP_TTL = F("dns.resp.ttl", "u32", "Time to live", multi=True)
RESP_LEN = F("dns.resp.len", "u16", "Data length", multi=True)
A = F("dns.a", "ipv4", "Address", multi=True)
AAAA = F("dns.aaaa", "ipv6", "AAAA Address", multi=True)
CNAME = F("dns.cname", "string", "CNAME", multi=True)
NS = F("dns.ns", "string", "Name Server", multi=True)
PTR = F("dns.ptr.domain_name", "string", "Domain Name", multi=True)
MX_PREFERENCE = F("dns.mx.preference", "u16", "Preference", multi=True)
MX_EXCHANGE = F("dns.mx.mail_exchange", "string", "Mail Exchange", multi=True)
TXT_LENGTH = F("dns.txt.length", "u8", "TXT Length", multi=True)
TXT = F("dns.txt", "string", "TXT", multi=True)
SOA_MNAME = F("dns.soa.mname", "string", "Primary name server", multi=True)
SOA_RNAME = F("dns.soa.rname", "string", "Responsible authority's mailbox", multi=True)
SOA_SERIAL = F("dns.soa.serial_number", "u32", "Serial Number", multi=True)
SOA_REFRESH = F("dns.soa.refresh_interval", "u32", "Refresh Interval", multi=True)
SOA_RETRY = F("dns.soa.retry_interval", "u32", "Retry Interval", multi=True)
SOA_EXPIRE = F("dns.soa.expire_limit", "u32", "Expire limit", multi=True)
SOA_MINIMUM = F("dns.soa.minimum_ttl", "u32", "Minimum TTL", multi=True)
SRV_SERVICE = F("dns.srv.service", "string", "Service", multi=True)
SRV_PROTO = F("dns.srv.proto", "string", "Protocol", multi=True)
SRV_NAME = F("dns.srv.name", "string", "Name", multi=True)
SRV_PRIORITY = F("dns.srv.priority", "u16", "Priority", multi=True)
SRV_WEIGHT = F("dns.srv.weight", "u16", "Weight", multi=True)
SRV_PORT = F("dns.srv.port", "u16", "Port", multi=True)
SRV_TARGET = F("dns.srv.target", "string", "Target", multi=True)
UDP_PAYLOAD_SIZE = F("dns.rr.udp_payload_size", "u16", "UDP payload size", multi=True)
EXT_RCODE = F("dns.resp.ext_rcode", "u8", "Higher bits in extended RCODE", "hex", 2, multi=True)
EDNS0_VERSION = F("dns.resp.edns0_version", "u8", "EDNS0 version", multi=True)
EDNS_Z = F("dns.resp.z", "u16", "Z", "hex", 4, multi=True)
EDNS_DO = F("dns.resp.z.do", "bool", "DO bit", multi=True)
EDNS_Z_RESERVED = F("dns.resp.z.reserved", "u16", "Reserved", "hex", 4, multi=True)
OPT_CODE = F("dns.opt.code", "u16", "Option Code", multi=True)
OPT_LEN = F("dns.opt.len", "u16", "Option Length", multi=True)
OPT_DATA = F("dns.opt.data", "bytes", "Option Data", multi=True)
ECS_FAMILY = F("dns.opt.client.family", "u16", "Family", multi=True)
ECS_NETMASK = F("dns.opt.client.netmask", "u8", "Source Netmask", multi=True)
ECS_SCOPE = F("dns.opt.client.scope", "u8", "Scope Netmask", multi=True)
ECS_ADDR4 = F("dns.opt.client.addr4", "ipv4", "Client Subnet", multi=True)
ECS_ADDR6 = F("dns.opt.client.addr6", "ipv6", "Client Subnet", multi=True)
ECS_ADDR = F("dns.opt.client.addr", "bytes", "Client Subnet", multi=True)
COOKIE_CLIENT = F("dns.opt.cookie.client", "bytes", "Client Cookie", multi=True)
COOKIE_SERVER = F("dns.opt.cookie.server", "bytes", "Server Cookie", multi=True)

FIELDS: tuple[Field, ...] = (
    LENGTH, ID, FLAGS, F_RESPONSE, F_OPCODE, F_AUTHORITATIVE, F_CONFLICT, F_TRUNCATED, F_RECDESIRED,
    F_TENTATIVE, F_RECAVAIL, F_Z, F_AUTHENTICATED, F_CHECKDISABLE, F_RCODE,
    COUNT_QUERIES, COUNT_ZONES, COUNT_ANSWERS, COUNT_PREREQ, COUNT_AUTH, COUNT_UPDATES, COUNT_ADD,
    QRY_NAME, QRY_NAME_LEN, COUNT_LABELS, QRY_TYPE, QRY_CLASS, QRY_QU,
    RESP_NAME, RESP_TYPE, RESP_CLASS, RESP_CACHE_FLUSH, RESP_TTL, RESP_LEN,
    A, AAAA, CNAME, NS, PTR, MX_PREFERENCE, MX_EXCHANGE, TXT_LENGTH, TXT,
    SOA_MNAME, SOA_RNAME, SOA_SERIAL, SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, SOA_MINIMUM,
    SRV_SERVICE, SRV_PROTO, SRV_NAME, SRV_PRIORITY, SRV_WEIGHT, SRV_PORT, SRV_TARGET,
    UDP_PAYLOAD_SIZE, EXT_RCODE, EDNS0_VERSION, EDNS_Z, EDNS_DO, EDNS_Z_RESERVED,
    OPT_CODE, OPT_LEN, OPT_DATA, ECS_FAMILY, ECS_NETMASK, ECS_SCOPE, ECS_ADDR4, ECS_ADDR6, ECS_ADDR,
    COOKIE_CLIENT, COOKIE_SERVER,
)

# -- protocol constants (RFC 1035 4.1, RFC 6891, IANA DNS parameters) -----------------
HDRLEN = 12
T_A, T_NS, T_CNAME, T_SOA, T_PTR, T_MX, T_TXT, T_AAAA, T_SRV, T_OPT = 1, 2, 5, 6, 12, 15, 16, 28, 33, 41
OPCODE_UPDATE, OPCODE_DSO = 5, 6
O_COOKIE, O_CLIENT_SUBNET, O_CLIENT_SUBNET_EXP = 10, 8, 0x50FA

MAX_DNAME_LEN = 255
"""Wireshark's buffer for a name's text: a longer name is ``<Name too long>``."""
MIN_DNAME_LEN = 2

ROOT_NAME = b"<Root>"
LOOP_NAME = b"<Name contains a pointer that loops>"
TOO_LONG_NAME = b"<Name too long>"
UNKNOWN_LABEL_NAME = b"<Unknown extended label>"

OPCODE_TEXT = {0: "Standard", 1: "Inverse", 2: "Status", 4: "Notify", 5: "Update", 6: "DSO"}
"""Opcode as the seed's Messages column words it (``client query (Standard)``)."""
RCODE_TEXT = {
    0: "No Error", 1: "Format Error", 2: "Server Failure", 3: "Name Error", 4: "Not Implemented",
    5: "Refused", 6: "Name Exists", 7: "RRset Exists", 8: "RRset Does Not Exist",
    9: "Not Authoritative", 10: "Not Zone", 11: "DSO-Type Not Implemented",
}
"""Reply code as the seed words it (``server response (Name Error)``; RFC 1035 4.1.1's names)."""

TYPE_NAMES = {
    0: "Unused", 1: "A", 2: "NS", 3: "MD", 4: "MF", 5: "CNAME", 6: "SOA", 7: "MB", 8: "MG", 9: "MR",
    10: "NULL", 11: "WKS", 12: "PTR", 13: "HINFO", 14: "MINFO", 15: "MX", 16: "TXT", 17: "RP",
    18: "AFSDB", 19: "X25", 20: "ISDN", 21: "RT", 22: "NSAP", 23: "NSAP-PTR", 24: "SIG", 25: "KEY",
    26: "PX", 27: "GPOS", 28: "AAAA", 29: "LOC", 30: "NXT", 31: "EID", 32: "NIMLOC", 33: "SRV",
    34: "ATMA", 35: "NAPTR", 36: "KX", 37: "CERT", 38: "A6", 39: "DNAME", 40: "SINK", 41: "OPT",
    42: "APL", 43: "DS", 44: "SSHFP", 45: "IPSECKEY", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY",
    49: "DHCID", 50: "NSEC3", 51: "NSEC3PARAM", 52: "TLSA", 55: "HIP", 56: "NINFO", 57: "RKEY",
    58: "TALINK", 59: "CDS", 60: "CDNSKEY", 61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD", 64: "SVCB",
    65: "HTTPS", 99: "SPF", 249: "TKEY", 250: "TSIG", 251: "IXFR", 252: "AXFR", 253: "MAILB",
    254: "MAILA", 255: "ANY", 256: "URI", 257: "CAA", 32768: "TA", 32769: "DLV",
    65281: "WINS", 65282: "WINS-R",
}
CLASS_NAMES = {1: "IN", 2: "CS", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}
OPT_NAMES = {
    1: "LLQ", 2: "UL", 3: "NSID", 4: "OWNER", 5: "DAU", 6: "DHU", 7: "N3U", 8: "CSUBNET",
    9: "EDNS EXPIRE", 10: "COOKIE", 11: "EDNS TCP KEEPALIVE", 12: "PADDING", 13: "CHAIN",
    14: "EDNS KEY TAG", 15: "EXTENDED DNS ERROR",
}

# Flavours: which header bits and class bits a message uses.
DNS_FLAVOUR, MDNS_FLAVOUR, LLMNR_FLAVOUR = 0, 1, 2
_HEADER_TITLE = ("DNS Header", "mDNS Header", "LLMNR Header")
_RR_FIXED = struct.Struct("!HHIH")
"""TYPE, CLASS, TTL and RDLENGTH after a record's name (RFC 1035 4.1.3)."""


class BadLabel(Exception):
    """A label type Wireshark rejects (0x80): the message is malformed."""

    def __init__(self, offset: int) -> None:
        super().__init__("bad label type")
        self.offset = offset


# -- names ----------------------------------------------------------------------------

def expand_name(data: bytes, off: int, base: int) -> tuple[bytes, int, int]:
    """The name at ``off`` as Wireshark 4.0's ``expand_dns_name`` reads it:
    (the bytes of its text, or one of Wireshark's placeholders; how many of
    those bytes count as the name; the bytes it takes at ``off``).

    Compression pointers (RFC 1035 4.1.4) count from ``base``.  Raises
    :class:`Truncated` where a label runs past the data and :class:`BadLabel`
    on label type 0x80, where Wireshark throws.  A pointer back to a name
    already followed can only cycle: Wireshark follows it until it has taken
    more than 255 pointers, then shows the loop placeholder, so that is what
    it gives here, without the walk.
    """
    n = len(data)
    buf = bytearray()
    name_len = 0       # bytes of buf that count as the name (bitstring text does not)
    room = MAX_DNAME_LEN
    pos = off
    used = -1
    pointers = 0
    seen: set[int] = set()
    while True:
        if pos >= n:
            raise Truncated(pos, "name")
        c = data[pos]
        pos += 1
        if c == 0:
            break
        kind = c & 0xC0
        if kind == 0x00:
            if buf:
                if room > 0:
                    buf.append(0x2E)
                    name_len += 1
                    room -= 1
            else:
                room -= 1
            end = pos + c
            if end > n:
                raise Truncated(n, "name")
            take = min(c, room) if room > 0 else 0
            if take:
                buf += data[pos:pos + take]
                name_len += take
                room -= take
            pos = end
        elif kind == 0x40:
            if c & 0x3F != 0x01:
                return UNKNOWN_LABEL_NAME, len(UNKNOWN_LABEL_NAME), pos - off
            # Bitstring label (RFC 2673): written as \[x..../n] but not counted.
            if pos >= n:
                raise Truncated(pos, "name")
            bits = data[pos]
            pos += 1
            nbytes = (bits - 1) // 8 + 1 if bits else 1
            if pos + nbytes > n:
                raise Truncated(n, "name")
            parts = [b"\\[x"] + [b"%02x" % b for b in data[pos:pos + nbytes]] + [b"/%d]" % bits]
            for p in parts:
                if room > 0:
                    if len(p) <= room:
                        buf += p
                        room -= len(p)
                    else:
                        room = 0
            pos += nbytes
        elif kind == 0x80:
            raise BadLabel(pos - 1)
        else:
            if pos >= n:
                raise Truncated(pos, "name")
            target = base + (((c & 0x3F) << 8) | data[pos])
            pos += 1
            pointers += 1
            if used < 0:
                used = pos - off
            if target == pos + 2 or pointers > MAX_DNAME_LEN or target in seen:
                return LOOP_NAME, len(LOOP_NAME), used
            seen.add(target)
            pos = target
    if used < 0:
        used = pos - off
    if room <= 0:
        return TOO_LONG_NAME, len(TOO_LONG_NAME), used
    return bytes(buf), name_len, used


def get_name(data: bytes, off: int, base: int) -> tuple[bytes, int, int]:
    """``expand_name`` with Wireshark's ``get_dns_name`` checks: the empty
    name is ``<Root>``; a name that took bytes but has no text is malformed."""
    raw, name_len, used = expand_name(data, off, base)
    if (not raw or raw[0] == 0) and used <= MIN_DNAME_LEN:
        return ROOT_NAME, len(ROOT_NAME), used
    if used < MIN_DNAME_LEN or (used > MIN_DNAME_LEN and name_len == 0):
        raise Truncated(off, "name")
    return raw, name_len, used


def read_name(data: bytes, off: int, base: int) -> tuple[str, int, int, int]:
    """The name at ``off`` as Wireshark shows it: (text, length of its
    bytes, number of labels, bytes it takes at ``off``)."""
    raw, name_len, used = get_name(data, off, base)
    shown = raw[:name_len]
    labels = shown.count(0x2E) + 1 if name_len > 1 else 0
    return format_text(shown), name_len, labels, used


_C_ESCAPES = {0x07: "\\a", 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0B: "\\v", 0x0C: "\\f", 0x0D: "\\r"}
_NOT_PRINTABLE = frozenset(("Cc", "Cf", "Cn", "Cs"))


def format_text(raw: bytes) -> str:
    """Bytes as Wireshark 4.0's ``format_text`` shows them: printable UTF-8 as
    it is, C escapes or ``\\ooo`` for ASCII controls, ``\\uXXXX`` for other
    unprintable characters, U+FFFD for each broken sequence."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        pass
    else:
        if text.isprintable():
            return text
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        b = raw[i]
        if b < 0x80:
            if 0x20 <= b < 0x7F:
                out.append(chr(b))
            else:
                out.append(_C_ESCAPES.get(b) or f"\\{b:03o}")
            i += 1
            continue
        if 0xC0 <= b <= 0xDF:
            need, cp = 1, b & 0x1F
        elif 0xE0 <= b <= 0xEF:
            need, cp = 2, b & 0x0F
        elif 0xF0 <= b <= 0xF7:
            need, cp = 3, b & 0x07
        elif 0xF8 <= b <= 0xFB:
            need, cp = 4, b & 0x03
        elif 0xFC <= b <= 0xFD:
            need, cp = 5, b & 0x01
        else:
            out.append("\ufffd")
            i += 1
            continue
        j = i + 1
        got = 0
        while got < need and j < n and 0x80 <= raw[j] <= 0xBF:
            cp = (cp << 6) | (raw[j] & 0x3F)
            j += 1
            got += 1
        i = j
        if got < need or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
            out.append("\ufffd")
        elif unicodedata.category(chr(cp)) in _NOT_PRINTABLE:
            out.append(f"\\u{cp:04X}" if cp <= 0xFFFF else f"\\U{cp:08X}")
        else:
            out.append(chr(cp))
    return "".join(out)


def _ascii(raw: bytes) -> str:
    """A string field Wireshark reads with ENC_ASCII: bytes past 0x7F are U+FFFD."""
    return raw.decode("ascii", "replace")


# -- framing ----------------------------------------------------------------------------

def pdu_length(data: bytes, info: AppInfo) -> int:
    """TCP: the two-byte length in front of every message, plus itself."""
    if len(data) < 2:
        return 0
    return 2 + int.from_bytes(data[:2], "big")


def heuristic(data: bytes, info: AppInfo) -> bool:
    """DNS on a UDP port no decoder owns.

    Wireshark 4.0's ``dns_udp`` heuristic (enabled by default) takes a header
    and more, opcode 0, one question and no records in a query, few records
    in a response.  A port tshark gives another protocol but tracedoc does
    not know would let that through on other protocols' bytes (an ONC RPC
    call passes it), so this one also wants exactly one question in a
    response and the whole message to decode."""
    if info.transport != "udp" or len(data) <= HDRLEN:
        return False
    flags = int.from_bytes(data[2:4], "big")
    if flags & 0x7800:
        return False
    quest = int.from_bytes(data[4:6], "big")
    ans = int.from_bytes(data[6:8], "big")
    auth = int.from_bytes(data[8:10], "big")
    add = int.from_bytes(data[10:12], "big")
    if quest != 1 or add > 10:
        return False
    if not flags & 0x8000:
        if ans != 0 or auth != 0:
            return False
    elif ans > 100 or auth > 10:
        return False
    tree = Tree(0, False, NAME)
    try:
        _dissect(data, tree, False, DNS_FLAVOUR, NAME)
    except Truncated:
        return False
    return tree.anomaly is None


# -- messages ---------------------------------------------------------------------------

def dissect(data: bytes, tree: Tree, info: AppInfo) -> None:
    """One DNS message (UDP datagram, or TCP message with its length prefix)."""
    _dissect(data, tree, info.transport == "tcp", DNS_FLAVOUR, NAME)


def _dissect_mdns(data: bytes, tree: Tree, info: AppInfo) -> None:
    _dissect(data, tree, False, MDNS_FLAVOUR, "mdns")


def _dissect_llmnr(data: bytes, tree: Tree, info: AppInfo) -> None:
    _dissect(data, tree, False, LLMNR_FLAVOUR, "llmnr")


def _dissect(data: bytes, tree: Tree, tcp: bool, flavour: int, proto: str) -> None:
    try:
        _message(data, tree, 2 if tcp else 0, flavour, proto)
    except BadLabel as e:
        tree.malformed(f"{proto} name has a reserved label type (0x80)", e.offset)


def _message(data: bytes, tree: Tree, base: int, flavour: int, proto: str) -> None:
    r = Reader(data)
    want = tree.want_nodes
    ident = r.u16(base)
    flags = r.u16(base + 2)
    response = bool(flags & 0x8000)
    opcode = (flags >> 11) & 0xF
    rcode = flags & 0xF
    update = opcode == OPCODE_UPDATE
    if response:
        tree.message = f"{proto} : server response ({RCODE_TEXT.get(rcode, f'Error {rcode}')})"
    else:
        tree.message = f"{proto} : client query ({OPCODE_TEXT.get(opcode, f'Opcode {opcode}')})"
    if base:
        tree.add(LENGTH, r.u16(0), 0, 2)
    tree.open(_HEADER_TITLE[flavour], base, HDRLEN)
    tree.add(ID, ident, base, 2, f"DNS Message ID : {ident}" if want else None)
    kind = (f"Response ({RCODE_TEXT.get(rcode, f'Error {rcode}')})" if response
            else f"Query ({OPCODE_TEXT.get(opcode, f'Opcode {opcode}')})")
    tree.text(f"Type : {kind}", base + 2, 2)
    tree.add(FLAGS, flags, base + 2, 2, f"Flags : {_flag_letters(flags, flavour)}" if want else None)
    _header_flags(tree, flags, base + 2, flavour)
    counts = []
    for i, (plain, upd) in enumerate(((COUNT_QUERIES, COUNT_ZONES), (COUNT_ANSWERS, COUNT_PREREQ),
                                      (COUNT_AUTH, COUNT_UPDATES), (COUNT_ADD, COUNT_ADD))):
        off = base + 4 + 2 * i
        v = r.u16(off)
        f = upd if update else plain
        tree.add(f, v, off, 2, f"{f.desc} : {v}" if want else None)
        counts.append(v)
    tree.close()
    quest, ans, auth, add = counts
    cur = base + HDRLEN
    mdns = flavour == MDNS_FLAVOUR
    if opcode == OPCODE_DSO and not any(counts):
        return  # DNS Stateful Operations TLVs: no declared fields
    if quest:
        tree.open("Zone" if update else "Request address of following names", cur, 0)
        for i in range(quest):
            cur += _question(data, r, tree, cur, base, mdns, i == 0 and not response, proto, opcode)
        tree.close()
    for count, title in ((ans, "Prerequisites" if update else "Answers"),
                         (auth, "Updates" if update else "Authoritative nameservers"),
                         (add, "Additional records")):
        if count:
            tree.open(title, cur, 0)
            for _ in range(count):
                cur += _record(data, r, tree, cur, base, flavour)
            tree.close()


def _flag_letters(flags: int, flavour: int) -> str:
    """The seed's ``Flags : AA RD RA``: the set bits by their RFC letters."""
    bits = ((0x0400, "C" if flavour == LLMNR_FLAVOUR else "AA"), (0x0200, "TC"),
            (0x0100, "T" if flavour == LLMNR_FLAVOUR else "RD"), (0x0080, "RA"), (0x0040, "Z"),
            (0x0020, "AD"), (0x0010, "CD"))
    return " ".join(name for bit, name in bits if flags & bit)


def _header_flags(tree: Tree, flags: int, off: int, flavour: int) -> None:
    """The flag bits Wireshark shows for this kind of message, in its order."""
    response = bool(flags & 0x8000)
    add = tree.add
    add(F_RESPONSE, response, off, 2)
    add(F_OPCODE, (flags >> 11) & 0xF, off, 2)
    if flavour == LLMNR_FLAVOUR:
        add(F_CONFLICT, bool(flags & 0x0400), off, 2)
        add(F_TRUNCATED, bool(flags & 0x0200), off, 2)
        add(F_TENTATIVE, bool(flags & 0x0100), off, 2)
        if response:
            add(F_RCODE, flags & 0xF, off, 2)
        return
    if response:
        add(F_AUTHORITATIVE, bool(flags & 0x0400), off, 2)
    add(F_TRUNCATED, bool(flags & 0x0200), off, 2)
    add(F_RECDESIRED, bool(flags & 0x0100), off, 2)
    if response:
        add(F_RECAVAIL, bool(flags & 0x0080), off, 2)
    add(F_Z, bool(flags & 0x0040), off, 2)
    if response or flags & 0x0020:
        add(F_AUTHENTICATED, bool(flags & 0x0020), off, 2)
    add(F_CHECKDISABLE, bool(flags & 0x0010), off, 2)
    if response:
        add(F_RCODE, flags & 0xF, off, 2)


def _type_label(t: int) -> str:
    return TYPE_NAMES.get(t, f"Unknown ({t})")


def _question(data: bytes, r: Reader, tree: Tree, off: int, base: int, mdns: bool, first_query: bool,
              proto: str, opcode: int) -> int:
    name, name_len, labels, used = read_name(data, off, base)
    qtype = r.u16(off + used)
    qclass = r.u16(off + used + 2)
    qu = False
    if mdns:
        qu = bool(qclass & 0x8000)
        qclass &= 0x7FFF
    if first_query:
        text = "." if name == "<Root>" else name if name.startswith("<") else name + "."
        # The seed names the queried host but not the name of a reverse lookup.
        if not (qtype == T_PTR and name.lower().endswith((".in-addr.arpa", ".ip6.arpa"))):
            tree.message = f"{proto} : client query ({OPCODE_TEXT.get(opcode, f'Opcode {opcode}')}) {text}"
    want = tree.want_nodes
    tree.add(QRY_NAME, name, off, used, name if want else None)
    tree.add(QRY_NAME_LEN, name_len if name_len > 1 else 0, off, used)
    tree.add(COUNT_LABELS, labels, off, used)
    tree.add(QRY_TYPE, qtype, off + used, 2, f"Type: {_type_label(qtype)} ({qtype})" if want else None)
    tree.add(QRY_CLASS, qclass, off + used + 2, 2,
             f"Class: {CLASS_NAMES.get(qclass, 'Unknown')} (0x{qclass:04x})" if want else None)
    if mdns:
        tree.add(QRY_QU, qu, off + used + 2, 2)
    return used + 4


def _record(data: bytes, r: Reader, tree: Tree, off: int, base: int, flavour: int) -> int:
    """One resource record; returns the bytes it takes."""
    name, _, _, used = read_name(data, off, base)
    p = off + used
    r.need(p, 10, "record")
    rtype, rclass, ttl, rdlen = _RR_FIXED.unpack_from(data, p)
    # Wireshark opens the record's subtree over its whole extent before it
    # adds any field: a record running past the data shows nothing.
    r.need(off, used + 10 + rdlen, "record")
    mdns = flavour == MDNS_FLAVOUR
    flush = bool(rclass & 0x8000) if mdns else False
    want = tree.want_nodes
    if want:
        if rtype == T_OPT:
            head = f"{name}: type OPT"
        else:
            shown = rclass & 0x7FFF if mdns else rclass
            head = f"{name}: type {_type_label(rtype)}, class {CLASS_NAMES.get(shown, 'Unknown')}"
        tree.open(head + (", cache flush" if flush else ""), off, used + 10 + rdlen)
    add = tree.add
    if rtype == T_SRV:
        parts = name.split(".", 2)
        for f, v in zip((SRV_SERVICE, SRV_PROTO, SRV_NAME), parts):
            add(f, v, off, used)
    else:
        add(RESP_NAME, name, off, used)
    add(RESP_TYPE, rtype, p, 2, f"Type: {_type_label(rtype)} ({rtype})" if want else None)
    if rtype == T_OPT:
        add(UDP_PAYLOAD_SIZE, rclass & 0x7FFF if mdns else rclass, p + 2, 2)
        if mdns:
            add(RESP_CACHE_FLUSH, flush, p + 2, 2)
        add(EXT_RCODE, ttl >> 24, p + 4, 1, lab(tree, EXT_RCODE, ttl >> 24))
        add(EDNS0_VERSION, (ttl >> 16) & 0xFF, p + 5, 1)
        add(EDNS_Z, ttl & 0xFFFF, p + 6, 2, lab(tree, EDNS_Z, ttl & 0xFFFF))
        add(EDNS_DO, bool(ttl & 0x8000), p + 6, 2)
        add(EDNS_Z_RESERVED, ttl & 0x7FFF, p + 6, 2, lab(tree, EDNS_Z_RESERVED, ttl & 0x7FFF))
    else:
        if mdns:
            add(RESP_CLASS, rclass & 0x7FFF, p + 2, 2, f"Class: {CLASS_NAMES.get(rclass & 0x7FFF, 'Unknown')} "
                f"(0x{rclass & 0x7FFF:04x})" if want else None)
            add(RESP_CACHE_FLUSH, flush, p + 2, 2)
        else:
            add(RESP_CLASS, rclass, p + 2, 2, f"Class: {CLASS_NAMES.get(rclass, 'Unknown')} (0x{rclass:04x})"
                if want else None)
        add(RESP_TTL, ttl, p + 4, 4)
    add(RESP_LEN, rdlen, p + 8, 2)
    cur = p + 10
    if rdlen:
        decode = _RDATA.get(rtype)
        if decode is not None:
            decode(data, r, tree, cur, rdlen, base, flavour)
    tree.close()
    return used + 10 + rdlen


# -- record data, by type (Wireshark 4.0 reads past RDLENGTH where these do) ---------------

def _rd_a(data: bytes, r: Reader, tree: Tree, cur: int, rdlen: int, base: int, flavour: int) -> None:
    addr = r.u32(cur)
    tree.add(A, addr, cur, 4, f"Address: {_ipv4(addr)}" if tree.want_nodes else None)


def _rd_aaaa(data: bytes, r: Reader, tree: Tree, cur: int, rdlen: int, base: int, flavour: int) -> None:
    addr = r.bytes(cur, 16)
    tree.add(AAAA, addr, cur, 16, f"AAAA Address: {_ipv6(addr)}" if tree.want_nodes else None)


def _name_field(f: Field) -> Callable[[bytes, Reader, Tree, int, int, int, int], None]:
    def decode(data: bytes, r: Reader, tree: Tree, cur: int, rdlen: int, base: int, flavour: int) -> None:
        name, _, _, used = read_name(data, cur, base)
        tree.add(f, name, cur, used)
    return decode


def _rd_soa(data: bytes, r: Reader, tree: Tree, cur: int, rdlen: int, base: int, flavour: int) -> None:
    mname, _, _, used = read_name(data, cur, base)
    tree.add(SOA_MNAME, mname, cur, used)
    cur += used
    rname, _, _, used = read_name(data, cur, base)
    tree.add(SOA_RNAME, rname, cur, used)
    cur += used
    for f in (SOA_SERIAL, SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, SOA_MINIMUM):
        tree.add(f, r.u32(cur), cur, 4)
        cur += 4


def _rd_mx(data: bytes, r: Reader, tree: Tree, cur: int, rdlen: int, base: int, flavour: int) -> None:
    pref = r.u16(cur)
    name, _, _, used = read_name(data, cur + 2, base)
    tree.add(MX_PREFERENCE, pref, cur, 2)
    tree.add(MX_EXCHANGE, name, cur + 2, used)


def _rd_txt(data: bytes, r: Reader, tree: Tree, cur: int, rdlen: int, base: int, flavour: int) -> None:
    # As Wireshark: a string longer than what is left of RDLENGTH runs on
    # into what follows, until the data ends.
    left = rdlen
    while left != 0:
        n = r.u8(cur)
        tree.add(TXT_LENGTH, n, cur, 1)
        cur += 1
        raw = r.bytes(cur, n)
        text = raw.decode("utf-8", "replace") if flavour == MDNS_FLAVOUR else _ascii(raw)
        tree.add(TXT, text, cur, n)
        cur += n
        left -= 1 + n


def _rd_srv(data: bytes, r: Reader, tree: Tree, cur: int, rdlen: int, base: int, flavour: int) -> None:
    for f in (SRV_PRIORITY, SRV_WEIGHT, SRV_PORT):
        tree.add(f, r.u16(cur), cur, 2)
        cur += 2
    name, _, _, used = read_name(data, cur, base)
    tree.add(SRV_TARGET, name, cur, used)


def _rd_opt(data: bytes, r: Reader, tree: Tree, cur: int, rdlen: int, base: int, flavour: int) -> None:
    """EDNS(0) options (RFC 6891 6.1.2), with Client Subnet (RFC 7871) and
    Cookies (RFC 7873) opened up."""
    left = rdlen
    want = tree.want_nodes
    while left > 0:
        code = r.u16(cur)
        olen = r.u16(cur + 2)
        left -= 4
        if want:
            tree.open(f"Option: {OPT_NAMES.get(code, f'Unknown ({code})')}", cur, 4 + olen)
        tree.add(OPT_CODE, code, cur, 2)
        tree.add(OPT_LEN, olen, cur + 2, 2)
        cur += 4
        tree.add(OPT_DATA, r.bytes(cur, olen), cur, olen)
        if code in (O_CLIENT_SUBNET, O_CLIENT_SUBNET_EXP):
            family = r.u16(cur)
            tree.add(ECS_FAMILY, family, cur, 2)
            tree.add(ECS_NETMASK, r.u8(cur + 2), cur + 2, 1)
            tree.add(ECS_SCOPE, r.u8(cur + 3), cur + 3, 1)
            if olen < 4:
                raise Truncated(cur + 4, "client subnet")
            alen = min(olen - 4, 16)
            addr = r.bytes(cur + 4, alen) + bytes(16 - alen)
            if family == 1:
                a4 = int.from_bytes(addr[:4], "big")
                tree.add(ECS_ADDR4, a4, cur + 4, alen, lab(tree, ECS_ADDR4, a4))
            elif family == 2:
                tree.add(ECS_ADDR6, addr, cur + 4, alen, lab(tree, ECS_ADDR6, addr))
            else:
                tree.add(ECS_ADDR, r.bytes(cur + 4, olen - 4), cur + 4, olen - 4)
        elif code == O_COOKIE:
            if olen < 8:
                raise Truncated(cur + olen, "cookie")
            tree.add(COOKIE_CLIENT, r.bytes(cur, 8), cur, 8)
            tree.add(COOKIE_SERVER, r.bytes(cur + 8, olen - 8), cur + 8, olen - 8)
        cur += olen
        left -= olen
        if want:
            tree.close()


def _type_bitmap(r: Reader, tree: Tree, cur: int, left: int) -> None:
    """The windowed type bitmap of NSEC, NSEC3 and CSYNC (RFC 4034 4.1.2):
    Wireshark lists every type it names as another ``dns.resp.type``.  As
    there, a bitmap that overruns its record runs on until the data ends."""
    while left != 0:
        window = r.u8(cur)
        size = r.u8(cur + 1)
        cur += 2
        left -= 2
        rtype = window * 256
        for _ in range(size):
            bits = r.u8(cur)
            for i in range(8):
                if bits & (0x80 >> i):
                    tree.add(RESP_TYPE, rtype + i, cur, 1, f"RR type in bit map: {_type_label(rtype + i)}"
                             if tree.want_nodes else None)
            rtype += 8
            cur += 1
            left -= 1


def _rd_nsec(data: bytes, r: Reader, tree: Tree, cur: int, rdlen: int, base: int, flavour: int) -> None:
    _, _, _, used = read_name(data, cur, base)
    _type_bitmap(r, tree, cur + used, rdlen - used)


def _rd_nsec3(data: bytes, r: Reader, tree: Tree, cur: int, rdlen: int, base: int, flavour: int) -> None:
    start = cur
    r.need(cur, 4)
    salt = r.u8(cur + 4)
    r.need(cur + 5, salt)
    cur += 5 + salt
    hash_len = r.u8(cur)
    cur += 1
    if hash_len:
        # Wireshark reads the hash five bits at a time, the last group past its end.
        r.need(cur, (5 * ((8 * hash_len - 1) // 5) + 12) // 8)
        cur += hash_len
    _type_bitmap(r, tree, cur, rdlen - (cur - start))


def _rd_csync(data: bytes, r: Reader, tree: Tree, cur: int, rdlen: int, base: int, flavour: int) -> None:
    r.need(cur, 6)
    _type_bitmap(r, tree, cur + 6, rdlen - 6)


def _rd_nxt(data: bytes, r: Reader, tree: Tree, cur: int, rdlen: int, base: int, flavour: int) -> None:
    """NXT's plain type bitmap (RFC 2535 5.2)."""
    _, _, _, used = read_name(data, cur, base)
    cur += used
    left = rdlen - used
    rtype = 0
    while left != 0:
        bits = r.u8(cur)
        for i in range(8):
            if bits & (0x80 >> i):
                tree.add(RESP_TYPE, rtype + i, cur, 1)
        rtype += 8
        cur += 1
        left -= 1


_RDATA: dict[int, Callable[[bytes, Reader, Tree, int, int, int, int], None]] = {
    30: _rd_nxt,
    47: _rd_nsec,
    50: _rd_nsec3,
    62: _rd_csync,
    T_A: _rd_a,
    T_NS: _name_field(NS),
    T_CNAME: _name_field(CNAME),
    T_SOA: _rd_soa,
    T_PTR: _name_field(PTR),
    T_MX: _rd_mx,
    T_TXT: _rd_txt,
    T_AAAA: _rd_aaaa,
    T_SRV: _rd_srv,
    T_OPT: _rd_opt,
}


def _ipv4(v: int) -> str:
    return ".".join(str((v >> s) & 0xFF) for s in (24, 16, 8, 0))


def _ipv6(b: bytes) -> str:
    return str(ipaddress.IPv6Address(b))


def show(f: Field, v: Any) -> str:
    """A value as Wireshark writes it in Packet Details: hex fields padded,
    addresses in their usual notation."""
    if f.type == "ipv4":
        return _ipv4(v)
    if f.type == "ipv6":
        return _ipv6(v)
    if f.type == "ether":
        return ":".join(f"{(v >> s) & 0xFF:02x}" for s in range(40, -8, -8))
    if f.type == "bytes":
        return bytes(v).hex()
    if f.base == "hex" and isinstance(v, int):
        return f"0x{v:0{f.width}x}"
    return str(v)


def lab(tree: Tree, f: Field, v: Any) -> str | None:
    """``desc: value`` for Packet Details, built only when they are wanted."""
    return f"{f.desc}: {show(f, v)}" if tree.want_nodes else None


# -- the mDNS and LLMNR decoders: same fields, their own names ------------------------------

def _flavour_module(name: str, doc: str, dissect_fn: Callable[[bytes, Tree, Any], None]) -> ModuleType:
    mod = ModuleType(f"{__name__}.{name}", doc)
    vars(mod).update(NAME=name, FIELDS=FIELDS, dissect=dissect_fn)
    return mod


MDNS = _flavour_module("mdns", "Multicast DNS (RFC 6762) on UDP 5353: DNS fields, QU and cache-flush bits.",
                       _dissect_mdns)
LLMNR = _flavour_module("llmnr", "LLMNR (RFC 4795) on UDP 5355: DNS fields, C and T flags.", _dissect_llmnr)
