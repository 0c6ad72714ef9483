"""What an application decoder writes into: field values and, when asked,
the Packet Details tree.

Application protocols (DNS, DHCP, FTP, TLS, ...) are decoded one message at
a time in Python: their messages are variable and nested, and only the
packets that carry them pay for it.  A decoder is handed the message bytes
and a :class:`Tree`, and calls :meth:`Tree.add` for every declared field it
finds, with the field's byte range.  The same calls feed both views:

* the packet table takes the first occurrence of each field (every
  occurrence for fields declared ``multi``), as tshark's columns do;
* Packet Details (``want_nodes``) keeps every call as a node, nested under
  :meth:`Tree.open` / :meth:`Tree.close` subtrees, each knowing its bytes.

A decoder never raises on bad bytes: it calls :meth:`Tree.malformed` with
the offset of the fault and returns, keeping what it added before.  The
application pass also catches anything a decoder lets slip and records it
the same way, so one bad message never stops a trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any

from tracedoc.decode.fields import Field


@dataclass
class Node:
    """One line of Packet Details."""

    label: str
    """What is shown (``Transaction ID: 0x1a2b``)."""
    offset: int
    """Byte offset of the item in the frame, or in the reassembled message
    when ``Tree.reassembled`` is set."""
    length: int
    field: str | None = None
    """Wireshark field name, for items that are declared fields."""
    value: Any = None
    children: list["Node"] = dc_field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "offset": self.offset, "length": self.length}
        if self.field is not None:
            out["field"] = self.field
            out["value"] = _jsonable(self.value)
        if self.children:
            out["children"] = [c.as_dict() for c in self.children]
        return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v


class Tree:
    """The values (and optionally the nodes) one message yields.

    ``base`` is added to every offset a decoder gives (the message's offset
    in the frame), so decoders count from the start of their own message.
    """

    __slots__ = ("values", "base", "want_nodes", "root", "_stack", "anomaly", "message",
                 "reassembled", "protocol")

    def __init__(self, base: int = 0, want_nodes: bool = False, protocol: str = "") -> None:
        self.values: dict[str, Any] = {}
        """Field name -> first value (or list of values for multi fields)."""
        self.base = base
        self.want_nodes = want_nodes
        self.root = Node(protocol, base, 0)
        self._stack: list[Node] = [self.root]
        self.anomaly: tuple[str, int] | None = None
        """(reason, offset) of the first fault found, if any."""
        self.message: str | None = None
        """The Packet Summary's Messages text for this message, in the seed's
        wording (``dns : client query (Standard) www.example.org.``)."""
        self.reassembled = False
        """True when offsets count in a message rebuilt from several segments."""
        self.protocol = protocol

    # -- values --------------------------------------------------------------------
    def add(self, f: Field, value: Any, off: int = 0, length: int = 0, label: str | None = None) -> None:
        """Field ``f`` has ``value`` at bytes ``[off, off+length)`` of the message."""
        if f.multi:
            got = self.values.get(f.name)
            if got is None:
                self.values[f.name] = [value]
            else:
                got.append(value)
        elif f.name not in self.values:
            self.values[f.name] = value
        if self.want_nodes:
            text = label if label is not None else f"{f.desc}: {_show(value)}"
            self._stack[-1].children.append(Node(text, self.base + off, length, f.name, value))

    def has(self, f: Field) -> bool:
        return f.name in self.values

    # -- structure (details only; cheap no-ops otherwise) ---------------------------
    def open(self, label: str, off: int, length: int) -> None:
        """Start a subtree (``Queries``, ``Answers``, one certificate ...)."""
        if self.want_nodes:
            node = Node(label, self.base + off, length)
            self._stack[-1].children.append(node)
            self._stack.append(node)

    def close(self) -> None:
        if self.want_nodes and len(self._stack) > 1:
            self._stack.pop()

    def text(self, label: str, off: int = 0, length: int = 0) -> None:
        """A line of details that is not a declared field."""
        if self.want_nodes:
            self._stack[-1].children.append(Node(label, self.base + off, length))

    # -- faults --------------------------------------------------------------------
    def malformed(self, reason: str, off: int) -> None:
        """The message is malformed at ``off``: keep the first fault only."""
        if self.anomaly is None:
            self.anomaly = (reason, self.base + off)
        if self.want_nodes:
            self._stack[0].children.append(Node(f"[Malformed: {reason}]", self.base + off, 0))


def _show(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex(":") if len(value) <= 32 else bytes(value[:32]).hex(":") + "..."
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def ascii_text(b: bytes) -> str:
    """A string field as Wireshark's ``ENC_ASCII`` reads it: the text stops at
    a NUL byte and each byte above 0x7F becomes U+FFFD."""
    z = b.find(b"\0")
    if z >= 0:
        b = b[:z]
    return b.decode("ascii", "replace")


class Truncated(Exception):
    """Raised inside a decoder by :class:`Reader` when a read runs past the
    message; the application pass turns it into a named anomaly."""

    def __init__(self, offset: int, what: str = "") -> None:
        super().__init__(what)
        self.offset = offset
        self.what = what


class Reader:
    """Bounds-checked big-endian reads from one message."""

    __slots__ = ("data", "end")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.end = len(data)

    def need(self, off: int, n: int, what: str = "") -> None:
        if off < 0 or off + n > self.end:
            raise Truncated(off, what)

    def u8(self, off: int) -> int:
        if off >= self.end or off < 0:
            raise Truncated(off)
        return self.data[off]

    def u16(self, off: int) -> int:
        self.need(off, 2)
        return int.from_bytes(self.data[off:off + 2], "big")

    def u24(self, off: int) -> int:
        self.need(off, 3)
        return int.from_bytes(self.data[off:off + 3], "big")

    def u32(self, off: int) -> int:
        self.need(off, 4)
        return int.from_bytes(self.data[off:off + 4], "big")

    def bytes(self, off: int, n: int) -> bytes:
        self.need(off, n)
        return bytes(self.data[off:off + n])
