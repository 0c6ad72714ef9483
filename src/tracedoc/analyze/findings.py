"""The Exception Report's one shape: a :class:`Finding`.

Decoders emit facts; rules judge them.  Every rule (``analyze/rules/``)
returns findings of this one shape: which rule, in which of the seed's
categories, how severe, a one-line summary in plain words, the explanation,
what to do, and the evidence (frame numbers, session ids, counts, times in
``details``).  ``key`` says when two findings are the same finding (a rule
that sees one problem from two sides reports it once); ``symptoms`` holds
the findings this one explains (DNS queries retried because an ICMP
"fragmentation needed" answered them), nested under their cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CATEGORIES = ("Traffic Errors", "Session Errors", "Response Time Thresholds", "Application Errors",
              "INIT Packets", "TERM Packets", "INIT Errors", "TERM Errors")
"""The seed's Exception Report categories, in its order."""

SEVERITIES = ("info", "warning", "error", "critical")
"""From least to most severe."""

INFORMATIONAL = ("INIT Packets", "TERM Packets")
"""Categories that list what happened rather than what went wrong."""


def severity_rank(s: str) -> int:
    return SEVERITIES.index(s)


@dataclass
class Finding:
    rule: str
    category: str
    severity: str
    summary: str
    explanation: str
    action: str
    frames: list[int] = field(default_factory=list)
    sessions: list[int] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    symptoms: list[Finding] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"{self.rule}: unknown category {self.category!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"{self.rule}: unknown severity {self.severity!r}")
        self.frames = sorted({int(f) for f in self.frames})
        self.sessions = sorted({int(s) for s in self.sessions})
        if not self.key:
            self.key = f"{self.rule}:{','.join(map(str, self.sessions or self.frames[:1]))}"

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of ``tracedoc diagnose --format json``."""
        out: dict[str, Any] = {
            "rule": self.rule, "category": self.category, "severity": self.severity, "summary": self.summary,
            "explanation": self.explanation, "action": self.action, "frames": self.frames,
            "sessions": self.sessions, "details": self.details,
        }
        if self.symptoms:
            out["symptoms"] = [s.as_dict() for s in self.symptoms]
        return out
