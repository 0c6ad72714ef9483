"""Request/response transactions and the Response Time Summary.

A *transaction* is one request an application client sent and the response
that answered it: a TCP connection attempt and its SYN-ACK, a DNS query and
its answer, an FTP command and its final reply, an HTTP request and its
response, a TLS ClientHello and its ServerHello, an SNMP request and its
Response PDU, a DHCP Discover and its Offer (Request and its ACK/NAK), an
SMTP, POP or IMAP command and its reply.  Each protocol pairs them the way
the protocol itself does:

``tcp.connect``
    The first SYN of a connection -> the first SYN-ACK acknowledging its
    initial sequence number.  A SYN repeating the same ISN is a
    retransmission of the same attempt (counted in ``retries``); a SYN with
    a new ISN on the same address/port pair is a new attempt.  A RST from
    the server before any SYN-ACK leaves the attempt unanswered with result
    ``refused (RST)``.
``dns``
    Wireshark 4.0's matching (packet-dns.c, ``dissect_dns_common``): per
    conversation (address/port pair; a TCP connection) and transaction ID,
    a query opens a transaction unless the ID's latest transaction is still
    unanswered and less than ``dns.retransmission_timer`` (5 s) old, in
    which case it is a retransmission; the first response answers it;
    later ones are retransmitted responses, except after an AXFR/IXFR query
    (many responses).  The response time is measured from the *first*
    query, so it equals tshark's ``dns.time``; the same logic gives the
    per-packet columns of :class:`DnsTime`.
``ftp``
    On the control connection, commands and replies in order: a reply
    answers the oldest pending command; 1xx preliminary replies do not end
    it.  A multi-line reply split over segments shows its code on every
    segment that starts with it; a reply with the same code as the previous
    one arriving when no command is pending is that reply's continuation.
``http``
    Requests and responses in order per connection (pipelining); 1xx
    interim responses are skipped (101 Switching Protocols is final).  The
    times are those of the frames carrying the decoded messages (the frame
    that completes each one), as tshark's ``http.time`` measures them.
``tls.handshake``
    The first ClientHello of a connection -> the first ServerHello from the
    other side; a server alert before it is the result.
``snmp``
    By request-id within the conversation: GetRequest, GetNextRequest,
    SetRequest, GetBulkRequest and InformRequest open a transaction, the
    Response PDU answers it (as Wireshark's packet-snmp.c pairs them).  A
    request repeating a pending request-id is a retry.
``dhcp``
    By transaction ID (xid) and client hardware address: Discover -> Offer,
    Request -> ACK/NAK, Inform -> ACK.  A repeated message with a pending
    xid is a retry.
``smtp``, ``pop``
    Commands and replies in order per connection, like FTP (for SMTP the
    end of the message after DATA is a request of its own, answered by the
    reply that accepts the message); the server's greeting answers nothing.

For the in-order protocols (FTP, HTTP, SMTP, POP) a reply missing from the
capture would shift every later pairing: a request whose client already
acknowledged server bytes that no decoded reply accounts for closes the
oldest pending request as ``response not decoded``.
``imap``
    A tagged command is answered by the tagged response with its tag;
    untagged and continuation responses do not end it.

Every protocol keys its conversations on the innermost IP header and the
TCP or UDP header after it (:func:`tracedoc.analyze.endpoints.ends`), as
Wireshark keys them: a DNS query or an HTTP request carried in a tunnel
(GRE, ERSPAN, VXLAN, Teredo ...) pairs with its answer whatever tunnel, or
none, the answer comes back through, and the client and server are the
hosts inside the tunnel.

Times are nanoseconds: ``request_time`` since the epoch, ``response_time``
the time from the request to the response (null when unanswered).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracedoc.analyze import endpoints
from tracedoc.analyze.endpoints import Ends, ends
from tracedoc.decode.display import format_ipv4, format_ipv6
from tracedoc.decode.fields import F, Field

# -- the transaction table -----------------------------------------------------------

SCHEMA = pa.schema([
    pa.field("type", pa.string()),
    pa.field("client", pa.string()),
    pa.field("client_port", pa.uint16()),
    pa.field("server", pa.string()),
    pa.field("server_port", pa.uint16()),
    pa.field("request_frame", pa.uint64()),
    pa.field("response_frame", pa.uint64()),
    pa.field("request_time", pa.int64()),
    pa.field("response_time", pa.int64()),
    pa.field("label", pa.string()),
    pa.field("result", pa.string()),
    pa.field("retries", pa.uint32()),
])
"""One row per transaction, in order of the request frame.  ``request_time``
is epoch ns; ``response_time`` the ns from request to response (null:
unanswered); ``label`` what was asked (DNS name, FTP command, HTTP method and
URI, SNMP PDU); ``result`` what the answer said (DNS reply code, FTP reply
code, HTTP status, ...); ``retries`` how many times the request was repeated
before it was answered (retransmitted SYNs, DNS queries, SNMP requests)."""

TYPES = ("tcp.connect", "dns", "ftp", "http", "tls.handshake", "snmp", "dhcp", "smtp", "pop", "imap")

COLUMNS = [
    "frame.number", "frame.time_epoch", "_ws.malformed", *endpoints.NEEDS, "icmp.type", "icmpv6.type",
    "tcp.flags", "tcp.seq_raw", "tcp.ack_raw", "tcp.len",
    "dns.id", "dns.flags.response", "dns.flags.rcode", "dns.count.queries", "dns.count.zones", "dns.count.answers",
    "dns.count.prerequisites", "dns.count.auth_rr", "dns.count.updates", "dns.count.add_rr",
    "dns.qry.name", "dns.qry.type", "dns.resp.name",
    "ftp.request.command", "ftp.request.arg", "ftp.response.code",
    "http.request.method", "http.request.uri", "http.response.code", "http.response.phrase",
    "tls.handshake.type", "tls.handshake.extensions_server_name", "tls.alert_message.desc",
    "snmp.data", "snmp.request_id", "snmp.error_status",
    "dhcp.option.dhcp", "dhcp.id", "dhcp.hw.mac_addr", "dhcp.option.requested_ip_address", "dhcp.ip.your",
    "smtp.req.command", "smtp.response.code", "smtp.eom",
    "pop.request.command", "pop.response.indicator",
    "imap.request_tag", "imap.request.command", "imap.response_tag", "imap.response.status",
]
"""The packet-table columns :func:`transactions` reads."""

SYN, RST, ACK = 0x02, 0x04, 0x10


@dataclass(slots=True)
class _Txn:
    type: str
    row: int
    """Row of the request (client = its source, server = its destination)."""
    req_frame: int
    req_time: int
    label: str | None = None
    resp_row: int = -1
    resp_frame: int = -1
    resp_time: int = 0
    result: str | None = None
    retries: int = 0
    server_from_response: bool = False
    """Take the server's address and port from the response's source (DHCP:
    the request goes to the broadcast address)."""

    def answer(self, row: int, frame: int, time: int, result: str | None = None) -> None:
        self.resp_row, self.resp_frame, self.resp_time = row, frame, time
        if result is not None:
            self.result = result

    @property
    def answered(self) -> bool:
        return self.resp_row >= 0


# -- reading the table -----------------------------------------------------------------

class _Cols:
    """The columns of a table or batch, read once: numpy values with a
    validity mask, or Python values of chosen rows (for the loops that are
    truly sequential).  A column the data lacks reads as all-null."""

    def __init__(self, data: pa.Table | pa.RecordBatch) -> None:
        self.data = data
        self.n = data.num_rows
        self._np: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._ends: Ends | None = None

    def arr(self, name: str) -> pa.Array:
        if name not in self.data.schema.names:
            return pa.nulls(self.n)
        col = self.data.column(name)
        return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col

    def num(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(values with nulls as 0, valid mask) of a numeric column."""
        got = self._np.get(name)
        if got is None:
            a = self.arr(name)
            valid = np.asarray(a.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
            if pa.types.is_null(a.type):
                vals = np.zeros(self.n, dtype=np.int64)
            elif pa.types.is_boolean(a.type):
                vals = np.asarray(a.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
            else:
                vals = np.asarray(a.fill_null(0).to_numpy(zero_copy_only=False))
            got = self._np[name] = (vals, valid)
        return got

    def valid(self, name: str) -> np.ndarray:
        """Which rows have a value in column ``name`` (of any type)."""
        return np.asarray(self.arr(name).is_valid().to_numpy(zero_copy_only=False), dtype=bool)

    def take(self, name: str, rows: np.ndarray) -> list[Any]:
        a = self.arr(name)
        if len(rows) == 0:
            return []
        return pc.take(a, pa.array(rows, type=pa.int64())).to_pylist()

    def ends(self) -> Ends:
        """The conversation ends of every row (the innermost IP header and
        the transport after it), computed once."""
        if self._ends is None:
            # A column the data lacks (or holds only as nulls) is given a
            # type, so that it reads as "no value" on every row.
            cols = {}
            for name in endpoints.NEEDS:
                a = self.arr(name)
                cols[name] = pa.nulls(self.n, pa.int64()) if pa.types.is_null(a.type) else a
            self._ends = ends(pa.table(cols))
        return self._ends

    def addresses(self, rows: np.ndarray) -> tuple[list[Any], list[Any]]:
        """Source and destination of each row, from its innermost IP header:
        4 bytes (IPv4), 16 bytes (IPv6) or None (no IP header).  The lengths
        keep an IPv4 address apart from the IPv4-mapped IPv6 one."""
        e = self.ends()
        return _address_keys(e.src, e, rows), _address_keys(e.dst, e, rows)

    def ports(self, rows: np.ndarray) -> tuple[list[Any], list[Any], list[bool]]:
        """Source port, destination port (None: no TCP or UDP header after
        the innermost IP header) and whether that header is TCP."""
        e = self.ends()
        sp, dp = e.sport[rows], e.dport[rows]
        return ([None if p < 0 else p for p in sp.tolist()], [None if p < 0 else p for p in dp.tolist()],
                (e.proto[rows] == 6).tolist())


def _address_keys(addr: np.ndarray, e: Ends, rows: np.ndarray) -> list[Any]:
    raw = np.ascontiguousarray(addr[rows]).view("V16").ravel().tolist()
    return [None if not ip else (b[12:] if v4 else b) for b, ip, v4 in
            zip(raw, e.has_ip[rows].tolist(), e.is_v4[rows].tolist())]


def _pair(a: Any, ap: Any, b: Any, bp: Any) -> tuple[Any, ...]:
    """The address/port pair of a packet, the same in both directions."""
    x, y = (a, ap), (b, bp)
    try:
        if x > y:
            x, y = y, x
    except TypeError:  # a missing address or port: keep the packet's order
        pass
    return (*x, *y)


class _TcpGenerations:
    """Which connection of a reused TCP address/port pair a segment belongs to.

    A SYN without ACK starts a new connection on its pair unless it repeats
    the SYN that opened the current one (same sender, same sequence number):
    Wireshark's TCP dissector likewise starts a new conversation for a SYN
    whose sequence number differs from the base sequence of its direction.
    """

    def __init__(self) -> None:
        self._gen: dict[tuple[Any, ...], tuple[int, Any, int]] = {}
        self._seen: set[tuple[Any, ...]] = set()

    def syn(self, pair: tuple[Any, ...], sender: Any, seq: int) -> None:
        cur = self._gen.get(pair)
        if cur is not None and cur[1] == sender and cur[2] == seq:
            return
        if cur is not None:
            gen = cur[0] + 1
        else:
            gen = 1 if pair in self._seen else 0  # traffic without a SYN came first
        self._gen[pair] = (gen, sender, seq)

    def key(self, pair: tuple[Any, ...]) -> tuple[Any, ...]:
        cur = self._gen.get(pair)
        if cur is None:
            self._seen.add(pair)
            return (*pair, 0)
        return (*pair, cur[0])


def _syn_rows(c: _Cols) -> np.ndarray:
    flags, has = c.num("tcp.flags")
    return np.flatnonzero(has & ((flags & (SYN | ACK)) == SYN))


def _conversation_keys(c: _Cols, rows: np.ndarray, gens: _TcpGenerations | None = None) -> list[tuple[Any, ...]]:
    """The conversation of each of ``rows`` (in row order): ``("u", pair)``
    for UDP, ``("t", pair, generation)`` for TCP; SYNs among all rows split
    reused TCP pairs.  ``gens`` carries that state across batches."""
    gens = _TcpGenerations() if gens is None else gens
    syn = _syn_rows(c)
    allrows = np.union1d(rows, syn).astype(np.int64)
    src, dst = c.addresses(allrows)
    sp, dp, tcp = c.ports(allrows)
    seq = c.take("tcp.seq_raw", allrows)
    is_syn = np.isin(allrows, syn).tolist()
    wanted = np.isin(allrows, rows).tolist()
    out: dict[int, tuple[Any, ...]] = {}
    for i, r in enumerate(allrows.tolist()):
        pair = _pair(src[i], sp[i], dst[i], dp[i])
        if tcp[i]:
            if is_syn[i]:
                gens.syn(pair, (src[i], sp[i]), seq[i])
            if wanted[i]:
                out[r] = ("t", *gens.key(pair))
        elif wanted[i]:
            out[r] = ("u", *pair)
    return [out[r] for r in rows.tolist()]


# -- DNS: Wireshark's matching, shared by the transactions and the dns.time columns --------

DNS_RETRANSMISSION_TIMER_NS = 5_000_000_000
"""Wireshark's ``dns.retransmission_timer`` (5 s): a query repeating the ID of
an unanswered one younger than this is a retransmission, older a new query."""

_MULTIPLE_RESPONSES = (251, 252)  # IXFR, AXFR: answered by many messages


@dataclass(slots=True)
class _DnsTrans:
    req_frame: int
    req_time: int
    rep_frame: int = 0
    multiple_responds: bool = False
    txn: _Txn | None = None


class DnsMatcher:
    """Wireshark 4.0's DNS request/response tracking, one pass in frame order
    (packet-dns.c ``dissect_dns_common`` as tshark runs it without ``-2``).

    Transactions are kept per conversation and transaction ID; only the
    latest one of an ID is looked at.  :meth:`feed` takes batches in order
    and returns, per row, the columns of :data:`DNS_FIELDS`; with
    ``collect=True`` it also builds the ``dns`` rows of :func:`transactions`.

    A message whose decode failed part-way (``_ws.malformed`` names DNS)
    changes the state as far as Wireshark gets before its exception (the
    matching) but shows no result, as in tshark.
    """

    def __init__(self, collect: bool = False) -> None:
        self._pdus: dict[tuple[Any, ...], _DnsTrans] = {}
        self._gens = _TcpGenerations()
        self._base = 0
        self.transactions: list[_Txn] | None = [] if collect else None

    def feed(self, data: pa.Table | pa.RecordBatch) -> list[pa.Array]:
        c = _Cols(data)
        n = c.n
        time = np.zeros(n, dtype=np.int64)
        has_time = np.zeros(n, dtype=bool)
        response_to = np.zeros(n, dtype=np.uint32)
        has_response_to = np.zeros(n, dtype=bool)
        retrans = np.zeros(n, dtype=bool)
        req_in = np.zeros(n, dtype=np.uint32)
        has_req_in = np.zeros(n, dtype=bool)
        rsp_in = np.zeros(n, dtype=np.uint32)
        has_rsp_in = np.zeros(n, dtype=bool)
        unsolicited = np.zeros(n, dtype=bool)

        _, has_id = c.num("dns.id")
        _, has_qr = c.num("dns.flags.response")
        rows = np.flatnonzero(has_id & has_qr)
        # A DNS message quoted in an ICMP error is no query or response:
        # Wireshark skips the tracking for it (pinfo->flags.in_error_pkt),
        # and so finds no query for a quoted response: "unsolicited".
        quoted = (c.num("icmp.type")[1] | c.num("icmpv6.type")[1])[rows].tolist()
        keys = _conversation_keys(c, rows[~np.asarray(quoted, dtype=bool)], self._gens)
        keys_at = iter(keys)
        if len(rows):
            frames = c.take("frame.number", rows)
            times = c.take("frame.time_epoch", rows)
            ids = c.take("dns.id", rows)
            resp = c.take("dns.flags.response", rows)
            quest = [a if a is not None else b for a, b in
                     zip(c.take("dns.count.queries", rows), c.take("dns.count.zones", rows))]
            qtypes = c.take("dns.qry.type", rows)
            mal = c.take("_ws.malformed", rows)
            names = c.take("dns.qry.name", rows) if self.transactions is not None else None
            rcode = c.take("dns.flags.rcode", rows) if self.transactions is not None else None
            pdus = self._pdus
            timer = DNS_RETRANSMISSION_TIMER_NS
            for i, r in enumerate(rows.tolist()):
                now = times[i]
                bad = mal[i] is not None and mal[i].split(":", 1)[0] in ("dns", "mdns", "llmnr")
                if quoted[i]:
                    if resp[i] and not bad and _whole(c, r, quest[i]):
                        unsolicited[r] = True
                    continue
                k = (next(keys_at), ids[i])
                t = pdus.get(k)
                again = False
                if not resp[i]:
                    if t is None or t.rep_frame or not now - t.req_time < timer:
                        t = pdus[k] = _DnsTrans(frames[i], now)
                        if self.transactions is not None:
                            t.txn = _Txn("dns", self._base + r, frames[i], now, _dns_label(names, qtypes, i))
                            self.transactions.append(t.txn)
                    else:
                        again = True
                        if t.txn is not None:
                            t.txn.retries += 1
                elif t is not None:
                    if t.rep_frame == 0:
                        t.rep_frame = frames[i]
                        if t.txn is not None and rcode is not None:
                            t.txn.answer(self._base + r, frames[i], now, _dns_rcode(rcode[i]))
                    elif not t.multiple_responds:
                        again = True
                if bad:
                    continue
                if t is not None and quest[i]:
                    t.multiple_responds = any(q in _MULTIPLE_RESPONSES for q in qtypes[i] or ())
                if not resp[i]:
                    if again and t is not None:
                        retrans[r] = True
                        req_in[r], has_req_in[r] = t.req_frame, True
                elif t is None:
                    unsolicited[r] = True
                elif again:
                    retrans[r] = True
                    rsp_in[r], has_rsp_in[r] = t.rep_frame, True
                else:
                    response_to[r], has_response_to[r] = t.req_frame, True
                    time[r], has_time[r] = now - t.req_time, True
        self._base += n
        return [
            pa.array(time, type=pa.int64(), mask=~has_time),
            pa.array(response_to, type=pa.uint32(), mask=~has_response_to),
            pa.array(retrans, type=pa.bool_(), mask=~retrans),
            pa.array(req_in, type=pa.uint32(), mask=~has_req_in),
            pa.array(rsp_in, type=pa.uint32(), mask=~has_rsp_in),
            pa.array(unsolicited, type=pa.bool_(), mask=~unsolicited),
        ]


def _whole(c: _Cols, r: int, quest: int | None) -> bool:
    """Whether row ``r``'s DNS message holds every record its header counts:
    an ICMP error quotes only the start of a datagram, and Wireshark's
    dissector stops (shows nothing more) where the quote ends."""
    rows = np.asarray([r])
    counts = [a if a is not None else b for a, b in (
        (c.take("dns.count.answers", rows)[0], c.take("dns.count.prerequisites", rows)[0]),
        (c.take("dns.count.auth_rr", rows)[0], c.take("dns.count.updates", rows)[0]),
        (c.take("dns.count.add_rr", rows)[0], None))]
    names = c.take("dns.qry.name", rows)[0] or []
    records = c.take("dns.resp.name", rows)[0] or []
    return len(names) >= (quest or 0) and len(records) >= sum(x or 0 for x in counts)


def _dns_label(names: list[Any] | None, qtypes: list[Any], i: int) -> str | None:
    from tracedoc.decode.dns import TYPE_NAMES

    if names is None or not names[i]:
        return None
    types = qtypes[i] or []
    kind = TYPE_NAMES.get(types[0], str(types[0])) if types else ""
    return f"{kind} {names[i][0]}".strip()


def _dns_rcode(code: int | None) -> str | None:
    from tracedoc.decode.dns import RCODE_TEXT

    return None if code is None else RCODE_TEXT.get(code, f"Error {code}")


DNS_FIELDS: tuple[Field, ...] = (
    F("dns.time", "time", "The time between the Query and the Response"),
    F("dns.response_to", "u32", "This is a response to the DNS query in this frame"),
    F("dns.retransmission", "bool", "This is a retransmission"),
    F("dns.retransmit_request_in", "u32", "This is a retransmitted DNS query (original request in this frame)"),
    F("dns.retransmit_response_in", "u32", "This is a retransmitted DNS response (original response in this frame)"),
    F("dns.unsolicited", "bool", "This is an unsolicited response"),
)
"""The per-packet DNS request/response columns tshark shows in its first
pass (``dns.response_in`` needs the second and is not made)."""


class DnsTime:
    """Deriver of :data:`DNS_FIELDS` (see :mod:`tracedoc.analyze.derived`)."""

    FIELDS: ClassVar[tuple[Field, ...]] = DNS_FIELDS
    NEEDS: ClassVar[tuple[str, ...]] = (
        "frame.number", "frame.time_epoch", "_ws.malformed", *endpoints.NEEDS, "tcp.flags", "tcp.seq_raw",
        "icmp.type", "icmpv6.type", "dns.id", "dns.flags.response", "dns.count.queries", "dns.count.zones",
        "dns.count.answers", "dns.count.prerequisites", "dns.count.auth_rr", "dns.count.updates", "dns.count.add_rr",
        "dns.qry.type", "dns.qry.name", "dns.resp.name")

    def __init__(self) -> None:
        self._m = DnsMatcher()

    def feed(self, batch: pa.RecordBatch) -> list[pa.Array]:
        return self._m.feed(batch)


# -- the other protocols ------------------------------------------------------------------

def _tcp_connect(c: _Cols) -> list[_Txn]:
    """First SYN -> first SYN-ACK acknowledging its ISN, per connection attempt."""
    flags, has = c.num("tcp.flags")
    rows = np.flatnonzero(has & ((flags & (SYN | RST)) != 0))
    if not len(rows):
        return []
    src, dst = c.addresses(rows)
    sp, dp, _ = c.ports(rows)
    fl = flags[rows].tolist()
    seq = c.take("tcp.seq_raw", rows)
    ack = c.take("tcp.ack_raw", rows)
    frames = c.take("frame.number", rows)
    times = c.take("frame.time_epoch", rows)
    out: list[_Txn] = []
    attempts: dict[tuple[Any, ...], tuple[_Txn, Any, int]] = {}
    for i, r in enumerate(rows.tolist()):
        pair = _pair(src[i], sp[i], dst[i], dp[i])
        f = fl[i]
        me = (src[i], sp[i])
        cur = attempts.get(pair)
        if f & SYN and not f & ACK:
            if cur is not None and cur[1] == me and cur[2] == seq[i]:
                cur[0].retries += 1
                continue
            t = _Txn("tcp.connect", r, frames[i], times[i], _service(dp[i]))
            attempts[pair] = (t, me, seq[i])
            out.append(t)
        elif cur is not None and not cur[0].answered and cur[0].result is None and cur[1] == (dst[i], dp[i]):
            t, _, isn = cur
            if f & SYN and ack[i] == (isn + 1) & 0xFFFFFFFF:
                t.answer(r, frames[i], times[i], "SYN-ACK")
            elif f & RST and not f & SYN:
                t.result = "refused (RST)"
    return out


def _service(port: int | None) -> str | None:
    from tracedoc.analyze.services import TCP_SERVICES

    return None if port is None else TCP_SERVICES.get(port, str(port))


def _list_valid(c: _Cols, name: str) -> np.ndarray:
    """Rows whose list column holds at least one value."""
    a = c.arr(name)
    if not pa.types.is_list(a.type):
        return np.zeros(c.n, dtype=bool)
    lens = pc.fill_null(pc.list_value_length(a), 0)
    return np.asarray(lens.to_numpy(zero_copy_only=False)) > 0


def _tcp_keys(c: _Cols, *masks: np.ndarray) -> dict[int, tuple[Any, ...]]:
    """The TCP connection of every row one of ``masks`` selects."""
    allm = np.zeros(c.n, dtype=bool)
    for m in masks:
        allm |= m
    rows = np.flatnonzero(allm)
    return dict(zip(rows.tolist(), _conversation_keys(c, rows)))


Reply = tuple[bool, str | None]
"""A reply as :func:`_commands` reads it: (final, result text); final is False
for a preliminary or interim reply, which answers nothing."""


NOT_DECODED = "response not decoded"
"""The result of a request whose response the client received (it
acknowledged the server's bytes) but that no decoded response accounts for:
a segment missing from the capture, or a response tracedoc could not read."""


def _after(a: int, b: int) -> bool:
    """Whether sequence number ``a`` lies after ``b`` (RFC 9293 3.4, modulo 2**32)."""
    return 0 < (a - b) & 0xFFFFFFFF < 0x80000000


def _commands(c: _Cols, typ: str, req_mask: np.ndarray, rsp_mask: np.ndarray,
              labels: Any, replies: Any) -> list[_Txn]:
    """Commands and replies in order per connection (FTP, SMTP, POP, HTTP).

    ``labels(r)`` gives the requests of row ``r`` (a list: one segment may
    carry several pipelined commands); ``replies(r)`` its replies.  A final
    reply answers the oldest pending command; one that arrives when none is
    pending answers nothing (a greeting, or the rest of a multi-line reply
    split over segments whose first part already answered).

    Order alone would pair every later reply with the wrong command once one
    reply is missing from the capture.  So when the client sends a request
    acknowledging server bytes past both the end of the last decoded reply
    and what it had acknowledged with the oldest pending request, those
    bytes were that request's reply, not decoded: the request is closed with
    :data:`NOT_DECODED`.  (A client that pipelines a request in the middle
    of a reply would be misread; clients do not do that in practice.)"""
    rows = np.flatnonzero(req_mask | rsp_mask)
    if not len(rows):
        return []
    keys = _tcp_keys(c, req_mask, rsp_mask)
    is_req = req_mask[rows].tolist()
    frames = c.take("frame.number", rows)
    times = c.take("frame.time_epoch", rows)
    flags = c.take("tcp.flags", rows)
    acks = c.take("tcp.ack_raw", rows)
    seqs = c.take("tcp.seq_raw", rows)
    lens = c.take("tcp.len", rows)
    out: list[_Txn] = []
    pending: dict[tuple[Any, ...], deque[tuple[_Txn, int | None]]] = {}
    reply_end: dict[tuple[Any, ...], int] = {}
    for i, r in enumerate(rows.tolist()):
        k = keys[r]
        q = pending.setdefault(k, deque())
        if is_req[i]:
            ack = acks[i] if flags[i] is not None and flags[i] & ACK else None
            if ack is not None:
                end = reply_end.get(k)
                while q and q[0][1] is not None and _after(ack, q[0][1]) and (end is None or _after(ack, end)):
                    q.popleft()[0].result = NOT_DECODED
                    reply_end[k] = end = ack
            for lab in labels(r):
                t = _Txn(typ, r, frames[i], times[i], lab)
                q.append((t, ack))
                out.append(t)
            continue
        if seqs[i] is not None and lens[i] is not None:
            reply_end[k] = (seqs[i] + lens[i]) & 0xFFFFFFFF
        for final, text in replies(r):
            if final and q:
                q.popleft()[0].answer(r, frames[i], times[i], text)
    return out


def _by_row(c: _Cols, rows: np.ndarray, *names: str) -> list[dict[int, Any]]:
    return [dict(zip(rows.tolist(), c.take(n, rows))) for n in names]


def _ftp(c: _Cols) -> list[_Txn]:
    req = c.valid("ftp.request.command")
    rsp = c.valid("ftp.response.code")
    rows = np.flatnonzero(req | rsp)
    cmd, arg, code = _by_row(c, rows, "ftp.request.command", "ftp.request.arg", "ftp.response.code")

    def labels(r: int) -> list[str | None]:
        text = cmd[r] or ""
        if arg[r] and text.upper() != "PASS":  # a label never shows a password
            text = f"{text} {arg[r]}"
        return [text or None]

    def replies(r: int) -> list[Reply]:
        k = code[r]
        return [(not 100 <= k < 200, str(k))]

    return _commands(c, "ftp", req & ~rsp, rsp, labels, replies)


def _http(c: _Cols) -> list[_Txn]:
    req = c.valid("http.request.method")
    rsp = c.valid("http.response.code")
    rows = np.flatnonzero(req | rsp)
    method, uri, code, phrase = _by_row(c, rows, "http.request.method", "http.request.uri",
                                        "http.response.code", "http.response.phrase")

    def labels(r: int) -> list[str | None]:
        return [f"{method[r]} {uri[r]}" if uri[r] is not None else method[r]]

    def replies(r: int) -> list[Reply]:
        k = code[r]
        # RFC 9110 15.2: 1xx responses are interim; 101 ends HTTP/1.1 on the connection.
        final = not 100 <= k < 200 or k == 101
        return [(final, f"{k} {phrase[r]}" if phrase[r] else str(k))]

    return _commands(c, "http", req & ~rsp, rsp, labels, replies)


def _smtp(c: _Cols) -> list[_Txn]:
    cmd_rows = _list_valid(c, "smtp.req.command")
    eom, has_eom = c.num("smtp.eom")
    eom_rows = has_eom & eom.astype(bool)
    rsp = _list_valid(c, "smtp.response.code")
    rows = np.flatnonzero(cmd_rows | eom_rows | rsp)
    cmds, codes = _by_row(c, rows, "smtp.req.command", "smtp.response.code")
    eoms = dict(zip(rows.tolist(), eom_rows[rows].tolist()))

    def labels(r: int) -> list[str | None]:
        # The message ends before any command pipelined after it.
        return (["(end of message)"] if eoms[r] else []) + list(cmds[r] or [])

    def replies(r: int) -> list[Reply]:
        return [(True, str(k)) for k in codes[r] or []]

    return _commands(c, "smtp", (cmd_rows | eom_rows) & ~rsp, rsp, labels, replies)


def _pop(c: _Cols) -> list[_Txn]:
    req = c.valid("pop.request.command")
    rsp = c.valid("pop.response.indicator")
    rows = np.flatnonzero(req | rsp)
    cmd, ind = _by_row(c, rows, "pop.request.command", "pop.response.indicator")
    return _commands(c, "pop", req & ~rsp, rsp, lambda r: [cmd[r]], lambda r: [(True, ind[r])])


def _imap(c: _Cols) -> list[_Txn]:
    """A tagged command -> the tagged response carrying its tag."""
    req = _list_valid(c, "imap.request_tag")
    rsp = _list_valid(c, "imap.response_tag")
    rows = np.flatnonzero(req | rsp)
    if not len(rows):
        return []
    keys = _tcp_keys(c, req, rsp)
    rtags, cmds, stags, status = _by_row(c, rows, "imap.request_tag", "imap.request.command",
                                         "imap.response_tag", "imap.response.status")
    is_req = req[rows].tolist()
    frames = c.take("frame.number", rows)
    times = c.take("frame.time_epoch", rows)
    out: list[_Txn] = []
    pending: dict[tuple[Any, ...], _Txn] = {}
    for i, r in enumerate(rows.tolist()):
        k = keys[r]
        if is_req[i]:
            for j, tag in enumerate(rtags[r] or []):
                cs = cmds[r] or []
                t = _Txn("imap", r, frames[i], times[i], cs[j] if j < len(cs) else None)
                pending[(k, tag)] = t
                out.append(t)
            continue
        sts = status[r] or []
        for j, tag in enumerate(stags[r] or []):
            asked = pending.get((k, tag))
            if asked is not None:
                del pending[(k, tag)]
                asked.answer(r, frames[i], times[i], sts[j] if j < len(sts) else None)
    return out


def _tls(c: _Cols) -> list[_Txn]:
    """The first ClientHello of a connection -> the first ServerHello back."""
    hs = c.arr("tls.handshake.type")
    if not pa.types.is_list(hs.type):
        return []
    ch = np.asarray(pc.fill_null(_list_has(hs, 1), False).to_numpy(zero_copy_only=False), dtype=bool)
    sh = np.asarray(pc.fill_null(_list_has(hs, 2), False).to_numpy(zero_copy_only=False), dtype=bool)
    alert = _list_valid(c, "tls.alert_message.desc")
    rows = np.flatnonzero(ch | sh | alert)
    if not len(rows):
        return []
    keys = _tcp_keys(c, ch | sh | alert)
    src, _ = c.addresses(rows)
    sp, _, _ = c.ports(rows)
    sni, desc = _by_row(c, rows, "tls.handshake.extensions_server_name", "tls.alert_message.desc")
    frames = c.take("frame.number", rows)
    times = c.take("frame.time_epoch", rows)
    out: list[_Txn] = []
    hello: dict[tuple[Any, ...], tuple[_Txn, Any]] = {}
    for i, r in enumerate(rows.tolist()):
        k = keys[r]
        me = (src[i], sp[i])
        cur = hello.get(k)
        if ch[r] and cur is None:
            names = sni[r] or []
            t = _Txn("tls.handshake", r, frames[i], times[i], names[0] if names else None)
            hello[k] = (t, me)
            out.append(t)
        elif cur is not None and cur[1] != me and not cur[0].answered and cur[0].result is None:
            if sh[r]:
                cur[0].answer(r, frames[i], times[i], "ServerHello")
            elif alert[r]:
                cur[0].result = _tls_alert((desc[r] or [None])[0])
    return out


def _list_has(arr: pa.Array, value: int) -> pa.Array:
    """Whether each row's list holds ``value``."""
    flat = arr.flatten()
    parents = pc.list_parent_indices(arr)
    hit = pc.equal(flat, pa.scalar(value, flat.type))
    rows = pc.filter(parents, hit)
    out = np.zeros(len(arr), dtype=bool)
    out[np.asarray(rows.to_numpy(zero_copy_only=False), dtype=np.int64)] = True
    return pa.array(out)


def _tls_alert(desc: int | None) -> str:
    from tracedoc.decode.tls_names import ALERT_DESCRIPTIONS

    return "alert" if desc is None else f"alert: {ALERT_DESCRIPTIONS.get(desc, desc)}"


_SNMP_REQUESTS = (0, 1, 3, 5, 6)  # Get, GetNext, Set, GetBulk, Inform: the Confirmed Class (RFC 3416 2.8)
_SNMP_RESPONSES = (2, 8)  # Response, Report: the Response Class


def _quoted(c: _Cols) -> np.ndarray:
    """Rows that are ICMP errors: an application message in them is the
    quoted datagram's, not one the sender sent (DNS is matched by
    :class:`DnsMatcher`, which knows this too)."""
    return c.num("icmp.type")[1] | c.num("icmpv6.type")[1]


def _snmp(c: _Cols) -> list[_Txn]:
    """Request PDUs -> the Response (or Report) PDU with their request-id, per
    conversation.  A request repeating a pending request-id is a retry."""
    from tracedoc.decode.snmp import ERROR_STATUS_NAMES, PDU_NAMES

    pdu, has_pdu = c.num("snmp.data")
    _, has_id = c.num("snmp.request_id")
    rows = np.flatnonzero(has_pdu & has_id & np.isin(pdu, (*_SNMP_REQUESTS, *_SNMP_RESPONSES)) & ~_quoted(c))
    if not len(rows):
        return []
    keys = _conversation_keys(c, rows)
    ids = c.take("snmp.request_id", rows)
    err = c.take("snmp.error_status", rows)
    frames = c.take("frame.number", rows)
    times = c.take("frame.time_epoch", rows)
    kinds = pdu[rows].tolist()
    out: list[_Txn] = []
    pending: dict[tuple[Any, ...], tuple[_Txn, int]] = {}
    for i, r in enumerate(rows.tolist()):
        k = (keys[i], ids[i])
        cur = pending.get(k)
        kind = kinds[i]
        if kind in _SNMP_REQUESTS:
            if cur is not None and cur[1] == kind:
                cur[0].retries += 1
                continue
            t = _Txn("snmp", r, frames[i], times[i], PDU_NAMES.get(kind, str(kind)))
            pending[k] = (t, kind)
            out.append(t)
        elif cur is not None:
            e = err[i]
            text = "Report" if kind == 8 else (None if e is None else ERROR_STATUS_NAMES.get(e, str(e)))
            cur[0].answer(r, frames[i], times[i], text)
            del pending[k]
    return out


_DHCP_ANSWERS = {1: (2,), 3: (5, 6), 8: (5,)}
"""Discover -> Offer; Request -> ACK or NAK; Inform -> ACK (RFC 2131 3.1, 3.4)."""


def _dhcp(c: _Cols) -> list[_Txn]:
    """DHCP requests and their answers, by xid and client hardware address.
    The server is the answer's sender (the request goes to the broadcast
    address); a request repeated while pending is a retry."""
    from tracedoc.decode.dhcp import MESSAGE_TYPES

    kind, has = c.num("dhcp.option.dhcp")
    _, has_id = c.num("dhcp.id")
    rows = np.flatnonzero(has & has_id & np.isin(kind, (1, 2, 3, 5, 6, 8)) & ~_quoted(c))
    if not len(rows):
        return []
    xid, mac, your = _by_row(c, rows, "dhcp.id", "dhcp.hw.mac_addr", "dhcp.ip.your")
    frames = c.take("frame.number", rows)
    times = c.take("frame.time_epoch", rows)
    kinds = kind[rows].tolist()
    out: list[_Txn] = []
    pending: dict[tuple[Any, ...], tuple[_Txn, int]] = {}
    for i, r in enumerate(rows.tolist()):
        k = (xid[r], (mac[r] or [None])[0])
        what = kinds[i]
        name = MESSAGE_TYPES.get(what, str(what))
        cur = pending.get(k)
        if what in _DHCP_ANSWERS:
            if cur is not None and cur[1] == what:
                cur[0].retries += 1
                continue
            t = _Txn("dhcp", r, frames[i], times[i], name, server_from_response=True)
            pending[k] = (t, what)
            out.append(t)
        elif cur is not None and what in _DHCP_ANSWERS[cur[1]]:
            ip = your[r]
            text = f"{name} {format_ipv4(pa.array([ip], type=pa.uint32()))[0].as_py()}" if ip else name
            cur[0].answer(r, frames[i], times[i], text)
            del pending[k]
    return out


# -- the table ----------------------------------------------------------------------------

def transactions(tbl: pa.Table) -> pa.Table:
    """Every transaction in ``tbl`` (a packet table holding at least the
    columns of :data:`COLUMNS` it has data for), as :data:`SCHEMA` rows in
    order of the request frame."""
    c = _Cols(tbl)
    dns = DnsMatcher(collect=True)
    dns.feed(tbl)
    found: list[_Txn] = [*_tcp_connect(c), *(dns.transactions or []), *_ftp(c), *_http(c), *_tls(c),
                         *_snmp(c), *_dhcp(c), *_smtp(c), *_pop(c), *_imap(c)]
    found.sort(key=lambda t: (t.req_frame, TYPES.index(t.type)))
    return _table(c, found)


def _address_text(addr: np.ndarray, e: Ends, rows: np.ndarray) -> pa.Array:
    """The addresses ``addr`` (of :class:`Ends`) of ``rows`` as text; null
    where the row has no IP header."""
    got = np.ascontiguousarray(addr[rows])
    v4 = pa.array(got[:, 12:].copy().view(">u4").ravel().astype(np.uint32))
    v6 = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(got), [None, pa.py_buffer(got.tobytes())])
    text = pc.if_else(pa.array(e.is_v4[rows]), format_ipv4(v4), format_ipv6(v6))
    return pc.if_else(pa.array(e.has_ip[rows]), text, pa.nulls(len(got), pa.string()))


def _ports(port: np.ndarray, rows: np.ndarray) -> pa.Array:
    got = port[rows]
    return pa.array(np.where(got < 0, 0, got).astype(np.uint16), mask=got < 0)


def _table(c: _Cols, found: list[_Txn]) -> pa.Table:
    """The :data:`SCHEMA` rows of ``found``: client and server are the
    request's innermost source and destination (the response's source for a
    request sent to a broadcast address)."""
    if not found:
        return SCHEMA.empty_table()
    e = c.ends()
    req = np.array([t.row for t in found], dtype=np.int64)
    from_rsp = np.array([t.server_from_response and t.answered for t in found], dtype=bool)
    srv = np.where(from_rsp, np.array([t.resp_row for t in found], dtype=np.int64), req)
    answered = np.array([t.answered for t in found], dtype=bool)
    sel = pa.array(from_rsp)
    return pa.table({
        "type": pa.array([t.type for t in found], type=pa.string()),
        "client": _address_text(e.src, e, req),
        "client_port": _ports(e.sport, req),
        "server": pc.if_else(sel, _address_text(e.src, e, srv), _address_text(e.dst, e, srv)),
        "server_port": pc.if_else(sel, _ports(e.sport, srv), _ports(e.dport, srv)),
        "request_frame": pa.array([t.req_frame for t in found], type=pa.uint64()),
        "response_frame": pa.array([t.resp_frame for t in found], type=pa.uint64(), mask=~answered),
        "request_time": pa.array([t.req_time for t in found], type=pa.int64()),
        "response_time": pa.array([t.resp_time - t.req_time for t in found], type=pa.int64(), mask=~answered),
        "label": pa.array([t.label for t in found], type=pa.string()),
        "result": pa.array([t.result for t in found], type=pa.string()),
        "retries": pa.array([t.retries for t in found], type=pa.uint32()),
    }, schema=SCHEMA)


# -- the Response Time Summary ----------------------------------------------------------

DEFAULT_THRESHOLDS: dict[str, float] = {
    # One round trip plus the server's TCP stack.  Above the worst terrestrial
    # round trip (~0.3 s) yet below the 1 s initial retransmission timeout
    # (RFC 6298 2.1), so a slower connect means a very long path or a lost SYN.
    "tcp.connect": 0.5,
    # A resolver answers from its cache in milliseconds and recursively in a
    # few hundred; Windows retries a query after 1 s, so half that is slow.
    "dns": 0.5,
    # Command -> final reply; transfer commands (RETR, STOR, LIST) include the
    # data transfer, so the bar is higher than for a round trip.
    "ftp": 1.0,
    # Request -> the frame completing the response (as tshark's http.time):
    # includes the body's transfer.  Two seconds is where users notice.
    "http": 2.0,
    # ClientHello -> ServerHello: a round trip plus the server's key exchange.
    "tls.handshake": 1.0,
    # Net-SNMP and most managers time a request out after 1 s and retry.
    "snmp": 1.0,
    # Servers may probe the offered address (ICMP echo) before offering it;
    # clients retransmit after 4 s (RFC 2131 4.1), so 2 s is slow.
    "dhcp": 2.0,
    # Mail servers check DNS (and sometimes delay on purpose) before replying.
    "smtp": 5.0,
    "pop": 1.0,
    "imap": 1.0,
}
"""Response time (seconds) above which a transaction is listed as slow, per
type; ``--threshold TYPE=SECONDS`` overrides one."""


def thresholds(overrides: Iterable[str] = ()) -> dict[str, float]:
    """The default thresholds with ``TYPE=SECONDS`` overrides applied.
    Raises ValueError naming the bad item."""
    out = dict(DEFAULT_THRESHOLDS)
    for item in overrides:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in TYPES:
            raise ValueError(f"'{item}': expected TYPE=SECONDS with TYPE one of {', '.join(TYPES)}")
        try:
            secs = float(value)
        except ValueError:
            raise ValueError(f"'{item}': '{value}' is not a number of seconds") from None
        if not secs >= 0 or secs == float("inf"):
            raise ValueError(f"'{item}': the threshold must be a finite number of seconds >= 0")
        out[name] = secs
    return out


SUMMARY_SCHEMA = pa.schema([
    pa.field("type", pa.string()),
    pa.field("server", pa.string()),
    pa.field("server_port", pa.uint16()),
    pa.field("count", pa.int64()),
    pa.field("answered", pa.int64()),
    pa.field("unanswered", pa.int64()),
    pa.field("min", pa.float64()),
    pa.field("mean", pa.float64()),
    pa.field("p50", pa.float64()),
    pa.field("p95", pa.float64()),
    pa.field("max", pa.float64()),
    pa.field("threshold", pa.float64()),
    pa.field("over", pa.int64()),
])
"""One row per (type, server, server port) — or per type, with server and
port null — and the response times of its answered transactions in
seconds.  Percentiles interpolate linearly between the closest ranks
(numpy's default); ``over`` counts those above ``threshold``."""


def summarise(txns: pa.Table, limits: dict[str, float] | None = None, by: str | None = None) -> pa.Table:
    """The Response Time Summary of a :func:`transactions` table.

    ``by="server"``: one row per (type, server, server port); ``by="type"``:
    one row per type; None: both, each type's server rows then its total."""
    if by not in (None, "server", "type"):
        raise ValueError(f"by must be 'server' or 'type', not {by!r}")
    limits = DEFAULT_THRESHOLDS if limits is None else limits
    types = txns["type"].to_pylist()
    servers = txns["server"].to_pylist()
    ports = txns["server_port"].to_pylist()
    rt = txns["response_time"].combine_chunks() if txns.num_rows else pa.array([], pa.int64())
    secs = np.asarray(rt.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.float64) / 1e9
    answered = np.asarray(rt.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, (t, s, p) in enumerate(zip(types, servers, ports)):
        if by != "type":
            groups.setdefault((t, s, p), []).append(i)
        if by != "server":
            groups.setdefault((t, None, None), []).append(i)
    order = sorted(groups, key=lambda k: (TYPES.index(k[0]) if k[0] in TYPES else len(TYPES), k[0],
                                          k[1] is None, str(k[1]), -1 if k[2] is None else k[2]))
    rows: list[dict[str, Any]] = []
    for k in order:
        idx = np.asarray(groups[k], dtype=np.int64)
        got = secs[idx][answered[idx]]
        limit = limits.get(k[0])
        row: dict[str, Any] = {"type": k[0], "server": k[1], "server_port": k[2], "count": len(idx),
                               "answered": len(got), "unanswered": len(idx) - len(got), "threshold": limit,
                               "over": int((got > limit).sum()) if limit is not None else 0}
        if len(got):
            row.update(min=float(got.min()), mean=float(got.mean()), p50=float(np.percentile(got, 50)),
                       p95=float(np.percentile(got, 95)), max=float(got.max()))
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=SUMMARY_SCHEMA)


def exceeding(txns: pa.Table, limits: dict[str, float] | None = None) -> pa.Table:
    """The answered transactions slower than their type's threshold."""
    limits = DEFAULT_THRESHOLDS if limits is None else limits
    if not txns.num_rows:
        return txns
    limit = pa.array([limits.get(t) for t in txns["type"].to_pylist()], type=pa.float64())
    secs = pc.divide(pc.cast(txns["response_time"], pa.float64(), safe=False), 1e9)
    return txns.filter(pc.fill_null(pc.greater(secs, limit), False))
