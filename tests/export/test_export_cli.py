"""``tracedoc export`` / ``report`` on bad input and bad options: one clear
message, a non-zero exit (2 for a usage mistake, 1 for a trace that cannot
be read), and no output file — or, for a damaged trace, the output of what
could be read and exit 1."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from tests.export.helpers import SAMPLE
from tests.export.helpers import tracedoc as run


def _no_leftovers(folder: Path) -> None:
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("args, code, message", [
    (["--view", "summary", "--view", "hosts", "--format", "csv", "-o", "{out}/x.csv"], 2, ".zip"),
    (["--view", "summary", "-o", "{out}/x.txt"], 2, "--format"),
    (["--view", "sequence", "-o", "{out}/x.json"], 2, "--session"),
    (["--view", "sequence", "--session", "999", "-o", "{out}/x.json"], 2, "no session 999"),
    (["--view", "sequence", "--between", "10.0.0.1:99999", "10.0.0.2", "-o", "{out}/x.json"], 2, "bad port"),
    (["--view", "summary", "--local", "not-an-address", "-o", "{out}/x.json"], 2, "not an IP address"),
    (["--view", "findings", "--set", "no.such.rule=1", "-o", "{out}/x.json"], 2, "no rule"),
    (["--view", "response-times", "--threshold", "dns=abc", "-o", "{out}/x.json"], 2, "not a number"),
    (["--view", "nonsense", "-o", "{out}/x.json"], 2, "nonsense"),
    (["--view", "summary", "-Y", "ip.addr ==", "-o", "{out}/x.json"], 1, "display filter"),
    (["--view", "summary", "-o", "{out}/missing/x.json"], 1, "missing"),
])
def test_bad_options(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    r = run("export", SAMPLE, *[a.format(out=tmp_path) for a in args], check=False)
    assert r.returncode == code, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("content", [None, b"", b"this is not a capture file at all" * 10])
@pytest.mark.parametrize("command", ["export", "report"])
def test_unreadable_traces(tmp_path: Path, content: bytes | None, command: str) -> None:
    trace = tmp_path / "in.pcap"
    if content is not None:
        trace.write_bytes(content)
    out = tmp_path / "out" / ("o.pdf" if command == "report" else "o.json")
    out.parent.mkdir()
    extra = ["--view", "sessions"] if command == "export" else []
    r = run(command, trace, *extra, "-o", out, check=False)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("tracedoc: error:") and "Traceback" not in r.stderr
    assert not out.exists()
    _no_leftovers(out.parent)


def test_damaged_trace_exports_what_was_read(tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()
    trace = tmp_path / "cut.pcap"
    trace.write_bytes(data[: len(data) // 2 + 7])       # the last record cut short
    out = tmp_path / "s.csv"
    r = run("export", trace, "--view", "summary", "-o", out, check=False)
    assert r.returncode == 1
    assert "tracedoc: error:" in r.stderr
    rows = list(csv.reader(io.StringIO(out.read_text())))
    full = run("summary", trace, "--format", "csv", check=False)
    assert len(rows) == len(list(csv.reader(io.StringIO(full.stdout)))) > 2
    _no_leftovers(tmp_path)


def test_format_from_the_suffix_and_file_mode(tmp_path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    for suffix in ("csv", "zip", "xlsx", "xml", "json"):
        out = tmp_path / f"h.{suffix}"
        r = run("export", SAMPLE, "--view", "hosts", "-o", out)
        assert f"({'csv' if suffix == 'zip' else suffix})" in r.stderr
        assert out.stat().st_mode & 0o777 == 0o666 & ~umask   # as a plain open() makes it, not mkstemp's 0600
    assert (tmp_path / "h.zip").read_bytes()[:2] == b"PK"
    _no_leftovers(tmp_path)
