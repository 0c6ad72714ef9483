"""``scan.address_scan``: one source trying many distinct addresses within a
short window - on one port (TCP connection attempts that exchanged no data),
with ICMP echo (a ping sweep) or with ARP requests (a sweep of the
scanner's own subnet); see :mod:`._common` for what a probe is.

Judged per port, so that a host talking to many peers on many ports (a
peer-to-peer client) is not taken for a sweep; the ports one scanner swept
are then reported together, as one finding per scanner.  UDP is left out:
a resolver or a management station whose datagrams to many servers go
unanswered because its own link is down would look the same.

Category: Traffic Errors, as :mod:`.port_scan`.  Its details name the
``scanner`` (address text), count the ``targets`` and ``ports``, and list
them (``target_list``, ``port_list``); its sessions are the probes'.
"""

from __future__ import annotations

import ipaddress

import numpy as np

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule
from tracedoc.analyze.rules.scan._common import (
    frames_of,
    groups,
    most_in_window,
    port_text,
    probes,
)


def _order(a: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(a)
    return ip.version, int(ip)


def address_scan(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    pr = probes(ev)
    pr = pr.select(pr.proto != "udp")
    window_ns = int(p["window_s"] * 1e9)
    swept: dict[str, list[tuple[str, int, np.ndarray, int, float]]] = {}
    for (scanner, proto, port), idx in groups(pr, "scanner", "proto", "port").items():
        targets = pr.target[idx].tolist()
        if len(set(targets)) < p["min_targets"]:
            continue
        best, lo, hi = most_in_window(pr.time[idx], targets, window_ns)
        if best >= p["min_targets"]:
            span = (pr.time[idx][hi - 1] - pr.time[idx][lo]) / 1e9
            swept.setdefault(scanner, []).append((proto, port, idx, best, span))
    out = []
    for scanner, found in swept.items():
        idx = np.unique(np.concatenate([i for _, _, i, _, _ in found]))
        targets = sorted(set(pr.target[idx].tolist()), key=_order)
        live = sorted({t for t, st in zip(pr.target[idx].tolist(), pr.status[idx].tolist())
                       if st in ("open", "closed", "answered")}, key=_order)
        ports = sorted((proto, port) for proto, port, _, _, _ in found)
        names = ", ".join(port_text(pt, po) for pt, po in ports[:5]) + (" ..." if len(ports) > 5 else "")
        best, in_window = max((b, w) for _, _, _, b, w in found)
        echo_only = all(pt == "icmp" for pt, _ in ports)
        sids = pr.sid[idx]
        frames = frames_of(ev, pr.select(idx))
        span = (pr.time[idx].max() - pr.time[idx].min()) / 1e9
        out.append(Finding(
            "scan.address_scan", "Traffic Errors", "warning" if echo_only else "error",
            f"Address scan: {scanner} probed {len(targets)} addresses ({names}) in {span:.1f} s; "
            f"{len(live)} answered",
            f"{scanner} tried {best} different addresses within {in_window:.1f} s on the same "
            f"{'probe' if len(ports) == 1 else 'probes'} ({names}), exchanging no data: it is looking for the "
            "hosts (and services) that exist, as a network scanner, a worm or an attacker's reconnaissance does."
            + (" Network monitoring that pings many hosts looks the same." if echo_only else "")
            + (f" (If {scanner} is a router, its ARP requests may be asking on behalf of a scan it forwards: "
               "look for that scan on its other links.)" if any(pt == "arp" for pt, _ in ports) else ""),
            f"Find out who runs {scanner}; if the sweep is not authorised, block it and check the "
            f"{len(live)} hosts that answered.",
            frames, sorted(set(sids[sids > 0].tolist())),
            {"scanner": scanner, "targets": len(targets), "ports": len(ports), "answered": len(live),
             "max_in_window": best, "window_s": p["window_s"], "seconds": round(span, 3), "probes": len(idx),
             "port_list": [port_text(pt, po) for pt, po in ports], "target_list": targets,
             "answered_list": live},
            key=f"scan.address_scan:{scanner}"))
    return out


RULE = Rule("scan.address_scan", "Traffic Errors", "Address scan (sweep)",
         (Param("min_targets", 20, "distinct addresses one source probes on one port (or with ICMP echo) within "
                "the window that make a sweep"),
          Param("window_s", 60, "the window, in seconds")), address_scan)
