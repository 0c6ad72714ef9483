"""Damaged and unusual classic pcap files, one case at a time.

Every case states how many frames must be kept, what the first ones hold
(time stamp, lengths, bytes, record offset, number) and which error, with
which byte offset, must be reported.  The files are built with ``struct``
(tests/support/pcapgen.py), so every offset is known.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import random
import struct

import numpy as np
import pytest
import zstandard

from tests.support.pcapgen import (PACKETS, Rec, expected_frames, pcap_file, pcap_header,
                                   pcap_record, read_all, records)
from tests.support.compression import decompressor
from tracedoc.errors import TraceFormatError
from tracedoc.read import open_reader

RECS = records()  # nine packets: TCP, UDP, ICMP, ARP, IPv6 ...
N = len(RECS)


def write(tmp_path, data: bytes, name: str = "t.pcap"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def only_error(info) -> TraceFormatError:
    assert len(info.errors) == 1, [str(e) for e in info.errors]
    e = info.errors[0]
    assert isinstance(e, TraceFormatError)
    return e


# ------------------------------------------------------------ whole files

@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("kind", ["usec", "nsec", "modified"])
def test_valid_file_reads_exactly(tmp_path, endian, kind):
    data, offs = pcap_file(RECS, endian, nsec=kind == "nsec", modified=kind == "modified")
    frames, info = read_all(write(tmp_path, data))
    assert frames == expected_frames(RECS, offs)
    assert info.errors == []
    assert info.byte_order == ("little" if endian == "<" else "big")
    assert info.format == {"usec": "pcap", "nsec": "pcap (nanosecond)", "modified": "pcap (modified)"}[kind]
    assert info.version == "2.4"
    assert [(i.linktype, i.snaplen) for i in info.interfaces] == [(1, 65535)]


def test_nanosecond_resolution_is_kept(tmp_path):
    recs = [Rec(1_600_000_000_000_000_000 + k, PACKETS["syn"], 74) for k in (1, 999_999_999)]
    data, offs = pcap_file(recs, ">", nsec=True)
    frames, info = read_all(write(tmp_path, data))
    assert [f[0] for f in frames] == [1_600_000_000_000_000_001, 1_600_000_000_999_999_999]
    assert frames == expected_frames(recs, offs)


# ------------------------------------------------------- refused at open

def test_empty_file(tmp_path):
    with pytest.raises(TraceFormatError) as ei:
        open_reader(write(tmp_path, b""))
    assert "empty file" in str(ei.value)
    assert ei.value.offset == 0


@pytest.mark.parametrize("garbage", [b"hello world, this is not a capture file\n" * 3,
                                     bytes(range(256)), b"\x00" * 100, b"\xd4\xc3"])
def test_garbage_file(tmp_path, garbage):
    with pytest.raises(TraceFormatError) as ei:
        open_reader(write(tmp_path, garbage))
    assert "not a capture file" in str(ei.value)
    assert garbage[:4].hex(" ")[:11] in str(ei.value)


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_truncated_inside_magic_is_refused(tmp_path, cut):
    data, _ = pcap_file(RECS)
    with pytest.raises(TraceFormatError):
        open_reader(write(tmp_path, data[:cut]))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(TraceFormatError, match="no such file"):
        open_reader(tmp_path / "nope.pcap")
    with pytest.raises(TraceFormatError, match="is a directory"):
        open_reader(tmp_path)


# ------------------------------------------------------ the file header

def test_header_only(tmp_path):
    frames, info = read_all(write(tmp_path, pcap_header(">", snaplen=1514, network=1)))
    assert frames == []
    assert info.errors == []
    assert info.byte_order == "big"
    assert [(i.linktype, i.linktype_name, i.snaplen) for i in info.interfaces] == [(1, "ETHERNET", 1514)]


@pytest.mark.parametrize("cut", [4, 5, 10, 20, 23])
def test_truncated_inside_file_header(tmp_path, cut):
    data, _ = pcap_file(RECS)
    frames, info = read_all(write(tmp_path, data[:cut]))
    assert frames == []
    e = only_error(info)
    assert str(e) == f"truncated pcap file header: {cut} of 24 bytes"
    assert e.offset == 0


def test_major_version_refused(tmp_path):
    data = pcap_header(major=3) + pcap_record(RECS[0])
    frames, info = read_all(write(tmp_path, data))
    assert frames == []
    assert "major version 3" in str(only_error(info))


def test_snaplen_zero(tmp_path):
    data, offs = pcap_file(RECS, snaplen=0)
    frames, info = read_all(write(tmp_path, data))
    assert frames == expected_frames(RECS, offs)
    assert info.errors == []
    assert info.interfaces[0].snaplen == 0


def test_caplen_over_snaplen_is_read(tmp_path):
    """Wireshark reads records longer than the file's snaplen; so must we."""
    data, offs = pcap_file(RECS, snaplen=64)
    frames, info = read_all(write(tmp_path, data))
    assert len(frames) == N
    assert frames == expected_frames(RECS, offs)
    assert max(f[1] for f in frames) > 64
    assert info.errors == []


