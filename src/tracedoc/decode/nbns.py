"""NetBIOS Name Service (UDP 137) and Datagram Service (UDP 138), RFC 1001/1002.

The name service is DNS's message format carrying NetBIOS names: each
16-byte name (15 characters and a type byte) is "first-level encoded" into
32 letters ``A``-``P`` (RFC 1001 14.1) and stored as a DNS name, optionally
followed by a scope.  Wireshark shows the decoded name with its type,
``VISTA<00>``, unprintable characters as ``<xx>`` and trailing blanks
removed; names are decoded here exactly so, including its wording for names
that are not legal.

The datagram service (:data:`NBDGM`, UDP 138) has its own header, then the
source and destination names in the same encoding; what it carries (SMB
browser announcements and the like) is not decoded here.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from tracedoc.decode.apptree import Reader, Tree
from tracedoc.decode.dns import BadLabel, get_name, lab
from tracedoc.decode.fields import F, Field

if TYPE_CHECKING:
    from tracedoc.decode.app import AppInfo

NAME = "nbns"

ID = F("nbns.id", "u16", "Transaction ID", "hex", 4)
FLAGS = F("nbns.flags", "u16", "Flags", "hex", 4)
F_RESPONSE = F("nbns.flags.response", "bool", "Response")
F_OPCODE = F("nbns.flags.opcode", "u16", "Opcode")
F_AUTHORITATIVE = F("nbns.flags.authoritative", "bool", "Authoritative")
F_TRUNCATED = F("nbns.flags.truncated", "bool", "Truncated")
F_RECDESIRED = F("nbns.flags.recdesired", "bool", "Recursion desired")
F_RECAVAIL = F("nbns.flags.recavail", "bool", "Recursion available")
F_BROADCAST = F("nbns.flags.broadcast", "bool", "Broadcast")
F_RCODE = F("nbns.flags.rcode", "u16", "Reply code")
COUNT_QUERIES = F("nbns.count.queries", "u16", "Questions")
COUNT_ANSWERS = F("nbns.count.answers", "u16", "Answer RRs")
COUNT_AUTH = F("nbns.count.auth_rr", "u16", "Authority RRs")
COUNT_ADD = F("nbns.count.add_rr", "u16", "Additional RRs")
NB_NAME = F("nbns.name", "string", "Name", multi=True)
TYPE = F("nbns.type", "u16", "Type", multi=True)
CLASS = F("nbns.class", "u16", "Class", multi=True)
TTL = F("nbns.ttl", "u32", "Time to live", multi=True)
DATA_LENGTH = F("nbns.data_length", "u16", "Data length", multi=True)
NB_FLAGS = F("nbns.nb_flags", "u16", "Name flags", "hex", 4, multi=True)
NB_FLAGS_GROUP = F("nbns.nb_flags.group", "bool", "Name type", multi=True)
NB_FLAGS_ONT = F("nbns.nb_flags.ont", "u16", "ONT", multi=True)
ADDR = F("nbns.addr", "ipv4", "Addr", multi=True)
NUMBER_OF_NAMES = F("nbns.number_of_names", "u8", "Number of names", multi=True)
NETBIOS_NAME = F("nbns.netbios_name", "string", "Name", multi=True)
NAME_FLAGS = F("nbns.name_flags", "u16", "Name flags", "hex", 4, multi=True)
NAME_FLAGS_GROUP = F("nbns.name_flags.group", "bool", "Name type", multi=True)
NAME_FLAGS_ONT = F("nbns.name_flags.ont", "u16", "ONT", multi=True)
NAME_FLAGS_DRG = F("nbns.name_flags.drg", "bool", "Name is being deregistered", multi=True)
NAME_FLAGS_CNF = F("nbns.name_flags.cnf", "bool", "Name is in conflict", multi=True)
NAME_FLAGS_ACT = F("nbns.name_flags.act", "bool", "Name is active", multi=True)
NAME_FLAGS_PRM = F("nbns.name_flags.prm", "bool", "Permanent node name", multi=True)
UNIT_ID = F("nbns.unit_id", "ether", "Unit ID", multi=True)
JUMPERS = F("nbns.jumpers", "u8", "Jumpers", "hex", 2, multi=True)
TEST_RESULT = F("nbns.test_result", "u8", "Test result", "hex", 2, multi=True)
VERSION_NUMBER = F("nbns.version_number", "u16", "Version number", "hex", 4, multi=True)
PERIOD = F("nbns.period_of_statistics", "u16", "Period of statistics", "hex", 4, multi=True)
NUM_CRCS = F("nbns.num_crcs", "u16", "Number of CRCs", multi=True)
NUM_ALIGNMENT = F("nbns.num_alignment_errors", "u16", "Number of alignment errors", multi=True)
NUM_COLLISIONS = F("nbns.num_collisions", "u16", "Number of collisions", multi=True)
NUM_SEND_ABORTS = F("nbns.num_send_aborts", "u16", "Number of send aborts", multi=True)
NUM_GOOD_SENDS = F("nbns.num_good_sends", "u32", "Number of good sends", multi=True)
NUM_GOOD_RECEIVES = F("nbns.num_good_receives", "u32", "Number of good receives", multi=True)
NUM_RETRANSMITS = F("nbns.numretransmits", "u16", "Number of retransmits", multi=True)
NUM_NO_RESOURCE = F("nbns.num_no_resource_conditions", "u16", "Number of no resource conditions", multi=True)
NUM_COMMAND_BLOCKS = F("nbns.numcommand_blocks", "u16", "Number of command blocks", multi=True)
NUM_PENDING = F("nbns.numpending_sessions", "u16", "Number of pending sessions", multi=True)
MAX_PENDING = F("nbns.max_num_pending_sessions", "u16", "Max number of pending sessions", multi=True)
MAX_SESSIONS = F("nbns.max_total_sessions_possible", "u16", "Max total sessions possible", multi=True)
SESSION_PACKET_SIZE = F("nbns.session_data_packet_size", "u16", "Session data packet size", multi=True)
DATA = F("nbns.data", "bytes", "Data", multi=True)

FIELDS: tuple[Field, ...] = (
    ID, FLAGS, F_RESPONSE, F_OPCODE, F_AUTHORITATIVE, F_TRUNCATED, F_RECDESIRED, F_RECAVAIL, F_BROADCAST,
    F_RCODE, COUNT_QUERIES, COUNT_ANSWERS, COUNT_AUTH, COUNT_ADD, NB_NAME, TYPE, CLASS, TTL, DATA_LENGTH,
    NB_FLAGS, NB_FLAGS_GROUP, NB_FLAGS_ONT, ADDR, NUMBER_OF_NAMES, NETBIOS_NAME, NAME_FLAGS,
    NAME_FLAGS_GROUP, NAME_FLAGS_ONT, NAME_FLAGS_DRG, NAME_FLAGS_CNF, NAME_FLAGS_ACT, NAME_FLAGS_PRM,
    UNIT_ID, JUMPERS, TEST_RESULT, VERSION_NUMBER, PERIOD, NUM_CRCS, NUM_ALIGNMENT, NUM_COLLISIONS,
    NUM_SEND_ABORTS, NUM_GOOD_SENDS, NUM_GOOD_RECEIVES, NUM_RETRANSMITS, NUM_NO_RESOURCE,
    NUM_COMMAND_BLOCKS, NUM_PENDING, MAX_PENDING, MAX_SESSIONS, SESSION_PACKET_SIZE, DATA,
)

# The node statistics that follow the names in an NBSTAT answer (RFC 1002 4.2.18).
_STATISTICS = ((JUMPERS, 1), (TEST_RESULT, 1), (VERSION_NUMBER, 2), (PERIOD, 2), (NUM_CRCS, 2),
               (NUM_ALIGNMENT, 2), (NUM_COLLISIONS, 2), (NUM_SEND_ABORTS, 2), (NUM_GOOD_SENDS, 4),
               (NUM_GOOD_RECEIVES, 4), (NUM_RETRANSMITS, 2), (NUM_NO_RESOURCE, 2), (NUM_COMMAND_BLOCKS, 2),
               (NUM_PENDING, 2), (MAX_PENDING, 2), (MAX_SESSIONS, 2), (SESSION_PACKET_SIZE, 2))

HDRLEN = 12
NETBIOS_NAME_LEN = 16
T_NB, T_NBSTAT = 32, 33
OPCODE_WACK = 7
MAX_NAME_LEN = (NETBIOS_NAME_LEN - 1) * 4 + 255 + 64
"""Wireshark's buffer for a decoded name."""

