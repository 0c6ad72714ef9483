"""``dns.refused``: queries (or updates) the server refused to answer.

Reported per name and server, severity error: a client using an
authoritative-only server as its resolver, a resolver that does not serve
the client's address, a forwarder with no upstream for the name, or a
dynamic update (opcode UPDATE) or NOTIFY the server does not accept from
the client.  REFUSED answers to search-list candidates of a lookup that went
on to another answer are left out, as NXDOMAIN ones are (some servers refuse
names outside their zones; see :mod:`._common`).
"""

from __future__ import annotations

from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.dns._common import Query, answers, plural, types_text

OPCODES = {4: "NOTIFY", 5: "dynamic update"}


def _summary(name: str, server: str, qs: list[Query], who: str) -> str:
    ops = sorted({OPCODES[q.opcode] for q in qs if q.opcode in OPCODES})
    if ops and len(ops) == 1 and all(q.opcode in OPCODES for q in qs):
        return f"DNS refused: {server} refused {plural(len(qs), ops[0], ops[0] + 's')} of zone {name} from {who}"
    kinds = types_text(qs)
    return (f"DNS refused: {server} refused to answer {plural(len(qs), 'query', 'queries')}"
            f"{' for ' + kinds if kinds else ''} {name} from {who}")


RULE = Rule("dns.refused", "Application Errors", "DNS query refused", (), answers(
    "dns.refused", "Refused", "error",
    "The server refused to answer: it is authoritative only and the name is not in its zones, it does not "
    "offer recursion to this client's address, it has no upstream server for the name, or (for an update "
    "or NOTIFY) it does not accept them from this client.",
    "Point the client at a resolver that serves it (or the zone's primary for updates), or allow the client "
    "on this server.",
    _summary, search_steps=True))
