#!/usr/bin/env python3
"""Speed benchmark: ``tracedoc fields`` vs ``tshark -T fields`` vs a dpkt loop.

Usage:
    python bench/bench_fields.py [--packets 1000000] [--trace PATH] [--keep]
                                 [--repeat 1] [--check-lines 100000] [--fields l4|app]

All three tools turn the same pcap into the same tab-separated text (the L4
columns in FIELDS below, one line per frame) written to /dev/null. For each
the wall time (best of --repeat runs) and the child's peak RSS are measured,
and a table plus the headline ratios are printed and written to
bench/out/results-<N>.json. See bench/README.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"
GEN_TRACE = REPO.parent / "shared" / "bench" / "gen_trace.py"
DPKT_PROG = BENCH / "dpkt_fields.py"
DPKT_APP_PROG = BENCH / "dpkt_app_fields.py"
N_CONNS = 2000

APP_FIELDS = [
    "frame.number", "dns.id", "dns.flags.rcode", "dns.qry.name", "tls.record.content_type",
    "http.request.method", "http.request.uri", "http.response.code",
]
"""``--fields app``: application columns, decoded only when asked for."""

FIELDS = [
    "frame.number", "frame.time_epoch", "ip.src", "ip.dst", "ip.proto",
    "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags",
    "tcp.window_size_value", "tcp.len", "udp.srcport", "udp.dstport", "udp.length",
    "icmp.type", "icmp.code",
]

# Used only when /usr/bin/time is missing: runs argv[1:] as its one child and
# reports that child's ru_maxrss (KiB on Linux) and CPU times on its stderr's
# last line. RUSAGE_CHILDREN of a fresh process with a single child is exact.
RSS_WRAPPER = r"""
import resource, subprocess, sys
rc = subprocess.call(sys.argv[1:])
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.write("\nRSSWRAP %d %f %f %d\n" % (ru.ru_maxrss, ru.ru_utime, ru.ru_stime, rc))
sys.exit(rc)
"""


# -- the trace ---------------------------------------------------------------

def make_trace(n: int) -> Path:
    """The synthetic trace with n packets, generated once and cached in bench/out/."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"trace-{n}.pcap"
    if path.exists():
        print(f"trace: reusing {path} ({path.stat().st_size / 2**20:.0f} MiB)", flush=True)
        return path
    if not GEN_TRACE.exists():
        sys.exit(f"bench: trace generator not found at {GEN_TRACE}")
    tmp = path.with_suffix(".pcap.tmp")
    print(f"trace: generating {path} ({n:,} packets, {N_CONNS} TCP connections) ...", flush=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(GEN_TRACE), str(tmp), str(n), str(N_CONNS)], check=True)
    tmp.replace(path)
    print(f"trace: generated in {time.perf_counter() - t0:.1f}s, "
          f"{path.stat().st_size / 2**20:.0f} MiB", flush=True)
    return path


def count_packets(path: Path) -> int:
    """Number of frames: a header walk for classic pcap, capinfos otherwise."""
    with open(path, "rb") as f:
        magic = f.read(4)
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            endian = "<" if magic[0] in (0xd4, 0x4d) else ">"
            f.seek(24)
            n = 0
            rec = struct.Struct(endian + "IIII")
            while True:
                h = f.read(16)
                if len(h) < 16:
                    return n
                incl = rec.unpack(h)[2]
                f.seek(incl, 1)
                n += 1
    out = subprocess.run(["capinfos", "-M", "-c", str(path)], capture_output=True, text=True, check=True).stdout
    m = re.search(r"Number of packets:\s*(\d+)", out)
    if not m:
        sys.exit(f"bench: cannot count packets of {path}: {out}")
    return int(m.group(1))


