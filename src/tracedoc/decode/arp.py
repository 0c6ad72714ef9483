"""ARP (RFC 826)."""

from __future__ import annotations

import numpy as np

from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F
from tracedoc.decode.layer import Layer, Next

FIELDS = (
    F("arp.hw.type", "u16", "Hardware type"),
    F("arp.proto.type", "u16", "Protocol type", "hex", 4),
    F("arp.hw.size", "u8", "Hardware size"),
    F("arp.proto.size", "u8", "Protocol size"),
    F("arp.opcode", "u16", "Opcode"),
    F("arp.src.hw_mac", "ether", "Sender MAC address"),
    F("arp.src.proto_ipv4", "ipv4", "Sender IP address"),
    F("arp.dst.hw_mac", "ether", "Target MAC address"),
    F("arp.dst.proto_ipv4", "ipv4", "Target IP address"),
)
HW_TYPE, PROTO_TYPE, HW_SIZE, PROTO_SIZE, OPCODE, SRC_MAC, SRC_IP, DST_MAC, DST_IP = FIELDS


def dissect(ctx: Ctx, ly: Layer) -> list[Next]:
    ok = ctx.have(ly.idx, ly.pos, 8)
    if not ok.all():
        ctx.cols.anomaly(ly.idx[~ok], "arp", ly.pos[~ok], "truncated ARP header")
        ly = ly.take(ok)
    idx, pos = ly.idx, ly.pos
    hrd = ctx.u16(pos)
    pro = ctx.u16(pos + 2)
    hln = ctx.u8(pos + 4).astype(np.int64)
    pln = ctx.u8(pos + 5).astype(np.int64)
    ctx.put(HW_TYPE, idx, hrd)
    ctx.put(PROTO_TYPE, idx, pro)
    ctx.put(HW_SIZE, idx, hln)
    ctx.put(PROTO_SIZE, idx, pln)
    ctx.put(OPCODE, idx, ctx.u16(pos + 6))
    whole = ctx.have(idx, pos, 8 + 2 * (hln + pln))
    if not whole.all():
        ctx.cols.anomaly(idx[~whole], "arp", pos[~whole], "ARP addresses run past the captured data")
    # Wireshark (packet-arp.c ARP_HW_IS_ETHER / ARP_PRO_IS_IPv4) shows MACs
    # for 6-byte addresses of hardware type Ethernet (1) or IEEE 802 (6), and
    # IPv4 for 4-byte protocol addresses of type IP (0x0800) or AX.25's (0xCC).
    mac = whole & (hln == 6) & ((hrd == 1) | (hrd == 6))
    ip4 = whole & (pln == 4) & ((pro == 0x0800) | (pro == 0x00CC))
    a = pos + 8
    ctx.put(SRC_MAC, idx[mac], ctx.mac(a[mac]))
    ctx.put(SRC_IP, idx[ip4], ctx.u32(a[ip4] + hln[ip4]))
    b = a + hln + pln
    ctx.put(DST_MAC, idx[mac], ctx.mac(b[mac]))
    ctx.put(DST_IP, idx[ip4], ctx.u32(b[ip4] + hln[ip4]))
    return []
