"""z/OS CTRACE SYSTCPDA packet traces formatted by IPCS (``read/ctrace.py``).

* The seed presentation's record reads into the packet it shows.
* Round trip: corpus captures (Ethernet, IPv4/IPv6, TCP/UDP/ICMP) rendered to
  IPCS text by ``tests/support/ctrace_render.py`` read back byte-identical,
  with the same ``tracedoc fields`` output as the same IP packets in a
  LINKTYPE_RAW pcap.
* Damaged records are skipped with a warning naming their line; one error
  counts them; the other records are kept.
* Fuzzing: whatever the text, frames or a TraceFormatError, nothing else.
* ``tracedoc info --json`` names the format, the system and the options.
"""

from __future__ import annotations

import csv
import gzip
import io
import ipaddress
import json
import os
import random
import struct
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracedoc
from tests.support.ctrace_render import (FIXTURE_TS, Packet, _fixture_packets, faithful_format, fixtures, layout,
                                         render)
from tests.support.tshark_compare import ISSUE2_FIELDS
from tracedoc.cli.fields_cmd import parse_options, write_fields
from tracedoc.decode.table import Decoder
from tracedoc.errors import TraceFormatError
from tracedoc.read import ctrace, open_reader
from tests.support.command import tracedoc_command
from tests.support.mutations import line_ops, mutate_lines

DATA = Path(__file__).resolve().parents[1] / "data" / "ctrace"
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"

FIELDS = [f for f in ISSUE2_FIELDS
          if not f.startswith(("eth.", "arp.", "vlan.")) and f not in ("frame.time_epoch", "frame.interface_id")]


# ------------------------------------------------------------------ helpers


def read_frames(path, **kw) -> tuple[list[dict], tracedoc.read.TraceInfo]:
    """Every frame of a file: bytes, lengths, time, linktype and meta values."""
    r = open_reader(path, **kw)
    out = []
    number = 1
    for b in r.batches():
        assert b.first_number == number
        number += len(b)
        meta = {k: v.to_pylist() for k, v in b.meta.items()}
        for i in range(len(b)):
            row = {"data": b.packet_bytes(i), "caplen": int(b.caplen[i]), "origlen": int(b.origlen[i]),
                   "ts": int(b.ts_ns[i]), "linktype": int(b.linktype[i]), "iface": int(b.interface_id[i]),
                   "offset": int(b.record_offset[i])}
            row.update({k: v[i] for k, v in meta.items()})
            out.append(row)
    return out, r.info


def fields_text(path, names=FIELDS) -> tuple[str, list[str]]:
    buf = io.BytesIO()
    t = tracedoc.open(path)
    write_fields(t.iter_packets(), names, parse_options(["occurrence=f"]), buf)
    return buf.getvalue().decode(), t.errors


