"""ICMP errors from real stacks: each rule's fault made in the lab, and its clean twin.

- ``icmp.unreachable``: an SNMP query to a host where no agent listens (port
  unreachable from the host); an HTTP connection through a router whose
  nftables rule rejects it with "administratively prohibited".
- ``icmp.frag_needed``: an HTTP download through a router whose link to the
  client has a smaller MTU (fragmentation needed / IPv6 Packet Too Big; the
  server lowers its segment size), and the PMTU black hole twin where the
  server's firewall drops those ICMP messages and it keeps retransmitting.
- ``icmp.ttl_exceeded``: DNS queries into a routing loop between two routers.

Expected evidence is tshark's selection of the frames that prove the fault.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab import (
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
from tests.lab import servers
from tests.lab.conftest import require
from tests.lab.servers import snmpd, snmpget

pytestmark = pytest.mark.lab


# -- servers and clients -----------------------------------------------------------
def http_server(net: Network, node: Node, size: int = 200_000, ipv6: bool = False) -> str:
    """Python's http.server on ``node``, port 8080, serving a ``size``-byte file; its path."""
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    servers.http_server(net, node, {"data.bin": data}, bind="::" if ipv6 else "0.0.0.0")
    return "/data.bin"


def curl(net: Network, node: Node, url: str, max_time: float = 10) -> tuple[int, str]:
    """Download ``url`` to nowhere; (exit status, "<http code> <bytes>" or curl's error)."""
    r = net.run(node, ["curl", "-sS", "-g", "-o", "/dev/null", "-m", str(max_time), "-w",
                       "%{http_code} %{size_download}", url], check=False, timeout=max_time + 10)
    return r.returncode, (r.stdout + r.stderr).strip()


def dnsmasq(net: Network, node: Node) -> None:
    """dnsmasq answering www.example.test on ``node``'s address."""
    servers.dnsmasq(net, node, f"--listen-address={node.ip}", "--address=/www.example.test/192.0.2.80")


def dig(net: Network, node: Node, server: str, tries: int = 2) -> tuple[int, str]:
    r = net.run(node, ["dig", f"@{server}", f"+tries={tries}", "+time=1", "www.example.test", "A"],
                check=False, timeout=tries * 2 + 10)
    return r.returncode, r.stdout + r.stderr


# -- icmp.unreachable ------------------------------------------------------------------
def test_port_unreachable_snmp_without_agent(net: Network, tmp_path: Path) -> None:
    """SNMP to a host where no agent listens: the host answers ICMP port unreachable."""
    require(["snmpget"])
    t = two_hosts(net)
    with net.capture(tmp_path / "port-unreach.pcap", t.client.ifaces[0]) as pcap:
        status, out = snmpget(net, t.client, t.server.ip or "")
    assert status != 0, out
    expected = tshark_frames(pcap, "icmp.type==3 && icmp.code==3")
    assert expected == tshark_frames(pcap, "icmp.type==3")
    assert len(expected) == len(tshark_frames(pcap, "snmp && !icmp")) == 2     # the request and its one retry
    findings = diagnose(pcap)
    [f] = assert_fires(findings, "icmp.unreachable", expected, exact=True,
                       details={"kind": "Port unreachable", "dst": t.server.ip, "dport": 161, "proto": "udp",
                                "reporter": t.server.ip})
    assert f"{t.server.ip}:161" in f["summary"] and "UDP" in f["summary"], f["summary"]


def test_port_unreachable_clean_twin_snmp_answered(net: Network, tmp_path: Path) -> None:
    require(["snmpd", "snmpget"])
    t = two_hosts(net)
    snmpd(net, t.server)
    with net.capture(tmp_path / "snmp-ok.pcap", t.client.ifaces[0]) as pcap:
        status, out = snmpget(net, t.client, t.server.ip or "")
    assert status == 0 and "tracedoc lab agent" in out, out
    assert not tshark_frames(pcap, "icmp")
    assert_clean(diagnose(pcap))


def http_through_router(net: Network, tmp_path: Path, reject: bool) -> tuple[Path, Node, Node, tuple[int, str]]:
    t = routed(net, routers=1)
    path = http_server(net, t.server, size=20_000)
    if reject:
        net.nft(t.r1, """table inet lab_filter {
  chain forward {
    type filter hook forward priority 0;
    tcp dport 8080 reject with icmp type admin-prohibited
  }
}
""")
    name = "admin-prohibited" if reject else "http-routed"
    with net.capture(tmp_path / f"{name}.pcap", t.client.ifaces[0]) as pcap:
        result = curl(net, t.client, f"http://{t.server.ip}:8080{path}", max_time=5)
    return pcap, t.server, t.r1, result


