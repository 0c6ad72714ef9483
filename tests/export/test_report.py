"""``tracedoc report``: the PDF holds the Exception Report — every finding's
severity, summary, explanation, action and evidence, as ``tracedoc
diagnose --format json`` gives them — the trace's facts, the top sessions,
the response times and the plots.  Read back with ``pdftotext``
(poppler-utils)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import tracedoc
from tests.export.helpers import (
    CORPUS_CAPTURES,
    SAMPLE,
    SCRIPT,
    corpus_capture,
    hostile_capture,
)
from tests.export.helpers import tracedoc as run
from tracedoc.export import report

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None,
                                reason="pdftotext is not installed (Debian package poppler-utils)")


def _text(pdf: Path) -> str:
    """The PDF's text with runs of white space as one space (lines wrap where the page ends)."""
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True,
                         timeout=60).stdout.decode("utf-8")
    return " ".join(out.split())


def _flat(s: str) -> str:
    return " ".join(s.split())


def _pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


@pytest.mark.parametrize("capture", ["sample", CORPUS_CAPTURES[0], CORPUS_CAPTURES[1]])
def test_report_has_every_finding_and_the_sections(capture: str, tmp_path: Path) -> None:
    path = SAMPLE if capture == "sample" else corpus_capture(capture)
    out = tmp_path / "report.pdf"
    r = run("report", path, "-o", out)
    assert out.read_bytes().startswith(b"%PDF-")
    assert "report:" in r.stderr
    text = _text(out)
    findings = json.loads(run("diagnose", path, "--format", "json").stdout)
    assert findings, "these captures have findings"
    assert "Exception Report" in text
    for f in findings:
        assert _flat(f"{f['severity'].upper()} {f['rule']}: {f['summary']}") in text, f["summary"]
        assert _flat(f"Why: {f['explanation']}") in text
        assert _flat(f"Do: {f['action']}") in text
        shown = ", ".join(map(str, f["frames"][:report.MAX_EVIDENCE_FRAMES]))
        assert f"Evidence: frames {shown}" in text
        for s in f.get("symptoms", [])[:report.MAX_SYMPTOMS]:
            assert _flat(f"{s['severity'].upper()} {s['rule']}: {s['summary']}") in text
    tbl = tracedoc.open(path).packets
    for section in ("Trace", "Top sessions", "IP Summary", "Response Time Summary", "Plots"):
        assert section in text
    assert f"Packets: {tbl.num_rows:,}" in text
    assert f"File: {path}" in text
    # The plots are drawn from SVG as vectors: their titles are text in the PDF.
    assert "I/O graph" in text and "Protocol hierarchy" in text
    assert _pages(out) >= 3


def test_report_on_hostile_text(tmp_path: Path) -> None:
    """A DNS name with <script> and an HTTP URI with control characters and
    bytes the decoder could not read (U+FFFD) print as text; the URI's slow
    answer is listed among the transactions slower than the threshold."""
    trace = hostile_capture(tmp_path / "hostile.pcap")
    out = tmp_path / "h.pdf"
    run("report", trace, "-o", out)
    text = _text(out)
    assert SCRIPT in text                                    # in the NXDOMAIN finding
    assert "Slower than the threshold: 1" in text
    assert "GET /<script>\\x01\\x1b\\x0c" in text            # control characters shown, not sent to the PDF
    # Its histogram lists it too: plot text from the trace is drawn in a Unicode font.
    assert "Response times: http" in text and "could not be drawn" not in text


def test_report_without_the_dejavu_font(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without DejaVu Sans the core fonts are used: text Latin-1 cannot hold becomes '?', nothing breaks."""
    monkeypatch.setattr(report, "FONT_DIRS", ())
    trace = hostile_capture(tmp_path / "hostile.pcap")
    tbl = tracedoc.open(trace).packets
    facts = report.trace_facts(tracedoc.open(trace), tbl)
    facts["file"] = str(tmp_path / "日本-😀-é.pcap")
    pdf = report.build_report(tbl, facts, zone="UTC")
    (tmp_path / "core.pdf").write_bytes(pdf)
    text = _text(tmp_path / "core.pdf")
    assert "Exception Report" in text and SCRIPT in text
    assert "??-?-é.pcap" in text
    assert "Response times: http" in text and "could not be drawn" not in text


def test_report_unicode_names_with_dejavu(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    if report._font_files() is None:
        pytest.skip("DejaVu Sans is not installed (Debian package fonts-dejavu-core)")
    tbl = tracedoc.open(SAMPLE).packets
    facts = report.trace_facts(tracedoc.open(SAMPLE), tbl)
    facts["file"] = "/traces/Ærø-αβγ-Жж-日本.pcap"
    (tmp_path / "u.pdf").write_bytes(report.build_report(tbl, facts, zone="UTC"))
    # Glyphs DejaVu has print as they are; CJK, which it lacks, as "?" (not blanks and a warning).
    assert "Ærø-αβγ-Жж-??.pcap" in _text(tmp_path / "u.pdf")
    assert not [r for r in caplog.records if "missing" in r.getMessage()]


def test_report_with_a_filter_and_no_findings(tmp_path: Path) -> None:
    out = tmp_path / "f.pdf"
    run("report", SAMPLE, "-Y", "arp", "-o", out)
    text = _text(out)
    assert "Display filter: arp (2 packets selected)" in text
    assert "No findings" in text
