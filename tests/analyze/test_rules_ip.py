"""The IP, ARP and scan rules (``ip.discarded``, ``ip.routing_loop``,
``ip.broadcast_storm``, ``arp.duplicate_address``, ``scan.port_scan``,
``scan.address_scan``) on traces built here packet by packet, on the seed's
CTRACE record, on a CTRACE fixture and on corpus captures.

The expected evidence comes from how each trace was built (the test's own
log of which frame is what) or from tshark's selection of the frames, never
from tracedoc.  Each rule is shown firing on its fault and staying quiet on
the look-alikes it must not take for one.

``tests/data/ip/ctrace_discards.txt`` is written by :func:`discard_fixture`
(``python -m tests.analyze.test_rules_ip`` rewrites it); a test checks it is
current.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import tracedoc
from tests.support import ctrace_render as cr
from tests.support import pcapgen as g
from tests.support.corpus import CORPUS, have_corpus, have_tshark
from tracedoc.analyze.diagnose import Evidence, diagnose, diagnosis_columns
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import all_rules, settings
from tracedoc.analyze.summary import infer_local

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
FIXTURE = DATA / "ip" / "ctrace_discards.txt"
OURS = ("ip.discarded", "ip.routing_loop", "ip.broadcast_storm", "arp.duplicate_address", "scan.port_scan",
        "scan.address_scan")
needs_tshark = pytest.mark.skipif(not have_tshark(), reason="tshark is not installed")
T0 = 1_700_000_000 * 1_000_000_000
BCAST = "ff:ff:ff:ff:ff:ff"
ZERO = "00:00:00:00:00:00"


# ------------------------------------------------------------------ building traces


def _l4sum(src: bytes, dst: bytes, proto: int, seg: bytes) -> int:
    return g.inet_checksum(src + dst + struct.pack("!BBH", 0, proto, len(seg)) + seg) or 0xFFFF


def udp4(src: str, dst: str, sport: int, dport: int, payload: bytes, *, ttl: int = 64, ident: int = 0x1000,
         df: bool = True) -> bytes:
    """An IPv4/UDP datagram with a real UDP checksum (it covers the payload, not the TTL)."""
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    seg = seg[:6] + struct.pack("!H", _l4sum(g.ip4(src), g.ip4(dst), 17, seg)) + seg[8:]
    return g.ipv4(src, dst, 17, seg, ttl=ttl, ident=ident, flags_frag=0x4000 if df else 0)


def with_ttl(dgram: bytes, ttl: int) -> bytes:
    """The IPv4 datagram as a router forwards it: another TTL, the header checksum made again."""
    hdr = dgram[:8] + bytes([ttl]) + dgram[9:10] + b"\0\0" + dgram[12:20]
    return hdr[:10] + struct.pack("!H", g.inet_checksum(hdr)) + dgram[12:]


def echo4(src: str, dst: str, ident: int, seq: int, *, ttl: int = 64, ip_id: int = 0x2000, reply: bool = False
          ) -> bytes:
    return g.ipv4(src, dst, 1, g.icmp(0 if reply else 8, 0, struct.pack("!HH", ident, seq), b"abcdefgh" * 4),
                  ttl=ttl, ident=ip_id, flags_frag=0)


def tcp4(src: str, dst: str, sport: int, dport: int, flags: int, *, seq: int = 1000, ack: int = 0,
         payload: bytes = b"", ttl: int = 64, ident: int = 0x3000) -> bytes:
    return g.ipv4(src, dst, 6, g.tcp(sport, dport, seq, ack, flags, 64240, payload=payload), ttl=ttl, ident=ident)


def eth(ip: bytes, src_mac: str = g.MAC_A, dst_mac: str = g.MAC_B, etype: int = 0x0800) -> bytes:
    return g.ether(dst_mac, src_mac, etype, ip)


def arp(op: int, sha: str, spa: str, tha: str, tpa: str) -> bytes:
    dst = BCAST if op == 1 else tha
    return g.ether(dst, sha, 0x0806, g.arp(op, sha, spa, tha, tpa) + bytes(18))


def sll(pkttype: int, mac: str, ip: bytes) -> bytes:
    """A Linux cooked (``tcpdump -i any``) header before an IPv4 packet."""
    return struct.pack("!HHH", pkttype, 1, 6) + g.mac(mac) + b"\0\0" + struct.pack("!H", 0x0800) + ip


class Trace:
    """Frames and what each one is, written as a pcap."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, bytes]] = []
        self.t = T0

    def add(self, data: bytes, dt_ns: int = 1_000_000) -> int:
        self.t += dt_ns
        self.frames.append((self.t, data))
        return len(self.frames)

    def write(self, path: Path, linktype: int = 1) -> Path:
        recs = [g.Rec(ts, data, len(data)) for ts, data in self.frames]
        path.write_bytes(g.pcap_file(recs, network=linktype)[0])
        return path


def findings(path: Path, *overrides: str, rules: tuple[str, ...] = OURS) -> list[Finding]:
    """The findings of ``rules``, on the columns ``tracedoc diagnose`` decodes for them (each rule
    names what it reads)."""
    every = all_rules()
    chosen = [r for r in every if r.id in rules]
    tbl = tracedoc.open(path).table(diagnosis_columns(chosen))
    return diagnose(Evidence(tbl, infer_local(tbl)), chosen, settings(every, list(overrides)))


def of(found: list[Finding], rule: str) -> list[Finding]:
    """The findings of ``rule``, whether reported or nested under a cause."""
    out = []
    for f in found:
        if f.rule == rule:
            out.append(f)
        out += of(f.symptoms, rule)
    return out


def tshark_frames(path: Path, flt: str) -> list[int]:
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", flt, "-T", "fields", "-e", "frame.number"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return [int(x) for x in out.split()]


