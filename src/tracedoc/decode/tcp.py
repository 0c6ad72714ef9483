"""TCP (RFC 9293) with its options: MSS, window scale (RFC 7323), SACK
permitted and SACK blocks (RFC 2018), timestamps (RFC 7323).

Options are parsed for every packet at once: each round reads the option
kind at every packet's cursor and moves the cursors on; at most 40 rounds,
fewer packets in each.
"""

from __future__ import annotations

import numpy as np

from tracedoc.decode import innermost
from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F
from tracedoc.decode.layer import Layer, Next

FIELDS = (
    F("tcp.srcport", "u16", "Source Port"),
    F("tcp.dstport", "u16", "Destination Port"),
    F("tcp.seq_raw", "u32", "Sequence Number (raw)"),
    F("tcp.ack_raw", "u32", "Acknowledgment number (raw)"),
    F("tcp.hdr_len", "u8", "Header Length"),
    F("tcp.flags", "u16", "Flags", "hex", 4),
    F("tcp.flags.fin", "bool", "Fin"),
    F("tcp.flags.syn", "bool", "Syn"),
    F("tcp.flags.reset", "bool", "Reset"),
    F("tcp.flags.push", "bool", "Push"),
    F("tcp.flags.ack", "bool", "Acknowledgment"),
    F("tcp.flags.urg", "bool", "Urgent"),
    F("tcp.flags.ece", "bool", "ECN-Echo"),
    F("tcp.flags.cwr", "bool", "Congestion Window Reduced"),
    F("tcp.window_size_value", "u16", "Window (as sent, unscaled)"),
    F("tcp.checksum", "u16", "Checksum", "hex", 4),
    F("tcp.urgent_pointer", "u16", "Urgent Pointer"),
    F("tcp.len", "u32", "TCP Segment Len"),
    F("tcp.payload_offset", "u16", "Offset of the payload in the frame"),
    F("tcp.options.mss_val", "u16", "MSS Value"),
    F("tcp.options.wscale.shift", "u8", "Window scale shift count"),
    F("tcp.options.wscale.multiplier", "u16", "Window scale multiplier"),
    F("tcp.options.sack_perm", "bytes", "TCP SACK Permitted Option", "bytes"),
    F("tcp.options.sack.count", "u8", "Number of SACK blocks"),
    F("tcp.options.sack_le", "u32", "First SACK block left edge (raw)"),
    F("tcp.options.sack_re", "u32", "First SACK block right edge (raw)"),
    F("tcp.options.timestamp.tsval", "u32", "Timestamp value"),
    F("tcp.options.timestamp.tsecr", "u32", "Timestamp echo reply"),
)
(SRCPORT, DSTPORT, SEQ, ACK, HDR_LEN, FLAGS, FIN, SYN, RST, PSH, ACKF, URG, ECE, CWR, WIN,
 CHECKSUM, URGPTR, LEN, PAYLOAD_OFF, MSS, WS_SHIFT, WS_MULT, SACK_PERM, SACK_COUNT, SACK_LE,
 SACK_RE, TSVAL, TSECR) = FIELDS

MIN_HDR = 20
# Option kinds (IANA "TCP Option Kind Numbers")
EOL, NOP, OPT_MSS, OPT_WS, OPT_SACK_PERM, OPT_SACK, OPT_TS = 0, 1, 2, 3, 4, 5, 8


def dissect(ctx: Ctx, ly: Layer) -> list[Next]:
    idx, pos, px = ly.idx, ly.pos, ly.prefix
    for f, off, n, fn in ((SRCPORT, 0, 2, ctx.u16), (DSTPORT, 2, 2, ctx.u16),
                          (SEQ, 4, 4, ctx.u32), (ACK, 8, 4, ctx.u32)):
        ok = ctx.have(idx, pos, off + n)
        ctx.put(f, idx[ok], fn(pos[ok] + off), px)
    ok = ctx.have(idx, pos, MIN_HDR)
    if not ok.all():
        if not px:  # a quoted header in an ICMP error is expected to be cut short
            ctx.cols.anomaly(idx[~ok], "tcp", pos[~ok], "TCP header truncated")
        okh = ctx.have(idx, pos, 13) & ~ok
        ctx.put(HDR_LEN, idx[okh], ((ctx.u8(pos[okh] + 12) >> 4) * 4).astype(np.uint8), px)
        ly = ly.take(ok)
        idx, pos = ly.idx, ly.pos
    hl = (ctx.u8(pos + 12) >> 4).astype(np.int64) * 4
    ctx.put(HDR_LEN, idx, hl.astype(np.uint8), px)
    bogus = hl < MIN_HDR
    if bogus.any():
        ctx.cols.anomaly(idx[bogus], "tcp", pos[bogus] + 12, "bogus TCP header length (must be at least 20)")
        keep = ~bogus
        ly = ly.take(keep)
        idx, pos, hl = ly.idx, ly.pos, hl[keep]
    innermost.note_ports(ctx, idx, ctx.u16(pos), ctx.u16(pos + 2), 6, px)
    flags = ctx.u16(pos + 12) & 0x0FFF
    ctx.put(FLAGS, idx, flags, px)
    for f, bit in ((FIN, 0x01), (SYN, 0x02), (RST, 0x04), (PSH, 0x08), (ACKF, 0x10), (URG, 0x20),
                   (ECE, 0x40), (CWR, 0x80)):
        ctx.put(f, idx, (flags & bit) != 0, px)
    ctx.put(WIN, idx, ctx.u16(pos + 14), px)
    ctx.put(CHECKSUM, idx, ctx.u16(pos + 16), px)
    ctx.put(URGPTR, idx, ctx.u16(pos + 18), px)
    if ly.plen is not None:
        seglen = ly.plen - hl
    else:
        seglen = ctx.batch.origlen[idx] - (pos - ctx.start[idx]) - hl
    okl = seglen >= 0
    if not okl.all() and not px:
        ctx.cols.anomaly(idx[~okl], "tcp", pos[~okl] + 12, "TCP header length exceeds the segment")
    ctx.put(LEN, idx[okl], seglen[okl].astype(np.uint32), px)
    if not px:
        ctx.put(PAYLOAD_OFF, idx[okl], (pos + hl - ctx.start[idx])[okl].astype(np.uint16))
    _options(ctx, idx, pos + MIN_HDR, pos + hl, px)
    if ctx.payloads is not None and not px:
        _collect(ctx, idx[okl], pos[okl], hl[okl], seglen[okl], flags[okl])
    return []


