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

import pyarrow as pa
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


TUNNEL_A, TUNNEL_B = "192.0.2.1", "192.0.2.2"


def gre(src: str, dst: str, inner_ip: bytes) -> bytes:
    """An IPv4 packet in GRE (RFC 2784: no options, protocol type IPv4)."""
    return v4(src, dst, 47, struct.pack("!HH", 0, 0x0800) + inner_ip)


def test_tunnelled_frames_count_for_the_tunnel_ends_and_the_inner_hosts(tmp_path):
    """Like Wireshark's Endpoints table, every IP header's addresses count:
    the tunnel ends with the tunnel's protocol, the inner hosts with theirs."""
    syn = g.ipv4(CLIENT, SERVER, 6, g.tcp(40000, 80, 100, 0, 0x02, 65535))            # 40 bytes
    ack = g.ipv4(CLIENT, SERVER, 6, g.tcp(40000, 80, 101, 901, 0x10, 65535))          # 40
    timed = [
        (0, gre(TUNNEL_A, TUNNEL_B, syn)),                                                # 20+4+40 = 64
        (1, v4(SERVER, CLIENT, 6, g.tcp(80, 40000, 900, 101, 0x12, 65535))),              # 40, outside
        (2, v4(TUNNEL_A, TUNNEL_B, 41, g.ipv6(V6A, V6B, 17, g.udp(40001, 9999, b"x" * 12)))),  # 6in4: 20+60
        (3, gre(CLIENT, TUNNEL_B, ack)),                                                  # 64; the client ends it
        (4, gre(TUNNEL_A, TUNNEL_B, g.ipv4(CLIENT, RESOLVER, 17, g.udp(4000, 53, QUERY)))),  # 20+4+55 = 79
        # VXLAN (RFC 7348, VNI 42) carrying an Ethernet frame: 20+8+8+14+32 = 82
        (5, v4(TUNNEL_A, TUNNEL_B, 17, g.udp(50000, 4789, struct.pack("!II", 0x08000000, 42 << 8) + g.ether(
            MAC_B, MAC_A, 0x0800, g.ipv4(CLIENT, SERVER, 17, g.udp(4001, 9999, b"y" * 4)))))),
    ]
    _, tbl = table(tmp_path, timed)
    rows = {r["address"]: r for r in hosts(tbl).to_pylist()}
    assert set(rows) == {CLIENT, SERVER, RESOLVER, TUNNEL_A, TUNNEL_B, V6A, V6B}

    def figures(a: str) -> tuple:
        r = rows[a]
        return r["packets_sent"], r["packets_received"], r["bytes_sent"], r["bytes_received"], r["protocols"]

    assert figures(TUNNEL_A) == (4, 0, 64 + 80 + 79 + 82, 0, ["gre", "ipv6", "udp", "vxlan"])
    assert figures(TUNNEL_B) == (0, 5, 0, 64 + 80 + 64 + 79 + 82, ["gre", "ipv6", "udp", "vxlan"])
    # Frame 4 counts once for the client, though it is in both headers; the
    # bytes are the outermost header's (the table has no inner length).
    assert figures(CLIENT) == (4, 1, 64 + 64 + 79 + 82, 40, ["dns", "gre", "tcp", "udp"])
    assert figures(SERVER) == (1, 3, 40, 64 + 64 + 82, ["tcp", "udp"])
    assert figures(RESOLVER) == (0, 1, 0, 79, ["dns", "udp"])
    assert figures(V6A) == (1, 0, 80, 0, ["udp"]) and figures(V6B) == (0, 1, 0, 80, ["udp"])
    assert (rows[TUNNEL_A]["first_seen"], rows[TUNNEL_A]["last_seen"]) == (T0, T0 + 5 * MS)


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


# -- against tshark's endpoints ------------------------------------------------------

EXTRA_ENDPOINT_CAPTURES = [
    "zeek/testing/btest/Traces/erspan.pcap",
    "dpkt/examples/data/dns_icmp.pcap",             # IP headers quoted in ICMP errors count for nobody
    "dpkt/examples/data/nb6-http.pcap",
    "tcpdump/tests/vxlan.pcap",
]


