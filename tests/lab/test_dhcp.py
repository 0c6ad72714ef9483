"""DHCP faults from real stacks: dnsmasq serving, busybox udhcpc asking.

- ``dhcp.decline`` (the seed's case): another host on the LAN already uses the
  one address the server hands out; udhcpc's ARP check (``-a``) after the ACK
  gets a reply from it and the client sends DHCPDECLINE.
- ``dhcp.nak``: the client holds a lease; the server is restarted with another
  range (its lease database gone, ``--dhcp-authoritative``); the client's
  renewal of its old address is refused with DHCPNAK, and it starts over.
- ``dhcp.no_offer``: no DHCP server on the link; udhcpc's DISCOVERs (three,
  one second apart) go unanswered.

Each has its clean twin on the same network: a normal lease, a renewal the
server accepts.  Expected evidence is tshark's selection of the frames that
prove the fault.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.lab import (
    Iface,
    Network,
    Proc,
    assert_clean,
    assert_fires,
    diagnose,
    tshark_fields,
    tshark_frames,
)
from tests.lab.conftest import require
from tests.lab.servers import dnsmasq

pytestmark = pytest.mark.lab

SUBNET = "10.98.0.0/24"
OFFERED = "10.98.0.50"
ELSEWHERE = "10.98.0.60"       # outside the server's range
OTHER_RANGE = "10.98.0.70"

# udhcpc calls its script on each event; this one puts the leased address on
# the interface (a renewal is unicast from it) and takes it off again.
SCRIPT = """#!/bin/sh
case "$1" in
  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/${mask:-24}" dev "$interface" ;;
  deconfig) ip addr flush dev "$interface" ;;
esac
exit 0
"""


def _need() -> None:
    require(tools=["dnsmasq", "busybox"])


class Lan:
    """server (10.98.0.1), client (no address) and holder on one bridged segment."""

    def __init__(self, net: Network) -> None:
        self.net = net
        switch = net.host("switch")
        self.server, self.client, self.holder = net.host("server"), net.host("client"), net.host("holder")
        ends = []
        for node, subnet in ((self.server, SUBNET), (self.client, "10.97.1.0/24"), (self.holder, "10.97.2.0/24")):
            ends.append(net.link(node, switch, subnet, address_b=False))
        self.server_if, self.client_if, self.holder_if = (link.a for link in ends)
        for node, i in ((self.client, self.client_if), (self.holder, self.holder_if)):
            net.run(node, ["ip", "addr", "flush", "dev", i.name])   # the client asks for one; the holder gets one
        net.run(switch, ["ip", "link", "add", "br0", "type", "bridge"])
        for link in ends:
            net.run(switch, ["ip", "link", "set", link.b.name, "master", "br0"])
        net.run(switch, ["ip", "link", "set", "br0", "up"])
        self.script = net.workdir / "udhcpc.sh"
        self.script.write_text(SCRIPT)
        self.script.chmod(0o755)

    def hold(self, address: str) -> None:
        """The holder uses ``address`` (a static configuration inside, or outside, the pool)."""
        self.net.run(self.holder, ["ip", "addr", "add", f"{address}/24", "dev", self.holder_if.name])

    def dnsmasq(self, first: str, leases: Path, name: str = "dnsmasq") -> Proc:
        """dnsmasq handing out the range first..first (one address), authoritative, not pinging first."""
        return dnsmasq(self.net, self.server, f"--listen-address={self.server_if.ip}",
                       f"--dhcp-range={first},{first},255.255.255.0,1h", f"--dhcp-leasefile={leases}",
                       "--dhcp-authoritative", "--no-ping", name=name, dhcp=True)

    def udhcpc(self, *extra: str) -> list[str]:
        return ["busybox", "udhcpc", "-f", "-i", self.client_if.name, "-s", str(self.script), "-t", "3",
                "-T", "1", *extra]


@pytest.fixture
def lan(net: Network) -> Lan:
    _need()
    have = subprocess.run(["busybox", "--list"], capture_output=True, text=True).stdout.split()
    if "udhcpc" not in have:
        pytest.skip("this busybox has no udhcpc applet")
    return Lan(net)


def _mac(i: Iface) -> str:
    assert i.mac
    return i.mac.lower()


# -- dhcp.decline (seed) ----------------------------------------------------------

def test_decline_address_in_use(lan: Lan, tmp_path: Path) -> None:
    net = lan.net
    lan.hold(OFFERED)
    lan.dnsmasq(OFFERED, tmp_path / "leases")
    with net.capture(tmp_path / "decline.pcap", lan.client_if) as pcap:
        # -a: ARP-check the address after the ACK; -A 5: wait 5 s before starting over.
        client = net.spawn(lan.client, lan.udhcpc("-a", "-A", "5"), "udhcpc")
        net.wait_for(client, "broadcasting decline", timeout=10)
        net.stop(client)
    findings = diagnose(pcap)
    decline = tshark_frames(pcap, "dhcp.option.dhcp == 4")
    ack = tshark_frames(pcap, "dhcp.option.dhcp == 5")
    reply = tshark_frames(pcap, f"arp.opcode == 2 && arp.src.proto_ipv4 == {OFFERED}")
    assert decline and ack and reply, f"no decline / ACK / ARP reply in the capture:\n{client.output()}"
    assert tshark_fields(pcap, "arp.opcode == 2", "arp.src.hw_mac") == [[_mac(lan.holder_if)]] * len(reply)
    assert_fires(findings, "dhcp.decline", decline + ack + reply, exact=True,
                 details={"address": OFFERED, "client_mac": _mac(lan.client_if),
                          "holder_macs": [_mac(lan.holder_if)], "servers": [lan.server_if.ip]})


def test_decline_clean_twin(lan: Lan, tmp_path: Path) -> None:
    """The holder uses an address outside the pool: the ARP check finds nobody, the lease is taken."""
    net = lan.net
    lan.hold(ELSEWHERE)
    lan.dnsmasq(OFFERED, tmp_path / "leases")
    with net.capture(tmp_path / "lease.pcap", lan.client_if) as pcap:
        out = net.run(lan.client, lan.udhcpc("-a", "-q", "-n"), timeout=15)
    assert f"lease of {OFFERED} obtained" in out.stdout + out.stderr, out.stdout + out.stderr
    assert tshark_frames(pcap, "dhcp.option.dhcp == 5")
    assert_clean(diagnose(pcap))


# -- dhcp.nak ----------------------------------------------------------------------

def _renew(lan: Lan, tmp_path: Path, name: str, second_range: str, same_leases: bool) -> tuple[Path, str]:
    """Lease OFFERED, restart the server (same or other range and lease file), renew; (capture, client log)."""
    net = lan.net
    first = lan.dnsmasq(OFFERED, tmp_path / "leases1", "dnsmasq1")
    with net.capture(tmp_path / f"{name}.pcap", lan.client_if) as pcap:
        client = net.spawn(lan.client, lan.udhcpc(), "udhcpc")
        net.wait_for(client, f"lease of {OFFERED} obtained", timeout=10)
        net.stop(first)
        lan.dnsmasq(second_range, tmp_path / ("leases1" if same_leases else "leases2"), "dnsmasq2")
        time.sleep(0.5)
        client.popen.send_signal(signal.SIGUSR1)   # udhcpc: renew the lease now
        _wait_count(client, f"lease of {second_range} obtained", 2 if second_range == OFFERED else 1)
        net.stop(client)
    return pcap, client.output()


def _wait_count(proc: Proc, text: str, count: int, timeout: float = 10) -> None:
    """Until ``text`` appears ``count`` times in ``proc``'s output."""
    deadline = time.monotonic() + timeout
    while proc.output().count(text) < count:
        if time.monotonic() > deadline or proc.popen.poll() is not None:
            raise AssertionError(f"{proc.name}: {text!r} not {count} times:\n{proc.output()}")
        time.sleep(0.05)


