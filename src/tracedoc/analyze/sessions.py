"""The Session Summary: one row per TCP connection, UDP flow or ICMP exchange.

What a session is
-----------------
- **TCP**: a connection on one 5-tuple, delimited the way Zeek delimits it
  (``base/protocols/conn`` and ``packet_analysis/protocol/tcp``): a SYN with a
  new initial sequence number on a tuple whose connection has closed (or has
  not got past its SYN) starts a new session, and so does any packet after
  the old connection was dropped by one of Zeek's timers (a SYN unanswered
  for 5 s, 5 s after the close completed, idle for 60 s before the handshake
  finished or 300 s after).  A connection first seen mid-stream is a
  "partial" connection; its initiator is then guessed from the ports.
- **UDP**: a flow on one 5-tuple that ends after ``udp_timeout`` seconds idle.
- **ICMP**: an echo exchange (requests and replies with one identifier
  between two hosts), or a run of other informational messages (router or
  neighbour solicitation and their answers, timestamp, mask) between two
  hosts, ending after ``icmp_timeout`` idle.  ICMP *errors* (IPv4 types 3, 4,
  5, 11, 12; ICMPv6 1-4) are not sessions of their own: they are attached to
  the TCP or UDP session whose header they quote (``inner.*`` columns), which
  counts them in ``icmp_errors`` and names the first one in
  ``first_icmp_error``; the error's frame carries that session's SID but is
  not counted in its datagrams.  An error quoting a session that is not in
  the trace becomes an ICMP session of its own.

Only the outermost IP header and the transport header that follows it
define a session: the packet table holds the first occurrence of each field,
so a tunnel's inner connections are not seen (the tunnel itself, e.g. the
VXLAN or Teredo UDP flow, is).  A datagram that IP fragmentation split is
counted once, with its reassembled length, in the session of the fragment
that completed it (the one carrying the transport header); its other
fragments carry the same SID.

Initiator, local and remote
---------------------------
The initiator is the client: the sender of the first SYN, else (UDP,
partial TCP) the sender of the first packet unless the ports say the other
side is the server (Zeek's ``likely_server_ports`` heuristic, with the ports
of Zeek's base protocol scripts; a flip is recorded as ``^`` in the history).
The *local* endpoint is the one in the local network (:class:`LocalSide`);
when both or neither are, it is the initiator.  "In" counts go toward the
local endpoint, "out" counts away from it.

conn_state and history
----------------------
``conn_state`` (S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH) and
``history`` follow Zeek's definitions exactly: ``conn_state`` is computed from
the two endpoints' final TCP states as ``Conn::conn_state`` does, and the
history letters are added as Zeek's TCP analyzer adds them (upper case from
the initiator, lower case from the responder): ``S`` SYN, ``H`` SYN-ACK,
``A`` pure ACK, ``D`` payload, ``F`` FIN, ``R`` RST (each of these once, except
that S/H/F/R repeat when the sequence number differs from the last one of
that kind), ``I`` FIN+RST, ``Q`` SYN with FIN or RST, ``T`` retransmitted
payload and ``W`` zero window (logarithmic: 1st, 10th, 100th ...), ``^``
roles flipped.  ``C`` (bad checksum) and ``G`` (content gap, seen by Zeek's
reassembler) are not produced: the packet table does not say whether a
checksum is valid, and the analysis does not reassemble streams.  UDP
history is ``D``/``d`` (and ``^``); UDP conn_state is SF (both sides sent),
S0 (initiator only), SHR (responder only).  ICMP sessions are OTH with no
history.

Timing
------
``start``/``end`` are the first and last packet of the session (epoch
nanoseconds in the table), ``elapsed`` = end - start.  Server time and
network time share one definition for every protocol:

- a *request* is a run of consecutive payload-carrying packets from the
  initiator (TCP: ``tcp.len`` > 0; UDP and ICMP: every datagram); the
  *response* is the responder's payload-carrying packets that follow before
  the initiator sends payload again (a run of the responder's before any
  request, such as a banner, is no response);
- ``wait_i`` = first response packet time - last request packet time;
- ``rtt`` is the network round trip: the TCP handshake RTT (the most recent
  SYN to the first ACK that completes the handshake, as tshark's
  ``tcp.analysis.initial_rtt``), or with no handshake the smallest ``wait_i``;
- the network's share of each wait is ``min(wait_i, rtt)``;
- ``server_time`` = sum of (wait_i - share_i);
- ``network_time`` = the handshake RTT (if seen) + sum of share_i + the
  transfer time of every request and response run (its last packet time -
  its first packet time);
- ``client_time`` = elapsed - server_time - network_time (never below 0).

TCP options: the MSS, window scale shift and SACK-permitted option each side
offered on its SYN (or SYN-ACK); the agreed MSS is the smaller offer, window
scaling is in use only if both sides offered it, SACK only if both permitted
it.  ``completeness`` is Wireshark's ``tcp.completeness`` bit set (1 SYN,
2 SYN-ACK, 4 ACK, 8 data, 16 FIN, 32 RST).  Retransmission and duplicate-ACK
counts come from the ``tcp.analysis.*`` columns when the table has them
(null when it does not).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tracedoc.analyze.services import TCP_SERVICES, UDP_SERVICES
from tracedoc.analyze.summary import (
    ICMP_TYPES,
    ICMPV6_TYPES,
    LocalSide,
    _in_network,
    infer_local,
)

# ---------------------------------------------------------------- settings

UDP_TIMEOUT = 60.0
"""Seconds a UDP flow may stay idle before its next datagram starts a new session (Zeek's udp_inactivity_timeout)."""
ICMP_TIMEOUT = 60.0
"""Seconds an ICMP exchange may stay idle (Zeek's icmp_inactivity_timeout)."""
TCP_INACTIVITY_TIMEOUT = 300.0
"""Seconds an established TCP connection may stay idle (Zeek's tcp_inactivity_timeout); before the
handshake completes Zeek applies its UDP timeout instead."""
TCP_ATTEMPT_DELAY = 5.0
"""A SYN unanswered this long is a finished connection attempt (Zeek's tcp_attempt_delay)."""
TCP_CLOSE_DELAY = 5.0
"""A connection whose close completed is dropped this long after its last packet (tcp_close_delay)."""
TCP_SYN_TIMEOUT = 5.0
"""When Zeek first checks a new connection for expiry (tcp_SYN_timeout)."""
TCP_CONNECTION_LINGER = 5.0
"""Idle time after which a closed or one-sided connection is expired (tcp_connection_linger)."""
TCP_SESSION_TIMER = 6.0
"""Interval between Zeek's expiry checks of a connection (tcp_session_timer)."""

# Zeek's likely_server_ports as its base protocol scripts populate them: a
# partial TCP connection or a UDP flow whose first packet comes from one of
# these ports (and goes to none) has its roles flipped.
LIKELY_SERVER_PORTS_TCP = frozenset({
    21, 22, 25, 53, 79, 80, 81, 88, 110, 135, 139, 143, 389, 443, 445, 502, 563, 585, 587, 614, 631,
    636, 750, 989, 990, 992, 993, 995, 1080, 1434, 2811, 3128, 3268, 3306, 3389, 5222, 5223, 5269, 5432,
    6379, 8000, 8080, 8888, 20000,
})
LIKELY_SERVER_PORTS_UDP = frozenset({
    53, 67, 88, 123, 137, 161, 162, 389, 443, 514, 750, 1812, 2123, 2152, 3389, 3544, 4789, 5060,
    5072, 5353, 5355, 6081, 20000,
})

DNS_SESSION_TIMEOUT = 10.0
"""Zeek's DNS analyzer drops a UDP flow to a DNS port about this long after its last packet
(dns_session_timeout: checked every 10 s, dropped once idle 9 s)."""
DNS_PORTS_UDP = frozenset({53, 137, 5353, 5355})
"""UDP ports Zeek's DNS analyzer (and so its session timeout) is attached to."""

ICMP_ERRORS_V4 = frozenset({3, 4, 5, 11, 12})
ICMP_ERRORS_V6 = frozenset({1, 2, 3, 4})
# Request type -> reply type of ICMP's query/answer pairs.
ICMP_PAIRS_V4 = {8: 0, 13: 14, 15: 16, 17: 18, 10: 9}
ICMP_PAIRS_V6 = {128: 129, 133: 134, 135: 136, 130: 131}

_PROTO_NAMES = ("", "tcp", "udp", "icmp", "icmpv6")
_TCP, _UDP, _ICMP, _ICMP6 = 1, 2, 3, 4

_RETRANSMISSION_COLUMNS = ("tcp.analysis.retransmission", "tcp.analysis.fast_retransmission",
                           "tcp.analysis.spurious_retransmission")
_DUP_ACK_COLUMN = "tcp.analysis.duplicate_ack"

_WANTED = [
    "frame.number", "frame.time_epoch", "frame.cap_len",
    "ip.src", "ip.dst", "ip.len", "ip.hdr_len", "ip.proto", "ip.id", "ip.flags.mf", "ip.frag_offset",
    "ipv6.src", "ipv6.dst", "ipv6.plen", "ipv6.nxt", "ipv6.fragment.offset", "ipv6.fragment.more",
    "ipv6.fragment.id", "arp.src.proto_ipv4", "arp.dst.proto_ipv4", "gre.proto",
    "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags", "tcp.hdr_len", "tcp.len",
    "tcp.payload_offset",
    "tcp.window_size_value", "tcp.options.mss_val", "tcp.options.wscale.shift", "tcp.options.sack_perm",
    "udp.srcport", "udp.dstport", "udp.length",
    "icmp.type", "icmp.code", "icmp.ident", "icmpv6.type", "icmpv6.code",
    "inner.ip.src", "inner.ip.dst", "inner.ip.proto", "inner.ipv6.src", "inner.ipv6.dst", "inner.ipv6.nxt",
    "inner.tcp.srcport", "inner.tcp.dstport", "inner.udp.srcport", "inner.udp.dstport",
    *_RETRANSMISSION_COLUMNS, _DUP_ACK_COLUMN,
]


_LOCAL_COLUMNS = ("ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "arp.src.proto_ipv4", "arp.dst.proto_ipv4")


def _session_columns() -> list[str]:
    from tracedoc.analyze.derived import FIELDS

    return [c for c in _WANTED if c in FIELDS]


SESSION_COLUMNS: list[str] = _session_columns()
"""The packet-table columns :func:`build_sessions` reads (those the decoder and derivers provide)."""

COLUMNS = [
    "sid", "proto", "start", "end", "elapsed", "server_time", "network_time", "client_time",
    "local_ip", "local_port", "local_service", "remote_ip", "remote_port", "remote_service",
    "initiator", "initiator_ip", "initiator_port", "responder_ip", "responder_port",
    "packets_in", "packets_out", "bytes_in", "bytes_out", "payload_in", "payload_out", "avg_datagram",
    "conn_state", "history", "completeness", "handshake_rtt",
    "mss_initiator", "mss_responder", "mss", "wscale_initiator", "wscale_responder", "window_scaling",
    "sack_initiator", "sack_responder", "sack_permitted",
    "retransmissions", "duplicate_acks", "icmp_ident", "icmp_errors", "first_icmp_error",
    "first_frame", "last_frame",
]
"""The session table's columns, in order.  Times: ``start``/``end`` epoch ns; durations in seconds."""


@dataclass
class Sessions:
    table: pa.Table
    """One row per session, :data:`COLUMNS`, in SID order."""
    sid: np.ndarray
    """int64, one per packet of the input table: the packet's SID, 0 when it is in no session."""
    local: LocalSide | None


# ------------------------------------------------------------ column access


def _col(tbl: pa.Table, name: str, dtype: type = np.int64) -> tuple[np.ndarray, np.ndarray]:
    """Values (nulls as 0) and validity of a column; absent columns are all null."""
    n = tbl.num_rows
    if name not in tbl.column_names:
        return np.zeros(n, dtype=dtype), np.zeros(n, dtype=bool)
    a = tbl[name].combine_chunks()
    valid = ~np.asarray(a.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_binary(a.type) or pa.types.is_large_binary(a.type):
        return valid.copy(), valid
    fill = False if pa.types.is_boolean(a.type) else 0
    vals: np.ndarray = np.asarray(a.fill_null(fill).to_numpy(zero_copy_only=False)).astype(dtype, copy=False)
    return vals, valid


def _v6_words(tbl: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IPv6 addresses as two big-endian uint64 halves, and validity."""
    n = tbl.num_rows
    if name not in tbl.column_names:
        z = np.zeros(n, dtype=np.uint64)
        return z, z.copy(), np.zeros(n, dtype=bool)
    a = tbl[name].combine_chunks()
    valid = ~np.asarray(a.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    hi = np.zeros(n, dtype=np.uint64)
    lo = np.zeros(n, dtype=np.uint64)
    if valid.any() and pa.types.is_fixed_size_binary(a.type) and a.type.byte_width == 16:
        buf = a.buffers()[1]
        raw = np.frombuffer(buf, dtype=">u8")[2 * a.offset:2 * (a.offset + n)].reshape(n, 2)
        hi = np.where(valid, raw[:, 0], 0).astype(np.uint64)
        lo = np.where(valid, raw[:, 1], 0).astype(np.uint64)
    return hi, lo, valid


class _Addresses:
    """One integer id per distinct address over every address column used."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, fam: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> int:
        self.parts.append((fam.astype(np.uint64), hi.astype(np.uint64), lo.astype(np.uint64)))
        return len(self.parts) - 1

    def factorize(self) -> list[np.ndarray]:
        fam = np.concatenate([p[0] for p in self.parts])
        hi = np.concatenate([p[1] for p in self.parts])
        lo = np.concatenate([p[2] for p in self.parts])
        if len(fam) == 0:
            self.fam = self.hi = self.lo = np.zeros(0, dtype=np.uint64)
            return [np.zeros(0, dtype=np.int64) for _ in self.parts]
        order = np.lexsort((lo, hi, fam))
        f, h, low = fam[order], hi[order], lo[order]
        new = np.ones(len(order), dtype=bool)
        new[1:] = (f[1:] != f[:-1]) | (h[1:] != h[:-1]) | (low[1:] != low[:-1])
        ids_sorted = np.cumsum(new) - 1
        ids = np.empty(len(order), dtype=np.int64)
        ids[order] = ids_sorted
        self.fam, self.hi, self.lo = f[new], h[new], low[new]
        out = []
        pos = 0
        for p in self.parts:
            out.append(ids[pos:pos + len(p[0])])
            pos += len(p[0])
        return out

    def is_group(self) -> np.ndarray:
        """Per address id: a broadcast (255.255.255.255) or multicast address."""
        v4 = self.fam == 4
        v6 = self.fam == 6
        low = self.lo.astype(np.uint64)
        return (v4 & (((low >> np.uint64(28)) == 0xE) | (low == 0xFFFFFFFF))) | \
            (v6 & ((self.hi >> np.uint64(56)) == 0xFF))

    def texts(self, ids: np.ndarray) -> list[str]:
        """Address text of each id in ``ids``."""
        out = []
        for i in ids.tolist():
            f, h, low = int(self.fam[i]), int(self.hi[i]), int(self.lo[i])
            if f == 4:
                out.append(str(ipaddress.IPv4Address(low & 0xFFFFFFFF)))
            elif f == 6:
                out.append(str(ipaddress.IPv6Address((h << 64) | low)))
            else:
                out.append("")
        return out


# --------------------------------------------------------- TCP, as Zeek does

INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)
_HANDSHAKE = (INACTIVE, SYN_SENT, SYN_ACK_SENT)

# Zeek's history masks (TCP_Endpoint.h); the responder's are shifted by 16.
HIST_SYN_PKT, HIST_FIN_PKT, HIST_RST_PKT, HIST_FIN_RST_PKT = 0x1, 0x2, 0x4, 0x8
HIST_DATA_PKT, HIST_ACK_PKT, HIST_MULTI_FLAG_PKT = 0x10, 0x20, 0x40

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
TOO_LARGE_SEQ_DELTA = 1048576

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


def _seq_delta(a: int, b: int) -> int:
    d = (a - b) & _M32
    return d - 0x100000000 if d & 0x80000000 else d


class _End:
    """One endpoint of a TCP connection (Zeek's TCP_Endpoint)."""

    __slots__ = ("state", "prev", "start", "last", "ack", "swraps", "awraps", "did_close", "fin_cnt",
                 "h_syn", "h_fin", "h_rst", "rx_cnt", "rx_thr", "w_cnt", "w_thr", "is_orig", "peer")

    def __init__(self, is_orig: bool) -> None:
        self.state = self.prev = INACTIVE
        self.start = self.last = self.ack = 0
        self.swraps = self.awraps = 0
        self.did_close = False
        self.fin_cnt = 0
        self.h_syn = self.h_fin = self.h_rst = 0
        self.rx_cnt = self.w_cnt = 0
        self.rx_thr = self.w_thr = 1
        self.is_orig = is_orig
        self.peer: _End = self

    def update_last(self, seq: int) -> None:
        if seq < self.last:
            self.swraps += 1
        self.last = seq

    def update_ack(self, seq: int) -> None:
        if seq < self.ack:
            self.awraps += 1
        self.ack = seq

    def rel(self, cur: int, last: int, wraps: int) -> tuple[int, bool]:
        """Zeek's get_relative_seq: (relative sequence number, underflow)."""
        delta = _seq_delta(cur, last)
        if delta < 0:
            if wraps and cur > last:
                wraps -= 1
        elif delta > 0 and cur < last:
            wraps += 1
        if wraps == 0:
            d = _seq_delta(cur, self.start)
            return d & _M64, d < 0
        return ((wraps << 32) | cur) - self.start, False

    def no_data_acked(self) -> bool:
        a = (self.awraps << 32) | self.ack
        return a == self.start or a == self.start + 1

    def size(self) -> int:
        if self.prev == SYN_SENT and self.state == RESET and self.peer.state == INACTIVE and not self.no_data_acked():
            return 0
        last64 = (self.swraps << 32) | self.last
        ack64 = (self.awraps << 32) | self.ack
        size = ((last64 if last64 > ack64 else ack64) - self.start) & _M64
        if size:
            size -= 1
        if self.fin_cnt and size:
            size -= 1
        return size


class _Conn:
    """One TCP connection: Zeek's TCPSessionAdapter state, reduced to what
    decides the session's extent, conn_state and history."""

    __slots__ = ("o", "r", "orig_is_lo", "hist", "seen", "last_time", "inact", "tcp_inact", "active",
                 "attempt_at", "expire", "delete_at", "syn_time", "first_rtt", "complete", "npk", "index")

    def __init__(self, index: int, orig_is_lo: bool, t: int, flip: bool, tcp_inact: int) -> None:
        self.index = index
        self.o = _End(True)
        self.r = _End(False)
        self.o.peer, self.r.peer = self.r, self.o
        self.orig_is_lo = orig_is_lo
        self.hist: list[str] = []
        self.seen = 0
        self.last_time = t
        # Until the handshake is over Zeek applies its UDP inactivity timeout to a TCP connection.
        self.inact = _PRE_HANDSHAKE_NS
        self.tcp_inact = tcp_inact
        self.active = True
        self.attempt_at = -1
        self.expire: list[int] = [t + int(TCP_SYN_TIMEOUT * 1e9)]
        self.delete_at = -1
        self.syn_time = -1
        self.first_rtt = -1
        self.complete = 0
        self.npk = 0
        if flip:
            self.flip()

    # -- history
    def check(self, ep: _End, mask: int, code: str) -> bool:
        if not ep.is_orig:
            mask <<= 16
            code = code.lower()
        if self.seen & mask == 0:
            self.seen |= mask
            self.hist.append(code)
            return False
        return True

    def add(self, ep: _End, code: str) -> None:
        self.hist.append(code if ep.is_orig else code.lower())

    def flip(self) -> None:
        self.o, self.r = self.r, self.o
        self.o.is_orig = True
        self.r.is_orig = False
        self.orig_is_lo = not self.orig_is_lo
        self.hist.append("^")

    def set_state(self, ep: _End, new: int) -> None:
        if new != ep.state:
            if new not in _HANDSHAKE and ep.state in _HANDSHAKE and ep.peer.state in _HANDSHAKE:
                self.inact = self.tcp_inact
            ep.prev = ep.state
            ep.state = new

    # -- timers: is the connection gone by the time a packet arrives at t?
    def expired(self, t: int) -> bool:
        if t - self.last_time >= self.inact:
            return True
        if 0 <= self.delete_at <= t:
            return True
        o, r = self.o, self.r
        if 0 <= self.attempt_at <= t:
            self.attempt_at = -1
            if self.active and o.state in (SYN_SENT, SYN_ACK_SENT) and r.state == INACTIVE:
                return True
        if self.expire:
            keep = []
            for at in self.expire:
                if at > t:
                    keep.append(at)
                    continue
                if not self.active:
                    continue
                # The last time this timer fired before t (it re-arms every TCP_SESSION_TIMER).
                fired = at + (t - at) // _SESSION_TIMER_NS * _SESSION_TIMER_NS
                if self.last_time + _LINGER_NS < fired:
                    if o.did_close or r.did_close:
                        if (o.did_close and r.did_close) or RESET in (o.state, r.state) or \
                                INACTIVE in (o.state, r.state):
                            return True
                    if r.state == INACTIVE and o.state == INACTIVE:
                        return True
                keep.append(fired + _SESSION_TIMER_NS)
            self.expire = keep
        return False

    def is_reuse(self, flags: int, seq: int) -> bool:
        if not flags & SYN:
            return False
        conn_orig = self.o
        if flags & ACK:
            if self.o.state != INACTIVE:
                return False
            conn_orig = self.r
        if not (self.o.did_close or self.r.did_close):
            if seq == conn_orig.start:
                return False
            if not flags & ACK and conn_orig.state == SYN_ACK_SENT and self.r.state == INACTIVE \
                    and seq == self.r.start:
                return False
        return True

    # -- one packet
    def process(self, is_orig: bool, t: int, flags: int, seq: int, ack_seq: int, length: int, win: int) -> None:
        ep = self.o if is_orig else self.r
        peer = ep.peer
        syn, fin, rst, ack = flags & SYN, flags & FIN, flags & RST, flags & ACK
        seg = length + (1 if syn else 0) + (1 if fin else 0) - (length if rst else 0)
        seq_end = (seq + seg) & _M32

        # init_endpoint
        st = ep.state
        if st == INACTIVE:
            if syn:
                ep.ack = ep.start = seq
                ep.last = seq_end
            else:
                ep.ack = ep.start = (seq - 1) & _M32
                ep.last = seq
        elif syn and (((st == SYN_SENT or st == SYN_ACK_SENT) and seq != ep.start)
                      or st == ESTABLISHED or st == PARTIAL or (st == RESET and ep.prev == INACTIVE)):
            ep.start = ep.ack = seq
            ep.last = seq_end

        rel_seq, _ = ep.rel(seq, ep.last, ep.swraps)

        # update_history
        bits = (1 if syn else 0) + (1 if fin else 0) + (1 if rst else 0)
        if bits > 1:
            if fin and rst:
                self.check(ep, HIST_FIN_RST_PKT, "I")
            else:
                self.check(ep, HIST_MULTI_FLAG_PKT, "Q")
        elif bits == 1:
            if syn:
                code = "H" if ack else "S"
                if self.check(ep, HIST_SYN_PKT, code) and rel_seq != ep.h_syn:
                    self.add(ep, code)
                ep.h_syn = rel_seq
            if fin:
                end = (rel_seq + length) & _M64
                if self.check(ep, HIST_FIN_PKT, "F") and end != ep.h_fin:
                    self.add(ep, "F")
                ep.h_fin = end
            if rst:
                if self.check(ep, HIST_RST_PKT, "R") and rel_seq != ep.h_rst:
                    self.add(ep, "R")
                ep.h_rst = rel_seq
        elif length:
            self.check(ep, HIST_DATA_PKT, "D")
        elif ack:
            self.check(ep, HIST_ACK_PKT, "A")

        # update_window: zero windows, logarithmically
        if win == 0 and not rst and peer.state != CLOSED and ep.state != RESET:
            ep.w_cnt += 1
            if ep.w_cnt == ep.w_thr:
                self.add(ep, "W")
                ep.w_thr *= 10

        if not (self.o.did_close and self.r.did_close):
            self.last_time = t
        if fin:
            ep.fin_cnt += 1

        if ack:
            if peer.state == INACTIVE:
                peer.start = peer.ack = peer.last = (ack_seq - 1) & _M32
            else:
                _, underflow = peer.rel(ack_seq, peer.ack, peer.awraps)
                if not underflow and not rst:
                    delta = _seq_delta(ack_seq, peer.ack)
                    if not (ack_seq == 0 and delta > TOO_LARGE_SEQ_DELTA) and delta > 0:
                        peer.update_ack(ack_seq)

        # update_last_seq: payload at or below what was sent before is a retransmission
        delta_last = _seq_delta(seq_end, ep.last)
        if (syn or rst) and (delta_last > TOO_LARGE_SEQ_DELTA or delta_last < -TOO_LARGE_SEQ_DELTA):
            pass
        elif fin and ep.last == ((ep.start + 1) & _M32):
            ep.update_last(seq_end)
        elif ep.state == RESET:
            pass
        elif delta_last > 0:
            ep.update_last(seq_end)
        elif length > 0:
            ep.rx_cnt += 1
            if ep.rx_cnt == ep.rx_thr:
                self.add(ep, "T")
                ep.rx_thr *= 10

        do_close, gen_event = self.update_state(t, ep, peer, seq, length, is_orig, flags)
        if do_close:
            self.closed(ep, peer, gen_event)

        # Wireshark's tcp.completeness (packet-tcp.c, dissect_tcp): a pure SYN
        # counts only as a conversation's first packet; later, SYN-ACK, pure
        # ACK or data, FIN with ACK and RST each add their bit.
        if self.npk == 0:
            if syn and not ack:
                self.complete = 1 | (8 if length else 0)
        else:
            if syn and ack:
                self.complete |= 2
            elif ack and not syn:
                self.complete |= 8 if length else 4
            if fin and ack:
                self.complete |= 16
            if rst:
                self.complete |= 32
        self.npk += 1
        # tshark's tcp.analysis.initial_rtt: the latest pure SYN to the first pure ACK.
        if syn and not ack:
            self.syn_time = t
        elif ack and not syn and self.syn_time >= 0 and self.first_rtt < 0:
            self.first_rtt = t - self.syn_time

    def update_state(self, t: int, ep: _End, peer: _End, seq: int, length: int, is_orig: bool,
                     flags: int) -> tuple[bool, bool]:
        syn, fin, rst, ack = flags & SYN, flags & FIN, flags & RST, flags & ACK
        do_close = gen_event = False
        st = ep.state
        if st == INACTIVE:
            if syn:
                if is_orig:
                    self.set_state(ep, SYN_ACK_SENT if ack else SYN_SENT)
                    self.attempt_at = t + _ATTEMPT_NS
                else:
                    if not ack and peer.state == SYN_ACK_SENT and seq == ep.start:
                        # A SYN-ACK seen before its SYN: the roles were the other way round.
                        self.flip()
                        self.set_state(peer, ESTABLISHED)
                    if peer.state == SYN_SENT:
                        self.set_state(peer, ESTABLISHED)
                    self.set_state(ep, ESTABLISHED)
            if fin:
                self.set_state(ep, CLOSED)
                do_close = gen_event = True
            if rst:
                self.set_state(ep, RESET)
                if is_orig:
                    reject = peer.state == ESTABLISHED
                else:
                    reject = peer.state in (SYN_SENT, SYN_ACK_SENT)
                do_close = True
                gen_event = not reject
            if ep.state == INACTIVE:
                if not is_orig and length == 0 and self.o.state == SYN_SENT:
                    pass
                elif ack and peer.state == ESTABLISHED:
                    self.set_state(ep, ESTABLISHED)
                else:
                    self.set_state(ep, PARTIAL)
        elif st == SYN_SENT or st == SYN_ACK_SENT:
            if fin:
                self.set_state(ep, CLOSED)
                do_close = gen_event = True
            if rst:
                self.set_state(ep, RESET)
                self.active = False
                do_close = True
        elif st == ESTABLISHED or st == PARTIAL:
            if syn and st == PARTIAL and peer.state == INACTIVE and not ack:
                self.set_state(ep, SYN_SENT)
            if fin and not rst:
                self.set_state(ep, CLOSED)
                if peer.state == RESET and peer.prev == CLOSED:
                    self.set_state(peer, CLOSED)
                do_close = gen_event = True
            if rst:
                self.set_state(ep, RESET)
                do_close = True
                if peer.state != RESET or peer.prev != ESTABLISHED:
                    self.active = False
        elif st == CLOSED:
            if rst and peer.state != CLOSED:
                self.set_state(ep, RESET)
                if not ep.did_close:
                    do_close = True
        return do_close, gen_event

    def closed(self, ep: _End, peer: _End, gen_event: bool) -> None:
        if ep.did_close:
            return
        ep.did_close = True
        if ep.state == RESET or peer.did_close or peer.state == INACTIVE:
            if (ep.prev != INACTIVE or peer.state != INACTIVE) and gen_event:
                self.active = False
            self.attempt_at = -1
            self.expire = []
            self.delete_at = self.last_time + _CLOSE_NS
        elif ep.prev != INACTIVE:
            self.expire.append(self.last_time + _SESSION_TIMER_NS)

    def conn_state(self) -> str:
        """Zeek's Conn::conn_state for TCP."""
        os_, rs = self.o.state, self.r.state
        o_inactive = os_ in (INACTIVE, PARTIAL)
        r_inactive = rs in (INACTIVE, PARTIAL)
        if rs == RESET:
            if os_ in (SYN_SENT, SYN_ACK_SENT) or (os_ == RESET and self.o.size() == 0 and self.r.size() == 0):
                return "REJ"
            return "RSTRH" if o_inactive else "RSTR"
        if os_ == RESET:
            if r_inactive:
                return "RSTOS0" if _rstos0(self.hist) else "OTH"
            return "RSTO"
        if rs == CLOSED and os_ == CLOSED:
            return "SF"
        if os_ == CLOSED:
            return "SH" if r_inactive else "S2"
        if rs == CLOSED:
            return "SHR" if o_inactive else "S3"
        if os_ == SYN_SENT and rs == INACTIVE:
            return "S0"
        if os_ == ESTABLISHED and rs == ESTABLISHED:
            return "S1"
        return "OTH"


def _rstos0(hist: list[str]) -> bool:
    """Zeek's ``/\\^?S[^HAFGIQ]*R.*/ == history``."""
    h = "".join(hist).removeprefix("^")
    if not h.startswith("S"):
        return False
    for c in h[1:]:
        if c == "R":
            return True
        if c in "HAFGIQ":
            return False
    return False


_PRE_HANDSHAKE_NS = int(UDP_TIMEOUT * 1e9)
_ATTEMPT_NS = int(TCP_ATTEMPT_DELAY * 1e9)
_CLOSE_NS = int(TCP_CLOSE_DELAY * 1e9)
_LINGER_NS = int(TCP_CONNECTION_LINGER * 1e9)
_SESSION_TIMER_NS = int(TCP_SESSION_TIMER * 1e9)


def _likely_flip_tcp(sport: int, dport: int, flags: int) -> bool:
    """Zeek's TCPAnalyzer::WantConnection role flip for a connection first seen without a plain SYN."""
    if flags & SYN and not flags & ACK:
        return False
    if sport in LIKELY_SERVER_PORTS_TCP:
        if dport in LIKELY_SERVER_PORTS_TCP:
            return not flags & SYN and sport < dport
        return True
    return False


def _tcp_sessions(order: np.ndarray, newflow: np.ndarray, lo_is_src: np.ndarray, t: np.ndarray,
                  flags: np.ndarray, seq: np.ndarray, ack: np.ndarray, length: np.ndarray, win: np.ndarray,
                  sport: np.ndarray, dport: np.ndarray, whole: np.ndarray,
                  inact_ns: int) -> tuple[np.ndarray, list[_Conn]]:
    """Run Zeek's TCP connection tracking over the TCP rows ``order`` (grouped by flow, frame order
    within a flow).  Returns each row's connection index and the connections."""
    conn_of = np.empty(len(order), dtype=np.int64)
    conns: list[_Conn] = []
    cur: _Conn | None = None
    tl, fl, sl, al = t[order].tolist(), flags[order].tolist(), seq[order].tolist(), ack[order].tolist()
    ll, wl, dl = length[order].tolist(), win[order].tolist(), lo_is_src[order].tolist()
    spl, dpl, nl = sport[order].tolist(), dport[order].tolist(), newflow.tolist()
    okl = whole[order].tolist()
    for k in range(len(tl)):
        tk, f, s = tl[k], fl[k], sl[k]
        if nl[k]:
            cur = None
        elif cur is not None and (cur.expired(tk) or cur.is_reuse(f, s)):
            cur = None
        if cur is None:
            cur = _Conn(len(conns), dl[k], tk, _likely_flip_tcp(spl[k], dpl[k], f), inact_ns)
            conns.append(cur)
        conn_of[k] = cur.index
        if okl[k]:
            cur.process(dl[k] == cur.orig_is_lo, tk, f, s, al[k], ll[k], wl[k])
    return conn_of, conns


# ----------------------------------------------------------------- helpers


def _group_starts(keys: list[np.ndarray], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort ``rows`` by ``keys`` (then row order); returns the order and where each new key begins."""
    if len(rows) == 0:
        return rows, np.zeros(0, dtype=bool)
    cols = [k[rows] for k in keys]
    order = rows[np.lexsort([rows] + cols[::-1])]
    new = np.zeros(len(order), dtype=bool)
    new[0] = True
    for k in keys:
        v = k[order]
        new[1:] |= v[1:] != v[:-1]
    return order, new


def _split_idle(order: np.ndarray, new: np.ndarray, t: np.ndarray, timeout_ns: int) -> np.ndarray:
    """Session starts within flows: a flow's first packet, or one idle ``timeout_ns`` or more."""
    starts = new.copy()
    if len(order) > 1:
        gap = np.diff(t[order])
        starts[1:] |= gap >= timeout_ns
    return starts


def _dns_starts(order: np.ndarray, new: np.ndarray, starts: np.ndarray, dns: np.ndarray, t: np.ndarray,
                dp: np.ndarray, flip: np.ndarray, sp: np.ndarray, idle_ns: int) -> None:
    """Mark where Zeek's DNS analyzer ends a UDP flow on a DNS port: its timer
    first fires ``DNS_SESSION_TIMEOUT`` after the flow began and every
    ``DNS_SESSION_TIMEOUT`` after that, and drops the flow once it has been
    idle ``DNS_SESSION_TIMEOUT`` - 1 s (DNS_Analyzer::ExpireTimer)."""
    step = int(DNS_SESSION_TIMEOUT * 1e9)
    idle = step - 1_000_000_000
    pos = np.flatnonzero(dns)
    rows = order[pos]
    tl, nl = t[rows].tolist(), new[pos].tolist()
    resp_dns = np.where(flip[rows], sp[rows], dp[rows])
    rl = np.isin(resp_dns, list(DNS_PORTS_UDP)).tolist()
    last = check = 0
    timed = False
    for j, k in enumerate(pos.tolist()):
        tk = tl[j]
        begin = nl[j] or tk - last >= idle_ns
        if not begin and timed:
            while check <= tk:
                if check - last >= idle:
                    begin = True
                    break
                check += step
        if begin:
            starts[k] = True
            timed = rl[j]
            check = tk + step
        last = tk


def _dur_text(v: float | None) -> str:
    if v is None or math.isnan(v):
        return ""
    tenth_ms = round(v * 10000)
    h, rem = divmod(tenth_ms, 36_000_000)
    m, rem = divmod(rem, 600_000)
    s, frac = divmod(rem, 10_000)
    return f"{h:02d}:{m:02d}:{s:02d}.{frac:04d}"


def duration_texts(values: list[float | None]) -> list[str]:
    """Durations in seconds as hh:mm:ss.tttt (tenths of milliseconds)."""
    return [_dur_text(v) for v in values]


# ------------------------------------------------------------------- build


def build_sessions(tbl: pa.Table, local: LocalSide | None = None, udp_timeout: float = UDP_TIMEOUT,
                   icmp_timeout: float = ICMP_TIMEOUT,
                   tcp_inactivity_timeout: float = TCP_INACTIVITY_TIMEOUT) -> Sessions:
    """The sessions of the packets in ``tbl``, in frame order (the order Zeek
    reads a trace in).

    ``tbl`` is a packet table holding :data:`SESSION_COLUMNS` (a column it
    lacks counts as null).  ``local`` says which side is local; without it
    the side is inferred from ``tbl`` as the Packet Summary does.  The
    timeouts are in seconds (see the module docstring)."""
    n = tbl.num_rows
    if local is None and all(c in tbl.column_names for c in _LOCAL_COLUMNS):
        local = infer_local(tbl)
    t, _ = _col(tbl, "frame.time_epoch")
    frame, _ = _col(tbl, "frame.number")

    # Which IP header is the outer one.
    src4, has4 = _col(tbl, "ip.src")
    dst4, _ = _col(tbl, "ip.dst")
    s6h, s6l, has6 = _v6_words(tbl, "ipv6.src")
    d6h, d6l, _ = _v6_words(tbl, "ipv6.dst")
    ipproto, _ = _col(tbl, "ip.proto")
    nxt6, _ = _col(tbl, "ipv6.nxt")
    use6 = has6 & (~has4 | (nxt6 == 4))
    use4 = has4 & ~use6
    _, has_gre = _col(tbl, "gre.proto")
    tunnel6 = use6 & (np.isin(nxt6, (4, 41, 47)) | has4 | has_gre)

    addrs = _Addresses()
    zero = np.zeros(n, dtype=np.uint64)
    fam = np.where(use4, 4, np.where(use6, 6, 0))
    pa_src = addrs.add(fam, np.where(use4, zero, s6h), np.where(use4, src4.astype(np.uint64), s6l))
    pa_dst = addrs.add(fam, np.where(use4, zero, d6h), np.where(use4, dst4.astype(np.uint64), d6l))
    isrc4, ihas4 = _col(tbl, "inner.ip.src")
    idst4, _ = _col(tbl, "inner.ip.dst")
    is6h, is6l, ihas6 = _v6_words(tbl, "inner.ipv6.src")
    id6h, id6l, _ = _v6_words(tbl, "inner.ipv6.dst")
    ifam = np.where(ihas4, 4, np.where(ihas6, 6, 0))
    pa_isrc = addrs.add(ifam, np.where(ihas4, zero, is6h), np.where(ihas4, isrc4.astype(np.uint64), is6l))
    pa_idst = addrs.add(ifam, np.where(ihas4, zero, id6h), np.where(ihas4, idst4.astype(np.uint64), id6l))
    ids = addrs.factorize()
    a_src, a_dst, a_isrc, a_idst = ids[pa_src], ids[pa_dst], ids[pa_isrc], ids[pa_idst]

    # Transport of the outer header.
    tsp, has_tcp = _col(tbl, "tcp.srcport")
    tdp, _ = _col(tbl, "tcp.dstport")
    thl, has_thl = _col(tbl, "tcp.hdr_len")
    usp, has_udp = _col(tbl, "udp.srcport")
    udp_dp, _ = _col(tbl, "udp.dstport")
    it4, has_icmp = _col(tbl, "icmp.type")
    it6, has_icmp6 = _col(tbl, "icmpv6.type")
    is_udp = has_udp & ((use4 & (ipproto == 17)) | (use6 & ~tunnel6))
    # Zeek needs the fixed TCP header to make a connection, and the whole header
    # (with options) to analyse the packet: a packet cut inside its options
    # joins its session without being counted in it.
    poff, has_poff = _col(tbl, "tcp.payload_offset")
    caplen, has_cap = _col(tbl, "frame.cap_len")
    known = has_poff & has_cap
    tcp_fixed = ~known | (caplen - (poff - thl) >= 20)
    tcp_whole = ~known | (caplen >= poff)
    is_tcp = has_tcp & has_thl & (thl >= 20) & tcp_fixed & \
        ((use4 & (ipproto == 6)) | (use6 & ~tunnel6 & ~has_udp))
    is_icmp4 = has_icmp & use4 & (ipproto == 1)
    is_icmp6 = has_icmp6 & use6 & ~tunnel6 & ~has_udp & ~has_tcp
    sp = np.where(is_tcp, tsp, np.where(is_udp, usp, 0))
    dp = np.where(is_tcp, tdp, np.where(is_udp, udp_dp, 0))

    # IP bytes of each datagram (a reassembled one counts its whole length).
    iplen, _ = _col(tbl, "ip.len")
    plen6, _ = _col(tbl, "ipv6.plen")
    foff, _ = _col(tbl, "ip.frag_offset")
    f6off, has_f6 = _col(tbl, "ipv6.fragment.offset")
    ipbytes = np.where(use4, iplen + foff * 8, np.where(use6, plen6 + 40 + np.where(has_f6, f6off * 8 - 8, 0), 0))
    ipbytes = np.maximum(ipbytes, 0)

    # Canonical endpoint order of every packet: "lo" is the smaller (address, port).
    lo_is_src = (a_src < a_dst) | ((a_src == a_dst) & (sp <= dp))
    a_lo = np.where(lo_is_src, a_src, a_dst)
    a_hi = np.where(lo_is_src, a_dst, a_src)
    p_lo = np.where(lo_is_src, sp, dp)
    p_hi = np.where(lo_is_src, dp, sp)

    pkt_conn = np.full(n, -1, dtype=np.int64)      # session (before SID numbering) of each packet
    counted = np.zeros(n, dtype=bool)               # counted in the session's datagrams
    proto_l: list[int] = []
    orig_lo_l: list[bool] = []                      # the initiator is the "lo" endpoint
    key_l: list[tuple[int, int, int, int, int]] = []  # (proto, a_lo, p_lo, a_hi, p_hi)
    hist_l: list[str] = []
    state_l: list[str] = []
    rtt_l: list[float | None] = []
    complete_l: list[int | None] = []
    ident_l: list[int | None] = []

    # -- TCP
    tcp_rows = np.flatnonzero(is_tcp)
    proto_code = np.full(n, 0, dtype=np.int64)
    proto_code[is_tcp] = _TCP
    proto_code[is_udp] = _UDP
    order, new = _group_starts([proto_code, a_lo, p_lo, a_hi, p_hi], tcp_rows)
    if len(order):
        flags, _ = _col(tbl, "tcp.flags")
        seq, _ = _col(tbl, "tcp.seq_raw")
        ackn, _ = _col(tbl, "tcp.ack_raw")
        tlen, _ = _col(tbl, "tcp.len")
        win, has_win = _col(tbl, "tcp.window_size_value")
        win = np.where(has_win, win, 1)
        conn_of, conns = _tcp_sessions(order, new, lo_is_src, t, flags, seq, ackn, tlen, win, sp, dp, tcp_whole,
                                       int(tcp_inactivity_timeout * 1e9))
        base = len(proto_l)
        pkt_conn[order] = conn_of + base
        counted[order] = tcp_whole[order]
        first = order[np.unique(conn_of, return_index=True)[1]]
        for c, r in zip(conns, first.tolist()):
            proto_l.append(_TCP)
            orig_lo_l.append(c.orig_is_lo)
            key_l.append((_TCP, int(a_lo[r]), int(p_lo[r]), int(a_hi[r]), int(p_hi[r])))
            hist_l.append("".join(c.hist))
            state_l.append(c.conn_state())
            rtt_l.append(c.first_rtt / 1e9 if c.first_rtt >= 0 else None)
            complete_l.append(c.complete)
            ident_l.append(None)

    # -- UDP
    udp_rows = np.flatnonzero(is_udp)
    order, new = _group_starts([proto_code, a_lo, p_lo, a_hi, p_hi], udp_rows)
    if len(order):
        udp_ns = int(udp_timeout * 1e9)
        starts = _split_idle(order, new, t, udp_ns)
        # A datagram to a broadcast or multicast group never makes the group the initiator.
        group = addrs.is_group()
        likely_src = np.isin(sp, list(LIKELY_SERVER_PORTS_UDP))
        likely_dst = np.isin(dp, list(LIKELY_SERVER_PORTS_UDP))
        flip_here = likely_src & ~likely_dst & ~group[a_dst]
        dns = np.isin(p_lo[order], list(DNS_PORTS_UDP)) | np.isin(p_hi[order], list(DNS_PORTS_UDP))
        if dns.any():
            _dns_starts(order, new, starts, dns, t, dp, flip_here, sp, udp_ns)
        sess = np.cumsum(starts) - 1
        base = len(proto_l)
        pkt_conn[order] = sess + base
        counted[order] = True
        first = order[starts]
        flip = flip_here[first]
        orig_lo = lo_is_src[first] ^ flip
        # Order of each side's first datagram decides whether history reads "Dd" or "dD".
        from_lo = lo_is_src[order]
        k = int(sess[-1]) + 1
        big = np.iinfo(np.int64).max
        first_lo = np.full(k, big, dtype=np.int64)
        first_hi = np.full(k, big, dtype=np.int64)
        pos = np.arange(len(order))
        np.minimum.at(first_lo, sess[from_lo], pos[from_lo])
        np.minimum.at(first_hi, sess[~from_lo], pos[~from_lo])
        for i in range(k):
            r = int(first[i])
            o_first = first_lo[i] if orig_lo[i] else first_hi[i]
            r_first = first_hi[i] if orig_lo[i] else first_lo[i]
            letters = sorted([(o_first, "D"), (r_first, "d")])
            h = ("^" if flip[i] else "") + "".join(c for p, c in letters if p != big)
            proto_l.append(_UDP)
            orig_lo_l.append(bool(orig_lo[i]))
            key_l.append((_UDP, int(a_lo[r]), int(p_lo[r]), int(a_hi[r]), int(p_hi[r])))
            hist_l.append(h)
            state_l.append("SF" if o_first != big and r_first != big else ("S0" if o_first != big else "SHR"))
            rtt_l.append(None)
            complete_l.append(None)
            ident_l.append(None)

    # -- ICMP exchanges (errors are attached below)
    ident, has_ident = _col(tbl, "icmp.ident")
    itype = np.where(is_icmp4, it4, np.where(is_icmp6, it6, -1))
    err4 = is_icmp4 & np.isin(it4, list(ICMP_ERRORS_V4))
    err6 = is_icmp6 & np.isin(it6, list(ICMP_ERRORS_V6))
    is_err = err4 | err6
    info = (is_icmp4 | is_icmp6) & ~is_err
    # The request type of a query/answer pair names the exchange; the requester is its initiator.
    klass = itype.copy()
    is_request = np.zeros(n, dtype=bool)
    for pairs, which in ((ICMP_PAIRS_V4, is_icmp4), (ICMP_PAIRS_V6, is_icmp6)):
        for req, rep in pairs.items():
            is_request |= which & (itype == req)
            klass = np.where(which & (itype == rep), req, klass)
    echo_id = np.where(info & is_icmp4 & has_ident, ident, 0)
    iproto = np.where(is_icmp4, _ICMP, _ICMP6)
    # Addresses in canonical order regardless of ports (ICMP has none).
    alo_i = np.minimum(a_src, a_dst)
    ahi_i = np.maximum(a_src, a_dst)
    info_rows = np.flatnonzero(info)
    order, new = _group_starts([iproto, alo_i, ahi_i, klass, echo_id], info_rows)
    if len(order):
        starts = _split_idle(order, new, t, int(icmp_timeout * 1e9))
        sess = np.cumsum(starts) - 1
        base = len(proto_l)
        pkt_conn[order] = sess + base
        counted[order] = True
        k = int(sess[-1]) + 1
        # Initiator: the sender of the first request, else the receiver of the first answer.
        src_is_lo = a_src <= a_dst
        req_pos = np.full(k, -1, dtype=np.int64)
        rq = is_request[order]
        if rq.any():
            s_rq = sess[rq]
            uniq, idx = np.unique(s_rq, return_index=True)
            req_pos[uniq] = order[rq][idx]
        first = order[starts]
        for i in range(k):
            r = int(first[i])
            rp = int(req_pos[i])
            o_lo = bool(src_is_lo[rp]) if rp >= 0 else (bool(src_is_lo[r]) if klass[r] == itype[r]
                                                        else not bool(src_is_lo[r]))
            proto_l.append(int(iproto[r]))
            orig_lo_l.append(o_lo)
            key_l.append((int(iproto[r]), int(alo_i[r]), int(klass[r]), int(ahi_i[r]), int(echo_id[r])))
            hist_l.append("")
            state_l.append("OTH")
            rtt_l.append(None)
            complete_l.append(None)
            ident_l.append(int(echo_id[r]) if has_ident[r] and is_icmp4[r] else None)

    # -- fragments without a transport header join the datagram they belong to
    _attach_fragments(tbl, pkt_conn, use4, use6, a_src, a_dst, ipproto, t)

    # -- ICMP errors join the session whose packet they quote
    sess_start = _first_time(pkt_conn, counted, t, len(proto_l))
    icmp_err_count = np.zeros(len(proto_l), dtype=np.int64)
    icmp_err_first = np.full(len(proto_l), -1, dtype=np.int64)
    err_rows = np.flatnonzero(is_err)
    attached = np.zeros(n, dtype=bool)
    if len(err_rows):
        extra = _attach_errors(tbl, err_rows, pkt_conn, key_l, sess_start, t, a_isrc, a_idst, icmp_err_count,
                               icmp_err_first, frame)
        # Errors quoting nothing in the trace: an ICMP session per (hosts, type) as Zeek has.
        attached[err_rows[~extra]] = True
        lone = err_rows[extra]
        order, new = _group_starts([iproto, alo_i, ahi_i, itype], lone)
        if len(order):
            starts = _split_idle(order, new, t, int(icmp_timeout * 1e9))
            sess = np.cumsum(starts) - 1
            base = len(proto_l)
            pkt_conn[order] = sess + base
            counted[order] = True
            for r in order[starts].tolist():
                proto_l.append(int(iproto[r]))
                orig_lo_l.append(bool(a_src[r] <= a_dst[r]))
                key_l.append((int(iproto[r]), int(alo_i[r]), int(itype[r]), int(ahi_i[r]), 0))
                hist_l.append("")
                state_l.append("OTH")
                rtt_l.append(None)
                complete_l.append(None)
                ident_l.append(None)
            icmp_err_count = np.concatenate([icmp_err_count, np.zeros(len(proto_l) - len(icmp_err_count), np.int64)])
            icmp_err_first = np.concatenate([icmp_err_first, np.full(len(proto_l) - len(icmp_err_first), -1,
                                                                     np.int64)])

    return _assemble(tbl, local, t, frame, pkt_conn, counted, lo_is_src, ipbytes, addrs, a_lo, a_hi, proto_l,
                     orig_lo_l, key_l, hist_l, state_l, rtt_l, complete_l, ident_l, icmp_err_count,
                     icmp_err_first, is_tcp, is_udp, attached)


def _first_time(pkt_conn: np.ndarray, counted: np.ndarray, t: np.ndarray, k: int) -> np.ndarray:
    first = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
    m = counted & (pkt_conn >= 0)
    if m.any():
        np.minimum.at(first, pkt_conn[m], t[m])
    return first


def _attach_fragments(tbl: pa.Table, pkt_conn: np.ndarray, use4: np.ndarray, use6: np.ndarray,
                      a_src: np.ndarray, a_dst: np.ndarray, ipproto: np.ndarray, t: np.ndarray) -> None:
    """Give the fragments of a datagram the session of the fragment that completed it."""
    ipid, _ = _col(tbl, "ip.id")
    foff, _ = _col(tbl, "ip.frag_offset")
    mf, _ = _col(tbl, "ip.flags.mf", bool)
    f6id, _ = _col(tbl, "ipv6.fragment.id")
    f6off, has_f6 = _col(tbl, "ipv6.fragment.offset")
    f6more, _ = _col(tbl, "ipv6.fragment.more", bool)
    frag = (use4 & (mf | (foff > 0))) | (use6 & has_f6 & (f6more | (f6off > 0)))
    if not frag.any():
        return
    fid = np.where(use4, ipid, f6id)
    fam = np.where(use4, 4, 6)
    rows = np.flatnonzero(frag)
    order, new = _group_starts([fam, a_src, a_dst, fid, np.where(use4, ipproto, 0)], rows)
    grp = np.cumsum(new) - 1
    k = int(grp[-1]) + 1
    owner = np.full(k, -1, dtype=np.int64)
    has = pkt_conn[order] >= 0
    if has.any():
        owner[grp[has]] = pkt_conn[order][has]
    mine = owner[grp]
    todo = (pkt_conn[order] < 0) & (mine >= 0)
    pkt_conn[order[todo]] = mine[todo]


def _attach_errors(tbl: pa.Table, err_rows: np.ndarray, pkt_conn: np.ndarray,
                   key_l: list[tuple[int, int, int, int, int]], sess_start: np.ndarray, t: np.ndarray,
                   a_isrc: np.ndarray, a_idst: np.ndarray, counts: np.ndarray, first: np.ndarray,
                   frame: np.ndarray) -> np.ndarray:
    """Attach each ICMP error to the TCP/UDP session it quotes; returns which errors found none."""
    iproto4, ih4 = _col(tbl, "inner.ip.proto")
    inxt6, _ = _col(tbl, "inner.ipv6.nxt")
    its, ihas_t = _col(tbl, "inner.tcp.srcport")
    itd, _ = _col(tbl, "inner.tcp.dstport")
    ius, ihas_u = _col(tbl, "inner.udp.srcport")
    iud, _ = _col(tbl, "inner.udp.dstport")
    by_key: dict[tuple[int, int, int, int, int], list[int]] = {}
    for i, key in enumerate(key_l):
        if key[0] in (_TCP, _UDP):
            by_key.setdefault(key, []).append(i)
    lone = np.ones(len(err_rows), dtype=bool)
    for j, r in enumerate(err_rows.tolist()):
        p = int(iproto4[r]) if ih4[r] else int(inxt6[r])
        if p == 6 and ihas_t[r]:
            proto, s, d = _TCP, int(its[r]), int(itd[r])
        elif p == 17 and ihas_u[r]:
            proto, s, d = _UDP, int(ius[r]), int(iud[r])
        else:
            continue
        a, b = int(a_isrc[r]), int(a_idst[r])
        key = (proto, a, s, b, d) if (a, s) <= (b, d) else (proto, b, d, a, s)
        cands = by_key.get(key)
        if not cands:
            continue
        # The latest session that began at or before the error (else the first one).
        best = cands[0]
        for c in cands:
            if sess_start[c] <= t[r]:
                best = c
        pkt_conn[r] = best
        counts[best] += 1
        if first[best] < 0:
            first[best] = frame[r]
        lone[j] = False
    return lone


def _assemble(tbl: pa.Table, local: LocalSide | None, t: np.ndarray, frame: np.ndarray, pkt_conn: np.ndarray,
              counted: np.ndarray, lo_is_src: np.ndarray, ipbytes: np.ndarray, addrs: _Addresses,
              a_lo: np.ndarray, a_hi: np.ndarray, proto_l: list[int], orig_lo_l: list[bool],
              key_l: list[tuple[int, int, int, int, int]], hist_l: list[str], state_l: list[str],
              rtt_l: list[float | None], complete_l: list[int | None], ident_l: list[int | None],
              err_count: np.ndarray, err_first: np.ndarray, is_tcp: np.ndarray, is_udp: np.ndarray,
              attached: np.ndarray) -> Sessions:
    n = tbl.num_rows
    k = len(proto_l)
    # SIDs in order of each session's first packet.
    first_row = np.full(k, n, dtype=np.int64)
    inside = pkt_conn >= 0
    rows = np.arange(n, dtype=np.int64)
    if k:
        first_of = inside & ~attached
        np.minimum.at(first_row, pkt_conn[first_of], rows[first_of])
    rank = np.argsort(first_row, kind="stable")
    sid_of = np.empty(k, dtype=np.int64)
    sid_of[rank] = np.arange(1, k + 1)
    sid = np.zeros(n, dtype=np.int64)
    sid[inside] = sid_of[pkt_conn[inside]]

    orig_lo = np.asarray(orig_lo_l, dtype=bool)
    keys = np.asarray(key_l, dtype=np.int64).reshape(k, 5)
    # Who sent each counted packet: the initiator or the responder.
    m = counted & inside
    c = pkt_conn[m]
    from_orig = lo_is_src[m] == orig_lo[c]
    pk_o = np.bincount(c[from_orig], minlength=k)
    pk_r = np.bincount(c[~from_orig], minlength=k)
    by_o = np.bincount(c[from_orig], weights=ipbytes[m][from_orig], minlength=k).astype(np.int64)
    by_r = np.bincount(c[~from_orig], weights=ipbytes[m][~from_orig], minlength=k).astype(np.int64)
    tlen, _ = _col(tbl, "tcp.len")
    ulen, has_ulen = _col(tbl, "udp.length")
    payload = np.where(is_tcp, tlen, np.where(is_udp & has_ulen, np.maximum(ulen - 8, 0), 0))[m]
    pl_o = np.bincount(c[from_orig], weights=payload[from_orig], minlength=k).astype(np.int64)
    pl_r = np.bincount(c[~from_orig], weights=payload[~from_orig], minlength=k).astype(np.int64)
    # Times and frames span every packet of the session except attached ICMP errors.
    member = inside & ~attached
    cm = pkt_conn[member]
    start = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
    end = np.full(k, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(start, cm, t[member])
    np.maximum.at(end, cm, t[member])
    ffirst = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
    flast = np.full(k, -1, dtype=np.int64)
    np.minimum.at(ffirst, cm, frame[member])
    np.maximum.at(flast, cm, frame[member])

    # Endpoints: initiator / responder, then local / remote.
    orig_addr = np.where(orig_lo, keys[:, 1], keys[:, 3])
    resp_addr = np.where(orig_lo, keys[:, 3], keys[:, 1])
    has_ports = np.isin(keys[:, 0], (_TCP, _UDP))
    orig_port = np.where(orig_lo, keys[:, 2], keys[:, 4])
    resp_port = np.where(orig_lo, keys[:, 4], keys[:, 2])
    orig_txt = addrs.texts(orig_addr)
    resp_txt = addrs.texts(resp_addr)
    net = local.network if local is not None else None
    o_local = _in_network(pa.array(orig_txt, type=pa.string()), net)
    r_local = _in_network(pa.array(resp_txt, type=pa.string()), net)
    local_is_resp = r_local & ~o_local
    loc_ip = np.where(local_is_resp, np.asarray(resp_txt, dtype=object), np.asarray(orig_txt, dtype=object))
    rmt_ip = np.where(local_is_resp, np.asarray(orig_txt, dtype=object), np.asarray(resp_txt, dtype=object))
    loc_port = np.where(local_is_resp, resp_port, orig_port)
    rmt_port = np.where(local_is_resp, orig_port, resp_port)
    pk_in = np.where(local_is_resp, pk_o, pk_r)
    pk_out = np.where(local_is_resp, pk_r, pk_o)
    by_in = np.where(local_is_resp, by_o, by_r)
    by_out = np.where(local_is_resp, by_r, by_o)
    pl_in = np.where(local_is_resp, pl_o, pl_r)
    pl_out = np.where(local_is_resp, pl_r, pl_o)

    elapsed = (end - start) / 1e9
    server, network, client, rtt_used = _times(tbl, pkt_conn, counted, lo_is_src, orig_lo, t, is_tcp, k, rtt_l,
                                               elapsed)
    # Times are sums of nanosecond differences: keep them to the nanosecond.
    server, network, client = np.round(server, 9), np.round(network, 9), np.round(client, 9)

    opts = _tcp_options(tbl, pkt_conn, counted, lo_is_src, orig_lo, is_tcp, k)
    retrans, dupack = _analysis_counts(tbl, pkt_conn, counted, is_tcp, k)

    def svc(ports: np.ndarray, protos: np.ndarray, klass: np.ndarray) -> list[str | None]:
        out: list[str | None] = []
        for p, pr, kl in zip(ports.tolist(), protos.tolist(), klass.tolist()):
            if pr == _TCP:
                out.append(TCP_SERVICES.get(p, str(p)))
            elif pr == _UDP:
                out.append(UDP_SERVICES.get(p, str(p)))
            else:
                out.append(None)
        return out

    protos = keys[:, 0]
    icmp_name = [(ICMP_TYPES if pr == _ICMP else ICMPV6_TYPES).get(int(kl), f"type {kl}")
                 if pr in (_ICMP, _ICMP6) else None for pr, kl in zip(protos.tolist(), keys[:, 2].tolist())]
    loc_svc = svc(loc_port, protos, keys[:, 2])
    rmt_svc = [s if s is not None else icmp_name[i] for i, s in enumerate(svc(rmt_port, protos, keys[:, 2]))]
    port_mask = ~has_ports
    total_pk = pk_o + pk_r
    avg = np.where(total_pk > 0, (by_o + by_r) / np.maximum(total_pk, 1), 0.0)
    initiator: list[str | None] = []
    for ol, rl in zip(o_local.tolist(), r_local.tolist()):
        if net is None:
            initiator.append(None)
        else:
            initiator.append("remote" if rl and not ol else "local")

    cols: dict[str, pa.Array] = {
        "sid": pa.array(sid_of, pa.int64()),
        "proto": pa.array([_PROTO_NAMES[p] for p in protos.tolist()], pa.string()),
        "start": pa.array(start, pa.int64()),
        "end": pa.array(end, pa.int64()),
        "elapsed": pa.array(elapsed, pa.float64()),
        "server_time": pa.array(server, pa.float64()),
        "network_time": pa.array(network, pa.float64()),
        "client_time": pa.array(client, pa.float64()),
        "local_ip": pa.array(loc_ip.tolist(), pa.string()),
        "local_port": pa.array(loc_port, pa.int64(), mask=port_mask),
        "local_service": pa.array(loc_svc, pa.string()),
        "remote_ip": pa.array(rmt_ip.tolist(), pa.string()),
        "remote_port": pa.array(rmt_port, pa.int64(), mask=port_mask),
        "remote_service": pa.array(rmt_svc, pa.string()),
        "initiator": pa.array(initiator, pa.string()),
        "initiator_ip": pa.array(orig_txt, pa.string()),
        "initiator_port": pa.array(orig_port, pa.int64(), mask=port_mask),
        "responder_ip": pa.array(resp_txt, pa.string()),
        "responder_port": pa.array(resp_port, pa.int64(), mask=port_mask),
        "packets_in": pa.array(pk_in, pa.int64()),
        "packets_out": pa.array(pk_out, pa.int64()),
        "bytes_in": pa.array(by_in, pa.int64()),
        "bytes_out": pa.array(by_out, pa.int64()),
        "payload_in": pa.array(pl_in, pa.int64()),
        "payload_out": pa.array(pl_out, pa.int64()),
        "avg_datagram": pa.array(np.round(avg, 2), pa.float64()),
        "conn_state": pa.array(state_l, pa.string()),
        "history": pa.array(hist_l, pa.string()),
        "completeness": pa.array(complete_l, pa.int64()),
        "handshake_rtt": pa.array(rtt_used, pa.float64()),
        **opts,
        "retransmissions": retrans,
        "duplicate_acks": dupack,
        "icmp_ident": pa.array(ident_l, pa.int64()),
        "icmp_errors": pa.array(err_count[:k], pa.int64()),
        "first_icmp_error": pa.array(err_first[:k], pa.int64(), mask=err_first[:k] < 0),
        "first_frame": pa.array(ffirst, pa.int64()),
        "last_frame": pa.array(flast, pa.int64()),
    }
    table = pa.table({name: cols[name] for name in COLUMNS}).take(pa.array(rank))
    return Sessions(table, sid, local)


def _times(tbl: pa.Table, pkt_conn: np.ndarray, counted: np.ndarray, lo_is_src: np.ndarray, orig_lo: np.ndarray,
           t: np.ndarray, is_tcp: np.ndarray, k: int, rtt_l: list[float | None],
           elapsed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float | None]]:
    """Server, network and client time of each session (see the module docstring)."""
    tlen, _ = _col(tbl, "tcp.len")
    carries = counted & (pkt_conn >= 0) & (~is_tcp | (tlen > 0))
    rows = np.flatnonzero(carries)
    server = np.zeros(k)
    network = np.zeros(k)
    hs = np.array([r if r is not None else np.nan for r in rtt_l], dtype=float) if k else np.zeros(0)
    if len(rows):
        c = pkt_conn[rows]
        order = rows[np.lexsort((rows, c))]
        c = pkt_conn[order]
        client = lo_is_src[order] == orig_lo[c]
        tt = t[order]
        new_run = np.ones(len(order), dtype=bool)
        new_run[1:] = (c[1:] != c[:-1]) | (client[1:] != client[:-1])
        run_first = np.flatnonzero(new_run)
        run_last = np.append(run_first[1:] - 1, len(order) - 1)
        run_c = c[run_first]
        run_client = client[run_first]
        run_t0 = tt[run_first]
        run_t1 = tt[run_last]
        # A response: a responder run right after an initiator run of the same session.
        prev_same = np.zeros(len(run_first), dtype=bool)
        prev_same[1:] = run_c[1:] == run_c[:-1]
        is_resp = ~run_client & prev_same
        prev_idx = np.maximum(np.arange(len(run_first)) - 1, 0)
        is_resp &= run_client[prev_idx]
        wait = np.where(is_resp, (run_t0 - run_t1[prev_idx]) / 1e9, np.nan)
        # Transfer time of request runs and response runs.
        counts_runs = run_client | is_resp
        np.add.at(network, run_c[counts_runs], (run_t1[counts_runs] - run_t0[counts_runs]) / 1e9)
        min_wait = np.full(k, np.inf)
        np.minimum.at(min_wait, run_c[is_resp], np.maximum(wait[is_resp], 0.0))
        rtt = np.where(np.isnan(hs), np.where(np.isinf(min_wait), 0.0, min_wait), hs)
        w = np.maximum(wait[is_resp], 0.0)
        share = np.minimum(w, rtt[run_c[is_resp]])
        np.add.at(network, run_c[is_resp], share)
        np.add.at(server, run_c[is_resp], w - share)
    network += np.where(np.isnan(hs), 0.0, hs)
    client_t = np.maximum(elapsed - server - network, 0.0)
    return server, network, client_t, [None if np.isnan(v) else float(v) for v in hs]


def _tcp_options(tbl: pa.Table, pkt_conn: np.ndarray, counted: np.ndarray, lo_is_src: np.ndarray,
                 orig_lo: np.ndarray, is_tcp: np.ndarray, k: int) -> dict[str, pa.Array]:
    """The MSS, window scale and SACK-permitted each side offered on its first SYN, and what was agreed."""
    flags, _ = _col(tbl, "tcp.flags")
    mss, has_mss = _col(tbl, "tcp.options.mss_val")
    ws, has_ws = _col(tbl, "tcp.options.wscale.shift")
    _, has_sack = _col(tbl, "tcp.options.sack_perm")
    syn = counted & is_tcp & (pkt_conn >= 0) & ((flags & SYN) != 0)
    out_mss = [np.full(k, -1, dtype=np.int64), np.full(k, -1, dtype=np.int64)]
    out_ws = [np.full(k, -1, dtype=np.int64), np.full(k, -1, dtype=np.int64)]
    out_sack = [np.zeros(k, dtype=bool), np.zeros(k, dtype=bool)]
    seen = [np.zeros(k, dtype=bool), np.zeros(k, dtype=bool)]
    rows = np.flatnonzero(syn)
    if len(rows):
        c = pkt_conn[rows]
        side = (lo_is_src[rows] != orig_lo[c]).astype(np.int64)   # 0 initiator, 1 responder
        uniq, idx = np.unique(c * 2 + side, return_index=True)
        r = rows[idx]
        cc, ss = uniq // 2, uniq % 2
        for s in (0, 1):
            m = ss == s
            seen[s][cc[m]] = True
            out_mss[s][cc[m]] = np.where(has_mss[r[m]], mss[r[m]], -1)
            out_ws[s][cc[m]] = np.where(has_ws[r[m]], ws[r[m]], -1)
            out_sack[s][cc[m]] = has_sack[r[m]]

    def opt(a: np.ndarray) -> pa.Array:
        return pa.array(a, pa.int64(), mask=a < 0)

    both = (out_mss[0] >= 0) & (out_mss[1] >= 0)
    agreed_mss = np.where(both, np.minimum(out_mss[0], out_mss[1]), np.maximum(out_mss[0], out_mss[1]))
    any_syn = seen[0] | seen[1]
    scaling = (out_ws[0] >= 0) & (out_ws[1] >= 0)
    sack = out_sack[0] & out_sack[1]
    return {
        "mss_initiator": opt(out_mss[0]),
        "mss_responder": opt(out_mss[1]),
        "mss": opt(agreed_mss),
        "wscale_initiator": opt(out_ws[0]),
        "wscale_responder": opt(out_ws[1]),
        "window_scaling": pa.array(scaling, pa.bool_(), mask=~(seen[0] & seen[1])),
        "sack_initiator": pa.array(out_sack[0], pa.bool_(), mask=~seen[0]),
        "sack_responder": pa.array(out_sack[1], pa.bool_(), mask=~seen[1]),
        "sack_permitted": pa.array(sack, pa.bool_(), mask=~(seen[0] & seen[1]) | ~any_syn),
    }


def _analysis_counts(tbl: pa.Table, pkt_conn: np.ndarray, counted: np.ndarray, is_tcp: np.ndarray,
                     k: int) -> tuple[pa.Array, pa.Array]:
    """Retransmissions and duplicate ACKs per TCP session, from the tcp.analysis.* columns (null if absent)."""
    m = counted & is_tcp & (pkt_conn >= 0)
    tcp_sess = np.zeros(k, dtype=bool)
    tcp_sess[pkt_conn[m]] = True

    def count(names: tuple[str, ...]) -> pa.Array:
        present = [nm for nm in names if nm in tbl.column_names]
        if not present:
            return pa.nulls(k, pa.int64())
        hit = np.zeros(tbl.num_rows, dtype=bool)
        for nm in present:
            v, valid = _col(tbl, nm, bool)
            hit |= valid & v
        sel = m & hit
        return pa.array(np.bincount(pkt_conn[sel], minlength=k), pa.int64(), mask=~tcp_sess)

    return count(_RETRANSMISSION_COLUMNS), count((_DUP_ACK_COLUMN,))
