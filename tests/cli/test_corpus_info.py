"""Walk the whole shared corpus with ``tracedoc info --json``.

Every capture tshark 4.0 reads (MANIFEST's tshark_read_error empty, or only
a dissector warning) must give tshark's packet count and no error; every
capture tshark cannot read must give a one-line specific error and a
non-zero exit.  Nowhere a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tests.support.corpus import Capture, captures, have_corpus

pytestmark = [pytest.mark.corpus,
              pytest.mark.skipif(not have_corpus(), reason="../shared/corpus is not there")]


def _tshark_fails(c: Capture) -> bool:
    # The MANIFEST also records dissector warnings there; only "tshark: ..."
    # lines are read failures.
    return c.tshark_error.startswith("tshark:")


def _present() -> list[Capture]:
    return [c for c in captures() if c.path.is_file()] if have_corpus() else []


def _info(path: str):
    from tracedoc.cli.main import main

    return CliRunner().invoke(main, ["info", "--json", path], catch_exceptions=True)


def test_every_capture_tshark_reads_gives_its_packet_count():
    bad = []
    n = 0
    for c in _present():
        if _tshark_fails(c):
            continue
        n += 1
        r = _info(str(c.path))
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            bad.append(f"{c.rel}: exception {type(r.exception).__name__}: {r.exception}")
            continue
        if "Traceback" in r.output or "Traceback" in (r.stderr or ""):
            bad.append(f"{c.rel}: traceback")
            continue
        facts = json.loads(r.stdout)
        if facts["packets"] != c.packets or facts["errors"] or r.exit_code != 0:
            bad.append(f"{c.rel}: packets {facts['packets']} (tshark {c.packets}), exit {r.exit_code}, "
                       f"errors {facts['errors']}")
    print(f"{n} captures tshark reads; {n - len(bad)} agree")
    assert n > 1500
    assert not bad, "\n".join(bad[:50])


def test_every_capture_tshark_cannot_read_gives_one_specific_error():
    bad = []
    failing = [c for c in _present() if _tshark_fails(c)]
    for c in failing:
        r = _info(str(c.path))
        err_lines = [ln for ln in (r.stderr or "").splitlines() if ln.strip()]
        if r.exit_code == 0:
            bad.append(f"{c.rel}: exit 0")
        elif r.exception is not None and not isinstance(r.exception, SystemExit):
            bad.append(f"{c.rel}: exception {type(r.exception).__name__}: {r.exception}")
        elif not err_lines or not all(ln.startswith("tracedoc: error:") for ln in err_lines):
            bad.append(f"{c.rel}: stderr {err_lines!r}")
        elif "Traceback" in r.output:
            bad.append(f"{c.rel}: traceback")
    print(f"{len(failing)} captures tshark cannot read")
    assert len(failing) >= 20
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("rel", [
    "dpkt/examples/data/truncated_dns_2.pcap",
    "libpcap/tests/pcap-invalid-version-1.pcap",
    "libpcap/tests/shb-option-too-long.pcapng",
    "tcpdump/tests/dsa.pcap",
    "dpkt/examples/data/http.pcap",
])
def test_real_command_exit_codes(rel):
    """The installed command, as a user runs it: one line per error, no traceback."""
    c = next((c for c in _present() if c.rel == rel), None)
    if c is None:
        pytest.skip(f"{rel} is not in this corpus snapshot")
    p = subprocess.run([sys.executable, "-m", "tracedoc.cli.main", "info", "--json", str(c.path)],
                       capture_output=True, text=True, timeout=120)
    assert "Traceback" not in p.stderr + p.stdout
    if _tshark_fails(c):
        assert p.returncode != 0
        lines = p.stderr.strip().splitlines()
        assert lines and all(ln.startswith("tracedoc: error:") for ln in lines), p.stderr
    else:
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["packets"] == c.packets
