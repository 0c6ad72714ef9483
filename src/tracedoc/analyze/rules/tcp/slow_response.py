"""``tcp.slow_response``: a server that took long to answer a request.

The Session Summary's definition (analyze/sessions.py): a *request* is a run
of consecutive payload-carrying segments from the client, the *response* the
server's payload-carrying segments that follow before the client sends
payload again; the wait is the time from the request's last segment to the
response's first.  Of each wait, one network round trip (the handshake RTT,
else the connection's smallest wait) is the network's share; the rest is
server time.  A connection is reported when one wait's server time reaches
``min_server_time`` seconds: the finding names the slowest wait's request
and response frames, its server and network time, the connection's totals,
and what the request was when a decoded transaction starts there (HTTP
method and URI, FTP command ...).

Waits whose first response segment is a retransmission are not server time
(the server answered, the answer was lost) and are left out; so are
keep-alive and zero-window probe segments, which carry no request or answer.
Not every server message after a client's is an answer, so two kinds of wait
are not judged: those longer than ``max_wait`` seconds (past the time
clients and proxies wait for an answer, 60 to 120 s by default, what comes
is a server's own message: a push, an application keep-alive, a
notification) and those of interactive sessions (SSH, Telnet, rlogin, rsh,
RDP, VNC: the wait is the user's command running, or the user typing).
A capture taken near the client cannot tell an answer the server sent at
once but the network lost (and the server resent after its retransmission
timeout) from a slow one: the retransmission is the first copy it sees.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracedoc.analyze.columns import valid
from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule
from tracedoc.analyze.rules.tcp._common import (
    SYN,
    client,
    column,
    from_initiator,
    ms_text,
    retransmitted,
    server,
    session_list,
    tcp_rows,
)

INTERACTIVE_PORTS = frozenset({22, 23, 513, 514, 3389, 5900})
"""Server ports of interactive sessions (SSH, Telnet, rlogin, rsh, RDP, VNC), whose waits are not judged."""

LISTED_WAITS = 10
"""How many of a connection's slow waits the details list (slowest first)."""


def _waits(ev: Evidence, r: dict, rows: np.ndarray) -> list[dict[str, Any]]:
    """Every request -> response wait of a connection, in order."""
    tlen, _ = column(ev, "tcp.len", np.int64)
    flags, _ = column(ev, "tcp.flags")
    t, _ = column(ev, "frame.time_epoch", np.int64)
    probes = ev.__dict__.setdefault("_tcp_columns", {}).get("_probes")
    if probes is None:
        probes = valid(ev.tbl, "tcp.analysis.keep_alive") | valid(ev.tbl, "tcp.analysis.zero_window_probe")
        ev.__dict__["_tcp_columns"]["_probes"] = probes
    fi = from_initiator(ev, r, rows)
    keep = (tlen[rows] > 0) & ((flags[rows] & SYN) == 0) & ~probes[rows]
    rows, fi = rows[keep], fi[keep]
    if not len(rows):
        return []
    resent = retransmitted(ev)
    cuts = np.flatnonzero(fi[1:] != fi[:-1]) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [len(rows)])) - 1
    out = []
    for a, b, c in zip(starts[:-1].tolist(), ends[:-1].tolist(), starts[1:].tolist()):
        if not fi[a]:
            continue                          # a server run followed by a client one: no wait to judge
        req_last, resp_first = int(rows[b]), int(rows[c])
        out.append({"request_first": int(ev.frames[rows[a]]), "request_frame": int(ev.frames[req_last]),
                    "response_frame": int(ev.frames[resp_first]), "wait": (t[resp_first] - t[req_last]) / 1e9,
                    "lost": bool(resent[resp_first])})
    return out


