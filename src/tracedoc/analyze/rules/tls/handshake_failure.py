"""``tls.handshake_failure``: TLS handshakes that did not complete: a
ClientHello the server refused (an alert, or the connection closed or reset
instead of a ServerHello), or a fatal alert during the handshake."""

from __future__ import annotations

import numpy as np

from tracedoc.analyze.columns import valid
from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.tls._common import (
    ALERT_ACTION,
    ALERT_MEANING,
    Connection,
    cipher_name,
    closes,
    connections,
    endpoint,
    version_name,
)

_HANDSHAKE, _APPLICATION_DATA = 22, 23


def _server_went_on(ev: Evidence, conns: list[Connection]) -> set[int]:
    """Connections whose server sent handshake or application records the
    capture did not decode as a ServerHello (a hello split in a way the
    decoder could not follow): the handshake went on, whatever it was."""
    sids = np.asarray([c.sid for c in conns], dtype=np.int64)
    rows = np.flatnonzero(valid(ev.tbl, "tls.record.content_type") & np.isin(ev.sessions.sid, sids))
    if not len(rows):
        return set()
    by_sid = {c.sid: c for c in conns}
    src = ev.addresses[0]
    out = set()
    for r, types, port in zip(rows.tolist(), ev.take("tls.record.content_type", rows),
                              ev.take("tcp.srcport", rows)):
        c = by_sid[int(ev.sessions.sid[r])]
        if (src[r], port) == (c.server, c.server_port) and {_HANDSHAKE, _APPLICATION_DATA} & set(types or []):
            out.add(c.sid)
    return out


def handshake_failure(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    conns = [c for c in connections(ev).values() if c.client_hello is not None]
    if not conns:
        return []
    pending = [c for c in conns if c.server_hello is None]
    ended = closes(ev, [c.sid for c in pending])
    went_on = _server_went_on(ev, pending) if pending else set()
    out = []
    for c in conns:
        assert c.client_hello is not None
        bad = [a for a in c.alerts if not a.benign or c.server_hello is None]
        fatal = [a for a in bad if a.fatal]
        close = None
        if c.server_hello is None:
            if c.sid in went_on:
                continue
            if not bad:
                after = [x for x in ended.get(c.sid, []) if x[0] > c.client_hello]
                if not after:
                    continue  # the capture ends with the handshake still pending
                close = after[0]
        elif not fatal:
            continue
        cause = (fatal or bad)[0] if bad else None
        frames = [c.client_hello] + ([c.server_hello] if c.server_hello else []) + [a.frame for a in bad]
        server = c.server_text
        offered = (f"The client offered {c.offered_text()} with {len(c.offered_ciphers)} cipher suite"
                   f"{'' if len(c.offered_ciphers) == 1 else 's'}")
        if 0 < len(c.offered_ciphers) <= 4:
            offered += f" ({', '.join(cipher_name(x) for x in c.offered_ciphers)})"
        if c.server_hello:
            offered += f"; the server chose {version_name(c.version)} with " + \
                       (cipher_name(c.cipher) if c.cipher is not None else "an unknown cipher suite")
        if cause is not None:
            level = "fatal" if cause.fatal else "warning"
            if c.server_hello is None and cause.sender == "server":
                what = f"the server refused the ClientHello with {level} alert {cause.name}"
            elif cause.sender == "client":
                what = f"the client gave up with {level} alert {cause.name}"
            else:
                what = f"the server broke off with {level} alert {cause.name}"
            why = ALERT_MEANING.get(cause.desc, f"The {cause.sender} sent alert {cause.name}.")
            do = f"The alert came from the {cause.sender}: " + ALERT_ACTION.get(
                cause.desc, "check its TLS configuration and logs for this connection.")
        else:
            assert close is not None
            frames.append(close[0])
            by_server = close[2] == endpoint(c.server, c.server_port)
            verb = "reset" if close[1] == "RST" else "closed"
            if by_server:
                what = f"the server {verb} the connection instead of answering the ClientHello"
                why = ("A server that closes or resets right after a ClientHello does not speak TLS on this "
                       "port, accepts none of the versions or cipher suites offered and says so without an "
                       "alert, or a middlebox (firewall, IPS, proxy) cut the connection.")
                do = (f"Check that {server} serves TLS on this port and which versions and cipher suites it "
                      "allows (its logs name the reason); test from another path to rule out a middlebox.")
            else:
                what = f"the client {verb} the connection with no answer to its ClientHello"
                why = ("The server never answered the ClientHello: it is stuck, does not speak TLS on this "
                       "port, or the hello (or its answer) was dropped on the way, e.g. by a middlebox or an "
                       "MTU problem on a large hello.")
                do = (f"Check that {server} serves TLS on this port and answers; capture at the server to "
                      "see whether the ClientHello arrives.")
        out.append(Finding(
            "tls.handshake_failure", "Application Errors", "error",
            f"TLS handshake from {c.client_text} to {server} failed: {what}",
            f"The client and server could not set up TLS, so no application data was exchanged. {why} "
            f"{offered}.",
            do, frames, [c.sid],
            {"client": c.client, "client_port": c.client_port, "server": c.server, "server_port": c.server_port,
             "sni": c.sni, "alert": cause.name if cause else None,
             "alert_level": ("fatal" if cause.fatal else "warning") if cause else None,
             "alert_from": cause.sender if cause else None,
             "closed_by": f"{'server' if close[2] == endpoint(c.server, c.server_port) else 'client'} {close[1]}"
             if close else None,
             "client_hello_frame": c.client_hello, "server_hello_frame": c.server_hello,
             "offered_versions": [version_name(v) for v in c.offered_versions],
             "offered_cipher_suites": [cipher_name(x) for x in c.offered_ciphers],
             "server_version": version_name(c.version) if c.server_hello else None,
             "server_cipher_suite": cipher_name(c.cipher) if c.cipher is not None else None},
            key=f"tls.handshake_failure:{c.sid}"))
    return out


RULE = Rule("tls.handshake_failure", "Application Errors", "TLS handshake failed", (), handshake_failure)
