"""The network lab: real faults between Linux network namespaces, diagnosed by tracedoc.

A scenario test builds a small network (client, routers, server), starts
real Debian servers and clients in it, injects a fault (nftables, MTU,
routes, server configuration), captures with tcpdump, runs ``tracedoc
diagnose --format json`` on the capture and compares the finding's frames
with tshark's selection of the frames that prove the fault.  Its clean twin
runs the same network and traffic without the fault: no finding outside the
informational categories.

Building (``tests/lab/net.py``)::

    net = Network(workdir)                 # a context manager; the ``net`` fixture gives one
    node = net.host("name", router=False)  # a namespace; router: forwarding on, rp_filter off
    link = net.link(a, b, subnet="10.1.0.0/24", mtu=None, mtu_a=None, mtu_b=None,
                    ipv6=None, address_b=True)
    # veth pair: link.a (on a, host .1) and link.b (on b, host .2), each an
    # Iface(node, name, ip, ip6, mac, peer); ipv6="fd00:1::/64" gives ::1/::2 and
    # enables IPv6 on this link only; address_b=False leaves b bare (DHCP client).
    net.route(node, "10.2.0.0/24" | "default" | "fd00:2::/64", via=iface_or_address, dev=None)
    net.run(node, argv, timeout=20, check=True, input=None) -> CompletedProcess (LabError on failure)
    proc = net.spawn(node, argv, "name")   # background, output in WORKDIR/name.log (proc.output())
    net.wait_listening(node, "tcp" | "udp", port, proc=None)
    net.wait_for(proc, "text");  net.stop(proc)
    net.nft(node, "table inet f { ... }") # nft -f -
    with net.capture(path, iface, bpf=()): ...   # tcpdump on iface inside its namespace
    net.close()                            # stops everything, deletes the namespaces; never raises

    node.ip / node.ip6 (first address), node.ifaces, node.iface_to(other_node) -> Iface

Topologies::

    t = two_hosts(net)                     # t.client (10.1.0.1) -- t.server (10.1.0.2)
    t = routed(net, routers=2, mtus=[None, 1000, None], ipv6=False)
    # client - r1 - r2 - server; link i is 10.1.i.0/24 (fd00:i::/64 with ipv6), the end nearer
    # the client .1; an mtus entry is None, an int (both ends) or (client-side end, server-side end).
    # t.client, t.server, t.routers ([r1, r2]), t.r1, t.links (client side first); routes both ways.

Judging (``tests/lab/check.py``)::

    findings = diagnose(pcap, "--set", "rule.param=v")   # the real CLI's JSON
    flatten(findings); of_rule(findings, "icmp.unreachable")
    tshark_frames(pcap, "icmp.type==3")                  # [frame numbers]
    tshark_fields(pcap, "icmp", "frame.number", "ip.ttl") # [[str, ...], ...]; a field seen twice
    tshark_fields(pcap, "icmp", "ip.src", occurrence="f") # (ICMP and quoted header) joined by ","
    assert_fires(findings, "icmp.unreachable", tshark_frames(pcap, "icmp.type==3"),
                 details={"dport": 161})                 # returns the matching findings
    assert_clean(findings)                               # only INIT/TERM Packets allowed

Servers several scenarios start (``tests/lab/servers.py``), each waited for until it listens::

    dnsmasq(net, node, "--listen-address=...", ..., port=53)   # DNS; dhcp=True: DHCP only, on udp 67
    snmpd(net, node);  snmpget(net, node, dst, version="2c", community="public", wait=1)
    http_server(net, node, {"name": b"content"}, port=8080, bind="0.0.0.0")

Example (``net`` fixture from tests/lab/conftest.py; mark the module ``pytestmark = pytest.mark.lab``;
``from tests.lab.conftest import require``; ``require(["snmpget"])`` skips outside CI, fails in CI,
when a program is missing)::

    def test_port_unreachable(net, tmp_path):
        t = two_hosts(net)
        with net.capture(tmp_path / "u.pcap", t.client.ifaces[0]) as pcap:
            net.run(t.client, ["dig", f"@{t.server.ip}", "+tries=1", "+time=1", "x.test"], check=False)
        assert_fires(diagnose(pcap), "icmp.unreachable", tshark_frames(pcap, "icmp.type==3"))
"""

from tests.lab.check import (
                             INFORMATIONAL,
                             assert_clean,
                             assert_fires,
                             diagnose,
                             flatten,
                             of_rule,
                             show,
                             tshark_fields,
                             tshark_frames,
)
from tests.lab.net import (
                             Iface,
                             LabError,
                             Link,
                             Network,
                             Node,
                             Proc,
                             Topology,
                             remove_stale,
                             routed,
                             two_hosts,
)

__all__ = ["INFORMATIONAL", "assert_clean", "assert_fires", "diagnose", "flatten", "of_rule", "show",
           "tshark_fields", "tshark_frames", "Iface", "LabError", "Link", "Network", "Node", "Proc",
           "Topology", "remove_stale", "routed", "two_hosts"]
