"""Tests of the pcapng reader.

Three sources of truth: small files built here with ``struct`` (every block
type, both byte orders, damage of every kind), the shared corpus
(``../shared/corpus``: pcapng-test-generator conformance files, libpcap's
invalid files, MANIFEST.tsv's packet counts) and tshark, whose reading of a
file (time stamps, interface ids, comments, lengths) the reader must match.
"""

from __future__ import annotations

import csv
import gzip
import random
import shutil
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tracedoc.errors import TraceFormatError
from tracedoc.read import open_reader, pcapng
from tracedoc.read.pcapng import _split_ts, ticks_to_ns

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
TSHARK = shutil.which("tshark")

# ------------------------------------------------------------------ builders

ETH = bytes.fromhex(
    "ffffffffffff001122334455080045000024000000004011000001020304050607080035003500100000"
    "6869212121210000")


def pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def opt(code: int, val: bytes, e: str = "<") -> bytes:
    return struct.pack(e + "HH", code, len(val)) + pad4(val)


def opts(items, e: str = "<") -> bytes:
    if not items:
        return b""
    return b"".join(opt(c, v, e) for c, v in items) + struct.pack(e + "HH", 0, 0)


def block(btype: int, body: bytes, e: str = "<", total: int | None = None,
          trailer: int | None = None) -> bytes:
    body = pad4(body)
    n = 12 + len(body)
    return (struct.pack(e + "II", btype, n if total is None else total) + body
            + struct.pack(e + "I", n if trailer is None else trailer))


def shb(e: str = "<", options=(), major: int = 1, minor: int = 0) -> bytes:
    return block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, major, minor, -1)
                 + opts(options, e), e)


def idb(linktype: int = 1, snaplen: int = 0, e: str = "<", options=()) -> bytes:
    return block(1, struct.pack(e + "HHI", linktype, 0, snaplen) + opts(options, e), e)


def epb(iface: int, ts: int, data: bytes = ETH, origlen: int | None = None, e: str = "<",
        options=(), caplen: int | None = None) -> bytes:
    return block(6, struct.pack(e + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF,
                                len(data) if caplen is None else caplen,
                                len(data) if origlen is None else origlen)
                 + pad4(data) + opts(options, e), e)


def spb(data: bytes = ETH, origlen: int | None = None, e: str = "<") -> bytes:
    return block(3, struct.pack(e + "I", len(data) if origlen is None else origlen) + pad4(data), e)


def pb(iface: int, drops: int, ts: int, data: bytes = ETH, origlen: int | None = None,
       e: str = "<", options=()) -> bytes:
    return block(2, struct.pack(e + "HHIIII", iface, drops, ts >> 32, ts & 0xFFFFFFFF, len(data),
                                len(data) if origlen is None else origlen)
                 + pad4(data) + opts(options, e), e)


def isb(iface: int, ts: int, e: str = "<", options=()) -> bytes:
    return block(5, struct.pack(e + "III", iface, ts >> 32, ts & 0xFFFFFFFF) + opts(options, e), e)


def nrb(e: str = "<") -> bytes:
    recs = (struct.pack(e + "HH", 1, 4 + 10) + pad4(bytes([10, 0, 0, 1]) + b"host.test\0")
            + struct.pack(e + "HH", 0, 0))
    return block(4, recs, e)


def dsb(e: str = "<") -> bytes:
    secret = b"CLIENT_RANDOM 00 11\n"
    return block(0x0A, struct.pack(e + "II", 0x544C534B, len(secret)) + pad4(secret), e)


def custom(copy: bool = True, e: str = "<") -> bytes:
    return block(0x00000BAD if copy else 0x40000BAD, struct.pack(e + "I", 32473) + b"xyzw", e)


def tsresol(v: int) -> tuple[int, bytes]:
    return (9, bytes([v]))


def tsoffset(v: int, e: str = "<") -> tuple[int, bytes]:
    return (14, struct.pack(e + "q", v))


def u32(v: int, e: str = "<") -> bytes:
    return struct.pack(e + "I", v)


def u64(v: int, e: str = "<") -> bytes:
    return struct.pack(e + "Q", v)


def write(tmp_path: Path, data: bytes, name: str = "t.pcapng") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


# ------------------------------------------------------------------ reading

class Result:
    def __init__(self, path: Path, chunk_size: int | None = None,
                 max_batch: int | None = None, monkeypatch=None) -> None:
        if max_batch is not None:
            monkeypatch.setattr(pcapng, "MAX_BATCH_RECORDS", max_batch)
        r = open_reader(path, chunk_size=chunk_size) if chunk_size else open_reader(path)
        self.info = r.info
        self.batches = list(r.batches())
        cols = ("offset", "caplen", "origlen", "ts_ns", "linktype", "interface_id", "record_offset")
        self.n = sum(len(b) for b in self.batches)
        for c in cols:
            vals = [getattr(b, c) for b in self.batches]
            setattr(self, c, np.concatenate(vals) if vals else np.zeros(0, dtype=np.int64))
        self.packets = [b.packet_bytes(i) for b in self.batches for i in range(len(b))]
        self.meta = {k: [v for b in self.batches for v in b.meta[k].to_pylist()]
                     for k in pcapng.META_KEYS} if self.batches else {k: [] for k in pcapng.META_KEYS}

    @property
    def errors(self) -> list[str]:
        return [str(e) for e in self.info.errors]

    def rows(self) -> list[tuple]:
        return list(zip(self.ts_ns.tolist(), self.interface_id.tolist(), self.meta["frame.comment"],
                        self.caplen.tolist(), self.origlen.tolist()))