def _endpoint_captures() -> list[str]:
    from tests.support.corpus import DECODED_LINKTYPES, MANIFEST

    out = []
    with open(MANIFEST, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            lts = {int(x.split(":")[0]) for x in row["linktypes"].split() if x.split(":")[0].isdigit()}
            wanted = row["path"].startswith("zeek/testing/btest/Traces/tunnels/") \
                or row["path"] in EXTRA_ENDPOINT_CAPTURES
            if wanted and lts and lts <= DECODED_LINKTYPES and not row["tshark_read_error"]:
                out.append(row["path"])
    return out


def tshark_endpoints(path: Path) -> dict[str, list[int]]:
    """Address -> [Tx packets, Rx packets] of ``tshark -z endpoints,ip -z endpoints,ipv6``."""
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-q", "-z", "endpoints,ip", "-z", "endpoints,ipv6"],
                         capture_output=True, text=True, timeout=600, check=False).stdout
    got: dict[str, list[int]] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 7 and parts[1].isdigit():
            got[parts[0]] = [int(parts[3]), int(parts[5])]
    return got


def tshark_repeated(path: Path) -> list[str]:
    """Addresses that occur in more than one IP header of some frame."""
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=a", "-E", "separator=,",
                          "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst"],
                         capture_output=True, text=True, timeout=600, check=False).stdout
    rep: set[str] = set()
    for line in out.splitlines():
        addrs = [a for a in line.split(",") if a]
        rep |= {a for a in addrs if addrs.count(a) > 1}
    return sorted(rep)


@pytest.mark.corpus
@pytest.mark.skipif(not have_corpus() or not have_tshark(), reason="needs ../shared/corpus and tshark")
def test_packet_counts_agree_with_tshark_endpoints(cache):
    """Over the tunnel captures, every address the IP Summary lists sent and
    received as many packets as tshark's IPv4/IPv6 Endpoints table says: the
    outer and the innermost header of a tunnelled frame both count.  Left
    out, counted and printed: addresses that occur in two IP headers of one
    frame (a host ending its own tunnel, or a quote in an ICMP error), which
    tshark counts once per header and tracedoc once per frame; and addresses
    tracedoc does not list at all, which are in a header the packet table
    does not keep (between the outermost and the innermost of a tunnel in a
    tunnel) or behind a tunnel tracedoc does not decode."""
    caps = _endpoint_captures()
    assert len(caps) >= 30
    counts = {"compared": 0, "in two headers": 0, "not listed": 0}
    bad, unlisted = [], []
    no_sessions = pa.table({"initiator_ip": pa.array([], pa.string()), "responder_ip": pa.array([], pa.string())})
    for rel in caps:
        path = CORPUS / rel
        st = path.stat()
        key = f"tracedoc/endpoints/{rel}"
        got = cache.get(key, None)
        if got is None or got["stamp"] != [st.st_size, st.st_mtime_ns]:
            got = {"stamp": [st.st_size, st.st_mtime_ns], "endpoints": tshark_endpoints(path),
                   "repeated": tshark_repeated(path)}
            cache.set(key, got)
        theirs, repeated = got["endpoints"], set(got["repeated"])
        mine = {r["address"]: [r["packets_sent"], r["packets_received"]]
                for r in hosts(tracedoc.open(path).table(COLUMNS), no_sessions).to_pylist()}
        for addr in sorted(set(theirs) | set(mine)):
            if addr in repeated:
                counts["in two headers"] += 1
            elif addr not in mine:
                counts["not listed"] += 1
                unlisted.append(f"{rel}: {addr}")
            else:
                counts["compared"] += 1
                if theirs.get(addr) != mine[addr]:
                    bad.append((rel, addr, theirs.get(addr), mine[addr]))
    print(f"\nIP Summary packet counts vs tshark endpoints over {len(caps)} captures: {counts}")
    for u in unlisted:
        print("   not listed:", u)
    for b in bad[:20]:
        print("  ", b)
    assert bad == []
    assert counts["compared"] >= 100


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
