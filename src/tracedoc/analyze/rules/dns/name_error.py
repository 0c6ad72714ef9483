"""``dns.name_error``: names the server says do not exist (NXDOMAIN).

Reported per name and server, every query type together (a name that does
not exist, exists for no type), severity warning.  Not reported, because
they are normal:

- the NXDOMAIN answers to search-list candidates of a lookup that went on to
  another answer (``www.example.com.corp.example`` failing before
  ``www.example.com`` is answered; see :mod:`._common`).  A lookup all of
  whose candidates failed is one finding, under its shortest name, the
  candidates listed in ``searched``;
- mDNS and LLMNR (multicast: not a server).

Two cases get their own wording:

- reverse lookups (``in-addr.arpa``, ``ip6.arpa``): most addresses have no
  PTR record, and scanners and loggers ask for many; one finding per server
  lists them (``names``), severity info;
- a name the same server answered for another type (A answered, AAAA
  NXDOMAIN): NXDOMAIN means no record of any type exists (RFC 8020), so the
  server or a proxy in front of it mishandles that type (RFC 4074), details
  ``exists_for`` (the types it answered).
"""

from __future__ import annotations

from collections import defaultdict

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.dns._common import (
    Query,
    clients_text,
    finding,
    plural,
    queries,
    types_text,
)

RESULT = "Name Error"


def name_error(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    every = queries(ev)
    answered_ok: dict[tuple[str, str], set[str]] = defaultdict(set)
    for q in every:
        if q.result == "No Error":
            answered_ok[(q.key, q.server)].add(q.qtype or "?")
    forward: dict[tuple[str, str], list[Query]] = defaultdict(list)
    reverse: dict[str, list[Query]] = defaultdict(list)
    for q in every:
        if q.result != RESULT or q.step:
            continue
        if q.reverse and q.base == q.name:
            reverse[q.server].append(q)
        else:
            forward[(q.base.lower(), q.server)].append(q)
    out = []
    for (key, server), qs in forward.items():
        name = qs[0].base or "(no name)"
        who = clients_text(sorted({q.client for q in qs}))
        asked = f"{plural(len(qs), 'query', 'queries')}"
        kinds = types_text(qs)
        exists = sorted(answered_ok.get((key, server), set()) - {q.qtype for q in qs})
        if exists:
            out.append(finding(
                ev, "dns.name_error", "warning",
                f"DNS name error: {server} answered NXDOMAIN for {kinds or 'a query of'} {name} although it "
                f"answered {'/'.join(exists)} for it ({asked} from {who})",
                "NXDOMAIN says the name has no record of any type (RFC 8020), yet the same server answered "
                f"{'/'.join(exists)} for it: the server, or a DNS proxy or load balancer in front of it, mishandles "
                f"{kinds or 'this'} queries (RFC 4074). Resolvers believe the NXDOMAIN and stop, so the name "
                "fails to resolve now and then.",
                "Fix or replace the server (or the proxy in front of it) so it answers NOERROR with no records "
                "for a type the name has none of.",
                name, server, qs, exists_for=exists))
            continue
        searched = sorted({s for q in qs for s in q.searched})
        also = f"; its search-list forms failed too ({', '.join(searched[:3])}" \
               f"{', ...' if len(searched) > 3 else ''})" if searched else ""
        out.append(finding(
            ev, "dns.name_error", "warning",
            f"DNS name error: {server} says {name} does not exist (NXDOMAIN to {asked}"
            f"{' for ' + kinds if kinds else ''} from {who}){also}",
            "The server answered NXDOMAIN: the name does not exist. A mistyped or stale name, a record "
            "missing from the zone, or a name that exists only under another domain"
            + (" (the client's resolver tried it with its search domains too, and none exists)." if searched
               else "."),
            f"Check the name {who} asked for (and where the application got it), and the zone on the "
            "authoritative server.",
            name, server, qs))
    for server, qs in reverse.items():
        names = sorted({q.name for q in qs})
        who = clients_text(sorted({q.client for q in qs}))
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        out.append(finding(
            ev, "dns.name_error", "info",
            f"DNS name error: {server} has no reverse (PTR) record for {plural(len(names), 'address', 'addresses')} "
            f"({shown}) asked by {who}",
            "No reverse record exists for these addresses. Common and usually harmless (client and private "
            "addresses seldom have one); it matters where a service checks the client's reverse name (mail "
            "servers, SSH with UseDNS) or waits for it (logging).",
            "Add PTR records for the addresses if a service needs them, or turn off the reverse lookups of "
            "the application making them.",
            names[0], server, qs, key=f"dns.name_error:reverse:{server}", names=names))
    return out


RULE = Rule("dns.name_error", "Application Errors", "DNS name error (NXDOMAIN)", (), name_error)
