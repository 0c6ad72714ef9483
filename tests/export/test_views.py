"""``view_table`` reads only the columns ``view_columns`` names (what the
export decodes), and says clearly when a view cannot be made."""

from __future__ import annotations

from typing import Any

import pytest

import tracedoc
from tests.export.helpers import CORPUS_CAPTURES, SAMPLE, corpus_capture
from tracedoc.export.views import VIEWS, ViewError, view_columns, view_table


@pytest.mark.parametrize("capture", ["sample", *CORPUS_CAPTURES])
def test_declared_columns_give_the_same_rows(capture: str) -> None:
    path = SAMPLE if capture == "sample" else corpus_capture(capture)
    trace = tracedoc.open(path)
    full = trace.packets
    for name in ("sessions", "response-times", "hosts", "findings"):
        cols = view_columns([name])
        assert cols is not None
        part = tracedoc.open(path).table(cols)
        assert view_table(name, part).equals(view_table(name, full)), name
    assert view_columns(["hosts", "summary"]) is None       # the Packet Summary shows every message


def test_a_filter_as_text_or_compiled() -> None:
    from tracedoc.filter import compile_filter

    tbl = tracedoc.open(SAMPLE).packets
    for name in VIEWS:
        opts: dict[str, Any] = {"session": 5} if name == "sequence" else {}
        a = view_table(name, tbl, flt="tcp.port == 80", **opts)
        b = view_table(name, tbl, flt=compile_filter("tcp.port == 80"), **opts)
        assert a.equals(b), name
    summary = view_table("summary", tbl, flt="tcp.port == 80")
    src = tbl["tcp.srcport"].to_numpy(zero_copy_only=False) == 80
    dst = tbl["tcp.dstport"].to_numpy(zero_copy_only=False) == 80
    assert summary.num_rows == int((src | dst).sum()) > 0


@pytest.mark.parametrize("name, opts, param", [
    ("nonsense", {}, "view"),
    ("sequence", {}, "session"),
    ("sequence", {"session": 0}, "session"),
    ("sequence", {"between": ["10.0.0.1"]}, "between"),
    ("sequence", {"between": ["10.0.0.1", "nowhere"]}, "between"),
    ("sessions", {"udp_timeout": 0}, "udp_timeout"),
    ("response-times", {"thresholds": ["dns=-1"]}, "threshold"),
    ("response-times", {"part": "everything"}, "part"),
    ("findings", {"min_severity": "panic"}, "min_severity"),
    ("findings", {"overrides": ["tcp.nope=1"]}, "set"),
    ("summary", {"local": "10.0.0.0/99"}, "local"),
])
def test_bad_options_are_view_errors(name: str, opts: dict, param: str) -> None:
    tbl = tracedoc.open(SAMPLE).packets
    local = opts.pop("local", None)
    with pytest.raises(ViewError) as e:
        view_table(name, tbl, local, **opts)
    assert e.value.param == param
