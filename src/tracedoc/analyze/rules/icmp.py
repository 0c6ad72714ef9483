"""ICMP errors, tied to the flow whose datagram they quote: destination
unreachable (host, port, protocol, administratively prohibited ...),
"fragmentation needed" / IPv6 Packet Too Big (a PMTU black hole when the flow
keeps retransmitting after it), and TTL / hop limit exceeded (a loop, or a
path longer than the TTL)."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from typing import Any

import numpy as np

from tracedoc.analyze.columns import valid, values
from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Rule
from tracedoc.analyze.summary import ICMP_UNREACH, ICMPV6_UNREACH


def _ints(ev: Evidence, name: str) -> tuple[np.ndarray, np.ndarray]:
    return values(ev.tbl, name, np.int64)


def _errors(ev: Evidence, v4: set[int], v6: set[int]) -> list[int]:
    """Rows of ICMP (type in ``v4``) or ICMPv6 (type in ``v6``) messages."""
    t4, h4 = _ints(ev, "icmp.type")
    t6, h6 = _ints(ev, "icmpv6.type")
    return np.flatnonzero((h4 & np.isin(t4, list(v4))) | (h6 & np.isin(t6, list(v6)))).tolist()


def _flow(ev: Evidence, row: int) -> dict[str, Any]:
    """The quoted datagram's flow and who reported the error."""
    src, dst = ev.addresses

    def addr(v4: str, v6: str) -> str | None:
        a4, a6 = ev.values(v4)[row], ev.values(v6)[row]
        if a4 is not None:
            return str(ipaddress.IPv4Address(a4))
        return str(ipaddress.IPv6Address(a6)) if a6 is not None else None

    proto = "tcp" if ev.values("inner.tcp.dstport")[row] is not None else \
        "udp" if ev.values("inner.udp.dstport")[row] is not None else None
    return {"reporter": src[row], "to": dst[row], "src": addr("inner.ip.src", "inner.ipv6.src"),
            "dst": addr("inner.ip.dst", "inner.ipv6.dst"), "proto": proto,
            "sport": ev.values(f"inner.{proto}.srcport")[row] if proto else None,
            "dport": ev.values(f"inner.{proto}.dstport")[row] if proto else None}


def _flow_text(f: dict[str, Any]) -> str:
    if f["dst"] is None:
        return "a datagram it did not quote"
    port = f":{f['dport']}" if f["dport"] is not None else ""
    return f"{(f['proto'] or 'IP').upper()} from {f['src']} to {f['dst']}{port}"


def _group(ev: Evidence, rows: list[int], kind) -> dict[tuple, list[int]]:  # type: ignore[no-untyped-def]
    groups: dict[tuple, list[int]] = defaultdict(list)
    for row in rows:
        f = _flow(ev, row)
        groups[(kind(row), f["reporter"], f["src"], f["dst"], f["proto"], f["dport"])].append(row)
    return groups


