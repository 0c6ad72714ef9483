"""Judging a lab capture: the real ``tracedoc diagnose`` on it, and tshark's view of it.

Expected evidence comes from tshark (:func:`tshark_frames`), never from
tracedoc itself; :func:`assert_fires` and :func:`assert_clean` print every
finding when they fail.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Iterable, Sequence

from tests.support.command import tracedoc_command

INFORMATIONAL = ("INIT Packets", "TERM Packets")
"""Categories a clean capture may have findings in (what happened, not what went wrong)."""


def diagnose(pcap: Path | str, *args: str, timeout: float = 120) -> list[dict[str, Any]]:
    """``tracedoc diagnose PCAP --format json ARGS...``: its findings (nested symptoms included)."""
    argv = [*tracedoc_command(), "diagnose", str(pcap), "--format", "json", *args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    out = json.loads(r.stdout)
    assert isinstance(out, list), f"diagnose --format json printed {type(out).__name__}, not a list"
    return out


def flatten(findings: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The findings and, after each, its nested ``symptoms`` (recursively)."""
    out: list[dict[str, Any]] = []
    for f in findings:
        out.append(f)
        out.extend(flatten(f.get("symptoms") or ()))
    return out


def of_rule(findings: Iterable[dict[str, Any]], rule_id: str) -> list[dict[str, Any]]:
    """Findings of ``rule_id``, nested symptoms included."""
    return [f for f in flatten(findings) if f["rule"] == rule_id]


def tshark_fields(pcap: Path | str, display_filter: str, *fields: str,
                  occurrence: str | None = None) -> list[list[str]]:
    """tshark's ``-T fields`` rows (one list of strings per frame) for the frames the filter selects.

    A field that occurs more than once in a frame (``ip.src`` of an ICMP error
    and of the datagram it quotes) gives its values joined by commas, unless
    ``occurrence`` picks one: "f" (first, the outer header), "l" (last) or a number.
    """
    argv = ["tshark", "-n", "-r", str(pcap), "-Y", display_filter, "-T", "fields", "-E", "separator=\t"]
    if occurrence is not None:
        argv += ["-E", f"occurrence={occurrence}"]
    for f in fields:
        argv += ["-e", f]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"tshark -Y {display_filter!r} on {pcap}: {r.stderr.strip()}")
    return [line.split("\t") for line in r.stdout.splitlines() if line.strip()]


def tshark_frames(pcap: Path | str, display_filter: str) -> list[int]:
    """Frame numbers tshark selects with ``display_filter``."""
    return [int(row[0]) for row in tshark_fields(pcap, display_filter, "frame.number")]


def show(findings: Iterable[dict[str, Any]]) -> str:
    """Every finding (nested ones indented), one line each, for failure messages."""
    lines = []

    def walk(fs: Iterable[dict[str, Any]], depth: int) -> None:
        for f in fs:
            frames = f.get("frames") or []
            fr = ",".join(map(str, frames[:30])) + (f",... ({len(frames)})" if len(frames) > 30 else "")
            lines.append(f"{'  ' * depth}- {f['rule']} [{f['severity']}, {f['category']}] {f['summary']}"
                         f"  frames={fr} details={json.dumps(f.get('details'), default=str)}")
            walk(f.get("symptoms") or (), depth + 1)

    walk(findings, 1)
    return "\n".join(lines) if lines else "  (no findings)"


def assert_clean(findings: Sequence[dict[str, Any]]) -> None:
    """No finding (nested ones included) outside the informational categories."""
    bad = [f for f in flatten(findings) if f["category"] not in INFORMATIONAL]
    assert not bad, (f"{len(bad)} finding(s) in error categories on a clean capture:\n{show(bad)}"
                     f"\nall findings:\n{show(findings)}")


def _matches(f: dict[str, Any], details: dict[str, Any] | None, summary: str | None) -> bool:
    if summary is not None and summary not in f["summary"]:
        return False
    d = f.get("details") or {}
    return all(k in d and d[k] == v for k, v in (details or {}).items())


def assert_fires(findings: Sequence[dict[str, Any]], rule_id: str, frames_expected: Iterable[int], *,
                 exact: bool = False, details: dict[str, Any] | None = None, summary: str | None = None,
                 severity: str | None = None) -> list[dict[str, Any]]:
    """``rule_id`` reported, with ``frames_expected`` (tshark's) among its evidence frames.

    Only findings whose ``details`` contain the given items, whose summary
    contains ``summary`` and (if given) whose severity is ``severity`` count.
    ``exact``: the union of their frames equals ``frames_expected``.
    Returns the matching findings.
    """
    expected = sorted({int(x) for x in frames_expected})
    assert expected, f"no expected frames for {rule_id}: the scenario did not produce its fault"
    mine = [f for f in of_rule(findings, rule_id) if _matches(f, details, summary)
            and (severity is None or f["severity"] == severity)]
    want = (f" with details {details}" if details else "") + (f", summary ~ {summary!r}" if summary else "") \
        + (f", severity {severity}" if severity else "")
    assert mine, f"{rule_id} did not fire{want}; tshark's evidence frames {expected}\nfindings:\n{show(findings)}"
    got = sorted({int(x) for f in mine for x in f["frames"]})
    if exact:
        assert got == expected, (f"{rule_id}: frames {got} != tshark's {expected}\nfindings:\n{show(findings)}")
    else:
        missing = sorted(set(expected) - set(got))
        assert not missing, (f"{rule_id}: tshark's frames {missing} are not in the finding's evidence {got}"
                             f"\nfindings:\n{show(findings)}")
    return mine