def read(path: Path, **kw) -> Result:
    return Result(path, **kw)


# ------------------------------------------------------------------ tshark

def _unescape(s: str) -> str:
    out = []
    i = 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            out.append({"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}.get(s[i + 1], s[i + 1]))
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def _epoch_ns(s: str) -> int | None:
    if not s:
        return None
    neg = s.startswith("-")
    whole, _, frac = s.lstrip("-").partition(".")
    v = int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])
    return -v if neg else v


@lru_cache(maxsize=None)
def tshark_rows(path: str) -> tuple[tuple, ...]:
    """(ts_ns or None, interface_id, comment or None, caplen, origlen) of
    each packet tshark reads (records without an interface, such as custom
    blocks tshark 4.0 shows as frames, are left out)."""
    out = subprocess.run(
        [TSHARK, "-n", "-r", path, "-T", "fields", "-E", "aggregator=\x1e",
         "-e", "frame.time_epoch", "-e", "frame.interface_id", "-e", "frame.comment",
         "-e", "frame.cap_len", "-e", "frame.len"],
        capture_output=True, text=True, errors="replace", check=False).stdout
    rows = []
    for line in out.split("\n")[:-1]:
        t, i, c, cl, ol = line.split("\t")
        if not i:
            continue
        # empty opt_comments are dropped by the reader; tshark lists them
        parts = [_unescape(x) for x in c.split("\x1e") if x]
        comment = "\n".join(parts) if parts else None
        rows.append((_epoch_ns(t), int(i), comment, int(cl), int(ol)))
    return tuple(rows)


def need_tshark() -> None:
    if TSHARK is None:
        pytest.skip("tshark is not installed: cannot compare with Wireshark's reading")


def assert_matches_tshark(path: Path, res: Result | None = None) -> None:
    need_tshark()
    res = res or read(path)
    theirs = list(tshark_rows(str(path)))
    ours = res.rows()
    assert len(ours) == len(theirs), (len(ours), len(theirs))
    for k, (a, b) in enumerate(zip(ours, theirs)):
        if b[0] is None:  # SPB: no time stamp (Wireshark's record time is 0)
            assert a[0] == 0, k
            a = (None,) + a[1:]
        assert a == b, (k, a, b)


def need_corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"shared capture corpus not found at {CORPUS}")
    return CORPUS


# ======================================================================
# Sniffing and the simplest files
# ======================================================================

def test_sniff():
    assert pcapng.sniff(shb())
    assert not pcapng.sniff(b"\xd4\xc3\xb2\xa1" + b"\0" * 20)


def test_minimal_file(tmp_path):
    p = write(tmp_path, shb(options=[(1, b"hello"), (1, b"world")]) + idb(snaplen=96)
              + epb(0, 1_600_000_000_123_456) + epb(0, 1_600_000_001_000_000, ETH[:20], origlen=60))
    r = read(p)
    assert r.errors == []
    assert r.info.format == "pcapng"
    assert r.info.version == "1.0"
    assert r.info.byte_order == "little"
    assert r.info.sections == 1
    assert r.info.comments == ["hello", "world"]
    assert r.info.blocks == {"SHB": 1, "IDB": 1, "EPB": 2}
    assert r.n == 2
    assert r.ts_ns.tolist() == [1_600_000_000_123_456_000, 1_600_000_001_000_000_000]
    assert r.caplen.tolist() == [len(ETH), 20]
    assert r.origlen.tolist() == [len(ETH), 60]
    assert r.packets == [ETH, ETH[:20]]
    assert r.linktype.tolist() == [1, 1]
    assert r.interface_id.tolist() == [0, 0]
    assert r.record_offset.tolist() == [len(shb(options=[(1, b"hello"), (1, b"world")])) + 20,
                                        r.record_offset[0] + len(epb(0, 0))]
    [i] = r.info.interfaces
    assert (i.id, i.linktype, i.linktype_name, i.snaplen, i.section, i.tsresol) == (
        0, 1, "ETHERNET", 96, 0, 6)
    b = r.batches[0]
    assert b.first_number == 1
    assert b.offset.dtype == np.int64 and b.ts_ns.dtype == np.int64
    assert b.linktype.dtype == np.int32 and b.interface_id.dtype == np.int32
    assert_matches_tshark(p, r)


def test_only_shb_and_empty_sections(tmp_path):
    p = write(tmp_path, shb() + shb(">") + idb(e=">") + shb())
    r = read(p)
    assert r.errors == [] and r.n == 0 and r.batches == []
    assert r.info.sections == 3
    assert [(i.section, i.id) for i in r.info.interfaces] == [(1, 0)]


def test_version_1_2_accepted(tmp_path):
    r = read(write(tmp_path, shb(minor=2) + idb() + epb(0, 5)))
    assert r.errors == [] and r.n == 1 and r.info.version == "1.2"


# ======================================================================
# Sections, byte orders, interfaces
# ======================================================================

def _multi_section() -> bytes:
    return (
        shb(">", options=[(1, b"big section")])
        + idb(1, 0, ">", options=[(2, b"eth0"), (3, b"first NIC"), tsresol(9)])
        + epb(0, 1_600_000_000_000_000_001, e=">", options=[(1, b"be packet")])
        + idb(101, 64, ">", options=[(2, b"tun0")])
        + epb(1, 1_600_000_000_500_000, ETH[14:], e=">")
        + shb("<", options=[(1, b"little section")])
        + idb(0, 0, "<", options=[(2, b"lo")])
        + idb(1, 0, "<", options=[(2, b"eth9"), tsresol(0x80 | 20), tsoffset(1_600_000_000)])
        + epb(1, (5 << 20) + 12345)
        + epb(0, 1_600_000_002_000_000, b"\x02\0\0\0" + ETH[14:])
        + shb(">")
        + idb(1, 0, ">", options=[tsresol(3)])
        + spb(ETH, e=">")
        + epb(0, 1_600_000_003_250, e=">")
    )


