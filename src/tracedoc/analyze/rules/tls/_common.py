"""What the tls rules share: per TLS connection, what a capture shows in the
clear -- the hellos (versions and cipher suites offered and chosen, the
server name), the alerts sent before encryption started, the certificates
(TLS 1.2 and older send them in the clear) -- and how the connection ended.

Alerts are read only where the capture shows them: a two-byte alert record
(RFC 8446 6, RFC 5246 7.2).  An encrypted alert (after ChangeCipherSpec, or
any alert in TLS 1.3 after the ServerHello) cannot be read and is left out.
"""

from __future__ import annotations

import datetime as dt
import re
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracedoc.analyze.columns import valid, values
from tracedoc.analyze.diagnose import Evidence
from tracedoc.decode.tls_names import ALERT_DESCRIPTIONS, CIPHER_SUITES, VERSIONS

CLIENT_HELLO, SERVER_HELLO, CERTIFICATE = 1, 2, 11
SSL2, SSL2_SERVER_HELLO = 0x0002, 4
"""SSL 2.0 numbers its messages its own way: 1 Client Hello, 4 Server Hello."""
WARNING, FATAL = 1, 2
CLOSE_NOTIFY, CERTIFICATE_EXPIRED, USER_CANCELED = 0, 45, 90
FIN, RST = 0x01, 0x04

_COLUMNS = {
    "frame": "frame.number", "time": "frame.time_epoch", "types": "tls.handshake.type",
    "versions": "tls.handshake.version", "supported": "tls.handshake.extensions.supported_version",
    "ciphers": "tls.handshake.ciphersuite", "sni": "tls.handshake.extensions_server_name",
    "levels": "tls.alert_message.level", "descs": "tls.alert_message.desc",
    "subjects": "tls.handshake.certificate.subject", "issuers": "tls.handshake.certificate.issuer",
    "serials": "tls.handshake.certificate.serial", "not_before": "tls.handshake.certificate.not_before",
    "not_after": "tls.handshake.certificate.not_after", "sha1": "tls.handshake.certificate.sha1",
    "tsport": "tcp.srcport", "tdport": "tcp.dstport", "record_versions": "tls.record.version",
    "cipherspecs": "tls.handshake.cipherspec",
}




def endpoint(ip: str | None, port: int | None) -> str:
    """``10.0.0.1:443``, ``[2001:db8::1]:443``."""
    host = f"[{ip}]" if ip and ":" in ip else str(ip)
    return host if port is None else f"{host}:{port}"


def is_grease(v: int) -> bool:
    """RFC 8701 reserved values (0x0a0a, 0x1a1a, ...): padding, not an offer."""
    return (v & 0x0F0F) == 0x0A0A and (v >> 8) == (v & 0xFF)


def version_name(v: int | None) -> str:
    if v is None:
        return "unknown"
    if 0x7F00 < v <= 0x7FFF:
        return f"TLS 1.3 (draft {v & 0xFF})"
    return VERSIONS.get(v, f"0x{v:04x}")


def cipher_name(c: int) -> str:
    """A cipher suite's name (an SSL 2.0 cipher spec, three bytes, in hex)."""
    return CIPHER_SUITES.get(c, f"0x{c:04x}") if c <= 0xFFFF else f"SSLv2 cipher 0x{c:06x}"


def alert_name(desc: int) -> str:
    return ALERT_DESCRIPTIONS.get(desc, f"alert {desc}")


ALERT_MEANING = {
    10: "unexpected_message: a message came out of order, usually a broken implementation or a middlebox "
        "rewriting the stream.",
    20: "bad_record_mac: a record failed its integrity check: corruption on the path, or the two sides derived "
        "different keys.",
    22: "record_overflow: a record longer than the protocol allows.",
    40: "handshake_failure: the sender could not agree on security parameters with the other side (no cipher "
        "suite, group or signature algorithm in common).",
    42: "bad_certificate: the certificate it was shown is corrupt or its signature does not verify.",
    43: "unsupported_certificate: the certificate is of a type the sender does not support.",
    44: "certificate_revoked: the certificate was revoked by its issuer.",
    45: "certificate_expired: the certificate has expired (or is not yet valid).",
    46: "certificate_unknown: the sender would not accept the certificate, for a reason it did not name.",
    47: "illegal_parameter: a field in the handshake was out of range or inconsistent.",
    48: "unknown_ca: the certificate chain does not lead to a CA the sender trusts.",
    49: "access_denied: the peer's identity was verified but access is refused.",
    50: "decode_error: a message could not be parsed.",
    51: "decrypt_error: a signature or Finished message did not verify (wrong key, broken middlebox).",
    70: "protocol_version: the sender does not support the TLS version the other side offered or chose.",
    71: "insufficient_security: the sender requires stronger cipher suites than the other side offered.",
    80: "internal_error: the sender failed for a reason of its own (not the other side's fault).",
    86: "inappropriate_fallback: the client retried with a lower version than it supports (RFC 7507), a "
        "sign of a version downgrade on the path or of a client working around a failed first attempt.",
    100: "no_renegotiation: the sender refuses to renegotiate the connection.",
    109: "missing_extension: a required extension was missing from the handshake.",
    110: "unsupported_extension: the other side sent an extension it may not send.",
    112: "unrecognized_name: the server does not serve the name the client asked for (SNI).",
    116: "certificate_required: the server requires a client certificate and got none.",
    120: "no_application_protocol: none of the application protocols the client offered (ALPN) is "
         "served here.",
}
"""What each alert description means (RFC 8446 6.2, RFC 5246 7.2)."""

