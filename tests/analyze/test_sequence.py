"""The Sequence of Execution and its SVG ladder.

The frames of a conversation and their times come from tshark (the oracle),
not from tracedoc; the ladder must parse as SVG, draw every packet once,
and show hostile text from the trace as text.
"""

from __future__ import annotations

import json
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from tests.support import pcapgen
from tests.support.command import tracedoc_command
from tests.support.corpus import CORPUS, have_corpus, have_tshark
from tracedoc.analyze.sequence import Endpoint, between, sequence
from tracedoc.analyze.summary import infer_local
from tracedoc.export.ladder import ladder_svg
import tracedoc
import pyarrow as pa

REPO = Path(__file__).resolve().parents[2]
FTP = CORPUS / "zeek/testing/btest/Traces/ftp/ipv4.pcap"
SVG = "{http://www.w3.org/2000/svg}"

needs_ftp = pytest.mark.skipif(not (have_corpus() and have_tshark() and FTP.is_file()),
                               reason="needs the shared corpus (zeek ftp/ipv4.pcap) and tshark")


def tshark_rows(path: Path, flt: str, *fields: str) -> list[list[str]]:
    cmd = ["tshark", "-n", "-r", str(path), "-Y", flt, "-T", "fields"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_endpoint_parse() -> None:
    assert Endpoint.parse("10.0.0.1") == Endpoint("10.0.0.1", None)
    assert Endpoint.parse("10.0.0.1:21") == Endpoint("10.0.0.1", 21)
    assert Endpoint.parse("[2001:db8::1]:53") == Endpoint("2001:db8::1", 53)
    assert Endpoint.parse("2001:db8::1") == Endpoint("2001:db8::1", None)
    for bad in ("10.0.0.1:99999", "host.example:21", "10.0.0.1:x", ""):
        with pytest.raises(ValueError):
            Endpoint.parse(bad)


@needs_ftp
def test_between_is_the_conversation_tshark_sees() -> None:
    want = tshark_rows(FTP, "ip.addr==141.142.220.235 && tcp.port==50003 && ip.addr==199.233.217.249 && tcp.port==21",
                       "frame.number", "frame.time_epoch")
    tbl = tracedoc.open(FTP).packets
    side = infer_local(tbl, "141.142.220.235")
    sel = between(tbl, Endpoint.parse("199.233.217.249:21"), Endpoint.parse("141.142.220.235:50003"))
    seq = sequence(tbl, side, sel)
    rows = seq.rows.to_pylist()
    assert [r["ID"] for r in rows] == [int(w[0]) for w in want]
    # Elapsed: the gap to the previous packet of the same view (0 for the first).
    ts = [int(w[1].replace(".", "")) for w in want]
    assert [r["Elapsed"] for r in rows] == [0] + [b - a for a, b in zip(ts, ts[1:])]
    assert seq.local_ips == ["141.142.220.235"] and seq.remote_ips == ["199.233.217.249"]
    arrows = {r["Direction"] for r in rows}
    assert arrows == {"---->", "<----"}
    # The local side sent the commands, so their arrows point away from it.
    user = next(r for r in rows if "ftp command USER" in (r["Messages"] or ""))
    assert user["Direction"] == "---->" and user["Local Port"] == "50003" and user["Rmt. Port"] == "ftp control"


@needs_ftp
def test_relative_numbers_are_tsharks() -> None:
    want = tshark_rows(FTP, "tcp.port==56666", "frame.number", "tcp.seq", "tcp.ack")
    tbl = tracedoc.open(FTP).packets
    side = infer_local(tbl, "141.142.220.235")
    sel = between(tbl, Endpoint.parse("199.233.217.249:56666"), Endpoint.parse("141.142.220.235"))
    rows = sequence(tbl, side, sel, relative=True).rows.to_pylist()
    assert [(r["ID"], r["Seq. Number"], r["Ack. Number"]) for r in rows] == \
        [(int(f), int(s), int(a)) for f, s, a in want]


def _parse_svg(text: str) -> ET.Element:
    root = ET.fromstring(text.encode())
    assert root.tag == SVG + "svg"
    return root


@needs_ftp
def test_cli_svg_draws_every_packet(tmp_path: Path) -> None:
    want = [int(r[0]) for r in tshark_rows(FTP, "tcp.port==21", "frame.number")]
    out = tmp_path / "ladder.svg"
    r = subprocess.run([*tracedoc_command(), "sequence", str(FTP), "--between", "141.142.220.235:50003",
                        "199.233.217.249:21", "--svg", str(out), "--format", "json"],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [p["ID"] for p in doc["packets"]] == want
    assert doc["heading"].startswith("Local IP: ")
    root = _parse_svg(out.read_text())
    frames = [int(g.get("data-frame")) for g in root.iter(SVG + "g") if g.get("class") == "packet"]
    assert frames == want
    # Every arrow is a line with an arrowhead, one per packet.
    arrows = [ln for ln in root.iter(SVG + "line") if ln.get("marker-end")]
    assert len(arrows) == len(want)


@needs_ftp
def test_cli_rejects_bad_arguments(tmp_path: Path) -> None:
    for args, text in ((["--between", "1.2.3.4:99999", "1.2.3.5"], "bad port"),
                       ([], "either --session"),
                       (["--session", "100000"], "no session 100000")):
        r = subprocess.run([*tracedoc_command(), "sequence", str(FTP), *args],
                           capture_output=True, text=True, timeout=120, cwd=REPO)
        assert r.returncode != 0 and text in r.stderr, (args, r.stderr)


def _dns_query(name: bytes) -> bytes:
    labels = b"".join(bytes([len(p)]) + p for p in name.split(b".")) + b"\0"
    msg = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", 1, 1)
    udp = pcapgen.udp(40000, 53, msg)
    return pcapgen.ether("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800,
                         pcapgen.ipv4("192.0.2.1", "192.0.2.53", 17, udp))


def test_hostile_names_are_drawn_as_text(tmp_path: Path) -> None:
    hostile = b'<script>alert("x")</script>&amp;.example'
    data = _dns_query(hostile)
    pcap, _ = pcapgen.pcap_file([pcapgen.Rec(pcapgen.BASE_TS, data, len(data))])
    path = tmp_path / "hostile.pcap"
    path.write_bytes(pcap)
    tbl = tracedoc.open(path).packets
    side = infer_local(tbl, "192.0.2.1")
    seq = sequence(tbl, side, np.ones(tbl.num_rows, dtype=bool))
    svg = ladder_svg(seq, pa.array(["12:00:00.000000"]))
    root = _parse_svg(svg)
    assert "<script>" not in svg
    texts = " ".join(t.text or "" for t in root.iter(SVG + "text"))
    assert '<script>alert("x")</script>&amp;' in texts
