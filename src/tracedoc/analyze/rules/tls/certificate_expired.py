"""``tls.certificate_expired``: a certificate presented outside its validity
period at the time of the capture (expired, or not yet valid), or a peer's
alert saying so."""

from __future__ import annotations

from collections import defaultdict

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule
from tracedoc.analyze.rules.tls._common import (
    CERTIFICATE_EXPIRED,
    Certificate,
    Connection,
    connections,
    endpoint,
    parse_utc,
)
from tracedoc.decode.display import utc_text

_DAY = 86_400 * 1_000_000_000


def _days(ns: int) -> str:
    """A time span in the unit that reads best: days, else hours, else minutes."""
    for unit, size in (("day", _DAY), ("hour", 3_600_000_000_000), ("minute", 60_000_000_000)):
        n = int(ns // size)
        if n >= 1 or unit == "minute":
            n = max(n, 1)
            return f"{n} {unit}{'' if n == 1 else 's'}"
    raise AssertionError("unreachable")


def _state(cert: Certificate, grace: int) -> str | None:
    """"expired", "not yet valid" or None (valid, or dates unreadable)."""
    nb, na = parse_utc(cert.not_before), parse_utc(cert.not_after)
    if na is not None and cert.time > na + grace:
        return "expired"
    if nb is not None and cert.time + grace < nb:
        return "not yet valid"
    return None


def _owner(c: Connection, cert: Certificate) -> tuple[str | None, int | None]:
    return (c.server, c.server_port) if cert.sender == "server" else (c.client, None)


def certificate_expired(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    grace = int(p["grace_s"] * 1e9)
    groups: dict[tuple, list[tuple[Connection, Certificate, str]]] = defaultdict(list)
    told: dict[tuple, list[Connection]] = defaultdict(list)
    for c in connections(ev).values():
        bad = False
        for cert in c.certificates:
            state = _state(cert, grace)
            if state:
                bad = True
                groups[(*_owner(c, cert), cert.sha1 or cert.subject, cert.position)].append((c, cert, state))
        if not bad and any(a.desc == CERTIFICATE_EXPIRED for a in c.alerts):
            # The certificate is not in the clear (TLS 1.3) or not captured: the alert says it all.
            told[(c.server, c.server_port)].append(c)
    out = []
    for (ip, port, _, position), hits in groups.items():
        c0, cert, state = hits[0]
        frames = sorted({x.frame for _, x, _ in hits} | {a.frame for c, _, _ in hits for a in c.alerts
                                                           if a.desc == CERTIFICATE_EXPIRED})
        sessions = sorted({c.sid for c, _, _ in hits})
        who = f"{cert.sender} {endpoint(ip, port)}" + (f" ({c0.sni})" if c0.sni and cert.sender == "server" else "")
        when = utc_text(cert.time)
        na, nb = parse_utc(cert.not_after), parse_utc(cert.not_before)
        if state == "expired" and na is not None:
            age = f"expired {cert.not_after}, {_days(cert.time - na)} before the capture"
        elif nb is not None:
            age = f"valid only from {cert.not_before}, {_days(nb - cert.time)} after the capture"
        else:
            age = state
        rejected = sorted({a.name for c, _, _ in hits for a in c.alerts if a.fatal and a.sender != cert.sender})
        which = "its own certificate" if position == 0 else f"chain certificate #{position}"
        out.append(Finding(
            "tls.certificate_expired", "Application Errors", "error" if position == 0 else "warning",
            f"The {who} presented {'an expired certificate' if state == 'expired' else 'a certificate not yet valid'}: "
            f"{cert.subject} ({age})",
            f"A certificate is valid only between its notBefore and notAfter dates (RFC 5280 4.1.2.5); at "
            f"{when}, when the capture saw it, {which} was {state}. Clients that check certificates refuse "
            "the connection (alert certificate_expired or bad_certificate), others warn their users"
            + (f"; here the other side answered with {', '.join(rejected)}." if rejected else ".")
            + (" An expired certificate further up the chain matters when no other path leads to a trusted "
               "root." if position else ""),
            ("Renew the certificate and install it, with its current intermediate certificates, on the "
             f"{cert.sender}." if state == "expired" else
             f"Check the clock of the {cert.sender} and of its peer, or the dates the certificate was issued "
             "with."),
            frames, sessions,
            {"subject": cert.subject, "issuer": cert.issuer, "serial": cert.serial, "sha1": cert.sha1,
             "not_before": cert.not_before, "not_after": cert.not_after, "state": state, "position": position,
             "sender": cert.sender, "server": c0.server, "server_port": c0.server_port, "sni": c0.sni,
             "seen_at": when, "alerts": rejected},
            key=f"tls.certificate_expired:{ip}:{port}:{cert.sha1 or cert.subject}:{position}"))
    for (ip, port), conns in told.items():
        alerts = [a for c in conns for a in c.alerts if a.desc == CERTIFICATE_EXPIRED]
        frames = [a.frame for a in alerts]
        senders = sorted({a.sender for a in alerts})
        out.append(Finding(
            "tls.certificate_expired", "Application Errors", "error",
            f"The {' and '.join(senders)} said a certificate on the connection to {endpoint(ip, port)} has expired "
            "(alert Certificate Expired)",
            "The side that sent the alert checked the certificate it was shown and found it outside its "
            "validity period (RFC 5280 4.1.2.5). The certificate itself is not readable in the capture (TLS 1.3 "
            "encrypts it).",
            "Renew the certificate of the other side, and check the clock of the side that sent the alert.",
            frames, sorted({c.sid for c in conns}),
            {"server": ip, "server_port": port, "sni": conns[0].sni, "alert_from": senders,
             "subject": None, "not_after": None},
            key=f"tls.certificate_expired:{ip}:{port}:alert"))
    return out


RULE = Rule("tls.certificate_expired", "Application Errors", "TLS certificate expired or not yet valid",
            (Param("grace_s", 0, "tolerate this many seconds of clock difference before calling a "
                                 "certificate expired or not yet valid"),), certificate_expired)
