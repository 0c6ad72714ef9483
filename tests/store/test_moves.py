"""A trace file that moved, changed or vanished is told apart by its hash."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.store.conftest import need, tshark_fields
from tracedoc.store import InventoryError, MissingTraceError, StaleTraceError


def test_unchanged_file_is_ok(inv, http_pcap: Path):
    rec = inv.add(http_pcap)
    assert inv.check(rec.id) == "ok"
    assert inv.check(rec.id, quick=True) == "ok"


def test_moved_file_given_again_to_add(inv, http_pcap: Path, tmp_path: Path):
    rec = inv.add(http_pcap, note="n")
    inv.annotate(rec.id, "mine", frame=3)
    elsewhere = tmp_path / "archive" / "2024-05-13.pcap"
    elsewhere.parent.mkdir()
    http_pcap.rename(elsewhere)
    again = inv.add(elsewhere)
    assert again.id == rec.id and again.path == str(elsewhere) and again.name == "2024-05-13.pcap"
    assert again.notes == ["n"] and [a.text for a in inv.annotations(rec.id)] == ["mine"]
    assert inv.check(rec.id) == "moved", "check reports the move once"
    assert inv.check(rec.id) == "ok"
    assert len(inv.list()) == 1


def test_moved_file_found_in_its_directory(inv, http_pcap: Path):
    rec = inv.add(http_pcap)
    decoy = http_pcap.with_name("aaa-same-size.pcap")   # same size, other bytes: hashed and passed over
    data = bytearray(http_pcap.read_bytes())
    data[-1] ^= 0xFF
    decoy.write_bytes(bytes(data))
    renamed = http_pcap.with_name("renamed.pcap")
    http_pcap.rename(renamed)
    assert inv.check(rec.id) == "moved"
    assert inv.get(rec.id).path == str(renamed)
    assert inv.check(rec.id) == "ok"


def test_changed_file(inv, http_pcap: Path, tmp_path: Path):
    need("editcap")
    rec = inv.add(http_pcap, tags=["t"])
    mine = inv.annotate(rec.id, "still mine", frame=2)
    inv.table(rec.id, ["frame.number"])
    old_cache = inv.cache_file(rec.id)
    # The same path now holds the first 20 packets only (editcap, not tracedoc, cuts it).
    shorter = tmp_path / "first20.pcap"
    subprocess.run(["editcap", "-r", str(http_pcap), str(shorter), "1-20"], check=True, capture_output=True)
    shutil.copyfile(shorter, http_pcap)
    assert inv.check(rec.id) == "changed"
    assert inv.get(rec.id).state == "changed"
    with pytest.raises(StaleTraceError, match="changed since it was added"):
        inv.table(rec.id)
    new = inv.reimport(rec.id)
    assert new.id == rec.id and new.state == "ok"
    assert new.sha256 == hashlib.sha256(http_pcap.read_bytes()).hexdigest() != rec.sha256
    assert new.packets == len(tshark_fields(http_pcap, "frame.number")) == 20
    assert new.tags == ["t"] and inv.annotations(rec.id) == [mine]
    assert not old_cache.exists(), "the stale table is dropped"
    assert inv.check(rec.id) == "ok"
    assert inv.table(rec.id, ["frame.number"]).num_rows == 20


def test_changed_file_seen_by_table_before_check(inv, http_pcap: Path):
    rec = inv.add(http_pcap)
    data = bytearray(http_pcap.read_bytes())
    data[-1] ^= 0xFF     # one payload byte: still a valid capture, other content
    http_pcap.write_bytes(bytes(data))
    with pytest.raises(StaleTraceError):
        inv.table(rec.id)   # never cached: it hashes before decoding, and will not cache other content
    assert inv.get(rec.id).state == "changed"
    assert list(inv.cache_dir.glob("*.parquet")) == []


def test_missing_file(inv, http_pcap: Path):
    rec = inv.add(http_pcap)
    inv.table(rec.id, ["frame.number"])
    os.unlink(http_pcap)
    assert inv.check(rec.id) == "missing"
    assert inv.get(rec.id).state == "missing"
    assert inv.table(rec.id, ["frame.number"]).num_rows == 43, "the cached table outlives the file"
    with pytest.raises(MissingTraceError):
        inv.reimport(rec.id)


def test_missing_file_never_cached(inv, http_pcap: Path):
    rec = inv.add(http_pcap)
    http_pcap.rename(http_pcap.parent.parent / "gone-up.pcap")   # not in the same directory: not found
    with pytest.raises(MissingTraceError, match="is gone and its table is not cached"):
        inv.table(rec.id)
    assert inv.get(rec.id).state == "missing"


def test_moved_file_found_when_its_table_is_first_needed(inv, http_pcap: Path):
    rec = inv.add(http_pcap)
    renamed = http_pcap.with_name("moved.pcap")
    http_pcap.rename(renamed)
    assert inv.table(rec.id, ["frame.number"]).num_rows == 43
    assert inv.get(rec.id).path == str(renamed)


def test_file_restored_at_its_path_is_ok_again(inv, http_pcap: Path, tmp_path: Path):
    rec = inv.add(http_pcap)
    keep = tmp_path / "kept-aside"
    http_pcap.rename(keep)
    assert inv.check(rec.id) == "missing"
    keep.rename(http_pcap)
    assert inv.check(rec.id) == "ok"
    assert inv.get(rec.id).state == "ok"


def test_reimport_onto_content_another_trace_has(inv, http_pcap: Path, tmp_path: Path):
    need("editcap")
    other = tmp_path / "other.pcap"
    subprocess.run(["editcap", "-r", str(http_pcap), str(other), "1-5"], check=True, capture_output=True)
    a = inv.add(http_pcap)
    b = inv.add(other)
    shutil.copyfile(other, http_pcap)
    assert inv.check(a.id) == "changed"
    with pytest.raises(InventoryError, match=f"same trace as trace {b.id}"):
        inv.reimport(a.id)
    assert inv.get(a.id).sha256 == a.sha256
