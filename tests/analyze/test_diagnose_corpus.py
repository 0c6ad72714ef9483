"""``diagnose`` over the whole corpus: it never crashes, and on the captures
whose MANIFEST (tshark's expert analysis) lists TCP retransmissions, zero
windows or ICMP errors, the matching rule fires.

The table is read as ``tracedoc diagnose`` reads it: only the columns the
rules and their tables read, TLS up to where both sides encrypt.  On every
capture with a MANIFEST diagnostic feature the findings must be the same
as from the full table, so a rule reading a column it does not declare
(:meth:`Rule.columns`) is caught."""

from __future__ import annotations

import traceback

import pytest

import tracedoc
from tests.support.corpus import DECODED_LINKTYPES, captures, have_corpus
from tracedoc.analyze.diagnose import Evidence, diagnose, diagnosis_columns
from tracedoc.analyze.rules import all_rules, settings
from tracedoc.analyze.summary import infer_local

SEEN_IN = {
    "tcp_retrans": ("tcp.analysis.retransmission",), "tcp_zero_window": ("tcp.analysis.zero_window",),
    "icmp_unreach_other": ("icmp.type",), "icmpv6_unreach": ("icmpv6.type",), "icmp_frag_needed": ("icmp.type",),
    "icmpv6_pkt_too_big": ("icmpv6.type",), "icmp_ttl_exceeded": ("icmp.type",),
    "icmpv6_time_exceeded": ("icmpv6.type",),
}
"""The column that shows the fact in the packet table: when no frame has it,
the decoder did not reach the message (an encapsulation it does not open)
and no rule can see it; such captures are listed apart."""

EXPECTED = {
    "tcp_retrans": "tcp.retransmissions",
    "tcp_zero_window": "tcp.zero_window",
    "icmp_unreach_other": "icmp.unreachable",
    "icmpv6_unreach": "icmp.unreachable",
    "icmp_frag_needed": "icmp.frag_needed",
    "icmpv6_pkt_too_big": "icmp.frag_needed",
    "icmp_ttl_exceeded": "icmp.ttl_exceeded",
    "icmpv6_time_exceeded": "icmp.ttl_exceeded",
}
"""MANIFEST diagnostic feature -> the rule that must report it."""


def _rules(found) -> set[str]:  # type: ignore[no-untyped-def]
    """Rules of the findings and of everything nested under them."""
    return {f.rule for f in found} | {r for f in found for r in _rules(f.symptoms)}


def _features() -> dict[str, set[str]]:
    """Each capture's MANIFEST diagnostic features (``tcp_retrans=3`` -> ``tcp_retrans``)."""
    import csv

    from tests.support.corpus import MANIFEST

    with open(MANIFEST, newline="") as f:
        return {row["path"]: {part.split("=", 1)[0] for part in row["diag_features(frames)"].split(",") if part}
                for row in csv.DictReader(f, delimiter="\t")}


@pytest.mark.corpus
@pytest.mark.skipif(not have_corpus(), reason="../shared/corpus is not there")
def test_diagnose_whole_corpus() -> None:
    rules = all_rules()
    conf = settings(rules, [])
    cols = diagnosis_columns(rules)
    crashes, missing, undecoded, differ, expected, compared = [], [], [], [], 0, 0
    caps = [c for c in captures() if c.path.exists()]
    features = _features()
    for c in caps:
        try:
            tbl = tracedoc.open(c.path).table(cols, skip_opaque=True)
            found = diagnose(Evidence(tbl, infer_local(tbl)), rules, conf)
            if features.get(c.rel):
                full = tracedoc.open(c.path).packets
                whole = diagnose(Evidence(full, infer_local(full)), rules, conf)
                compared += 1
                if [f.as_dict() for f in whole] != [f.as_dict() for f in found]:
                    differ.append(f"{c.rel}: {sorted(f.rule for f in whole)} from the full table, "
                                  f"{sorted(f.rule for f in found)} from diagnose's columns")
        except Exception:  # noqa: BLE001 - every crash is collected and reported
            crashes.append(f"{c.rel}: {traceback.format_exc(limit=3)}")
            continue
        if not c.tshark_reads or not c.linktypes or not c.linktypes <= DECODED_LINKTYPES:
            continue
        fired = _rules(found)
        for feat in features.get(c.rel, set()) & set(EXPECTED):
            expected += 1
            if EXPECTED[feat] in fired:
                continue
            if not any(tbl[col].null_count < tbl.num_rows for col in SEEN_IN[feat]):
                undecoded.append(f"{c.rel}: {feat} (no {'/'.join(SEEN_IN[feat])} in the packet table)")
            else:
                missing.append(f"{c.rel}: {feat} but no {EXPECTED[feat]}")
    print(f"\ndiagnose over {len(caps)} captures: {len(crashes)} crashes; MANIFEST features "
          f"{expected - len(missing) - len(undecoded)}/{expected} reported by their rule, "
          f"{len(undecoded)} inside encapsulations tracedoc does not decode")
    for m in missing:
        print("  MISSING", m)
    for u in undecoded:
        print("  NOT DECODED", u)
    print(f"  findings from diagnose's columns = from the full table on {compared - len(differ)}/{compared}")
    assert not crashes, "\n".join(crashes[:10])
    assert compared > 250
    assert not differ, "\n".join(differ[:10])
    assert expected > 90
    assert not missing, "\n".join(missing)
    assert len(undecoded) <= 0.05 * expected
