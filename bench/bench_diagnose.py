#!/usr/bin/env python3
"""Speed benchmark of the Exception Report: ``tracedoc diagnose`` against
``tracedoc sessions`` (issue 6: diagnose must take less than 3x sessions),
with tshark's expert information (``tshark -q -z expert``) on the same trace
in the same run as the outside reference.

Usage:
    python bench/bench_diagnose.py [--packets 1000000] [--trace PATH] [--repeat 1]

Commands, each with stdout to /dev/null (wall time, CPU time and peak RSS
measured by bench_fields.run_once, best of --repeat):

- ``tracedoc sessions FILE --format csv``: the Session Summary;
- ``tracedoc diagnose FILE --format json``: every rule of the Exception
  Report, with the sessions, transactions and FTP links they read;
- ``tshark -n -q -r FILE -z expert``: tshark's expert items (flags per
  packet, counted by severity and group). It does less than diagnose (no
  sessions, no transactions, no judgement across packets) and is printed
  as the reference a Wireshark user knows.

dpkt has no expert analysis, so it has no entry here. Results go to
bench/out/results-diagnose-<N>.json. See bench/README.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

from bench_fields import OUT, prepare, run_once, tracedoc_exe
from bench_sessions import synthetic_trace

LIMIT = 3.0
"""Issue 6: diagnose takes less than this many times sessions."""


def commands(trace: Path, tshark: bool) -> dict[str, list[str]]:
    cmds = {
        "tracedoc sessions": [tracedoc_exe(), "sessions", str(trace), "--format", "csv"],
        "tracedoc diagnose": [tracedoc_exe(), "diagnose", str(trace), "--format", "json"],
    }
    if tshark:
        cmds["tshark -z expert"] = ["tshark", "-n", "-q", "-r", str(trace), "-z", "expert"]
    return cmds


def findings(trace: Path) -> dict[str, int]:
    """How many findings of each rule diagnose reports (nested symptoms included)."""
    out = subprocess.run([tracedoc_exe(), "diagnose", str(trace), "--format", "json"], capture_output=True,
                         text=True, check=True).stdout
    counts: dict[str, int] = {}

    def walk(fs: list[dict]) -> None:
        for f in fs:
            counts[f["rule"]] = counts.get(f["rule"], 0) + 1
            walk(f.get("symptoms", []))

    walk(json.loads(out))
    return dict(sorted(counts.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=1_000_000,
                    help="packets in the synthetic trace (default 1,000,000, ~785 MB)")
    ap.add_argument("--trace", type=Path, help="use this trace instead of generating one")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per command; the best is reported")
    args = ap.parse_args()

    os.environ.setdefault("GIT_OPTIONAL_LOCKS", "0")
    tshark = shutil.which("tshark") is not None
    if not tshark:
        print("bench: tshark is not installed (Debian: apt-get install tshark): no expert-info reference")
    print("dpkt has no expert analysis (no sessions, retransmissions, ICMP or DNS judgement): no dpkt entry")
    mach, vers, trace, n_pkts, size = prepare(args.trace, args.packets, synthetic_trace)
    use_time = os.access("/usr/bin/time", os.X_OK)

    found = findings(trace)
    print("findings: " + (", ".join(f"{k} {v:,}" for k, v in found.items()) or "none"))

    cmds = commands(trace, tshark)
    runs: dict[str, list[dict]] = {name: [] for name in cmds}
    for r in range(args.repeat):
        for name, cmd in cmds.items():
            print(f"run {r + 1}/{args.repeat}: {name} ...", end=" ", flush=True)
            res = run_once(cmd, use_time)
            runs[name].append(res)
            print(f"{res['wall_s']:.2f}s, {res['rss_kib'] / 1024:.0f} MiB"
                  + (f"  [exit {res['rc']}: {res['stderr'][-300:]}]" if res["rc"] else ""), flush=True)

    summary: dict[str, dict] = {}
    for name, rs in runs.items():
        ok = [x for x in rs if x["rc"] == 0]
        if not ok:
            summary[name] = {"failed": True}
            continue
        best = min(ok, key=lambda x: x["wall_s"])
        summary[name] = {"seconds": best["wall_s"], "cpu_seconds": best["user_s"] + best["sys_s"],
                         "peak_rss_mib": max(x["rss_kib"] for x in ok) / 1024,
                         "all_seconds": [x["wall_s"] for x in rs]}

    print()
    print(f"{n_pkts:,} packets, {size / 2**20:.0f} MiB, output to /dev/null, best of {args.repeat} run(s), "
          "warm page cache")
    hdr = f"{'command':<20} {'wall s':>8} {'CPU s':>8} {'peak RSS MiB':>13}"
    print(hdr)
    print("-" * len(hdr))
    for name, s in summary.items():
        if s.get("failed"):
            print(f"{name:<20} {'FAILED':>8}")
        else:
            print(f"{name:<20} {s['seconds']:>8.2f} {s['cpu_seconds']:>8.2f} {s['peak_rss_mib']:>13.1f}")
    d, s_ = summary.get("tracedoc diagnose", {}), summary.get("tracedoc sessions", {})
    headline: dict[str, float] = {}
    if d and s_ and not d.get("failed") and not s_.get("failed"):
        headline["diagnose_time/sessions_time"] = d["seconds"] / s_["seconds"]
    t = summary.get("tshark -z expert", {})
    if t and d and not t.get("failed") and not d.get("failed"):
        headline["tshark_expert_time/diagnose_time"] = t["seconds"] / d["seconds"]
    print()
    for k, v in headline.items():
        print(f"{k:<36} = {v:.2f}")
    if "diagnose_time/sessions_time" in headline:
        r = headline["diagnose_time/sessions_time"]
        print(f"issue 6 limit (diagnose < {LIMIT:g}x sessions): {'met' if r < LIMIT else 'NOT MET'} ({r:.2f}x)")

    OUT.mkdir(parents=True, exist_ok=True)
    result = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": mach, "versions": vers,
              "trace": {"path": str(trace), "packets": n_pkts, "bytes": size}, "findings": found,
              "summary": summary, "headline": headline}
    path = OUT / f"results-diagnose-{n_pkts}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
