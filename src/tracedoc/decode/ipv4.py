"""IPv4 (RFC 791).  Follows Wireshark's packet-ip.c where it decides what to
show: a header length under 20 or a total length under the header length
stops the dissection after the fields read so far; fragments are handed on
only once reassembled (see :mod:`tracedoc.decode.reassemble`)."""

from __future__ import annotations

import numpy as np

from tracedoc.decode import innermost
from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F
from tracedoc.decode.layer import Layer, Next
from tracedoc.decode.reassemble import FragmentSet

FIELDS = (
    F("ip.version", "u8", "Version"),
    F("ip.hdr_len", "u8", "Header Length"),
    F("ip.dsfield", "u8", "Differentiated Services Field", "hex", 2),
    F("ip.len", "u16", "Total Length"),
    F("ip.id", "u16", "Identification", "hex", 4),
    F("ip.flags", "u8", "Flags", "hex", 2),
    F("ip.flags.df", "bool", "Don't fragment"),
    F("ip.flags.mf", "bool", "More fragments"),
    F("ip.frag_offset", "u16", "Fragment Offset (8-byte units)"),
    F("ip.ttl", "u8", "Time to Live"),
    F("ip.proto", "u8", "Protocol"),
    F("ip.checksum", "u16", "Header Checksum", "hex", 4),
    F("ip.src", "ipv4", "Source Address"),
    F("ip.dst", "ipv4", "Destination Address"),
    F("ip.opt.type", "u8", "First option type"),
)
(VERSION, HDR_LEN, DSFIELD, LEN, ID, FLAGS, DF, MF, FRAG, TTL, PROTO, CHECKSUM, SRC, DST,
 OPT_TYPE) = FIELDS

MIN_HDR = 20


def dissect(ctx: Ctx, ly: Layer) -> list[Next]:
    idx, pos, px = ly.idx, ly.pos, ly.prefix
    has = ctx.have(idx, pos, 1)
    if not has.all():
        ctx.cols.anomaly(idx[~has], "ip", pos[~has], "no IPv4 header captured")
        ly = ly.take(has)
        idx, pos = ly.idx, ly.pos
    b0 = ctx.u8(pos)
    version = b0 >> 4
    ctx.put(VERSION, idx, version, px)
    out: list[Next] = []
    v6 = version == 6
    if v6.any():
        # An IPv6 packet under ethertype 0x0800: Wireshark hands it to IPv6.
        out.append(Next("ethertype", np.full(int(v6.sum()), 0x86DD, np.uint32), ly.take(v6)))
    bad_v = (version != 4) & ~v6
    if bad_v.any():
        ctx.cols.anomaly(idx[bad_v], "ip", pos[bad_v], "bogus IP version")
    ly = ly.take(version == 4)
    idx, pos = ly.idx, ly.pos
    hlen = (ctx.u8(pos) & 0x0F).astype(np.int64) * 4
    ctx.put(HDR_LEN, idx, hlen.astype(np.uint8), px)
    short = hlen < MIN_HDR
    if short.any():
        ctx.cols.anomaly(idx[short], "ip", pos[short], "bogus IP header length (must be at least 20)")
        ly = ly.take(~short)
        idx, pos, hlen = ly.idx, ly.pos, hlen[~short]

    def field(f, off, n, vals_fn):
        ok = ctx.have(idx, pos, off + n)
        ctx.put(f, idx[ok], vals_fn(pos[ok] + off), px)
        return ok

    field(DSFIELD, 1, 1, ctx.u8)
    ok_len = ctx.have(idx, pos, 4)
    ip_len = ctx.u16(pos + 2).astype(np.int64)
    # Total length 0: "presumed to be because of TCP segmentation offload";
    # Wireshark then uses the length of the frame from here on.
    tso = ok_len & (ip_len == 0)
    if tso.any():
        wire_rest = ctx.batch.origlen[idx] - (pos - ctx.start[idx])
        ip_len = np.where(tso, wire_rest, ip_len)
    ctx.put(LEN, idx[ok_len], ip_len[ok_len].astype(np.uint16), px)
    field(ID, 4, 2, ctx.u16)
    ok_fl = ctx.have(idx, pos, 8)
    fl = ctx.u16(pos + 6)
    ctx.put(FLAGS, idx[ok_fl], (fl >> 13).astype(np.uint8)[ok_fl], px)
    ctx.put(DF, idx[ok_fl], ((fl >> 14) & 1).astype(bool)[ok_fl], px)
    ctx.put(MF, idx[ok_fl], ((fl >> 13) & 1).astype(bool)[ok_fl], px)
    ctx.put(FRAG, idx[ok_fl], (fl & 0x1FFF)[ok_fl], px)
    field(TTL, 8, 1, ctx.u8)
    ok_proto = field(PROTO, 9, 1, ctx.u8)
    field(CHECKSUM, 10, 2, ctx.u16)
    have_addr = ctx.have(idx, pos, 20)
    innermost.note_ip(ctx, idx[have_addr], innermost.mapped(ctx.u32(pos[have_addr] + 12)),
                      innermost.mapped(ctx.u32(pos[have_addr] + 16)), ip_len[have_addr], px)
    field(SRC, 12, 4, ctx.u32)
    ok_hdr = field(DST, 16, 4, ctx.u32)
    has_opt = ok_hdr & (hlen > MIN_HDR) & ctx.have(idx, pos, 21)
    ctx.put(OPT_TYPE, idx[has_opt], ctx.u8(pos[has_opt] + 20), px)

    whole = ok_hdr & ok_len & ok_proto & ctx.have(idx, pos, hlen)
    if not whole.all():
        t = ~whole
        ctx.cols.anomaly(idx[t], "ip", pos[t], "IPv4 header truncated")
    bogus_len = whole & (ip_len < hlen)
    if bogus_len.any():
        ctx.cols.anomaly(idx[bogus_len], "ip", pos[bogus_len] + 2, "bogus IP length (less than header length)")
    go = whole & ~bogus_len
    frag = (((fl >> 13) & 1) == 1) | ((fl & 0x1FFF) != 0)
    # Fragments go to reassembly; only the datagram they rebuild is handed on.
    proto = ctx.u8(pos + 9)
    fr = go & frag
    if fr.any() and not px:
        src = ctx.u32(pos[fr] + 12).tolist()
        dst = ctx.u32(pos[fr] + 16).tolist()
        ipid = ctx.u16(pos[fr] + 4).tolist()
        pr = proto[fr]
        keys = [(4, s, d, i, p) for s, d, i, p in zip(src, dst, ipid, pr.tolist())]
        ctx.fragments.append(FragmentSet(
            idx[fr], (pos + hlen)[fr], (ip_len - hlen)[fr], (fl & 0x1FFF)[fr].astype(np.int64) * 8,
            ((fl >> 13) & 1)[fr].astype(bool), keys, pr.astype(np.int64)))
    # Quoted datagrams (ICMP errors) are not reassembled; a first fragment
    # still shows its transport header there.
    go &= ~frag if not px else (fl & 0x1FFF) == 0
    # A total length past the end of the frame is cut to it, as Wireshark
    # cuts it ("IPv4 total length exceeds packet length").
    carried = ip_len if px else np.minimum(ip_len, np.maximum(ctx.wire_end[idx] - pos, hlen))
    nxt = Layer(idx[go], pos[go] + hlen[go], (carried - hlen)[go], px, ly.depth + 1)
    out.append(Next("ipproto", proto[go].astype(np.uint32), nxt))
    return out
