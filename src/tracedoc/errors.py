"""The exception contract of tracedoc.

Readers raise (or record) :class:`TraceFormatError`; decoders never raise but
record anomalies on the packet; the filter compiler raises
:class:`FilterSyntaxError`.  Any other exception escaping tracedoc is a bug.
"""

from __future__ import annotations


class TracedocError(Exception):
    """Base of every error tracedoc reports to a user."""


class TraceFormatError(TracedocError):
    """The trace file cannot be read (further).

    ``offset`` is the byte offset in the (decompressed) file where the fault
    was found, or ``None`` when the fault is not tied to a position.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.message = message
        self.offset = offset
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return self.message


class DecodeError(TracedocError):
    """A protocol header is malformed (carried as an anomaly, not raised)."""

    def __init__(self, layer: str, offset: int, reason: str) -> None:
        self.layer = layer
        self.offset = offset
        self.reason = reason
        super().__init__(f"{layer} at offset {offset}: {reason}")


class FieldError(TracedocError):
    """An unknown field name was asked for."""


class FilterSyntaxError(TracedocError):
    """A display filter could not be parsed; ``position`` marks the fault."""

    def __init__(self, message: str, text: str = "", position: int = 0) -> None:
        self.text = text
        self.position = position
        super().__init__(message)