def test_admin_prohibited_by_router_firewall(net: Network, tmp_path: Path) -> None:
    """nftables on the router rejects HTTP with "communication administratively prohibited"."""
    require(["nft", "curl"])
    pcap, server, r1, (status, out) = http_through_router(net, tmp_path, reject=True)
    assert status != 0, out
    expected = tshark_frames(pcap, "icmp.type==3 && icmp.code==13")
    assert expected and expected == tshark_frames(pcap, "icmp.type==3")
    reporter = {r[0] for r in tshark_fields(pcap, "icmp.type==3", "ip.src", occurrence="f")}
    assert reporter == {r1.iface_to(net.nodes["client"]).ip}, reporter
    findings = diagnose(pcap)
    [f] = assert_fires(findings, "icmp.unreachable", expected, exact=True,
                       details={"dst": server.ip, "dport": 8080, "proto": "tcp", "reporter": reporter.pop()})
    assert "prohibited" in f["details"]["kind"] and f"{server.ip}:8080" in f["summary"], f
    assert "firewall" in f["explanation"].lower(), f["explanation"]


def test_admin_prohibited_clean_twin_router_forwards(net: Network, tmp_path: Path) -> None:
    require(["curl"])
    pcap, _, _, (status, out) = http_through_router(net, tmp_path, reject=False)
    assert (status, out) == (0, "200 20000")
    assert not tshark_frames(pcap, "icmp")
    assert_clean(diagnose(pcap))


# -- icmp.frag_needed ------------------------------------------------------------------
DROP_TOO_BIG = {4: "icmp type destination-unreachable icmp code frag-needed drop",
                6: "icmpv6 type packet-too-big drop"}
TOO_BIG = {4: "icmp.type==3 && icmp.code==4", 6: "icmpv6.type==2"}


def download_through_narrow_link(net: Network, tmp_path: Path, family: int, mtu: int | None,
                                 black_hole: bool = False, max_time: float = 10
                                 ) -> tuple[Path, Node, Node, tuple[int, str]]:
    """An HTTP download from the server, through r1 whose link to the client has MTU ``mtu``
    (the client's own end stays at 1500, so it offers the full MSS); captured on r1's
    interface towards the server, where the server's segments, the ICMP and the
    retransmissions all pass."""
    t = routed(net, routers=1, mtus=[(1500, mtu) if mtu else None, None], ipv6=family == 6)
    path = http_server(net, t.server, size=200_000, ipv6=family == 6)
    if black_hole:
        net.nft(t.server, f"""table inet lab_pmtu {{
  chain input {{
    type filter hook input priority 0;
    {DROP_TOO_BIG[family]}
  }}
}}
""")
    host = t.server.ip if family == 4 else f"[{t.server.ip6}]"
    with net.capture(tmp_path / f"pmtu{family}.pcap", t.r1.iface_to(t.server)) as pcap:
        result = curl(net, t.client, f"http://{host}:8080{path}", max_time=max_time)
    return pcap, t.server, t.r1, result


def server_ip(server: Node, family: int) -> str:
    return (server.ip if family == 4 else server.ip6) or ""


def ip_len(family: int) -> str:
    return "ip.len" if family == 4 else "ipv6.plen"


@pytest.mark.parametrize("family", [4, 6])
def test_frag_needed_sender_lowers_its_segments(net: Network, tmp_path: Path, family: int) -> None:
    """The router says "fragmentation needed" (MTU 1280) and the server sends smaller segments: a warning."""
    require(["curl"])
    mtu = 1280
    pcap, server, r1, (status, out) = download_through_narrow_link(net, tmp_path, family, mtu)
    assert (status, out) == (0, "200 200000")
    srv = f"{'ip' if family == 4 else 'ipv6'}.src=={server_ip(server, family)}"
    expected = tshark_frames(pcap, TOO_BIG[family])
    assert expected, "the router sent no ICMP"
    # The server heard it: its retransmissions (of what the router dropped) fit the MTU.
    big = mtu - (0 if family == 4 else 40)
    assert tshark_frames(pcap, f"{srv} && tcp.analysis.retransmission")
    assert not tshark_frames(pcap, f"{srv} && tcp.analysis.retransmission && {ip_len(family)} > {big}")
    findings = diagnose(pcap)
    [f] = assert_fires(findings, "icmp.frag_needed", expected, exact=True, severity="warning",
                       details={"mtu": mtu, "black_hole": False, "src": server_ip(server, family),
                                "proto": "tcp"})
    assert "black hole" not in f["summary"].lower(), f["summary"]


