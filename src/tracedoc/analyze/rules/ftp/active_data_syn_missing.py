"""``ftp.active_data_syn_missing``: an active-mode (PORT/EPRT) data connection
that never opened: the server's SYN was never seen or never answered (the
seed's lost SYN)."""

from __future__ import annotations

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.ftp._common import links


def active_data_syn_missing(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    out = []
    for r in links(ev, {"PORT", "EPRT"}, {"no_syn", "syn_unanswered"}):
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


RULE = Rule("ftp.active_data_syn_missing", "Session Errors", "Active FTP data connection never opened", (),
         active_data_syn_missing)
