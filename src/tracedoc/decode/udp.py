"""UDP (RFC 768)."""

from __future__ import annotations

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
    if not px:
        ctx.put(PAYLOAD_OFF, idx[ok], (pos + 8 - ctx.start[idx])[ok].astype("u2"))
    return []
