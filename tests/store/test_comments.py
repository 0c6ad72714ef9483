"""pcapng comments become annotations (source "pcapng"): packet comments on
their frame, as tshark shows them in frame.comment; section comments on the
whole trace, as capinfos -k shows them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.store.conftest import COMMENTED_PCAPNG, corpus, need, tshark_fields


def tshark_comments(path: Path) -> list[tuple[int, str]]:
    # tshark 4.0 names the field frame.comment (pkt_comment before 3.6, frame.comment since).
    return [(int(n), c) for n, c in tshark_fields(path, "frame.number", "frame.comment") if c]


def capinfos_comments(path: Path) -> list[str]:
    need("capinfos")
    out = subprocess.run(["capinfos", "-k", str(path)], capture_output=True, text=True, check=True).stdout
    return [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Capture comment")]


@pytest.mark.parametrize("rel", COMMENTED_PCAPNG)
def test_corpus_comments_are_imported(inv, rel: str):
    path = corpus(rel)
    rec = inv.add(path)
    got = inv.annotations(rec.id)
    assert all(a.source == "pcapng" for a in got)
    want_frames = tshark_comments(path)
    assert want_frames, "the capture has packet comments"
    assert [(a.frame, a.text) for a in got if a.frame is not None] == want_frames
    assert [a.text for a in got if a.frame is None] == capinfos_comments(path)


def test_comments_written_by_editcap(inv, tmp_path: Path):
    need("editcap")
    src = corpus("dpkt/examples/data/http.pcap")
    out = tmp_path / "commented.pcapng"
    notes = {1: "first SYN", 7: "<script>alert('x')</script>", 38: '=HYPERLINK("http://evil")',
             43: "café ☕ ünïcode"}
    args = ["editcap", "-F", "pcapng"]
    for n, text in notes.items():
        args += ["-a", f"{n}:{text}"]
    subprocess.run(args + [str(src), str(out)], check=True, capture_output=True)
    want = tshark_comments(out)
    assert [n for n, _ in want] == sorted(notes)
    rec = inv.add(out)
    got = [(a.frame, a.text) for a in inv.annotations(rec.id) if a.source == "pcapng"]
    assert got == want
    assert [(a.frame, a.text) for a in inv.annotations(rec.id, frame=7)] == [(7, notes[7])]
    # Adding the same file again imports nothing twice; a person's annotation sits beside them.
    inv.add(out)
    mine = inv.annotate(rec.id, "agreed", frame=7)
    assert inv.annotations(rec.id, frame=7)[1] == mine
    assert len(inv.annotations(rec.id)) == len(want) + 1


def test_no_comments_no_annotations(inv, http_pcap: Path):
    rec = inv.add(http_pcap)
    assert tshark_comments(http_pcap) == []
    assert inv.annotations(rec.id) == []
