#!/usr/bin/env python3
"""Speed benchmark of the analysis views: ``tracedoc sessions`` and the TCP
analysis columns of ``tracedoc fields``, against tshark (and dpkt where dpkt
can do the job).

Usage:
    python bench/bench_sessions.py [--packets 1000000] [--trace PATH]
                                   [--repeat 1] [--check-lines 0]

Two views, on the same trace in one run:

1. sessions: ``tracedoc sessions --format csv`` vs tshark's conversation
   tables (``-z conv,tcp -z conv,udp``) vs bench/dpkt_sessions.py (a dpkt
   loop counting packets and IP bytes per 5-tuple and direction). Agreement:
   TCP/UDP conversation counts of all three, per-conversation packet and byte
   totals of tracedoc (``--format json``) against dpkt, frame counts of
   tshark against dpkt.
2. tcp-analysis: ``tracedoc fields`` vs ``tshark -T fields`` with the TCP
   analysis columns in TCP_FIELDS, outputs compared line by line. dpkt has
   no TCP analysis, so it has no entry here.

Wall time (best of --repeat runs), CPU time and the peak RSS of each tool
(stdout to /dev/null) are measured with bench_fields.run_once, a table with
the ratios against tshark is printed and everything is written to
bench/out/results-sessions-<N>.json. See bench/README.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import bench_fields
from bench_fields import (
    BENCH,
    OUT,
    first_lines,
    make_trace,
    prepare,
    run_once,
    tracedoc_exe,
)

DPKT_SESSIONS = BENCH / "dpkt_sessions.py"

TCP_FIELDS = [
    "frame.number", "tcp.stream", "tcp.seq", "tcp.ack", "tcp.analysis.flags",
    "tcp.analysis.retransmission", "tcp.analysis.duplicate_ack",
    "tcp.analysis.bytes_in_flight", "tcp.analysis.ack_rtt", "tcp.window_size",
]
"""The tcp-analysis view: tshark's per-packet TCP analysis (relative sequence
numbers, stream index, expert flags, bytes in flight, ACK RTT, scaled window)."""

MIN_PACKETS_PER_CONN = 24
"""gen_trace.py gives every TCP connection at least 12 packets and fails when
the trace is too small for bench_fields.N_CONNS of them; below that size the
synthetic trace gets fewer connections, about twice that many packets each."""

Conv = tuple[str, str, int, str, int]
"""(proto, ip_lo, port_lo, ip_hi, port_hi): a conversation, endpoints sorted."""


# -- the trace ---------------------------------------------------------------

def synthetic_trace(n: int) -> Path:
    """bench_fields.make_trace(n), with fewer TCP connections when n packets
    cannot hold bench_fields.N_CONNS of them (the generator would fail; a
    trace that size is for trying the script out, not for figures)."""
    n_tcp = n - n // 10 - max(4, n // 10000)
    if n_tcp < 12 * bench_fields.N_CONNS:
        bench_fields.N_CONNS = max(1, n_tcp // MIN_PACKETS_PER_CONN)
    return make_trace(n)


# -- the commands --------------------------------------------------------------

def commands(trace: Path, tools: set[str]) -> dict[str, dict[str, list[str]]]:
    """view -> tool -> argv, for the tools that are available."""
    e = [a for f in TCP_FIELDS for a in ("-e", f)]
    views: dict[str, dict[str, list[str]]] = {"sessions": {}, "tcp-analysis": {}}
    views["sessions"]["tracedoc"] = [tracedoc_exe(), "sessions", str(trace), "--format", "csv"]
    views["tcp-analysis"]["tracedoc"] = [tracedoc_exe(), "fields", str(trace), *e]
    if "tshark" in tools:
        views["sessions"]["tshark"] = ["tshark", "-n", "-q", "-r", str(trace), "-z", "conv,tcp", "-z", "conv,udp"]
        views["tcp-analysis"]["tshark"] = ["tshark", "-n", "-r", str(trace), "-T", "fields", *e]
    if "dpkt" in tools:
        views["sessions"]["dpkt"] = [sys.executable, str(DPKT_SESSIONS), str(trace)]
    return views


def stdout_of(cmd: list[str]) -> str:
    """The whole standard output of cmd (its stderr is dropped)."""
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if p.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()[-500:]}")
    return p.stdout


# -- sessions agreement ----------------------------------------------------------

def conv_key(proto: str, ip1: str, port1: int, ip2: str, port2: int) -> tuple[Conv, bool]:
    """The conversation of a packet from (ip1, port1) to (ip2, port2), and
    whether that direction is lo -> hi in the conversation's sorted order."""
    a, b = (ip1, port1), (ip2, port2)
    if a <= b:
        return (proto, ip1, port1, ip2, port2), True
    return (proto, ip2, port2, ip1, port1), False


