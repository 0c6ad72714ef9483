"""IEEE 802.1Q / 802.1ad VLAN tags (stacked tags: the outer one is first)."""

from __future__ import annotations

from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F
from tracedoc.decode.layer import Layer, Next
from tracedoc.decode import eth

FIELDS = (
    F("vlan.priority", "u8", "Priority (PCP)"),
    F("vlan.dei", "bool", "Drop eligible indicator"),
    F("vlan.id", "u16", "VLAN identifier"),
    F("vlan.etype", "u16", "Type", "hex", 4),
    F("vlan.len", "u16", "Length"),
)
PRIO, DEI, ID, ETYPE, LEN = FIELDS


def dissect(ctx: Ctx, ly: Layer) -> list[Next]:
    ok = ctx.have(ly.idx, ly.pos, 4)
    if not ok.all():
        bad = ~ok
        ctx.cols.anomaly(ly.idx[bad], "vlan", ly.pos[bad], "truncated 802.1Q tag")
        ly = ly.take(ok)
    idx, pos = ly.idx, ly.pos
    tci = ctx.u16(pos)
    ctx.put(PRIO, idx, (tci >> 13).astype("u1"))
    ctx.put(DEI, idx, ((tci >> 12) & 1).astype(bool))
    ctx.put(ID, idx, tci & 0x0FFF)
    et = ctx.u16(pos + 2)
    is_len = et <= eth.MAX_802_3_LEN
    ctx.put(ETYPE, idx[~is_len], et[~is_len])
    ctx.put(LEN, idx[is_len], et[is_len])
    nxt = Layer(idx, pos + 4, None, ly.prefix, ly.depth + 1)
    return [Next("ethertype", et[~is_len], nxt.take(~is_len))] + eth.llc(ctx, nxt.take(is_len))
