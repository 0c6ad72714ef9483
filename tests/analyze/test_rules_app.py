"""The application rules -- dhcp.decline, dhcp.nak, dhcp.no_offer, snmp.no_response,
tls.alert, tls.handshake_failure, tls.certificate_expired, tls.deprecated_version --
on real captures from the corpus and on captures the tests build byte by byte.

Expected evidence comes from tshark (the frames its filters select, the
fields it decodes) or from how the test built the capture (RFC 2131, RFC
5227, RFC 3416, RFC 8446), never from tracedoc.
"""

from __future__ import annotations

import calendar
import importlib
import struct
import subprocess
import time
from pathlib import Path

import pytest

import tracedoc
from tests.support import pcapgen as g
from tests.support.corpus import CORPUS, have_corpus, have_tshark
from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding

TRACES = CORPUS / "zeek/testing/btest/Traces"
needs_corpus = pytest.mark.skipif(not (have_corpus() and have_tshark()), reason="needs the corpus and tshark")
needs_tshark = pytest.mark.skipif(not have_tshark(), reason="needs tshark")


def run(path: Path, rule_id: str, **params: float) -> list[Finding]:
    """One rule on a capture, with its defaults overridden by ``params``."""
    rule = importlib.import_module(f"tracedoc.analyze.rules.{rule_id}").RULE
    assert rule.id == rule_id
    conf = rule.defaults()
    for k, v in params.items():
        assert k in conf, f"{rule_id} has no parameter {k}"
        conf[k] = v
    return rule.run(Evidence(tracedoc.open(path).packets), conf)


def tshark(path: Path, flt: str, *fields: str, two_pass: bool = False) -> list[list[str]]:
    argv = ["tshark", "-n", "-r", str(path), *(["-2"] if two_pass else []), "-Y", flt, "-T", "fields"]
    for f in fields:
        argv += ["-e", f]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120).stdout
    return [line.split("\t") for line in out.splitlines() if line.strip()]


def frames_of(path: Path, flt: str, two_pass: bool = False) -> list[int]:
    return [int(r[0]) for r in tshark(path, flt, "frame.number", two_pass=two_pass)]


def alert_name(info: str) -> str:
    """The alert description in tshark's Info column: "Alert (Level: Fatal, Description: Protocol Version)"."""
    return info.split("Description: ", 1)[1].split(")", 1)[0]


# -- building DHCP and SNMP traffic ----------------------------------------------------

T0 = g.BASE_TS
S = 1_000_000_000
SERVER, SERVER_MAC = "10.20.0.1", "02:00:00:00:00:01"
CLIENT_MAC, HOLDER_MAC = "02:00:00:00:00:0c", "02:00:00:00:00:0e"
BCAST, BMAC = "255.255.255.255", "ff:ff:ff:ff:ff:ff"


def bootp(kind: int, xid: int, mac: str, *, ciaddr: str = "0.0.0.0", yiaddr: str = "0.0.0.0",
          requested: str | None = None, server_id: str | None = None, message: str | None = None) -> bytes:
    """A DHCP message (RFC 2131 2) with option 53 and, if given, 50, 54 and 56 (RFC 2132 9)."""
    op = 2 if kind in (2, 5, 6) else 1
    fixed = struct.pack("!BBBBIHH4s4s4s4s", op, 1, 6, 0, xid, 0, 0x8000, g.ip4(ciaddr), g.ip4(yiaddr),
                        g.ip4("0.0.0.0"), g.ip4("0.0.0.0"))
    fixed += g.mac(mac).ljust(16, b"\0") + bytes(64 + 128)
    opts = bytes([53, 1, kind])
    if requested:
        opts += bytes([50, 4]) + g.ip4(requested)
    if server_id:
        opts += bytes([54, 4]) + g.ip4(server_id)
    if message:
        opts += bytes([56, len(message)]) + message.encode()
    return fixed + b"\x63\x82\x53\x63" + opts + b"\xff"


