"""``ftp.error_reply``: 4xx/5xx replies other than logon failures, per server,
code and command.

A transfer command (RETR, STOR, LIST ...) that failed names, besides its
control connection, the data connection announced for it: a server that
refuses the transfer closes or resets that connection (vsftpd resets a
passive one the client had opened), and that is part of this failure."""

from __future__ import annotations

from collections import defaultdict

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.ftp._common import (
    TRANSFER_COMMANDS,
    ftp_rows,
    reply_code,
    session_of,
)


def _data_sessions(ev: Evidence, rows: list[dict]) -> list[int]:
    """The data connections announced for the transfer commands among ``rows``
    (the latest announcement before each on its control connection)."""
    transfers = [r for r in rows if (r["label"] or "").split(" ")[0].upper() in TRANSFER_COMMANDS]
    if not transfers or ev.ftp_links.num_rows == 0:
        return []
    links = ev.ftp_links.to_pylist()
    sid = session_of(ev, [int(r["request_frame"]) for r in transfers])
    out = []
    for r in transfers:
        control = sid.get(int(r["request_frame"]))
        link = next((x for x in reversed(links) if x["control_sid"] == control
                     and x["announce_frame"] < r["request_frame"]), None)
        if link is not None and link["data_sid"]:
            out.append(int(link["data_sid"]))
    return out


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
            frames, ev.sessions_of(frames) + _data_sessions(ev, rows),
            {"server": server, "code": code, "command": command, "count": len(rows)},
            key=f"ftp.error_reply:{server}:{code}:{command}"))
    return out


RULE = Rule("ftp.error_reply", "Application Errors", "FTP error reply (4xx/5xx)", (), error_reply)
