"""A network of Linux namespaces: hosts and routers joined by veth links.

See the package docstring (``tests/lab/__init__.py``) for the API and an
example.  Every host is a network namespace named ``tdlab-<pid>-<n>-<name>``;
every link is a veth pair, one end in each node.  IPv6 stays disabled in a
namespace unless a link asks for it (no router solicitations, no MLD in the
captures); offloads are off on every interface (the capture holds the real
segments with real checksums).  :meth:`Network.close` stops every process it
started and deletes every namespace, whether the test passed or failed, and
never raises; namespaces left by an earlier run whose process is gone are
removed when the next :class:`Network` starts.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tests.support import netns as _live
from tests.support.netns import LabError, Namespaces, Proc, _ip, remove_stale_of

__all__ = ["PREFIX", "LabError", "Proc", "Iface", "Node", "Link", "Network", "Topology",
           "two_hosts", "routed", "remove_stale"]

PREFIX = "tdlab"           # namespace names: tdlab-<pid>-<n>-<node name>


def remove_stale() -> list[str]:
    """Delete lab namespaces whose creating process has gone (and the live tests' ones); their names."""
    removed = remove_stale_of(PREFIX)
    _live.remove_stale()
    return removed


@dataclass(eq=False)
class Iface:
    """One end of a link: its node, interface name, addresses and MAC."""
    node: Node
    name: str
    ip: str | None = None
    ip6: str | None = None
    mac: str = ""
    prefix_len: int = 24
    prefix_len6: int = 64
    mtu: int | None = None
    peer: Iface | None = field(default=None, repr=False)
    """The other end of the link."""

    @property
    def ns(self) -> str:
        return self.node.ns

    def __repr__(self) -> str:
        return f"Iface({self.node.name}:{self.name} {self.ip or ''} {self.ip6 or ''})".replace("  ", " ")


@dataclass(eq=False)
class Node:
    """A host or a router: a namespace and its interfaces (in link order)."""
    name: str
    ns: str
    router: bool = False
    ifaces: list[Iface] = field(default_factory=list)

    @property
    def ip(self) -> str | None:
        """The first IPv4 address of the node (its only one on a host)."""
        return next((i.ip for i in self.ifaces if i.ip), None)

    @property
    def ip6(self) -> str | None:
        return next((i.ip6 for i in self.ifaces if i.ip6), None)

    def iface_to(self, other: Node) -> Iface:
        """This node's end of its (first) link with ``other``."""
        for i in self.ifaces:
            if i.peer is not None and i.peer.node is other:
                return i
        raise LabError(f"{self.name} has no link to {other.name}")

    def __repr__(self) -> str:
        return f"Node({self.name}{' router' if self.router else ''})"


@dataclass(eq=False)
class Link:
    """A veth pair: ``a`` (host .1 of the subnet) and ``b`` (host .2)."""
    a: Iface
    b: Iface
    subnet: str
    subnet6: str | None = None

    def end(self, node: Node) -> Iface:
        if self.a.node is node:
            return self.a
        if self.b.node is node:
            return self.b
        raise LabError(f"{node.name} is not on the link {self.a!r}-{self.b!r}")


@dataclass
class Topology:
    """Named nodes of a topology helper (client, server, routers in path order, links in path order)."""
    client: Node
    server: Node
    routers: list[Node]
    links: list[Link]

    @property
    def r1(self) -> Node:
        return self.routers[0]


class Network(Namespaces[Node]):
    """Namespaces joined by veth links; a context manager (see the module docstring).

    Commands, background processes, waits and teardown are tests/support/netns.py's
    (:class:`~tests.support.netns.Namespaces`); errors name a node by its name.
    """

    _count = 0

    def __init__(self, workdir: Path | str) -> None:
        super().__init__(workdir)
        Network._count += 1
        self.tag = f"{PREFIX}-{os.getpid()}-{Network._count}"
        self.nodes: dict[str, Node] = {}
        self.links: list[Link] = []
        self._started = False

    # -- life cycle -------------------------------------------------------------
    def start(self) -> None:
        if not self._started:
            self.workdir.mkdir(parents=True, exist_ok=True)
            remove_stale()
            self._started = True

    def _where(self, node: Node) -> str:
        return node.name

    # -- building ---------------------------------------------------------------
    def host(self, name: str, router: bool = False) -> Node:
        """A new namespace; ``router`` turns on IPv4/IPv6 forwarding and turns rp_filter off."""
        self.start()
        if name in self.nodes:
            raise LabError(f"node {name!r} exists already")
        node = Node(name, f"{self.tag}-{name}", router)
        self._new_ns(node.ns)
        self.nodes[name] = node
        sysctl = {
            # IPv6 off unless a link asks for it; when it does: no DAD wait, no RA/RS.
            "ipv6/conf/all/disable_ipv6": 1, "ipv6/conf/default/disable_ipv6": 1,
            "ipv6/conf/default/accept_dad": 0, "ipv6/conf/default/accept_ra": 0,
            "ipv6/conf/default/router_solicitations": 0,
        }
        if router:
            sysctl |= {"ipv4/ip_forward": 1, "ipv4/conf/all/forwarding": 1,
                       "ipv4/conf/all/rp_filter": 0, "ipv4/conf/default/rp_filter": 0,
                       "ipv6/conf/all/forwarding": 1, "ipv6/conf/default/forwarding": 1}
        self._sysctl(node, sysctl)
        self.run(node, ["ip", "link", "set", "lo", "up"])
        return node

    def _sysctl(self, node: Node, values: dict[str, int | str]) -> None:
        # /proc/sys/net is the namespace's own; no sysctl binary needed.
        script = "; ".join(f"echo {v} > /proc/sys/net/{k}" for k, v in values.items())
        self.run(node, ["sh", "-ec", script])

    def link(self, a: Node, b: Node, subnet: str = "10.1.0.0/24", mtu: int | None = None,
             mtu_a: int | None = None, mtu_b: int | None = None, ipv6: str | None = None,
             address_b: bool = True) -> Link:
        """A veth pair between ``a`` (host .1 of ``subnet``) and ``b`` (host .2).

        ``mtu`` sets both ends, ``mtu_a``/``mtu_b`` one end (they win over ``mtu``).
        ``ipv6`` ("fd00:1::/64") enables IPv6 on this link only, ``::1``/``::2``.
        ``address_b=False`` leaves ``b`` without addresses (for a DHCP client).
        """
        net4 = ipaddress.ip_network(subnet, strict=False)
        net6 = ipaddress.ip_network(ipv6, strict=False) if ipv6 else None
        ends = []
        for node, host_no, addressed, m in ((a, 1, True, mtu_a or mtu), (b, 2, address_b, mtu_b or mtu)):
            ends.append(Iface(node, f"eth{len(node.ifaces)}",
                              str(net4[host_no]) if addressed else None,
                              str(net6[host_no]) if net6 is not None and addressed else None,
                              prefix_len=net4.prefixlen, prefix_len6=net6.prefixlen if net6 else 64, mtu=m))
        ia, ib = ends
        if ia.node is ib.node:
            raise LabError("a link joins two different nodes")
        _ip("link", "add", ia.name, "netns", a.ns, "type", "veth", "peer", "name", ib.name, "netns", b.ns)
        for i, peer in ((ia, ib), (ib, ia)):
            i.node.ifaces.append(i)
            i.peer = peer
        for i in (ia, ib):
            self._up(i, net6 is not None)
        link = Link(ia, ib, str(net4), str(net6) if net6 else None)
        self.links.append(link)
        return link

    def _up(self, i: Iface, ipv6: bool) -> None:
        node = i.node
        if i.mtu:
            self.run(node, ["ip", "link", "set", i.name, "mtu", str(i.mtu)])
        if ipv6:
            self._sysctl(node, {f"ipv6/conf/{i.name}/disable_ipv6": 0})
        if i.ip:
            self.run(node, ["ip", "addr", "add", f"{i.ip}/{i.prefix_len}", "dev", i.name])
        if i.ip6:
            self.run(node, ["ip", "-6", "addr", "add", f"{i.ip6}/{i.prefix_len6}", "dev", i.name, "nodad"])
        i.mac = self._link_up(node, i.name)

    def route(self, node: Node, dst: str, via: str | Iface, dev: str | Iface | None = None) -> None:
        """``ip route replace dst via ...`` in ``node`` (``dst`` may be "default"; IPv6 by address)."""
        gw = via if isinstance(via, str) else None
        if isinstance(via, Iface):
            gw = via.ip6 if dst != "default" and ":" in dst else via.ip
            if gw is None:
                raise LabError(f"{via!r} has no address to route via")
        six = ":" in dst or (gw is not None and ":" in gw)
        argv = ["ip", "-6" if six else "-4", "route", "replace", dst, "via", str(gw)]
        if dev is not None:
            argv += ["dev", dev if isinstance(dev, str) else dev.name]
        self.run(node, argv)

    # -- commands ---------------------------------------------------------------
    def nft(self, node: Node, ruleset: str) -> None:
        """Load an nftables ruleset (``nft -f -``) in ``node``."""
        self.run(node, ["nft", "-f", "-"], input=ruleset)

    def capture(self, path: Path | str, iface: Iface, bpf: Sequence[str] = (),
                settle: float = 0.3) -> contextlib.AbstractContextManager[Path]:
        """tcpdump on ``iface`` (inside its namespace) into ``path`` while the block runs.

        ``settle`` seconds pass after the block before tcpdump stops, so the
        last packets in flight are in the file.
        """
        return self._tcpdump(iface.node, iface.name, path, bpf, settle)


# -- topologies ------------------------------------------------------------------
def two_hosts(net: Network, subnet: str = "10.1.0.0/24", ipv6: str | None = None,
              mtu: int | None = None) -> Topology:
    """client (.1) — server (.2) on one link."""
    client, server = net.host("client"), net.host("server")
    link = net.link(client, server, subnet, mtu=mtu, ipv6=ipv6)
    return Topology(client, server, [], [link])


MtuSpec = int | tuple[int | None, int | None] | None


def routed(net: Network, routers: int = 1, mtus: Sequence[MtuSpec] | None = None,
           ipv6: bool = False, base: str = "10.1") -> Topology:
    """client — r1 — ... — rN — server, link i on BASE.i.0/24 (and fd00:i::/64 with ``ipv6``).

    On every link the node nearer the client is .1, the other .2.  ``mtus``
    gives one entry per link (client side first): None, an MTU for both ends,
    or a pair (MTU of the client-side end, MTU of the server-side end).
    Routes go both ways: client and server by default route, each router to
    every subnet it is not on through its neighbour on that side.
    """
    if routers < 1:
        raise LabError("routed() needs at least one router; two_hosts() is the one-link network")
    nodes = [net.host("client")] + [net.host(f"r{k}", router=True) for k in range(1, routers + 1)] \
        + [net.host("server")]
    mtus = list(mtus) if mtus is not None else [None] * (routers + 1)
    if len(mtus) != routers + 1:
        raise LabError(f"mtus needs {routers + 1} entries (one per link), got {len(mtus)}")
    links = []
    for i in range(routers + 1):
        m = mtus[i]
        ma, mb = m if isinstance(m, tuple) else (m, m)
        links.append(net.link(nodes[i], nodes[i + 1], f"{base}.{i}.0/24", mtu_a=ma, mtu_b=mb,
                              ipv6=f"fd00:{i}::/64" if ipv6 else None))
    client, server = nodes[0], nodes[-1]
    net.route(client, "default", links[0].b)
    net.route(server, "default", links[-1].a)
    if ipv6:
        net.route(client, "default", links[0].b.ip6 or "")
        net.route(server, "default", links[-1].a.ip6 or "")
    for k in range(1, routers + 1):
        left, right = links[k - 1], links[k]      # router k is left.b and right.a
        for j, other in enumerate(links):
            if other is left or other is right:
                continue
            hop = left.a if j < k - 1 else right.b
            net.route(nodes[k], other.subnet, hop)
            if ipv6 and other.subnet6:
                net.route(nodes[k], other.subnet6, hop)
    return Topology(client, server, nodes[1:-1], links)