def background(tr: Trace, n: int = 6) -> list[int]:
    """A little ordinary traffic: a DNS exchange and pings that must not disturb anything."""
    out = []
    for i in range(n):
        out.append(tr.add(eth(udp4("10.0.0.1", "10.0.0.53", 40000 + i, 53, b"q" * 30, ident=0x100 + i))))
        out.append(tr.add(eth(udp4("10.0.0.53", "10.0.0.1", 53, 40000 + i, b"a" * 60, ident=0x200 + i),
                              g.MAC_B, g.MAC_A)))
    return out


# ------------------------------------------------------------------ ip.discarded


def discard_fixture() -> tuple[str, dict[int, list[int]]]:
    """The CTRACE text of ``tests/data/ip/ctrace_discards.txt`` and, per discard code, the record
    numbers (= frame numbers) that carry it.

    A z/OS stack on 172.29.96.1 (OSDL, QDIO Ethernet): ordinary traffic (a DNS exchange, a TCP
    handshake) among NetBIOS name-service broadcasts from two Windows hosts to the directed broadcast
    172.29.191.255 that it discards inbound with 4114 (IP_MAC_BRDCST, the seed's case); TCP SYNs to an
    address it does not own, discarded with 4167 (IP_NO_FWD); and a UDP datagram discarded with 12290, a
    UDP-layer code tracedoc's table does not name."""
    nbns = bytes.fromhex("84e20110000100000000000020464946") + b"AFGEJFCEHEJEOCACACACACACACACAAA\x00\x00\x20\x00\x01"
    query = b"\x12\x34\x01\x00\x00\x01" + bytes(6) + b"\x01a\x00\x00\x01\x00\x01"
    answer = b"\x12\x34\x81\x83" + query[4:]
    plan: list[tuple[bytes, str, int | None]] = [
        (udp4("172.29.96.1", "172.29.1.53", 1030, 53, query, ident=0x0101), "Out", None),
        (udp4("172.29.96.9", "172.29.191.255", 137, 137, nbns, ttl=128, ident=0x78B7, df=False), "In", 4114),
        (udp4("172.29.1.53", "172.29.96.1", 53, 1030, answer, ident=0x0202), "In", None),
        (tcp4("10.9.9.9", "172.29.96.77", 50123, 443, 0x002, ident=0x0303), "In", 4167),
        (udp4("172.29.96.9", "172.29.191.255", 137, 137, nbns, ttl=128, ident=0x78B8, df=False), "In", 4114),
        (tcp4("172.29.96.5", "172.29.96.1", 40001, 23, 0x002, ident=0x0404), "In", None),
        (tcp4("172.29.96.1", "172.29.96.5", 23, 40001, 0x012, ack=1001, ident=0x0505), "Out", None),
        (udp4("172.29.96.22", "172.29.191.255", 137, 137, nbns, ttl=128, ident=0x2D70, df=False), "In", 4114),
        (tcp4("10.9.9.9", "172.29.96.77", 50123, 443, 0x002, ident=0x0606), "In", 4167),
        (udp4("172.29.96.30", "172.29.96.1", 5000, 6000, b"x" * 12, ident=0x0707), "In", 12290),
        (udp4("172.29.96.9", "172.29.191.255", 137, 137, nbns, ttl=128, ident=0x78B9, df=False), "In", 4114),
    ]
    pkts = [cr.Packet(data, cr.FIXTURE_TS + i * 2_500_000, direction=d, discard=code)
            for i, (data, d, code) in enumerate(plan)]
    codes: dict[int, list[int]] = {}
    for i, (_, _, code) in enumerate(plan):
        if code is not None:
            codes.setdefault(code, []).append(i + 1)
    return cr.render(pkts, system="SOW1"), codes


def test_discard_fixture_is_current() -> None:
    assert FIXTURE.read_text() == discard_fixture()[0], "run: python -m tests.analyze.test_rules_ip"


def test_discarded_seed_record() -> None:
    # The seed's "Check the Offending Packets" record: inbound netbios-ns from 172.29.96.9 to
    # 172.29.191.255, Discard : 4114 (IP_MAC_BRDCST).
    found = of(findings(DATA / "ctrace" / "seed_discard_4114.txt"), "ip.discarded")
    assert len(found) == 1
    f = found[0]
    assert f.category == "Traffic Errors" and f.frames == [1]
    assert f.details["code"] == 4114 and f.details["name"] == "IP_MAC_BRDCST" and f.details["count"] == 1
    assert f.details["category"] == "Interface and IP layer"
    assert "broadcast" in f.details["meaning"].lower()
    assert f.details["flows"] == [{"src": "172.29.96.9", "dst": "172.29.191.255", "proto": "udp", "sport": 137,
                                   "dport": 137, "direction": "In", "count": 1}]
    assert "4114" in f.summary and "IP_MAC_BRDCST" in f.summary


def test_discarded_counts_per_code_and_flow() -> None:
    _, codes = discard_fixture()
    found = {f.details["code"]: f for f in of(findings(FIXTURE), "ip.discarded")}
    assert set(found) == set(codes)
    for code, frames in codes.items():
        assert found[code].frames == frames and found[code].details["count"] == len(frames)
    b = found[4114].details
    assert b["name"] == "IP_MAC_BRDCST" and b["directions"] == {"In": 4}
    # Per flow: three from 172.29.96.9, one from 172.29.96.22 (the busiest first).
    assert [(x["src"], x["count"]) for x in b["flows"]] == [("172.29.96.9", 3), ("172.29.96.22", 1)]
    assert b["flow_count"] == 2
    assert found[4167].details["name"] == "IP_NO_FWD"
    assert found[4167].details["flows"][0] | {"count": 0} == {
        "src": "10.9.9.9", "dst": "172.29.96.77", "proto": "tcp", "sport": 50123, "dport": 443, "direction": "In",
        "count": 0}
    u = found[12290].details
    assert u["category"] == "UDP layer" and u["name"] == "code 12290"
    assert "does not hold" in found[12290].explanation
    # --set limits the flows listed, not the count.
    limited = {f.details["code"]: f for f in of(findings(FIXTURE, "ip.discarded.max_flows=1"), "ip.discarded")}
    assert len(limited[4114].details["flows"]) == 1 and limited[4114].details["flow_count"] == 2


