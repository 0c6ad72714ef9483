"""CSV and JSON writers: formula injection defused, several CSV tables
only as a zip, JSON strict (no NaN) and streamed per view, times as the
CLI gives them."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pyarrow as pa
import pytest

import tracedoc
from tests.export.helpers import SAMPLE
from tracedoc.export import writers
from tracedoc.export.views import TIMESTAMP, view_table


def _csv(tbl: pa.Table) -> list[list[str]]:
    buf = io.BytesIO()
    writers.write({"t": tbl}, "csv", buf)
    return list(csv.reader(io.StringIO(buf.getvalue().decode("utf-8"))))


def test_formula_like_text_is_prefixed_numbers_are_not() -> None:
    texts = ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\rx", "a=1", "", None, "'quoted", "1-2"]
    rows = _csv(pa.table({"t": texts, "n": list(range(-5, len(texts) - 5))}))
    assert rows[0] == ["t", "n"]
    got = [r[0] for r in rows[1:]]
    assert got == ["'=1+1", "'+SUM(A1)", "'-2", "'@cmd", "'\tx", "'\rx", "a=1", "", "", "'quoted", "1-2"]
    assert [r[1] for r in rows[1:]] == [str(n) for n in range(-5, len(texts) - 5)]   # numbers stay numbers


def test_lists_times_and_durations_in_csv() -> None:
    tbl = pa.table({"when": pa.array([1_700_000_000_123_456_789, None], pa.int64()).cast(TIMESTAMP),
                    "took": pa.array([1_500_000_001, None], pa.int64()).cast(pa.duration("ns")),
                    "frames": pa.array([[1, 2, 3], []], pa.list_(pa.int64())),
                    "names": pa.array([["=a", "b"], None], pa.list_(pa.string()))})
    rows = _csv(tbl)
    assert rows[1] == ["2023-11-14T22:13:20.123456789Z", "1.500000001", "1 2 3", "'=a b"]
    assert rows[2] == ["", "", "", ""]


def test_several_csv_tables_need_a_zip(tmp_path: Path) -> None:
    tables = {"a": pa.table({"x": [1]}), "b/c": pa.table({"y": ["=z"]})}
    with pytest.raises(writers.ExportError, match=r"\.zip"):
        writers.write(tables, "csv", tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
    writers.write(tables, "csv", tmp_path / "out.zip")
    with zipfile.ZipFile(tmp_path / "out.zip") as z:
        assert z.namelist() == ["a.csv", "b_c.csv"]
        assert z.read("b_c.csv").decode() == '"y"\n"\'=z"\n'
    buf = io.BytesIO()                       # a file object, as the web UI writes a download
    writers.write(tables, "csv", buf, as_zip=True)
    with zipfile.ZipFile(buf) as z:
        assert z.namelist() == ["a.csv", "b_c.csv"]


def test_json_is_strict_and_keeps_text() -> None:
    tbl = pa.table({"f": [float("nan"), float("inf"), 1.5], "s": ["é日😀", "\x01<x>", None],
                    "when": pa.array([0, 1_500_000_000, None], pa.int64()).cast(TIMESTAMP)})
    buf = io.BytesIO()
    writers.write({"v": tbl}, "json", buf)

    def no_constants(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    out = json.loads(buf.getvalue().decode("utf-8"), parse_constant=no_constants)
    assert out == {"v": {"meta": {}, "rows": [{"f": None, "s": "é日😀", "when": 0.0},
                                              {"f": None, "s": "\x01<x>", "when": 1.5},
                                              {"f": 1.5, "s": None, "when": None}]}}


def test_json_of_an_empty_view_and_of_several(tmp_path: Path) -> None:
    tbl = tracedoc.open(SAMPLE).packets
    tables = {"hosts": view_table("hosts", tbl), "summary": view_table("summary", tbl, flt="frame.number > 1000")}
    writers.write(tables, "json", tmp_path / "v.json")
    out = json.loads((tmp_path / "v.json").read_text())
    assert list(out) == ["hosts", "summary"]
    assert len(out["hosts"]["rows"]) == tables["hosts"].num_rows > 0
    assert out["summary"]["rows"] == [] and tables["summary"].num_rows == 0


def test_unknown_format_and_no_tables() -> None:
    with pytest.raises(writers.ExportError, match="format"):
        writers.write({"a": pa.table({"x": [1]})}, "pdf", io.BytesIO())
    with pytest.raises(writers.ExportError, match="nothing"):
        writers.write({}, "json", io.BytesIO())
