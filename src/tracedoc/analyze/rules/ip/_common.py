"""What the ip rules share: address text, a packet's flow, and which frames
went to every host of a link (broadcast) or to a group (multicast)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tracedoc.analyze.columns import values
from tracedoc.analyze.diagnose import Evidence

BROADCAST_MAC = 0xFFFF_FFFF_FFFF
GROUP_BIT = 1 << 40
"""The I/G bit of a MAC address (first octet, least significant bit): set in broadcast and multicast."""


def ints(ev: Evidence, name: str) -> tuple[np.ndarray, np.ndarray]:
    return values(ev.tbl, name, np.int64)


def mac_text(v: int) -> str:
    return ":".join(f"{(v >> (8 * k)) & 0xFF:02x}" for k in range(5, -1, -1))


def v4_text(v: int) -> str:
    return f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"


def proto_name(ev: Evidence, row: int) -> str | None:
    """The transport of a packet as the other rules name it (``tcp``, ``udp``, ``icmp`` ...), or the
    IP protocol number."""
    for name, col in (("tcp", "tcp.srcport"), ("udp", "udp.srcport"), ("icmp", "icmp.type"),
                      ("icmpv6", "icmpv6.type")):
        if ev.values(col)[row] is not None:
            return name
    p = ev.values("ip.proto")[row]
    if p is None:
        p = ev.values("ipv6.nxt")[row]
    return None if p is None else str(p)


PORTS = {"tcp": ("tcp.srcport", "tcp.dstport"), "udp": ("udp.srcport", "udp.dstport")}


def flow(ev: Evidence, row: int) -> dict[str, Any]:
    """Source, destination, transport and ports of the packet in ``row``."""
    src, dst = ev.addresses
    proto = proto_name(ev, row)
    sport, dport = PORTS.get(proto or "", (None, None))
    return {"src": src[row], "dst": dst[row], "proto": proto,
            "sport": ev.values(sport)[row] if sport else None,
            "dport": ev.values(dport)[row] if dport else None}


def flow_text(f: dict[str, Any]) -> str:
    what = (f["proto"] or "IP").upper() if not str(f["proto"] or "").isdigit() else f"IP protocol {f['proto']}"
    port = f":{f['dport']}" if f.get("dport") is not None else ""
    return f"{what} from {f['src']} to {f['dst']}{port}"


def link_casts(ev: Evidence) -> tuple[np.ndarray, np.ndarray]:
    """Which frames were broadcast and which multicast (never both).

    The link layer says it where the capture has one: the destination MAC
    (Ethernet, or the receiver address of 802.11), else the packet type of a
    Linux cooked capture (1 broadcast, 2 multicast: "sent to us" by one of
    those).  Without a link layer (raw IP, z/OS CTRACE), and for the frames a
    cooked capture saw leaving (packet type 4, no destination MAC), the IP
    destination: 255.255.255.255, 224.0.0.0/4, ff00::/8.  (A directed
    broadcast such as 10.1.1.255 is known only from its MAC: the capture does
    not say the subnet mask.)"""
    n = ev.tbl.num_rows
    bcast = np.zeros(n, dtype=bool)
    mcast = np.zeros(n, dtype=bool)
    link = np.zeros(n, dtype=bool)
    for col in ("eth.dst", "wlan.ra"):
        mac, has = values(ev.tbl, col, np.uint64)
        has = has & ~link
        bcast |= has & (mac == np.uint64(BROADCAST_MAC))
        mcast |= has & ((mac & np.uint64(GROUP_BIT)) != 0) & (mac != np.uint64(BROADCAST_MAC))
        link |= has
    pkttype, has_sll = ints(ev, "sll.pkttype")
    sll_known = has_sll & ~link & np.isin(pkttype, (0, 1, 2, 3))
    bcast |= sll_known & (pkttype == 1)
    mcast |= sll_known & (pkttype == 2)
    link |= sll_known
    dst4, has4 = ints(ev, "ip.dst")
    by_ip = ~link & has4
    bcast |= by_ip & (dst4 == 0xFFFF_FFFF)
    mcast |= by_ip & ((dst4 >> 28) == 0xE)
    if "ipv6.dst" in ev.tbl.column_names:
        a = ev.tbl["ipv6.dst"].combine_chunks()
        has6 = np.asarray(a.is_valid().to_numpy(zero_copy_only=False), dtype=bool) & ~link & ~has4
        if has6.any():
            first = np.frombuffer(a.buffers()[1], dtype=np.uint8)[16 * a.offset:16 * (a.offset + n)][::16]
            mcast |= has6 & (first == 0xFF)
    return bcast, mcast & ~bcast


IDENTITY = (
    "ip.src", "ip.dst", "ip.proto", "ip.id", "ip.len", "ip.frag_offset", "ip.flags.mf",
    "ipv6.nxt", "ipv6.plen", "ipv6.flow", "ipv6.fragment.id", "ipv6.fragment.offset",
    "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags", "tcp.checksum",
    "udp.srcport", "udp.dstport", "udp.length", "udp.checksum",
    "icmp.type", "icmp.code", "icmp.ident", "icmp.seq", "icmp.checksum",
    "icmpv6.type", "icmpv6.code", "icmpv6.checksum",
)
"""The columns that are the same in every copy of a datagram a router forwards."""

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a bijection of 64-bit words that spreads every input bit."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _v6_words(ev: Evidence, name: str) -> list[np.ndarray]:
    n = ev.tbl.num_rows
    if name not in ev.tbl.column_names:
        return []
    a = ev.tbl[name].combine_chunks()
    if a.null_count == n or not (hasattr(a.type, "byte_width") and a.type.byte_width == 16):
        return []
    raw = np.frombuffer(a.buffers()[1], dtype=">u8")[2 * a.offset:2 * (a.offset + n)].reshape(n, 2)
    return [raw[:, 0].astype(np.uint64), raw[:, 1].astype(np.uint64)]


def datagram_hash(ev: Evidence) -> np.ndarray:
    """One 64-bit digest per packet of the columns :data:`IDENTITY` and the IPv6 addresses."""
    h = np.zeros(ev.tbl.num_rows, dtype=np.uint64)
    cols = [values(ev.tbl, name, np.int64) for name in IDENTITY]
    words = [v.astype(np.uint64) ^ (has.astype(np.uint64) << np.uint64(63)) for v, has in cols]
    words += _v6_words(ev, "ipv6.src") + _v6_words(ev, "ipv6.dst")
    with np.errstate(over="ignore"):
        for w in words:
            h = mix(h ^ w)
    return h