def unreachable(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    c4, _ = _ints(ev, "icmp.code")
    c6, _ = _ints(ev, "icmpv6.code")
    t4, h4 = _ints(ev, "icmp.type")
    rows = [r for r in _errors(ev, {3}, {1}) if not (h4[r] and c4[r] == 4)]   # frag needed is its own rule

    def kind(r: int) -> str:
        return ICMP_UNREACH.get(int(c4[r]), f"code {c4[r]}") if h4[r] and t4[r] == 3 \
            else ICMPV6_UNREACH.get(int(c6[r]), f"code {c6[r]}")

    out = []
    for (what, reporter, src, dst, proto, dport), rs in _group(ev, rows, kind).items():
        f = _flow(ev, rs[0])
        frames = ev.frames[rs].tolist()
        admin = "prohibited" in what.lower() or "policy" in what.lower()
        out.append(Finding(
            "icmp.unreachable", "Traffic Errors", "error",
            f"{reporter} reported {what} for {_flow_text(f)} ({len(rs)} time(s))",
            ("A firewall or router filtered the traffic and said so." if admin else
             "The destination could not be reached: " + {
                 "Port unreachable": "the host is up but nothing listens on that port.",
                 "Protocol unreachable": "the host does not speak that IP protocol.",
                 "Host unreachable": "the last router could not deliver to the host (down, or no ARP answer).",
                 "Network unreachable": "a router has no route to the destination network.",
             }.get(what, "a router or the host refused or could not deliver it.")),
            ("Check the firewall rule on " + reporter + "." if admin else
             f"Check that {dst} is up and serves {proto.upper() if proto else 'this'} port {dport}, "
             "and the routes towards it." if dport is not None else
             f"Check that {dst} is up and the routes towards it."),
            frames, ev.sessions_of(frames),
            {"reporter": reporter, "kind": what, "src": src, "dst": dst, "proto": proto, "dport": dport,
             "count": len(rs)},
            key=f"icmp.unreachable:{what}:{reporter}:{src}:{dst}:{proto}:{dport}"))
    return out


def frag_needed(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    c4, _ = _ints(ev, "icmp.code")
    t4, h4 = _ints(ev, "icmp.type")
    mtu4, _ = _ints(ev, "icmp.mtu")
    mtu6, _ = _ints(ev, "icmpv6.mtu")
    rows = [r for r in _errors(ev, {3}, {2}) if not (h4[r] and c4[r] != 4)]
    retrans = valid(ev.tbl, "tcp.analysis.retransmission") | valid(ev.tbl, "tcp.analysis.fast_retransmission")
    out = []
    for key, rs in _group(ev, rows, lambda r: int(mtu4[r] if h4[r] else mtu6[r])).items():
        mtu, reporter = key[0], key[1]
        f = _flow(ev, rs[0])
        frames = ev.frames[rs].tolist()
        sessions = ev.sessions_of(frames)
        # A black hole: the flow goes on retransmitting after it was told.
        after = [int(x) for s in sessions for x in ev.session_frames(s, retrans) if x > frames[0]]
        hole = bool(after)
        out.append(Finding(
            "icmp.frag_needed", "Traffic Errors", "error" if hole else "warning",
            f"{reporter}: packets of {_flow_text(f)} are too big for the next hop (MTU {mtu})"
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


def ttl_exceeded(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    c4, _ = _ints(ev, "icmp.code")
    _, h4 = _ints(ev, "icmp.type")
    rows = [r for r in _errors(ev, {11}, {3}) if not (h4[r] and c4[r] != 0)]   # code 1: reassembly timeout
    out = []
    for (_, reporter, src, dst, proto, dport), rs in _group(ev, rows, lambda r: 0).items():
        frames = ev.frames[rs].tolist()
        what = "DNS queries" if dport == 53 else "packets"
        out.append(Finding(
            "icmp.ttl_exceeded", "Traffic Errors", "error",
            f"{what.capitalize()} to {dst} are looping or the path is too long: {reporter} reported TTL "
            f"exceeded {len(rs)} time(s)",
            f"The {what} from {src} ran out of hops at {reporter}: a routing loop between routers, or a TTL "
            "set too low for the path (a traceroute does this on purpose).",
            f"Trace the route to {dst} and check the routing tables of {reporter} and its neighbours.",
            frames, ev.sessions_of(frames),
            {"reporter": reporter, "src": src, "dst": dst, "proto": proto, "dport": dport, "count": len(rs)},
            key=f"icmp.ttl_exceeded:{reporter}:{src}:{dst}:{proto}:{dport}"))
    return out


RULES = (
    Rule("icmp.unreachable", "Traffic Errors", "ICMP destination unreachable", (), unreachable),
    Rule("icmp.frag_needed", "Traffic Errors", "ICMP fragmentation needed / packet too big", (), frag_needed),
    Rule("icmp.ttl_exceeded", "Traffic Errors", "ICMP TTL exceeded in transit", (), ttl_exceeded),
)