OPCODE_TEXT = {0: "name query", 5: "registration", 6: "release", 7: "wait for acknowledgment",
               8: "refresh", 9: "refresh", 15: "multi-homed registration"}
OPCODE_SEED = {0: "Standard", 5: "Registration", 6: "Release", 7: "WACK", 8: "Refresh", 9: "Refresh",
               15: "Multi-homed registration"}
"""The opcode as the seed's details word it (``Type : Query(Standard)``)."""
RCODE_TEXT = {0: "No Error", 1: "Format Error", 2: "Server Failure", 3: "Name Error", 4: "Not Implemented",
              5: "Refused", 6: "Active Error", 7: "Conflict Error"}
TYPE_TEXT = {1: "A (IP address resource record)", 2: "NS (Name server resource record)",
             10: "NULL (NULL resource record)", 32: "NB (NetBIOS general name service resource record)",
             33: "NBSTAT (NetBIOS node status resource record)"}
CLASS_TEXT = {1: "IN (Internet class)"}

NAME_TYPES = {
    0x00: "Workstation/Redirector", 0x01: "Browser", 0x02: "Workstation/Redirector",
    0x03: "Messenger service/Main name", 0x05: "Forwarded name", 0x06: "RAS Server service",
    0x1B: "Domain Master Browser", 0x1C: "Domain Controllers", 0x1D: "Local Master Browser",
    0x1E: "Browser Election Service", 0x1F: "Net DDE Service", 0x20: "Server service",
    0x21: "RAS client service", 0x22: "Exchange Interchange (MSMail Connector)", 0x23: "Exchange Store",
    0x24: "Exchange Directory", 0x2B: "Lotus Notes Server service", 0x30: "Modem sharing server service",
    0x31: "Modem sharing client service", 0x43: "SMS Clients Remote Control",
    0x44: "SMS Administrators Remote Control Tool", 0x45: "SMS Clients Remote Chat",
    0x46: "SMS Clients Remote Transfer", 0x4C: "DEC Pathworks TCP/IP Service on Windows NT",
    0x52: "DEC Pathworks TCP/IP Service on Windows NT", 0x6A: "Microsoft Exchange IMC",
    0x87: "Microsoft Exchange MTA", 0xBE: "Network Monitor Agent", 0xBF: "Network Monitor Analyzer",
}
"""What a name's type byte means, as Wireshark's NetBIOS dissector words it."""


