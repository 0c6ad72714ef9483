"""Expert rules: each module of this package judges one kind of problem.

A rule has a stable id (``tcp.syn_unanswered``; users' scripts and later
views depend on it), one of the seed's categories, named and documented
thresholds (:class:`Param`, overridable as ``--set RULE.PARAM=VALUE``), and
a function from the :class:`~tracedoc.analyze.diagnose.Evidence` of a trace
(packet table, sessions, transactions, FTP data links) and its settings to
:class:`~tracedoc.analyze.findings.Finding` objects.  Rules only read the
analysis tables; they never decode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracedoc.analyze.findings import CATEGORIES, Finding

if TYPE_CHECKING:
    from tracedoc.analyze.diagnose import Evidence


@dataclass(frozen=True)
class Param:
    name: str
    default: float
    doc: str


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    title: str
    params: tuple[Param, ...]
    run: Callable[[Evidence, dict[str, float]], list[Finding]]

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"rule {self.id}: unknown category {self.category!r}")

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}


def all_rules() -> list[Rule]:
    """Every rule, in report order."""
    from tracedoc.analyze.rules import dns, ftp, icmp, tcp

    return [*icmp.RULES, *tcp.RULES, *dns.RULES, *ftp.RULES]


def settings(rules: list[Rule], overrides: list[str]) -> dict[str, dict[str, float]]:
    """Each rule's parameters: its defaults, then ``RULE.PARAM=VALUE`` overrides."""
    out: dict[str, dict[str, float]] = {r.id: r.defaults() for r in rules}
    for text in overrides:
        name, eq, value = text.partition("=")
        rule, _, param = name.rpartition(".")
        if not eq or not rule or not param:
            raise ValueError(f"'{text}': expected RULE.PARAM=VALUE (e.g. tcp.syn_unanswered.min_syns=2)")
        if rule not in out:
            raise ValueError(f"'{text}': no rule {rule!r}")
        if param not in out[rule]:
            raise ValueError(f"'{text}': rule {rule} has no parameter {param!r} "
                             f"(it has: {', '.join(sorted(out[rule])) or 'none'})")
        try:
            out[rule][param] = float(value)
        except ValueError:
            raise ValueError(f"'{text}': {value!r} is not a number") from None
    return out


def describe(value: Any) -> str:
    """A number as a rule's text shows it (no trailing .0)."""
    return f"{value:g}" if isinstance(value, float) else str(value)
