"""The Packet Summary's derived columns, in the seed's wording.

Packets are built with tests.support.pcapgen, written as a pcap, read and
decoded by tracedoc, then summarised; expected values come from the seed's
example tables and the protocol specs, not from the code under test.
"""

from __future__ import annotations

import pytest

import tracedoc
from tracedoc.analyze.summary import infer_local, summary
from tests.support import pcapgen as g

LOCAL = "10.0.52.164"
REMOTE = "204.152.184.134"
GW_MAC = "00:04:75:c9:51:b6"
MY_MAC = "08:00:46:f4:3a:09"

SYN, ACK, PSH, FIN, RST = 0x02, 0x10, 0x08, 0x01, 0x04


def eth_ip(src: str, dst: str, proto: int, l4: bytes, **kw) -> bytes:
    out = src == LOCAL
    return g.ether(GW_MAC if out else MY_MAC, MY_MAC if out else GW_MAC, 0x0800, g.ipv4(src, dst, proto, l4, **kw))


def trace(tmp_path, frames: list[bytes]):
    recs = [g.Rec(g.BASE_TS + i * 1_000_000, f, len(f)) for i, f in enumerate(frames)]
    data, _ = g.pcap_file(recs)
    p = tmp_path / "t.pcap"
    p.write_bytes(data)
    return tracedoc.open(p).packets


@pytest.fixture
def rows(tmp_path):
    frames = [
        # The seed's HTTP handshake (packets 1-3), then data, FIN and RST.
        eth_ip(LOCAL, REMOTE, 6, g.tcp(2646, 80, 3087588094, 0, SYN, 65535,
                                       options=bytes.fromhex("020405b40103030201010402"))),
        eth_ip(REMOTE, LOCAL, 6, g.tcp(80, 2646, 1218508629, 3087588095, SYN | ACK, 65535)),
        eth_ip(LOCAL, REMOTE, 6, g.tcp(2646, 80, 3087588095, 1218508630, ACK, 64240)),
        eth_ip(LOCAL, REMOTE, 6, g.tcp(2646, 80, 3087588095, 1218508630, ACK | PSH, 64240, payload=b"GET / HTTP/1.0\r\n\r\n")),
        eth_ip(REMOTE, LOCAL, 6, g.tcp(80, 2646, 1218508630, 3087588113, ACK | PSH | FIN, 65535)),
        eth_ip(LOCAL, REMOTE, 6, g.tcp(2646, 80, 3087588113, 0, ACK | RST, 0)),
        # DNS query to a resolver, and ICMP fragmentation needed quoting it.
        eth_ip(LOCAL, "62.177.254.1", 17, g.udp(1025, 53, b"\x00" * 12)),
        eth_ip("100.100.100.100", LOCAL, 1, g.icmp(3, 4, b"\x00\x00\x05\xdc",
                                                    g.ipv4(LOCAL, "62.177.254.1", 17, g.udp(1025, 53, b""))[:28])),
        eth_ip("207.33.247.65", LOCAL, 1, g.icmp(11, 0, b"\x00" * 4)),
        eth_ip(LOCAL, REMOTE, 1, g.icmp(8, 0, b"\x00\x01\x00\x01")),
        # ARP request and reply, as in the seed's fragmentation-needed case.
        g.ether("ff:ff:ff:ff:ff:ff", GW_MAC, 0x0806, g.arp(1, GW_MAC, "62.177.254.1", "00:00:00:00:00:00", LOCAL)),
        g.ether(GW_MAC, MY_MAC, 0x0806, g.arp(2, MY_MAC, LOCAL, GW_MAC, "62.177.254.1")),
        # DHCP discover from 0.0.0.0 and a NetBIOS name query broadcast.
        eth_ip("0.0.0.0", "255.255.255.255", 17, g.udp(68, 67, b"\x01" * 240)),
        eth_ip("172.29.96.22", "172.29.191.255", 17, g.udp(137, 137, b"\x00" * 50)),
    ]
    packets = trace(tmp_path, frames)
    side = infer_local(packets)
    return side, summary(packets, side).to_pylist()


def test_local_side_is_the_busiest_address(rows):
    side, _ = rows
    assert str(side.network.network_address) == LOCAL
    assert side.inferred
    assert LOCAL in side.describe()


def test_tcp_messages_and_ports(rows):
    _, r = rows
    assert [x["Messages"] for x in r[:6]] == ["SYN", "ACK SYN", "ACK", "ACK PSH : Request: GET /",
                                                    "ACK PSH FIN", "ACK RST"]
    # Seen from the local side whichever way the packet went.
    assert all(x["Local IP"] == LOCAL and x["Rmt. IP"] == REMOTE for x in r[:6])
    assert [x["Dir"] for x in r[:3]] == ["->", "<-", "->"]
    assert r[0]["Local Port"] == "2646" and r[0]["Rmt. Port"] == "http"
    assert r[1]["Local Port"] == "2646" and r[1]["Rmt. Port"] == "http"
    assert (r[0]["Seq. Number"], r[0]["Ack. Number"], r[0]["Window Size"]) == (3087588094, 0, 65535)
    assert r[0]["Datagram Size"] == 52  # IP total length: 20 + 20 + 12 bytes of options
    assert r[0]["Protocol"] == "TCP"


def test_icmp_messages(rows):
    _, r = rows
    assert r[7]["Messages"] == "Destination Unreachable : Fragmentation needed"
    assert r[7]["Protocol"] == "ICMP"
    assert r[7]["Local IP"] == LOCAL and r[7]["Rmt. IP"] == "100.100.100.100" and r[7]["Dir"] == "<-"
    assert r[8]["Messages"] == "Transit TTL exceeded"
    assert r[9]["Messages"] == "Echo Request"
    # A query with no question: the seed's wording without a name.
    assert r[6]["Messages"] == "dns : client query (Standard)"
    assert r[6]["Rmt. Port"] == "dns" and r[6]["Protocol"] == "UDP"


