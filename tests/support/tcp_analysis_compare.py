"""Compare tracedoc's TCP analysis columns with tshark's, frame by frame.

tshark's output for each capture is cached (gzip text, keyed by the
capture's path, size and mtime, the field list and the tshark version) under
``.pytest_cache/tshark-tcp-analysis/`` or ``$TRACEDOC_TSHARK_CACHE``, so a
rerun only pays for tracedoc.

Run as a script for the figures and the disagreements over the corpus:

    python -m tests.support.tcp_analysis_compare [--show N] [--examples K] [PATH ...]
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.corpus import REPO

FLAG_FIELDS = """tcp.analysis.flags tcp.analysis.retransmission tcp.analysis.fast_retransmission
tcp.analysis.spurious_retransmission tcp.analysis.out_of_order tcp.analysis.lost_segment
tcp.analysis.ack_lost_segment tcp.analysis.duplicate_ack tcp.analysis.zero_window tcp.analysis.zero_window_probe
tcp.analysis.zero_window_probe_ack tcp.analysis.window_full tcp.analysis.window_update tcp.analysis.keep_alive
tcp.analysis.keep_alive_ack tcp.analysis.reused_ports""".split()
"""Every ``tcp.analysis`` expert flag (present or not)."""

VALUE_FIELDS = """tcp.stream tcp.seq tcp.ack tcp.nxtseq tcp.window_size tcp.window_size_scalefactor
tcp.analysis.duplicate_ack_num tcp.analysis.duplicate_ack_frame tcp.analysis.bytes_in_flight
tcp.analysis.push_bytes_sent tcp.analysis.acks_frame tcp.analysis.ack_rtt tcp.analysis.initial_rtt
tcp.time_relative tcp.time_delta""".split()

FIELDS = FLAG_FIELDS + VALUE_FIELDS

INPUT_FIELDS = """tcp.srcport tcp.dstport tcp.seq_raw tcp.ack_raw tcp.flags tcp.len tcp.window_size_value""".split()
"""Decoded columns the analysis reads.  Where tracedoc's decoder disagrees
with tshark on one of them (that is the decoder comparison's business), the
analysis of that TCP stream is fed different facts; such streams are counted
apart."""


@dataclass
class Result:
    path: str
    frames: int = 0
    frames_tracedoc: int = 0
    flagged: int = 0
    """Frames where tshark or tracedoc shows any analysis flag."""
    flagged_agree: int = 0
    flags_agree: int = 0
    """Frames whose every flag field agrees."""
    input_frames: int = 0
    """Frames of streams whose decoded inputs differ from tshark's."""
    scored_flagged: int = 0
    scored_flagged_agree: int = 0
    """As flagged / flagged_agree, outside those streams."""
    per_field: dict = field(default_factory=dict)
    """Field -> [agreeing, compared] over the frames either side has a value."""
    examples: list = field(default_factory=list)
    error: str | None = None

    @property
    def bad(self) -> int:
        return sum(c - a for a, c in self.per_field.values())


def _cache_dir() -> Path:
    return Path(os.environ.get("TRACEDOC_TSHARK_CACHE", REPO / ".pytest_cache" / "tshark-tcp-analysis"))


def _tshark_version() -> str:
    p = subprocess.run(["tshark", "--version"], check=False, capture_output=True, text=True)
    return p.stdout.splitlines()[0] if p.stdout else ""


def tshark_text(path: str, fields: list[str], version: str = "", cache: bool = True) -> str:
    """``tshark -T fields -E occurrence=f`` for ``fields``, from the cache
    when this capture, field list and tshark were seen before."""
    if not cache:
        return _run_tshark(path, fields)
    st = os.stat(path)
    key = hashlib.sha256("\0".join([os.path.abspath(path), str(st.st_size), str(st.st_mtime_ns), version,
                                    *fields]).encode()).hexdigest()[:32]
    cached = _cache_dir() / f"{key}.txt.gz"
    if cached.is_file():
        return gzip.decompress(cached.read_bytes()).decode("utf-8", "replace")
    text = _run_tshark(path, fields)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(gzip.compress(text.encode(), 6))
    tmp.replace(cached)
    return text


def _run_tshark(path: str, fields: list[str]) -> str:
    cmd = ["tshark", "-n", "-r", path, "-T", "fields", "-E", "occurrence=f"]
    for f in fields:
        cmd += ["-e", f]
    env = dict(os.environ, LC_ALL="C.UTF-8")
    p = subprocess.run(cmd, check=False, capture_output=True, env=env, timeout=900)
    return p.stdout.decode("utf-8", "replace")


def tracedoc_text(path: str, fields: list[str]) -> tuple[str, str | None]:
    import tracedoc
    from tracedoc.cli.fields_cmd import needed_columns, parse_options, write_fields
    from tracedoc.errors import TracedocError

    buf = io.BytesIO()
    err = None
    try:
        t = tracedoc.open(path)
        write_fields(t.iter_packets(columns=needed_columns(fields)), fields, parse_options(["occurrence=f"]), buf)
        err = "; ".join(t.errors) or None
    except TracedocError as e:
        err = str(e)
    return buf.getvalue().decode("utf-8", "replace"), err


def compare(path: str, fields: list[str] = FIELDS, version: str = "", max_examples: int = 8,
            cache: bool = True) -> Result:
    r = Result(path)
    names = fields + [f for f in INPUT_FIELDS if f not in fields]
    ts = [ln.split("\t") for ln in tshark_text(path, names, version, cache).split("\n")[:-1]]
    text, r.error = tracedoc_text(path, names)
    td = [ln.split("\t") for ln in text.split("\n")[:-1]]
    r.frames, r.frames_tracedoc = len(ts), len(td)
    flag_idx = {j for j, f in enumerate(fields) if f in FLAG_FIELDS}
    input_idx = [names.index(f) for f in INPUT_FIELDS]
    stream_idx = names.index("tcp.stream") if "tcp.stream" in names else None
    empty = [""] * len(names)
    rows = []
    diverged: set[str] = set()
    for i in range(max(len(ts), len(td))):
        a = ts[i] if i < len(ts) else empty
        b = td[i] if i < len(td) else empty
        a = a + [""] * (len(names) - len(a))
        b = b + [""] * (len(names) - len(b))
        stream = a[stream_idx] if stream_idx is not None else ""
        inputs_differ = any(a[j] != b[j] for j in input_idx)
        if inputs_differ:
            diverged.add(stream or f"frame {i}")
        flags_same = True
        any_flag = False
        for j, name in enumerate(fields):
            va, vb = a[j], b[j]
            if j in flag_idx:
                any_flag = any_flag or bool(va or vb)
                flags_same = flags_same and va == vb
            if va or vb:
                pf = r.per_field.setdefault(name, [0, 0])
                pf[0] += va == vb
                pf[1] += 1
                if va != vb and len(r.examples) < max_examples:
                    r.examples.append((i + 1, name, va, vb))
        r.flags_agree += flags_same
        if any_flag:
            r.flagged += 1
            r.flagged_agree += flags_same
        rows.append((stream or f"frame {i}", any_flag, flags_same))
    for key, any_flag, flags_same in rows:
        if key in diverged:
            r.input_frames += 1
        elif any_flag:
            r.scored_flagged += 1
            r.scored_flagged_agree += flags_same
    return r


def compare_many(paths: list[str], fields: list[str] = FIELDS, workers: int | None = None) -> list[Result]:
    version = _tshark_version()
    workers = workers or max(1, min(2, os.cpu_count() or 1))
    with ProcessPoolExecutor(workers) as ex:
        return list(ex.map(compare, paths, [fields] * len(paths), [version] * len(paths), chunksize=4))


@dataclass
class Totals:
    files: int
    frames: int
    flags_agree: int
    flagged: int
    flagged_agree: int
    per_field: dict
    input_frames: int = 0
    scored_flagged: int = 0
    scored_flagged_agree: int = 0

    @property
    def flagged_ratio(self) -> float:
        return self.flagged_agree / max(self.flagged, 1)

    @property
    def scored_ratio(self) -> float:
        """Flag agreement on flagged frames of the streams whose decoded
        inputs agree with tshark's."""
        return self.scored_flagged_agree / max(self.scored_flagged, 1)

    @property
    def frame_ratio(self) -> float:
        return self.flags_agree / max(self.frames, 1)

    def lines(self, fields: list[str] = FIELDS) -> list[str]:
        out = [f"files {self.files}, frames {self.frames}",
               f"flags agree on flagged frames {self.flagged_agree}/{self.flagged} = {self.flagged_ratio:.4%}",
               f"flags agree on all frames     {self.flags_agree}/{self.frames} = {self.frame_ratio:.4%}",
               (f"flags agree on flagged frames of streams whose decoded inputs agree "
                f"{self.scored_flagged_agree}/{self.scored_flagged} = {self.scored_ratio:.4%} "
                f"({self.input_frames} frames in streams where tracedoc's decoder differs from tshark "
                f"on {', '.join(INPUT_FIELDS)})")]
        for f in fields:
            agree, n = self.per_field.get(f, (0, 0))
            out.append(f"  {f:40s} {agree:8d}/{n:<8d} = {agree / max(n, 1):.4%}")
        return out


def totals(results: list[Result]) -> Totals:
    per_field: dict[str, list[int]] = {}
    for r in results:
        for f, (agree, n) in r.per_field.items():
            pf = per_field.setdefault(f, [0, 0])
            pf[0] += agree
            pf[1] += n
    return Totals(len(results), sum(max(r.frames, r.frames_tracedoc) for r in results),
                  sum(r.flags_agree for r in results), sum(r.flagged for r in results),
                  sum(r.flagged_agree for r in results), per_field, sum(r.input_frames for r in results),
                  sum(r.scored_flagged for r in results), sum(r.scored_flagged_agree for r in results))


def worst(results: list[Result], n: int) -> list[Result]:
    bad = [r for r in results if r.bad]
    return sorted(bad, key=lambda r: r.bad, reverse=True)[:n]


def tcp_paths() -> list[str]:
    """The corpus captures of the decoded link types that tshark reads and
    in which it found TCP."""
    import csv
    import re

    from tests.support.corpus import CORPUS, DECODED_LINKTYPES, MANIFEST, captures

    chosen = {c.rel for c in captures()
              if c.tshark_reads and c.linktypes and c.linktypes <= DECODED_LINKTYPES and c.path.is_file()}
    out = []
    with open(MANIFEST, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["path"] in chosen and re.search(r"(^|,)tcp=\d", row["tshark_protocols(frames)"]):
                out.append(str(CORPUS / row["path"]))
    return out


def main(argv: list[str]) -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--show", type=int, default=25)
    ap.add_argument("--examples", type=int, default=3)
    args = ap.parse_args(argv)
    results = compare_many(args.paths or tcp_paths())
    tot = totals(results)
    print("\n".join(tot.lines()))
    for r in worst(results, args.show):
        fields = Counter({f: c - a for f, (a, c) in r.per_field.items() if c > a})
        print(f"{r.bad:6d} {r.path} frames {r.frames}/{r.frames_tracedoc} {dict(fields.most_common(4))}")
        for ex in r.examples[:args.examples]:
            print("        ", ex)


if __name__ == "__main__":
    main(sys.argv[1:])
