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

Conversations are keyed as tshark keys them: on the innermost IP header and
the TCP header after it (:func:`tracedoc.analyze.endpoints.ends`), so a
connection carried in GRE, VXLAN, IP-in-IP or Teredo is the same stream
whether or not each of its packets took the tunnel.

The work is one loop over the TCP headers of a batch, in frame order, since
every decision depends on what the packets before it left behind; what is
not sequential is done for the whole batch with numpy before the loop (the
columns it reads, the conversation each header belongs to) and after it
(the output columns).  The loop keeps its values in per-header lists, with
a value the column cannot take where tshark shows nothing, and skips the
work of columns the caller does not want.

What the table cannot give, and so where this can differ from tshark:

- A tunnel the decoder does not open leaves the last IP header it decoded
  as the innermost one, and the conversation is keyed on that.
- SACK blocks beyond the first count for bytes in flight only if the
  decoder gives ``tcp.options.sack_le``/``sack_re`` as lists of every block.
- MPTCP's tolerance of duplicate ACKs is not modelled (no MPTCP columns).
- Conversations other dissectors set up (FTP data, ...) are not modelled;
  tshark numbers a stream when TCP first uses such a conversation, so the
  numbering is the same.
- A TCP header quoted in an ICMP error gets its conversation (and stream
  number) only when the quote holds the whole fixed header; tshark needs 16
  of its 20 bytes.  It is keyed on the quoted IP header; where the quote
  itself holds two IP headers of one family, the table keeps the outer one
  only.
- With ``-E occurrence=a`` tshark prints ``tcp.analysis.duplicate_ack`` as
  ``1,1`` (the field and its expert item); the column here is one flag.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracedoc.analyze.endpoints import NEEDS as ENDS_NEEDS
