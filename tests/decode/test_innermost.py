"""The innermost IP header and ports of tunnelled frames (tracedoc.tunnel.*),
checked against tshark's last occurrence of ip/ipv6 addresses and UDP/TCP
ports on frames built for the test: GRE, IPv4-in-IPv4, 6in4, VXLAN, a
tunnel inside a tunnel; and absent on plain frames and ICMP quotes."""

from __future__ import annotations

import ipaddress
import struct
import subprocess
from pathlib import Path

import pytest

import tracedoc
from tests.support import pcapgen as g
from tests.support.corpus import have_tshark
from tracedoc.analyze.endpoints import address_text

A, B = g.MAC_A, g.MAC_B


def _gre(proto: int, payload: bytes) -> bytes:
    return struct.pack("!HH", 0, proto) + payload


def _vxlan(inner_frame: bytes) -> bytes:
    return struct.pack("!II", 0x08000000, 42 << 8) + inner_frame


INNER_UDP = g.ipv4("192.168.1.10", "192.168.1.53", 17, g.udp(33333, 53, b"\x12\x34" + bytes(10)))
INNER_TCP = g.ipv4("172.16.0.5", "172.16.0.6", 6, g.tcp(41000, 443, 1, 0, 0x002, 1000))
FRAMES = {
    "gre": g.ether(B, A, 0x0800, g.ipv4("10.0.0.1", "10.0.0.2", 47, _gre(0x0800, INNER_UDP))),
    "ipip": g.ether(B, A, 0x0800, g.ipv4("10.0.0.1", "10.0.0.2", 4, INNER_TCP)),
    "6in4": g.ether(B, A, 0x0800, g.ipv4("10.0.0.1", "10.0.0.2", 41, g.ipv6(
        "2001:db8::a", "2001:db8::b", 17, g.udp(5000, 6000, b"x")))),
    "vxlan": g.ether(B, A, 0x0800, g.ipv4("10.0.0.1", "10.0.0.2", 17, g.udp(
        50000, 4789, _vxlan(g.ether(A, B, 0x0800, INNER_TCP))))),
    "gre_in_vxlan": g.ether(B, A, 0x0800, g.ipv4("10.0.0.1", "10.0.0.2", 17, g.udp(
        50001, 4789, _vxlan(g.ether(A, B, 0x0800, g.ipv4("10.1.0.1", "10.1.0.2", 47, _gre(0x0800, INNER_UDP))))))),
    "plain": g.UDP_DNS,
    "quote": g.ICMP_UNREACH,
}
COLUMNS = ["tracedoc.tunnel.src", "tracedoc.tunnel.dst", "tracedoc.tunnel.proto", "tracedoc.tunnel.srcport",
           "tracedoc.tunnel.dstport"]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    recs = [g.Rec(g.BASE_TS + i * 1000, f, len(f)) for i, f in enumerate(FRAMES.values())]
    path = tmp_path_factory.mktemp("tunnels") / "tunnels.pcap"
    path.write_bytes(g.pcap_file(recs)[0])
    return path


def _ours(path: Path) -> list[dict]:
    rows = tracedoc.open(path).table(COLUMNS).to_pylist()
    for r in rows:
        for k in ("tracedoc.tunnel.src", "tracedoc.tunnel.dst"):
            r[k] = address_text(r[k]) if r[k] is not None else None
    return rows


def test_plain_frames_and_quotes_are_not_tunnels(capture: Path) -> None:
    rows = dict(zip(FRAMES, _ours(capture)))
    for name in ("plain", "quote"):
        assert all(v is None for v in rows[name].values()), rows[name]


@pytest.mark.skipif(not have_tshark(), reason="tshark is not installed (scripts/setup.sh installs it)")
def test_innermost_is_tsharks_last_occurrence(capture: Path) -> None:
    fields = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "udp.srcport", "udp.dstport", "tcp.srcport",
              "tcp.dstport", "ip.proto"]
    cmd = ["tshark", "-n", "-r", str(capture), "-T", "fields", "-E", "occurrence=a", "-d", "udp.port==4789,vxlan"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout.splitlines()
    ours = _ours(capture)
    for name, line, got in zip(FRAMES, out, ours):
        if name in ("plain", "quote"):
            continue
        v = dict(zip(fields, [x.split(",") if x else [] for x in line.split("\t")]))
        # The innermost IP header: the last one tshark shows, whichever family.
        n4, n6 = len(v["ip.src"]), len(v["ipv6.src"])
        assert n4 + n6 >= 2, (name, v)
        if n6 and name == "6in4":
            want_src, want_dst = v["ipv6.src"][-1], v["ipv6.dst"][-1]
        else:
            want_src, want_dst = v["ip.src"][-1], v["ip.dst"][-1]
        assert got["tracedoc.tunnel.src"] == str(ipaddress.ip_address(want_src)), name
        assert got["tracedoc.tunnel.dst"] == str(ipaddress.ip_address(want_dst)), name
        # The transport after it: TCP if the frame has one, else the last UDP header.
        if v["tcp.srcport"]:
            assert (got["tracedoc.tunnel.proto"], got["tracedoc.tunnel.srcport"], got["tracedoc.tunnel.dstport"]) \
                == (6, int(v["tcp.srcport"][-1]), int(v["tcp.dstport"][-1])), name
        else:
            assert (got["tracedoc.tunnel.proto"], got["tracedoc.tunnel.srcport"], got["tracedoc.tunnel.dstport"]) \
                == (17, int(v["udp.srcport"][-1]), int(v["udp.dstport"][-1])), name


def test_fragmented_outer_header(tmp_path: Path) -> None:
    """A GRE datagram fragmented on the outer IP header: the frame that
    completes it carries the reassembled inner header's addresses and ports."""
    payload = _gre(0x0800, g.ipv4("192.168.9.1", "192.168.9.2", 17, g.udp(1111, 2222, bytes(60))))
    cut = 40  # a multiple of 8
    first = g.ether(B, A, 0x0800, g.ipv4("10.0.0.1", "10.0.0.2", 47, payload[:cut], ident=0x77, flags_frag=0x2000))
    last = g.ether(B, A, 0x0800, g.ipv4("10.0.0.1", "10.0.0.2", 47, payload[cut:], ident=0x77,
                                        flags_frag=cut // 8))
    path = tmp_path / "frag.pcap"
    path.write_bytes(g.pcap_file([g.Rec(g.BASE_TS, first, len(first)), g.Rec(g.BASE_TS + 1000, last, len(last))])[0])
    rows = _ours(path)
    assert rows[0]["tracedoc.tunnel.src"] is None
    assert (rows[1]["tracedoc.tunnel.src"], rows[1]["tracedoc.tunnel.dst"], rows[1]["tracedoc.tunnel.proto"],
            rows[1]["tracedoc.tunnel.srcport"], rows[1]["tracedoc.tunnel.dstport"]) == \
        ("192.168.9.1", "192.168.9.2", 17, 1111, 2222)
