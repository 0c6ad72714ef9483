"""The lab library's own tests: links carry traffic, routes reach end to end,
captures hold what was sent, and nothing is left behind."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.lab import (
    LabError,
    Network,
    remove_stale,
    routed,
    tshark_fields,
    tshark_frames,
    two_hosts,
)
from tests.lab.net import PREFIX
from tests.support.netns import _ns_list

pytestmark = pytest.mark.lab


def ping(net: Network, node, dst: str, count: int = 1, ttl: int | None = None) -> None:  # type: ignore[no-untyped-def]
    argv = ["busybox", "ping", "-c", str(count), "-W", "2"] + (["-t", str(ttl)] if ttl else []) + [dst]
    net.run(node, argv)


def test_two_hosts_ping_is_captured(net: Network, tmp_path: Path) -> None:
    t = two_hosts(net)
    assert (t.client.ip, t.server.ip) == ("10.1.0.1", "10.1.0.2")
    with net.capture(tmp_path / "ping.pcap", t.client.ifaces[0]) as pcap:
        ping(net, t.client, t.server.ip or "", count=2)
    rows = tshark_fields(pcap, "icmp", "icmp.type", "ip.src", "ip.dst", "eth.src")
    requests = [r for r in rows if r[0] == "8"]
    replies = [r for r in rows if r[0] == "0"]
    assert len(requests) == 2 and len(replies) == 2, rows
    assert requests[0][1:] == [t.client.ip, t.server.ip, t.client.ifaces[0].mac]
    assert replies[0][1:] == [t.server.ip, t.client.ip, t.server.ifaces[0].mac]
    # ARP resolved on the wire (the first ping needs it), and no IPv6 chatter.
    assert tshark_frames(pcap, "arp.opcode==2")
    assert not tshark_frames(pcap, "ipv6")


def test_routed_reaches_end_to_end_with_ttl_counting_hops(net: Network, tmp_path: Path) -> None:
    t = routed(net, routers=2)
    r1, r2 = t.routers
    assert [lk.subnet for lk in t.links] == ["10.1.0.0/24", "10.1.1.0/24", "10.1.2.0/24"]
    assert t.server.ip == "10.1.2.2" and r2.iface_to(t.server).ip == "10.1.2.1"
    with net.capture(tmp_path / "srv.pcap", t.server.ifaces[0]) as at_server:
        ping(net, t.client, t.server.ip or "")
    with net.capture(tmp_path / "mid.pcap", r1.iface_to(r2)) as mid:
        ping(net, t.client, t.server.ip or "")
    sent = int(net.run(t.client, ["cat", "/proc/sys/net/ipv4/ip_default_ttl"]).stdout)
    # The client's echo request: one hop less on the r1-r2 link, two less at the server.
    req = "icmp.type==8 && ip.src==10.1.0.1"
    assert [int(r[0]) for r in tshark_fields(mid, req, "ip.ttl")] == [sent - 1]
    assert [int(r[0]) for r in tshark_fields(at_server, req, "ip.ttl")] == [sent - 2]
    # The reply came back to the client (ping succeeded) and passed r1-r2 with one hop spent.
    assert [int(r[0]) for r in tshark_fields(mid, "icmp.type==0 && ip.dst==10.1.0.1", "ip.ttl")] == [sent - 1]
    # Routers reach every subnet, hosts reach the far router.
    ping(net, r1, t.server.ip or "")
    ping(net, t.server, t.r1.iface_to(t.client).ip or "")


def test_routed_ipv6_and_mtus(net: Network, tmp_path: Path) -> None:
    t = routed(net, routers=1, mtus=[(1500, 1280), None], ipv6=True)
    assert (t.client.ip6, t.server.ip6) == ("fd00::1", "fd00:1::2")
    assert t.r1.iface_to(t.client).mtu == 1280
    mtu = net.run(t.r1, ["cat", f"/sys/class/net/{t.r1.iface_to(t.client).name}/mtu"]).stdout.strip()
    assert mtu == "1280"
    ping(net, t.client, t.server.ip6 or "")
    ping(net, t.client, t.server.ip or "")


def test_teardown_removes_namespaces_when_the_body_raises(lab_ok: None, tmp_path: Path) -> None:
    made: list[str] = []
    with pytest.raises(RuntimeError, match="boom"):
        with Network(tmp_path) as net:
            t = routed(net, routers=1)
            net.spawn(t.server, ["sleep", "300"], "sleeper")
            made = list(net.namespaces)
            assert len(made) == 3 and set(made) <= set(_ns_list())
            raise RuntimeError("boom")
    assert made and not set(made) & set(_ns_list())
    assert all(p.popen.poll() is not None for p in net.procs)


def test_close_never_raises_and_is_idempotent(lab_ok: None, tmp_path: Path) -> None:
    net = Network(tmp_path)
    net.host("a")
    subprocess.run(["ip", "netns", "del", net.namespaces[0]], check=True)   # gone behind its back
    net.close()
    net.close()
    with pytest.raises(LabError):
        with Network(tmp_path) as n:
            n.host("x")
            n.host("x")


def test_stale_namespace_of_a_dead_pid_is_removed(lab_ok: None, tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"{PREFIX}-{dead.pid}-1-client"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    sleeper = subprocess.Popen(["ip", "netns", "exec", stale, "sleep", "300"])
    try:
        assert stale in _ns_list()
        with Network(tmp_path) as net:
            net.host("client")
            assert stale not in _ns_list()
        assert sleeper.wait(5) is not None       # its process was stopped too
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)
    assert stale not in _ns_list()
    assert remove_stale() == []
