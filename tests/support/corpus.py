"""Access to the shared capture corpus (../shared/corpus) and its MANIFEST."""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("TRACEDOC_CORPUS", REPO.parent / "shared" / "corpus"))
MANIFEST = CORPUS / "MANIFEST.tsv"

# Link types whose decode the tshark comparison covers (issue 2): Ethernet,
# Linux SLL/SLL2, BSD NULL/LOOP, raw IPv4/IPv6 (DLT 12, 14, 101, 228, 229).
DECODED_LINKTYPES = {1, 113, 276, 0, 108, 12, 14, 101, 228, 229}


@dataclass
class Capture:
    path: Path
    rel: str
    format: str
    linktypes: set[int]
    packets: int
    tshark_error: str

    @property
    def tshark_reads(self) -> bool:
        return not self.tshark_error


def have_corpus() -> bool:
    return MANIFEST.is_file()


def have_tshark() -> bool:
    return shutil.which("tshark") is not None


def captures() -> list[Capture]:
    out = []
    with open(MANIFEST, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            lts = set()
            for part in row["linktypes"].split():
                num = part.split(":", 1)[0]
                if num.isdigit():
                    lts.add(int(num))
            out.append(Capture(CORPUS / row["path"], row["path"], row["format"], lts,
                               int(row["packets"] or 0), row["tshark_read_error"]))
    return out
