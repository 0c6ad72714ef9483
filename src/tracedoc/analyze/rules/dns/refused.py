"""``dns.refused``: queries the server refused to answer."""

from __future__ import annotations

from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.dns._common import answers

RULE = Rule("dns.refused", "Application Errors", "DNS query refused", (), answers(
    "dns.refused", "Refused", "error",
    "The server refused to answer: it does not serve this client (recursion not allowed for its "
    "address) or this zone.",
    "Point the client at a resolver that serves it, or allow the client on this server."))
