"""``ftp.active_data_syn_missing``: an active-mode (PORT/EPRT) data connection
that never opened: the server's SYNs went unanswered or were refused, or the
server said it could not connect and no SYN was seen (the seed's lost SYN).

A server connects to the announced address when a transfer command asks
for the data (vsftpd, most servers) or as soon as it gets PORT (pyftpdlib).
An announcement with no SYN after it is a failure only when the server said
so (a 425/421 on the control connection before the next announcement, to
PORT itself or to the transfer command): one followed by a command that
failed for another reason (550, no such file) or by no transfer at all never
needed the connection."""

from __future__ import annotations

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.ftp._common import (
    link_details,
    link_frames,
    links,
)


def active_data_syn_missing(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    out = []
    for r in links(ev, {"PORT", "EPRT"}, {"no_syn", "syn_unanswered", "refused"}):
        failed = r["failed"]
        if r["status"] == "no_syn" and failed is None:
            continue
        seen = {"syn_unanswered": "its SYN(s) got no answer", "refused": "it was refused (RST)",
                "no_syn": f"the server could not connect ({failed[1] if failed else ''}) and no SYN was seen"
                }[r["status"]]
        # With no SYN to show, the server's own word that it could not connect is the proof.
        frames = link_frames(ev, r, [r["command_frame"], r["reply_frame"]])
        out.append(Finding(
            "ftp.active_data_syn_missing", "Session Errors", "error",
            f"Active FTP data connection to {r['data_ip']}:{r['data_port']} never opened: {seen}",
            f"The client announced {r['data_ip']}:{r['data_port']} with {r['method']} and the server "
            f"({r['connector_ip']}) should have connected to it from its data port. "
            + {"syn_unanswered": "Its SYNs went unanswered: a firewall in front of the client drops incoming "
                                 "connections.",
               "refused": "The client's side answered the SYN with a reset: a firewall rejecting incoming "
                          "connections, or nothing listened on the announced port.",
               "no_syn": "No SYN appeared: the server's connect was blocked before this capture point, or the "
                         "announced address is not reachable from the server (NAT)."}[r["status"]],
            "Use passive mode (PASV/EPSV), or open the client's firewall for the server's data connection.",
            frames, [s for s in (r["control_sid"], r["data_sid"]) if s],
            link_details(r), key=f"ftp.active_data_syn_missing:{r['announce_frame']}"))
    return out


RULE = Rule("ftp.active_data_syn_missing", "Session Errors", "Active FTP data connection never opened", (),
         active_data_syn_missing)
