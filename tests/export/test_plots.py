"""The plots (SVG) and the numbers behind them.

The oracles are independent of tracedoc: ``tshark -q -z io,stat`` for the
I/O graph's intervals (in total and per direction, with display filters
naming the local address), tshark's ``tcp.seq``/``tcp.ack``/
``tcp.window_size``/``frame.time_relative`` for the Stevens graph,
tshark's ``dns.time``/``http.time`` (and its unanswered requests, two-pass)
for the response-time histogram, ``tshark -q -z io,phs`` for the protocol
hierarchy, and frames the tests write themselves (tests.support.pcapgen)
where every count follows from what was written.  Each SVG must parse with
ElementTree, carry a title and a viewBox, hold no script, and show hostile
text from a trace as text.
"""

from __future__ import annotations

import re
import struct
import subprocess
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import tracedoc
from tests.support import pcapgen as g
from tests.support.corpus import CORPUS, have_corpus, have_tshark
from tracedoc.analyze.hosts import PHS_SCHEMA, protocol_hierarchy
from tracedoc.analyze.io_graph import auto_interval_ns, interval_ns, io_series
from tracedoc.analyze.sessions import build_sessions
from tracedoc.analyze.summary import infer_local
from tracedoc.analyze.transactions import SCHEMA as TXN_SCHEMA
from tracedoc.analyze.transactions import transactions
from tracedoc.export import plots
from tracedoc.export.plots import (
    hierarchy_svg,
    hierarchy_table_svg,
    io_graph_svg,
    response_histogram_svg,
    stevens_points,
    stevens_svg,
)

SVG = "{http://www.w3.org/2000/svg}"
HTTP_B = "zeek/testing/btest/Traces/http/206_example_b.pcap"      # one download with 56 retransmissions
SSH = "zeek/testing/btest/Traces/ssh/ssh.pcap"                      # retransmissions, resets
STD_PORTS = "zeek/testing/btest/Traces/var-services-std-ports.pcap"  # DNS, FTP, HTTP, ARP
DNS_ECS = "zeek/testing/btest/Traces/dns-edns-ecs.pcap"             # DNS times over two decades
HTTP_1000 = "zeek/testing/btest/Traces/http/1000-requests-one-dropped-response.pcap.gz"
DNS_ICMP = "dpkt/examples/data/dns_icmp.pcap"                       # ICMP errors quoting IP headers
ICMPV6 = "tcpdump/tests/icmpv6.pcap"                                # IPv6 only

needs_tshark = pytest.mark.skipif(not (have_corpus() and have_tshark()),
                                  reason="needs ../shared/corpus and tshark")


def corpus(rel: str) -> Path:
    path = CORPUS / rel
    if not path.is_file():
        pytest.skip(f"{rel} is not in the corpus")
    return path


@cache
def packets(rel: str) -> pa.Table:
    return tracedoc.open(corpus(rel)).packets


