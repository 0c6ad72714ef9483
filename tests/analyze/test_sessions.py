"""The Session Summary: sessions, Zeek's conn_state and history, timing.

Every capture is built with tests.support.pcapgen, so each expected value
follows from the packets the test wrote and from the definitions the module
docstring gives (Zeek's conn_state table and history letters in
``base/protocols/conn/main.zeek``, the shared server/network time
definition), worked out by hand in the comments.
"""

from __future__ import annotations

import ipaddress
import json
import struct

import pytest
from click.testing import CliRunner

import tracedoc
from tests.support import pcapgen as g
from tracedoc.analyze.sessions import (
    COLUMNS,
    SESSION_COLUMNS,
    build_sessions,
    duration_texts,
)
from tracedoc.analyze.summary import LocalSide, infer_local
from tracedoc.cli.sessions_cmd import sessions as sessions_cmd

C, S = "10.0.0.1", "10.0.0.2"   # client and server
CP, SP = 40000, 80
MAC_C, MAC_S = "00:11:22:33:44:55", "66:77:88:99:aa:bb"
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
ISN_C, ISN_S = 1000, 5000
SEC = 1_000_000_000


def frame(src: str, dst: str, proto: int, l4: bytes, **kw) -> bytes:
    return g.ether(MAC_S if src == C else MAC_C, MAC_C if src == C else MAC_S, 0x0800,
                   g.ipv4(src, dst, proto, l4, **kw))


def c2s(seq: int, ack: int, flags: int, payload: bytes = b"", win: int = 8192, **kw) -> bytes:
    return frame(C, S, 6, g.tcp(CP, SP, seq, ack, flags, win, payload=payload, **kw))


def s2c(seq: int, ack: int, flags: int, payload: bytes = b"", win: int = 8192, **kw) -> bytes:
    return frame(S, C, 6, g.tcp(SP, CP, seq, ack, flags, win, payload=payload, **kw))


def write(tmp_path, timed: list[tuple[float, bytes]], name: str = "t.pcap"):
    recs = [g.Rec(g.BASE_TS + round(ts * SEC), f, len(f)) for ts, f in timed]
    data, _ = g.pcap_file(recs)
    p = tmp_path / name
    p.write_bytes(data)
    return p


def build(tmp_path, timed, **kw):
    tbl = tracedoc.open(write(tmp_path, timed)).table(SESSION_COLUMNS)
    return tbl, build_sessions(tbl, **kw)


def rows(tmp_path, timed, **kw) -> list[dict]:
    return build(tmp_path, timed, **kw)[1].table.to_pylist()


def one(tmp_path, frames: list[bytes], step: float = 0.01) -> dict:
    r = rows(tmp_path, [(i * step, f) for i, f in enumerate(frames)])
    assert len(r) == 1
    return r[0]


HANDSHAKE = [c2s(ISN_C, 0, SYN), s2c(ISN_S, ISN_C + 1, SYN | ACK), c2s(ISN_C + 1, ISN_S + 1, ACK)]


# ------------------------------------------------------------ conn_state

