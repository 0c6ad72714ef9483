"""``tcp.zero_window``: receivers that advertised a zero window."""

from __future__ import annotations

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.tcp._common import (
    flagged,
    per_session,
    server,
    session_list,
)


def zero_window(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    mask = flagged(ev, "tcp.analysis.zero_window")
    rows = {r["sid"]: r for r in session_list(ev)}
    out = []
    for sid, frames in per_session(ev, mask).items():
        r = rows.get(sid)
        where = server(r) if r is not None else "?"
        out.append(Finding(
            "tcp.zero_window", "Session Errors", "warning",
            f"A receiver advertised a zero window {len(frames)} time(s) on the connection to {where}",
            "The receiving application is not reading its data fast enough: its buffer is full, so the "
            "sender must stop and wait (probing) until it reads. The bottleneck is the receiving host, "
            "not the network.",
            "Look at the receiving application (CPU, disk, a slow consumer) and its socket buffer size.",
            frames, [sid] if sid > 0 else [], {"server": where, "zero_windows": len(frames)}))
    return out


RULE = Rule("tcp.zero_window", "Session Errors", "TCP zero window", (), zero_window)
