"""The dns rules on DNS exchanges built byte by byte (tests.support.pcapgen):
name errors, server failures, refusals, and queries never answered or
answered only after the client retried.

Every expected frame, count and time follows from how the test built the
exchange (its own log of what it wrote, in order) and from the protocols
(RFC 1035 messages, RFC 6762/4795 multicast resolution, resolvers' search
lists), not from the code under test.
"""

from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import tracedoc
from tests.support import pcapgen as g
from tests.support.corpus import CORPUS, have_corpus, have_tshark
from tracedoc.analyze.diagnose import Evidence, diagnose
from tracedoc.analyze.rules import all_rules, settings

CLIENT, CLIENT2, SERVER, SERVER2 = "10.0.0.1", "10.0.0.5", "10.0.0.2", "10.0.0.3"
MAC_C, MAC_S = "02:00:00:00:00:01", "02:00:00:00:00:02"
MS = 1_000_000
TYPES = {"A": 1, "AAAA": 28, "PTR": 12, "TXT": 16, "SOA": 6}
RCODES = {"NOERROR": 0, "SERVFAIL": 2, "NXDOMAIN": 3, "REFUSED": 5}


def message(ident: int, name: str, qtype: str, *, response: bool = False, rcode: str = "NOERROR",
            answer: str | None = None, opcode: int = 0) -> bytes:
    """An RFC 1035 4.1 message with one question (and one A answer)."""
    flags = (opcode << 11) | (0x8180 if response else 0x0100) | (RCODES[rcode] if response else 0)
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0" \
        + struct.pack("!HH", TYPES[qtype], 1)
    an = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + g.ip4(answer) if answer else b""
    return struct.pack("!HHHHHH", ident, flags, 1, 1 if an else 0, 0, 0) + q + an


@dataclass
class Capture:
    """Frames at chosen times; remembers each frame's number as it is added."""
    frames: list[tuple[int, bytes]] = field(default_factory=list)

    def add(self, t_ms: float, src: str, sport: int, dst: str, dport: int, payload: bytes) -> int:
        mac_src, mac_dst = (MAC_C, MAC_S) if src in (CLIENT, CLIENT2) else (MAC_S, MAC_C)
        if dst.startswith("224."):
            mac_dst = "01:00:5e:00:00:fb"
        frame = g.ether(mac_dst, mac_src, 0x0800, g.ipv4(src, dst, 17, g.udp(sport, dport, payload)))
        self.frames.append((int(t_ms * MS), frame))
        return len(self.frames)

    def query(self, t_ms: float, ident: int, name: str, qtype: str = "A", *, client: str = CLIENT,
              port: int = 40000, server: str = SERVER, server_port: int = 53, opcode: int = 0) -> int:
        return self.add(t_ms, client, port, server, server_port, message(ident, name, qtype, opcode=opcode))

    def answer(self, t_ms: float, ident: int, name: str, qtype: str = "A", rcode: str = "NOERROR", *,
               client: str = CLIENT, port: int = 40000, server: str = SERVER, opcode: int = 0) -> int:
        ip = "192.0.2.7" if rcode == "NOERROR" and qtype == "A" else None
        return self.add(t_ms, server, 53, client, port, message(ident, name, qtype, response=True, rcode=rcode,
                                                                 answer=ip, opcode=opcode))

    def lookup(self, t_ms: float, ident: int, name: str, qtype: str = "A", rcode: str = "NOERROR",
               **kw: object) -> tuple[int, int]:
        """A query answered 1 ms later: (query frame, answer frame)."""
        return (self.query(t_ms, ident, name, qtype, **kw),  # type: ignore[arg-type]
                self.answer(t_ms + 1, ident, name, qtype, rcode, **kw))  # type: ignore[arg-type]

    def write(self, path: Path) -> Path:
        recs = [g.Rec(g.BASE_TS + t, f, len(f)) for t, f in self.frames]
        data, _ = g.pcap_file(recs, nsec=True)
        path.write_bytes(data)
        return path


DNS_RULES = [r for r in all_rules() if r.id.startswith("dns.")]


def findings(tmp_path: Path, cap: Capture, *overrides: str) -> list[dict]:
    return findings_of(cap.write(tmp_path / "dns.pcap"), *overrides)


def findings_of(path: Path, *overrides: str) -> list[dict]:
    tbl = tracedoc.open(path).table()
    return [f.as_dict() for f in diagnose(Evidence(tbl), DNS_RULES, settings(DNS_RULES, list(overrides)))]