@pytest.mark.parametrize("network,fcs_len", [(0x14000001, 2), (0x24000001, 4), (0x04000001, 0),
                                             (0x10000001, None)])
def test_linktype_fcs_bits_accepted(tmp_path, network, fcs_len):
    data, offs = pcap_file(RECS, network=network)
    frames, info = read_all(write(tmp_path, data))
    assert frames == expected_frames(RECS, offs)
    assert info.errors == []
    assert info.interfaces[0].linktype == 1
    assert info.interfaces[0].fcs_len == fcs_len


@pytest.mark.parametrize("bit", range(16, 26))
def test_linktype_reserved_bits_refused(tmp_path, bit):
    data, _ = pcap_file(RECS, network=(1 << bit) | 1)
    frames, info = read_all(write(tmp_path, data))
    assert frames == []
    e = only_error(info)
    assert "reserved bits" in str(e)
    assert e.offset == 20


@pytest.mark.parametrize("network", [301, 1000, 0xFFFF, 182, 281])
def test_unknown_linktype_refused(tmp_path, network):
    data, _ = pcap_file(RECS, network=network)
    frames, info = read_all(write(tmp_path, data))
    assert frames == []
    e = only_error(info)
    assert str(e) == f"unsupported link type {network} (file header at offset 20)"
    assert e.offset == 20


@pytest.mark.parametrize("dlt", [12, 14])
def test_dlt_raw_variants_read_as_raw(tmp_path, dlt):
    recs = [Rec(r.ts_ns, r.data[14:], r.origlen - 14) for r in RECS[:3]]
    data, offs = pcap_file(recs, network=dlt)
    frames, info = read_all(write(tmp_path, data))
    assert frames == expected_frames(recs, offs)
    assert info.interfaces[0].linktype == 101


# ---------------------------------------------------- damaged records

@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("into", [1, 5, 15])
def test_truncated_inside_record_header(tmp_path, endian, into):
    data, offs = pcap_file(RECS, endian)
    k = 5
    frames, info = read_all(write(tmp_path, data[:offs[k] + into]))
    assert len(frames) == k
    assert frames == expected_frames(RECS, offs)[:k]
    e = only_error(info)
    assert str(e) == f"truncated record header at offset {offs[k]}: {into} of 16 bytes"
    assert e.offset == offs[k]


@pytest.mark.parametrize("modified", [False, True])
@pytest.mark.parametrize("k,left", [(0, 0), (0, 13), (3, 1), (8, 40)])
def test_truncated_inside_record_data(tmp_path, modified, k, left):
    data, offs = pcap_file(RECS, nsec=False, modified=modified)
    hdrlen = 24 if modified else 16
    frames, info = read_all(write(tmp_path, data[:offs[k] + hdrlen + left]))
    assert len(frames) == k
    assert frames == expected_frames(RECS, offs)[:k]
    e = only_error(info)
    assert str(e) == f"truncated record at offset {offs[k]}: header says {RECS[k].caplen} bytes, {left} left"
    assert e.offset == offs[k]


def test_file_ending_on_a_record_boundary_is_whole(tmp_path):
    data, offs = pcap_file(RECS)
    frames, info = read_all(write(tmp_path, data[:offs[4]]))
    assert frames == expected_frames(RECS, offs)[:4]
    assert info.errors == []


