"""IPsec headers that leave the payload readable: AH (RFC 4302) under IPv4
(under IPv6 it is walked with the extension headers), and IPComp (RFC 3173)
whose DEFLATE payload (RFC 2394) is decompressed and decoded, as Wireshark
does.  ESP payloads are encrypted and end the decode."""

from __future__ import annotations

import zlib

import numpy as np

from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F
from tracedoc.decode.layer import Layer, Next

FIELDS = (
    F("ah.spi", "u32", "AH SPI", "hex", 8),
    F("esp.spi", "u32", "ESP SPI", "hex", 8),
    F("ipcomp.cpi", "u16", "IPComp CPI", "hex", 4),
)
AH_SPI, ESP_SPI, IPCOMP_CPI = FIELDS

CPI_DEFLATE = 2
MAX_INFLATED = 65535


def ah(ctx: Ctx, ly: Layer) -> list[Next]:
    ok = ctx.have(ly.idx, ly.pos, 8)
    ly = ly.take(ok)
    idx, pos = ly.idx, ly.pos
    ctx.put(AH_SPI, idx, ctx.u32(pos + 4), ly.prefix)
    length = (ctx.u8(pos + 1).astype(np.int64) + 2) * 4
    plen = None if ly.plen is None else ly.plen - length
    return [Next("ipproto", ctx.u8(pos).astype(np.uint32), Layer(idx, pos + length, plen, ly.prefix, ly.depth + 1))]


def esp(ctx: Ctx, ly: Layer) -> list[Next]:
    ok = ctx.have(ly.idx, ly.pos, 4)
    ctx.put(ESP_SPI, ly.idx[ok], ctx.u32(ly.pos[ok]), ly.prefix)
    return []


def ipcomp(ctx: Ctx, ly: Layer) -> list[Next]:
    ok = ctx.have(ly.idx, ly.pos, 4)
    ly = ly.take(ok)
    idx, pos = ly.idx, ly.pos
    cpi = ctx.u16(pos + 2)
    ctx.put(IPCOMP_CPI, idx, cpi, ly.prefix)
    if ly.prefix:
        return []
    nh = ctx.u8(pos)
    ends = np.minimum(ctx.end[idx], pos + ly.plen) if ly.plen is not None else ctx.end[idx]
    # Negotiated CPIs (256 and up) do not say the algorithm; DEFLATE, the one
    # every implementation has, is tried on them too, as Wireshark does.
    for i in np.flatnonzero((cpi == CPI_DEFLATE) | (cpi >= 256)).tolist():
        raw = ctx.data[int(pos[i]) + 4:int(ends[i])].tobytes()
        try:
            d = zlib.decompressobj(-15)
            out = d.decompress(raw, MAX_INFLATED)
        except zlib.error:
            if cpi[i] == CPI_DEFLATE:
                ctx.cols.anomaly(idx[i:i + 1], "ipcomp", pos[i:i + 1] + 4, "DEFLATE payload does not decompress")
            continue
        ctx.rebuilt.append((int(idx[i]), int(nh[i]), out))
    return []