def only(found: list[dict], rule: str) -> dict:
    mine = [f for f in found if f["rule"] == rule]
    assert len(mine) == 1, found
    return mine[0]


# -- a normal lookup --------------------------------------------------------------------

def test_a_normal_lookup_reports_nothing(tmp_path: Path) -> None:
    cap = Capture()
    cap.lookup(0, 0x1111, "www.example.com", "A", port=40000)
    cap.lookup(0.5, 0x2222, "www.example.com", "AAAA", port=40001)
    cap.lookup(2000, 0x3333, "www.example.com", "A", port=40002)   # asked again later: a new lookup
    assert findings(tmp_path, cap) == []


# -- dns.no_response --------------------------------------------------------------------

def test_retries_on_new_ports_then_answered_is_a_warning(tmp_path: Path) -> None:
    # dig: each retry from a new source port, same ID; the third copy is answered.
    cap = Capture()
    q1 = cap.query(0, 0x4242, "big.example", "TXT", port=41000)
    q2 = cap.query(1000, 0x4242, "big.example", "TXT", port=41001)
    q3 = cap.query(2000, 0x4242, "big.example", "TXT", port=41002)
    a3 = cap.answer(2003, 0x4242, "big.example", "TXT", port=41002)
    f = only(findings(tmp_path, cap), "dns.no_response")
    assert f["severity"] == "warning"
    assert f["frames"] == [q1, q2, q3, a3]
    d = f["details"]
    assert (d["name"], d["server"], d["clients"]) == ("big.example", SERVER, [CLIENT])
    assert d["client_ports"] == [41000, 41001, 41002]
    assert (d["queries"], d["retries"], d["retried"], d["unanswered"]) == (3, 2, 1, 0)
    assert d["answered_after_s"] == pytest.approx(2.003)
    assert "only after 2 retries" in f["summary"] and "2.0 s late" in f["summary"] and SERVER in f["summary"]
    # One retry is not enough when two are asked for ... and two are.
    assert [x for x in findings(tmp_path, cap, "dns.no_response.min_retries=3") if x["rule"] == "dns.no_response"] == []
    assert only(findings(tmp_path, cap, "dns.no_response.min_retries=2"), "dns.no_response")


def test_retransmission_on_the_same_port_is_a_retry(tmp_path: Path) -> None:
    # glibc: the same query again on the same socket (Wireshark: a retransmission).
    cap = Capture()
    q1 = cap.query(0, 0x0101, "host.example", port=42000)
    q2 = cap.query(5000, 0x0101, "host.example", port=42000)
    a = cap.answer(5002, 0x0101, "host.example", port=42000)
    f = only(findings(tmp_path, cap), "dns.no_response")
    assert f["severity"] == "warning" and f["frames"] == [q1, q2, a]
    assert (f["details"]["queries"], f["details"]["retries"]) == (2, 1)
    assert f["details"]["answered_after_s"] == pytest.approx(5.002)


def test_answer_lost_after_the_capture_point_is_found_by_the_same_id(tmp_path: Path) -> None:
    # Captured near the server: the answer went out, the client never got it and asked
    # again with the same ID from a new port; the second answer reached it.
    cap = Capture()
    q1 = cap.query(0, 0x5151, "big.example", "TXT", port=43000)
    a1 = cap.answer(1, 0x5151, "big.example", "TXT", port=43000)
    q2 = cap.query(1000, 0x5151, "big.example", "TXT", port=43001)
    a2 = cap.answer(1001, 0x5151, "big.example", "TXT", port=43001)
    f = only(findings(tmp_path, cap), "dns.no_response")
    assert f["severity"] == "warning" and f["frames"] == [q1, a1, q2, a2]
    assert f["details"]["answered_after_s"] == pytest.approx(1.001)
    # A new ID is a new lookup: the client got its first answer.
    cap2 = Capture()
    cap2.lookup(0, 0x5151, "big.example", "TXT", port=43000)
    cap2.lookup(1000, 0x5152, "big.example", "TXT", port=43001)
    assert findings(tmp_path, cap2) == []


