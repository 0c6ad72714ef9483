"""Network General Sniffer (DOS) files (``tracedoc.read.ngsniffer``).

1. Corpus captures converted with ``editcap -F ngsniffer`` read back with the
   packet count and the ``tracedoc fields`` text of the original, and the
   time stamps tshark gives the converted file (Sniffer ticks are 0.838096 us,
   so they differ from the original's).
2. Damage built from a converted file: cuts, lying record lengths, garbage,
   unknown record types, bad version records; each keeps every whole record
   before the fault and names it, with its byte offset, in one error.
3. Sniffer's own compression (LZ77/RLE blobs), written here and checked
   against tshark, which reads it.
4. Hypothesis: mutated and truncated .trc files give frames or a
   TraceFormatError, nothing else, and keep every record before the damage.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import shutil
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import tracedoc
from tracedoc.cli.fields_cmd import parse_options, write_fields
from tracedoc.decode.table import Decoder
from tracedoc.errors import TraceFormatError
from tracedoc.read import open_reader
from tracedoc.read.batch import FrameBatch
from tracedoc.read.ngsniffer import MAGIC, BlobError, decompress_blob
from tests.support.mutations import mutate, mutations

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
EDITCAP = shutil.which("editcap")
TSHARK = shutil.which("tshark")



def _skip_unless_tools() -> None:
    """Skip (saying why) where the corpus, editcap or tshark is missing."""
    if not (CORPUS / "MANIFEST.tsv").is_file():
        pytest.skip(f"capture corpus not found at {CORPUS}")
    if EDITCAP is None:
        pytest.skip("editcap (Wireshark) not installed: nothing to write Sniffer files with")
    if TSHARK is None:
        pytest.skip("tshark not installed: no reference to compare with")


FIELDS = ("frame.number frame.len frame.cap_len eth.src eth.dst eth.type ip.src ip.dst ip.proto tcp.srcport "
          "tcp.dstport tcp.seq_raw udp.srcport udp.dstport icmp.type").split()

# Ethernet captures of varied content, sizes and time stamps.  None has a
# frame over 65535 bytes (Sniffer's 16-bit size fields cannot hold it).
CAPTURES = [
    # plain traffic
    "dpkt/examples/data/http.pcap",
    "dpkt/examples/data/dns_icmp.pcap",
    "dpkt/examples/data/nb6-http.pcap",                        # PPPoE, L2TP, IPv6
    "zeek/testing/btest/Traces/icmp/5-pings.pcap",
    "zeek/testing/btest/Traces/tunnels/gre-aruba.pcap",
    "zeek/testing/btest/Traces/tunnels/gtp/gtp1_gn_normal_incl_fragmentation.pcap",
    "zeek/testing/btest/Traces/quic/chromium-115.0.5790.110-google-de-fragmented.pcap",
    "zeek/testing/btest/Traces/tls/tls-fragmented-handshake.pcap.gz",
    "tcpdump/tests/mptcp-v0.pcap",
    # many packets
    "zeek/testing/btest/Traces/echo-connections.pcap.gz",      # 82,582
    "zeek/testing/btest/Traces/modbus/modbusBig.pcap",         # 13,622
    "zeek/testing/btest/Traces/ftp/cwd-navigation.pcap",       # 8,317
    "zeek/testing/btest/Traces/http/1000-requests-one-dropped-response.pcap.gz",
    # time stamps spanning days (the day byte wraps after 255), years
    "zeek/testing/btest/Traces/ssh/ssh.pcap",
    "zeek/testing/btest/Traces/smtp.pcap",
    "zeek/testing/btest/Traces/conn-size.pcap",
    "tcpdump/tests/dhcpv4v6-rfc5970-rfc8572.pcap",
    "tcpdump/tests/kday1.pcap",
    "tcpdump/tests/kday2.pcap",
    "tcpdump/tests/kday8.pcap",
    # before 1980 (no DOS date: written as date 0), going backwards
    "tcpdump/tests/olsr-oobr-1.pcap",
    "tcpdump/tests/mobility_opt_asan.pcap",
    "tcpdump/tests/espudp1.pcap",
    "libpcap/tests/filter/isakmp4500.pcap",
    "tcpdump/tests/of10_inv_OFPST_FLOW.pcap",
    "zeek/testing/btest/Traces/communityid/tcp.pcap",
    "zeek/testing/btest/Traces/ipv6-http-atomic-frag.pcap",
    "zeek/testing/btest/Traces/smtp/mime-header-size-limit.pcap.gz",
    # nanosecond pcap, pcapng sources
    "zeek/testing/btest/Traces/http/get-to-ssh-server.pcap",
    "zeek/testing/btest/Traces/vntag.pcap",
    "scapy/test/pcaps/netflowv9.pcap",
    "tcpdump/tests/of13_ericsson.pcapng",
    "zeek/testing/btest/Traces/snmp/leak_test.pcapng",
]

VERS_AT = 17          # version record header
NETWORK_AT = 32       # version record: network type byte
FORMAT_AT = 33        # format byte (1 = plain)
TIMEUNIT_AT = 34      # time-unit index
DATE_AT = 29          # DOS date word
DATA_AT = 41          # first record after the version record


# --------------------------------------------------------------- helpers

def run(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ, LC_ALL="C.UTF-8")
    if env:
        e.update(env)
    return subprocess.run(cmd, capture_output=True, env=e, timeout=600)


def editcap(src: Path, dst: Path, *extra: str, env: dict[str, str] | None = None) -> Path:
    p = run(["editcap", *extra, "-F", "ngsniffer", str(src), str(dst)], env)
    assert p.returncode == 0, p.stderr.decode()
    return dst


def tshark_fields(path: Path, names: list[str], env: dict[str, str] | None = None) -> list[str]:
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields"]
    for n in names:
        cmd += ["-e", n]
    return run(cmd, env).stdout.decode().splitlines()


def tracedoc_fields(path: Path, names: list[str]) -> tuple[list[str], tracedoc.Trace]:
    t = tracedoc.open(path)
    buf = io.BytesIO()
    write_fields(t.iter_packets(), names, parse_options([]), buf)
    return buf.getvalue().decode().splitlines(), t


def first_mismatch(a: list[str], b: list[str]) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"line {i + 1}: {x!r} != {y!r}"
    return f"{len(a)} lines != {len(b)} lines"


def read_all(path: Path, chunk_size: int | None = None):
    """(frames, info): frames as (ts_ns, caplen, origlen, bytes, record offset, number, linktype)."""
    kw = {"chunk_size": chunk_size} if chunk_size else {}
    reader = open_reader(path, **kw)
    frames = []
    for b in reader.batches():
        for i in range(len(b)):
            frames.append((int(b.ts_ns[i]), int(b.caplen[i]), int(b.origlen[i]), b.packet_bytes(i),
                           int(b.record_offset[i]), b.first_number + i, int(b.linktype[i])))
    return frames, reader.info


def only_error(info) -> TraceFormatError:
    assert len(info.errors) == 1, [str(e) for e in info.errors]
    e = info.errors[0]
    assert isinstance(e, TraceFormatError)
    return e


def records(data: bytes, at: int = DATA_AT) -> list[tuple[int, int, int]]:
    """(offset, type, length) of every whole record from ``at``."""
    out = []
    while at + 6 <= len(data):
        rtype, rlen = struct.unpack_from("<HH", data, at)
        out.append((at, rtype, rlen))
        at += 6 + rlen
    return out


def rec_header(rtype: int, length: int) -> bytes:
    return struct.pack("<HHH", rtype, length, 0)


def patch(data: bytes, at: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + len(new):]


# ------------------------------------------------------------- a writer

def version_record(*, maj: int = 4, minor: int = 0, date: int = (24 << 9) | (5 << 5) | 13, network: int = 1,
                   fmt: int = 1, timeunit: int = 1, length: int = 18) -> bytes:
    return rec_header(1, length) + struct.pack("<hhHHBBbBbbhh", maj, minor, 0, date, 4, network, fmt, timeunit,
                                               0, 0, 0, 0)


def frame_record(data: bytes, *, ticks: int = 0, day: int = 0, true_size: int = 0, kind: int = 4,
                 pad: bytes = b"") -> bytes:
    fh = struct.pack("<HHBBHBBH", ticks & 0xFFFF, (ticks >> 16) & 0xFFFF, (ticks >> 32) & 0xFF, day, len(data),
                     0, 0, true_size)
    fh += bytes(2) if kind == 4 else bytes(range(22))
    return rec_header(kind, len(fh) + len(data) + len(pad)) + fh + data + pad


def eth(payload: bytes, etype: int = 0x0800) -> bytes:
    return bytes.fromhex("665544332211aabbccddeeff") + struct.pack("!H", etype) + payload


def ipv4(proto: int, body: bytes) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 1, 0x4000, 64, proto, 0,
                       bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + body


PACKETS = [
    eth(ipv4(6, struct.pack("!HHIIBBHHH", 1234, 80, 1000, 0, 0x50, 0x02, 65535, 0, 0))),
    eth(ipv4(17, struct.pack("!HHHH", 5353, 53, 8 + 12, 0) + bytes(12))),
    eth(ipv4(1, struct.pack("!BBHHH", 8, 0, 0, 7, 1) + b"ping" * 4)),
    eth(bytes(28), etype=0x0806),
    b"\x01\x02\x03",
    b"",
    bytes(range(256)) * 3,
]


# ------------------------------------------- Sniffer compression (writer)

def sniffer_compress(data: bytes) -> bytes:
    """Code ``data`` the way compressed Sniffer files are (greedy LZ77 with
    runs), for blobs tshark and tracedoc must both expand."""
    items: list[bytes] = []
    coded: list[bool] = []
    n = len(data)
    i = 0
    last: dict[bytes, int] = {}
    while i < n:
        b = data[i]
        j = i
        lim = min(n, i + 4114)
        while j < lim and data[j] == b:
            j += 1
        run_len = j - i
        if run_len >= 3:
            if run_len <= 18:
                items.append(bytes((run_len - 3, b)))
            else:
                r = run_len - 19
                items.append(bytes((0x10 | (r & 15), r >> 4, b)))
            coded.append(True)
            i = j
            continue
        best = off = 0
        if i + 3 <= n:
            key = data[i:i + 3]
            p = last.get(key)
            last[key] = i
            if p is not None and 3 <= i - p <= 4098:
                off = i - p
                most = min(off, 271, n - i)
                k = 0
                while k < most and data[p + k] == data[i + k]:
                    k += 1
                best = k if k >= 3 else 0
        if best:
            o = off - 3
            items.append(bytes(((best << 4) | (o & 15), o >> 4)) if best <= 15
                         else bytes((0x20 | (o & 15), o >> 4, best - 16)))
            coded.append(True)
            for q in range(i + 1, min(i + best, n - 2)):
                last[data[q:q + 3]] = q
            i += best
        else:
            items.append(bytes((b,)))
            coded.append(False)
            i += 1
    out = bytearray()
    for g in range(0, len(items), 16):
        word = 0
        for k, c in enumerate(coded[g:g + 16]):
            if c:
                word |= 0x8000 >> k
        out += struct.pack("<H", word)
        for it in items[g:g + 16]:
            out += it
    return bytes(out)


def compress_trc(plain: bytes, seed: int = 0, raw_share: float = 0.25,
                 max_piece: int = 20000) -> tuple[bytes, list[tuple[int, int, int]]]:
    """The compressed variant of a plain file whose records start at
    DATA_AT: same version record (format byte 2), then the records cut into
    blobs of random size, some stored, most coded.  Returns the file and,
    per blob, (file offset, file end, expanded end as a stream offset)."""
    rng = random.Random(seed)
    out = bytearray(plain[:DATA_AT])
    out[FORMAT_AT] = 2
    body = plain[DATA_AT:]
    blobs = []
    pos = 0
    while pos < len(body):
        piece = body[pos:pos + rng.randint(1, max_piece)]
        at = len(out)
        if rng.random() < raw_share:
            out += struct.pack("<h", -len(piece)) + piece
        else:
            c = sniffer_compress(piece)
            assert len(c) <= 32767
            if at == DATA_AT and len(c) in (6, 7, 13, 14, 15, 16, 17):
                out += struct.pack("<h", -len(piece)) + piece  # would pass for a header record
            else:
                out += struct.pack("<h", len(c)) + c
        pos += len(piece)
        blobs.append((at, len(out), DATA_AT + pos))
    return bytes(out), blobs


# ============================================ 1. converted corpus captures

@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("ngsniffer")


_converted: dict[str, Path] = {}


def converted(workdir: Path, rel: str) -> Path:
    if rel not in _converted:
        _converted[rel] = editcap(CORPUS / rel, workdir / (rel.replace("/", "_") + ".trc"))
    return _converted[rel]


def test_capture_list_is_varied():
    assert len(CAPTURES) >= 25 and len(set(CAPTURES)) == len(CAPTURES)


@pytest.mark.parametrize("rel", CAPTURES)
def test_converted_capture_reads_back(workdir, rel):
    _skip_unless_tools()
    src = CORPUS / rel
    if not src.is_file():
        pytest.skip(f"{rel} is not in this corpus snapshot")
    trc = converted(workdir, rel)
    original, t0 = tracedoc_fields(src, FIELDS)
    assert t0.errors == [] and original, rel
    back, t = tracedoc_fields(trc, FIELDS)
    assert t.errors == [], t.errors
    assert len(back) == len(original)
    assert back == original, first_mismatch(back, original)
    times, _ = tracedoc_fields(trc, ["frame.time_epoch"])
    reference = tshark_fields(trc, ["frame.time_epoch"])
    assert len(reference) == len(original)
    assert times == reference, first_mismatch(times, reference)
    info = t.info
    assert info.format == "ngsniffer" and info.byte_order == "little"
    assert info.version == "4.0" and info.extra["sniffer_version"] == "4.0"
    assert [(i.linktype, i.linktype_name) for i in info.interfaces] == [(1, "ETHERNET")]
    assert info.blocks["REC_FRAME2"] == len(original) and info.blocks["REC_EOF"] == 1


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])
def test_time_stamps_follow_the_local_time_zone_as_wireshark(workdir, tz):
    """The file has a DOS date and no zone: Wireshark (writing and reading)
    takes local midnight of that date, so the stamps depend on TZ."""
    _skip_unless_tools()
    if not Path("/usr/share/zoneinfo", tz).is_file():
        pytest.skip(f"no tzdata for {tz}")
    saved = os.environ.get("TZ")
    os.environ["TZ"] = tz
    time.tzset()
    try:
        for rel in ["dpkt/examples/data/http.pcap", "zeek/testing/btest/Traces/ssh/ssh.pcap",
                    "tcpdump/tests/kday8.pcap", "tcpdump/tests/olsr-oobr-1.pcap"]:
            trc = editcap(CORPUS / rel, workdir / f"tz-{tz.replace('/', '_')}-{Path(rel).name}.trc",
                          env={"TZ": tz})
            ours, _ = tracedoc_fields(trc, ["frame.time_epoch"])
            theirs = tshark_fields(trc, ["frame.time_epoch"], env={"TZ": tz})
            assert ours == theirs, (rel, first_mismatch(ours, theirs))
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.mark.parametrize("encap,linktype", [("tr", 6), ("arcnet", 7), (None, 10)])
def test_other_network_types(workdir, encap, linktype):
    """Token Ring, ARCNET and FDDI files (network types 0, 2, 9)."""
    _skip_unless_tools()
    if encap is None:
        src = CORPUS / "zeek/testing/btest/Traces/llc.pcap"  # FDDI
    else:
        src = editcap_raw(CORPUS / "dpkt/examples/data/http.pcap", workdir / f"{encap}.pcap", "-T", encap)
    trc = editcap(src, workdir / f"net-{linktype}.trc")
    names = ["frame.number", "frame.time_epoch", "frame.len", "frame.cap_len"]
    ours, t = tracedoc_fields(trc, names)
    assert t.errors == []
    assert ours == tshark_fields(trc, names)
    assert [i.linktype for i in t.info.interfaces] == [linktype]
    frames, _ = read_all(trc)
    assert {f[6] for f in frames} == {linktype}


def editcap_raw(src: Path, dst: Path, *extra: str) -> Path:
    p = run(["editcap", *extra, str(src), str(dst)])
    assert p.returncode == 0, p.stderr.decode()
    return dst


# ======================================================= 2. damage cases

@pytest.fixture(scope="module")
def base(workdir):
    """A converted 32-packet capture: (bytes, its frames, its records)."""
    _skip_unless_tools()
    trc = converted(workdir, "dpkt/examples/data/dns_icmp.pcap")
    data = trc.read_bytes()
    frames, info = read_all(trc)
    assert info.errors == [] and len(frames) == 32
    recs = records(data)
    assert [r[1] for r in recs] == [4] * 32 + [3] and recs[-1][0] + 6 == len(data)
    return data, frames, recs


def write(tmp_path: Path, data: bytes, name: str = "t.trc") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def tshark_count(path: Path) -> int:
    return len(tshark_fields(path, ["frame.number"]))


def test_truncated_last_record_every_few_bytes(tmp_path, base):
    data, frames, recs = base
    last = recs[-2][0]           # last frame record
    eof = recs[-1][0]            # EOF record
    n = len(frames)
    cuts = sorted(set(range(last, len(data) + 1, 3)) | {last, last + 1, last + 5, last + 6, last + 7,
                                                        last + 19, last + 20, eof - 1, eof, eof + 1, eof + 5,
                                                        len(data)})
    for cut in cuts:
        p = write(tmp_path, data[:cut])
        got, info = read_all(p)
        whole = n - 1 if cut < eof else n
        assert got == frames[:whole], cut
        if cut in (last, eof, len(data)):
            assert info.errors == [], (cut, [str(e) for e in info.errors])
            continue
        e = only_error(info)
        if last < cut < last + 6:
            assert e.offset == last and str(e) == f"truncated record header at offset {last}: {cut - last} of 6 bytes"
        elif cut < eof:
            assert e.offset == last
            assert str(e) == (f"truncated REC_FRAME2 at offset {last}: record length says {recs[-2][2]} bytes, "
                              f"{cut - last - 6} left")
        else:
            assert e.offset == eof and str(e).startswith(f"truncated record header at offset {eof}")
    # tshark keeps the same frames of a cut file
    for cut in (last + 3, last + 30, eof + 2):
        assert tshark_count(write(tmp_path, data[:cut], f"cut{cut}.trc")) == (n - 1 if cut < eof else n)


@pytest.mark.parametrize("k", [0, 5, 31])
def test_lying_record_length(tmp_path, base, k):
    data, frames, recs = base
    at, _, rlen = recs[k]
    size = struct.unpack_from("<H", data, at + 12)[0]

    # longer than the rest of the file
    got, info = read_all(write(tmp_path, patch(data, at + 2, struct.pack("<H", 65535))))
    assert got == frames[:k]
    e = only_error(info)
    assert e.offset == at and str(e).startswith(f"truncated REC_FRAME2 at offset {at}: record length says "
                                                f"65535 bytes")

    # shorter than the frame header
    got, info = read_all(write(tmp_path, patch(data, at + 2, struct.pack("<H", 10))))
    assert got == frames[:k]
    e = only_error(info)
    assert e.offset == at
    assert str(e) == f"REC_FRAME2 at offset {at}: record length 10 is less than its 14-byte frame header"

    # shorter than frame header + packet size (Wireshark: "Record length is less than packet size")
    bad = patch(data, at + 2, struct.pack("<H", 14 + size - 1))
    got, info = read_all(write(tmp_path, bad))
    assert got == frames[:k]
    e = only_error(info)
    assert e.offset == at
    assert str(e) == (f"REC_FRAME2 at offset {at}: record length {13 + size} is less than the 14-byte frame "
                      f"header plus the packet size {size}")
    assert tshark_count(write(tmp_path, bad, "short.trc")) == k


def test_record_padding_is_skipped(tmp_path, base):
    """A record longer than its frame header and packet: the rest is padding
    (Wireshark skips it)."""
    data, frames, recs = base
    at, _, rlen = recs[3]
    end = at + 6 + rlen
    padded = patch(data[:end], at + 2, struct.pack("<H", rlen + 10)) + b"\xee" * 10 + data[end:]
    got, info = read_all(write(tmp_path, padded))
    assert info.errors == []
    assert [f[:4] for f in got] == [f[:4] for f in frames]
    assert [f[4] for f in got[4:]] == [f[4] + 10 for f in frames[4:]]
    assert tshark_count(write(tmp_path, padded, "padded.trc")) == len(frames)


def test_garbage_after_the_header(tmp_path, base):
    """Garbage reads as records of unknown type, skipped by their length as
    Wireshark skips them: tracedoc keeps what tshark keeps, and says so."""
    data, frames, recs = base
    rng = random.Random(7)
    junk = bytes([0xDE, 0xAD]) + bytes(rng.randrange(256) for _ in range(200))
    for at, before in ((DATA_AT, 0), (recs[10][0], 10)):
        path = write(tmp_path, data[:at] + junk + data[at:], f"junk{before}.trc")
        got, info = read_all(path)
        assert got[:before] == frames[:before]
        assert len(got) == tshark_count(path)
        assert info.errors or any("unknown type skipped" in w for w in info.warnings)


@pytest.mark.parametrize("rtype", [0, 2, 5, 9, 0x99, 0xFFFF])
def test_unknown_record_type_is_skipped(tmp_path, base, rtype):
    data, frames, recs = base
    at, _, rlen = recs[7]
    path = write(tmp_path, patch(data, at, struct.pack("<H", rtype)))
    got, info = read_all(path)
    # the same records, numbered on without the skipped one
    assert [f[:5] for f in got] == [f[:5] for f in frames[:7] + frames[8:]]
    assert [f[5] for f in got] == list(range(1, len(frames)))
    assert info.errors == []
    assert info.warnings == ["1 record(s) of unknown type skipped, as Wireshark does"]
    assert info.blocks["unknown"] == 1
    assert len(got) == tshark_count(path)


def test_atm_frame_record_in_an_ethernet_file(tmp_path, base):
    data, frames, recs = base
    at = recs[2][0]
    bad = patch(data, at, struct.pack("<H", 8))
    got, info = read_all(write(tmp_path, bad))
    assert got == frames[:2]
    e = only_error(info)
    assert e.offset == at and str(e) == f"REC_FRAME4 (ATM frame) record at offset {at} in a non-ATM Sniffer file"
    assert tshark_count(write(tmp_path, bad, "frame4.trc")) == 2


@pytest.mark.parametrize("rtype", [6, 7, 13, 14, 15, 16, 17])
def test_header_records_are_skipped(tmp_path, base, rtype):
    """Header record types before the data and among it are stepped over,
    as Wireshark does."""
    data, frames, recs = base
    hdr = rec_header(rtype, 5) + b"abcde"
    at = recs[20][0]
    body = data[DATA_AT:at] + hdr + data[at:]
    f = write(tmp_path, data[:DATA_AT] + hdr + hdr + body)
    got, info = read_all(f)
    assert info.errors == []
    assert [x[:4] for x in got] == [x[:4] for x in frames]
    assert len(got) == tshark_count(f)
    name = {6: "REC_HEADER1", 7: "REC_HEADER2"}.get(rtype, f"REC_HEADER{rtype - 10}")
    assert info.blocks[name] == 3


def test_truncated_header_record(tmp_path, base):
    data, frames, recs = base
    head = data[:DATA_AT] + rec_header(7, 5) + b"abcde"
    for cut in range(DATA_AT + 1, len(head)):
        got, info = read_all(write(tmp_path, head[:cut]))
        assert got == []
        e = only_error(info)
        assert e.offset == DATA_AT
        if cut < DATA_AT + 6:
            assert str(e) == f"truncated record header at offset {DATA_AT}: {cut - DATA_AT} of 6 bytes"
        else:
            assert str(e) == (f"truncated header record (type 7) at offset {DATA_AT}: record length says 5 bytes, "
                              f"{cut - DATA_AT - 6} left")
    got, info = read_all(write(tmp_path, head))
    assert got == [] and info.errors == [] and info.blocks["REC_HEADER2"] == 1


@pytest.mark.parametrize("maj,ok", [(2, True), (4, False)])
def test_v2_description_record(tmp_path, base, maj, ok):
    """Type 8 before the data is a description in version-2 files, a frame
    of an ATM capture otherwise."""
    data, frames, recs = base
    desc = b"Capture of the\nmorning traffic\n"
    f = write(tmp_path, patch(data[:DATA_AT], VERS_AT + 6, struct.pack("<h", maj)) + rec_header(8, len(desc))
              + desc + data[DATA_AT:])
    got, info = read_all(f)
    assert info.version == f"{maj}.0"
    if ok:
        assert info.errors == [] and len(got) == len(frames) == tshark_count(f)
        assert info.blocks["REC_V2DESC"] == 1
    else:
        assert got == [] and tshark_count(f) == 0
        assert str(only_error(info)) == f"REC_FRAME4 (ATM frame) record at offset {DATA_AT} in a non-ATM Sniffer file"


def test_no_eof_record_and_data_after_it(tmp_path, base):
    data, frames, recs = base
    eof = recs[-1][0]
    got, info = read_all(write(tmp_path, data[:eof]))
    assert got == frames and info.errors == []
    got, info = read_all(write(tmp_path, data + b"trailing junk"))
    assert got == frames and info.errors == []
    assert info.warnings == [f"data after the EOF record (from offset {len(data)}) ignored, as Wireshark does"]
    # an EOF record with a body, cut short
    bad = data[:eof] + rec_header(3, 40) + b"x" * 10
    got, info = read_all(write(tmp_path, bad))
    assert got == frames
    e = only_error(info)
    assert e.offset == eof and str(e) == f"truncated REC_EOF at offset {eof}: record length says 40 bytes, 10 left"


@pytest.mark.parametrize("network,word", [(3, "unknown or unsupported"), (6, "unknown or unsupported"),
                                          (11, "unknown or unsupported"), (200, "unknown or unsupported"),
                                          (7, "not supported by tracedoc"), (8, "not supported by tracedoc"),
                                          (10, "not supported by tracedoc")])
def test_unsupported_network_type(tmp_path, base, network, word):
    data, frames, recs = base
    got, info = read_all(write(tmp_path, patch(data, NETWORK_AT, bytes([network]))))
    assert got == []
    e = only_error(info)
    assert e.offset == NETWORK_AT and word in str(e) and f"network type {network}" in str(e)


def test_bad_version_record(tmp_path, base):
    data, frames, recs = base
    got, info = read_all(write(tmp_path, patch(data, VERS_AT, struct.pack("<H", 4))))
    assert got == []
    e = only_error(info)
    assert e.offset == VERS_AT and "does not start with a version record: record type 4" in str(e)

    got, info = read_all(write(tmp_path, patch(data, TIMEUNIT_AT, bytes([7]))))
    assert got == [] and only_error(info).offset == TIMEUNIT_AT
    assert str(info.errors[0]) == f"unknown Sniffer time unit 7 (time-unit byte at offset {TIMEUNIT_AT})"

    # A version record length other than 18 is ignored (Wireshark reads 18 bytes).
    got, info = read_all(write(tmp_path, patch(data, VERS_AT + 2, struct.pack("<H", 30))))
    assert got == frames and info.errors == [] and "version record length 30" in info.warnings[0]


def test_file_cut_inside_the_header(tmp_path, base):
    data, frames, recs = base
    for cut in range(0, DATA_AT):
        p = write(tmp_path, data[:cut])
        if cut < len(MAGIC):
            with pytest.raises(TraceFormatError):
                open_reader(p)
            continue
        got, info = read_all(p)
        assert got == []
        e = only_error(info)
        assert str(e).startswith("truncated Sniffer version record"), (cut, str(e))
        assert e.offset == (VERS_AT if cut < VERS_AT + 6 else VERS_AT + 6)


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000, 4096])
def test_small_windows_read_the_same(tmp_path, base, chunk):
    data, frames, recs = base
    got, info = read_all(write(tmp_path, data), chunk_size=chunk)
    assert got == frames and info.errors == []


def test_gzipped_file(tmp_path, base):
    data, frames, recs = base
    got, info = read_all(write(tmp_path, gzip.compress(data), "t.trc.gz"))
    assert got == frames and info.errors == [] and info.compression == "gzip" and info.format == "ngsniffer"
    # a cut gzip member: the frames before the fault, one error
    got, info = read_all(write(tmp_path, gzip.compress(data)[:-400], "cut.trc.gz"))
    assert got == frames[:len(got)] and len(got) < len(frames)
    assert len(info.errors) == 1


@pytest.mark.parametrize("timeunit", range(7))
def test_every_time_unit_as_tshark(tmp_path, base, timeunit):
    data, frames, recs = base
    f = write(tmp_path, patch(data, TIMEUNIT_AT, bytes([timeunit])))
    ours, t = tracedoc_fields(f, ["frame.time_epoch"])
    assert t.errors == [] and ours == tshark_fields(f, ["frame.time_epoch"])


@pytest.mark.parametrize("date", [0, 0x0001, 0x0020, (5 << 9) | (2 << 5) | 31, (99 << 9) | (15 << 5) | 31,
                                  0xFFFF, (44 << 9) | (12 << 5) | 31])
def test_odd_dos_dates_as_tshark(tmp_path, base, date):
    """Month 0, day 0, month 15, 31 February: mktime rolls them over."""
    data, frames, recs = base
    f = write(tmp_path, patch(data, DATE_AT, struct.pack("<H", date)))
    names = ["frame.time_epoch"]
    ours, t = tracedoc_fields(f, names)
    assert t.errors == [] and ours == tshark_fields(f, names)


def test_frame6_records_and_true_size_as_tshark(tmp_path, base):
    """REC_FRAME6 (34-byte frame header) and REC_FRAME2 records mixed; a
    true_size above and below the captured size."""
    data, frames, recs = base
    out = bytearray(data[:DATA_AT])
    for i, (at, rtype, rlen) in enumerate(recs):
        body = data[at + 6:at + 6 + rlen]
        if rtype == 4 and i % 3 == 0:
            body = body[:14] + bytes(range(20)) + body[14:]
            out += rec_header(12, len(body)) + body
            continue
        if rtype == 4 and i % 3 == 1:
            body = body[:10] + struct.pack("<H", 1500 if i % 2 else 20) + body[12:]
        out += rec_header(rtype, len(body)) + body
    f = write(tmp_path, bytes(out))
    names = ["frame.number", "frame.time_epoch", "frame.len", "frame.cap_len"]
    ours, t = tracedoc_fields(f, names)
    assert t.errors == []
    assert ours == tshark_fields(f, names)
    assert t.info.blocks["REC_FRAME6"] == 11
    back, _ = tracedoc_fields(f, ["eth.src", "ip.src", "udp.srcport", "icmp.type"])
    orig, _ = tracedoc_fields(CORPUS / "dpkt/examples/data/dns_icmp.pcap", ["eth.src", "ip.src", "udp.srcport",
                                                                            "icmp.type"])
    assert back == orig


def test_written_here_as_tshark(tmp_path):
    """The test writer's files (used by the property tests) read as tshark
    reads them."""
    _skip_unless_tools()
    rng = random.Random(3)
    body = b"".join(frame_record(PACKETS[i % len(PACKETS)], ticks=rng.randrange(1 << 40), day=rng.randrange(256),
                                 true_size=rng.choice([0, 0, 60, 70000 & 0xFFFF]), kind=rng.choice([4, 12]),
                                 pad=b"\0" * rng.choice([0, 0, 3]))
                    for i in range(40))
    for network in (0, 1, 2, 9):
        f = write(tmp_path, MAGIC + version_record(network=network, timeunit=rng.randrange(7)) + body
                  + rec_header(3, 0), f"w{network}.trc")
        names = ["frame.number", "frame.time_epoch", "frame.len", "frame.cap_len"]
        ours, t = tracedoc_fields(f, names)
        assert t.errors == [] and len(ours) == 40
        assert ours == tshark_fields(f, names)


# ================================================== 3. compressed files

@pytest.mark.parametrize("rel,seed", [("dpkt/examples/data/http.pcap", 1), ("dpkt/examples/data/nb6-http.pcap", 2),
                                      ("zeek/testing/btest/Traces/ftp/cwd-navigation.pcap", 3),
                                      ("tcpdump/tests/kday8.pcap", 4)])
def test_compressed_file_as_tshark(workdir, rel, seed):
    _skip_unless_tools()
    plain = converted(workdir, rel).read_bytes()
    comp, blobs = compress_trc(plain, seed)
    assert len(blobs) > 1 or len(plain) < 20000
    f = workdir / f"comp-{seed}.trc"
    f.write_bytes(comp)
    names = ["frame.number", "frame.time_epoch", "frame.len", "frame.cap_len"]
    ours, t = tracedoc_fields(f, names)
    assert t.errors == []
    theirs = tshark_fields(f, names)
    assert len(theirs) > 0 and ours == theirs, first_mismatch(ours, theirs)
    assert t.info.extra["sniffer_compressed"] is True and t.info.format == "ngsniffer"
    assert t.info.blocks["compressed blobs"] == len(blobs)
    back, _ = tracedoc_fields(f, FIELDS)
    orig, _ = tracedoc_fields(CORPUS / rel, FIELDS)
    assert back == orig
    # record offsets count in the expanded stream, as in the plain file
    plain_frames, _ = read_all(converted(workdir, rel))
    comp_frames, _ = read_all(f, chunk_size=4096)
    assert comp_frames == plain_frames


def test_compressed_file_damage(tmp_path, base):
    data, frames, recs = base
    comp, blobs = compress_trc(data, seed=5, raw_share=0.0, max_piece=600)
    assert len(blobs) >= 4
    ends = [at + 6 + rlen for at, _, rlen in recs]

    def kept_before(expanded: int) -> int:
        return sum(1 for e in ends[:-1] if e <= expanded)

    # cut inside blob 2: frames wholly in blobs 0-1 kept, the cut blob named
    at2, end2, _ = blobs[2]
    got, info = read_all(write(tmp_path, comp[:at2 + 9]))
    assert got[:kept_before(blobs[1][2])] == frames[:kept_before(blobs[1][2])]
    assert len(got) == kept_before(blobs[1][2])
    e = only_error(info)
    assert e.offset == at2 and str(e).startswith(f"truncated compressed blob at offset {at2}: length says")
    # a cut between blobs, mid-record
    got, info = read_all(write(tmp_path, comp[:at2]))
    assert len(got) == kept_before(blobs[1][2]) and got == frames[:len(got)]
    assert "truncated" in str(only_error(info))
    # a string reaching back before the blob's start
    bad = bytearray(comp)
    bad[at2 + 2:at2 + 6] = bytes([0x00, 0x80, 0x3F, 0xFF])  # control word: first item coded; offset 4098
    got, info = read_all(write(tmp_path, bytes(bad)))
    assert len(got) == kept_before(blobs[1][2]) and got == frames[:len(got)]
    e = only_error(info)
    assert e.offset == at2 and str(e).startswith(f"bad compressed blob at offset {at2}: string offset 4098")
    assert tshark_count(write(tmp_path, bytes(bad), "bad.trc")) == len(got)


def test_decompress_edge_cases():
    assert decompress_blob(b"") == b""
    assert decompress_blob(b"\x00\x00abc") == b"abc"
    assert decompress_blob(b"\x00\x80\x0f\x41") == b"A" * 18                   # short run
    assert decompress_blob(b"\x00\x80\x1f\xff\x42") == b"B" * (15 + 255 * 16 + 19)  # longest run
    assert decompress_blob(b"\x00\x18abc\x30\x00\x30\x00") == b"abc" * 3       # strings of 3, offset 3
    with pytest.raises(BlobError, match="control word"):
        decompress_blob(b"\x00")
    with pytest.raises(BlobError, match="run byte"):
        decompress_blob(b"\x00\x80\x05")
    with pytest.raises(BlobError, match="more than 65536"):
        decompress_blob(b"\xff\xff" + b"\x1f\xff\x42" * 16)
    with pytest.raises(BlobError, match="outside"):
        decompress_blob(b"\x00\x20ab\x30\x00")                                # offset 3 > 2 bytes out
    with pytest.raises(BlobError, match="outside"):
        decompress_blob(b"\x00\x08abcd\x40\x00")                              # length 4 > offset 3


# ===================================================== 4. property tests

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


def run_contract(path: Path, chunk_size: int | None = None):
    """Read and decode ``path``; every rule of the reader contract holds.
    Returns (frames, info) or None when the file is refused at open."""
    kw = {"chunk_size": chunk_size} if chunk_size else {}
    try:
        reader = open_reader(path, **kw)
    except TraceFormatError as e:
        assert str(e)
        event("refused at open")
        return None
    frames = []
    number = 1
    last = -1
    dec = Decoder()
    for b in reader.batches():
        assert isinstance(b, FrameBatch)
        n = len(b)
        assert n > 0 and b.first_number == number
        for a in (b.caplen, b.origlen, b.ts_ns, b.linktype, b.interface_id, b.record_offset):
            assert len(a) == n
        assert (b.caplen >= 0).all() and (b.offset >= 0).all() and (b.offset + b.caplen <= len(b.data)).all()
        assert (np.diff(b.record_offset) > 0).all() and int(b.record_offset[0]) > last
        last = int(b.record_offset[-1])
        rb = dec.decode(b)
        assert isinstance(rb, pa.RecordBatch) and rb.num_rows == n
        for i in range(n):
            frames.append((int(b.ts_ns[i]), int(b.caplen[i]), int(b.origlen[i]), b.packet_bytes(i),
                           int(b.record_offset[i])))
        number += n
    for e in reader.info.errors:
        assert isinstance(e, TraceFormatError) and str(e)
        assert e.offset is None or e.offset >= 0
    assert len(reader.info.errors) <= 1, [str(e) for e in reader.info.errors]
    event(f"{'no' if not frames else 'some'} frames, {'damage' if reader.info.errors else 'no damage'}")
    return frames, reader.info


@st.composite
def trc_files(draw):
    """A valid .trc built here: (file, record ends as stream offsets, where the
    first data byte is, blobs or None)."""
    n = draw(st.integers(0, 10))
    head = b""
    if draw(st.booleans()):
        head = rec_header(draw(st.sampled_from([6, 7, 13, 17])), 4) + b"\x01\x02\x03\x04"
    recs = [frame_record(draw(st.sampled_from(PACKETS)), ticks=draw(st.integers(0, (1 << 40) - 1)),
                         day=draw(st.integers(0, 255)), true_size=draw(st.sampled_from([0, 0, 64, 65535])),
                         kind=draw(st.sampled_from([4, 4, 12])), pad=b"\0" * draw(st.sampled_from([0, 0, 2])))
            for _ in range(n)]
    eof = rec_header(3, 0) if draw(st.booleans()) else b""
    version = version_record(network=draw(st.sampled_from([0, 1, 2, 9])), timeunit=draw(st.integers(0, 6)),
                             date=draw(st.integers(0, 0xFFFF)))
    plain = MAGIC + version + head + b"".join(recs) + eof
    start = DATA_AT + len(head)
    ends, at = [], start
    for r in recs:
        at += len(r)
        ends.append(at)
    if head or not draw(st.booleans()):
        return plain, ends, start, None
    comp, blobs = compress_trc(plain, seed=draw(st.integers(0, 1000)), max_piece=draw(st.sampled_from([50, 400])))
    return comp, ends, DATA_AT, blobs


def first_difference(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    hit = np.flatnonzero(np.frombuffer(a[:n], np.uint8) != np.frombuffer(b[:n], np.uint8))
    return int(hit[0]) if len(hit) else n


def intact_records(ends: list[int], blobs, intact: int) -> int:
    """How many records lie wholly in the part of the (expanded) stream that
    the first ``intact`` file bytes hold unchanged."""
    if blobs is None:
        upto = intact
    else:
        upto = DATA_AT
        for at, end, expanded_end in blobs:
            if end > intact:
                break
            upto = expanded_end
    return sum(1 for e in ends if e <= upto)


mutation = mutations(1 << 14, [0, 1, 3, 4, 6, 8, 12, 13, 14, 33, 0x7FFF, 0x8000, 0xFFFF], ["<H"])


chunk_st = st.sampled_from([None, 1, 7, 64, 4096])


@pytest.fixture(scope="module")
def fuzzdir(tmp_path_factory):
    return tmp_path_factory.mktemp("ngsniffer-fuzz")


@FUZZ
@given(built=trc_files(), muts=st.lists(mutation, min_size=1, max_size=4), chunk=chunk_st)
def test_mutated_trc_gives_frames_or_a_format_error(fuzzdir, built, muts, chunk):
    data, ends, start, blobs = built
    event("compressed" if blobs is not None else "plain")
    bad = mutate(data, muts)
    p = fuzzdir / "mutated.trc"
    p.write_bytes(bad)
    got = run_contract(p, chunk)
    intact = first_difference(data, bad)
    if intact >= len(MAGIC):
        assert got is not None, "a file with its magic intact was refused"
    if intact >= start and got is not None:
        p.write_bytes(data)
        whole = run_contract(p)
        assert whole is not None and whole[1].errors == []
        frames = got[0]
        k = intact_records(ends, blobs, intact)
        assert frames[:k] == whole[0][:k], f"records before the damage (first changed byte {intact}) not kept"
        if bad == data:
            assert got[1].errors == [] and frames == whole[0]


@FUZZ
@given(built=trc_files(), cut=st.integers(0, 1 << 14), chunk=chunk_st)
def test_truncated_trc_keeps_every_whole_record(fuzzdir, built, cut, chunk):
    data, ends, start, blobs = built
    cut %= len(data) + 1
    p = fuzzdir / "cut.trc"
    p.write_bytes(data)
    whole = run_contract(p)
    assert whole is not None and whole[1].errors == []
    p.write_bytes(data[:cut])
    got = run_contract(p, chunk)
    if cut < len(MAGIC):
        assert got is None
        return
    assert got is not None
    if cut >= start:
        k = intact_records(ends, blobs, cut)
        assert got[0] == whole[0][:k], "not exactly the records before the cut"


@FUZZ
@given(body=st.binary(max_size=2000), with_version=st.booleans(), chunk=chunk_st)
@example(body=b"", with_version=False, chunk=None)
@example(body=b"\x01\x00", with_version=False, chunk=None)
@example(body=b"\x04\x00\xff\xff", with_version=True, chunk=None)
def test_random_bytes_after_the_magic(fuzzdir, body, with_version, chunk):
    p = fuzzdir / "random.trc"
    p.write_bytes(MAGIC + (version_record() if with_version else b"") + body)
    assert run_contract(p, chunk) is not None


@FUZZ
@given(blob=st.binary(max_size=600))
def test_decompress_random_bytes(blob):
    try:
        out = decompress_blob(blob)
    except BlobError as e:
        assert str(e)
        return
    assert len(out) <= 65536


@FUZZ
@given(parts=st.lists(st.one_of(st.binary(max_size=40), st.tuples(st.integers(0, 255), st.integers(1, 5000)).map(
    lambda t: bytes([t[0]]) * t[1])), max_size=12), repeat=st.integers(1, 4))
def test_compress_round_trip(parts, repeat):
    data = (b"".join(parts) * repeat)[:20000]
    assert decompress_blob(sniffer_compress(data)) == data
