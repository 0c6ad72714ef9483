"""Display filters against ``tshark -Y``: pick corpus captures by the
protocols tshark found in them, merge them into one file (one tshark run per
filter instead of one per capture), and compare the frames each filter
selects."""

from __future__ import annotations

import csv
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from tracedoc.filter import compile_filter


def pick_captures(wanted: list[str], per_protocol: int, limit: int | None = None, *,
                  no_malformed: bool = False, max_packets: int = 1500) -> list[Path]:
    """Small, well-formed corpus captures of the decoded link types:
    ``per_protocol`` for each protocol of ``wanted`` (in that order, names as
    in the MANIFEST's tshark_protocols column), at most ``limit`` in all."""
    from tests.support.corpus import CORPUS, DECODED_LINKTYPES, MANIFEST

    rows = []
    with open(MANIFEST, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            lts = {int(p.split(":", 1)[0]) for p in row["linktypes"].split() if p.split(":", 1)[0].isdigit()}
            if (row["tshark_read_error"] or row["header_problems"]
                    or (no_malformed and row["tshark_malformed_pkts"] not in ("", "0"))
                    or not lts or not lts <= DECODED_LINKTYPES or not 0 < int(row["packets"] or 0) <= max_packets
                    or not (CORPUS / row["path"]).is_file()):
                continue
            protos = {kv.split("=", 1)[0] for kv in row["tshark_protocols(frames)"].split(",")}
            rows.append((row["path"], protos))
    rows.sort()
    picked: list[str] = []
    for want in wanted:
        n = 0
        for path, protos in rows:
            if limit is not None and len(picked) >= limit:
                return [CORPUS / p for p in picked]
            if want in protos and path not in picked:
                picked.append(path)
                n += 1
                if n == per_protocol:
                    break
    return [CORPUS / p for p in picked]


def merge(caps: list[Path], out: Path) -> Path:
    subprocess.run(["mergecap", "-a", "-F", "pcapng", "-w", str(out), *map(str, caps)], check=True,
                   capture_output=True)
    return out


def tshark_frames(path: Path, flt: str) -> list[int] | None:
    """Frame numbers ``tshark -Y flt`` selects (None: tshark rejects the filter)."""
    p = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", flt, "-T", "fields", "-e", "frame.number"],
                       capture_output=True, env=dict(os.environ, LC_ALL="C.UTF-8"), timeout=120)
    if p.returncode != 0:
        return None
    return [int(x) for x in p.stdout.split()]


@dataclass
class Agreement:
    checked: int = 0
    bad: list[str] = field(default_factory=list)
    """One line per filter whose frames differ from tshark's."""
    rejected: list[str] = field(default_factory=list)
    """Filters tshark rejects (not compared)."""

    @property
    def agree(self) -> int:
        return self.checked - len(self.bad)


def compare_filters(tbl: pa.Table, path: Path, filters: list[str]) -> Agreement:
    """Run every filter through tshark on ``path`` and through tracedoc on
    ``tbl`` (the packet table of the same file)."""
    with ThreadPoolExecutor(max(2, os.cpu_count() or 1)) as ex:
        theirs = list(ex.map(lambda f: tshark_frames(path, f), filters))
    numbers = np.asarray(tbl["frame.number"].combine_chunks().to_numpy(zero_copy_only=False))
    res = Agreement()
    for flt, want in zip(filters, theirs):
        if want is None:
            res.rejected.append(flt)
            continue
        res.checked += 1
        got = numbers[compile_filter(flt)(tbl)].tolist()
        if got != want:
            extra = sorted(set(got) - set(want))[:5]
            missing = sorted(set(want) - set(got))[:5]
            res.bad.append(f"{flt!r}: tracedoc {len(got)} tshark {len(want)} frames; extra {extra} missing {missing}")
    return res