@pytest.mark.parametrize("name,frames,state,history", [
    # Connection attempt seen, no reply.
    ("S0", [c2s(ISN_C, 0, SYN)], "S0", "S"),
    # Established, not terminated.
    ("S1", HANDSHAKE, "S1", "ShA"),
    # Normal establishment and termination; the last ACK repeats 'A' so adds no letter.
    ("SF", HANDSHAKE + [c2s(ISN_C + 1, ISN_S + 1, PSH | ACK, b"hello"),
                        s2c(ISN_S + 1, ISN_C + 6, PSH | ACK, b"world!"),
                        c2s(ISN_C + 6, ISN_S + 7, FIN | ACK), s2c(ISN_S + 7, ISN_C + 7, FIN | ACK),
                        c2s(ISN_C + 7, ISN_S + 8, ACK)], "SF", "ShADdFf"),
    # Attempt rejected: the responder answers the SYN with a RST.
    ("REJ", [c2s(ISN_C, 0, SYN), s2c(0, ISN_C + 1, RST | ACK)], "REJ", "Sr"),
    # Established, the originator closes, no reply from the responder.
    ("S2", HANDSHAKE + [c2s(ISN_C + 1, ISN_S + 1, FIN | ACK)], "S2", "ShAF"),
    # Established, the responder closes, no reply from the originator.
    ("S3", HANDSHAKE + [s2c(ISN_S + 1, ISN_C + 1, FIN | ACK)], "S3", "ShAf"),
    # Established, the originator aborts.
    ("RSTO", HANDSHAKE + [c2s(ISN_C + 1, ISN_S + 1, RST | ACK)], "RSTO", "ShAR"),
    # Established, the responder aborts.
    ("RSTR", HANDSHAKE + [s2c(ISN_S + 1, ISN_C + 1, RST | ACK)], "RSTR", "ShAr"),
    # SYN then RST from the originator, no SYN-ACK seen.
    ("RSTOS0", [c2s(ISN_C, 0, SYN), c2s(ISN_C + 1, 0, RST)], "RSTOS0", "SR"),
    # A SYN-ACK from port 80 (a likely server port) first: roles flipped ('^'),
    # then the responder's RST; no SYN from the originator ever seen.
    ("RSTRH", [s2c(ISN_S, ISN_C + 1, SYN | ACK), s2c(ISN_S + 1, ISN_C + 1, RST)], "RSTRH", "^hr"),
    # SYN then FIN from the originator, no SYN-ACK.
    ("SH", [c2s(ISN_C, 0, SYN), c2s(ISN_C + 1, 0, FIN)], "SH", "SF"),
    # SYN-ACK then FIN from the responder, no SYN.
    ("SHR", [s2c(ISN_S, ISN_C + 1, SYN | ACK), s2c(ISN_S + 1, ISN_C + 1, FIN | ACK)], "SHR", "^hf"),
    # Midstream traffic only: both sides partial.
    ("OTH", [c2s(ISN_C, ISN_S, PSH | ACK, b"GET /"), s2c(ISN_S, ISN_C + 5, ACK)], "OTH", "Da"),
])
def test_conn_state(tmp_path, name, frames, state, history):
    r = one(tmp_path, frames)
    assert (r["proto"], r["conn_state"], r["history"]) == ("tcp", state, history)
    # The client is the initiator whichever side sent first.
    assert (r["initiator_ip"], r["initiator_port"], r["responder_ip"], r["responder_port"]) == (C, CP, S, SP)


def test_counts_and_ip_bytes(tmp_path):
    frames = HANDSHAKE + [c2s(ISN_C + 1, ISN_S + 1, PSH | ACK, b"x" * 100)]
    r = one(tmp_path, frames)
    # Client: SYN 40 + ACK 40 + data 140 bytes of IP; server: SYN-ACK 40.
    assert r["initiator"] == "local" and r["local_ip"] == C
    assert (r["packets_out"], r["bytes_out"], r["packets_in"], r["bytes_in"]) == (3, 220, 1, 40)
    assert (r["payload_out"], r["payload_in"]) == (100, 0)
    assert r["avg_datagram"] == 65.0
    assert (r["first_frame"], r["last_frame"]) == (1, 4)


def test_given_local_side_turns_in_and_out(tmp_path):
    frames = HANDSHAKE + [c2s(ISN_C + 1, ISN_S + 1, PSH | ACK, b"x" * 100)]
    r = rows(tmp_path, [(i * 0.01, f) for i, f in enumerate(frames)],
             local=LocalSide(ipaddress.ip_network(S), False))[0]
    assert r["initiator"] == "remote" and (r["local_ip"], r["local_port"]) == (S, SP)
    assert (r["remote_ip"], r["remote_port"], r["remote_service"], r["local_service"]) == (C, CP, str(CP), "http")
    assert (r["packets_in"], r["bytes_in"], r["packets_out"], r["bytes_out"]) == (3, 220, 1, 40)


# --------------------------------------------------------- history letters

def test_retransmission_and_zero_window_letters(tmp_path):
    frames = HANDSHAKE + [
        c2s(ISN_C + 1, ISN_S + 1, PSH | ACK, b"0123456789"),
        c2s(ISN_C + 1, ISN_S + 1, PSH | ACK, b"0123456789"),   # same bytes again: 'T'
        s2c(ISN_S + 1, ISN_C + 11, ACK, win=0),                 # first ack 'a', then zero window 'w'
    ]
    r = one(tmp_path, frames)
    # Zeek adds the packet's flag letter before it looks at the window.
    assert r["history"] == "ShADTaw"