def from_client(mac: str, msg: bytes, src: str = "0.0.0.0", dst: str = BCAST) -> bytes:
    dmac = BMAC if dst == BCAST else SERVER_MAC
    return g.ether(dmac, mac, 0x0800, g.ipv4(src, dst, 17, g.udp(68, 67, msg)))


def from_server(msg: bytes, dst: str = BCAST, dmac: str = BMAC) -> bytes:
    return g.ether(dmac, SERVER_MAC, 0x0800, g.ipv4(SERVER, dst, 17, g.udp(67, 68, msg)))


def arp(op: int, smac: str, sip: str, tmac: str, tip: str) -> bytes:
    dst = BMAC if op == 1 else tmac
    return g.ether(dst, smac, 0x0806, g.arp(op, smac, sip, tmac, tip))


def write(tmp_path: Path, timed: list[tuple[int, bytes]], name: str = "t.pcap") -> Path:
    recs = [g.Rec(T0 + t, f, len(f)) for t, f in timed]
    data, _ = g.pcap_file(recs, nsec=True)
    p = tmp_path / name
    p.write_bytes(data)
    return p


# -- DHCP -------------------------------------------------------------------------------

@needs_corpus
def test_dhcp_decline_and_nak_on_zeek_capture() -> None:
    """zeek's dhcp.pcap: a NAKed Request, a new lease, then a Decline of it."""
    path = TRACES / "dhcp/dhcp.pcap"
    (decline_frame, xid, mac, opt50), = tshark(path, "dhcp.option.dhcp == 4", "frame.number", "dhcp.id",
                                              "dhcp.hw.mac_addr", "dhcp.option.requested_ip_address")
    assert opt50 == ""  # this client leaves option 50 out: the address is the one the ACK gave
    ack_frame, your, server = tshark(path, f"dhcp.option.dhcp == 5 && dhcp.id == {xid} && "
                                           f"frame.number < {decline_frame}",
                                     "frame.number", "dhcp.ip.your", "dhcp.option.dhcp_server_id")[-1]
    found = run(path, "dhcp.decline")
    assert len(found) == 1
    f = found[0]
    assert f.frames == sorted([int(decline_frame), int(ack_frame)])
    assert f.details["client_mac"] == mac and f.details["address"] == your and f.details["servers"] == [server]
    assert f.category == "Application Errors" and f.severity == "error" and your in f.summary

    (nak_frame, nak_xid, message, nak_server), = tshark(path, "dhcp.option.dhcp == 6", "frame.number", "dhcp.id",
                                                        "dhcp.option.message", "dhcp.option.dhcp_server_id")
    req_frame, requested = tshark(path, f"dhcp.option.dhcp == 3 && dhcp.id == {nak_xid} && "
                                        f"frame.number < {nak_frame}",
                                  "frame.number", "dhcp.option.requested_ip_address")[-1]
    later_acks = frames_of(path, f"dhcp.option.dhcp == 5 && dhcp.hw.mac_addr == {mac} && frame.number > {nak_frame}")
    found = run(path, "dhcp.nak")
    assert len(found) == 1
    f = found[0]
    assert f.frames == sorted([int(nak_frame), int(req_frame)])
    assert f.details["requested"] == [requested] and f.details["messages"] == [message]
    assert f.details["server"] == nak_server and f.details["client_mac"] == mac
    # The client got a lease after the NAK: a warning, not an error.
    assert later_acks and f.details["recovered"] and f.severity == "warning"

    # Its one Discover was offered an address: no dhcp.no_offer.
    assert frames_of(path, "dhcp.option.dhcp == 2") and run(path, "dhcp.no_offer") == []


