"""``tracedoc export`` says what the CLI views say.

Each view exported as CSV has the header and the rows ``tracedoc VIEW
--format csv`` prints (row for row, cell for cell: times compared after
turning one format into the other, formula-defused cells after taking the
``'`` off), and as JSON the rows ``tracedoc VIEW --format json`` prints,
exactly.  The Exception Report, which the CLI prints nested, is compared
with the CLI's JSON flattened here (each symptom after its cause, with the
cause's id as ``parent``).  Both sides run the real ``tracedoc`` command,
on the sample capture and on corpus captures.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.export.helpers import CORPUS_CAPTURES, SAMPLE, corpus_capture, tracedoc

CLI_VIEWS = {
    "summary": ["summary"],
    "sessions": ["sessions"],
    "sequence": ["sequence", "--session", "1"],
    "response-times": ["response-times"],
    "hosts": ["hosts"],
}
ALL_VIEWS = ["summary", "sessions", "sequence", "response-times", "hosts", "findings"]

CAPTURES = ["sample", *CORPUS_CAPTURES]


class Exported:
    """One capture exported once as a CSV zip and once as JSON, and the CLI's own output per view."""

    def __init__(self, path: Path, tmp: Path) -> None:
        self.path = path
        view_args = [a for v in ALL_VIEWS for a in ("--view", v)] + ["--session", "1"]
        tracedoc("export", path, *view_args, "-o", tmp / "all.zip")
        tracedoc("export", path, *view_args, "-o", tmp / "all.json")
        with zipfile.ZipFile(tmp / "all.zip") as z:
            self.csv = {v: z.read(f"{v}.csv").decode("utf-8") for v in ALL_VIEWS}
        self.json = json.loads((tmp / "all.json").read_text(encoding="utf-8"))
        self._cli: dict[tuple[str, str], str] = {}

    def cli(self, view: str, fmt: str) -> str:
        if (view, fmt) not in self._cli:
            args = ["diagnose"] if view == "findings" else CLI_VIEWS[view]
            self._cli[(view, fmt)] = tracedoc(args[0], self.path, *args[1:], "--format", fmt).stdout
        return self._cli[(view, fmt)]


@pytest.fixture(scope="module", params=CAPTURES)
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    path = SAMPLE if request.param == "sample" else corpus_capture(request.param)
    return Exported(path, tmp_path_factory.mktemp("agree"))


# -- CSV ---------------------------------------------------------------------------------


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _undefused(v: str) -> str:
    return v[1:] if v[:1] == "'" and v[1:2] in ("=", "+", "-", "@", "\t", "\r") else v


def _iso_ns(v: str) -> int:
    """ISO 8601 UTC with nanoseconds (the export's CSV times) as epoch ns."""
    assert v.endswith("Z"), v
    whole, frac = v[:-1].split(".")
    t = dt.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp()) * 1_000_000_000 + int(frac.ljust(9, "0"))


def _clock(ns: int) -> str:
    """HH:MM:SS.ffffff in UTC, as the CLI's CSV shows times (TZ=UTC)."""
    secs, rest = divmod(ns, 1_000_000_000)
    return dt.datetime.fromtimestamp(secs, tz=dt.timezone.utc).strftime("%H:%M:%S") + f".{rest // 1000:06d}"


def _hhmmss(secs_text: str) -> str:
    """Seconds (the export) as hh:mm:ss.tttt (the CLI's sequence Elapsed)."""
    whole, frac = secs_text.split(".")
    s = int(whole)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}.{frac[:4]}"


CLOCK_COLUMNS = {"summary": {"Timestamp"}, "sequence": {"Timestamp"}, "hosts": {"first_seen", "last_seen"}}
EPOCH_COLUMNS = {"sessions": {"start", "end"}}


def _same_cell(view: str, column: str, mine: str, theirs: str) -> bool:
    if mine == "" or theirs == "":
        return mine == theirs
    if column in CLOCK_COLUMNS.get(view, ()):
        return _clock(_iso_ns(mine)) == theirs
    if column in EPOCH_COLUMNS.get(view, ()):
        return abs(_iso_ns(mine) / 1e9 - float(theirs)) < 1e-6
    if view == "sequence" and column == "Elapsed":
        return _hhmmss(mine) == theirs
    return _undefused(mine) == theirs


@pytest.mark.parametrize("view", list(CLI_VIEWS))
def test_csv_has_the_cli_rows(exported: Exported, view: str) -> None:
    mine = _rows(exported.csv[view])
    theirs = _rows(exported.cli(view, "csv"))
    assert mine[0] == theirs[0], "header"
    assert len(mine) == len(theirs), f"{view}: {len(mine) - 1} rows exported, the CLI prints {len(theirs) - 1}"
    for n, (a, b) in enumerate(zip(mine[1:], theirs[1:]), 1):
        for col, x, y in zip(mine[0], a, b):
            assert _same_cell(view, col, x, y), f"{view} row {n} {col}: exported {x!r}, the CLI {y!r}"