def test_discarded_quiet_without_discards(tmp_path: Path) -> None:
    assert not of(findings(DATA / "ctrace" / "ipv6.txt"), "ip.discarded")
    tr = Trace()
    background(tr)
    assert not of(findings(tr.write(tmp_path / "plain.pcap")), "ip.discarded")


# ------------------------------------------------------------------ ip.routing_loop


def test_routing_loop_seed_broadcast(tmp_path: Path) -> None:
    """The seed's case: one NetBIOS name query broadcast to 172.29.191.255 (IP id 0x2D70) seen 127
    times, TTL 127, 126, ... 1, amid other traffic."""
    tr = Trace()
    nbns = bytes.fromhex("c9550110000100000000000020464746") + b"EFDEJEBCACACACACACACACACACACAAA\x00\x00\x20\x00\x01"
    looped = []
    background(tr, 2)
    for ttl in range(127, 0, -1):
        looped.append(tr.add(eth(udp4("172.29.96.22", "172.29.191.255", 137, 137, nbns, ttl=ttl, ident=0x2D70,
                                      df=False), "08:00:5a:1d:60:16", BCAST), 700_000))
        if ttl % 40 == 0:
            background(tr, 1)
    path = tr.write(tmp_path / "loop.pcap")
    found = of(findings(path), "ip.routing_loop")
    assert len(found) == 1
    f = found[0]
    assert f.frames == looped
    if have_tshark():
        assert f.frames == tshark_frames(path, "ip.id == 0x2d70 && udp.port == 137")
    d = f.details
    assert (d["src"], d["dst"], d["proto"], d["dport"]) == ("172.29.96.22", "172.29.191.255", "udp", 137)
    assert (d["ttl_first"], d["ttl_last"], d["sightings"], d["datagrams"], d["ttl_step"]) == (127, 1, 127, 1, 1)
    assert d["cast"] == "broadcast" and d["ip_id"] == 0x2D70
    assert "broadcast" in f.summary and "127" in f.summary


def test_routing_loop_ping_between_two_routers(tmp_path: Path) -> None:
    """Two pings into 10.9.0.0/24 bounce between two routers; a capture that sees one direction of
    their link sees each ping once per trip round the loop, two hops lower each time, then the
    router's TTL exceeded; an unrelated datagram forwarded once is seen with TTL 64 and 63 only."""
    tr = Trace()
    loop: list[int] = []
    for seq in (1, 2):
        for ttl in range(63, 0, -2):
            loop.append(tr.add(eth(echo4("10.1.0.2", "10.9.0.5", 0x77, seq, ttl=ttl, ip_id=0x4000 + seq)), 50_000))
        tr.add(eth(g.ipv4("10.0.0.254", "10.1.0.2", 1, g.icmp(11, 0, bytes(4), echo4(
            "10.1.0.2", "10.9.0.5", 0x77, seq, ttl=1, ip_id=0x4000 + seq)[:28]), ident=0x99, flags_frag=0)))
        tr.add(eth(udp4("10.1.0.2", "10.2.0.9", 5353, 9999, b"once", ttl=64, ident=0x5000 + seq)))
        tr.add(eth(udp4("10.1.0.2", "10.2.0.9", 5353, 9999, b"once", ttl=63, ident=0x5000 + seq)))
    path = tr.write(tmp_path / "ping_loop.pcap")
    found = findings(path, rules=("ip.routing_loop", "icmp.ttl_exceeded"))
    loops = of(found, "ip.routing_loop")
    assert len(loops) == 1
    assert loops[0].frames == loop
    if have_tshark():
        assert loops[0].frames == tshark_frames(path, "icmp.type == 8 && ip.dst == 10.9.0.5 && !(icmp.type == 11)")
    d = loops[0].details
    assert (d["datagrams"], d["max_sightings"], d["ttl_first"], d["ttl_last"], d["ttl_step"]) == (2, 32, 63, 1, 2)
    assert d["proto"] == "icmp" and d["cast"] is None
    # The router at the end of the TTL reports it for the same destination: a symptom of the loop.
    ttl = [s for f in found for s in [f, *f.symptoms] if s.rule == "icmp.ttl_exceeded"]
    assert len(ttl) == 1 and (ttl[0].details["src"], ttl[0].details["dst"]) == (d["src"], d["dst"])


def test_routing_loop_ipv6_hop_limit(tmp_path: Path) -> None:
    tr = Trace()
    frames = [tr.add(g.ether(g.MAC_B, g.MAC_A, 0x86DD, g.ipv6("2001:db8::1", "2001:db8:9::5", 17,
                                                              g.udp(5000, 53, b"query"), hlim=h)), 20_000)
              for h in range(64, 40, -1)]
    found = of(findings(tr.write(tmp_path / "v6loop.pcap")), "ip.routing_loop")
    assert [f.frames for f in found] == [frames]
    assert (found[0].details["ttl_first"], found[0].details["ttl_last"]) == (64, 41)