def tshark(path: Path, *args: str) -> str:
    r = subprocess.run(["tshark", "-n", "-r", str(path), *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def tshark_fields(path: Path, flt: str, *fields: str, two_pass: bool = False) -> list[list[str]]:
    args = (["-2"] if two_pass else []) + ["-Y", flt, "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    return [line.split("\t") for line in tshark(path, *args).splitlines()]


def check_svg(text: str) -> ET.Element:
    """Parses; an <svg> with a title and a viewBox; nothing that runs or fetches."""
    root = ET.fromstring(text.encode())
    assert root.tag == SVG + "svg"
    assert re.fullmatch(r"0 0 \d+ \d+", root.get("viewBox", ""))
    title = root.find(SVG + "title")
    assert title is not None and (title.text or "").strip()
    for el in root.iter():
        assert el.tag.rsplit("}", 1)[-1] not in ("script", "foreignObject", "image", "use", "a")
        for name in el.attrib:
            assert not name.lower().startswith("on") and "href" not in name.lower(), (el.tag, name)
    return root


def find(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [el for el in root.iter(SVG + tag) if cls in (el.get("class") or "").split()]


def text_of(root: ET.Element) -> str:
    return " ".join("".join(root.itertext()).split())


def write_pcap(path: Path, frames: list[tuple[int, bytes]]) -> Path:
    path.write_bytes(g.pcap_file([g.Rec(g.BASE_TS + t, f, len(f)) for t, f in frames])[0])
    return path


# -- the I/O graph's numbers, against tshark io,stat -----------------------------------------


def tshark_io(path: Path, interval: str, *filters: str) -> list[list[int]]:
    """tshark's io,stat rows: per interval, frames and bytes of each filter's column."""
    out = tshark(path, "-q", "-z", ",".join(["io,stat", interval, *filters]))
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and "<>" in cells[0]:
            rows.append([int(c) for c in cells[1:] if c])
    return rows


def direction_filters(side_text: str) -> tuple[str, str]:
    """Display filters for frames out of and into one local address, as tracedoc decides
    direction: the first IP header (layer #1, not one an ICMP error quotes), else ARP's
    addresses.  (The captures used have no tunnels, where the innermost header decides.)"""
    if ":" in side_text:
        src, dst = f"ipv6.src#1=={side_text}", f"ipv6.dst#1=={side_text}"
    else:
        no_ip = "!ip && !ipv6"
        src = f"(ip.src#1=={side_text} || ({no_ip} && arp.src.proto_ipv4=={side_text}))"
        dst = f"(ip.dst#1=={side_text} || ({no_ip} && arp.dst.proto_ipv4=={side_text}))"
    return src, f"!({src}) && ({dst})"


IO_CASES = [(HTTP_B, "5"), (HTTP_B, None), (STD_PORTS, "1"), (STD_PORTS, None), (SSH, None), (SSH, "86400"),
            (DNS_ICMP, None), (DNS_ICMP, "0.001"), (ICMPV6, None)]


@needs_tshark
@pytest.mark.parametrize("rel,interval", IO_CASES)
def test_io_series_is_tsharks_io_stat(rel: str, interval: str | None) -> None:
    tbl = packets(rel)
    side = infer_local(tbl)
    assert side.network is not None and side.network.num_addresses == 1
    addr = str(side.network.network_address)
    series = io_series(tbl, None if interval is None else float(interval), side)
    iv = interval_ns(series)
    if interval is None:   # automatic: a 1-2-5 step giving at most 400 intervals, 160 or more if long enough
        assert re.fullmatch(r"[125]0*", str(iv)) and series.num_rows <= 400
        span = int(tbl["frame.time_epoch"].to_numpy().max() - tbl["frame.time_epoch"].to_numpy().min())
        assert series.num_rows >= min(160, span // 1000)
    out_f, in_f = direction_filters(addr)
    want = tshark_io(corpus(rel), f"{iv / 1e9:.9f}".rstrip("0").rstrip("."), "frame", out_f, in_f)
    got = [[r["packets"], r["bytes"], r["packets_out"], r["bytes_out"], r["packets_in"], r["bytes_in"]]
           for r in series.to_pylist()]
    assert len(got) == len(want)
    assert got == want
    assert sum(r[0] for r in got) == tbl.num_rows
    # Frames neither out nor in are the rest.
    other = [r["packets_other"] for r in series.to_pylist()]
    assert [a - b - c for a, _, b, _, c, _ in got] == other


def test_io_series_built_traffic(tmp_path: Path) -> None:
    """Direction per frame, as the Packet Summary's Dir: out (source local, also ARP), in,
    other (remote to remote, no address); a frame stamped before the first starts the graph."""
    a, b, c = "10.0.0.1", "10.0.0.2", "10.0.0.3"
    ms = 1_000_000
    f_out = g.ether(g.MAC_B, g.MAC_A, 0x0800, g.ipv4(a, b, 17, g.udp(1000, 2000, b"x" * 10)))   # 14+20+8+10 = 52
    f_in = g.ether(g.MAC_A, g.MAC_B, 0x0800, g.ipv4(b, a, 17, g.udp(2000, 1000, b"y" * 30)))    # 72
    f_other = g.ether(g.MAC_A, g.MAC_B, 0x0800, g.ipv4(b, c, 17, g.udp(2000, 1000, b"")))       # 42
    f_arp = g.ether("ff:ff:ff:ff:ff:ff", g.MAC_A, 0x0806, g.arp(1, g.MAC_A, a, "00:00:00:00:00:00", b))  # 42
    f_self = g.ether(g.MAC_A, g.MAC_A, 0x0800, g.ipv4(a, a, 17, g.udp(1, 2, b"")))              # 42: out
    frames = [(100 * ms, f_out), (150 * ms, f_in), (1_250 * ms, f_other), (1_900 * ms, f_arp),
              (40 * ms, f_self),                                   # the clock stepped back 60 ms
              (2_040 * ms, f_in)]
    tbl = tracedoc.open(write_pcap(tmp_path / "io.pcap", frames)).packets
    s = io_series(tbl, 1.0, "10.0.0.1/32")
    assert s.schema.metadata[b"start_ns"] == str(g.BASE_TS + 40 * ms).encode()
    rows = [(r["packets"], r["bytes"], r["packets_out"], r["bytes_out"], r["packets_in"], r["bytes_in"],
             r["packets_other"]) for r in s.to_pylist()]
    # Intervals from 40 ms: [40, 1040) holds out, in, self; [1040, 2040) other, arp; [2040, ...) in.
    assert rows == [(3, 52 + 72 + 42, 2, 52 + 42, 1, 72, 0), (2, 84, 1, 42, 0, 0, 1), (1, 72, 0, 0, 1, 72, 0)]
    assert s["start"].to_pylist() == [g.BASE_TS + 40 * ms + k * 1_000_000_000 for k in range(3)]
    assert s["offset"].to_pylist() == [0.0, 1.0, 2.0]
    # A network as local side: 10.0.0.0/24 holds all three hosts, so nothing comes in.
    wide = io_series(tbl, 1.0, "10.0.0.0/24")
    assert wide["packets_in"].to_pylist() == [0, 0, 0]
    assert wide["packets_out"].to_pylist() == [3, 2, 1]
    # An IPv6 network holds none of these IPv4 hosts.
    v6 = io_series(tbl, 1.0, "2001:db8::/32")
    assert v6["packets_other"].to_pylist() == [3, 2, 1]


def test_auto_interval_steps() -> None:
    assert auto_interval_ns(0) == 1_000                       # one packet: one interval of 1 us
    assert auto_interval_ns(399_000) == 1_000                 # 400 intervals of 1 us
    assert auto_interval_ns(400_000) == 2_000
    assert auto_interval_ns(10 * 10**9) == 50_000_000         # 10 s: 201 intervals of 50 ms
    assert auto_interval_ns(3600 * 10**9) == 10 * 10**9       # an hour: 361 intervals of 10 s
    for d in (1, 7_777, 10**6, 123_456_789, 10**12, 9 * 10**14):
        iv = auto_interval_ns(d)
        assert re.fullmatch(r"[125]0*", str(iv))
        n = d // iv + 1
        assert n <= 400 and (n >= 160 or iv == 1_000)


def test_io_bad_intervals(tmp_path: Path) -> None:
    tbl = tracedoc.open(write_pcap(tmp_path / "two.pcap", [(0, g.SYN), (3600 * 10**9, g.SYNACK)])).packets
    for bad in (0, -1, float("nan"), float("inf"), 1e-7):
        with pytest.raises(ValueError, match="interval"):
            io_series(tbl, bad)
    with pytest.raises(ValueError, match="choose at least"):
        io_series(tbl, 1e-6)                       # 3.6e9 intervals
    with pytest.raises(ValueError, match="too many to draw"):
        io_graph_svg(tbl, 0.01)                    # 360001 intervals: counted, not drawn
    assert io_series(tbl, 0.01).num_rows == 360_001


# -- the I/O graph SVG ----------------------------------------------------------------------


@needs_tshark
def test_io_graph_svg_holds_the_series() -> None:
    tbl = packets(HTTP_B)
    side = infer_local(tbl)
    svg = io_graph_svg(tbl, 5, side)
    root = check_svg(svg)
    bins = find(root, "rect", "bin")
    addr = str(side.network.network_address)
    out_f, in_f = direction_filters(addr)
    want = tshark_io(corpus(HTTP_B), "5", "frame", out_f, in_f)
    assert len(bins) == len(want)
    got = [[int(b.get(k)) for k in ("data-packets", "data-bytes", "data-packets-out", "data-bytes-out",
                                    "data-packets-in", "data-bytes-in")] for b in bins]
    assert got == want
    assert [int(b.get("data-bin")) for b in bins] == list(range(len(want)))
    series = {p.get("data-series") for p in find(root, "path", "series")}
    # No frame here is between two remote hosts, so there is no "other" line.
    assert series == {"packets_out", "packets_in", "bytes_out", "bytes_in"}
    text = text_of(root)
    assert addr in text and "per 5 s" in text and "1556 packets" in text


def test_io_graph_other_line_and_many_bins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = [(k * 1_000_000, g.SYN if k % 2 else g.PACKETS["udp_dns"]) for k in range(50)]
    tbl = tracedoc.open(write_pcap(tmp_path / "f.pcap", frames)).packets
    root = check_svg(io_graph_svg(tbl, 0.001, "192.0.2.0/24"))    # no frame is local
    assert {p.get("data-series") for p in find(root, "path", "series")} >= {"packets_other", "bytes_other"}
    assert sum(int(b.get("data-packets-other")) for b in find(root, "rect", "bin")) == 50
    # Beyond MAX_BIN_TARGETS intervals the lines are drawn without a target per interval.
    monkeypatch.setattr(plots, "MAX_BIN_TARGETS", 10)
    root = check_svg(io_graph_svg(tbl, 0.001, "192.0.2.0/24"))
    assert find(root, "rect", "bin") == [] and len(find(root, "path", "series")) == 6


def test_io_graph_of_nothing(tmp_path: Path) -> None:
    tbl = tracedoc.open(write_pcap(tmp_path / "empty.pcap", [])).packets
    root = check_svg(io_graph_svg(tbl))
    assert root.get("class") == "no-data" and "no packets" in text_of(root)
    assert io_series(tbl).num_rows == 0


# -- the Stevens graph ----------------------------------------------------------------------


def _stream_of(path: Path, frame: int) -> int:
    return int(tshark_fields(path, f"frame.number=={frame}", "tcp.stream")[0][0])


def _check_stevens(rel: str, sid: int, sender: str | None) -> ET.Element:
    path = corpus(rel)
    tbl = packets(rel)
    sessions = build_sessions(tbl)
    row = sessions.table.filter(pa.compute.equal(sessions.table["sid"], sid)).to_pylist()[0]
    p = stevens_points(tbl, sid, sessions, sender)
    src_ip, src_port = p["src"]
    stream = _stream_of(path, row["first_frame"])
    ipf = "ipv6" if ":" in src_ip else "ip"
    want = tshark_fields(path, f"tcp.stream=={stream} && tcp.len>0 && {ipf}.src=={src_ip} && tcp.srcport=={src_port}",
                         "frame.number", "frame.time_relative", "tcp.seq", "tcp.len", "tcp.analysis.retransmission")
    assert p["frame"].tolist() == [int(w[0]) for w in want]
    assert np.allclose(p["time"], [float(w[1]) for w in want], atol=1e-9)
    assert p["seq"].tolist() == [int(w[2]) for w in want]
    assert p["len"].tolist() == [int(w[3]) for w in want]
    assert p["retransmission"].tolist() == [w[4] == "1" for w in want]
    dst_ip, dst_port = p["dst"]
    acks = tshark_fields(path, f"tcp.stream=={stream} && tcp.flags.ack==1 && {ipf}.src=={dst_ip} && "
                         f"tcp.srcport=={dst_port}", "frame.number", "frame.time_relative", "tcp.ack",
                         "tcp.window_size")
    assert p["ack_frame"].tolist() == [int(w[0]) for w in acks]
    assert np.allclose(p["ack_time"], [float(w[1]) for w in acks], atol=1e-9)
    assert p["ack"].tolist() == [int(w[2]) for w in acks]
    assert p["window"].tolist() == [int(w[2]) + int(w[3]) for w in acks]
    # The SVG: one circle per data segment, with tshark's numbers; retransmissions marked.
    root = check_svg(stevens_svg(tbl, sid, sessions, sender))
    segs = find(root, "circle", "seg")
    assert [int(c.get("data-frame")) for c in segs] == [int(w[0]) for w in want]
    assert [int(c.get("data-seq")) for c in segs] == [int(w[2]) for w in want]
    assert [int(c.get("data-len")) for c in segs] == [int(w[3]) for w in want]
    assert np.allclose([float(c.get("data-time")) for c in segs], [float(w[1]) for w in want], atol=1e-9)
    assert [int(c.get("data-frame")) for c in find(root, "circle", "retransmission")] == \
        [int(w[0]) for w in want if w[4] == "1"]
    assert len(find(root, "path", "ack")) == 1 and len(find(root, "path", "rwin")) == 1
    return root


@needs_tshark
def test_stevens_is_tsharks_sequence_numbers() -> None:
    # The download: the server sends (most data: the default sender), with 56 retransmissions.
    root = _check_stevens(HTTP_B, 1, None)
    assert len(find(root, "circle", "retransmission")) == 56
    assert "65.54.95.206:80 -> 192.168.72.14:3254" in text_of(root)
    # The client's side of it (its request).
    _check_stevens(HTTP_B, 1, "initiator")


@needs_tshark
def test_stevens_ssh_sessions() -> None:
    sessions = build_sessions(packets(SSH))
    tcp = [r for r in sessions.table.to_pylist() if r["proto"] == "tcp" and (r["retransmissions"] or 0) > 0]
    assert tcp, "ssh.pcap has TCP sessions with retransmissions"
    busiest = max(tcp, key=lambda r: r["packets_in"] + r["packets_out"])
    for sender in (None, "initiator", "responder"):
        _check_stevens(SSH, busiest["sid"], sender)


@needs_tshark
def test_stevens_thins_a_large_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over MAX_POINTS segments, the ordinary ones become one path of dots (one per screen
    pixel); every retransmission is still a circle of its own."""
    tbl = packets(HTTP_B)
    sessions = build_sessions(tbl)
    monkeypatch.setattr(plots, "MAX_POINTS", 100)
    root = check_svg(stevens_svg(tbl, 1, sessions))
    assert len(find(root, "circle", "seg")) == len(find(root, "circle", "retransmission")) == 56
    (bulk,) = find(root, "path", "segs")
    assert int(bulk.get("data-count")) == 840 - 56
    assert 0 < bulk.get("d", "").count("M") <= 840 - 56


def test_stevens_no_data_and_errors(tmp_path: Path) -> None:
    rst = g.ether(g.MAC_A, g.MAC_B, 0x0800, g.ipv4("10.0.0.2", "10.0.0.1", 6, g.tcp(80, 1234, 0, 1001, 0x14, 0)))
    frames = [(0, g.SYN), (1_000_000, rst), (2_000_000, g.PACKETS["udp_dns"])]
    tbl = tracedoc.open(write_pcap(tmp_path / "refused.pcap", frames)).packets
    sessions = build_sessions(tbl)
    by_proto = {r["proto"]: r["sid"] for r in sessions.table.to_pylist()}
    root = check_svg(stevens_svg(tbl, by_proto["tcp"], sessions))          # refused: no data
    assert root.get("class") == "no-data" and "no data segments" in text_of(root)
    root = check_svg(stevens_svg(tbl, by_proto["udp"], sessions))
    assert root.get("class") == "no-data" and "not TCP" in text_of(root)
    with pytest.raises(KeyError):
        stevens_svg(tbl, 99, sessions)
    with pytest.raises(ValueError, match="sender"):
        stevens_svg(tbl, by_proto["tcp"], sessions, "both")
    with pytest.raises(ValueError, match="lacks the columns"):
        stevens_svg(tbl.drop_columns(["tcp.seq"]), by_proto["tcp"], sessions)
    with pytest.raises(ValueError, match="built from"):
        stevens_svg(tbl.slice(0, 2), by_proto["tcp"], sessions)


def test_stevens_built_session_with_sequence_wrap(tmp_path: Path) -> None:
    """Relative numbers keep growing past 2**32 bytes (tshark's tcp.seq wraps)."""
    a, b = "10.0.0.1", "10.0.0.2"

    def seg(src: str, dst: str, sp: int, dp: int, seq: int, ack: int, flags: int, data: bytes = b"") -> bytes:
        return g.ether(g.MAC_A, g.MAC_B, 0x0800, g.ipv4(src, dst, 6, g.tcp(sp, dp, seq & 0xFFFFFFFF,
                                                                          ack & 0xFFFFFFFF, flags, 1000) + data))

    isn, ms = 4_000_000_000, 1_000_000      # the raw numbers wrap too
    q = 2**30      # steps of a quarter of the sequence space: each is read as a step forward
    frames = [(0, seg(a, b, 1234, 80, 100, 0, 0x02)),
              (1 * ms, seg(b, a, 80, 1234, isn, 101, 0x12)),
              (2 * ms, seg(a, b, 1234, 80, 101, isn + 1, 0x10)),
              (3 * ms, seg(b, a, 80, 1234, isn + 1, 101, 0x18, b"a" * 100))]
    for k in (1, 2, 3):
        frames.append(((3 + k) * ms, seg(b, a, 80, 1234, isn + k * q, 101, 0x18, b"b" * 100)))
        frames.append(((3 + k) * ms + 100, seg(a, b, 1234, 80, 101, isn + k * q + 100, 0x10)))
    frames += [(7 * ms, seg(b, a, 80, 1234, isn + 2**32 - 100, 101, 0x18, b"c" * 100)),
               (8 * ms, seg(b, a, 80, 1234, isn + 2**32, 101, 0x18, b"d" * 100)),
               (9 * ms, seg(a, b, 1234, 80, 101, isn + 2**32 + 100, 0x10))]
    tbl = tracedoc.open(write_pcap(tmp_path / "wrap.pcap", frames)).packets
    # tshark's (and the table's) relative numbers wrap at 2**32 ...
    assert tbl["tcp.seq"].to_pylist()[-2] == 0 and tbl["tcp.ack"].to_pylist()[-1] == 100
    sessions = build_sessions(tbl)
    p = stevens_points(tbl, 1, sessions)
    assert p["sender"] == "responder"
    # ... the graph's keep growing.
    assert p["seq"].tolist() == [1, q, 2 * q, 3 * q, 2**32 - 100, 2**32]
    assert p["ack"].tolist() == [1, q + 100, 2 * q + 100, 3 * q + 100, 2**32 + 100]
    assert p["window"].tolist() == [v + 1000 for v in p["ack"].tolist()]
    check_svg(stevens_svg(tbl, 1, sessions))


# -- the response-time histogram ------------------------------------------------------------


def _histogram(root: ET.Element) -> tuple[list[float], list[int], int]:
    bars = find(root, "rect", "bar")
    binned = [b for b in bars if "unanswered" not in b.get("class", "")]
    edges = [float(b.get("data-lo")) for b in binned] + [float(binned[-1].get("data-hi"))]
    unanswered = sum(int(b.get("data-count")) for b in bars if "unanswered" in b.get("class", ""))
    return edges, [int(b.get("data-count")) for b in binned], unanswered


def _binned(times: list[float], edges: list[float]) -> list[int]:
    e = np.asarray(edges)
    idx = np.clip(np.searchsorted(e, times, side="right") - 1, 0, len(e) - 2)
    return np.bincount(idx, minlength=len(e) - 1).tolist()


@needs_tshark
@pytest.mark.parametrize("rel,kind,field,asked,logx", [
    (STD_PORTS, "dns", "dns.time", "dns.flags.response==0 && !dns.retransmission", False),
    (DNS_ECS, "dns", "dns.time", "dns.flags.response==0 && !dns.retransmission", True),
    (HTTP_1000, "http", "http.time", "http.request", False),
])
def test_histogram_counts_tsharks_times(rel: str, kind: str, field: str, asked: str, logx: bool) -> None:
    path = corpus(rel)
    times = [float(w[0]) for w in tshark_fields(path, field, field)]
    unanswered = len(tshark_fields(path, f"{asked} && !{field.split('.')[0]}.response_in", "frame.number",
                                   two_pass=True))
    svg = response_histogram_svg(transactions(packets(rel)), kind)
    root = check_svg(svg)
    edges, counts, no_answer = _histogram(root)
    assert sum(counts) == len(times)
    assert counts == _binned(times, edges)
    assert no_answer == unanswered
    assert ("logarithmic bins" in text_of(root)) == logx
    steps = np.diff(edges)
    if logx:   # 1-2-5 edges: each edge is 2 or 2.5 times the one before
        ratios = np.asarray(edges[2:]) / np.asarray(edges[1:-1])
        assert set(np.round(ratios, 6).tolist()) <= {2.0, 2.5}
    else:      # equal round steps from 0
        assert edges[0] == 0 and np.allclose(steps, steps[0]) and re.fullmatch(r"[125]", f"{steps[0]:.0e}"[0])
    assert edges[0] <= min(times) and max(times) <= edges[-1]
    # The slowest are listed with their frames.
    listed = [int(t.get("data-frame")) for t in find(root, "text", "transaction")]
    assert len(listed) == min(plots.MAX_SLOWEST, len(times))


def _dns(name: bytes, src: str, dst: str, sport: int, dport: int, flags: int, xid: int = 0x4242) -> bytes:
    labels = b"".join(bytes([len(p)]) + p for p in name.split(b".")) + b"\0"
    msg = struct.pack("!HHHHHH", xid, flags, 1, 0, 0, 0) + labels + struct.pack("!HH", 1, 1)
    return g.ether(g.MAC_B, g.MAC_A, 0x0800, g.ipv4(src, dst, 17, g.udp(sport, dport, msg)))


HOSTILE = b"<script>alert(1)</script>&amp;.example"


def test_histogram_shows_trace_text_as_text(tmp_path: Path) -> None:
    frames = [(0, _dns(HOSTILE, "192.0.2.1", "192.0.2.53", 40000, 53, 0x0100)),
              (2_000_000, _dns(HOSTILE, "192.0.2.53", "192.0.2.1", 53, 40000, 0x8180)),
              (3_000_000, _dns(b"b.example", "192.0.2.1", "192.0.2.53", 40001, 53, 0x0100, 7))]
    tbl = tracedoc.open(write_pcap(tmp_path / "hostile.pcap", frames)).packets
    txns = transactions(tbl)
    assert HOSTILE.decode() in str(txns["label"].to_pylist())
    svg = response_histogram_svg(txns, "dns")
    root = check_svg(svg)
    assert "<script" not in svg and "&lt;script&gt;" in svg
    assert HOSTILE.decode() in text_of(root)
    edges, counts, unanswered = _histogram(root)
    assert counts == _binned([0.002], edges) and unanswered == 1
    # A hostile kind (from a URL, say) is text too, and finds nothing.
    root = check_svg(response_histogram_svg(txns, "<script>x</script>"))
    assert root.get("class") == "no-data" and "<script>x</script>" in text_of(root)


def test_text_xml_cannot_hold_is_shown_escaped() -> None:
    """A control character (a terminal escape in a DNS name or URI) would make the document
    unparseable: it is shown as \\xNN."""
    phs = pa.Table.from_pylist([{"path": "eth", "protocol": "\x1b[31mred\x00", "depth": 0, "frames": 1,
                                 "bytes": 60}], schema=PHS_SCHEMA)
    root = check_svg(hierarchy_table_svg(phs, 1, 60))
    (node,) = find(root, "g", "node")
    assert "\\x1b[31mred\\x00" in text_of(node) and node.get("data-protocol") == "\\x1b[31mred\\x00"
    txns = pa.Table.from_pylist([{"type": "http", "client": "a", "client_port": 1, "server": "b", "server_port": 80,
                                  "request_frame": 1, "response_frame": 2, "request_time": 0,
                                  "response_time": 5_000_000, "label": "GET /\x07\x08<b>", "result": "200",
                                  "retries": 0}], schema=TXN_SCHEMA)
    root = check_svg(response_histogram_svg(txns, "http"))
    assert "GET /\\x07\\x08<b>" in text_of(root)


def test_histogram_bins_built() -> None:
    """Times over three decades: 1-2-5 log bins (a zero time in the first); close times: linear
    from 0; the threshold line where the type's default is."""
    def table(kind: str, ns: list[int | None]) -> pa.Table:
        n = len(ns)
        return pa.table({
            "type": [kind] * n, "client": ["a"] * n, "client_port": pa.array([1] * n, pa.uint16()),
            "server": ["b"] * n, "server_port": pa.array([53] * n, pa.uint16()),
            "request_frame": pa.array(range(1, n + 1), pa.uint64()),
            "response_frame": pa.array([None if v is None else i + 100 for i, v in enumerate(ns)], pa.uint64()),
            "request_time": pa.array([0] * n, pa.int64()), "response_time": pa.array(ns, pa.int64()),
            "label": ["q"] * n, "result": ["ok"] * n, "retries": pa.array([0] * n, pa.uint32())}, schema=TXN_SCHEMA)

    ms = 1_000_000
    ns = [0, 1 * ms, 3 * ms, 3 * ms, 40 * ms, 700 * ms, 2_400 * ms, None, None]
    root = check_svg(response_histogram_svg(table("dns", ns), "dns"))
    edges, counts, unanswered = _histogram(root)
    assert edges == [0.0, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0]
    assert counts == [2, 2, 0, 0, 1, 0, 0, 0, 1, 0, 1] and unanswered == 2
    (line,) = find(root, "line", "threshold")
    assert float(line.get("data-seconds")) == 0.5
    assert "7 answered, 2 unanswered" in text_of(root) and "2 over the threshold of 500 ms" in text_of(root)
    root = check_svg(response_histogram_svg(table("http", [10 * ms, 12 * ms, 13 * ms]), "http"))
    edges, counts, unanswered = _histogram(root)
    assert edges[0] == 0 and np.allclose(np.diff(edges), 0.001) and edges[-1] > 0.013   # 13 ms / 20: 1 ms steps
    assert sum(counts) == 3 and counts == _binned([0.010, 0.012, 0.013], edges) and unanswered == 0
    assert find(root, "line", "threshold") == []     # 2 s is off this scale
    # Nothing answered; no rows; no such kind.
    for txns, kind, words in ((table("dns", [None, None]), "dns", "2 dns transactions, none answered"),
                              (TXN_SCHEMA.empty_table(), "dns", "no transactions"),
                              (table("dns", [ms]), "ftp", "no ftp transactions")):
        root = check_svg(response_histogram_svg(txns, kind))
        assert root.get("class") == "no-data" and words in text_of(root)


# -- the protocol hierarchy -----------------------------------------------------------------


def tshark_phs(path: Path) -> dict[str, tuple[int, int]]:
    nodes: dict[str, tuple[int, int]] = {}
    stack: list[str] = []
    for line in tshark(path, "-q", "-z", "io,phs").splitlines():
        if "frames:" not in line:
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        stack = stack[:depth] + [line.split()[0]]
        frames = int(line.split("frames:")[1].split()[0])
        nbytes = int(line.split("bytes:")[1].split()[0])
        nodes[":".join(stack)] = (frames, nbytes)
    return nodes


@needs_tshark
@pytest.mark.parametrize("rel", [DNS_ICMP, STD_PORTS, HTTP_B])
def test_hierarchy_svg_is_tsharks_io_phs(rel: str) -> None:
    tbl = packets(rel)
    root = check_svg(hierarchy_svg(tbl))
    theirs = tshark_phs(corpus(rel))
    nodes = find(root, "g", "node")
    assert len(nodes) == protocol_hierarchy(tbl).num_rows >= 3
    for node in nodes:
        path = node.get("data-path")
        assert (int(node.get("data-frames")), int(node.get("data-bytes"))) == theirs[path], path
        assert int(node.get("data-depth")) == path.count(":")
        assert node.get("data-protocol") == path.rsplit(":", 1)[-1]
        assert len(find(node, "rect", "frames")) == len(find(node, "rect", "bytes")) == 1
    assert f"{tbl.num_rows} frames" in text_of(root)


def test_hierarchy_text_is_text_and_nothing_is_no_data(tmp_path: Path) -> None:
    phs = pa.Table.from_pylist([
        {"path": "eth", "protocol": "eth", "depth": 0, "frames": 4, "bytes": 400},
        {"path": "eth:<script>alert(1)</script>", "protocol": "<script>alert(1)</script>", "depth": 1,
         "frames": 1, "bytes": 100}], schema=PHS_SCHEMA)
    svg = hierarchy_table_svg(phs, 4, 400)
    root = check_svg(svg)
    assert "<script" not in svg
    (hostile,) = [n for n in find(root, "g", "node") if n.get("data-depth") == "1"]
    assert hostile.get("data-path") == "eth:<script>alert(1)</script>"
    assert "<script>alert(1)</script>" in text_of(hostile)
    assert "1 (25.0%)" in text_of(hostile)
    tbl = tracedoc.open(write_pcap(tmp_path / "empty.pcap", [])).packets
    root = check_svg(hierarchy_svg(tbl))
    assert root.get("class") == "no-data"
