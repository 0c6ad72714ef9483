"""Packet Details for one frame: its link, network and transport headers as
a tree of :class:`~tracedoc.decode.apptree.Node`, in the seed's layout::

    Link Header :
    Source Mac : 08:00:46:F4:3A:09    Remote Mac : 00:04:75:C9:51:B6
    ETHERTYPE : IP (0x800)

    IP Version 4
    Header Length : 20
    ...
    TCP Header Info
    Source Port : 2646 2646    Remote Port : 80 http
    ...

The packet table is filled by vectorised extractors over whole batches;
this module walks the bytes of one frame and names every item by the same
field declarations (``tcp.SRCPORT``, ``ipv4.TTL`` ...), so a node's
``field`` and ``value`` are the packet table's column and value for that
frame, and every node knows its byte range in the frame.  Where the
extractors decide what to decode (a short header, a bogus length, a fragment
waiting for reassembly, the datagram an ICMP error quotes) this walk decides
the same way; ``tests/cli/test_details.py`` checks that the two agree, frame
by frame, on corpus captures.

Top-level nodes are the blocks of the view (one per header); a block's
children are its lines.  Three kinds of node shape the text view:

* :class:`Line` — one line made of several fields (``Source : a  Remote :
  b``): the text view prints its label, JSON keeps the fields as children;
* :class:`Hidden` — a field the seed's layout does not print (the DF bit
  under ``Flags``, a zero TOS byte); JSON keeps it;
* :class:`Quoted` — the datagram an ICMP error quotes; its fields are the
  packet table's ``inner.`` columns.

Entry point: :func:`packet_details`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tracedoc.decode import arp, ctrace, eth, icmp, icmpv6, ipv4, ipv6, null, sll, tcp, udp, vlan, zos_discard
from tracedoc.decode.apptree import Node, Tree
from tracedoc.decode.fields import Field


@dataclass
class Line(Node):
    """One line of text made of several fields; the text view prints only
    this node's label, JSON keeps the fields as its children."""


@dataclass
class Hidden(Node):
    """A field the text view leaves out (the seed's layout does not show
    it); JSON keeps it."""


@dataclass
class Quoted(Node):
    """The datagram quoted inside an ICMP/ICMPv6 error.  Its children are
    blocks like a frame's; their fields are the ``inner.`` columns."""

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        out["quoted"] = True
        return out


@dataclass
class AppBlock(Node):
    """The details of one application message (a :class:`Tree`'s root)."""

    reassembled: bool = False
    """Offsets count in the message rebuilt from several segments, not in the frame."""

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        out["reassembled"] = self.reassembled
        return out


MAX_DEPTH = 24
"""Headers nested deeper than this are shown as data (as decode stops)."""

# -- names ----------------------------------------------------------------------

ETHERTYPES = {
    0x0800: "IP", 0x0806: "ARP", 0x0842: "Wake-on-LAN", 0x22F3: "TRILL", 0x6558: "Transparent Ethernet bridging",
    0x8035: "RARP", 0x809B: "AppleTalk", 0x80F3: "AARP", 0x8100: "802.1Q VLAN", 0x8137: "IPX",
    0x86DD: "IPv6", 0x8808: "MAC control", 0x8809: "Slow protocols", 0x8847: "MPLS", 0x8848: "MPLS multicast",
    0x8863: "PPPoE discovery", 0x8864: "PPPoE session", 0x886F: "NLB", 0x888E: "EAPOL", 0x88A8: "802.1ad",
    0x88CC: "LLDP", 0x88E5: "MACsec", 0x88E7: "802.1ah", 0x88F7: "PTP", 0x8903: "FabricPath",
    0x8906: "FCoE", 0x9000: "Loopback", 0x9100: "QinQ",
}
IP_PROTOCOLS = {
    0: "IPv6 Hop-by-Hop", 1: "ICMP", 2: "IGMP", 4: "IP in IP", 6: "TCP", 8: "EGP", 17: "UDP", 41: "IPv6",
    43: "IPv6 Routing", 44: "IPv6 Fragment", 46: "RSVP", 47: "GRE", 50: "ESP", 51: "AH", 58: "ICMPv6",
    59: "No Next Header", 60: "IPv6 Destination Options", 88: "EIGRP", 89: "OSPF", 103: "PIM", 108: "IPComp",
    112: "VRRP", 115: "L2TP", 132: "SCTP", 135: "Mobility Header", 136: "UDP-Lite", 137: "MPLS in IP",
    139: "HIP", 140: "Shim6",
}
ARP_HW_TYPES = {1: "Ethernet", 6: "IEEE 802", 15: "Frame Relay", 16: "ATM", 20: "Serial", 32: "InfiniBand"}
ARP_OPCODES = {1: "Request", 2: "Reply", 3: "RARP Request", 4: "RARP Reply", 8: "InARP Request",
               9: "InARP Reply"}
SLL_PKTTYPES = {0: "Unicast to us", 1: "Broadcast", 2: "Multicast", 3: "Unicast to another host",
                4: "Sent by us"}
SLL_HATYPES = {1: "Ethernet", 512: "PPP", 768: "IP-in-IP tunnel", 772: "Loopback", 776: "IPv6-in-IPv4 tunnel",
               778: "GRE tunnel", 65534: "None", 65535: "Void"}
BSD_FAMILIES = {2: "IP", 10: "IPv6 (Linux)", 24: "IPv6 (NetBSD/OpenBSD)", 28: "IPv6 (FreeBSD)",
                30: "IPv6 (Darwin)"}
IPV4_OPTIONS = {0: "EOL", 1: "NOP", 7: "Record Route", 25: "Quick-Start", 68: "Timestamp", 82: "Traceroute",
                130: "Security", 131: "Loose Source Route", 133: "Extended Security", 136: "Stream ID",
                137: "Strict Source Route", 148: "Router Alert"}
TCP_OPTIONS = {6: "Echo", 7: "Echo reply", 9: "Partial Order Connection Permitted", 10: "Partial Order Service",
               14: "Alternate Checksum Request", 15: "Alternate Checksum Data", 19: "MD5 signature",
               27: "Quick-Start Response", 28: "User Timeout", 29: "TCP-AO", 30: "Multipath TCP",
               34: "TCP Fast Open cookie", 69: "Encryption Negotiation", 253: "Experimental", 254: "Experimental"}
IPV6_EXT_NAMES = {ipv6.HOPOPTS: "Hop-by-Hop Options", ipv6.ROUTING: "Routing Header",
                  ipv6.FRAGMENT: "Fragment Header", ipv6.DSTOPTS: "Destination Options",
                  ipv6.AH: "Authentication Header", ipv6.MOBILITY: "Mobility Header", ipv6.HIP: "HIP",
                  ipv6.SHIM6: "Shim6"}
ICMP_TIME_EXCEEDED = {0: "TTL exceeded in transit", 1: "Fragment reassembly time exceeded"}
ICMP_PARAM_PROBLEM = {0: "Pointer indicates the error", 1: "Missing a required option", 2: "Bad length"}
ICMPV6_TIME_EXCEEDED = {0: "Hop limit exceeded in transit", 1: "Fragment reassembly time exceeded"}
ICMPV6_PARAM_PROBLEM = {0: "Erroneous header field", 1: "Unrecognized Next Header type",
                        2: "Unrecognized IPv6 option"}
