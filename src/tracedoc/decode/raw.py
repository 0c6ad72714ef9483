"""Raw IP link types (LINKTYPE_RAW, DLT 12/14, LINKTYPE_IPV4/IPV6): the
version nibble says which IP it is."""

from __future__ import annotations

import numpy as np

from tracedoc.decode.context import Ctx
from tracedoc.decode.layer import Layer, Next

FIELDS = ()


def by_version(ctx: Ctx, ly: Layer) -> list[Next]:
    ok = ctx.have(ly.idx, ly.pos, 1)
    ly = ly.take(ok)
    ver = ctx.u8(ly.pos) >> 4
    key = np.where(ver == 6, 0x86DD, np.where(ver == 4, 0x0800, 0)).astype(np.uint32)
    return [Next("ethertype", key, Layer(ly.idx, ly.pos, None, ly.prefix, ly.depth + 1))]


def ipv4(ctx: Ctx, ly: Layer) -> list[Next]:
    return [Next("ethertype", np.full(len(ly.idx), 0x0800, np.uint32), ly)]


def ipv6(ctx: Ctx, ly: Layer) -> list[Next]:
    return [Next("ethertype", np.full(len(ly.idx), 0x86DD, np.uint32), ly)]
