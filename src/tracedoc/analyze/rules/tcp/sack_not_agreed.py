"""``tcp.sack_not_agreed``: SACK permitted by one side only.

Selective acknowledgment (RFC 2018) is used only when both SYNs carry the
SACK-permitted option.  When one side offers it and the other does not, the
connection recovers from loss with cumulative ACKs alone: a sender learns of
one lost segment per round trip and often resends segments that had arrived.
Reported for every connection whose two SYNs are in the trace and disagree:
informational when the connection lost nothing, a warning when it had at
least ``min_retransmissions`` retransmitted segments (the loss recovery SACK
would have shortened).  Evidence: the SYN and SYN-ACK showing the options,
and the retransmitted segments.
"""

from __future__ import annotations

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule
from tracedoc.analyze.rules.tcp._common import (
    retransmitted,
    server,
    session_list,
    side_names,
    syn_frames,
    tcp_rows,
)


def sack_not_agreed(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    cand = [r for r in session_list(ev) if r["sack_permitted"] is not None
            and r["sack_initiator"] != r["sack_responder"]]
    by_sid = tcp_rows(ev, [r["sid"] for r in cand])
    retrans = retransmitted(ev)
    out = []
    for r in cand:
        rows = by_sid.get(r["sid"])
        if rows is None:
            continue
        cname, sname = side_names(r)
        offered, other = (cname, sname) if r["sack_initiator"] else (sname, cname)
        resent = ev.frames[rows[retrans[rows]]].tolist()
        lossy = len(resent) >= p["min_retransmissions"] > 0
        summary = f"SACK permitted by {offered} but not by {other}: loss recovery without selective ACKs"
        if lossy:
            summary += f", and the connection had {len(resent)} retransmission(s)"
        out.append(Finding(
            "tcp.sack_not_agreed", "Session Errors", "warning" if lossy else "info", summary,
            f"Selective acknowledgment (RFC 2018) is used only when both SYNs carry the SACK-permitted option; "
            f"{other} left it out, so the receiver can only acknowledge the last in-order byte. After a loss "
            "the sender learns of one missing segment per round trip and may resend segments that had "
            "arrived" + (", which is what this connection's retransmissions cost." if lossy else
                         "; this connection lost nothing, so it did not matter here."),
            f"Enable SACK on {other} (Linux: sysctl net.ipv4.tcp_sack=1). Current Linux, Windows and BSD stacks "
            "have it on by default, so look for an old stack, a tuning change, or a firewall or proxy that "
            "strips the option from SYNs.",
            syn_frames(ev, rows) + resent, [r["sid"]],
            {"server": server(r), "client": r["initiator_ip"], "sack_client": bool(r["sack_initiator"]),
             "sack_server": bool(r["sack_responder"]), "retransmissions": len(resent)}))
    return out


RULE = Rule("tcp.sack_not_agreed", "Session Errors", "TCP SACK permitted by one side only",
            (Param("min_retransmissions", 1, "a connection with at least this many retransmitted segments is a "
                                             "warning (loss recovered without SACK), else informational"),),
            sack_not_agreed)
