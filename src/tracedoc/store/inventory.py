"""The trace inventory: one DuckDB file of traces, tags, notes and annotations,
with the decoded packet tables cached as Parquet beside it.

>>> inv = Inventory("/tmp/inventory.duckdb")
>>> rec = inv.add("ftp.pcapng", tags=["ftp"], note="login fails")
>>> inv.annotate(rec.id, "the 530 reply", frame=12)
>>> inv.table(rec.id, ["frame.number", "ftp.response.code"])   # decoded once, then from Parquet

A trace is known by the SHA-256 of its file: adding the same content again
(under any name) gives the same record, and :meth:`Inventory.check` tells a
file that moved from one that changed.
"""

from __future__ import annotations

import builtins
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tracedoc.store import cache as parquet
from tracedoc.store import scan, schema
from tracedoc.store.db import Database
from tracedoc.store.errors import (
    InventoryError,
    MissingTraceError,
    StaleTraceError,
    UnknownTraceError,
)
from tracedoc.store.records import Annotation, TraceRecord

Progress = Callable[[str, int, int], None]
"""Called with (phase, bytes done, bytes in all) while a file is read; the
phase is ``"hash"`` (computing its SHA-256) or ``"read"`` (reading frames)."""

_TRACE_COLUMNS = ("id", "path", "name", "format", "size", "sha256", "packets", "first_ns", "last_ns", "hosts",
                  "added_ns", "state", "compression", "host_count", "mtime_ns", "moved_from")


def default_path() -> Path:
    """``$TRACEDOC_INVENTORY``, else ``$XDG_DATA_HOME/tracedoc/inventory.duckdb``,
    else ``~/.local/share/tracedoc/inventory.duckdb``."""
    env = os.environ.get("TRACEDOC_INVENTORY")
    if env:
        return Path(env).expanduser()
    data = os.environ.get("XDG_DATA_HOME")
    # The XDG spec: a relative XDG_DATA_HOME is invalid and is ignored.
    base = Path(data) if data and os.path.isabs(data) else Path.home() / ".local" / "share"
    return base / "tracedoc" / "inventory.duckdb"


def _env_timeout() -> float:
    text = os.environ.get("TRACEDOC_INVENTORY_TIMEOUT", "")
    try:
        return max(float(text), 0.0) if text else 10.0
    except ValueError:
        raise InventoryError(f"TRACEDOC_INVENTORY_TIMEOUT is {text!r}: give seconds, e.g. 10") from None


def _now() -> int:
    return time.time_ns()


def _phase(progress: Progress | None, phase: str) -> scan.Progress | None:
    if progress is None:
        return None
    return lambda done, total: progress(phase, done, total)


class _Row:
    """A ``traces`` row with the columns records do not show."""

    def __init__(self, values: tuple[Any, ...]) -> None:
        d = dict(zip(_TRACE_COLUMNS, values))
        self.id: int = d["id"]
        self.path: str = d["path"]
        self.sha256: str = d["sha256"]
        self.size: int = d["size"]
        self.mtime_ns: int = d["mtime_ns"]
        self.packets: int = d["packets"]
        self.state: str = d["state"]
        self.moved_from: str | None = d["moved_from"]
        self.values = d

    def record(self, tags: list[str], notes: list[str]) -> TraceRecord:
        d = self.values
        return TraceRecord(id=d["id"], path=d["path"], name=d["name"], format=d["format"], size=d["size"],
                           sha256=d["sha256"], packets=d["packets"], first_ns=d["first_ns"], last_ns=d["last_ns"],
                           hosts=list(d["hosts"]), added_ns=d["added_ns"], tags=tags, notes=notes,
                           state=d["state"], compression=d["compression"], host_count=d["host_count"])


_SELECT = f"SELECT {', '.join(_TRACE_COLUMNS)} FROM traces"