def test_routing_loop_not_on_forwarding_seen_twice(tmp_path: Path) -> None:
    """``tcpdump -i any`` on a router: every forwarded datagram shows twice, coming in (TTL 64) and
    going out (TTL 63); retries of one query keep their TTL; traceroute raises it."""
    tr = Trace()
    for i in range(40):
        dgram = udp4("192.168.1.10", "10.20.0.7", 33000 + i, 53, b"query %d" % i, ttl=64, ident=0x6000 + i)
        tr.add(sll(0, "00:11:22:33:44:55", dgram))
        tr.add(sll(4, "66:77:88:99:aa:bb", with_ttl(dgram, 63)), 30_000)
    for _ in range(5):      # the same query retried: same id, same TTL
        tr.add(sll(4, "00:11:22:33:44:55", udp4("192.168.1.10", "10.20.0.7", 33999, 53, b"retry", ident=0x7777)))
    for ttl in range(1, 12):  # traceroute
        tr.add(sll(4, "00:11:22:33:44:55", udp4("192.168.1.10", "10.20.0.7", 40000, 33434 + ttl, b"", ttl=ttl,
                                              ident=0x8888)))
    assert not of(findings(tr.write(tmp_path / "any.pcap", linktype=113)), "ip.routing_loop")


def _pcapng(path: Path, frames: list[tuple[int, bytes]], n_ifaces: int) -> Path:
    """A pcapng file with ``n_ifaces`` Ethernet interfaces: (interface, frame) each, 1 ms apart."""
    out = [g.ng_shb()] + [g.ng_idb(1) for _ in range(n_ifaces)]
    out += [g.ng_epb(g.Rec(T0 + i * 1_000_000, data, len(data)), iface) for i, (iface, data) in enumerate(frames)]
    path.write_bytes(b"".join(out))
    return path


def test_routing_loop_capture_points_along_a_path(tmp_path: Path) -> None:
    """A capture merged from four points along a path sees each datagram once at each, one hop lower
    at each: no loop.  A loop captured on two interfaces comes back to each of them: a loop."""
    path_frames = []
    for i in range(10):
        dgram = udp4("10.1.0.2", "10.4.0.9", 40000 + i, 53, b"query %d" % i, ident=0x900 + i)
        path_frames += [(hop, eth(with_ttl(dgram, 64 - hop))) for hop in range(4)]
    assert not of(findings(_pcapng(tmp_path / "points.pcapng", path_frames, 4)), "ip.routing_loop")
    dgram = udp4("10.1.0.2", "10.4.0.9", 40000, 53, b"looping", ident=0x999)
    loop_frames = [(k % 2, eth(with_ttl(dgram, 64 - k))) for k in range(20)]
    found = of(findings(_pcapng(tmp_path / "loop2.pcapng", loop_frames, 2)), "ip.routing_loop")
    assert [f.frames for f in found] == [list(range(1, 21))]


def test_routing_loop_min_sightings(tmp_path: Path) -> None:
    tr = Trace()
    three = [tr.add(eth(echo4("10.1.0.2", "10.9.0.5", 1, 1, ttl=t, ip_id=0x42))) for t in (64, 62, 60)]
    path = tr.write(tmp_path / "three.pcap")
    assert not of(findings(path), "ip.routing_loop")
    assert [f.frames for f in of(findings(path, "ip.routing_loop.min_sightings=3"), "ip.routing_loop")] == [three]


# ------------------------------------------------------------------ ip.broadcast_storm


