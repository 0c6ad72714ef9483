"""IPCS SUMMARY reports of SYSTCPDA traces (``read/ctrace_summary.py``).

* IBM's SUMMARY sample (IP Diagnosis Guide, "SUMMARY", Figure 1) reads into
  the eight TCP segments it shows, fields as printed.
* A record becomes a packet rebuilt from the report's fields only; the
  other header fields are placeholders, ``ctrace.summary_fields`` names the
  real ones and ``ctrace.payload_absent`` is set.
* Round trip: corpus captures rendered as SUMMARY reports give back the
  report's fields (addresses, ports, IP id, seq / ack / window / flags, data
  length; ip.len where the packet had no options).
* Damaged records are skipped with a warning naming their line; fuzzing
  gives frames or a TraceFormatError; ``tracedoc info`` names the format.
"""

from __future__ import annotations

import ipaddress
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracedoc
from tests.read.test_ctrace import CORPUS, DATA, ROUND_TRIP, ip_packets, read_frames, run
from tests.read.test_ctrace_data import check_contract
from tests.support.ctrace_render import (DataRecord, Packet, layout, render_summary, summary_facts,
                                         summary_records)
from tests.support.mutations import line_ops, mutate_lines
from tracedoc.read import ctrace, ctrace_summary

SUMMARY_FILES = ["summary.txt", "summary_collapsed.txt", "ibm_summary.txt", "summary_malformed.txt"]
TCP_NAMES = "ip.src,ip.dst,ip.proto,ip.id,tcp.srcport,tcp.dstport,tcp.seq_raw,tcp.ack_raw,tcp.window_size_value," \
            "tcp.flags,tcp.len"


def test_sniff():
    for name in SUMMARY_FILES:
        head = (DATA / name).read_bytes()[:65536]
        assert ctrace_summary.sniff(head), name
        assert not ctrace.sniff(head), name
    for p in DATA.glob("*.txt"):
        if p.name not in SUMMARY_FILES:
            assert not ctrace_summary.sniff(p.read_bytes()[:65536]), p.name
    # SYSTCPIS (intrusion detection) SUMMARY reports have other columns.
    assert not ctrace_summary.sniff(b"DP Nr hh:mm:ss.mmmmmm IpId Group Probe Id Corelatr JobName Cid DatLn Data "
                                    b"Source/Destination\n")
    assert ctrace_summary.sniff(b"dp  nr  HH:MM:SS.MMMMMM  ipid  seq_num  ack_num  wndw  flags  datln  "
                                b"source/destination\n")
    assert not ctrace_summary.sniff(b"\x00" * 100)


