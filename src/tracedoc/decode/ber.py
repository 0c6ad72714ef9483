"""A small BER (X.690) reader, enough for SNMP.

Reads one TLV header at a time, inside a *region*: the bytes an element may
use, which is its container's claimed extent cut to the bytes captured (the
sub-buffer Wireshark's BER code hands each element).  A read past the region
raises :class:`BerBounds`, which the protocol decoder turns into a truncated
or malformed message.  Values are converted the way Wireshark 4.0 shows them:
object identifiers as dotted text (``oid_text``), INTEGERs cut to the
field's width (``integer``); ``OCTET STRING`` text is read as every string
field is (``apptree.ascii_text``).
"""

from __future__ import annotations

from dataclasses import dataclass

UNIVERSAL, APPLICATION, CONTEXT, PRIVATE = 0, 1, 2, 3
INTEGER, OCTET_STRING, NULL, OID, SEQUENCE = 2, 4, 5, 6, 16

MAX_NESTING = 500
"""Nesting depth searched for the end of an indefinite-length element
(Wireshark's BER_MAX_NESTING)."""

_MASK64 = (1 << 64) - 1


class BerBounds(Exception):
    """A read ran past the region an element may use."""

    def __init__(self, offset: int, what: str = "", reason: str = "") -> None:
        super().__init__(what)
        self.offset = offset
        self.what = what
        """The item being read (``length``, ``VarBind``)."""
        self.reason = reason
        """A full description when running past the bytes is not the fault."""


@dataclass(slots=True)
class Tlv:
    """One element's header."""

    cls: int
    constructed: bool
    tag: int
    start: int
    """Offset of the identifier octet."""
    off: int
    """Offset of the contents."""
    length: int
    """Contents length as claimed (for indefinite length: up to the
    end-of-contents octets, which are not counted)."""
    indefinite: bool

    @property
    def end(self) -> int:
        """Where the contents end."""
        return self.off + self.length

    @property
    def next(self) -> int:
        """Where the element ends (after any end-of-contents octets)."""
        return self.off + self.length + (2 if self.indefinite else 0)


def _byte(data: bytes, off: int, limit: int, what: str) -> int:
    if off >= limit or off < 0:
        raise BerBounds(off, what)
    return data[off]


def read_tlv(data: bytes, off: int, limit: int) -> Tlv:
    """The header of the element at ``off``; reads stay below ``limit``."""
    start = off
    b = _byte(data, off, limit, "identifier")
    off += 1
    cls, constructed, tag = b >> 6, bool(b & 0x20), b & 0x1F
    if tag == 0x1F:  # high tag number form (X.690 8.1.2.4)
        tag = 0
        while True:
            t = _byte(data, off, limit, "identifier")
            off += 1
            tag = ((tag << 7) | (t & 0x7F)) & 0xFFFFFFFF
            if not t & 0x80:
                break
    n = _byte(data, off, limit, "length")
    off += 1
    if not n & 0x80:
        return Tlv(cls, constructed, tag, start, off, n, False)
    n &= 0x7F
    if n:  # long form (8.1.3.5); Wireshark keeps 32 bits
        length = 0
        for _ in range(n):
            length = ((length << 8) | _byte(data, off, limit, "length")) & 0xFFFFFFFF
            off += 1
        return Tlv(cls, constructed, tag, start, off, length, False)
    # Indefinite form (8.1.3.6): the contents run to an end-of-contents pair.
    return Tlv(cls, constructed, tag, start, off, _indefinite_length(data, off, limit), True)


def _indefinite_length(data: bytes, off: int, limit: int) -> int:
    """Bytes of contents before the end-of-contents octets that close the
    element whose contents start at ``off``."""
    start = off
    ends: list[int] = []  # content starts of the open indefinite elements
    while True:
        if _byte(data, off, limit, "end of contents") == 0 and _byte(data, off + 1, limit, "end of contents") == 0:
            if not ends:
                return off - start
            ends.pop()
            off += 2
            continue
        s = off
        b = _byte(data, off, limit, "identifier")
        off += 1
        if b & 0x1F == 0x1F:
            while _byte(data, off, limit, "identifier") & 0x80:
                off += 1
            off += 1
        n = _byte(data, off, limit, "length")
        off += 1
        if n == 0x80:
            if len(ends) >= MAX_NESTING:
                raise BerBounds(s, "element", f"indefinite lengths nested over {MAX_NESTING} deep")
            ends.append(off)
            continue
        if n & 0x80:
            k, n = n & 0x7F, 0
            for _ in range(k):
                n = ((n << 8) | _byte(data, off, limit, "length")) & 0xFFFFFFFF
                off += 1
        off += n
        if off > limit:
            raise BerBounds(s, "element")


def integer(raw: bytes, signed: bool, bits: int) -> int:
    """An INTEGER's contents as Wireshark 4.0 shows them in a field of
    ``bits`` width: sign-extended only for signed fields, then cut to the
    field's width (a 5-byte request-id shows its low 32 bits)."""
    if not raw:
        return 0
    val = -1 if signed and raw[0] & 0x80 else 0
    for b in raw:
        val = ((val << 8) | b) & _MASK64
    val &= (1 << bits) - 1
    if signed and val >> (bits - 1):
        val -= 1 << bits
    return val


def integer_fits(raw: bytes) -> bool:
    """Wireshark handles INTEGERs of 1..8 bytes, and 9 when the first is 0."""
    return 0 < len(raw) <= 8 or (len(raw) == 9 and raw[0] == 0)


def oid_text(raw: bytes) -> str | None:
    """Dotted text of an OBJECT IDENTIFIER's contents as Wireshark 4.0
    prints it, or None when a sub-identifier exceeds 32 bits (Wireshark:
    "invalid oid").  A trailing unfinished sub-identifier is dropped; no
    finished one at all reads as ``0``."""
    parts: list[int] = []
    subid = 0
    first = True
    for b in raw:
        subid = ((subid << 7) | (b & 0x7F)) & _MASK64
        if b & 0x80:
            continue
        if first:
            x = 0
            if subid >= 40:
                x, subid = x + 1, subid - 40
            if subid >= 40:
                x, subid = x + 1, subid - 40
            parts.append(x)
            first = False
        if subid > 0xFFFFFFFF:
            return None
        parts.append(subid)
        subid = 0
    if not parts:
        return "0"
    return ".".join(map(str, parts))
