"""``dns.name_error``: names the server says do not exist (NXDOMAIN)."""

from __future__ import annotations

from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.dns._common import answers

RULE = Rule("dns.name_error", "Application Errors", "DNS name error (NXDOMAIN)", (), answers(
    "dns.name_error", "Name Error", "warning",
    "The name does not exist: the server answered NXDOMAIN. A mistyped or stale name, a missing "
    "record, or a search-domain suffix the client appended.",
    "Check the name the client asked for and the zone on the authoritative server."))
