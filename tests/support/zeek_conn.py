"""Zeek's conn.log baselines in the corpus, and how tracedoc's sessions compare with them.

The corpus holds Zeek's btest baselines (``../shared/corpus/zeek``);
``TRACE_TO_BASELINE.tsv`` maps each btest test to the traces it reads and its
baseline directory.  A baseline is usable when its ``conn.log`` is Zeek's
standard TSV log (the ``#fields`` line lists the standard columns, ending
``tunnel_parents ip_proto``), the test reads exactly one trace, and the test
does not change what Zeek logs or when it times connections out
(:data:`EXCLUDED` names the tests left out and why, from reading the btest
scripts in zeek/zeek ``testing/btest/``).

Connections inside tunnels are compared too: Zeek logs each with its
``tunnel_parents`` (the uids of the UDP tunnel flows it was carried in, or of
a GRE/IP-in-IP tunnel, which has no conn.log row), and tracedoc's inner
sessions name their carrier sessions in ``tunnel_parents``.

Zeek's ``ts`` is masked (``XXXXXXXXXX.XXXXXX``) in almost every baseline, so
the start time is checked through the duration: Zeek's duration is last
time - start time, where the last time stops advancing once both sides have
closed (FIN or RST): trailing packets such as the final ACK are not in it
(``conn/main.zeek``, note on *duration*).  A session whose start were wrong
would not have Zeek's duration within 1 ms, nor its packet counts.

Run as a script to print the figures and the mismatches:

    python -m tests.support.zeek_conn [--show N]
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from tests.support.corpus import CORPUS
from tracedoc.analyze.sessions import Sessions

ZEEK = CORPUS / "zeek"
TRACES = ZEEK / "testing" / "btest" / "Traces"
INDEX = ZEEK / "TRACE_TO_BASELINE.tsv"

STANDARD_FIELDS = ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes resp_bytes "
                   "conn_state local_orig local_resp missed_bytes history orig_pkts orig_ip_bytes resp_pkts "
                   "resp_ip_bytes tunnel_parents ip_proto").split()

EXCLUDED: dict[str, str] = {
    "core.pcap.dynamic-filter": "installs BPF filters (port 80, then port 53) while reading, so Zeek sees part "
                                "of the trace",
    "core.pcap.read-trace-with-filter": "reads the trace through a capture filter (-f \"port 50000\")",
    "core.print-bpf-filters": "reads empty.trace and mixed-vlan-mpls.trace with PacketFilter::restricted_filter",
    "scripts.base.frameworks.netcontrol.packetfilter": "NetControl installs DROP filters for every originator",
    "core.skip_analyzer": "the SKIP packet analyzer drops the first 38 bytes of every frame, so Zeek sees "
                          "only the GRE-encapsulated packets",
    "scripts.base.protocols.ftp.gridftp": "redefines GridFTP::size_threshold = 2, so Zeek's gridftp script stops "
                                          "processing the data connection (skip_further_processing)",
}
"""Tests whose conn.log does not reflect Zeek's default view of the trace."""

WHY: dict[str, str] = {
    "core.radiotap": "802.11 radiotap link type (DLT 127) is not decoded, so the packet table has no IP",
    "core.wlanmon": "802.11 monitor link type (DLT 105) is not decoded, so the packet table has no IP",
    "core.tunnels.vxlan-unknown-internal-packet": "Zeek validates UDP checksums (no -C) and drops the bad ones; "
                                                  "the packet table does not say whether a checksum is valid",
    "core.vntag-in-vlan": "bare mode (-b, only base/protocols/conn): likely_server_ports is empty, so Zeek keeps "
                          "the SYN-ACK's sender as originator",
    "scripts.base.protocols.ntp.misordered-ntp": "Zeek's NTP analyzer flips roles after the first datagram "
                                                 "(server mode) and keeps both datagrams on the originator",
    "core.tcp.large-file-reassembly": "'g': content gaps seen by Zeek's reassembler (not modelled)",
    "core.tcp.miss-end-data": "'g': content gap seen by Zeek's reassembler (not modelled)",
    "scripts.base.protocols.ftp.cwd-navigation": "'G'/'g': content gaps seen by Zeek's reassembler (not modelled)",
    "scripts.base.protocols.ftp.ftp-max-command-length": "'X': Zeek's FTP analyzer gave up on over-long commands",
    "core.tunnels.gtp.different_dl_and_ul": "'X': Zeek marked the connection's analysis partial (an analyzer "
                                            "limit exceeded; not modelled)",
    "core.tunnels.gtp.outer_ip_frag": "'g': content gap seen by Zeek's reassembler (not modelled)",
    "core.tunnels.teredo": "the Teredo flow to 83.170.1.38:32900 is found by Zeek's heuristic (IPv6 in UDP on any "
                           "port); the decoder decodes Teredo on port 3544 only, so the IPv6 inside is not seen",
    "core.tunnels.teredo_bubble_with_payload": "as core.tunnels.teredo: Teredo on port 32900 is not decoded",
    "core.tunnels.gre-aruba-amsdu": "the decoder does not decode Aruba's 802.11 A-MSDU frames inside GRE",
    "core.tunnels.gre-over-udp": "Zeek names the GRE layer (a tunnel with no conn.log row) as the parent; "
                                 "tracedoc's tunnel_parents name the UDP flows (port 4754) the GRE packets rode in",
}
"""Why the remaining mismatches differ, from reading the traces and btest scripts."""

