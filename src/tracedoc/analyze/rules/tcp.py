"""TCP connection set-up and tear-down: SYNs nobody answered, connections
refused, connections reset.  Judged from the Session Summary's Zeek
``conn_state`` (S0, REJ, RSTO/RSTR/RSTOS0/RSTRH), with the SYN and RST
frames of each session as evidence."""

from __future__ import annotations

import numpy as np

from tracedoc.analyze.columns import valid, values
from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule

SYN, RST, ACK = 0x02, 0x04, 0x10


def _flag_rows(ev: Evidence, want: int, without: int = 0) -> np.ndarray:
    f, has = values(ev.tbl, "tcp.flags")
    return has & ((f & want) == want) & ((f & without) == 0)


def _tcp_sessions(ev: Evidence, states: set[str]) -> list[dict]:
    t = ev.sessions.table
    return [r for r in t.to_pylist() if r["proto"] == "tcp" and r["conn_state"] in states]


def _server(r: dict) -> str:
    return f"{r['responder_ip']}:{r['responder_port']}"


def syn_unanswered(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    syns = _flag_rows(ev, SYN, ACK)
    out = []
    for r in _tcp_sessions(ev, {"S0"}):
        frames = ev.session_frames(r["sid"], syns)
        if len(frames) < p["min_syns"]:
            continue
        out.append(Finding(
            "tcp.syn_unanswered", "INIT Errors", "error",
            f"{len(frames)} SYN(s) from {r['initiator_ip']}:{r['initiator_port']} to {_server(r)} got no answer",
            "The client asked to open a connection and nothing came back: no SYN-ACK, no reset, within the "
            "trace. The SYN was dropped on the way (a firewall, a route), or the server is down or not "
            "reachable from here; a server that is up but not listening answers with a reset instead.",
            f"Check that {_server(r)} is up and that a firewall or route between the client and it passes "
            "this port; capture at the server to see whether the SYN arrives.",
            frames, [r["sid"]], {"server": _server(r), "syns": len(frames)}))
    return out


def connection_refused(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    rsts = _flag_rows(ev, RST)
    out = []
    for r in _tcp_sessions(ev, {"REJ"}):
        frames = ev.session_frames(r["sid"])
        resets = ev.session_frames(r["sid"], rsts)
        out.append(Finding(
            "tcp.connection_refused", "INIT Errors", "error",
            f"{_server(r)} refused a connection from {r['initiator_ip']} (SYN answered by RST)",
            "The server's host answered the SYN with a reset: nothing listens on that port there, or a "
            "firewall rejects the connection on its behalf.",
            f"Check that the service is running and listening on {_server(r)}, and any firewall rule that "
            "rejects (rather than drops) this port.",
            frames, [r["sid"]], {"server": _server(r), "reset_frames": resets}))
    return out


RESET_STATES = {"RSTO": "the client", "RSTR": "the server", "RSTOS0": "the client", "RSTRH": "the server"}


def reset(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    rsts = _flag_rows(ev, RST)
    out = []
    for r in _tcp_sessions(ev, set(RESET_STATES)):
        resets = ev.session_frames(r["sid"], rsts)
        who = RESET_STATES[r["conn_state"]]
        out.append(Finding(
            "tcp.reset", "TERM Errors", "warning",
            f"Connection {r['initiator_ip']}:{r['initiator_port']} -> {_server(r)} was reset by {who}",
            "A reset ends a connection at once, without the orderly FIN exchange: the application aborted "
            "it, a timeout fired, or a middle box cut it. Data in flight is lost.",
            "Look at what the resetting side sent just before the reset (the Sequence of Execution) and at "
            "its application logs.",
            resets, [r["sid"]], {"server": _server(r), "conn_state": r["conn_state"], "reset_by": who}))
    return out


def _flagged(ev: Evidence, *names: str) -> np.ndarray:
    out = np.zeros(ev.tbl.num_rows, dtype=bool)
    for name in names:
        out |= valid(ev.tbl, name)
    return out


def _per_session(ev: Evidence, mask: np.ndarray) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for sid, frame in zip(ev.sessions.sid[mask].tolist(), ev.frames[mask].tolist()):
        out.setdefault(int(sid), []).append(int(frame))
    return out


def retransmissions(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    mask = _flagged(ev, "tcp.analysis.retransmission", "tcp.analysis.fast_retransmission",
                    "tcp.analysis.spurious_retransmission")
    rows = {r["sid"]: r for r in ev.sessions.table.to_pylist() if r["proto"] == "tcp"}
    out = []
    for sid, frames in _per_session(ev, mask).items():
        r = rows.get(sid)
        if r is None or len(frames) < p["min_retransmissions"]:
            continue
        total = (r["packets_in"] or 0) + (r["packets_out"] or 0)
        rate = len(frames) / total if total else 0.0
        out.append(Finding(
            "tcp.retransmissions", "Session Errors", "error" if rate >= p["error_rate"] else "warning",
            f"{len(frames)} retransmission(s) ({rate:.1%} of its packets) on {r['initiator_ip']}:"
            f"{r['initiator_port']} -> {_server(r)}",
            "Segments were sent again because the sender saw no acknowledgment in time (or duplicate ACKs "
            "said one was lost): packet loss on the path (congestion, a bad link, a full queue), or "
            "packets dropped by a middle box. Each one stalls the connection for a round trip or a timeout.",
            "Find where the loss is: capture at both ends, check interface error and drop counters on the "
            "path, and whether the retransmitted packets are the large ones (an MTU problem).",
            frames, [sid], {"server": _server(r), "retransmissions": len(frames), "packets": total,
                            "rate": round(rate, 4)}))
    return out


def zero_window(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    mask = _flagged(ev, "tcp.analysis.zero_window")
    rows = {r["sid"]: r for r in ev.sessions.table.to_pylist()}
    out = []
    for sid, frames in _per_session(ev, mask).items():
        r = rows.get(sid)
        where = _server(r) if r is not None else "?"
        out.append(Finding(
            "tcp.zero_window", "Session Errors", "warning",
            f"A receiver advertised a zero window {len(frames)} time(s) on the connection to {where}",
            "The receiving application is not reading its data fast enough: its buffer is full, so the "
            "sender must stop and wait (probing) until it reads. The bottleneck is the receiving host, "
            "not the network.",
            "Look at the receiving application (CPU, disk, a slow consumer) and its socket buffer size.",
            frames, [sid] if sid > 0 else [], {"server": where, "zero_windows": len(frames)}))
    return out


RULES = (
    Rule("tcp.syn_unanswered", "INIT Errors", "TCP SYN never answered",
         (Param("min_syns", 1, "report a connection attempt with at least this many SYNs"),), syn_unanswered),
    Rule("tcp.connection_refused", "INIT Errors", "TCP connection refused (SYN answered by RST)", (),
         connection_refused),
    Rule("tcp.reset", "TERM Errors", "TCP connection reset", (), reset),
    Rule("tcp.retransmissions", "Session Errors", "TCP retransmissions",
         (Param("min_retransmissions", 1, "report a connection with at least this many retransmitted segments"),
          Param("error_rate", 0.02, "share of a connection's packets retransmitted that makes it an error, "
                                    "not a warning")), retransmissions),
    Rule("tcp.zero_window", "Session Errors", "TCP zero window", (), zero_window),
)