def test_retransmission_letters_are_logarithmic(tmp_path):
    # 1st, 10th, 100th ... retransmission each add a 'T'.
    data = [c2s(ISN_C + 1, ISN_S + 1, PSH | ACK, b"abcd")]
    frames = HANDSHAKE + data * 12
    r = one(tmp_path, frames)
    assert r["history"] == "ShADTT"


def test_repeated_syn_with_same_sequence_adds_nothing(tmp_path):
    r = one(tmp_path, [c2s(ISN_C, 0, SYN), c2s(ISN_C, 0, SYN)], step=1.0)
    assert (r["history"], r["conn_state"], r["packets_out"]) == ("S", "S0", 2)


# ------------------------------------------------------- session boundaries

def test_syn_unanswered_for_five_seconds_ends_the_attempt(tmp_path):
    # Zeek's tcp_attempt_delay: the retransmitted SYN 6 s later opens a new session.
    r = rows(tmp_path, [(0.0, c2s(ISN_C, 0, SYN)), (3.0, c2s(ISN_C, 0, SYN)), (9.0, c2s(ISN_C, 0, SYN))])
    assert [(x["sid"], x["packets_out"]) for x in r] == [(1, 2), (2, 1)]


def test_new_isn_after_close_is_a_new_session(tmp_path):
    first = HANDSHAKE + [c2s(ISN_C + 1, ISN_S + 1, FIN | ACK), s2c(ISN_S + 1, ISN_C + 2, FIN | ACK),
                         c2s(ISN_C + 2, ISN_S + 2, ACK)]
    second = [c2s(90000, 0, SYN), s2c(70000, 90001, SYN | ACK), c2s(90001, 70001, ACK)]
    _, s = build(tmp_path, [(i * 0.1, f) for i, f in enumerate(first + second)])
    r = s.table.to_pylist()
    assert [(x["conn_state"], x["history"]) for x in r] == [("SF", "ShAFf"), ("S1", "ShA")]
    assert s.sid.tolist() == [1] * 6 + [2] * 3


def test_udp_idle_timeout(tmp_path):
    def q(t: float) -> tuple[float, bytes]:
        return t, frame(C, S, 17, g.udp(40001, 9999, b"ping"))

    def a(t: float) -> tuple[float, bytes]:
        return t, frame(S, C, 17, g.udp(9999, 40001, b"pong"))

    r = rows(tmp_path, [q(0), a(0.5), q(59.5), q(121.0)])
    # 59 s idle stays in the flow, 61.5 s idle starts a new one (default 60 s).
    assert [(x["packets_out"], x["packets_in"], x["conn_state"], x["history"]) for x in r] == \
        [(2, 1, "SF", "Dd"), (1, 0, "S0", "D")]
    r = rows(tmp_path, [q(0), a(0.5), q(59.5), q(121.0)], udp_timeout=30)
    assert len(r) == 3


def test_udp_response_first_is_flipped_by_port(tmp_path):
    # The DNS reply is seen before its query: port 53 is the server side.
    r = rows(tmp_path, [(0.0, frame(S, C, 17, g.udp(53, 40001, b"\x00" * 12))),
                        (0.1, frame(C, S, 17, g.udp(40001, 53, b"\x00" * 12)))])
    assert len(r) == 1
    assert (r[0]["initiator_ip"], r[0]["initiator_port"], r[0]["history"], r[0]["conn_state"]) == \
        (C, 40001, "^dD", "SF")


def test_udp_to_broadcast_is_not_flipped(tmp_path):
    r = rows(tmp_path, [(0.0, frame(S, "255.255.255.255", 17, g.udp(67, 68, b"\x02" * 240)))])
    assert (r[0]["initiator_ip"], r[0]["initiator_port"], r[0]["history"]) == (S, 67, "D")


def test_dns_flows_end_sooner(tmp_path):
    # Zeek's DNS analyzer drops a DNS flow idle for 9 s at its 10 s checks.
    def q(t: float) -> tuple[float, bytes]:
        return t, frame(C, S, 17, g.udp(40001, 53, b"\x00" * 12))

    assert len(rows(tmp_path, [q(0), q(5), q(25)])) == 2
    assert len(rows(tmp_path, [q(0), q(5), q(12)])) == 1


# ------------------------------------------------------------------- ICMP