def test_nak_of_a_renewal(lan: Lan, tmp_path: Path) -> None:
    pcap, log = _renew(lan, tmp_path, "nak", OTHER_RANGE, same_leases=False)
    naks = tshark_fields(pcap, "dhcp.option.dhcp == 6", "frame.number", "dhcp.id", "dhcp.option.message")
    assert naks, f"the server sent no NAK:\n{log}"
    frames = []
    for frame, xid, _ in naks:
        asked = tshark_fields(pcap, f"dhcp.option.dhcp == 3 && dhcp.id == {xid} && frame.number < {frame}",
                              "frame.number", "dhcp.ip.client", "dhcp.option.requested_ip_address")
        frames += [int(frame), int(asked[-1][0])]
        # RENEWING: the client's own address in ciaddr (RFC 2131 4.3.2), no option 50.
        assert asked[-1][1:] == [OFFERED, ""], asked
    messages = sorted({m for _, _, m in naks if m})
    findings = diagnose(pcap)
    assert_fires(findings, "dhcp.nak", frames, exact=True,
                 details={"client_mac": _mac(lan.client_if), "server": lan.server_if.ip, "requested": [OFFERED],
                          "messages": messages, "recovered": True}, severity="warning")
    assert tshark_frames(pcap, f"dhcp.option.dhcp == 5 && dhcp.ip.your == {OTHER_RANGE}"), findings


def test_nak_clean_twin(lan: Lan, tmp_path: Path) -> None:
    """The restarted server keeps its range and leases: the renewal is ACKed."""
    pcap, log = _renew(lan, tmp_path, "renew", OFFERED, same_leases=True)
    assert len(tshark_frames(pcap, "dhcp.option.dhcp == 5")) == 2, log
    assert tshark_frames(pcap, "dhcp.option.dhcp == 6") == []
    assert_clean(diagnose(pcap))


# -- dhcp.no_offer -----------------------------------------------------------------

def test_no_offer_without_a_server(lan: Lan, tmp_path: Path) -> None:
    net = lan.net
    with net.capture(tmp_path / "nooffer.pcap", lan.client_if) as pcap:
        # -t 3 -T 1: three DISCOVERs one second apart; -n: then give up.
        out = net.run(lan.client, lan.udhcpc("-n"), timeout=15, check=False)
    assert out.returncode != 0, out.stdout + out.stderr
    discovers = tshark_frames(pcap, "dhcp.option.dhcp == 1")
    assert len(discovers) == 3 and tshark_frames(pcap, "dhcp.option.dhcp == 2") == []
    assert_fires(diagnose(pcap), "dhcp.no_offer", discovers, exact=True,
                 details={"client_mac": _mac(lan.client_if), "discovers": 3})


def test_no_offer_clean_twin(lan: Lan, tmp_path: Path) -> None:
    net = lan.net
    lan.dnsmasq(OFFERED, tmp_path / "leases")
    with net.capture(tmp_path / "offer.pcap", lan.client_if) as pcap:
        out = net.run(lan.client, lan.udhcpc("-q", "-n"), timeout=15)
    assert f"lease of {OFFERED} obtained" in out.stdout + out.stderr
    assert_clean(diagnose(pcap))
