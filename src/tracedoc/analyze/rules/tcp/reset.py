"""``tcp.reset``: established connections ended by a reset rather than FINs."""

from __future__ import annotations

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.tcp._common import (
    RST,
    flag_rows,
    server,
    tcp_sessions,
)

RESET_STATES = {"RSTO": "the client", "RSTR": "the server", "RSTOS0": "the client", "RSTRH": "the server"}


def reset(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    rsts = flag_rows(ev, RST)
    out = []
    for r in tcp_sessions(ev, set(RESET_STATES)):
        resets = ev.session_frames(r["sid"], rsts)
        who = RESET_STATES[r["conn_state"]]
        out.append(Finding(
            "tcp.reset", "TERM Errors", "warning",
            f"Connection {r['initiator_ip']}:{r['initiator_port']} -> {server(r)} was reset by {who}",
            "A reset ends a connection at once, without the orderly FIN exchange: the application aborted "
            "it, a timeout fired, or a middle box cut it. Data in flight is lost.",
            "Look at what the resetting side sent just before the reset (the Sequence of Execution) and at "
            "its application logs.",
            resets, [r["sid"]], {"server": server(r), "conn_state": r["conn_state"], "reset_by": who}))
    return out


RULE = Rule("tcp.reset", "TERM Errors", "TCP connection reset", (), reset)