def test_icmp_error_is_attached_to_the_session_it_quotes(tmp_path):
    dgram = g.ipv4(C, S, 17, g.udp(40001, 9999, b"hello"))
    unreach = frame(S, C, 1, g.icmp(3, 3, b"\0\0\0\0", dgram[:28]), flags_frag=0)
    _, s = build(tmp_path, [(0.0, frame(C, S, 17, g.udp(40001, 9999, b"hello"))), (0.01, unreach)])
    r = s.table.to_pylist()
    assert len(r) == 1
    assert (r[0]["proto"], r[0]["icmp_errors"], r[0]["first_icmp_error"]) == ("udp", 1, 2)
    # The error carries the session's SID but is not one of its datagrams.
    assert s.sid.tolist() == [1, 1]
    assert (r[0]["packets_out"], r[0]["packets_in"]) == (1, 0)


def test_echo_exchange(tmp_path):
    def echo(t: int, src: str, dst: str, ident: int, seq: int) -> bytes:
        return frame(src, dst, 1, g.icmp(t, 0, struct.pack("!HH", ident, seq), b"x" * 32), flags_frag=0)

    r = rows(tmp_path, [(0.0, echo(8, C, S, 7, 1)), (0.02, echo(0, S, C, 7, 1)),
                        (1.0, echo(8, C, S, 7, 2)), (1.03, echo(0, S, C, 7, 2)),
                        (1.5, echo(8, C, S, 8, 1))])
    assert [(x["proto"], x["icmp_ident"], x["packets_out"], x["packets_in"]) for x in r] == \
        [("icmp", 7, 2, 2), ("icmp", 8, 1, 0)]
    assert r[0]["initiator_ip"] == C and r[0]["remote_service"] == "Echo Request"
    assert r[0]["conn_state"] == "OTH" and r[0]["local_port"] is None
    # Each request/reply is a request run and a response run: waits 0.02 and 0.03,
    # no handshake, so rtt = 0.02; server = 0.01; network = 0.02 + 0.02.
    assert r[0]["server_time"] == pytest.approx(0.01)
    assert r[0]["network_time"] == pytest.approx(0.04)


def test_echo_reply_first_names_the_requester(tmp_path):
    r = rows(tmp_path, [(0.0, frame(S, C, 1, g.icmp(0, 0, struct.pack("!HH", 3, 1)), flags_frag=0))],
             local=LocalSide(ipaddress.ip_network(C), False))
    assert r[0]["initiator_ip"] == C and r[0]["initiator"] == "local" and r[0]["packets_in"] == 1


# ------------------------------------------------------ fragments, options

def test_fragmented_datagram_counts_once(tmp_path):
    udp = g.udp(40001, 9999, bytes(range(40)))          # 48 bytes of UDP
    f1 = frame(C, S, 17, udp[:24], flags_frag=0x2000, ident=0x77, total=44)
    f2 = frame(C, S, 17, udp[24:], flags_frag=3, ident=0x77, total=44)
    _, s = build(tmp_path, [(0.0, f1), (0.001, f2)])
    r = s.table.to_pylist()
    assert len(r) == 1 and s.sid.tolist() == [1, 1]
    # One datagram of 20 + 48 bytes.
    assert (r[0]["packets_out"], r[0]["bytes_out"]) == (1, 68)


def test_tcp_options_offered_and_agreed(tmp_path):
    syn_opts = g.MSS_1460 + bytes([1, 3, 3, 7]) + bytes([4, 2, 1, 1])     # MSS, wscale 7, SACK-permitted
    synack_opts = bytes([2, 4, 0x05, 0x78])                                # MSS 1400 only
    frames = [c2s(ISN_C, 0, SYN, options=syn_opts), s2c(ISN_S, ISN_C + 1, SYN | ACK, options=synack_opts),
              c2s(ISN_C + 1, ISN_S + 1, ACK)]
    r = one(tmp_path, frames)
    assert (r["mss_initiator"], r["mss_responder"], r["mss"]) == (1460, 1400, 1400)
    assert (r["wscale_initiator"], r["wscale_responder"], r["window_scaling"]) == (7, None, False)
    assert (r["sack_initiator"], r["sack_responder"], r["sack_permitted"]) == (True, False, False)
    # Wireshark's completeness: SYN 1 + SYN-ACK 2 + ACK 4.
    assert r["completeness"] == 7


# ------------------------------------------------ server and network time