def name_type_text(name_type: int) -> str:
    return NAME_TYPES.get(name_type, "Unknown")


# -- names ----------------------------------------------------------------------------------

def printable_name(raw16: bytes, room: int = MAX_NAME_LEN) -> str:
    """The first 15 bytes of a NetBIOS name as Wireshark prints them:
    ``<xx>`` for what is not printable ASCII, trailing blanks dropped, at
    most ``room - 1`` characters (Wireshark's ``process_netbios_name``)."""
    out: list[str] = []
    for ch in raw16[:NETBIOS_NAME_LEN - 1]:
        pieces = chr(ch) if 0x20 <= ch <= 0x7E else f"<{ch:02x}>"
        for p in pieces:
            room -= 1
            if room > 0:
                out.append(p)
    # Only the last 15 characters are looked at for blanks; if all of them
    # are blanks, none is removed.
    k = len(out) - 1
    for _ in range(NETBIOS_NAME_LEN - 1):
        if k < 0:
            break
        if out[k] != " ":
            del out[k + 1:]
            break
        k -= 1
    return "".join(out)


def read_nb_name(data: bytes, off: int, base: int) -> tuple[str, int, int]:
    """The encoded NetBIOS name at ``off``: (``NAME<tt>`` and any scope, as
    Wireshark shows it; the type byte, -1 for a name that is not legal; the
    bytes it takes at ``off``)."""
    raw, _, used = get_name(data, off, base)
    text = raw.split(b"\0", 1)[0]
    out = bytearray()
    i, n = 0, len(text)
    bad = ""
    scope = False
    while i < n:
        c = text[i]
        if c == 0x2E:
            scope = True
            break
        if not 0x41 <= c <= 0x5A:
            bad = "Illegal NetBIOS name (1st character not between A and Z in first-level encoding)"
            break
        c2 = text[i + 1] if i + 1 < n else 0
        if c2 == 0 or c2 == 0x2E:
            bad = "Illegal NetBIOS name (odd number of bytes)"
            break
        if not 0x41 <= c2 <= 0x5A:
            bad = "Illegal NetBIOS name (2nd character not between A and Z in first-level encoding)"
            break
        i += 2
        if len(out) < NETBIOS_NAME_LEN:
            # Letters past 'P' overflow the nibble; Wireshark keeps the low byte.
            out.append((((c - 0x41) << 4) | (c2 - 0x41)) & 0xFF)
    if not bad and len(out) != NETBIOS_NAME_LEN:
        bad = f"Illegal NetBIOS name ({len(out)} bytes long)"
    if bad:
        return bad, -1, used
    name_type = out[NETBIOS_NAME_LEN - 1]
    shown = f"{printable_name(bytes(out))}<{name_type:02x}>"
    if scope:
        shown += text[i:].decode("utf-8", "replace")
    return shown, name_type, used