@pytest.mark.parametrize("caplen", [262145, 0x7FFFFFFF, 0xFFFFFFFF])
def test_lying_caplen(tmp_path, caplen):
    data, offs = pcap_file(RECS)
    k = 2
    # Record k's header claims more than Wireshark's maximum for Ethernet.
    bad = data[:offs[k] + 8] + struct.pack("<I", caplen) + data[offs[k] + 12:]
    frames, info = read_all(write(tmp_path, bad))
    assert len(frames) == k
    assert frames == expected_frames(RECS, offs)[:k]
    e = only_error(info)
    assert str(e).startswith(f"record at offset {offs[k]}: captured length {caplen} exceeds the maximum of 262144")
    assert e.offset == offs[k]


def test_caplen_at_the_maximum_is_read(tmp_path):
    big = Rec(RECS[0].ts_ns, PACKETS["tcp_data"] + b"\xaa" * (262144 - len(PACKETS["tcp_data"])), 262144)
    recs = [RECS[0], big, RECS[1]]
    data, offs = pcap_file(recs)
    frames, info = read_all(write(tmp_path, data), chunk_size=100_000)
    assert frames == expected_frames(recs, offs)
    assert info.errors == []


def test_zero_length_record(tmp_path):
    empty = Rec(RECS[0].ts_ns + 5000, b"", 60)
    recs = [RECS[0], empty, RECS[1]]
    data, offs = pcap_file(recs)
    frames, info = read_all(write(tmp_path, data))
    assert len(frames) == 3
    assert frames[1] == (RECS[0].ts_ns + 5000, 0, 60, b"", offs[1], 2)
    assert frames == expected_frames(recs, offs)
    assert info.errors == []


def test_zero_length_records_only(tmp_path):
    recs = [Rec(RECS[0].ts_ns, b"", 0)] * 3
    data, offs = pcap_file(recs)
    frames, info = read_all(write(tmp_path, data))
    assert frames == expected_frames(recs, offs)
    assert [f[4] for f in frames] == [24, 40, 56]
    assert info.errors == []


def test_origlen_smaller_than_caplen_is_kept_as_written(tmp_path):
    odd = Rec(RECS[0].ts_ns, PACKETS["syn"], 10)
    data, offs = pcap_file([odd, RECS[1]])
    frames, info = read_all(write(tmp_path, data))
    assert frames == expected_frames([odd, RECS[1]], offs)
    assert info.errors == []


# -------------------------------------------------------- chunk sizes

def many_records(n: int = 300) -> list[Rec]:
    names = list(PACKETS)
    return [Rec(RECS[0].ts_ns + i * 1000, PACKETS[names[i % len(names)]], len(PACKETS[names[i % len(names)]]))
            for i in range(n)]


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000])
@pytest.mark.parametrize("cut", [None, "record", "header"])
def test_chunk_size_does_not_change_results(tmp_path, chunk_size, cut):
    recs = many_records()
    data, offs = pcap_file(recs, ">", nsec=True)
    if cut == "record":
        data = data[:offs[200] + 30]
    elif cut == "header":
        data = data[:offs[200] + 9]
    p = write(tmp_path, data)
    ref, ref_info = read_all(p)
    frames, info = read_all(p, chunk_size=chunk_size)
    assert frames == ref
    assert [(str(e), e.offset) for e in info.errors] == [(str(e), e.offset) for e in ref_info.errors]
    if cut is None:
        assert frames == expected_frames(recs, offs)
        assert info.errors == []
    else:
        assert frames == expected_frames(recs, offs)[:200]
        assert only_error(info).offset == offs[200]


def test_batches_number_frames_continuously(tmp_path):
    recs = many_records()
    data, offs = pcap_file(recs)
    r = open_reader(write(tmp_path, data), chunk_size=1000)
    nxt = 1
    nbatches = 0
    for b in r.batches():
        assert b.first_number == nxt
        nxt += len(b)
        nbatches += 1
        assert (b.offset + b.caplen <= len(b.data)).all()
        assert (b.interface_id == -1).all() and (b.linktype == 1).all()
    assert nxt == len(recs) + 1
    assert nbatches > 1


# -------------------------------------------------------- compression

def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


COMPRESSORS = {
    "gzip": gzip.compress,
    "bzip2": lambda d: bz2.compress(d, compresslevel=1),
    "xz": lzma.compress,
    "zstd": _zstd,
}


