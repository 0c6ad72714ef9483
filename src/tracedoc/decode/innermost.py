"""The innermost IP header and transport ports of a tunnelled frame.

The packet table keeps the first occurrence of each field, so in a frame
with several IP headers (IP-in-IP, GRE, VXLAN, Teredo, GTP-U, ERSPAN, ...)
``ip.src``/``ipv6.src`` and a repeated ``udp.srcport`` name the tunnel, not
the conversation inside it.  Wireshark keys conversations (TCP streams, DNS
transactions, the conversation table) on the innermost addresses, so these
columns keep them: set only on frames with more than one IP header, from
the last IP header decoded (either family; IPv4 stored IPv4-mapped,
``::ffff:a.b.c.d``), its total length, and the TCP or UDP header right after
it (none when something else follows, e.g. ICMP or a Teredo bubble).

A tunnel inside a tunnel (VXLAN in Geneve, Teredo in GTP-U) has a UDP
carrier that is neither the frame's first UDP header nor the innermost:
``tracedoc.carrier.*`` keep the IP and UDP header of the UDP tunnel that
carries the innermost IP header when that IP header is not the frame's
outermost one.  Zeek logs each UDP tunnel layer as a connection of its own,
so the Session Summary needs them.  Headers quoted in ICMP errors are not
tunnels and do not count.
"""

from __future__ import annotations

import numpy as np

from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F

FIELDS = (
    F("tracedoc.tunnel.src", "ipv6", "Innermost IP source address (IPv4 as ::ffff:a.b.c.d)"),
    F("tracedoc.tunnel.dst", "ipv6", "Innermost IP destination address (IPv4 as ::ffff:a.b.c.d)"),
    F("tracedoc.tunnel.proto", "u8", "Transport protocol after the innermost IP header (6 TCP, 17 UDP)"),
    F("tracedoc.tunnel.srcport", "u16", "Source port after the innermost IP header"),
    F("tracedoc.tunnel.dstport", "u16", "Destination port after the innermost IP header"),
    F("tracedoc.tunnel.len", "u32", "Total length of the innermost IP datagram (IPv6: 40 + payload length)"),
    F("tracedoc.tunnel.udp_len", "u16", "Length of the UDP header after the innermost IP header"),
    F("tracedoc.carrier.src", "ipv6", "Source address of a nested UDP tunnel carrying the innermost IP header"),
    F("tracedoc.carrier.dst", "ipv6", "Destination address of a nested UDP tunnel carrying the innermost IP header"),
    F("tracedoc.carrier.srcport", "u16", "Source port of a nested UDP tunnel carrying the innermost IP header"),
    F("tracedoc.carrier.dstport", "u16", "Destination port of a nested UDP tunnel carrying the innermost IP header"),
    F("tracedoc.carrier.len", "u32", "Total length of the IP datagram of that nested UDP tunnel"),
    F("tracedoc.carrier.udp_len", "u16", "Length of the UDP header of that nested UDP tunnel"),
)
(SRC, DST, PROTO, SRCPORT, DSTPORT, LEN, UDP_LEN, C_SRC, C_DST, C_SRCPORT, C_DSTPORT, C_LEN,
 C_UDP_LEN) = FIELDS
# What a nested UDP tunnel's headers were while they were the innermost.
_CARRIER = ((C_SRC, SRC), (C_DST, DST), (C_SRCPORT, SRCPORT), (C_DSTPORT, DSTPORT), (C_LEN, LEN), (C_UDP_LEN, UDP_LEN))

_OUTER = ("ip.src", "ipv6.src")


def mapped(v4: np.ndarray) -> np.ndarray:
    """IPv4 addresses (uint32) as 16-byte IPv4-mapped IPv6 addresses."""
    out = np.zeros((len(v4), 16), dtype=np.uint8)
    out[:, 10:12] = 0xFF
    out[:, 12:] = v4.astype(">u4").view(np.uint8).reshape(-1, 4)
    return out


def note_ip(ctx: Ctx, idx: np.ndarray, src16: np.ndarray, dst16: np.ndarray, length: np.ndarray,
            prefix: str) -> None:
    """An IP header's addresses and total length, before the header's own
    columns are put: rows that already have an IP header are tunnelled, and
    this one is (so far) their innermost.  A previous innermost header that
    was followed by UDP becomes the carrier; the transport after this one is
    not known yet."""
    if prefix or len(idx) == 0:
        return
    cols = ctx.cols
    valid = cols.valid
    seen = np.zeros(len(idx), dtype=bool)
    for name in _OUTER:
        if name in valid:
            seen |= valid[name][idx]
    if ctx.inside_ip is not None:
        seen |= ctx.inside_ip[idx]
    if not seen.any():
        return
    rows = idx[seen]
    if PROTO.name in valid and SRC.name in valid:
        udp = valid[PROTO.name][rows] & (cols.values[PROTO.name][rows] == 17) & valid[SRC.name][rows]
        if udp.any():
            c = rows[udp]
            for to, frm in _CARRIER:
                if frm.name in valid:
                    have = valid[frm.name][c]
                    cols.put_last(to, c[have], cols.values[frm.name][c[have]])
        for f in (PROTO, SRCPORT, DSTPORT, UDP_LEN):
            if f.name in valid:
                valid[f.name][rows] = False
    cols.put_last(SRC, rows, src16[seen])
    cols.put_last(DST, rows, dst16[seen])
    cols.put_last(LEN, rows, length[seen])


def note_ports(ctx: Ctx, idx: np.ndarray, sport: np.ndarray, dport: np.ndarray, proto: int, prefix: str,
               udp_len: np.ndarray | None = None) -> None:
    """A TCP or UDP header (with the UDP length field): on a tunnelled row it
    follows the innermost IP header."""
    if prefix or len(idx) == 0:
        return
    inner = np.zeros(len(idx), dtype=bool)
    if SRC.name in ctx.cols.valid:
        inner |= ctx.cols.valid[SRC.name][idx]
    if ctx.inside_tunnel is not None:
        inner |= ctx.inside_tunnel[idx]
    if inner.any():
        rows = idx[inner]
        ctx.cols.put_last(PROTO, rows, np.full(len(rows), proto, dtype=np.uint8))
        ctx.cols.put_last(SRCPORT, rows, sport[inner])
        ctx.cols.put_last(DSTPORT, rows, dport[inner])
        if udp_len is not None:
            ctx.cols.put_last(UDP_LEN, rows, udp_len[inner])