def add(convs: dict[Conv, list], key: tuple[Conv, bool], packets: int, nbytes: int | None,
        packets_back: int, nbytes_back: int | None) -> None:
    """Add one direction's and the other's counts to convs[key]:
    [packets lo->hi, bytes lo->hi, packets hi->lo, bytes hi->lo, rows]."""
    k, fwd = key
    rec = convs.setdefault(k, [0, 0, 0, 0, 0])
    if not fwd:
        packets, nbytes, packets_back, nbytes_back = packets_back, nbytes_back, packets, nbytes
    rec[0] += packets
    rec[2] += packets_back
    if nbytes is None or nbytes_back is None or rec[1] is None:
        rec[1] = rec[3] = None
    else:
        rec[1] += nbytes
        rec[3] += nbytes_back
    rec[4] += 1


def tracedoc_convs(cmd: list[str]) -> tuple[dict[str, int], dict[Conv, list]]:
    """Per-protocol session counts and per-conversation totals of
    ``tracedoc sessions --format json`` (packets/bytes in = toward local)."""
    counts: dict[str, int] = {}
    convs: dict[Conv, list] = {}
    for s in json.loads(stdout_of(cmd)):
        proto = s["proto"]
        counts[proto] = counts.get(proto, 0) + 1
        if proto not in ("tcp", "udp"):
            continue
        add(convs, conv_key(proto, s["local_ip"], s["local_port"], s["remote_ip"], s["remote_port"]),
            s["packets_out"], s["bytes_out"], s["packets_in"], s["bytes_in"])
    return counts, convs


def dpkt_convs(cmd: list[str]) -> tuple[dict[str, int], dict[Conv, list]]:
    """Per-protocol conversation counts and totals of dpkt_sessions.py's CSV."""
    counts: dict[str, int] = {}
    convs: dict[Conv, list] = {}
    lines = stdout_of(cmd).splitlines()
    for line in lines[1:]:
        c = line.split(",")
        counts[c[0]] = counts.get(c[0], 0) + 1
        add(convs, conv_key(c[0], c[1], int(c[2]), c[3], int(c[4])),
            int(c[5]), int(c[6]), int(c[7]), int(c[8]))
    return counts, convs


TSHARK_CONV = re.compile(
    r"^(?P<a>\S+):(?P<ap>\d+)\s+<->\s+(?P<b>\S+):(?P<bp>\d+)\s+"
    r"(?P<f_ba>\d+)\s+\S+\s+\S+\s+(?P<f_ab>\d+)\s+\S+\s+\S+\s+(?P<f_tot>\d+)\s")


def tshark_convs(cmd: list[str]) -> tuple[dict[str, int], dict[Conv, list]]:
    """Per-protocol row counts and per-conversation frame counts of tshark's
    conversation tables. Its byte columns are frame bytes, rounded to kB
    above 10,000, so they are not compared; "<-" is B -> A, "->" A -> B."""
    counts: dict[str, int] = {}
    convs: dict[Conv, list] = {}
    proto = None
    for line in stdout_of(cmd).splitlines():
        head = re.match(r"^(TCP|UDP) Conversations", line)
        if head:
            proto = head.group(1).lower()
            counts.setdefault(proto, 0)
            continue
        m = TSHARK_CONV.match(line)
        if m and proto:
            counts[proto] += 1
            add(convs, conv_key(proto, m["a"], int(m["ap"]), m["b"], int(m["bp"])),
                int(m["f_ab"]), None, int(m["f_ba"]), None)
    return counts, convs