def _decompressible_prefix(kind: str, comp: bytes) -> int:
    """How many bytes a decompressor can recover from a damaged stream."""
    d = decompressor(kind)
    n = 0
    for i in range(0, len(comp), 512):
        try:
            n += len(d.decompress(comp[i:i + 512]))
        except Exception:  # the stdlib raises nothing for a cut; zstd raises nothing either
            break
    return n


@pytest.mark.parametrize("kind", list(COMPRESSORS))
@pytest.mark.parametrize("chunk_size", [None, 1000])
def test_compressed_copies_read_identically(tmp_path, kind, chunk_size):
    recs = many_records(500)
    data, offs = pcap_file(recs, "<", nsec=True)
    plain = write(tmp_path, data, "plain.pcap")
    comp = write(tmp_path, COMPRESSORS[kind](data), "copy.bin")
    kw = {"chunk_size": chunk_size} if chunk_size else {}
    ref, _ = read_all(plain)
    frames, info = read_all(comp, **kw)
    assert ref == expected_frames(recs, offs)
    assert len(frames) == 500
    assert frames == ref
    assert info.compression == kind
    assert info.errors == []
    assert info.file_size == len(comp.read_bytes())


@pytest.mark.parametrize("kind", ["gzip", "zstd", "bzip2", "xz"])
def test_concatenated_streams_read_whole(tmp_path, kind):
    """gzip members and zstd frames may follow one another (pigz, pzstd)."""
    recs = many_records(100)
    data, offs = pcap_file(recs)
    half = offs[50]
    comp = COMPRESSORS[kind](data[:half]) + COMPRESSORS[kind](data[half:])
    frames, info = read_all(write(tmp_path, comp, "cat.bin"), chunk_size=4096)
    assert frames == expected_frames(recs, offs)
    assert info.errors == []


def _big_records() -> list[Rec]:
    # Over 100 kB, so bzip2 at level 1 writes more than one block.
    return many_records(2500)


@pytest.mark.parametrize("kind", list(COMPRESSORS))
@pytest.mark.parametrize("fraction", [0.3, 0.75, 0.999])
@pytest.mark.parametrize("chunk_size", [None, 4096, 1])
def test_truncated_compressed_file(tmp_path, kind, fraction, chunk_size):
    recs = _big_records()
    data, offs = pcap_file(recs)
    comp = COMPRESSORS[kind](data)
    cut = comp[:int(len(comp) * fraction)]
    avail = _decompressible_prefix(kind, cut)
    whole = sum(1 for o, r in zip(offs, recs) if o + 16 + r.caplen <= avail)
    p = write(tmp_path, cut, "cut.bin")
    kw = {"chunk_size": chunk_size} if chunk_size else {}
    if avail < 4:
        # Nothing (bzip2: no whole block) came out: refusing the file is the answer.
        with pytest.raises(TraceFormatError):
            open_reader(p, **kw)
        return
    frames, info = read_all(p, **kw)
    assert len(frames) == whole
    assert frames == expected_frames(recs, offs)[:whole]
    e = only_error(info)
    assert "decompression failed" in str(e) or "truncated" in str(e)
    assert e.offset == avail


