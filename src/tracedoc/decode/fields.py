"""Field declarations: one name per fact, as Wireshark's display filters name it.

Every protocol module declares its fields once, as a tuple of :class:`Field`;
the vectorised extractor fills columns under these names, the packet table's
schema is built from them, and the ``fields`` command formats them the way
tshark 4.0 does from the same declaration.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

# type -> Arrow storage type.  Addresses are stored compactly (IPv4 as uint32,
# MAC as uint64, IPv6 as 16 bytes) and turned into text only when shown.
ARROW_TYPES: dict[str, pa.DataType] = {
    "u8": pa.uint8(),
    "u16": pa.uint16(),
    "u32": pa.uint32(),
    "u64": pa.uint64(),
    "i64": pa.int64(),
    "bool": pa.bool_(),
    "ether": pa.uint64(),
    "ipv4": pa.uint32(),
    "ipv6": pa.binary(16),
    "bytes": pa.binary(),
    "string": pa.string(),
    "time": pa.int64(),
}


@dataclass(frozen=True)
class Field:
    name: str
    """Wireshark display-filter field name (``ip.src``)."""
    type: str
    """One of ARROW_TYPES' keys."""
    desc: str
    """What the field means (Wireshark's field title)."""
    base: str = "dec"
    """How tshark shows it: ``dec``, ``hex`` (0x-prefixed, zero padded to
    ``width`` digits) or ``bytes`` (plain hex digits)."""
    width: int = 0
    multi: bool = False
    """The field may occur several times in one packet (a DNS answer's
    address, a ClientHello's cipher suites); the column keeps every
    occurrence, in order, as a list."""

    @property
    def arrow_type(self) -> pa.DataType:
        t = ARROW_TYPES[self.type]
        return pa.list_(t) if self.multi else t


def F(name: str, type: str, desc: str, base: str = "dec", width: int = 0, multi: bool = False) -> Field:
    return Field(name, type, desc, base, width, multi)


INNER_PREFIX = "inner."
"""Columns of the datagram quoted inside an ICMP/ICMPv6 error carry this
prefix (``inner.ip.src``, ``inner.tcp.dstport``), so the table keeps the
packet's own header apart from the one it quotes.  Wireshark names both with
the same field; ``fields`` prints both occurrences as tshark does."""
