"""``icmp.frag_needed``: ICMP "fragmentation needed" and ICMPv6 Packet Too Big,
tied to the flow they quote; a PMTU black hole when that flow keeps
retransmitting datagrams still too big for the reported MTU after it was told.

A sender that heeds the message also retransmits (the segments the router
dropped), but in smaller datagrams: that is path MTU discovery working, a
warning.  Only retransmissions larger than the MTU make the black hole (the
message never reached the sender, or it ignores it)."""

from __future__ import annotations

import numpy as np

from tracedoc.analyze.columns import valid
from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule
from tracedoc.analyze.rules.icmp._common import errors, flow, flow_text, group, ints


def frag_needed(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    c4, _ = ints(ev, "icmp.code")
    t4, h4 = ints(ev, "icmp.type")
    mtu4, _ = ints(ev, "icmp.mtu")
    mtu6, _ = ints(ev, "icmpv6.mtu")
    rows = [r for r in errors(ev, {3}, {2}) if not (h4[r] and c4[r] != 4)]
    if not rows:
        return []
    retrans = valid(ev.tbl, "tcp.analysis.retransmission") | valid(ev.tbl, "tcp.analysis.fast_retransmission")
    ip_len, has_len = ints(ev, "ip.len")
    plen6, has_plen6 = ints(ev, "ipv6.plen")
    size = np.where(has_len, ip_len, np.where(has_plen6, plen6 + 40, 0))
    inner4, _ = ints(ev, "inner.ip.len")
    inner6, _ = ints(ev, "inner.ipv6.plen")
    src_of = ev.addresses[0]
    out = []
    for key, rs in group(ev, rows, lambda r: int(mtu4[r] if h4[r] else mtu6[r])).items():
        mtu, reporter = key[0], key[1]
        f = flow(ev, rs[0])
        frames = ev.frames[rs].tolist()
        sessions = ev.sessions_of(frames)
        # A black hole: the sender goes on retransmitting datagrams over the MTU after it was told
        # (an old router reports no MTU: then as big as the datagram it quoted).
        limit = mtu if mtu > 0 else max(int(inner4[rs[0]] if h4[rs[0]] else inner6[rs[0]] + 40) - 1, 0)
        too_big = retrans & (size > limit)
        after = sorted(int(ev.frames[r]) for s in sessions for r in np.flatnonzero(ev.sessions.packets(s) & too_big)
                       if ev.frames[r] > frames[0] and src_of[r] == f["src"])
        hole = len(after) >= p["black_hole_retransmissions"]
        out.append(Finding(
            "icmp.frag_needed", "Traffic Errors", "error" if hole else "warning",
            f"{reporter}: packets of {flow_text(f)} are too big for the next hop (MTU {mtu})"
            + (" - PMTU black hole: the sender keeps retransmitting" if hole else ""),
            f"A router on the path cannot forward datagrams over {mtu} bytes without fragmenting them, and "
            "they may not be fragmented (DF set / IPv6). The sender should lower its packet size; "
            + ("it did not: it keeps retransmitting the same large segments, so the connection stalls."
               if hole else "if ICMP is blocked on the way back, connections stall (a PMTU black hole)."),
            f"Let ICMP 'fragmentation needed' / 'packet too big' through to the sender, lower the MTU or "
            f"clamp the TCP MSS to {max(mtu - (40 if h4[rs[0]] else 60), 0)} on the path.",
            frames + after[:20], sessions,
            {"reporter": reporter, "mtu": mtu, "src": f["src"], "dst": f["dst"], "proto": f["proto"],
             "dport": f["dport"], "count": len(rs), "black_hole": hole, "retransmissions_after": len(after)},
            key=f"icmp.frag_needed:{reporter}:{f['src']}:{f['dst']}:{mtu}"))
    return out


RULE = Rule("icmp.frag_needed", "Traffic Errors", "ICMP fragmentation needed / packet too big",
            (Param("black_hole_retransmissions", 2, "retransmissions still over the reported MTU, after the "
                   "message, that make it a PMTU black hole"),), frag_needed)
