"""``tcp.window_scaling``: receive windows too small for the path.

A TCP sender may have at most one receive window of unacknowledged data in
flight, so a connection can never move more than *window / round trip* per
second, whatever the bandwidth.  The window field holds at most 65,535
bytes; window scaling (RFC 7323) multiplies it by 2^shift, and is in use only
when *both* SYNs carry the option (a SYN-ACK may carry it only in answer to a
SYN that did).  The rule judges, per connection whose two SYNs are in the
trace:

(a) **offered by one side only**: scaling is then off for the connection,
    both windows stay at most 65,535 bytes, and throughput is capped at
    65,535 bytes per round trip (with the handshake RTT known: that cap in
    bytes per second).  Always reported; a warning when a direction of the
    connection was window-limited (below), else informational.
(b) **potential vs actual window**: for each side, the largest window its
    scale allows (65,535 << shift; 65,535 without scaling) and the largest it
    advertised.  In the details of every finding; it says whether the scale
    (an actual window at its potential) or the receive buffer (an actual
    window far below it) is the limit.
(c) **window too small for the bandwidth-delay product**: a direction that
    carried at least ``min_bytes`` over at least ``min_rtts`` round trips is
    *window-limited* when the bandwidth-delay product of its measured
    throughput (bytes / transfer time x handshake RTT) reached
    ``min_window_use`` of the largest window the receiver advertised: the
    sender kept a whole window in flight every round trip, so the window,
    not the path, set the pace.  This holds wherever the trace was captured
    (at the receiver the sender's bytes in flight are not visible: the ACKs
    it waits for are still on their way to it).  The segments that filled the
    receiver's window while it was at its largest (Wireshark's
    ``tcp.analysis.window_full``, or bytes in flight within one MSS of the
    advertised window: seen at or near the sender) are the evidence; they
    decide alone only when the handshake RTT is unknown (at least
    ``min_window_full`` of them).  A window that fills while the throughput
    stays far below window / RTT was not too small for the path: the
    receiving application was slow (the zero window rule's case).

    A window-limited direction is reported even with scaling in use (the
    receiver's buffer or its shift is too small for the path).

A connection without window-limited directions is not reported unless (a).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule
from tracedoc.analyze.rules.tcp._common import (
    MAX_UNSCALED_WINDOW,
    SYN,
    column,
    from_initiator,
    ms_text,
    rate_text,
    retransmitted,
    server,
    session_list,
    side_names,
    syn_frames,
    tcp_rows,
)

MAX_SHIFT = 14
"""RFC 7323 2.3: a shift above 14 is used as 14."""

EVIDENCE_SEGMENTS = 20
"""How many of the window-filling segments a finding lists as evidence."""


def _potential(shift: int | None, scaling: bool) -> int:
    return MAX_UNSCALED_WINDOW << min(shift or 0, MAX_SHIFT) if scaling else MAX_UNSCALED_WINDOW


def _direction(ev: Evidence, rows: np.ndarray, sent: np.ndarray, rtt: float | None, peer_mss: int | None,
               p: dict[str, float]) -> dict[str, Any] | None:
    """How a direction's transfer used the receiver's window (None: too little data to judge)."""
    tlen, _ = column(ev, "tcp.len", np.int64)
    flags, _ = column(ev, "tcp.flags")
    t, _ = column(ev, "frame.time_epoch", np.int64)
    win, has_win = column(ev, "tcp.window_size", np.int64)
    bif, has_bif = column(ev, "tcp.analysis.bytes_in_flight", np.int64)
    _, full = column(ev, "tcp.analysis.window_full")
    is_syn = (flags[rows] & SYN) != 0
    data = sent & (tlen[rows] > 0) & ~is_syn
    new = data & ~retransmitted(ev)[rows]
    nbytes = int(tlen[rows][new].sum())
    if nbytes < p["min_bytes"] or not new.any():
        return None
    d = rows[data]
    duration = (t[d[-1]] - t[d[0]]) / 1e9
    # The receiver's advertised windows (its SYN's too: that window is never scaled), each carried
    # forward to the sender's segments after it.
    adv = ~sent & has_win[rows]
    if not adv.any():
        return None
    largest = int(win[rows][adv].max())
    if largest <= 0:
        return None                            # only zero windows: the zero window rule's case
    last = np.maximum.accumulate(np.where(adv, np.arange(len(rows)), -1))
    current = np.where(last >= 0, win[rows][np.maximum(last, 0)], -1)
    mss = peer_mss or int(tlen[rows][data].max())
    at_largest = current >= p["full_window_share"] * largest
    hit = data & at_largest & (full[rows] | (has_bif[rows] & (bif[rows] >= current - mss) & (current > 0)))
    out: dict[str, Any] = {
        "bytes": nbytes, "transfer_s": round(duration, 6), "largest_window": largest,
        "window_full_segments": int(hit.sum()), "limited": False,
    }
    if rtt is not None and rtt > 0:
        if duration > 0 and duration >= p["min_rtts"] * rtt:
            rate = nbytes / duration
            bdp = rate * rtt
            out.update(throughput=round(rate, 1), bdp_bytes=round(bdp), window_use=round(bdp / largest, 3),
                       window_cap=round(largest / rtt, 1))
            out["limited"] = bool(bdp >= p["min_window_use"] * largest)
    else:
        out["limited"] = bool(hit.sum() >= p["min_window_full"])
    out["hit_frames"] = ev.frames[rows[hit]][:EVIDENCE_SEGMENTS].tolist()
    return out


def _largest_window(ev: Evidence, rows: np.ndarray, sent: np.ndarray) -> int | None:
    """The largest window a side advertised (None: the trace has no window of it)."""
    win, has_win = column(ev, "tcp.window_size", np.int64)
    adv = sent & has_win[rows]
    return int(win[rows][adv].max()) if adv.any() else None


def window_scaling(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    cand = [r for r in session_list(ev) if r["window_scaling"] is not None]
    # Only connections that can be judged: scaling off, or enough data for a window to matter.
    cand = [r for r in cand if not r["window_scaling"]
            or max(r["payload_in"] or 0, r["payload_out"] or 0) >= p["min_bytes"]]
    by_sid = tcp_rows(ev, [r["sid"] for r in cand])
    out = []
    for r in cand:
        rows = by_sid.get(r["sid"])
        if rows is None:
            continue
        out.extend(_judge(ev, r, rows, p))
    return out


def _judge(ev: Evidence, r: dict, rows: np.ndarray, p: dict[str, float]) -> list[Finding]:
    scaling = bool(r["window_scaling"])
    ws = {"client": r["wscale_initiator"], "server": r["wscale_responder"]}
    one_side = (ws["client"] is None) != (ws["server"] is None)
    rtt = r["handshake_rtt"]
    fi = from_initiator(ev, r, rows)
    cname, sname = side_names(r)
    names = {"client": cname, "server": sname}
    mss = {"client": r["mss_initiator"], "server": r["mss_responder"]}
    # A direction is named by its receiver: "client" is data the server sent to the client.
    flows = {
        "client": _direction(ev, rows, ~fi, rtt, mss["client"], p),
        "server": _direction(ev, rows, fi, rtt, mss["server"], p),
    }
    limited = [k for k, f in flows.items() if f is not None and f["limited"]]
    if not one_side and not limited:
        return []
    sides = {k: {"offered_shift": ws[k], "potential_window": _potential(ws[k], scaling),
                 "largest_window": _largest_window(ev, rows, sent)}
             for k, sent in (("client", fi), ("server", ~fi))}
    transfers = {f"to_{k}": {x: y for x, y in f.items() if x != "hit_frames"}
                 for k, f in flows.items() if f is not None}
    details: dict[str, Any] = {
        "server": server(r), "client": r["initiator_ip"], "window_scaling": scaling,
        "handshake_rtt": rtt, "windows": sides, **transfers,
    }
    if rtt:
        details["unscaled_cap"] = round(MAX_UNSCALED_WINDOW / rtt, 1)
    frames = syn_frames(ev, rows)
    for k in limited:
        frames += flows[k]["hit_frames"]      # type: ignore[index]

    # What the finding says: why the windows are small, then what that cost.
    if one_side:
        offered = "client" if ws["client"] is not None else "server"
        other = "server" if offered == "client" else "client"
        cause = (f"Window scaling offered by {names[offered]} but not by {names[other]}, so it is off for "
                 f"the connection: windows stay at most 65,535 bytes")
        why = (f"Window scaling (RFC 7323) is used only when both SYNs carry the option. {names[offered]} "
               f"offered it (shift {ws[offered]}), {names[other]} did not, so neither side may advertise a "
               "window above 65,535 bytes. A sender may have at most one window of unacknowledged data in "
               "flight, so the connection cannot move more than 65,535 bytes per round trip"
               + (f": {rate_text(MAX_UNSCALED_WINDOW / rtt)} at the {ms_text(rtt)} handshake RTT measured here, "
                  "whatever the bandwidth." if rtt else ", whatever the bandwidth."))
        do = (f"Enable window scaling on {names[other]} (Linux: sysctl net.ipv4.tcp_window_scaling=1; Windows: "
              "netsh int tcp set global autotuninglevel=normal), and check that no firewall or proxy on the "
              "path strips the option from its SYNs.")
    elif not scaling:
        cause = "Neither side offered window scaling: windows stay at most 65,535 bytes"
        why = ("Neither SYN carried the window scale option (RFC 7323), so no window can exceed 65,535 bytes "
               "(a side that leaves it out of its SYN disables it for both: the SYN-ACK may carry it only in "
               "answer to a SYN that did). A sender may have at most one window of data in flight per round "
               "trip" + (f", so at the {ms_text(rtt)} handshake RTT no transfer can exceed "
                         f"{rate_text(MAX_UNSCALED_WINDOW / rtt)}." if rtt else "."))
        do = ("Enable window scaling on both hosts (Linux: sysctl net.ipv4.tcp_window_scaling=1; Windows: "
              "netsh int tcp set global autotuninglevel=normal), starting with the client that opens the "
              "connections, and check that no middle box strips the option from SYNs.")
    else:
        k = limited[0]
        s = sides[k]
        if s["largest_window"] is not None and s["largest_window"] >= 0.9 * s["potential_window"]:
            cause = (f"{names[k]} offered a window scale shift of {ws[k]}: its window cannot exceed "
                     f"{s['potential_window']:,} bytes")
            why = (f"Window scaling is on, but the shift {names[k]} offered lets its window reach only "
                   f"{s['potential_window']:,} bytes, and it advertised {s['largest_window']:,}: the scale, "
                   "not the buffer, is the limit. A sender may have at most one window of data in flight per "
                   "round trip.")
            do = (f"Let {names[k]} offer a larger window scale (its receive buffer maximum decides the shift: "
                  "Linux net.ipv4.tcp_rmem, the application's SO_RCVBUF set before connecting).")
        else:
            cause = (f"{names[k]}'s receive window (largest {s['largest_window']:,} bytes, its scale allows "
                     f"{s['potential_window']:,}) is too small for the path")
            why = (f"Window scaling is on and would let {names[k]} advertise up to {s['potential_window']:,} "
                   f"bytes, but it advertised at most {s['largest_window']:,}: its receive buffer is the limit. "
                   "A sender may have at most one window of data in flight per round trip.")
            do = (f"Raise {names[k]}'s receive buffer to at least the bandwidth-delay product you want "
                  "(target rate x RTT): Linux net.ipv4.tcp_rmem (maximum) or the application's SO_RCVBUF.")
    cost = []
    for k in limited:
        f = flows[k]
        assert f is not None
        other = "server" if k == "client" else "client"
        if "throughput" in f:
            cost.append(f"{names[other]} sent {f['bytes']:,} bytes to {names[k]} at {rate_text(f['throughput'])}, "
                        f"keeping {f['bdp_bytes']:,} bytes in flight per round trip (throughput x {ms_text(rtt)} "
                        f"RTT) against a largest window of {f['largest_window']:,}")
        if f["window_full_segments"]:
            cost.append(f"{f['window_full_segments']} of its segments filled {names[k]}'s window")
    summary = cause
    if limited:
        f0 = flows[limited[0]]
        assert f0 is not None
        summary += f"; the transfer to {names[limited[0]]} was window-limited" + (
            f" at {rate_text(f0['throughput'])}" if "throughput" in f0 else "")
    elif one_side:
        summary += " (no transfer here was held back by it)"
    if cost:
        why += " Here the window was the bottleneck: " + "; ".join(cost) + (
            ". To go faster the window must exceed target rate x RTT.")
    details["limited"] = [f"to_{k}" for k in limited]
    return [Finding("tcp.window_scaling", "Session Errors", "warning" if limited else "info",
                    summary, why, do, frames, [r["sid"]], details)]


RULE = Rule("tcp.window_scaling", "Session Errors", "TCP window scaling off or window too small for the path", (
    Param("min_bytes", 262144, "judge a direction of a connection only when it carried at least this many new "
                               "bytes (four unscaled windows)"),
    Param("min_rtts", 4, "... and took at least this many handshake round trips"),
    Param("min_window_use", 0.75, "window-limited when throughput x RTT reaches this share of the largest window "
                                  "the receiver advertised"),
    Param("min_window_full", 10, "without a handshake RTT: window-limited when at least this many segments "
                                 "filled the receiver's window"),
    Param("full_window_share", 0.9, "a segment counts as filling the window only while the window is at least "
                                    "this share of the largest the receiver advertised (not shrunk by a slow "
                                    "reader)"),
), window_scaling)