def compare_convs(name: str, got: dict[Conv, list], ref: dict[Conv, list], ref_name: str,
                  with_bytes: bool) -> dict:
    """Per-conversation packet (and byte) totals of got against ref."""
    only_got = [k for k in got if k not in ref]
    only_ref = [k for k in ref if k not in got]
    pk_diff, by_diff = [], []
    for k, g in got.items():
        r = ref.get(k)
        if r is None:
            continue
        if (g[0], g[2]) != (r[0], r[2]):
            pk_diff.append(k)
        if with_bytes and (g[1], g[3]) != (r[1], r[3]):
            by_diff.append(k)
    res: dict = {
        "tool": name, "against": ref_name, "conversations_tool": len(got), "conversations_ref": len(ref),
        "in_both": len(got) - len(only_got), f"only_{name}": len(only_got), f"only_{ref_name}": len(only_ref),
        "packets_differ": len(pk_diff), "bytes_differ": len(by_diff) if with_bytes else None,
        "several_rows": sum(1 for v in got.values() if v[4] > 1),
        "several_rows_ref": sum(1 for v in ref.values() if v[4] > 1),
    }
    res["agree"] = not (only_got or only_ref or pk_diff or by_diff)
    examples = []
    for what, keys in (("only in " + name, only_got), ("only in " + ref_name, only_ref),
                       ("packets differ", pk_diff), ("bytes differ", by_diff)):
        for k in keys[:3]:
            examples.append({"what": what, "conversation": "{} {}:{} <-> {}:{}".format(*k),
                             name: got.get(k, [None] * 5)[:4], ref_name: ref.get(k, [None] * 5)[:4]})
    res["examples"] = examples
    return res


def sessions_agreement(views: dict[str, dict[str, list[str]]], trace: Path) -> dict:
    """Conversation counts of every tool and the per-conversation checks."""
    print("checking sessions agreement ...", flush=True)
    tools = views["sessions"]
    parsed: dict[str, tuple[dict[str, int], dict[Conv, list]]] = {}
    json_cmd = [tracedoc_exe(), "sessions", str(trace), "--format", "json"]
    parsed["tracedoc"] = tracedoc_convs(json_cmd)
    if "tshark" in tools:
        parsed["tshark"] = tshark_convs(tools["tshark"])
    if "dpkt" in tools:
        parsed["dpkt"] = dpkt_convs(tools["dpkt"])

    counts = {}
    print(f"  {'tool':<9} {'TCP':>8} {'UDP':>8}  {'TCP+UDP 5-tuples':>16}  {'5-tuples with >1 row':>20}  other")
    for t, (c, convs) in parsed.items():
        other = {k: v for k, v in c.items() if k not in ("tcp", "udp")}
        counts[t] = {"tcp": c.get("tcp", 0), "udp": c.get("udp", 0), "five_tuples": len(convs),
                     "five_tuples_with_several_rows": sum(1 for v in convs.values() if v[4] > 1),
                     "other": other}
        print(f"  {t:<9} {c.get('tcp', 0):>8,} {c.get('udp', 0):>8,}  {len(convs):>16,}  "
              f"{counts[t]['five_tuples_with_several_rows']:>20,}  "
              + (", ".join(f"{k} {v:,}" for k, v in other.items()) or "-"))
    print("  (a row is a session for tracedoc, a conversation for tshark and dpkt; "
          "several rows on one 5-tuple: a port pair reused by a new connection, or a UDP flow idle "
          "past --udp-timeout)")

    checks = []
    if "dpkt" in parsed:
        checks.append(compare_convs("tracedoc", parsed["tracedoc"][1], parsed["dpkt"][1], "dpkt", True))
        if "tshark" in parsed:
            checks.append(compare_convs("tshark", parsed["tshark"][1], parsed["dpkt"][1], "dpkt", False))
    elif "tshark" in parsed:
        checks.append(compare_convs("tracedoc", parsed["tracedoc"][1], parsed["tshark"][1], "tshark", False))
    for r in checks:
        what = "packets and IP bytes" if r["bytes_differ"] is not None else "packets (frames)"
        head = f"  {r['tool']:>8} vs {r['against']}, {what} per 5-tuple (both directions, rows summed): "
        if r["agree"]:
            print(head + f"AGREE on all {r['in_both']:,} conversations")
        else:
            print(head + f"DIFFERENT: {r['in_both']:,} in both, {r['only_' + r['tool']]:,} only in "
                  f"{r['tool']}, {r['only_' + r['against']]:,} only in {r['against']}, packets differ on "
                  f"{r['packets_differ']:,}" + (f", bytes on {r['bytes_differ']:,}"
                                                if r["bytes_differ"] is not None else ""))
            for ex in r["examples"]:
                print(f"           {ex['what']}: {ex['conversation']}  {r['tool']} {ex[r['tool']]}  "
                      f"{r['against']} {ex[r['against']]}   [pk lo->hi, B lo->hi, pk hi->lo, B hi->lo]")
    return {"counts": counts, "checks": checks}