ALERT_ACTION = {
    40: "compare the versions, cipher suites and groups the client offers with what the server allows.",
    42: "check the certificate and its chain on the side that presented it.",
    44: "replace the revoked certificate.",
    45: "renew the expired certificate, and check the clock of the side that rejected it.",
    46: "check the presented certificate's name, usage and chain against what the other side expects.",
    48: "install the missing intermediate certificates on the presenting side, or the CA on the verifying side.",
    70: "enable a TLS version both sides support (TLS 1.2 or 1.3).",
    71: "allow stronger cipher suites on the client.",
    86: "find out why the first, higher-version attempt failed (a middlebox, a server bug).",
    112: "configure the server for the name the client uses, or the client to use the name the server serves.",
    116: "give the client a certificate, or stop requiring one on the server.",
    120: "make the client and server agree on an application protocol.",
}
"""What to do about an alert, where there is more to say than "check the configuration"."""


@dataclass
class Alert:
    frame: int
    level: int
    desc: int
    sender: str
    """``client`` or ``server``."""

    @property
    def name(self) -> str:
        return alert_name(self.desc)

    @property
    def fatal(self) -> bool:
        return self.level == FATAL

    @property
    def benign(self) -> bool:
        """close_notify (the normal end) and a warning user_canceled (the user
        gave up, RFC 8446 6.1) say nothing is wrong."""
        return self.desc == CLOSE_NOTIFY or (self.desc == USER_CANCELED and self.level == WARNING)

    def as_dict(self) -> dict[str, Any]:
        return {"frame": self.frame, "level": "fatal" if self.fatal else "warning" if self.level == WARNING
                else str(self.level), "description": self.name, "from": self.sender}


@dataclass
class Certificate:
    frame: int
    time: int
    """Epoch ns of the frame that carried it: the capture's "now" for its validity."""
    position: int
    """0: the sender's own certificate; 1, 2 ...: the chain after it."""
    sender: str
    subject: str | None
    issuer: str | None
    serial: str | None
    not_before: str | None
    not_after: str | None
    sha1: str | None


@dataclass
class Connection:
    """One TCP connection carrying TLS: its two ends and what the capture shows."""
    sid: int
    client: str | None = None
    client_port: int | None = None
    server: str | None = None
    server_port: int | None = None
    client_hello: int | None = None
    """Frame of the first ClientHello."""
    server_hello: int | None = None
    """Frame of the first ServerHello from the other side."""
    server_hello_time: int = 0
    sni: str | None = None
    offered_versions: list[int] = field(default_factory=list)
    """ClientHello supported_versions without GREASE, else its client_version alone."""
    client_version: int | None = None
    offered_ciphers: list[int] = field(default_factory=list)
    version: int | None = None
    """The version the ServerHello chose (its supported_versions when there, RFC 8446 4.2.1)."""
    cipher: int | None = None
    alerts: list[Alert] = field(default_factory=list)
    certificates: list[Certificate] = field(default_factory=list)

    @property
    def server_text(self) -> str:
        return endpoint(self.server, self.server_port) + (f" ({self.sni})" if self.sni else "")

    @property
    def client_text(self) -> str:
        return endpoint(self.client, self.client_port)

    def offered_text(self) -> str:
        if len(self.offered_versions) > 1 or self.client_version is None:
            return ", ".join(version_name(v) for v in self.offered_versions) or "unknown"
        return f"{version_name(self.client_version)} and older"


_MADE: weakref.WeakKeyDictionary[Evidence, dict[int, Connection]] = weakref.WeakKeyDictionary()


def connections(ev: Evidence) -> dict[int, Connection]:
    """Every TCP connection with a decoded TLS handshake message or alert, by
    session id; made once per trace, for all the tls rules."""
    got = _MADE.get(ev)
    if got is None:
        got = _MADE[ev] = _connections(ev)
    return got


