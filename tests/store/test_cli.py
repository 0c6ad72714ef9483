"""``tracedoc add``, ``list``, ``annotate`` and ``check``, run through click
inside tracedoc's own command group class (the one that turns tracedoc
errors into one line and an exit code), before main.py registers them."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from tracedoc.cli.main import _Group
from tracedoc.cli.store_cmd import add, annotate, check, csv_cell, list_traces
from tracedoc.store import Inventory


@click.group(cls=_Group)
def cli() -> None:
    """The store commands as main.py registers them."""


for _cmd in (add, list_traces, annotate, check):
    cli.add_command(_cmd)


def run(*args: object, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, [str(a) for a in args], catch_exceptions=False)


def assert_clean_failure(r: Result, message: str) -> None:
    assert r.exit_code == 1
    assert "Traceback" not in r.stderr + r.stdout
    assert f"tracedoc: error: {message}" in r.stderr, r.stderr


def test_add_prints_the_ids(inv_path: Path, http_pcap: Path, tmp_path: Path):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(http_pcap.read_bytes()[:-7])
    other = tmp_path / "test.pcapng"
    from tests.store.conftest import COMMENTED_PCAPNG, corpus

    other.write_bytes(corpus(COMMENTED_PCAPNG[0]).read_bytes())
    r = run("add", http_pcap, bad, other, "-t", "x", "--tag", "y", "--note", "from the CLI", "--inventory", inv_path)
    assert_clean_failure(r, f"{bad}: damaged trace")
    recs = Inventory(inv_path).list()
    assert r.stdout.split() == [str(x.id) for x in recs]
    assert [x.path for x in recs] == [str(http_pcap), str(other)]
    assert all(x.tags == ["x", "y"] and x.notes == ["from the CLI"] for x in recs)
    again = run("add", http_pcap, "--inventory", inv_path)
    assert again.exit_code == 0 and again.stdout.split() == [str(recs[0].id)]
    assert "already in the inventory" in again.stderr


def test_inventory_from_the_environment(tmp_path: Path, http_pcap: Path):
    where = tmp_path / "env" / "inv.duckdb"
    r = run("add", http_pcap, env={"TRACEDOC_INVENTORY": str(where)})
    assert r.exit_code == 0
    assert [x.path for x in Inventory(where).list()] == [str(http_pcap)]


def test_list_formats(inv_path: Path, http_pcap: Path):
    inv = Inventory(inv_path)
    rec = inv.add(http_pcap, tags=["=HYPERLINK(\"http://x\")", "plain"], note="-2+3")
    as_json = json.loads(run("list", "--format", "json", "--inventory", inv_path).stdout)["traces"]
    assert len(as_json) == 1
    j = as_json[0]
    assert (j["id"], j["sha256"], j["packets"], j["hosts"], j["tags"], j["notes"]) == (
        rec.id, rec.sha256, rec.packets, rec.hosts, rec.tags, rec.notes)
    assert j["duration"] == pytest.approx((rec.last_ns - rec.first_ns) / 1e9)
    rows = list(csv.DictReader(io.StringIO(run("list", "--format", "csv", "--inventory", inv_path).stdout)))
    assert len(rows) == 1
    # Cells a spreadsheet would run as a formula are shown as text.
    assert rows[0]["tags"] == "'=HYPERLINK(\"http://x\"); plain" and rows[0]["notes"] == "'-2+3"
    assert rows[0]["packets"] == "43" and rows[0]["name"] == "http.pcap"
    text = run("list", "--inventory", inv_path).stdout
    assert "http.pcap" in text and rec.hosts[0] in text and text.splitlines()[0].split()[0] == "ID"


@pytest.mark.parametrize("value, cell", [("=1+2", "'=1+2"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
                                         ("\t=1", "'\t=1"), ("a=1", "a=1"), ("", ""), (None, ""), (7, "7")])
def test_csv_cells(value: object, cell: str):
    assert csv_cell(value) == cell


def test_annotate_and_list_annotations(inv_path: Path, http_pcap: Path):
    rec = Inventory(inv_path).add(http_pcap)
    r = run("annotate", rec.id, "-n", 38, "the", "GET", "--inventory", inv_path)
    assert r.exit_code == 0
    a_id = int(r.stdout)
    r = run("annotate", rec.id, "whole trace: <b>bold</b> [red]x[/red]", "--inventory", inv_path)
    assert r.exit_code == 0
    got = json.loads(run("annotate", rec.id, "--list", "--format", "json", "--inventory", inv_path).stdout)
    assert [(a["frame"], a["text"], a["source"]) for a in got["annotations"]] == [
        (None, "whole trace: <b>bold</b> [red]x[/red]", "user"), (38, "the GET", "user")]
    assert got["annotations"][1]["id"] == a_id
    table = run("annotate", rec.id, "--list", "-n", 38, "--inventory", inv_path).stdout.splitlines()
    assert len(table) == 2 and table[1].rstrip().endswith("the GET")
    text = run("annotate", rec.id, "--list", "--inventory", inv_path).stdout
    assert "[red]x[/red]" in text, "shown as written, not read as markup"


def test_annotate_errors(inv_path: Path, http_pcap: Path):
    rec = Inventory(inv_path).add(http_pcap)
    assert_clean_failure(run("annotate", rec.id, "-n", 99, "x", "--inventory", inv_path),
                         f"trace {rec.id} has frames 1 to 43")
    assert_clean_failure(run("annotate", 42, "x", "--inventory", inv_path), "no trace 42 in the inventory")
    r = run("annotate", rec.id, "--inventory", inv_path)
    assert r.exit_code == 2 and "say what to note" in r.stderr
    r = run("annotate", rec.id, "text", "--list", "--inventory", inv_path)
    assert r.exit_code == 2
    assert Inventory(inv_path).annotations(rec.id) == []


def test_check_and_reimport(inv_path: Path, http_pcap: Path):
    rec = Inventory(inv_path).add(http_pcap)
    r = run("check", "--inventory", inv_path)
    assert r.exit_code == 0 and r.stdout == f"{rec.id}\tok\t{http_pcap}\n"
    data = bytearray(http_pcap.read_bytes())
    data[-1] ^= 0xFF
    http_pcap.write_bytes(bytes(data))
    r = run("check", rec.id, "--inventory", inv_path)
    assert r.exit_code == 1 and r.stdout == f"{rec.id}\tchanged\t{http_pcap}\n"
    r = run("check", rec.id, "--reimport", "--inventory", inv_path)
    assert r.exit_code == 0 and r.stdout == f"{rec.id}\treimported\t{http_pcap}\n"
    assert run("check", "--inventory", inv_path).exit_code == 0
    http_pcap.unlink()
    r = run("check", "--inventory", inv_path)
    assert r.exit_code == 1 and r.stdout == f"{rec.id}\tmissing\t{http_pcap}\n"


def test_busy_inventory_is_one_line(inv_path: Path, http_pcap: Path):
    Inventory(inv_path)
    hold = textwrap.dedent("""
        import sys, time, duckdb
        con = duckdb.connect(sys.argv[1])
        print("holding", flush=True)
        time.sleep(60)
    """)
    p = subprocess.Popen([sys.executable, "-c", hold, str(inv_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "holding"
        r = run("add", http_pcap, "--inventory", inv_path, env={"TRACEDOC_INVENTORY_TIMEOUT": "0.3"})
        assert_clean_failure(r, "inventory is in use by another process")
        assert len(r.stderr.splitlines()) == 1
    finally:
        p.kill()
        p.wait()


def test_progress_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch, inv_path: Path, http_pcap: Path):
    from tracedoc.cli import store_cmd

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    phases: list[str] = []
    with store_cmd._progress_bar() as cb:
        assert cb is not None

        def spy(phase: str, done: int, total: int) -> None:
            phases.append(phase)
            cb(phase, done, total)

        Inventory(inv_path).add(http_pcap, cache=True, progress=spy)
    assert phases[0] == "hash" and "read" in phases and phases.index("read") > phases.index("hash")
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with store_cmd._progress_bar() as cb:
        assert cb is None, "no bar when stderr is not a terminal"