def _collect(ctx: Ctx, idx: np.ndarray, pos: np.ndarray, hl: np.ndarray, seglen: np.ndarray,
             flags: np.ndarray) -> None:
    """Segments with data (and SYNs, which set where a stream's data starts,
    and FINs, which end messages that run to the end of the stream) go to
    the application pass."""
    take = (seglen > 0) | ((flags & 0x03) != 0)
    if not take.any():
        return
    i, p, sl = idx[take], (pos + hl)[take], seglen[take]
    cap = np.clip(np.minimum(sl, ctx.end[i] - p), 0, None)
    ctx.payloads.tcp.append((i, p, cap, sl, ctx.u32(pos[take] + 4), flags[take],  # type: ignore[union-attr]
                             ctx.u16(pos[take]), ctx.u16(pos[take] + 2)))


def _options(ctx: Ctx, idx: np.ndarray, cur: np.ndarray, end: np.ndarray, px: str) -> None:
    live = cur < end
    idx, cur, end = idx[live], cur[live], end[live]
    idx0 = idx
    sack_count = np.zeros(len(idx), dtype=np.uint8)
    rows = np.arange(len(idx))
    for _ in range(40):
        if len(idx) == 0:
            break
        avail = ctx.have(idx, cur, 1)
        if not avail.all():
            ctx.cols.anomaly(idx[~avail], "tcp", cur[~avail], "TCP options truncated")
        kind = ctx.u8(cur)
        single = avail & ((kind == NOP) | (kind == EOL))
        lenok = avail & ~single & (cur + 2 <= end) & ctx.have(idx, cur, 2)
        olen = np.where(lenok, ctx.u8(cur + 1).astype(np.int64), 0)
        bad = avail & ~single & (~lenok | (olen < 2) | (cur + olen > end))
        if bad.any():
            ctx.cols.anomaly(idx[bad], "tcp", cur[bad], "bad TCP option length")
        whole = avail & ~single & ~bad & ctx.have(idx, cur, olen)
        cut = avail & ~single & ~bad & ~whole
        if cut.any():
            ctx.cols.anomaly(idx[cut], "tcp", cur[cut], "TCP option truncated")
        m = whole & (kind == OPT_MSS) & (olen == 4)
        ctx.put(MSS, idx[m], ctx.u16(cur[m] + 2), px)
        m = whole & (kind == OPT_WS) & (olen == 3)
        shift = ctx.u8(cur[m] + 2)
        ctx.put(WS_SHIFT, idx[m], shift, px)
        ctx.put(WS_MULT, idx[m], (np.uint16(1) << np.minimum(shift, 14).astype(np.uint16)), px)
        m = whole & (kind == OPT_SACK_PERM)
        if m.any():
            vals = [ctx.data[c:c + int(n)].tobytes() for c, n in zip(cur[m].tolist(), olen[m].tolist())]
            ctx.put(SACK_PERM, idx[m], vals, px)
        m = whole & (kind == OPT_SACK) & (olen >= 10)
        ctx.put(SACK_LE, idx[m], ctx.u32(cur[m] + 2), px)
        ctx.put(SACK_RE, idx[m], ctx.u32(cur[m] + 6), px)
        sack_count[rows[m]] = ((olen[m] - 2) // 8).astype(np.uint8)
        m = whole & (kind == OPT_TS) & (olen == 10)
        ctx.put(TSVAL, idx[m], ctx.u32(cur[m] + 2), px)
        ctx.put(TSECR, idx[m], ctx.u32(cur[m] + 6), px)
        step = np.where(single, 1, olen)
        cur = cur + step
        go = avail & ~bad & (kind != EOL) & (cur < end)
        idx, cur, end, rows = idx[go], cur[go], end[go], rows[go]
    has = sack_count > 0
    ctx.put(SACK_COUNT, idx0[has], sack_count[has], px)
