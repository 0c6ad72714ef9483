"""``ip.broadcast_storm``: broadcast (and multicast) frames arriving faster
than a link's hosts should have to take them.

Every host of a link receives each broadcast and has to look at it; a
multicast its card does not filter, too.  Frames that carry IPv4, IPv6 or
ARP count (not a radio capture's beacons).  A storm is at least
``max(pps x window_s, min_packets)`` such frames within ``window_s``
seconds; a finding covers a stretch of such windows that overlap, less the
frames at its edges (or in its lulls) where the rate over a tenth of the
window falls below half the storm's (the ordinary broadcasts a window may
catch around a storm), and names the sources that sent most of them.  When
most frames of a storm are copies of the same frames (same datagram, same
TTL) the frames are circling a switching loop; different datagrams point
at a sender flooding the link.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from tracedoc.analyze.columns import valid, values
from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule, describe
from tracedoc.analyze.rules.ip._common import (
    datagram_hash,
    flow,
    link_casts,
    mac_text,
    mix,
)

SAME_FRAME = ("eth.src", "eth.dst", "frame.len", "ip.ttl", "ipv6.hlim", "arp.opcode", "arp.src.hw_mac",
              "arp.src.proto_ipv4", "arp.dst.proto_ipv4")
"""With the datagram's identity, what makes two frames copies of one another."""


def frame_hash(ev: Evidence) -> np.ndarray:
    h = datagram_hash(ev)
    with np.errstate(over="ignore"):
        for name in SAME_FRAME:
            v, has = values(ev.tbl, name, np.int64)
            h = mix(h ^ v.astype(np.uint64) ^ (has.astype(np.uint64) << np.uint64(63)))
    return h


def storms(t: np.ndarray, window_ns: int, need: int) -> list[tuple[np.ndarray, int]]:
    """Stretches of positions of sorted times ``t`` covered by a window of ``window_ns`` that holds at
    least ``need`` times: (positions, most times in one window) each."""
    n = len(t)
    if n < need or need <= 0:
        return []
    ends = np.searchsorted(t, t + window_ns, side="right")
    counts = ends - np.arange(n)
    hot = np.flatnonzero(counts >= need)
    if not len(hot):
        return []
    cover = np.zeros(n + 1, dtype=np.int64)
    np.add.at(cover, hot, 1)
    np.add.at(cover, ends[hot], -1)
    covered = np.cumsum(cover[:n]) > 0
    edges = np.diff(np.concatenate([[0], covered.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(np.arange(a, b), int(counts[a:b].max())) for a, b in zip(starts, stops)]


def broadcast_storm(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    bcast, mcast = link_casts(ev)
    # Frames carrying IP or ARP: not 802.11 beacons and other link-layer chatter a radio capture is full of.
    carried = valid(ev.tbl, "ip.version") | valid(ev.tbl, "ipv6.version") | valid(ev.tbl, "arp.opcode")
    chosen = (bcast | mcast if p["multicast"] else bcast) & carried
    rows = np.flatnonzero(chosen)
    need = int(max(p["pps"] * p["window_s"], p["min_packets"]))
    if len(rows) < need:
        return []
    t, _ = values(ev.tbl, "frame.time_epoch", np.int64)
    rows = rows[np.argsort(t[rows], kind="stable")]
    src, dst = ev.addresses
    mac, has_mac = values(ev.tbl, "eth.src", np.int64)
    digest = None
    out = []
    window_ns = int(p["window_s"] * 1e9)
    for pos, peak in storms(t[rows], window_ns, need):
        # A window holding the storm may hold a few ordinary broadcasts before or after it: keep the
        # frames sent where the rate, over a tenth of the window, is at least half the storm's.
        dense = storms(t[rows[pos]], max(1, window_ns // 10), max(2, need // 20))
        if dense:
            pos = pos[np.concatenate([d for d, _ in dense])]
        rs = np.sort(rows[pos])
        if digest is None:
            digest = frame_hash(ev)
        senders: Counter[tuple] = Counter()
        kinds: Counter[tuple] = Counter()
        for r in rs.tolist():
            senders[(src[r], mac_text(int(mac[r])) if has_mac[r] else None)] += 1
        for r in rs[:: max(1, len(rs) // 2000)].tolist():        # what they are: a sample is enough
            f = flow(ev, r)
            kinds[(dst[r], f["proto"], f["dport"])] += 1
        copies = len(rs) - len(np.unique(digest[rs]))
        sampled = max(1, sum(kinds.values()))
        n_b, n_m = int(bcast[rs].sum()), int(mcast[rs].sum())
        span = (t[rs].max() - t[rs].min()) / 1e9
        top = [{"source": s or m, "mac": m, "packets": c} for (s, m), c in senders.most_common(5)]
        (s0, m0), c0 = senders.most_common(1)[0]
        what = "broadcast" if n_m == 0 else "multicast" if n_b == 0 else "broadcast/multicast"
        looped = copies > len(rs) // 2
        frames = ev.frames[rs].tolist()
        out.append(Finding(
            "ip.broadcast_storm", "Traffic Errors", "error",
            f"{what.capitalize()} storm: {len(rs)} {what} frames in {span:.2f} s (up to {peak} within "
            f"{describe(p['window_s'])} s), {c0} of them from {s0 or m0}",
            f"Every host on the link has to receive and look at each {what} frame; at "
            f"{peak / p['window_s']:.0f} a second they load the hosts and fill the links. "
            + (f"{copies} of the {len(rs)} frames are copies of earlier ones: frames circling a switching loop "
               "(two switch ports joined without spanning tree), or a sender repeating the same frame." if looped
               else
               f"They are mostly different frames: a sender ({s0 or m0} sent {c0}) is flooding the link - a "
               "misbehaving application or driver, a scan, or a protocol stuck in a retry loop."),
            (f"If the copies come from many sources, look for a loop between switch ports (spanning tree "
             f"disabled, a cable joining two ports); if from {s0 or m0} alone, stop what it repeats. Enable "
             "storm control on the switch ports." if looped else
             f"Find {s0 or m0} and stop what floods the link; enable broadcast storm control on the switch "
             "ports and keep broadcast domains (VLANs) small."),
            frames, [],
            {"packets": len(rs), "broadcast": n_b, "multicast": n_m, "peak_in_window": peak,
             "peak_pps": round(peak / p["window_s"], 1), "window_s": p["window_s"], "seconds": round(span, 6),
             "copies": copies, "top_sources": top,
             "top_destinations": [{"dst": d, "proto": pr, "dport": dp, "share": round(c / sampled, 3)}
                                  for (d, pr, dp), c in kinds.most_common(5)]},
            key=f"ip.broadcast_storm:{frames[0]}"))
    return out


RULE = Rule("ip.broadcast_storm", "Traffic Errors", "Broadcast storm",
         (Param("pps", 1000, "broadcast (and multicast) frames per second that make a storm"),
          Param("window_s", 1, "the window the rate is measured over, in seconds"),
          Param("min_packets", 100, "never call fewer frames than this within the window a storm"),
          Param("multicast", 1, "1: count multicast frames too; 0: broadcasts only (a link carrying multicast "
                "streams by design)")), broadcast_storm)
