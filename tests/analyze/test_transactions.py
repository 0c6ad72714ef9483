"""Request/response transactions, the Response Time Summary and its command.

Traffic is built byte by byte with tests.support.pcapgen at chosen times,
written as a pcap, read and decoded by tracedoc; every expected pairing and
time follows from how the test built the exchange and from the protocol's
rules (RFC 1035, 959, 9110, 8446, 3416, 2131, 5321, 1939, 9051), not from
the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import struct

import pyarrow.compute as pc
import pytest
from click.testing import CliRunner

import tracedoc
from tests.support import pcapgen as g
from tracedoc.analyze.transactions import (
    COLUMNS,
    DEFAULT_THRESHOLDS,
    SCHEMA,
    TYPES,
    exceeding,
    summarise,
    thresholds,
    transactions,
)
from tracedoc.cli.times_cmd import response_times

CLIENT, SERVER, OTHER = "10.0.0.1", "10.0.0.2", "10.0.0.3"
MAC_C, MAC_S = "02:00:00:00:00:01", "02:00:00:00:00:02"
SYN, ACK, PSH, FIN, RST = 0x02, 0x10, 0x08, 0x01, 0x04
MS = 1_000_000
T0 = g.BASE_TS


# -- building traffic ---------------------------------------------------------------

def ip_frame(src: str, dst: str, proto: int, l4: bytes) -> bytes:
    return g.ether(MAC_S if src == CLIENT else MAC_C, MAC_C if src == CLIENT else MAC_S, 0x0800,
                   g.ipv4(src, dst, proto, l4))


def udp(src: str, sport: int, dst: str, dport: int, payload: bytes) -> bytes:
    return ip_frame(src, dst, 17, g.udp(sport, dport, payload))


class Conn:
    """A TCP connection whose sequence numbers follow the bytes sent."""

    def __init__(self, cport: int, sport: int, client: str = CLIENT, server: str = SERVER,
                 isn_c: int = 1000, isn_s: int = 50000) -> None:
        self.c, self.s, self.cport, self.sport = client, server, cport, sport
        self.seq = {True: isn_c, False: isn_s}
        self.isn_c = isn_c

    def seg(self, from_client: bool, flags: int, payload: bytes = b"") -> bytes:
        me, peer = from_client, not from_client
        src, dst = (self.c, self.s) if me else (self.s, self.c)
        sp, dp = (self.cport, self.sport) if me else (self.sport, self.cport)
        ack = self.seq[peer] if flags & ACK else 0
        frame = ip_frame(src, dst, 6, g.tcp(sp, dp, self.seq[me], ack, flags, 65535, payload=payload))
        self.seq[me] = (self.seq[me] + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        return frame

    def handshake(self) -> list[bytes]:
        return [self.seg(True, SYN), self.seg(False, SYN | ACK), self.seg(True, ACK)]

    def send(self, payload: bytes) -> bytes:
        return self.seg(True, ACK | PSH, payload)

    def reply(self, payload: bytes) -> bytes:
        return self.seg(False, ACK | PSH, payload)


def write(tmp_path, timed: list[tuple[int, bytes]], name: str = "t.pcap"):
    """A pcap of (ns after T0, frame) records; returns its path."""
    recs = [g.Rec(T0 + t, f, len(f)) for t, f in timed]
    data, _ = g.pcap_file(recs, nsec=True)
    p = tmp_path / name
    p.write_bytes(data)
    return p


def txns_of(tmp_path, timed: list[tuple[int, bytes]]) -> list[dict]:
    tbl = tracedoc.open(write(tmp_path, timed)).table(COLUMNS)
    out = transactions(tbl)
    assert out.schema.equals(SCHEMA)
    return out.to_pylist()


def of_type(rows: list[dict], typ: str) -> list[dict]:
    return [r for r in rows if r["type"] == typ]


def dns_msg(ident: int, name: str, *, response: bool = False, qtype: int = 1, rcode: int = 0,
            answer: str | None = None) -> bytes:
    """An RFC 1035 4.1 message with one question (and one A answer)."""
    flags = (0x8180 | rcode) if response else 0x0100
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack("!HH", qtype, 1)
    an = b""
    if answer is not None:
        an = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + g.ip4(answer)
    return struct.pack("!HHHHHH", ident, flags, 1, 1 if an else 0, 0, 0) + q + an


# -- tcp.connect ------------------------------------------------------------------------

def test_connect_retransmitted_syn_is_one_attempt_timed_from_the_first(tmp_path):
    c = Conn(40000, 80)
    syn = c.seg(True, SYN)
    c.seq[True] = c.isn_c  # the retransmission repeats the ISN
    syn_again = c.seg(True, SYN)
    rows = txns_of(tmp_path, [(0, syn), (1000 * MS, syn_again), (1030 * MS, c.seg(False, SYN | ACK)),
                              (1031 * MS, c.seg(True, ACK))])
    (t,) = of_type(rows, "tcp.connect")
    assert (t["request_frame"], t["response_frame"], t["retries"]) == (1, 3, 1)
    assert t["response_time"] == 1030 * MS
    assert (t["client"], t["client_port"], t["server"], t["server_port"]) == (CLIENT, 40000, SERVER, 80)
    assert t["label"] == "http" and t["result"] == "SYN-ACK"
    assert t["request_time"] == T0


def test_connect_unanswered_refused_and_new_isn(tmp_path):
    lost = Conn(40001, 443)
    refused = Conn(40002, 8081)
    reused = Conn(40003, 25, isn_c=7000)
    syn1 = reused.seg(True, SYN)
    reused.seq[True] = 9000  # the client gives up and tries again with a new ISN
    timed = [(0, lost.seg(True, SYN)), (1 * MS, refused.seg(True, SYN)),
             (2 * MS, refused.seg(False, RST | ACK)), (3 * MS, syn1), (3003 * MS, reused.seg(True, SYN)),
             (3010 * MS, reused.seg(False, SYN | ACK))]
    rows = of_type(txns_of(tmp_path, timed), "tcp.connect")
    assert [(r["request_frame"], r["response_frame"]) for r in rows] == [(1, None), (2, None), (4, None), (5, 6)]
    assert rows[0]["response_time"] is None and rows[0]["result"] is None
    assert rows[1]["result"] == "refused (RST)"
    assert rows[3]["response_time"] == 7 * MS


def test_syn_ack_for_another_isn_does_not_answer(tmp_path):
    c = Conn(40004, 80)
    syn = c.seg(True, SYN)
    stray = ip_frame(SERVER, CLIENT, 6, g.tcp(80, 40004, 1, 12345, SYN | ACK, 65535))  # acks nothing we sent
    rows = of_type(txns_of(tmp_path, [(0, syn), (5 * MS, stray)]), "tcp.connect")
    assert rows[0]["response_frame"] is None


# -- DNS --------------------------------------------------------------------------------

def test_dns_retransmitted_query_is_timed_from_the_first_query(tmp_path):
    q = dns_msg(0x1234, "www.example.com")
    timed = [(0, udp(CLIENT, 5353 + 1, SERVER, 53, q)),
             (1000 * MS, udp(CLIENT, 5354, SERVER, 53, q)),  # retransmitted: same ID within 5 s
             (1200 * MS, udp(SERVER, 53, CLIENT, 5354, dns_msg(0x1234, "www.example.com", response=True,
                                                               answer="192.0.2.7"))),
             (1300 * MS, udp(SERVER, 53, CLIENT, 5354, dns_msg(0x1234, "www.example.com", response=True,
                                                               answer="192.0.2.7")))]
    (t,) = of_type(txns_of(tmp_path, timed), "dns")
    assert (t["request_frame"], t["response_frame"], t["retries"]) == (1, 3, 1)
    assert t["response_time"] == 1200 * MS
    assert t["label"] == "A www.example.com" and t["result"] == "No Error"
    assert (t["client"], t["client_port"], t["server"], t["server_port"]) == (CLIENT, 5354, SERVER, 53)


def test_dns_same_id_after_the_retransmission_timer_is_a_new_query(tmp_path):
    q = dns_msg(7, "a.example")
    timed = [(0, udp(CLIENT, 4000, SERVER, 53, q)),
             (6000 * MS, udp(CLIENT, 4000, SERVER, 53, q)),  # 6 s later: a new query (timer 5 s)
             (6050 * MS, udp(SERVER, 53, CLIENT, 4000, dns_msg(7, "a.example", response=True, rcode=3)))]
    rows = of_type(txns_of(tmp_path, timed), "dns")
    assert [(r["request_frame"], r["response_frame"], r["response_time"]) for r in rows] == [
        (1, None, None), (2, 3, 50 * MS)]
    assert rows[1]["result"] == "Name Error"


def test_dns_pairs_by_id_and_conversation(tmp_path):
    timed = [(0, udp(CLIENT, 4001, SERVER, 53, dns_msg(1, "one.example"))),
             (1 * MS, udp(CLIENT, 4001, SERVER, 53, dns_msg(2, "two.example"))),
             (2 * MS, udp(OTHER, 4001, SERVER, 53, dns_msg(1, "three.example"))),
             # Answers out of order; the one for OTHER's ID 1 must not answer CLIENT's.
             (10 * MS, udp(SERVER, 53, CLIENT, 4001, dns_msg(2, "two.example", response=True))),
             (20 * MS, udp(SERVER, 53, OTHER, 4001, dns_msg(1, "three.example", response=True))),
             # An answer nobody asked for.
             (30 * MS, udp(SERVER, 53, CLIENT, 4002, dns_msg(9, "nine.example", response=True)))]
    rows = of_type(txns_of(tmp_path, timed), "dns")
    got = [(r["label"], r["client"], r["response_frame"], r["response_time"]) for r in rows]
    assert got == [("A one.example", CLIENT, None, None), ("A two.example", CLIENT, 4, 9 * MS),
                   ("A three.example", OTHER, 5, 18 * MS)]


# -- FTP --------------------------------------------------------------------------------

def test_ftp_preliminary_and_multiline_replies(tmp_path):
    c = Conn(40010, 21)
    frames = c.handshake() + [
        c.reply(b"220-Welcome\r\n220-to the server\r\n"),   # a multi-line greeting in two segments
        c.reply(b"220 ready\r\n"),
        c.send(b"USER anonymous\r\n"),
        c.reply(b"230-Guest login ok\r\n"),                   # a multi-line reply split over segments:
        c.reply(b"230 access restrictions apply\r\n"),       # it answers USER once
        c.send(b"RETR big.iso\r\n"),
        c.reply(b"150 Opening BINARY mode data connection\r\n"),  # preliminary: RETR is not done
        c.reply(b"226 Transfer complete\r\n"),
        c.send(b"PASS secret\r\n"),
        c.send(b"NOOP\r\n"),                                  # pipelined, both unanswered
    ]
    times = [0, 1, 2, 10, 11, 20, 30, 31, 40, 50, 5050, 6000, 6001]
    rows = of_type(txns_of(tmp_path, [(t * MS, f) for t, f in zip(times, frames)]), "ftp")
    got = [(r["label"], r["request_frame"], r["response_frame"], r["result"]) for r in rows]
    assert got == [("USER anonymous", 6, 7, "230"), ("RETR big.iso", 9, 11, "226"),
                   ("PASS", 12, None, None), ("NOOP", 13, None, None)]
    assert rows[0]["response_time"] == 10 * MS
    assert rows[1]["response_time"] == 5010 * MS  # to the final 226, not the 150
    assert rows[0]["server_port"] == 21 and rows[0]["client_port"] == 40010


# -- HTTP -------------------------------------------------------------------------------

def test_http_pipelined_requests_and_interim_responses(tmp_path):
    c = Conn(40020, 80)
    body = b"x" * 5
    frames = c.handshake() + [
        c.send(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"),
        c.send(b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"),
        c.reply(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + body),
        c.reply(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
        c.send(b"POST /c HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"),
        c.reply(b"HTTP/1.1 100 Continue\r\n\r\n"),
        c.send(body),
        c.reply(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
        c.send(b"GET /d HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]
    times = [0, 1, 2, 100, 101, 300, 450, 500, 510, 511, 700, 900]
    rows = of_type(txns_of(tmp_path, [(t * MS, f) for t, f in zip(times, frames)]), "http")
    got = [(r["label"], r["request_frame"], r["response_frame"], r["result"]) for r in rows]
    # The POST's body completes the request on frame 10, where tracedoc (as
    # tshark) puts the request's fields; the 100 Continue answers nothing.
    assert got == [("GET /a", 4, 6, "200 OK"), ("GET /b", 5, 7, "404 Not Found"),
                   ("POST /c", 10, 11, "201 Created"), ("GET /d", 12, None, None)]
    assert [r["response_time"] for r in rows] == [200 * MS, 349 * MS, 189 * MS, None]


def test_a_response_missing_from_the_capture_does_not_shift_the_pairing(tmp_path):
    c = Conn(40021, 80)
    first = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    frames = c.handshake() + [c.send(b"GET /lost HTTP/1.1\r\nHost: h\r\n\r\n")]
    c.reply(first)  # sent, acknowledged by the client, but not captured
    frames += [c.send(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"),
               c.reply(b"HTTP/1.1 304 Not Modified\r\n\r\n"),
               c.send(b"GET /last HTTP/1.1\r\nHost: h\r\n\r\n"),
               c.reply(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")]
    rows = of_type(txns_of(tmp_path, [(k * 10 * MS, f) for k, f in enumerate(frames)]), "http")
    got = [(r["label"], r["request_frame"], r["response_frame"], r["result"]) for r in rows]
    assert got == [("GET /lost", 4, None, "response not decoded"), ("GET /next", 5, 6, "304 Not Modified"),
                   ("GET /last", 7, 8, "200 OK")]


# -- TLS --------------------------------------------------------------------------------

TUNNEL_A, TUNNEL_B = "192.0.2.1", "192.0.2.2"


def gre(src: str, dst: str, frame: bytes) -> bytes:
    """The IPv4 packet of Ethernet ``frame`` carried in GRE (RFC 2784) from ``src`` to ``dst``."""
    return ip_frame(src, dst, 47, struct.pack("!HH", 0, 0x0800) + frame[14:])


def test_tunnelled_transactions_are_keyed_on_the_inner_hosts(tmp_path):
    """Through a GRE tunnel, two inner clients use the same ports and initial
    sequence number to one server, and some answers come back outside the
    tunnel: each transaction is the inner hosts', as Wireshark keys it."""
    a = Conn(40030, 80)
    b = Conn(40030, 80, client=OTHER)

    def out(f: bytes) -> bytes:
        return gre(TUNNEL_A, TUNNEL_B, f)

    def back(f: bytes) -> bytes:
        return gre(TUNNEL_B, TUNNEL_A, f)

    frames = [out(a.seg(True, SYN)), a.seg(False, SYN | ACK), out(a.seg(True, ACK)),
              out(b.seg(True, SYN)), back(b.seg(False, SYN | ACK)), out(b.seg(True, ACK)),
              out(a.send(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")),
              out(b.send(b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n")),
              back(b.reply(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")),
              a.reply(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
              out(udp(CLIENT, 5000, SERVER, 53, dns_msg(7, "x.example"))),
              back(udp(SERVER, 53, CLIENT, 5000, dns_msg(7, "x.example", response=True)))]
    rows = txns_of(tmp_path, [(k * 10 * MS, f) for k, f in enumerate(frames)])
    got = [(r["type"], r["client"], r["client_port"], r["server"], r["server_port"], r["request_frame"],
            r["response_frame"], r["retries"]) for r in rows]
    assert got == [("tcp.connect", CLIENT, 40030, SERVER, 80, 1, 2, 0),
                   ("tcp.connect", OTHER, 40030, SERVER, 80, 4, 5, 0),
                   ("http", CLIENT, 40030, SERVER, 80, 7, 10, 0),
                   ("http", OTHER, 40030, SERVER, 80, 8, 9, 0),
                   ("dns", CLIENT, 5000, SERVER, 53, 11, 12, 0)]
    assert [r["result"] for r in of_type(rows, "http")] == ["200 OK", "404 Not Found"]


def tls_record(body: bytes) -> bytes:
    return struct.pack("!BHH", 22, 0x0301, len(body)) + body


def handshake_msg(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def client_hello(server_name: str) -> bytes:
    name = server_name.encode()
    sni = struct.pack("!HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    body = struct.pack("!H", 0x0303) + bytes(32) + b"\x00" + struct.pack("!HH", 2, 0x1301) + b"\x01\x00"
    body += struct.pack("!H", len(sni)) + sni
    return tls_record(handshake_msg(1, body))


def server_hello() -> bytes:
    body = struct.pack("!H", 0x0303) + bytes(range(32)) + b"\x00" + struct.pack("!HB", 0x1301, 0)
    return tls_record(handshake_msg(2, body))


def test_tls_client_hello_to_server_hello(tmp_path):
    ok = Conn(40030, 443)
    alerted = Conn(40031, 443)
    silent = Conn(40032, 443)
    alert = struct.pack("!BHHBB", 21, 0x0303, 2, 2, 40)  # fatal handshake_failure
    frames = (ok.handshake() + [ok.send(client_hello("www.example.com")), ok.reply(server_hello())]
              + alerted.handshake() + [alerted.send(client_hello("bad.example")), alerted.reply(alert)]
              + silent.handshake() + [silent.send(client_hello("slow.example"))])
    rows = of_type(txns_of(tmp_path, [(i * 10 * MS, f) for i, f in enumerate(frames)]), "tls.handshake")
    got = [(r["label"], r["request_frame"], r["response_frame"], r["result"]) for r in rows]
    assert got == [("www.example.com", 4, 5, "ServerHello"), ("bad.example", 9, None, "alert: Handshake Failure"),
                   ("slow.example", 14, None, None)]
    assert rows[0]["response_time"] == 10 * MS


# -- SNMP -------------------------------------------------------------------------------

def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag, len(content)]) + content


def integer(v: int) -> bytes:
    return tlv(0x02, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))


def snmp(pdu_tag: int, request_id: int, status: int = 0) -> bytes:
    sys_descr = bytes([0x2B, 6, 1, 2, 1, 1, 1, 0])
    binds = tlv(0x30, tlv(0x30, tlv(0x06, sys_descr) + b"\x05\x00"))
    pdu = tlv(pdu_tag, integer(request_id) + integer(status) + integer(0) + binds)
    return tlv(0x30, integer(1) + tlv(0x04, b"public") + pdu)


def test_snmp_by_request_id_with_a_retry(tmp_path):
    timed = [(0, udp(CLIENT, 50000, SERVER, 161, snmp(0xA0, 77))),
             (5 * MS, udp(CLIENT, 50000, SERVER, 161, snmp(0xA1, 78))),
             (1000 * MS, udp(CLIENT, 50000, SERVER, 161, snmp(0xA0, 77))),   # retry of 77
             (1004 * MS, udp(SERVER, 161, CLIENT, 50000, snmp(0xA2, 77))),
             (1100 * MS, udp(SERVER, 161, CLIENT, 50000, snmp(0xA2, 99, status=2))),  # answers nothing
             (2000 * MS, udp(CLIENT, 50000, SERVER, 161, snmp(0xA3, 79))),
             (2003 * MS, udp(SERVER, 161, CLIENT, 50000, snmp(0xA2, 79, status=2)))]
    rows = of_type(txns_of(tmp_path, timed), "snmp")
    got = [(r["label"], r["request_frame"], r["response_frame"], r["retries"], r["result"]) for r in rows]
    assert got == [("GetRequest", 1, 4, 1, "noError"), ("GetNextRequest", 2, None, 0, None),
                   ("SetRequest", 6, 7, 0, "noSuchName")]
    assert rows[0]["response_time"] == 1004 * MS and rows[2]["response_time"] == 3 * MS


# -- DHCP -------------------------------------------------------------------------------

def bootp(op: int, kind: int, xid: int, yiaddr: str = "0.0.0.0") -> bytes:
    fixed = struct.pack("!BBBBIHH4s4s4s4s", op, 1, 6, 0, xid, 0, 0x8000, g.ip4("0.0.0.0"), g.ip4(yiaddr),
                        g.ip4("0.0.0.0"), g.ip4("0.0.0.0"))
    fixed += g.mac(MAC_C).ljust(16, b"\0") + bytes(64 + 128)
    return fixed + b"\x63\x82\x53\x63" + bytes([53, 1, kind]) + b"\xff"


def test_dhcp_discover_offer_request_ack(tmp_path):
    bc = "255.255.255.255"
    timed = [(0, udp("0.0.0.0", 68, bc, 67, bootp(1, 1, 0xABCD))),
             (4000 * MS, udp("0.0.0.0", 68, bc, 67, bootp(1, 1, 0xABCD))),  # retransmitted Discover
             (4500 * MS, udp(SERVER, 67, bc, 68, bootp(2, 2, 0xABCD, "10.0.0.50"))),
             (4600 * MS, udp("0.0.0.0", 68, bc, 67, bootp(1, 3, 0xABCD))),
             (4620 * MS, udp(SERVER, 67, bc, 68, bootp(2, 5, 0xABCD, "10.0.0.50"))),
             (9000 * MS, udp("0.0.0.0", 68, bc, 67, bootp(1, 3, 0x1111)))]
    rows = of_type(txns_of(tmp_path, timed), "dhcp")
    got = [(r["label"], r["request_frame"], r["response_frame"], r["retries"], r["result"], r["server"])
           for r in rows]
    # The server is the answer's sender, not the broadcast address.
    assert got == [("Discover", 1, 3, 1, "Offer 10.0.0.50", SERVER), ("Request", 4, 5, 0, "ACK 10.0.0.50", SERVER),
                   ("Request", 6, None, 0, None, bc)]
    assert rows[0]["response_time"] == 4500 * MS and rows[1]["response_time"] == 20 * MS


# -- SMTP, POP, IMAP -------------------------------------------------------------------

def test_smtp_pipelined_commands_and_message(tmp_path):
    c = Conn(40040, 25)
    frames = c.handshake() + [
        c.reply(b"220 mail.example ESMTP\r\n"),
        c.send(b"EHLO client.example\r\n"),
        c.reply(b"250-mail.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n"),
        c.send(b"MAIL FROM:<a@example>\r\nRCPT TO:<b@example>\r\nDATA\r\n"),
        c.reply(b"250 OK\r\n250 OK\r\n354 Go ahead\r\n"),
        c.send(b"Subject: hi\r\n\r\nhello\r\n.\r\n"),
        c.reply(b"250 queued\r\n"),
    ]
    times = [0, 1, 2, 10, 20, 30, 40, 50, 60, 3060]
    rows = of_type(txns_of(tmp_path, [(t * MS, f) for t, f in zip(times, frames)]), "smtp")
    got = [(r["label"], r["request_frame"], r["response_frame"], r["result"]) for r in rows]
    assert got == [("EHLO", 5, 6, "250"), ("MAIL", 7, 8, "250"), ("RCPT", 7, 8, "250"), ("DATA", 7, 8, "354"),
                   ("(end of message)", 9, 10, "250")]
    assert rows[-1]["response_time"] == 3000 * MS


def test_pop_and_imap(tmp_path):
    p = Conn(40050, 110)
    i = Conn(40051, 143)
    frames = (p.handshake() + [p.reply(b"+OK POP3 ready\r\n"), p.send(b"USER bob\r\n"), p.reply(b"+OK\r\n"),
                               p.send(b"PASS x\r\n"), p.reply(b"-ERR denied\r\n")]
              + i.handshake() + [i.reply(b"* OK IMAP4rev1 ready\r\n"), i.send(b"a1 LOGIN bob x\r\n"),
                                 i.send(b"a2 SELECT INBOX\r\n"),
                                 i.reply(b"a1 OK LOGIN completed\r\n"),
                                 i.reply(b"* 3 EXISTS\r\n"),
                                 i.reply(b"a2 OK [READ-WRITE] SELECT completed\r\n")])
    rows = txns_of(tmp_path, [(k * 10 * MS, f) for k, f in enumerate(frames)])
    pop = [(r["label"], r["request_frame"], r["response_frame"], r["result"]) for r in of_type(rows, "pop")]
    assert pop == [("USER", 5, 6, "+OK"), ("PASS", 7, 8, "-ERR")]
    imap = [(r["label"], r["request_frame"], r["response_frame"], r["result"]) for r in of_type(rows, "imap")]
    assert imap == [("LOGIN", 13, 15, "OK"), ("SELECT", 14, 17, "OK")]
    assert [r["response_time"] for r in of_type(rows, "imap")] == [20 * MS, 30 * MS]


# -- bad input --------------------------------------------------------------------------

def test_empty_and_odd_tables_give_empty_results():
    import pyarrow as pa

    from tracedoc.analyze.derived import SCHEMA as PACKETS

    assert transactions(PACKETS.empty_table()).num_rows == 0
    assert transactions(pa.table({"frame.number": pa.array([1, 2], pa.uint64())})).num_rows == 0
    empty = transactions(PACKETS.empty_table())
    assert summarise(empty).num_rows == 0 and exceeding(empty).num_rows == 0


def test_headers_cut_short_do_not_crash(tmp_path):
    c = Conn(40060, 53)
    q = dns_msg(5, "cut.example")
    frames = [udp(CLIENT, 4003, SERVER, 53, q[:7]),                    # DNS header cut short
              ip_frame(CLIENT, SERVER, 6, g.tcp(1, 2, 3, 4, SYN, 5)[:13]),  # TCP header cut short
              c.seg(True, SYN), g.ARP_REQ]
    rows = txns_of(tmp_path, [(k * MS, f) for k, f in enumerate(frames)])
    # A query whose header stops after the flags is still a query (Wireshark
    # opens its transaction before the rest of the header fails to decode).
    assert [(r["type"], r["request_frame"], r["label"]) for r in rows] == [("dns", 1, None),
                                                                          ("tcp.connect", 3, "dns")]


# -- thresholds and the summary ---------------------------------------------------------

def test_thresholds_defaults_and_overrides():
    assert set(DEFAULT_THRESHOLDS) == set(TYPES)
    got = thresholds(["dns=0.25", " http =3"])
    assert got["dns"] == 0.25 and got["http"] == 3.0 and got["ftp"] == DEFAULT_THRESHOLDS["ftp"]
    for bad in ("dns", "nope=1", "dns=fast", "dns=-1", "dns=nan", "dns=inf"):
        with pytest.raises(ValueError):
            thresholds([bad])


def synthetic(times_ms: list[float | None], typ: str = "dns", server: str = SERVER, port: int = 53):
    import pyarrow as pa

    n = len(times_ms)
    return pa.table({
        "type": [typ] * n, "client": [CLIENT] * n, "client_port": pa.array([4000] * n, pa.uint16()),
        "server": [server] * n, "server_port": pa.array([port] * n, pa.uint16()),
        "request_frame": pa.array(range(1, n + 1), pa.uint64()),
        "response_frame": pa.array([None if t is None else i + 100 for i, t in enumerate(times_ms)], pa.uint64()),
        "request_time": pa.array([T0] * n, pa.int64()),
        "response_time": pa.array([None if t is None else int(t * MS) for t in times_ms], pa.int64()),
        "label": [None] * n, "result": [None] * n, "retries": pa.array([0] * n, pa.uint32()),
    }, schema=SCHEMA)


def test_summary_statistics_per_server_and_type():
    import pyarrow as pa

    a = synthetic([100, 200, 300, 400, None])
    b = synthetic([1000], server=OTHER)
    rows = summarise(pa.concat_tables([a, b]), thresholds(["dns=0.35"])).to_pylist()
    assert [(r["type"], r["server"]) for r in rows] == [("dns", SERVER), ("dns", OTHER), ("dns", None)]
    s = rows[0]
    assert (s["count"], s["answered"], s["unanswered"]) == (5, 4, 1)
    assert s["min"] == pytest.approx(0.1) and s["max"] == pytest.approx(0.4)
    assert s["mean"] == pytest.approx(0.25) and s["p50"] == pytest.approx(0.25)
    # 95th percentile of 0.1..0.4 by linear interpolation: rank 0.95 * 3 = 2.85.
    assert s["p95"] == pytest.approx(0.3 + 0.85 * 0.1)
    assert s["threshold"] == 0.35 and s["over"] == 1
    total = rows[2]
    assert (total["count"], total["answered"], total["over"]) == (6, 5, 2) and total["max"] == pytest.approx(1.0)
    by_type = summarise(pa.concat_tables([a, b]), by="type").to_pylist()
    assert len(by_type) == 1 and by_type[0]["server"] is None
    assert [r["server"] for r in summarise(a, by="server").to_pylist()] == [SERVER]
    slow = exceeding(pa.concat_tables([a, b]), thresholds(["dns=0.35"]))
    assert slow["request_frame"].to_pylist() == [4, 1] and slow["server"].to_pylist() == [SERVER, OTHER]
    with pytest.raises(ValueError):
        summarise(a, by="client")
    # A clock that jumped decades (a record stamped 1970) still summarises.
    huge = synthetic([40 * 365 * 86400 * 1000.0])
    assert exceeding(huge).num_rows == 1 and summarise(huge)["over"].to_pylist() == [1, 1]


# -- the command ------------------------------------------------------------------------

@pytest.fixture
def exchange(tmp_path):
    q = dns_msg(0x4242, "slow.example")
    timed = [(0, udp(CLIENT, 4010, SERVER, 53, q)),
             (800 * MS, udp(SERVER, 53, CLIENT, 4010, dns_msg(0x4242, "slow.example", response=True))),
             (900 * MS, udp(CLIENT, 4011, SERVER, 53, dns_msg(0x4343, "fast.example"))),
             (910 * MS, udp(SERVER, 53, CLIENT, 4011, dns_msg(0x4343, "fast.example", response=True))),
             (1000 * MS, udp(CLIENT, 4012, OTHER, 53, dns_msg(0x4444, "lost.example")))]
    return write(tmp_path, timed)


def run(*args: str):
    return CliRunner().invoke(response_times, list(args), catch_exceptions=False)


def test_cli_table(exchange):
    r = run(str(exchange))
    assert r.exit_code == 0, r.output
    assert "Response Time Summary" in r.output and "3 transactions" in r.output
    assert "Slower than the threshold  1" in r.output and "A slow.example" in r.output
    assert "Unanswered  1" in r.output and "A lost.example" in r.output


def test_cli_csv_by_type(exchange):
    r = run(str(exchange), "--format", "csv", "--by", "type", "--threshold", "dns=0.005")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert len(rows) == 1
    row = rows[0]
    assert (row["type"], row["server"], row["count"], row["answered"], row["over"]) == ("dns", "", "3", "2", "2")
    assert float(row["max"]) == pytest.approx(0.8) and float(row["min"]) == pytest.approx(0.01)


def test_cli_json_and_filter(exchange):
    r = run(str(exchange), "--format", "json", "-Y", "dns.qry.name == \"slow.example\" && dns.flags.response == 1")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    # The filter picks the response frame; its transaction counts whole.
    assert [(s["server"], s["count"], s["answered"]) for s in out["summary"]] == [(SERVER, 1, 1), (None, 1, 1)]
    assert out["exceeding"][0]["response_time"] == pytest.approx(0.8)
    assert out["exceeding"][0]["request_frame"] == 1 and out["unanswered"] == []
    assert out["thresholds"]["dns"] == DEFAULT_THRESHOLDS["dns"]


def test_cli_rejects_a_bad_threshold(exchange):
    r = run(str(exchange), "--threshold", "dns=soon")
    assert r.exit_code == 2 and "dns=soon" in r.output


# -- against tshark's own response times -------------------------------------------------

TIMED = {"http": ("http.time", "http.request_in"), "snmp": ("snmp.time", "snmp.response_to"),
         "imap": ("imap.time", "imap.response_to")}


TSHARK_FIELDS = ["frame.number", "ip.src", "ipv6.src", "frame.protocols",
                 *(f for pair in TIMED.values() for f in pair)]

UNDECODED_CARRIERS = {"socks"}
"""Protocols tracedoc does not decode that tshark finds HTTP, SNMP or IMAP
inside: a response carried in one is not in the packet table at all."""


def _timed_captures() -> list[str]:
    from tests.support.corpus import DECODED_LINKTYPES, MANIFEST

    out = []
    with open(MANIFEST, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            protos = {p.split("=")[0] for p in row["tshark_protocols(frames)"].split(",") if "=" in p}
            lts = {int(x.split(":")[0]) for x in row["linktypes"].split() if x.split(":")[0].isdigit()}
            if protos & set(TIMED) and lts and lts <= DECODED_LINKTYPES and not row["tshark_read_error"]:
                out.append(row["path"])
    return out


def _tshark_times(path) -> list[list[str]]:
    import os
    import subprocess

    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields"]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, LC_ALL="C.UTF-8"), timeout=600,
                       check=False)
    return [ln.split("\t") for ln in p.stdout.split("\n")[:-1]]


def _ns(text: str) -> int:
    sec, _, frac = text.partition(".")
    return int(sec) * 1_000_000_000 + int(frac.ljust(9, "0")[:9])


@pytest.mark.corpus
def test_http_snmp_imap_times_agree_with_tshark(cache):
    """tshark times HTTP (``http.time``), SNMP (``snmp.time``) and IMAP
    (``imap.time``) responses from their request; every response it times
    must be a transaction here with the same request frame and time.
    Tunnelled ones (more than one IP header: GRE, ERSPAN, VXLAN, GTP-U,
    Teredo ...) are compared too, and counted as *tunnelled*: transactions
    are keyed on the innermost addresses and ports, as Wireshark keys them.
    Left out, counted: frames with several timed messages (the table holds
    one message per frame), and responses inside a protocol tracedoc does
    not decode (:data:`UNDECODED_CARRIERS`: HTTP inside SOCKS); any other
    response tshark times and the table lacks is a disagreement.  tshark pairs an HTTP response with the latest
    request, tracedoc in order (pipelining); the corpus has no capture where
    that differs."""
    from tests.support.corpus import CORPUS, have_corpus, have_tshark

    if not have_corpus() or not have_tshark():
        pytest.skip("needs ../shared/corpus and tshark")
    caps = _timed_captures()
    assert len(caps) > 150
    counts = {"timed": 0, "agree": 0, "tunnelled": 0, "several": 0, "not decoded": 0}
    bad = []
    for rel in caps:
        path = CORPUS / rel
        st = path.stat()
        key = f"tracedoc/response_times/{rel}"
        got = cache.get(key, None)
        stamp = [st.st_size, st.st_mtime_ns, TSHARK_FIELDS]
        if got is None or got["stamp"] != stamp:
            got = {"stamp": stamp, "lines": _tshark_times(path)}
            cache.set(key, got)
        tbl = tracedoc.open(path).table(COLUMNS)
        mine = {(r["type"], r["response_frame"]): r for r in transactions(tbl).to_pylist()
                if r["response_frame"] is not None}
        decoded = {"http": set(tbl.filter(pc.is_valid(tbl["http.response.code"]))["frame.number"].to_pylist()),
                   "snmp": set(tbl.filter(pc.is_valid(tbl["snmp.request_id"]))["frame.number"].to_pylist()),
                   "imap": set(tbl.filter(pc.is_valid(tbl["imap.response_tag"]))["frame.number"].to_pylist())}
        for line in got["lines"]:
            line = line + [""] * (len(TSHARK_FIELDS) - len(line))
            frame = int(line[0])
            for j, typ in enumerate(TIMED):
                when, asked = line[4 + 2 * j], line[5 + 2 * j]
                if not when:
                    continue
                counts["timed"] += 1
                if "," in when:
                    counts["several"] += 1
                    continue
                if len([x for x in (line[1] + "," + line[2]).split(",") if x]) > 1:
                    counts["tunnelled"] += 1
                if frame not in decoded[typ] and UNDECODED_CARRIERS & set(line[3].split(":")):
                    counts["not decoded"] += 1
                else:
                    r = mine.get((typ, frame))
                    if r is not None and r["request_frame"] == int(asked) and r["response_time"] == _ns(when):
                        counts["agree"] += 1
                    else:
                        bad.append((rel, typ, frame, asked, when, r and (r["request_frame"], r["response_time"])))
    print(f"\nresponse times vs tshark over {len(caps)} captures: {counts}")
    for b in bad[:10]:
        print("  ", b)
    assert bad == []
    assert counts["agree"] >= 1500
    assert counts["tunnelled"] >= 20