def _connections(ev: Evidence) -> dict[int, Connection]:
    mask = valid(ev.tbl, "tls.handshake.type") | valid(ev.tbl, "tls.alert_message.desc")
    # An ICMP error quoting a segment decodes the TLS bytes it quotes: not a message of its own.
    mask &= ~(valid(ev.tbl, "icmp.type") | valid(ev.tbl, "icmpv6.type"))
    rows = np.flatnonzero(mask)
    if not len(rows):
        return {}
    sid = ev.sessions.sid
    got = {k: ev.take(name, rows) for k, name in _COLUMNS.items()}
    src, dst = ev.addresses
    out: dict[int, Connection] = {}
    for i, r in enumerate(rows.tolist()):
        s = int(sid[r])
        if s <= 0:
            continue
        c = out.setdefault(s, Connection(s))
        me = (src[r], got["tsport"][i])
        types = got["types"][i] or []
        ssl2 = SSL2 in (got["record_versions"][i] or [])
        server_hello = SSL2_SERVER_HELLO if ssl2 else SERVER_HELLO
        if CLIENT_HELLO in types and c.client_hello is None:
            c.client_hello = int(got["frame"][i])
            c.client, c.client_port, c.server, c.server_port = src[r], got["tsport"][i], dst[r], got["tdport"][i]
            names = got["sni"][i] or []
            c.sni = names[0] if names else None
            vs = got["versions"][i] or []
            c.client_version = vs[0] if vs else None
            supported = [v for v in got["supported"][i] or [] if not is_grease(v)]
            c.offered_versions = supported or ([c.client_version] if c.client_version is not None else [])
            c.offered_ciphers = [x for x in got["ciphers"][i] or got["cipherspecs"][i] or [] if not is_grease(x)]
        elif server_hello in types and c.server_hello is None and me != (c.client, c.client_port):
            c.server_hello = int(got["frame"][i])
            c.server_hello_time = int(got["time"][i] or 0)
            if c.server is None:
                c.server, c.server_port, c.client, c.client_port = src[r], got["tsport"][i], dst[r], \
                    got["tdport"][i]
            supported = got["supported"][i] or []
            vs = got["versions"][i] or []
            c.version = supported[-1] if supported else (vs[0] if vs else None)
            ciphers = got["ciphers"][i] or got["cipherspecs"][i] or []
            c.cipher = ciphers[0] if ciphers else None
        sender = _side(c, me, ev, s)
        for level, desc in zip(got["levels"][i] or [], got["descs"][i] or []):
            c.alerts.append(Alert(int(got["frame"][i]), level, desc, sender))
        if CERTIFICATE in types and not ssl2:
            cols = [got[k][i] or [] for k in ("subjects", "issuers", "serials", "not_before", "not_after", "sha1")]
            for j, (subject, issuer, serial, nb, na, sha1) in enumerate(zip(*cols)):
                c.certificates.append(Certificate(int(got["frame"][i]), int(got["time"][i] or 0), j, sender,
                                                  subject, issuer, serial, nb, na, sha1))
    for s, c in out.items():
        if c.server is None:
            _ends_from_session(ev, c)
    return out


def _side(c: Connection, me: tuple[Any, Any], ev: Evidence, sid: int) -> str:
    """Which end sent a packet: the ClientHello's sender is the client; before
    any hello, the end that opened the TCP connection."""
    if c.client is None:
        _ends_from_session(ev, c)
    return "client" if me == (c.client, c.client_port) else "server"


def _ends_from_session(ev: Evidence, c: Connection) -> None:
    t = ev.sessions.table
    sids = t["sid"].to_numpy()
    i = int(np.searchsorted(sids, c.sid))
    if i < len(sids) and sids[i] == c.sid:
        row = t.slice(i, 1).to_pylist()[0]
        c.client, c.client_port = row["initiator_ip"], row["initiator_port"]
        c.server, c.server_port = row["responder_ip"], row["responder_port"]


def closes(ev: Evidence, sids: list[int]) -> dict[int, list[tuple[int, str, str]]]:
    """The FIN and RST segments of the given sessions: (frame, "FIN"/"RST", sender address and port)."""
    flags, has = values(ev.tbl, "tcp.flags")
    mask = has & ((flags & (FIN | RST)) != 0) & np.isin(ev.sessions.sid, np.asarray(sids, dtype=np.int64))
    rows = np.flatnonzero(mask)
    out: dict[int, list[tuple[int, str, str]]] = {}
    if not len(rows):
        return out
    src = ev.addresses[0]
    ports = ev.take("tcp.srcport", rows)
    frames = ev.take("frame.number", rows)
    for r, port, frame in zip(rows.tolist(), ports, frames):
        kind = "RST" if flags[r] & RST else "FIN"
        out.setdefault(int(ev.sessions.sid[r]), []).append((int(frame), kind, f"{src[r]}:{port}"))
    return out


_TIME = re.compile(r"^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+)")


def parse_utc(text: str | None) -> int | None:
    """``2014-03-04 23:59:59 UTC`` (as the decoder writes validity dates) as epoch ns."""
    m = _TIME.match(text or "")
    if not m:
        return None
    try:
        y, mo, d, h, mi, sec = (int(x) for x in m.groups())
        t = dt.datetime(y, mo, d, h, mi, sec, tzinfo=dt.timezone.utc)
    except ValueError:
        return None
    return int(t.timestamp()) * 1_000_000_000