from tracedoc.analyze.endpoints import ends
from tracedoc.decode.fields import INNER_PREFIX, F, Field
from tracedoc.decode.innermost import mapped

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
_QUOTED_ADDRS = ("ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "ipv6.nxt")
NEEDS: tuple[str, ...] = tuple(dict.fromkeys(
    ("frame.number", "frame.time_epoch", "frame.len", "frame.cap_len", "tcp.payload_offset", "icmp.type",
     "_ws.malformed") + tuple(ENDS_NEEDS) + _OWN
    + tuple(INNER_PREFIX + n for n in _QUOTED_ADDRS + _OWN if n != "tcp.len")))

_QUOTE_CUT = ("tcp: TCP options truncated", "tcp: TCP option truncated")
"""How ``_ws.malformed`` starts when the options of a header run past the
captured bytes (the reasons tracedoc.decode.tcp records): for a quoted
header, the only sign the table gives that tshark's dissection of it
stopped inside the options."""


class Flow:
    """One direction of a conversation (packet-tcp.h ``tcp_flow_t`` with its
    ``tcp_analyze_seq_flow_info_t``)."""

    __slots__ = ("base_seq", "base_set", "win_scale", "window", "is_first_ack", "valid_bif",
                 "push_bytes_sent", "push_set_last", "lastsegmentflags", "nextseq", "nextseqtime",
                 "maxseqtobeacked", "lastack", "lastacktime", "lastnondupack", "dupacknum",
                 "segs", "ordered", "sack")

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
        self.segs: list[tuple[int, int, int, int]] = []
        """The unacknowledged segments, oldest first: (sequence number,
        next sequence number, frame, time)."""
        self.ordered = True
        """The unacknowledged segments follow each other without overlap
        or going back, so an ACK only touches a prefix of them."""
        self.sack = 0
        """Bytes the last SACK option of this direction reported received."""


class Conv:
    """A TCP conversation (packet-tcp.h ``struct tcp_analysis``)."""

    __slots__ = ("stream", "a", "f1", "f2", "ts_first", "ts_prev", "ts_mru_syn", "ts_first_rtt")

    def __init__(self, stream: int, a: bool, ts: int) -> None:
        self.stream = stream
        self.a = a
        """The side (see :func:`_conversation_keys`) whose packets go in ``f1``."""
        self.f1 = Flow()
        self.f2 = Flow()
        self.ts_first = ts
        self.ts_prev = ts
        self.ts_mru_syn = 0
        self.ts_first_rtt = 0


class _Headers:
    """The TCP headers of a batch the analysis works on, in frame order:
    the packet's own header, or failing that a whole one quoted in an ICMP
    error (``quoted``).  ``rows`` are their rows in the batch; the rest are
    Python lists for the loop, one entry per header (-1: no segment length,
    no window scale option)."""

    def __init__(self, batch: pa.RecordBatch) -> None:
        n = batch.num_rows
        names = batch.schema.names

        def ints(name: str) -> tuple[np.ndarray, np.ndarray]:
            """Values (0 where null) and validity of an integer column."""
            if name not in names:
                return np.zeros(n, np.int64), np.zeros(n, bool)
            a = batch.column(name)
            if a.null_count == 0:
                return a.to_numpy().astype(np.int64), np.ones(n, bool)
            valid = a.is_valid().to_numpy(zero_copy_only=False)
            return a.fill_null(0).to_numpy().astype(np.int64), valid

        flags, flags_ok = ints("tcp.flags")
        sport_ok = ints("tcp.srcport")[1]
        seq, seq_ok = ints("tcp.seq_raw")
        ack, ack_ok = ints("tcp.ack_raw")
        win, win_ok = ints("tcp.window_size_value")
        i_flags, i_flags_ok = ints(INNER_PREFIX + "tcp.flags")
        i_sport_ok = ints(INNER_PREFIX + "tcp.srcport")[1]
        i_seq, i_seq_ok = ints(INNER_PREFIX + "tcp.seq_raw")
        i_ack, i_ack_ok = ints(INNER_PREFIX + "tcp.ack_raw")
        i_win, i_win_ok = ints(INNER_PREFIX + "tcp.window_size_value")
        own_header = flags_ok & sport_ok
        quoted_header = ~own_header & i_flags_ok & i_sport_ok
        # A header without its numbers gets no analysis (and the row's
        # quote, if any, is not looked at).
        own = own_header & seq_ok & ack_ok & win_ok
        quoted = quoted_header & i_seq_ok & i_ack_ok & i_win_ok
        self.rows = rows = np.flatnonzero(own | quoted)
        q = quoted[rows]
        self.quoted = q
        self.short_quote = np.flatnonzero(~own_header & ~quoted_header & ints("icmp.type")[1] & i_seq_ok)
        """Rows quoting only 8 bytes of TCP: tshark shows the raw sequence
        number of an ICMPv4-quoted header before giving up."""
        self.short_quote_seq = i_seq[self.short_quote]
        self.m = len(rows)
        if not self.m:
            return

        def pick(own_values: np.ndarray, quoted_values: np.ndarray) -> np.ndarray:
            return np.where(q, quoted_values[rows], own_values[rows])

        self.frames = ints("frame.number")[0][rows].tolist()
        self.time_values = ints("frame.time_epoch")[0][rows]
        self.times = self.time_values.tolist()
        self.seq = pick(seq, i_seq).tolist()
        self.ack = pick(ack, i_ack).tolist()
        self.flags = pick(flags, i_flags).tolist()
        self.win = pick(win, i_win).tolist()

        # The segment length tshark works with: what the IP header says,
        # but no more than the frame holds after the TCP header (an IP
        # length that runs past the end of the frame is cut to it); a
        # header that itself runs past the end has no segment length
        # ("short segment"), and a quoted one gets no analysis: -1.
        seglen, seglen_ok = ints("tcp.len")
        frame_len, frame_len_ok = ints("frame.len")
        payload_at, payload_at_ok = ints("tcp.payload_offset")
        room = frame_len - payload_at
        clamp = seglen_ok & frame_len_ok & payload_at_ok & (room < seglen)
        seglen = np.where(clamp, room, seglen)
        seglen_ok &= ~clamp | (room >= 0)
        self.seglen = np.where(q | ~seglen_ok[rows], -1, seglen[rows]).tolist()

        # Options cut short by the snapshot length stop tshark's dissection
        # of the header before it shows the analysis; for a quote, the
        # decoder notes one that ends inside the options.
        caplen, caplen_ok = ints("frame.cap_len")
        cut = caplen_ok & payload_at_ok & (caplen < payload_at)
        i_cut = np.zeros(n, bool)
        if "_ws.malformed" in names and q.any():
            malformed = batch.column("_ws.malformed")
            for prefix in _QUOTE_CUT:
                i_cut |= pc.fill_null(pc.starts_with(malformed, prefix), False).to_numpy(zero_copy_only=False)
        self.cut = pick(cut, i_cut).tolist()

        shift, shift_ok = ints("tcp.options.wscale.shift")
        i_shift, i_shift_ok = ints(INNER_PREFIX + "tcp.options.wscale.shift")
        self.wscale = pick(np.where(shift_ok, np.minimum(shift, 14), -1),
                           np.where(i_shift_ok, np.minimum(i_shift, 14), -1)).tolist()
        sack = np.zeros(self.m, np.int64)
        for px, which in (("", ~q), (INNER_PREFIX, q)):
            count, _ = ints(px + "tcp.options.sack.count")
            at = np.flatnonzero(which & (count[rows] != 0))
            if len(at):
                le, re = (batch.column(px + name) if px + name in names else pa.nulls(n)
                          for name in ("tcp.options.sack_le", "tcp.options.sack_re"))
                sack[at] = [_sack_bytes(le[r].as_py(), re[r].as_py()) for r in rows[at].tolist()]
        self.sack = sack.tolist()

        self.slot_keys, self.slot, self.side = _conversation_keys(batch, rows, q)


def _conversation_keys(batch: pa.RecordBatch, rows: np.ndarray, quoted: np.ndarray) -> tuple[list[bytes], list[int],
                                                                                              list[bool]]:
    """The conversation of each header, as tshark finds it: the addresses
    of the innermost IP header (for a quote, of the quoted one) and the
    ports, in either order.  Returns the distinct keys (bytes), the index
    of each header's key among them, and each header's side: whether its
    source is the lower end of the key (both, when the ends are the same)."""
    e = ends(pa.Table.from_batches([batch]))
    src = e.src[rows]
    dst = e.dst[rows]
    v4 = e.is_v4[rows]
    sport = _column_ints(batch, "tcp.srcport")[rows]
    dport = _column_ints(batch, "tcp.dstport")[rows]
    if quoted.any():
        at = np.flatnonzero(quoted)
        sub = batch.take(pa.array(rows[at]))
        q4 = sub.column(INNER_PREFIX + "ip.src").is_valid().to_numpy(zero_copy_only=False) \
            if INNER_PREFIX + "ip.src" in sub.schema.names else np.zeros(len(at), bool)
        q6 = sub.column(INNER_PREFIX + "ipv6.src").is_valid().to_numpy(zero_copy_only=False) \
            if INNER_PREFIX + "ipv6.src" in sub.schema.names else np.zeros(len(at), bool)
        # A quote with both families is one tunnelled in the other: IPv4
        # inside IPv6 when IPv6 says so, IPv6 inside IPv4 otherwise.
        use4 = q4 & (~q6 | (_column_ints(sub, INNER_PREFIX + "ipv6.nxt") == 4))
        src[at] = 0
        dst[at] = 0
        for name, out in (("ip.src", src), ("ip.dst", dst)):
            out[at[use4]] = mapped(_column_ints(sub, INNER_PREFIX + name)[use4])
        for name, out in (("ipv6.src", src), ("ipv6.dst", dst)):
            use6 = q6 & ~use4
            if use6.any():
                out[at[use6]] = np.frombuffer(b"".join(sub.column(INNER_PREFIX + name).take(
                    pa.array(np.flatnonzero(use6))).to_pylist()), np.uint8).reshape(-1, 16)
        v4[at] = use4
        sport[at] = _column_ints(sub, INNER_PREFIX + "tcp.srcport")
        dport[at] = _column_ints(sub, INNER_PREFIX + "tcp.dstport")
    # Each end as (address high word, low word, port); the key is the
    # family and the two ends, lower first.
    a_hi, a_lo = np.ascontiguousarray(src).view(">u8").astype(np.uint64).T
    b_hi, b_lo = np.ascontiguousarray(dst).view(">u8").astype(np.uint64).T
    a_port = sport.astype(np.uint64)
    b_port = dport.astype(np.uint64)
    side = (a_hi < b_hi) | ((a_hi == b_hi) & ((a_lo < b_lo) | ((a_lo == b_lo) & (a_port <= b_port))))
    keys = np.stack([np.where(side, a_hi, b_hi), np.where(side, a_lo, b_lo),
                     np.where(side, b_hi, a_hi), np.where(side, b_lo, a_lo),
                     (v4.astype(np.uint64) << np.uint64(32)) | (np.where(side, a_port, b_port) << np.uint64(16))
                     | np.where(side, b_port, a_port)], axis=1)
    # Distinct keys by a hash of them, checked against the keys themselves
    # (sorting the keys as bytes is the slower way, for a collision).
    mix = (keys * _KEY_MULTIPLIERS).sum(axis=1, dtype=np.uint64)
    mix ^= mix >> np.uint64(31)
    _, first, slot = np.unique(mix, return_index=True, return_inverse=True)
    if not (keys[first][slot.ravel()] == keys).all():
        as_bytes = keys.view(f"V{keys.shape[1] * 8}").ravel()
        _, first, slot = np.unique(as_bytes, return_index=True, return_inverse=True)
    return [keys[i].tobytes() for i in first.tolist()], slot.ravel().tolist(), side.tolist()


_KEY_MULTIPLIERS = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
                             0xFF51AFD7ED558CCD], dtype=np.uint64)
