"""IP-layer faults made in the lab, each with its clean twin.

- ``ip.routing_loop``: two routers whose routes for the server's subnet point
  at each other; pings into it loop until their TTL runs out (captured on
  the link between the routers).  Twin: the same network routed right, and
  a capture on "any" of a router, where each forwarded datagram shows twice
  (in with TTL t, out with t-1) and must not be taken for a loop.
- ``arp.duplicate_address``: two hosts on one bridged LAN configured with
  the same address: a client's ARP request gets two answers; an RFC 5227
  probe (``arping -D``) for it is answered.  Twin: the same LAN with
  distinct addresses, and a probe for a free address.
- ``scan.port_scan`` / ``scan.address_scan``: a Python scanner connect()ing
  to ports 1-200 of the server, or to port 22 of every address of the
  server's /24 behind a router.  Twin: a client making three HTTP requests.
- ``ip.broadcast_storm``: a host sending UDP broadcasts at ~5000 a second
  for a second.  Twin: five broadcasts.

Expected evidence is tshark's selection of the frames that prove the fault,
or the scenario's own log of what it sent.
"""

from __future__ import annotations

import sys
from itertools import pairwise
from pathlib import Path

import pytest

from tests.lab import (
    Iface,
    Network,
    Node,
    assert_clean,
    assert_fires,
    diagnose,
    of_rule,
    routed,
    show,
    tshark_fields,
    tshark_frames,
    two_hosts,
)
from tests.lab.conftest import require
from tests.lab.servers import http_server

pytestmark = pytest.mark.lab

PY = sys.executable


# -- ip.routing_loop -----------------------------------------------------------------------
def ping(net: Network, node: Node, dst: str, count: int = 2) -> tuple[int, str]:
    """busybox's ping (scripts/setup.sh installs busybox, not iputils): ``count`` echoes 0.3 s apart."""
    r = net.run(node, ["busybox", "ping", "-c", str(count), "-i", "0.3", "-W", "1", dst], check=False,
                timeout=count + 10)
    return r.returncode, r.stdout + r.stderr


def test_routing_loop_pings_between_two_routers(net: Network, tmp_path: Path) -> None:
    """r2 routes the server's subnet back to r1: each ping bounces between them until its TTL runs out."""
    require(["busybox"])
    t = routed(net, routers=2)
    r1, r2 = t.routers
    net.route(r2, t.links[-1].subnet, r1.iface_to(r2))
    with net.capture(tmp_path / "loop.pcap", r1.iface_to(r2)) as pcap:
        status, out = ping(net, t.client, t.server.ip or "")
    assert status != 0, out
    # tshark's view of the loop: echo requests (not the ones quoted in the TTL exceeded), each IP id
    # seen again and again with its TTL falling.
    rows = tshark_fields(pcap, "icmp.type == 8 && !(icmp.type == 11)", "frame.number", "ip.id", "ip.ttl")
    by_id: dict[str, list[int]] = {}
    for _, ident, ttl in rows:
        by_id.setdefault(ident, []).append(int(ttl))
    assert len(by_id) == 2, by_id
    for ttls in by_id.values():
        assert len(ttls) > 20 and all(a > b for a, b in pairwise(ttls)), ttls
    findings = diagnose(pcap)
    [f] = assert_fires(findings, "ip.routing_loop", [int(r[0]) for r in rows], exact=True,
                       details={"src": t.client.ip, "dst": t.server.ip, "proto": "icmp", "datagrams": 2})
    d = f["details"]
    assert d["ttl_first"] == max(max(v) for v in by_id.values())
    assert d["ttl_last"] == min(min(v) for v in by_id.values())
    assert d["max_sightings"] == max(len(v) for v in by_id.values())
    # The router at the end of the TTL says so too.
    assert_fires(findings, "icmp.ttl_exceeded", tshark_frames(pcap, "icmp.type == 11"),
                 details={"dst": t.server.ip})


