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

A datagram that IP fragmentation split is counted once, with its reassembled
length, in the session of the fragment that completed it (the one carrying
the transport header); its other fragments carry the same SID.

Tunnels
-------
A session is keyed on the innermost IP header of its packets and the
transport header after it (:func:`tracedoc.analyze.endpoints.ends`), as
Zeek and Wireshark key the connections carried in GRE, IP-in-IP, VXLAN,
Geneve, Teredo, AYIYA or GTP-U: a TCP connection inside a tunnel is that
connection, counted with its own (inner) IP bytes.  A tunnel that runs over
UDP is also a flow of its own, as Zeek logs it (service vxlan, teredo,
gtpv1, ...): the *carrier* session, counted with the outer IP bytes of the
packets it carries.  A tunnel inside a tunnel (Teredo in GTP-U) has two
carriers, the outer UDP flow carrying the inner one.  GRE and IP-in-IP have
no transport of their own and so no carrier session (Zeek logs none either).

Each packet has one ``sid``: its innermost session (the inner connection;
the carrier when the innermost IP header carries no session of its own,
such as a Teredo bubble).  :attr:`Sessions.carrier` names the UDP flow
that carried it there, :attr:`Sessions.outer_carrier` the one carrying that
flow in a tunnel inside a tunnel.  In the table, ``tunnelled`` says a
session's packets travelled inside another IP header and ``tunnel_parents``
lists the SIDs of the carrier sessions they travelled in (Zeek's
``tunnel_parents``; empty for GRE and IP-in-IP).

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

How it is computed
------------------
Every per-packet step is vectorised (numpy) over the *observations* of the
trace: one per packet for its innermost headers, plus one per carrier
header of a tunnelled packet, so a UDP carrier flow is grouped, timed out
and counted by the same code as any UDP flow.  Only Zeek's TCP state
machine runs packet by packet, over the TCP packets grouped by 5-tuple; the
packets that cannot change an endpoint's state (no SYN, FIN or RST, on an
endpoint already past INACTIVE: the bulk of any transfer) take a short path
(:meth:`_Conn.plain`) that does exactly what the full one does for them.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tracedoc.analyze import endpoints
from tracedoc.analyze.columns import values as _col
from tracedoc.analyze.endpoints import ends
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

# IPv6 next-header values after which the outer header's own UDP may still follow
# (hop-by-hop, routing, fragment and destination options headers).
_V6_EXTENSIONS = (0, 43, 44, 60)

_RETRANSMISSION_COLUMNS = ("tcp.analysis.retransmission", "tcp.analysis.fast_retransmission",
                           "tcp.analysis.spurious_retransmission")
_DUP_ACK_COLUMN = "tcp.analysis.duplicate_ack"

# The innermost IP datagram's length and UDP length, and a nested UDP tunnel's headers (tracedoc.decode.innermost).
_TUNNEL_COLUMNS = ("tracedoc.tunnel.len", "tracedoc.tunnel.udp_len", "tracedoc.carrier.src", "tracedoc.carrier.dst",
                   "tracedoc.carrier.srcport", "tracedoc.carrier.dstport", "tracedoc.carrier.len",
                   "tracedoc.carrier.udp_len")

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
    *endpoints.NEEDS, *_TUNNEL_COLUMNS,
    *_RETRANSMISSION_COLUMNS, _DUP_ACK_COLUMN,
]


_QUOTED = ("inner.ip.src", "inner.ip.dst", "inner.ip.proto", "inner.ipv6.src", "inner.ipv6.dst", "inner.ipv6.nxt",
           "inner.tcp.srcport", "inner.tcp.dstport", "inner.udp.srcport", "inner.udp.dstport")
"""The columns of the header an ICMP error quotes."""

_LOCAL_COLUMNS = ("ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "arp.src.proto_ipv4", "arp.dst.proto_ipv4")


def _session_columns() -> list[str]:
    from tracedoc.analyze.derived import FIELDS

    return [c for c in dict.fromkeys(_WANTED) if c in FIELDS]


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
    "tunnelled", "tunnel_parents",
    "first_frame", "last_frame",
]
"""The session table's columns, in order.  Times: ``start``/``end`` epoch ns; durations in seconds;
``tunnel_parents`` a list of SIDs."""


@dataclass
class Sessions:
    table: pa.Table
    """One row per session, :data:`COLUMNS`, in SID order."""
    sid: np.ndarray
    """int64, one per packet of the input table: the packet's innermost session, 0 when it is in none."""
    local: LocalSide | None
    carrier: np.ndarray
    """int64 per packet: the SID of the UDP tunnel flow that carried the packet's ``sid`` session in
    this packet, 0 when none did."""
    outer_carrier: np.ndarray
    """int64 per packet: the SID of the UDP tunnel flow that carried ``carrier`` (a tunnel inside a
    tunnel), else 0."""

    def packets(self, sid: int) -> np.ndarray:
        """Which packets belong to session ``sid``, as its innermost session or as a carrier."""
        return (self.sid == sid) | (self.carrier == sid) | (self.outer_carrier == sid)


# ------------------------------------------------------------ column access


