"""Encapsulations that carry a whole Ethernet frame or IP packet again:
VXLAN (RFC 7348), Geneve (RFC 8926), GTP-U (3GPP TS 29.281), Teredo
(RFC 4380), ERSPAN (types I-III), 802.1ah PBB, and Arista's timestamp
header.  Each hands on to the ordinary dispatch."""

from __future__ import annotations

import numpy as np

from tracedoc.decode import raw
from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F
from tracedoc.decode.layer import Layer, Next

FIELDS = (
    F("vxlan.vni", "u32", "VXLAN Network Identifier (VNI)"),
    F("geneve.vni", "u32", "Virtual Network Identifier (VNI)"),
    F("gtp.teid", "u32", "TEID", "hex", 8),
    F("gtp.message", "u8", "Message Type", "hex", 2),
    F("erspan.spanid", "u16", "SpanID"),
    F("pbb.isid", "u32", "I-SID"),
)
VXLAN_VNI, GENEVE_VNI, GTP_TEID, GTP_MSG, ERSPAN_SPANID, PBB_ISID = FIELDS

ETH = 0x6558  # "transparent Ethernet bridging": the ethertype that means Ethernet


def _on(ly: Layer, mask: np.ndarray, pos: np.ndarray) -> Layer:
    return Layer(ly.idx[mask], pos[mask], None, ly.prefix, ly.depth + 1)


def vxlan(ctx: Ctx, ly: Layer) -> list[Next]:
    ok = ctx.have(ly.idx, ly.pos, 8)
    ly = ly.take(ok)
    ctx.put(VXLAN_VNI, ly.idx, ctx.u32(ly.pos + 4) >> 8, ly.prefix)
    n = len(ly.idx)
    return [Next("ethertype", np.full(n, ETH, np.uint32), _on(ly, np.ones(n, bool), ly.pos + 8))]


def geneve(ctx: Ctx, ly: Layer) -> list[Next]:
    ok = ctx.have(ly.idx, ly.pos, 8)
    ly = ly.take(ok)
    ver = ctx.u8(ly.pos) >> 6
    optlen = (ctx.u8(ly.pos) & 0x3F).astype(np.int64) * 4
    proto = ctx.u16(ly.pos + 2).astype(np.uint32)
    ctx.put(GENEVE_VNI, ly.idx, ctx.u32(ly.pos + 4) >> 8, ly.prefix)
    go = ver == 0
    return [Next("ethertype", proto[go], _on(ly, go, ly.pos + 8 + optlen))]


def gtp_u(ctx: Ctx, ly: Layer) -> list[Next]:
    """GTPv1-U: a G-PDU (message type 255) carries an IP packet."""
    ok = ctx.have(ly.idx, ly.pos, 8)
    ly = ly.take(ok)
    idx, pos = ly.idx, ly.pos
    flags = ctx.u8(pos)
    ver = flags >> 5
    pt = (flags >> 4) & 1
    msg = ctx.u8(pos + 1)
    v1 = (ver == 1) & (pt == 1)
    ctx.put(GTP_MSG, idx[v1], msg[v1], ly.prefix)
    ctx.put(GTP_TEID, idx[v1], ctx.u32(pos[v1] + 4), ly.prefix)
    opt = (flags & 0x07) != 0
    cur = pos + 8 + 4 * opt
    # Extension headers: the last byte of the optional part names the first;
    # each is (length in 4-octet units, ..., next type).
    nxt = np.where(opt & ((flags & 0x04) != 0), ctx.u8(pos + 11), 0).astype(np.int64)
    live = v1 & (msg == 0xFF)
    for _ in range(8):
        more = live & (nxt != 0)
        if not more.any():
            break
        okh = ctx.have(idx, cur, 1)
        ln = ctx.u8(cur).astype(np.int64) * 4
        bad = more & (~okh | (ln == 0))
        live &= ~bad
        more &= ~bad
        nxt = np.where(more, ctx.u8(cur + ln - 1).astype(np.int64), nxt)
        cur = np.where(more, cur + ln, cur)
    return raw.by_version(ctx, Layer(ly.idx[live], cur[live], None, ly.prefix, ly.depth))


def teredo(ctx: Ctx, ly: Layer) -> list[Next]:
    """Teredo: IPv6 in UDP, optionally after authentication (0x0001) and
    origin indication (0x0000) headers."""
    idx, pos = ly.idx, ly.pos
    ok = ctx.have(idx, pos, 2)
    idx, pos = idx[ok], pos[ok]
    cur = pos.copy()
    auth = ctx.u16(cur) == 0x0001
    if auth.any():
        idlen = ctx.u8(cur + 2).astype(np.int64)
        aulen = ctx.u8(cur + 3).astype(np.int64)
        cur = np.where(auth, cur + 4 + idlen + aulen + 9, cur)
    origin = ctx.have(idx, cur, 2) & (ctx.u16(cur) == 0x0000)
    cur = np.where(origin, cur + 8, cur)
    v6 = ctx.have(idx, cur, 40) & ((ctx.u8(cur) >> 4) == 6)
    sub = Layer(idx[v6], cur[v6], None, ly.prefix, ly.depth + 1)
    return [Next("ethertype", np.full(len(sub.idx), 0x86DD, np.uint32), sub)]


