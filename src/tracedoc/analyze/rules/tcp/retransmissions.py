"""``tcp.retransmissions``: connections with retransmitted segments (Wireshark's
retransmission, fast and spurious retransmission flags), warning or error by rate.

A bare FIN (no data) sent again once is not loss worth a Session Error: the
peer acknowledged the close later than the sender's timer allowed (busy
hosts do it now and then) and no data waited on it.  A connection whose only
retransmission is that is reported under TERM Packets, for information; two
or more (``min_fin_retransmissions``) say the close is really being lost and
count with the rest."""

from __future__ import annotations

from tracedoc.analyze.columns import values
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
    flags, _ = values(ev.tbl, "tcp.flags")
    length, _ = values(ev.tbl, "tcp.len")
    bare_fin = mask & ((flags & 0x01) != 0) & (length == 0)
    fins = per_session(ev, bare_fin)
    spurious_of = per_session(ev, flagged(ev, "tcp.analysis.spurious_retransmission"))
    rows = {r["sid"]: r for r in session_list(ev)}
    out = []
    for sid, frames in per_session(ev, mask).items():
        r = rows.get(sid)
        if r is None:
            continue
        closing = fins.get(sid, [])
        lone = closing if 0 < len(closing) < p["min_fin_retransmissions"] else []
        frames = [f for f in frames if f not in set(lone)]
        if not frames:
            if len(lone) >= p["min_retransmissions"]:
                out.append(_close_only(r, sid, lone))
            continue
        if len(frames) < p["min_retransmissions"]:
            continue
        total = (r["packets_in"] or 0) + (r["packets_out"] or 0)
        rate = len(frames) / total if total else 0.0
        spurious = len(set(spurious_of.get(sid, [])) & set(frames))
        why = ("Segments were sent again because the sender saw no acknowledgment in time (or duplicate ACKs "
               "said one was lost): packet loss on the path (congestion, a bad link, a full queue), or "
               "packets dropped by a middle box. Each one stalls the connection for a round trip or a timeout.")
        if spurious:
            why += (f" {spurious} of them were spurious: the receiver already had that data (its ACKs or "
                    "D-SACK say so), so those were not lost but reordered on the path or acknowledged later "
                    "than the sender's timer allowed.")
        out.append(Finding(
            "tcp.retransmissions", "Session Errors", "error" if rate >= p["error_rate"] else "warning",
            f"{len(frames)} retransmission(s) ({rate:.1%} of its packets) on {r['initiator_ip']}:"
            f"{r['initiator_port']} -> {server(r)}" + (f", {spurious} spurious" if spurious else ""),
            why,
            "Find where the loss is: capture at both ends, check interface error and drop counters on the "
            "path, and whether the retransmitted packets are the large ones (an MTU problem)."
            + (" For spurious ones, look for reordering (parallel links, load balancing per packet) and "
               "delay spikes." if spurious else ""),
            frames, [sid], {"server": server(r), "retransmissions": len(frames), "spurious": spurious,
                            "packets": total, "rate": round(rate, 4)}))
    return out


def _close_only(r: dict, sid: int, fins: list[int]) -> Finding:
    return Finding(
        "tcp.retransmissions", "TERM Packets", "info",
        f"FIN sent again at the close of {r['initiator_ip']}:{r['initiator_port']} -> {server(r)} "
        f"({len(fins)} time(s); no data was resent)",
        "Only the closing FIN was sent again: the peer acknowledged the close later than the sender's "
        "retransmission timer allowed (a delayed ACK, a busy host). No data waited on it.",
        "Nothing to do unless it happens on many connections; then look at the peer's load.",
        fins, [sid], {"server": server(r), "retransmissions": len(fins), "closing_only": True})


RULE = Rule("tcp.retransmissions", "Session Errors", "TCP retransmissions",
         (Param("min_retransmissions", 1, "report a connection with at least this many retransmitted segments"),
          Param("min_fin_retransmissions", 2, "bare FINs sent again on one connection that count as loss "
                                              "(fewer: a late ACK of the close, reported under TERM Packets)"),
          Param("error_rate", 0.02, "share of a connection's packets retransmitted that makes it an error, "
                                    "not a warning")), retransmissions)