def test_sections_byte_orders_and_interfaces(tmp_path):
    p = write(tmp_path, _multi_section())
    r = read(p)
    assert r.errors == []
    assert r.info.sections == 3
    assert r.info.byte_order == "big"  # the first section's
    assert r.info.comments == ["big section", "little section"]
    assert r.info.blocks == {"SHB": 3, "IDB": 5, "EPB": 5, "SPB": 1}
    got = [(i.section, i.id, i.linktype, i.snaplen, i.name, i.description, i.tsresol, i.tsoffset)
           for i in r.info.interfaces]
    assert got == [
        (0, 0, 1, 0, "eth0", "first NIC", 9, 0),
        (0, 1, 101, 64, "tun0", None, 6, 0),
        (1, 0, 0, 0, "lo", None, 6, 0),
        (1, 1, 1, 0, "eth9", None, -20, 1_600_000_000),
        (2, 0, 1, 0, None, None, 3, 0),
    ]
    assert r.interface_id.tolist() == [0, 1, 1, 0, 0, 0]
    assert r.linktype.tolist() == [1, 101, 1, 0, 1, 1]
    assert r.ts_ns.tolist() == [
        1_600_000_000_000_000_001,
        1_600_000_000_500_000_000,
        1_600_000_005_000_000_000 + 12345 * 10**9 // 2**20,
        1_600_000_002_000_000_000,
        0,  # SPB: no time stamp
        1_600_000_003_250_000_000,
    ]
    assert r.meta["frame.comment"] == ["be packet", None, None, None, None, None]
    assert r.packets[1] == ETH[14:]
    assert_matches_tshark(p, r)


# ======================================================================
# Time stamps
# ======================================================================

@pytest.mark.parametrize("resol", [0, 1, 3, 6, 9, 0x80 | 0, 0x80 | 1, 0x80 | 10, 0x80 | 20,
                                   0x80 | 30, 0x80 | 32])
