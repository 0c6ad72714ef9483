"""Property tests: bad input never crashes tracedoc and never loses data.

Whatever bytes ``open_reader`` is given, it either refuses the file with a
:class:`TraceFormatError` or yields frame batches, with any damage named (with
its byte offset) in ``info.errors``; every record wholly before the first
damaged byte is kept exactly.  Every batch it yields decodes, without an
exception, into a RecordBatch with one row per frame.  A header cut short or
holding a bogus value gives ``_ws.malformed`` on its packet and keeps the
fields decoded before the fault.

Inputs are random bytes, and valid pcap / pcapng files built here (both byte
orders, usec and nsec resolution, modified pcap) that are then mutated,
truncated, compressed.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct

import numpy as np
import pyarrow as pa
import pytest
import zstandard
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tests.support.pcapgen import (PACKETS, Rec, expected_frames, ng_idb, ng_shb, pcap_file, pcap_header,
                                   pcapng_file, records)
from tracedoc.decode.table import APP_COLUMNS, SCHEMA, Decoder
from tracedoc.errors import TraceFormatError
from tracedoc.read import open_reader
from tracedoc.read.batch import FrameBatch
from tests.support.mutations import mutate, mutations
from tests.support.compression import decompressor

FUZZ = settings(max_examples=200, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


# ----------------------------------------------------------- the contract

def run_contract(path, chunk_size: int | None = None):
    """Read and decode ``path`` end to end, checking every rule of the
    contract on the way.  Returns (frames, info), or None when the file is
    refused at open."""
    kw = {"chunk_size": chunk_size} if chunk_size else {}
    try:
        reader = open_reader(path, **kw)
    except TraceFormatError as e:
        assert str(e), "a refusal must say why"
        assert e.offset is None or e.offset >= 0
        event("refused at open")
        return None
    frames = []
    dec = Decoder()
    number = 1
    last_offset = -1
    for b in reader.batches():
        assert isinstance(b, FrameBatch)
        n = len(b)
        assert n > 0
        for a in (b.caplen, b.origlen, b.ts_ns, b.linktype, b.interface_id, b.record_offset):
            assert len(a) == n
        assert b.first_number == number
        assert (b.caplen >= 0).all() and (b.offset >= 0).all()
        assert (b.offset + b.caplen <= len(b.data)).all()
        assert (np.diff(b.record_offset) > 0).all() and int(b.record_offset[0]) > last_offset
        last_offset = int(b.record_offset[-1])
        rb = dec.decode(b)
        assert isinstance(rb, pa.RecordBatch)
        assert rb.num_rows == n
        assert rb.schema.equals(SCHEMA)
        np.testing.assert_array_equal(rb.column("frame.number").to_numpy(),
                                      np.arange(number, number + n, dtype=np.uint64))
        np.testing.assert_array_equal(rb.column("frame.cap_len").to_numpy(), b.caplen)
        for i in range(n):
            frames.append((int(b.ts_ns[i]), int(b.caplen[i]), int(b.origlen[i]), b.packet_bytes(i),
                           int(b.record_offset[i]), number + i))
        number += n
    for e in reader.info.errors:
        assert isinstance(e, TraceFormatError)
        assert str(e)
        assert e.offset is None or e.offset >= 0
    # Faults stop the read: at most one is reported.
    assert len(reader.info.errors) <= 1, [str(e) for e in reader.info.errors]
    event(f"read, {'no' if not frames else 'some'} frames, {'damage' if reader.info.errors else 'no damage'}")
    return frames, reader.info


# ------------------------------------------------------------- builders

CONTAINERS = [
    ("pcap", "<", False, False), ("pcap", ">", False, False),
    ("pcap", "<", True, False), ("pcap", ">", True, False),
    ("pcap", "<", False, True), ("pcap", ">", False, True),
    ("pcapng", "<", False, False), ("pcapng", ">", False, False),
    ("pcapng", "<", True, False), ("pcapng", ">", True, False),
]


def build(container, names: list[str]) -> tuple[bytes, list[Rec], list[int], int, list[int]]:
    """(file, records, record offsets, length of the file's own header,
    end offset of every record)."""
    kind, endian, nsec, modified = container
    recs = records(names)
    if kind == "pcap":
        data, offs = pcap_file(recs, endian, nsec=nsec, modified=modified)
        hdr = 24
        ends = [o + (24 if modified else 16) + r.caplen for o, r in zip(offs, recs)]
    else:
        data, offs = pcapng_file(recs, endian, nsec=nsec)
        hdr = len(ng_shb(endian)) + len(ng_idb(1, 0, endian, tsresol=9 if nsec else None))
        ends = [o + 32 + r.caplen + (-r.caplen % 4) for o, r in zip(offs, recs)]
    return data, recs, offs, hdr, ends


INTERESTING_U32 = [0, 1, 15, 16, 24, 32, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 262143, 262144, 262145,
                   0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]

mutation = mutations(1 << 16, INTERESTING_U32, ["<I", ">I"])


def _zstd(d: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(d)


COMPRESS = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress, "zstd": _zstd}


def first_difference(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    x = np.frombuffer(a[:n], np.uint8) != np.frombuffer(b[:n], np.uint8)
    hit = np.flatnonzero(x)
    return int(hit[0]) if len(hit) else n


def check_prefix_kept(frames, recs, offs, ends, intact_upto: int) -> None:
    """Every record ending at or before ``intact_upto`` is read exactly."""
    k = sum(1 for e in ends if e <= intact_upto)
    assert len(frames) >= k, f"only {len(frames)} frames kept, {k} records were intact"
    assert frames[:k] == expected_frames(recs, offs)[:k]


names_st = st.lists(st.sampled_from(list(PACKETS)), min_size=0, max_size=8)
chunk_st = st.sampled_from([None, 1, 7, 64, 4096])


# ------------------------------------------------------------ properties

@FUZZ
@given(data=st.binary(max_size=3000), chunk=chunk_st)
@example(data=b"", chunk=None)
@example(data=b"\xd4\xc3\xb2\xa1", chunk=None)
@example(data=b"\x1f\x8b", chunk=None)
@example(data=b"\x28\xb5\x2f\xfd", chunk=None)
def test_random_bytes(workdir, data, chunk):
    p = workdir / "random.bin"
    p.write_bytes(data)
    run_contract(p, chunk)


PREFIXES = [
    b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xcd\x34",
    pcap_header("<"), pcap_header(">", magic=0xA1B23C4D), pcap_header("<", network=101),
    pcap_header("<", network=113), pcap_header(">", network=276), pcap_header("<", network=0),
    ng_shb("<"), ng_shb(">"), ng_shb("<") + ng_idb(1, 0, "<"), ng_shb(">") + ng_idb(101, 0, ">"),
    b"\x1f\x8b\x08\x00", b"BZh9", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd",
]


@FUZZ
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=3000), chunk=chunk_st)
def test_valid_magic_then_random_bytes(workdir, prefix, body, chunk):
    p = workdir / "magic_random.bin"
    p.write_bytes(prefix + body)
    run_contract(p, chunk)


@FUZZ
@given(container=st.sampled_from(CONTAINERS), names=names_st,
       muts=st.lists(mutation, min_size=1, max_size=4), chunk=chunk_st)
def test_mutated_files(workdir, container, names, muts, chunk):
    data, recs, offs, hdr, ends = build(container, names)
    bad = mutate(data, muts)
    p = workdir / "mutated.bin"
    p.write_bytes(bad)
    got = run_contract(p, chunk)
    intact = first_difference(data, bad)
    if intact >= hdr:
        # The file header survived: the file must be read, and every record
        # before the first changed byte kept.
        assert got is not None, "a file whose header is intact was refused"
        frames, info = got
        check_prefix_kept(frames, recs, offs, ends, intact)
        if bad == data:
            assert frames == expected_frames(recs, offs) and info.errors == []


@FUZZ
@given(container=st.sampled_from(CONTAINERS), names=st.lists(st.sampled_from(list(PACKETS)), min_size=1,
                                                             max_size=8),
       cut=st.integers(0, 1 << 16), chunk=chunk_st)
def test_truncated_files(workdir, container, names, cut, chunk):
    data, recs, offs, hdr, ends = build(container, names)
    cut %= len(data) + 1
    p = workdir / "truncated.bin"
    p.write_bytes(data[:cut])
    got = run_contract(p, chunk)
    if cut < 4:
        assert got is None
        return
    if cut < hdr and got is None:
        return  # a file cut inside its own header may be refused outright
    assert got is not None
    frames, info = got
    whole = sum(1 for e in ends if e <= cut)
    # Exactly the whole records are kept: nothing lost, nothing invented.
    assert frames == expected_frames(recs, offs)[:whole]
    boundaries = {hdr, len(data), *offs}
    if container[0] == "pcapng":
        boundaries.add(len(ng_shb(container[1])))
    if cut in boundaries:
        assert info.errors == []
    else:
        assert len(info.errors) == 1
        assert info.errors[0].offset is not None and info.errors[0].offset <= cut


@FUZZ
@given(container=st.sampled_from(CONTAINERS[:6] + CONTAINERS[6:8]), names=names_st,
       kind=st.sampled_from(list(COMPRESS)), muts=st.lists(mutation, max_size=3),
       after=st.sampled_from(["none", "truncate", "mutate"]), where=st.integers(0, 1 << 16),
       chunk=chunk_st)
def test_compressed_files(workdir, container, names, kind, muts, after, where, chunk):
    data, recs, offs, hdr, ends = build(container, names)
    inner = mutate(data, muts)
    comp = COMPRESS[kind](inner)
    if after == "truncate":
        comp = comp[:where % (len(comp) + 1)]
    elif after == "mutate":
        pos = where % len(comp)
        comp = comp[:pos] + bytes([comp[pos] ^ 0x5A]) + comp[pos + 1:]
    p = workdir / "compressed.bin"
    p.write_bytes(comp)
    got = run_contract(p, chunk)
    if after == "none":
        intact = first_difference(data, inner)
        if intact >= hdr:
            assert got is not None
            check_prefix_kept(got[0], recs, offs, ends, intact)
    elif after == "truncate":
        intact = min(_recoverable(kind, comp), first_difference(data, inner))
        if intact >= hdr:
            assert got is not None
            check_prefix_kept(got[0], recs, offs, ends, intact)


def _recoverable(kind: str, comp: bytes) -> int:
    d = decompressor(kind)
    try:
        return len(d.decompress(comp))
    except Exception:
        return 0


# ----------------------------------------------------- decoding random data

DECODED_LINKTYPES = [0, 1, 9, 12, 14, 50, 101, 104, 108, 113, 228, 229, 276]
ETHERTYPES = [0x0800, 0x0806, 0x86DD, 0x8100, 0x88A8, 0x9100, 0x8847, 0x8848, 0x8864, 0x6558, 0x880B, 0x88BE,
              0x22EB, 0x88E7, 0xD28B, 0x8200, 0x0000, 0x05DC, 0xFFFF]
IPPROTOS = [0, 1, 4, 6, 6, 6, 17, 17, 17, 41, 43, 44, 47, 50, 51, 58, 59, 60, 135, 255]
UDP_PORTS = [2152, 3544, 4789, 6081, 53, 0, 65535]


def _ipv4_over(proto: int, payload: bytes, draw) -> bytes:
    total = draw(st.sampled_from([20 + len(payload)] * 6 + [0, 19, 0xFFFF]))
    flags = draw(st.sampled_from([0x4000] * 6 + [0x2000, 0x2001, 0x0001, 0x1FFF]))
    return struct.pack("!BBHHHBB2s4s4s", 0x45, 0, total & 0xFFFF, draw(st.sampled_from([1, 2, 0xABCD])), flags,
                       64, proto, b"\0\0", bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + payload


@st.composite
def inner_frame(draw) -> bytes:
    """A template frame, perhaps cut and perhaps with a byte changed."""
    base = bytearray(PACKETS[draw(st.sampled_from(list(PACKETS)))])
    if draw(st.booleans()):
        pos = draw(st.integers(0, len(base) - 1))
        base[pos] = draw(st.integers(0, 255))
    return bytes(base[:draw(st.integers(0, len(base)))])


@st.composite
def packet_bytes(draw) -> tuple[str, bytes]:
    """("frame", bytes) for a whole link-layer frame (Ethernet or random), or
    ("ip", bytes) for an IP packet the test wraps in the link type's header.
    Mostly-plausible headers reach deep: tunnels, GRE, fragments, options."""
    shape = draw(st.sampled_from(["random", "eth", "ipv4", "ipv6", "template", "udp", "gre"]))
    tail = draw(st.binary(max_size=120))
    if shape == "random":
        return "frame", tail
    if shape == "template":
        return "frame", draw(inner_frame())
    if shape == "udp":
        port = draw(st.sampled_from(UDP_PORTS))
        kind = draw(st.sampled_from(["vxlan", "geneve", "gtp", "teredo", "raw"]))
        inner = draw(inner_frame())
        if kind == "vxlan":
            body = bytes([0x08, 0, 0, 0, 0, 0x12, 0x34, 0]) + inner
        elif kind == "geneve":
            body = struct.pack("!BBHI", draw(st.integers(0, 255)), 0, draw(st.sampled_from(ETHERTYPES)), 0x5600) + inner
        elif kind == "gtp":
            flags = draw(st.sampled_from([0x30, 0x32, 0x34, 0x36, 0x20, 0x50]))
            body = struct.pack("!BBHI", flags, 0xFF, len(inner), 7) + (b"\0\0\0" + bytes([draw(st.integers(0, 255))])
                                                                     if flags & 7 else b"") + inner[14:]
        elif kind == "teredo":
            body = inner[14:]
        else:
            body = tail
        length = draw(st.sampled_from([8 + len(body)] * 6 + [0, 7, 0xFFFF]))
        udp = struct.pack("!HHHH", draw(st.sampled_from(UDP_PORTS)), port, length & 0xFFFF, 0) + body
        return "ip", _ipv4_over(17, udp, draw)
    if shape == "gre":
        fv = draw(st.sampled_from([0x0000, 0x2000, 0x1000, 0x8000, 0xB000, 0x3001, 0x3081, 0x0007]))
        proto = draw(st.sampled_from(ETHERTYPES))
        extra = 4 * (((fv >> 15) & 1) + ((fv >> 13) & 1) + ((fv >> 12) & 1) + ((fv & 7) == 1 and (fv >> 7) & 1))
        inner = draw(inner_frame())
        body = inner if proto in (0x6558, 0x88E7, 0x88BE, 0x22EB) else inner[14:] if proto in (0x0800, 0x86DD) else tail
        return "ip", _ipv4_over(47, struct.pack("!HH", fv, proto) + bytes(extra) + body, draw)
    if shape in ("eth", "ipv4"):
        ihl = draw(st.one_of(st.just(5), st.integers(0, 15)))
        flags = draw(st.sampled_from([0, 0x4000, 0x2000, 0x2001, 0x0001, 0x1FFF, 0xFFFF]))
        ip = struct.pack("!BBHHHBB2s4s4s", 0x40 | ihl, 0,
                         draw(st.one_of(st.just((20 + len(tail)) & 0xFFFF), st.integers(0, 0xFFFF))),
                         draw(st.sampled_from([1, 2, 0xABCD])), flags, 64,
                         draw(st.sampled_from(IPPROTOS)), b"\0\0", bytes(4), bytes(4)) + tail
    else:
        ip = struct.pack("!IHBB16s16s", 0x60000000, draw(st.one_of(st.just(len(tail)), st.integers(0, 0xFFFF))),
                         draw(st.sampled_from(IPPROTOS)), 64, bytes(16), bytes(16)) + tail
    if shape == "eth":
        return "frame", bytes(12) + struct.pack("!H", draw(st.sampled_from(ETHERTYPES))) + ip
    return "ip", ip


def wrap(linktype: int, kind: str, pkt: bytes) -> bytes:
    """Put an IP packet in the link-layer header of ``linktype``."""
    if kind == "frame":
        return pkt
    v6 = bool(pkt) and pkt[0] >> 4 == 6
    etype = 0x86DD if v6 else 0x0800
    if linktype == 1:
        return bytes.fromhex("665544332211aabbccddeeff") + struct.pack("!H", etype) + pkt
    if linktype == 0:
        return struct.pack("<I", 24 if v6 else 2) + pkt
    if linktype == 108:
        return struct.pack("!I", 24 if v6 else 2) + pkt
    if linktype == 113:
        return struct.pack("!HHH8sH", 0, 1, 6, bytes(8), etype) + pkt
    if linktype == 276:
        return struct.pack("!HHIHBB8s", etype, 0, 2, 1, 0, 6, bytes(8)) + pkt
    if linktype in (9, 50):
        return bytes([0xFF, 0x03]) + struct.pack("!H", 0x0057 if v6 else 0x0021) + pkt
    if linktype == 104:
        return bytes([0x0F, 0x00]) + struct.pack("!H", etype) + pkt
    return pkt  # raw IP link types


@FUZZ
@given(linktype=st.sampled_from(DECODED_LINKTYPES),
       pkts=st.lists(st.tuples(packet_bytes(), st.integers(-20, 2000)), min_size=1, max_size=12),
       batches=st.integers(1, 3))
def test_decoder_never_raises(linktype, pkts, batches):
    """Random and half-plausible packets, on every link type the decoder
    walks, fed in one or more batches (reassembly state spans them)."""
    dec = Decoder()
    per = -(-len(pkts) // batches)
    number = 1
    for start in range(0, len(pkts), per):
        part = pkts[start:start + per]
        datas = [wrap(linktype, kind, d) for (kind, d), _ in part]
        caplen = np.array([len(d) for d in datas], dtype=np.int64)
        origlen = np.maximum(caplen + np.array([extra for _, extra in part], dtype=np.int64), 0)
        # Records follow their headers in a reader's buffer: never at byte 0.
        offset = 16 + np.concatenate([[0], np.cumsum(caplen)[:-1]]).astype(np.int64)
        buf = b"\xee" * 16 + b"".join(datas)
        n = len(part)
        b = FrameBatch(data=np.frombuffer(buf, dtype=np.uint8), offset=offset, caplen=caplen, origlen=origlen,
                       ts_ns=np.arange(n, dtype=np.int64), linktype=np.full(n, linktype, np.int32),
                       interface_id=np.full(n, -1, np.int32), record_offset=offset.copy(),
                       first_number=number)
        rb = dec.decode(b)
        assert isinstance(rb, pa.RecordBatch)
        assert rb.num_rows == n
        assert rb.schema.equals(SCHEMA)
        for col in ("ip.src", "tcp.srcport", "udp.srcport", "vxlan.vni", "gtp.teid", "gre.proto", "_ws.malformed"):
            if rb.column(col).null_count < n:
                event(f"some {col}")
        number += n


# ------------------------------------- malformed headers keep earlier fields

L2_L4_COLUMNS = [n for n in SCHEMA.names if n not in APP_COLUMNS]


def decode_rows(pkts: list[tuple[bytes, int]]) -> list[dict]:
    """Decode (captured bytes, wire length) Ethernet frames in one batch, the
    link to transport layers only: what an application message makes of the
    templates' payloads is the application decoders' tests' business."""
    datas = [d for d, _ in pkts]
    caplen = np.array([len(d) for d in datas], dtype=np.int64)
    offset = np.concatenate([[0], np.cumsum(caplen)[:-1]]).astype(np.int64)
    n = len(pkts)
    b = FrameBatch(data=np.frombuffer(b"".join(datas) or b"\0", dtype=np.uint8), offset=offset, caplen=caplen,
                   origlen=np.array([o for _, o in pkts], dtype=np.int64), ts_ns=np.zeros(n, np.int64),
                   linktype=np.ones(n, np.int32), interface_id=np.full(n, -1, np.int32),
                   record_offset=offset.copy(), first_number=1)
    return pa.Table.from_batches([Decoder(L2_L4_COLUMNS).decode(b)]).to_pylist()