def analysis_agreement(views: dict[str, dict[str, list[str]]], n: int) -> list[dict]:
    """tracedoc's TCP analysis columns against tshark's, line by line, byte
    for byte (bench_fields.compare; n == 0: the whole output)."""
    cmds = views["tcp-analysis"]
    if "tshark" not in cmds:
        return []
    label = f"the first {n:,} lines" if n else "the whole output"
    print(f"checking tcp-analysis agreement with tshark on {label} ...", flush=True)
    ref = first_lines(cmds["tshark"], n)
    got = first_lines(cmds["tracedoc"], n)
    # compare() names the differing columns from bench_fields.FIELDS.
    bench_fields.FIELDS = TCP_FIELDS
    res = bench_fields.compare("tracedoc", got, ref)
    if res["identical"]:
        print(f"  tracedoc vs tshark: IDENTICAL, {res['lines_compared']:,} lines byte for byte")
    else:
        print(f"  tracedoc vs tshark: DIFFERENT: {res['differing_lines']:,} of {res['lines_compared']:,} "
              f"lines differ (line counts {res['lines_tool']:,} vs {res['lines_tshark']:,})")
        if "first_difference" in res:
            fd = res["first_difference"]
            print(f"           columns differing: {', '.join(res['differing_columns'])}")
            print(f"           first at line {fd['line']}:\n             tracedoc: {fd['tool']!r}\n"
                  f"               tshark: {fd['tshark']!r}")
    return [res]


# -- main ---------------------------------------------------------------------

def ratio(a: float | None, b: float | None) -> float:
    return a / b if a is not None and b else math.nan


