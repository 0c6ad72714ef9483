"""z/OS Communications Server packet-trace discard reason codes
(placeholder until the table lands)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Discard:
    code: int
    name: str
    category: str
    meaning: str


CATEGORIES = (
    (1, 4095, "OSA"),
    (4096, 8191, "Interface and IP layer"),
    (8192, 12287, "TCP layer"),
    (12288, 16383, "UDP layer"),
    (16384, 20479, "RAW layer"),
)

CODES: dict[int, Discard] = {}


def category(code: int) -> str:
    for lo, hi, name in CATEGORIES:
        if lo <= code <= hi:
            return name
    return "unknown"


def lookup(code: int) -> Discard:
    """The code's entry; an unknown code still gets its category."""
    d = CODES.get(code)
    if d is not None:
        return d
    return Discard(code, f"code {code}", category(code), "not in tracedoc's table of IBM discard codes")
