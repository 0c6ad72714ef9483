"""``tcp.retransmissions``: connections with retransmitted segments (Wireshark's
retransmission, fast and spurious retransmission flags), warning or error by rate."""

from __future__ import annotations

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule
from tracedoc.analyze.rules.tcp._common import (
    flagged,
    per_session,
    server,
    session_list,
)


def retransmissions(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    mask = flagged(ev, "tcp.analysis.retransmission", "tcp.analysis.fast_retransmission",
                    "tcp.analysis.spurious_retransmission")
    rows = {r["sid"]: r for r in session_list(ev)}
    out = []
    for sid, frames in per_session(ev, mask).items():
        r = rows.get(sid)
        if r is None or len(frames) < p["min_retransmissions"]:
            continue
        total = (r["packets_in"] or 0) + (r["packets_out"] or 0)
        rate = len(frames) / total if total else 0.0
        out.append(Finding(
            "tcp.retransmissions", "Session Errors", "error" if rate >= p["error_rate"] else "warning",
            f"{len(frames)} retransmission(s) ({rate:.1%} of its packets) on {r['initiator_ip']}:"
            f"{r['initiator_port']} -> {server(r)}",
            "Segments were sent again because the sender saw no acknowledgment in time (or duplicate ACKs "
            "said one was lost): packet loss on the path (congestion, a bad link, a full queue), or "
            "packets dropped by a middle box. Each one stalls the connection for a round trip or a timeout.",
            "Find where the loss is: capture at both ends, check interface error and drop counters on the "
            "path, and whether the retransmitted packets are the large ones (an MTU problem).",
            frames, [sid], {"server": server(r), "retransmissions": len(frames), "packets": total,
                            "rate": round(rate, 4)}))
    return out


RULE = Rule("tcp.retransmissions", "Session Errors", "TCP retransmissions",
         (Param("min_retransmissions", 1, "report a connection with at least this many retransmitted segments"),
          Param("error_rate", 0.02, "share of a connection's packets retransmitted that makes it an error, "
                                    "not a warning")), retransmissions)
