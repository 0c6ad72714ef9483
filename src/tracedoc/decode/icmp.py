"""ICMP (RFC 792).  Error messages quote the datagram that caused them; that
IP header and the first bytes of its transport header are decoded into the
``inner.`` columns, so an error can be tied to the flow it reports on."""

from __future__ import annotations

import numpy as np

from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F, INNER_PREFIX, Field
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


def header(ctx: Ctx, ly: Layer, fields: tuple[Field, Field, Field], layer: str, title: str) -> np.ndarray:
    """Type, code and checksum, the start ICMP and ICMPv6 share; returns
    the type byte of every packet."""
    idx, pos, px = ly.idx, ly.pos, ly.prefix
    for f, off, n, fn in zip(fields, (0, 1, 2), (1, 2, 4), (ctx.u8, ctx.u8, ctx.u16)):
        ok = ctx.have(idx, pos, n)
        ctx.put(f, idx[ok], fn(pos[ok] + off), px)
    if not px:
        short = ~ctx.have(idx, pos, 4)
        if short.any():
            ctx.cols.anomaly(idx[short], layer, pos[short], f"{title} header truncated")
    return ctx.u8(pos)


def quoted(ctx: Ctx, ly: Layer, err: np.ndarray, ethertype: int) -> list[Next]:
    """Hand the datagram an error message quotes (8 bytes in) to IP, under
    the ``inner.`` prefix.  Quotes are not followed inside quotes."""
    if ly.prefix or not err.any():
        return []
    inner = Layer(ly.idx[err], ly.pos[err] + 8, None, INNER_PREFIX, ly.depth + 1)
    return [Next("ethertype", np.full(len(inner.idx), ethertype, np.uint32), inner)]


def dissect(ctx: Ctx, ly: Layer) -> list[Next]:
    idx, pos, px = ly.idx, ly.pos, ly.prefix
    typ = header(ctx, ly, (TYPE, CODE, CHECKSUM), "icmp", "ICMP")
    ok8 = ctx.have(idx, pos, 8)
    echo = ok8 & np.isin(typ, ECHO_LIKE)
    ctx.put(IDENT, idx[echo], ctx.u16(pos[echo] + 4), px)
    ctx.put(SEQ, idx[echo], ctx.u16(pos[echo] + 6), px)
    mtu = ok8 & (typ == 3) & (ctx.u8(pos + 1) == 4)
    ctx.put(MTU, idx[mtu], ctx.u16(pos[mtu] + 6), px)
    redir = ok8 & (typ == 5)
    ctx.put(GW, idx[redir], ctx.u32(pos[redir] + 4), px)
    err = ok8 & np.isin(typ, ERROR_TYPES) & ctx.have(idx, pos, 9)
    return quoted(ctx, ly, err, 0x0800)