def warm_cache(path: Path) -> None:
    """Read the file once so every tool starts with it in the page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


# -- the tools ---------------------------------------------------------------

def tracedoc_exe() -> str:
    """The tracedoc console script of this interpreter (not a pyenv shim,
    which would add its own start-up time to the measurement)."""
    cand = Path(sys.executable).parent / "tracedoc"
    if cand.exists():
        return str(cand)
    found = shutil.which("tracedoc")
    if not found:
        sys.exit("bench: the tracedoc command is not on PATH (pip install -e .)")
    return found


def commands(trace: Path) -> dict[str, list[str]]:
    e = [a for f in FIELDS for a in ("-e", f)]
    return {
        "tracedoc": [tracedoc_exe(), "fields", str(trace), *e],
        "tshark": ["tshark", "-n", "-r", str(trace), "-T", "fields", *e],
        "dpkt": [sys.executable, str(DPKT_APP_PROG if FIELDS is APP_FIELDS else DPKT_PROG), str(trace)],
    }


def _parse_time_v(text: str) -> dict[str, float]:
    def grab(label: str) -> str:
        m = re.search(re.escape(label) + r":\s*(.+)", text)
        if not m:
            raise ValueError(f"no '{label}' in /usr/bin/time output:\n{text}")
        return m.group(1).strip()

    return {
        "rss_kib": float(grab("Maximum resident set size (kbytes)")),
        "user_s": float(grab("User time (seconds)")),
        "sys_s": float(grab("System time (seconds)")),
    }


def run_once(cmd: list[str], use_time: bool) -> dict:
    """Run cmd with stdout to /dev/null; wall time, peak RSS, CPU time."""
    with tempfile.TemporaryDirectory() as td:
        report = Path(td) / "time.txt"
        if use_time:
            argv = ["/usr/bin/time", "-v", "-o", str(report), *cmd]
        else:
            argv = [sys.executable, "-c", RSS_WRAPPER, *cmd]
        with open(os.devnull, "wb") as devnull, tempfile.TemporaryFile() as errf:
            t0 = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=devnull, stderr=errf)
            tree_peak = 0
            while proc.poll() is None:
                tree_peak = max(tree_peak, tree_rss_kib(proc.pid))
                time.sleep(0.01)
            wall = time.perf_counter() - t0
            errf.seek(0)
            p = subprocess.CompletedProcess(argv, proc.returncode, b"", errf.read())
        err = p.stderr.decode(errors="replace")
        if use_time:
            text = report.read_text() if report.exists() else ""
            m = re.search(r"Exit status:\s*(\d+)", text)
            rc = int(m.group(1)) if m else p.returncode
            stats = _parse_time_v(text) if text else {"rss_kib": float("nan"), "user_s": float("nan"),
                                                      "sys_s": float("nan")}
        else:
            m = re.search(r"RSSWRAP (\d+) (\S+) (\S+) (-?\d+)\s*$", err)
            if not m:
                raise RuntimeError(f"RSS wrapper gave no report:\n{err}")
            err = err[:m.start()]
            rc = int(m.group(4))
            stats = {"rss_kib": float(m.group(1)), "user_s": float(m.group(2)), "sys_s": float(m.group(3))}
    # A tool that works in several processes (tracedoc fields writes its text
    # in a second one) is charged the sum of their RSS: getrusage and
    # /usr/bin/time only see the largest single process.
    stats["rss_kib"] = max(stats["rss_kib"], float(tree_peak))
    return {"wall_s": wall, "rc": rc, "stderr": err.strip()[-2000:], **stats}


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def tree_rss_kib(pid: int) -> int:
    """Sum of VmRSS over ``pid`` and all its descendants (sampled)."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
        stack += _children(p)
    # /usr/bin/time (the wrapper) is itself in the tree: a few MiB, kept on
    # purpose so that no tool gets a discount.
    return total


# -- output agreement ----------------------------------------------------------

def first_lines(cmd: list[str], n: int) -> list[bytes]:
    """The first n output lines of cmd (all of them if n == 0); then stop it."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=1 << 20)
    assert p.stdout is not None
    lines = []
    try:
        for line in p.stdout:
            lines.append(line)
            if n and len(lines) >= n:
                break
    finally:
        if p.poll() is None:
            p.kill()
        p.stdout.close()
        p.wait()
    return lines


def compare(name: str, got: list[bytes], ref: list[bytes]) -> dict:
    """Byte-for-byte comparison of got against tshark's ref, line by line."""
    diffs = [i for i, (a, b) in enumerate(zip(got, ref)) if a != b]
    res = {
        "tool": name, "lines_compared": min(len(got), len(ref)), "lines_tool": len(got),
        "lines_tshark": len(ref), "differing_lines": len(diffs),
        "identical": not diffs and len(got) == len(ref),
    }
    if diffs:
        i = diffs[0]
        res["first_difference"] = {"line": i + 1, "tool": got[i].decode(errors="replace").rstrip("\n"),
                                   "tshark": ref[i].decode(errors="replace").rstrip("\n")}
        res["differing_columns"] = sorted({FIELDS[c] if c < len(FIELDS) else f"#{c + 1}"
                                           for i in diffs[:10000]
                                           for c, (x, y) in enumerate(zip(got[i].split(b"\t"),
                                                                          ref[i].split(b"\t"))) if x != y})
    return res