@needs_corpus
def test_dhcp_no_offer_on_unanswered_discovers() -> None:
    """tcpdump's dcb_ets.pcap: a client broadcasting DISCOVERs that nothing answers."""
    path = CORPUS / "tcpdump/tests/dcb_ets.pcap"
    discovers = tshark(path, "dhcp.option.dhcp == 1", "frame.number", "dhcp.hw.mac_addr")
    assert discovers and frames_of(path, "dhcp.option.dhcp == 2") == []
    found = run(path, "dhcp.no_offer")
    assert len(found) == 1
    f = found[0]
    assert f.frames == [int(r[0]) for r in discovers]
    assert f.details["client_mac"] == discovers[0][1] and f.details["discovers"] == len(discovers)
    assert run(path, "dhcp.no_offer", min_discovers=len(discovers) + 1) == []


@needs_tshark
def test_dhcp_decline_with_the_arp_reply_that_proves_it(tmp_path: Path) -> None:
    """RFC 2131 4.4.1 / RFC 5227: the client probes the ACKed address, another host
    answers, the client declines.  An older claim of the address by that host,
    before the lease, is no evidence of this decline."""
    addr, xid = "10.20.0.50", 0x1234ABCD
    timed = [
        (0, arp(1, HOLDER_MAC, addr, "00:00:00:00:00:00", addr)),                                 # 1 old announcement
        (20 * S, from_client(CLIENT_MAC, bootp(1, xid, CLIENT_MAC))),                              # 2 Discover
        (20 * S + 5_000_000, from_server(bootp(2, xid, CLIENT_MAC, yiaddr=addr, server_id=SERVER))),  # 3 Offer
        (20 * S + 9_000_000, from_client(CLIENT_MAC, bootp(3, xid, CLIENT_MAC, requested=addr,
                                                           server_id=SERVER))),                    # 4 Request
        (20 * S + 12_000_000, from_server(bootp(5, xid, CLIENT_MAC, yiaddr=addr, server_id=SERVER))),  # 5 ACK
        (20 * S + 15_000_000, arp(1, CLIENT_MAC, "0.0.0.0", "00:00:00:00:00:00", addr)),          # 6 probe
        (20 * S + 16_000_000, arp(2, HOLDER_MAC, addr, CLIENT_MAC, "0.0.0.0")),                   # 7 reply
        (21 * S, from_client(CLIENT_MAC, bootp(4, xid, CLIENT_MAC, requested=addr, server_id=SERVER))),  # 8 Decline
    ]
    path = write(tmp_path, timed)
    assert frames_of(path, "dhcp.option.dhcp == 4") == [8] and frames_of(path, "arp.opcode == 2") == [7]
    found = run(path, "dhcp.decline")
    assert len(found) == 1
    f = found[0]
    assert f.frames == [5, 7, 8]
    assert f.details["address"] == addr and f.details["client_mac"] == CLIENT_MAC
    assert f.details["holder_macs"] == [HOLDER_MAC] and f.details["arp_frames"] == [7]
    assert f.details["servers"] == [SERVER] and HOLDER_MAC in f.summary
    # Without the ACK in the capture, the ARP window before the Decline decides.
    path2 = write(tmp_path, [timed[0], timed[6], timed[7]], "no-ack.pcap")
    assert run(path2, "dhcp.decline")[0].frames == [2, 3]
    assert run(path2, "dhcp.decline", arp_window_s=30)[0].frames == [1, 2, 3]


@needs_tshark
def test_dhcp_nak_of_a_renewal_without_a_new_lease(tmp_path: Path) -> None:
    """A RENEWING client (ciaddr set, no option 50, RFC 2131 4.3.2) NAKed, and no lease after it."""
    old = "10.20.9.9"
    path = write(tmp_path, [
        (0, from_client(CLIENT_MAC, bootp(3, 77, CLIENT_MAC, ciaddr=old), src=old, dst=SERVER)),
        (3_000_000, from_server(bootp(6, 77, CLIENT_MAC, server_id=SERVER, message="wrong network"))),
        (S, from_client(CLIENT_MAC, bootp(1, 78, CLIENT_MAC))),
    ])
    assert frames_of(path, "dhcp.option.dhcp == 6") == [2]
    found = run(path, "dhcp.nak")
    assert len(found) == 1
    f = found[0]
    assert f.frames == [1, 2] and f.details["requested"] == [old] and f.details["messages"] == ["wrong network"]
    assert f.severity == "error" and not f.details["recovered"]


