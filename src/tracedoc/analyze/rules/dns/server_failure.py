"""``dns.server_failure``: queries the server could not answer (SERVFAIL)."""

from __future__ import annotations

from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.dns._common import answers

RULE = Rule("dns.server_failure", "Application Errors", "DNS server failure (SERVFAIL)", (), answers(
    "dns.server_failure", "Server Failure", "error",
    "The server could not answer (SERVFAIL): its upstream servers did not respond, DNSSEC "
    "validation failed, or the zone is broken on the authoritative side.",
    "Check the resolver's forwarders and upstream reachability, and DNSSEC for the zone."))
