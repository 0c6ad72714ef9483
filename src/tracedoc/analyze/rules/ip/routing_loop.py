"""``ip.routing_loop``: the same datagram seen again and again with its TTL
(hop limit) counting down: routers are passing it around a loop until the
TTL runs out.

"The same datagram" is the same IP identity (source, destination, protocol,
IP id, length, fragment offset; IPv6: flow label, payload length, fragment
id) and the same transport header (ports, TCP sequence and acknowledgement
numbers and flags, UDP length, ICMP type, code, identifier and sequence)
with the same transport checksum, which covers the payload but not the TTL.
The IP header checksum and the TTL are what a router changes, so they are
left out.  A datagram forwarded by one router past a capture point that
sees both of its links ("any" on a router) shows up twice, with TTL t and
t-1; a loop shows it many times.  So a datagram counts as looping only when
it is seen ``min_sightings`` times with a strictly decreasing TTL (copies
with the same TTL, as a mirror port may give, are kept as evidence but not
counted), and comes back to a capture interface it passed before: a capture
merged from several points along a path sees a datagram once at each, its
TTL one lower at each hop, and that is no loop."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from tracedoc.analyze.columns import values
from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule
from tracedoc.analyze.rules.ip._common import datagram_hash, flow, flow_text, link_casts


def loop_runs(key: np.ndarray, ttl: np.ndarray, min_sightings: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows (ascending) that belong to a looping datagram, and a run id for each.

    Rows are taken in order within each ``key``; a run goes on while the TTL
    falls or stays (a copy); it breaks when the TTL rises (the datagram sent
    anew) or the key changes.  A run with at least ``min_sightings`` distinct
    TTLs is a loop."""
    if len(key) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.arange(len(key)), key))
    k, t = key[order], ttl[order]
    step = np.zeros(len(order), dtype=np.int64)
    step[1:] = t[1:] - t[:-1]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (k[1:] != k[:-1]) | (step[1:] > 0)
    run = np.cumsum(new) - 1
    falls = np.bincount(run, weights=(~new & (step < 0)).astype(np.int64))
    looping = (falls + 1 >= min_sightings)[run]
    rows, runs = order[looping], run[looping]
    back = np.argsort(rows, kind="stable")
    return rows[back], runs[back]


def routing_loop(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    ttl4, has4 = values(ev.tbl, "ip.ttl", np.int64)
    ttl6, has6 = values(ev.tbl, "ipv6.hlim", np.int64)
    ip_rows = np.flatnonzero(has4 | has6)
    if len(ip_rows) < p["min_sightings"]:
        return []
    ttl = np.where(has4, ttl4, ttl6)
    digest = datagram_hash(ev)
    h = digest[ip_rows]
    # Only datagrams seen often enough can loop: find them by their digest first.
    _, inv, counts = np.unique(h, return_inverse=True, return_counts=True)
    cand = ip_rows[counts[inv.reshape(-1)] >= p["min_sightings"]]
    rows, runs = loop_runs(digest[cand], ttl[cand], int(p["min_sightings"]))
    rows = cand[rows]
    if not len(rows):
        return []
    iface = ev.values("frame.interface_id")
    per_run: dict[int, list[int]] = defaultdict(list)
    for row, run in zip(rows.tolist(), runs.tolist()):
        per_run[run].append(row)
    bcast, mcast = link_casts(ev)
    by_flow: dict[tuple, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for run, rs in per_run.items():
        passes = Counter((iface[r], int(ttl[r])) for r in rs)
        if max(Counter(i for i, _ in passes).values()) < 2:
            continue                    # never back where it was seen: a path captured at several points
        f = flow(ev, rs[0])
        by_flow[(f["src"], f["dst"], f["proto"], f["dport"])][run] = rs
    out = []
    for (src, dst, proto, dport), dgrams in by_flow.items():
        all_rows = sorted(r for rs in dgrams.values() for r in rs)
        f = flow(ev, all_rows[0])
        first = [ttl[rs[0]] for rs in dgrams.values()]
        last = [ttl[rs[-1]] for rs in dgrams.values()]
        sightings = [len(np.unique(ttl[rs])) for rs in dgrams.values()]
        steps = np.concatenate([-np.diff(np.unique(ttl[rs])[::-1]) for rs in dgrams.values()])
        step = int(np.median(steps)) if len(steps) else 0
        cast = "broadcast" if bcast[all_rows].any() else "multicast" if mcast[all_rows].any() else None
        t = ev.values("frame.time_epoch")
        span = (t[all_rows[-1]] - t[all_rows[0]]) / 1e9 if t[all_rows[0]] is not None else None
        frames = ev.frames[all_rows].tolist()
        what = f"a {cast} " if cast else ""
        n = len(dgrams)
        out.append(Finding(
            "ip.routing_loop", "Traffic Errors", "error",
            f"Routing loop: {what}{flow_text(f)} is looping - "
            + (f"the same datagram seen {sightings[0]} times" if n == 1 else
               f"{n} datagrams each seen up to {max(sightings)} times")
            + f", TTL {int(max(first))} down to {int(min(last))}",
            f"The same datagram (same IP id, addresses, protocol, ports and payload checksum) passed this "
            f"capture point again and again, its TTL falling by {step} each time: routers are handing it back "
            "and forth until the TTL runs out, so it never arrives, and every pass takes bandwidth on the "
            "looping links."
            + (" A broadcast that loops is a directed broadcast that routers forward to each other."
               if cast == "broadcast" else ""),
            f"Trace the route to {dst} and check the routing tables of the routers on this link: their routes "
            f"for {dst}'s network point at each other. "
            + ("Stop the routers forwarding directed broadcasts (e.g. 'no ip directed-broadcast')."
               if cast == "broadcast" else "A missing or wrong route (often a default route) on one of them "
               "sends the traffic back."),
            frames, ev.sessions_of(frames),
            {"src": src, "dst": dst, "proto": proto, "sport": f["sport"], "dport": dport, "cast": cast,
             "datagrams": n, "sightings": int(sum(sightings)), "max_sightings": int(max(sightings)),
             "ttl_first": int(max(first)), "ttl_last": int(min(last)), "ttl_step": step,
             "ip_id": ev.values("ip.id")[all_rows[0]],
             "seconds": round(span, 6) if span is not None else None},
            key=f"ip.routing_loop:{src}:{dst}:{proto}:{dport}"))
    return out


RULE = Rule("ip.routing_loop", "Traffic Errors", "Routing loop (same datagram seen again with TTL decreasing)",
         (Param("min_sightings", 4, "a datagram loops when seen at least this many times, each with a lower "
                "TTL (a datagram one router forwards past a capture on both its links shows twice; one routed "
                "between VLANs of a mirrored trunk, three times)"),), routing_loop)