def _plain(name: str) -> str:
    """``VISTA<00>`` -> ``VISTA``, as the seed's details show a queried name."""
    return name[:-4] if len(name) > 4 and name[-4] == "<" and name.endswith(">") else name


# -- the name service ---------------------------------------------------------------------------

def dissect(data: bytes, tree: Tree, info: AppInfo) -> None:
    """One name service message."""
    try:
        _message(data, tree)
    except BadLabel as e:
        tree.malformed("nbns name has a reserved label type (0x80)", e.offset)


def _message(data: bytes, tree: Tree) -> None:
    r = Reader(data)
    want = tree.want_nodes
    ident = r.u16(0)
    flags = r.u16(2)
    response = bool(flags & 0x8000)
    opcode = (flags >> 11) & 0xF
    rcode = flags & 0xF
    op = OPCODE_TEXT.get(opcode, f"opcode {opcode}")
    verb = f"{op} response" if response else op
    if response and rcode and opcode != OPCODE_WACK:
        verb += f" ({RCODE_TEXT.get(rcode, f'Error {rcode}')})"
    tree.message = f"nbns : {verb}"
    tree.add(ID, ident, 0, 2, f"Transaction ID : {ident}" if want else None)
    if want:
        kind = "Response" if response else "Query"
        tree.text(f"Type : {kind}({OPCODE_SEED.get(opcode, f'Opcode {opcode}')})", 2, 2)
    _flags(tree, flags, 2, False)
    counts = []
    for i, f in enumerate((COUNT_QUERIES, COUNT_ANSWERS, COUNT_AUTH, COUNT_ADD)):
        v = r.u16(4 + 2 * i)
        tree.add(f, v, 4 + 2 * i, 2, f"{f.desc} : {v}" if want else None)
        counts.append(v)
    quest, ans, auth, add = counts
    cur = HDRLEN
    named = False
    if quest:
        tree.open("Queries", cur, 0)
        for _ in range(quest):
            name, used = _question(data, r, tree, cur)
            if not named:
                tree.message = f"nbns : {verb} {name}"
                named = True
            cur += used
        tree.close()
    for count, title in ((ans, "Answers"), (auth, "Authoritative nameservers"), (add, "Additional records")):
        if count:
            tree.open(title, cur, 0)
            for _ in range(count):
                name, used = _record(data, r, tree, cur, opcode)
                if not named:
                    tree.message = f"nbns : {verb} {name}"
                    named = True
                cur += used
            tree.close()