TCP_FLAG_ORDER = ((0x10, "ACK"), (0x20, "URG"), (0x08, "PSH"), (0x04, "RST"), (0x02, "SYN"), (0x01, "FIN"),
                  (0x40, "ECE"), (0x80, "CWR"), (0x100, "AE"))
"""Flag names in the order the Packet Summary writes them (``ACK PSH FIN``)."""
TCP_FLAG_FIELDS = ((tcp.FIN, 0x01), (tcp.SYN, 0x02), (tcp.RST, 0x04), (tcp.PSH, 0x08), (tcp.ACKF, 0x10),
                   (tcp.URG, 0x20), (tcp.ECE, 0x40), (tcp.CWR, 0x80))


def etype_text(t: int) -> str:
    """``IP (0x800)``, as the seed writes an ethertype."""
    name = ETHERTYPES.get(t)
    return f"{name} (0x{t:X})" if name else f"0x{t:04X}"


def proto_text(p: int) -> str:
    name = IP_PROTOCOLS.get(p)
    return name if name else f"{p}"


def mac_text(v: int) -> str:
    return ":".join(f"{(v >> (8 * k)) & 0xFF:02X}" for k in range(5, -1, -1))


def ipv4_text(v: int) -> str:
    return f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"


def ipv6_text(b: bytes) -> str:
    return str(ipaddress.IPv6Address(b))


def port_text(port: int, services: dict[int, str]) -> str:
    """``80 http``; a port without a service name is repeated (``2646 2646``), as the seed does."""
    return f"{port} {services.get(port, port)}"


def tcp_flags_text(flags: int) -> str:
    return " ".join(n for bit, n in TCP_FLAG_ORDER if flags & bit)


def _services() -> tuple[dict[int, str], dict[int, str]]:
    from tracedoc.analyze.services import TCP_SERVICES, UDP_SERVICES

    return TCP_SERVICES, UDP_SERVICES


def icmp_type_code(t: int, c: int) -> tuple[str, str]:
    """Type and code meanings of an ICMP message (RFC 792, RFC 1812)."""
    from tracedoc.analyze.summary import ICMP_REDIRECT, ICMP_TYPES, ICMP_UNREACH

    code = {3: ICMP_UNREACH, 5: ICMP_REDIRECT, 11: ICMP_TIME_EXCEEDED, 12: ICMP_PARAM_PROBLEM}.get(t, {}).get(c, "")
    return ICMP_TYPES.get(t, "Unknown type"), code


def icmpv6_type_code(t: int, c: int) -> tuple[str, str]:
    """Type and code meanings of an ICMPv6 message (RFC 4443)."""
    from tracedoc.analyze.summary import ICMPV6_TYPES, ICMPV6_UNREACH

    code = {1: ICMPV6_UNREACH, 3: ICMPV6_TIME_EXCEEDED, 4: ICMPV6_PARAM_PROBLEM}.get(t, {}).get(c, "")
    return ICMPV6_TYPES.get(t, "Unknown type"), code


# -- the walk over one frame ------------------------------------------------------


class _Walk:
    """One frame's bytes and the blocks found in them so far."""

    def __init__(self, data: bytes, wire_len: int, inner: bool = False, depth: int = 0) -> None:
        self.data = data
        self.cap = len(data)
        self.wire_len = wire_len
        self.inner = inner
        """Inside the datagram an ICMP error quotes (the ``inner.`` columns)."""
        self.depth = depth
        self.blocks: list[Node] = []
        self.payload: tuple[int, int] | None = None
        """(offset, captured length) of the TCP/UDP payload the application pass decodes."""
        self.trailer: tuple[int, int] | None = None
        """(offset, length) of bytes after the outermost datagram (Ethernet padding)."""

    def have(self, off: int, n: int) -> bool:
        return off + n <= self.cap

    def u8(self, off: int) -> int:
        return self.data[off]

    def u16(self, off: int) -> int:
        return int.from_bytes(self.data[off:off + 2], "big")

    def u32(self, off: int) -> int:
        return int.from_bytes(self.data[off:off + 4], "big")

    def mac(self, off: int) -> int:
        return int.from_bytes(self.data[off:off + 6], "big")

    def span(self, off: int, n: int) -> int:
        """``n``, or fewer when the capture ends sooner."""
        return max(min(n, self.cap - off), 0)

    def rest(self, off: int, what: str = "") -> None:
        """The bytes from ``off`` on, not decoded further: one ``Data`` block."""
        n = max(self.cap - off, 0)
        if n:
            self.blocks.append(Node(f"Data: {n} bytes" + (f" ({what})" if what else ""), off, n))

    def end_of_datagram(self, end: int) -> None:
        """Bytes past the outermost IP datagram or ARP message are padding."""
        if self.inner or self.trailer is not None:
            return
        self.trailer = (end, max(self.cap - end, 0))


Walker = Callable[[_Walk, int, int | None], None]
"""Decode the header at an offset; the int is the length the enclosing header
gives this layer (IP payload length), or None."""


def _f(f: Field, value: Any, off: int, length: int, label: str, children: list[Node] | None = None) -> Node:
    return Node(label, off, length, f.name, value, children or [])


def _hidden(f: Field, value: Any, off: int, length: int) -> Hidden:
    return Hidden(f"{f.desc} : {value}", off, length, f.name, value)


def _line(*parts: Node | None, label: str | None = None) -> Line | None:
    nodes = [p for p in parts if p is not None]
    if not nodes:
        return None
    spans = [n for n in nodes if n.length > 0] or nodes[:1]
    start = min(n.offset for n in spans)
    end = max(n.offset + n.length for n in spans)
    text = label if label is not None else "    ".join(n.label for n in nodes)
    return Line(text, start, end - start, children=nodes)


def _add(block: Node, *nodes: Node | None) -> None:
    block.children.extend(n for n in nodes if n is not None)


def _note(text: str, off: int) -> Node:
    return Node(f"[{text}]", off, 0)


def _ether_next(w: _Walk, etype: int, off: int) -> None:
    fn = ETHERTYPE.get(etype)
    if fn is None or w.depth >= MAX_DEPTH:
        w.rest(off)
        return
    w.depth += 1
    fn(w, off, None)


def _ipproto_next(w: _Walk, proto: int, off: int, plen: int | None) -> None:
    fn = IPPROTO.get(proto)
    if fn is None or w.depth >= MAX_DEPTH:
        if not w.inner:
            w.rest(off)
        return
    w.depth += 1
    fn(w, off, plen)


# -- link layers ------------------------------------------------------------------