def test_ibm_summary_sample():
    frames, info = read_frames(DATA / "ibm_summary.txt")
    assert not info.errors and not info.warnings
    assert info.format == "ctrace-summary"
    assert info.extra["system"] == "not shown (no SYSNAME line)"
    assert len(frames) == 8
    rows = tracedoc.open(DATA / "ibm_summary.txt").packets.to_pylist()
    want = [  # IBM's figure: D, Nr, time, IpId, Seq_num, Ack_num, Wndw, Flags, DatLn, source, destination
        ("Out", 1, "14:18:00.447462", 0x19E6, 1452693653, 0, 32768, 0x02, 0, "10.7.1.61", 3470, "192.168.248.44",
         5000),
        ("In", 2, "14:18:00.601784", 0x4E3C, 3454024895, 1452693654, 32768, 0x12, 0, "192.168.248.44", 5000,
         "10.7.1.61", 3470),
        ("Out", 3, "14:18:00.601917", 0x1A00, 1452693654, 3454024896, 32768, 0x10, 0, "10.7.1.61", 3470,
         "192.168.248.44", 5000),
        ("In", 4, "14:18:01.111074", 0x4E3D, 3454024896, 1452693654, 32768, 0x18, 47, "192.168.248.44", 5000,
         "10.7.1.61", 3470),
        ("In", 5, "14:18:01.126148", 0x4E3E, 3454024943, 1452693654, 32768, 0x18, 65, "192.168.248.44", 5000,
         "10.7.1.61", 3470),
        ("Out", 6, "14:18:01.126248", 0x1A46, 1452693654, 3454025008, 32703, 0x10, 0, "10.7.1.61", 3470,
         "192.168.248.44", 5000),
        ("Out", 7, "14:18:03.290611", 0x1B7F, 1452693654, 3454025008, 32703, 0x18, 10, "10.7.1.61", 3470,
         "192.168.248.44", 5000),
        ("In", 8, "14:18:03.373175", 0x4E3F, 3454025008, 1452693664, 32768, 0x18, 32, "192.168.248.44", 5000,
         "10.7.1.61", 3470),
    ]
    data = {4: b"220- Wel", 5: b"220 RX.i", 7: b"USER cvs", 8: b"331 Pass"}
    for f, r, w in zip(frames, rows, want):
        d, nr, hms, ipid, seq, ack, wnd, flags, datln, src, sport, dst, dport = w
        assert f["ctrace.direction"] == d and f["ctrace.record"] == nr and f["ctrace.local_time"] == hms
        assert f["ctrace.record_type"] == "summary" and f["ctrace.payload_absent"] is True
        assert f["ctrace.summary_fields"] == TCP_NAMES + (",payload:8" if nr in data else "")
        assert f["linktype"] == 101
        assert f["origlen"] == 40 + datln and f["caplen"] == 40 + len(data.get(nr, b""))
        assert f["data"][40:] == data.get(nr, b"")
        assert r["frame.time_epoch"] == f["ts"]
        assert str(ipaddress.IPv4Address(r["ip.src"])) == src and str(ipaddress.IPv4Address(r["ip.dst"])) == dst
        assert (r["ip.id"], r["tcp.srcport"], r["tcp.dstport"]) == (ipid, sport, dport)
        assert (r["tcp.seq_raw"], r["tcp.ack_raw"], r["tcp.window_size_value"], r["tcp.flags"]) == \
            (seq, ack, wnd, flags)
        assert r["tcp.len"] == datln and r["ip.len"] == 40 + datln
        # placeholders: zero, as the report does not carry them
        assert (r["ip.ttl"], r["ip.checksum"], r["tcp.checksum"], r["tcp.urgent_pointer"]) == (0, 0, 0, 0)
    assert frames[0]["ts"] == 1_075_126_680_447_462_000  # 2004/01/26 14:18:00.447462 (the **** line's date)
    # The session's own arithmetic holds: SYN, then each ack the seq plus the data before.
    assert rows[1]["tcp.ack_raw"] == rows[0]["tcp.seq_raw"] + 1
    assert rows[4]["tcp.seq_raw"] == rows[3]["tcp.seq_raw"] + 47
    assert rows[7]["tcp.ack_raw"] == rows[6]["tcp.seq_raw"] + 10


def test_summary_fixture():
    recs = summary_records()
    frames, info = read_frames(DATA / "summary.txt")
    assert not info.errors
    assert info.warnings == ["line 44: SUMMARY record of a protocol other than TCP, UDP, ICMP or IGMP skipped (its "
                             "protocol number is not in the report)"]
    assert info.extra["skipped_records"] == {"SUMMARY record of another protocol": 1}
    assert info.extra["system"] == "SOW1" and info.extra["trace_options"] == "COMPONENT TRACE SUMMARY FORMAT"
    kept = [(i, r) for i, r in enumerate(recs) if not (isinstance(r, Packet) and summary_facts(r.data).letter == "P")]
    assert [f["ctrace.record"] for f in frames] == [i + 1 for i, _ in kept]
    rows = tracedoc.open(DATA / "summary.txt").packets.to_pylist()
    for f, row, (i, r) in zip(frames, rows, kept):
        assert f["ts"] == r.ts_ns // 1000 * 1000, i
        assert f["ctrace.direction"] == r.direction
        if isinstance(r, DataRecord):
            assert f["linktype"] == 147 and f["ctrace.record_type"] == "data"
            assert f["data"] == r.data[:8] and f["origlen"] == len(r.data) == f["ctrace.data.length"]
            assert (f["ctrace.data.local_ip"], f["ctrace.data.local_port"]) == r.local
            assert (f["ctrace.data.remote_ip"], f["ctrace.data.remote_port"]) == r.remote
            continue
        check_row(row, f, r.data)
    assert rows[-1]["frame.time_epoch"] == 1_296_000_000_250_000_000  # after the second **** line


