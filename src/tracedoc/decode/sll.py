"""Linux "cooked" capture headers: SLL (LINKTYPE_LINUX_SLL) and SLL2."""

from __future__ import annotations

from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F
from tracedoc.decode.layer import Layer, Next
from tracedoc.decode import eth

FIELDS = (
    F("sll.pkttype", "u16", "Packet type"),
    F("sll.hatype", "u16", "Link-layer address type"),
    F("sll.halen", "u16", "Link-layer address length"),
    F("sll.src.eth", "ether", "Source (when the address is 6 bytes)"),
    F("sll.etype", "u16", "Protocol", "hex", 4),
    F("sll.ifindex", "u32", "Interface index (SLL2)"),
)
PKTTYPE, HATYPE, HALEN, SRC, ETYPE, IFINDEX = FIELDS

# sll.protocol values that are not ethertypes (linux/if_ether.h)
LINUX_SLL_P_802_3 = 0x0001   # Novell 802.3 frames without 802.2 LLC
LINUX_SLL_P_802_2 = 0x0004   # 802.2 LLC frames


def _hand_on(ctx: Ctx, ly: Layer, proto, hdr: int) -> list[Next]:
    idx, pos = ly.idx, ly.pos
    llc = proto == LINUX_SLL_P_802_2
    nxt = Layer(idx, pos + hdr, None, ly.prefix, ly.depth + 1)
    ethertype = proto > eth.MAX_802_3_LEN
    return [Next("ethertype", proto[ethertype], nxt.take(ethertype))] + eth.llc(ctx, nxt.take(llc))


def dissect(ctx: Ctx, ly: Layer) -> list[Next]:
    ok = ctx.have(ly.idx, ly.pos, 16)
    if not ok.all():
        ctx.cols.anomaly(ly.idx[~ok], "sll", ly.pos[~ok], "frame shorter than a cooked-capture header")
        ly = ly.take(ok)
    idx, pos = ly.idx, ly.pos
    ctx.put(PKTTYPE, idx, ctx.u16(pos))
    ctx.put(HATYPE, idx, ctx.u16(pos + 2))
    halen = ctx.u16(pos + 4)
    ctx.put(HALEN, idx, halen)
    six = halen == 6
    ctx.put(SRC, idx[six], ctx.mac(pos[six] + 6))
    proto = ctx.u16(pos + 14)
    ctx.put(ETYPE, idx, proto)
    return _hand_on(ctx, ly, proto, 16)


def dissect2(ctx: Ctx, ly: Layer) -> list[Next]:
    ok = ctx.have(ly.idx, ly.pos, 20)
    if not ok.all():
        ctx.cols.anomaly(ly.idx[~ok], "sll", ly.pos[~ok], "frame shorter than an SLL2 header")
        ly = ly.take(ok)
    idx, pos = ly.idx, ly.pos
    proto = ctx.u16(pos)
    ctx.put(ETYPE, idx, proto)
    ctx.put(IFINDEX, idx, ctx.u32(pos + 4))
    ctx.put(HATYPE, idx, ctx.u16(pos + 8))
    ctx.put(PKTTYPE, idx, ctx.u8(pos + 10).astype("u2"))
    halen = ctx.u8(pos + 11)
    ctx.put(HALEN, idx, halen.astype("u2"))
    six = halen == 6
    ctx.put(SRC, idx[six], ctx.mac(pos[six] + 12))
    return _hand_on(ctx, ly, proto, 20)