def times(x: float | None) -> str:
    """A ratio as "1.23x", or "-" when there is none (no tshark)."""
    return "-" if x is None or math.isnan(x) else f"{x:.2f}x"


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=1_000_000,
                    help="packets in the synthetic trace (default 1,000,000, ~785 MB)")
    ap.add_argument("--trace", type=Path, help="use this trace instead of generating one")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per tool; the best is reported")
    ap.add_argument("--check-lines", type=int, default=0,
                    help="tcp-analysis view: compare the first N output lines with tshark's "
                         "(default 0: the whole output; -1: no check)")
    ap.add_argument("--no-check", action="store_true", help="skip the sessions agreement check too")
    args = ap.parse_args()

    # versions() asks git for the revision; do not let it take the index lock.
    os.environ.setdefault("GIT_OPTIONAL_LOCKS", "0")
    tools = {"tracedoc"}
    if shutil.which("tshark"):
        tools.add("tshark")
    else:
        print("bench: tshark is not installed (Debian: apt-get install tshark): no tshark contender, "
              "no ratios against it, no agreement check of the TCP analysis columns")
    try:
        import dpkt  # noqa: F401
        tools.add("dpkt")
    except ImportError:
        print("bench: dpkt is not installed (pip install dpkt): no dpkt contender for the sessions view")

    mach, vers, trace, n_pkts, size = prepare(args.trace, args.packets, synthetic_trace)

    views = commands(trace, tools)
    use_time = os.access("/usr/bin/time", os.X_OK)
    print(f"peak RSS via: {'/usr/bin/time -v' if use_time else 'a getrusage(RUSAGE_CHILDREN) wrapper'}")
    print("tcp-analysis view: dpkt has no TCP analysis (no stream tracking, retransmission, duplicate ACK, "
          "bytes in flight or ACK RTT), so there is no dpkt contender for it")

    agreement: dict = {}
    if not args.no_check:
        agreement["sessions"] = sessions_agreement(views, trace)
    if args.check_lines >= 0:
        agreement["tcp-analysis"] = analysis_agreement(views, args.check_lines)

    runs: dict[str, dict[str, list[dict]]] = {v: {t: [] for t in cmds} for v, cmds in views.items()}
    for r in range(args.repeat):
        for view, cmds in views.items():
            for t, cmd in cmds.items():
                print(f"run {r + 1}/{args.repeat}: {view} {t} ...", end=" ", flush=True)
                res = run_once(cmd, use_time)
                runs[view][t].append(res)
                print(f"{res['wall_s']:.2f}s, {res['rss_kib'] / 1024:.0f} MiB"
                      + (f"  [exit {res['rc']}: {res['stderr'][-300:]}]" if res["rc"] else ""), flush=True)

    summary: dict[str, dict[str, dict]] = {}
    for view, view_runs in runs.items():
        summary[view] = {}
        for t, rs in view_runs.items():
            ok = [x for x in rs if x["rc"] == 0]
            if not ok:
                summary[view][t] = {"failed": True}
                continue
            best = min(ok, key=lambda x: x["wall_s"])
            summary[view][t] = {
                "seconds": best["wall_s"], "cpu_seconds": best["user_s"] + best["sys_s"],
                "packets_per_s": n_pkts / best["wall_s"],
                "peak_rss_mib": max(x["rss_kib"] for x in ok) / 1024,
                "all_seconds": [x["wall_s"] for x in rs],
            }
        ref = summary[view].get("tshark", {})
        for s in summary[view].values():
            if not s.get("failed") and ref and not ref.get("failed"):
                s["time_vs_tshark"] = ratio(s["seconds"], ref["seconds"])
                s["rss_vs_tshark"] = ratio(s["peak_rss_mib"], ref["peak_rss_mib"])

    print()
    print(f"{n_pkts:,} packets, {size / 2**20:.0f} MiB, output to /dev/null, best of {args.repeat} run(s), "
          f"warm page cache")
    hdr = f"{'view':<13} {'tool':<9} {'wall s':>8} {'packets/s':>11} {'CPU s':>8} {'peak RSS MiB':>13} " \
          f"{'time/tshark':>12} {'RSS/tshark':>11}"
    print(hdr)
    print("-" * len(hdr))
    for view, view_sum in summary.items():
        for t, s in view_sum.items():
            if s.get("failed"):
                print(f"{view:<13} {t:<9} {'FAILED':>8}")
                continue
            print(f"{view:<13} {t:<9} {s['seconds']:>8.2f} {s['packets_per_s']:>11,.0f} {s['cpu_seconds']:>8.2f} "
                  f"{s['peak_rss_mib']:>13.1f} {times(s.get('time_vs_tshark')):>12} "
                  f"{times(s.get('rss_vs_tshark')):>11}")
        if view == "tcp-analysis":
            print(f"{view:<13} {'dpkt':<9} {'—':>8}  (dpkt has no TCP analysis)")

    headline = {}
    for view, view_sum in summary.items():
        td, ts = view_sum.get("tracedoc", {}), view_sum.get("tshark", {})
        if td and ts and not td.get("failed") and not ts.get("failed"):
            headline[f"{view}: tshark_time/tracedoc_time"] = ts["seconds"] / td["seconds"]
            headline[f"{view}: tshark_rss/tracedoc_rss"] = ts["peak_rss_mib"] / td["peak_rss_mib"]
        dp = view_sum.get("dpkt", {})
        if td and dp and not td.get("failed") and not dp.get("failed"):
            headline[f"{view}: dpkt_time/tracedoc_time"] = dp["seconds"] / td["seconds"]
    print()
    for k, v in headline.items():
        print(f"{k:<40} = {v:.2f}")
    for chk in agreement.get("sessions", {}).get("checks", []):
        print(f"sessions: {chk['tool']} == {chk['against']} per 5-tuple: "
              f"{'yes' if chk['agree'] else 'NO (see above)'}")
    for a in agreement.get("tcp-analysis", []):
        print(f"tcp-analysis: tracedoc == tshark ({a['lines_compared']:,} lines): "
              f"{'yes' if a['identical'] else 'NO ({} lines differ)'.format(a['differing_lines'])}")

    OUT.mkdir(parents=True, exist_ok=True)
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": mach, "versions": vers,
        "trace": {"path": str(trace), "packets": n_pkts, "bytes": size, "generated": args.trace is None,
                  "tcp_connections": bench_fields.N_CONNS if args.trace is None else None},
        "tcp_fields": TCP_FIELDS, "repeat": args.repeat,
        "peak_rss_method": "/usr/bin/time -v" if use_time else "getrusage wrapper",
        "commands": views, "results": summary, "headline": headline, "agreement": agreement,
        "runs": runs,
    }
    path = OUT / f"results-sessions-{n_pkts}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults written to {path}")
    return 0 if all(not s.get("failed") for v in summary.values() for s in v.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
