"""Who talks to whom in each packet: the addresses and ports conversations
are keyed on.

Wireshark keys a conversation (a TCP stream, a DNS transaction, a row of the
conversation table) on the innermost IP header of the packet and the
transport header after it, so a TCP connection carried in GRE, VXLAN or
Teredo is the inner connection, not the tunnel.  The packet table keeps
those innermost values in ``tracedoc.tunnel.*`` on tunnelled frames (see
:mod:`tracedoc.decode.innermost`) and the ordinary ``ip``/``ipv6``/``tcp``/
``udp`` columns elsewhere; :func:`ends` merges them into one set of arrays.
Addresses are 16 bytes, IPv4 as IPv4-mapped IPv6 (``::ffff:a.b.c.d``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tracedoc.analyze.columns import values
from tracedoc.decode.innermost import mapped

NEEDS = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport",
         "tracedoc.tunnel.src", "tracedoc.tunnel.dst", "tracedoc.tunnel.proto", "tracedoc.tunnel.srcport",
         "tracedoc.tunnel.dstport"]
"""The packet-table columns :func:`ends` reads."""

V4_PREFIX = bytes(10) + b"\xff\xff"


@dataclass
class Ends:
    src: np.ndarray
    """(n, 16) uint8: the innermost source address (zeros where none)."""
    dst: np.ndarray
    has_ip: np.ndarray
    """bool: the packet has an IP header."""
    is_v4: np.ndarray
    """bool: the innermost IP header is IPv4."""
    proto: np.ndarray
    """int64: 6 (TCP) or 17 (UDP) when the innermost IP header carries one, else 0."""
    sport: np.ndarray
    """int64: ports of that TCP/UDP header, -1 where there is none."""
    dport: np.ndarray
    tunnelled: np.ndarray
    """bool: the frame has more than one IP header."""


def _fixed(tbl: pa.Table, name: str, width: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A column as numpy (integers as int64, ``width``-byte binaries as an
    (n, width) uint8 array), zero where null, and its validity; a column the
    table lacks is all null."""
    if not width:
        return values(tbl, name, np.int64)
    n = tbl.num_rows
    if name not in tbl.column_names or tbl[name].null_count == n:
        return np.zeros((n, width), np.uint8), np.zeros(n, dtype=bool)
    a = tbl[name].combine_chunks()
    valid = np.asarray(a.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    # Fixed-size binary: one buffer of n * width bytes (null slots zeroed).
    data = np.frombuffer(a.buffers()[1], dtype=np.uint8)[a.offset * width:(a.offset + n) * width]
    out = data.reshape(n, width).copy()
    out[~valid] = 0
    return out, valid


def ends(tbl: pa.Table) -> Ends:
    """The conversation ends of every packet of ``tbl``."""
    s4, has4 = _fixed(tbl, "ip.src")
    d4, _ = _fixed(tbl, "ip.dst")
    s6, has6 = _fixed(tbl, "ipv6.src", 16)
    d6, _ = _fixed(tbl, "ipv6.dst", 16)
    ts, tun = _fixed(tbl, "tracedoc.tunnel.src", 16)
    td, _ = _fixed(tbl, "tracedoc.tunnel.dst", 16)
    src = np.where(has4[:, None], mapped(s4), s6)
    dst = np.where(has4[:, None], mapped(d4), d6)
    src[tun] = ts[tun]
    dst[tun] = td[tun]
    is_v4 = np.where(tun, (src[:, :12] == np.frombuffer(V4_PREFIX, np.uint8)).all(axis=1), has4)
    tsp, has_t = _fixed(tbl, "tcp.srcport")
    tdp, _ = _fixed(tbl, "tcp.dstport")
    usp, has_u = _fixed(tbl, "udp.srcport")
    udp_dp, _ = _fixed(tbl, "udp.dstport")
    proto = np.where(has_t, 6, np.where(has_u, 17, 0)).astype(np.int64)
    sport = np.where(has_t, tsp, np.where(has_u, usp, -1))
    dport = np.where(has_t, tdp, np.where(has_u, udp_dp, -1))
    tp, has_tp = _fixed(tbl, "tracedoc.tunnel.proto")
    tsp2, _ = _fixed(tbl, "tracedoc.tunnel.srcport")
    tdp2, _ = _fixed(tbl, "tracedoc.tunnel.dstport")
    # Behind a tunnel the transport is the one after the innermost IP header,
    # or none (a tunnelled ICMP message, say): not the tunnel's own UDP.
    proto = np.where(tun, np.where(has_tp, tp, 0), proto)
    sport = np.where(tun, np.where(has_tp, tsp2, -1), sport)
    dport = np.where(tun, np.where(has_tp, tdp2, -1), dport)
    return Ends(src, dst, has4 | has6 | tun, is_v4, proto, sport, dport, tun)


def address_text(addr: bytes) -> str:
    """An address of :class:`Ends` as text (IPv4 dotted, IPv6 compressed)."""
    if addr[:12] == V4_PREFIX:
        return str(ipaddress.IPv4Address(addr[12:]))
    return str(ipaddress.IPv6Address(addr))
