"""The inventory's records: a trace and an annotation."""

from __future__ import annotations

from dataclasses import dataclass, field

TRACE_STATES = ("ok", "changed", "missing")
"""What the inventory last found at a trace's path: the file as added, a file
with other content (``changed``: re-import it), or nothing (``missing``)."""

ANNOTATION_SOURCES = ("user", "pcapng")
"""Who wrote an annotation: a person (``annotate``), or the capture file's
own comments (pcapng opt_comment on a packet or on the section header)."""


@dataclass(frozen=True)
class TraceRecord:
    id: int
    path: str
    name: str
    format: str
    size: int
    sha256: str
    packets: int
    first_ns: int | None
    last_ns: int | None
    hosts: list[str]
    """The busiest addresses (IPv4 and IPv6, packets sent + received), at most
    :data:`~tracedoc.store.scan.TOP_HOSTS` of them, busiest first."""
    added_ns: int
    tags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    state: str = "ok"
    """The last :meth:`Inventory.check` result that sticks: one of :data:`TRACE_STATES`."""
    compression: str | None = None
    host_count: int = 0
    """How many distinct addresses the trace has (``hosts`` holds the top ones)."""

    @property
    def duration_s(self) -> float | None:
        if self.first_ns is None or self.last_ns is None:
            return None
        return (self.last_ns - self.first_ns) / 1e9


@dataclass(frozen=True)
class Annotation:
    id: int
    trace_id: int
    frame: int | None
    """The frame number it is about, or None for the whole trace."""
    text: str
    added_ns: int
    source: str
    """One of :data:`ANNOTATION_SOURCES`."""