def check_agreement(cmds: dict[str, list[str]], n: int, keep: bool, tag: str) -> list[dict]:
    label = f"the first {n:,} lines" if n else "the whole output"
    print(f"checking output agreement with tshark on {label} ...", flush=True)
    ref = first_lines(cmds["tshark"], n)
    results = []
    for name in ("tracedoc", "dpkt"):
        got = first_lines(cmds[name], n)
        res = compare(name, got, ref)
        results.append(res)
        if keep:
            (OUT / f"check-{tag}-{name}.txt").write_bytes(b"".join(got))
    if keep:
        (OUT / f"check-{tag}-tshark.txt").write_bytes(b"".join(ref))
        print(f"  kept the compared lines in {OUT}/check-{tag}-{{tracedoc,tshark,dpkt}}.txt")
    for res in results:
        if res["identical"]:
            print(f"  {res['tool']:>8} vs tshark: IDENTICAL, {res['lines_compared']:,} lines byte for byte")
        else:
            print(f"  {res['tool']:>8} vs tshark: DIFFERENT: {res['differing_lines']:,} of "
                  f"{res['lines_compared']:,} lines differ (line counts {res['lines_tool']:,} vs "
                  f"{res['lines_tshark']:,})")
            if "first_difference" in res:
                fd = res["first_difference"]
                print(f"           columns differing: {', '.join(res['differing_columns'])}")
                print(f"           first at line {fd['line']}:\n             {res['tool']}: {fd['tool']!r}\n"
                      f"               tshark: {fd['tshark']!r}")
    return results


# -- machine and versions -----------------------------------------------------

def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        m = re.search(r"MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text())
        mem = round(int(m.group(1)) / 2**20, 1) if m else None
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"nproc": nproc, "cpu_model": cpu, "mem_gib": mem, "kernel": platform.release(),
            "python": platform.python_version()}


def versions() -> dict:
    v = {}
    for pkg in ("tracedoc", "dpkt", "numpy", "pyarrow"):
        try:
            v[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            v[pkg] = None
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no",
                                "--", "src"], capture_output=True, text=True).stdout.strip()
        v["tracedoc_git"] = (rev + ("+dirty" if dirty else "")) if rev else None
    except OSError:
        v["tracedoc_git"] = None
    try:
        out = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout
        m = re.search(r"TShark \(Wireshark\) (\S+)", out)
        v["tshark"] = m.group(1) if m else out.splitlines()[0]
    except (OSError, IndexError):
        v["tshark"] = None
    return v


# -- main ---------------------------------------------------------------------