@pytest.mark.parametrize("family", [4, 6])
def test_frag_needed_black_hole_when_the_server_drops_the_icmp(net: Network, tmp_path: Path,
                                                              family: int) -> None:
    """The server's firewall drops "fragmentation needed": it keeps retransmitting full-size segments."""
    require(["curl", "nft"])
    mtu = 1280
    pcap, server, r1, (status, out) = download_through_narrow_link(net, tmp_path, family, mtu, black_hole=True,
                                                                   max_time=3)
    assert status != 0, out
    srv = f"{'ip' if family == 4 else 'ipv6'}.src=={server_ip(server, family)}"
    big = mtu - (0 if family == 4 else 40)
    icmp = tshark_frames(pcap, TOO_BIG[family])
    too_big_again = tshark_frames(pcap, f"{srv} && tcp.analysis.retransmission && {ip_len(family)} > {big}")
    assert icmp and len(too_big_again) >= 2, (icmp, too_big_again)
    findings = diagnose(pcap)
    [f] = assert_fires(findings, "icmp.frag_needed", icmp + too_big_again, exact=True, severity="error",
                       details={"mtu": mtu, "black_hole": True, "src": server_ip(server, family)})
    assert "black hole" in f["summary"].lower(), f["summary"]
    assert f["details"]["retransmissions_after"] == len(too_big_again)
    # The same session's retransmissions are reported (on their own or nested under the ICMP finding).
    assert_fires(findings, "tcp.retransmissions", tshark_frames(pcap, f"{srv} && tcp.analysis.retransmission"))
    [rt] = of_rule(findings, "tcp.retransmissions")
    assert set(rt["sessions"]) == set(f["sessions"]), show(findings)


@pytest.mark.parametrize("family", [4, 6])
def test_frag_needed_clean_twin_same_mtu_everywhere(net: Network, tmp_path: Path, family: int) -> None:
    require(["curl"])
    pcap, _, _, (status, out) = download_through_narrow_link(net, tmp_path, family, None)
    assert (status, out) == (0, "200 200000")
    assert not tshark_frames(pcap, "icmp || icmpv6.type < 128")
    assert_clean(diagnose(pcap))


# -- icmp.ttl_exceeded -------------------------------------------------------------------
def dns_through_two_routers(net: Network, tmp_path: Path, loop: bool) -> tuple[Path, Node, tuple[int, str]]:
    """client - r1 - r2 - server (dnsmasq); with ``loop`` r2 routes the server's subnet back to r1.

    Captured on the r1-r2 link, where a looping datagram passes again and
    again, one hop less each time, until a router reports TTL exceeded.
    """
    t = routed(net, routers=2)
    r1, r2 = t.routers
    dnsmasq(net, t.server)
    if loop:
        net.route(r2, t.links[-1].subnet, r1.iface_to(r2))
    with net.capture(tmp_path / ("loop.pcap" if loop else "dns.pcap"), r1.iface_to(r2)) as pcap:
        result = dig(net, t.client, t.server.ip or "")
    return pcap, t.server, result


def test_ttl_exceeded_dns_queries_in_a_routing_loop(net: Network, tmp_path: Path) -> None:
    """Two routers send the server's subnet to each other: the DNS queries loop until their TTL runs out."""
    require(["dnsmasq", "dig"])
    pcap, server, (status, out) = dns_through_two_routers(net, tmp_path, loop=True)
    assert status != 0, out
    expected = tshark_frames(pcap, "icmp.type==11 && icmp.code==0")
    assert expected and expected == tshark_frames(pcap, "icmp")
    # The loop itself, as tshark sees it: each query passes many times with its TTL falling by one.
    queries: dict[str, list[int]] = {}
    for ident, ttl in tshark_fields(pcap, "dns.flags.response==0 && !icmp", "ip.id", "ip.ttl"):
        queries.setdefault(ident, []).append(int(ttl))
    assert len(queries) == 2, queries                 # dig's query and its retry
    for ttls in queries.values():
        assert len(ttls) > 20 and ttls == list(range(ttls[0], ttls[0] - len(ttls), -1)) and ttls[-1] == 1, ttls
    findings = diagnose(pcap)
    [f] = assert_fires(findings, "icmp.ttl_exceeded", expected, exact=True,
                       details={"dst": server.ip, "dport": 53, "proto": "udp"})
    assert f"DNS queries to {server.ip} are looping" in f["summary"], f["summary"]


def test_ttl_exceeded_clean_twin_dns_answered(net: Network, tmp_path: Path) -> None:
    require(["dnsmasq", "dig"])
    pcap, _, (status, out) = dns_through_two_routers(net, tmp_path, loop=False)
    assert status == 0 and "192.0.2.80" in out, out
    assert not tshark_frames(pcap, "icmp")
    assert_clean(diagnose(pcap))