def test_routing_loop_clean_twins(net: Network, tmp_path: Path) -> None:
    """Routed right: the pings are answered.  Captured on "any" of r1, each forwarded echo shows twice
    (from the client with TTL 64, towards r2 with 63): not a loop."""
    require(["busybox"])
    t = routed(net, routers=2)
    r1, r2 = t.routers
    with net.capture(tmp_path / "routed.pcap", r1.iface_to(r2)) as pcap:
        status, out = ping(net, t.client, t.server.ip or "")
    assert status == 0, out
    assert_clean(diagnose(pcap))
    with net.capture(tmp_path / "any.pcap", Iface(r1, "any")) as pcap:
        status, out = ping(net, t.client, t.server.ip or "")
    assert status == 0, out
    twice: dict[str, list[int]] = {}
    for ident, ttl in tshark_fields(pcap, "icmp.type == 8", "ip.id", "ip.ttl"):
        twice.setdefault(ident, []).append(int(ttl))
    assert twice and all(sorted(v) == [63, 64] for v in twice.values()), twice
    found = diagnose(pcap)
    assert not of_rule(found, "ip.routing_loop"), show(found)
    assert_clean(found)


# -- arp.duplicate_address ---------------------------------------------------------------
def lan(net: Network, duplicate: bool) -> tuple[Node, Node, Node, str]:
    """client, host a and host b on one bridge (namespace "sw"), 10.5.0.0/24: client .9, a .1, b .1
    too when ``duplicate`` (else .2).  Returns (client, a, b, the address of a)."""
    sw = net.host("sw")
    net.run(sw, ["ip", "link", "add", "br0", "type", "bridge", "forward_delay", "0", "stp_state", "0"])
    net.run(sw, ["ip", "link", "set", "br0", "up"])
    nodes = []
    for name, addr in (("client", "10.5.0.9"), ("a", "10.5.0.1"), ("b", "10.5.0.1" if duplicate else "10.5.0.2")):
        node = net.host(name)
        link = net.link(node, sw, "10.5.0.0/24", address_b=False)
        net.run(sw, ["ip", "link", "set", link.b.name, "master", "br0"])
        mine = link.a
        net.run(node, ["ip", "addr", "flush", "dev", mine.name])
        net.run(node, ["ip", "addr", "add", f"{addr}/24", "dev", mine.name])
        mine.ip = addr
        nodes.append(node)
    return nodes[0], nodes[1], nodes[2], "10.5.0.1"


def claims_filter(ip: str) -> str:
    """tshark: ARP frames that claim ``ip`` (sender, or target of a reply) or probe for it."""
    return (f"(arp.opcode == 1 || arp.opcode == 2) && (arp.src.proto_ipv4 == {ip} || "
            f"(arp.opcode == 2 && arp.dst.proto_ipv4 == {ip}) || "
            f"(arp.opcode == 1 && arp.src.proto_ipv4 == 0.0.0.0 && arp.dst.proto_ipv4 == {ip}))")


def test_duplicate_address_two_hosts_answer(net: Network, tmp_path: Path) -> None:
    require(["busybox"])
    client, a, b, ip = lan(net, duplicate=True)
    with net.capture(tmp_path / "dup.pcap", client.ifaces[0]) as pcap:
        ping(net, client, ip, count=1)
    replies = tshark_fields(pcap, f"arp.opcode == 2 && arp.src.proto_ipv4 == {ip}", "frame.number", "arp.src.hw_mac")
    assert {mac for _, mac in replies} == {a.ifaces[0].mac, b.ifaces[0].mac}, replies
    findings = diagnose(pcap)
    [f] = assert_fires(findings, "arp.duplicate_address", tshark_frames(pcap, claims_filter(ip)), exact=True,
                       details={"ip": ip, "kind": "both answered"}, severity="error")
    assert {m["mac"] for m in f["details"]["macs"]} == {a.ifaces[0].mac, b.ifaces[0].mac}
    assert set(tshark_frames(pcap, "arp.duplicate-address-detected")) <= set(f["frames"])