def test_never_answered_is_an_error_with_every_copy(tmp_path: Path) -> None:
    cap = Capture()
    qs = [cap.query(t, 0x7777, "www.example.test", port=44000 + i) for i, t in enumerate((0, 1000, 2000))]
    cap.lookup(3500, 0x1234, "other.example", server=SERVER2)   # the capture goes on
    f = only(findings(tmp_path, cap), "dns.no_response")
    assert f["severity"] == "error" and f["frames"] == qs
    d = f["details"]
    assert (d["name"], d["server"], d["clients"], d["queries"], d["unanswered"]) == \
        ("www.example.test", SERVER, [CLIENT], 3, 1)
    assert d["answered_after_s"] is None
    assert f["summary"] == f"DNS server {SERVER} never answered 3 queries for A www.example.test from {CLIENT}"
    assert [x for x in findings(tmp_path, cap, "dns.no_response.min_queries=4") if x["rule"] == "dns.no_response"] \
        == []


def test_an_unanswered_query_at_the_end_of_the_capture_is_not_judged(tmp_path: Path) -> None:
    cap = Capture()
    cap.lookup(0, 0x1000, "a.example")
    cap.query(500, 0x2000, "b.example", port=40001)       # the capture stops 0 s after it
    assert findings(tmp_path, cap) == []
    cap.lookup(2000, 0x3000, "c.example", port=40002)     # now 1.5 s follow it
    f = only(findings(tmp_path, cap), "dns.no_response")
    assert f["details"]["name"] == "b.example" and f["severity"] == "error"
    assert [x for x in findings(tmp_path, cap, "dns.no_response.min_wait_s=2") if x["rule"] == "dns.no_response"] == []


def test_retried_and_never_answered_lookups_of_one_name_are_one_error(tmp_path: Path) -> None:
    cap = Capture()
    late = [cap.query(0, 0x1, "svc.example", port=40000), cap.query(1000, 0x1, "svc.example", port=40001)]
    late.append(cap.answer(1002, 0x1, "svc.example", port=40001))
    lost = [cap.query(30_000, 0x2, "svc.example", port=40002), cap.query(31_000, 0x2, "svc.example", port=40003)]
    cap.lookup(33_000, 0x3, "x.example", server=SERVER2)
    f = only(findings(tmp_path, cap), "dns.no_response")
    assert f["severity"] == "error" and f["frames"] == sorted(late + lost)
    assert (f["details"]["unanswered"], f["details"]["retried"], f["details"]["queries"]) == (1, 1, 4)
    assert "never answered 2 queries" in f["summary"] and "1 other lookup answered only after retries" in f["summary"]


def test_mdns_and_llmnr_are_not_servers(tmp_path: Path) -> None:
    cap = Capture()
    for t in (0, 1000, 3000):     # mDNS probes for a service nobody offers; LLMNR for an unknown host
        cap.query(t, 0, "_ipp._tcp.local", "PTR", port=5353, server="224.0.0.251", server_port=5353)
        cap.query(t + 1, 0x99, "printer", port=50000 + t, server="224.0.0.252", server_port=5355)
    cap.lookup(6000, 0x10, "www.example.com")
    assert findings(tmp_path, cap) == []


# -- dns.name_error ---------------------------------------------------------------------------

def test_name_error_names_name_server_and_clients(tmp_path: Path) -> None:
    cap = Capture()
    cap.lookup(0, 0x10, "www.example.com")
    nx = [*cap.lookup(10, 0x11, "missing.example.com", "A", "NXDOMAIN"),
          *cap.lookup(11, 0x12, "missing.example.com", "AAAA", "NXDOMAIN", port=40001),
          *cap.lookup(50, 0x13, "Missing.Example.com", "A", "NXDOMAIN", client=CLIENT2)]
    f = only(findings(tmp_path, cap), "dns.name_error")
    assert f["severity"] == "warning" and f["frames"] == sorted(nx)
    d = f["details"]
    assert (d["name"], d["server"], d["clients"], d["count"], d["types"]) == \
        ("missing.example.com", SERVER, [CLIENT, CLIENT2], 3, ["A", "AAAA"])
    assert "missing.example.com" in f["summary"] and SERVER in f["summary"] and CLIENT2 in f["summary"]