DURATION_TOLERANCE = 0.001


@dataclass
class Baseline:
    test: str
    trace: Path
    rows: list[dict[str, str]]


def read_conn_log(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The ``#fields`` names and the rows of a Zeek TSV log."""
    names: list[str] = []
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("#fields"):
            names = line.split("\t")[1:]
        elif line.startswith("#") or not line.strip():
            continue
        elif names:
            rows.append(dict(zip(names, line.split("\t"))))
    return names, rows


def index() -> list[tuple[str, list[str], Path]]:
    out = []
    with open(INDEX, newline="") as f:
        for row in csv.reader(f, delimiter="\t"):
            if not row or row[0].startswith("#") or len(row) < 3:
                continue
            traces = [t for t in row[1].split(",") if t]
            out.append((row[0], traces, ZEEK / row[2]))
    return out


def baselines() -> tuple[list[Baseline], dict[str, str]]:
    """Usable baselines, and every test with a conn.log left out (with the reason)."""
    use: list[Baseline] = []
    skipped: dict[str, str] = {}
    for test, traces, bdir in index():
        log = bdir / "conn.log"
        if not log.is_file():
            continue
        names, rows = read_conn_log(log)
        if names != STANDARD_FIELDS:
            skipped[test] = "conn.log is not the standard TSV log (columns chosen or renamed by the test)"
        elif len(traces) != 1 or traces[0].endswith("/"):
            skipped[test] = "the test reads more than one trace"
        elif test in EXCLUDED:
            skipped[test] = EXCLUDED[test]
        elif not (TRACES / traces[0]).is_file():
            skipped[test] = "trace not in the corpus"
        else:
            use.append(Baseline(test, TRACES / traces[0], rows))
    return use, skipped


# ------------------------------------------------------------------ compare

CRITERIA = ("found", "start", "counts", "conn_state")


@dataclass
class Figures:
    connections: int = 0
    """Zeek's TCP/UDP connections compared."""
    tunnelled: int = 0
    """Of those, the connections inside a tunnel (Zeek's tunnel_parents set)."""
    ok: Counter = field(default_factory=Counter)
    """Criterion -> connections meeting it (and every criterion before it)."""
    history: int = 0
    all_four: int = 0
    tunnelled_found: int = 0
    tunnelled_all_four: int = 0
    """Tunnelled connections meeting all four criteria."""
    parents: int = 0
    """Tunnelled connections found whose carriers agree: tracedoc's tunnel_parents are the sessions
    matched to the parents Zeek logged in conn.log (none for GRE and IP-in-IP, whose tunnels Zeek
    logs only in tunnel.log), and the session is marked tunnelled."""
    causes: Counter = field(default_factory=Counter)
    examples: list = field(default_factory=list)

    def add(self, other: Figures) -> None:
        self.connections += other.connections
        self.tunnelled += other.tunnelled
        self.ok.update(other.ok)
        self.history += other.history
        self.all_four += other.all_four
        self.tunnelled_found += other.tunnelled_found
        self.tunnelled_all_four += other.tunnelled_all_four
        self.parents += other.parents
        self.causes.update(other.causes)
        self.examples.extend(other.examples)


def zeek_durations(tbl: pa.Table, sess: Sessions) -> dict[int, float]:
    """Each session's duration as Zeek measures it: a TCP packet moves the
    connection's last time only while one side has not yet closed (sent a
    FIN or RST).  A tunnel's UDP carrier counts the packets it carried; an
    ICMP error attached to the session it quotes is no packet of it."""
    from tracedoc.analyze.sessions import _col
    from tracedoc.analyze.summary import _addresses

    t, _ = _col(tbl, "frame.time_epoch")
    flags, has_tcp = _col(tbl, "tcp.flags")
    _, icmp4 = _col(tbl, "icmp.type")
    _, icmp6 = _col(tbl, "icmpv6.type")
    icmp = icmp4 | icmp6
    sessions = sess.table
    srow = {s: i for i, s in enumerate(sessions["sid"].to_pylist())}
    proto = sessions["proto"].to_pylist()
    oip = sessions["initiator_ip"].to_pylist()
    start = sessions["start"].to_pylist()
    # (packet, session) pairs: each packet's innermost session and the carriers it travelled in.
    member = [(np.flatnonzero(a > 0), a) for a in (sess.sid, sess.carrier, sess.outer_carrier)]
    rows = np.concatenate([r for r, _ in member])
    sid = np.concatenate([a[r] for r, a in member])
    innermost = np.arange(len(rows)) < len(member[0][0])
    order = np.lexsort((rows, sid))
    src, _ = _addresses(tbl)
    srcs = src.to_pylist()
    last: dict[int, int] = {}
    closed: dict[int, set[bool]] = {}
    for r, s, own in zip(rows[order].tolist(), sid[order].tolist(), innermost[order].tolist()):
        i = srow[s]
        if own and icmp[r] and proto[i] in ("tcp", "udp"):
            continue
        if proto[i] != "tcp" or not has_tcp[r]:
            if proto[i] in ("udp", "icmp", "icmpv6"):
                last[s] = max(last.get(s, t[r]), t[r])
            continue
        side = srcs[r] == oip[i]
        c = closed.setdefault(s, set())
        if len(c) < 2:
            last[s] = t[r]
        if flags[r] & 0x05:
            c.add(side)
    return {s: (last.get(s, start[srow[s]]) - start[srow[s]]) / 1e9 for s in srow}


def compare(b: Baseline) -> Figures:
    import tracedoc
    from tracedoc.analyze.sessions import SESSION_COLUMNS, build_sessions

    fig = Figures()
    tbl = tracedoc.open(b.trace).table(SESSION_COLUMNS)
    sess = build_sessions(tbl)
    st = sess.table
    dur = zeek_durations(tbl, sess)
    ours: dict[tuple, list[dict]] = {}
    for r in st.to_pylist():
        if r["proto"] in ("tcp", "udp"):
            key = (r["proto"], r["initiator_ip"], r["initiator_port"], r["responder_ip"], r["responder_port"])
            ours.setdefault(key, []).append(r)
    used: set[int] = set()
    matched: dict[str, dict] = {}           # Zeek uid -> our session
    tunnelled: list[tuple[dict, str]] = []
    for z in b.rows:
        if z["proto"] not in ("tcp", "udp"):
            continue
        inside = z.get("tunnel_parents", "-") not in ("-", "(empty)")
        fig.connections += 1
        fig.tunnelled += inside
        key = (z["proto"], z["id.orig_h"], int(z["id.orig_p"]), z["id.resp_h"], int(z["id.resp_p"]))
        cands = [r for r in ours.get(key, []) if r["sid"] not in used]

        def counts(r: dict) -> tuple[int, int, int, int]:
            if r["initiator"] == "remote":
                return r["packets_in"], r["bytes_in"], r["packets_out"], r["bytes_out"]
            return r["packets_out"], r["bytes_out"], r["packets_in"], r["bytes_in"]

        want = (int(z["orig_pkts"]), int(z["orig_ip_bytes"]), int(z["resp_pkts"]), int(z["resp_ip_bytes"]))
        zd = 0.0 if z["duration"] == "-" else float(z["duration"])
        cands.sort(key=lambda r: (counts(r) != want, abs(dur[r["sid"]] - zd)))
        what = f"{b.test} {z['proto']} {z['id.orig_h']}:{z['id.orig_p']} > {z['id.resp_h']}:{z['id.resp_p']}"
        if not cands:
            rev = (z["proto"], z["id.resp_h"], int(z["id.resp_p"]), z["id.orig_h"], int(z["id.orig_p"]))
            cause = "roles reversed" if ours.get(rev) else "not found"
            fig.causes[cause] += 1
            fig.examples.append((cause, what, f"zeek {z['conn_state']} {z['history']}"))
            continue
        r = cands[0]
        used.add(r["sid"])
        matched[z["uid"]] = r
        if inside:
            tunnelled.append((z, what))
            fig.tunnelled_found += 1
        fig.ok["found"] += 1
        good = True
        # Where the baseline keeps Zeek's ts (few do), the start is compared directly too.
        ts_off = 0.0 if z["ts"].startswith("X") else abs(r["start"] / 1e9 - float(z["ts"]))
        if abs(dur[r["sid"]] - zd) > DURATION_TOLERANCE or ts_off > DURATION_TOLERANCE:
            good = False
            fig.causes["start/duration"] += 1
            fig.examples.append(("start/duration", what, (f"zeek {z['ts']} +{zd} ours {r['start'] / 1e9:.6f} "
                                                          f"+{dur[r['sid']]:.6f}")))
        else:
            fig.ok["start"] += 1
        if counts(r) != want:
            good = False
            fig.causes["counts"] += 1
            fig.examples.append(("counts", what, f"zeek {want} ours {counts(r)}"))
        elif good:
            fig.ok["counts"] += 1
        if r["conn_state"] != z["conn_state"]:
            good = False
            fig.causes["conn_state"] += 1
            fig.examples.append(("conn_state", what, (f"zeek {z['conn_state']} {z['history']} "
                                                      f"ours {r['conn_state']} {r['history']}")))
        elif good:
            fig.ok["conn_state"] += 1
        if good:
            fig.all_four += 1
            fig.tunnelled_all_four += inside
        zh = "" if z["history"] == "-" else z["history"]
        if r["history"] == zh:
            fig.history += 1
        else:
            fig.causes["history"] += 1
            fig.examples.append(("history", what, f"zeek {zh} ours {r['history']}"))
    logged = {z["uid"] for z in b.rows}
    for z, what in tunnelled:
        r = matched[z["uid"]]
        uids = [u for u in z["tunnel_parents"].split(",") if u in logged]
        want_sids = {matched[u]["sid"] for u in uids if u in matched}
        if r["tunnelled"] and len(want_sids) == len(uids) and set(r["tunnel_parents"]) == want_sids:
            fig.parents += 1
        else:
            fig.causes["tunnel_parents"] += 1
            fig.examples.append(("tunnel_parents", what, f"zeek {z['tunnel_parents']} (logged: {len(uids)}) "
                                 f"ours tunnelled={r['tunnelled']} parents {r['tunnel_parents']}, want {want_sids}"))
    return fig


def run() -> tuple[Figures, dict[str, Figures], dict[str, str]]:
    use, skipped = baselines()
    total = Figures()
    per: dict[str, Figures] = {}
    for b in use:
        f = compare(b)
        per[b.test] = f
        total.add(f)
    return total, per, skipped


def report(total: Figures, per: dict[str, Figures], skipped: dict[str, str], show: int = 20) -> str:
    n = max(total.connections, 1)
    tn = max(total.tunnelled, 1)
    lines = [f"baselines compared: {len(per)}; left out: {len(skipped)}",
             (f"Zeek TCP/UDP connections compared: {total.connections} "
              f"({total.tunnelled} of them inside tunnels)")]
    for c in CRITERIA:
        lines.append(f"  {c:<11} {total.ok[c]:>5}  {100 * total.ok[c] / n:6.2f}%")
    lines.append(f"  all four    {total.all_four:>5}  {100 * total.all_four / n:6.2f}%")
    lines.append(f"  history     {total.history:>5}  {100 * total.history / n:6.2f}%")
    lines.append(f"inside tunnels: found {total.tunnelled_found}/{total.tunnelled}, all four "
                 f"{total.tunnelled_all_four} ({100 * total.tunnelled_all_four / tn:.2f}%), tunnel_parents agree "
                 f"{total.parents} of those found")
    lines.append("mismatches by cause: " + ", ".join(f"{k} {v}" for k, v in total.causes.most_common()))
    by_cause: dict[str, list] = {}
    for cause, what, detail in total.examples:
        why = WHY.get(what.split(" ", 1)[0])
        by_cause.setdefault(cause, []).append(f"    {what}: {detail}" + (f"  [{why}]" if why else ""))
    for cause, items in by_cause.items():
        lines.append(f"  {cause}:")
        lines.extend(items[:show])
        if len(items) > show:
            lines.append(f"    ... {len(items) - show} more")
    lines.append("left out:")
    lines.extend(f"  {k}: {v}" for k, v in sorted(skipped.items()))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    show = 20
    if "--show" in argv:
        show = int(argv[argv.index("--show") + 1])
    total, per, skipped = run()
    print(report(total, per, skipped, show))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