def test_duplicate_address_probe_answered(net: Network, tmp_path: Path) -> None:
    """b probes (``arping -D``: sender 0.0.0.0) for the address a already has; a answers."""
    require(["busybox"])
    _, a, b, ip = lan(net, duplicate=True)
    with net.capture(tmp_path / "probe.pcap", b.ifaces[0]) as pcap:
        r = net.run(b, ["busybox", "arping", "-D", "-c", "2", "-w", "3", "-I", b.ifaces[0].name, ip], check=False)
    assert r.returncode != 0, r.stdout + r.stderr          # arping -D: non-zero when the address is in use
    # busybox's probe has target MAC ff:ff:ff:ff:ff:ff (RFC 5227: SHOULD be zero), so not arp.isprobe.
    probes = tshark_frames(pcap, f"arp.opcode == 1 && arp.src.proto_ipv4 == 0.0.0.0 && arp.dst.proto_ipv4 == {ip}")
    answers = tshark_frames(pcap, f"arp.opcode == 2 && arp.src.proto_ipv4 == {ip} && "
                                  f"arp.src.hw_mac == {a.ifaces[0].mac}")
    assert probes and answers
    [f] = assert_fires(diagnose(pcap), "arp.duplicate_address", probes + answers,
                       details={"ip": ip, "kind": "probe answered"}, severity="error")
    assert set(f["frames"]) <= set(tshark_frames(pcap, claims_filter(ip)))


def test_duplicate_address_clean_twin(net: Network, tmp_path: Path) -> None:
    require(["busybox"])
    client, _, b, ip = lan(net, duplicate=False)
    with net.capture(tmp_path / "lan.pcap", client.ifaces[0]) as pcap:
        assert ping(net, client, ip, count=1)[0] == 0
        assert ping(net, client, "10.5.0.2", count=1)[0] == 0
        # A probe for a free address: nobody answers, arping -D succeeds.
        r = net.run(b, ["busybox", "arping", "-D", "-c", "1", "-w", "2", "-I", b.ifaces[0].name, "10.5.0.3"],
                    check=False)
        assert r.returncode == 0, r.stdout + r.stderr
    assert tshark_frames(pcap, "arp.opcode == 1 && arp.src.proto_ipv4 == 0.0.0.0")
    assert_clean(diagnose(pcap))


# -- scan.port_scan / scan.address_scan ----------------------------------------------------
SCANNER = r"""
import selectors, socket, sys, time
targets, ports, wait = sys.argv[1].split(","), [int(p) for p in sys.argv[2].split(",")], float(sys.argv[3])
sel, socks, found = selectors.DefaultSelector(), [], []
for host in targets:
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((host, port))
        sel.register(s, selectors.EVENT_WRITE, (host, port))
        socks.append(s)
        time.sleep(0.002)
deadline = time.monotonic() + wait
while time.monotonic() < deadline and sel.get_map():
    for key, _ in sel.select(timeout=0.1):
        if key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            found.append("%s:%d" % key.data)
        sel.unregister(key.fileobj)
for s in socks:
    s.close()
print(" ".join(found))
"""
"""connect() without sending anything to every (target, port), a few at a time in flight; prints the
ones that connected."""

CLIENT = r"""
import socket, sys
for _ in range(3):
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n")
        while s.recv(65536):
            pass
print("ok")
"""


def web_server(net: Network, node: Node, port: int = 80) -> None:
    http_server(net, node, {"index.html": b"hello\n"}, port=port, python=PY)


def test_port_scan_connect_ports_1_to_200(net: Network, tmp_path: Path) -> None:
    t = routed(net, routers=1)
    web_server(net, t.server)
    with net.capture(tmp_path / "portscan.pcap", t.client.ifaces[0]) as pcap:
        r = net.run(t.client, [PY, "-c", SCANNER, t.server.ip or "", ",".join(map(str, range(1, 201))), "2"])
    assert r.stdout.split() == [f"{t.server.ip}:80"], r.stdout
    syns = tshark_frames(pcap, "tcp.flags.syn == 1 && tcp.flags.ack == 0")
    assert len({int(p) for (p,) in tshark_fields(pcap, "tcp.flags.syn == 1 && tcp.flags.ack == 0",
                                                  "tcp.dstport")}) == 200
    findings = diagnose(pcap)
    [f] = assert_fires(findings, "scan.port_scan", tshark_frames(pcap, "tcp"), exact=True,
                       details={"scanner": t.client.ip, "target": t.server.ip, "ports": 200,
                                "open": ["tcp/80"], "closed": 199})
    assert set(syns) <= set(f["frames"])
    assert not of_rule(findings, "scan.address_scan"), show(findings)


