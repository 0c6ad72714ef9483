"""Decoded packet tables kept as Parquet files, one per trace content.

``<cache dir>/<sha256>.parquet`` holds every column of the packet table
(:data:`tracedoc.analyze.derived.SCHEMA`) of the file with that hash, so a
view reads the columns it shows without decoding anything.  Why the whole
table, written once: on the 1M-packet bench trace a full decode takes 25 s
and the Parquet file 78 MB (zstd), while reading the Packet Summary's 45
columns back takes 0.15-0.2 s; decoding columns on demand would cost a
full pass over the trace for each new column set.

A file is written under a temporary name and renamed into place when
complete, so a reader never sees half a table; a build holds a lock file so
two processes do not decode the same trace at once.  The file records which
tracedoc wrote it and the table's column layout: a file from another
version is rebuilt rather than trusted.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tracedoc.errors import FieldError

META_KEY = b"tracedoc.cache"
COMPRESSION = "zstd"


def _tracedoc_version() -> str:
    import tracedoc

    return tracedoc.__version__


def _schema() -> pa.Schema:
    from tracedoc.analyze.derived import SCHEMA

    return SCHEMA


@functools.cache
def layout() -> str:
    """A digest of the packet table's column names and types."""
    text = "\n".join(f"{f.name}:{f.type}" for f in _schema())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_file(cache_dir: Path, sha256: str) -> Path:
    return cache_dir / f"{sha256}.parquet"


def stamp(sha256: str) -> dict[str, str]:
    return {"sha256": sha256, "layout": layout(), "tracedoc": _tracedoc_version()}


_FOOTERS: OrderedDict[tuple[str, int, int], Any] = OrderedDict()
_FOOTERS_LOCK = threading.Lock()
_FOOTERS_KEPT = 16
"""Parsed footers of cache files lately read, by (path, size, mtime): a
million-packet table's footer is 2 MB (848 columns x its row groups) and
takes 20-60 ms to parse, too much to repeat for every page a view shows."""


def footer(path: Path, sha256: str) -> Any | None:
    """The Parquet footer (``FileMetaData``) of ``path`` if it is a complete
    cache of the trace with ``sha256``, written by this tracedoc with this
    table layout; else None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (str(path), st.st_size, st.st_mtime_ns)
    want = stamp(sha256)
    with _FOOTERS_LOCK:
        memo = _FOOTERS.get(key)
        if memo is not None:
            _FOOTERS.move_to_end(key)
    if memo is None:
        try:
            md = pq.read_metadata(path, memory_map=True)
            memo = (md, json.loads((md.metadata or {}).get(META_KEY, b"{}")))
        except (OSError, ValueError, pa.ArrowException):
            return None
        with _FOOTERS_LOCK:
            _FOOTERS[key] = memo
            while len(_FOOTERS) > _FOOTERS_KEPT:
                _FOOTERS.popitem(last=False)
    md, written = memo
    return md if written == want else None


def is_valid(path: Path, sha256: str) -> bool:
    return footer(path, sha256) is not None


def check_columns(columns: list[str]) -> list[str]:
    """``columns`` without repeats; ``FieldError`` naming any the packet table lacks."""
    names = set(_schema().names)
    unknown = [c for c in columns if c not in names]
    if unknown:
        raise FieldError(f"unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(map(str, unknown))}")
    return list(dict.fromkeys(columns))


def read(path: Path, columns: list[str] | None = None, metadata: Any | None = None,
         offset: int = 0, limit: int | None = None) -> pa.Table:
    """The cached table (only ``columns``, in that order; only rows
    ``offset`` to ``offset + limit``), with the packet table's own schema (no
    file metadata); ``metadata``: its :func:`footer`.  A slice of rows reads
    only the row groups (one per decoded batch, ~45,000 packets) it spans."""
    schema = _schema()
    if columns is not None:
        columns = check_columns(columns)
    pf = pq.ParquetFile(path, memory_map=True, metadata=metadata)
    if offset == 0 and limit is None:
        tbl = pf.read(columns=columns, use_threads=True)
    else:
        md = pf.metadata
        stop = md.num_rows if limit is None else min(offset + limit, md.num_rows)
        groups: list[int] = []
        first_row = start = 0
        for i in range(md.num_row_groups):
            n = md.row_group(i).num_rows
            if start + n > offset and start < stop:
                if not groups:
                    first_row = start
                groups.append(i)
            start += n
        if groups:
            tbl = pf.read_row_groups(groups, columns=columns, use_threads=True)
            tbl = tbl.slice(offset - first_row, max(stop - offset, 0))
        else:
            tbl = pf.schema_arrow.empty_table().select(columns if columns is not None else pf.schema_arrow.names)
    want = schema if columns is None else pa.schema([schema.field(c) for c in columns])
    return tbl.cast(want) if not tbl.schema.equals(want, check_metadata=False) else tbl.replace_schema_metadata(None)


class CacheWriter:
    """Writes one trace's table to a temporary file; :meth:`commit` puts it in
    place, :meth:`abort` (or leaving the ``with`` block with an exception)
    removes it."""

    def __init__(self, cache_dir: Path, sha256: str) -> None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.target = cache_file(cache_dir, sha256)
        _remove_abandoned(cache_dir, sha256)
        # Not mkstemp: its 0600 would stay on the cache file; this name is unique
        # enough (pid + random) and the file gets the user's umask.
        self.tmp = cache_dir / f".{sha256[:16]}-{os.getpid()}-{secrets.token_hex(4)}.parquet.tmp"
        schema = _schema().with_metadata({META_KEY: json.dumps(stamp(sha256)).encode()})
        # use_compliant_nested_type=False keeps list items named "item", as in
        # SCHEMA, so a cached table's schema is the packet table's exactly.
        self._writer: Any = pq.ParquetWriter(self.tmp, schema, compression=COMPRESSION,
                                             use_compliant_nested_type=False)
        self._schema = schema

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self._writer.write_batch(batch.replace_schema_metadata(self._schema.metadata))

    def commit(self) -> Path:
        self._writer.close()
        os.replace(self.tmp, self.target)
        return self.target

    def abort(self) -> None:
        try:
            self._writer.close()
        except Exception:  # noqa: BLE001 - already failing; the file goes anyway
            pass
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.abort()


ABANDONED_AFTER_S = 600
"""A temporary cache file nobody has written to for this long was left by a
process that died while building it."""


def _remove_abandoned(cache_dir: Path, sha256: str) -> None:
    now = time.time()
    for p in cache_dir.glob(f".{sha256[:16]}-*.parquet.tmp"):
        try:
            if now - p.stat().st_mtime > ABANDONED_AFTER_S:
                p.unlink()
        except OSError:
            pass


@contextmanager
def build_lock(cache_dir: Path, sha256: str) -> Iterator[None]:
    """Held while the cache of ``sha256`` is built (blocks until another
    process building it is done)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    lock = cache_dir / f".{sha256}.lock"
    with open(lock, "a+b") as f:
        try:
            import fcntl
        except ImportError:  # not POSIX: no cross-process lock, a double build is only wasted work
            yield
            return
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def remove(cache_dir: Path, sha256: str) -> None:
    cache_file(cache_dir, sha256).unlink(missing_ok=True)
    (cache_dir / f".{sha256}.lock").unlink(missing_ok=True)
