"""Application fields against tshark (issue 4).

Over every corpus capture of the decoded link types that tshark reads, the
issue-4 application fields (DNS, DHCP, FTP, TLS, HTTP, SNMP, NBNS) must agree
with ``tshark -T fields -E occurrence=f`` on at least 99% of the (frame,
field) values either side has.  Where a field lands matters as much as its
value: a reassembled message's fields belong to the frame that completes it.
"""

from __future__ import annotations

import pytest

from tests.support.corpus import have_corpus, have_tshark
from tests.support.tshark_compare import ISSUE4_FIELDS, compare_many, corpus_paths, totals, worst

pytestmark = pytest.mark.skipif(not have_tshark(), reason="tshark is not installed (scripts/setup.sh installs it)")

THRESHOLD = 0.99


@pytest.mark.corpus
@pytest.mark.skipif(not have_corpus(), reason="../shared/corpus is not there")
def test_application_fields_agree_with_tshark():
    paths = corpus_paths()
    assert len(paths) > 1000
    results = compare_many(paths, ISSUE4_FIELDS)
    tot = totals(results)
    print("\ntshark agreement, application fields: " + tot.line())
    for f in ISSUE4_FIELDS:
        agree, pairs = tot.per_field.get(f, (0, 0))
        print(f"  {f:45s} {agree:7d}/{pairs:<7d} = {agree / max(pairs, 1):.4%}")
    for r in worst(results, 10):
        print(f"  {r.nonempty_pairs - r.nonempty_agree:6d} {r.path} {r.examples[:2]}")
    assert tot.nonempty_pairs > 30000  # the corpus holds about 36,000 such values
    assert tot.ratio >= THRESHOLD
