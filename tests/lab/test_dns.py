"""DNS faults from real stacks: dnsmasq serving, dig asking, each fault made in
the lab and each with its clean twin (the same network and traffic without
the fault: no finding outside the informational categories).

- ``dns.name_error``: dig asks for a name in a zone the server serves only
  from local data, and it has no such name (NXDOMAIN).
- ``dns.server_failure``: the resolver forwards to an upstream, and validates
  the answers with DNSSEC against a trust anchor nothing matches: SERVFAIL.
  (Twin: the same forwarder without validation.)
- ``dns.refused``: dig uses an authoritative-only server (dnsmasq
  ``--auth-server``) as its resolver and asks for a name outside its zone.
- ``dns.no_response``: nftables on the server drops port 53; dig retries
  (``+tries=3 +timeout=1``) and gives up.
- DNS TTL exceeded (a seed case): client - r1 - r2 - server, r2 routing the
  server's address back to r1: the queries loop until their TTL runs out,
  r2 answers the client with ICMP time exceeded, dig retries and gives up.
  ``icmp.ttl_exceeded`` reports the loop with ``dns.no_response`` nested under
  it (its symptom).
- DNS retried because ICMP "fragmentation needed" answered it: a TXT answer
  of ~1.3 kB (EDNS buffer 4096) crosses a router whose link to the client has
  MTU 1280.  Linux sends UDP with DF set (path MTU discovery), so the router
  drops the answer and tells the server; dig retries after 1 s, the server
  now fragments the answer and it gets through.  Captured on the router's
  server-side link, where the query, the lost answer, the ICMP message and
  the retry are all seen: ``icmp.frag_needed`` with ``dns.no_response``
  (answered only after a retry) nested under it.

Expected evidence is tshark's selection of the frames that prove the fault
(and what dig printed, the test's own log of what happened).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.lab import (
    Iface,
    Network,
    Node,
    Topology,
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
from tests.lab.servers import dnsmasq

pytestmark = pytest.mark.lab

# A made-up root key: nothing validates against it, so every answer dnsmasq
# must validate (the forwarded ones) is bogus, and it answers SERVFAIL.
FAKE_ROOT_DS = ".,4242,8,2," + "5a" * 32
# Queries only, not the copies quoted inside ICMP errors.
QUERIES = "dns.flags.response==0 && !icmp"
RCODES = {"SERVFAIL": 2, "NXDOMAIN": 3, "REFUSED": 5}


def dig(net: Network, node: Node, server: str, name: str, *opts: str, qtype: str = "A") -> str:
    """dig's output (it exits non-zero when no server answered)."""
    return net.run(node, ["dig", *opts, f"@{server}", name, qtype], check=False, timeout=30).stdout


def status(out: str) -> str | None:
    m = re.search(r"status: (\w+)", out)
    return m.group(1) if m else None


def ask(net: Network, t: Topology, pcap: Path, name: str, *opts: str, at: Iface | None = None,
        qtype: str = "A") -> tuple[Path, str, list[dict[str, Any]]]:
    """dig on the client asks the server for ``name`` while the client's link (or ``at``) is captured
    into ``pcap``: (the capture, dig's output, tracedoc's findings on the capture)."""
    with net.capture(pcap, at or t.client.ifaces[0]) as pcap:
        out = dig(net, t.client, t.server.ip or "", name, *opts, qtype=qtype)
    return pcap, out, diagnose(pcap)


def assert_answered_and_clean(out: str, findings: list[dict[str, Any]]) -> None:
    """The clean twin: dig got its answer and tracedoc found nothing wrong."""
    assert status(out) == "NOERROR", out
    assert_clean(findings)


def assert_rcode_fires(pcap: Path, out: str, findings: list[dict[str, Any]], rule: str, rcode: str,
                       t: Topology, name: str, severity: str) -> dict[str, Any]:
    """dig got ``rcode`` for ``name``, and ``rule`` reports exactly tshark's frames of the answer and
    the queries for the name, with the name, the server and the client, naming both in its summary."""
    srv = t.server.ip or ""
    assert status(out) == rcode, out
    expected = tshark_frames(pcap, f"dns.flags.rcode=={RCODES[rcode]}") + \
        tshark_frames(pcap, f'{QUERIES} && dns.qry.name=="{name}"')
    (f,) = assert_fires(findings, rule, expected, exact=True, severity=severity,
                        details={"name": name, "server": srv, "clients": [t.client.ip]})
    assert name in f["summary"] and srv in f["summary"]
    return f


@pytest.fixture(autouse=True)
def _tools() -> None:
    require(tools=["dnsmasq", "dig"])


# -- the server's answer ---------------------------------------------------------------