def check_row(row: dict, f: dict, pkt: bytes) -> None:
    """The report's fields of packet ``pkt`` are those of the rebuilt row."""
    facts = summary_facts(pkt)
    assert facts is not None
    lo = layout(pkt)
    assert lo is not None
    v4 = lo.version == 4
    names = f["ctrace.summary_fields"].split(",")
    if v4:
        assert str(ipaddress.IPv4Address(row["ip.src"])) == str(ipaddress.IPv4Address(pkt[12:16]))
        assert str(ipaddress.IPv4Address(row["ip.dst"])) == str(ipaddress.IPv4Address(pkt[16:20]))
        assert row["ip.id"] == int.from_bytes(pkt[4:6], "big") and "ip.id" in names
        assert row["ip.proto"] == pkt[9]
    else:
        assert bytes(row["ipv6.src"]) == pkt[8:24] and bytes(row["ipv6.dst"]) == pkt[24:40]
        assert "ip.id" not in names
    t = lo.ip_len
    if facts.letter == "T":
        sport, dport = int.from_bytes(pkt[t:t + 2], "big"), int.from_bytes(pkt[t + 2:t + 4], "big")
        assert (row["tcp.srcport"], row["tcp.dstport"]) == (sport, dport)
        assert row["tcp.seq_raw"] == int.from_bytes(pkt[t + 4:t + 8], "big")
        assert row["tcp.ack_raw"] == int.from_bytes(pkt[t + 8:t + 12], "big")
        assert row["tcp.window_size_value"] == int.from_bytes(pkt[t + 14:t + 16], "big")
        assert row["tcp.flags"] == pkt[t + 13]
        assert row["tcp.len"] == facts.datln
        plain = (not v4 or (pkt[0] & 15) == 5) and lo.ip_len == (20 if v4 else 40) and pkt[t + 12] >> 4 == 5
    elif facts.letter == "U":
        sport, dport = int.from_bytes(pkt[t:t + 2], "big"), int.from_bytes(pkt[t + 2:t + 4], "big")
        assert (row["udp.srcport"], row["udp.dstport"]) == (sport, dport)
        assert row["udp.length"] == 8 + facts.datln
        plain = (not v4 or (pkt[0] & 15) == 5) and lo.ip_len == (20 if v4 else 40)
    else:
        assert facts.letter in ("I", "G")
        plain = False
    if plain:  # no options: the rebuilt header's length is the packet's
        if v4:
            assert row["ip.len"] == int.from_bytes(pkt[2:4], "big")
        else:
            assert row["ipv6.plen"] == int.from_bytes(pkt[4:6], "big")
    # The data bytes shown follow the rebuilt headers (not for ICMP: the
    # ICMP header between is not rebuilt).
    shown = facts.data if facts.letter != "I" else b""
    assert f["data"].endswith(shown) and len(f["data"]) == (20 if v4 else 40) + {"T": 20, "U": 8}.get(
        facts.letter, 0) + len(shown)
    assert (f"payload:{len(shown)}" in names) == bool(shown)


def test_collapsed_summary_reads_the_same():
    a, _ = read_frames(DATA / "summary.txt")
    b, info = read_frames(DATA / "summary_collapsed.txt")
    assert not info.errors and len(info.warnings) == 1
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for k in x:
            if k not in ("offset", "ctrace.line"):
                assert x[k] == y[k], k


def test_malformed_summary_records():
    frames, info = read_frames(DATA / "summary_malformed.txt")
    assert [f["ctrace.record"] for f in frames] == [1, 4, 8, 9, 10, 11]
    assert len(info.errors) == 1
    assert str(info.errors[0]).startswith("5 malformed CTRACE record(s); first at line 13: no Source/Destination "
                                          "second line")
    expect = [(13, "no Source/Destination second line"),
              (14, "unknown TCP flag 'PUSH'"),
              (18, "bad Source address-port '10.0.0.1-99999'"),
              (20, "Source and Destination of different IP versions"),
              (22, "bad time '14:73:05.694945'")]
    assert len(info.warnings) == len(expect)
    for w, (line, reason) in zip(info.warnings, expect):
        assert w.startswith(f"line {line}: malformed CTRACE SUMMARY record"), w
        assert w.endswith(reason), w