def test_dhcp_no_offer_window_and_retries(tmp_path: Path) -> None:
    """An offer within the window answers a client's Discovers (whatever its xid);
    retries with none are reported per client; one lone Discover is not."""
    late, lost, lone = "02:00:00:00:00:a1", "02:00:00:00:00:b2", "02:00:00:00:00:c3"
    timed = [
        (0, from_client(late, bootp(1, 1, late))),                      # 1 answered by 4 (2.5 s later)
        (1 * S, from_client(late, bootp(1, 1, late))),                  # 2
        (2 * S, from_client(late, bootp(1, 2, late))),                  # 3 another xid
        (int(2.5 * S), from_server(bootp(2, 2, late, yiaddr="10.20.0.60", server_id=SERVER))),  # 4
        (3 * S, from_client(lost, bootp(1, 9, lost))),                  # 5
        (4 * S, from_client(lost, bootp(1, 9, lost))),                  # 6
        (6 * S, from_client(lost, bootp(1, 9, lost))),                  # 7
        (7 * S, from_client(lone, bootp(1, 5, lone))),                  # 8
    ]
    path = write(tmp_path, timed)
    found = run(path, "dhcp.no_offer")
    assert [(f.details["client_mac"], f.frames) for f in found] == [(lost, [5, 6, 7])]
    assert found[0].details["discovers"] == 3 and found[0].details["xids"] == 1
    # A window shorter than the offer's delay leaves the first Discovers unanswered.
    short = {f.details["client_mac"]: f.frames for f in run(path, "dhcp.no_offer", window_s=1)}
    assert short == {late: [1, 2], lost: [5, 6, 7]}
    assert {f.details["client_mac"]: f.frames for f in run(path, "dhcp.no_offer", min_discovers=1)} == \
        {lost: [5, 6, 7], lone: [8]}


# -- SNMP -------------------------------------------------------------------------------

def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag, len(content)]) + content


def integer(v: int) -> bytes:
    return tlv(0x02, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))


def snmp(pdu_tag: int, request_id: int, community: bytes = b"public", version: int = 0) -> bytes:
    """An SNMPv1/v2c message (RFC 3416 3) asking for sysDescr.0."""
    binds = tlv(0x30, tlv(0x30, tlv(0x06, bytes([0x2B, 6, 1, 2, 1, 1, 1, 0])) + b"\x05\x00"))
    pdu = tlv(pdu_tag, integer(request_id) + integer(0) + integer(0) + binds)
    return tlv(0x30, integer(version) + tlv(0x04, community) + pdu)


MGR, AGENT, OTHER = "10.30.0.1", "10.30.0.2", "10.30.0.3"


def snmp_udp(src: str, sport: int, dst: str, dport: int, payload: bytes) -> bytes:
    return g.ether("02:00:00:00:01:02", "02:00:00:00:01:01", 0x0800, g.ipv4(src, dst, 17, g.udp(sport, dport,
                                                                                                 payload)))


@needs_corpus
def test_snmp_no_response_on_zeek_capture() -> None:
    path = TRACES / "snmp/snmpv1_get.pcap"
    requests = "(snmp.data == 0 || snmp.data == 1 || snmp.data == 3 || snmp.data == 5 || snmp.data == 6)"
    rows = tshark(path, f"{requests} && !snmp.response_in", "frame.number", "ip.dst", "udp.dstport",
                  "snmp.community", two_pass=True)
    assert rows
    found = run(path, "snmp.no_response")
    assert len(found) == 1
    f = found[0]
    assert f.frames == [int(r[0]) for r in rows]
    assert (f.details["server"], f.details["server_port"]) == (rows[0][1], int(rows[0][2]))
    assert f.details["communities"] == [rows[0][3]] and f.category == "Application Errors"
    assert run(path, "snmp.no_response", min_requests=len(rows) + 1) == []