def _flood(tr: Trace, n: int, span_ns: int, src: str, mac: str, dst_ip: str = "255.255.255.255",
           dst_mac: str = BCAST) -> list[int]:
    return [tr.add(eth(udp4(src, dst_ip, 5000, 9999, b"flood %d" % i, ident=i & 0xFFFF), mac, dst_mac),
                   span_ns // n) for i in range(n)]


@needs_tshark
def test_broadcast_storm(tmp_path: Path) -> None:
    tr = Trace()
    background(tr)
    for i in range(5):     # a few ordinary broadcasts before the storm
        tr.add(arp(1, "02:00:00:00:00:07", "10.0.0.7", ZERO, f"10.0.0.{20 + i}"), 200_000_000)
    tr.t += 200_000_000
    flood = _flood(tr, 3000, 1_000_000_000, "10.0.0.66", "02:00:00:00:00:66")
    tr.add(eth(udp4("10.0.0.1", "10.0.0.53", 40100, 53, b"q")), 2_000_000_000)
    path = tr.write(tmp_path / "storm.pcap")
    found = of(findings(path), "ip.broadcast_storm")
    assert len(found) == 1
    f = found[0]
    assert f.frames == tshark_frames(path, f"eth.dst == {BCAST} && frame.number >= {flood[0]}")
    assert set(flood) <= set(f.frames)
    d = f.details
    assert d["top_sources"][0] == {"source": "10.0.0.66", "mac": "02:00:00:00:00:66", "packets": 3000}
    assert d["broadcast"] == 3000 and d["multicast"] == 0 and d["peak_in_window"] >= 2990
    assert d["copies"] == 0 and "10.0.0.66" in f.summary


def test_broadcast_storm_thresholds(tmp_path: Path) -> None:
    tr = Trace()
    background(tr)
    _flood(tr, 900, 1_000_000_000, "10.0.0.66", "02:00:00:00:00:66")
    path = tr.write(tmp_path / "busy.pcap")
    assert not of(findings(path), "ip.broadcast_storm")                         # 900/s < 1000/s
    assert of(findings(path, "ip.broadcast_storm.pps=500"), "ip.broadcast_storm")
    assert not of(findings(path, "ip.broadcast_storm.pps=50", "ip.broadcast_storm.min_packets=1000"),
                  "ip.broadcast_storm")
    calm = Trace()
    for i in range(200):       # ARP and NetBIOS chatter: 200 broadcasts over 100 s
        calm.add(arp(1, "02:00:00:00:00:07", "10.0.0.7", ZERO, f"10.0.0.{i % 5 + 1}") if i % 2 else
                 eth(udp4("10.0.0.8", "10.0.0.255", 137, 137, b"name query %d" % i), "02:00:00:00:00:08", BCAST),
                 500_000_000)
    assert findings(calm.write(tmp_path / "calm.pcap")) == []


def test_broadcast_storm_multicast_setting(tmp_path: Path) -> None:
    tr = Trace()
    frames = _flood(tr, 2000, 1_000_000_000, "10.0.0.66", "02:00:00:00:00:66", "239.1.1.1", "01:00:5e:01:01:01")
    path = tr.write(tmp_path / "mcast.pcap")
    found = of(findings(path), "ip.broadcast_storm")
    assert [f.frames for f in found] == [frames] and found[0].details["multicast"] == 2000
    assert not of(findings(path, "ip.broadcast_storm.multicast=0"), "ip.broadcast_storm")


def test_broadcast_storm_of_copies(tmp_path: Path) -> None:
    """A switching loop: the same few broadcasts circling, thousands of times."""
    tr = Trace()
    originals = [arp(1, f"02:00:00:00:00:{i:02x}", f"10.0.0.{i}", ZERO, "10.0.0.254") for i in range(1, 5)]
    for k in range(4000):
        tr.add(originals[k % 4], 200_000)
    f = of(findings(tr.write(tmp_path / "l2loop.pcap")), "ip.broadcast_storm")[0]
    assert f.details["copies"] == 3996 and "switching loop" in f.explanation


# ------------------------------------------------------------------ arp.duplicate_address

MAC_1, MAC_2, MAC_C = "02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:0c"


def _arp_claims_filter(ip: str) -> str:
    """tshark's selection of the frames that claim ``ip`` (the bindings Wireshark checks) or probe for it."""
    return (f"(arp.opcode == 1 || arp.opcode == 2) && ((arp.src.proto_ipv4 == {ip}) || "
            f"(arp.opcode == 2 && arp.dst.proto_ipv4 == {ip}) || "
            f"(arp.opcode == 1 && arp.src.proto_ipv4 == 0.0.0.0 && arp.dst.proto_ipv4 == {ip}))")


@needs_tshark
def test_duplicate_address_both_answer(tmp_path: Path) -> None:
    """Two hosts configured with 10.0.0.5: a client's request gets two replies."""
    tr = Trace()
    background(tr, 2)
    tr.add(arp(1, MAC_C, "10.0.0.9", ZERO, "10.0.0.5"))
    tr.add(arp(2, MAC_1, "10.0.0.5", MAC_C, "10.0.0.9"), 100_000)
    tr.add(arp(2, MAC_2, "10.0.0.5", MAC_C, "10.0.0.9"), 150_000)
    tr.add(eth(echo4("10.0.0.9", "10.0.0.5", 3, 1), MAC_C, MAC_1))
    path = tr.write(tmp_path / "dup.pcap")
    found = of(findings(path), "arp.duplicate_address")
    assert len(found) == 1
    f = found[0]
    assert f.severity == "error" and f.details["kind"] == "both answered" and f.details["ip"] == "10.0.0.5"
    assert f.frames == tshark_frames(path, _arp_claims_filter("10.0.0.5"))
    assert set(tshark_frames(path, "arp.duplicate-address-detected")) <= set(f.frames)
    assert [m["mac"] for m in f.details["macs"]] == [MAC_1, MAC_2]


@needs_tshark
@pytest.mark.parametrize("tha", [ZERO, BCAST])
def test_duplicate_address_probe_answered(tmp_path: Path, tha: str) -> None:
    """RFC 5227: a host probes for 10.0.0.5 (sender 0.0.0.0; target MAC zero as the RFC says, or
    broadcast as busybox's and iputils' ``arping -D`` send it) and the host that has it answers."""
    tr = Trace()
    probe = tr.add(arp(1, MAC_2, "0.0.0.0", tha, "10.0.0.5"))
    tr.add(g.ether(MAC_2, MAC_1, 0x0806, g.arp(2, MAC_1, "10.0.0.5", MAC_2, "0.0.0.0") + bytes(18)), 300_000)
    path = tr.write(tmp_path / "probe.pcap")
    f = of(findings(path), "arp.duplicate_address")
    assert len(f) == 1 and f[0].details["kind"] == "probe answered" and f[0].severity == "error"
    assert probe in tshark_frames(path, "arp.opcode == 1 && arp.src.proto_ipv4 == 0.0.0.0")
    assert f[0].frames == tshark_frames(path, _arp_claims_filter("10.0.0.5"))
    macs = {m["mac"]: m for m in f[0].details["macs"]}
    assert macs[MAC_2]["probes"] == 1 and macs[MAC_1]["claims"] == 1


def test_duplicate_address_two_probers(tmp_path: Path) -> None:
    """RFC 5227 section 2.1.1: another host probing for the same address at the same time is a conflict."""
    tr = Trace()
    frames = [tr.add(arp(1, mac, "0.0.0.0", ZERO, "10.0.0.8"), 400_000_000) for mac in (MAC_1, MAC_2, MAC_1)]
    found = of(findings(tr.write(tmp_path / "probers.pcap")), "arp.duplicate_address")
    assert len(found) == 1 and found[0].details["kind"] == "probe answered" and found[0].frames == frames
    assert "probed for it too" in found[0].summary
    assert [(m["mac"], m["probes"], m["claims"]) for m in found[0].details["macs"]] == [(MAC_1, 2, 0),
                                                                                       (MAC_2, 1, 0)]


def test_duplicate_address_alternating_and_moved(tmp_path: Path) -> None:
    tr = Trace()
    for mac in (MAC_1, MAC_2, MAC_1, MAC_2):             # gratuitous ARPs taking turns: a live conflict
        tr.add(arp(1, mac, "10.0.0.5", ZERO, "10.0.0.5"), 2_000_000_000)
    for mac in (MAC_1, MAC_1, MAC_2, MAC_2):             # 10.0.0.6 moves once: a failover
        tr.add(arp(1, mac, "10.0.0.6", ZERO, "10.0.0.1"), 2_000_000_000)
    found = {f.details["ip"]: f for f in of(findings(tr.write(tmp_path / "turns.pcap")), "arp.duplicate_address")}
    assert found["10.0.0.5"].details["kind"] == "claims alternate" and found["10.0.0.5"].severity == "error"
    assert found["10.0.0.6"].details["kind"] == "changed" and found["10.0.0.6"].severity == "warning"
    assert found["10.0.0.6"].frames == [5, 6, 7, 8]


def test_duplicate_address_quiet(tmp_path: Path) -> None:
    """Ordinary ARP: requests and replies among ten hosts, a host's repeated gratuitous ARPs, a probe
    nobody answers followed by the prober's own announcement, a proxy-ARP-free router answering for
    itself, and broadcast / zero sender MACs (never bindings)."""
    tr = Trace()
    for i in range(1, 11):
        mac = f"02:00:00:00:01:{i:02x}"
        tr.add(arp(1, mac, f"10.0.0.{i}", ZERO, "10.0.0.254"))
        tr.add(arp(2, "02:00:00:00:00:fe", "10.0.0.254", mac, f"10.0.0.{i}"))
        tr.add(arp(1, mac, f"10.0.0.{i}", ZERO, f"10.0.0.{i}"))
    tr.add(arp(1, MAC_2, "0.0.0.0", ZERO, "10.0.0.77"))
    tr.add(arp(1, MAC_2, "0.0.0.0", ZERO, "10.0.0.77"), 1_000_000_000)
    tr.add(arp(1, MAC_2, "10.0.0.77", ZERO, "10.0.0.77"), 2_000_000_000)
    tr.add(arp(1, ZERO, "10.0.0.3", ZERO, "10.0.0.254"))
    tr.add(arp(2, BCAST, "10.0.0.4", MAC_C, "10.0.0.99"))
    assert not of(findings(tr.write(tmp_path / "arp.pcap")), "arp.duplicate_address")


@pytest.mark.skipif(not (have_corpus() and have_tshark()), reason="needs the corpus and tshark")
@pytest.mark.parametrize("rel", ["tcpdump/tests/arp-oobr.pcap", "zeek/testing/btest/Traces/arp-leak.pcap",
                                 "zeek/testing/btest/Traces/linuxsll-arp.pcap"])
def test_duplicate_address_agrees_with_wireshark(rel: str) -> None:
    """The addresses Wireshark reports as duplicates (arp.duplicate-address-detected: a binding whose MAC
    differs from the first one seen for that IP) are the ones the rule reports."""
    path = CORPUS / rel
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", "arp.duplicate-address-detected", "-V"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    flagged = set(re.findall(r"Duplicate IP address detected for ([0-9.]+)", out))
    found = of(findings(path), "arp.duplicate_address")
    assert {f.details["ip"] for f in found if f.details["kind"] != "probe answered"} == flagged
    # Every evidence frame is an ARP request or reply naming the address as sender, reply target or probe.
    rows = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", "arp.opcode == 1 || arp.opcode == 2", "-T",
                           "fields", "-e", "frame.number", "-e", "arp.src.proto_ipv4", "-e", "arp.dst.proto_ipv4"],
                          capture_output=True, text=True, check=True, timeout=60).stdout
    naming: dict[str, set[int]] = {}
    for line in rows.splitlines():
        num, *ips = line.split("\t")
        for ip in ips:
            naming.setdefault(ip, set()).add(int(num))
    for f in found:
        assert set(f.frames) <= naming[f.details["ip"]]