def _ethernet(w: _Walk, off: int, _plen: int | None = None) -> None:
    """Ethernet II / IEEE 802.3 (eth.FIELDS)."""
    n = w.cap - off
    blk = Node("Link Header :", off, max(min(n, 14), 0), "eth")
    w.blocks.append(blk)
    if n >= 14 and w.u16(off + 12) == eth.ETHERTYPE_FABRICPATH and w.have(off, eth.FABRICPATH_HDR + 14):
        # Cisco FabricPath: the outer header is FabricPath's own; the frame
        # inside is the Ethernet frame decode shows.
        blk.label = "FabricPath Header :"
        blk.field = "cfp"
        blk.length = eth.FABRICPATH_HDR
        _ethernet(w, off + eth.FABRICPATH_HDR)
        return
    src = _f(eth.SRC, w.mac(off + 6), off + 6, 6, f"Source Mac : {mac_text(w.mac(off + 6))}") if n >= 12 else None
    dst = _f(eth.DST, w.mac(off), off, 6, f"Remote Mac : {mac_text(w.mac(off))}") if n >= 6 else None
    _add(blk, _line(src, dst))
    if n < 14:
        _add(blk, _note(f"Truncated: frame shorter than an Ethernet header ({max(n, 0)} of 14 bytes)", off))
        return
    t = w.u16(off + 12)
    if t > eth.MAX_802_3_LEN:
        _add(blk, _f(eth.TYPE, t, off + 12, 2, f"ETHERTYPE : {etype_text(t)}"))
        _ether_next(w, t, off + 14)
    else:
        _add(blk, _f(eth.LEN, t, off + 12, 2, f"Length : {t} (IEEE 802.3)"))
        _llc(w, off + 14)


def _llc(w: _Walk, off: int) -> None:
    """IEEE 802.2 LLC; SNAP with OUI 0 carries an ethertype (RFC 1042)."""
    if not w.have(off, 3):
        w.rest(off)
        return
    dsap, ssap = w.u8(off), w.u8(off + 1)
    snap = dsap == 0xAA and ssap == 0xAA and w.have(off, 8)
    blk = Node("Logical-Link Control", off, 8 if snap else 3, "llc")
    w.blocks.append(blk)
    _add(blk, _line(_f(eth.DSAP, dsap, off, 1, f"DSAP : 0x{dsap:02X}"),
                    _f(eth.SSAP, ssap, off + 1, 1, f"SSAP : 0x{ssap:02X}")),
         Node(f"Control : 0x{w.u8(off + 2):02X}", off + 2, 1))
    if not snap:
        w.rest(off + 3)
        return
    oui = int.from_bytes(w.data[off + 3:off + 6], "big")
    st = w.u16(off + 6)
    _add(blk, Node(f"Organization Code : 0x{oui:06X}", off + 3, 3),
         _f(eth.SNAP_TYPE, st, off + 6, 2, f"Type : {etype_text(st)}"))
    if oui == 0:
        _ether_next(w, st, off + 8)
    else:
        w.rest(off + 8)


def _vlan(title: str) -> Walker:
    def walk(w: _Walk, off: int, _plen: int | None = None) -> None:
        """IEEE 802.1Q / 802.1ad tag (vlan.FIELDS)."""
        blk = Node(title, off, 4, "vlan")
        w.blocks.append(blk)
        if not w.have(off, 4):
            blk.length = max(w.cap - off, 0)
            _add(blk, _note("Truncated: 802.1Q tag", off))
            return
        tci = w.u16(off)
        _add(blk, _line(_f(vlan.ID, tci & 0x0FFF, off, 2, f"VLAN ID : {tci & 0x0FFF}"),
                        _f(vlan.PRIO, tci >> 13, off, 1, f"Priority : {tci >> 13}"),
                        _f(vlan.DEI, bool((tci >> 12) & 1), off, 1, f"DEI : {(tci >> 12) & 1}")))
        t = w.u16(off + 2)
        if t > eth.MAX_802_3_LEN:
            _add(blk, _f(vlan.ETYPE, t, off + 2, 2, f"ETHERTYPE : {etype_text(t)}"))
            _ether_next(w, t, off + 4)
        else:
            _add(blk, _f(vlan.LEN, t, off + 2, 2, f"Length : {t}"))
            _llc(w, off + 4)

    return walk


def _sll(w: _Walk, off: int, _plen: int | None = None) -> None:
    """Linux cooked capture v1 (sll.FIELDS)."""
    blk = Node("Link Header : Linux cooked capture", off, 16, "sll")
    w.blocks.append(blk)
    if not w.have(off, 16):
        blk.length = max(w.cap - off, 0)
        _add(blk, _note("Truncated: frame shorter than a cooked-capture header", off))
        return
    pkttype, hatype, halen, proto = w.u16(off), w.u16(off + 2), w.u16(off + 4), w.u16(off + 14)
    _add(blk, _f(sll.PKTTYPE, pkttype, off, 2, f"Packet Type : {SLL_PKTTYPES.get(pkttype, 'Unknown')} ({pkttype})"),
         _line(_f(sll.HATYPE, hatype, off + 2, 2,
                  f"Link-layer Address Type : {SLL_HATYPES.get(hatype, 'Unknown')} ({hatype})"),
               _f(sll.HALEN, halen, off + 4, 2, f"Address Length : {halen}")),
         _sll_address(w, off + 6, halen),
         _f(sll.ETYPE, proto, off + 14, 2, f"Protocol : {etype_text(proto)}"))
    _sll_next(w, proto, off + 16)


def _sll2(w: _Walk, off: int, _plen: int | None = None) -> None:
    """Linux cooked capture v2 (sll.FIELDS)."""
    blk = Node("Link Header : Linux cooked capture v2", off, 20, "sll")
    w.blocks.append(blk)
    if not w.have(off, 20):
        blk.length = max(w.cap - off, 0)
        _add(blk, _note("Truncated: frame shorter than an SLL2 header", off))
        return
    proto, ifindex, hatype = w.u16(off), w.u32(off + 4), w.u16(off + 8)
    pkttype, halen = w.u8(off + 10), w.u8(off + 11)
    _add(blk, _f(sll.ETYPE, proto, off, 2, f"Protocol : {etype_text(proto)}"),
         _f(sll.IFINDEX, ifindex, off + 4, 4, f"Interface Index : {ifindex}"),
         _f(sll.PKTTYPE, pkttype, off + 10, 1, f"Packet Type : {SLL_PKTTYPES.get(pkttype, 'Unknown')} ({pkttype})"),
         _line(_f(sll.HATYPE, hatype, off + 8, 2,
                  f"Link-layer Address Type : {SLL_HATYPES.get(hatype, 'Unknown')} ({hatype})"),
               _f(sll.HALEN, halen, off + 11, 1, f"Address Length : {halen}")),
         _sll_address(w, off + 12, halen))
    _sll_next(w, proto, off + 20)


def _sll_address(w: _Walk, off: int, halen: int) -> Node:
    if halen == 6:
        return _f(sll.SRC, w.mac(off), off, 6, f"Source Mac : {mac_text(w.mac(off))}")
    n = min(halen, 8)
    return Node(f"Source Address : {w.data[off:off + n].hex(':').upper() or '(none)'}", off, n)


def _sll_next(w: _Walk, proto: int, off: int) -> None:
    if proto > eth.MAX_802_3_LEN:
        _ether_next(w, proto, off)
    elif proto == sll.LINUX_SLL_P_802_2:
        _llc(w, off)
    else:
        w.rest(off)


def _null(w: _Walk, off: int, _plen: int | None = None) -> None:
    """BSD loopback, address family in the capturing host's byte order."""
    if not w.have(off, 4):
        w.rest(off)
        return
    v = int.from_bytes(w.data[off:off + 4], "little")
    # A value with a zero low half was written big-endian (as decode decides).
    if v & 0xFFFF0000 and not v & 0x0000FFFF:
        v = int.from_bytes(v.to_bytes(4, "little"), "big")
    _family(w, off, v)


