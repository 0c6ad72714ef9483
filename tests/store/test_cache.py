"""The Parquet cache: a trace decoded once is read back without decoding, and
what comes back is what a fresh decode gives."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import tracedoc
from tests.store.conftest import COMMENTED_PCAPNG, corpus
from tracedoc.analyze.derived import SCHEMA, Packets
from tracedoc.errors import FieldError
from tracedoc.store import cache as parquet_cache


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the packet batches decoded from now on (every decode goes through Packets.decode)."""
    calls: list[int] = []
    real = Packets.decode

    def counting(self: Packets, batch):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(self, batch)

    monkeypatch.setattr(Packets, "decode", counting)
    return calls


def fresh(path: Path, columns: list[str] | None = None) -> pa.Table:
    return tracedoc.open(path).table(columns)


def test_second_table_reads_the_cache_not_the_trace(inv, http_pcap: Path, tmp_path: Path, decodes: list[int]):
    rec = inv.add(http_pcap)
    assert not inv.is_cached(rec.id)
    decodes.clear()
    first = inv.table(rec.id)
    assert decodes, "the first table() decodes"
    assert inv.is_cached(rec.id)
    # Take the trace file away: only the cache can answer now.
    aside = tmp_path / "aside.bin"
    http_pcap.rename(aside)
    decodes.clear()
    again = inv.table(rec.id)
    cols = inv.table(rec.id, ["tcp.flags", "frame.number", "http.request.method", "tcp.flags"])
    assert decodes == [], "nothing decoded on the second call"
    want = fresh(aside)
    assert again.equals(want) and first.equals(want)
    assert again.schema.equals(SCHEMA, check_metadata=True), "the packet table's schema, field metadata and all"
    assert cols.column_names == ["tcp.flags", "frame.number", "http.request.method"]
    assert cols.equals(fresh(aside, ["tcp.flags", "frame.number", "http.request.method"]))


@pytest.mark.parametrize("kind", ["pcapng-comments", "gzip"])
def test_cache_equals_a_fresh_decode(inv, tmp_path: Path, kind: str):
    if kind == "gzip":
        path = tmp_path / "http.pcap.gz"
        path.write_bytes(gzip.compress(corpus("dpkt/examples/data/http.pcap").read_bytes()))
    else:
        path = corpus(COMMENTED_PCAPNG[1])
    rec = inv.add(path)
    got = inv.table(rec.id)
    assert got.equals(fresh(path))
    if kind == "pcapng-comments":
        assert got["frame.comment"].to_pylist() == ["test009-1", "test009-2"]


def test_add_with_cache_decodes_once(inv, http_pcap: Path, decodes: list[int]):
    rec = inv.add(http_pcap, cache=True)
    assert inv.is_cached(rec.id)
    n = len(decodes)
    assert n > 0
    inv.table(rec.id, ["ip.src"])
    assert len(decodes) == n


def test_unknown_column_fails_before_any_decode(inv, http_pcap: Path, decodes: list[int]):
    rec = inv.add(http_pcap)
    decodes.clear()
    with pytest.raises(FieldError, match="unknown column: ip.source"):
        inv.table(rec.id, ["frame.number", "ip.source"])
    assert decodes == [] and not inv.is_cached(rec.id)


def test_cache_from_another_table_layout_is_rebuilt(inv, http_pcap: Path, monkeypatch: pytest.MonkeyPatch,
                                                    decodes: list[int]):
    rec = inv.add(http_pcap, cache=True)
    # A tracedoc whose packet table has other columns must not trust this file.
    monkeypatch.setattr(parquet_cache, "layout", lambda: "0123456789abcdef")
    assert not inv.is_cached(rec.id)
    decodes.clear()
    assert inv.table(rec.id, ["frame.number"]).num_rows == 43
    assert decodes, "rebuilt"
    assert inv.is_cached(rec.id)


def test_a_failed_build_leaves_nothing(inv, http_pcap: Path, monkeypatch: pytest.MonkeyPatch):
    rec = inv.add(http_pcap)

    def broken(self, batch):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(parquet_cache.CacheWriter, "write", broken)
    with pytest.raises(OSError, match="No space left"):
        inv.table(rec.id)
    assert [p.name for p in inv.cache_dir.iterdir() if not p.name.endswith(".lock")] == []
    monkeypatch.undo()
    assert inv.table(rec.id).equals(fresh(http_pcap))


