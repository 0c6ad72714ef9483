"""``tls.alert``: TLS alerts a side sent in the clear, per connection (the
normal close_notify and a warning user_canceled aside)."""

from __future__ import annotations

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.tls._common import ALERT_ACTION, ALERT_MEANING, connections


def alert(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    out = []
    for sid, c in connections(ev).items():
        bad = [a for a in c.alerts if not a.benign]
        if not bad:
            continue
        fatal = [a for a in bad if a.fatal]
        first = (fatal or bad)[0]
        shown = "; ".join(dict.fromkeys(f"{'fatal' if a.fatal else 'warning'} {a.name} from the {a.sender}"
                                        for a in bad))
        frames = [a.frame for a in bad]
        out.append(Finding(
            "tls.alert", "Application Errors", "error" if fatal else "warning",
            f"TLS alert on the connection from {c.client_text} to {c.server_text}: {shown}",
            ("A fatal alert ends the connection at once (RFC 8446 6.2, RFC 5246 7.2.2): the sender found "
             "something it cannot accept, named by the alert. "
             if fatal else
             "A warning alert tells the other side about a problem the sender chose to live with "
             "(RFC 5246 7.2); the connection may go on, but the warning usually names a misconfiguration. ")
            + ALERT_MEANING.get(first.desc, ""),
            f"Look at why the {first.sender} sent {first.name}: "
            + ALERT_ACTION.get(first.desc, "check the TLS configuration and logs of both ends for this connection."),
            frames, [sid],
            {"client": c.client, "client_port": c.client_port, "server": c.server, "server_port": c.server_port,
             "sni": c.sni, "fatal": bool(fatal), "alerts": [a.as_dict() for a in bad]},
            key=f"tls.alert:{sid}"))
    return out


RULE = Rule("tls.alert", "Application Errors", "TLS alert", (), alert)
