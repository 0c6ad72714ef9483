"""FTP: logon failures and brute force, error replies, and data connections
that never opened (the seed's lost SYN of an active-mode data connection and
its passive-mode connect that never completes), judged from the FTP
command/reply transactions and the data-connection links."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow.compute as pc

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule, describe


def _ftp(ev: Evidence) -> list[dict]:
    t = ev.transactions
    if t.num_rows == 0:
        return []
    return t.filter(pc.equal(t["type"], "ftp")).to_pylist()


def _code(r: dict) -> int | None:
    res = r["result"] or ""
    return int(res[:3]) if res[:3].isdigit() else None


def _logon_failures(ev: Evidence) -> list[dict]:
    return [r for r in _ftp(ev) if (r["label"] or "").split(" ")[0].upper() == "PASS" and _code(r) == 530]


def logon_failure(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in _logon_failures(ev):
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


def brute_force(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    by_client: dict[tuple, list[dict]] = defaultdict(list)
    for r in _logon_failures(ev):
        by_client[(r["client"], r["server"])].append(r)
    window_ns = int(p["window_s"] * 1e9)
    out = []
    for (client, server), rows in by_client.items():
        times = np.sort(np.array([r["request_time"] for r in rows], dtype=np.int64))
        # The most failures inside any window of window_s seconds.
        ends = np.searchsorted(times, times + window_ns, side="right")
        best = int((ends - np.arange(len(times))).max()) if len(times) else 0
        if best < p["min_failures"]:
            continue
        sessions = ev.sessions_of([r["request_frame"] for r in rows])
        span = (times[-1] - times[0]) / 1e9
        out.append(Finding(
            "ftp.brute_force", "Application Errors", "critical",
            f"Possible FTP brute-force attack: {len(rows)} failed logons from {client} on {server} "
            f"in {span:.1f} s",
            f"{client} tried passwords on {server} at machine speed: {best} rejected logons within "
            f"{describe(p['window_s'])} s, over {len(sessions)} control connection(s). A person mistyping a "
            "password does not do that.",
            f"Block {client} at the firewall, lock or watch the targeted accounts, and enable the server's "
            "limits on failed logons.",
            [r["response_frame"] for r in rows if r["response_frame"] is not None], sessions,
            {"client": client, "server": server, "failures": len(rows), "max_in_window": best,
             "window_s": p["window_s"], "seconds": round(span, 3)},
            key=f"ftp.brute_force:{client}:{server}"))
    return out


def error_reply(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in _ftp(ev):
        code = _code(r)
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


def _links(ev: Evidence, methods: set[str], bad: set[str]) -> list[dict]:
    t = ev.ftp_links
    return [r for r in t.to_pylist() if r["method"] in methods and r["status"] in bad]


def active_data_syn_missing(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    out = []
    for r in _links(ev, {"PORT", "EPRT"}, {"no_syn", "syn_unanswered"}):
        seen = "its SYN(s) got no answer" if r["status"] == "syn_unanswered" else "no SYN for it was seen"
        frames = [f for f in (r["command_frame"], r["reply_frame"], r["syn_frame"]) if f is not None]
        out.append(Finding(
            "ftp.active_data_syn_missing", "Session Errors", "error",
            f"Active FTP data connection to {r['data_ip']}:{r['data_port']} never opened: {seen}",
            f"The client announced {r['data_ip']}:{r['data_port']} with {r['method']} and the server "
            f"({r['connector_ip']}) should have connected to it from its data port. "
            + ("Its SYNs went unanswered: a firewall in front of the client drops incoming connections."
               if r["status"] == "syn_unanswered" else
               "No SYN appeared: the server's connect was blocked before this capture point, or the "
               "announced address is not reachable from the server (NAT)."),
            "Use passive mode (PASV/EPSV), or open the client's firewall for the server's data connection.",
            frames, [s for s in (r["control_sid"], r["data_sid"]) if s],
            {k: r[k] for k in ("method", "data_ip", "data_port", "connector_ip", "status", "syns", "reply_code")},
            key=f"ftp.active_data_syn_missing:{r['announce_frame']}"))
    return out


def passive_data_connect_failed(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    out = []
    for r in _links(ev, {"PASV", "EPSV"}, {"no_syn", "syn_unanswered", "refused"}):
        what = {"syn_unanswered": "the client's SYNs got no answer", "refused": "the server refused it (RST)",
                "no_syn": "the client never tried"}[r["status"]]
        frames = [f for f in (r["command_frame"], r["announce_frame"], r["syn_frame"]) if f is not None]
        out.append(Finding(
            "ftp.passive_data_connect_failed", "Session Errors", "error" if r["status"] != "no_syn" else "warning",
            f"Passive FTP data connection to {r['data_ip']}:{r['data_port']} never completed: {what}",
            f"The server announced {r['data_ip']}:{r['data_port']} in its {r['reply_code']} reply to "
            f"{r['method']}, and the client ({r['connector_ip']}) was to connect there. "
            + {"syn_unanswered": "A firewall in front of the server drops connections to its passive ports, "
                                 "or the announced address is not the one the client can reach (NAT).",
               "refused": "Nothing listened there any more: the server gave up waiting, or the address is "
                          "another host's.",
               "no_syn": "The client gave up, or its SYNs never reached this capture point."}[r["status"]],
            "Open the server's passive port range on its firewall (and configure that range on the server), "
            "or check the address it announces behind NAT.",
            frames, [s for s in (r["control_sid"], r["data_sid"]) if s],
            {k: r[k] for k in ("method", "data_ip", "data_port", "connector_ip", "status", "syns", "reply_code")},
            key=f"ftp.passive_data_connect_failed:{r['announce_frame']}"))
    return out


RULES = (
    Rule("ftp.active_data_syn_missing", "Session Errors", "Active FTP data connection never opened", (),
         active_data_syn_missing),
    Rule("ftp.passive_data_connect_failed", "Session Errors", "Passive FTP data connection never completed", (),
         passive_data_connect_failed),
    Rule("ftp.logon_failure", "Application Errors", "FTP logon failure", (), logon_failure),
    Rule("ftp.brute_force", "Application Errors", "FTP brute-force attack",
         (Param("min_failures", 10, "rejected logons from one client within the window that make an attack"),
          Param("window_s", 60, "the window, in seconds")), brute_force),
    Rule("ftp.error_reply", "Application Errors", "FTP error reply (4xx/5xx)", (), error_reply),
)
