"""``dns.no_response``: queries (and their retries) nobody answered, per name
and server."""

from __future__ import annotations

from collections import defaultdict

import pyarrow.compute as pc

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule


def no_response(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    t = ev.transactions
    if t.num_rows == 0:
        return []
    rows = t.filter(pc.and_(pc.equal(t["type"], "dns"), pc.is_null(t["response_frame"]))).to_pylist()
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["label"], r["server"])].append(r)
    out = []
    for (name, server), rs in groups.items():
        retries = sum(int(r["retries"] or 0) for r in rs)
        if len(rs) + retries < p["min_queries"]:
            continue
        out.append(Finding(
            "dns.no_response", "Application Errors", "error",
            f"DNS server {server} never answered {len(rs) + retries} quer{'y' if len(rs) + retries == 1 else 'ies'} "
            f"for {name or '(no name)'}",
            "The queries (and their retries) got no response in the trace: the server is down or "
            "unreachable, or the answers are lost on the way back (a firewall, an MTU problem).",
            f"Check that {server} is reachable on port 53 from the client, and any ICMP errors the queries "
            "drew.",
            [r["request_frame"] for r in rs], ev.sessions_of([r["request_frame"] for r in rs]), {"name": name, "server": server, "queries": len(rs),
                                                   "retries": retries},
            key=f"dns.no_response:{name}:{server}"))
    return out


RULE = Rule("dns.no_response", "Application Errors", "DNS query never answered",
            (Param("min_queries", 1, "report a name when at least this many queries for it (retries included) "
                                     "went unanswered"),), no_response)
