"""UDP (RFC 768)."""

from __future__ import annotations

import numpy as np

from tracedoc.decode import innermost
from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F
from tracedoc.decode.layer import Layer, Next

FIELDS = (
    F("udp.srcport", "u16", "Source Port"),
    F("udp.dstport", "u16", "Destination Port"),
    F("udp.length", "u16", "Length"),
    F("udp.checksum", "u16", "Checksum", "hex", 4),
    F("udp.payload_offset", "u16", "Offset of the payload in the frame"),
)
SRCPORT, DSTPORT, LENGTH, CHECKSUM, PAYLOAD_OFF = FIELDS


def dissect(ctx: Ctx, ly: Layer) -> list[Next]:
    idx, pos, px = ly.idx, ly.pos, ly.prefix
    for f, off in ((SRCPORT, 0), (DSTPORT, 2), (LENGTH, 4), (CHECKSUM, 6)):
        ok = ctx.have(idx, pos, off + 2)
        ctx.put(f, idx[ok], ctx.u16(pos[ok] + off), px)
    ok = ctx.have(idx, pos, 8)
    if not ok.all() and not px:
        ctx.cols.anomaly(idx[~ok], "udp", pos[~ok], "UDP header truncated")
    innermost.note_ports(ctx, idx[ok], ctx.u16(pos[ok]), ctx.u16(pos[ok] + 2), 17, px, ctx.u16(pos[ok] + 4))
    if px:
        if ctx.payloads is not None:
            # A datagram an ICMP error quotes: tshark decodes its payload too.
            _app_payloads(ctx, ctx.payloads.quoted_udp, idx[ok], pos[ok])
        return []
    ctx.put(PAYLOAD_OFF, idx[ok], (pos + 8 - ctx.start[idx])[ok].astype("u2"))
    # Encapsulations are found by port: the lower one first, as Wireshark does.
    from tracedoc.decode.dispatch import UDPPORT

    # A length under 8 is bogus (Wireshark: "Bad length value"): no payload.
    ok &= ctx.u16(pos + 4) >= 8
    i, p = idx[ok], pos[ok]
    sp, dp = ctx.u16(p), ctx.u16(p + 2)
    lo, hi = np.minimum(sp, dp), np.maximum(sp, dp)
    key = np.where(np.isin(lo, list(UDPPORT)), lo, np.where(np.isin(hi, list(UDPPORT)), hi, 0))
    go = key != 0
    if ctx.payloads is not None:
        # Everything not carrying another packet goes to the application pass.
        _app_payloads(ctx, ctx.payloads.udp, i[~go], p[~go])
    if not go.any():
        return []
    return [Next("udpport", key[go].astype(np.uint32), Layer(i[go], p[go] + 8, None, px, ly.depth + 1))]


def _app_payloads(ctx: Ctx, into: list, idx: np.ndarray, pos: np.ndarray) -> None:
    """Datagrams with a payload, for the application pass: (rows, payload
    position, captured length, ports, length the UDP header states)."""
    wire = ctx.u16(pos + 4).astype(np.int64) - 8
    plen = np.minimum(wire, ctx.end[idx] - (pos + 8))
    has = plen > 0
    if has.any():
        i, p = idx[has], pos[has]
        into.append((i, p + 8, plen[has], ctx.u16(p), ctx.u16(p + 2), wire[has]))
