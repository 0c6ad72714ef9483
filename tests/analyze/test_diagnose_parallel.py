"""``tracedoc diagnose`` on two cores gives the report it gives on one.

On a big trace the CLI decodes the application columns in forked
processes (:class:`~tracedoc.trace.BackgroundTable`, one per spare core, each a group of
protocols) while it decodes the rest, builds the sessions and runs the
rules that need nothing else; the others run once the columns are joined.
Here the same steps run on small traces, and the findings must equal
those of the one-process path; a failing child must surface as an error,
never as a report without its rules.
"""

from __future__ import annotations

import pytest

import tracedoc
from tests.support.corpus import CORPUS, have_corpus
from tracedoc.analyze.diagnose import Evidence, diagnose, diagnosis_columns
from tracedoc.analyze.rules import all_rules, settings
from tracedoc.analyze.summary import infer_local
from tracedoc.trace import BackgroundTable, split_columns

from tests.analyze.test_diagnose import SAMPLE

TRACES = [SAMPLE, *(CORPUS / "zeek/testing/btest/Traces" / name for name in (
    "ftp/bruteforce.pcap", "smtp.pcap", "tls/tls-expired-cert.pcap", "icmp/icmp-timeexceeded.pcap",
    "dns-edns-ecs.pcap", "dhcp/dhcp.pcap"))]


def _one_process(path) -> list[dict]:  # type: ignore[no-untyped-def]
    rules = all_rules()
    tbl = tracedoc.open(path).table(diagnosis_columns(rules), skip_opaque=True)
    return [f.as_dict() for f in diagnose(Evidence(tbl, infer_local(tbl)), rules, settings(rules, []))]


def _split(path, groups: int) -> list[dict]:  # type: ignore[no-untyped-def]
    rules = all_rules()
    app, rest = split_columns(diagnosis_columns(rules), groups)
    assert len(app) == groups and rest
    bgs = [BackgroundTable(str(path), group, skip_opaque=True) for group in app]
    try:
        tbl = tracedoc.open(path).table(rest)
        ev = Evidence(tbl, infer_local(tbl), app_pending=True)
        found = diagnose(ev, rules, settings(rules, []), app=lambda: [b.result() for b in bgs])
    finally:
        for b in bgs:
            b.close()
    return [f.as_dict() for f in found]


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.name)
def test_split_decoding_gives_the_same_report(path) -> None:  # type: ignore[no-untyped-def]
    if path != SAMPLE and not have_corpus():
        pytest.skip("../shared/corpus is not there")
    one = _one_process(path)
    assert _split(path, groups=2) == one
    assert _split(path, groups=1) == one
    if path.name in ("bruteforce.pcap", "tls-expired-cert.pcap"):
        # Findings of rules that wait for the application columns are there.
        assert {f["rule"] for f in one} & {"ftp.brute_force", "tls.certificate_expired"}


@pytest.mark.parametrize("groups", [1, 2])
def test_the_groups_cover_every_column_once(groups: int) -> None:
    cols = diagnosis_columns(all_rules())
    app, rest = split_columns(cols, groups)
    assert len(app) == groups
    flat = [c for g in app for c in g] + rest
    assert sorted(flat) == sorted(set(cols))
    if groups == 1:
        return
    # DNS (a datagram protocol, with the dns.time deriver on it) and TLS go to different processes.
    assert any("dns.id" in g and "dns.time" not in rest for g in app)
    assert not any("dns.id" in g and "tls.handshake.type" in g for g in app)


def test_a_failing_decoder_process_is_an_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bg = BackgroundTable(str(tmp_path / "no-such-trace.pcap"), ["dns.id"])
    with pytest.raises(RuntimeError, match="decoding process failed"):
        bg.result()
