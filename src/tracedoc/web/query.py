"""The Query Builder: rows of field / operator / value, joined by and/or,
written out as one Wireshark display filter.

The text is then compiled by :func:`tracedoc.filter.compile_filter` like
any typed filter, so a wrong field or value is reported the same way (with
a caret).  Values are written as the field's type wants them: strings
quoted (backslashes and quotes escaped), numbers, addresses and MACs as
given, a set for ``in``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OPERATORS = {
    "==": "equals", "!=": "differs from", ">": "greater than", ">=": "at least", "<": "less than",
    "<=": "at most", "contains": "contains", "matches": "matches (regex)", "in": "is one of",
    "exists": "is present", "missing": "is absent",
}
"""Operator -> what the form shows."""

JOINS = {"and": "&&", "or": "||"}

_WORD = re.compile(r"[A-Za-z0-9_.:/\-]+")
_HEX_BYTES = re.compile(r"^[0-9A-Fa-f]{2}([:.\-][0-9A-Fa-f]{2})*$")


class QueryError(ValueError):
    """A row the builder cannot write (no field, unknown operator, value missing)."""


@dataclass
class Row:
    field: str
    op: str
    value: str = ""


def quoted(text: str) -> str:
    """A display-filter string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(field_type: str | None, value: str, op: str) -> str:
    v = value.strip()
    if op in ("contains", "matches"):
        if field_type == "bytes" and op == "contains" and _HEX_BYTES.match(v):
            return v
        return quoted(value)
    # Strings are quoted; anything else (numbers, addresses, MACs, CIDR, and
    # the values of aliases such as ip.addr or tcp.port) is written as given
    # when it is one word, else quoted so it stays one value.
    if field_type == "string" or not _WORD.fullmatch(v):
        return quoted(value)
    return v


def row_text(row: Row) -> str:
    from tracedoc.analyze.derived import FIELDS

    name = row.field.strip()
    if not name:
        raise QueryError("a row has no field")
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise QueryError(f"{name!r} is not a field name")
    if row.op not in OPERATORS:
        raise QueryError(f"unknown operator {row.op!r}")
    f = FIELDS.get(name)
    ftype = f.type if f is not None else None
    if row.op == "exists":
        return name
    if row.op == "missing":
        return f"!{name}"
    if not row.value.strip():
        raise QueryError(f"{name} {row.op}: give a value")
    if row.op == "in":
        items = [x for x in re.split(r"[,\s]+", row.value.strip()) if x]
        return f"{name} in {{{' '.join(_literal(ftype, x, '==') for x in items)}}}"
    return f"{name} {row.op} {_literal(ftype, row.value, row.op)}"


def build(rows: list[Row], joins: list[str]) -> str:
    """The filter for ``rows``; ``joins[i]`` ("and"/"or") joins row i+1 to
    what comes before (rows without a field are left out, with their join).
    Mixed joins group from the left: ``(a && b) || c``."""
    paired = [(None, rows[0])] + list(zip(joins, rows[1:])) if rows else []
    used = [(j, r) for j, r in paired if r.field.strip()]
    if not used:
        raise QueryError("fill in at least one row")
    texts = [row_text(r) for _, r in used]
    ops = [JOINS.get(j or "", "") for j, _ in used[1:]]
    if any(not o for o in ops):
        raise QueryError("join rows with 'and' or 'or'")
    out = texts[0]
    for i, (op, t) in enumerate(zip(ops, texts[1:])):
        if i and ops[i - 1] != op:
            out = f"({out})"
        part = f"({t})" if (" && " in t or " || " in t) else t
        out = f"{out} {op} {part}"
    return out
