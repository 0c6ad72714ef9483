"""Short-lived DuckDB connections to the inventory file.

DuckDB lets one process at a time open a file for writing, and a process
that has it open for reading keeps writers out.  A web server and a CLI share
one inventory, so no connection is held between operations: each operation
opens the file (read-only when it only reads), does its work in one
transaction and closes it (10-20 ms).  A process that finds the file locked
retries for ``timeout`` seconds, then reports :class:`InventoryBusyError`.

Within one process DuckDB refuses a read-only and a read-write connection to
the same file at once, so operations on one file are serialised by a
per-file lock (threads of a web server, two ``Inventory`` objects).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from tracedoc.store.errors import InventoryBusyError, InventoryError

_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def _process_lock(path: Path) -> threading.RLock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(path), threading.RLock())


def _is_lock_conflict(e: Exception) -> bool:
    text = str(e)
    return "Could not set lock" in text or "Conflicting lock" in text


class Database:
    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout
        self._lock = _process_lock(path)

    @contextmanager
    def connect(self, write: bool = False) -> Iterator[Any]:
        """A connection for one operation: in a transaction when ``write``
        (committed on success, rolled back on any exception)."""
        with self._lock:
            con = self._open(write or not self.path.exists())
            try:
                if write:
                    con.execute("BEGIN TRANSACTION")
                    try:
                        yield con
                    except BaseException:
                        con.execute("ROLLBACK")
                        raise
                    con.execute("COMMIT")
                else:
                    yield con
            except duckdb.ConstraintException:
                raise   # the caller's to judge (two processes adding one trace at once)
            except duckdb.Error as e:
                raise InventoryError(f"inventory {self.path}: {e}") from e
            finally:
                con.close()

    def _open(self, write: bool) -> Any:
        deadline = time.monotonic() + self.timeout
        pause = 0.01
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=not write)
            except duckdb.Error as e:
                if not _is_lock_conflict(e):
                    raise InventoryError(f"cannot open the inventory {self.path}: {e}") from e
                if time.monotonic() >= deadline:
                    m = re.search(r"\(PID (\d+)\)", str(e))
                    who = f" (PID {m.group(1)})" if m else ""
                    raise InventoryBusyError(
                        f"inventory is in use by another process{who}: {self.path} "
                        f"(waited {self.timeout:g} s; DuckDB lets one process write it at a time)") from e
                time.sleep(pause)
                pause = min(pause * 2, 0.2)
