"""FTP data connections linked to the announcing command/reply, on corpus
captures, with tshark as the oracle for which SYN and SYN-ACK followed each
announcement (the live test, tests/live/test_ftp_data_links.py, covers
unanswered SYNs and announcements nobody used)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import tracedoc
from tests.support.corpus import CORPUS, have_corpus, have_tshark
from tracedoc.analyze import ftp_data
from tracedoc.analyze.sessions import SESSION_COLUMNS, build_sessions

FTP = CORPUS / "zeek/testing/btest/Traces/ftp"
CASES = ["ipv4.pcap", "ipv6.pcap", "retr.pcap", "ipv6-retr-samba.pcap"]

pytestmark = pytest.mark.skipif(not (have_corpus() and have_tshark()), reason="needs the corpus and tshark")


def tshark(path: Path, flt: str, *fields: str) -> list[list[str]]:
    cmd = ["tshark", "-n", "-r", str(path), "-Y", flt, "-T", "fields"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout
    return [ln.split("\t") for ln in out.splitlines()]


def links(path: Path) -> list[dict]:
    cols = list(dict.fromkeys(SESSION_COLUMNS + ftp_data.NEEDS))
    tbl = tracedoc.open(path).table(cols)
    s = build_sessions(tbl)
    return ftp_data.ftp_data_links(tbl, s.sid).to_pylist()


@pytest.mark.parametrize("name", CASES)
def test_links_follow_tsharks_conversations(name: str) -> None:
    path = FTP / name
    ann = tshark(path, "ftp.passive.port or ftp.epsv.port or ftp.active.port or ftp.eprt.port",
                 "frame.number", "ftp.passive.port", "ftp.epsv.port", "ftp.active.port", "ftp.eprt.port")
    got = links(path)
    assert [x["announce_frame"] for x in got] == [int(a[0]) for a in ann]
    for x, a in zip(got, ann):
        port = int(next(p for p in a[1:] if p))
        assert x["data_port"] == port
        syns = tshark(path, f"tcp.flags.syn==1 && tcp.flags.ack==0 && tcp.dstport=={port} && frame.number>{a[0]}",
                      "frame.number", "tcp.stream")
        if not syns:  # announced, and nobody connected (in this capture)
            assert x["status"] == "no_syn" and x["syn_frame"] is None and x["data_sid"] is None
            continue
        first, stream = int(syns[0][0]), syns[0][1]
        assert x["syn_frame"] == first
        synack = tshark(path, f"tcp.stream=={stream} && tcp.flags.syn==1 && tcp.flags.ack==1", "frame.number")
        assert x["synack_frame"] == (int(synack[0][0]) if synack else None)
        assert x["status"] == ("connected" if synack else "syn_unanswered")
        # The control session is the one carrying the announcement; the data one is new.
        assert x["control_sid"] is not None and x["data_sid"] not in (None, x["control_sid"])
    # Passive announcements are replies (227/229) to a PASV/EPSV command sent before them.
    for x in got:
        if x["method"] in ("PASV", "EPSV"):
            assert x["reply_frame"] == x["announce_frame"] and x["reply_code"] in (227, 229)
            cmd = tshark(path, f"frame.number=={x['command_frame']}", "ftp.request.command")
            assert cmd[0][0] == x["method"]
        else:
            code = tshark(path, f"frame.number=={x['reply_frame']}", "ftp.response.code")
            assert int(code[0][0]) == x["reply_code"] and x["command_frame"] == x["announce_frame"]


def test_no_ftp_no_links(tmp_path: Path) -> None:
    empty = tmp_path / "e.pcap"
    from tests.support import pcapgen

    data, _ = pcapgen.pcap_file([])
    empty.write_bytes(data)
    assert links(empty) == []