# For each template: where its headers end, and the bytes a field needs
# (counted from the frame start) to be decoded from a cut frame.
HEADER_END = {"syn": 14 + 20 + 28, "synack": 14 + 20 + 28, "tcp_data": 14 + 20 + 20, "udp_dns": 14 + 20 + 8,
              "icmp_echo": 14 + 20 + 4, "arp": 14 + 28, "ipv6_udp": 14 + 40 + 8, "ipv6_tcp": 14 + 40 + 20}
NEEDS = {
    "eth.dst": 6, "eth.src": 12, "eth.type": 14,
    "ip.version": 15, "ip.hdr_len": 15, "ip.dsfield": 16, "ip.len": 18, "ip.id": 20, "ip.flags.df": 22,
    "ip.ttl": 23, "ip.proto": 24, "ip.checksum": 26, "ip.src": 30, "ip.dst": 34,
    "tcp.srcport": 36, "tcp.dstport": 38, "tcp.seq_raw": 42, "tcp.ack_raw": 46,
    "udp.srcport": 36, "udp.dstport": 38, "udp.length": 40,
    "icmp.type": 35, "icmp.code": 36,
    "arp.hw.type": 22, "arp.opcode": 22,
    # the IPv6 decoder salvages the first 8 bytes of a cut header as a unit
    "ipv6.plen": 22, "ipv6.nxt": 22, "ipv6.hlim": 22,
}
V6_NEEDS = {"tcp.srcport": 56, "tcp.dstport": 58, "tcp.seq_raw": 62, "tcp.ack_raw": 66,
            "udp.srcport": 56, "udp.dstport": 58, "udp.length": 60}