def _flags(tree: Tree, flags: int, off: int, wack: bool) -> None:
    """The header flags (or a WACK record's copy of them) as Wireshark shows them."""
    response = bool(flags & 0x8000)
    if tree.want_nodes:
        # The seed's "Flags : RD" for a broadcast query: the DNS letters only.
        letters = " ".join(n for b, n in ((0x0400, "AA"), (0x0200, "TC"), (0x0100, "RD"), (0x0080, "RA"))
                           if flags & b)
        label: str | None = f"Flags : {letters}"
    else:
        label = None
    tree.add(FLAGS, flags, off, 2, label)
    tree.add(F_RESPONSE, response, off, 2)
    tree.add(F_OPCODE, (flags >> 11) & 0xF, off, 2)
    if response:
        tree.add(F_AUTHORITATIVE, bool(flags & 0x0400), off, 2)
    tree.add(F_TRUNCATED, bool(flags & 0x0200), off, 2)
    tree.add(F_RECDESIRED, bool(flags & 0x0100), off, 2)
    if response:
        tree.add(F_RECAVAIL, bool(flags & 0x0080), off, 2)
    tree.add(F_BROADCAST, bool(flags & 0x0010), off, 2)
    if response and not wack:
        tree.add(F_RCODE, flags & 0xF, off, 2)


def _question(data: bytes, r: Reader, tree: Tree, off: int) -> tuple[str, int]:
    name, name_type, used = read_nb_name(data, off, 0)
    qtype = r.u16(off + used)
    qclass = r.u16(off + used + 2)
    want = tree.want_nodes
    tree.add(NB_NAME, name, off, used, f"Name: {_plain(name)}" if want else None)
    tree.add(TYPE, qtype, off + used, 2, f"Type: {TYPE_TEXT.get(qtype, qtype)}" if want else None)
    tree.add(CLASS, qclass, off + used + 2, 2, f"Class: {CLASS_TEXT.get(qclass, qclass)}" if want else None)
    return name, used + 4


def _record(data: bytes, r: Reader, tree: Tree, off: int, opcode: int) -> tuple[str, int]:
    """One resource record; returns its name and the bytes Wireshark takes
    for it (which, as there, stop where its decoding of the data stops)."""
    name, name_type, used = read_nb_name(data, off, 0)
    p = off + used
    rtype = r.u16(p)
    rclass = r.u16(p + 2)
    ttl = r.u32(p + 4)
    dlen = r.u16(p + 8)
    cur = p + 10
    # As in DNS, the record's subtree spans its data before any field is added.
    r.need(off, used + 10 + dlen, "record")
    want = tree.want_nodes
    if want:
        tree.open(f"{name}: type {TYPE_TEXT.get(rtype, rtype)}, class {CLASS_TEXT.get(rclass, rclass)}",
                  off, used + 10 + dlen)
    # Wireshark names an NB record with its type's meaning appended.
    shown = f"{name} ({name_type_text(name_type)})" if rtype == T_NB else name
    tree.add(NB_NAME, shown, off, used, f"Name: {shown}" if want else None)
    tree.add(TYPE, rtype, p, 2, f"Type: {TYPE_TEXT.get(rtype, rtype)}" if want else None)
    tree.add(CLASS, rclass, p + 2, 2, f"Class: {CLASS_TEXT.get(rclass, rclass)}" if want else None)
    tree.add(TTL, ttl, p + 4, 4)
    tree.add(DATA_LENGTH, dlen, p + 8, 2)
    if rtype == T_NB:
        cur = _nb_data(r, tree, cur, dlen, opcode)
    elif rtype == T_NBSTAT:
        cur = _nbstat_data(r, tree, cur, dlen, used)
    else:
        tree.add(DATA, r.bytes(cur, dlen), cur, dlen)
        cur += dlen
    tree.close()
    return name, cur - off


