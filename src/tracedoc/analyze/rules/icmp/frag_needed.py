"""``icmp.frag_needed``: ICMP "fragmentation needed" and ICMPv6 Packet Too Big,
tied to the flow they quote; a PMTU black hole when that flow keeps
retransmitting after it was told."""

from __future__ import annotations

from tracedoc.analyze.columns import valid
from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.icmp._common import errors, flow, flow_text, group, ints


def frag_needed(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    c4, _ = ints(ev, "icmp.code")
    t4, h4 = ints(ev, "icmp.type")
    mtu4, _ = ints(ev, "icmp.mtu")
    mtu6, _ = ints(ev, "icmpv6.mtu")
    rows = [r for r in errors(ev, {3}, {2}) if not (h4[r] and c4[r] != 4)]
    retrans = valid(ev.tbl, "tcp.analysis.retransmission") | valid(ev.tbl, "tcp.analysis.fast_retransmission")
    out = []
    for key, rs in group(ev, rows, lambda r: int(mtu4[r] if h4[r] else mtu6[r])).items():
        mtu, reporter = key[0], key[1]
        f = flow(ev, rs[0])
        frames = ev.frames[rs].tolist()
        sessions = ev.sessions_of(frames)
        # A black hole: the flow goes on retransmitting after it was told.
        after = [int(x) for s in sessions for x in ev.session_frames(s, retrans) if x > frames[0]]
        hole = bool(after)
        out.append(Finding(
            "icmp.frag_needed", "Traffic Errors", "error" if hole else "warning",
            f"{reporter}: packets of {flow_text(f)} are too big for the next hop (MTU {mtu})"
            + (" - PMTU black hole: the sender keeps retransmitting" if hole else ""),
            f"A router on the path cannot forward datagrams over {mtu} bytes without fragmenting them, and "
            "they may not be fragmented (DF set / IPv6). The sender should lower its packet size; "
            + ("it did not: it keeps retransmitting the same large segments, so the connection stalls."
               if hole else "if ICMP is blocked on the way back, connections stall (a PMTU black hole)."),
            f"Let ICMP 'fragmentation needed' / 'packet too big' through to the sender, lower the MTU or "
            f"clamp the TCP MSS to {max(mtu - 40, 0)} on the path.",
            frames + after[:20], sessions,
            {"reporter": reporter, "mtu": mtu, "src": f["src"], "dst": f["dst"], "proto": f["proto"],
             "dport": f["dport"], "count": len(rs), "black_hole": hole, "retransmissions_after": len(after)},
            key=f"icmp.frag_needed:{reporter}:{f['src']}:{f['dst']}:{mtu}"))
    return out


RULE = Rule("icmp.frag_needed", "Traffic Errors", "ICMP fragmentation needed / packet too big", (), frag_needed)