def erspan_i(ctx: Ctx, ly: Layer) -> list[Next]:
    """ERSPAN carried by GRE 0x88BE: type II has an 8-byte header, type I
    (GRE without a sequence number) none.  The GRE decoder passes the
    sequence-number flag in the key's high bit."""
    idx, pos = ly.idx, ly.pos
    ok = ctx.have(idx, pos, 8)
    ver = ctx.u8(pos) >> 4
    ctx.put(ERSPAN_SPANID, idx[ok], ctx.u16(pos[ok] + 2) & 0x3FF, ly.prefix)
    hdr = np.where(ok & (ver == 1), 8, 0)
    n = len(idx)
    return [Next("ethertype", np.full(n, ETH, np.uint32), _on(ly, np.ones(n, bool), pos + hdr))]


def erspan_iii(ctx: Ctx, ly: Layer) -> list[Next]:
    idx, pos = ly.idx, ly.pos
    ok = ctx.have(idx, pos, 12)
    ly = ly.take(ok)
    idx, pos = ly.idx, ly.pos
    ctx.put(ERSPAN_SPANID, idx, ctx.u16(pos + 2) & 0x3FF, ly.prefix)
    o_flag = (ctx.u8(pos + 11) & 0x01) != 0  # optional platform subheader
    hdr = 12 + 8 * o_flag
    n = len(idx)
    return [Next("ethertype", np.full(n, ETH, np.uint32), _on(ly, np.ones(n, bool), pos + hdr))]


def pbb(ctx: Ctx, ly: Layer) -> list[Next]:
    """802.1ah backbone service instance tag (4 bytes), then the customer frame."""
    ok = ctx.have(ly.idx, ly.pos, 4)
    ly = ly.take(ok)
    ctx.put(PBB_ISID, ly.idx, ctx.u32(ly.pos) & 0xFFFFFF, ly.prefix)
    n = len(ly.idx)
    return [Next("ethertype", np.full(n, ETH, np.uint32), _on(ly, np.ones(n, bool), ly.pos + 4))]


def arista(ctx: Ctx, ly: Layer) -> list[Next]:
    """Arista vendor header (ethertype 0xD28B): sub type, version, a TAI
    timestamp of 8 (version 0x10) or 6 (0x20) bytes, then an ethertype."""
    ok = ctx.have(ly.idx, ly.pos, 4)
    ly = ly.take(ok)
    sub = ctx.u16(ly.pos)
    ver = ctx.u16(ly.pos + 2)
    tslen = np.where(ver == 0x10, 8, np.where(ver == 0x20, 6, -1))
    go = (sub == 1) & (tslen >= 0)
    et_pos = ly.pos + 4 + tslen
    key = ctx.u16(et_pos).astype(np.uint32)
    return [Next("ethertype", key[go], _on(ly, go, et_pos + 2))]


def vntag(ctx: Ctx, ly: Layer) -> list[Next]:
    """Cisco VN-Tag (ethertype 0x8926): a 4-byte tag, then an ethertype."""
    ok = ctx.have(ly.idx, ly.pos, 6)
    ly = ly.take(ok)
    key = ctx.u16(ly.pos + 4).astype(np.uint32)
    return [Next("ethertype", key, _on(ly, np.ones(len(key), bool), ly.pos + 6))]


def ayiya(ctx: Ctx, ly: Layer) -> list[Next]:
    """AYIYA (Anything In Anything, UDP 5072): identity and signature sized
    by the header, then the packet named by its next-header byte."""
    ok = ctx.have(ly.idx, ly.pos, 8)
    ly = ly.take(ok)
    pos = ly.pos
    idlen = (1 << (ctx.u8(pos) >> 4).astype(np.int64))
    siglen = (ctx.u8(pos + 1) >> 4).astype(np.int64) * 4
    opcode = ctx.u8(pos + 2) & 0x0F
    nh = ctx.u8(pos + 3).astype(np.uint32)
    go = opcode == 1  # forward: carries a packet
    start = pos + 8 + idlen + siglen
    return [Next("ipproto", nh[go], _on(ly, go, start))]


def gre_in_udp(ctx: Ctx, ly: Layer) -> list[Next]:
    """GRE-in-UDP (RFC 8086, port 4754): a GRE header follows the UDP header."""
    n = len(ly.idx)
    return [Next("ipproto", np.full(n, 47, np.uint32), ly)]


def l2tp(ctx: Ctx, ly: Layer) -> list[Next]:
    """L2TPv2 data messages (RFC 2661, UDP 1701) carry PPP frames."""
    ok = ctx.have(ly.idx, ly.pos, 6)
    ly = ly.take(ok)
    pos = ly.pos
    flags = ctx.u16(pos)
    ver = flags & 0x0F
    t = (flags >> 15) & 1
    has_len = (flags >> 14) & 1
    has_seq = (flags >> 11) & 1
    has_off = (flags >> 9) & 1
    cur = pos + 2 + 2 * has_len.astype(np.int64) + 4 + 4 * has_seq.astype(np.int64)
    off_size = np.where(has_off == 1, ctx.u16(cur).astype(np.int64) + 2, 0)
    cur = cur + off_size
    go = (ver == 2) & (t == 0)
    n = int(go.sum())
    return [Next("ethertype", np.full(n, 0x880B, np.uint32), _on(ly, go, cur))]