@pytest.mark.parametrize("fault", [True, False], ids=["missing-name", "clean"])
def test_name_error(net: Network, tmp_path: Path, fault: bool) -> None:
    t = two_hosts(net)
    srv = t.server.ip or ""
    dnsmasq(net, t.server, f"--listen-address={srv}", "--local=/lab.test/", "--address=/www.lab.test/10.9.0.5")
    name = "missing.lab.test" if fault else "www.lab.test"
    pcap, out, findings = ask(net, t, tmp_path / "nx.pcap", name, "+tries=1", "+timeout=2")
    if not fault:
        assert_answered_and_clean(out, findings)
        return
    f = assert_rcode_fires(pcap, out, findings, "dns.name_error", "NXDOMAIN", t, name, "warning")
    assert (t.client.ip or "") in f["summary"]
    assert [x["rule"] for x in findings if x["category"] not in ("INIT Packets", "TERM Packets")] == \
        ["dns.name_error"], show(findings)


@pytest.mark.parametrize("fault", [True, False], ids=["dnssec-bogus", "clean"])
def test_server_failure(net: Network, tmp_path: Path, fault: bool) -> None:
    t = two_hosts(net)
    srv = t.server.ip or ""
    # The upstream, on the server's loopback, knows www.lab.test (and nothing signed).
    dnsmasq(net, t.server, "--listen-address=127.0.0.1", "--port=5353", "--address=/lab.test/10.9.0.6",
            name="upstream", port=5353)
    validate = ["--dnssec", f"--trust-anchor={FAKE_ROOT_DS}"] if fault else []
    dnsmasq(net, t.server, f"--listen-address={srv}", "--server=127.0.0.1#5353", *validate)
    name = "www.lab.test"
    pcap, out, findings = ask(net, t, tmp_path / "sf.pcap", name, "+tries=1", "+timeout=3")
    if not fault:
        assert_answered_and_clean(out, findings)
        return
    assert_rcode_fires(pcap, out, findings, "dns.server_failure", "SERVFAIL", t, name, "error")


@pytest.mark.parametrize("fault", [True, False], ids=["not-authoritative", "clean"])
def test_refused(net: Network, tmp_path: Path, fault: bool) -> None:
    t = two_hosts(net)
    # Authoritative for zone.test only, no recursion: other names are REFUSED.
    dnsmasq(net, t.server, f"--auth-server=ns.zone.test,{t.server.ifaces[0].name}", "--auth-zone=zone.test",
            "--host-record=www.zone.test,10.9.0.7")
    name = "www.elsewhere.test" if fault else "www.zone.test"
    pcap, out, findings = ask(net, t, tmp_path / "ref.pcap", name, "+tries=1", "+timeout=2")
    if not fault:
        assert_answered_and_clean(out, findings)
        return
    assert_rcode_fires(pcap, out, findings, "dns.refused", "REFUSED", t, name, "error")


# -- no answer -------------------------------------------------------------------------

@pytest.mark.parametrize("fault", [True, False], ids=["port-53-dropped", "clean"])
def test_no_response(net: Network, tmp_path: Path, fault: bool) -> None:
    t = two_hosts(net)
    srv = t.server.ip or ""
    dnsmasq(net, t.server, f"--listen-address={srv}", "--address=/www.lab.test/10.9.0.8")
    if fault:
        net.nft(t.server, "table inet f {\n chain input {\n  type filter hook input priority 0;\n"
                          "  udp dport 53 drop\n }\n}\n")
    name = "www.lab.test"
    pcap, out, findings = ask(net, t, tmp_path / "drop.pcap", name, "+tries=3", "+timeout=1")
    if not fault:
        assert_answered_and_clean(out, findings)
        return
    assert status(out) is None and out.count("timed out") == 3, out
    queries = tshark_frames(pcap, QUERIES)
    assert len(queries) == 3 and not tshark_frames(pcap, "dns.flags.response==1")
    (f,) = assert_fires(findings, "dns.no_response", queries, exact=True, severity="error",
                        details={"name": name, "server": srv, "clients": [t.client.ip], "queries": 3,
                                 "retries": 2, "unanswered": 1})


# -- the cause is lower down: ICMP errors --------------------------------------------------