def test_a_damaged_cache_file_is_rebuilt(inv, http_pcap: Path):
    rec = inv.add(http_pcap, cache=True)
    f = inv.cache_file(rec.id)
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    assert not inv.is_cached(rec.id)
    assert inv.table(rec.id).equals(fresh(http_pcap))


def test_the_cache_file_is_plain_parquet(inv, http_pcap: Path):
    rec = inv.add(http_pcap, cache=True)
    f = inv.cache_file(rec.id)
    assert f.parent == inv.cache_dir and f.name == f"{rec.sha256}.parquet"
    con = duckdb.connect()
    try:
        n, syns = con.execute(f"SELECT count(*), count(*) FILTER (WHERE (\"tcp.flags\" & 2) != 0)"
                              f" FROM read_parquet('{f}')").fetchone()
    finally:
        con.close()
    want = fresh(http_pcap, ["tcp.flags"])["tcp.flags"].to_pylist()
    assert n == len(want) == 43
    assert syns == sum(1 for v in want if v is not None and v & 2)


def test_two_traces_two_caches(inv, http_pcap: Path, tmp_path: Path):
    other = tmp_path / "other.pcapng"
    shutil.copyfile(corpus(COMMENTED_PCAPNG[0]), other)
    a = inv.add(http_pcap)
    b = inv.add(other)
    assert inv.table(a.id, ["frame.number"]).num_rows == 43
    assert inv.table(b.id, ["frame.number"]).num_rows == 2
    assert sorted(p.name for p in inv.cache_dir.glob("*.parquet")) == sorted(
        [f"{a.sha256}.parquet", f"{b.sha256}.parquet"])


def test_pages_of_rows(inv, http_pcap: Path):
    rec = inv.add(http_pcap, cache=True)
    want = fresh(http_pcap)
    cols = ["frame.number", "ip.src", "tcp.flags", "http.request.uri"]
    for offset, limit in ((0, 10), (10, 10), (40, 10), (43, 5), (100, 5), (5, 0), (0, None), (17, None)):
        got = inv.table(rec.id, cols, offset=offset, limit=limit)
        assert got.equals(want.select(cols).slice(offset, limit)), (offset, limit)
    with pytest.raises(Exception, match="offset >= 0"):
        inv.table(rec.id, cols, offset=-1)


def test_pages_span_row_groups(tmp_path: Path):
    """A page that starts in one row group and ends in another, in a cache
    file written batch by batch as a big trace's is (7 rows a batch here)."""
    path = corpus("dpkt/examples/data/http.pcap")
    want = fresh(path)
    sha = "0" * 64
    with parquet_cache.CacheWriter(tmp_path, sha) as w:
        for b in want.to_batches(max_chunksize=7):
            w.write(b)
        f = w.commit()
    md = parquet_cache.footer(f, sha)
    assert md is not None and md.num_row_groups == 7
    for offset in range(0, 45, 3):
        for limit in (1, 6, 7, 8, 15, 50):
            got = parquet_cache.read(f, ["frame.number", "tcp.seq_raw"], md, offset, limit)
            assert got.equals(want.select(["frame.number", "tcp.seq_raw"]).slice(offset, limit)), (offset, limit)
    assert parquet_cache.read(f, None, md, 20, 9).equals(want.slice(20, 9))


def test_cache_files_follow_the_umask_and_abandoned_builds_go(inv, http_pcap: Path):
    import os
    import time

    rec = inv.add(http_pcap)
    inv.cache_dir.mkdir(parents=True)
    old = inv.cache_dir / f".{rec.sha256[:16]}-999999-dead.parquet.tmp"   # a build whose process died
    old.write_bytes(b"PAR1 half a table")
    gone = time.time() - parquet_cache.ABANDONED_AFTER_S - 5
    os.utime(old, (gone, gone))
    recent = inv.cache_dir / f".{rec.sha256[:16]}-999998-busy.parquet.tmp"   # maybe still being written
    recent.write_bytes(b"PAR1")
    mask = os.umask(0o022)
    try:
        f = inv.cache_file(rec.id)
    finally:
        os.umask(mask)
    assert f.stat().st_mode & 0o777 == 0o644
    assert not old.exists() and recent.exists()