# ------------------------------------------------------------------ scans

SCANNER, TARGET = "10.0.0.66", "10.0.0.10"


def _syn_scan(tr: Trace, ports: list[int], open_ports: set[int], *, gap_ns: int = 2_000_000,
              scanner: str = SCANNER, target: str = TARGET) -> dict[int, list[int]]:
    """A SYN scan: RST for a closed port, SYN-ACK then the scanner's RST for an open one."""
    frames = {}
    for i, port in enumerate(ports):
        sport = 50000 + i
        f = [tr.add(eth(tcp4(scanner, target, sport, port, 0x002, seq=777)), gap_ns)]
        if port in open_ports:
            f.append(tr.add(eth(tcp4(target, scanner, port, sport, 0x012, seq=5, ack=778), g.MAC_B, g.MAC_A), 50_000))
            f.append(tr.add(eth(tcp4(scanner, target, sport, port, 0x004, seq=778)), 50_000))
        else:
            f.append(tr.add(eth(tcp4(target, scanner, port, sport, 0x014, seq=0, ack=778), g.MAC_B, g.MAC_A), 50_000))
        frames[port] = f
    return frames


@needs_tshark
def test_port_scan_tcp(tmp_path: Path) -> None:
    tr = Trace()
    background(tr)
    ports = list(range(1, 101))
    _syn_scan(tr, ports, {22, 80})
    # An ordinary client of the target: one connection with data, not a probe.
    tr.add(eth(tcp4("10.0.0.1", TARGET, 41000, 80, 0x002)))
    tr.add(eth(tcp4(TARGET, "10.0.0.1", 80, 41000, 0x012, seq=9, ack=1001), g.MAC_B, g.MAC_A))
    tr.add(eth(tcp4("10.0.0.1", TARGET, 41000, 80, 0x018, seq=1001, ack=10, payload=b"GET / HTTP/1.0\r\n\r\n")))
    path = tr.write(tmp_path / "scan.pcap")
    found = findings(path, rules=("scan.port_scan", "scan.address_scan", "tcp.connection_refused"))
    scans = of(found, "scan.port_scan")
    assert len(scans) == 1 and not of(found, "scan.address_scan")
    s = scans[0]
    assert s.frames == tshark_frames(path, f"ip.src == {SCANNER} || ip.dst == {SCANNER}")
    d = s.details
    assert (d["scanner"], d["target"], d["ports"], d["closed"], d["filtered"]) == (SCANNER, TARGET, 100, 98, 0)
    assert d["open"] == ["tcp/22", "tcp/80"] and d["tcp_ports"] == 100 and d["max_in_window"] == 100
    # The refused connections the scan causes are sessions of the scan (how the lead nests them).
    refused = of(found, "tcp.connection_refused")
    assert len(refused) == 98 and all(set(r.sessions) <= set(s.sessions) for r in refused)