@needs_tshark
def test_snmp_retries_to_a_silent_agent(tmp_path: Path) -> None:
    """A manager retries request-id 7 to an agent that never answers (a wrong
    community, say), while another agent answers: only the silent one, with
    every retry, is reported."""
    path = write(tmp_path, [
        (0, snmp_udp(MGR, 40000, AGENT, 161, snmp(0xA0, 7, b"wrong"))),       # 1
        (S, snmp_udp(MGR, 40000, AGENT, 161, snmp(0xA0, 7, b"wrong"))),       # 2 retry
        (2 * S, snmp_udp(MGR, 40000, AGENT, 161, snmp(0xA0, 7, b"wrong"))),   # 3 retry
        (3 * S, snmp_udp(MGR, 40001, OTHER, 161, snmp(0xA1, 8, version=1))),   # 4 answered by 5
        (3 * S + 2_000_000, snmp_udp(OTHER, 161, MGR, 40001, snmp(0xA2, 8, version=1))),
    ])
    assert frames_of(path, "snmp.data == 0") == [1, 2, 3]
    found = run(path, "snmp.no_response")
    assert len(found) == 1
    f = found[0]
    assert f.frames == [1, 2, 3] and f.details["server"] == AGENT and f.details["server_port"] == 161
    assert f.details["requests"] == 1 and f.details["retries"] == 2 and f.details["communities"] == ["wrong"]
    assert f.details["versions"] == ["v1"] and "silently drop" in f.explanation


@needs_tshark
def test_snmp_request_quoted_in_an_icmp_error_is_not_a_request(tmp_path: Path) -> None:
    """No agent on the port: each request draws an ICMP port unreachable quoting
    it (RFC 792: the IP header and the datagram's first bytes, here all of
    it).  The quote decodes as SNMP but is no request of its own."""
    def request() -> bytes:
        return g.ipv4(MGR, AGENT, 17, g.udp(40000, 161, snmp(0xA0, 7)))

    def unreachable() -> bytes:
        return g.ether("02:00:00:00:01:01", "02:00:00:00:01:02", 0x0800,
                       g.ipv4(AGENT, MGR, 1, g.icmp(3, 3, b"\0\0\0\0", request())))

    path = write(tmp_path, [(0, snmp_udp(MGR, 40000, AGENT, 161, snmp(0xA0, 7))), (1_000_000, unreachable()),
                            (S, snmp_udp(MGR, 40000, AGENT, 161, snmp(0xA0, 7))), (S + 1_000_000, unreachable())])
    assert frames_of(path, "icmp.type == 3") == [2, 4] and frames_of(path, "snmp.data == 0 && !icmp") == [1, 3]
    found = run(path, "snmp.no_response")
    assert [(f.frames, f.details["server"], f.details["requests"], f.details["retries"]) for f in found] == \
        [([1, 3], AGENT, 1, 1)]


# -- TLS --------------------------------------------------------------------------------

TLS = TRACES / "tls"


@needs_corpus
@pytest.mark.parametrize("name", ["tls-1.2-handshake-failure.pcap", "tls13draft16-ff52.a01-aborted.pcap",
                                  "tls13draft16-chrome55.0.2879.0-canary-aborted.pcap"])
def test_handshake_refused_with_an_alert(name: str) -> None:
    """The server answers the ClientHello with a fatal alert instead of a ServerHello."""
    path = TLS / name
    hellos = tshark(path, "tls.handshake.type == 1", "frame.number", "tcp.stream", "ip.dst",
                    "tls.handshake.extensions_server_name")
    alerts = tshark(path, "tls.alert_message", "frame.number", "tcp.stream", "ip.src", "_ws.col.Info")
    assert frames_of(path, "tls.handshake.type == 2") == []
    found = sorted(run(path, "tls.handshake_failure"), key=lambda f: f.frames)
    assert len(found) == len(hellos) == len(alerts)
    for f, h, a in zip(found, hellos, alerts):
        assert h[1] == a[1]  # one TCP stream
        assert f.frames == [int(h[0]), int(a[0])]
        assert f.details["alert"] == alert_name(a[3]) and f.details["alert_level"] == "fatal"
        assert f.details["alert_from"] == "server" and a[2] == h[2] == f.details["server"]
        assert f.details["sni"] == (h[3] or None) and f.details["server_hello_frame"] is None
        assert f.details["offered_versions"] and f.details["offered_cipher_suites"]
        assert f.category == "Application Errors" and f.severity == "error"
    # The same alerts, one tls.alert per connection.
    alerts_found = sorted(run(path, "tls.alert"), key=lambda f: f.frames)
    assert [f.frames for f in alerts_found] == [[int(a[0])] for a in alerts]
    assert [f.details["alerts"][0]["description"] for f in alerts_found] == [alert_name(a[3]) for a in alerts]
    assert all(f.severity == "error" and f.details["fatal"] for f in alerts_found)


