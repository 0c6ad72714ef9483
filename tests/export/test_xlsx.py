"""The Excel export, read back with openpyxl (a different library from the
xlsxwriter that wrote it): one sheet per view, a bold header row that is
frozen and carries the auto-filter, as many rows as the view has (counted
from the analysis tables here), numbers as numbers, times as date-times,
and trace text as text — never a formula."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from openpyxl.utils import get_column_letter

import tracedoc
from tests.export.helpers import (
    CORPUS_CAPTURES,
    SAMPLE,
    corpus_capture,
    hostile_capture,
)
from tests.export.helpers import tracedoc as run
from tracedoc.analyze.diagnose import Evidence, diagnose
from tracedoc.analyze.rules import all_rules, settings
from tracedoc.analyze.sessions import build_sessions
from tracedoc.analyze.summary import infer_local
from tracedoc.export import writers
from tracedoc.export.views import view_table

VIEWS = ["summary", "sessions", "sequence", "response-times", "hosts", "findings"]


def _count_findings(found) -> int:  # type: ignore[no-untyped-def]
    return sum(1 + _count_findings(f.symptoms) for f in found)


def _expected_rows(path: Path) -> dict[str, int]:
    """Row counts of each view, from the analysis functions directly."""
    from tracedoc.analyze.hosts import hosts
    from tracedoc.analyze.summary import summary
    from tracedoc.analyze.transactions import summarise, transactions

    tbl = tracedoc.open(path).packets
    side = infer_local(tbl)
    sessions = build_sessions(tbl, side)
    rules = all_rules()
    return {
        "summary": summary(tbl, side).num_rows,
        "sessions": sessions.table.num_rows,
        "sequence": int((sessions.sid == 1).sum()),
        "response-times": summarise(transactions(tbl)).num_rows,
        "hosts": hosts(tbl, build_sessions(tbl).table).num_rows,
        "findings": _count_findings(diagnose(Evidence(tbl, side), rules, settings(rules, []))),
    }


@pytest.fixture(scope="module", params=["sample", CORPUS_CAPTURES[0], CORPUS_CAPTURES[2]])
def workbook(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path = SAMPLE if request.param == "sample" else corpus_capture(request.param)
    out = tmp_path_factory.mktemp("xlsx") / "views.xlsx"
    run("export", path, *[a for v in VIEWS for a in ("--view", v)], "--session", "1", "--format", "xlsx",
        "-o", out)
    return path, out, openpyxl.load_workbook(out)


def test_one_sheet_per_view_with_the_views_rows(workbook) -> None:  # type: ignore[no-untyped-def]
    path, _, wb = workbook
    assert wb.sheetnames == VIEWS
    expected = _expected_rows(path)
    for name in VIEWS:
        ws = wb[name]
        assert ws.max_row - 1 == expected[name], f"{name}: {ws.max_row - 1} rows, the view has {expected[name]}"


def test_header_is_bold_frozen_and_filtered(workbook) -> None:  # type: ignore[no-untyped-def]
    _, _, wb = workbook
    for ws in wb.worksheets:
        heads = [c.value for c in ws[1]]
        assert all(isinstance(h, str) and h for h in heads)
        assert all(c.font.b for c in ws[1]), f"{ws.title}: header not bold"
        assert ws.freeze_panes == "A2", f"{ws.title}: header row not frozen"
        last = get_column_letter(len(heads))
        assert ws.auto_filter.ref == f"A1:{last}{max(ws.max_row, 2)}", ws.auto_filter.ref
        widths = [ws.column_dimensions[get_column_letter(i)].width for i in range(1, len(heads) + 1)]
        # 8 to 60 characters (xlsxwriter stores a little more: the cell padding).
        assert all(8 <= w <= 61 for w in widths), f"{ws.title}: widths {widths}"
        if ws.title == "summary":
            assert widths[heads.index("Messages")] > widths[heads.index("ID")]


def test_numbers_are_numbers_and_times_are_times(workbook) -> None:  # type: ignore[no-untyped-def]
    path, _, wb = workbook
    ws = wb["summary"]
    heads = [c.value for c in ws[1]]
    ids = [r[heads.index("ID")] for r in ws.iter_rows(min_row=2, values_only=True)]
    assert ids == list(range(1, len(ids) + 1))
    stamps = [r[heads.index("Timestamp")] for r in ws.iter_rows(min_row=2, values_only=True)]
    assert all(isinstance(t, dt.datetime) for t in stamps)
    # The first packet's time, to the millisecond (Excel's finest), from the packet table (TZ=UTC).
    ns = pc.min(tracedoc.open(path).packets["frame.time_epoch"]).as_py()
    first = dt.datetime.fromtimestamp(ns // 10**9, tz=dt.timezone.utc).replace(tzinfo=None) \
        + dt.timedelta(microseconds=ns % 10**9 // 1000)
    assert abs((min(stamps) - first).total_seconds()) < 0.001
    assert ws.cell(2, heads.index("Timestamp") + 1).number_format == "yyyy-mm-dd hh:mm:ss.000"
    sessions = wb["sessions"]
    sh = [c.value for c in sessions[1]]
    for r in sessions.iter_rows(min_row=2, values_only=True):
        assert isinstance(r[sh.index("bytes_in")], int) and isinstance(r[sh.index("elapsed")], (int, float))


def test_trace_text_is_never_a_formula(tmp_path: Path) -> None:
    """A DNS name and a cell made to look like formulas stay text cells (no ``<f>`` in the sheet)."""
    trace = hostile_capture(tmp_path / "hostile.pcap")
    out = tmp_path / "h.xlsx"
    run("export", trace, "--view", "summary", "--view", "findings", "-o", out)
    with zipfile.ZipFile(out) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert "<f>" not in z.read(name).decode("utf-8"), name
    wb = openpyxl.load_workbook(out)
    texts = [c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert any("=cmd|' /C calc'!A0" in t for t in texts)
    assert any("<script>alert(1)</script>" in t for t in texts)
    # The control characters of the HTTP URI are kept as OOXML's escapes (_xHHHH_, which Excel
    # reads back as the characters; openpyxl leaves them as they are), in well-formed XML.
    assert any("/<script>_x0001__x001B__x000C_" in t for t in texts), [t for t in texts if "GET" in t]
    with zipfile.ZipFile(out) as z:
        for name in z.namelist():
            if name.endswith(".xml"):
                ElementTree.fromstring(z.read(name))

    # A cell that starts with "=" written directly: a string cell, value kept as it is.
    tbl = pa.table({"name": ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)"], "n": [1, 2, 3, 4]})
    writers.write({"evil": tbl}, "xlsx", tmp_path / "e.xlsx", zone="UTC")
    ws = openpyxl.load_workbook(tmp_path / "e.xlsx")["evil"]
    cells = [ws.cell(r, 1) for r in range(2, 6)]
    assert [c.value for c in cells] == tbl["name"].to_pylist()
    assert all(c.data_type == "s" for c in cells)
    with zipfile.ZipFile(tmp_path / "e.xlsx") as z:
        assert not re.search(r"<f[ >]", z.read("xl/worksheets/sheet1.xml").decode())


def test_rows_beyond_a_sheet_go_on_to_the_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writers, "XLSX_MAX_ROWS", 40)
    tbl = tracedoc.open(SAMPLE).packets
    rows = view_table("summary", tbl)
    assert rows.num_rows == 100
    writers.write({"summary": rows}, "xlsx", tmp_path / "split.xlsx", zone="UTC")
    wb = openpyxl.load_workbook(tmp_path / "split.xlsx")
    assert wb.sheetnames == ["summary", "summary (2)", "summary (3)"]
    assert [ws.max_row - 1 for ws in wb.worksheets] == [40, 40, 20]
    ids = [r[0] for ws in wb.worksheets for r in ws.iter_rows(min_row=2, values_only=True)]
    assert ids == rows["ID"].to_pylist()


def test_long_text_is_cut_at_excels_limit(tmp_path: Path) -> None:
    tbl = pa.table({"t": ["x" * 40_000, "short"]})
    writers.write({"long": tbl}, "xlsx", tmp_path / "l.xlsx", zone="UTC")
    ws = openpyxl.load_workbook(tmp_path / "l.xlsx")["long"]
    assert len(ws.cell(2, 1).value) == writers.XLSX_MAX_CELL
    assert ws.cell(2, 1).value.endswith("\u2026") and ws.cell(3, 1).value == "short"


def test_times_before_excels_calendar_are_text(tmp_path: Path) -> None:
    tbl = pa.table({"when": pa.array([-3_786_825_600 * 10**9, 0], pa.int64()).cast(pa.timestamp("ns", tz="UTC"))})
    writers.write({"t": tbl}, "xlsx", tmp_path / "t.xlsx", zone="UTC")
    ws = openpyxl.load_workbook(tmp_path / "t.xlsx")["t"]
    assert ws.cell(2, 1).value == "1850-01-01 00:00:00"
    assert ws.cell(3, 1).value == dt.datetime(1970, 1, 1)