"""Odd constants (from xxHash and MurmurHash3) that spread a key's words
over the 64 bits of its hash."""


def _column_ints(batch: pa.RecordBatch, name: str) -> np.ndarray:
    """An integer column as int64, 0 where null or missing."""
    if name not in batch.schema.names:
        return np.zeros(batch.num_rows, np.int64)
    return batch.column(name).fill_null(0).to_numpy().astype(np.int64)


NO_SCALE = -3
"""In :attr:`_Out.scale`: no scaling factor shown (on a SYN)."""


class _Out:
    """The loop's results, one list per column and one entry per header of
    :class:`_Headers`; 0 where tshark shows nothing, a value none of these
    columns takes (-1 for ``nxtseq``, which can be 0, and NO_SCALE for
    ``scale``).  ``tcp.time_relative`` is worked out afterwards from the
    stream and the time."""

    def __init__(self, m: int) -> None:
        self.stream = [0] * m
        self.seq = [0] * m
        self.ack = [0] * m
        self.win = [0] * m
        self.tdelta = [0] * m
        self.nxtseq = [-1] * m
        self.scale = [NO_SCALE] * m
        """The window scale shift, -1 (unknown) or -2 (not used); shown as
        the multiplier in place of a shift."""
        self.flags = [0] * m
        self.irtt = [0] * m
        self.dup_num = [0] * m
        self.dup_frame = [0] * m
        self.bif = [0] * m
        self.push = [0] * m
        self.acks_frame = [0] * m
        self.ack_rtt = [0] * m


