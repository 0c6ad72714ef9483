"""What the tcp rules share."""

from __future__ import annotations

import numpy as np

from tracedoc.analyze.columns import valid, values
from tracedoc.analyze.diagnose import Evidence

SYN, RST, ACK = 0x02, 0x04, 0x10


def flag_rows(ev: Evidence, want: int, without: int = 0) -> np.ndarray:
    f, has = values(ev.tbl, "tcp.flags")
    return has & ((f & want) == want) & ((f & without) == 0)


def tcp_sessions(ev: Evidence, states: set[str]) -> list[dict]:
    t = ev.sessions.table
    return [r for r in t.to_pylist() if r["proto"] == "tcp" and r["conn_state"] in states]


def server(r: dict) -> str:
    return f"{r['responder_ip']}:{r['responder_port']}"


def flagged(ev: Evidence, *names: str) -> np.ndarray:
    out = np.zeros(ev.tbl.num_rows, dtype=bool)
    for name in names:
        out |= valid(ev.tbl, name)
    return out


def per_session(ev: Evidence, mask: np.ndarray) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for sid, frame in zip(ev.sessions.sid[mask].tolist(), ev.frames[mask].tolist()):
        out.setdefault(int(sid), []).append(int(frame))
    return out