def test_server_and_network_time(tmp_path):
    """Worked by hand from the shared definition.

    Handshake: SYN 0.000, SYN-ACK 0.010, ACK 0.020 -> rtt 0.020.
    Request 1: client data 1.000 and 1.002 (transfer 0.002); response 1.100,
    1.104 (transfer 0.004); wait 0.098, network share 0.020, server 0.078.
    Request 2: 2.000; response 2.015: wait 0.015, all network.
    server = 0.078; network = 0.020 + 0.020 + 0.015 + 0.002 + 0.004 = 0.061;
    elapsed = 3.020; client = 3.020 - 0.078 - 0.061 = 2.881.
    """
    c, s = ISN_C + 1, ISN_S + 1
    timed = [(0.000, c2s(ISN_C, 0, SYN)), (0.010, s2c(ISN_S, c, SYN | ACK)), (0.020, c2s(c, s, ACK)),
             (1.000, c2s(c, s, PSH | ACK, b"a" * 10)), (1.002, c2s(c + 10, s, PSH | ACK, b"b" * 10)),
             (1.100, s2c(s, c + 20, PSH | ACK, b"c" * 10)), (1.104, s2c(s + 10, c + 20, PSH | ACK, b"d" * 10)),
             (1.110, c2s(c + 20, s + 20, ACK)),
             (2.000, c2s(c + 20, s + 20, PSH | ACK, b"e" * 5)), (2.015, s2c(s + 20, c + 25, PSH | ACK, b"f" * 5)),
             (3.000, c2s(c + 25, s + 25, FIN | ACK)), (3.010, s2c(s + 25, c + 26, FIN | ACK)),
             (3.020, c2s(c + 26, s + 26, ACK))]
    r = rows(tmp_path, timed)[0]
    assert r["handshake_rtt"] == pytest.approx(0.020)
    assert r["elapsed"] == pytest.approx(3.020)
    assert r["server_time"] == pytest.approx(0.078)
    assert r["network_time"] == pytest.approx(0.061)
    assert r["client_time"] == pytest.approx(2.881)


def test_udp_times_use_the_smallest_wait_as_rtt(tmp_path):
    """No handshake: rtt = the smallest wait (0.030).  Waits 0.030 and 0.050:
    server = 0.020, network = 0.030 + 0.030."""
    def q(t: float) -> tuple[float, bytes]:
        return t, frame(C, S, 17, g.udp(40001, 9999, b"q"))

    def a(t: float) -> tuple[float, bytes]:
        return t, frame(S, C, 17, g.udp(9999, 40001, b"a"))

    r = rows(tmp_path, [q(0.0), a(0.030), q(5.0), a(5.050)])[0]
    assert r["handshake_rtt"] is None
    assert r["server_time"] == pytest.approx(0.020)
    assert r["network_time"] == pytest.approx(0.060)
    assert r["client_time"] == pytest.approx(5.050 - 0.080)


def test_duration_text():
    assert duration_texts([0.3096, 3723.04567, None]) == ["00:00:00.3096", "01:02:03.0457", ""]


# ------------------------------------------------------------ bad input

def test_empty_and_non_ip_tables(tmp_path):
    tbl = tracedoc.open(write(tmp_path, [(0.0, g.ARP_REQ)])).table(SESSION_COLUMNS)
    s = build_sessions(tbl)
    assert s.table.num_rows == 0 and s.table.column_names == COLUMNS and s.sid.tolist() == [0]
    s = build_sessions(tbl.slice(0, 0))
    assert s.table.num_rows == 0 and len(s.sid) == 0


def test_missing_columns_are_null(tmp_path):
    tbl = tracedoc.open(write(tmp_path, [(i * 0.01, f) for i, f in enumerate(HANDSHAKE)])).table(SESSION_COLUMNS)
    keep = [c for c in tbl.column_names if not c.startswith(("tcp.analysis", "tcp.options", "inner."))]
    r = build_sessions(tbl.select(keep)).table.to_pylist()[0]
    assert r["conn_state"] == "S1" and r["retransmissions"] is None and r["mss"] is None


