"""``dhcp.no_offer``: a client's DHCPDISCOVERs (and their retries) that no
server answered with an offer."""

from __future__ import annotations

import bisect
from collections import defaultdict

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule
from tracedoc.analyze.rules.dhcp._common import DISCOVER, OFFER, messages, plural


def no_offer(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    msgs = messages(ev, (DISCOVER, OFFER))
    if not any(m["type"] == DISCOVER for m in msgs):
        return []
    # An offer answers a client whatever its xid: some clients change the xid
    # between retries, and an offer to the client's hardware address is for it.
    offers: dict[str | None, list[int]] = defaultdict(list)
    for m in msgs:
        if m["type"] == OFFER:
            offers[m["mac"]].append(m["time"])
    window = int(p["window_s"] * 1e9)
    lost: dict[str | None, list[dict]] = defaultdict(list)
    for m in msgs:
        if m["type"] != DISCOVER:
            continue
        times = offers.get(m["mac"], [])
        i = bisect.bisect_left(times, m["time"])
        if i < len(times) and times[i] - m["time"] <= window:
            continue
        lost[m["mac"]].append(m)
    out = []
    for mac, ds in lost.items():
        if len(ds) < p["min_discovers"]:
            continue
        frames = [d["frame"] for d in ds]
        span = (ds[-1]["time"] - ds[0]["time"]) / 1e9
        late = bool(offers.get(mac))
        out.append(Finding(
            "dhcp.no_offer", "Application Errors", "error",
            f"No DHCP server offered an address to client {mac}: {plural(len(ds), 'DISCOVER')} over "
            f"{span:.1f} s got no OFFER",
            "The client broadcast DHCPDISCOVER, retried, and no server answered with DHCPOFFER within "
            f"{p['window_s']:g} s (RFC 2131 4.1): no DHCP server on this link and no relay agent (ip helper) "
            "forwarding to one, the server is down or has no free address for this subnet, or it is set to "
            "ignore this client" + ("; some offers did come, later than that." if late else "."),
            "Check that a DHCP server, or a relay agent pointing at one, serves this client's VLAN or subnet, "
            "that its pool for the subnet has free addresses, and that UDP ports 67 and 68 pass between them.",
            frames, ev.sessions_of(frames),
            {"client_mac": mac, "discovers": len(ds), "xids": len({d["xid"] for d in ds}),
             "first_frame": frames[0], "last_frame": frames[-1], "window_s": p["window_s"]},
            key=f"dhcp.no_offer:{mac}"))
    return out


RULE = Rule("dhcp.no_offer", "Application Errors", "DHCP DISCOVER never answered", (
    Param("window_s", 5, "a DISCOVER counts as answered when an OFFER to its client comes within this many "
                         "seconds (clients retry after about 4 s, RFC 2131 4.1)"),
    Param("min_discovers", 2, "report a client when at least this many of its DISCOVERs went unanswered "
                              "(one alone may just be cut off by the end of the capture)"),
), no_offer)