def test_arp_wording(rows):
    _, r = rows
    assert r[10]["Messages"] == f"ARP Request: Who Has {LOCAL}? Tell 62.177.254.1"
    assert r[11]["Messages"] == f"ARP Reply: {LOCAL} is at {MY_MAC.upper()}"
    assert r[10]["Protocol"] == "ARP" and r[10]["Datagram Size"] == 42


def test_service_names(rows):
    _, r = rows
    assert (r[12]["Local Port"], r[12]["Rmt. Port"]) == ("bootpc", "bootps")
    assert (r[13]["Local Port"], r[13]["Rmt. Port"]) == ("NBNS", "NBNS")
    # Neither end is local: shown as sent, no direction.
    assert r[13]["Local IP"] == "172.29.96.22" and r[13]["Dir"] == ""


def test_given_local_network_wins(tmp_path):
    frames = [eth_ip(LOCAL, REMOTE, 6, g.tcp(2646, 80, 1, 0, SYN, 100)) for _ in range(3)]
    packets = trace(tmp_path, frames)
    side = infer_local(packets, "204.152.184.0/24")
    r = summary(packets, side).to_pylist()
    assert not side.inferred
    assert r[0]["Local IP"] == REMOTE and r[0]["Dir"] == "<-" and r[0]["Local Port"] == "http"


# ------------------------------------------------------------------ CTRACE data trace records
# Data trace records carry socket data, not packets: their rows come from
# the ctrace.data.* columns (tests/data/ctrace/README.md describes the files).

CTRACE = __import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "ctrace"


def ctrace_rows(name: str) -> list[dict]:
    packets = tracedoc.open(CTRACE / name).packets
    return summary(packets, infer_local(packets)).to_pylist()


def test_data_trace_rows_among_packets():
    r = ctrace_rows("data_trace.txt")
    data = r[1]
    assert data["Protocol"] == "DATA"
    assert data["Messages"] == "data trace: 18 bytes to jobname FTPD1"
    assert (data["Local IP"], data["Local Port"], data["Rmt. IP"], data["Rmt. Port"]) == \
        ("10.0.0.1", "40000", "10.0.0.2", "http")
    assert data["Dir"] == "->" and data["Datagram Size"] == 18
    assert data["Seq. Number"] is None and data["Window Size"] is None
    # The packet rows around it are as before.
    assert [x["Protocol"] for x in r] == ["TCP", "DATA", "TCP", "ARP", "TCP"]
    assert r[0]["Messages"] == "SYN" and r[2]["Messages"] == "ACK SYN"
    assert r[4]["Messages"].startswith("ACK PSH : Request: GET ")
    assert r[3]["Messages"] == "ARP Request: Who Has 10.0.0.2? Tell 10.0.0.1"


def test_data_trace_rows_of_a_socket():
    r = ctrace_rows("data_records.txt")
    assert all(x["Protocol"] == "DATA" for x in r)
    assert [x["Messages"] for x in r] == [
        "data trace: 0 bytes to jobname USER12 (API Data Flow Starts)",
        "data trace: 33 bytes to jobname USER12",
        "data trace: 531 bytes from jobname USER12",
        "data trace: 531 bytes from jobname USER12",
        "data trace: 0 bytes from jobname USER12 (API Data Flow Ends)",
        "data trace: 9 bytes to jobname MDNSD",
        "data trace: 10 bytes from jobname MDNSD",
    ]
    assert [x["Dir"] for x in r] == ["->", "->", "<-", "<-", "<-", "->", "<-"]
    assert [x["Datagram Size"] for x in r] == [0, 33, 531, 531, 0, 9, 10]
    assert (r[1]["Local Port"], r[1]["Rmt. Port"]) == ("ftp control", "40000")
    # A UDP socket's ports are named from the UDP table.
    assert (r[5]["Local IP"], r[5]["Local Port"], r[5]["Rmt. IP"]) == ("2001:db8::1", "mdns", "2001:db8::2")


def test_data_trace_row_of_a_summary_report():
    """A SUMMARY report's data trace record (``OD``) has no job name."""
    r = ctrace_rows("summary.txt")
    data = [x for x in r if x["Protocol"] == "DATA"]
    assert len(data) == 1
    assert data[0]["Messages"] == "data trace: 18 bytes out"
    assert (data[0]["Local IP"], data[0]["Rmt. Port"]) == ("10.0.0.1", "http")


def test_summary_without_data_rows_unchanged(tmp_path):
    """Tables with no data trace rows (or no ctrace columns at all) are
    summarised as before."""
    frames = [eth_ip(LOCAL, REMOTE, 6, g.tcp(2646, 80, 1, 0, SYN, 100))]
    packets = trace(tmp_path, frames)
    side = infer_local(packets)
    a = summary(packets, side).to_pylist()
    keep = [c for c in packets.column_names if not c.startswith("ctrace.")]
    b = summary(packets.select(keep), side).to_pylist()
    assert a == b and a[0]["Protocol"] == "TCP" and a[0]["Messages"] == "SYN"


def test_cli_summary_shows_data_rows():
    from tests.read.test_ctrace import run

    p = run("summary", CTRACE / "data_trace.txt", "--format", "csv")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[2].split(",")[6:8] == ['"DATA"', '"data trace: 18 bytes to jobname FTPD1"']