def test_truncated_tcp_header(tmp_path):
    # Cut inside the fixed 20 bytes: no connection (Zeek's CheckHeaderTrunc).
    # Cut inside the options: the connection exists but the packet is not
    # analysed or counted (Zeek's ExtractTCP_Header).
    f = c2s(ISN_C, 0, SYN, options=g.MSS_1460 * 3)
    recs = [g.Rec(g.BASE_TS, f[:14 + 20 + 10], len(f))]
    data, _ = g.pcap_file(recs)
    p = tmp_path / "cut.pcap"
    p.write_bytes(data)
    s = build_sessions(tracedoc.open(p).table(SESSION_COLUMNS))
    assert s.table.num_rows == 0 and s.sid.tolist() == [0]
    recs = [g.Rec(g.BASE_TS, f[:14 + 20 + 24], len(f))]
    data, _ = g.pcap_file(recs)
    p.write_bytes(data)
    s = build_sessions(tracedoc.open(p).table(SESSION_COLUMNS))
    r = s.table.to_pylist()
    assert s.sid.tolist() == [1]
    assert (r[0]["packets_out"], r[0]["packets_in"], r[0]["history"], r[0]["conn_state"]) == (0, 0, "", "OTH")


# ------------------------------------------------------------------ tunnels

VTEP_A, VTEP_B = "192.168.50.1", "192.168.50.2"     # VXLAN tunnel endpoints
VXLAN_HDR = bytes([0x08, 0, 0, 0, 0, 0, 0x64, 0])     # I flag, VNI 100


def vxlan(src: str, dst: str, sport: int, inner: bytes) -> bytes:
    """``inner`` (an Ethernet frame) in VXLAN over UDP port 4789 between two tunnel endpoints."""
    return g.ether(MAC_C, MAC_S, 0x0800, g.ipv4(src, dst, 17, g.udp(sport, 4789, VXLAN_HDR + inner)))


def test_tcp_inside_vxlan_is_the_inner_connection(tmp_path):
    # The inner handshake and one request, each direction in its own VXLAN flow
    # (the source port is a hash the sending endpoint picks).
    inner = HANDSHAKE + [c2s(ISN_C + 1, ISN_S + 1, PSH | ACK, b"x" * 60)]
    frames = [vxlan(VTEP_A, VTEP_B, 50000, f) if i != 1 else vxlan(VTEP_B, VTEP_A, 51000, f)
              for i, f in enumerate(inner)]
    tbl, s = build(tmp_path, [(i * 0.01, f) for i, f in enumerate(frames)])
    r = s.table.to_pylist()
    # Two carrier flows begin with frames 1 and 2, before or with the inner connection's
    # first packet: SID 1 carrier A->B, SID 2 the connection, SID 3 carrier B->A.
    assert [(x["proto"], x["initiator_ip"], x["initiator_port"], x["responder_port"]) for x in r] == \
        [("udp", VTEP_A, 50000, 4789), ("tcp", C, CP, SP), ("udp", VTEP_B, 51000, 4789)]
    tcp_row = r[1]
    assert (tcp_row["conn_state"], tcp_row["history"]) == ("S1", "ShAD")
    # Inner IP bytes: SYN 40, ACK 40, data 100 from the client; SYN-ACK 40 from the server.
    assert (tcp_row["packets_out"], tcp_row["bytes_out"], tcp_row["packets_in"], tcp_row["bytes_in"]) == \
        (3, 180, 1, 40)
    assert tcp_row["tunnelled"] and tcp_row["tunnel_parents"] == [1, 3]
    # Outer IP bytes: 20 IP + 8 UDP + 8 VXLAN + 14 Ethernet = 50 more than the inner packet.
    assert (r[0]["packets_out"], r[0]["bytes_out"], r[0]["packets_in"]) == (3, 180 + 3 * 50, 0)
    assert (r[2]["packets_out"], r[2]["bytes_out"]) == (1, 90)
    assert not r[0]["tunnelled"] and r[0]["tunnel_parents"] == []
    # Each packet's SID is the inner connection; its carrier is the flow it rode in.
    assert s.sid.tolist() == [2, 2, 2, 2]
    assert s.carrier.tolist() == [1, 3, 1, 1] and s.outer_carrier.tolist() == [0, 0, 0, 0]
    assert s.packets(1).tolist() == [True, False, True, True]


