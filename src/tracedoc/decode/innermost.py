"""The innermost IP header and transport ports of a tunnelled frame.

The packet table keeps the first occurrence of each field, so in a frame
with several IP headers (IP-in-IP, GRE, VXLAN, Teredo, GTP-U, ERSPAN, ...)
``ip.src``/``ipv6.src`` and a repeated ``udp.srcport`` name the tunnel, not
the conversation inside it.  Wireshark keys conversations (TCP streams, DNS
transactions, the conversation table) on the innermost addresses, so these
columns keep them: set only on frames with more than one IP header, from
the last IP header decoded (either family; IPv4 stored IPv4-mapped,
``::ffff:a.b.c.d``) and the TCP or UDP header after it.  Headers quoted in
ICMP errors are not tunnels and do not count.
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
)
SRC, DST, PROTO, SRCPORT, DSTPORT = FIELDS

_OUTER = ("ip.src", "ipv6.src")


def mapped(v4: np.ndarray) -> np.ndarray:
    """IPv4 addresses (uint32) as 16-byte IPv4-mapped IPv6 addresses."""
    out = np.zeros((len(v4), 16), dtype=np.uint8)
    out[:, 10:12] = 0xFF
    out[:, 12:] = v4.astype(">u4").view(np.uint8).reshape(-1, 4)
    return out


def note_ip(ctx: Ctx, idx: np.ndarray, src16: np.ndarray, dst16: np.ndarray, prefix: str) -> None:
    """An IP header's addresses, before the header's own columns are put:
    rows that already have an IP header are tunnelled, and this one is
    (so far) their innermost."""
    if prefix or len(idx) == 0:
        return
    valid = ctx.cols.valid
    seen = np.zeros(len(idx), dtype=bool)
    for name in _OUTER:
        if name in valid:
            seen |= valid[name][idx]
    if ctx.inside_ip is not None:
        seen |= ctx.inside_ip[idx]
    if seen.any():
        rows = idx[seen]
        ctx.cols.put_last(SRC, rows, src16[seen])
        ctx.cols.put_last(DST, rows, dst16[seen])


def note_ports(ctx: Ctx, idx: np.ndarray, sport: np.ndarray, dport: np.ndarray, proto: int, prefix: str) -> None:
    """A TCP or UDP header: on a tunnelled row it follows the innermost IP header."""
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