def test_no_date_line(tmp_path):
    text = (DATA / "ibm_summary.txt").read_text().replace("**** 2004/01/26\n", "")
    p = tmp_path / "nodate.txt"
    p.write_text(text)
    frames, info = read_frames(p)
    assert not frames
    assert str(info.errors[0]).startswith("8 malformed CTRACE record(s); first at line 5: no '**** yyyy/mm/dd' "
                                          "date line before the record")


def test_midnight_without_a_date_line(tmp_path):
    text = (DATA / "ibm_summary.txt").read_text().replace("14:18:03.373175", "00:00:01.000000")
    p = tmp_path / "late.txt"
    p.write_text(text)
    frames, info = read_frames(p)
    assert not info.errors and len(frames) == 8
    assert frames[-1]["ts"] == 1_075_161_601_000_000_000  # 2004/01/27 00:00:01


def test_single_line_record_and_spacing_variants(tmp_path):
    """Source and destination on one line, tabs, a page heading between a
    record's two lines."""
    text = ("**** 2004/01/26\n"
            "DP Nr hh:mm:ss.mmmmmm IpId Seq_num Ack_num Wndw Flags DatLn Source/Destination\n"
            "OT 1 14:18:00.447462 19E6 1452693653 0 32768 SYN 0 10.7.1.61-3470 192.168.248.44-5000\n"
            "IT\t2\t14:18:00.601784\t4E3C\t3454024895\t1452693654\t32768\tACK\tSYN\t0\t192.168.248.44-5000\n"
            "\f COMPONENT TRACE SUMMARY FORMAT                                     PAGE     2\n"
            "DP Nr hh:mm:ss.mmmmmm IpId Seq_num Ack_num Wndw Flags DatLn Source/Destination\n"
            "\t10.7.1.61-3470\n")
    p = tmp_path / "v.txt"
    p.write_text(text)
    frames, info = read_frames(p)
    assert not info.errors and not info.warnings
    assert [f["ctrace.record"] for f in frames] == [1, 2]
    assert frames[1]["data"][12:20] == bytes([192, 168, 248, 44, 10, 7, 1, 61])


def test_small_chunks_and_batches(monkeypatch):
    a, _ = read_frames(DATA / "summary.txt")
    monkeypatch.setattr(ctrace_summary, "MAX_BATCH_RECORDS", 2)
    for chunk in (64, 1000):
        b, info = read_frames(DATA / "summary.txt", chunk_size=chunk)
        assert not info.errors
        assert [f["data"] for f in b] == [f["data"] for f in a]
        assert [f["offset"] for f in b] == [f["offset"] for f in a]
        assert [f["linktype"] for f in b] == [f["linktype"] for f in a]


# ------------------------------------------------------------------ corpus round trip


@pytest.mark.corpus
@pytest.mark.parametrize("rel", ROUND_TRIP or ["(no corpus)"])
def test_summary_round_trip_corpus(tmp_path, rel):
    if not ROUND_TRIP:
        pytest.skip("no corpus at ../shared/corpus")
    pkts = ip_packets(CORPUS / rel)
    if not pkts:
        pytest.skip("no IPv4/IPv6 frames")
    rnd = random.Random(rel)
    packets = [Packet(ip, ts, direction=rnd.choice(["In", "Out"])) for ts, ip, _ in pkts]
    text = tmp_path / "summary.txt"
    text.write_text(render_summary(packets, aligned=ROUND_TRIP.index(rel) % 2 == 0, page_lines=40))
    frames, info = read_frames(text)
    assert not info.errors, info.errors[:3]
    letters = [summary_facts(p.data).letter for p in packets]  # type: ignore[union-attr]
    assert len(frames) == sum(x != "P" for x in letters)
    assert len(info.warnings) == sum(x == "P" for x in letters)
    rows = tracedoc.open(text).packets.to_pylist()
    kept = [p for p, x in zip(packets, letters) if x != "P"]
    for f, row, p in zip(frames, rows, kept):
        assert f["ts"] == p.ts_ns // 1000 * 1000
        assert f["ctrace.direction"] == p.direction
        check_row(row, f, p.data)


