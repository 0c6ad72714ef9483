"""``ftp.logon_failure``: PASS answered with 530, per client and server."""

from __future__ import annotations

from collections import defaultdict

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.ftp._common import logon_failures


def logon_failure(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in logon_failures(ev):
        groups[(r["client"], r["server"])].append(r)
    out = []
    for (client, server), rows in groups.items():
        frames = [f for r in rows for f in (r["request_frame"], r["response_frame"]) if f is not None]
        out.append(Finding(
            "ftp.logon_failure", "Application Errors", "warning",
            f"{len(rows)} FTP logon failure(s) from {client} on {server} (530 after PASS)",
            "The server rejected the user name and password: a wrong or expired password, a locked or "
            "unknown user, or a user not allowed to use FTP on this server.",
            "Check the user's credentials and account status on the server (and its security log).",
            frames, ev.sessions_of(frames), {"client": client, "server": server, "failures": len(rows)},
            key=f"ftp.logon_failure:{client}:{server}"))
    return out


RULE = Rule("ftp.logon_failure", "Application Errors", "FTP logon failure", (), logon_failure)
