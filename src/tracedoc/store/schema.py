"""The inventory's tables, and the version that names their layout.

``meta.schema_version`` says which layout a file has.  A file made by an
older tracedoc is brought up to date by the steps in :data:`MIGRATIONS`; a
file from a newer one is refused rather than misread.  Foreign keys are kept
by the code, not declared: DuckDB refuses an UPDATE of a row other tables
reference, even of columns the reference does not use.
"""

from __future__ import annotations

from typing import Any

from tracedoc.store.errors import InventoryError

SCHEMA_VERSION = 1

CREATE: list[str] = [
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
    "CREATE SEQUENCE IF NOT EXISTS trace_ids START 1",
    "CREATE SEQUENCE IF NOT EXISTS note_ids START 1",
    "CREATE SEQUENCE IF NOT EXISTS annotation_ids START 1",
    """CREATE TABLE IF NOT EXISTS traces (
        id BIGINT PRIMARY KEY DEFAULT nextval('trace_ids'),
        path VARCHAR NOT NULL,          -- absolute path where the file was last seen
        name VARCHAR NOT NULL,          -- its file name
        format VARCHAR NOT NULL,        -- the reader's TraceInfo.format
        compression VARCHAR,            -- gzip, bz2, xz, zstd or NULL
        size BIGINT NOT NULL,           -- bytes on disk
        mtime_ns BIGINT NOT NULL,       -- modification time when hashed (check(quick=True) trusts size + mtime)
        sha256 VARCHAR NOT NULL UNIQUE, -- of the file's bytes as on disk; names the Parquet cache
        packets BIGINT NOT NULL,
        first_ns BIGINT,                -- earliest and latest frame time, epoch ns (NULL: no frames)
        last_ns BIGINT,
        hosts VARCHAR[] NOT NULL,       -- busiest addresses first
        host_count BIGINT NOT NULL,     -- distinct addresses
        added_ns BIGINT NOT NULL,
        state VARCHAR NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'changed', 'missing')),
        moved_from VARCHAR              -- previous path, until check() has reported the move
    )""",
    """CREATE TABLE IF NOT EXISTS tags (
        trace_id BIGINT NOT NULL,
        tag VARCHAR NOT NULL,
        PRIMARY KEY (trace_id, tag)
    )""",
    """CREATE TABLE IF NOT EXISTS notes (
        id BIGINT PRIMARY KEY DEFAULT nextval('note_ids'),
        trace_id BIGINT NOT NULL,
        text VARCHAR NOT NULL,
        added_ns BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS annotations (
        id BIGINT PRIMARY KEY DEFAULT nextval('annotation_ids'),
        trace_id BIGINT NOT NULL,
        frame BIGINT,                   -- NULL: about the whole trace
        text VARCHAR NOT NULL,
        added_ns BIGINT NOT NULL,
        source VARCHAR NOT NULL CHECK (source IN ('user', 'pcapng'))
    )""",
    "CREATE INDEX IF NOT EXISTS annotations_trace ON annotations (trace_id)",
]

MIGRATIONS: dict[int, list[str]] = {}
"""Statements that take a file from version ``k`` to ``k + 1``, by ``k``."""


def version(con: Any) -> int | None:
    """The file's schema version; None for a file with no tracedoc tables (a new one)."""
    have = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "meta" not in have:
        if have:
            raise InventoryError("the file is a DuckDB database but not a tracedoc inventory "
                                 f"(it holds tables {', '.join(sorted(have))})")
        return None
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None or not str(row[0]).isdigit():
        raise InventoryError("the inventory has no valid schema_version in its meta table")
    return int(row[0])


def create_or_migrate(con: Any, tracedoc_version: str, now_ns: int) -> None:
    """Bring the file (in a write transaction) to :data:`SCHEMA_VERSION`."""
    v = version(con)
    if v is None:
        for stmt in CREATE:
            con.execute(stmt)
        con.executemany("INSERT INTO meta VALUES (?, ?)",
                        [("schema_version", str(SCHEMA_VERSION)), ("created_by", f"tracedoc {tracedoc_version}"),
                         ("created_ns", str(now_ns))])
        return
    check_supported(v)
    while v < SCHEMA_VERSION:
        for stmt in MIGRATIONS[v]:
            con.execute(stmt)
        v += 1
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(v)])


def check_supported(v: int) -> None:
    if v > SCHEMA_VERSION:
        raise InventoryError(f"the inventory was written by a newer tracedoc (schema version {v}; "
                             f"this one knows up to {SCHEMA_VERSION}): upgrade tracedoc to use it")
    if v < SCHEMA_VERSION and any(k not in MIGRATIONS for k in range(v, SCHEMA_VERSION)):
        raise InventoryError(f"no way to upgrade an inventory of schema version {v}")
