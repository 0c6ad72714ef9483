"""``tls.deprecated_version``: connections whose handshake settled on SSL 2.0,
SSL 3.0, TLS 1.0 or TLS 1.1 (older than a chosen version)."""

from __future__ import annotations

from collections import defaultdict

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule
from tracedoc.analyze.rules.tls._common import (
    Connection,
    connections,
    endpoint,
    version_name,
)

_RANK = {0x0002: 0.2, 0x0300: 0.3, 0x0301: 1.0, 0x0302: 1.1, 0x0303: 1.2, 0x0304: 1.3}
"""Wire version -> the number users call it by (SSL 3.0 is 0.3: older than TLS 1.0)."""

_WHY = {
    0x0002: "SSL 2.0 is broken and prohibited (RFC 6176): export-grade ciphers, no handshake integrity (DROWN).",
    0x0300: "SSL 3.0 is broken and prohibited (RFC 7568): its CBC padding gives the plain text away (POODLE).",
    0x0301: "TLS 1.0 is deprecated (RFC 8996): MD5/SHA-1 in the handshake, CBC ciphers open to BEAST-style "
            "attacks, no authenticated encryption; PCI DSS and current browsers refuse it.",
    0x0302: "TLS 1.1 is deprecated (RFC 8996): MD5/SHA-1 in the handshake and no authenticated encryption; "
            "current browsers and libraries refuse it.",
}


def deprecated_version(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    groups: dict[tuple, list[Connection]] = defaultdict(list)
    for c in connections(ev).values():
        rank = _RANK.get(c.version) if c.server_hello is not None and c.version is not None else None
        if rank is not None and rank < p["min_version"]:
            groups[(c.server, c.server_port, c.version)].append(c)
    out = []
    for (server, port, version), conns in groups.items():
        name = version_name(version)
        frames = sorted(x for c in conns for x in (c.client_hello, c.server_hello) if x is not None)
        clients = sorted({str(c.client) for c in conns})
        # Could the client have done better?  Then the server held it back.
        better = sorted({v for c in conns for v in c.offered_versions if _RANK.get(v, 0) > _RANK[version]})
        names = sorted({c.sni for c in conns if c.sni})
        held = (f" although the client offered {', '.join(version_name(v) for v in better)}" if better else "")
        out.append(Finding(
            "tls.deprecated_version", "Application Errors", "warning",
            f"{endpoint(server, port)}{' (' + ', '.join(names) + ')' if names else ''} negotiated {name} on "
            f"{len(conns)} connection{'' if len(conns) == 1 else 's'}{held}",
            _WHY.get(version, f"{name} is older than the oldest version this report accepts.")
            + (" The server chose it although the client could do better, so the server is the one to fix."
               if better else " Neither side offered anything newer."),
            (f"Enable TLS 1.2 or 1.3 on {endpoint(server, port)}" + ("" if better else " and on its clients")
             + f", then turn {name} off."),
            frames, sorted(c.sid for c in conns),
            {"server": server, "server_port": port, "version": name, "clients": clients, "sni": names,
             "connections": len(conns), "client_offered": [version_name(v) for v in better]},
            key=f"tls.deprecated_version:{server}:{port}:{version}"))
    return out


RULE = Rule("tls.deprecated_version", "Application Errors", "Deprecated SSL/TLS version negotiated",
            (Param("min_version", 1.2, "report connections that settled on a version older than this one "
                                       "(1.2: TLS 1.2; SSL 3.0 counts as 0.3, SSL 2.0 as 0.2)"),),
            deprecated_version)