_VALUE_COLUMNS = frozenset(n for name in ("tcp.seq", "tcp.ack", "tcp.nxtseq", "tcp.window_size",
                                          "tcp.window_size_scalefactor") for n in (name, INNER_PREFIX + name))
_DELTA_COLUMNS = frozenset(("tcp.time_delta", INNER_PREFIX + "tcp.time_delta"))
_BIF_COLUMNS = frozenset(("tcp.analysis.bytes_in_flight", "tcp.analysis.push_bytes_sent", "tcp.analysis.initial_rtt"))
"""Columns that need work of the analysis loop nothing else needs: the
relative numbers and scaled window; the time since the stream's packet
before; bytes in flight (which also decide whether the iRTT is shown)."""

_ALWAYS = frozenset(("tcp.stream", "tcp.seq", "tcp.ack", "tcp.window_size", "tcp.time_relative", "tcp.time_delta"))
"""Shown on every header the analysis works on."""

_SHOWN_WITH = {"tcp.analysis.push_bytes_sent": "tcp.analysis.bytes_in_flight",
               "tcp.analysis.duplicate_ack_frame": "tcp.analysis.duplicate_ack_num"}
"""Columns shown exactly where another one is (and whose own values
include 0, the loop's mark for nothing shown)."""

_OUT_LIST = {"tcp.stream": "stream", "tcp.seq": "seq", "tcp.ack": "ack", "tcp.nxtseq": "nxtseq",
             "tcp.window_size": "win", "tcp.window_size_scalefactor": "scale",
             "tcp.analysis.duplicate_ack_num": "dup_num", "tcp.analysis.duplicate_ack_frame": "dup_frame",
             "tcp.analysis.bytes_in_flight": "bif", "tcp.analysis.push_bytes_sent": "push",
             "tcp.analysis.acks_frame": "acks_frame", "tcp.analysis.ack_rtt": "ack_rtt",
             "tcp.analysis.initial_rtt": "irtt", "tcp.time_relative": "trel", "tcp.time_delta": "tdelta"}


