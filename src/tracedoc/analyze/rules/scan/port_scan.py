"""``scan.port_scan``: one source trying many distinct ports of one target
within a short window - connection attempts that exchanged no data (SYNs
answered by RST, unanswered, or accepted and dropped) and UDP datagrams met
with ICMP port unreachable or silence (see :mod:`._common`).

Category: Traffic Errors.  A scan is a pattern of one host's traffic over
many sessions, not a fault of any one of them; the refused and unanswered
connections it causes (``tcp.connection_refused``, ``tcp.syn_unanswered``,
``icmp.unreachable``) are the INIT / Traffic errors it explains.  Its
details name ``scanner`` and ``target`` (address text) and count ``ports``;
its sessions are the probes' sessions (a symptom whose sessions all lie in
them is explained by the scan).
"""

from __future__ import annotations

from collections import Counter

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule
from tracedoc.analyze.rules.scan._common import (
    frames_of,
    groups,
    most_in_window,
    probes,
)


def port_scan(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    pr = probes(ev)
    pr = pr.select(pr.port >= 0)
    window_ns = int(p["window_s"] * 1e9)
    out = []
    for (scanner, target), idx in groups(pr, "scanner", "target").items():
        ports = list(zip(pr.proto[idx].tolist(), pr.port[idx].tolist()))
        if len(set(ports)) < p["min_ports"]:
            continue
        best, lo, hi = most_in_window(pr.time[idx], ports, window_ns)
        if best < p["min_ports"]:
            continue
        status: dict[tuple, str] = {}
        for key, st in zip(ports, pr.status[idx].tolist()):
            # A port answered once is open, whatever other probes of it met.
            if status.get(key) != "open":
                status[key] = st
        counts = Counter(status.values())
        open_ports = sorted(f"{pt}/{port}" for (pt, port), st in status.items() if st == "open")
        sids = pr.sid[idx]
        frames = frames_of(ev, pr.select(idx))
        span = (pr.time[idx].max() - pr.time[idx].min()) / 1e9
        in_window = (pr.time[idx][hi - 1] - pr.time[idx][lo]) / 1e9
        protos = Counter(pt for pt, _ in status)
        numbers = sorted(port for _, port in status)
        out.append(Finding(
            "scan.port_scan", "Traffic Errors", "error",
            f"Port scan: {scanner} tried {len(status)} ports of {target} in {span:.1f} s "
            + (f"(open: {', '.join(open_ports[:10])}{' ...' if len(open_ports) > 10 else ''})" if open_ports
               else "(none open)"),
            f"{scanner} probed {best} different ports of {target} within {in_window:.1f} s "
            f"({counts['closed']} refused, {counts['filtered'] + counts['open|filtered']} unanswered or filtered, "
            f"{counts['open']} open), exchanging no data: it is mapping the services of {target}, which is what "
            "a port scanner (nmap and the like), a worm or an attacker's reconnaissance does. A monitoring "
            "system's port checks look the same.",
            f"Find out who runs {scanner}; if the scan is not authorised, block {scanner} and check {target} for "
            "the services the scan found open.",
            frames, sids.tolist(),
            {"scanner": scanner, "target": target, "ports": len(status), "max_in_window": best,
             "window_s": p["window_s"], "seconds": round(span, 3), "probes": len(idx),
             "tcp_ports": protos.get("tcp", 0), "udp_ports": protos.get("udp", 0),
             "open": open_ports[:100], "closed": counts["closed"],
             "filtered": counts["filtered"] + counts["open|filtered"],
             "lowest_port": numbers[0], "highest_port": numbers[-1]},
            key=f"scan.port_scan:{scanner}:{target}"))
    return out


RULE = Rule("scan.port_scan", "Traffic Errors", "Port scan",
         (Param("min_ports", 20, "distinct ports one source tries on one target within the window that make a "
                "scan"),
          Param("window_s", 60, "the window, in seconds")), port_scan)