def test_truncated_gzip_keeps_records(tmp_path):
    recs = _big_records()
    data, offs = pcap_file(recs)
    comp = gzip.compress(data)
    frames, info = read_all(write(tmp_path, comp[:len(comp) // 2], "cut.pcap.gz"))
    assert len(frames) > 500
    assert frames == expected_frames(recs, offs)[:len(frames)]
    e = only_error(info)
    assert str(e).startswith(f"decompression failed at offset {e.offset}: ")
    assert e.offset >= offs[len(frames) - 1] + 16 + recs[len(frames) - 1].caplen


def _decompress_until_fault(kind: str, comp: bytes) -> tuple[bytes, bool]:
    """What a decompressor recovers, 512 compressed bytes at a time, and
    whether it noticed the damage."""
    d = decompressor(kind)
    out = []
    for i in range(0, len(comp), 512):
        try:
            out.append(d.decompress(comp[i:i + 512]))
        except Exception:
            return b"".join(out), True
    return b"".join(out), False


@pytest.mark.parametrize("kind", ["gzip", "zstd", "xz", "bzip2"])
def test_corrupt_compressed_stream(tmp_path, kind):
    rnd = random.Random(7)
    # Payloads of random bytes: the compressed file is large enough for the
    # decompressors to hand out data before they meet the corrupt spot.
    recs = [Rec(RECS[0].ts_ns + i * 1000, PACKETS["udp_dns"] + rnd.randbytes(200), 271) for i in range(2000)]
    data, offs = pcap_file(recs)
    comp = bytearray(COMPRESSORS[kind](data))
    mid = len(comp) // 2
    comp[mid:mid + 64] = bytes(64)
    out, noticed = _decompress_until_fault(kind, bytes(comp))
    same = next((i for i, (a, b) in enumerate(zip(out, data)) if a != b), min(len(out), len(data)))
    intact = sum(1 for o, r in zip(offs, recs) if o + 16 + r.caplen <= same)
    assert intact > 100
    p = write(tmp_path, bytes(comp), "bad.bin")
    frames, info = read_all(p, chunk_size=4096)
    # Every record the damage cannot have touched is kept, exactly, except
    # what the one decompress call that met the fault had decoded.
    assert len(frames) > 0
    k = min(len(frames), intact)
    assert frames[:k] == expected_frames(recs, offs)[:k]
    assert intact - k < 8192 // 16
    if noticed:
        assert len(info.errors) == 1
        assert isinstance(info.errors[0].offset, int) and info.errors[0].offset >= 0
    assert len(info.errors) <= 1


@pytest.mark.parametrize("kind", list(COMPRESSORS))
def test_compressed_garbage_and_empty(tmp_path, kind):
    with pytest.raises(TraceFormatError, match="not a capture file"):
        open_reader(write(tmp_path, COMPRESSORS[kind](b"just some text, not a trace" * 10), "g.bin"))
    with pytest.raises(TraceFormatError, match="empty"):
        open_reader(write(tmp_path, COMPRESSORS[kind](b""), "e.bin"))


@pytest.mark.parametrize("head", [b"\x1f\x8b", b"\x1f\x8b\x08\x00garbage", b"BZh9garbage", b"\xfd7zXZ\x00xx",
                                  b"\x28\xb5\x2f\xfd\xff\xff"])
def test_compression_magic_followed_by_garbage(tmp_path, head):
    with pytest.raises(TraceFormatError):
        open_reader(write(tmp_path, head, "g.bin"))


def test_batches_decode_to_the_same_rows_whatever_the_chunking(tmp_path):
    from tracedoc.decode.table import Decoder
    import pyarrow as pa

    recs = many_records(200)
    data, _ = pcap_file(recs)
    p = write(tmp_path, data)
    tables = []
    for cs in (None, 1000, 7):
        r = open_reader(p, **({"chunk_size": cs} if cs else {}))
        dec = Decoder()
        tables.append(pa.Table.from_batches([dec.decode(b) for b in r.batches()]).combine_chunks())
    assert tables[0].num_rows == 200
    assert tables[0].equals(tables[1]) and tables[0].equals(tables[2])
    np.testing.assert_array_equal(tables[0].column("frame.number").to_numpy(), np.arange(1, 201))


@pytest.mark.parametrize("kind", ["gzip", "zstd", "xz"])
@pytest.mark.parametrize("keep", [4, 10, 13])
def test_cut_second_stream_on_a_record_boundary_is_reported(tmp_path, kind, keep):
    """The first stream ends exactly after record 5; the second is cut a few
    bytes in.  The five records are kept, and the cut must still be named:
    a silent end here would pass a damaged file off as whole."""
    recs = many_records(20)
    data, offs = pcap_file(recs)
    comp = COMPRESSORS[kind](data[:offs[5]]) + COMPRESSORS[kind](data[offs[5]:])[:keep]
    frames, info = read_all(write(tmp_path, comp, "cut2.bin"), chunk_size=4096)
    assert len(frames) == 5
    assert frames == expected_frames(recs, offs)[:5]
    e = only_error(info)
    assert str(e).startswith(f"decompression failed at offset {offs[5]}: ")
    assert e.offset == offs[5]


def test_zstd_skippable_frame_between_frames(tmp_path):
    recs = many_records(20)
    data, offs = pcap_file(recs)
    skippable = struct.pack("<II", 0x184D2A50, 6) + b"tracer"
    comp = _zstd(data[:offs[7]]) + skippable + _zstd(data[offs[7]:])
    frames, info = read_all(write(tmp_path, comp, "skip.zst"), chunk_size=100)
    assert frames == expected_frames(recs, offs)
    assert info.errors == []
