"""``icmp.ttl_exceeded``: TTL / hop limit exceeded in transit, tied to the flow
("DNS queries to X are looping"): a routing loop or a path longer than the TTL."""

from __future__ import annotations

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.icmp._common import errors, group, ints


def ttl_exceeded(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    c4, _ = ints(ev, "icmp.code")
    _, h4 = ints(ev, "icmp.type")
    rows = [r for r in errors(ev, {11}, {3}) if not (h4[r] and c4[r] != 0)]   # code 1: reassembly timeout
    out = []
    for (_, reporter, src, dst, proto, dport), rs in group(ev, rows, lambda r: 0).items():
        frames = ev.frames[rs].tolist()
        what = "DNS queries" if dport == 53 else "packets"
        out.append(Finding(
            "icmp.ttl_exceeded", "Traffic Errors", "error",
            f"{what[0].upper()}{what[1:]} to {dst} are looping or the path is too long: {reporter} reported TTL "
            f"exceeded {len(rs)} time(s)",
            f"The {what} from {src} ran out of hops at {reporter}: a routing loop between routers, or a TTL "
            "set too low for the path (a traceroute does this on purpose).",
            f"Trace the route to {dst} and check the routing tables of {reporter} and its neighbours.",
            frames, ev.sessions_of(frames),
            {"reporter": reporter, "src": src, "dst": dst, "proto": proto, "dport": dport, "count": len(rs)},
            key=f"icmp.ttl_exceeded:{reporter}:{src}:{dst}:{proto}:{dport}"))
    return out


RULE = Rule("icmp.ttl_exceeded", "Traffic Errors", "ICMP TTL exceeded in transit", (), ttl_exceeded)