def test_csv_defuses_every_formula_like_cell(exported: Exported) -> None:
    starts = ("=", "+", "-", "@", "\t", "\r")
    defused = 0
    for view, text in exported.csv.items():
        for row in _rows(text)[1:]:
            for cell in row:
                assert not cell.startswith(starts), f"{view}: {cell!r} would run in a spreadsheet"
                defused += cell.startswith("'") and cell[1:2] in starts
    # The direction "->" of every outgoing packet starts with "-": the check above saw real cases.
    if any(r[4] == "'->" for r in _rows(exported.csv["summary"])[1:]):
        assert defused


# -- JSON --------------------------------------------------------------------------------


def _flatten(findings: list[dict[str, Any]], parent: int | None = None,
             out: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    out = [] if out is None else out
    for f in findings:
        row = {k: f[k] for k in ("rule", "category", "severity", "summary", "explanation", "action", "frames",
                                 "sessions", "details", "settings")}
        row["id"] = len(out) + 1
        row["parent"] = parent
        out.append(row)
        _flatten(f.get("symptoms", []), row["id"], out)
    return out


def test_json_has_the_cli_rows(exported: Exported) -> None:
    mine = exported.json
    assert list(mine) == ALL_VIEWS
    summary = json.loads(exported.cli("summary", "json"))
    assert mine["summary"]["rows"] == summary["packets"]
    assert mine["summary"]["meta"]["local"] == summary["local"]
    assert mine["sessions"]["rows"] == json.loads(exported.cli("sessions", "json"))
    sequence = json.loads(exported.cli("sequence", "json"))
    assert mine["sequence"]["rows"] == sequence["packets"]
    assert mine["sequence"]["meta"]["heading"] == sequence["heading"]
    times = json.loads(exported.cli("response-times", "json"))
    assert mine["response-times"]["rows"] == times["summary"]
    assert json.loads(mine["response-times"]["meta"]["thresholds"]) == times["thresholds"]
    assert mine["hosts"]["rows"] == json.loads(exported.cli("hosts", "json"))["hosts"]
    rows = [dict(r, details=json.loads(r["details"]), settings=json.loads(r["settings"]))
            for r in mine["findings"]["rows"]]
    assert rows == _flatten(json.loads(exported.cli("findings", "json")))


def test_findings_rows_and_csv_agree(exported: Exported) -> None:
    """The findings CSV has one row per finding of the JSON, symptoms included."""
    rows = _rows(exported.csv["findings"])
    assert rows[0] == ["id", "parent", "rule", "category", "severity", "summary", "explanation", "action",
                       "frames", "sessions", "details", "settings"]
    flat = _flatten(json.loads(exported.cli("findings", "json")))
    assert len(rows) - 1 == len(flat)
    for r, f in zip(rows[1:], flat):
        assert _undefused(r[2]) == f["rule"] and _undefused(r[5]) == f["summary"]
        assert r[8] == " ".join(map(str, f["frames"]))
        assert json.loads(r[10]) == f["details"]


@pytest.mark.parametrize("view, export_args, cli_args, key", [
    ("sequence", ["--between", "10.99.0.2", "10.99.0.1:21", "--relative"],
     ["sequence", "--between", "10.99.0.2", "10.99.0.1:21", "--relative"], "packets"),
    ("response-times", ["--by", "server", "--threshold", "dns=0.0001"],
     ["response-times", "--by", "server", "--threshold", "dns=0.0001"], "summary"),
    ("hosts", ["--hierarchy", "-Y", "tcp"], ["hosts", "--hierarchy", "-Y", "tcp"], "protocols"),
    ("findings", ["--min-severity", "error", "--local", "10.99.0.1"],
     ["diagnose", "--min-severity", "error", "--local", "10.99.0.1"], None),
    ("summary", ["-Y", "dns || ftp", "--local", "10.99.0.0/24"],
     ["summary", "-Y", "dns || ftp", "--local", "10.99.0.0/24"], "packets"),
])
def test_view_options_reach_the_view(tmp_path: Path, view: str, export_args: list[str], cli_args: list[str],
                                     key: str | None) -> None:
    """Each view's options mean in ``export`` what they mean in the view's own command."""
    out = tmp_path / "v.json"
    tracedoc("export", SAMPLE, "--view", view, *export_args, "-o", out)
    rows = json.loads(out.read_text())[view]["rows"]
    theirs = json.loads(tracedoc(cli_args[0], SAMPLE, *cli_args[1:], "--format", "json").stdout)
    if key is None:
        rows = [dict(r, details=json.loads(r["details"]), settings=json.loads(r["settings"])) for r in rows]
        theirs = _flatten(theirs)
    else:
        theirs = theirs[key]
    assert rows == theirs
    assert rows, "an option that empties the view would prove nothing"
