"""Fixtures for the inventory tests: a fresh inventory in a temporary
directory, corpus captures copied there (so tests can move and change them),
and tshark / editcap / capinfos as the oracles."""

from __future__ import annotations

import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.corpus import CORPUS, have_tshark

HTTP_PCAP = "dpkt/examples/data/http.pcap"
"""43 packets of one HTTP fetch (Ethereal's http.cap): 4 IPv4 hosts."""
COMMENTED_PCAPNG = ("pcapng-test-generator/output_le/basic/test009.pcapng",
                    "pcapng-test-generator/output_be/basic/test009.pcapng")
"""The corpus's captures with packet comments (MANIFEST has_comments, checked
with tshark -e frame.comment): a section comment and one comment on each of
2 packets, little- and big-endian."""


def corpus(rel: str) -> Path:
    p = CORPUS / rel
    if not p.is_file():
        pytest.skip(f"corpus capture {rel} is not here (../shared/corpus)")
    return p


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


def tshark_fields(path: Path, *fields: str) -> list[list[str]]:
    """``tshark -T fields`` rows (first occurrence of each field)."""
    if not have_tshark():
        pytest.skip("tshark is not installed")
    args = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=f"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def epoch_ns(text: str) -> int:
    return int(Decimal(text) * 1_000_000_000)


@pytest.fixture
def inv_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "inventory.duckdb"


@pytest.fixture
def inv(inv_path: Path):  # type: ignore[no-untyped-def]
    from tracedoc.store import Inventory

    return Inventory(inv_path)


@pytest.fixture
def http_pcap(tmp_path: Path) -> Path:
    """A copy of the HTTP capture in its own directory."""
    d = tmp_path / "traces"
    d.mkdir()
    dst = d / "http.pcap"
    shutil.copyfile(corpus(HTTP_PCAP), dst)
    return dst
