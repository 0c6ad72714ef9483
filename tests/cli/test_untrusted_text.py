"""Trace contents reach the terminal as text: a DNS name holding rich markup
(``[/]``, ``[bold]``) or an emoji code (``:100:``) is printed as it is, by
every table view, and never breaks the output."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from tests.support import pcapgen
from tests.support.command import tracedoc_command

NAME = b"[/]x[bold]y:100:z"


def _dns(src: str, dst: str, sport: int, dport: int, flags: int) -> bytes:
    labels = b"".join(bytes([len(p)]) + p for p in NAME.split(b".")) + b"\0"
    msg = struct.pack("!HHHHHH", 0x4242, flags, 1, 0, 0, 0) + labels + struct.pack("!HH", 1, 1)
    return pcapgen.ether("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800,
                         pcapgen.ipv4(src, dst, 17, pcapgen.udp(sport, dport, msg)))


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    q = _dns("192.0.2.1", "192.0.2.53", 40000, 53, 0x0100)
    r = _dns("192.0.2.53", "192.0.2.1", 53, 40000, 0x8183)
    recs = [pcapgen.Rec(pcapgen.BASE_TS, q, len(q)), pcapgen.Rec(pcapgen.BASE_TS + 2_000_000, r, len(r))]
    path = tmp_path_factory.mktemp("markup") / "markup.pcap"
    path.write_bytes(pcapgen.pcap_file(recs)[0])
    return path


@pytest.mark.parametrize("view", [["summary"], ["sessions"], ["sequence", "--session", "1"], ["response-times"],
                                  ["hosts"]])
def test_markup_in_trace_is_printed_as_text(trace: Path, view: list[str]) -> None:
    r = subprocess.run([*tracedoc_command(), view[0], str(trace), *view[1:]], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    if view[0] in ("summary", "sequence"):  # the views that show the query name
        assert NAME.decode() in r.stdout, r.stdout
    assert "\U0001f4af" not in r.stdout
