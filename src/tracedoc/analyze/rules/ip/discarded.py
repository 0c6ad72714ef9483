"""``ip.discarded``: packets z/OS Communications Server discarded, from the
discard reason code of their CTRACE packet-trace (SYSTCPDA) or OSAENTA
(SYSTCPOT) records: one finding per code, with IBM's name and meaning, the
count, and the flows the discarded packets belonged to."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule
from tracedoc.analyze.rules.ip._common import flow, ints
from tracedoc.decode import zos_discard

MALFORMED = range(4098, 4104)
"""IP_MAL_VER .. IP_BAD_IPLEN: the packet itself was damaged."""

ACTIONS = {
    4114: "Find the host that sends these packets (the sources in the details): an IP destination that is "
          "not a broadcast address inside a broadcast MAC frame usually comes from a wrong subnet mask or "
          "broadcast address on one side, or an invalid locally administered MAC address. On a big "
          "switched LAN, keep broadcasts in smaller VLANs.",
    4167: "These packets were for addresses this stack does not own and it does not forward them: find out "
          "why they reach it (an OSA passing unregistered addresses to its PRIROUTER stack, a route pointing "
          "here) and fix the routing, or enable forwarding if the stack is meant to route.",
}


def _action(d: zos_discard.Discard) -> str:
    if d.code in ACTIONS:
        return ACTIONS[d.code]
    if d.code in MALFORMED:
        return ("The packets arrived damaged: capture nearer their source to find the device or sender that "
                "corrupts them.")
    return (f"Look up discard code {d.code} in IBM's z/OS Communications Server: IP and SNA Codes "
            f"(\"TCP/IP Discard reason codes\") and check the {d.category} configuration for these flows.")


def discarded(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    code, has = ints(ev, "ctrace.discard")
    rows_by_code: dict[int, list[int]] = defaultdict(list)
    for row in np.flatnonzero(has & (code != 0)).tolist():
        rows_by_code[int(code[row])].append(row)
    direction = ev.values("ctrace.direction")
    link = ev.values("ctrace.link")
    out = []
    for c, rows in sorted(rows_by_code.items()):
        d = zos_discard.lookup(c)
        name = ev.values("ctrace.discard_name")[rows[0]] or d.name
        flows: Counter[tuple] = Counter()
        for r in rows:
            f = flow(ev, r)
            flows[(f["src"], f["dst"], f["proto"], f["sport"], f["dport"], direction[r])] += 1
        shown = int(p["max_flows"])
        frames = ev.frames[rows].tolist()
        top = flows.most_common()
        src, dst = top[0][0][0], top[0][0][1]
        where = f" (most from {src} to {dst})" if len(flows) > 1 else f" from {src} to {dst}"
        out.append(Finding(
            "ip.discarded", "Traffic Errors", "error",
            f"z/OS discarded {len(rows)} packet(s) with reason {c} ({name}){where}",
            f"The z/OS TCP/IP stack traced these packets as discarded, with reason code {c} ({name}, "
            f"{d.category}): {d.meaning}" if c in zos_discard.CODES else
            f"The z/OS TCP/IP stack traced these packets as discarded, with reason code {c} ({d.category}); "
            "tracedoc's table of IBM's codes does not hold its name and meaning.",
            _action(d),
            frames, ev.sessions_of(frames),
            {"code": c, "name": name, "category": d.category, "meaning": d.meaning, "count": len(rows),
             "directions": dict(Counter(direction[r] or "?" for r in rows)),
             "links": dict(Counter(link[r] or "?" for r in rows)),
             "flows": [{"src": k[0], "dst": k[1], "proto": k[2], "sport": k[3], "dport": k[4], "direction": k[5],
                        "count": n} for k, n in top[:shown]],
             "flow_count": len(flows)},
            key=f"ip.discarded:{c}"))
    return out


RULE = Rule("ip.discarded", "Traffic Errors", "Packets discarded by z/OS (CTRACE discard reason code)",
         (Param("max_flows", 20, "list at most this many flows (the busiest) in a finding's details"),),
         discarded)
