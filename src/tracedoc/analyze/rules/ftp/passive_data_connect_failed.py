"""``ftp.passive_data_connect_failed``: a passive-mode (PASV/EPSV) data
connection that never completed: the client's SYNs unanswered or refused, or
never sent."""

from __future__ import annotations

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.ftp._common import links


def passive_data_connect_failed(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    out = []
    for r in links(ev, {"PASV", "EPSV"}, {"no_syn", "syn_unanswered", "refused"}):
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


RULE = Rule("ftp.passive_data_connect_failed", "Session Errors", "Passive FTP data connection never completed", (),
         passive_data_connect_failed)
