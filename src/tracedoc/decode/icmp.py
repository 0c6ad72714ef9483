"""ICMP (RFC 792).  Error messages quote the datagram that caused them; that
IP header and the first bytes of its transport header are decoded into the
``inner.`` columns, so an error can be tied to the flow it reports on."""

from __future__ import annotations

import numpy as np

from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F, INNER_PREFIX
from tracedoc.decode.layer import Layer, Next

FIELDS = (
    F("icmp.type", "u8", "Type"),
    F("icmp.code", "u8", "Code"),
    F("icmp.checksum", "u16", "Checksum", "hex", 4),
    F("icmp.ident", "u16", "Identifier (BE)"),
    F("icmp.seq", "u16", "Sequence Number (BE)"),
    F("icmp.mtu", "u16", "MTU of next hop"),
    F("icmp.redir_gw", "ipv4", "Gateway Address"),
)
TYPE, CODE, CHECKSUM, IDENT, SEQ, MTU, GW = FIELDS

ERROR_TYPES = (3, 4, 5, 11, 12)
ECHO_LIKE = (0, 8, 13, 14, 15, 16, 17, 18)


def dissect(ctx: Ctx, ly: Layer) -> list[Next]:
    idx, pos, px = ly.idx, ly.pos, ly.prefix
    ok1 = ctx.have(idx, pos, 1)
    ctx.put(TYPE, idx[ok1], ctx.u8(pos[ok1]), px)
    ok2 = ctx.have(idx, pos, 2)
    ctx.put(CODE, idx[ok2], ctx.u8(pos[ok2] + 1), px)
    ok4 = ctx.have(idx, pos, 4)
    ctx.put(CHECKSUM, idx[ok4], ctx.u16(pos[ok4] + 2), px)
    if not ok4.all() and not px:
        ctx.cols.anomaly(idx[~ok4], "icmp", pos[~ok4], "ICMP header truncated")
    typ = ctx.u8(pos)
    ok8 = ctx.have(idx, pos, 8)
    echo = ok8 & np.isin(typ, ECHO_LIKE)
    ctx.put(IDENT, idx[echo], ctx.u16(pos[echo] + 4), px)
    ctx.put(SEQ, idx[echo], ctx.u16(pos[echo] + 6), px)
    mtu = ok8 & (typ == 3) & (ctx.u8(pos + 1) == 4)
    ctx.put(MTU, idx[mtu], ctx.u16(pos[mtu] + 6), px)
    redir = ok8 & (typ == 5)
    ctx.put(GW, idx[redir], ctx.u32(pos[redir] + 4), px)
    err = ok8 & np.isin(typ, ERROR_TYPES) & ctx.have(idx, pos, 9)
    if px or not err.any():
        return []
    inner = Layer(idx[err], pos[err] + 8, None, INNER_PREFIX, ly.depth + 1)
    return [Next("ethertype", np.full(len(inner.idx), 0x0800, np.uint32), inner)]
