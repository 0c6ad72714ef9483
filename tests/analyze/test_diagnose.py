"""The Exception Report on captures with known faults: the evidence frames
come from tshark (the oracle), not from tracedoc; a fault-free capture
reports none of the error categories; thresholds are settings."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.command import tracedoc_command
from tests.support.corpus import CORPUS, have_corpus, have_tshark
from tracedoc.analyze.findings import CATEGORIES, INFORMATIONAL, Finding
from tracedoc.analyze.rules import all_rules, settings

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "sample.pcap"
FTP = CORPUS / "zeek/testing/btest/Traces/ftp"

needs_corpus = pytest.mark.skipif(not (have_corpus() and have_tshark()), reason="needs the corpus and tshark")


def diagnose(path: Path, *args: str) -> list[dict]:
    r = subprocess.run([*tracedoc_command(), "diagnose", str(path), "--format", "json", *args],
                       capture_output=True, text=True, timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def tshark_frames(path: Path, flt: str) -> list[int]:
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", flt, "-T", "fields", "-e", "frame.number"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return [int(x) for x in out.split()]


def by_rule(findings: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in findings:
        out.setdefault(f["rule"], []).append(f)
    return out


def test_rules_are_unique_and_well_formed() -> None:
    rules = all_rules()
    ids = [r.id for r in rules]
    assert len(ids) == len(set(ids))
    for r in rules:
        assert r.category in CATEGORIES and "." in r.id
        for p in r.params:
            assert p.doc


def test_settings_overrides() -> None:
    rules = all_rules()
    conf = settings(rules, ["ftp.brute_force.min_failures=3"])
    assert conf["ftp.brute_force"]["min_failures"] == 3
    for bad, text in (("ftp.brute_force.nope=1", "no parameter"), ("no.such_rule.x=1", "no rule"),
                      ("ftp.brute_force.window_s=abc", "not a number"), ("garbage", "RULE.PARAM=VALUE")):
        with pytest.raises(ValueError, match=text):
            settings(rules, [bad])


def test_finding_shape() -> None:
    with pytest.raises(ValueError):
        Finding("x.y", "Nonsense", "error", "s", "e", "a")
    f = Finding("x.y", "Session Errors", "error", "s", "e", "a", [5, 3, 3], [2])
    assert f.frames == [3, 5] and set(f.as_dict()) >= {"rule", "category", "severity", "summary", "explanation",
                                                        "action", "frames", "sessions", "details"}


@pytest.mark.skipif(not have_tshark(), reason="tshark is not installed")
def test_sample_refused_connection_and_name_error() -> None:
    found = by_rule(diagnose(SAMPLE))
    rst = tshark_frames(SAMPLE, "tcp.flags.reset == 1 && tcp.port == 8081")
    refused = found["tcp.connection_refused"]
    assert len(refused) == 1
    syn = tshark_frames(SAMPLE, "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == 8081")
    assert refused[0]["frames"] == sorted(syn + rst)
    nx = found["dns.name_error"]
    response = tshark_frames(SAMPLE, "dns.flags.rcode == 3")
    query = [int(subprocess.run(["tshark", "-n", "-r", str(SAMPLE), "-Y", f"frame.number == {response[0]}", "-T",
                                 "fields", "-e", "dns.response_to"], capture_output=True, text=True, check=True,
                                timeout=60).stdout)]
    assert nx[0]["frames"] == sorted(query + response)
    assert nx[0]["category"] == "Application Errors" and nx[0]["sessions"]


@needs_corpus
def test_ftp_brute_force() -> None:
    path = FTP / "bruteforce.pcap"
    findings = diagnose(path)
    bf = by_rule(findings)["ftp.brute_force"]
    assert len(bf) == 1 and bf[0]["severity"] == "critical"
    assert bf[0]["frames"] == tshark_frames(path, "ftp.response.code == 530")
    # The logon failures are the attack's symptoms, nested under it; so are the
    # server's slow answers to wrong passwords (servers delay them on purpose).
    symptoms = bf[0].get("symptoms", [])
    assert [s["rule"] for s in symptoms if s["rule"] != "tcp.slow_response"] == ["ftp.logon_failure"]
    assert all(set(s["sessions"]) <= set(bf[0]["sessions"]) for s in symptoms)
    assert not {"ftp.logon_failure", "tcp.slow_response"} & set(by_rule(findings))
    # With a higher bar it is no attack, and the failures are reported on their own.
    again = by_rule(diagnose(path, "--set", "ftp.brute_force.min_failures=1000"))
    assert "ftp.brute_force" not in again and len(again["ftp.logon_failure"]) == 1


@needs_corpus
@pytest.mark.parametrize("name", ["ipv4.pcap", "ipv6.pcap"])
def test_clean_ftp_sessions_report_no_errors(name: str) -> None:
    findings = diagnose(FTP / name)
    assert [f["rule"] for f in findings if f["category"] not in INFORMATIONAL] == []


def test_unreadable_trace_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all")
    r = subprocess.run([*tracedoc_command(), "diagnose", str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and r.stderr


def test_text_report_groups_by_category() -> None:
    r = subprocess.run([*tracedoc_command(), "diagnose", str(SAMPLE)], capture_output=True, text=True,
                       timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.index("Application Errors") < out.index("INIT Errors")
    assert "tcp.connection_refused" in out and "Why:" in out and "Do:" in out and "Evidence: frames" in out
    quiet = subprocess.run([*tracedoc_command(), "diagnose", str(SAMPLE), "--min-severity", "critical"],
                           capture_output=True, text=True, timeout=300, cwd=REPO)
    assert quiet.returncode == 0 and "no findings" in quiet.stdout


ICMP = CORPUS / "zeek/testing/btest/Traces/icmp"


@needs_corpus
@pytest.mark.parametrize("name, rule, flt", [
    ("icmp-timeexceeded.pcap", "icmp.ttl_exceeded", "icmp.type == 11"),
    ("icmp-destunreach-udp.pcap", "icmp.unreachable", "icmp.type == 3"),
    ("icmp6-destunreach-ip6ext-udp.pcap", "icmp.unreachable", "icmpv6.type == 1"),
    ("icmp6-toobig.pcap", "icmp.frag_needed", "icmpv6.type == 2"),
])
def test_icmp_errors_tied_to_their_flow(name: str, rule: str, flt: str) -> None:
    path = ICMP / name
    found = by_rule(diagnose(path)).get(rule, [])
    assert [f for g in found for f in g["frames"]] == tshark_frames(path, flt)
    quoted = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", flt, "-T", "fields", "-E", "occurrence=l",
                             "-e", "ip.dst", "-e", "ipv6.dst", "-e", "udp.dstport"],
                            capture_output=True, text=True, check=True, timeout=60).stdout.split("\n")[0].split("\t")
    d = found[0]["details"]
    assert d["dst"] == (quoted[0] or quoted[1]) and d["dport"] == int(quoted[2])


ISSUE_RULE_IDS = """
ip.discarded ip.routing_loop ip.broadcast_storm icmp.frag_needed icmp.ttl_exceeded icmp.unreachable
arp.duplicate_address tcp.syn_unanswered tcp.connection_refused tcp.retransmissions tcp.zero_window tcp.reset
tcp.window_scaling tcp.sack_not_agreed tcp.mss_mismatch tcp.slow_response dns.name_error dns.server_failure
dns.refused dns.no_response dhcp.decline dhcp.nak dhcp.no_offer ftp.active_data_syn_missing
ftp.passive_data_connect_failed ftp.error_reply ftp.logon_failure ftp.brute_force tls.alert
tls.handshake_failure tls.certificate_expired tls.deprecated_version snmp.no_response scan.port_scan
scan.address_scan
""".split()
"""Issue 6's rule ids, copied from the issue: stable, users' scripts depend on them."""


def test_every_rule_id_of_the_issue_exists_once() -> None:
    ids = [r.id for r in all_rules()]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(ISSUE_RULE_IDS)
    for r in all_rules():
        assert r.category in CATEGORIES and r.title
        for p in r.params:
            assert p.doc, f"{r.id}.{p.name} has no description"


def test_rules_option_lists_every_rule_and_parameter() -> None:
    r = subprocess.run([*tracedoc_command(), "diagnose", "--rules"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    listed = [line.split()[0] for line in r.stdout.splitlines() if line and not line.startswith(" ")]
    assert sorted(listed) == sorted(ISSUE_RULE_IDS)
    for rule in all_rules():
        for p in rule.params:
            assert f"--set {rule.id}.{p.name}=" in r.stdout


@needs_corpus
def test_text_report_groups_many_symptoms_of_one_rule() -> None:
    path = FTP / "bruteforce.pcap"
    bf = by_rule(diagnose(path))["ftp.brute_force"][0]
    slow = [s for s in bf["symptoms"] if s["rule"] == "tcp.slow_response"]
    assert len(slow) > 3
    r = subprocess.run([*tracedoc_command(), "diagnose", str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [ln.strip() for ln in r.stdout.splitlines()]
    assert f"Explains: ftp.logon_failure: {bf['symptoms'][0]['summary']}" in lines
    # Two spelled out, the rest counted (the JSON has every one).
    assert [ln for ln in lines if ln.startswith("Explains: tcp.slow_response:")] == \
        [f"Explains: tcp.slow_response: {s['summary']}" for s in slow[:2]]
    assert f"Explains: {len(slow) - 2} more tcp.slow_response finding(s) like these (--format json lists them)" \
        in lines


@needs_corpus
def test_json_findings_carry_the_settings_that_judged_them() -> None:
    path = FTP / "bruteforce.pcap"
    bf = by_rule(diagnose(path, "--set", "ftp.brute_force.window_s=120"))["ftp.brute_force"][0]
    defaults = {p.name: p.default for r in all_rules() if r.id == "ftp.brute_force" for p in r.params}
    assert bf["settings"] == {**defaults, "window_s": 120}
    assert all("settings" in s for s in bf["symptoms"])
