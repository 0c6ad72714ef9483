"""The z/OS packet-trace discard reason code table (tracedoc.decode.zos_discard)."""

from __future__ import annotations

import re

import pytest

from tracedoc.decode import zos_discard
from tracedoc.decode.zos_discard import CATEGORIES, CODES, Discard, category, lookup

_NAME = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*")
_RANGES = {name: (lo, hi) for lo, hi, name in CATEGORIES}


def test_ip_mac_brdcst():
    d = lookup(4114)
    assert d == CODES[4114]
    assert d.code == 4114
    assert d.name == "IP_MAC_BRDCST"
    assert d.category == "Interface and IP layer"
    assert "broadcast" in d.meaning.lower()


def test_first_ibm_ip_codes():
    # IP and SNA Codes, Table 1 starts at X'1000' = 4096 with IP_NO_INTERF.
    assert lookup(0x1000).name == "IP_NO_INTERF"
    assert lookup(4102).name == "IP_BAD_CKSUM"


def test_table_is_not_empty():
    assert len(CODES) >= 10


@pytest.mark.parametrize("code", sorted(CODES))
def test_entry_consistent(code):
    d = CODES[code]
    assert isinstance(d, Discard)
    assert d.code == code
    assert d.category == category(code)
    lo, hi = _RANGES[d.category]
    assert lo <= code <= hi
    assert _NAME.fullmatch(d.name), d.name
    assert d.meaning.strip() and d.meaning == d.meaning.strip()
    assert lookup(code) is d


def test_names_unique():
    names = [d.name for d in CODES.values()]
    assert len(names) == len(set(names))


def test_categories_are_contiguous_and_disjoint():
    prev_hi = 0
    for lo, hi, _ in CATEGORIES:
        assert lo == prev_hi + 1 and lo <= hi
        prev_hi = hi
    assert prev_hi == 20479


@pytest.mark.parametrize(
    "code, cat",
    [
        (4095, "OSA"),
        (1, "OSA"),
        (4096 + 4095, "Interface and IP layer"),
        (9999, "TCP layer"),
        (12288, "UDP layer"),
        (16384, "RAW layer"),
        (20479, "RAW layer"),
        (0, "unknown"),
        (-1, "unknown"),
        (20480, "unknown"),
        (30000, "unknown"),
    ],
)
def test_unknown_codes(code, cat):
    if code in CODES:
        pytest.skip("code is in the table")
    d = lookup(code)
    assert d.code == code
    assert d.category == cat
    assert d.name == f"code {code}"
    assert d.meaning


def test_lookup_total():
    for code in range(0, 70001):
        d = lookup(code)
        assert d.code == code
        assert d.category == category(code)
        assert d.name


def test_module_cites_ibm():
    doc = zos_discard.__doc__ or ""
    assert "IP and SNA Codes" in doc
    assert "Discard reason codes" in doc
