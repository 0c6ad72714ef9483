"""IPv6 (RFC 8200) with its extension-header chain."""

from __future__ import annotations

import numpy as np

from tracedoc.decode import innermost, ipv4
from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F
from tracedoc.decode.layer import Layer, Next
from tracedoc.decode.reassemble import FragmentSet

FIELDS = (
    F("ipv6.version", "u8", "Version"),
    F("ipv6.tclass", "u8", "Traffic Class", "hex", 2),
    F("ipv6.flow", "u32", "Flow Label", "hex", 5),
    F("ipv6.plen", "u16", "Payload Length"),
    F("ipv6.nxt", "u8", "Next Header"),
    F("ipv6.hlim", "u8", "Hop Limit"),
    F("ipv6.src", "ipv6", "Source Address"),
    F("ipv6.dst", "ipv6", "Destination Address"),
    F("ipv6.fragment.offset", "u16", "Fragment offset (8-byte units)"),
    F("ipv6.fragment.more", "bool", "More Fragments"),
    F("ipv6.fragment.id", "u32", "Identification", "hex", 8),
)
VERSION, TCLASS, FLOW, PLEN, NXT, HLIM, SRC, DST, FRAG_OFF, FRAG_MORE, FRAG_ID = FIELDS

HOPOPTS, ROUTING, FRAGMENT, DSTOPTS, AH, MOBILITY, HIP, SHIM6 = 0, 43, 44, 60, 51, 135, 139, 140
EXT_8 = (HOPOPTS, ROUTING, DSTOPTS, MOBILITY, HIP, SHIM6)  # length in 8-octet units, not counting the first
MAX_EXT = 16


def dissect(ctx: Ctx, ly: Layer) -> list[Next]:
    idx, pos, px = ly.idx, ly.pos, ly.prefix
    ok = ctx.have(idx, pos, 40)
    if not ok.all():
        bad = ~ok
        ctx.cols.anomaly(idx[bad], "ipv6", pos[bad], "IPv6 header truncated")
        ok8 = ctx.have(idx, pos, 8)
        for f, off, fn in ((PLEN, 4, ctx.u16), (NXT, 6, ctx.u8), (HLIM, 7, ctx.u8)):
            ctx.put(f, idx[ok8], fn(pos[ok8] + off), px)
        ly = ly.take(ok)
        idx, pos = ly.idx, ly.pos
    w = ctx.u32(pos)
    ctx.put(VERSION, idx, (w >> 28).astype(np.uint8), px)
    # Wireshark's IPv6 dissector also shows the version under ip.version.
    ctx.put(ipv4.VERSION, idx, (w >> 28).astype(np.uint8), px)
    bad_v = (w >> 28) != 6
    if bad_v.any():
        ctx.cols.anomaly(idx[bad_v], "ipv6", pos[bad_v], "bogus IPv6 version")
        ly = ly.take(~bad_v)
        idx, pos, w = ly.idx, ly.pos, w[~bad_v]
    ctx.put(TCLASS, idx, ((w >> 20) & 0xFF).astype(np.uint8), px)
    ctx.put(FLOW, idx, w & 0xFFFFF, px)
    plen = ctx.u16(pos + 4).astype(np.int64)
    ctx.put(PLEN, idx, plen.astype(np.uint16), px)
    nxt = ctx.u8(pos + 6)
    ctx.put(NXT, idx, nxt, px)
    ctx.put(HLIM, idx, ctx.u8(pos + 7), px)
    innermost.note_ip(ctx, idx, ctx.bytes16(pos + 8), ctx.bytes16(pos + 24), plen + 40, px)
    ctx.put(SRC, idx, ctx.bytes16(pos + 8), px)
    ctx.put(DST, idx, ctx.bytes16(pos + 24), px)

    out: list[Next] = []
    cur = pos + 40
    left = plen.copy()
    nh = nxt.astype(np.int64)
    live = np.ones(len(idx), dtype=bool)
    for _ in range(MAX_EXT):
        ext = live & np.isin(nh, EXT_8 + (AH, FRAGMENT))
        if not ext.any():
            break
        ok2 = ctx.have(idx, cur, 2)
        trunc = ext & ~ok2
        if trunc.any():
            ctx.cols.anomaly(idx[trunc], "ipv6", cur[trunc], "extension header truncated")
            live &= ~trunc
            ext &= ok2
        hl = ctx.u8(cur + 1).astype(np.int64)
        length = np.where(nh == AH, (hl + 2) * 4, np.where(nh == FRAGMENT, 8, (hl + 1) * 8))
        is_frag = ext & (nh == FRAGMENT)
        if is_frag.any():
            fo = ctx.have(idx, cur, 8) & is_frag
            fw = ctx.u16(cur + 2)
            foff = fw >> 3
            more = (fw & 1).astype(bool)
            ctx.put(FRAG_OFF, idx[fo], foff[fo], px)
            ctx.put(FRAG_MORE, idx[fo], more[fo], px)
            ctx.put(FRAG_ID, idx[fo], ctx.u32(cur[fo] + 4), px)
            real = fo & ((foff != 0) | more)
            if real.any() and not px:
                srcs = [bytes(r) for r in ctx.bytes16(pos[real] + 8)]
                dsts = [bytes(r) for r in ctx.bytes16(pos[real] + 24)]
                fid = ctx.u32(cur[real] + 4).tolist()
                keys = [(6, s, d, i) for s, d, i in zip(srcs, dsts, fid)]
                ctx.fragments.append(FragmentSet(
                    idx[real], cur[real] + 8, (left - 8)[real], foff[real].astype(np.int64) * 8,
                    more[real], keys, ctx.u8(cur[real]).astype(np.int64)))
            if px:
                real &= foff != 0
            live &= ~real
        new_nh = ctx.u8(cur).astype(np.int64)
        nh = np.where(ext, new_nh, nh)
        cur = np.where(ext, cur + length, cur)
        left = np.where(ext, left - length, left)
    go = live & ~np.isin(nh, (59,))  # 59: no next header
    nly = Layer(idx[go], cur[go], left[go], px, ly.depth + 1)
    out.append(Next("ipproto", nh[go].astype(np.uint32), nly))
    return out
