"""Ethernet II and IEEE 802.3 with 802.2 LLC / SNAP (IEEE 802.3, RFC 1042)."""

from __future__ import annotations

import numpy as np

from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F
from tracedoc.decode.layer import Layer, Next

FIELDS = (
    F("eth.dst", "ether", "Destination"),
    F("eth.src", "ether", "Source"),
    F("eth.type", "u16", "Type", "hex", 4),
    F("eth.len", "u16", "Length (IEEE 802.3)"),
    F("llc.dsap", "u8", "DSAP", "hex", 2),
    F("llc.ssap", "u8", "SSAP", "hex", 2),
    F("llc.type", "u16", "SNAP Type", "hex", 4),
)
DST, SRC, TYPE, LEN, DSAP, SSAP, SNAP_TYPE = FIELDS

MAX_802_3_LEN = 1500
ETHERTYPE_FABRICPATH = 0x8903
FABRICPATH_HDR = 16


def dissect(ctx: Ctx, ly: Layer) -> list[Next]:
    idx, pos = ly.idx, ly.pos
    ok = ctx.have(idx, pos, 14)
    if not ok.all():
        ctx.cols.anomaly(idx[~ok], "eth", pos[~ok], "frame shorter than an Ethernet header")
        # Wireshark still shows the addresses it has.
        part = ctx.have(idx, pos, 6)
        ctx.put(DST, idx[part], ctx.mac(pos[part]))
        part12 = ctx.have(idx, pos, 12)
        ctx.put(SRC, idx[part12], ctx.mac(pos[part12] + 6))
        ly = ly.take(ok)
        idx, pos = ly.idx, ly.pos
    etype = ctx.u16(pos + 12)
    out: list[Next] = []
    fp = (etype == ETHERTYPE_FABRICPATH) & ctx.have(idx, pos, FABRICPATH_HDR + 14)
    if fp.any():
        # Cisco FabricPath: Wireshark takes the outer header as FabricPath's
        # own (switch ids, FTag, TTL) and shows the inner frame as Ethernet.
        out += dissect(ctx, Layer(idx[fp], pos[fp] + FABRICPATH_HDR, None, ly.prefix, ly.depth + 1))
        ly = ly.take(~fp)
        idx, pos, etype = ly.idx, ly.pos, etype[~fp]
    ctx.put(DST, idx, ctx.mac(pos))
    ctx.put(SRC, idx, ctx.mac(pos + 6))
    is_len = etype <= MAX_802_3_LEN
    ii = ~is_len
    ctx.put(TYPE, idx[ii], etype[ii])
    out.append(Next("ethertype", etype[ii], Layer(idx[ii], pos[ii] + 14, None, ly.prefix, ly.depth + 1)))
    if is_len.any():
        li, lp = idx[is_len], pos[is_len]
        ctx.put(LEN, li, etype[is_len])
        out += llc(ctx, Layer(li, lp + 14, None, ly.prefix, ly.depth + 1))
    return out


def llc(ctx: Ctx, ly: Layer) -> list[Next]:
    """802.2 LLC; SNAP with OUI 0 carries an ethertype."""
    idx, pos = ly.idx, ly.pos
    ok = ctx.have(idx, pos, 3)
    idx, pos = idx[ok], pos[ok]
    dsap = ctx.u8(pos)
    ssap = ctx.u8(pos + 1)
    ctx.put(DSAP, idx, dsap)
    ctx.put(SSAP, idx, ssap)
    snap = (dsap == 0xAA) & (ssap == 0xAA) & ctx.have(idx, pos, 8)
    si, sp = idx[snap], pos[snap]
    oui = (ctx.u16(sp + 3).astype(np.uint32) << 8) | ctx.u8(sp + 5)
    st = ctx.u16(sp + 6)
    ctx.put(SNAP_TYPE, si, st)
    enc = oui == 0
    return [Next("ethertype", st[enc], Layer(si[enc], sp[enc] + 8, None, ly.prefix, ly.depth + 1))]