def _nb_data(r: Reader, tree: Tree, cur: int, left: int, opcode: int) -> int:
    """NB_FLAGS and NB_ADDRESS pairs (RFC 1002 4.2.2), or a WACK's flags."""
    while left > 0:
        if left < 2:
            break
        v = r.u16(cur)
        if opcode == OPCODE_WACK:
            _flags(tree, v, cur, True)
            cur += 2
            left -= 2
            continue
        tree.add(NB_FLAGS, v, cur, 2, lab(tree, NB_FLAGS, v))
        tree.add(NB_FLAGS_GROUP, bool(v & 0x8000), cur, 2)
        tree.add(NB_FLAGS_ONT, (v >> 13) & 3, cur, 2)
        cur += 2
        left -= 2
        if left < 4:
            break
        addr = r.u32(cur)
        tree.add(ADDR, addr, cur, 4, lab(tree, ADDR, addr))
        cur += 4
        left -= 4
    return cur


def _nbstat_data(r: Reader, tree: Tree, cur: int, left: int, name_used: int) -> int:
    """NODE_STATUS answer (RFC 1002 4.2.18): the node's names, then its statistics.

    As in Wireshark, the count byte is not taken off what is left, and the
    names are printed into a buffer as long as the record's own name."""
    if left < 1:
        return cur
    count = r.u8(cur)
    tree.add(NUMBER_OF_NAMES, count, cur, 1)
    cur += 1
    while count:
        if left < NETBIOS_NAME_LEN:
            return cur
        raw = r.bytes(cur, NETBIOS_NAME_LEN)
        shown = printable_name(raw, name_used)
        label = f"Name: {shown}<{raw[15]:02x}> ({name_type_text(raw[15])})" if tree.want_nodes else None
        tree.add(NETBIOS_NAME, shown, cur, NETBIOS_NAME_LEN, label)
        cur += NETBIOS_NAME_LEN
        left -= NETBIOS_NAME_LEN
        if left < 2:
            return cur
        v = r.u16(cur)
        for f, val in ((NAME_FLAGS, v), (NAME_FLAGS_GROUP, bool(v & 0x8000)), (NAME_FLAGS_ONT, (v >> 13) & 3),
                       (NAME_FLAGS_DRG, bool(v & 0x1000)), (NAME_FLAGS_CNF, bool(v & 0x0800)),
                       (NAME_FLAGS_ACT, bool(v & 0x0400)), (NAME_FLAGS_PRM, bool(v & 0x0200))):
            tree.add(f, val, cur, 2, lab(tree, f, val))
        cur += 2
        left -= 2
        count -= 1
    if left < 6:
        return cur
    unit = int.from_bytes(r.bytes(cur, 6), "big")
    tree.add(UNIT_ID, unit, cur, 6, lab(tree, UNIT_ID, unit))
    cur += 6
    left -= 6
    for f, size in _STATISTICS:
        if left < size:
            return cur
        val = int.from_bytes(r.bytes(cur, size), "big")
        tree.add(f, val, cur, size, lab(tree, f, val))
        cur += size
        left -= size
    return cur


# -- the datagram service -------------------------------------------------------------------------

DGM_TYPE = F("nbdgm.type", "u8", "Message Type")
DGM_FLAGS = F("nbdgm.flags", "u8", "Flags", "hex", 2)
DGM_NEXT = F("nbdgm.next", "bool", "More fragments follow")
DGM_FIRST = F("nbdgm.first", "bool", "This is first fragment")
DGM_NODE_TYPE = F("nbdgm.node_type", "u8", "Node Type")
DGM_ID = F("nbdgm.dgram_id", "u16", "Datagram ID", "hex", 4)
DGM_SRC_IP = F("nbdgm.src.ip", "ipv4", "Source IP")
DGM_SRC_PORT = F("nbdgm.src.port", "u16", "Source Port")
DGM_LEN = F("nbdgm.dgram_len", "u16", "Datagram length")
DGM_OFFSET = F("nbdgm.pkt_offset", "u16", "Packet offset")
DGM_SOURCE_NAME = F("nbdgm.source_name", "string", "Source name")
DGM_DEST_NAME = F("nbdgm.destination_name", "string", "Destination name")
DGM_ERROR = F("nbdgm.error_code", "u8", "Error code", "hex", 2)

