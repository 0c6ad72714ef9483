"""DNS answers that say something went wrong (name error, server failure,
refused) and queries nobody answered, judged from the DNS transactions
(query matched to response as Wireshark matches them)."""

from __future__ import annotations

from collections import defaultdict

import pyarrow.compute as pc

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule

_TEXT = {
    "Name Error": ("dns.name_error", "warning",
                   "The name does not exist: the server answered NXDOMAIN. A mistyped or stale name, a missing "
                   "record, or a search-domain suffix the client appended.",
                   "Check the name the client asked for and the zone on the authoritative server."),
    "Server Failure": ("dns.server_failure", "error",
                       "The server could not answer (SERVFAIL): its upstream servers did not respond, DNSSEC "
                       "validation failed, or the zone is broken on the authoritative side.",
                       "Check the resolver's forwarders and upstream reachability, and DNSSEC for the zone."),
    "Refused": ("dns.refused", "error",
                "The server refused to answer: it does not serve this client (recursion not allowed for its "
                "address) or this zone.",
                "Point the client at a resolver that serves it, or allow the client on this server."),
}


def _by_result(ev: Evidence, result: str) -> list[dict]:
    t = ev.transactions
    if t.num_rows == 0:
        return []
    rows = t.filter(pc.and_(pc.equal(t["type"], "dns"), pc.fill_null(pc.equal(t["result"], result), False)))
    return rows.to_pylist()


def _answers(rule_result: str):  # type: ignore[no-untyped-def]
    rule, severity, explanation, action = _TEXT[rule_result]

    def run(ev: Evidence, p: dict[str, float]) -> list[Finding]:
        groups: dict[tuple, list[dict]] = defaultdict(list)
        for r in _by_result(ev, rule_result):
            groups[(r["label"], r["server"])].append(r)
        out = []
        for (name, server), rows in groups.items():
            frames = [f for r in rows for f in (r["request_frame"], r["response_frame"]) if f is not None]
            clients = sorted({r["client"] for r in rows})
            out.append(Finding(
                rule, "Application Errors", severity,
                f"DNS {rule_result}: {server} answered {len(rows)} quer{'y' if len(rows) == 1 else 'ies'} "
                f"for {name or '(no name)'}",
                explanation, action, frames, ev.sessions_of(frames),
                {"name": name, "server": server, "clients": clients, "count": len(rows)},
                key=f"{rule}:{name}:{server}"))
        return out

    return run


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


RULES = (
    Rule("dns.name_error", "Application Errors", "DNS name error (NXDOMAIN)", (), _answers("Name Error")),
    Rule("dns.server_failure", "Application Errors", "DNS server failure (SERVFAIL)", (), _answers("Server Failure")),
    Rule("dns.refused", "Application Errors", "DNS query refused", (), _answers("Refused")),
    Rule("dns.no_response", "Application Errors", "DNS query never answered",
         (Param("min_queries", 1, "report a name when at least this many queries for it (retries included) "
                                  "went unanswered"),), no_response),
)
