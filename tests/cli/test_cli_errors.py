"""The ``tracedoc`` command on bad input: a one-line error, a non-zero exit
code, never a traceback; and on good input, the exact field text.

Runs the installed console script (``python -m tracedoc.cli.main`` when it is
not on disk) in a subprocess, as a user would.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.support.pcapgen import PACKETS, Rec, pcap_file, records
from tests.support.command import tracedoc_command

EXIT_TRACE_ERROR = 1


_command = tracedoc_command


CMD = _command()


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, LC_ALL="C.UTF-8", COLUMNS="200")
    env.pop("TRACEDOC_DEBUG", None)
    return subprocess.run(CMD + [str(a) for a in args], capture_output=True, text=True, env=env, timeout=120,
                          cwd=cwd)


def assert_clean_failure(p: subprocess.CompletedProcess, lines: int | None = 1) -> list[str]:
    """Non-zero exit, only ``tracedoc: error:`` lines on stderr, no traceback."""
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout, p.stderr
    assert p.returncode == EXIT_TRACE_ERROR, (p.returncode, p.stderr)
    err = p.stderr.splitlines()
    assert err, "no error message"
    for line in err:
        assert line.startswith("tracedoc: error: "), line
    if lines is not None:
        assert len(err) == lines, err
    return err


RECS = records()
N = len(RECS)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    data, offs = pcap_file(RECS)
    out = {}

    def put(name: str, b: bytes) -> Path:
        p = d / name
        p.write_bytes(b)
        out[name] = p
        return p

    put("good.pcap", data)
    put("empty.pcap", b"")
    put("garbage.pcap", b"this is not a packet trace, just text\n" * 20)
    put("truncated.pcap", data[:offs[6] + 16 + 10])  # six whole records, the 7th cut in its data
    put("header_cut.pcap", data[:offs[3] + 7])  # three whole records, the 4th cut in its header
    put("linktype.pcap", pcap_file(RECS, network=1000)[0])
    comp = gzip.compress(data * 1)
    put("truncated.pcap.gz", comp[:len(comp) - 30])
    (d / "adir").mkdir()
    out["adir"] = d / "adir"
    out["missing"] = d / "no-such-file.pcap"
    out["_offs"] = offs  # type: ignore[assignment]
    return out


COMMANDS = [
    ["info"],
    ["info", "--json"],
    ["fields", "-e", "frame.number", "-e", "ip.src"],
    ["summary"],
    ["summary", "--format", "json"],
]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c))
@pytest.mark.parametrize("name,expect", [
    ("missing", "no such file"),
    ("adir", "is a directory"),
    ("empty.pcap", "empty file"),
    ("garbage.pcap", "not a capture file"),
])
def test_unreadable_file(files, cmd, name, expect):
    p = run(*cmd, files[name])
    [line] = assert_clean_failure(p)
    assert line.startswith(f"tracedoc: error: {files[name]}: ")
    assert expect in line
    assert p.stdout == ""


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c))
def test_truncated_pcap(files, cmd):
    offs = files["_offs"]
    p = run(*cmd, files["truncated.pcap"])
    [line] = assert_clean_failure(p)
    size = len(RECS[6].data)
    assert line == (f"tracedoc: error: {files['truncated.pcap']}: truncated record at offset {offs[6]}: "
                    f"header says {size} bytes, 10 left")


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c))
def test_cut_record_header_and_bad_linktype(files, cmd):
    offs = files["_offs"]
    p = run(*cmd, files["header_cut.pcap"])
    [line] = assert_clean_failure(p)
    assert line.endswith(f"truncated record header at offset {offs[3]}: 7 of 16 bytes")
    p = run(*cmd, files["linktype.pcap"])
    [line] = assert_clean_failure(p)
    assert line.endswith("unsupported link type 1000 (file header at offset 20)")


def test_info_json_on_truncated_file_still_reports(files):
    offs = files["_offs"]
    p = run("info", "--json", files["truncated.pcap"])
    assert_clean_failure(p)
    facts = json.loads(p.stdout)
    assert facts["packets"] == 6
    assert facts["bytes"] == sum(r.origlen for r in RECS[:6])
    assert facts["format"] == "pcap"
    assert facts["errors"] == [f"truncated record at offset {offs[6]}: header says {len(RECS[6].data)} bytes, 10 left"]
    assert facts["first_time"] == "2023-11-14T22:13:20.123456000Z"


def test_info_json_on_truncated_gzip(files):
    p = run("info", "--json", files["truncated.pcap.gz"])
    [line] = assert_clean_failure(p)
    facts = json.loads(p.stdout)
    assert facts["compression"] == "gzip"
    # Every record zlib can still inflate is counted; the damage is named
    # at the offset where the inflated data ends.
    avail = len(zlib.decompressobj(31).decompress(files["truncated.pcap.gz"].read_bytes()))
    offs = files["_offs"]
    whole = sum(1 for o, r in zip(offs, RECS) if o + 16 + r.caplen <= avail)
    assert 0 < whole < N
    assert facts["packets"] == whole
    assert facts["errors"] == [f"decompression failed at offset {avail}: "
                               "Compressed file ended before the end-of-stream marker was reached"]
    assert line == f"tracedoc: error: {files['truncated.pcap.gz']}: {facts['errors'][0]}"


def test_fields_on_truncated_file_prints_the_whole_records(files):
    p = run("fields", "-e", "frame.number", "-e", "ip.src", files["truncated.pcap"])
    assert_clean_failure(p)
    assert p.stdout.splitlines() == ["1\t10.0.0.1", "2\t10.0.0.2", "3\t10.0.0.1", "4\t10.0.0.1", "5\t10.0.0.1",
                                     "6\t"]


def test_good_file_exits_zero(files):
    for cmd in COMMANDS:
        p = run(*cmd, files["good.pcap"])
        assert p.returncode == 0, (cmd, p.stderr)
        assert p.stderr == ""
        assert "Traceback" not in p.stdout


@pytest.mark.parametrize("bad,suggest", [("no.such.field", None), ("ip.scr", "ip.src"),
                                         ("tcp.srcprt", "tcp.srcport"), ("frame.numbr", "frame.number")])
def test_unknown_field(files, bad, suggest):
    p = run("fields", "-e", "frame.number", "-e", bad, files["good.pcap"])
    [line] = assert_clean_failure(p)
    assert line.startswith(f"tracedoc: error: unknown field '{bad}'")
    assert "did you mean " in line
    if suggest:
        assert suggest in line.split("did you mean ", 1)[1].rstrip("?").split(", ")
    assert p.stdout == ""


def test_unknown_field_is_named_before_the_file_is_read(files):
    p = run("fields", "-e", "no.such.field", files["missing"])
    [line] = assert_clean_failure(p)
    assert "unknown field 'no.such.field'" in line


def test_bad_fields_option(files):
    p = run("fields", "-E", "bogus=1", "-e", "frame.number", files["good.pcap"])
    [line] = assert_clean_failure(p)
    assert "unknown -E option 'bogus'" in line


FIELDS = ["frame.number", "frame.time_epoch", "frame.len", "eth.src", "eth.dst", "eth.type", "ip.src", "ip.dst",
          "ip.proto", "ip.ttl", "ip.id", "ip.flags.df", "ipv6.src", "ipv6.dst", "ipv6.nxt", "tcp.srcport",
          "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags", "tcp.len", "tcp.options.mss_val",
          "udp.srcport", "udp.dstport", "udp.length", "icmp.type", "icmp.code", "icmp.seq", "arp.opcode",
          "arp.src.proto_ipv4", "arp.dst.proto_ipv4", "_ws.malformed"]

A, B, BC = "00:11:22:33:44:55", "66:77:88:99:aa:bb", "ff:ff:ff:ff:ff:ff"
EXPECTED = [
    # number, time, len, eth.src, eth.dst, eth.type, ip.src, ip.dst, ip.proto, ip.ttl, ip.id, df,
    # ipv6.src, ipv6.dst, ipv6.nxt, tcp ports, seq, ack, flags, tcp.len, mss, udp ports, udp.length,
    # icmp type, code, seq, arp opcode, arp ips, malformed
    ["1", "1700000000.123456000", "62", A, B, "0x0800", "10.0.0.1", "10.0.0.2", "6", "64", "0x1234", "1",
     "", "", "", "40000", "80", "1000", "0", "0x0002", "0", "1460", "", "", "", "", "", "", "", "", "", ""],
    ["2", "1700000000.124706000", "62", B, A, "0x0800", "10.0.0.2", "10.0.0.1", "6", "64", "0x0000", "1",
     "", "", "", "80", "40000", "5000", "1001", "0x0012", "0", "1460", "", "", "", "", "", "", "", "", "", ""],
    ["3", "1700000000.125956000", "72", A, B, "0x0800", "10.0.0.1", "10.0.0.2", "6", "64", "0x1235", "1",
     "", "", "", "40000", "80", "1001", "5001", "0x0018", "18", "", "", "", "", "", "", "", "", "", "", ""],
    ["4", "1700000000.127206000", "71", A, B, "0x0800", "10.0.0.1", "8.8.8.8", "17", "128", "0x2000", "1",
     "", "", "", "", "", "", "", "", "", "", "53000", "53", "37", "", "", "", "", "", "", ""],
    ["5", "1700000000.128456000", "74", A, B, "0x0800", "10.0.0.1", "10.0.0.2", "1", "64", "0x3000", "0",
     "", "", "", "", "", "", "", "", "", "", "", "", "", "8", "0", "7", "", "", "", ""],
    ["6", "1700000000.129706000", "60", A, BC, "0x0806", "", "", "", "", "", "",
     "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "1", "10.0.0.1", "10.0.0.2", ""],
    ["7", "1700000000.130956000", "71", A, "33:33:00:00:00:01", "0x86dd", "", "", "", "", "", "",
     "2001:db8::1", "2001:db8::2", "17", "", "", "", "", "", "", "", "5353", "5353", "17", "", "", "", "", "", "",
     ""],
    ["8", "1700000000.132206000", "74", A, B, "0x86dd", "", "", "", "", "", "",
     "fe80::1", "2001:db8::2", "6", "443", "50000", "7", "8", "0x0010", "0", "", "", "", "", "", "", "", "", "", "",
     ""],
    # ICMP port unreachable: tshark lists the quoted datagram's fields as
    # second occurrences ("own,quoted").
    ["9", "1700000000.133456000", "70", B, A, "0x0800", "8.8.8.8,10.0.0.1", "10.0.0.1,8.8.8.8", "1,17", "64,128",
     "0x4000,0x2000", "0,1", "", "", "", "", "", "", "", "", "", "", "53000", "53", "37", "3", "3", "", "", "", "",
     ""],
]


def test_fields_output_field_by_field(files):
    args = ["fields", "-E", "header=y"]
    for f in FIELDS:
        args += ["-e", f]
    p = run(*args, files["good.pcap"])
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    lines = p.stdout.split("\n")
    assert lines[-1] == ""
    assert lines[0].split("\t") == FIELDS
    rows = [ln.split("\t") for ln in lines[1:-1]]
    assert len(rows) == len(EXPECTED)
    for want, got in zip(EXPECTED, rows):
        assert len(got) == len(FIELDS)
        assert dict(zip(FIELDS, got)) == dict(zip(FIELDS, want)), f"frame {want[0]}"


def test_fields_separator_quote_and_occurrence(files):
    p = run("fields", "-E", "separator=,", "-E", "quote=d", "-E", "occurrence=f", "-e", "frame.number",
            "-e", "ip.src", files["good.pcap"])
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == '"1","10.0.0.1"'
    assert lines[5] == '"6",'
    assert lines[8] == '"9","8.8.8.8"'


def test_fields_on_a_gzip_copy_is_identical(files, tmp_path):
    gz = tmp_path / "copy.pcap.gz"
    gz.write_bytes(gzip.compress(files["good.pcap"].read_bytes()))
    args = ["fields"]
    for f in FIELDS:
        args += ["-e", f]
    a = run(*args, files["good.pcap"])
    b = run(*args, gz)
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout and a.stdout.count("\n") == N


def test_malformed_packet_is_shown_not_fatal(tmp_path):
    cut = PACKETS["tcp_data"][:40]  # inside the TCP header
    recs = [Rec(RECS[0].ts_ns, cut, len(PACKETS["tcp_data"])), RECS[1]]
    f = tmp_path / "m.pcap"
    f.write_bytes(pcap_file(recs)[0])
    p = run("fields", "-e", "frame.number", "-e", "tcp.srcport", "-e", "_ws.malformed", f)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    num, port, mal = lines[0].split("\t")
    assert (num, port) == ("1", "40000")
    assert mal.startswith("tcp: ")
    assert lines[1] == "2\t80\t"