DGM_FIELDS: tuple[Field, ...] = (
    DGM_TYPE, DGM_FLAGS, DGM_NEXT, DGM_FIRST, DGM_NODE_TYPE, DGM_ID, DGM_SRC_IP, DGM_SRC_PORT, DGM_LEN,
    DGM_OFFSET, DGM_SOURCE_NAME, DGM_DEST_NAME, DGM_ERROR,
)

DGM_TYPES = {0x10: "Direct_unique datagram", 0x11: "Direct_group datagram", 0x12: "Broadcast datagram",
             0x13: "Datagram error", 0x14: "Datagram query request",
             0x15: "Datagram positive query response", 0x16: "Datagram negative query response"}
NODE_TYPES = {0: "B node", 1: "P node", 2: "M node", 3: "NBDD"}


def dissect_datagram(data: bytes, tree: Tree, info: AppInfo) -> None:
    """One datagram service message (RFC 1002 4.4)."""
    try:
        _datagram(data, tree)
    except BadLabel as e:
        tree.malformed("nbdgm name has a reserved label type (0x80)", e.offset)


def _datagram(data: bytes, tree: Tree) -> None:
    r = Reader(data)
    want = tree.want_nodes
    mtype = r.u8(0)
    what = DGM_TYPES.get(mtype, f"Unknown message type (0x{mtype:02X})")
    tree.message = f"nbdgm : {what}"
    tree.add(DGM_TYPE, mtype, 0, 1, f"Message Type: {what} ({mtype})" if want else None)
    flags = r.u8(1)
    tree.add(DGM_FLAGS, flags, 1, 1, lab(tree, DGM_FLAGS, flags))
    tree.add(DGM_NEXT, bool(flags & 0x01), 1, 1)
    tree.add(DGM_FIRST, bool(flags & 0x02), 1, 1)
    node = (flags >> 2) & 3
    tree.add(DGM_NODE_TYPE, node, 1, 1, f"Node Type: {NODE_TYPES[node]} ({node})" if want else None)
    dgm_id = r.u16(2)
    tree.add(DGM_ID, dgm_id, 2, 2, lab(tree, DGM_ID, dgm_id))
    ip = r.u32(4)
    tree.add(DGM_SRC_IP, ip, 4, 4, lab(tree, DGM_SRC_IP, ip))
    tree.add(DGM_SRC_PORT, r.u16(8), 8, 2)
    off = 10
    if mtype in (0x10, 0x11, 0x12):
        tree.add(DGM_LEN, r.u16(off), off, 2)
        tree.add(DGM_OFFSET, r.u16(off + 2), off + 2, 2)
        off += 4
        # Each name's compression pointers count from the name itself, as Wireshark reads them.
        src, src_type, used = read_nb_name(data, off, off)
        tree.add(DGM_SOURCE_NAME, src, off, used, _dgm_label("Source name", src, src_type) if want else None)
        off += used
        dst, dst_type, used = read_nb_name(data, off, off)
        tree.add(DGM_DEST_NAME, dst, off, used, _dgm_label("Destination name", dst, dst_type) if want else None)
        tree.message = f"nbdgm : {what} {src} -> {dst}"
    elif mtype == 0x13:
        tree.add(DGM_ERROR, r.u8(off), off, 1)
    elif mtype in (0x14, 0x15, 0x16):
        dst, dst_type, used = read_nb_name(data, off, off)
        tree.add(DGM_DEST_NAME, dst, off, used, _dgm_label("Destination name", dst, dst_type) if want else None)
        tree.message = f"nbdgm : {what} {dst}"


def _dgm_label(title: str, name: str, name_type: int) -> str:
    return f"{title}: {name} ({name_type_text(name_type)})" if name_type >= 0 else f"{title}: {name}"


NBDGM = ModuleType(f"{__name__}.nbdgm", "NetBIOS Datagram Service (RFC 1002 4.4) on UDP 138.")
vars(NBDGM).update(NAME="nbdgm", FIELDS=DGM_FIELDS, dissect=dissect_datagram)
