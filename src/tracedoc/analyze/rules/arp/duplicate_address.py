"""``arp.duplicate_address``: two MAC addresses claiming one IPv4 address.

A host claims an address in every ARP request and reply it sends (sender
IP and MAC) and, in a reply, the requester's binding is claimed back
(target IP and MAC) - the bindings Wireshark's ARP dissector checks for its
"duplicate use of ... detected" (``arp.duplicate-address-detected``): only
Ethernet / IPv4 requests and replies, no broadcast, multicast or all-zero
MAC, no 0.0.0.0.  Besides, an RFC 5227 probe (a request with sender IP
0.0.0.0: "is anyone using X?", as ``arping -D``, DHCP clients and hosts
bringing an address up send it; its target MAC "SHOULD" be zero, busybox
and iputils ``arping -D`` send ff:ff:ff:ff:ff:ff) that another MAC answers
for X, or probes for X as well, is a conflict the prober was meant to find.

How the claims of the MACs fall in time says what happened: both answering
the same request, claims taking turns (A, B, A) or a probe answered are a
live conflict (two hosts configured with one address: error); a clean
change from one MAC to another (a replaced NIC, a failover, a host that
took over a departed one's address) is a warning.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from typing import Any

import numpy as np

from tracedoc.analyze.columns import values
from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule
from tracedoc.analyze.rules.ip._common import GROUP_BIT, mac_text, v4_text

REQUEST, REPLY = 1, 2


def _ints(ev: Evidence, name: str) -> tuple[np.ndarray, np.ndarray]:
    return values(ev.tbl, name, np.int64)


def _unicast(mac: np.ndarray) -> np.ndarray:
    return ((mac & GROUP_BIT) == 0) & (mac != 0)


def claims(ev: Evidence) -> tuple[list[tuple[int, int, int, str]], list[tuple[int, int, int]]]:
    """(row, ip, mac, how) of every claim, and (row, ip, mac) of every probe, in row order."""
    op, has = _ints(ev, "arp.opcode")
    hw, _ = _ints(ev, "arp.hw.type")
    hlen, _ = _ints(ev, "arp.hw.size")
    pro, _ = _ints(ev, "arp.proto.type")
    plen, _ = _ints(ev, "arp.proto.size")
    # Ethernet (1) or IEEE 802 (6) hardware with 6-byte addresses carrying IPv4, as Wireshark requires.
    ok = has & np.isin(op, (REQUEST, REPLY)) & np.isin(hw, (1, 6)) & (hlen == 6) & (pro == 0x0800) & (plen == 4)
    sha, _ = _ints(ev, "arp.src.hw_mac")
    spa, _ = _ints(ev, "arp.src.proto_ipv4")
    tha, _ = _ints(ev, "arp.dst.hw_mac")
    tpa, _ = _ints(ev, "arp.dst.proto_ipv4")
    sender = ok & _unicast(sha) & (spa != 0)
    target = ok & (op == REPLY) & _unicast(tha) & (tpa != 0) & ~(sender & (tpa == spa))
    probe = ok & (op == REQUEST) & (spa == 0) & (tpa != 0) & _unicast(sha)
    found: list[tuple[int, int, int, str]] = []
    for r in np.flatnonzero(sender | target).tolist():
        if sender[r]:
            how = ("announcement" if op[r] == REQUEST and tha[r] == 0 else "gratuitous ARP") \
                if tpa[r] == spa[r] else ("reply" if op[r] == REPLY else "request")
            found.append((r, int(spa[r]), int(sha[r]), how))
        if target[r]:
            found.append((r, int(tpa[r]), int(tha[r]), "reply target"))
    probes = [(r, int(tpa[r]), int(sha[r])) for r in np.flatnonzero(probe).tolist()]
    return found, probes


def duplicate_address(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    found, probes = claims(ev)
    if not found and not probes:
        return []
    t, _ = values(ev.tbl, "frame.time_epoch", np.int64)
    tpa, _ = _ints(ev, "arp.dst.proto_ipv4")
    tha, _ = _ints(ev, "arp.dst.hw_mac")
    by_ip: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for r, ip, mac, how in found:
        by_ip[ip].append((r, mac, how))
    probes_of: dict[int, list[tuple[int, int]]] = {}
    for r, ip, mac in probes:
        probes_of.setdefault(ip, []).append((r, mac))
    window = int(p["probe_window_s"] * 1e9)
    out = []
    for ip in list(dict.fromkeys([*by_ip, *probes_of])):
        cl = by_ip.get(ip, [])
        macs = list(dict.fromkeys(m for _, m, _ in cl))
        # An RFC 5227 probe for ip answered (or probed for as well) by another MAC.
        answered = [(pr, pm, r, m) for pr, pm in probes_of.get(ip, []) for r, m, _ in cl
                    if m != pm and 0 <= t[r] - t[pr] <= window]
        answered += [(pr, pm, r2, m2) for pr, pm in probes_of.get(ip, []) for r2, m2 in probes_of[ip]
                     if m2 != pm and 0 < t[r2] - t[pr] <= window]      # two hosts probing for one address
        if len(macs) < 2 and not answered:
            continue
        # Two replies for ip from different MACs to the same request (same requester) within a second.
        replies = [(r, m) for r, m, how in cl if how == "reply"]
        both = False
        for i, (r1, m1) in enumerate(replies):
            for r2, m2 in replies[i + 1:]:
                if t[r2] - t[r1] > 1e9 or both:
                    break
                both = m1 != m2 and tpa[r1] == tpa[r2] and tha[r1] == tha[r2]
        order = [m for _, m, _ in cl]
        turns = sum(1 for a, b in pairwise(order) if a != b)
        if answered:
            kind = "probe answered"
        elif both:
            kind = "both answered"
        elif turns >= 2:
            kind = "claims alternate"
        else:
            kind = "changed"
        conflict = kind != "changed"
        rows = sorted({r for r, _, _ in cl} | {pr for pr, _, _, _ in answered} | {r for _, _, r, _ in answered})
        ip_text = v4_text(ip)
        per_mac: list[dict[str, Any]] = []
        for m in list(dict.fromkeys(macs + [pm for _, pm, _, _ in answered])):
            mine = [r for r, mm, _ in cl if mm == m]
            probed = [r for r, mm in probes_of.get(ip, []) if mm == m]
            seen = sorted(mine + probed)
            per_mac.append({"mac": mac_text(m), "claims": len(mine), "probes": len(probed),
                            "first_frame": int(ev.frames[seen[0]]), "last_frame": int(ev.frames[seen[-1]])})
        names = " and ".join(x["mac"] for x in per_mac[:3]) + (" ..." if len(per_mac) > 3 else "")
        frames = ev.frames[rows].tolist()
        if kind == "probe answered":
            _, pm, r, m = answered[0]
            summary = (f"Address conflict on {ip_text}: {mac_text(pm)} probed for it and {mac_text(m)} "
                       + ("probed for it too" if r in {q for q, _ in probes_of[ip]} else "claims it"))
            why = (f"{mac_text(pm)} asked whether anyone uses {ip_text} (an ARP probe, RFC 5227) before taking "
                   f"it, and {mac_text(m)} answered for it: the address is already in use, so the prober must "
                   "not use it (a DHCP client declines it; a host with it configured statically disables it or "
                   "fights for it).")
        else:
            summary = (f"Duplicate IP address {ip_text}: claimed by {names}" if conflict else
                       f"IP address {ip_text} moved from {per_mac[0]['mac']} to {per_mac[-1]['mac']}")
            why = {"both answered": f"Two hosts answered the same ARP request for {ip_text}: both are configured "
                   "with it. Each sender's ARP cache keeps whichever reply it took, so connections to the "
                   "address reach one host or the other and break when the caches change.",
                   "claims alternate": f"ARP claims for {ip_text} come from {names} in turn: two hosts use the "
                   "address at the same time, and the other hosts' ARP caches flip between them, breaking "
                   "connections.",
                   "changed": f"{ip_text} was claimed by {per_mac[0]['mac']}, later by {per_mac[-1]['mac']}, and "
                   "not by the first again within the trace: a replaced network card, a failover (VRRP/HSRP, a "
                   "cluster), a moved virtual machine - or a second host that took the address over."}[kind]
        out.append(Finding(
            "arp.duplicate_address", "Traffic Errors", "error" if conflict else "warning",
            summary, why,
            f"Find the hosts with these MAC addresses (switch MAC address tables, DHCP leases) and give each its "
            f"own address; check static configurations and DHCP scopes that overlap at {ip_text}."
            if conflict else f"If the change of {ip_text} to {per_mac[-1]['mac']} was not a planned failover or "
            "hardware change, find that host and check its address configuration.",
            frames, ev.sessions_of(frames),
            {"ip": ip_text, "macs": per_mac, "kind": kind, "claims": len(cl),
             "probes": len(probes_of.get(ip, []))},
            key=f"arp.duplicate_address:{ip_text}"))
    return out


RULE = Rule("arp.duplicate_address", "Traffic Errors", "Duplicate IP address (two MACs claim one address in ARP)",
         (Param("probe_window_s", 10, "a claim by another MAC up to this many seconds after an ARP probe "
                "(RFC 5227) for the address answers it"),), duplicate_address)
