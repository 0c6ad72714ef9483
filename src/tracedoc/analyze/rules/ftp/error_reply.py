"""``ftp.error_reply``: 4xx/5xx replies other than logon failures, per server,
code and command."""

from __future__ import annotations

from collections import defaultdict

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.ftp._common import ftp_rows, reply_code


def error_reply(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in ftp_rows(ev):
        code = reply_code(r)
        if code is None or code < 400 or code == 530:  # logon failures are their own rule
            continue
        groups[(r["server"], code, (r["label"] or "").split(" ")[0].upper())].append(r)
    out = []
    for (server, code, command), rows in groups.items():
        frames = [f for r in rows for f in (r["request_frame"], r["response_frame"]) if f is not None]
        out.append(Finding(
            "ftp.error_reply", "Application Errors", "error" if code >= 500 else "warning",
            f"FTP server {server} answered {command or 'a command'} with {code} ({len(rows)} time(s))",
            f"A {code // 100}xx reply is a {'permanent' if code >= 500 else 'transient'} failure of the "
            "command: a missing file or permission, a full disk, a refused data connection, a service "
            "shutting down.",
            "Read the reply text in the Packet Details and check the file, the permissions or the data "
            "connection it names.",
            frames, ev.sessions_of(frames), {"server": server, "code": code, "command": command, "count": len(rows)},
            key=f"ftp.error_reply:{server}:{code}:{command}"))
    return out


RULE = Rule("ftp.error_reply", "Application Errors", "FTP error reply (4xx/5xx)", (), error_reply)
