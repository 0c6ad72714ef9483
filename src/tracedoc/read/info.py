"""What a reader learns about a trace besides its frames (capinfos' facts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tracedoc.errors import TraceFormatError


@dataclass
class InterfaceInfo:
    id: int
    linktype: int
    linktype_name: str
    snaplen: int
    section: int = 0
    name: str | None = None
    description: str | None = None
    tsresol: int = 6
    """Timestamp resolution as a power: positive = 10**-n s, negative = 2**n."""
    tsoffset: int = 0
    fcs_len: int | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if v not in (None, {})}
        return d


@dataclass
class TraceInfo:
    path: str
    format: str = "unknown"
    compression: str | None = None
    byte_order: str | None = None
    version: str | None = None
    file_size: int = 0
    sections: int = 0
    interfaces: list[InterfaceInfo] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    blocks: dict[str, int] = field(default_factory=dict)
    """Counts of pcapng blocks by type name (skipped ones included)."""
    errors: list[TraceFormatError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    """Format-specific facts (z/OS system name, CTRACE trace options,
    Sniffer version, ...), shown by ``info``."""

    def fail(self, message: str, offset: int | None = None) -> None:
        self.errors.append(TraceFormatError(message, offset))

    def count_block(self, name: str) -> None:
        self.blocks[name] = self.blocks.get(name, 0) + 1