def _loop(w: _Walk, off: int, _plen: int | None = None) -> None:
    """OpenBSD loopback: the address family in network byte order."""
    if not w.have(off, 4):
        w.rest(off)
        return
    _family(w, off, w.u32(off))


def _family(w: _Walk, off: int, v: int) -> None:
    blk = Node("Link Header : BSD loopback", off, 4, "null")
    w.blocks.append(blk)
    if v > eth.MAX_802_3_LEN:
        # Some stacks write an ethertype here (as Wireshark takes it).
        _add(blk, Node(f"ETHERTYPE : {etype_text(v & 0xFFFF)}", off, 4))
        _ether_next(w, v, off + 4)
        return
    _add(blk, _f(null.FAMILY, v, off, 4, f"Family : {BSD_FAMILIES.get(v, 'Unknown')} ({v})"))
    if v == null.AF_INET:
        _ether_next(w, 0x0800, off + 4)
    elif v in null.AF_INET6:
        _ether_next(w, 0x86DD, off + 4)
    else:
        w.rest(off + 4)


def _raw(w: _Walk, off: int, _plen: int | None = None) -> None:
    """Raw IP: the version nibble says which (no link header)."""
    if not w.have(off, 1):
        return
    ver = w.u8(off) >> 4
    if ver == 4:
        _ipv4(w, off)
    elif ver == 6:
        _ipv6(w, off)
    else:
        w.rest(off, f"IP version {ver}")


# -- network layer ----------------------------------------------------------------


def _ipv4(w: _Walk, off: int, _plen: int | None = None) -> None:
    """IPv4 (RFC 791), deciding as ``decode/ipv4.py`` does what to hand on."""
    n = w.cap - off
    if n < 1:
        w.blocks.append(Node("IP Version 4", off, 0, "ip", children=[_note("Truncated: no IPv4 header captured", off)]))
        return
    b0 = w.u8(off)
    ver = b0 >> 4
    if ver == 6:  # an IPv6 packet under ethertype 0x0800
        _ipv6(w, off)
        return
    blk = Node(f"IP Version {ver}", off, 1, "ip")
    w.blocks.append(blk)
    if ver != 4:
        _add(blk, _note(f"Bogus IP version {ver}", off))
        return
    hlen = (b0 & 0x0F) * 4
    _add(blk, _f(ipv4.HDR_LEN, hlen, off, 1, f"Header Length : {hlen}"))
    if hlen < ipv4.MIN_HDR:
        _add(blk, _note(f"Bogus IP header length {hlen} (must be at least 20)", off))
        return
    blk.length = min(hlen, n)
    have = w.have
    src = _f(ipv4.SRC, w.u32(off + 12), off + 12, 4, f"Source : {ipv4_text(w.u32(off + 12))}") \
        if have(off, 16) else None
    dst = _f(ipv4.DST, w.u32(off + 16), off + 16, 4, f"Remote : {ipv4_text(w.u32(off + 16))}") \
        if have(off, 20) else None
    _add(blk, _line(src, dst))
    proto = w.u8(off + 9) if have(off, 10) else None
    if proto is not None:
        _add(blk, _f(ipv4.PROTO, proto, off + 9, 1, f"Protocol : {proto_text(proto)}"))
    ip_len = None
    if have(off, 4):
        ip_len = w.u16(off + 2)
        label = f"Datagram Length : {ip_len}"
        if ip_len == 0:
            # "presumed to be because of TCP segmentation offload": the rest
            # of the frame on the wire, as decode takes it.
            ip_len = w.wire_len - off
            label += f" (segmentation offload: taken as {ip_len})"
        _add(blk, _f(ipv4.LEN, ip_len & 0xFFFF, off + 2, 2, label))
    if have(off, 6):
        ident = w.u16(off + 4)
        _add(blk, _f(ipv4.ID, ident, off + 4, 2, f"ID : 0x{ident:04X} ({ident})"))
    fl = w.u16(off + 6) if have(off, 8) else None
    if fl is not None:
        df, mf, frag = bool((fl >> 14) & 1), bool((fl >> 13) & 1), fl & 0x1FFF
        names = [t for bit, t in ((0x8000, "Reserved"), (0x4000, "Don't Fragment"), (0x2000, "More Fragments"))
                 if fl & bit]
        flags = _f(ipv4.FLAGS, fl >> 13, off + 6, 1, f"Flags : {' '.join(names)}",
                   [_hidden(ipv4.DF, df, off + 6, 1), _hidden(ipv4.MF, mf, off + 6, 1)])
        frag_text = f"Fragment Offset : {frag}" + (f" ({frag * 8} bytes)" if frag else "")
        _add(blk, _line(flags, _f(ipv4.FRAG, frag, off + 6, 2, frag_text)))
    if have(off, 9):
        _add(blk, _f(ipv4.TTL, w.u8(off + 8), off + 8, 1, f"Time to live : {w.u8(off + 8)}"))
    if have(off, 12):
        _add(blk, _f(ipv4.CHECKSUM, w.u16(off + 10), off + 10, 2, f"Header checksum : 0x{w.u16(off + 10):04X}"))
    if have(off, 2):
        tos = w.u8(off + 1)
        if tos:
            _add(blk, _f(ipv4.DSFIELD, tos, off + 1, 1, f"Type of Service : 0x{tos:02X} (DSCP {tos >> 2}, ECN {tos & 3})"))
        else:
            _add(blk, _hidden(ipv4.DSFIELD, tos, off + 1, 1))
    if hlen > ipv4.MIN_HDR and have(off, 21):
        _add(blk, _ipv4_options(w, off + ipv4.MIN_HDR, off + hlen))
    whole = have(off, 20) and have(off, hlen)
    if not whole:
        _add(blk, _note(f"Truncated: IPv4 header ({max(n, 0)} of {hlen} bytes captured)", off))
        return
    assert ip_len is not None and proto is not None and fl is not None
    if ip_len < hlen:
        _add(blk, _note(f"Bogus IP length {ip_len} (less than the header length)", off + 2))
        return
    w.end_of_datagram(off + ip_len)
    mf_set, frag = bool((fl >> 13) & 1), fl & 0x1FFF
    if mf_set or frag:
        if not w.inner:
            n_data = max(min(ip_len - hlen, w.cap - off - hlen), 0)
            if n_data:
                w.blocks.append(Node(f"Fragment data: {n_data} bytes (offset {frag * 8}; decoded once reassembled)",
                                     off + hlen, n_data))
            return
        if frag:  # a quoted non-first fragment has no transport header
            return
    # A total length past the frame's end is cut to it (decode/ipv4.py).
    carried = ip_len if w.inner else min(ip_len, max(w.wire_len - off, hlen))
    _ipproto_next(w, proto, off + hlen, carried - hlen)


def _ipv4_options(w: _Walk, off: int, end: int) -> Node:
    """IPv4 options (RFC 791 section 3.1); each carries ``ip.opt.type``."""
    blk = Node(f"Options : {end - off} bytes", off, w.span(off, end - off))
    cur = off
    while cur < end and w.have(cur, 1):
        kind = w.u8(cur)
        name = IPV4_OPTIONS.get(kind, f"Option {kind}")
        if kind in (0, 1):
            _add(blk, _f(ipv4.OPT_TYPE, kind, cur, 1, name))
            cur += 1
            if kind == 0:
                break
            continue
        olen = w.u8(cur + 1) if w.have(cur, 2) and cur + 2 <= end else 0
        if olen < 2 or cur + olen > end:
            _add(blk, _f(ipv4.OPT_TYPE, kind, cur, 1, f"{name}: bad length {olen}"))
            break
        _add(blk, _f(ipv4.OPT_TYPE, kind, cur, w.span(cur, olen), f"{name} ({olen} bytes)"))
        cur += olen
    return blk


