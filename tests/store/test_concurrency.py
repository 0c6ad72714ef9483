"""One inventory file, several users: two Inventory objects, threads, and
other processes (a web server and a CLI) — and a clear error, not a
traceback, when another process keeps the file locked."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tracedoc.store import Inventory, InventoryBusyError


def test_two_objects_on_one_file(inv_path: Path, http_pcap: Path, tmp_path: Path):
    a = Inventory(inv_path)
    b = Inventory(inv_path)
    rec = a.add(http_pcap)
    assert b.get(rec.id) == rec
    note = b.annotate(rec.id, "from b", frame=1)
    assert a.annotations(rec.id) == [note]
    copy = tmp_path / "copy.pcap"
    shutil.copyfile(http_pcap, copy)
    assert b.add(copy).id == rec.id, "b knows the content a added"
    a.tag(rec.id, "x")
    assert b.get(rec.id).tags == ["x"]


def test_threads_share_a_file(inv_path: Path, http_pcap: Path):
    a = Inventory(inv_path)
    b = Inventory(inv_path)
    rec = a.add(http_pcap, cache=True)
    errors: list[BaseException] = []

    def work(inv: Inventory, k: int) -> None:
        try:
            for i in range(8):
                inv.annotate(rec.id, f"t{k}-{i}", frame=1 + (i % 43))
                inv.annotations(rec.id)     # a read-only connection between writes
                inv.table(rec.id, ["frame.number"])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(a if k % 2 else b, k)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(x.text for x in a.annotations(rec.id)) == sorted(f"t{k}-{i}" for k in range(4) for i in range(8))


HOLD = textwrap.dedent("""
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])      # a read-write connection: DuckDB locks the file
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
""")


def _hold(path: Path, seconds: float) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "holding"
    return p


def test_a_process_holding_the_file_is_a_clear_error(inv_path: Path, http_pcap: Path):
    inv = Inventory(inv_path, timeout=0.5)
    rec = inv.add(http_pcap)
    holder = _hold(inv_path, 60)
    try:
        with pytest.raises(InventoryBusyError, match="inventory is in use by another process"):
            Inventory(inv_path, timeout=0.5)
        with pytest.raises(InventoryBusyError, match=rf"inventory is in use by another process \(PID {holder.pid}\)"):
            inv.get(rec.id)
        with pytest.raises(InventoryBusyError):
            inv.annotate(rec.id, "x")
    finally:
        holder.kill()
        holder.wait()
    assert Inventory(inv_path).annotations(rec.id) == []


def test_a_short_hold_is_waited_out(inv_path: Path, http_pcap: Path):
    rec = Inventory(inv_path).add(http_pcap)
    holder = _hold(inv_path, 1.0)
    try:
        t0 = time.monotonic()
        a = Inventory(inv_path, timeout=30).annotate(rec.id, "after the wait")
        waited = time.monotonic() - t0
    finally:
        holder.wait()
    assert a.text == "after the wait"
    assert waited > 0.3, "it did wait for the other process"


WORKER = textwrap.dedent("""
    import sys
    from tracedoc.store import Inventory
    inv = Inventory(sys.argv[1], timeout=60)
    rec = inv.add(sys.argv[2])
    for i in range(15):
        inv.annotate(rec.id, f"{sys.argv[3]}-{i}", frame=1)
        inv.list()
    print(rec.id)
""")


def test_processes_writing_at_once(inv_path: Path, http_pcap: Path, tmp_path: Path):
    Inventory(inv_path)
    other = tmp_path / "other.pcap"
    data = bytearray(http_pcap.read_bytes())
    data[-1] ^= 0xFF
    other.write_bytes(bytes(data))
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(inv_path), str(f), name],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for f, name in ((http_pcap, "p"), (other, "q"), (http_pcap, "r"))]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e for _, e in outs]
    ids = [int(o) for o, _ in outs]
    assert ids[0] == ids[2] != ids[1], "the same content is one trace, whichever process added it first"
    inv = Inventory(inv_path)
    assert len(inv.list()) == 2
    texts = sorted(a.text for i in set(ids) for a in inv.annotations(i))
    assert texts == sorted(f"{n}-{i}" for n in "pqr" for i in range(15))