class TcpAnalysis:
    """Deriver of the ``tcp.analysis.*`` columns and their companions.

    ``wanted``: the columns the caller will use (default: all of them); the
    others come back null.  The state every column depends on is kept
    whole either way; what is skipped is building the other columns and
    the work only they need (relative numbers, time deltas, bytes in
    flight).
    """

    FIELDS: ClassVar[tuple[Field, ...]] = FIELDS + INNER_FIELDS
    NEEDS: ClassVar[tuple[str, ...]] = NEEDS
    TAKES_WANTED: ClassVar[bool] = True

    def __init__(self, wanted: Iterable[str] | None = None) -> None:
        self.slots: dict[bytes, int] = {}
        """Conversation key -> index in :attr:`current`."""
        self.current: list[Conv | None] = []
        """The conversation each key now names (a SYN with a new ISN
        replaces it)."""
        self.streams = 0
        self.first_times: list[int] = []
        """Time of each stream's first packet (``tcp.time_relative`` counts from it)."""
        self.wanted = None if wanted is None else frozenset(wanted)

    def feed(self, batch: pa.RecordBatch) -> list[pa.Array]:
        """The columns of :attr:`FIELDS` for the next batch of the trace."""
        h = _Headers(batch)
        out = _Out(h.m)
        if h.m:
            slots = self.slots
            current = self.current
            index = []
            for key in h.slot_keys:
                k = slots.get(key)
                if k is None:
                    k = slots[key] = len(current)
                    current.append(None)
                index.append(k)
            self._run(h, [index[s] for s in h.slot], out)
        return self._arrays(batch.num_rows, h, out)

    def _new(self, slot: int, side: bool, ts: int) -> Conv:
        """A new conversation, numbered as tshark numbers its streams."""
        conv = Conv(self.streams, side, ts)
        self.streams += 1
        self.current[slot] = conv
        self.first_times.append(ts)
        return conv

    def _run(self, h: _Headers, slots: list[int], out: _Out) -> None:
        """``dissect_tcp`` for each header (a quoted one gets no sequence
        analysis; ``cut``: its options run past the captured bytes, where
        tshark's dissection stops after the options it could read), with
        ``tcp_analyze_sequence_number`` written out in it: this loop is
        where the time goes, so it reads each value once into a local."""
        current = self.current
        new = self._new
        o_stream, o_seq, o_ack, o_win, o_tdelta = out.stream, out.seq, out.ack, out.win, out.tdelta
        o_nxtseq, o_scale, o_flags, o_irtt = out.nxtseq, out.scale, out.flags, out.irtt
        o_dup_num, o_dup_frame, o_bif, o_push = out.dup_num, out.dup_frame, out.bif, out.push
        o_acks_frame, o_ack_rtt = out.acks_frame, out.ack_rtt
        acknowledge = _acknowledge
        span = _span
        m32 = M32
        # Work only some columns need is skipped when none of them is wanted.
        wanted = self.wanted
        want_values = wanted is None or not wanted.isdisjoint(_VALUE_COLUMNS)
        want_delta = wanted is None or not wanted.isdisjoint(_DELTA_COLUMNS)
        want_bif = wanted is None or not wanted.isdisjoint(_BIF_COLUMNS)
        for j, (slot, side, frame, now, seq, ack, flags, win, seglen, cut, shift, sack) in enumerate(zip(
                slots, h.side, h.frames, h.times, h.seq, h.ack, h.flags, h.win, h.seglen, h.cut, h.wscale,
                h.sack)):
            conv = current[slot]
            if conv is None:
                conv = new(slot, side, now)
            if side == conv.a:
                fwd, rev = conv.f1, conv.f2
            else:
                fwd, rev = conv.f2, conv.f1
            ta = 0  # analysis flags of this frame
            has_ta = False  # tshark made a tcp_acked record for this frame
            syn_ack = flags & (TH_SYN | TH_ACK)
            if syn_ack == TH_SYN and fwd.base_set:
                if seq != fwd.base_seq:
                    # A new ISN on a known tuple: a new conversation.
                    conv = new(slot, side, now)
                    fwd, rev = conv.f1, conv.f2
                    ta = REUSED_PORTS
                else:
                    # A repeated SYN: undo what a RST in between may have moved.
                    fwd.nextseq = fwd.maxseqtobeacked
                has_ta = True
            elif syn_ack == TH_SYN | TH_ACK and fwd.base_set and seq != fwd.base_seq:
                fwd.base_seq = seq
                ta = REUSED_PORTS
                has_ta = True
            if want_delta:
                o_tdelta[j] = now - conv.ts_prev
                conv.ts_prev = now

            rel_seq = seq
            rel_ack = ack
            shown_win = win
            if seglen >= 0:
                if not fwd.base_set:
                    fwd.base_seq = seq if flags & TH_SYN else (seq - 1) & m32
                    fwd.base_set = True
                if not rev.base_set and flags & TH_ACK:
                    rev.base_seq = (ack - 1) & m32
                    rev.base_set = True

                # ---- tcp_analyze_sequence_number
                nextseq = fwd.nextseq
                lastack = fwd.lastack
                if flags & TH_ACK:
                    rev.valid_bif = True
                no_sfr = not flags & (TH_SYN | TH_FIN | TH_RST)

                # ZERO WINDOW PROBE: one byte at the next expected sequence
                # number into a zero window.  Nothing else is judged about it.
                if seglen == 1 and seq == nextseq and rev.window == 0:
                    ta |= ZERO_WINDOW_PROBE
                    has_ta = True
                else:
                    # ZERO WINDOW: the sender advertises no room (not on SYN/FIN/RST).
                    if win == 0 and no_sfr:
                        ta |= ZERO_WINDOW
                        has_ta = True
                    # LOST SEGMENT: beyond the highest sequence number seen so far.
                    if seq != nextseq and nextseq and ((nextseq - seq) & m32) >= 0x80000000 and not flags & TH_RST:
                        ta |= LOST_PACKET
                        has_ta = True
                        fwd.valid_bif = False
                    # KEEP ALIVE: 0 or 1 byte, one before the next expected byte.
                    if seq != nextseq and seglen <= 1 and seq == (nextseq - 1) & m32 and no_sfr:
                        ta |= KEEP_ALIVE
                        has_ta = True
                    # WINDOW UPDATE: nothing new but the window.
                    same_point = seglen == 0 and seq == nextseq and ack == lastack and no_sfr
                    if same_point and win and win != fwd.window:
                        ta |= WINDOW_UPDATE
                        has_ta = True
                    # WINDOW FULL: the data reaches the edge of the receiver's window.
                    if seglen > 0 and rev.win_scale != -1 and no_sfr:
                        rshift = 0 if rev.is_first_ack or rev.win_scale == -2 else rev.win_scale
                        if (seq + seglen) & m32 == (rev.lastack + ((rev.window << rshift) & m32)) & m32:
                            ta |= WINDOW_FULL
                            has_ta = True
                    # KEEP ALIVE ACK / ZERO WINDOW PROBE ACK: the answer repeats
                    # the last ACK right after a keep-alive / probe.
                    if same_point and win == fwd.window:
                        if win and rev.lastsegmentflags & KEEP_ALIVE:
                            ta |= KEEP_ALIVE_ACK
                            has_ta = True
                        elif win == 0 and rev.lastsegmentflags & ZERO_WINDOW_PROBE:
                            ta |= ZERO_WINDOW_PROBE_ACK
                            has_ta = True
                        elif win:
                            # DUPLICATE ACK.  dupacknum is unsigned: -1 (set by an
                            # ACK of an unseen segment) is 0xFFFFFFFF.
                            dup = fwd.dupacknum
                            dup = fwd.dupacknum = 1 if dup == m32 else (dup + 1) & m32
                            ta |= DUPLICATE_ACK
                            has_ta = True
                            if not cut:
                                o_dup_num[j] = dup
                                o_dup_frame[j] = fwd.lastnondupack
                if ack != lastack:
                    fwd.lastnondupack = frame
                    fwd.dupacknum = 0

                # ACKED LOST SEGMENT: acknowledges more than the other side
                # was seen to send.
                rmax = rev.maxseqtobeacked
                if rmax and ((rmax - ack) & m32) >= 0x80000000 and flags & TH_ACK:
                    has_ta = True
                    if ((rmax - rev.nextseq) & m32) >= 0x80000000:
                        rev.maxseqtobeacked = rev.nextseq
                        ta |= ACK_LOST_PACKET
                    else:
                        if rev.dupacknum == 0:
                            ta |= ACK_LOST_PACKET
                        rev.dupacknum = m32

                # RETRANSMISSION / FAST RETRANSMISSION / SPURIOUS / OUT-OF-ORDER
                synfin = 1 if flags & (TH_SYN | TH_FIN) else 0
                if (seglen > 0 or synfin) and not ta & KEEP_ALIVE:
                    seq_not_advanced = seq != nextseq and nextseq != 0 and ((seq - nextseq) & m32) >= 0x80000000
                    if seglen > 1 and (nextseq - 1) & m32 == seq:
                        seq_not_advanced = False
                    if seq_not_advanced or seglen > 0:
                        rlastack = rev.lastack
                        if seglen > 0 and rlastack and ((rlastack - seq - seglen) & m32) <= 0x80000000:
                            ta |= SPURIOUS_RETRANSMISSION
                            has_ta = True
                        elif (seq_not_advanced and rev.dupacknum >= 2 and rlastack == seq
                              and (now - rev.lastacktime) & M64 < FAST_RETRANSMISSION_WINDOW_NS):
                            ta |= FAST_RETRANSMISSION
                            has_ta = True
                        elif (seq_not_advanced
                              and (now - fwd.nextseqtime) & M64 < ((conv.ts_first_rtt & M64) if conv.ts_first_rtt
                                                                    else OUT_OF_ORDER_DEFAULT_NS)
                              and nextseq != (seq + seglen + synfin) & m32):
                            ta |= OUT_OF_ORDER
                            has_ta = True
                        elif seq_not_advanced:
                            ta |= RETRANSMISSION
                            has_ta = True

                nxt = (seq + seglen) & m32
                segs = fwd.segs
                if (seglen or synfin) and len(segs) < MAX_UNACKED_SEGMENTS:
                    nxt = (nxt + synfin) & m32
                    if not segs:
                        fwd.ordered = True
                    elif fwd.ordered and (((seq - segs[-1][1]) & m32) >= 0x80000000
                                          or ((nxt - segs[0][0]) & m32) >= ORDERED_SPAN):
                        fwd.ordered = False
                    segs.append((seq, nxt, frame, now))
                probe = ta & ZERO_WINDOW_PROBE
                if not probe:
                    if not nextseq or (nxt != nextseq and ((nextseq - nxt) & m32) >= 0x80000000):
                        fwd.nextseq = nxt
                        fwd.nextseqtime = now
                    if seq == fwd.maxseqtobeacked or not fwd.maxseqtobeacked:
                        fwd.maxseqtobeacked = fwd.nextseq

                fwd.window = win
                fwd.lastack = ack
                fwd.lastacktime = now
                fwd.lastsegmentflags = ta  # (0 unless has_ta)

                # Drop what this acknowledges from the other direction's
                # segments, and find the one it ends at.
                r_segs = rev.segs
                if r_segs:
                    if rev.ordered and ((ack - r_segs[0][0] + ORDERED_SPAN) & m32) < 2 * ORDERED_SPAN:
                        # In order without overlap, and the ACK near them
                        # (see _acknowledge): only a prefix is looked at.
                        k = 0
                        count = len(r_segs)
                        hit = None
                        while k < count:
                            sg = r_segs[k]
                            nx = sg[1]
                            if ack == nx:
                                hit = sg
                            elif ((sg[0] - ack) & m32) >= 0x80000000 and ((nx - ack) & m32) <= 0x80000000:
                                r_segs[k] = (ack, nx, sg[2], sg[3])
                                break
                            elif ((ack - nx) & m32) >= 0x80000000:
                                break
                            k += 1
                        if hit is not None:
                            has_ta = True
                            if hit[2] and not cut:
                                o_acks_frame[j] = hit[2]
                                o_ack_rtt[j] = now - hit[3]
                        if k:
                            del r_segs[:k]
                    else:
                        found = acknowledge(rev, ack)
                        if found is not None:
                            has_ta = True
                            if found[2] and not cut:
                                o_acks_frame[j] = found[2]
                                o_ack_rtt[j] = now - found[3]

                # Bytes in flight: the span of this direction's unacknowledged
                # segments (relative to its ISN), less what the other side SACKed.
                if seglen and want_bif and segs and fwd.valid_bif:
                    base = fwd.base_seq
                    first = (segs[0][0] - base) & m32
                    last = (segs[-1][1] - base) & m32
                    in_flight = ((last - first if fwd.ordered and first <= last else span(fwd)) - rev.sack) & m32
                    push_bytes = fwd.push_bytes_sent
                    if flags & TH_PUSH:
                        push_bytes = seglen if fwd.push_set_last else push_bytes + seglen
                        fwd.push_set_last = True
                    elif fwd.push_set_last:
                        push_bytes = seglen
                        fwd.push_set_last = False
                    else:
                        push_bytes += seglen
                    push_bytes = fwd.push_bytes_sent = push_bytes & m32
                    has_ta = True
                    if 0 < in_flight < 2_000_000_000 and not cut:
                        o_bif[j] = in_flight - synfin
                        o_push[j] = push_bytes
                # ---- end of tcp_analyze_sequence_number

                if want_values:
                    rel_seq = (seq - fwd.base_seq) & m32
                    if flags & TH_ACK:
                        rel_ack = (ack - rev.base_seq) & m32
                    if not flags & TH_SYN and fwd.win_scale >= 0:
                        shown_win = win << fwd.win_scale
                    o_nxtseq[j] = (rel_seq + seglen + synfin) & m32

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
            if shift >= 0:
                fwd.win_scale = shift
            fwd.sack = sack

            o_stream[j] = conv.stream
            if want_values:
                o_seq[j] = rel_seq
                o_ack[j] = rel_ack
                o_win[j] = shown_win
                if not flags & TH_SYN:
                    o_scale[j] = fwd.win_scale
            if flags & TH_SYN and not cut:
                _verify_window_scaling(fwd, rev, bool(flags & TH_ACK))
            if has_ta and not cut:
                o_flags[j] = ta
                o_irtt[j] = conv.ts_first_rtt

    def _arrays(self, n: int, h: _Headers, out: _Out) -> list[pa.Array]:
        """One array per field of :attr:`FIELDS`, in order: the loop's
        values put in their rows, the own header's in the plain columns
        and the quoted one's in the ``inner.`` ones."""
        wanted = self.wanted
        m = h.m
        cache: dict[str, np.ndarray] = {}

        def values(name: str) -> np.ndarray:
            if name not in cache:
                if name == "trel":
                    first = np.fromiter(self.first_times, np.int64, len(self.first_times))
                    cache[name] = h.time_values - first[values("stream")] if m else np.zeros(0, np.int64)
                else:
                    cache[name] = np.fromiter(getattr(out, name), np.int64, m)
            return cache[name]

        arrays = []
        for fields, which in ((FIELDS, ~h.quoted), (INNER_FIELDS, h.quoted)):
            rows = h.rows[which]
            flag_bits = None
            for f in fields:
                name = f.name.removeprefix(INNER_PREFIX)
                if wanted is not None and f.name not in wanted:
                    arrays.append(pa.nulls(n, f.arrow_type))
                elif f.type == "bool":
                    if flag_bits is None:
                        flag_bits = np.zeros(n, np.int64)
                        flag_bits[rows] = values("flags")[which]
                    on = (flag_bits & _FLAG_BITS[name]) != 0
                    arrays.append(pa.array(on, type=pa.bool_(), mask=~on))
                else:
                    full = np.zeros(n, f.arrow_type.to_pandas_dtype())
                    shown = np.zeros(n, bool)
                    v = values(_OUT_LIST[name])[which]
                    if name in _ALWAYS:
                        full[rows] = v
                        shown[rows] = True
                    else:
                        if name == "tcp.nxtseq":
                            present = v != -1
                        elif name == "tcp.window_size_scalefactor":
                            present = v != NO_SCALE
                            v = np.where(v >= 0, np.left_shift(1, np.maximum(v, 0)), v)
                        else:
                            present = values(_OUT_LIST[_SHOWN_WITH.get(name, name)])[which] != 0
                        full[rows[present]] = v[present]
                        shown[rows[present]] = True
                    if f.name == INNER_PREFIX + "tcp.seq" and len(h.short_quote):
                        full[h.short_quote] = h.short_quote_seq
                        shown[h.short_quote] = True
                    arrays.append(pa.array(full, type=f.arrow_type, mask=~shown))
        return arrays


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
def _acknowledge(flow: Flow, ack: int) -> tuple[int, int, int, int] | None:
    """Remove the segments ``ack`` covers and shorten one it covers in part,
    as packet-tcp.c decides for each segment.  Returns the oldest segment
    ``ack`` ends exactly at.

    The analysis loop does this itself in the common case, where the
    segments are in order without overlap and within ORDERED_SPAN of each
    other and the ACK is within it of the first: sequence-space comparisons
    are then plain ones, so once a segment stays the later ones (all beyond
    it) stay too, and only a prefix is looked at.  This is the general case,
    which looks at every segment."""
    found = None
    keep = []
    for sg in flow.segs:
        nx = sg[1]
        if ack == nx:
            if found is None:
                found = sg
        elif _lt(sg[0], ack) and _le(ack, nx):
            keep.append((ack, nx, sg[2], sg[3]))
        elif _lt(ack, nx):
            keep.append(sg)
    flow.segs = keep
    flow.ordered = _in_order(keep)
    return found


def _in_order(segs: list[tuple[int, int, int, int]]) -> bool:
    """Each segment starts at or after the end of the one before, and all
    of them lie within ORDERED_SPAN of the first."""
    if not segs:
        return True
    if ((segs[-1][1] - segs[0][0]) & M32) >= ORDERED_SPAN:
        return False
    return all(not _lt(segs[k][0], segs[k - 1][1]) for k in range(1, len(segs)))


def _span(flow: Flow) -> int:
    """Highest next-sequence less lowest sequence over the unacknowledged
    segments, both taken relative to the ISN (unsigned, as packet-tcp.c);
    the analysis loop works it out itself for segments in order."""
    base = flow.base_seq
    lo = min((sg[0] - base) & M32 for sg in flow.segs)
    hi = max((sg[1] - base) & M32 for sg in flow.segs)
    return (hi - lo) & M32


_FLAG_BITS = {name: bits for name, bits, _ in FLAG_FIELDS}