def _ipv6(w: _Walk, off: int, _plen: int | None = None) -> None:
    """IPv6 (RFC 8200) and its extension headers, as ``decode/ipv6.py``."""
    n = w.cap - off
    blk = Node("IP Version 6", off, max(min(n, 40), 0), "ipv6")
    w.blocks.append(blk)
    if n < 40:
        if n >= 8:
            nh = w.u8(off + 6)
            _add(blk, _f(ipv6.NXT, nh, off + 6, 1, f"Next Header : {proto_text(nh)} ({nh})"),
                 _f(ipv6.PLEN, w.u16(off + 4), off + 4, 2, f"Payload Length : {w.u16(off + 4)}"),
                 _f(ipv6.HLIM, w.u8(off + 7), off + 7, 1, f"Hop Limit : {w.u8(off + 7)}"))
        _add(blk, _note(f"Truncated: IPv6 header ({max(n, 0)} of 40 bytes captured)", off))
        return
    w0 = w.u32(off)
    ver = w0 >> 28
    if ver != 6:
        blk.label = f"IP Version {ver}"
        _add(blk, _note(f"Bogus IPv6 version {ver}", off))
        return
    tclass, flow = (w0 >> 20) & 0xFF, w0 & 0xFFFFF
    plen, nxt, hlim = w.u16(off + 4), w.u8(off + 6), w.u8(off + 7)
    src, dst = w.data[off + 8:off + 24], w.data[off + 24:off + 40]
    _add(blk, _line(_f(ipv6.SRC, src, off + 8, 16, f"Source : {ipv6_text(src)}"),
                    _f(ipv6.DST, dst, off + 24, 16, f"Remote : {ipv6_text(dst)}")),
         _f(ipv6.NXT, nxt, off + 6, 1, f"Next Header : {proto_text(nxt)} ({nxt})"),
         _f(ipv6.PLEN, plen, off + 4, 2, f"Payload Length : {plen}"),
         _f(ipv6.HLIM, hlim, off + 7, 1, f"Hop Limit : {hlim}"),
         _line(_f(ipv6.TCLASS, tclass, off, 2, f"Traffic Class : 0x{tclass:02X}"),
               _f(ipv6.FLOW, flow, off + 1, 3, f"Flow Label : 0x{flow:05X}")))
    if plen:
        w.end_of_datagram(off + 40 + plen)
    cur, left, nh = off + 40, plen, nxt
    for _ in range(ipv6.MAX_EXT):
        if nh not in ipv6.EXT_8 + (ipv6.AH, ipv6.FRAGMENT):
            break
        name = IPV6_EXT_NAMES.get(nh, f"Extension header {nh}")
        if not w.have(cur, 2):
            _add(blk, _note(f"Truncated: {name}", cur))
            return
        hl = w.u8(cur + 1)
        length = (hl + 2) * 4 if nh == ipv6.AH else 8 if nh == ipv6.FRAGMENT else (hl + 1) * 8
        new_nh = w.u8(cur)
        if nh == ipv6.FRAGMENT and w.have(cur, 8):
            fw = w.u16(cur + 2)
            foff, more, fid = fw >> 3, bool(fw & 1), w.u32(cur + 4)
            ext = Node(f"{name} : next header {proto_text(new_nh)} ({new_nh})", cur, 8)
            _add(ext, _line(_f(ipv6.FRAG_OFF, foff, cur + 2, 2, f"Fragment Offset : {foff}"),
                            _f(ipv6.FRAG_MORE, more, cur + 3, 1, f"More Fragments : {'Yes' if more else 'No'}")),
                 _f(ipv6.FRAG_ID, fid, cur + 4, 4, f"ID : 0x{fid:08X}"))
            _add(blk, ext)
            real = foff != 0 or more
            if real and not w.inner:
                n_data = max(min(left - 8, w.cap - cur - 8), 0)
                if n_data:
                    w.blocks.append(Node(f"Fragment data: {n_data} bytes (offset {foff * 8}; decoded once "
                                         f"reassembled)", cur + 8, n_data))
                return
            if real and w.inner and foff != 0:
                return
        else:
            _add(blk, Node(f"{name} : {length} bytes, next header {proto_text(new_nh)} ({new_nh})", cur,
                           w.span(cur, length)))
        nh, cur, left = new_nh, cur + length, left - length
    if nh == 59:  # no next header
        return
    _ipproto_next(w, nh, cur, left)


def _arp(w: _Walk, off: int, _plen: int | None = None) -> None:
    """ARP (RFC 826), as ``decode/arp.py``."""
    blk = Node("ARP Header", off, 8, "arp")
    w.blocks.append(blk)
    if not w.have(off, 8):
        blk.length = max(w.cap - off, 0)
        _add(blk, _note("Truncated: ARP header", off))
        return
    hrd, pro, hln, pln, op = w.u16(off), w.u16(off + 2), w.u8(off + 4), w.u8(off + 5), w.u16(off + 6)
    _add(blk, _line(_f(arp.HW_TYPE, hrd, off, 2, f"Hardware Type : {ARP_HW_TYPES.get(hrd, 'Unknown')} ({hrd})"),
                    _f(arp.PROTO_TYPE, pro, off + 2, 2, f"Protocol Type : {etype_text(pro)}")),
         _line(_f(arp.HW_SIZE, hln, off + 4, 1, f"Hardware Size : {hln}"),
               _f(arp.PROTO_SIZE, pln, off + 5, 1, f"Protocol Size : {pln}")),
         _f(arp.OPCODE, op, off + 6, 2, f"Opcode : {ARP_OPCODES.get(op, 'Unknown')} ({op})"))
    total = 8 + 2 * (hln + pln)
    if not w.have(off, total):
        _add(blk, _note("Truncated: ARP addresses run past the captured data", off + 8))
        return
    blk.length = total
    w.end_of_datagram(off + total)
    # As packet-arp.c: MACs for 6-byte Ethernet / IEEE 802 addresses, IPv4
    # for 4-byte addresses of type IP (or AX.25's 0xCC).
    is_mac = hln == 6 and hrd in (1, 6)
    is_ip4 = pln == 4 and pro in (0x0800, 0x00CC)
    for who, a, hw_f, ip_f in (("Sender", off + 8, arp.SRC_MAC, arp.SRC_IP),
                               ("Target", off + 8 + hln + pln, arp.DST_MAC, arp.DST_IP)):
        hw = (_f(hw_f, w.mac(a), a, 6, f"{who} MAC : {mac_text(w.mac(a))}") if is_mac
              else Node(f"{who} Hardware Address : {w.data[a:a + hln].hex(':').upper()}", a, hln))
        pa_ = a + hln
        ip = (_f(ip_f, w.u32(pa_), pa_, 4, f"{who} IP : {ipv4_text(w.u32(pa_))}") if is_ip4
              else Node(f"{who} Protocol Address : {w.data[pa_:pa_ + pln].hex(':').upper()}", pa_, pln))
        _add(blk, _line(hw, ip))


