"""Reading a trace file for the inventory: its hash and the facts kept about it.

The hash is of the file's bytes as they lie on disk (compressed or not): it is
what identifies "the same trace" when a file moves or is given again, and it
names the trace's Parquet cache.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

import pyarrow as pa
import pyarrow.compute as pc

from tracedoc.errors import TraceFormatError
from tracedoc.store.cache import CacheWriter
from tracedoc.store.errors import InventoryError

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes in all) as a file is hashed or read."""

TOP_HOSTS = 10
"""How many of a trace's addresses the inventory keeps (the busiest, by
packets sent + received): enough to recognise a trace in a list."""

HASH_CHUNK = 1 << 20

FACT_COLUMNS = ["frame.number", "frame.time_epoch", "frame.comment", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst"]
"""The packet-table columns :func:`read_facts` needs."""


def file_sha256(path: str, progress: Progress | None = None) -> str:
    """SHA-256 of the file, read in 1 MiB pieces."""
    h = hashlib.sha256()
    try:
        size = os.path.getsize(path)
        done = 0
        with open(path, "rb") as f:
            while chunk := f.read(HASH_CHUNK):
                h.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, size)
    except OSError as e:
        raise InventoryError(f"{path}: cannot read: {e.strerror or e}") from e
    return h.hexdigest()


@dataclass
class FileState:
    """What ``stat`` and the hash say about a file."""
    path: str
    size: int
    mtime_ns: int
    sha256: str


def hash_file(path: str, progress: Progress | None = None) -> FileState:
    """The file's size, mtime and hash; :class:`InventoryError` when it
    changed while it was being hashed (being written: try again later)."""
    st = _stat(path)
    sha = file_sha256(path, progress)
    if _stat(path)[:2] != st[:2]:
        raise InventoryError(f"{path}: the file changed while it was read (is a capture still writing it?)")
    return FileState(path, st[0], st[1], sha)


def check_unchanged(fs: FileState) -> None:
    """:class:`InventoryError` if the file's size or mtime moved since ``fs`` was taken."""
    if _stat(fs.path) != (fs.size, fs.mtime_ns):
        raise InventoryError(f"{fs.path}: the file changed while it was read (is a capture still writing it?)")


def _stat(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError as e:
        raise InventoryError(f"{path}: {e.strerror or e}") from e
    if not os.path.isfile(path):
        raise InventoryError(f"{path}: not a regular file")
    return st.st_size, st.st_mtime_ns


@dataclass
class Facts:
    """What the inventory records about a trace's content."""
    format: str
    compression: str | None
    packets: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    hosts: list[str] = field(default_factory=list)
    host_count: int = 0
    frame_comments: list[tuple[int, str]] = field(default_factory=list)
    """(frame number, text) of each packet comment (several joined by a newline)."""
    file_comments: list[str] = field(default_factory=list)
    """Section header comments."""


def read_facts(path: str, progress: Progress | None = None, cache: CacheWriter | None = None) -> Facts:
    """Read every frame of the trace and gather its :class:`Facts`.

    With ``cache``, every column is decoded and each batch is also written
    to it (one pass makes both); else only :data:`FACT_COLUMNS`.  A damaged
    trace raises :class:`TraceFormatError` naming the first fault (the
    caller keeps nothing of it).
    """
    import tracedoc

    trace = tracedoc.open(path)
    hosts: Counter[tuple[int, object]] = Counter()
    first: int | None = None
    last: int | None = None
    packets = 0
    comments: list[tuple[int, str]] = []
    for b in trace.iter_packets(progress, columns=None if cache is not None else FACT_COLUMNS):
        if cache is not None:
            cache.write(b)
        n = b.num_rows
        if n == 0:
            continue
        packets += n
        mm = pc.min_max(b.column("frame.time_epoch"))
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        if lo is not None:
            first = lo if first is None else min(first, lo)
            last = hi if last is None else max(last, hi)
        for name, version in (("ip.src", 4), ("ip.dst", 4), ("ipv6.src", 6), ("ipv6.dst", 6)):
            _count(hosts, b.column(name), version)
        c = b.column("frame.comment")
        if c.null_count < n:
            at = pc.indices_nonzero(c.is_valid())
            comments.extend(zip(pc.take(b.column("frame.number"), at).to_pylist(), pc.take(c, at).to_pylist()))
    info = trace.info
    if info.errors:
        e = info.errors[0]
        where = f" (byte offset {e.offset})" if e.offset is not None and "offset" not in str(e) else ""
        more = f"; {len(info.errors) - 1} more fault(s)" if len(info.errors) > 1 else ""
        raise TraceFormatError(f"{path}: damaged trace: {e}{where}{more}", e.offset)
    top = sorted(hosts.items(), key=lambda kv: (-kv[1], kv[0][0], str(kv[0][1])))[:TOP_HOSTS]
    return Facts(format=info.format, compression=info.compression, packets=packets, first_ns=first, last_ns=last,
                 hosts=[_address_text(v, a) for (v, a), _ in top], host_count=len(hosts),
                 frame_comments=comments, file_comments=list(info.comments))


def _count(hosts: Counter[tuple[int, object]], arr: pa.Array, version: int) -> None:
    if arr.null_count == len(arr):
        return
    vc = pc.value_counts(arr.drop_null())
    for v, k in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()):
        hosts[(version, v)] += k


def _address_text(version: int, value: object) -> str:
    if version == 4:
        return str(IPv4Address(int(value)))  # type: ignore[call-overload]
    return str(IPv6Address(bytes(value)))  # type: ignore[call-overload]