def test_tsresol_matches_tshark(tmp_path, resol):
    binary = bool(resol & 0x80)
    exp = resol & 0x7F
    units = 2**exp if binary else 10**exp
    ticks = [1_500_000_000 * units, 1_500_000_000 * units + units - 1,
             1_500_000_000 * units + units // 3, 1_700_000_000 * units + 7]
    data = shb() + idb(options=[tsresol(resol)]) + b"".join(epb(0, t) for t in ticks)
    p = write(tmp_path, data)
    r = read(p)
    assert r.errors == []
    assert r.ts_ns.tolist() == [ticks_to_ns(t, binary, exp) for t in ticks]
    assert r.info.interfaces[0].tsresol == (-exp if binary else exp)
    assert_matches_tshark(p, r)


def test_fine_resolutions_are_exact(tmp_path):
    """2**-40 and 10**-12: Wireshark 4.0's 64-bit product overflows here;
    the reader gives the exact, truncated value (as current Wireshark)."""
    t1 = (10_000_000 << 40) + (1 << 39) + 12345
    t2 = 10_000_000 * 10**12 + 123_456_789_012
    p = write(tmp_path, shb() + idb(options=[tsresol(0x80 | 40)]) + idb(options=[tsresol(12)])
              + epb(0, t1) + epb(1, t2))
    r = read(p)
    assert r.ts_ns.tolist() == [10_000_000_500_000_011, 10_000_000_123_456_789]


def test_tsoffset_and_negative_times(tmp_path):
    p = write(tmp_path, shb() + idb(options=[tsoffset(1000)]) + idb(options=[tsoffset(-1000),
                                                                              tsresol(0)])
              + epb(0, 5_500_000) + epb(1, 5))
    r = read(p)
    assert r.ts_ns.tolist() == [1_005_500_000_000, -995_000_000_000]
    assert [i.tsoffset for i in r.info.interfaces] == [1000, -1000]
    assert_matches_tshark(p, r)


def test_tsresol_option_of_wrong_length_is_ignored(tmp_path):
    p = write(tmp_path, shb() + idb(options=[(9, b"\x09\x09")]) + epb(0, 5_500_000))
    r = read(p)
    assert r.errors == [] and r.ts_ns.tolist() == [5_500_000_000]
    assert_matches_tshark(p, r)


def test_absurd_resolutions_do_not_fail(tmp_path):
    p = write(tmp_path, shb() + idb(options=[tsresol(20)]) + idb(options=[tsresol(0x80 | 70)])
              + epb(0, 2**64 - 1) + epb(1, 2**64 - 1))
    r = read(p)
    assert r.errors == []
    assert r.ts_ns.tolist() == [ticks_to_ns(2**64 - 1, False, 20), ticks_to_ns(2**64 - 1, True, 70)]


def test_out_of_range_times_are_clamped_with_a_warning(tmp_path):
    r = read(write(tmp_path, shb() + idb(options=[tsresol(0)]) + epb(0, 2**63)))
    assert r.errors == []
    assert r.ts_ns.tolist() == [2**63 - 1]
    assert any("outside the range" in w for w in r.info.warnings)


@pytest.mark.parametrize("binary", [False, True])
def test_vectorised_conversion_is_exact(binary):
    rng = random.Random(1234)
    exps = range(0, 81) if binary else range(0, 31)
    for exp in exps:
        ticks = [0, 1, 2**64 - 1, 2**63, 2**32 - 1, 2**32]
        ticks += [rng.getrandbits(64) for _ in range(200)]
        units = 2**exp if binary else 10**exp
        ticks += [min(2**64 - 1, units * k + units - 1) for k in (0, 1, 12345)]
        secs, ns = _split_ts(np.array(ticks, dtype=np.uint64), binary, exp)
        for t, s, n in zip(ticks, secs.tolist(), ns.tolist()):
            want_s, frac = divmod(t, units)
            assert (s, n) == (want_s, frac * 10**9 // units), (exp, t)


# ======================================================================
# Packet blocks and their options
# ======================================================================

def test_epb_options_flags_dropcount_comments(tmp_path):
    p = write(tmp_path, shb() + idb()
              + epb(0, 1, options=[(1, b"one"), (1, b"two"), (2, u32(0x48000001)),
                                   (4, u64(12345)), (3, b"\x02abcd"), (5, u64(9)), (6, u32(1)),
                                   (2989, u32(32473) + b"x")])
              + epb(0, 2)
              + epb(0, 3, options=[(2, u32(0))])
              + epb(0, 4, options=[(4, u64(0)), (1, b"caf\xe9"), (1, b"")]))
    r = read(p)
    assert r.errors == []
    assert r.meta["frame.comment"] == ["one\ntwo", None, None, "caf\ufffd"]
    assert r.meta["frame.packet_flags"] == [0x48000001, None, 0, None]
    assert r.meta["frame.drop_count"] == [12345, None, None, 0]
    b = r.batches[0]
    assert b.meta["frame.comment"].type == pa.string()
    assert b.meta["frame.packet_flags"].type == pa.uint32()
    assert b.meta["frame.drop_count"].type == pa.uint64()
    assert_matches_tshark(p, r)


def test_big_endian_options(tmp_path):
    p = write(tmp_path, shb(">") + idb(e=">") + epb(0, 1, e=">", options=[
        (2, u32(0x00000002, ">")), (4, u64(77, ">")), (1, b"be")]))
    r = read(p)
    assert r.errors == []
    assert r.meta == {"frame.comment": ["be"], "frame.packet_flags": [2],
                      "frame.drop_count": [77]}


def test_meta_keys_always_present_and_typed(tmp_path, monkeypatch):
    p = write(tmp_path, shb() + idb() + b"".join(epb(0, k) for k in range(10))
              + epb(0, 11, options=[(1, b"late")]))
    r = read(p, max_batch=4, monkeypatch=monkeypatch)
    assert [len(b) for b in r.batches] == [4, 4, 3]
    for b in r.batches:
        assert set(b.meta) == set(pcapng.META_KEYS)
        assert [b.meta[k].type for k in pcapng.META_KEYS] == [pa.string(), pa.uint32(), pa.uint64()]
        assert all(len(v) == len(b) for v in b.meta.values())
    assert [b.first_number for b in r.batches] == [1, 5, 9]
    assert r.meta["frame.comment"][-1] == "late"


@pytest.mark.parametrize("e", ["<", ">"])
def test_obsolete_packet_block(tmp_path, e):
    p = write(tmp_path, shb(e) + idb(e=e) + idb(101, e=e)
              + pb(0, 7, 1_600_000_000_000_000, e=e, options=[(2, u32(1, e))])
              + pb(1, 0xFFFF, 1_600_000_000_000_001, ETH[14:], e=e)
              + pb(0, 3, 1_600_000_000_000_002, e=e, options=[(4, u64(99, e))]))
    r = read(p)
    assert r.errors == []
    assert r.info.blocks["PB"] == 3
    assert r.interface_id.tolist() == [0, 1, 0]
    assert r.linktype.tolist() == [1, 101, 1]
    assert r.meta["frame.drop_count"] == [7, None, 99]  # the option wins over the field
    assert r.meta["frame.packet_flags"] == [1, None, None]
    assert r.packets == [ETH, ETH[14:], ETH]
    assert_matches_tshark(p, r)


def test_simple_packet_block_lengths(tmp_path):
    p = write(tmp_path, shb() + idb(snaplen=20) + idb(101)
              + spb(ETH[:20], origlen=len(ETH))     # snaplen limits
              + spb(ETH[:10], origlen=10)           # original length limits
              + epb(1, 7))
    r = read(p)
    assert r.errors == []
    assert r.caplen.tolist() == [20, 10, len(ETH)]
    assert r.origlen.tolist() == [len(ETH), 10, len(ETH)]
    assert r.interface_id.tolist() == [0, 0, 1]
    assert r.ts_ns.tolist() == [0, 0, 7000]
    assert r.packets[:2] == [ETH[:20], ETH[:10]]
    assert_matches_tshark(p, r)


def test_spb_caplen_limited_by_block_body(tmp_path):
    r = read(write(tmp_path, shb() + idb() + spb(ETH[:16], origlen=1000)))
    assert r.errors == []
    assert r.caplen.tolist() == [16] and r.origlen.tolist() == [1000]


def test_caplen_greater_than_origlen_is_kept(tmp_path):
    p = write(tmp_path, shb() + idb() + epb(0, 5, origlen=10))
    r = read(p)
    assert r.errors == [] and r.caplen.tolist() == [len(ETH)] and r.origlen.tolist() == [10]
    assert_matches_tshark(p, r)


# ======================================================================
# Non-packet blocks
# ======================================================================

def test_other_blocks_are_counted_and_skipped(tmp_path):
    p = write(tmp_path, shb() + custom() + idb() + nrb() + dsb() + custom(False) + epb(0, 1)
              + block(0x12345678, b"unknown!") + block(0x80000001, b"local") + isb(0, 2)
              + epb(0, 3))
    r = read(p)
    assert r.errors == []
    assert r.n == 2
    assert r.info.blocks == {"SHB": 1, "custom": 2, "IDB": 1, "NRB": 1, "DSB": 1, "EPB": 2,
                             "unknown": 2, "ISB": 1}
    assert_matches_tshark(p, r)


def test_interface_statistics(tmp_path):
    p = write(tmp_path, shb() + idb() + idb(options=[tsresol(9)])
              + isb(0, 1_000_000, options=[(2, u32(0) + u32(500_000)), (4, u64(100)),
                                           (5, u64(3)), (1, b"first report")])
              + epb(0, 1)
              + isb(0, 2_000_000, options=[(3, u32(0) + u32(1_500_000)), (4, u64(150)),
                                           (6, u64(140)), (7, u64(1)), (8, u64(139))])
              + isb(1, 5, options=[(4, b"bad")])   # wrong-size statistic: ignored
              + isb(9, 5))                          # unknown interface: ignored, warned
    r = read(p)
    assert r.errors == []
    s0, s1 = (i.stats for i in r.info.interfaces)
    assert s0 == {"timestamp": 2_000_000_000, "isb_starttime": 500_000_000,
                  "isb_endtime": 1_500_000_000, "isb_ifrecv": 150, "isb_ifdrop": 3,
                  "isb_filteraccept": 140, "isb_osdrop": 1, "isb_usrdeliv": 139,
                  "isb_comment": "first report"}
    assert s1 == {"timestamp": 5}
    assert any("ISB" in w and "interface id 9" in w for w in r.info.warnings)


def test_interface_options(tmp_path):
    r = read(write(tmp_path, shb() + idb(options=[(13, b"\x20"), (2, b"a"), (2, b"b")])
                   + idb(options=[(13, b"\x04")]) + idb(12) + idb()))
    assert r.errors == []
    assert [i.fcs_len for i in r.info.interfaces] == [4, 4, None, None]
    assert r.info.interfaces[0].name == "a"
    assert r.info.interfaces[2].linktype == 101  # DLT_RAW written as LINKTYPE


def test_total_length_without_padding_is_rounded_up(tmp_path):
    """Wireshark rounds a block length up to a multiple of 4; tshark 4.0
    reads such files, so they are not damage (a warning says so)."""
    raw = bytearray(epb(0, 1_600_000_000_000_000, ETH[:42]))
    n = len(raw)
    struct.pack_into("<I", raw, 4, n - 2)
    struct.pack_into("<I", raw, n - 4, n - 2)
    p = write(tmp_path, shb() + idb() + bytes(raw) + epb(0, 1_600_000_000_000_001))
    r = read(p)
    assert r.errors == []
    assert r.n == 2
    assert any("not a multiple of 4" in w for w in r.info.warnings)
    assert_matches_tshark(p, r)


# ======================================================================
# Streaming: chunk sizes and batch sizes do not change the result
# ======================================================================

def test_chunk_sizes_do_not_matter(tmp_path, monkeypatch):
    # _multi_section() ends in a big-endian section: more packets there
    data = _multi_section() + b"".join(
        epb(0, 1_600_000_010_000 + k, ETH[: 14 + k % 30], e=">",
            options=[(1, b"c%d" % k)] if k % 7 == 0 else ()) for k in range(200)) + spb(ETH, e=">")
    p = write(tmp_path, data)
    ref = read(p)
    assert ref.errors == [] and ref.n == 207
    for chunk in (16, 64, 100, 1000, 4096):
        r = read(p, chunk_size=chunk)
        assert r.errors == [], chunk
        assert r.rows() == ref.rows(), chunk
        assert r.packets == ref.packets, chunk
        assert r.record_offset.tolist() == ref.record_offset.tolist()
        assert r.meta == ref.meta
        assert r.info.blocks == ref.info.blocks
    r = read(p, max_batch=5, monkeypatch=monkeypatch)
    assert r.rows() == ref.rows() and r.packets == ref.packets
    assert [b.first_number for b in r.batches][:3] == [1, 6, 11]


def test_gzip_compressed(tmp_path):
    data = _multi_section()
    p = tmp_path / "t.pcapng.gz"
    p.write_bytes(gzip.compress(data))
    r = read(p)
    ref = read(write(tmp_path, data))
    assert r.info.compression == "gzip"
    assert r.errors == [] and r.rows() == ref.rows()


def test_truncated_gzip_stream(tmp_path):
    data = shb() + idb() + b"".join(epb(0, k) for k in range(100))
    p = tmp_path / "t.pcapng.gz"
    p.write_bytes(gzip.compress(data)[:-30])
    r = read(p, chunk_size=64)
    assert len(r.errors) == 1
    assert 0 < r.n < 100


# ======================================================================
# Damage: whole blocks before the fault are yielded, then one error
# ======================================================================

GOOD = shb() + idb() + epb(0, 1) + epb(0, 2, options=[(1, b"x")])


def damaged(tmp_path, tail: bytes, chunk_size: int | None = None) -> Result:
    r = read(write(tmp_path, GOOD + tail), chunk_size=chunk_size)
    assert r.n >= 2
    assert r.packets[:2] == [ETH, ETH]
    assert len(r.info.errors) == 1, r.errors
    return r


def test_every_truncation_point(tmp_path):
    data = GOOD + spb() + nrb() + epb(0, 3)
    starts = []
    pos = 0
    while pos < len(data):
        starts.append(pos)
        pos += struct.unpack_from("<I", data, pos + 4)[0]
    for cut in range(4, len(data) + 1):  # fewer than 4 bytes: not sniffed as pcapng
        for chunk in (None, 24):
            r = read(write(tmp_path, data[:cut]), chunk_size=chunk)
            whole = [s for s in starts if s + struct.unpack_from("<I", data, s + 4)[0] <= cut]
            n_pkts = sum(1 for s in whole if struct.unpack_from("<I", data, s)[0] in (3, 6))
            assert r.n == n_pkts, (cut, chunk)
            if (cut == len(data) or cut in starts) and cut >= len(shb()):
                assert r.errors == [], (cut, r.errors)
            else:
                assert len(r.info.errors) == 1, (cut, r.errors)
                assert "truncated" in r.errors[0]


def test_truncated_block_message(tmp_path):
    e = epb(0, 3)
    r = damaged(tmp_path, e[:-10])
    off = len(GOOD)
    assert r.errors == [f"truncated block at offset {off}: header says {len(e)} bytes, "
                        f"{len(e) - 10} left (EPB)"]
    assert r.info.errors[0].offset == off


def test_truncated_block_header(tmp_path):
    r = damaged(tmp_path, b"\x06\0\0")
    assert r.errors == [f"truncated block header at offset {len(GOOD)}: 3 of 8 bytes"]


def test_trailer_mismatch(tmp_path):
    r = damaged(tmp_path, block(6, epb(0, 3)[8:-4], trailer=40) + epb(0, 4))
    n = len(epb(0, 3))
    assert r.errors == [f"block at offset {len(GOOD)} (EPB): trailing length 40 does not match {n}"]
    assert r.n == 2


def test_trailer_mismatch_of_other_blocks(tmp_path):
    r = damaged(tmp_path, block(0x0BAD, b"abcdefgh", trailer=8) + epb(0, 4))
    assert "trailing length 8 does not match 20" in r.errors[0]
    r = damaged(tmp_path, block(1, struct.pack("<HHI", 1, 0, 0), trailer=4) + epb(1, 4))
    assert "trailing length 4" in r.errors[0]
    assert len(r.info.interfaces) == 1  # the damaged IDB is not added


def test_length_below_minimum(tmp_path):
    r = damaged(tmp_path, struct.pack("<III", 6, 8, 8))
    assert r.errors == [f"block at offset {len(GOOD)} (EPB): total length 8 is less than the "
                        f"minimum block size 12"]
    r = damaged(tmp_path, struct.pack("<IIII", 6, 16, 0, 16))
    assert r.errors == [f"EPB at offset {len(GOOD)}: total length 16 is less than the minimum "
                        f"EPB size 32"]
    r = damaged(tmp_path, struct.pack("<III", 1, 7, 7) + b"\0" * 8)
    assert "total length 7 is less than the minimum block size 12" in r.errors[0]


def test_absurd_length_is_not_allocated(tmp_path):
    raw = bytearray(epb(0, 3))
    struct.pack_into("<I", raw, 4, 0x7FFFFFF0)
    r = damaged(tmp_path, bytes(raw), chunk_size=4096)
    assert r.errors == [f"block at offset {len(GOOD)} (EPB): total length 2147483632 is too "
                        f"large (> {pcapng.MAX_BLOCK_SIZE})"]
    raw = bytearray(block(0x0BAD, b"abcd"))
    struct.pack_into("<I", raw, 4, 0xFFFFFFFF)
    r = damaged(tmp_path, bytes(raw), chunk_size=4096)
    assert "too large" in r.errors[0]


def test_lying_caplen(tmp_path):
    raw = bytearray(epb(0, 3))
    struct.pack_into("<I", raw, 20, 1000)
    r = damaged(tmp_path, bytes(raw))
    assert r.errors == [f"EPB at offset {len(GOOD)}: captured length 1000 does not fit in the "
                        f"block (total length {len(raw)})"]


def test_caplen_over_linktype_maximum(tmp_path):
    r = damaged(tmp_path, epb(0, 3, b"\0" * 300_000))
    assert r.errors == [f"EPB at offset {len(GOOD)}: captured length 300000 exceeds the maximum "
                        f"of 262144 for link type 1"]


def test_undefined_interface(tmp_path):
    r = damaged(tmp_path, idb() + epb(3, 3))
    assert r.errors == [f"EPB at offset {len(GOOD) + len(idb())}: interface id 3 not defined "
                        f"(2 interfaces in section)"]
    r = damaged(tmp_path, pb(1, 0, 3))
    assert "PB at offset" in r.errors[0] and "interface id 1 not defined" in r.errors[0]


def test_interfaces_do_not_survive_a_new_section(tmp_path):
    r = damaged(tmp_path, shb() + epb(0, 3))
    assert r.errors == [f"EPB at offset {len(GOOD) + len(shb())}: interface id 0 not defined "
                        f"(0 interfaces in section)"]
    r = damaged(tmp_path, shb() + spb())
    assert "SPB at offset" in r.errors[0] and "no interface" in r.errors[0]


def test_unsupported_version_mid_file(tmp_path):
    r = damaged(tmp_path, shb(minor=1) + idb() + epb(0, 1))
    assert r.errors == [f"SHB at offset {len(GOOD)}: unsupported version 1.1"]
    assert r.info.sections == 1


def test_bad_byte_order_magic_mid_file(tmp_path):
    s = bytearray(shb())
    s[8:12] = b"abcd"
    r = damaged(tmp_path, bytes(s))
    assert r.errors == [f"SHB at offset {len(GOOD)}: unknown byte-order magic 0x61626364"]


def test_unknown_link_type_is_read_like_tshark(tmp_path):
    r = read(write(tmp_path, GOOD + idb(5000) + epb(1, 3)))
    assert r.errors == []
    assert r.n == 3
    assert r.packets[:2] == [ETH, ETH]
    assert any("unknown link type 5000" in w for w in r.info.warnings)


def test_option_runs_past_block(tmp_path):
    raw = bytearray(epb(0, 3, options=[(1, b"abcd")]))
    opt_at = 8 + 20 + len(pad4(ETH))
    struct.pack_into("<H", raw, opt_at + 2, 12336)
    r = damaged(tmp_path, bytes(raw))
    off = len(GOOD)
    assert r.errors == [f"option at offset {off + opt_at}: length 12336 runs past the end of the "
                        f"block (EPB at offset {off})"]


@pytest.mark.parametrize("code,value,what", [
    (2, b"abc", "flags option length 3 is not 4"),
    (4, b"abcd", "drop count option length 4 is not 8"),
    (5, b"abcd", "packet id option length 4 is not 8"),
    (6, b"ab", "queue option length 2 is not 4"),
    (7, b"", "verdict option length 0 is less than 1"),
    (7, b"\x01abc", "verdict option of type 1 has length 4, not 9"),
    (2988, b"ab", "custom option length 2 is less than 4"),
])
def test_bad_packet_options(tmp_path, code, value, what):
    r = damaged(tmp_path, epb(0, 3, options=[(code, value)]))
    assert what in r.errors[0]


@pytest.mark.parametrize("tail,what", [
    (block(4, struct.pack("<HH", 1, 200) + b"abcd"), "runs past the end of the block"),
    (block(4, struct.pack("<HH", 1, 2) + b"ab\0\0"), "IPv4 record at offset"),
    (block(4, struct.pack("<HH", 2, 20) + b"\0" * 16 + b"abcd"), "without a terminating NUL"),
    (block(0x0A, struct.pack("<II", 1, 100) + b"abcd"), "secrets length 100 runs past"),
    (block(0x0A, b"ab"), "less than the minimum DSB size 20"),
    (block(0x0BAD, b""), "less than the minimum custom size 16"),
    (block(5, b"abcd"), "less than the minimum ISB size 24"),
    (block(1, struct.pack("<HHI", 1, 0, 0) + opts([(11, b"")])), "filter option length 0"),
    (struct.pack("<III", 0, 0, 0), "total length 0 is less than the minimum block size 12"),
])
def test_damaged_other_blocks(tmp_path, tail, what):
    r = damaged(tmp_path, tail + epb(0, 9))
    assert what in r.errors[0]
    assert r.n == 2


def test_fault_in_the_middle_of_a_big_run(tmp_path, monkeypatch):
    good = b"".join(epb(0, k) for k in range(50))
    raw = bytearray(epb(0, 99))
    struct.pack_into("<I", raw, len(raw) - 4, 12)
    p = write(tmp_path, shb() + idb() + good + bytes(raw) + good)
    for mb in (None, 7):
        r = read(p, max_batch=mb, monkeypatch=monkeypatch) if mb else read(p)
        assert r.n == 50
        assert r.ts_ns.tolist() == [k * 1000 for k in range(50)]
        assert len(r.errors) == 1 and "trailing length 12" in r.errors[0]
        assert r.info.blocks["EPB"] == 50


def test_damaged_first_section(tmp_path):
    for data, what in [
        (shb(minor=1) + idb(), "SHB at offset 0: unsupported version 1.1"),
        (shb(major=2), "SHB at offset 0: unsupported version 2.0"),
        (shb()[:20], "truncated block at offset 0: header says 28 bytes, 20 left (SHB)"),
        (shb()[:10], "truncated block at offset 0 (SHB): 10 bytes left, at least 28 needed"),
        (b"\x0a\x0d\x0d\x0a\x1c\0\0\0wxyz" + b"\0" * 16, "unknown byte-order magic"),
    ]:
        r = read(write(tmp_path, data))
        assert r.n == 0 and r.batches == []
        assert len(r.errors) == 1 and what in r.errors[0], (what, r.errors)


# ======================================================================
# Corpus
# ======================================================================

GENERATOR = "pcapng-test-generator"


def _generator_files() -> list[str]:
    d = CORPUS / GENERATOR
    if not d.is_dir():
        return []
    return sorted(str(p.relative_to(CORPUS)) for p in d.rglob("*.pcapng"))


def _manifest() -> list[dict[str, str]]:
    m = CORPUS / "MANIFEST.tsv"
    if not m.is_file():
        return []
    with m.open(newline="") as f:
        return [r for r in csv.DictReader(f, delimiter="\t") if r["format"].startswith("pcapng")]


def _tshark_read_error(row: dict[str, str]) -> bool:
    # The column also holds dissector warnings ("** (tshark:...) ... Dissector
    # bug ..."), which are not read errors: tshark read every packet.
    return row["tshark_read_error"].startswith("tshark:")


_MANIFEST = _manifest()


def _block_counts(txt: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    names = {"CB": "custom", "DCB": "custom"}
    in_counts = False
    for line in txt.read_text().splitlines():
        if line.startswith("Block counts"):
            in_counts = True
            continue
        if in_counts:
            if not line.startswith("\t"):
                break
            k, v = line.strip().split(":")
            k = names.get(k, k)
            counts[k] = counts.get(k, 0) + int(v)
    return counts


@pytest.mark.corpus
@pytest.mark.parametrize("rel", _generator_files() or ["<missing>"])
def test_pcapng_test_generator(rel, warm_tshark):
    root = need_corpus()
    if rel == "<missing>":
        pytest.skip(f"{GENERATOR} not found under {root}")
    path = root / rel
    r = read(path)
    assert r.errors == []
    counts = _block_counts(path.with_suffix(".txt"))
    assert r.info.blocks == counts
    assert r.info.sections == counts["SHB"]
    assert len(r.info.interfaces) == counts.get("IDB", 0)
    assert r.n == counts.get("EPB", 0) + counts.get("SPB", 0)
    # the other byte order holds the same file
    other = "output_le" if "output_be" in rel else "output_be"
    twin = read(root / rel.replace("output_be", other).replace("output_le", other))
    assert twin.rows() == r.rows()
    assert twin.packets == r.packets
    assert_matches_tshark(path, r)


@pytest.mark.corpus
def test_generator_details():
    root = need_corpus() / GENERATOR
    if not root.is_dir():
        pytest.skip(f"{GENERATOR} not found")
    r = read(root / "output_le/basic/test009.pcapng")
    assert r.meta == {"frame.comment": ["test009-1", "test009-2"],
                      "frame.packet_flags": [0, 0x48000000], "frame.drop_count": [0, 12345]}
    assert r.info.comments == ["test009"]
    r = read(root / "output_be/basic/test008.pcapng")
    assert [(i.name, i.description, i.snaplen, i.tsresol) for i in r.info.interfaces] == [
        ("eth-_0 foo", "silly ethernet interface", 96, 9),
        ("en1", "silly ethernet interface 2", 128, 9)]
    r = read(root / "output_le/difficult/test202.pcapng")
    assert r.info.byte_order == "little"
    assert [(i.section, i.id) for i in r.info.interfaces] == [(0, 0), (0, 1), (1, 0), (2, 0), (2, 1)]
    assert r.interface_id.tolist() == [0, 0, 1, 0, 0, 0, 0, 1]
    r = read(root / "output_le/advanced/test101.pcapng")
    s = r.info.interfaces[0].stats
    assert s["isb_ifrecv"] == 100 and s["isb_starttime"] == 1_340_954_905_298_858_000


LIBPCAP_EXPECTED = {
    "pcapng-invalid-vers-1.pcapng": "SHB at offset 0: unsupported version 0.1",
    "pcapng-invalid-vers-2.pcapng": "SHB at offset 0: unsupported version 1.1",
    "shb-option-too-long.pcapng": ("option at offset 24: length 12336 runs past the end of the "
                                   "block (SHB at offset 0)"),
}


@pytest.mark.corpus
def test_libpcap_invalid_files():
    d = need_corpus() / "libpcap" / "tests"
    files = sorted(d.rglob("*.pcapng"))
    if not files:
        pytest.skip("libpcap/tests has no pcapng files")
    for f in files:
        r = read(f)
        want = LIBPCAP_EXPECTED.get(f.name)
        if want is None:
            assert r.errors == [], f
            assert_matches_tshark(f, r)
        else:
            assert r.errors == [want], f
            assert r.n == 0


@pytest.mark.corpus
@pytest.mark.parametrize("row", _MANIFEST or [None], ids=lambda r: r["path"] if r else "missing")
def test_manifest_pcapng(row):
    root = need_corpus()
    if row is None:
        pytest.skip("MANIFEST.tsv lists no pcapng files")
    path = root / row["path"]
    if not path.is_file():
        pytest.skip(f"{row['path']} is not in this corpus snapshot")
    try:
        r = read(path)
    except TraceFormatError as e:
        assert _tshark_read_error(row), f"{row['path']}: {e}"
        return
    if _tshark_read_error(row):
        assert r.info.errors, row["path"]
    else:
        assert r.errors == [], row["path"]
        assert r.n == int(row["packets"] or 0), row["path"]


# Files outside pcapng-test-generator whose every packet is compared with
# tshark: several interfaces, link types, gzip, bigger files.
TSHARK_SAMPLE = [
    "zeek/testing/btest/Traces/ldap/gap-data-missing.pcapng",
    "zeek/testing/btest/Traces/pcapng-multi-interface.pcapng",
    "zeek/testing/btest/Traces/snap-arp.pcapng",
    "zeek/testing/btest/Traces/irc-dcc-send.pcapng",
    "zeek/testing/btest/Traces/contentline/telnet-long-line-no-eol.pcapng.gz",
    "scapy/test/pcaps/ecu_trace.pcap.gz",
    "scapy/test/pcaps/pfcp.pcap",
    "tcpdump/tests/time_2106_overflow.pcapng",
    "tcpdump/tests/time_2107.pcapng",
    "tcpdump/tests/vsock-1.pcapng",
    "tcpdump/tests/of13_ericsson.pcapng",
]


@pytest.mark.corpus
@pytest.mark.parametrize("rel", TSHARK_SAMPLE)
def test_corpus_sample_matches_tshark(rel, warm_tshark):
    path = need_corpus() / rel
    if not path.is_file():
        pytest.skip(f"{rel} is not in this corpus snapshot")
    need_tshark()
    r = read(path)
    assert r.errors == []
    assert_matches_tshark(path, r)
    small = read(path, chunk_size=1000)
    assert small.rows() == r.rows() and small.packets == r.packets


@pytest.fixture(scope="module")
def warm_tshark():
    """Run tshark on the corpus files the tests compare, a few at a time."""
    if TSHARK is None or not CORPUS.is_dir():
        yield
        return
    files = [str(CORPUS / f) for f in _generator_files()]
    files += [str(CORPUS / f) for f in TSHARK_SAMPLE if (CORPUS / f).is_file()]
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(tshark_rows, files))
    yield