# -- transport layer ----------------------------------------------------------------


def _tcp(w: _Walk, off: int, plen: int | None) -> None:
    """TCP (RFC 9293) with every option, as ``decode/tcp.py``."""
    services, _ = _services()
    n = w.cap - off
    blk = Node("TCP Header Info", off, max(min(n, 20), 0), "tcp")
    w.blocks.append(blk)
    have = w.have
    sp = _f(tcp.SRCPORT, w.u16(off), off, 2, f"Source Port : {port_text(w.u16(off), services)}") \
        if have(off, 2) else None
    dp = _f(tcp.DSTPORT, w.u16(off + 2), off + 2, 2, f"Remote Port : {port_text(w.u16(off + 2), services)}") \
        if have(off, 4) else None
    seq = _f(tcp.SEQ, w.u32(off + 4), off + 4, 4, f"Seq. Number : {w.u32(off + 4)}") if have(off, 8) else None
    ack = _f(tcp.ACK, w.u32(off + 8), off + 8, 4, f"Ack. Number : {w.u32(off + 8)}") if have(off, 12) else None
    _add(blk, _line(sp, dp), _line(seq, ack))
    if n < tcp.MIN_HDR:
        if n >= 13:
            hl = (w.u8(off + 12) >> 4) * 4
            _add(blk, _f(tcp.HDR_LEN, hl, off + 12, 1, f"Header Length : {hl}"))
        what = "quoted" if w.inner else "Truncated"
        _add(blk, _note(f"{what}: {max(n, 0)} of the TCP header's 20 bytes captured", off))
        return
    hl = (w.u8(off + 12) >> 4) * 4
    hdr_len = _f(tcp.HDR_LEN, hl, off + 12, 1, f"Header Length : {hl}")
    if hl < tcp.MIN_HDR:
        _add(blk, hdr_len, _note(f"Bogus TCP header length {hl} (must be at least 20)", off + 12))
        return
    blk.length = min(hl, n)
    flags = w.u16(off + 12) & 0x0FFF
    bits = [_hidden(f, bool(flags & bit), off + 13, 1) for f, bit in TCP_FLAG_FIELDS]
    win = w.u16(off + 14)
    _add(blk, _line(_f(tcp.WIN, win, off + 14, 2, f"Window : {win}"),
                    _f(tcp.FLAGS, flags, off + 12, 2, f"Flags : {tcp_flags_text(flags)}", list(bits))))
    _tcp_options(w, blk, off + tcp.MIN_HDR, off + hl)
    seglen = (plen if plen is not None else w.wire_len - off) - hl
    seg = _f(tcp.LEN, seglen, off + hl, 0, f"Segment Length : {seglen}") if seglen >= 0 else None
    csum = w.u16(off + 16)
    _add(blk, _line(hdr_len, seg, _f(tcp.CHECKSUM, csum, off + 16, 2, f"Checksum : 0x{csum:04X}")))
    urg = w.u16(off + 18)
    if urg or flags & 0x20:
        _add(blk, _f(tcp.URGPTR, urg, off + 18, 2, f"Urgent Pointer : {urg}"))
    else:
        _add(blk, _hidden(tcp.URGPTR, urg, off + 18, 2))
    if seglen < 0:
        _add(blk, _note("TCP header length exceeds the segment", off + 12))
        return
    if not w.inner:
        p = off + hl
        w.payload = (p, max(min(seglen, w.cap - p), 0))


def _tcp_options(w: _Walk, blk: Node, cur: int, end: int) -> None:
    """Options one line each, read as ``decode/tcp.py`` reads them (a bad
    length stops the walk; an option cut by the capture ends it)."""
    for _ in range(40):
        if cur >= end:
            return
        if not w.have(cur, 1):
            _add(blk, _note("Truncated: TCP options", cur))
            return
        kind = w.u8(cur)
        if kind == tcp.NOP:
            _add(blk, Node("NOP", cur, 1))
            cur += 1
            continue
        if kind == tcp.EOL:
            _add(blk, Node("EOL", cur, 1))
            return
        olen = w.u8(cur + 1) if cur + 2 <= end and w.have(cur, 2) else 0
        if olen < 2 or cur + olen > end:
            _add(blk, _note(f"Bad TCP option length {olen} (kind {kind})", cur))
            return
        if not w.have(cur, olen):
            _add(blk, _note(f"Truncated: TCP option kind {kind}", cur))
            cur += olen
            continue
        _add(blk, _tcp_option(w, kind, cur, olen))
        cur += olen


def _tcp_option(w: _Walk, kind: int, cur: int, olen: int) -> Node:
    if kind == tcp.OPT_MSS and olen == 4:
        v = w.u16(cur + 2)
        return _f(tcp.MSS, v, cur, 4, f"Maximum segment size: {v} bytes")
    if kind == tcp.OPT_WS and olen == 3:
        shift = w.u8(cur + 2)
        mult = 1 << min(shift, 14)
        return Line(f"Window scale: {shift} (multiply by {mult})", cur, 3, children=[
            _f(tcp.WS_SHIFT, shift, cur + 2, 1, f"Shift count : {shift}"),
            _f(tcp.WS_MULT, mult, cur + 2, 1, f"Multiplier : {mult}")])
    if kind == tcp.OPT_SACK_PERM:
        return _f(tcp.SACK_PERM, bytes(w.data[cur:cur + olen]), cur, olen, "SACK permitted")
    if kind == tcp.OPT_SACK and olen >= 10:
        count = (olen - 2) // 8
        parts: list[Node] = []
        edges = []
        for k in range(count):
            b = cur + 2 + 8 * k
            le, re = w.u32(b), w.u32(b + 4)
            edges.append(f"{le}-{re}")
            parts += [_f(tcp.SACK_LE, le, b, 4, f"Left edge : {le}"), _f(tcp.SACK_RE, re, b + 4, 4, f"Right edge : {re}")]
        parts.append(_f(tcp.SACK_COUNT, count, cur + 1, 1, f"Blocks : {count}"))
        return Line(f"SACK: {' '.join(edges)}", cur, olen, children=parts)
    if kind == tcp.OPT_TS and olen == 10:
        tsval, tsecr = w.u32(cur + 2), w.u32(cur + 6)
        return Line(f"Timestamps: TSval {tsval}, TSecr {tsecr}", cur, 10, children=[
            _f(tcp.TSVAL, tsval, cur + 2, 4, f"TSval : {tsval}"), _f(tcp.TSECR, tsecr, cur + 6, 4, f"TSecr : {tsecr}")])
    known = {tcp.OPT_MSS: "Maximum segment size", tcp.OPT_WS: "Window scale", tcp.OPT_SACK: "SACK",
             tcp.OPT_TS: "Timestamps"}
    name = known.get(kind) or TCP_OPTIONS.get(kind) or "Unknown option"
    return Node(f"{name} (kind {kind}): {olen} bytes", cur, olen)