@needs_tshark
def test_port_scan_udp(tmp_path: Path) -> None:
    """UDP ports met with ICMP port unreachable from the target (and a few with silence)."""
    tr = Trace()
    for i, port in enumerate(range(1000, 1030)):
        probe = udp4(SCANNER, TARGET, 60000, port, b"", ident=0x100 + i)
        tr.add(eth(probe), 5_000_000)
        if port % 10:
            tr.add(eth(g.ipv4(TARGET, SCANNER, 1, g.icmp(3, 3, bytes(4), probe[:28]), ident=0x900 + i,
                              flags_frag=0), g.MAC_B, g.MAC_A))
    path = tr.write(tmp_path / "udpscan.pcap")
    found = findings(path, rules=("scan.port_scan", "icmp.unreachable"))
    s = of(found, "scan.port_scan")
    assert len(s) == 1
    d = s[0].details
    assert (d["udp_ports"], d["closed"], d["filtered"], d["open"]) == (30, 27, 3, [])
    assert s[0].frames == tshark_frames(path, "udp || icmp")
    assert all(set(u.frames) <= set(s[0].frames) for u in of(found, "icmp.unreachable"))


def test_port_scan_look_alikes(tmp_path: Path) -> None:
    """Not scans: a traceroute (UDP, one port per probe, TTL 1, 2, 3 ... answered by time exceeded and, at
    the end, port unreachable); many connections with data to one port; a slow scan beyond the window."""
    tr = Trace()
    for ttl in range(1, 31):
        probe = udp4(SCANNER, TARGET, 45000, 33433 + ttl, b"\0" * 32, ttl=ttl, ident=0x500 + ttl)
        tr.add(eth(probe))
        if ttl < 8:
            tr.add(eth(g.ipv4(f"10.99.0.{ttl}", SCANNER, 1, g.icmp(11, 0, bytes(4), probe[:28]), flags_frag=0),
                       g.MAC_B, g.MAC_A))
    for i in range(40):
        tr.add(eth(tcp4("10.0.0.1", TARGET, 42000 + i, 443, 0x002)))
        tr.add(eth(tcp4(TARGET, "10.0.0.1", 443, 42000 + i, 0x012, seq=9, ack=1001), g.MAC_B, g.MAC_A))
        tr.add(eth(tcp4("10.0.0.1", TARGET, 42000 + i, 443, 0x018, seq=1001, ack=10, payload=b"hello")))
    _syn_scan(tr, list(range(2000, 2030)), set(), gap_ns=20_000_000_000, scanner="10.0.0.67")
    path = tr.write(tmp_path / "alike.pcap")
    assert not of(findings(path), "scan.port_scan")
    slow = of(findings(path, "scan.port_scan.window_s=3600"), "scan.port_scan")
    assert [f.details["scanner"] for f in slow] == ["10.0.0.67"]


@needs_tshark
def test_address_scan_tcp_and_ping_sweep(tmp_path: Path) -> None:
    tr = Trace()
    background(tr)
    live = {5, 9, 17, 33}
    for host in range(1, 255):
        ip = f"10.0.1.{host}"
        tr.add(eth(tcp4(SCANNER, ip, 51000 + host, 22, 0x002)), 1_000_000)
        if host in live:
            tr.add(eth(tcp4(ip, SCANNER, 22, 51000 + host, 0x014, ack=1001), g.MAC_B, g.MAC_A))
    for host in range(1, 41):
        ip = f"10.0.2.{host}"
        tr.add(eth(echo4("10.0.0.70", ip, 0x55, host, ip_id=host)), 1_000_000)
        if host % 2:
            tr.add(eth(echo4(ip, "10.0.0.70", 0x55, host, ip_id=host, reply=True), g.MAC_B, g.MAC_A))
    path = tr.write(tmp_path / "sweep.pcap")
    found = {f.details["scanner"]: f for f in of(findings(path), "scan.address_scan")}
    assert set(found) == {SCANNER, "10.0.0.70"}
    t = found[SCANNER]
    assert (t.details["targets"], t.details["ports"], t.details["answered"]) == (254, 1, 4)
    assert t.details["port_list"] == ["TCP 22"] and t.severity == "error"
    assert t.frames == tshark_frames(path, "tcp.port == 22")
    p = found["10.0.0.70"]
    assert (p.details["targets"], p.details["answered"], p.details["port_list"]) == (40, 20, ["ICMP echo"])
    assert p.severity == "warning"
    assert p.frames == tshark_frames(path, "icmp")
    assert not of(findings(path), "scan.port_scan")