def test_gre_has_no_carrier_session(tmp_path):
    # IPv4 in GRE (protocol 47, GRE type 0x0800): Zeek logs no connection for the GRE tunnel.
    def gre(src: str, dst: str, inner_ip: bytes) -> bytes:
        return g.ether(MAC_C, MAC_S, 0x0800, g.ipv4(src, dst, 47, struct.pack("!HH", 0, 0x0800) + inner_ip))

    q = gre(VTEP_A, VTEP_B, g.ipv4(C, S, 17, g.udp(40001, 53, b"\x00" * 12)))
    a = gre(VTEP_B, VTEP_A, g.ipv4(S, C, 17, g.udp(53, 40001, b"\x00" * 20)))
    _, s = build(tmp_path, [(0.0, q), (0.02, a)])
    r = s.table.to_pylist()
    assert len(r) == 1
    assert (r[0]["proto"], r[0]["initiator_ip"], r[0]["responder_port"], r[0]["history"]) == ("udp", C, 53, "Dd")
    # Inner datagrams: 20 + 8 + 12 and 20 + 8 + 20 bytes; payloads 12 and 20.
    assert (r[0]["bytes_out"], r[0]["bytes_in"], r[0]["payload_out"], r[0]["payload_in"]) == (40, 48, 12, 20)
    assert r[0]["tunnelled"] and r[0]["tunnel_parents"] == []
    assert s.sid.tolist() == [1, 1] and s.carrier.tolist() == [0, 0]


def test_tunnel_inside_a_tunnel(tmp_path):
    # Teredo (IPv6 in UDP port 3544) carried by GTP-U (UDP port 2152): three sessions per packet,
    # as Zeek logs them: the GTP-U flow, the Teredo flow inside it, the ICMPv6 echo inside that.
    def gtp(inner_ip: bytes) -> bytes:
        hdr = struct.pack("!BBHI", 0x30, 0xFF, len(inner_ip), 0x1234)
        return g.ether(MAC_C, MAC_S, 0x0800, g.ipv4("172.16.0.1", "172.16.0.2", 17, g.udp(2152, 2152, hdr + inner_ip)))

    def teredo(ip6: bytes) -> bytes:
        return g.ipv4("10.1.0.5", "65.55.158.80", 17, g.udp(40000, 3544, ip6))

    h6a, h6b = "2001:0:4137:9e50::1", "2001:4860::68"
    echo = struct.pack("!BBHHH", 128, 0, 0, 9, 1) + b"ping"
    bubble = g.ipv6(h6a, h6b, 59, b"")                   # no next header: nothing inside
    frames = [gtp(teredo(bubble)), gtp(teredo(g.ipv6(h6a, h6b, 58, echo)))]
    _, s = build(tmp_path, [(0.0, frames[0]), (0.01, frames[1])])
    r = s.table.to_pylist()
    # Both packets begin in the GTP-U flow (SID 1) and the Teredo flow (SID 2); the echo is SID 3.
    assert [(x["proto"], x["initiator_port"], x["responder_port"]) for x in r] == \
        [("udp", 2152, 2152), ("udp", 40000, 3544), ("icmpv6", None, None)]
    assert [x["tunnel_parents"] for x in r] == [[], [1], [2]]
    assert [x["tunnelled"] for x in r] == [False, True, True]
    # The bubble carries no session of its own: its SID is the Teredo flow, carried by GTP-U.
    assert s.sid.tolist() == [2, 3] and s.carrier.tolist() == [1, 2] and s.outer_carrier.tolist() == [0, 1]
    # IP bytes at each level: bubble 40, echo 40 + 12; Teredo adds 28, GTP-U 36.
    assert (r[2]["packets_out"], r[2]["bytes_out"]) == (1, 52)
    assert (r[1]["packets_out"], r[1]["bytes_out"]) == (2, 40 + 28 + 52 + 28)
    assert (r[0]["packets_out"], r[0]["bytes_out"]) == (2, 40 + 64 + 52 + 64)


# --------------------------------------- retransmission and dup-ACK counts

def test_retransmission_and_duplicate_ack_counts(tmp_path):
    if "tcp.analysis.retransmission" not in SESSION_COLUMNS:
        pytest.skip("tcp.analysis columns not derived yet")
    c, s = ISN_C + 1, ISN_S + 1
    timed = [(0.00, c2s(ISN_C, 0, SYN)), (0.01, s2c(ISN_S, c, SYN | ACK)), (0.02, c2s(c, s, ACK)),
             (0.10, s2c(s, c, PSH | ACK, b"a" * 100)),
             (0.11, s2c(s + 100, c, PSH | ACK, b"b" * 100)),     # lost on the way to the client
             (0.12, s2c(s + 200, c, PSH | ACK, b"c" * 100)),
             (0.13, c2s(c, s + 100, ACK)),
             (0.14, c2s(c, s + 100, ACK)),                        # duplicate ACK 1
             (0.15, c2s(c, s + 100, ACK)),                        # duplicate ACK 2
             (0.40, s2c(s + 100, c, PSH | ACK, b"b" * 100)),     # retransmission
             (0.41, c2s(c, s + 300, ACK))]
    r = rows(tmp_path, timed)[0]
    assert r["retransmissions"] == 1
    assert r["duplicate_acks"] == 2