def _udp(w: _Walk, off: int, plen: int | None) -> None:
    """UDP (RFC 768), as ``decode/udp.py``."""
    _, services = _services()
    n = w.cap - off
    blk = Node("UDP Header Info", off, max(min(n, 8), 0), "udp")
    w.blocks.append(blk)
    have = w.have
    sp = _f(udp.SRCPORT, w.u16(off), off, 2, f"Source Port : {port_text(w.u16(off), services)}") \
        if have(off, 2) else None
    dp = _f(udp.DSTPORT, w.u16(off + 2), off + 2, 2, f"Remote Port : {port_text(w.u16(off + 2), services)}") \
        if have(off, 4) else None
    ln = _f(udp.LENGTH, w.u16(off + 4), off + 4, 2, f"Length : {w.u16(off + 4)}") if have(off, 6) else None
    cs = _f(udp.CHECKSUM, w.u16(off + 6), off + 6, 2, f"Checksum : 0x{w.u16(off + 6):04X}") \
        if have(off, 8) else None
    _add(blk, _line(sp, dp), _line(ln, cs))
    if n < 8:
        if not w.inner:
            _add(blk, _note(f"Truncated: UDP header ({max(n, 0)} of 8 bytes captured)", off))
        return
    if w.inner:
        return
    length = w.u16(off + 4)
    if length < 8:
        _add(blk, _note(f"Bad length value {length} (less than the UDP header)", off + 4))
        return
    from tracedoc.decode.dispatch import UDPPORT

    s, d = w.u16(off), w.u16(off + 2)
    lo, hi = min(s, d), max(s, d)
    p = off + 8
    if lo in UDPPORT or hi in UDPPORT:
        # An encapsulation (VXLAN, GTP-U, ...): its packet is not shown here.
        w.rest(p, f"encapsulated on port {lo if lo in UDPPORT else hi}")
        return
    cap = min(length - 8, w.cap - p)
    if cap > 0:
        w.payload = (p, cap)


def _icmp_header(w: _Walk, off: int, title: str, fields: tuple[Field, Field, Field],
                 names: Callable[[int, int], tuple[str, str]]) -> tuple[Node, int, int | None, int | None]:
    """Type, code and checksum, the start ICMP and ICMPv6 share: the block,
    the bytes captured from ``off``, and the type and code (None when cut)."""
    n = w.cap - off
    blk = Node(f"{title} Header", off, max(min(n, 8), 0), title.lower())
    w.blocks.append(blk)
    t = w.u8(off) if n >= 1 else None
    c = w.u8(off + 1) if n >= 2 else None
    tname, cname = names(t or 0, c or 0)
    ftype, fcode, fsum = fields
    _add(blk, _line(_f(ftype, t, off, 1, f"Type : {t} {tname}") if t is not None else None,
                    _f(fcode, c, off + 1, 1, f"Code : {c}" + (f" {cname}" if cname else ""))
                    if c is not None else None))
    if n >= 4:
        _add(blk, _f(fsum, w.u16(off + 2), off + 2, 2, f"Checksum : 0x{w.u16(off + 2):04X}"))
    elif not w.inner:
        _add(blk, _note(f"Truncated: {title} header ({max(n, 0)} of 4 bytes captured)", off))
    return blk, n, t, c


def _icmp(w: _Walk, off: int, _plen: int | None) -> None:
    """ICMP (RFC 792); an error's quoted datagram is a nested block."""
    blk, n, t, c = _icmp_header(w, off, "ICMP", (icmp.TYPE, icmp.CODE, icmp.CHECKSUM), icmp_type_code)
    if n < 8 or t is None:
        return
    if t in icmp.ECHO_LIKE:
        _add(blk, _line(_f(icmp.IDENT, w.u16(off + 4), off + 4, 2, f"Identifier : {w.u16(off + 4)}"),
                        _f(icmp.SEQ, w.u16(off + 6), off + 6, 2, f"Sequence Number : {w.u16(off + 6)}")))
    if t == 3 and c == 4:
        _add(blk, _f(icmp.MTU, w.u16(off + 6), off + 6, 2, f"MTU of next hop : {w.u16(off + 6)}"))
    if t == 5:
        _add(blk, _f(icmp.GW, w.u32(off + 4), off + 4, 4, f"Gateway : {ipv4_text(w.u32(off + 4))}"))
    if t in icmp.ERROR_TYPES and w.have(off, 9) and not w.inner:
        _quote(w, blk, off + 8, _ipv4)
    elif n > 8 and not w.inner:
        _add(blk, Node(f"Data: {n - 8} bytes", off + 8, n - 8))


def _icmpv6(w: _Walk, off: int, _plen: int | None) -> None:
    """ICMPv6 (RFC 4443); an error's quoted packet is a nested block."""
    blk, n, t, c = _icmp_header(w, off, "ICMPv6", (icmpv6.TYPE, icmpv6.CODE, icmpv6.CHECKSUM), icmpv6_type_code)
    if n < 8 or t is None:
        return
    if t == 2:
        _add(blk, _f(icmpv6.MTU, w.u32(off + 4), off + 4, 4, f"MTU : {w.u32(off + 4)}"))
    if t in (128, 129):
        _add(blk, _line(Node(f"Identifier : {w.u16(off + 4)}", off + 4, 2),
                        Node(f"Sequence Number : {w.u16(off + 6)}", off + 6, 2)))
    if t in (135, 136, 137) and w.have(off, 24):
        _add(blk, Node(f"Target Address : {ipv6_text(w.data[off + 8:off + 24])}", off + 8, 16))
    if t in icmpv6.ERROR_TYPES and w.have(off, 9) and not w.inner:
        _quote(w, blk, off + 8, _ipv6)
    elif n > 8 and not w.inner and t not in (135, 136, 137):
        _add(blk, Node(f"Data: {n - 8} bytes", off + 8, n - 8))


def _quote(w: _Walk, blk: Node, off: int, walker: Walker) -> None:
    """The datagram an error quotes, decoded under ``inner.``; quotes inside
    quotes are not followed (as decode does)."""
    sub = _Walk(w.data, w.wire_len, inner=True, depth=w.depth + 1)
    walker(sub, off, None)
    n = w.cap - off
    _add(blk, Quoted(f"Quoted datagram : {n} bytes", off, n, children=sub.blocks))


LINKTYPE: dict[int, Walker] = {
    0: _null, 1: _ethernet, 12: _raw, 14: _raw, 101: _raw, 108: _loop, 113: _sll,
    228: lambda w, off, plen: _ipv4(w, off), 229: lambda w, off, plen: _ipv6(w, off), 276: _sll2,
}
ETHERTYPE: dict[int, Walker] = {
    0x0800: _ipv4, 0x0806: _arp, 0x86DD: _ipv6,
    0x8100: _vlan("802.1Q Virtual LAN"), 0x88A8: _vlan("802.1ad Service VLAN"), 0x9100: _vlan("QinQ VLAN"),
}
IPPROTO: dict[int, Walker] = {1: _icmp, 4: _ipv4, 6: _tcp, 17: _udp, 41: _ipv6, 58: _icmpv6}
"""What this view decodes; everything else the frame carries is shown as data."""


# -- record facts (CTRACE) -------------------------------------------------------------