@needs_corpus
def test_handshake_failed_by_the_client_after_the_server_hello() -> None:
    """The client rejects the server's certificate (fatal unknown_ca) after the ServerHello."""
    path = TLS / "tls13draft16-ff52.a01.pcap"
    (alert, src, info, stream), = tshark(path, "tls.alert_message", "frame.number", "ip.src", "_ws.col.Info",
                                         "tcp.stream")
    (ch, client), = tshark(path, f"tls.handshake.type == 1 && tcp.stream == {stream}", "frame.number", "ip.src")
    (sh,), = tshark(path, f"tls.handshake.type == 2 && tcp.stream == {stream}", "frame.number")
    assert len(frames_of(path, "tls.handshake.type == 1")) == 2  # the other connection completed
    found = run(path, "tls.handshake_failure")
    assert len(found) == 1
    f = found[0]
    assert f.frames == sorted(int(x) for x in (alert, ch, sh))
    assert src == client and f.details["alert_from"] == "client" and f.details["alert"] == alert_name(info)
    assert f.details["server_hello_frame"] == int(sh) and f.details["server_version"]


@needs_corpus
def test_handshake_cut_by_the_server_without_an_alert() -> None:
    """The server sends bytes that are no TLS record, then closes: no ServerHello, no alert."""
    path = TLS / "tls-1.2-protocol-error.pcap"
    (ch, server), = tshark(path, "tls.handshake.type == 1", "frame.number", "ip.dst")
    fin = frames_of(path, f"tcp.flags.fin == 1 && ip.src == {server}")[0]
    assert frames_of(path, "tls.alert_message || tls.handshake.type == 2") == []
    found = run(path, "tls.handshake_failure")
    assert len(found) == 1
    assert found[0].frames == [int(ch), fin] and found[0].details["closed_by"] == "server FIN"
    assert found[0].details["alert"] is None and run(path, "tls.alert") == []


@needs_corpus
@pytest.mark.parametrize("name", ["tls1.2.pcap", "tls1_1.pcap", "x509-generalizedtime.pcap", "ecdhe.pcap"])
def test_complete_handshakes_are_no_failure(name: str) -> None:
    """Handshakes that completed (their alerts, if any, are encrypted close_notify) report nothing."""
    path = TLS / name
    assert frames_of(path, "tls.handshake.type == 2")
    assert run(path, "tls.handshake_failure") == [] and run(path, "tls.alert") == []


@needs_corpus
def test_warning_alert_is_a_warning() -> None:
    """A warning unrecognized_name before the ServerHello: the handshake goes on."""
    path = TLS / "tls-early-alert.pcap"
    (frame, info), = tshark(path, "tls.alert_message", "frame.number", "_ws.col.Info")
    found = run(path, "tls.alert")
    assert len(found) == 1
    assert found[0].frames == [int(frame)] and found[0].severity == "warning"
    assert found[0].details["alerts"] == [{"frame": int(frame), "level": "warning",
                                           "description": alert_name(info), "from": "server"}]
    assert frames_of(path, "tls.handshake.type == 2") and run(path, "tls.handshake_failure") == []


