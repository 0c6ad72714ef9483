"""What the icmp rules share."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from typing import Any

import numpy as np

from tracedoc.analyze.columns import values
from tracedoc.analyze.diagnose import Evidence


def ints(ev: Evidence, name: str) -> tuple[np.ndarray, np.ndarray]:
    return values(ev.tbl, name, np.int64)


def errors(ev: Evidence, v4: set[int], v6: set[int]) -> list[int]:
    """Rows of ICMP (type in ``v4``) or ICMPv6 (type in ``v6``) messages."""
    t4, h4 = ints(ev, "icmp.type")
    t6, h6 = ints(ev, "icmpv6.type")
    return np.flatnonzero((h4 & np.isin(t4, list(v4))) | (h6 & np.isin(t6, list(v6)))).tolist()


def flow(ev: Evidence, row: int) -> dict[str, Any]:
    """The quoted datagram's flow and who reported the error."""
    src, dst = ev.addresses

    def addr(v4: str, v6: str) -> str | None:
        a4, a6 = ev.values(v4)[row], ev.values(v6)[row]
        if a4 is not None:
            return str(ipaddress.IPv4Address(a4))
        return str(ipaddress.IPv6Address(a6)) if a6 is not None else None

    proto = "tcp" if ev.values("inner.tcp.dstport")[row] is not None else \
        "udp" if ev.values("inner.udp.dstport")[row] is not None else None
    return {"reporter": src[row], "to": dst[row], "src": addr("inner.ip.src", "inner.ipv6.src"),
            "dst": addr("inner.ip.dst", "inner.ipv6.dst"), "proto": proto,
            "sport": ev.values(_PORTS[proto][0])[row] if proto else None,
            "dport": ev.values(_PORTS[proto][1])[row] if proto else None}


_PORTS = {"tcp": ("inner.tcp.srcport", "inner.tcp.dstport"), "udp": ("inner.udp.srcport", "inner.udp.dstport")}


def flow_text(f: dict[str, Any]) -> str:
    if f["dst"] is None:
        return "a datagram it did not quote"
    port = f":{f['dport']}" if f["dport"] is not None else ""
    return f"{(f['proto'] or 'IP').upper()} from {f['src']} to {f['dst']}{port}"


def group(ev: Evidence, rows: list[int], kind) -> dict[tuple, list[int]]:  # type: ignore[no-untyped-def]
    groups: dict[tuple, list[int]] = defaultdict(list)
    for row in rows:
        f = flow(ev, row)
        groups[(kind(row), f["reporter"], f["src"], f["dst"], f["proto"], f["dport"])].append(row)
    return groups