CTRACE_LABELS: dict[str, str] = {
    "ctrace.record_type": "Record Type",
    "ctrace.system": "System",
    "ctrace.record": "Record Number",
    "ctrace.entry_id": "Format ID",
    "ctrace.local_time": "Record Time",
    "ctrace.tod": "TOD Clock (UTC)",
    "ctrace.direction": "Direction",
    "ctrace.link": "Link Name",
    "ctrace.device": "Device Type",
    "ctrace.full_len": "Packet Length",
    "ctrace.abbrev_len": "Traced Length",
    "ctrace.seq": "Sequence Number",
    "ctrace.lost": "Lost Records",
    "ctrace.flags": "Flags",
    "ctrace.intfx": "Interface Index",
    "ctrace.asid": "ASID",
    "ctrace.tcb": "TCB Address",
    "ctrace.jobname": "Jobname",
    "ctrace.conn_id": "Connection ID",
    "ctrace.segment": "Segment",
    "ctrace.discard": "Discard Reason Code",
    "ctrace.payload_absent": "Headers rebuilt from the formatted fields (no hex dump)",
    "ctrace.line": "Line in the formatted text",
    "ctrace.data.local_ip": "Local Address",
    "ctrace.data.local_port": "Local Port",
    "ctrace.data.remote_ip": "Remote Address",
    "ctrace.data.remote_port": "Remote Port",
    "ctrace.data.length": "Data Length",
    "ctrace.data.domain": "Domain/Type/Protocol",
    "ctrace.data.state": "State",
    "ctrace.osa.device_id": "OSA Device ID",
    "ctrace.summary_fields": "SUMMARY report fields",
}
"""How each ``ctrace.*`` column is titled in the record block; columns not
listed (the discard name and category, the link kind) are shown inside
another line."""

CTRACE_KINDS = {"packet": "packet trace (SYSTCPDA)", "data": "data trace (SYSTCPDA)",
                "osaenta": "OSA-Express Network Traffic Analyzer (SYSTCPOT)", "summary": "SUMMARY report"}


def _ctrace_value(f: Field, v: Any) -> str:
    if f.type == "time":
        t = dt.datetime.fromtimestamp(v // 1_000_000_000, tz=dt.timezone.utc)
        return t.strftime("%Y/%m/%d %H:%M:%S") + f".{(v % 1_000_000_000) // 1000:06d}"
    if f.type == "bool":
        return "Yes" if v else "No"
    if f.base == "hex":
        return f"0x{v:0{f.width}X}"
    if f.name in ("ctrace.full_len", "ctrace.abbrev_len", "ctrace.data.length"):
        return f"{v} bytes"
    return str(v)


def ctrace_block(row: dict[str, Any]) -> Node | None:
    """The z/OS record facts of a CTRACE frame: its ``ctrace.*`` columns
    (direction, link, jobname, discard code with its IBM name ...).  They
    come from the record header, not from packet bytes: offset 0, length 0."""
    kind = row.get("ctrace.record_type")
    if kind is None:
        return None
    blk = Node(f"CTRACE Record : {CTRACE_KINDS.get(kind, kind)}", 0, 0, "ctrace")
    for f in ctrace.FIELDS:
        v = row.get(f.name)
        title = CTRACE_LABELS.get(f.name)
        if v is None or title is None or f.name == "ctrace.record_type":
            continue
        if f.name == "ctrace.link":
            title = "Interface" if row.get("ctrace.link_kind") == "Interface" else "Link Name"
            kind_v = row.get("ctrace.link_kind")
            parts = [Node(f"{title} : {v}", 0, 0, f.name, v)]
            if kind_v is not None:
                parts.append(Hidden(f"Link kind : {kind_v}", 0, 0, "ctrace.link_kind", kind_v))
            _add(blk, Line(f"{title} : {v}", 0, 0, children=parts))
            continue
        if f.name == "ctrace.discard":
            d = zos_discard.lookup(int(v))
            name = row.get("ctrace.discard_name") or d.name
            cat = row.get("ctrace.discard_category") or d.category
            parts = [Node(f"Discard Reason Code : {v}", 0, 0, f.name, v),
                     Node(f"Name : {name}", 0, 0, "ctrace.discard_name", row.get("ctrace.discard_name")),
                     Node(f"Category : {cat}", 0, 0, "ctrace.discard_category", row.get("ctrace.discard_category"))]
            _add(blk, Line(f"Discard Reason Code : {v} ({name}) {cat}", 0, 0, children=parts),
                 Node(f"Meaning : {d.meaning}", 0, 0))
            continue
        if f.name == "ctrace.payload_absent":
            if v:
                _add(blk, _f(f, v, 0, 0, f"[{title}]"))
            else:
                _add(blk, Hidden(f"{title} : No", 0, 0, f.name, v))
            continue
        if f.name == "ctrace.line":
            _add(blk, Hidden(f"{title} : {v}", 0, 0, f.name, v))
            continue
        _add(blk, _f(f, v, 0, 0, f"{title} : {_ctrace_value(f, v)}"))
    return blk


# -- the whole frame ---------------------------------------------------------------------


def app_block(t: Tree) -> AppBlock:
    """An application message's tree as a block (its root relabelled for the view)."""
    r = t.root
    title = (r.label or t.protocol or "data").upper()
    if t.reassembled:
        title += " (reassembled)"
    return AppBlock(title, r.offset, r.length, r.field, r.value, r.children, reassembled=t.reassembled)


def layers(data: bytes, linktype: int, wire_len: int | None = None) -> tuple[list[Node], _Walk]:
    """The header blocks of one frame (link, network, transport), and the
    walk's findings (transport payload, padding)."""
    w = _Walk(data, len(data) if wire_len is None else wire_len)
    fn = LINKTYPE.get(linktype)
    if linktype == ctrace.LINKTYPE_ZOS_DATA:
        w.rest(0, "socket data")
    elif fn is None:
        w.rest(0, f"link type {linktype}")
    else:
        fn(w, 0, None)
    return w.blocks, w


def packet_details(data: bytes, linktype: int, wire_len: int | None = None, row: dict[str, Any] | None = None,
                   trees: list[Tree] | None = None) -> list[Node]:
    """Every block of one frame's Packet Details: the CTRACE record facts
    (when ``row``, its packet-table row, has them), the headers, the
    application messages (``trees``, from the application pass) or the
    payload as data, padding, and the frame's anomaly."""
    out: list[Node] = []
    if row is not None:
        rec = ctrace_block(row)
        if rec is not None:
            out.append(rec)
    blocks, w = layers(data, linktype, wire_len)
    out += blocks
    if trees:
        out += [app_block(t) for t in trees]
    elif w.payload is not None and w.payload[1] > 0:
        p, n = w.payload
        out.append(Node(f"Data: {n} bytes", p, n))
    if w.trailer is not None and w.trailer[1] > 0:
        p, n = w.trailer
        out.append(Node(f"Padding: {n} bytes", p, n))
    if row is not None and row.get("_ws.malformed"):
        v = row["_ws.malformed"]
        out.append(Node(f"[Malformed: {v}]", 0, 0, "_ws.malformed", v))
    return out


def first_values(nodes: list[Node], prefix: str = "") -> dict[str, Any]:
    """Field name -> the first value the tree shows for it (the ``inner.``
    prefix inside a quoted datagram), as the packet table keeps the first
    occurrence; ``multi`` fields of application blocks are not included."""
    out: dict[str, Any] = {}

    def walk(ns: list[Node], px: str) -> None:
        for n in ns:
            if isinstance(n, AppBlock):
                continue
            if n.field is not None and n.value is not None:
                out.setdefault(px + n.field, n.value)
            walk(n.children, "inner." if isinstance(n, Quoted) else px)

    walk(nodes, prefix)
    return out