def _validity(path: Path) -> list[tuple[int, float, list[int]]]:
    """(frame, capture time, [notBefore, notAfter of each certificate ...]) per Certificate
    frame, from tshark's x509af.utcTime ("2014-03-04 23:59:59 (UTC)")."""
    out = []
    for frame, t, times in tshark(path, "tls.handshake.certificate", "frame.number", "frame.time_epoch",
                                  "x509af.utcTime"):
        stamps = [calendar.timegm(time.strptime(x.replace(" (UTC)", ""), "%Y-%m-%d %H:%M:%S"))
                  for x in times.split(",")]
        out.append((int(frame), float(t), stamps))
    return out


@needs_corpus
@pytest.mark.parametrize("name", ["tls-expired-cert.pcap", "tls-early-alert.pcap"])
def test_expired_server_certificate(name: str) -> None:
    path = TLS / name
    expired = [(frame, stamps) for frame, t, stamps in _validity(path) if stamps[1] < t]
    # The server certificates only (position 0); chain certificates valid at the time.
    assert expired and all(s[2 * i + 1] >= t for frame, t, s in _validity(path) for i in range(1, len(s) // 2))
    found = run(path, "tls.certificate_expired")
    assert sorted(f.frames[0] for f in found) == [frame for frame, _ in expired]
    for f in found:
        stamps = dict(expired)[f.frames[0]]
        assert f.details["state"] == "expired" and f.details["position"] == 0 and f.severity == "error"
        assert f.details["not_after"] == time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamps[1]))
        assert f.details["sender"] == "server" and f.details["subject"] in f.summary


@needs_corpus
def test_valid_certificates_are_not_reported() -> None:
    # x509-generalizedtime.pcap: a certificate valid 2015-09-01 .. 2025-09-01, seen in September 2015.
    for name in ("x509-generalizedtime.pcap", "tls1.2.pcap"):
        assert run(TLS / name, "tls.certificate_expired") == []
    # A capture clock a day off is tolerated with grace_s.
    path = TLS / "tls-expired-cert.pcap"
    frame, t, stamps = _validity(path)[0]
    assert run(path, "tls.certificate_expired", grace_s=t - stamps[1] + 60) == []


_OLD = {"0x0300": "SSL 3.0", "0x0301": "TLS 1.0", "0x0302": "TLS 1.1"}


@needs_corpus
@pytest.mark.parametrize("name", ["tls1_1.pcap", "ssl.v3.pcap", "tls-expired-cert.pcap", "missing-intermediate.pcap"])
def test_deprecated_versions(name: str) -> None:
    """ServerHellos that chose a version below TLS 1.2 (and no supported_versions), per server."""
    path = TLS / name
    rows = tshark(path, "tls.handshake.type == 2 && tls.handshake.version < 0x0303 && "
                        "!tls.handshake.extensions.supported_version",
                  "frame.number", "ip.src", "tcp.srcport", "tls.handshake.version")
    assert rows
    found = run(path, "tls.deprecated_version")
    got = {(f.details["server"], f.details["server_port"], f.details["version"]) for f in found}
    assert got == {(r[1], int(r[2]), _OLD[r[3]]) for r in rows}
    hellos = {int(r[0]) for r in tshark(path, "tls.handshake.type == 2", "frame.number")}
    assert sorted(x for f in found for x in f.frames if x in hellos) == [int(r[0]) for r in rows]
    assert all(f.severity == "warning" for f in found)
    # With TLS 1.0 accepted, only older versions would be reported.
    older = run(path, "tls.deprecated_version", min_version=1.0)
    assert {f.details["version"] for f in older} == {v for (_, _, v) in got} - {"TLS 1.0", "TLS 1.1"}


@needs_corpus
def test_tls_1_2_and_1_3_are_not_deprecated() -> None:
    for name in ("tls1.2.pcap", "chrome-63.0.3211.0-canary-tls_experiment.pcap"):
        assert frames_of(TLS / name, "tls.handshake.type == 2")
        assert run(TLS / name, "tls.deprecated_version") == []
