"""ICMPv6 (RFC 4443).  Error messages (types 1-4) quote the offending IPv6
packet, decoded into the ``inner.`` columns."""

from __future__ import annotations

import numpy as np

from tracedoc.decode import icmp
from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F
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
    typ = icmp.header(ctx, ly, (TYPE, CODE, CHECKSUM), "icmpv6", "ICMPv6")
    ok8 = ctx.have(idx, pos, 8)
    too_big = ok8 & (typ == 2)
    ctx.put(MTU, idx[too_big], ctx.u32(pos[too_big] + 4), px)
    err = ok8 & np.isin(typ, ERROR_TYPES) & ctx.have(idx, pos, 9)
    return icmp.quoted(ctx, ly, err, 0x86DD)
