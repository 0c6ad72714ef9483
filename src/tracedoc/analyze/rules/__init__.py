"""Expert rules: each module of this package judges one kind of problem.

Layout: one subpackage per area (``tcp``, ``dns``, ``icmp``, ``ftp`` ...),
one module per rule in it, named after the rule (``tcp/syn_unanswered.py``
is ``tcp.syn_unanswered``) and holding its ``RULE``; what an area's rules
share lives in its ``_common.py``.  :func:`all_rules` finds every rule
module, so adding a rule is adding its module.

A rule has a stable id (``tcp.syn_unanswered``; users' scripts and later
views depend on it), one of the seed's categories, named and documented
thresholds (:class:`Param`, overridable as ``--set RULE.PARAM=VALUE``), and
a function from the :class:`~tracedoc.analyze.diagnose.Evidence` of a trace
(packet table, sessions, transactions, FTP data links) and its settings to
:class:`~tracedoc.analyze.findings.Finding` objects.  Rules only read the
analysis tables; they never decode.
"""

from __future__ import annotations

import functools
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
    needs: tuple[str, ...] = ()
    """Packet-table columns the rule reads under names made at run time
    (``f"inner.{proto}.dstport"``); see :meth:`columns`."""

    def columns(self) -> list[str]:
        """The packet-table columns this rule reads itself: every column name
        written out in its module or its area's ``_common.py``, plus
        :attr:`needs`.  ``tracedoc diagnose`` decodes only these and what
        the session, transaction and FTP-link tables read."""
        return list(dict.fromkeys([*_named_columns(self.run.__module__), *self.needs]))

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"rule {self.id}: unknown category {self.category!r}")

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}


@functools.lru_cache(maxsize=None)
def _named_columns(module: str) -> tuple[str, ...]:
    """Column names appearing as string constants in ``module`` and its area's ``_common``."""
    import ast
    import importlib.util

    from tracedoc.analyze.derived import FIELDS

    out: list[str] = []
    for name in (module, module.rsplit(".", 1)[0] + "._common"):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        with open(spec.origin, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        out += [n.value for n in ast.walk(tree)
                if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in FIELDS]
    return tuple(out)


def all_rules() -> list[Rule]:
    """Every rule, in report order (category, then id)."""
    import importlib
    import pkgutil

    import tracedoc.analyze.rules as pkg

    found: list[Rule] = []
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        if info.ispkg or info.name.rsplit(".", 1)[1].startswith("_"):
            continue
        module = importlib.import_module(info.name)
        rule = getattr(module, "RULE", None)
        if not isinstance(rule, Rule):
            raise TypeError(f"{info.name}: a rule module must define RULE (a Rule)")
        expected = info.name[len(pkg.__name__) + 1:]
        if rule.id != expected:
            raise ValueError(f"{info.name} defines rule {rule.id!r}; the module of that rule is {expected!r}")
        found.append(rule)
    return sorted(found, key=lambda r: (CATEGORIES.index(r.category), r.id))


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
