"""tshark is the oracle: ``tracedoc fields`` against ``tshark -T fields``.

Over every corpus capture of the decoded link types (Ethernet, SLL, SLL2,
NULL/LOOP, raw IP) that tshark reads, the issue-2 field list must agree on at
least 99.9% of (frame, field) values (first occurrence where tshark prints
several).  The agreement is computed over the pairs where either side has a
value: the many fields both leave empty would only flatter the figure.
"""

from __future__ import annotations

import pytest

from tests.support.corpus import have_corpus, have_tshark
from tests.support.tshark_compare import compare, compare_many, corpus_paths, totals, worst

pytestmark = pytest.mark.skipif(not have_tshark(), reason="tshark is not installed (scripts/setup.sh installs it)")

THRESHOLD = 0.999


@pytest.mark.corpus
@pytest.mark.skipif(not have_corpus(), reason="../shared/corpus is not there")
def test_corpus_agreement_with_tshark():
    paths = corpus_paths()
    assert len(paths) > 1000
    results = compare_many(paths)
    tot = totals(results)
    print("\ntshark agreement: " + tot.line())
    print("disagreements by field:", tot.by_field.most_common(12))
    for r in worst(results, 10):
        print(f"  {r.nonempty_pairs - r.nonempty_agree:6d} {r.path}")
    assert tot.ratio >= THRESHOLD


def test_small_captures_agree_exactly(tmp_path):
    """A few well-formed captures must agree on every value."""
    from tests.support.corpus import CORPUS

    names = ["dpkt/examples/data/http.pcap", "dpkt/examples/data/dns_icmp.pcap"]
    paths = [CORPUS / n for n in names if (CORPUS / n).is_file()]
    if not paths:
        pytest.skip("corpus captures not present")
    for p in paths:
        r = compare(str(p))
        assert r.frames_tshark == r.frames_tracedoc
        assert r.agree == r.pairs, (p, r.examples)
