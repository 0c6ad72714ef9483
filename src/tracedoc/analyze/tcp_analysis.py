"""Per-packet TCP analysis: Wireshark 4.0's sequence analysis, over the table.

tshark's TCP dissector keeps, for every conversation it sees, the state its
``tcp_analyze_sequence_number`` works on (the segments not yet acknowledged
in each direction, the highest sequence number sent, the last ACK and
window, the duplicate-ACK count) and derives from it, packet by packet in
frame order, the ``tcp.analysis.*`` expert flags, the relative sequence
numbers, the scaled window, bytes in flight and ACK round trips.  This
module makes the same decisions over the packet table, in the same order,
in one pass that keeps its state across batches (tshark's default single
pass; no ``-2``).  The rules, their order and their precedence are those of
``epan/dissectors/packet-tcp.c`` in Wireshark 4.0.17 (``dissect_tcp``,
``tcp_analyze_sequence_number``, ``tcp_print_sequence_number_analysis``,
``verify_tcp_window_scaling``, the window-scale and SACK option handlers),
with the default preferences: analysis on, relative sequence numbers,
window scaling unknown unless seen, bytes in flight from the unacknowledged
segments, fast retransmission taking precedence over out-of-order.

What the table cannot give, and so where this can differ from tshark:

- TCP behind a tunnel of the same IP family (GRE, VXLAN, IP-in-IP, ...):
  the table keeps the outer addresses only, where tshark keys the
  conversation on the inner ones.  Such a conversation is keyed on the
  unordered pair of tunnel ends and of ports (see :func:`_endpoints`), which
  is right when both directions use the tunnel, and wrong when only one
  does.
- SACK blocks beyond the first count for bytes in flight only if the
  decoder gives ``tcp.options.sack_le``/``sack_re`` as lists of every block.
- MPTCP's tolerance of duplicate ACKs is not modelled (no MPTCP columns).
- Conversations other dissectors set up (FTP data, ...) are not modelled;
  tshark numbers a stream when TCP first uses such a conversation, so the
  numbering is the same.
- A TCP header quoted in an ICMP error gets its conversation (and stream
  number) only when the quote holds the whole fixed header; tshark needs 16
  of its 20 bytes.
- With ``-E occurrence=a`` tshark prints ``tcp.analysis.duplicate_ack`` as
  ``1,1`` (the field and its expert item); the column here is one flag.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from tracedoc.decode.fields import INNER_PREFIX, F, Field

# Analysis flags, as packet-tcp.c numbers them (TCP_A_*).
RETRANSMISSION = 0x0001
LOST_PACKET = 0x0002
ACK_LOST_PACKET = 0x0004
KEEP_ALIVE = 0x0008
DUPLICATE_ACK = 0x0010
ZERO_WINDOW = 0x0020
ZERO_WINDOW_PROBE = 0x0040
ZERO_WINDOW_PROBE_ACK = 0x0080
KEEP_ALIVE_ACK = 0x0100
OUT_OF_ORDER = 0x0200
FAST_RETRANSMISSION = 0x0400
WINDOW_UPDATE = 0x0800
WINDOW_FULL = 0x1000
REUSED_PORTS = 0x2000
SPURIOUS_RETRANSMISSION = 0x4000

# TCP header flags.
TH_FIN, TH_SYN, TH_RST, TH_PUSH, TH_ACK = 0x01, 0x02, 0x04, 0x08, 0x10

MAX_UNACKED_SEGMENTS = 10000
"""packet-tcp.h TCP_MAX_UNACKED_SEGMENTS: a direction whose ACKs are not
seen stops collecting segments here."""

MAX_SACK_RANGES = 4
"""packet-tcp.h MAX_TCP_SACK_RANGES; only the first three blocks of an
option are kept for bytes in flight (the store is guarded by ``< 4``)."""

FAST_RETRANSMISSION_WINDOW_NS = 20_000_000
"""A retransmission within 20 ms of the second duplicate ACK asking for it
is a fast retransmission."""

OUT_OF_ORDER_DEFAULT_NS = 3_000_000
"""Without a handshake RTT, a segment that goes back within 3 ms of the
highest one sent is out of order (else the handshake RTT is the limit)."""

ORDERED_SPAN = 1 << 30
"""Unacknowledged segments in order and within this span of each other
(and an ACK within it of the first) compare in sequence space as plain
numbers do, which lets an ACK look at only the segments it covers."""

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF

FLAG_FIELDS: tuple[tuple[str, int, str], ...] = (
    ("tcp.analysis.flags", 0xFFFF, "TCP Analysis Flags (any of the flags below)"),
    ("tcp.analysis.retransmission", RETRANSMISSION | FAST_RETRANSMISSION | SPURIOUS_RETRANSMISSION,
     "This frame is a (suspected) retransmission (also shown on fast and spurious ones)"),
    ("tcp.analysis.fast_retransmission", FAST_RETRANSMISSION, "This frame is a (suspected) fast retransmission"),
    ("tcp.analysis.spurious_retransmission", SPURIOUS_RETRANSMISSION,
     "This frame is a (suspected) spurious retransmission"),
    ("tcp.analysis.out_of_order", OUT_OF_ORDER, "This frame is a (suspected) out-of-order segment"),
    ("tcp.analysis.lost_segment", LOST_PACKET, "Previous segment(s) not captured (common at capture start)"),
    ("tcp.analysis.ack_lost_segment", ACK_LOST_PACKET,
     "ACKed segment that wasn't captured (common at capture start)"),
    ("tcp.analysis.duplicate_ack", DUPLICATE_ACK, "Duplicate ACK"),
    ("tcp.analysis.zero_window", ZERO_WINDOW, "TCP Zero Window segment"),
    ("tcp.analysis.zero_window_probe", ZERO_WINDOW_PROBE, "TCP Zero Window Probe"),
    ("tcp.analysis.zero_window_probe_ack", ZERO_WINDOW_PROBE_ACK, "ACK to a TCP Zero Window Probe"),
    ("tcp.analysis.window_full", WINDOW_FULL, "TCP window specified by the receiver is now completely full"),
    ("tcp.analysis.window_update", WINDOW_UPDATE, "TCP window update"),
    ("tcp.analysis.keep_alive", KEEP_ALIVE, "TCP keep-alive segment"),
    ("tcp.analysis.keep_alive_ack", KEEP_ALIVE_ACK, "ACK to a TCP keep-alive segment"),
    ("tcp.analysis.reused_ports", REUSED_PORTS,
     "A new tcp session is started with the same ports as an earlier session in this trace"),
)
"""The expert flags, each a column that is true where tshark shows the flag
and null elsewhere (tshark's ``-T fields`` prints such a flag as ``1``), with
the analysis bits that make tshark show it: a fast or a spurious
retransmission is also shown as a retransmission."""

_VALUE_FIELDS: tuple[Field, ...] = (
    F("tcp.stream", "u32", "Stream index"),
    F("tcp.seq", "u32", "Sequence Number (relative)"),
    F("tcp.ack", "u32", "Acknowledgment Number (relative when the ACK flag is set)"),
    F("tcp.nxtseq", "u32", "Next Sequence Number (relative)"),
    F("tcp.window_size", "u32", "Calculated window size"),
    F("tcp.window_size_scalefactor", "i64",
      "Window size scaling factor (-1 unknown, -2 no window scaling used)"),
    F("tcp.analysis.duplicate_ack_num", "u32", "Duplicate ACK #"),
    F("tcp.analysis.duplicate_ack_frame", "u32", "Duplicate to the ACK in frame"),
    F("tcp.analysis.bytes_in_flight", "u32", "Bytes in flight"),
    F("tcp.analysis.push_bytes_sent", "u32", "Bytes sent since last PSH flag"),
    F("tcp.analysis.acks_frame", "u32", "This is an ACK to the segment in frame"),
    F("tcp.analysis.ack_rtt", "time", "The RTT to ACK the segment was"),
    F("tcp.analysis.initial_rtt", "time", "iRTT"),
    F("tcp.time_relative", "time", "Time since first frame in this TCP stream"),
    F("tcp.time_delta", "time", "Time since previous frame in this TCP stream"),
)

_FLAGS: tuple[Field, ...] = tuple(F(name, "bool", desc) for name, _, desc in FLAG_FIELDS)

_INNER_NAMES = ("tcp.stream", "tcp.seq", "tcp.ack", "tcp.window_size", "tcp.window_size_scalefactor",
                "tcp.analysis.initial_rtt", "tcp.analysis.flags", "tcp.analysis.reused_ports", "tcp.time_relative",
                "tcp.time_delta")
"""What tshark shows for a TCP header quoted in an ICMP error: it finds (or
starts) the quoted segment's conversation, but does no sequence analysis."""

FIELDS: tuple[Field, ...] = _VALUE_FIELDS + _FLAGS
_BY_NAME = {f.name: f for f in FIELDS}
INNER_FIELDS: tuple[Field, ...] = tuple(Field(INNER_PREFIX + n, _BY_NAME[n].type, _BY_NAME[n].desc)
                                        for n in _INNER_NAMES)

_OWN = ("tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags", "tcp.window_size_value",
        "tcp.len", "tcp.options.wscale.shift", "tcp.options.sack.count", "tcp.options.sack_le",
        "tcp.options.sack_re")
_ADDRS = ("ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "ip.proto", "ipv6.nxt")
NEEDS: tuple[str, ...] = (("frame.number", "frame.time_epoch", "frame.len", "frame.cap_len", "tcp.payload_offset",
                           "icmp.type", "_ws.malformed") + _ADDRS + _OWN
                          + tuple(INNER_PREFIX + n for n in _ADDRS + _OWN if n != "tcp.len"))

TUNNEL_PROTOCOLS = frozenset((4, 17, 41, 47, 97, 115, 137))
"""IP protocols that carry another network layer (IPv4, UDP for VXLAN,
Geneve, GTP-U, Teredo, IPv6, GRE, EtherIP, L2TPv3, MPLS): TCP behind one of
them is in a tunnel whose inner addresses the table does not keep."""

_QUOTE_CUT = ("tcp: TCP options truncated", "tcp: TCP option truncated")
"""How ``_ws.malformed`` starts when the options of a header run past the
captured bytes (the reasons tracedoc.decode.tcp records): for a quoted
header, the only sign the table gives that tshark's dissection of it
stopped inside the options."""


class Flow:
    """One direction of a conversation (packet-tcp.h ``tcp_flow_t`` with its
    ``tcp_analyze_seq_flow_info_t``).  Unacknowledged segments are kept
    oldest first in parallel lists."""

    __slots__ = ("base_seq", "base_set", "win_scale", "window", "is_first_ack", "valid_bif",
                 "push_bytes_sent", "push_set_last", "lastsegmentflags", "nextseq", "nextseqtime",
                 "maxseqtobeacked", "lastack", "lastacktime", "lastnondupack", "dupacknum",
                 "s_seq", "s_next", "s_frame", "s_time", "ordered", "sack")

    def __init__(self) -> None:
        self.base_seq = 0
        self.base_set = False
        self.win_scale = -1
        self.window = M32
        self.is_first_ack = False
        self.valid_bif = True
        self.push_bytes_sent = 0
        self.push_set_last = False
        self.lastsegmentflags = 0
        self.nextseq = 0
        self.nextseqtime = 0
        self.maxseqtobeacked = 0
        self.lastack = 0
        self.lastacktime = 0
        self.lastnondupack = 0
        self.dupacknum = 0
        self.s_seq: list[int] = []
        self.s_next: list[int] = []
        self.s_frame: list[int] = []
        self.s_time: list[int] = []
        self.ordered = True
        """The unacknowledged segments follow each other without overlap
        or going back, so an ACK only touches a prefix of them."""
        self.sack = 0
        """Bytes the last SACK option of this direction reported received."""


class Conv:
    """A TCP conversation (packet-tcp.h ``struct tcp_analysis``)."""

    __slots__ = ("stream", "a", "f1", "f2", "ts_first", "ts_prev", "ts_mru_syn", "ts_first_rtt")

    def __init__(self, stream: int, a: Any, ts: int) -> None:
        self.stream = stream
        self.a = a
        """Endpoint whose packets go in ``f1``."""
        self.f1 = Flow()
        self.f2 = Flow()
        self.ts_first = ts
        self.ts_prev = ts
        self.ts_mru_syn = 0
        self.ts_first_rtt = 0


class TcpAnalysis:
    """Deriver of the ``tcp.analysis.*`` columns and their companions."""

    FIELDS: ClassVar[tuple[Field, ...]] = FIELDS + INNER_FIELDS
    NEEDS: ClassVar[tuple[str, ...]] = NEEDS

    def __init__(self) -> None:
        self.convs: dict[Any, Conv] = {}
        self.streams = 0

    def feed(self, batch: pa.RecordBatch) -> list[pa.Array]:
        n = batch.num_rows
        names = set(batch.schema.names)

        def col(name: str) -> list[Any]:
            if name not in names:
                return [None] * n
            return batch.column(batch.schema.get_field_index(name)).to_pylist()

        out = _Out(n)
        frames = col("frame.number")
        times = col("frame.time_epoch")
        caplen = col("frame.cap_len")
        payload_at = col("tcp.payload_offset")
        malformed = col("_ws.malformed")
        own = _Packets(col, "", n)
        _clamp_to_frame(own.seglen, col("frame.len"), payload_at)
        inner = _Packets(col, INNER_PREFIX, n)
        icmp4 = col("icmp.type")
        for i in range(n):
            if own.flags[i] is not None and own.sport[i] is not None:
                # Options cut short by the snapshot length stop tshark's
                # dissection of the header before it shows the analysis.
                cut = payload_at[i] is not None and caplen[i] is not None and caplen[i] < payload_at[i]
                self._segment(own, i, frames[i] or 0, times[i] or 0, out, False, cut)
            elif inner.flags[i] is not None and inner.sport[i] is not None:
                # The decoder notes a quote that ends inside the options.
                cut = malformed[i] is not None and malformed[i].startswith(_QUOTE_CUT)
                self._segment(inner, i, frames[i] or 0, times[i] or 0, out, True, cut)
            elif icmp4[i] is not None and inner.seq[i] is not None:
                # A quote of only 8 bytes: tshark shows the raw sequence
                # number of an ICMPv4-quoted header before giving up.
                out.i_seq[i] = inner.seq[i]
        return out.arrays()

    # ------------------------------------------------------------------ packet

    def _new(self, key: Any, src: Any, ts: int) -> Conv:
        """A new conversation, numbered as tshark numbers its streams."""
        conv = Conv(self.streams, src, ts)
        self.streams += 1
        self.convs[key] = conv
        return conv

    def _segment(self, p: _Packets, i: int, frame: int, now: int, out: _Out, quoted: bool, cut: bool) -> None:
        """One TCP header, as ``dissect_tcp`` handles it (``quoted``: the
        header inside an ICMP error, which gets no sequence analysis;
        ``cut``: its options run past the captured bytes, where tshark's
        dissection stops after the options it could read)."""
        sport = p.sport[i]
        dport = p.dport[i]
        src, _, key = _endpoints(p, i, sport, dport)
        seq = p.seq[i]
        ack = p.ack[i]
        flags = p.flags[i]
        win = p.win[i]
        if seq is None or ack is None or win is None:
            return
        conv = self.convs.get(key) or self._new(key, src, now)
        fwd, rev = (conv.f1, conv.f2) if src == conv.a else (conv.f2, conv.f1)
        ta = 0  # analysis flags of this frame
        has_ta = False  # tshark made a tcp_acked record for this frame
        syn_ack = flags & (TH_SYN | TH_ACK)
        if syn_ack == TH_SYN and fwd.base_set:
            if seq != fwd.base_seq:
                # A new ISN on a known tuple: a new conversation.
                conv = self._new(key, src, now)
                fwd, rev = conv.f1, conv.f2
                ta |= REUSED_PORTS
            else:
                # A repeated SYN: undo what a RST in between may have moved.
                fwd.nextseq = fwd.maxseqtobeacked
            has_ta = True
        elif syn_ack == TH_SYN | TH_ACK and fwd.base_set and seq != fwd.base_seq:
            fwd.base_seq = seq
            ta |= REUSED_PORTS
            has_ta = True
        fwd.sack = 0
        delta = now - conv.ts_prev
        conv.ts_prev = now

        seglen = None if quoted else p.seglen[i]
        rel_seq = seq
        rel_ack = ack
        shown_win = win
        res: list[int] | None = None
        if seglen is not None:
            if not fwd.base_set:
                fwd.base_seq = seq if flags & TH_SYN else (seq - 1) & M32
                fwd.base_set = True
            if not rev.base_set and flags & TH_ACK:
                rev.base_seq = (ack - 1) & M32
                rev.base_set = True
            res = _analyze(conv, fwd, rev, frame, now, seq, ack, seglen, flags, win, ta, has_ta)
            ta, has_ta = res[0], bool(res[1])
            rel_seq = (seq - fwd.base_seq) & M32
            if flags & TH_ACK:
                rel_ack = (ack - rev.base_seq) & M32
            if not flags & TH_SYN and fwd.win_scale >= 0:
                shown_win = win << fwd.win_scale
            nxt = rel_seq + seglen + (1 if flags & (TH_SYN | TH_FIN) else 0)
            out.nxtseq[i] = nxt & M32

        if flags & TH_SYN:
            if not flags & TH_ACK:
                conv.ts_mru_syn = now
            fwd.is_first_ack = True
        if syn_ack == TH_ACK:
            if conv.ts_mru_syn and not conv.ts_first_rtt:
                conv.ts_first_rtt = now - conv.ts_mru_syn
            fwd.is_first_ack = False

        # Options: a window scale option counts wherever it is seen; the
        # SACK blocks are what the other direction's bytes in flight
        # leave out.
        shift = p.wscale[i]
        if shift is not None:
            fwd.win_scale = min(shift, 14)
        if p.sack_count[i]:
            fwd.sack = _sack_bytes(p.sack_le[i], p.sack_re[i])

        if quoted:
            out.i_stream[i] = conv.stream
            out.i_seq[i] = rel_seq
            out.i_ack[i] = rel_ack
            out.i_win[i] = shown_win
            if not flags & TH_SYN:
                out.i_scale[i] = _scalefactor(fwd.win_scale)
            out.i_trel[i] = now - conv.ts_first
            out.i_tdelta[i] = delta
            if has_ta and not cut:
                out.i_flags[i] = ta
                if conv.ts_first_rtt:
                    out.i_irtt[i] = conv.ts_first_rtt
        else:
            out.stream[i] = conv.stream
            out.seq[i] = rel_seq
            out.ack[i] = rel_ack
            out.win[i] = shown_win
            if not flags & TH_SYN:
                out.scale[i] = _scalefactor(fwd.win_scale)
            out.trel[i] = now - conv.ts_first
            out.tdelta[i] = delta
            if has_ta and not cut:
                out.flags[i] = ta
                if conv.ts_first_rtt:
                    out.irtt[i] = conv.ts_first_rtt
                if res is not None:
                    _, _, dup_num, dup_frame, bif, push, acked, rtt = res
                    if acked:
                        out.acks_frame[i] = acked
                        if rtt:
                            out.ack_rtt[i] = rtt
                    if bif:
                        out.bif[i] = bif
                        out.push[i] = push
                    if dup_num and ta:
                        out.dup_num[i] = dup_num
                        out.dup_frame[i] = dup_frame

        if flags & TH_SYN and not cut:
            _verify_window_scaling(fwd, rev, bool(flags & TH_ACK))


def _endpoints(p: _Packets, i: int, sport: int, dport: int) -> tuple[Any, Any, Any]:
    """The two ends of the segment and its conversation's key.

    tshark keys a conversation on the addresses of the IP header that
    carries TCP.  Where that header is the table's (one IP layer, or an
    IPv6-in-IPv4 / IPv4-in-IPv6 tunnel whose inner family the table keeps),
    so does this.  Behind a tunnel of the same family only the outer
    addresses are known; they may be the same both ways (ERSPAN, a mirror)
    or swap, so the conversation is then the unordered pair of tunnel ends
    and the unordered pair of ports, and an end is told by its port."""
    a4, b4, a6, b6 = p.ip_src[i], p.ip_dst[i], p.ip6_src[i], p.ip6_dst[i]
    proto, nxt = p.ip_proto[i], p.ip6_nxt[i]
    v4, v6 = a4 >= 0, bool(a6)
    direct = True
    if v4 and v6:
        if proto in TUNNEL_PROTOCOLS and nxt not in TUNNEL_PROTOCOLS:
            a4 = b4 = -1
        elif proto not in TUNNEL_PROTOCOLS and nxt in TUNNEL_PROTOCOLS:
            a6 = b6 = b""
        else:
            direct = False
    elif v4:
        direct = proto not in TUNNEL_PROTOCOLS
    elif v6:
        direct = nxt not in TUNNEL_PROTOCOLS
    src = (a4, a6, sport)
    dst = (b4, b6, dport)
    if direct:
        return src, dst, ((src, dst) if src <= dst else (dst, src))
    ends = ((a4, a6), (b4, b6))
    if sport != dport:
        src, dst = (-2, b"", sport), (-2, b"", dport)
    key = ("tunnel", min(ends), max(ends), min(src, dst), max(src, dst))
    return src, dst, key


def _clamp_to_frame(seglen: list[Any], frame_len: list[Any], payload_at: list[Any]) -> None:
    """The segment length tshark works with: what the IP header says, but
    no more than the frame holds after the TCP header (an IP length that
    runs past the end of the frame is cut to it); a header that itself runs
    past the end has no segment length ("short segment")."""
    for i, n in enumerate(seglen):
        if n is not None and payload_at[i] is not None and frame_len[i] is not None:
            room = frame_len[i] - payload_at[i]
            if room < n:
                seglen[i] = room if room >= 0 else None


def _scalefactor(win_scale: int) -> int:
    """tshark shows the multiplier, or -1 (unknown) / -2 (not used)."""
    return 1 << win_scale if win_scale >= 0 else win_scale


def _verify_window_scaling(fwd: Flow, rev: Flow, is_synack: bool) -> None:
    """A SYN or SYN/ACK without the option turns scaling off both ways; a
    SYN/ACK with it after a SYN without it turns it off its own way."""
    if fwd.win_scale == -1:
        fwd.win_scale = -2
        rev.win_scale = -2
    elif is_synack and rev.win_scale == -2:
        fwd.win_scale = -2


def _sack_bytes(le: Any, re: Any) -> int:
    """Bytes the SACK blocks cover, counting at most the first three blocks
    as packet-tcp.c does; ``le``/``re`` are the first block's edges or the
    lists of every block's."""
    if le is None or re is None:
        return 0
    if isinstance(le, list):
        total = 0
        for a, b in list(zip(le, re))[:MAX_SACK_RANGES - 1]:
            total += (b - a) & M32
        return total & M32
    return (re - le) & M32


def _lt(a: int, b: int) -> bool:
    """LT_SEQ(a, b): ``a`` before ``b`` in sequence space (and GT_SEQ(b, a))."""
    return ((a - b) & M32) >= 0x80000000


def _le(a: int, b: int) -> bool:
    """LE_SEQ(a, b): ``a`` before or at ``b`` (``(gint32)(a - b) <= 0``)."""
    d = (a - b) & M32
    return d == 0 or d >= 0x80000000


def _analyze(conv: Conv, fwd: Flow, rev: Flow, frame: int, now: int, seq: int, ack: int, seglen: int,
             flags: int, window: int, ta: int, has_ta: bool) -> list[int]:
    """``tcp_analyze_sequence_number`` for one segment.

    Returns [flags, has_ta, dupack_num, dupack_frame, bytes_in_flight,
    push_bytes_sent, acks_frame, ack_rtt]."""
    dup_num = dup_frame = bif = push = acked = rtt = 0
    nextseq = fwd.nextseq
    if flags & TH_ACK:
        rev.valid_bif = True
    no_sfr = not flags & (TH_SYN | TH_FIN | TH_RST)

    # ZERO WINDOW PROBE: one byte at the next expected sequence number into
    # a zero window.  Nothing else is judged about it.
    if seglen == 1 and seq == nextseq and rev.window == 0:
        ta |= ZERO_WINDOW_PROBE
        has_ta = True
    else:
        # ZERO WINDOW: the sender advertises no room (not on SYN/FIN/RST).
        if window == 0 and not flags & (TH_RST | TH_FIN | TH_SYN):
            ta |= ZERO_WINDOW
            has_ta = True
        # LOST SEGMENT: beyond the highest sequence number seen so far.
        if nextseq and _lt(nextseq, seq) and not flags & TH_RST:
            ta |= LOST_PACKET
            has_ta = True
            fwd.valid_bif = False
        # KEEP ALIVE: 0 or 1 byte, one before the next expected byte.
        if seglen <= 1 and seq == (nextseq - 1) & M32 and no_sfr:
            ta |= KEEP_ALIVE
            has_ta = True
        # WINDOW UPDATE: nothing new but the window.
        same_point = seglen == 0 and seq == nextseq and ack == fwd.lastack and no_sfr
        if same_point and window and window != fwd.window:
            ta |= WINDOW_UPDATE
            has_ta = True
        # WINDOW FULL: the data reaches the edge of the receiver's window.
        if seglen > 0 and rev.win_scale != -1 and no_sfr:
            shift = 0 if rev.is_first_ack or rev.win_scale == -2 else rev.win_scale
            if (seq + seglen) & M32 == (rev.lastack + ((rev.window << shift) & M32)) & M32:
                ta |= WINDOW_FULL
                has_ta = True
        # KEEP ALIVE ACK / ZERO WINDOW PROBE ACK: the answer repeats the last
        # ACK right after a keep-alive / probe.
        if same_point and window == fwd.window:
            if window and rev.lastsegmentflags & KEEP_ALIVE:
                ta |= KEEP_ALIVE_ACK
                has_ta = True
            elif window == 0 and rev.lastsegmentflags & ZERO_WINDOW_PROBE:
                ta |= ZERO_WINDOW_PROBE_ACK
                has_ta = True
            elif window:
                # DUPLICATE ACK.  dupacknum is unsigned: -1 (set by an ACK of
                # an unseen segment) is 0xFFFFFFFF.
                fwd.dupacknum = 1 if fwd.dupacknum == M32 else (fwd.dupacknum + 1) & M32
                ta |= DUPLICATE_ACK
                has_ta = True
                dup_num = fwd.dupacknum
                dup_frame = fwd.lastnondupack
    if ack != fwd.lastack:
        fwd.lastnondupack = frame
        fwd.dupacknum = 0

    # ACKED LOST SEGMENT: acknowledges more than the other side was seen to send.
    if rev.maxseqtobeacked and _lt(rev.maxseqtobeacked, ack) and flags & TH_ACK:
        has_ta = True
        if _lt(rev.maxseqtobeacked, rev.nextseq):
            rev.maxseqtobeacked = rev.nextseq
            ta |= ACK_LOST_PACKET
        else:
            if rev.dupacknum == 0:
                ta |= ACK_LOST_PACKET
            rev.dupacknum = M32

    # RETRANSMISSION / FAST RETRANSMISSION / SPURIOUS / OUT-OF-ORDER
    synfin = 1 if flags & (TH_SYN | TH_FIN) else 0
    if (seglen > 0 or synfin) and not ta & KEEP_ALIVE:
        seq_not_advanced = bool(nextseq) and _lt(seq, nextseq)
        if seglen > 1 and (nextseq - 1) & M32 == seq:
            seq_not_advanced = False
        if seglen > 0 and rev.lastack and _le((seq + seglen) & M32, rev.lastack):
            ta |= SPURIOUS_RETRANSMISSION
            has_ta = True
        elif (seq_not_advanced and rev.dupacknum >= 2 and rev.lastack == seq
              and (now - rev.lastacktime) & M64 < FAST_RETRANSMISSION_WINDOW_NS):
            ta |= FAST_RETRANSMISSION
            has_ta = True
        elif (seq_not_advanced
              and (now - fwd.nextseqtime) & M64 < ((conv.ts_first_rtt & M64) if conv.ts_first_rtt
                                                    else OUT_OF_ORDER_DEFAULT_NS)
              and nextseq != (seq + seglen + synfin) & M32):
            ta |= OUT_OF_ORDER
            has_ta = True
        elif seq_not_advanced:
            ta |= RETRANSMISSION
            has_ta = True

    nxt = (seq + seglen) & M32
    if (seglen or synfin) and len(fwd.s_seq) < MAX_UNACKED_SEGMENTS:
        nxt = (nxt + synfin) & M32
        if not fwd.s_seq:
            fwd.ordered = True
        elif fwd.ordered and (_lt(seq, fwd.s_next[-1]) or ((nxt - fwd.s_seq[0]) & M32) >= ORDERED_SPAN):
            fwd.ordered = False
        fwd.s_seq.append(seq)
        fwd.s_next.append(nxt)
        fwd.s_frame.append(frame)
        fwd.s_time.append(now)
    probe = ta & ZERO_WINDOW_PROBE
    if (not nextseq or _lt(nextseq, nxt)) and not probe:
        fwd.nextseq = nxt
        fwd.nextseqtime = now
    if (seq == fwd.maxseqtobeacked or not fwd.maxseqtobeacked) and not probe:
        fwd.maxseqtobeacked = fwd.nextseq

    fwd.window = window
    fwd.lastack = ack
    fwd.lastacktime = now
    fwd.lastsegmentflags = ta if has_ta else 0

    # Drop what this acknowledges from the other direction's segments.
    if rev.s_seq:
        found = _acknowledge(rev, ack)
        if found:
            acked = found[0]
            rtt = now - found[1]
            has_ta = True

    # Bytes in flight: the span of this direction's unacknowledged
    # segments (relative to its ISN), less what the other side SACKed.
    if seglen and fwd.s_seq and fwd.valid_bif:
        in_flight = (_span(fwd) - rev.sack) & M32
        if 0 < in_flight < 2_000_000_000:
            bif = in_flight - synfin
        push_bytes = fwd.push_bytes_sent
        if flags & TH_PUSH:
            push_bytes = seglen if fwd.push_set_last else push_bytes + seglen
            fwd.push_set_last = True
        elif fwd.push_set_last:
            push_bytes = seglen
            fwd.push_set_last = False
        else:
            push_bytes += seglen
        fwd.push_bytes_sent = push_bytes & M32
        push = fwd.push_bytes_sent
        has_ta = True
    return [ta, int(has_ta), dup_num, dup_frame, bif, push, acked, rtt]


def _acknowledge(flow: Flow, ack: int) -> tuple[int, int] | None:
    """Remove the segments ``ack`` covers and shorten one it covers in part,
    as packet-tcp.c decides for each segment.  Returns (frame, time) of the
    oldest segment ``ack`` ends exactly at."""
    seqs, nexts = flow.s_seq, flow.s_next
    found: tuple[int, int] | None = None
    if flow.ordered and ((ack - seqs[0] + ORDERED_SPAN) & M32) < 2 * ORDERED_SPAN:
        # Segments in order without overlap, and the ACK near them, so
        # sequence-space comparisons are plain ones: once a segment stays,
        # the later ones (all beyond it) stay too, and only a prefix is
        # looked at.
        k = 0
        n = len(seqs)
        while k < n:
            nx = nexts[k]
            if ack == nx:
                found = (flow.s_frame[k], flow.s_time[k])
            elif _lt(seqs[k], ack) and _le(ack, nx):
                seqs[k] = ack
                break
            elif _lt(ack, nx):
                break
            k += 1
        if k:
            del seqs[:k], nexts[:k], flow.s_frame[:k], flow.s_time[:k]
        return found
    keep = []
    for k in range(len(seqs)):
        nx = nexts[k]
        if ack == nx:
            if found is None:
                found = (flow.s_frame[k], flow.s_time[k])
        elif _lt(seqs[k], ack) and _le(ack, nx):
            seqs[k] = ack
            keep.append(k)
        elif _lt(ack, nx):
            keep.append(k)
    if len(keep) < len(seqs):
        flow.s_seq = [seqs[k] for k in keep]
        flow.s_next = [nexts[k] for k in keep]
        flow.s_frame = [flow.s_frame[k] for k in keep]
        flow.s_time = [flow.s_time[k] for k in keep]
    flow.ordered = _in_order(flow.s_seq, flow.s_next)
    return found


def _in_order(seqs: list[int], nexts: list[int]) -> bool:
    """Each segment starts at or after the end of the one before, and all
    of them lie within ORDERED_SPAN of the first."""
    if not seqs:
        return True
    if ((nexts[-1] - seqs[0]) & M32) >= ORDERED_SPAN:
        return False
    return all(not _lt(seqs[k], nexts[k - 1]) for k in range(1, len(seqs)))


def _span(flow: Flow) -> int:
    """Highest next-sequence less lowest sequence over the unacknowledged
    segments, both taken relative to the ISN (unsigned, as packet-tcp.c)."""
    base = flow.base_seq
    seqs, nexts = flow.s_seq, flow.s_next
    first = (seqs[0] - base) & M32
    last = (nexts[-1] - base) & M32
    if flow.ordered and first <= last:
        return last - first
    lo = min((s - base) & M32 for s in seqs)
    hi = max((x - base) & M32 for x in nexts)
    return (hi - lo) & M32


class _Packets:
    """The columns of one TCP header (the packet's own, or the one quoted
    in an ICMP error), as Python lists."""

    def __init__(self, col: Any, px: str, n: int) -> None:
        ip_src = col(px + "ip.src")
        ip_dst = col(px + "ip.dst")
        self.ip_src = [-1 if a is None else a for a in ip_src]
        self.ip_dst = [-1 if a is None else a for a in ip_dst]
        self.ip6_src = [b"" if a is None else a for a in col(px + "ipv6.src")]
        self.ip6_dst = [b"" if a is None else a for a in col(px + "ipv6.dst")]
        self.ip_proto = col(px + "ip.proto")
        self.ip6_nxt = col(px + "ipv6.nxt")
        self.sport = col(px + "tcp.srcport")
        self.dport = col(px + "tcp.dstport")
        self.seq = col(px + "tcp.seq_raw")
        self.ack = col(px + "tcp.ack_raw")
        self.flags = col(px + "tcp.flags")
        self.win = col(px + "tcp.window_size_value")
        self.seglen = col(px + "tcp.len") if not px else [None] * n
        self.wscale = col(px + "tcp.options.wscale.shift")
        self.sack_count = col(px + "tcp.options.sack.count")
        self.sack_le = col(px + "tcp.options.sack_le")
        self.sack_re = col(px + "tcp.options.sack_re")


class _Out:
    """The values of one batch, column by column, ``None`` where tshark
    shows nothing (``i_*``: those of a header quoted in an ICMP error)."""

    def __init__(self, n: int) -> None:
        def none() -> list[Any]:
            return [None] * n

        self.stream, self.seq, self.ack, self.nxtseq, self.win, self.scale = (none() for _ in range(6))
        self.dup_num, self.dup_frame, self.bif, self.push, self.acks_frame = (none() for _ in range(5))
        self.ack_rtt, self.irtt, self.trel, self.tdelta, self.flags = (none() for _ in range(5))
        self.i_stream, self.i_seq, self.i_ack, self.i_win, self.i_scale = (none() for _ in range(5))
        self.i_irtt, self.i_trel, self.i_tdelta, self.i_flags = (none() for _ in range(4))

    def arrays(self) -> list[pa.Array]:
        """One array per field of :attr:`TcpAnalysis.FIELDS`, in order."""
        own = {
            "tcp.stream": self.stream, "tcp.seq": self.seq, "tcp.ack": self.ack, "tcp.nxtseq": self.nxtseq,
            "tcp.window_size": self.win, "tcp.window_size_scalefactor": self.scale,
            "tcp.analysis.duplicate_ack_num": self.dup_num, "tcp.analysis.duplicate_ack_frame": self.dup_frame,
            "tcp.analysis.bytes_in_flight": self.bif, "tcp.analysis.push_bytes_sent": self.push,
            "tcp.analysis.acks_frame": self.acks_frame, "tcp.analysis.ack_rtt": self.ack_rtt,
            "tcp.analysis.initial_rtt": self.irtt, "tcp.time_relative": self.trel,
            "tcp.time_delta": self.tdelta,
        }
        inner = {
            "tcp.stream": self.i_stream, "tcp.seq": self.i_seq, "tcp.ack": self.i_ack,
            "tcp.window_size": self.i_win, "tcp.window_size_scalefactor": self.i_scale,
            "tcp.analysis.initial_rtt": self.i_irtt, "tcp.time_relative": self.i_trel,
            "tcp.time_delta": self.i_tdelta,
        }
        out = []
        for fields, values, flags in ((FIELDS, own, self.flags), (INNER_FIELDS, inner, self.i_flags)):
            bits = np.fromiter((0 if v is None else v for v in flags), dtype=np.int64, count=len(flags))
            for f in fields:
                name = f.name.removeprefix(INNER_PREFIX)
                if f.type == "bool":
                    on = (bits & _FLAG_BITS[name]) != 0
                    out.append(pa.array(on, type=pa.bool_(), mask=~on))
                else:
                    out.append(pa.array(values[name], type=f.arrow_type))
        return out


_FLAG_BITS = {name: bits for name, bits, _ in FLAG_FIELDS}