def _v6_words(tbl: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """16-byte addresses as two big-endian uint64 halves, and validity."""
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


_V4_MAPPED = np.uint64(0xFFFF << 32)


def _v4_words(v4: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IPv4 addresses as the halves of their IPv4-mapped IPv6 form (::ffff:a.b.c.d), as ends() gives them."""
    lo = np.where(valid, v4.astype(np.uint64) | _V4_MAPPED, np.uint64(0))
    return np.zeros(len(v4), dtype=np.uint64), lo


def _ip_words(tbl: pa.Table, v4: str, v6: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An address from an IPv4 column, else an IPv6 column, as uint64 halves, and validity."""
    a4, h4 = _col(tbl, v4)
    hi6, lo6, h6 = _v6_words(tbl, v6)
    hi, lo = _v4_words(a4, h4)
    return np.where(h4, hi, hi6), np.where(h4, lo, lo6), h4 | h6


def _words(a16: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 16) uint8 addresses as two uint64 halves."""
    w = np.ascontiguousarray(a16).view(">u8").reshape(-1, 2)
    return w[:, 0].astype(np.uint64), w[:, 1].astype(np.uint64)


class _Addresses:
    """One integer id per distinct address over every address column used.

    Addresses are 128-bit (IPv4 as IPv4-mapped IPv6), held as two uint64
    halves; ids follow the addresses' order."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, np.ndarray]] = []
        self.hi = self.lo = np.zeros(0, dtype=np.uint64)

    def add(self, hi: np.ndarray, lo: np.ndarray) -> int:
        self.parts.append((hi.astype(np.uint64, copy=False), lo.astype(np.uint64, copy=False)))
        return len(self.parts) - 1

    def factorize(self) -> list[np.ndarray]:
        if not self.parts or sum(len(p[0]) for p in self.parts) == 0:
            return [np.zeros(len(p[0]), dtype=np.int64) for p in self.parts]
        hi = np.concatenate([p[0] for p in self.parts])
        lo = np.concatenate([p[1] for p in self.parts])
        if not hi.any():
            # Only IPv4 (and no address): one sort of the low halves does.
            self.lo, ids = np.unique(lo, return_inverse=True)
            self.hi = np.zeros(len(self.lo), dtype=np.uint64)
        else:
            order = np.lexsort((lo, hi))
            h, low = hi[order], lo[order]
            new = np.ones(len(order), dtype=bool)
            new[1:] = (h[1:] != h[:-1]) | (low[1:] != low[:-1])
            ids = np.empty(len(order), dtype=np.int64)
            ids[order] = np.cumsum(new) - 1
            self.hi, self.lo = h[new], low[new]
        ids = ids.astype(np.int64, copy=False).reshape(-1)
        out = []
        pos = 0
        for p in self.parts:
            out.append(ids[pos:pos + len(p[0])])
            pos += len(p[0])
        return out

    def _v4(self) -> np.ndarray:
        return (self.hi == 0) & ((self.lo >> np.uint64(32)) == 0xFFFF)

    def is_group(self) -> np.ndarray:
        """Per address id: a broadcast (255.255.255.255) or multicast address."""
        v4 = self._v4()
        low = self.lo & np.uint64(0xFFFFFFFF)
        return (v4 & (((low >> np.uint64(28)) == 0xE) | (low == 0xFFFFFFFF))) | \
            (~v4 & ((self.hi >> np.uint64(56)) == 0xFF))

    def texts(self, ids: np.ndarray) -> list[str]:
        """Address text of each id in ``ids`` (each distinct address formatted once)."""
        uniq, inv = np.unique(ids, return_inverse=True)
        v4 = self._v4()
        names = []
        for i in uniq.tolist():
            h, low = int(self.hi[i]), int(self.lo[i])
            if v4[i]:
                names.append(str(ipaddress.IPv4Address(low & 0xFFFFFFFF)))
            else:
                names.append(str(ipaddress.IPv6Address((h << 64) | low)))
        table = np.asarray(names, dtype=object)
        return table[inv.reshape(-1)].tolist() if len(uniq) else []


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
                 "attempt_at", "expire", "delete_at", "next_timer", "syn_time", "first_rtt", "complete", "npk",
                 "index")

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
        self.next_timer = self.expire[0]
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
    def rearm(self) -> None:
        """Note when the next timer is due: before then (and within the
        inactivity timeout) :meth:`expired` is False and changes nothing."""
        due = [at for at in (self.delete_at, self.attempt_at) if at >= 0]
        due.extend(self.expire)
        self.next_timer = min(due) if due else _NEVER

    def expired(self, t: int) -> bool:
        if t - self.last_time >= self.inact:
            return True
        if t < self.next_timer:
            return False
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
        self.rearm()
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

    def plain(self, ep: _End, t: int, ack: int, seq: int, ack_seq: int, length: int, win: int) -> None:
        """:meth:`process` for a packet without SYN, FIN or RST from an endpoint
        past INACTIVE: such a packet changes no state and sets no timer, so
        only the history, the sequence and acknowledgement high-water marks,
        the counters and the completeness are left to update (in the order
        :meth:`process` updates them)."""
        peer = ep.peer
        orig = ep.is_orig
        if length:
            mask = HIST_DATA_PKT if orig else HIST_DATA_PKT << 16
            if not self.seen & mask:
                self.seen |= mask
                self.hist.append("D" if orig else "d")
        elif ack:
            mask = HIST_ACK_PKT if orig else HIST_ACK_PKT << 16
            if not self.seen & mask:
                self.seen |= mask
                self.hist.append("A" if orig else "a")
        if win == 0 and peer.state != CLOSED and ep.state != RESET:
            ep.w_cnt += 1
            if ep.w_cnt == ep.w_thr:
                self.hist.append("W" if orig else "w")
                ep.w_thr *= 10
        if not (self.o.did_close and self.r.did_close):
            self.last_time = t
        if ack:
            if peer.state == INACTIVE:
                peer.start = peer.ack = peer.last = (ack_seq - 1) & _M32
            else:
                # peer.rel()'s underflow test and update_ack, inline.
                last = peer.ack
                delta = (ack_seq - last) & _M32
                if delta & 0x80000000:
                    delta -= 0x100000000
                wraps = peer.awraps
                if delta < 0:
                    if wraps and ack_seq > last:
                        wraps -= 1
                elif delta > 0 and ack_seq < last:
                    wraps += 1
                if delta > 0 and not (wraps == 0 and (ack_seq - peer.start) & 0x80000000) \
                        and not (ack_seq == 0 and delta > TOO_LARGE_SEQ_DELTA):
                    if ack_seq < last:
                        peer.awraps += 1
                    peer.ack = ack_seq
        if ep.state != RESET:
            seq_end = (seq + length) & _M32
            last = ep.last
            delta = (seq_end - last) & _M32
            if delta and not delta & 0x80000000:
                if seq_end < last:
                    ep.swraps += 1
                ep.last = seq_end
            elif length > 0:
                ep.rx_cnt += 1
                if ep.rx_cnt == ep.rx_thr:
                    self.hist.append("T" if orig else "t")
                    ep.rx_thr *= 10
        if ack:
            self.complete |= 8 if length else 4
            if self.syn_time >= 0 and self.first_rtt < 0:
                self.first_rtt = t - self.syn_time
        self.npk += 1

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
_NEVER = 1 << 63
_TCP_SLICE = 1 << 16


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
    conns: list[_Conn] = []
    begins: list[int] = []                          # where in ``order`` each connection begins
    cur: _Conn | None = None
    fo = flags[order]
    # Per packet, bit 1: SYN, FIN or RST (may start a new connection on the tuple, change an
    # endpoint's state or the timers); bit 2: analysed (a packet whose header was cut short
    # joins its connection unanalysed).  2 alone takes the short path once its endpoint is past INACTIVE.
    need = ((fo & (SYN | FIN | RST)) != 0).astype(np.int64) | np.where(whole[order], 2, 0)
    # The columns go to Python lists a slice at a time: the loop is the same, the lists'
    # memory is reused from slice to slice instead of growing with the trace.
    for at in range(0, len(order), _TCP_SLICE):
        part = order[at:at + _TCP_SLICE]
        fp = fo[at:at + _TCP_SLICE]
        rows = zip(t[part].tolist(), fp.tolist(), seq[part].tolist(), ack[part].tolist(), length[part].tolist(),
                   win[part].tolist(), lo_is_src[part].tolist(), newflow[at:at + _TCP_SLICE].tolist(),
                   need[at:at + _TCP_SLICE].tolist(), (fp & ACK).tolist())
        for k, (tk, f, s, a, ln, w, lo, nf, nd, ackf) in enumerate(rows, at):
            if nf or cur is None:
                cur = None
            elif (tk - cur.last_time >= cur.inact or tk >= cur.next_timer) and cur.expired(tk):
                cur = None
            elif nd & 1 and cur.is_reuse(f, s):
                cur = None
            if cur is None:
                r = order[k]
                cur = _Conn(len(conns), lo, tk, _likely_flip_tcp(int(sport[r]), int(dport[r]), f), inact_ns)
                conns.append(cur)
                begins.append(k)
            if nd & 2:
                is_orig = lo == cur.orig_is_lo
                ep = cur.o if is_orig else cur.r
                if nd == 2 and ep.state != INACTIVE:
                    cur.plain(ep, tk, ackf, s, a, ln, w)
                else:
                    cur.process(is_orig, tk, f, s, a, ln, w)
                    cur.rearm()
    first = np.zeros(len(order), dtype=np.int64)
    first[begins] = 1
    return np.cumsum(first) - 1, conns


# ----------------------------------------------------------------- helpers


def _group_starts(keys: list[np.ndarray], rows: np.ndarray,
                  when: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sort ``rows`` by ``keys``, then by ``when`` (default: the row itself, i.e. frame order);
    returns the order and where each new key begins."""
    if len(rows) == 0:
        return rows, np.zeros(0, dtype=bool)
    cols = [k[rows] for k in keys]
    tie = rows if when is None else when[rows]
    order = rows[np.lexsort([tie] + cols[::-1])]
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


def _rows(tbl: pa.Table, names: tuple[str, ...], rows: np.ndarray) -> pa.Table:
    """The columns ``names`` (those ``tbl`` has) of the packets ``rows``."""
    have = [c for c in names if c in tbl.column_names]
    if not have:
        return pa.table({"row": pa.array(rows, pa.int64())})     # keeps the row count
    return tbl.select(have).take(pa.array(rows, pa.int64()))


def _pad(a: np.ndarray, size: int) -> np.ndarray:
    """A per-packet array extended with zeros (False) to one entry per observation."""
    if len(a) >= size:
        return a
    return np.concatenate([a, np.zeros(size - len(a), dtype=a.dtype)])


@dataclass
class _Found:
    """The sessions found so far, in the order they were made (index = session number before SIDs)."""

    proto: list[int]
    orig_lo: list[bool]
    """The initiator is the session's "lo" endpoint (the smaller address id, then port)."""
    key: list[tuple[int, int, int, int, int]]
    """(proto, a_lo, p_lo, a_hi, p_hi); ICMP: (proto, a_lo, type, a_hi, identifier)."""
    history: list[str]
    state: list[str]
    rtt: list[float | None]
    complete: list[int | None]
    ident: list[int | None]

    def add(self, proto: int, orig_lo: bool, key: tuple[int, int, int, int, int], history: str = "",
            state: str = "OTH", rtt: float | None = None, complete: int | None = None,
            ident: int | None = None) -> None:
        self.proto.append(proto)
        self.orig_lo.append(orig_lo)
        self.key.append(key)
        self.history.append(history)
        self.state.append(state)
        self.rtt.append(rtt)
        self.complete.append(complete)
        self.ident.append(ident)

    def extend(self, proto: int, orig_lo: list[bool], key: list[tuple[int, int, int, int, int]],
               history: list[str], state: list[str]) -> None:
        """Sessions of one protocol with no RTT, completeness or identifier."""
        k = len(orig_lo)
        self.proto.extend([proto] * k)
        self.orig_lo.extend(orig_lo)
        self.key.extend(key)
        self.history.extend(history)
        self.state.extend(state)
        self.rtt.extend([None] * k)
        self.complete.extend([None] * k)
        self.ident.extend([None] * k)

    def __len__(self) -> int:
        return len(self.proto)


# UDP history and conn_state by (roles flipped, the initiator sent, the responder sent, the initiator first).
_UDP_HISTORY = np.array([("^" if f else "") + (("Dd" if first else "dD") if o and r else "D" if o else "d" if r else "")
                         for f in (0, 1) for o in (0, 1) for r in (0, 1) for first in (0, 1)], dtype=object)
_UDP_STATE = np.array(["SF" if o and r else "S0" if o else "SHR" if r else "OTH"
                       for f in (0, 1) for o in (0, 1) for r in (0, 1) for first in (0, 1)], dtype=object)


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
    inner = ends(tbl)
    tunnelled = inner.tunnelled

    # The outermost IP header: the one a UDP tunnel's own flow and IP fragmentation belong to.
    src4, has4 = _col(tbl, "ip.src")
    dst4, _ = _col(tbl, "ip.dst")
    s6h, s6l, has6 = _v6_words(tbl, "ipv6.src")
    d6h, d6l, _ = _v6_words(tbl, "ipv6.dst")
    ipproto, _ = _col(tbl, "ip.proto")
    nxt6, _ = _col(tbl, "ipv6.nxt")
    i_src, i_dst = _words(inner.src), _words(inner.dst)
    # With both families in a frame, the first IPv4 and the first IPv6 header are each the outermost
    # of their family: the one that is not the innermost header is the frame's outermost (else, three
    # levels deep, IPv6 is outermost when it carries IPv4 directly).
    v4s = _v4_words(src4, has4)[1]
    v4d = _v4_words(dst4, has4)[1]
    use6 = has6 & (~has4 | (nxt6 == 4))
    both = np.flatnonzero(tunnelled & has4 & has6)
    if len(both):
        v4_inner = inner.is_v4[both] & (v4s[both] == i_src[1][both]) & (v4d[both] == i_dst[1][both])
        v6_inner = ~inner.is_v4[both] & (s6h[both] == i_src[0][both]) & (s6l[both] == i_src[1][both]) & \
            (d6h[both] == i_dst[0][both]) & (d6l[both] == i_dst[1][both])
        use6[both] = (use6[both] | v4_inner) & ~v6_inner
    use4 = has4 & ~use6
    _, has_gre = _col(tbl, "gre.proto")
    tunnel6 = use6 & (np.isin(nxt6, (4, 41, 47)) | has4 | has_gre)
    zero = np.zeros(n, dtype=np.uint64)
    out_src = (np.where(use4, zero, s6h), np.where(use4, v4s, s6l))
    out_dst = (np.where(use4, zero, d6h), np.where(use4, v4d, d6l))

    # Transport after the innermost IP header.  On a frame with one IP header
    # it must follow that header: a transport the decoder found further in
    # without noting the IP header before it as a tunnel's is not this one's.
    thl, has_thl = _col(tbl, "tcp.hdr_len")
    tsp, has_tcp = _col(tbl, "tcp.srcport")
    tdp, _ = _col(tbl, "tcp.dstport")
    usp, has_udp = _col(tbl, "udp.srcport")
    udp_dp, _ = _col(tbl, "udp.dstport")
    it4, has_icmp = _col(tbl, "icmp.type")
    it6, has_icmp6 = _col(tbl, "icmpv6.type")
    is_udp = np.where(tunnelled, inner.proto == 17, has_udp & ((use4 & (ipproto == 17)) | (use6 & ~tunnel6)))
    # Zeek needs the fixed TCP header to make a connection, and the whole header
    # (with options) to analyse the packet: a packet cut inside its options
    # joins its session without being counted in it.
    poff, has_poff = _col(tbl, "tcp.payload_offset")
    caplen, has_cap = _col(tbl, "frame.cap_len")
    known = has_poff & has_cap
    tcp_fixed = ~known | (caplen - (poff - thl) >= 20)
    tcp_whole = ~known | (caplen >= poff)
    is_tcp = has_tcp & has_thl & (thl >= 20) & tcp_fixed & \
        np.where(tunnelled, inner.proto == 6, (use4 & (ipproto == 6)) | (use6 & ~tunnel6 & ~has_udp))
    bare = inner.proto == 0
    is_icmp4 = np.where(tunnelled, has_icmp & bare & inner.is_v4, has_icmp & use4 & (ipproto == 1))
    is_icmp6 = np.where(tunnelled, has_icmp6 & bare & ~inner.is_v4,
                        has_icmp6 & use6 & ~tunnel6 & ~has_udp & ~has_tcp)
    sp = np.where(tunnelled, inner.sport, np.where(is_tcp, tsp, usp))
    dp = np.where(tunnelled, inner.dport, np.where(is_tcp, tdp, udp_dp))
    sp = np.where(is_tcp | is_udp, sp, 0)
    dp = np.where(is_tcp | is_udp, dp, 0)

    # IP bytes of each datagram (a reassembled one counts its whole length); inside a tunnel, the inner datagram's.
    iplen, _ = _col(tbl, "ip.len")
    plen6, _ = _col(tbl, "ipv6.plen")
    foff, _ = _col(tbl, "ip.frag_offset")
    f6off, has_f6 = _col(tbl, "ipv6.fragment.offset")
    outer_bytes = np.where(use4, iplen + foff * 8,
                           np.where(use6, plen6 + 40 + np.where(has_f6, f6off * 8 - 8, 0), 0))
    outer_bytes = np.maximum(outer_bytes, 0)
    tunnel_len, _ = _col(tbl, "tracedoc.tunnel.len")
    ipbytes = np.where(tunnelled, tunnel_len, outer_bytes)
    tlen, _ = _col(tbl, "tcp.len")
    ulen, has_ulen = _col(tbl, "udp.length")
    tulen, has_tulen = _col(tbl, "tracedoc.tunnel.udp_len")
    inner_ulen = np.where(tunnelled, tulen, ulen)
    has_inner_ulen = np.where(tunnelled, has_tulen, has_ulen)
    payload = np.where(is_tcp, tlen, np.where(is_udp & has_inner_ulen, np.maximum(inner_ulen - 8, 0), 0))

    # Observations: every packet's innermost headers (index = row), then the UDP
    # carriers of tunnelled packets: a nested tunnel's, then the outermost one's.
    c_hi, c_lo, has_carrier = _v6_words(tbl, "tracedoc.carrier.src")
    cd_hi, cd_lo, _ = _v6_words(tbl, "tracedoc.carrier.dst")
    mid_rows = np.flatnonzero(has_carrier)
    outer_udp = tunnelled & has_udp & ((use4 & (ipproto == 17)) | (use6 & np.isin(nxt6, (17, *_V6_EXTENSIONS))))
    out_rows = np.flatnonzero(outer_udp)
    obs_row = np.concatenate([np.arange(n, dtype=np.int64), mid_rows, out_rows])
    level = np.concatenate([np.zeros(n, np.int64), np.ones(len(mid_rows), np.int64),
                            np.full(len(out_rows), 2, np.int64)])
    m = len(obs_row)
    o_src, o_dst = i_src, i_dst
    if m > n:
        o_src = (np.concatenate([o_src[0], c_hi[mid_rows], out_src[0][out_rows]]),
                 np.concatenate([o_src[1], c_lo[mid_rows], out_src[1][out_rows]]))
        o_dst = (np.concatenate([o_dst[0], cd_hi[mid_rows], out_dst[0][out_rows]]),
                 np.concatenate([o_dst[1], cd_lo[mid_rows], out_dst[1][out_rows]]))
    csp, _ = _col(tbl, "tracedoc.carrier.srcport")
    cdp, _ = _col(tbl, "tracedoc.carrier.dstport")
    clen, _ = _col(tbl, "tracedoc.carrier.len")
    culen, has_culen = _col(tbl, "tracedoc.carrier.udp_len")
    sp = np.concatenate([sp, csp[mid_rows], usp[out_rows]])
    dp = np.concatenate([dp, cdp[mid_rows], udp_dp[out_rows]])
    ipbytes = np.concatenate([ipbytes, clen[mid_rows], outer_bytes[out_rows]])
    payload = np.concatenate([payload, np.where(has_culen, np.maximum(culen - 8, 0), 0)[mid_rows],
                              np.where(has_ulen, np.maximum(ulen - 8, 0), 0)[out_rows]])
    is_tcp_o = _pad(is_tcp, m)
    is_udp_o = np.concatenate([is_udp, np.ones(m - n, dtype=bool)]) if m > n else is_udp
    t_o = t[obs_row] if m > n else t
    frame_o = frame[obs_row] if m > n else frame

    # ICMP errors, whose quoted addresses join the address ids.
    is_err = (is_icmp4 & np.isin(it4, list(ICMP_ERRORS_V4))) | (is_icmp6 & np.isin(it6, list(ICMP_ERRORS_V6)))
    err_rows = np.flatnonzero(is_err)
    quoted = _rows(tbl, _QUOTED, err_rows)
    e_src = _ip_words(quoted, "inner.ip.src", "inner.ipv6.src")
    e_dst = _ip_words(quoted, "inner.ip.dst", "inner.ipv6.dst")

    addrs = _Addresses()
    p_src = addrs.add(*o_src)
    p_dst = addrs.add(*o_dst)
    p_esrc = addrs.add(e_src[0], e_src[1])
    p_edst = addrs.add(e_dst[0], e_dst[1])
    ids = addrs.factorize()
    a_src, a_dst, a_esrc, a_edst = ids[p_src], ids[p_dst], ids[p_esrc], ids[p_edst]

    # Canonical endpoint order of every observation: "lo" is the smaller (address, port).
    lo_is_src = (a_src < a_dst) | ((a_src == a_dst) & (sp <= dp))
    a_lo = np.where(lo_is_src, a_src, a_dst)
    a_hi = np.where(lo_is_src, a_dst, a_src)
    p_lo = np.where(lo_is_src, sp, dp)
    p_hi = np.where(lo_is_src, dp, sp)

    pkt_conn = np.full(m, -1, dtype=np.int64)      # session (before SID numbering) of each observation
    counted = np.zeros(m, dtype=bool)               # counted in the session's datagrams
    found = _Found([], [], [], [], [], [], [], [])
    proto_code = np.zeros(m, dtype=np.int64)
    proto_code[is_tcp_o] = _TCP
    proto_code[is_udp_o] = _UDP

    # -- TCP (innermost observations only: their index is the packet's row)
    tcp_rows = np.flatnonzero(is_tcp)
    order, new = _group_starts([proto_code, a_lo, p_lo, a_hi, p_hi], tcp_rows)
    if len(order):
        flags, _ = _col(tbl, "tcp.flags")
        seq, _ = _col(tbl, "tcp.seq_raw")
        ackn, _ = _col(tbl, "tcp.ack_raw")
        win, has_win = _col(tbl, "tcp.window_size_value")
        win = np.where(has_win, win, 1)
        conn_of, conns = _tcp_sessions(order, new, lo_is_src, t, flags, seq, ackn, tlen, win, sp, dp, tcp_whole,
                                       int(tcp_inactivity_timeout * 1e9))
        pkt_conn[order] = conn_of + len(found)
        counted[order] = tcp_whole[order]
        first = order[np.unique(conn_of, return_index=True)[1]]
        keys = zip(a_lo[first].tolist(), p_lo[first].tolist(), a_hi[first].tolist(), p_hi[first].tolist())
        for c, (alo, plo, ahi, phi) in zip(conns, keys):
            found.add(_TCP, c.orig_is_lo, (_TCP, alo, plo, ahi, phi), "".join(c.hist), c.conn_state(),
                      c.first_rtt / 1e9 if c.first_rtt >= 0 else None, c.complete)

    # -- UDP: innermost flows and tunnel carriers alike, in frame order within a flow
    udp_rows = np.flatnonzero(is_udp_o)
    order, new = _group_starts([proto_code, a_lo, p_lo, a_hi, p_hi], udp_rows, obs_row)
    if len(order):
        udp_ns = int(udp_timeout * 1e9)
        starts = _split_idle(order, new, t_o, udp_ns)
        # A datagram to a broadcast or multicast group never makes the group the initiator.
        group = addrs.is_group()
        likely_src = np.isin(sp, list(LIKELY_SERVER_PORTS_UDP))
        likely_dst = np.isin(dp, list(LIKELY_SERVER_PORTS_UDP))
        flip_here = likely_src & ~likely_dst & ~group[a_dst]
        dns = np.isin(p_lo[order], list(DNS_PORTS_UDP)) | np.isin(p_hi[order], list(DNS_PORTS_UDP))
        if dns.any():
            _dns_starts(order, new, starts, dns, t_o, dp, flip_here, sp, udp_ns)
        sess = np.cumsum(starts) - 1
        pkt_conn[order] = sess + len(found)
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
        o_first = np.where(orig_lo, first_lo, first_hi)
        r_first = np.where(orig_lo, first_hi, first_lo)
        which = (flip.astype(np.int64) * 8 + (o_first != big) * 4 + (r_first != big) * 2 + (o_first < r_first))
        udp_keys = list(zip([_UDP] * k, a_lo[first].tolist(), p_lo[first].tolist(), a_hi[first].tolist(),
                            p_hi[first].tolist()))
        found.extend(_UDP, orig_lo.tolist(), udp_keys, _UDP_HISTORY[which].tolist(), _UDP_STATE[which].tolist())

    # -- ICMP exchanges (innermost observations; errors are attached below)
    ident, has_ident = _col(tbl, "icmp.ident")
    itype = np.where(is_icmp4, it4, np.where(is_icmp6, it6, -1))
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
    a_src0, a_dst0 = a_src[:n], a_dst[:n]
    alo_i = np.minimum(a_src0, a_dst0)
    ahi_i = np.maximum(a_src0, a_dst0)
    src_is_lo = a_src0 <= a_dst0
    info_rows = np.flatnonzero(info)
    order, new = _group_starts([iproto, alo_i, ahi_i, klass, echo_id], info_rows)
    if len(order):
        starts = _split_idle(order, new, t, int(icmp_timeout * 1e9))
        sess = np.cumsum(starts) - 1
        pkt_conn[order] = sess + len(found)
        counted[order] = True
        k = int(sess[-1]) + 1
        # Initiator: the sender of the first request, else the receiver of the first answer.
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
            found.add(int(iproto[r]), o_lo, (int(iproto[r]), int(alo_i[r]), int(klass[r]), int(ahi_i[r]),
                                             int(echo_id[r])),
                      ident=int(echo_id[r]) if has_ident[r] and is_icmp4[r] else None)

    # -- fragments without a transport header join the datagram they belong to
    _attach_fragments(tbl, pkt_conn, use4, use6, out_src, out_dst, ipproto)

    # -- ICMP errors join the session whose packet they quote
    sess_start = _first_time(pkt_conn, counted, t_o, len(found))
    icmp_err_count = np.zeros(len(found), dtype=np.int64)
    icmp_err_first = np.full(len(found), -1, dtype=np.int64)
    attached = np.zeros(m, dtype=bool)
    if len(err_rows):
        extra = _attach_errors(quoted, err_rows, pkt_conn, found.key, sess_start, t, a_esrc, a_edst, icmp_err_count,
                               icmp_err_first, frame)
        # Errors quoting nothing in the trace: an ICMP session per (hosts, type) as Zeek has.
        attached[err_rows[~extra]] = True
        lone = err_rows[extra]
        order, new = _group_starts([iproto, alo_i, ahi_i, itype], lone)
        if len(order):
            starts = _split_idle(order, new, t, int(icmp_timeout * 1e9))
            sess = np.cumsum(starts) - 1
            pkt_conn[order] = sess + len(found)
            counted[order] = True
            for r in order[starts].tolist():
                found.add(int(iproto[r]), bool(src_is_lo[r]), (int(iproto[r]), int(alo_i[r]), int(itype[r]),
                                                                int(ahi_i[r]), 0))
            grown = len(found) - len(icmp_err_count)
            icmp_err_count = np.concatenate([icmp_err_count, np.zeros(grown, np.int64)])
            icmp_err_first = np.concatenate([icmp_err_first, np.full(grown, -1, np.int64)])

    obs = _Observations(obs_row, level, n, t_o, frame_o, pkt_conn, counted, lo_is_src, ipbytes, payload, is_tcp_o,
                        attached, tunnelled)
    return _assemble(tbl, local, obs, addrs, found, icmp_err_count, icmp_err_first)


@dataclass
class _Observations:
    """Per observation (innermost headers of each packet, then tunnel carriers): what :func:`_assemble` sums."""

    row: np.ndarray
    """The packet (row of the input table) of each observation."""
    level: np.ndarray
    """0 innermost, 1 a nested tunnel's UDP carrier, 2 the outermost UDP carrier."""
    n: int
    """Packets in the input table (observations 0..n-1 are their innermost headers)."""
    t: np.ndarray
    frame: np.ndarray
    conn: np.ndarray
    """Session (before SID numbering) of each observation, -1 none."""
    counted: np.ndarray
    lo_is_src: np.ndarray
    ipbytes: np.ndarray
    payload: np.ndarray
    is_tcp: np.ndarray
    attached: np.ndarray
    """ICMP errors attached to the session they quote (carry its SID, not counted in it)."""
    tunnelled: np.ndarray
    """Per packet: it has more than one IP header."""


def _first_time(pkt_conn: np.ndarray, counted: np.ndarray, t: np.ndarray, k: int) -> np.ndarray:
    first = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
    m = counted & (pkt_conn >= 0)
    if m.any():
        np.minimum.at(first, pkt_conn[m], t[m])
    return first


def _attach_fragments(tbl: pa.Table, pkt_conn: np.ndarray, use4: np.ndarray, use6: np.ndarray,
                      src: tuple[np.ndarray, np.ndarray], dst: tuple[np.ndarray, np.ndarray],
                      ipproto: np.ndarray) -> None:
    """Give the fragments of a datagram the session of the fragment that completed it
    (fragments of the outermost IP header, grouped by its addresses, identification and protocol)."""
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
    order, new = _group_starts([fam, src[0], src[1], dst[0], dst[1], fid, np.where(use4, ipproto, 0)], rows)
    grp = np.cumsum(new) - 1
    k = int(grp[-1]) + 1
    owner = np.full(k, -1, dtype=np.int64)
    conn = pkt_conn[order]
    has = conn >= 0
    if has.any():
        owner[grp[has]] = conn[has]
    mine = owner[grp]
    todo = (conn < 0) & (mine >= 0)
    pkt_conn[order[todo]] = mine[todo]


def _attach_errors(quoted: pa.Table, err_rows: np.ndarray, pkt_conn: np.ndarray,
                   key_l: list[tuple[int, int, int, int, int]], sess_start: np.ndarray, t: np.ndarray,
                   a_esrc: np.ndarray, a_edst: np.ndarray, counts: np.ndarray, first: np.ndarray,
                   frame: np.ndarray) -> np.ndarray:
    """Attach each ICMP error to the TCP/UDP session it quotes; returns which errors found none.
    ``quoted`` holds the errors' ``inner.*`` columns, ``a_esrc``/``a_edst`` the quoted addresses' ids."""
    sub = quoted
    iproto4, ih4 = _col(sub, "inner.ip.proto")
    inxt6, _ = _col(sub, "inner.ipv6.nxt")
    its, ihas_t = _col(sub, "inner.tcp.srcport")
    itd, _ = _col(sub, "inner.tcp.dstport")
    ius, ihas_u = _col(sub, "inner.udp.srcport")
    iud, _ = _col(sub, "inner.udp.dstport")
    by_key: dict[tuple[int, int, int, int, int], list[int]] = {}
    for i, key in enumerate(key_l):
        if key[0] in (_TCP, _UDP):
            by_key.setdefault(key, []).append(i)
    lone = np.ones(len(err_rows), dtype=bool)
    for j, r in enumerate(err_rows.tolist()):
        p = int(iproto4[j]) if ih4[j] else int(inxt6[j])
        if p == 6 and ihas_t[j]:
            proto, s, d = _TCP, int(its[j]), int(itd[j])
        elif p == 17 and ihas_u[j]:
            proto, s, d = _UDP, int(ius[j]), int(iud[j])
        else:
            continue
        a, b = int(a_esrc[j]), int(a_edst[j])
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


def _tunnels(obs: _Observations,
             k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per packet: its innermost session, the carrier and outer carrier of that session in this
    packet (session numbers, -1 none); per session: tunnelled; and (child, parent) session pairs."""
    n = obs.n
    conn = obs.conn
    c0 = conn[:n]
    mid = np.full(n, -1, dtype=np.int64)
    out = np.full(n, -1, dtype=np.int64)
    sel = obs.level == 1
    mid[obs.row[sel]] = conn[sel]
    sel = obs.level == 2
    out[obs.row[sel]] = conn[sel]
    near = np.where(mid >= 0, mid, out)            # the carrier nearest the innermost headers
    innermost = np.where(c0 >= 0, c0, near)
    carrier = np.where(c0 >= 0, near, np.where(mid >= 0, out, -1))
    outer = np.where((c0 >= 0) & (mid >= 0), out, -1)
    # Child -> parent pairs, from the packets counted in the child.
    live = obs.counted[:n] & (c0 >= 0)
    child = np.concatenate([c0[live & (near >= 0)], mid[(mid >= 0) & (out >= 0)]])
    parent = np.concatenate([near[live & (near >= 0)], out[(mid >= 0) & (out >= 0)]])
    tun = np.zeros(k, dtype=bool)
    tun[c0[live & obs.tunnelled]] = True
    tun[mid[mid >= 0]] = True
    return innermost, carrier, outer, tun, child, parent


def _parent_lists(child: np.ndarray, parent_sid: np.ndarray, k: int) -> pa.Array:
    """Per session (by session number), the distinct SIDs of its parents, ascending."""
    offsets = np.zeros(k + 1, dtype=np.int64)
    values = np.zeros(0, dtype=np.int64)
    if len(child):
        pairs = np.unique(np.stack([child, parent_sid], axis=1), axis=0)
        np.add.at(offsets, pairs[:, 0] + 1, 1)
        values = pairs[:, 1]
    return pa.ListArray.from_arrays(pa.array(np.cumsum(offsets), pa.int32()), pa.array(values, pa.int64()))


def _assemble(tbl: pa.Table, local: LocalSide | None, obs: _Observations, addrs: _Addresses, found: _Found,
              err_count: np.ndarray, err_first: np.ndarray) -> Sessions:
    k = len(found)
    pkt_conn, counted, lo_is_src, t, frame = obs.conn, obs.counted, obs.lo_is_src, obs.t, obs.frame
    # SIDs in order of each session's first packet (of two sessions starting in one packet, the carrier first).
    first_key = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
    inside = pkt_conn >= 0
    if k:
        first_of = inside & ~obs.attached
        np.minimum.at(first_key, pkt_conn[first_of], obs.row[first_of] * 3 + (2 - obs.level[first_of]))
    rank = np.argsort(first_key, kind="stable")
    sid_of = np.empty(k + 1, dtype=np.int64)
    sid_of[rank] = np.arange(1, k + 1)
    sid_of[k] = 0                                   # session number -1 -> SID 0
    innermost, carrier, outer, tunnelled, child, parent = _tunnels(obs, k)
    sid = sid_of[innermost]
    parents = _parent_lists(child, sid_of[parent], k)

    orig_lo = np.asarray(found.orig_lo, dtype=bool)
    keys = np.asarray(found.key, dtype=np.int64).reshape(k, 5)
    # Who sent each counted observation: the initiator or the responder.
    m = counted & inside
    c = pkt_conn[m]
    from_orig = lo_is_src[m] == orig_lo[c]
    c_o, c_r = c[from_orig], c[~from_orig]
    pk_o = np.bincount(c_o, minlength=k)
    pk_r = np.bincount(c_r, minlength=k)
    by = obs.ipbytes[m]
    by_o = np.bincount(c_o, weights=by[from_orig], minlength=k).astype(np.int64)
    by_r = np.bincount(c_r, weights=by[~from_orig], minlength=k).astype(np.int64)
    payload = obs.payload[m]
    pl_o = np.bincount(c_o, weights=payload[from_orig], minlength=k).astype(np.int64)
    pl_r = np.bincount(c_r, weights=payload[~from_orig], minlength=k).astype(np.int64)
    # Times and frames span every observation of the session except attached ICMP errors.
    member = inside & ~obs.attached
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
    server, network, client, rtt_used = _times(obs, orig_lo, k, found.rtt, elapsed)
    # Times are sums of nanosecond differences: keep them to the nanosecond.
    server, network, client = np.round(server, 9), np.round(network, 9), np.round(client, 9)

    opts = _tcp_options(tbl, obs, orig_lo, k)
    retrans, dupack = _analysis_counts(tbl, obs, k)

    protos = keys[:, 0]
    loc_svc = _service_names(np.where(has_ports, protos, 0), loc_port)
    # ICMP has no ports: the remote "service" names the exchange by its message type.
    rmt_svc = _service_names(protos, np.where(has_ports, rmt_port, keys[:, 2]))
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
        "sid": pa.array(sid_of[:k], pa.int64()),
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
        "conn_state": pa.array(found.state, pa.string()),
        "history": pa.array(found.history, pa.string()),
        "completeness": pa.array(found.complete, pa.int64()),
        "handshake_rtt": rtt_used,
        **opts,
        "retransmissions": retrans,
        "duplicate_acks": dupack,
        "icmp_ident": pa.array(found.ident, pa.int64()),
        "icmp_errors": pa.array(err_count[:k], pa.int64()),
        "first_icmp_error": pa.array(err_first[:k], pa.int64(), mask=err_first[:k] < 0),
        "tunnelled": pa.array(tunnelled, pa.bool_()),
        "tunnel_parents": parents,
        "first_frame": pa.array(ffirst, pa.int64()),
        "last_frame": pa.array(flast, pa.int64()),
    }
    table = pa.table({name: cols[name] for name in COLUMNS}).take(pa.array(rank))
    return Sessions(table, sid, local, sid_of[carrier], sid_of[outer])


def _service_names(protos: np.ndarray, ports: np.ndarray) -> list[str | None]:
    """Service name of each session's port (TCP, UDP), or its ICMP message type's name; each
    distinct (protocol, port) looked up once."""
    keys, inv = np.unique(protos * 65536 + ports, return_inverse=True)
    names: list[str | None] = []
    for pr, p in zip((keys // 65536).tolist(), (keys % 65536).tolist()):
        if pr == _TCP:
            names.append(TCP_SERVICES.get(p, str(p)))
        elif pr == _UDP:
            names.append(UDP_SERVICES.get(p, str(p)))
        elif pr in (_ICMP, _ICMP6):
            names.append((ICMP_TYPES if pr == _ICMP else ICMPV6_TYPES).get(p, f"type {p}"))
        else:
            names.append(None)
    return np.asarray(names + [None], dtype=object)[inv.reshape(-1)].tolist() if len(keys) else []


def _times(obs: _Observations, orig_lo: np.ndarray, k: int, rtt_l: list[float | None],
           elapsed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array]:
    """Server, network and client time of each session (see the module docstring)."""
    pkt_conn, t = obs.conn, obs.t
    carries = obs.counted & (pkt_conn >= 0) & (~obs.is_tcp | (obs.payload > 0))
    rows = np.flatnonzero(carries)
    server = np.zeros(k)
    network = np.zeros(k)
    hs = np.array([r if r is not None else np.nan for r in rtt_l], dtype=float) if k else np.zeros(0)
    if len(rows):
        c = pkt_conn[rows]
        order = rows[np.lexsort((obs.row[rows], c))]
        c = pkt_conn[order]
        client = obs.lo_is_src[order] == orig_lo[c]
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
    return server, network, client_t, pa.array(hs, pa.float64(), mask=np.isnan(hs))


def _tcp_options(tbl: pa.Table, obs: _Observations, orig_lo: np.ndarray, k: int) -> dict[str, pa.Array]:
    """The MSS, window scale and SACK-permitted each side offered on its first SYN, and what was agreed."""
    n = obs.n
    pkt_conn = obs.conn[:n]
    flags, _ = _col(tbl, "tcp.flags")
    syn = obs.counted[:n] & obs.is_tcp[:n] & (pkt_conn >= 0) & ((flags & SYN) != 0)
    out_mss = [np.full(k, -1, dtype=np.int64), np.full(k, -1, dtype=np.int64)]
    out_ws = [np.full(k, -1, dtype=np.int64), np.full(k, -1, dtype=np.int64)]
    out_sack = [np.zeros(k, dtype=bool), np.zeros(k, dtype=bool)]
    seen = [np.zeros(k, dtype=bool), np.zeros(k, dtype=bool)]
    rows = np.flatnonzero(syn)
    if len(rows):
        sub = _rows(tbl, ("tcp.options.mss_val", "tcp.options.wscale.shift", "tcp.options.sack_perm"), rows)
        mss, has_mss = _col(sub, "tcp.options.mss_val")
        ws, has_ws = _col(sub, "tcp.options.wscale.shift")
        _, has_sack = _col(sub, "tcp.options.sack_perm")
        c = pkt_conn[rows]
        side = (obs.lo_is_src[rows] != orig_lo[c]).astype(np.int64)   # 0 initiator, 1 responder
        uniq, idx = np.unique(c * 2 + side, return_index=True)
        cc, ss = uniq // 2, uniq % 2
        for s in (0, 1):
            sel = idx[ss == s]
            seen[s][cc[ss == s]] = True
            out_mss[s][cc[ss == s]] = np.where(has_mss[sel], mss[sel], -1)
            out_ws[s][cc[ss == s]] = np.where(has_ws[sel], ws[sel], -1)
            out_sack[s][cc[ss == s]] = has_sack[sel]

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


def _analysis_counts(tbl: pa.Table, obs: _Observations, k: int) -> tuple[pa.Array, pa.Array]:
    """Retransmissions and duplicate ACKs per TCP session, from the tcp.analysis.* columns (null if absent)."""
    n = obs.n
    pkt_conn = obs.conn[:n]
    m = obs.counted[:n] & obs.is_tcp[:n] & (pkt_conn >= 0)
    tcp_sess = np.zeros(k, dtype=bool)
    tcp_sess[pkt_conn[m]] = True

    def count(names: tuple[str, ...]) -> pa.Array:
        present = [nm for nm in names if nm in tbl.column_names]
        if not present:
            return pa.nulls(k, pa.int64())
        hit = np.zeros(n, dtype=bool)
        for nm in present:
            v, valid = _col(tbl, nm, bool)
            hit |= valid & v
        sel = m & hit
        return pa.array(np.bincount(pkt_conn[sel], minlength=k), pa.int64(), mask=~tcp_sess)

    return count(_RETRANSMISSION_COLUMNS), count((_DUP_ACK_COLUMN,))