# --------------------------------------------------------------------- CLI

def cli(*args: str):
    return CliRunner().invoke(sessions_cmd, list(args), catch_exceptions=False)


@pytest.fixture
def two_sessions(tmp_path):
    timed = [(i * 0.01, f) for i, f in enumerate(HANDSHAKE)]
    timed += [(1.0, frame(C, S, 17, g.udp(40001, 9999, b"ping"))), (1.1, frame(S, C, 17, g.udp(9999, 40001, b"o")))]
    return write(tmp_path, timed)


def test_cli_json(two_sessions):
    res = cli(str(two_sessions), "--format", "json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert isinstance(data, list) and len(data) == 2
    need = {"sid", "proto", "start", "end", "local_ip", "local_port", "remote_ip", "remote_port", "initiator",
            "packets_in", "packets_out", "bytes_in", "bytes_out", "conn_state", "history", "server_time",
            "network_time"}
    assert need <= set(data[0]) and set(data[0]) == set(COLUMNS)
    assert [d["proto"] for d in data] == ["tcp", "udp"]
    assert data[0]["start"] == pytest.approx(g.BASE_TS / 1e9) and data[1]["end"] == pytest.approx(g.BASE_TS / 1e9 + 1.1)


def test_cli_csv_and_limit(two_sessions):
    res = cli(str(two_sessions), "--format", "csv")
    lines = res.output.splitlines()
    assert len(lines) == 3 and lines[0].split(",")[0] == '"sid"'
    assert len(lines[0].split(",")) == len(COLUMNS)
    res = cli(str(two_sessions), "--format", "csv", "--limit", "1")
    assert len(res.output.splitlines()) == 2


def test_cli_table_and_filter(two_sessions):
    res = cli(str(two_sessions))
    assert res.exit_code == 0
    out = res.output
    assert "Session Summary" in out and "Datagrams In (Bytes)" in out and "Server Time" in out
    assert "00:00:00.0200" in out     # the handshake's 20 ms elapsed
    # -Y selects packets first: only the UDP flow remains, as SID 1.
    data = json.loads(cli(str(two_sessions), "-Y", "udp", "--format", "json").output)
    assert [(d["sid"], d["proto"]) for d in data] == [(1, "udp")]


def test_cli_csv_lists_tunnel_parents(tmp_path):
    frames = [vxlan(VTEP_A, VTEP_B, 50000, f) if i != 1 else vxlan(VTEP_B, VTEP_A, 51000, f)
              for i, f in enumerate(HANDSHAKE)]
    p = write(tmp_path, [(i * 0.01, f) for i, f in enumerate(frames)])
    res = cli(str(p), "--format", "csv")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    head = [h.strip('"') for h in lines[0].split(",")]
    rows = [dict(zip(head, [c.strip('"') for c in line.split(",")])) for line in lines[1:]]
    # The inner connection (SID 2) rode in both VXLAN flows; the flows themselves in none.
    assert [(r["sid"], r["proto"], r["tunnelled"], r["tunnel_parents"]) for r in rows] == \
        [("1", "udp", "false", ""), ("2", "tcp", "true", "1 3"), ("3", "udp", "false", "")]
    data = json.loads(cli(str(p), "--format", "json").output)
    assert [d["tunnel_parents"] for d in data] == [[], [1, 3], []]


def test_cli_rejects_bad_options(two_sessions):
    assert cli(str(two_sessions), "--local", "nonsense").exit_code != 0
    assert cli(str(two_sessions), "--udp-timeout", "0").exit_code != 0


def test_local_side_inferred_when_not_given(tmp_path):
    tbl, s = build(tmp_path, [(i * 0.01, f) for i, f in enumerate(HANDSHAKE)])
    assert s.local is not None and s.local.network == infer_local(tbl).network
