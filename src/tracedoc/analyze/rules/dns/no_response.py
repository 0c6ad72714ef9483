"""``dns.no_response``: DNS lookups never answered, or answered only after
the client retried, per name and server.

A *lookup* is a client's query for one name and type to one server and the
copies it sent again because no answer came: the next query for the same
name and type, from the same client to the same server, sent within
``retry_window_s`` of the previous copy while that one was still unanswered
(dig and Windows change the source port on a retry, glibc keeps it and
Wireshark then counts a retransmission; both are retries here).  A query
repeating the ID of one that *was* answered (in the capture) is a retry too:
a new lookup takes a new random ID, so the client never got that answer (it
was lost after the capture point: a router dropped a large answer, or an
ICMP error answered it).

- A lookup never answered is an error (the server is down or unreachable,
  or the answers are lost on the way back).  Only judged when the client
  gave up on a copy (it sent another) or the capture went on for
  ``min_wait_s`` after the last copy: a query at the very end of a capture
  may have had its answer after the capture stopped.
- A lookup answered only after ``min_retries`` retries or more is a warning:
  it worked, but each retry cost the client its whole timeout (1 to 5 s).

A name with a lookup never answered is reported as an error (the retried
lookups of the name counted in the same finding), else as a warning.
Details: ``name``, ``server``, ``clients`` (addresses), ``client_ports``
(their source ports: an ICMP error quoting a query or an answer names one),
``types``, ``queries`` (copies sent, retries included), ``retries``,
``unanswered`` (lookups never answered), ``retried`` (lookups answered only
after retries), ``answered_after_s`` (the longest time from a retried
lookup's first query to its answer, else null), ``lookups``.  mDNS and LLMNR
(multicast) are not judged: no answer is their normal "nobody has that
name".

A client that reuses one ID for every query (rare: RFC 5452 wants random
IDs) and asks the same name again within ``retry_window_s`` of an answer
looks like a retry.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from tracedoc.analyze.columns import values
from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule
from tracedoc.analyze.rules.dns._common import (
    Query,
    clients_text,
    finding,
    plural,
    queries,
    seconds,
    types_text,
)


@dataclass
class Lookup:
    copies: list[Query] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return self.copies[-1].answered

    @property
    def sent(self) -> int:
        """Queries sent: every transaction and Wireshark's retransmissions in it."""
        return sum(1 + q.retries for q in self.copies)

    @property
    def late_ns(self) -> int:
        """From the first query to the answer."""
        return self.copies[-1].end - self.copies[0].start


def lookups(qs: list[Query], window_ns: int) -> list[Lookup]:
    chains: dict[tuple, list[Query]] = defaultdict(list)
    for q in qs:
        chains[(q.client, q.server, q.server_port, q.key, q.qtype)].append(q)
    out: list[Lookup] = []
    for chain in chains.values():
        cur: Lookup | None = None
        for q in chain:
            if cur is not None:
                last = cur.copies[-1]
                if last.answered:
                    again = (q.dns_id is not None and q.dns_id == last.dns_id and q.opcode == last.opcode
                             and q.start - last.end <= window_ns)
                else:
                    again = q.start - last.last_sent <= window_ns
                if again:
                    cur.copies.append(q)
                    continue
            cur = Lookup([q])
            out.append(cur)
    return out


