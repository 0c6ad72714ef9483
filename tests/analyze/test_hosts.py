"""The IP Summary and the protocol hierarchy.

Traffic is built with tests.support.pcapgen, so every count, byte total and
time below follows from the frames the test wrote (IP bytes are the IP
header's total length: 20 + transport header + payload).  The hierarchy is
also compared with ``tshark -q -z io,phs`` on corpus captures.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

import tracedoc
from tests.support import pcapgen as g
from tests.support.corpus import CORPUS, have_corpus, have_tshark
from tracedoc.analyze.hosts import (
    COLUMNS,
    SCHEMA,
    frame_paths,
    hosts,
    protocol_hierarchy,
)
from tracedoc.analyze.sessions import SESSION_COLUMNS
from tracedoc.cli.hosts_cmd import hosts as hosts_command

CLIENT, SERVER, RESOLVER = "10.0.0.1", "10.0.0.2", "10.0.0.53"
V6A, V6B = "2001:db8::1", "2001:db8::2"
MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"
MS = 1_000_000
T0 = g.BASE_TS

GET = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"                      # 27 bytes
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"          # 40 bytes
QUERY = struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\x01a\x07example\x00\x00\x01\x00\x01"  # 27 bytes
ANSWER = struct.pack("!HHHHHH", 1, 0x8180, 1, 0, 0, 0) + b"\x01a\x07example\x00\x00\x01\x00\x01"


def v4(src: str, dst: str, proto: int, l4: bytes) -> bytes:
    return g.ether(MAC_B, MAC_A, 0x0800, g.ipv4(src, dst, proto, l4))


def traffic() -> list[tuple[int, bytes]]:
    """(ms after T0, frame): an HTTP exchange, a DNS lookup, an ARP request,
    an IPv6 datagram and a VLAN-tagged ping."""
    vlan_ping = g.ether(MAC_B, MAC_A, 0x8100, struct.pack("!HH", 7, 0x0800)
                        + g.ipv4(CLIENT, SERVER, 1, g.icmp(8, 0, b"\0\1\0\1")))
    return [
        (0, v4(CLIENT, RESOLVER, 17, g.udp(4000, 53, QUERY))),                         # 20+8+27 = 55
        (10, v4(RESOLVER, CLIENT, 17, g.udp(53, 4000, ANSWER))),                       # 55
        (20, v4(CLIENT, SERVER, 6, g.tcp(40000, 80, 100, 0, 0x02, 65535))),            # 40
        (21, v4(SERVER, CLIENT, 6, g.tcp(80, 40000, 900, 101, 0x12, 65535))),          # 40
        (22, v4(CLIENT, SERVER, 6, g.tcp(40000, 80, 101, 901, 0x10, 65535))),          # 40
        (23, v4(CLIENT, SERVER, 6, g.tcp(40000, 80, 101, 901, 0x18, 65535, payload=GET))),  # 67
        (40, v4(SERVER, CLIENT, 6, g.tcp(80, 40000, 901, 128, 0x18, 65535, payload=OK))),   # 80
        (50, g.ARP_REQ),
        (60, g.ether(MAC_B, MAC_A, 0x86DD, g.ipv6(V6A, V6B, 17, g.udp(40001, 9999, b"x" * 12)))),  # 40+8+12
        (70, vlan_ping),                                                               # 20+8 = 28
    ]


def table(tmp_path, timed=None, columns=None):
    timed = traffic() if timed is None else timed
    recs = [g.Rec(T0 + t * MS, f, len(f)) for t, f in timed]
    data, _ = g.pcap_file(recs)
    p = tmp_path / "t.pcap"
    p.write_bytes(data)
    cols = list(dict.fromkeys(COLUMNS + SESSION_COLUMNS)) if columns is None else columns
    return p, tracedoc.open(p).table(cols)


def test_ip_summary_counts(tmp_path):
    _, tbl = table(tmp_path)
    out = hosts(tbl)
    assert out.schema.equals(SCHEMA)
    rows = {r["address"]: r for r in out.to_pylist()}
    assert set(rows) == {CLIENT, SERVER, RESOLVER, V6A, V6B}  # the ARP request counts for nobody
    c = rows[CLIENT]
    assert (c["packets_sent"], c["packets_received"]) == (5, 3)
    assert (c["bytes_sent"], c["bytes_received"]) == (55 + 40 + 40 + 67 + 28, 55 + 40 + 80)
    assert (c["sessions_opened"], c["sessions_accepted"]) == (3, 0)  # DNS flow, TCP connection, ping
    assert c["protocols"] == ["dns", "http", "icmp", "tcp", "udp"]
    assert (c["first_seen"], c["last_seen"]) == (T0, T0 + 70 * MS)
    s = rows[SERVER]
    assert (s["packets_sent"], s["packets_received"], s["bytes_sent"], s["bytes_received"]) == (
        2, 4, 40 + 80, 40 + 40 + 67 + 28)
    assert (s["sessions_opened"], s["sessions_accepted"]) == (0, 2)
    assert s["protocols"] == ["http", "icmp", "tcp"]
    r = rows[RESOLVER]
    assert (r["packets_sent"], r["bytes_received"], r["sessions_accepted"], r["protocols"]) == (1, 55, 1, ["dns", "udp"])
    assert (rows[V6A]["bytes_sent"], rows[V6A]["sessions_opened"], rows[V6B]["packets_received"]) == (60, 1, 1)
    # The busiest first.
    assert out["address"].to_pylist()[0] == CLIENT


def test_sessions_given_or_built(tmp_path):
    from tracedoc.analyze.sessions import build_sessions

    _, tbl = table(tmp_path)
    given = build_sessions(tbl)
    assert hosts(tbl, given).equals(hosts(tbl, given.table))
    assert hosts(tbl).equals(hosts(tbl, given))  # None: built from the packets


def test_empty_and_non_ip():
    import pyarrow as pa

    from tracedoc.analyze.derived import SCHEMA as PACKETS

    assert hosts(PACKETS.empty_table()).num_rows == 0
    assert protocol_hierarchy(PACKETS.empty_table()).num_rows == 0
    only = pa.table({"frame.number": pa.array([1], pa.uint64())})
    assert hosts(only).num_rows == 0
    assert protocol_hierarchy(only).to_pylist() == []


def test_hierarchy_of_built_traffic(tmp_path):
    _, tbl = table(tmp_path)
    rows = [(r["path"], r["frames"], r["bytes"]) for r in protocol_hierarchy(tbl).to_pylist()]
    lens = [len(f) for _, f in traffic()]
    tcp = sum(lens[2:7])
    assert rows == [
        ("eth", 10, sum(lens)),
        ("eth:ip", 7, sum(lens[:7])),
        ("eth:ip:udp", 2, lens[0] + lens[1]),
        ("eth:ip:udp:dns", 2, lens[0] + lens[1]),
        ("eth:ip:tcp", 5, tcp),
        ("eth:ip:tcp:http", 2, lens[5] + lens[6]),
        ("eth:arp", 1, lens[7]),
        ("eth:ipv6", 1, lens[8]),
        ("eth:ipv6:udp", 1, lens[8]),
        ("eth:vlan", 1, lens[9]),
        ("eth:vlan:ip", 1, lens[9]),
        ("eth:vlan:ip:icmp", 1, lens[9]),
    ]
    assert frame_paths(tbl).to_pylist()[9] == "eth:vlan:ip:icmp"


# -- against tshark's io,phs --------------------------------------------------------

PHS_CAPTURES = [
    "dpkt/examples/data/http.pcap",                 # HTTP with media types tracedoc does not decode
    "dpkt/examples/data/nb6-http.pcap",             # PPPoE, L2TP tunnel, DNS quoted in ICMP
    "dpkt/examples/data/dns_icmp.pcap",
    "tcpdump/tests/icmpv6.pcap",                    # ICMPv6 after extension headers
    "tcpdump/tests/vxlan.pcap",                     # ICMP and ARP inside VXLAN
    "zeek/testing/btest/Traces/tunnels/gre-erspan3-dot1q.pcap",  # a VLAN inside ERSPAN
    "pcapng-test-generator/output_le/basic/test009.pcapng",      # packet comments
]

TUNNELS = {"gre", "vxlan", "geneve", "gtp", "erspan", "l2tp", "teredo", "ah", "esp", "ipcomp"}


def tshark_phs(path: Path) -> dict[tuple[str, ...], int]:
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-q", "-z", "io,phs"], capture_output=True,
                         text=True, timeout=600, check=False).stdout
    nodes: dict[tuple[str, ...], int] = {}
    stack: list[str] = []
    for line in out.splitlines():
        if "frames:" not in line:
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        stack = stack[:depth] + [line.split()[0]]
        nodes[tuple(stack)] = nodes.get(tuple(stack), 0) + int(line.split("frames:")[1].split()[0])
    return nodes


@pytest.mark.corpus
@pytest.mark.skipif(not have_corpus() or not have_tshark(), reason="needs ../shared/corpus and tshark")
@pytest.mark.parametrize("rel", PHS_CAPTURES)
def test_hierarchy_agrees_with_tshark(rel, cache):
    """Frame counts per protocol path agree with tshark's io,phs on every node
    tracedoc can build.  Left out, and printed: tshark's nodes naming a
    protocol tracedoc does not decode (``data``, ``data-text-lines``, ``xml``,
    ``tcp.segments``, ``l2tp``, ``lcp`` ...) — their frames count in the
    nearest decoded ancestor — and nodes inside a tunnel (under gre, vxlan,
    erspan, l2tp, ...), since the packet table holds only the first
    occurrence of each header."""
    path = CORPUS / rel
    if not path.exists():
        pytest.skip(f"{rel} is not in the corpus")
    key = f"tracedoc/io_phs/{rel}"
    st = path.stat()
    got = cache.get(key, None)
    if got is None or got["stamp"] != [st.st_size, st.st_mtime_ns]:
        got = {"stamp": [st.st_size, st.st_mtime_ns],
               "nodes": [[list(k), v] for k, v in tshark_phs(path).items()]}
        cache.set(key, got)
    theirs = {tuple(k): v for k, v in got["nodes"]}
    tbl = tracedoc.open(path).table(COLUMNS)
    ours = {tuple(r["path"].split(":")): r["frames"] for r in protocol_hierarchy(tbl).to_pylist()}
    known = {p for node in ours for p in node} | {"eth", "ip", "ipv6", "tcp", "udp", "icmp", "icmpv6", "arp",
                                                  "vlan", "pppoes", "ppp", "mpls", "sll", "raw", "null"}
    compared, left_out = 0, []
    for node, frames in theirs.items():
        if node not in ours and (any(p in TUNNELS for p in node[:-1]) or not all(p in known for p in node)):
            left_out.append("/".join(node))
            continue
        compared += 1
        assert ours.get(node) == frames, ("/".join(node), frames, ours.get(node))
    # Every node tracedoc builds is one tshark has.
    assert set(ours) <= set(theirs), set(ours) - set(theirs)
    print(f"\n{rel}: {compared} nodes agree; left out: {left_out}")
    assert compared >= 3


# -- the command ------------------------------------------------------------------------

def run(*args: str):
    return CliRunner().invoke(hosts_command, list(args), catch_exceptions=False)


def test_cli_table_csv_json(tmp_path):
    p, _ = table(tmp_path)
    r = run(str(p))
    assert r.exit_code == 0, r.output
    assert "IP Summary  5 addresses" in r.output and CLIENT in r.output and "dns http icmp tcp udp" in r.output
    r = run(str(p), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert rows[0]["address"] == CLIENT and rows[0]["packets_sent"] == "5"
    assert rows[0]["protocols"] == "dns http icmp tcp udp"
    r = run(str(p), "--format", "json")
    out = json.loads(r.output)["hosts"]
    assert out[0]["address"] == CLIENT and out[0]["first_seen"] == pytest.approx(T0 / 1e9)


def test_cli_filter_keeps_whole_sessions(tmp_path):
    p, _ = table(tmp_path)
    r = run(str(p), "-Y", "http", "--format", "json")
    rows = {x["address"]: x for x in json.loads(r.output)["hosts"]}
    assert set(rows) == {CLIENT, SERVER}
    assert rows[CLIENT]["packets_sent"] == 1 and rows[CLIENT]["packets_received"] == 1
    # The TCP connection the HTTP packets belong to counts once; the ping and DNS do not.
    assert (rows[CLIENT]["sessions_opened"], rows[SERVER]["sessions_accepted"]) == (1, 1)


def test_cli_hierarchy(tmp_path):
    p, _ = table(tmp_path)
    r = run(str(p), "--hierarchy")
    assert r.exit_code == 0 and "Protocol Hierarchy" in r.output
    assert "      http" in r.output
    r = run(str(p), "--hierarchy", "--format", "csv", "-Y", "udp")
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert [(x["path"], x["frames"]) for x in rows] == [("eth", "3"), ("eth:ip", "2"), ("eth:ip:udp", "2"),
                                                         ("eth:ip:udp:dns", "2"), ("eth:ipv6", "1"),
                                                         ("eth:ipv6:udp", "1")]
    out = json.loads(run(str(p), "--hierarchy", "--format", "json").output)
    assert out["protocols"][0] == {"path": "eth", "protocol": "eth", "depth": 0, "frames": 10,
                                   "bytes": sum(len(f) for _, f in traffic())}
