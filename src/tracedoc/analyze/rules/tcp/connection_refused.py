"""``tcp.connection_refused``: SYNs answered by a reset (Zeek state REJ)."""

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


def connection_refused(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    rsts = flag_rows(ev, RST)
    out = []
    for r in tcp_sessions(ev, {"REJ"}):
        frames = ev.session_frames(r["sid"])
        resets = ev.session_frames(r["sid"], rsts)
        out.append(Finding(
            "tcp.connection_refused", "INIT Errors", "error",
            f"{server(r)} refused a connection from {r['initiator_ip']} (SYN answered by RST)",
            "The server's host answered the SYN with a reset: nothing listens on that port there, or a "
            "firewall rejects the connection on its behalf.",
            f"Check that the service is running and listening on {server(r)}, and any firewall rule that "
            "rejects (rather than drops) this port.",
            frames, [r["sid"]], {"server": server(r), "reset_frames": resets}))
    return out


RULE = Rule("tcp.connection_refused", "INIT Errors", "TCP connection refused (SYN answered by RST)", (),
         connection_refused)