def no_response(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    qs = queries(ev)
    if not qs:
        return []
    times, has = values(ev.tbl, "frame.time_epoch")
    trace_end = int(times[has].max()) if has.any() else 0
    window = int(p["retry_window_s"] * 1e9)
    wait = int(p["min_wait_s"] * 1e9)
    groups: dict[tuple[str, str], tuple[list[Lookup], list[Lookup]]] = defaultdict(lambda: ([], []))
    for lk in lookups(qs, window):
        first = lk.copies[0]
        lost, late = groups[(first.key, first.server)]
        if not lk.answered:
            if lk.sent >= 2 or trace_end - lk.copies[-1].last_sent >= wait:
                lost.append(lk)
        elif lk.sent - 1 >= max(p["min_retries"], 1):
            late.append(lk)
    out = []
    for (_, server), (lost, late) in groups.items():
        lost_queries = sum(lk.sent for lk in lost)
        if lost_queries < p["min_queries"]:
            lost = []
        if not lost and not late:
            continue
        every = [q for lk in lost + late for q in lk.copies]
        name = every[0].name or "(no name)"
        who = clients_text(sorted({q.client for q in every}))
        kinds = types_text(every)
        sent = sum(lk.sent for lk in lost + late)
        retries = sent - len(lost) - len(late)
        after = max((lk.late_ns for lk in late), default=None)
        details = {"client_ports": sorted({q.client_port for q in every if q.client_port is not None}),
                   "queries": sent, "retries": retries, "unanswered": len(lost), "retried": len(late),
                   "answered_after_s": seconds(after) if after is not None else None,
                   "lookups": len(lost) + len(late)}
        lost_copies = [q for lk in lost for q in lk.copies]
        port = every[0].server_port or 53
        if lost:
            extra = (f"; {plural(len(late), 'other lookup', 'other lookups')} answered only after retries"
                     if late else "")
            out.append(_finding(
                ev, "error",
                f"DNS server {server} never answered {plural(lost_queries, 'query', 'queries')}"
                f"{' for ' + kinds if kinds else ''} {name} from {who}{extra}",
                "The queries (and the client's retries) got no answer in the trace: the server is down or "
                "unreachable (a routing loop, a firewall, nothing listening on port 53), or its answers are "
                "lost on the way back (a firewall, an answer too big for the path).",
                f"Check that {server} answers on port {port} from {who}, the route between them, and any ICMP "
                "errors the queries drew.",
                name, server, every, lost_copies, late, details))
        else:
            most = max(lk.sent - 1 for lk in late)
            out.append(_finding(
                ev, "warning",
                f"DNS server {server} answered {kinds + ' ' if kinds else ''}{name} only after "
                f"{plural(most, 'retry', 'retries')}, {seconds(after or 0):.1f} s late ({who})",
                "The client asked again because no answer reached it in time: a query or its answer was lost "
                "(a firewall, an answer too big for the path dropped by a router, a congested link) or the "
                "server was slow. Each retry cost the client its whole timeout.",
                f"Look for what dropped the first queries or answers between {who} and {server} (ICMP errors, "
                "answers the client never acknowledged by asking again), and the server's load.",
                name, server, every, lost_copies, late, details))
    return out


def _finding(ev: Evidence, severity: str, summary: str, explanation: str, action: str, name: str, server: str,
             every: list[Query], lost: list[Query], late: list[Lookup], details: dict) -> Finding:
    f = finding(ev, "dns.no_response", severity, summary, explanation, action, name, server, every, **details)
    # Evidence: every copy of the queries never answered; the retried lookups' queries and answers (the
    # answers the client never got as well as the one it finally did).
    frames = [fr for q in lost for fr in q.query_frames] + [fr for lk in late for q in lk.copies for fr in q.frames]
    f.frames = sorted(set(frames))
    f.sessions = ev.sessions_of(f.frames)
    return f


RULE = Rule("dns.no_response", "Application Errors", "DNS query never answered or retried", (
    Param("min_queries", 1, "report a name never answered when at least this many queries for it (retries "
                            "included) went unanswered"),
    Param("min_retries", 1, "report a name answered only after the client retried when a lookup of it needed "
                            "at least this many retries"),
    Param("retry_window_s", 10, "a query for the same name and type from the same client to the same server "
                                "within this many seconds of an unanswered one is a retry of it (resolvers "
                                "time out after 1 to 5 s)"),
    Param("min_wait_s", 1, "an unanswered query nobody retried is judged only if the capture goes on this many "
                           "seconds after it (its answer may have come after the capture stopped)"),
), no_response)