ARP_NEEDS = {"arp.hw.type": 22, "arp.opcode": 22}  # salvaged as the 8-byte fixed part


def _needs(name: str) -> dict[str, int]:
    if name.startswith("ipv6"):
        return {k: v for k, v in {**NEEDS, **V6_NEEDS}.items() if not k.startswith("ip.")}
    if name == "arp":
        return {k: v for k, v in NEEDS.items() if k.startswith("eth.")} | ARP_NEEDS
    return {k: v for k, v in NEEDS.items() if not k.startswith(("arp.", "ipv6."))}


@pytest.mark.parametrize("name", list(HEADER_END))
def test_cut_header_is_malformed_and_keeps_earlier_fields(name):
    """Every cut inside the headers of every template (exhaustive: a few
    hundred frames, decoded in one batch per template)."""
    full = PACKETS[name]
    cuts = list(range(HEADER_END[name]))
    rows = decode_rows([(full, len(full))] + [(full[:c], c) for c in cuts])
    whole_row = rows[0]
    assert whole_row["_ws.malformed"] is None
    problems = []
    for cut, row in zip(cuts, rows[1:]):
        assert row["frame.cap_len"] == cut
        mal = row["_ws.malformed"]
        if mal is None:
            problems.append(f"cut at {cut}: not marked malformed")
        elif not (mal.endswith(")") and "(offset " in mal):
            problems.append(f"cut at {cut}: odd anomaly text {mal!r}")
        for field, need in _needs(name).items():
            if need <= cut and whole_row[field] is not None and row[field] != whole_row[field]:
                problems.append(f"cut at {cut}: {field} lost ({row[field]!r} != {whole_row[field]!r})")
    assert not problems, f"{name}: " + "; ".join(problems)


