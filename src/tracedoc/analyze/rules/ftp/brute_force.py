"""``ftp.brute_force``: many rejected logons from one client within a short window."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule, describe
from tracedoc.analyze.rules.ftp._common import logon_failures


def brute_force(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    by_client: dict[tuple, list[dict]] = defaultdict(list)
    for r in logon_failures(ev):
        by_client[(r["client"], r["server"])].append(r)
    window_ns = int(p["window_s"] * 1e9)
    out = []
    for (client, server), rows in by_client.items():
        times = np.sort(np.array([r["request_time"] for r in rows], dtype=np.int64))
        # The most failures inside any window of window_s seconds.
        ends = np.searchsorted(times, times + window_ns, side="right")
        best = int((ends - np.arange(len(times))).max()) if len(times) else 0
        if best < p["min_failures"]:
            continue
        sessions = ev.sessions_of([r["request_frame"] for r in rows])
        span = (times[-1] - times[0]) / 1e9
        out.append(Finding(
            "ftp.brute_force", "Application Errors", "critical",
            f"Possible FTP brute-force attack: {len(rows)} failed logons from {client} on {server} "
            f"in {span:.1f} s",
            f"{client} tried passwords on {server} at machine speed: {best} rejected logons within "
            f"{describe(p['window_s'])} s, over {len(sessions)} control connection(s). A person mistyping a "
            "password does not do that.",
            f"Block {client} at the firewall, lock or watch the targeted accounts, and enable the server's "
            "limits on failed logons.",
            [r["response_frame"] for r in rows if r["response_frame"] is not None], sessions,
            {"client": client, "server": server, "failures": len(rows), "max_in_window": best,
             "window_s": p["window_s"], "seconds": round(span, 3)},
            key=f"ftp.brute_force:{client}:{server}"))
    return out


RULE = Rule("ftp.brute_force", "Application Errors", "FTP brute-force attack",
         (Param("min_failures", 10, "rejected logons from one client within the window that make an attack"),
          Param("window_s", 60, "the window, in seconds")), brute_force)
