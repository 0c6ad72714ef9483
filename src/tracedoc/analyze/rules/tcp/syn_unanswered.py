"""``tcp.syn_unanswered``: connection attempts (Zeek state S0) whose SYNs got no answer."""

from __future__ import annotations

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule
from tracedoc.analyze.rules.tcp._common import (
    ACK,
    SYN,
    flag_rows,
    server,
    tcp_sessions,
)


def syn_unanswered(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    syns = flag_rows(ev, SYN, ACK)
    out = []
    for r in tcp_sessions(ev, {"S0"}):
        frames = ev.session_frames(r["sid"], syns)
        if len(frames) < p["min_syns"]:
            continue
        out.append(Finding(
            "tcp.syn_unanswered", "INIT Errors", "error",
            f"{len(frames)} SYN(s) from {r['initiator_ip']}:{r['initiator_port']} to {server(r)} got no answer",
            "The client asked to open a connection and nothing came back: no SYN-ACK, no reset, within the "
            "trace. The SYN was dropped on the way (a firewall, a route), or the server is down or not "
            "reachable from here; a server that is up but not listening answers with a reset instead.",
            f"Check that {server(r)} is up and that a firewall or route between the client and it passes "
            "this port; capture at the server to see whether the SYN arrives.",
            frames, [r["sid"]], {"server": server(r), "syns": len(frames)}))
    return out


RULE = Rule("tcp.syn_unanswered", "INIT Errors", "TCP SYN never answered",
         (Param("min_syns", 1, "report a connection attempt with at least this many SYNs"),), syn_unanswered)
