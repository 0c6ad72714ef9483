"""The README's quick start: examples/sample.pcap decodes, and `tracedoc summary`
shows it.

The sample was recorded from real traffic by scripts/record_sample.sh
(examples/README.md says how); tshark is the reference for its packet count.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import tracedoc

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "sample.pcap"


def test_sample_is_small_and_present() -> None:
    assert SAMPLE.is_file()
    assert SAMPLE.stat().st_size < 200_000


def test_sample_decodes() -> None:
    t = tracedoc.open(SAMPLE)
    packets = t.packets
    assert packets.num_rows > 0
    assert t.errors == []
    assert packets.column("_ws.malformed").null_count == packets.num_rows
    assert packets.column("frame.number").to_pylist() == list(range(1, packets.num_rows + 1))


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_packet_count_matches_tshark() -> None:
    p = subprocess.run(["tshark", "-n", "-r", str(SAMPLE)], capture_output=True, timeout=120,
                       env=dict(os.environ, LC_ALL="C.UTF-8"), stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    tshark_lines = p.stdout.decode(errors="replace").splitlines()
    assert tracedoc.open(SAMPLE).packets.num_rows == len(tshark_lines)


def _summary_csv() -> list[dict[str, str]]:
    # The `tracedoc` command installed beside this interpreter (pip install -e .),
    # else the same entry point run through this interpreter.
    exe = Path(sysconfig.get_path("scripts")) / "tracedoc"
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "tracedoc.cli.main"]
    p = subprocess.run([*cmd, "summary", str(SAMPLE), "--format", "csv"], capture_output=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return list(csv.DictReader(io.StringIO(p.stdout.decode())))


def test_summary_csv_shows_tcp_udp_icmp() -> None:
    rows = _summary_csv()
    assert len(rows) == tracedoc.open(SAMPLE).packets.num_rows
    protocols = {r["Protocol"] for r in rows}
    assert {"TCP", "UDP", "ICMP"} <= protocols, protocols
