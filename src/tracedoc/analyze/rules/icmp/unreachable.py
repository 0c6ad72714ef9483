"""``icmp.unreachable``: destination unreachable (host, port, protocol, network,
administratively prohibited), tied to the flow it quotes.  "Fragmentation needed"
is :mod:`.frag_needed`."""

from __future__ import annotations

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.icmp._common import errors, flow, flow_text, group, ints
from tracedoc.analyze.summary import ICMP_UNREACH, ICMPV6_UNREACH


def unreachable(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    c4, _ = ints(ev, "icmp.code")
    c6, _ = ints(ev, "icmpv6.code")
    t4, h4 = ints(ev, "icmp.type")
    rows = [r for r in errors(ev, {3}, {1}) if not (h4[r] and c4[r] == 4)]   # frag needed is its own rule

    def kind(r: int) -> str:
        return ICMP_UNREACH.get(int(c4[r]), f"code {c4[r]}") if h4[r] and t4[r] == 3 \
            else ICMPV6_UNREACH.get(int(c6[r]), f"code {c6[r]}")

    out = []
    for (what, reporter, src, dst, proto, dport), rs in group(ev, rows, kind).items():
        f = flow(ev, rs[0])
        frames = ev.frames[rs].tolist()
        admin = "prohibited" in what.lower() or "policy" in what.lower()
        out.append(Finding(
            "icmp.unreachable", "Traffic Errors", "error",
            f"{reporter} reported {what} for {flow_text(f)} ({len(rs)} time(s))",
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


RULE = Rule("icmp.unreachable", "Traffic Errors", "ICMP destination unreachable", (), unreachable)
