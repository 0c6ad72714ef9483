"""ICMPv6 (RFC 4443).  Error messages (types 1-4) quote the offending IPv6
packet, decoded into the ``inner.`` columns."""

from __future__ import annotations

import numpy as np

from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F, INNER_PREFIX
from tracedoc.decode.layer import Layer, Next

FIELDS = (
    F("icmpv6.type", "u8", "Type"),
    F("icmpv6.code", "u8", "Code"),
    F("icmpv6.checksum", "u16", "Checksum", "hex", 4),
    F("icmpv6.mtu", "u32", "MTU"),
)
TYPE, CODE, CHECKSUM, MTU = FIELDS

ERROR_TYPES = (1, 2, 3, 4)


def dissect(ctx: Ctx, ly: Layer) -> list[Next]:
    idx, pos, px = ly.idx, ly.pos, ly.prefix
    ok1 = ctx.have(idx, pos, 1)
    ctx.put(TYPE, idx[ok1], ctx.u8(pos[ok1]), px)
    ok2 = ctx.have(idx, pos, 2)
    ctx.put(CODE, idx[ok2], ctx.u8(pos[ok2] + 1), px)
    ok4 = ctx.have(idx, pos, 4)
    ctx.put(CHECKSUM, idx[ok4], ctx.u16(pos[ok4] + 2), px)
    if not ok4.all() and not px:
        ctx.cols.anomaly(idx[~ok4], "icmpv6", pos[~ok4], "ICMPv6 header truncated")
    typ = ctx.u8(pos)
    ok8 = ctx.have(idx, pos, 8)
    too_big = ok8 & (typ == 2)
    ctx.put(MTU, idx[too_big], ctx.u32(pos[too_big] + 4), px)
    err = ok8 & np.isin(typ, ERROR_TYPES) & ctx.have(idx, pos, 9)
    if px or not err.any():
        return []
    inner = Layer(idx[err], pos[err] + 8, None, INNER_PREFIX, ly.depth + 1)
    return [Next("ethertype", np.full(len(inner.idx), 0x86DD, np.uint32), inner)]
