"""GRE (RFC 2784, RFC 2890 keys and sequence numbers; version 1 is PPTP's
enhanced GRE, RFC 2637)."""

from __future__ import annotations

import numpy as np

from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F
from tracedoc.decode.layer import Layer, Next

FIELDS = (
    F("gre.flags_and_version", "u16", "Flags and Version", "hex", 4),
    F("gre.proto", "u16", "Protocol Type", "hex", 4),
)
FLAGS, PROTO = FIELDS

GRE_PPP = 0x880B


def dissect(ctx: Ctx, ly: Layer) -> list[Next]:
    ok = ctx.have(ly.idx, ly.pos, 4)
    ly = ly.take(ok)
    idx, pos = ly.idx, ly.pos
    fv = ctx.u16(pos)
    proto = ctx.u16(pos + 2)
    ctx.put(FLAGS, idx, fv, ly.prefix)
    ctx.put(PROTO, idx, proto, ly.prefix)
    ver = fv & 7
    c = (fv >> 15) & 1
    k = (fv >> 13) & 1
    s = (fv >> 12) & 1
    a = (fv >> 7) & 1
    hdr = 4 + 4 * (c.astype(np.int64) + k + s) + np.where(ver == 1, 4 * a.astype(np.int64), 0)
    go = (ver == 0) | (ver == 1)
    key = proto.astype(np.uint32)
    nxt = Layer(idx[go], (pos + hdr)[go], None, ly.prefix, ly.depth + 1)
    return [Next("ethertype", key[go], nxt)]