class Inventory:
    """The inventory in one DuckDB file (created on first use).

    Safe to use from several threads and processes: every operation opens
    the file for its own length only (see :mod:`tracedoc.store.db`); a
    process that holds it longer than ``timeout`` seconds (default
    ``$TRACEDOC_INVENTORY_TIMEOUT``, else 10) makes others fail with
    :class:`~tracedoc.store.errors.InventoryBusyError`.  Decoding and
    hashing happen with the file closed.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, timeout: float | None = None) -> None:
        if timeout is None:
            timeout = _env_timeout()
        self.path = (Path(path).expanduser() if path is not None else default_path()).absolute()
        if self.path.is_dir():
            raise InventoryError(f"{self.path} is a directory: name the inventory file "
                                 f"(e.g. {self.path}/inventory.duckdb)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InventoryError(f"cannot create the inventory's directory {self.path.parent}: "
                                 f"{e.strerror or e}") from e
        self.cache_dir: Path = self.path.parent / "cache"
        """Where the decoded tables are kept: ``<sha256>.parquet``."""
        self._db = Database(self.path, timeout)
        self._ensure_schema()

    def __repr__(self) -> str:
        return f"Inventory({str(self.path)!r})"

    def _ensure_schema(self) -> None:
        import tracedoc

        if self.path.exists() and self.path.stat().st_size > 0:
            with self._db.connect() as con:
                v = schema.version(con)
            if v is not None:
                schema.check_supported(v)
                if v == schema.SCHEMA_VERSION:
                    return
        elif self.path.exists():
            self.path.unlink()  # an empty file (a fresh mkstemp): DuckDB would refuse it
        with self._db.connect(write=True) as con:
            schema.create_or_migrate(con, tracedoc.__version__, _now())

    # -- reading records ----------------------------------------------------

    def _row(self, con: Any, trace_id: int) -> _Row:
        if isinstance(trace_id, bool) or not isinstance(trace_id, int):
            raise UnknownTraceError(f"a trace id is a whole number, not {trace_id!r}")
        r = con.execute(f"{_SELECT} WHERE id = ?", [trace_id]).fetchone()
        if r is None:
            raise UnknownTraceError(f"no trace {trace_id} in the inventory {self.path}")
        return _Row(r)

    def _record(self, con: Any, trace_id: int) -> TraceRecord:
        row = self._row(con, trace_id)
        tags = [t for (t,) in con.execute("SELECT tag FROM tags WHERE trace_id = ? ORDER BY tag",
                                          [trace_id]).fetchall()]
        notes = [t for (t,) in con.execute("SELECT text FROM notes WHERE trace_id = ? ORDER BY id",
                                           [trace_id]).fetchall()]
        return row.record(tags, notes)

    def get(self, trace_id: int) -> TraceRecord:
        """The trace's record; ``KeyError`` (:class:`UnknownTraceError`) if there is none."""
        with self._db.connect() as con:
            return self._record(con, trace_id)

    def list(self) -> builtins.list[TraceRecord]:
        """Every trace, oldest first."""
        with self._db.connect() as con:
            rows = [_Row(r) for r in con.execute(f"{_SELECT} ORDER BY id").fetchall()]
            tags = dict(con.execute("SELECT trace_id, list(tag ORDER BY tag) FROM tags GROUP BY trace_id").fetchall())
            notes = dict(con.execute("SELECT trace_id, list(text ORDER BY id) FROM notes GROUP BY trace_id").fetchall())
        return [r.record(list(tags.get(r.id, [])), list(notes.get(r.id, []))) for r in rows]

    def find(self, sha256: str) -> TraceRecord | None:
        """The trace whose file has this SHA-256, if any."""
        with self._db.connect() as con:
            r = con.execute("SELECT id FROM traces WHERE sha256 = ?", [sha256.lower()]).fetchone()
            return None if r is None else self._record(con, r[0])

    # -- adding -------------------------------------------------------------

    def add(self, path: str | os.PathLike[str], tags: Iterable[str] = (), note: str | None = None, *,
            cache: bool = False, progress: Progress | None = None) -> TraceRecord:
        """Add a trace file (or find it again: the same content is one trace).

        Reads every frame for the record's facts and imports the file's
        pcapng comments as annotations (source ``"pcapng"``: packet comments
        on their frame, section comments on the whole trace).  Content
        already in the inventory keeps its record; ``tags`` and ``note`` are
        added to it, and if the recorded file is gone or no longer the
        same, the record moves to ``path``.  With ``cache``, every column is
        decoded in the same pass and kept, so the first :meth:`table` is
        instant.  A damaged trace raises
        :class:`~tracedoc.errors.TraceFormatError` and leaves nothing behind.
        """
        p = os.path.abspath(os.fspath(path))
        tag_list = _clean_tags(tags)
        note = _clean_text(note, "note") if note is not None else None
        fs = scan.hash_file(p, _phase(progress, "hash"))
        known = self.find(fs.sha256)
        if known is not None:
            rec = self._add_again(known.id, fs, tag_list, note)
            if cache:
                self.cache_file(rec.id, progress)
            return rec
        writer = parquet.CacheWriter(self.cache_dir, fs.sha256) if cache else None
        try:
            facts = scan.read_facts(p, _phase(progress, "read"), writer)
            scan.check_unchanged(fs)
            try:
                with self._db.connect(write=True) as con:
                    trace_id = self._insert(con, fs, facts, tag_list, note)
            except duckdb.ConstraintException:
                # Another process added the same content since find() above.
                again = self.find(fs.sha256)
                if again is None:
                    raise
                return self._add_again(again.id, fs, tag_list, note)
            if writer is not None:
                writer.commit()
                writer = None
        finally:
            if writer is not None:
                writer.abort()
        return self.get(trace_id)

    def _insert(self, con: Any, fs: scan.FileState, facts: scan.Facts, tags: builtins.list[str],
                note: str | None) -> int:
        now = _now()
        (trace_id,) = con.execute(
            "INSERT INTO traces (path, name, format, compression, size, mtime_ns, sha256, packets, first_ns, last_ns,"
            " hosts, host_count, added_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [fs.path, os.path.basename(fs.path), facts.format, facts.compression, fs.size, fs.mtime_ns, fs.sha256,
             facts.packets, facts.first_ns, facts.last_ns, facts.hosts, facts.host_count, now]).fetchone()
        self._insert_tags(con, trace_id, tags)
        if note:
            con.execute("INSERT INTO notes (trace_id, text, added_ns) VALUES (?, ?, ?)", [trace_id, note, now])
        self._import_comments(con, trace_id, facts, now)
        return int(trace_id)

    @staticmethod
    def _insert_tags(con: Any, trace_id: int, tags: builtins.list[str]) -> None:
        if tags:
            con.executemany("INSERT OR IGNORE INTO tags VALUES (?, ?)", [(trace_id, t) for t in tags])

    @staticmethod
    def _import_comments(con: Any, trace_id: int, facts: scan.Facts, now: int) -> None:
        frames: builtins.list[int | None] = [None] * len(facts.file_comments) + [f for f, _ in facts.frame_comments]
        texts = list(facts.file_comments) + [t for _, t in facts.frame_comments]
        if not texts:
            return
        new = pa.table({"frame": pa.array(frames, pa.int64()), "text": pa.array(texts, pa.string())})
        con.register("pcapng_comments", new)
        try:
            con.execute("INSERT INTO annotations (trace_id, frame, text, added_ns, source)"
                        " SELECT ?, frame, text, ?, 'pcapng' FROM pcapng_comments", [trace_id, now])
        finally:
            con.unregister("pcapng_comments")

    def _add_again(self, trace_id: int, fs: scan.FileState, tags: builtins.list[str],
                   note: str | None) -> TraceRecord:
        with self._db.connect(write=True) as con:
            row = self._row(con, trace_id)
            if row.path != fs.path and not _still_there(row):
                con.execute("UPDATE traces SET path = ?, name = ?, moved_from = ?, state = 'ok', size = ?, mtime_ns = ?"
                            " WHERE id = ?", [fs.path, os.path.basename(fs.path), row.moved_from or row.path,
                                              fs.size, fs.mtime_ns, trace_id])
            elif row.path == fs.path and (row.state != "ok" or row.mtime_ns != fs.mtime_ns):
                con.execute("UPDATE traces SET state = 'ok', mtime_ns = ? WHERE id = ?", [fs.mtime_ns, trace_id])
            self._insert_tags(con, trace_id, tags)
            if note and con.execute("SELECT 1 FROM notes WHERE trace_id = ? AND text = ?",
                                    [trace_id, note]).fetchone() is None:
                con.execute("INSERT INTO notes (trace_id, text, added_ns) VALUES (?, ?, ?)", [trace_id, note, _now()])
            return self._record(con, trace_id)

    # -- tags, notes, annotations ------------------------------------------

    def tag(self, trace_id: int, *tags: str) -> None:
        """Add tags (a tag the trace has already is kept once)."""
        clean = _clean_tags(tags)
        with self._db.connect(write=True) as con:
            self._row(con, trace_id)
            self._insert_tags(con, trace_id, clean)

    def untag(self, trace_id: int, *tags: str) -> None:
        clean = _clean_tags(tags)
        with self._db.connect(write=True) as con:
            self._row(con, trace_id)
            con.executemany("DELETE FROM tags WHERE trace_id = ? AND tag = ?", [(trace_id, t) for t in clean])

    def note(self, trace_id: int, text: str) -> None:
        """Add a free-text note about the whole trace."""
        text = _clean_text(text, "note")
        with self._db.connect(write=True) as con:
            self._row(con, trace_id)
            con.execute("INSERT INTO notes (trace_id, text, added_ns) VALUES (?, ?, ?)", [trace_id, text, _now()])

    def annotate(self, trace_id: int, text: str, frame: int | None = None) -> Annotation:
        """Annotate the trace, or one of its frames (numbered from 1, as shown)."""
        text = _clean_text(text, "annotation")
        if frame is not None and (isinstance(frame, bool) or not isinstance(frame, int)):
            raise InventoryError(f"a frame number is a whole number, not {frame!r}")
        with self._db.connect(write=True) as con:
            row = self._row(con, trace_id)
            if frame is not None and not 1 <= frame <= row.packets:
                span = f"frames 1 to {row.packets}" if row.packets else "no frames"
                raise InventoryError(f"trace {trace_id} has {span}: there is no frame {frame}")
            r = con.execute("INSERT INTO annotations (trace_id, frame, text, added_ns, source)"
                            " VALUES (?, ?, ?, ?, 'user') RETURNING id, trace_id, frame, text, added_ns, source",
                            [trace_id, frame, text, _now()]).fetchone()
        return Annotation(*r)

    def annotations(self, trace_id: int, frame: int | None = None) -> builtins.list[Annotation]:
        """The trace's annotations (only frame ``frame``'s, if given): those
        about the whole trace first, then by frame, oldest first."""
        with self._db.connect() as con:
            self._row(con, trace_id)
            where, args = ("AND frame = ?", [trace_id, frame]) if frame is not None else ("", [trace_id])
            rows = con.execute("SELECT id, trace_id, frame, text, added_ns, source FROM annotations"
                               f" WHERE trace_id = ? {where} ORDER BY frame NULLS FIRST, id", args).fetchall()
        return [Annotation(*r) for r in rows]

    def remove_annotation(self, annotation_id: int) -> None:
        with self._db.connect(write=True) as con:
            if con.execute("DELETE FROM annotations WHERE id = ? RETURNING id", [annotation_id]).fetchone() is None:
                raise UnknownTraceError(f"no annotation {annotation_id} in the inventory {self.path}")

    def remove(self, trace_id: int) -> None:
        """Forget a trace: its record, tags, notes, annotations and cached table
        (the trace file itself is not touched)."""
        with self._db.connect(write=True) as con:
            row = self._row(con, trace_id)
            for table in ("annotations", "notes", "tags"):
                con.execute(f"DELETE FROM {table} WHERE trace_id = ?", [trace_id])
            con.execute("DELETE FROM traces WHERE id = ?", [trace_id])
        parquet.remove(self.cache_dir, row.sha256)

    # -- moved and changed files ---------------------------------------------

    def check(self, trace_id: int, *, quick: bool = False, progress: Progress | None = None) -> str:
        """Is the trace file still where and what it was?

        ``"ok"``: the file at the recorded path has the recorded hash.
        ``"moved"``: it has been found elsewhere (given again to :meth:`add`,
        or in the same directory under another name) and the record now
        points there.  ``"changed"``: the recorded path holds other content
        (the cached table is stale; :meth:`reimport` reads it again).
        ``"missing"``: no file with the recorded hash was found.
        ``quick``: trust a file whose size and modification time are as
        recorded instead of hashing it.
        """
        with self._db.connect() as con:
            row = self._row(con, trace_id)
        p = row.path
        if os.path.isfile(p):
            st = os.stat(p)
            if quick and (st.st_size, st.st_mtime_ns) == (row.size, row.mtime_ns):
                same = True
                mtime = st.st_mtime_ns
            else:
                fs = scan.hash_file(p, _phase(progress, "hash"))
                same, mtime = fs.sha256 == row.sha256, fs.mtime_ns
            if same:
                self._set(trace_id, state="ok", mtime_ns=mtime, moved_from=None)
                return "moved" if row.moved_from else "ok"
            self._set(trace_id, state="changed")
            return "changed"
        found = self._look_beside(row, progress)
        if found is not None:
            self._set(trace_id, path=found.path, name=os.path.basename(found.path), state="ok",
                      mtime_ns=found.mtime_ns, moved_from=None)
            return "moved"
        self._set(trace_id, state="missing")
        return "missing"

    def _look_beside(self, row: _Row, progress: Progress | None) -> scan.FileState | None:
        """A file in the recorded file's directory with its size and hash."""
        folder = os.path.dirname(row.path)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return None
        for e in entries:
            try:
                if not e.is_file() or e.stat().st_size != row.size:
                    continue
                fs = scan.hash_file(e.path, _phase(progress, "hash"))
            except (OSError, InventoryError):
                continue
            if fs.sha256 == row.sha256:
                return fs
        return None

    def _set(self, trace_id: int, **values: object) -> None:
        cols = ", ".join(f"{k} = ?" for k in values)
        with self._db.connect(write=True) as con:
            con.execute(f"UPDATE traces SET {cols} WHERE id = ?", [*values.values(), trace_id])

    def reimport(self, trace_id: int, *, cache: bool = False, progress: Progress | None = None) -> TraceRecord:
        """Read a changed trace file again: new hash and facts, its pcapng
        annotations replaced (those people wrote are kept, tags and notes
        too), the stale cached table dropped."""
        with self._db.connect() as con:
            row = self._row(con, trace_id)
        p = row.path
        if not os.path.isfile(p):
            raise MissingTraceError(f"trace {trace_id}: {p} is gone; add the file again from where it is now")
        fs = scan.hash_file(p, _phase(progress, "hash"))
        if fs.sha256 == row.sha256:
            self._set(trace_id, state="ok", mtime_ns=fs.mtime_ns)
            return self.get(trace_id)
        other = self.find(fs.sha256)
        if other is not None:
            raise InventoryError(f"{p} now holds the same trace as trace {other.id} ({other.path}): "
                                 f"remove one of them instead")
        writer = parquet.CacheWriter(self.cache_dir, fs.sha256) if cache else None
        try:
            facts = scan.read_facts(p, _phase(progress, "read"), writer)
            with self._db.connect(write=True) as con:
                self._row(con, trace_id)
                con.execute("UPDATE traces SET format = ?, compression = ?, size = ?, mtime_ns = ?, sha256 = ?,"
                            " packets = ?, first_ns = ?, last_ns = ?, hosts = ?, host_count = ?, state = 'ok',"
                            " moved_from = NULL WHERE id = ?",
                            [facts.format, facts.compression, fs.size, fs.mtime_ns, fs.sha256, facts.packets,
                             facts.first_ns, facts.last_ns, facts.hosts, facts.host_count, trace_id])
                con.execute("DELETE FROM annotations WHERE trace_id = ? AND source = 'pcapng'", [trace_id])
                self._import_comments(con, trace_id, facts, _now())
            if writer is not None:
                writer.commit()
                writer = None
        finally:
            if writer is not None:
                writer.abort()
        parquet.remove(self.cache_dir, row.sha256)
        return self.get(trace_id)

    # -- the packet table ------------------------------------------------------

    def is_cached(self, trace_id: int) -> bool:
        """The trace's table is in the cache (:meth:`table` will not decode)."""
        sha = self.get(trace_id).sha256
        return parquet.is_valid(parquet.cache_file(self.cache_dir, sha), sha)

    def cache_file(self, trace_id: int, progress: Progress | None = None) -> Path:
        """The Parquet file holding the trace's whole packet table (decoded
        and written now if it is not there yet): for readers that want row
        groups or SQL (DuckDB's ``read_parquet``) rather than a table."""
        return self._cached(trace_id, progress)[0]

    def _cached(self, trace_id: int, progress: Progress | None) -> tuple[Path, Any]:
        """The cache file and its footer, built first if need be."""
        with self._db.connect() as con:
            row = self._row(con, trace_id)
        if row.state == "changed":
            raise StaleTraceError(f"trace {trace_id}: {row.path} changed since it was added, so its table is "
                                  f"stale; re-import it (tracedoc check --reimport {trace_id})")
        f = parquet.cache_file(self.cache_dir, row.sha256)
        md = parquet.footer(f, row.sha256)
        if md is None:
            self._build(row, progress)
            md = parquet.footer(f, row.sha256)
            if md is None:
                raise InventoryError(f"trace {trace_id}: the cached table {f} was written but cannot be read back")
        return f, md

    def table(self, trace_id: int, columns: builtins.list[str] | None = None,
              progress: Progress | None = None, *, offset: int = 0, limit: int | None = None) -> pa.Table:
        """The trace's packet table (only ``columns``, in that order), read
        from the Parquet cache; decoded from the trace file and cached on
        first use.  ``offset`` / ``limit``: only those rows (a page), read
        from the part of the file that holds them.

        Raises :class:`StaleTraceError` for a trace known to have changed,
        :class:`MissingTraceError` when the file is gone and the table was
        never cached, ``FieldError`` for an unknown column."""
        if columns is not None:
            columns = parquet.check_columns(columns)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0 or (
                limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0)):
            raise InventoryError(f"rows are asked for by offset >= 0 and limit >= 0, not {offset!r}, {limit!r}")
        f, md = self._cached(trace_id, progress)
        return parquet.read(f, columns, md, offset, limit)

    def _build(self, row: _Row, progress: Progress | None) -> None:
        with parquet.build_lock(self.cache_dir, row.sha256):
            f = parquet.cache_file(self.cache_dir, row.sha256)
            if parquet.is_valid(f, row.sha256):   # another process built it while we waited
                return
            p = row.path
            if not os.path.isfile(p):
                if self.check(row.id, progress=progress) != "moved":
                    raise MissingTraceError(
                        f"trace {row.id}: {p} is gone and its table is not cached; "
                        f"add the file again from where it is now")
                p = self.get(row.id).path
            fs = scan.hash_file(p, _phase(progress, "hash"))
            if fs.sha256 != row.sha256:
                self._set(row.id, state="changed")
                raise StaleTraceError(f"trace {row.id}: {p} changed since it was added; "
                                      f"re-import it (tracedoc check --reimport {row.id})")
            with parquet.CacheWriter(self.cache_dir, row.sha256) as writer:
                scan.read_facts(p, _phase(progress, "read"), writer)
                writer.commit()


def _still_there(row: _Row) -> bool:
    """The recorded file is (by size and modification time) still the one added."""
    try:
        st = os.stat(row.path)
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns) == (row.size, row.mtime_ns)


def _clean_tags(tags: Iterable[str]) -> list[str]:
    if isinstance(tags, str):
        tags = [tags]
    out: list[str] = []
    for t in tags:
        if not isinstance(t, str) or not t.strip():
            raise InventoryError(f"a tag is a non-empty text, not {t!r}")
        t = t.strip()
        if any(ord(c) < 32 for c in t):
            raise InventoryError(f"a tag is one line of text, not {t!r}")
        if t not in out:
            out.append(t)
    return out


def _clean_text(text: object, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InventoryError(f"an empty {what}: say something")
    return text.strip()