def prepare(given: Path | None, packets: int, make) -> tuple[dict, dict, Path, int, int]:  # type: ignore[no-untyped-def]
    """Machine and versions (printed), the trace (``given`` or ``make(packets)``),
    its packet count and size, with the trace read once into the page cache."""
    mach, vers = machine(), versions()
    print(f"machine: {mach['nproc']} CPUs ({mach['cpu_model']}), {mach['mem_gib']} GiB RAM, "
          f"Linux {mach['kernel']}, Python {mach['python']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    trace = given.resolve() if given else make(packets)
    if not trace.exists():
        sys.exit(f"bench: no such trace: {trace}")
    n_pkts = count_packets(trace)
    size = trace.stat().st_size
    print(f"trace: {trace} — {n_pkts:,} packets, {size / 2**20:.0f} MiB")
    warm_cache(trace)
    return mach, vers, trace, n_pkts, size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=1_000_000,
                    help="packets in the synthetic trace (default 1,000,000, ~785 MB)")
    ap.add_argument("--trace", type=Path, help="use this trace instead of generating one")
    ap.add_argument("--keep", action="store_true",
                    help="keep the compared output lines of the three tools in bench/out/")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per tool; the best is reported")
    ap.add_argument("--check-lines", type=int, default=100_000,
                    help="compare the first N output lines with tshark's (0: the whole output)")
    ap.add_argument("--tools", default="tracedoc,tshark,dpkt", help=argparse.SUPPRESS)
    ap.add_argument("--fields", choices=["l4", "app"], default="l4",
                    help="l4: the 17 L2-L4 columns (default); app: DNS, TLS and HTTP columns")
    args = ap.parse_args()
    global FIELDS
    if args.fields == "app":
        FIELDS = APP_FIELDS

    for exe in ("tshark",):
        if not shutil.which(exe):
            sys.exit(f"bench: {exe} is not installed")
    try:
        import dpkt  # noqa: F401
    except ImportError:
        sys.exit("bench: dpkt is not installed (pip install dpkt)")

    mach, vers, trace, n_pkts, size = prepare(args.trace, args.packets, make_trace)

    cmds = commands(trace)
    tools = [t for t in args.tools.split(",") if t]
    use_time = os.access("/usr/bin/time", os.X_OK)
    print(f"peak RSS via: {'/usr/bin/time -v' if use_time else 'a getrusage(RUSAGE_CHILDREN) wrapper'}")

    agreement = check_agreement(cmds, args.check_lines, args.keep, str(n_pkts)) \
        if args.check_lines >= 0 and {"tshark", "tracedoc", "dpkt"} <= set(tools) else []

    runs: dict[str, list[dict]] = {t: [] for t in tools}
    for r in range(args.repeat):
        for t in tools:
            print(f"run {r + 1}/{args.repeat}: {t} ...", end=" ", flush=True)
            res = run_once(cmds[t], use_time)
            runs[t].append(res)
            print(f"{res['wall_s']:.2f}s, {res['rss_kib'] / 1024:.0f} MiB"
                  + (f"  [exit {res['rc']}: {res['stderr'][-300:]}]" if res["rc"] else ""), flush=True)

    summary = {}
    for t in tools:
        ok = [x for x in runs[t] if x["rc"] == 0]
        if not ok:
            summary[t] = {"failed": True}
            continue
        best = min(ok, key=lambda x: x["wall_s"])
        summary[t] = {
            "seconds": best["wall_s"],
            "cpu_seconds": best["user_s"] + best["sys_s"],
            "packets_per_s": n_pkts / best["wall_s"],
            "peak_rss_mib": max(x["rss_kib"] for x in ok) / 1024,
            "all_seconds": [x["wall_s"] for x in runs[t]],
        }
    base = summary.get("tracedoc", {})
    for t, s in summary.items():
        if not s.get("failed") and base and not base.get("failed"):
            s["time_vs_tracedoc"] = s["seconds"] / base["seconds"]
            s["rss_vs_tracedoc"] = s["peak_rss_mib"] / base["peak_rss_mib"]

    print()
    print(f"{n_pkts:,} packets, {size / 2**20:.0f} MiB, {len(FIELDS)} fields, output to /dev/null, "
          f"best of {args.repeat} run(s), warm page cache")
    hdr = f"{'tool':<9} {'seconds':>9} {'packets/s':>11} {'CPU s':>8} {'peak RSS MiB':>13} " \
          f"{'time/tracedoc':>14} {'RSS/tracedoc':>13}"
    print(hdr)
    print("-" * len(hdr))
    for t in tools:
        s = summary[t]
        if s.get("failed"):
            print(f"{t:<9} {'FAILED':>9}")
            continue
        print(f"{t:<9} {s['seconds']:>9.2f} {s['packets_per_s']:>11,.0f} {s['cpu_seconds']:>8.2f} "
              f"{s['peak_rss_mib']:>13.1f} {s.get('time_vs_tracedoc', float('nan')):>13.2f}x "
              f"{s.get('rss_vs_tracedoc', float('nan')):>12.2f}x")

    headline = {}
    ok = lambda t: t in summary and not summary[t].get("failed")  # noqa: E731
    if ok("tracedoc") and ok("tshark"):
        headline["tshark_time/tracedoc_time"] = summary["tshark"]["time_vs_tracedoc"]
        headline["tshark_rss/tracedoc_rss"] = summary["tshark"]["rss_vs_tracedoc"]
    if ok("tracedoc") and ok("dpkt"):
        headline["dpkt_time/tracedoc_time"] = summary["dpkt"]["time_vs_tracedoc"]
    print()
    for k in ("tshark_time/tracedoc_time", "dpkt_time/tracedoc_time", "tshark_rss/tracedoc_rss"):
        if k in headline:
            print(f"{k:<26} = {headline[k]:.2f}")
    for a in agreement:
        print(f"output {a['tool']} == tshark ({a['lines_compared']:,} lines): "
              f"{'yes' if a['identical'] else 'NO (%d lines differ)' % a['differing_lines']}")

    OUT.mkdir(parents=True, exist_ok=True)
    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": mach, "versions": vers,
        "trace": {"path": str(trace), "packets": n_pkts, "bytes": size, "generated": args.trace is None},
        "fields": FIELDS, "repeat": args.repeat,
        "peak_rss_method": "/usr/bin/time -v" if use_time else "getrusage wrapper",
        "commands": {t: cmds[t] for t in tools},
        "results": summary, "headline": headline, "agreement": agreement,
        "runs": runs,
    }
    path = OUT / f"results-{n_pkts}{'-app' if FIELDS is APP_FIELDS else ''}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults written to {path}")
    return 0 if all(not s.get("failed") for s in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