def slow_response(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    limit = p["min_server_time"]
    cand = [r for r in session_list(ev) if (r["server_time"] or 0) >= limit
            and r["responder_port"] not in INTERACTIVE_PORTS]
    by_sid = tcp_rows(ev, [r["sid"] for r in cand])
    out = []
    for r in cand:
        rows = by_sid.get(r["sid"])
        if rows is None:
            continue
        waits = _waits(ev, r, rows)
        answered = [w for w in waits if not w["lost"]]
        if not answered:
            continue
        rtt = r["handshake_rtt"]
        if rtt is None:
            rtt = min(max(w["wait"], 0.0) for w in waits)
        for w in answered:
            w["network"] = min(max(w["wait"], 0.0), rtt)
            w["server"] = max(w["wait"], 0.0) - w["network"]
        slow = sorted((w for w in answered if limit <= w["server"] and w["wait"] <= p["max_wait"]),
                      key=lambda w: -w["server"])
        if not slow:
            continue
        worst = slow[0]
        label = _label(ev, worst)
        what = f" to {label}" if label else ""
        listed = [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in w.items() if k != "lost"}
                  for w in slow[:LISTED_WAITS]]
        out.append(Finding(
            "tcp.slow_response", "Response Time Thresholds",
            "error" if worst["server"] >= p["error_server_time"] else "warning",
            f"{server(r)} took {worst['server']:.3g} s to answer{what} (frame {worst['request_frame']} -> "
            f"{worst['response_frame']})" + (f"; {len(slow)} slow answers on this connection" if len(slow) > 1
                                             else ""),
            f"From the request's last segment (frame {worst['request_frame']}) to the first segment of the "
            f"answer (frame {worst['response_frame']}) {ms_text(worst['wait'])} passed; one network round trip "
            f"accounts for {ms_text(worst['network'])} of it, so {worst['server']:.3g} s was spent by the server "
            f"(or what stands behind it: a database, a back-end, a lock) before it answered. Over the whole "
            f"connection: server time {r['server_time']:.3g} s, network time {r['network_time']:.3g} s.",
            f"Look at what {server(r)} did with this request: its application logs and timings, the back-ends "
            "it waits for, its load (CPU, disk, threads). The network is not the cause: the round trip is "
            f"{ms_text(rtt)}.",
            [f for w in slow[:LISTED_WAITS] for f in (w["request_frame"], w["response_frame"])], [r["sid"]],
            {"server": server(r), "client": client(r), "request": label, "server_time": round(worst["server"], 6),
             "network_time": round(worst["network"], 6), "wait": round(worst["wait"], 6),
             "request_frame": worst["request_frame"], "response_frame": worst["response_frame"],
             "slow_responses": len(slow), "session_server_time": r["server_time"],
             "session_network_time": r["network_time"], "rtt": round(rtt, 6), "waits": listed}))
    return out


def _label(ev: Evidence, w: dict[str, Any]) -> str | None:
    """What the request was, when a decoded transaction (other than the TCP connect) starts in it."""
    tx = ev.transactions
    if not tx.num_rows:
        return None
    frames = np.asarray(tx["request_frame"].combine_chunks().to_numpy(zero_copy_only=False))
    hit = np.flatnonzero((frames >= w["request_first"]) & (frames <= w["request_frame"]))
    types, labels = tx["type"].to_pylist(), tx["label"].to_pylist()
    for i in hit[::-1].tolist():
        if types[i] != "tcp.connect" and labels[i]:
            return f"{types[i].upper()} {labels[i]}"
    return None


RULE = Rule("tcp.slow_response", "Response Time Thresholds", "Server slow to respond on a TCP connection", (
    Param("min_server_time", 1.0, "report a connection when one answer took the server at least this many "
                                  "seconds (the wait minus one network round trip)"),
    Param("error_server_time", 5.0, "... an error, not a warning, from this many seconds"),
    Param("max_wait", 120.0, "a server message later than this after the client's is not taken for an answer "
                             "(a push, a keep-alive): clients and proxies give up sooner"),
), slow_response)
