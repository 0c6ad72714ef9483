"""``ftp.passive_data_connect_failed``: a passive-mode (PASV/EPSV) data
connection that never completed: the client's SYNs unanswered or refused, or
never sent.  The evidence is the PASV/EPSV command, the reply that announced
the port, and every SYN (and the reset) of the attempt.

With no SYN in the capture, the control connection tells what happened
before the next announcement: a 425 (or 421), the server waited for a
connection that never came (an error); a transfer command answered
otherwise, or a 1xx/226 (the data went over a connection this capture does
not hold; or the command failed for its own reason, a 550 that
``ftp.error_reply`` reports), nothing to say here.  An announcement with
none of these is one the client asked for and never used (a warning)."""

from __future__ import annotations

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.ftp._common import (
    link_details,
    link_frames,
    links,
)


def passive_data_connect_failed(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    out = []
    for r in links(ev, {"PASV", "EPSV"}, {"no_syn", "syn_unanswered", "refused"}):
        t = r["transfer"]
        failed = r["failed"]
        waited = failed is not None
        if r["status"] == "no_syn" and not waited and (t is not None or r["used"]):
            continue
        what = {"syn_unanswered": "the client's SYNs got no answer", "refused": "the server refused it (RST)",
                "no_syn": f"no SYN was seen and the server answered {failed[1]}" if failed
                else "the client never tried"}[r["status"]]
        frames = link_frames(ev, r, [r["command_frame"], r["announce_frame"]])
        out.append(Finding(
            "ftp.passive_data_connect_failed", "Session Errors",
            "error" if r["status"] != "no_syn" or waited else "warning",
            f"Passive FTP data connection to {r['data_ip']}:{r['data_port']} never completed: {what}",
            f"The server announced {r['data_ip']}:{r['data_port']} in its {r['reply_code']} reply to "
            f"{r['method']}, and the client ({r['connector_ip']}) was to connect there. "
            + {"syn_unanswered": "A firewall in front of the server drops connections to its passive ports, "
                                 "or the announced address is not the one the client can reach (NAT).",
               "refused": "Nothing listened there any more: the server gave up waiting, or the address is "
                          "another host's.",
               "no_syn": "The client's SYNs never reached this capture point (a firewall before it), or the "
                         "client could not reach the announced address." if waited else
                         "The client gave up, or its SYNs never reached this capture point."}[r["status"]],
            "Open the server's passive port range on its firewall (and configure that range on the server), "
            "or check the address it announces behind NAT.",
            frames, [s for s in (r["control_sid"], r["data_sid"]) if s],
            link_details(r), key=f"ftp.passive_data_connect_failed:{r['announce_frame']}"))
    return out


RULE = Rule("ftp.passive_data_connect_failed", "Session Errors", "Passive FTP data connection never completed", (),
         passive_data_connect_failed)