@needs_tshark
def test_address_scan_arp_sweep(tmp_path: Path) -> None:
    """A sweep of the scanner's own subnet: ARP requests for every address, a few answered."""
    tr = Trace()
    answers = []
    for host in range(1, 60):
        tr.add(arp(1, MAC_C, "10.0.0.66", ZERO, f"10.0.0.{100 + host}"), 3_000_000)
        if host % 10 == 0:
            answers.append(tr.add(arp(2, f"02:00:00:00:02:{host:02x}", f"10.0.0.{100 + host}", MAC_C, "10.0.0.66")))
    tr.add(arp(1, MAC_C, "10.0.0.66", ZERO, "10.0.0.120"), 3_000_000)     # asked again: the same target
    path = tr.write(tmp_path / "arpsweep.pcap")
    found = of(findings(path), "scan.address_scan")
    assert len(found) == 1
    d = found[0].details
    assert (d["scanner"], d["targets"], d["answered"], d["port_list"]) == ("10.0.0.66", 59, 5, ["ARP"])
    assert found[0].frames == tshark_frames(path, "arp")
    assert set(answers) <= set(found[0].frames) and found[0].sessions == []


@pytest.mark.skipif(not (have_corpus() and have_tshark()), reason="needs the corpus and tshark")
def test_address_scan_nmap_capture() -> None:
    """Zeek's nmap-vsn.pcap: nmap on 192.168.1.71 sweeping its /24 with ARP (then probing a few hosts on
    TCP 80 and 443, too few for a sweep of its own)."""
    path = CORPUS / "zeek/testing/btest/Traces/nmap-vsn.pcap"
    flt = "arp.opcode == 1 && arp.src.proto_ipv4 == 192.168.1.71"
    asked = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", flt, "-T", "fields", "-e", "arp.dst.proto_ipv4"],
                           capture_output=True, text=True, check=True, timeout=60).stdout.split()
    found = findings(path)
    scans = of(found, "scan.address_scan")
    assert len(scans) == 1 and not of(found, "scan.port_scan")
    d = scans[0].details
    assert d["scanner"] == "192.168.1.71" and d["port_list"] == ["ARP"]
    assert d["targets"] == len(set(asked)) and d["probes"] == len(asked)
    assert scans[0].frames == tshark_frames(path, flt)


def dhcp_offer(server: str, yiaddr: str, xid: int) -> bytes:
    """A BOOTP reply (DHCPOFFER, RFC 2131) from ``server`` offering ``yiaddr``, broadcast."""
    bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 2, 1, 6, 0, xid, 0, 0x8000, bytes(4), g.ip4(yiaddr),
                        g.ip4(server), bytes(4), g.mac(MAC_C) + bytes(10), bytes(64), bytes(128))
    options = bytes.fromhex("63825363") + bytes([53, 1, 2, 54, 4]) + g.ip4(server) + bytes([255])
    return eth(udp4(server, "255.255.255.255", 67, 68, bootp + options), g.MAC_B, BCAST)


@needs_tshark
def test_address_scan_not_a_dhcp_servers_ping_checks(tmp_path: Path) -> None:
    """A DHCP server pings each address before it offers it (dnsmasq, ISC dhcpd): 30 offers in a
    minute are no ping sweep; the same pings without the offers are."""
    tr, bare = Trace(), Trace()
    for i in range(30):
        ip = f"10.0.0.{100 + i}"
        for t in (tr, bare):
            t.add(eth(echo4("10.0.0.254", ip, 0x77, i, ip_id=i), g.MAC_B, MAC_C), 500_000_000)
        tr.add(dhcp_offer("10.0.0.254", ip, 0x1000 + i), 3_000_000)
    path = tr.write(tmp_path / "dhcp.pcap")
    assert len(tshark_frames(path, "dhcp.option.dhcp == 2 && dhcp.ip.your")) == 30
    assert not of(findings(path), "scan.address_scan")
    assert [f.details["targets"] for f in of(findings(bare.write(tmp_path / "pings.pcap")),
                                             "scan.address_scan")] == [30]


def test_address_scan_look_alikes(tmp_path: Path) -> None:
    """Not sweeps: a browser talking to 30 servers (with data); a peer-to-peer client failing to reach
    30 peers, each on its own port; pings to a few hosts."""
    tr = Trace()
    for i in range(30):
        ip = f"93.184.{i}.1"
        tr.add(eth(tcp4("10.0.0.1", ip, 43000 + i, 443, 0x002)))
        tr.add(eth(tcp4(ip, "10.0.0.1", 443, 43000 + i, 0x012, seq=9, ack=1001), g.MAC_B, g.MAC_A))
        tr.add(eth(tcp4("10.0.0.1", ip, 43000 + i, 443, 0x018, seq=1001, ack=10, payload=b"hello")))
        tr.add(eth(tcp4("10.0.0.1", f"81.2.{i}.9", 44000 + i, 6881 + 7 * i, 0x002)))
    for host in range(1, 6):
        tr.add(eth(echo4("10.0.0.1", f"10.0.3.{host}", 9, host)))
    assert not of(findings(tr.write(tmp_path / "busy.pcap")), "scan.address_scan")


# ------------------------------------------------------------------ all together


def test_quiet_on_ordinary_traffic(tmp_path: Path) -> None:
    tr = Trace()
    background(tr, 30)
    for i in range(20):
        tr.add(arp(1, MAC_C, "10.0.0.9", ZERO, f"10.0.0.{i + 1}"), 300_000_000)
        tr.add(eth(echo4("10.0.0.9", "10.0.0.1", 5, i, ip_id=i)))
        tr.add(eth(echo4("10.0.0.1", "10.0.0.9", 5, i, ip_id=i, reply=True), g.MAC_B, g.MAC_A))
    assert findings(tr.write(tmp_path / "ordinary.pcap")) == []


def _write_fixture() -> None:
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(discard_fixture()[0])


if __name__ == "__main__":
    _write_fixture()
    sys.exit(0)