def raw_pcap(path: Path, pkts: list[tuple[int, bytes, int]]) -> None:
    """IP packets as a LINKTYPE_RAW (101) nanosecond pcap."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 101))
        for ts, data, origlen in pkts:
            f.write(struct.pack("<IIII", ts // 10**9, ts % 10**9, len(data), origlen))
            f.write(data)


def ip_packets(path) -> list[tuple[int, bytes, int]]:
    """(time, IP packet, IP packet length) of the IPv4/IPv6 frames of an
    Ethernet capture, the Ethernet header stripped."""
    r = open_reader(path)
    out = []
    for b in r.batches():
        for i in range(len(b)):
            d = b.packet_bytes(i)
            if b.linktype[i] != 1 or len(d) < 15 or d[12:14] not in (b"\x08\x00", b"\x86\xdd"):
                continue
            ip = d[14:]
            if layout(ip) is None:
                continue
            out.append((int(b.ts_ns[i]), ip, int(b.origlen[i]) - 14))
    assert not r.info.errors
    return out


# ------------------------------------------------------------------ the seed


def test_seed_record_reads_as_shown():
    path = DATA / "seed_discard_4114.txt"
    frames, info = read_frames(path)
    assert not info.errors and not info.warnings
    assert len(frames) == 1
    f = frames[0]
    assert f["linktype"] == 101
    assert f["caplen"] == f["origlen"] == 78
    assert f["data"][:20].hex().upper() == "4500004E78B70000521177A4AC1D6009AC1DBFFF"
    assert f["data"][20:28].hex().upper() == "00890089003A0000"
    assert f["data"][-2:] == b"\x00\x01"
    assert f["ts"] == 1_295_964_785_687_445_000  # 2011/01/25 14:13:05.687445 UTC (Tod Clock)

    pk = tracedoc.open(path).packets
    assert pk.num_rows == 1
    row = pk.to_pylist()[0]
    assert str(ipaddress.IPv4Address(row["ip.src"])) == "172.29.96.9"
    assert str(ipaddress.IPv4Address(row["ip.dst"])) == "172.29.191.255"
    assert row["ip.id"] == 0x78B7
    assert row["ip.ttl"] == 82  # 0x52 in the dump, "TTL : 82" in the record
    assert row["ip.proto"] == 17
    assert row["ip.checksum"] == 0x77A4
    assert row["udp.srcport"] == row["udp.dstport"] == 137
    assert row["udp.length"] == 58
    assert row["frame.len"] == 78
    assert row["frame.linktype"] == 101
    assert row["ctrace.discard"] == 4114
    assert row["ctrace.discard_name"] == "IP_MAC_BRDCST"
    assert row["ctrace.system"] == "SOW1"
    assert row["ctrace.direction"] == "In"
    assert row["ctrace.link"] == "OSDL"
    assert row["ctrace.link_kind"] == "Interface"
    assert row["ctrace.device"] == "QDIO Ethernet"
    assert row["ctrace.asid"] == 0x004F
    assert row["ctrace.tcb"] == 0
    assert row["ctrace.record_type"] == "packet"
    assert row["ctrace.record"] == 54550962
    assert row["ctrace.entry_id"] == "00000004"
    assert row["ctrace.local_time"] == "14:13:05.687445"
    assert row["ctrace.tod"] == f["ts"] == row["frame.time_epoch"]
    assert row["ctrace.full_len"] == 78
    assert row["ctrace.abbrev_len"] is None
    assert row["ctrace.segment"] == 0
    assert row["ctrace.flags"] == "In Dscrd"
    assert row["ctrace.intfx"] == 9
    assert row["ctrace.payload_absent"] is False
    assert row["ctrace.line"] == 1

    text, errors = fields_text(path, ["ip.src", "ip.dst", "ip.ttl", "ip.checksum", "udp.srcport", "ctrace.asid",
                                      "ctrace.discard_name"])
    assert not errors
    assert text == "172.29.96.9\t172.29.191.255\t82\t0x77a4\t137\t0x004f\tIP_MAC_BRDCST\n"


def test_seed_aligned_reads_the_same():
    a, _ = read_frames(DATA / "seed_discard_4114.txt")
    b, info = read_frames(DATA / "seed_discard_4114_aligned.txt")
    assert not info.errors and not info.warnings
    for k in a[0]:
        if k not in ("offset", "ctrace.line"):
            assert a[0][k] == b[0][k], k
    assert b[0]["ctrace.line"] == 11
    assert info.extra["trace_options"] == "COMPONENT TRACE FULL FORMAT; OPTIONS((FORMAT DUMP))"


# ------------------------------------------------------------------ fixtures


def test_generated_fixtures_are_current():
    for name, text in fixtures().items():
        assert (DATA / name).read_text() == text, f"{name}: run python -m tests.support.ctrace_render {DATA}"


def test_readme_names_every_fixture():
    readme = (DATA / "README.md").read_text()
    for p in DATA.glob("*.txt"):
        assert f"`{p.name}`" in readme, p.name


EXPECTED = {  # file: (frames, IP packets to compare with, direction of frame 1)
    "multi_record.txt": ["syn", "synack", "tcp_data", "tcp_ts_sack", "udp_dns", "dns_answer", "icmp_echo",
                         "echo_reply", "icmp_unreach"],
    "ipv6.txt": ["ipv6_udp", "ipv6_tcp", "v6_syn", "v6_echo", "v6_echo_reply", "v6_hbh_mld"],
    "dump_only.txt": ["syn", "udp_dns", "ipv6_udp"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_packets_byte_identical(name):
    pk = _fixture_packets()
    frames, info = read_frames(DATA / name)
    assert not info.errors
    assert [f["data"] for f in frames] == [pk[n] for n in EXPECTED[name]]
    for i, f in enumerate(frames):
        assert f["caplen"] == f["origlen"] == len(f["data"])
        assert f["ts"] == FIXTURE_TS + i * 1_250_000
        assert f["ctrace.direction"] == ("Out" if i % 2 == 0 else "In")
        assert f["ctrace.tod"] == f["ts"]
        assert f["ctrace.payload_absent"] is False
        assert f["linktype"] == 101


@pytest.mark.parametrize("name", ["page_split.txt", "collapsed_pages.txt"])
def test_page_breaks_and_collapsed_spaces_change_nothing(name):
    a, ia = read_frames(DATA / "multi_record.txt")
    b, ib = read_frames(DATA / name)
    assert not ia.errors and not ib.errors and not ib.warnings
    assert len(a) == len(b) == 9
    for x, y in zip(a, b):
        for k in x:
            if k not in ("offset", "ctrace.line"):
                assert x[k] == y[k], k
    assert ia.extra["trace_options"] == ib.extra["trace_options"]


def test_multi_record_meta():
    frames, info = read_frames(DATA / "multi_record.txt")
    assert info.format == "ctrace-format"
    assert info.extra["system"] == "SOW1"
    assert info.extra["component"] == "SYSTCPDA"
    assert [f["ctrace.discard"] for f in frames] == [None] * 8 + [4114]
    assert frames[8]["ctrace.flags"] == "Pkt Ver2 Out Dscrd"
    assert [f["ctrace.record"] for f in frames] == list(range(1, 10))
    assert all(f["ctrace.seq"] == 0 and f["ctrace.link"] == "OSDL" and f["ctrace.device"] == "QDIO Ethernet"
               for f in frames)
    assert len(info.interfaces) == 1 and info.interfaces[0].linktype == 101 and info.interfaces[0].name == "OSDL"
    # record_offset is where the header line starts
    text = (DATA / "multi_record.txt").read_bytes()
    for f in frames:
        line = text[f["offset"]:].split(b"\n", 1)[0]
        assert line.endswith(b"Packet Trace") and int(line.split()[0]) == f["ctrace.record"]
        assert text[:f["offset"]].count(b"\n") + 1 == f["ctrace.line"]
    rows = tracedoc.open(DATA / "multi_record.txt").packets
    assert rows["tcp.options.mss_val"].to_pylist()[:2] == [1460, 1460]
    assert rows["udp.dstport"].to_pylist()[4] == 53
    assert rows["icmp.type"].to_pylist()[6:9] == [8, 0, 3]


def test_ibm_guide_samples():
    frames, info = read_frames(DATA / "ibm_samples.txt")
    assert not info.errors and not info.warnings
    assert len(frames) == 2
    dns, echo = frames
    assert dns["ctrace.payload_absent"] and echo["ctrace.payload_absent"]
    assert dns["origlen"] == 56 and dns["caplen"] == 28
    assert dns["data"] == bytes.fromhex("45000038000E00004011A6FB0943714109255003" "040100350024AD0B")
    assert dns["ctrace.direction"] == "Out" and dns["ctrace.link"] == "TR1" and dns["ctrace.device"] == "LCS Token Ring"
    assert dns["ctrace.tcb"] == 0x007F62C0 and dns["ctrace.asid"] == 0x001E and dns["ctrace.seq"] == 0
    assert dns["ts"] == 1_013_557_151_873_539_000  # 2002/02/12 23:39:11.873539
    assert echo["origlen"] == 276 and echo["caplen"] == 28
    assert echo["data"][20:] == bytes.fromhex("08005B3F") + struct.pack("!HH", 4923, 11849)
    assert echo["ctrace.link_kind"] == "Link" and echo["ctrace.link"] == "SNALU62L"
    assert echo["ctrace.lost"] == 0 and echo["ctrace.system"] == "VIC127"
    assert info.extra["system"] == "MVSJ, VIC127"
    assert info.extra["trace_options"] == "COMPONENT TRACE SHORT FORMAT; OPTIONS((FORMAT))"


def test_format_only_rebuilds_headers():
    pk = _fixture_packets()
    names = ["syn", "tcp_ts_sack", "udp_dns", "icmp_echo", "icmp_unreach", "ipv6_udp", "v6_syn", "v6_echo"]
    frames, info = read_frames(DATA / "format_only.txt")
    assert not info.errors and not info.warnings
    assert len(frames) == len(names)
    for f, n in zip(frames, names):
        orig = pk[n]
        lo = layout(orig)
        assert lo is not None
        assert f["ctrace.payload_absent"] is True
        assert f["data"] == orig[:lo.ip_len + lo.tp_len], n
        assert f["caplen"] == lo.ip_len + lo.tp_len
        assert f["origlen"] == len(orig) == f["ctrace.full_len"]
    rows = tracedoc.open(DATA / "format_only.txt").packets
    assert rows["tcp.options.wscale.shift"].to_pylist()[0] == 7
    assert rows["ctrace.payload_absent"].to_pylist() == [True] * len(names)


def test_abbreviated_records():
    pk = _fixture_packets()
    frames, info = read_frames(DATA / "abbrev.txt")
    assert not info.errors and not info.warnings
    cases = [("big_tcp", 200), ("dns_answer", 40), ("big_tcp", 30), ("syn", 48)]
    assert len(frames) == len(cases)
    for f, (n, keep) in zip(frames, cases):
        assert f["data"] == pk[n][:keep]
        assert f["caplen"] == keep
        assert f["origlen"] == len(pk[n])
        if keep < len(pk[n]):
            assert f["ctrace.abbrev_len"] == keep and f["ctrace.full_len"] is None
        else:  # traced whole: a Full= record
            assert f["ctrace.abbrev_len"] is None and f["ctrace.full_len"] == keep
    rows = tracedoc.open(DATA / "abbrev.txt").packets
    assert rows["frame.len"].to_pylist() == [1323, 73, 1323, 48]
    assert rows["frame.cap_len"].to_pylist() == [200, 40, 30, 48]


def test_format_record_with_data_dump(tmp_path):
    """FORMAT without the header dumps, but the packet data shown in hex: the
    data follows the rebuilt headers."""
    pk = _fixture_packets()
    p = Packet(pk["tcp_data"], FIXTURE_TS)
    fmt = render([p], dump=False, with_banner=False).rstrip("\n").split("\n")
    full = render([p], with_banner=False).rstrip("\n").split("\n")
    data = full[next(i for i, ln in enumerate(full) if ln.startswith(" Data ")):]
    path = tmp_path / "fmt_data.txt"
    path.write_text("\n".join(fmt + data) + "\n")
    frames, info = read_frames(path)
    assert not info.errors and not info.warnings
    assert frames[0]["data"] == pk["tcp_data"]
    assert frames[0]["caplen"] == frames[0]["origlen"] == len(pk["tcp_data"])
    assert frames[0]["ctrace.payload_absent"] is True  # the headers were rebuilt from the fields
    path.write_text("\n".join(fmt + [ln.replace("Offset: 28", "Offset: 2C") for ln in data]) + "\n")
    frames, info = read_frames(path)
    assert not frames and "rebuilt headers end at 28" in str(info.errors[0])


def test_continuation_segment_skipped(tmp_path):
    seed = (DATA / "seed_discard_4114.txt").read_text()
    cont = ("54550963 SOW1 PACKET 00000004 14:13:05.687446 Packet Trace\n"
            "From Interface : OSDL Device: QDIO Ethernet Full=4\n"
            "Tod Clock : 2011/01/25 14:13:05.687446\n"
            "Segment # : 1 Flags: In\n"
            "Data : 4 Data Length: 4\n"
            "000000 0A0B0C0D |....|\n")
    path = tmp_path / "cont.txt"
    path.write_text(seed + cont + seed)
    frames, info = read_frames(path)
    assert len(frames) == 2 and not info.errors
    assert info.warnings == ["line 29: continuation segment 1 of a packet (no IP header) skipped; format with the "
                             "SEGMENT option to reassemble"]


def test_records_without_tod_clock():
    frames, info = read_frames(DATA / "no_tod.txt")
    assert not info.errors
    assert [f["ts"] for f in frames] == [1_295_999_999_000_001_000, 1_296_000_000_500_001_000]
    assert [f["ctrace.tod"] for f in frames] == [None, None]
    assert [f["ctrace.local_time"] for f in frames] == ["23:59:59.000001", "00:00:00.500001"]
    assert len(info.warnings) == 2
    assert info.warnings[0].startswith("line 11: record has no Tod Clock line")
    assert "2011/01/25" in info.warnings[0] and "**** 2011/01/25" in info.warnings[0]
    assert info.warnings[1].startswith("line 34:") and "2011/01/26" in info.warnings[1]


def test_data_trace_and_osaenta_among_packets():
    """Data trace and OSAENTA records between packet records are read too
    (tests/read/test_ctrace_data.py has the details); the packets stay."""
    pk = _fixture_packets()
    frames, info = read_frames(DATA / "data_trace.txt")
    assert not info.errors and not info.warnings
    assert [f["linktype"] for f in frames] == [101, 147, 101, 1, 101]
    assert [f["ctrace.record_type"] for f in frames] == ["packet", "data", "packet", "osaenta", "packet"]
    assert [f["data"] for f in frames if f["linktype"] == 101] == [pk["syn"], pk["synack"], pk["tcp_data"]]
    assert info.extra["component"] == "SYSTCPDA, SYSTCPOT"
    assert "skipped_records" not in info.extra


def test_other_record_kinds_still_skipped(tmp_path):
    """A record of a kind tracedoc does not read (an EE trace record, say)
    is skipped with a warning, not malformed."""
    seed = (DATA / "seed_discard_4114.txt").read_text()
    other = "54550963 SOW1 EE 00000006 14:13:05.687446 EE Trace\nFrom Link : EE1\n"
    p = tmp_path / "ee.txt"
    p.write_text(seed + other + seed)
    frames, info = read_frames(p)
    assert len(frames) == 2 and not info.errors
    assert info.warnings == ["line 29: 'EE Trace' record skipped (not supported yet)"]


# ------------------------------------------------------------------ damage


def test_malformed_records_named_and_skipped():
    frames, info = read_frames(DATA / "malformed.txt")
    pk = _fixture_packets()
    assert [f["data"] for f in frames] == [pk["syn"], pk["echo_reply"], pk["icmp_unreach"]]
    assert [f["ctrace.line"] for f in frames] == [11, 163, 187]
    assert len(info.errors) == 1
    err = str(info.errors[0])
    assert err.startswith("5 malformed CTRACE record(s); first at line 38: no 'From/To Interface/Link' line")
    text = (DATA / "malformed.txt").read_bytes()
    assert info.errors[0].offset == text.index(b"    2 SOW1 ")
    expect = [(38, "no 'From/To Interface/Link' line"),
              (86, "bad hex dump line at offset 000000 in Protocol Header"),
              (112, "hex dump shorter than its section header says: Data holds 16 of 29 bytes"),
              (115, "hex dump sections hold 73 bytes, Full=99"),
              (157, "Protocol Header section at offset 18 but 14 bytes precede it")]
    assert len(info.warnings) == len(expect)
    for w, (line, reason) in zip(info.warnings, expect):
        assert w.startswith(f"line {line}: malformed CTRACE record"), w
        assert w.endswith(reason), w


@pytest.mark.parametrize("damage, reason", [
    (lambda t: t.replace("000000 9C400050", "000000 9C4Z0050"), "bad hex dump line at offset 000000"),
    (lambda t: t.replace("  Tod Clock        : 2011/01/25", "  Tod Clock        : 2011/13/25"), "bad Tod Clock"),
    (lambda t: t.replace("Full=48", "Abbrev=47"), "more than Abbrev=47"),
    (lambda t: t.replace(" Ip Header         : 20", " Ip Header         : 24"), "Ip Header holds 20 of 24 bytes"),
    (lambda t: t.replace(" Ip Header         : 20", " Ip Header         : 16"), "section at offset 14 but 10"),
    (lambda t: t.split(" Protocol Header")[0], "hex dump sections hold 20 bytes, Full=48"),
    (lambda t: "\n".join(ln for ln in t.split("\n") if not ln.startswith("000000 4500")), "has no hex dump lines"),
    (lambda t: t.replace("  Packet Length    : 48 ", "  Packet Length    : 49 "), "Packet Length 49"),
    (lambda t: t.replace(" From Interface", " Sideways Interface"), "no 'From/To Interface/Link' line"),
])
def test_one_damaged_record(tmp_path, damage, reason):
    pk = _fixture_packets()
    good = render([Packet(pk["syn"], FIXTURE_TS)], with_banner=False)
    p = tmp_path / "one.txt"
    p.write_text(good + damage(good) + good)
    frames, info = read_frames(p)
    assert [f["data"] for f in frames] == [pk["syn"], pk["syn"]]
    assert len(info.errors) == 1 and str(info.errors[0]).startswith("1 malformed CTRACE record(s); first at line")
    assert reason in str(info.errors[0]), info.errors


def test_truncated_file_keeps_records_before(tmp_path):
    text = (DATA / "multi_record.txt").read_text()
    cut = text[:text.index("000010 0D0A", text.index("GET"))]  # inside the HTTP request's data dump
    p = tmp_path / "cut.txt"
    p.write_text(cut)
    frames, info = read_frames(p)
    assert len(frames) == 2
    assert len(info.errors) == 1 and "hex dump shorter" in str(info.errors[0])


# ------------------------------------------------------------------ sniffing and streaming


def test_sniff():
    for p in DATA.glob("*.txt"):
        if p.name.startswith(("summary", "ibm_summary")):
            continue  # SUMMARY reports: tests/read/test_ctrace_summary.py
        assert ctrace.sniff(p.read_bytes()[:65536]), p.name
    assert ctrace.sniff(gzip.decompress(gzip.compress((DATA / "seed_discard_4114.txt").read_bytes())))
    assert ctrace.sniff(b"\r\n".join((DATA / "seed_discard_4114.txt").read_bytes().split(b"\n")))
    for head in [b"", b"\xd4\xc3\xb2\xa1" + bytes(60), bytes(range(256)) * 4, Path(__file__).read_bytes()[:65536],
                 b"The Packet Trace of 14:13:05.687445 showed nothing.\n" * 10,
                 (DATA / "README.md").read_bytes(),
                 # a SUMMARY report is not a formatted packet trace
                 b"DP   Nr hh:mm:ss.mmmmmm IpId    Seq_num    Ack_num  Wndw Flags\n"
                 b"OT    1 14:18:00.447462 19E6 1452693653          0 32768 SYN    0 10.7.1.61-3470\n",
                 b"54550962 SOW1 PACKET 00000004 14:13:05.687445 Packet Trace\n\x00\x01\x02" + bytes(100)]:
        assert not ctrace.sniff(head), head[:40]


def test_not_ctrace_is_refused(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("Packet Trace notes\nnothing formatted here\n" * 100)
    with pytest.raises(TraceFormatError):
        open_reader(p)


def test_banner_longer_than_a_window(tmp_path):
    """The header line may follow pages of banner; the reader's window is
    small here so records cross chunk boundaries everywhere."""
    text = "IPCS job log line\n" * 2000 + (DATA / "multi_record.txt").read_text()
    p = tmp_path / "late.txt"
    p.write_text(text)
    a, _ = read_frames(DATA / "multi_record.txt")
    for chunk in (None, 100, 4096):
        kw = {"chunk_size": chunk} if chunk else {}
        b, info = read_frames(p, **kw)
        assert not info.errors
        assert [f["data"] for f in b] == [f["data"] for f in a]
        assert [f["ctrace.line"] for f in b] == [f["ctrace.line"] + 2000 for f in a]


def test_small_chunks_and_batches(monkeypatch):
    a, _ = read_frames(DATA / "page_split.txt")
    monkeypatch.setattr(ctrace, "MAX_BATCH_RECORDS", 2)
    for chunk in (64, 1000):
        b, info = read_frames(DATA / "page_split.txt", chunk_size=chunk)
        assert not info.errors
        assert [f["data"] for f in b] == [f["data"] for f in a]
        assert [f["offset"] for f in b] == [f["offset"] for f in a]


def test_compressed_and_crlf(tmp_path):
    raw = (DATA / "ipv6.txt").read_bytes()
    a, _ = read_frames(DATA / "ipv6.txt")
    gz = tmp_path / "ipv6.txt.gz"
    gz.write_bytes(gzip.compress(raw.replace(b"\n", b"\r\n")))
    b, info = read_frames(gz)
    assert info.compression == "gzip" and not info.errors
    assert [f["data"] for f in b] == [f["data"] for f in a]


def test_long_line_without_newline(tmp_path):
    p = tmp_path / "long.txt"
    p.write_bytes((DATA / "seed_discard_4114.txt").read_bytes() + b"x" * 200_000)
    frames, info = read_frames(p, chunk_size=4096)
    assert len(frames) == 1 and not info.errors


def test_meta_types_match_the_packet_table():
    from tracedoc.decode.table import FIELDS as TABLE_FIELDS

    r = open_reader(DATA / "multi_record.txt")
    b = next(iter(r.batches()))
    for name, arr in b.meta.items():
        assert name in TABLE_FIELDS, name
        assert arr.type == TABLE_FIELDS[name].arrow_type, name
        assert len(arr) == len(b)


# ------------------------------------------------------------------ corpus round trip


def _manifest() -> list[dict]:
    m = CORPUS / "MANIFEST.tsv"
    if not m.is_file():
        return []
    with open(m, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _round_trip_files() -> list[str]:
    """A fixed spread of small Ethernet pcaps holding IPv4 / IPv6 with TCP,
    UDP and ICMP (each protocol's first capture, then every so many)."""
    rows = [r for r in _manifest()
            if r["format"].startswith("pcap-") and r["linktypes"].split() == ["1:EN10MB"]
            and not r["tshark_read_error"] and not r["header_problems"] and 3 <= int(r["packets"] or 0) <= 1500
            and any(p in r["tshark_protocols(frames)"] for p in ("ip=", "ipv6="))
            and (CORPUS / r["path"]).is_file()]
    rows.sort(key=lambda r: r["path"])
    chosen: list[str] = []
    for proto in ("ipv6=", "icmpv6=", "icmp=", "tcp=", "udp=", "dns=", "ipv6.fraghdr", "ipv4_fragment"):
        for r in rows:
            if proto in r["tshark_protocols(frames)"] + r["diag_features(frames)"] and r["path"] not in chosen:
                chosen.append(r["path"])
                break
    step = max(1, len(rows) // 24)
    for r in rows[::step]:
        if r["path"] not in chosen:
            chosen.append(r["path"])
    return chosen[:32]


ROUND_TRIP = _round_trip_files()


def test_round_trip_selection():
    if not ROUND_TRIP:
        pytest.skip("no corpus at ../shared/corpus")
    assert len(ROUND_TRIP) >= 15


@pytest.mark.corpus
@pytest.mark.parametrize("rel", ROUND_TRIP or ["(no corpus)"])
def test_round_trip_corpus(tmp_path, rel):
    if not ROUND_TRIP:
        pytest.skip("no corpus at ../shared/corpus")
    pkts = ip_packets(CORPUS / rel)
    if not pkts:
        pytest.skip("no IPv4/IPv6 frames")
    raw = tmp_path / "raw.pcap"
    raw_pcap(raw, pkts)
    variant = ROUND_TRIP.index(rel) % 2
    rnd = random.Random(rel)
    packets = [Packet(ip, ts, origlen=ol, direction=rnd.choice(["In", "Out"]),
                      discard=4114 if rnd.random() < 0.1 else None) for ts, ip, ol in pkts]
    text = tmp_path / "trace.txt"
    text.write_text(render(packets, page_every=4) if variant == 0 else
                    render(packets, aligned=False, page_lines=50, size="SHORT"))

    frames, info = read_frames(text)
    assert not info.errors, info.errors[:3]
    assert not info.warnings
    assert len(frames) == len(pkts)
    for f, p in zip(frames, packets):
        assert f["data"] == p.data
        assert f["caplen"] == len(p.data) and f["origlen"] == p.origlen
        assert f["ts"] == p.ts_ns // 1000 * 1000  # the Tod Clock is printed in microseconds
        assert f["ctrace.direction"] == p.direction
        assert f["ctrace.discard"] == p.discard
        abbrev = p.origlen is not None and p.origlen > len(p.data)
        assert f["ctrace.abbrev_len"] == (len(p.data) if abbrev else None)

    want, err_a = fields_text(raw)
    got, err_b = fields_text(text)
    assert not err_a and not err_b
    assert got == want

    # The same packets without DUMP: the headers come back from the fields.
    text.write_text(render(packets, dump=False))
    frames, info = read_frames(text)
    by_rec = {f["ctrace.record"]: f for f in frames}
    for i, p in enumerate(packets):
        if not faithful_format(p.data):
            continue
        f = by_rec[i + 1]
        lo = layout(p.data)
        assert lo is not None
        assert f["data"] == p.data[:lo.ip_len + lo.tp_len]
        assert f["ctrace.payload_absent"] is True
        assert f["origlen"] == p.origlen


# ------------------------------------------------------------------ fuzzing

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
BASES = {n: (DATA / n).read_text().split("\n") for n in
         ["seed_discard_4114.txt", "multi_record.txt", "ipv6.txt", "format_only.txt", "abbrev.txt",
          "ibm_samples.txt"]}

_line_text = st.one_of(
    st.text(st.characters(min_codepoint=9, max_codepoint=0x2FF), max_size=90),
    st.from_regex(r"[0-9A-F]{6}( [0-9A-Fa-fZ]{1,9}){0,6}( \|[ -~]{0,20})?", fullmatch=True),
    st.sampled_from([" Data              : 99999999999", " Ip Header         : 0", "Full=4294967296",
                     " **** 9999/12/31", " **** 2011/02/30", "  Tod Clock        : 2262/01/01 00:00:00.000000",
                     "  Tod Clock        : 1600/01/01 00:00:00.000000", " Protocol Header   : 8 Offset: FFFFFFFF",
                     "    7 SOW1     PACKET   00000004 25:61:61.000000 Packet Trace",
                     "FFFFFFFFFFFFFFFFF SOW1 PACKET 00000004 00:00:00.000000 Packet Trace",
                     " TCP", " ICMPv6", "  Option           : Kind: 999 Len: 2 Data: ABC",
                     "  Asid: FFFFF TCB: FFFFFFFFF", "\f", "  Discard          : 99999999999999999999",
                     " From Interface    :", " To Link           : L Device: X Abbrev=0"]),
)
_op = line_ops(_line_text)


@FUZZ
@given(base=st.sampled_from(sorted(BASES)), ops=st.lists(_op, max_size=12),
       chunk=st.sampled_from([None, 97, 4096]))
def test_fuzz_frames_or_format_error(tmp_path_factory, base, ops, chunk):
    path = tmp_path_factory.mktemp("fz") / "f.txt"
    path.write_bytes(mutate_lines(BASES[base], ops))
    check_contract(path, chunk)


@FUZZ
@given(lines=st.lists(_line_text, max_size=40))
def test_fuzz_random_text(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("fz") / "r.txt"
    path.write_bytes(("54550962 SOW1 PACKET 00000004 14:13:05.687445 Packet Trace\n" + "\n".join(lines))
                     .encode("utf-8", "surrogatepass"))
    check_contract(path, None)


def check_contract(path: Path, chunk: int | None) -> None:
    kw = {"chunk_size": chunk} if chunk else {}
    try:
        reader = open_reader(path, **kw)
    except TraceFormatError as e:
        assert str(e)
        return
    dec = Decoder()
    n = 0
    for b in reader.batches():
        assert len(b) > 0
        assert b.first_number == n + 1
        n += len(b)
        assert (b.caplen <= b.origlen).all() and (b.origlen < 1 << 32).all()
        assert set(b.linktype.tolist()) <= {1, 101, 147}  # packet, OSAENTA, data trace records
        for name, arr in b.meta.items():
            assert isinstance(arr, pa.Array) and len(arr) == len(b), name
        rb = dec.decode(b)
        assert rb.num_rows == len(b)
    info = reader.info
    assert all(isinstance(e, TraceFormatError) for e in info.errors)
    assert len(info.errors) <= 1
    assert info.format == "ctrace-format"
    for w in info.warnings:
        assert isinstance(w, str) and w


# ------------------------------------------------------------------ the command


_command = tracedoc_command


def run(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, LC_ALL="C.UTF-8", COLUMNS="200")
    env.pop("TRACEDOC_DEBUG", None)
    return subprocess.run(_command() + [str(a) for a in args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_cli_info_json():
    p = run("info", "--json", DATA / "seed_discard_4114_aligned.txt")
    assert p.returncode == 0, p.stderr
    facts = json.loads(p.stdout)
    assert facts["format"] == "ctrace-format"
    assert facts["system"] == "SOW1"
    assert facts["component"] == "SYSTCPDA"
    assert "OPTIONS((FORMAT DUMP))" in facts["trace_options"]
    assert facts["packets"] == 1 and facts["bytes"] == 78
    assert facts["link_types"] == [{"linktype": 101, "name": "RAW", "packets": 1}]
    assert facts["first_time"] == "2011-01-25T14:13:05.687445000Z"
    assert facts["errors"] == []

    p = run("info", "--json", DATA / "seed_discard_4114.txt")
    assert p.returncode == 0, p.stderr
    facts = json.loads(p.stdout)
    assert facts["trace_options"] == "OPTIONS((FORMAT DUMP)) (inferred from the records)"


def test_cli_malformed_exit_code():
    p = run("info", "--json", DATA / "malformed.txt")
    assert p.returncode == 1
    assert "Traceback" not in p.stderr
    facts = json.loads(p.stdout)
    assert facts["packets"] == 3
    assert facts["errors"][0].startswith("5 malformed CTRACE record(s); first at line 38")
    assert "5 malformed CTRACE record(s)" in p.stderr


def test_cli_fields():
    p = run("fields", DATA / "seed_discard_4114.txt", "-e", "frame.number", "-e", "ip.src", "-e", "udp.dstport",
            "-e", "ctrace.link", "-e", "ctrace.discard", "-e", "ctrace.discard_name")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "1\t172.29.96.9\t137\tOSDL\t4114\tIP_MAC_BRDCST\n"


def test_np_arrays_are_batch_sized():
    r = open_reader(DATA / "ipv6.txt")
    for b in r.batches():
        for a in (b.offset, b.caplen, b.origlen, b.ts_ns, b.record_offset):
            assert a.dtype == np.int64 and len(a) == len(b)
        assert b.linktype.dtype == np.int32 and b.interface_id.dtype == np.int32