def test_search_list_candidates_of_a_lookup_that_went_on_are_not_errors(tmp_path: Path) -> None:
    cap = Capture()
    # glibc, name with dots: as it is first (empty AAAA answer), then the search domain for AAAA.
    cap.lookup(0, 0x20, "upload.example.org", "AAAA")
    cap.lookup(2, 0x21, "upload.example.org.corp.example", "AAAA", "NXDOMAIN", port=40001)
    cap.lookup(4, 0x22, "upload.example.org", "A", port=40002)
    # Kubernetes (ndots:5): nested search domains, the second candidate exists.
    cap.lookup(100, 0x30, "api.web.web.svc.cluster.local", "A", "NXDOMAIN", port=40003)
    cap.lookup(102, 0x31, "api.web.svc.cluster.local", "A", port=40004)
    # A server refusing the candidate under its own domain (a home gateway).
    cap.lookup(200, 0x40, "www.wireshark.org.gateway.home", "A", "REFUSED", port=40005)
    cap.lookup(202, 0x41, "www.wireshark.org", "A", port=40006)
    assert findings(tmp_path, cap) == []


def test_a_lookup_whose_every_candidate_failed_is_one_finding_under_the_typed_name(tmp_path: Path) -> None:
    cap = Capture()
    frames = [*cap.lookup(0, 0x50, "intranet.corp.example", "A", "NXDOMAIN"),
              *cap.lookup(2, 0x51, "intranet.example", "A", "NXDOMAIN", port=40001),
              *cap.lookup(4, 0x52, "intranet", "A", "NXDOMAIN", port=40002)]
    f = only(findings(tmp_path, cap), "dns.name_error")
    assert f["details"]["name"] == "intranet" and f["frames"] == frames
    assert f["details"]["searched"] == ["intranet.corp.example", "intranet.example"]


def test_unrelated_names_sharing_a_first_label_are_not_a_search_walk(tmp_path: Path) -> None:
    cap = Capture()
    nx = cap.lookup(0, 0x60, "www.typo-site.example", "A", "NXDOMAIN")
    cap.lookup(1, 0x61, "www.real-site.example", port=40001)
    f = only(findings(tmp_path, cap), "dns.name_error")
    assert f["frames"] == list(nx) and f["details"]["name"] == "www.typo-site.example"
    # Far apart in time, a name and its search form are two lookups: the failure is reported.
    cap2 = Capture()
    cap2.lookup(0, 0x70, "db.example.org")
    late = cap2.lookup(60_000, 0x71, "db.example.org.corp.example", "A", "NXDOMAIN", port=40001)
    assert only(findings(tmp_path, cap2), "dns.name_error")["frames"] == list(late)


def test_nxdomain_for_one_type_of_a_name_that_exists_is_a_broken_server(tmp_path: Path) -> None:
    cap = Capture()
    cap.lookup(0, 0x80, "www.example.net", "A")
    bad = cap.lookup(1, 0x81, "www.example.net", "AAAA", "NXDOMAIN", port=40001)
    f = only(findings(tmp_path, cap), "dns.name_error")
    assert f["frames"] == list(bad) and f["details"]["exists_for"] == ["A"] and f["severity"] == "warning"
    assert "RFC 8020" in f["explanation"]


def test_missing_reverse_records_are_one_informational_finding_per_server(tmp_path: Path) -> None:
    cap = Capture()
    frames = []
    for i, host in enumerate((1, 50, 61, 69)):
        frames += cap.lookup(i * 2, 0x90 + i, f"{host}.1.168.192.in-addr.arpa", "PTR", "NXDOMAIN", port=40000 + i)
    f = only(findings(tmp_path, cap), "dns.name_error")
    assert f["severity"] == "info" and f["frames"] == frames
    assert len(f["details"]["names"]) == 4 and f["details"]["server"] == SERVER


# -- dns.server_failure, dns.refused ------------------------------------------------------------

def test_server_failure_even_for_a_search_candidate(tmp_path: Path) -> None:
    cap = Capture()
    sf = cap.lookup(0, 0xA0, "www.example.com.corp.example", "A", "SERVFAIL")
    cap.lookup(5, 0xA1, "www.example.com", port=40001)
    f = only(findings(tmp_path, cap), "dns.server_failure")
    assert f["severity"] == "error" and f["frames"] == list(sf)
    assert (f["details"]["name"], f["details"]["server"], f["details"]["clients"]) == \
        ("www.example.com.corp.example", SERVER, [CLIENT])
    assert "SERVFAIL" in f["summary"] and "www.example.com.corp.example" in f["summary"]


