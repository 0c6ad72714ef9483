"""What the dns rules share: DNS transactions by result, and one rule body for
"the server answered with this error"."""

from __future__ import annotations

from collections import defaultdict

import pyarrow.compute as pc

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding


def by_result(ev: Evidence, result: str) -> list[dict]:
    t = ev.transactions
    if t.num_rows == 0:
        return []
    rows = t.filter(pc.and_(pc.equal(t["type"], "dns"), pc.fill_null(pc.equal(t["result"], result), False)))
    return rows.to_pylist()


def answers(rule: str, result: str, severity: str, explanation: str, action: str):  # type: ignore[no-untyped-def]
    """A rule reporting every (name, server) whose queries got the answer ``result``."""

    def run(ev: Evidence, p: dict[str, float]) -> list[Finding]:
        groups: dict[tuple, list[dict]] = defaultdict(list)
        for r in by_result(ev, result):
            groups[(r["label"], r["server"])].append(r)
        out = []
        for (name, server), rows in groups.items():
            frames = [f for r in rows for f in (r["request_frame"], r["response_frame"]) if f is not None]
            clients = sorted({r["client"] for r in rows})
            out.append(Finding(
                rule, "Application Errors", severity,
                f"DNS {result}: {server} answered {len(rows)} quer{'y' if len(rows) == 1 else 'ies'} "
                f"for {name or '(no name)'}",
                explanation, action, frames, ev.sessions_of(frames),
                {"name": name, "server": server, "clients": clients, "count": len(rows)},
                key=f"{rule}:{name}:{server}"))
        return out

    return run