@pytest.mark.parametrize("fault", [True, False], ids=["routing-loop", "clean"])
def test_dns_ttl_exceeded_in_a_routing_loop(net: Network, tmp_path: Path, fault: bool) -> None:
    t = routed(net, routers=2)
    r1, r2 = t.routers
    srv = t.server.ip or ""
    dnsmasq(net, t.server, f"--listen-address={srv}", "--address=/www.lab.test/10.9.0.9")
    if fault:
        # r2 sends the server's address back to r1, which sends it to r2: a loop.
        net.route(r2, f"{srv}/32", r1.iface_to(r2))
    name = "www.lab.test"
    pcap, out, findings = ask(net, t, tmp_path / "loop.pcap", name, "+tries=3", "+timeout=1")
    if not fault:
        assert_answered_and_clean(out, findings)
        return
    assert status(out) is None, out
    icmp = tshark_frames(pcap, "icmp.type==11 && icmp.code==0")
    # ip.src lists the outer header's then the quoted one's: the reporter is the first.
    reporters = {row[0].split(",")[0] for row in tshark_fields(pcap, "icmp.type==11", "ip.src")}
    assert reporters == {r2.iface_to(r1).ip}, reporters
    (ttl,) = assert_fires(findings, "icmp.ttl_exceeded", icmp, exact=True,
                          details={"dst": srv, "src": t.client.ip, "dport": 53})
    assert f"DNS queries to {srv} are looping" in ttl["summary"], ttl["summary"]
    # The DNS timeouts are its symptom: nested under it, not a finding of their own.
    queries = tshark_frames(pcap, QUERIES)
    nested = [s for s in ttl.get("symptoms") or [] if s["rule"] == "dns.no_response"]
    assert nested, f"dns.no_response is not nested under icmp.ttl_exceeded:\n{show(findings)}"
    assert nested[0]["frames"] == queries and nested[0]["severity"] == "error"
    assert nested[0]["details"]["name"] == name and nested[0]["details"]["server"] == srv
    assert [f for f in findings if f["rule"] == "dns.no_response"] == [], show(findings)
    assert len(of_rule(findings, "dns.no_response")) == 1


@pytest.mark.parametrize("fault", [True, False], ids=["mtu-1280", "clean"])
def test_dns_answer_too_big_for_the_path_is_retried(net: Network, tmp_path: Path, fault: bool) -> None:
    # The client's link is 1280 with the fault (both ends); the answer, ~1.3 kB, fits the server's 1500.
    t = routed(net, routers=1, mtus=[1280 if fault else None, None])
    srv = t.server.ip or ""
    texts = ",".join(str(i) * 200 for i in range(1, 7))      # six 200-character strings
    dnsmasq(net, t.server, f"--listen-address={srv}", f"--txt-record=big.lab.test,{texts}",
            "--edns-packet-max=4096")
    name = "big.lab.test"
    pcap, out, findings = ask(net, t, tmp_path / "pmtu.pcap", name, "+tries=3", "+timeout=1", "+bufsize=4096",
                              at=t.r1.iface_to(t.server), qtype="TXT")
    assert status(out) == "NOERROR", out
    if not fault:
        assert "timed out" not in out, out
        assert_clean(findings)
        return
    assert out.count("timed out") == 1, out       # the first answer never arrived: one retry
    sizes = [int(row[0]) for row in tshark_fields(pcap, "dns.flags.response==1 && !icmp && ip.flags.df==1", "ip.len")]
    assert sizes and all(1280 < s <= 1500 for s in sizes), sizes
    icmp = tshark_frames(pcap, "icmp.type==3 && icmp.code==4 && icmp.mtu==1280")
    (frag,) = assert_fires(findings, "icmp.frag_needed", icmp,
                           details={"src": srv, "dst": t.client.ip, "proto": "udp", "mtu": 1280})
    # Every query and every answer (the one the router dropped and the fragmented one that arrived).
    dns = tshark_frames(pcap, "dns && !icmp")
    nested = [s for s in frag.get("symptoms") or [] if s["rule"] == "dns.no_response"]
    assert nested, f"dns.no_response is not nested under icmp.frag_needed:\n{show(findings)}"
    d = nested[0]["details"]
    assert nested[0]["frames"] == dns and nested[0]["severity"] == "warning"
    assert (d["name"], d["server"], d["clients"], d["retries"], d["retried"]) == (name, srv, [t.client.ip], 1, 1)
    # The answer the router dropped went to the port of dig's first query.
    first_port = int(tshark_fields(pcap, QUERIES, "udp.srcport")[0][0])
    assert frag["details"]["dport"] == first_port and first_port in d["client_ports"]
    first, last = (float(x[0]) for x in (tshark_fields(pcap, QUERIES, "frame.time_epoch")[0],
                                         tshark_fields(pcap, "dns.flags.response==1 && !icmp",
                                                       "frame.time_epoch")[-1]))
    assert d["answered_after_s"] == pytest.approx(last - first, abs=0.002)
    assert [f for f in findings if f["rule"] == "dns.no_response"] == [], show(findings)
