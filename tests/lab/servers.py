"""Servers and clients more than one lab scenario starts the same way.

Each server is started with :meth:`~tests.lab.net.Network.spawn` (stopped when
the network closes) and waited for until it listens; state and configuration
go into the network's work directory.
"""

from __future__ import annotations

from tests.lab.net import Network, Node, Proc

__all__ = ["DNSMASQ", "SYS_DESCR", "dnsmasq", "http_server", "snmpd", "snmpget"]

DNSMASQ = ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--pid-file=",
           "--user=root", "--group=root", "--bind-interfaces"]
"""dnsmasq in the foreground with nothing but its command line: no config file, resolv.conf or hosts."""

SYS_DESCR = "1.3.6.1.2.1.1.1.0"


def dnsmasq(net: Network, node: Node, *args: str, name: str = "dnsmasq", port: int = 53,
            dhcp: bool = False) -> Proc:
    """dnsmasq on ``node`` with ``args``: a DNS server logging its queries, listening on udp ``port``;
    with ``dhcp`` a DHCP server only (DNS off), logging DHCP, listening on udp 67."""
    mode = ["--port=0", "--log-dhcp"] if dhcp else ["--log-queries"]
    proc = net.spawn(node, [*DNSMASQ, *mode, *args], name)
    net.wait_listening(node, "udp", 67 if dhcp else port, proc)
    return proc


def snmpd(net: Network, node: Node) -> None:
    """net-snmp's agent on ``node``'s address, read-only community "public", state in the lab's directory."""
    conf = net.workdir / "snmpd.conf"
    conf.write_text("rocommunity public default\nsysDescr tracedoc lab agent\n")
    persist = net.workdir / "snmp-state"
    persist.mkdir(exist_ok=True)
    proc = net.spawn(node, ["env", f"SNMP_PERSISTENT_DIR={persist}", "snmpd", "-f", "-Lo", "-C", "-c", str(conf),
                            "-M", str(persist), "-m", "", "-p", str(net.workdir / "snmpd.pid"),
                            f"udp:{node.ip}:161"], "snmpd")
    net.wait_listening(node, "udp", 161, proc)


def snmpget(net: Network, node: Node, dst: str, version: str = "2c", community: str = "public",
            wait: float = 1) -> tuple[int, str]:
    """One GetRequest for sysDescr with one retry, ``wait`` seconds each; (exit status, output)."""
    persist = net.workdir / "snmp-state"
    persist.mkdir(exist_ok=True)
    r = net.run(node, ["env", f"SNMP_PERSISTENT_DIR={persist}", "MIBS=", f"MIBDIRS={persist}", "snmpget", "-On",
                       f"-v{version}", "-c", community, "-r", "1", "-t", f"{wait:g}", dst, SYS_DESCR], check=False)
    return r.returncode, r.stdout + r.stderr


def http_server(net: Network, node: Node, files: dict[str, bytes], port: int = 8080, bind: str = "0.0.0.0",
                python: str = "python3") -> Proc:
    """Python's http.server on ``node`` (``bind``:``port``) serving ``files`` (name: content) from WORKDIR/www."""
    root = net.workdir / "www"
    root.mkdir(exist_ok=True)
    for name, content in files.items():
        (root / name).write_bytes(content)
    proc = net.spawn(node, [python, "-m", "http.server", "-b", bind, "-d", str(root), str(port)], "http")
    net.wait_listening(node, "tcp", port, proc)
    return proc
