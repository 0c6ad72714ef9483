"""The inventory's records: what add() learns about a trace (checked against
tshark, sha256 and stat), tags, notes and annotations, idempotent add by
content, and the inventory file itself (location, schema version)."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from tests.store.conftest import epoch_ns, tshark_fields
from tracedoc.store import Inventory, InventoryError, UnknownTraceError, default_path
from tracedoc.store.schema import SCHEMA_VERSION


def test_add_records_the_facts_tshark_and_the_file_give(inv, http_pcap: Path):
    rec = inv.add(http_pcap, tags=["http", "lab"], note="first fetch")
    rows = tshark_fields(http_pcap, "frame.time_epoch", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst")
    assert rec.packets == len(rows)
    assert rec.first_ns == min(epoch_ns(r[0]) for r in rows)
    assert rec.last_ns == max(epoch_ns(r[0]) for r in rows)
    seen = Counter(a for r in rows for a in r[1:] if a)
    assert sorted(rec.hosts) == sorted(seen) and rec.host_count == len(seen)
    counts = [seen[h] for h in rec.hosts]
    assert counts == sorted(counts, reverse=True), "busiest host first"
    assert rec.sha256 == hashlib.sha256(http_pcap.read_bytes()).hexdigest()
    assert rec.size == os.path.getsize(http_pcap)
    assert rec.path == str(http_pcap) and rec.name == "http.pcap"
    assert rec.format == "pcap" and rec.compression is None
    assert rec.tags == ["http", "lab"] and rec.notes == ["first fetch"]
    assert rec.state == "ok"


def test_records_round_trip_through_the_file(inv_path: Path, http_pcap: Path, tmp_path: Path):
    first = Inventory(inv_path)
    a = first.add(http_pcap, tags=["b", "a", "a"], note="n1")
    gz = tmp_path / "http.pcap.gz"
    import gzip

    gz.write_bytes(gzip.compress(http_pcap.read_bytes()))
    b = first.add(gz)
    again = Inventory(inv_path)   # a new object (as a new process would) reads what the first wrote
    assert again.list() == [a, b]
    assert again.get(a.id) == a
    assert a.tags == ["a", "b"]
    assert b.compression == "gzip" and b.packets == a.packets and b.sha256 != a.sha256
    assert b.id != a.id


def test_tags_notes_and_annotations(inv, http_pcap: Path):
    rec = inv.add(http_pcap)
    inv.tag(rec.id, "slow", "http", "slow")
    inv.note(rec.id, "customer says the page hangs")
    inv.untag(rec.id, "http")
    got = inv.get(rec.id)
    assert got.tags == ["slow"] and got.notes == ["customer says the page hangs"]
    whole = inv.annotate(rec.id, "  taken at the proxy  ")
    a38 = inv.annotate(rec.id, "the GET", frame=38)
    a4 = inv.annotate(rec.id, "SYN", frame=4)
    a4b = inv.annotate(rec.id, "<script>alert(1)</script>", frame=4)
    assert whole.text == "taken at the proxy" and whole.frame is None and whole.source == "user"
    assert [x.id for x in inv.annotations(rec.id)] == [whole.id, a4.id, a4b.id, a38.id]
    assert inv.annotations(rec.id, frame=4) == [a4, a4b]
    assert inv.annotations(rec.id, frame=5) == []
    assert a4b.text == "<script>alert(1)</script>"   # kept as written; escaping is the views' job
    inv.remove_annotation(a4.id)
    assert inv.annotations(rec.id, frame=4) == [a4b]


@pytest.mark.parametrize("frame", [0, -1, 44, 10**12])
def test_annotation_of_a_frame_the_trace_lacks_is_refused(inv, http_pcap: Path, frame: int):
    rec = inv.add(http_pcap)
    with pytest.raises(InventoryError, match=f"frames 1 to 43: there is no frame {frame}"):
        inv.annotate(rec.id, "x", frame=frame)
    assert inv.annotations(rec.id) == []


def test_bad_arguments_are_clear_errors(inv, http_pcap: Path):
    rec = inv.add(http_pcap)
    with pytest.raises(KeyError):
        inv.get(rec.id + 1)
    with pytest.raises(UnknownTraceError, match=f"no trace {rec.id + 1} in the inventory"):
        inv.annotate(rec.id + 1, "x")
    with pytest.raises(InventoryError, match="empty annotation"):
        inv.annotate(rec.id, "   ")
    with pytest.raises(InventoryError, match="tag"):
        inv.tag(rec.id, "")
    with pytest.raises(InventoryError, match="tag"):
        inv.tag(rec.id, "two\nlines")
    with pytest.raises(InventoryError, match="No such file"):
        inv.add(http_pcap.with_name("nope.pcap"))
    with pytest.raises(InventoryError, match="not a regular file"):
        inv.add(http_pcap.parent)
    assert [r.id for r in inv.list()] == [rec.id]


def test_adding_the_same_content_again_is_the_same_trace(inv, http_pcap: Path, tmp_path: Path):
    rec = inv.add(http_pcap, tags=["one"])
    copy = tmp_path / "copy-of-http.cap"
    shutil.copyfile(http_pcap, copy)
    again = inv.add(http_pcap, tags=["two"], note="again")
    via_copy = inv.add(copy, note="again")
    assert again.id == via_copy.id == rec.id
    assert len(inv.list()) == 1
    got = inv.get(rec.id)
    assert got.path == str(http_pcap), "the recorded file is still there: the record stays with it"
    assert got.tags == ["one", "two"] and got.notes == ["again"]


def test_remove_forgets_the_trace_and_its_cache(inv, http_pcap: Path):
    rec = inv.add(http_pcap, tags=["x"], cache=True)
    inv.annotate(rec.id, "y", frame=1)
    cached = inv.cache_file(rec.id)
    assert cached.is_file()
    inv.remove(rec.id)
    assert inv.list() == [] and not cached.exists() and http_pcap.is_file()
    with pytest.raises(KeyError):
        inv.annotations(rec.id)
    con = duckdb.connect(str(inv.path), read_only=True)
    try:
        for table in ("tags", "notes", "annotations"):
            assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
    finally:
        con.close()


def test_default_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("TRACEDOC_INVENTORY", str(tmp_path / "mine.duckdb"))
    assert default_path() == tmp_path / "mine.duckdb"
    monkeypatch.delenv("TRACEDOC_INVENTORY")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_path() == tmp_path / "xdg" / "tracedoc" / "inventory.duckdb"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")   # invalid per the XDG spec: ignored
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_path() == tmp_path / "home" / ".local" / "share" / "tracedoc" / "inventory.duckdb"
    inv = Inventory()
    assert inv.path == tmp_path / "home" / ".local" / "share" / "tracedoc" / "inventory.duckdb"
    assert inv.path.is_file() and inv.cache_dir == inv.path.parent / "cache"


def _meta(path: Path) -> dict[str, str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return dict(con.execute("SELECT key, value FROM meta").fetchall())
    finally:
        con.close()


def test_the_file_says_its_schema_version(inv_path: Path):
    Inventory(inv_path)
    assert _meta(inv_path)["schema_version"] == str(SCHEMA_VERSION)


def test_a_file_from_a_newer_tracedoc_is_refused(inv_path: Path):
    Inventory(inv_path)
    con = duckdb.connect(str(inv_path))
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    con.close()
    with pytest.raises(InventoryError, match=f"newer tracedoc \\(schema version {SCHEMA_VERSION + 1}"):
        Inventory(inv_path)
    assert _meta(inv_path)["schema_version"] == str(SCHEMA_VERSION + 1), "left as it was"


def test_files_that_are_not_inventories_are_refused(tmp_path: Path):
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE sales (x INT)")
    con.close()
    with pytest.raises(InventoryError, match="not a tracedoc inventory"):
        Inventory(other)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 100)
    with pytest.raises(InventoryError, match="cannot open the inventory"):
        Inventory(text)
    assert text.read_text() == "hello\n" * 100
    with pytest.raises(InventoryError, match="is a directory"):
        Inventory(tmp_path)
