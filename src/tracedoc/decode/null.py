"""BSD loopback encapsulation: LINKTYPE_NULL (address family in the capturing
host's byte order) and LINKTYPE_LOOP (network byte order)."""

from __future__ import annotations

import numpy as np

from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F
from tracedoc.decode.layer import Layer, Next

FIELDS = (F("null.family", "u32", "Family"),)
(FAMILY,) = FIELDS

# BSD AF_ values for IPv4 and the IPv6 values of the various BSDs and Linux.
AF_INET = 2
AF_INET6 = (10, 24, 28, 30)


def _families(ctx: Ctx, ly: Layer, fam: np.ndarray) -> list[Next]:
    idx, pos = ly.idx, ly.pos
    # Wireshark: a value above 1500 is an ethertype written by some stacks.
    big = fam > 1500
    ctx.put(FAMILY, idx[~big], fam[~big])
    key = np.zeros(len(idx), dtype=np.uint32)
    key[fam == AF_INET] = 0x0800
    key[np.isin(fam, AF_INET6)] = 0x86DD
    key[big] = fam[big]
    nxt = Layer(idx, pos + 4, None, ly.prefix, ly.depth + 1)
    return [Next("ethertype", key, nxt)]


def dissect(ctx: Ctx, ly: Layer) -> list[Next]:
    ok = ctx.have(ly.idx, ly.pos, 4)
    ly = ly.take(ok)
    v = ctx.u32le(ly.pos)
    # Host byte order: a value with zero low half was written big-endian.
    swapped = (v & 0xFFFF0000) != 0
    v = np.where(swapped & ((v & 0x0000FFFF) == 0), v.byteswap(), v)
    return _families(ctx, ly, v.astype(np.uint32))


def dissect_loop(ctx: Ctx, ly: Layer) -> list[Next]:
    ok = ctx.have(ly.idx, ly.pos, 4)
    ly = ly.take(ok)
    return _families(ctx, ly, ctx.u32(ly.pos))