def test_refused_query_and_refused_update(tmp_path: Path) -> None:
    cap = Capture()
    q = cap.lookup(0, 0xB0, "www.elsewhere.example", "A", "REFUSED")
    upd = (cap.query(10, 0xB1, "zone.example", "SOA", port=40001, opcode=5),
           cap.answer(11, 0xB1, "zone.example", "SOA", "REFUSED", port=40001, opcode=5))
    found = [f for f in findings(tmp_path, cap) if f["rule"] == "dns.refused"]
    by_name = {f["details"]["name"]: f for f in found}
    assert by_name["www.elsewhere.example"]["frames"] == list(q)
    assert "refused to answer 1 query for A www.elsewhere.example" in by_name["www.elsewhere.example"]["summary"]
    assert by_name["zone.example"]["frames"] == list(upd)
    assert "dynamic update of zone zone.example" in by_name["zone.example"]["summary"]


# -- real captures -------------------------------------------------------------------------------

TRACES = CORPUS / "zeek/testing/btest/Traces"
needs_corpus = pytest.mark.skipif(not (have_corpus() and have_tshark()), reason="needs the corpus and tshark")


def tshark_frames(path: Path, flt: str) -> list[int]:
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", flt, "-T", "fields", "-e", "frame.number"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return [int(x) for x in out.split()]


@needs_corpus
def test_real_search_list_walks_and_multicast_queries_are_quiet() -> None:
    # A Linux host: AAAA for upload.wikimedia.org answered, then tried under its search domain
    # (NXDOMAIN), then A answered; mDNS and LLMNR queries nobody answers.
    path = TRACES / "wikipedia.pcap"
    assert tshark_frames(path, 'dns.flags.rcode==3 && dns.qry.name=="upload.wikimedia.org.ncsa.uiuc.edu"')
    assert tshark_frames(path, 'dns.flags.rcode==0 && dns.qry.name=="upload.wikimedia.org"')
    assert tshark_frames(path, "llmnr && dns.flags.response==0") and tshark_frames(path, "mdns")
    assert findings_of(path) == []
    # A home gateway refusing the candidate under its own domain, the name as typed answered.
    teredo = TRACES / "tunnels/Teredo.pcap"
    assert tshark_frames(teredo, 'dns.flags.rcode==5 && dns.qry.name contains "wireshark.org.gateway"')
    assert findings_of(teredo) == []


@needs_corpus
def test_real_server_failure_reported_and_its_search_candidates_not() -> None:
    path = TRACES / "erspan.pcap"
    fail = tshark_frames(path, "dns.flags.rcode==2 && !icmp")
    asked = [int(x) for x in subprocess.run(
        ["tshark", "-n", "-r", str(path), "-Y", "dns.flags.rcode==2", "-T", "fields", "-e", "dns.response_to"],
        capture_output=True, text=True, check=True, timeout=60).stdout.split()]
    found = findings_of(path)
    assert sorted(x for f in found if f["rule"] == "dns.server_failure" for x in f["frames"]) == sorted(fail + asked)
    assert tshark_frames(path, 'dns.flags.rcode==3 && dns.qry.name=="www.xkcd.com.sp.local"')
    assert [f["rule"] for f in found if f["rule"] != "dns.server_failure"] == []


@needs_corpus
@pytest.mark.parametrize("name, qname", [
    # The first query lost, a retry from a new port and ID 5 s later answered.
    ("dnssec/rrsig.pcap", "virgo.SAS.upenn.edu"),
    # A large TXT answer lost (only its last IPv6 fragment arrived), the same query 5 s later answered.
    ("ipv6-fragmented-dns.pcap", "txtpadding_3230.n1.netalyzr.icsi.berkeley.edu"),
])
def test_real_queries_answered_only_after_a_retry(name: str, qname: str) -> None:
    path = TRACES / name
    queries = tshark_frames(path, f'dns.flags.response==0 && dns.qry.name=="{qname}"')
    answers = tshark_frames(path, f'dns.flags.response==1 && dns.qry.name=="{qname}"')
    lookup = queries[:2] + answers[:1]          # the lost query, its retry, the answer
    f = only(findings_of(path), "dns.no_response")
    assert f["severity"] == "warning" and f["frames"] == sorted(lookup)
    first, answer = (float(subprocess.run(
        ["tshark", "-n", "-r", str(path), "-Y", f"frame.number=={n}", "-T", "fields", "-e", "frame.time_epoch"],
        capture_output=True, text=True, check=True, timeout=60).stdout) for n in (queries[0], answers[0]))
    assert f["details"]["retries"] == 1 and f["details"]["answered_after_s"] == pytest.approx(answer - first, abs=0.001)
