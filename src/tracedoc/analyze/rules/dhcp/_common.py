"""What the dhcp rules share: the DHCP messages of a trace, one dict per
message, with the fields the rules judge (RFC 2131 2, RFC 2132 9)."""

from __future__ import annotations

import ipaddress
from typing import Any

import numpy as np

from tracedoc.analyze.columns import valid, values
from tracedoc.analyze.diagnose import Evidence

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = 1, 2, 3, 4, 5, 6, 7, 8
"""Option 53 message types (RFC 2132 9.6)."""

FIELDS = {
    "type": "dhcp.option.dhcp", "xid": "dhcp.id", "mac": "dhcp.hw.mac_addr", "ciaddr": "dhcp.ip.client",
    "yiaddr": "dhcp.ip.your", "requested": "dhcp.option.requested_ip_address",
    "server_id": "dhcp.option.dhcp_server_id", "message": "dhcp.option.message", "time": "frame.time_epoch",
    "frame": "frame.number",
}




def ip_text(v: int | None) -> str | None:
    return None if not v else str(ipaddress.IPv4Address(int(v)))


def mac_text(v: Any) -> str | None:
    if isinstance(v, list):
        v = v[0] if v else None
    if v is None:
        return None
    return ":".join(f"{(int(v) >> (8 * k)) & 0xFF:02x}" for k in range(5, -1, -1))


def in_icmp(ev: Evidence) -> np.ndarray:
    """ICMP packets: an error quotes the datagram it is about, whose fields
    decode too but are not a message of their own."""
    return valid(ev.tbl, "icmp.type") | valid(ev.tbl, "icmpv6.type")


def messages(ev: Evidence, kinds: tuple[int, ...] | None = None) -> list[dict[str, Any]]:
    """The DHCP messages (of the given option-53 types), in frame order: type,
    xid, client MAC (text), ciaddr, yiaddr, requested address (option 50),
    server identifier (option 54), message (option 56; addresses as text,
    0.0.0.0 as None), the sender's IP, time (epoch ns), frame and row."""
    kind, has = values(ev.tbl, "dhcp.option.dhcp")
    mask = has & valid(ev.tbl, "dhcp.id") & ~in_icmp(ev)
    if kinds is not None:
        mask &= np.isin(kind, kinds)
    rows = np.flatnonzero(mask)
    if not len(rows):
        return []
    got = {k: ev.take(name, rows) for k, name in FIELDS.items()}
    src = ev.addresses[0]
    out = []
    for i, r in enumerate(rows.tolist()):
        out.append({
            "row": r, "frame": int(got["frame"][i]), "time": int(got["time"][i] or 0), "type": int(got["type"][i]),
            "xid": got["xid"][i], "mac": mac_text(got["mac"][i]), "ciaddr": ip_text(got["ciaddr"][i]),
            "yiaddr": ip_text(got["yiaddr"][i]), "requested": ip_text(got["requested"][i]),
            "server_id": ip_text(got["server_id"][i]), "message": got["message"][i], "src": src[r],
        })
    return out


def arp_senders(ev: Evidence) -> dict[str, list[tuple[int, int, str | None]]]:
    """Every ARP packet by the address its sender says it has: (frame, time
    in epoch ns, sender MAC).  A reply or an announcement for an address is a
    host using it (RFC 5227 2.1.1); a probe says 0.0.0.0."""
    sip, has = values(ev.tbl, "arp.src.proto_ipv4")
    rows = np.flatnonzero(has & (sip != 0) & ~in_icmp(ev))
    out: dict[str, list[tuple[int, int, str | None]]] = {}
    if not len(rows):
        return out
    for ip, f, t, m in zip(sip[rows].tolist(), ev.take("frame.number", rows), ev.take("frame.time_epoch", rows),
                           ev.take("arp.src.hw_mac", rows)):
        out.setdefault(str(ipaddress.IPv4Address(int(ip))), []).append((int(f), int(t or 0), mac_text(m)))
    return out


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