# ------------------------------------------------------------------ fuzzing

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
BASES = {n: (DATA / n).read_text().split("\n") for n in ["summary.txt", "summary_collapsed.txt", "ibm_summary.txt"]}
_line_text = st.one_of(
    st.text(st.characters(min_codepoint=9, max_codepoint=0x2FF), max_size=90),
    st.from_regex(r"[IO][TUIGDPX] {1,4}[0-9]{1,13} [0-9]{1,2}:[0-9]{2}:[0-9]{2}\.[0-9]{1,9}( [0-9A-Fa-fZ]{1,11}){0,6}"
                  r"( (ACK|SYN|FIN|NS|XYZ)){0,3} [0-9]{1,12} [0-9a-fA-F.:]{1,40}(-[0-9]{1,6})?", fullmatch=True),
    st.from_regex(r" {0,24}([0-9A-F]{2,8} ){0,3}(\*[ -~]{0,18}\*)? {0,20}[0-9a-fA-F.:]{1,40}(-[0-9]{1,6})?",
                  fullmatch=True),
    st.sampled_from(["**** 9999/12/31", "**** 2004/02/30", "**** 1600/01/01", "\f", "SYSNAME(X)",
                     "OT 1 23:59:59.999999 FFFF 4294967296 0 65536 SYN 99999 1.2.3.4-1 5.6.7.8-2",
                     "OU 2 00:00:00.000000 0 65530 ::1-1 ::2-2", "ID 3 00:00:00.0 99999999999 ::1"]),
)
_op = line_ops(_line_text)


@FUZZ
@given(base=st.sampled_from(sorted(BASES)), ops=st.lists(_op, max_size=12), chunk=st.sampled_from([None, 97, 4096]))
def test_fuzz_summary(tmp_path_factory, base, ops, chunk):
    path = tmp_path_factory.mktemp("fz") / "s.txt"
    path.write_bytes(mutate_lines(BASES[base], ops))
    check_contract(path, chunk)


# ------------------------------------------------------------------ the command


def test_cli_info_summary():
    p = run("info", "--json", DATA / "summary.txt")
    assert p.returncode == 0, p.stderr
    facts = json.loads(p.stdout)
    assert facts["format"] == "ctrace-summary"
    assert facts["system"] == "SOW1" and facts["component"] == "SYSTCPDA"
    assert facts["link_types"] == [{"linktype": 101, "name": "RAW", "packets": 12},
                                   {"linktype": 147, "name": "USER0", "packets": 1}]
    assert facts["errors"] == []

    p = run("info", DATA / "ibm_summary.txt")
    assert p.returncode == 0, p.stderr
    assert "ctrace-summary" in p.stdout and "not shown (no SYSNAME line)" in p.stdout

    p = run("info", "--json", DATA / "summary_malformed.txt")
    assert p.returncode == 1
    facts = json.loads(p.stdout)
    assert facts["packets"] == 6 and facts["errors"][0].startswith("5 malformed CTRACE record(s); first at line 13")


def test_cli_fields_summary():
    p = run("fields", DATA / "ibm_summary.txt", "-e", "frame.number", "-e", "ip.src", "-e", "tcp.srcport",
            "-e", "tcp.seq_raw", "-e", "tcp.flags", "-e", "tcp.len", "-e", "ctrace.payload_absent")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "1\t10.7.1.61\t3470\t1452693653\t0x0002\t0\t1"
    assert lines[3] == "4\t192.168.248.44\t5000\t3454024896\t0x0018\t47\t1"


def test_meta_types_match_the_packet_table():
    from tracedoc.decode.table import FIELDS as TABLE_FIELDS
    from tracedoc.read import open_reader

    b = next(iter(open_reader(DATA / "summary.txt").batches()))
    for col, arr in b.meta.items():
        assert col in TABLE_FIELDS, col
        assert arr.type == TABLE_FIELDS[col].arrow_type, col
