"""A trace that cannot be read whole is refused with one clear error, and
nothing of it is kept: no record, no annotations, no cache file."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import duckdb
import pytest

from tests.store.conftest import COMMENTED_PCAPNG, corpus
from tracedoc.errors import TraceFormatError


def pcap_record_starts(data: bytes) -> list[int]:
    """Byte offsets of the records of a little-endian classic pcap (the
    24-byte file header, then 16-byte record headers with incl_len at +8)."""
    assert data[:4] == b"\xd4\xc3\xb2\xa1"
    out, off = [], 24
    while off + 16 <= len(data):
        out.append(off)
        (incl,) = struct.unpack_from("<I", data, off + 8)
        off += 16 + incl
    return out


def assert_nothing_kept(inv) -> None:  # type: ignore[no-untyped-def]
    assert inv.list() == []
    con = duckdb.connect(str(inv.path), read_only=True)
    try:
        for table in ("traces", "tags", "notes", "annotations"):
            assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
    finally:
        con.close()
    left = [p.name for p in inv.cache_dir.iterdir() if not p.name.endswith(".lock")] if inv.cache_dir.exists() else []
    assert left == []


@pytest.mark.parametrize("cache", [False, True])
def test_truncated_pcap(inv, tmp_path: Path, cache: bool):
    data = corpus("dpkt/examples/data/http.pcap").read_bytes()
    starts = pcap_record_starts(data)
    cut_record = 30
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: starts[cut_record] + 16 + 10])   # record 31's header and 10 bytes of its data
    with pytest.raises(TraceFormatError) as e:
        inv.add(cut, tags=["t"], note="n", cache=cache)
    assert e.value.offset == starts[cut_record]
    assert str(e.value).startswith(f"{cut}: damaged trace: truncated record at offset {starts[cut_record]}")
    assert_nothing_kept(inv)


def test_truncated_pcapng_with_comments(inv, tmp_path: Path):
    src = corpus(COMMENTED_PCAPNG[0]).read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(src[:-20])   # the last block loses its end
    with pytest.raises(TraceFormatError, match="damaged trace"):
        inv.add(cut, cache=True)
    assert_nothing_kept(inv)


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"this is not a capture\n" * 20, "not a capture file tracedoc knows"),
    (b"\x1f\x8b\x08\x00garbage that is no gzip stream" * 3, "decompression failed at offset 0"),
])
def test_not_a_trace(inv, tmp_path: Path, content: bytes, message: str):
    f = tmp_path / "f.pcap"
    f.write_bytes(content)
    with pytest.raises(TraceFormatError, match=message):
        inv.add(f, cache=True)
    assert_nothing_kept(inv)


def test_good_traces_are_kept_beside_a_refused_one(inv, http_pcap: Path, tmp_path: Path):
    good = inv.add(http_pcap)
    bad = tmp_path / "bad.pcap"
    shutil.copyfile(http_pcap, bad)
    with open(bad, "r+b") as f:
        f.truncate(bad.stat().st_size - 7)
    with pytest.raises(TraceFormatError):
        inv.add(bad)
    assert inv.list() == [good]