BOGUS = [
    # (template, byte position, new value, fields that must survive, layer named in _ws.malformed)
    ("syn", 14, 0x44, ["eth.src", "eth.type", "ip.version"], "ip"),          # IHL 4 < 5
    ("syn", 14, 0x40, ["eth.src", "ip.version", "ip.hdr_len"], "ip"),        # IHL 0
    ("udp_dns", 14, 0x75, ["eth.src", "eth.dst", "ip.version"], "ip"),       # version 7
    ("tcp_data", 14 + 20 + 12, 0x40, ["ip.src", "ip.dst", "tcp.srcport", "tcp.dstport", "tcp.seq_raw"], "tcp"),
    ("tcp_data", 14 + 20 + 12, 0x00, ["ip.src", "tcp.srcport", "tcp.ack_raw"], "tcp"),
    ("syn", 14 + 20 + 20 + 1, 0x01, ["ip.src", "tcp.srcport", "tcp.flags"], "tcp"),  # MSS option length 1
    ("syn", 14 + 20 + 20 + 1, 0x30, ["ip.src", "tcp.srcport", "tcp.flags"], "tcp"),  # option past the header
]


@pytest.mark.parametrize("name,pos,value,kept,layer", BOGUS)
def test_bogus_header_value_is_malformed_and_keeps_earlier_fields(name, pos, value, kept, layer):
    full = PACKETS[name]
    bad = full[:pos] + bytes([value]) + full[pos + 1:]
    whole_row, bad_row = decode_rows([(full, len(full)), (bad, len(bad))])
    assert whole_row["_ws.malformed"] is None
    assert bad_row["_ws.malformed"] is not None
    assert bad_row["_ws.malformed"].startswith(layer + ":")
    for f in kept:
        if f in ("ip.version", "ip.hdr_len"):
            assert bad_row[f] is not None
        else:
            assert bad_row[f] == whole_row[f], f


