"""``dhcp.decline``: a client refused the address a server gave it (DHCPDECLINE),
because its check found another host already using it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule
from tracedoc.analyze.rules.dhcp._common import (
    ACK,
    DECLINE,
    arp_senders,
    messages,
    plural,
)


def _lease(acks: list[dict[str, Any]], d: dict[str, Any]) -> dict[str, Any] | None:
    """The ACK the Decline refuses: the latest one before it to the same client,
    of the same transaction when there is one."""
    before = [a for a in acks if a["mac"] == d["mac"] and a["frame"] < d["frame"]]
    same = [a for a in before if a["xid"] == d["xid"]]
    if d["requested"]:
        same = [a for a in same if a["yiaddr"] == d["requested"]] or same
        before = [a for a in before if a["yiaddr"] == d["requested"]]
    got = same or before
    return got[-1] if got else None


def decline(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    msgs = messages(ev, (ACK, DECLINE))
    declines = [m for m in msgs if m["type"] == DECLINE]
    if not declines:
        return []
    acks = [m for m in msgs if m["type"] == ACK]
    groups: dict[tuple, list[tuple[dict[str, Any], dict[str, Any] | None]]] = defaultdict(list)
    for d in declines:
        ack = _lease(acks, d)
        # RFC 2131 4.4.1: the Decline names the address in option 50; older
        # clients leave it out, and then it is the address the ACK gave.
        address = d["requested"] or d["ciaddr"] or (ack["yiaddr"] if ack else None)
        groups[(d["mac"], address)].append((d, ack))
    window = int(p["arp_window_s"] * 1e9)
    senders = arp_senders(ev)
    out = []
    for (mac, address), pairs in groups.items():
        frames: list[int] = []
        arp: dict[int, str | None] = {}
        servers: list[str] = []
        for d, ack in pairs:
            frames.append(d["frame"])
            if ack is not None:
                frames.append(ack["frame"])
            server = d["server_id"] or (ack["server_id"] or ack["src"] if ack is not None else None)
            if server and server not in servers:
                servers.append(server)
            if address:
                start = ack["time"] if ack is not None else d["time"] - window
                arp.update((f, m) for f, t, m in senders.get(address, [])
                           if start <= t <= d["time"] and m != mac)
        frames += list(arp)
        holders = sorted({m for m in arp.values() if m})
        what = address or "the address it was given"
        by = f" leased by {', '.join(servers)}" if servers else ""
        holder = f" ({', '.join(holders)})" if holders else ""
        out.append(Finding(
            "dhcp.decline", "Application Errors", "error",
            f"DHCP client {mac} declined {what}{by}: the address is already in use"
            + (f", by {', '.join(holders)}" if holders else "")
            + (f" ({plural(len(pairs), 'decline')})" if len(pairs) > 1 else ""),
            "The server gave the client an address, the client checked it before using it (an ARP probe, "
            "RFC 2131 4.4.1, RFC 5227) and another host answered for it, so the client refused the lease "
            "with DHCPDECLINE and must start over. Two hosts claim one address: a statically "
            "configured host inside the server's pool, a lease database the server lost, or a second DHCP "
            "server handing out the same range.",
            f"Find the host that answers ARP for {what}{holder} and move it out of the DHCP pool, or exclude "
            "the address from the server's range; check the link for a second DHCP server.",
            frames, ev.sessions_of(frames),
            {"client_mac": mac, "address": address, "servers": servers, "declines": len(pairs),
             "arp_frames": sorted(arp), "holder_macs": holders},
            key=f"dhcp.decline:{mac}:{address}"))
    return out


RULE = Rule("dhcp.decline", "Application Errors", "DHCP address declined (already in use)",
            (Param("arp_window_s", 10, "when the trace lacks the ACK, look this many seconds before the Decline "
                                       "for the ARP packets of the host that holds the address"),), decline)