def test_address_scan_port_22_across_a_subnet(net: Network, tmp_path: Path) -> None:
    """connect() to port 22 of every address of the server's /24, behind the router: the router (.1)
    and the server (.2) refuse, the rest never answer (or the router reports them unreachable)."""
    t = routed(net, routers=1)
    subnet = t.links[-1].subnet.rsplit(".", 1)[0]
    hosts = [f"{subnet}.{i}" for i in range(1, 255)]
    with net.capture(tmp_path / "sweep.pcap", t.client.ifaces[0]) as pcap:
        net.run(t.client, [PY, "-c", SCANNER, ",".join(hosts), "22", "1.5"], timeout=30)
    asked = {dst for (dst,) in tshark_fields(pcap, "tcp.flags.syn == 1 && tcp.flags.ack == 0", "ip.dst")}
    assert asked == set(hosts), sorted(set(hosts) - asked)
    answered = {src for (src,) in tshark_fields(pcap, "tcp.flags.reset == 1 || tcp.flags.syn == 1 && "
                                                      "tcp.flags.ack == 1", "ip.src")}
    findings = diagnose(pcap)
    [f] = assert_fires(findings, "scan.address_scan", tshark_frames(pcap, "tcp"),
                       details={"scanner": t.client.ip, "targets": 254, "ports": 1, "port_list": ["TCP 22"]},
                       severity="error")
    assert set(f["details"]["answered_list"]) == answered, (f["details"]["answered_list"], answered)
    assert set(f["frames"]) <= set(tshark_frames(pcap, "tcp || icmp"))
    assert not of_rule(findings, "scan.port_scan"), show(findings)


def test_scan_clean_twin_three_connections(net: Network, tmp_path: Path) -> None:
    t = routed(net, routers=1)
    web_server(net, t.server)
    with net.capture(tmp_path / "client.pcap", t.client.ifaces[0]) as pcap:
        r = net.run(t.client, [PY, "-c", CLIENT, t.server.ip or "", "80"])
    assert r.stdout.strip() == "ok"
    assert len(tshark_frames(pcap, "tcp.flags.syn == 1 && tcp.flags.ack == 0")) == 3
    assert_clean(diagnose(pcap))


# -- ip.broadcast_storm ---------------------------------------------------------------------
BROADCASTER = r"""
import socket, sys, time
dev, dst, count, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())   # 255.255.255.255 needs no route
start = time.monotonic()
for i in range(count):
    s.sendto(b"discover %d" % i, (dst, 9999))
    ahead = start + seconds * (i + 1) / count - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)
print(count)
"""
"""``count`` UDP datagrams out of interface ``dev`` to ``dst``:9999, spread evenly over ``seconds``."""


def broadcasts(net: Network, tmp_path: Path, name: str, count: int, seconds: float) -> tuple[Path, Node]:
    t = two_hosts(net)
    with net.capture(tmp_path / f"{name}.pcap", t.server.ifaces[0]) as pcap:
        net.run(t.client, [PY, "-c", BROADCASTER, t.client.ifaces[0].name, "255.255.255.255", str(count),
                           str(seconds)], timeout=30)
    return pcap, t.client


def test_broadcast_storm(net: Network, tmp_path: Path) -> None:
    pcap, sender = broadcasts(net, tmp_path, "storm", 5000, 1.0)
    sent = tshark_frames(pcap, "eth.dst == ff:ff:ff:ff:ff:ff && udp.dstport == 9999")
    assert len(sent) > 3000, len(sent)          # what the capture kept of the 5000
    assert sent == tshark_frames(pcap, "eth.dst == ff:ff:ff:ff:ff:ff")
    [f] = assert_fires(diagnose(pcap), "ip.broadcast_storm", sent, exact=True)
    top = f["details"]["top_sources"][0]
    assert (top["source"], top["mac"], top["packets"]) == (sender.ip, sender.ifaces[0].mac, len(sent))


def test_broadcast_storm_clean_twin(net: Network, tmp_path: Path) -> None:
    pcap, _ = broadcasts(net, tmp_path, "few", 5, 0.5)
    assert len(tshark_frames(pcap, "eth.dst == ff:ff:ff:ff:ff:ff")) == 5
    assert_clean(diagnose(pcap))