def test_ip_total_length_below_header_length_is_malformed():
    full = PACKETS["udp_dns"]
    bad = full[:16] + struct.pack("!H", 12) + full[18:]
    whole_row, bad_row = decode_rows([(full, len(full)), (bad, len(bad))])
    assert bad_row["_ws.malformed"] is not None and bad_row["_ws.malformed"].startswith("ip:")
    for f in ("eth.src", "ip.src", "ip.dst", "ip.ttl", "ip.proto"):
        assert bad_row[f] == whole_row[f]
    assert bad_row["ip.len"] == 12
    assert bad_row["udp.srcport"] is None


def test_malformed_packet_does_not_disturb_its_neighbours():
    full = PACKETS["tcp_data"]
    rows = decode_rows([(full, len(full)), (full[:20], len(full)), (full, len(full))])
    assert rows[0]["_ws.malformed"] is None and rows[2]["_ws.malformed"] is None
    assert rows[1]["_ws.malformed"] is not None
    drop = {"frame.number", "frame.offset", "frame.cap_len", "_ws.malformed"}
    assert {k: v for k, v in rows[0].items() if k not in drop} == {k: v for k, v in rows[2].items() if k not in drop}


def test_records_fixture_sanity():
    """The builders themselves: a valid pcap of every packet reads back whole."""
    data, recs, offs, hdr, ends = build(CONTAINERS[0], list(PACKETS))
    assert ends[-1] == len(data)
    assert all(e == o for e, o in zip(ends[:-1], offs[1:]))
    assert hdr == 24
    assert len(recs) == len(PACKETS)
