"""``dns.server_failure``: queries the server could not answer (SERVFAIL).

Reported per name and server, every query type together, severity error.  A
SERVFAIL is reported even for a search-list candidate (the walk went on, but
the server is broken for that name: it may be the one that mattered).
"""

from __future__ import annotations

from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.dns._common import Query, answers, plural, types_text


def _summary(name: str, server: str, qs: list[Query], who: str) -> str:
    kinds = types_text(qs)
    return (f"DNS server failure: {server} could not resolve {name} (SERVFAIL to "
            f"{plural(len(qs), 'query', 'queries')}{' for ' + kinds if kinds else ''} from {who})")


RULE = Rule("dns.server_failure", "Application Errors", "DNS server failure (SERVFAIL)", (), answers(
    "dns.server_failure", "Server Failure", "error",
    "The server could not answer (SERVFAIL): its upstream servers did not respond or failed, DNSSEC "
    "validation failed, or the zone is broken on the authoritative side.",
    "Check the resolver's forwarders and their reachability, its log, and DNSSEC for the zone.",
    _summary, search_steps=False))
