"""CTRACE data trace (SYSTCPDA) and OSAENTA (SYSTCPOT) records formatted by
IPCS (``read/ctrace.py``).

* IBM's data trace sample (IP Diagnosis Guide, "Formatting data traces
  using IPCS") reads into the start record it shows.
* Data trace records become LINKTYPE_ZOS_DATA (147) frames holding the
  socket data, with the ctrace.data.* columns; rendered records (fixtures,
  Hypothesis) give back their bytes and values.
* OSAENTA records become Ethernet frames, MAC header and VLAN tags included:
  corpus Ethernet captures rendered as OSAENTA records read back
  byte-identical, with the same ``tracedoc fields`` output (eth.*, vlan.id,
  ...) as the capture.
* Damaged records are skipped with a warning naming their line; fuzzing
  gives frames or a TraceFormatError; ``tracedoc info`` names format,
  system and component.
"""

from __future__ import annotations

import ipaddress
import json
import random
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracedoc
from tests.read.test_ctrace import CORPUS, DATA, _manifest, fields_text, read_frames, run
from tests.support.ctrace_render import DataRecord, Frame, data_records, mac_header_len, osa_frames, render_records
from tests.support.tshark_compare import ISSUE2_FIELDS
from tests.support.mutations import line_ops, mutate_lines
from tracedoc.decode.ctrace import LINKTYPE_ZOS_DATA
from tracedoc.decode.table import Decoder
from tracedoc.errors import TraceFormatError
from tracedoc.read import ctrace, open_reader

ETH_FIELDS = [f for f in ISSUE2_FIELDS if f not in ("frame.time_epoch", "frame.interface_id")]
DATA_COLS = ["ctrace.data.local_ip", "ctrace.data.local_port", "ctrace.data.remote_ip", "ctrace.data.remote_port",
             "ctrace.data.length", "ctrace.data.domain", "ctrace.data.state"]


def data_values(d: DataRecord) -> dict:
    """The ctrace.* values a data trace record should read into."""
    length = d.length if d.length is not None else len(d.data)
    return {"ctrace.data.local_ip": str(ipaddress.ip_address(d.local[0])),
            "ctrace.data.local_port": d.local[1],
            "ctrace.data.remote_ip": str(ipaddress.ip_address(d.remote[0])),
            "ctrace.data.remote_port": d.remote[1],
            "ctrace.data.length": length,
            "ctrace.data.domain": f"{d.domain}/{d.type}/{d.protocol}",
            "ctrace.data.state": d.state,
            "ctrace.jobname": d.jobname, "ctrace.conn_id": d.cid, "ctrace.direction": d.direction,
            "ctrace.asid": d.asid, "ctrace.tcb": d.tcb, "ctrace.segment": d.segment,
            "ctrace.record_type": "data"}


# ------------------------------------------------------------------ data trace


def test_ibm_data_trace_sample():
    frames, info = read_frames(DATA / "ibm_data_trace.txt")
    assert not info.errors and not info.warnings
    assert len(frames) == 1
    f = frames[0]
    assert f["linktype"] == LINKTYPE_ZOS_DATA == 147
    assert f["data"] == b"" and f["caplen"] == f["origlen"] == 0  # a start record: Full=0, no data
    assert f["ctrace.record_type"] == "data"
    assert f["ctrace.record"] == 63 and f["ctrace.system"] == "MVS182" and f["ctrace.entry_id"] == "00000005"
    assert f["ctrace.jobname"] == "USER12"
    assert f["ctrace.conn_id"] == 0x58
    assert f["ctrace.direction"] == "Out"  # "To Jobname", Flags: Out
    assert f["ctrace.full_len"] == 0 and f["ctrace.segment"] == 0
    assert f["ctrace.data.domain"] == "AF_Inet/Stream/TCP"
    assert f["ctrace.data.state"] == "API Data Flow Starts"
    assert f["ctrace.data.length"] == 0
    assert f["ctrace.data.local_ip"] is None  # the lines after Segment # are not in the sample
    assert f["ts"] == f["ctrace.tod"] == 1_245_676_732_705_248_000  # 2009/06/22 13:18:52.705248
    assert info.format == "ctrace-format" and info.extra["system"] == "MVS182"
    assert info.extra["component"] == "SYSTCPDA"


def test_data_records_fixture():
    recs = data_records()
    frames, info = read_frames(DATA / "data_records.txt")
    assert not info.errors and not info.warnings
    assert len(frames) == len(recs)
    for f, d in zip(frames, recs):
        assert f["linktype"] == 147
        assert f["data"] == d.data
        assert f["origlen"] == (d.length if d.length is not None else len(d.data))
        assert f["ts"] == d.ts_ns
        for k, v in data_values(d).items():
            assert f[k] == v, k
    assert frames[3]["ctrace.abbrev_len"] == 64 and frames[3]["ctrace.full_len"] is None
    assert frames[1]["ctrace.full_len"] == 33
    assert info.interfaces[0].linktype == 147 and info.interfaces[0].linktype_name == "USER0"
    assert info.extra["system"] == "MVS182"


def test_data_label_variants():
    frames, info = read_frames(DATA / "data_label_variants.txt")
    assert not info.errors
    assert info.warnings == ["line 55: OSAENTA record without a hex dump of the frame skipped (format it with the "
                             "DUMP option)"]
    assert info.extra["skipped_records"] == {"OSAENTA without DUMP": 1}
    a, b, c, d = frames
    assert a["data"] == b"GET / HTTP/1.0\r\n\r\n\x00" and a["linktype"] == 147
    assert (a["ctrace.data.local_ip"], a["ctrace.data.local_port"]) == ("10.0.0.1", 40000)
    assert (a["ctrace.data.remote_ip"], a["ctrace.data.remote_port"]) == ("10.0.0.2", 80)
    assert a["ctrace.asid"] == 0x4F and a["ctrace.tcb"] == 0x7F62C0 and a["ctrace.jobname"] == "FTPD1"
    assert b["ctrace.direction"] == "In" and b["ctrace.jobname"] == "EZASOKAS"
    assert b["caplen"] == 8 and b["origlen"] == 120 == b["ctrace.data.length"] and b["ctrace.abbrev_len"] == 8
    assert (b["ctrace.data.local_ip"], b["ctrace.data.local_port"]) == ("2001:db8::5", 11007)
    assert (b["ctrace.data.remote_ip"], b["ctrace.data.remote_port"]) == ("2001:db8::9", 1040)
    assert b["ctrace.conn_id"] == 0x2A
    from tests.support import pcapgen as g
    assert c["linktype"] == 1 and c["data"] == g.PACKETS["udp_dns"]  # offsets counted from the IP header
    assert c["ctrace.discard"] == 4 and c["ctrace.osa.device_id"] == "00-01-00-02"
    assert d["linktype"] == 1 and d["data"] == g.PACKETS["arp"] and d["ctrace.direction"] == "Out"
    assert d["ctrace.record_type"] == "osaenta"


def test_data_frames_are_not_decoded_as_packets():
    rows = tracedoc.open(DATA / "data_trace.txt").packets.to_pylist()
    data = rows[1]
    assert data["frame.linktype"] == 147
    assert data["ip.src"] is None and data["eth.src"] is None and data["tcp.srcport"] is None
    assert data["ctrace.data.length"] == 18 and data["ctrace.data.remote_port"] == 80
    assert data["_ws.malformed"] is None
    assert rows[0]["tcp.srcport"] == 40000  # the packets around it decode as before
    assert rows[3]["eth.type"] == 0x0806 and rows[3]["arp.opcode"] == 1


DATA_RECORD = st.builds(
    DataRecord,
    data=st.binary(max_size=300),
    ts_ns=st.integers(946_684_800, 4_102_444_799).map(lambda s: s * 1_000_000_000 + 123_456_000),
    direction=st.sampled_from(["In", "Out"]),
    jobname=st.from_regex(r"[A-Z@#$][A-Z0-9@#$]{0,7}", fullmatch=True),
    local=st.tuples(st.sampled_from(["10.1.2.3", "192.168.0.1", "2001:db8::1", "fe80::1:2"]),
                    st.integers(0, 65535)),
    remote=st.tuples(st.sampled_from(["10.9.8.7", "2001:db8::99", "::1"]), st.integers(0, 65535)),
    cid=st.integers(0, 0xFFFFFFFF),
    domain=st.sampled_from(["AF_Inet", "AF_Inet6"]),
    type=st.sampled_from(["Stream", "Dgram", "Raw"]),
    protocol=st.sampled_from(["TCP", "UDP"]),
    state=st.sampled_from([None, "API Data Flow Starts", "API Data Flow Ends"]),
    length=st.one_of(st.none(), st.integers(0, 100_000)),
    asid=st.integers(0, 0xFFFF),
    tcb=st.integers(0, 0xFFFFFFFF),
    segment=st.integers(0, 3),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=st.lists(DATA_RECORD, min_size=1, max_size=5), aligned=st.booleans())
def test_data_records_round_trip(tmp_path_factory, recs, aligned):
    for d in recs:
        if d.length is not None and d.length < len(d.data):
            d.length = None
        if d.length == len(d.data):
            d.length = None
    path = tmp_path_factory.mktemp("dr") / "d.txt"
    path.write_text(render_records(recs, aligned=aligned))
    frames, info = read_frames(path)
    assert not info.errors, info.errors
    assert len(frames) == len(recs)
    for f, d in zip(frames, recs):
        assert f["data"] == d.data
        assert f["ts"] == d.ts_ns // 1000 * 1000
        for k, v in data_values(d).items():
            assert f[k] == v, k


# ------------------------------------------------------------------ OSAENTA


def test_osaenta_fixture():
    frames, info = read_frames(DATA / "osaenta.txt")
    want = osa_frames()
    assert not info.errors and not info.warnings
    assert len(frames) == len(want)
    for f, w in zip(frames, want):
        assert f["linktype"] == 1
        assert f["data"] == w.data
        assert f["origlen"] == (w.origlen or len(w.data))
        assert f["ctrace.direction"] == w.direction
        assert f["ctrace.discard"] == w.discard
        assert f["ctrace.osa.device_id"] == w.device_id
        assert f["ctrace.record_type"] == "osaenta" and f["ctrace.link"] == "EZANTAQDIO4101"
        assert f["ctrace.payload_absent"] is False
    assert frames[6]["ctrace.abbrev_len"] == 256 and frames[6]["caplen"] == 256 and frames[6]["origlen"] == 1337
    assert info.extra["component"] == "SYSTCPOT" and info.extra["system"] == "SOW1"
    assert [i.linktype for i in info.interfaces] == [1]
    rows = tracedoc.open(DATA / "osaenta.txt").packets
    assert rows["eth.type"].to_pylist()[:2] == [0x0806, 0x8100]
    assert rows["vlan.id"].to_pylist()[1:3] == [100, 200]
    assert rows["tcp.srcport"].to_pylist()[1] == 40000
    assert rows["udp.dstport"].to_pylist()[2] == 53
    assert rows["icmpv6.type"].to_pylist()[4] == 128
    assert rows["ctrace.discard_category"].to_pylist()[7] == "OSA"


def test_osaenta_collapsed_reads_the_same():
    a, _ = read_frames(DATA / "osaenta.txt")
    b, info = read_frames(DATA / "osaenta_collapsed.txt")
    assert not info.errors and not info.warnings
    for x, y in zip(a, b):
        for k in x:
            if k not in ("offset", "ctrace.line"):
                assert x[k] == y[k], k


def test_malformed_data_and_osaenta_records():
    frames, info = read_frames(DATA / "malformed_other.txt")
    assert [f["ctrace.record"] for f in frames] == [7, 8, 9, 12]
    assert [f["linktype"] for f in frames] == [147, 1, 147, 1]
    assert len(info.errors) == 1
    assert str(info.errors[0]).startswith("8 malformed CTRACE record(s); first at line 11: no 'From/To Jobname' line")
    expect = [(11, "no 'From/To Jobname' line"),
              (25, "hex dump sections hold 60 bytes of the frame, Full=61"),
              (45, "bad hex dump line at offset 000000 in Data"),
              (85, "bad hex dump line at offset 000000 in Mac Header"),
              (100, "Data section shows 64 bytes of a 1-byte Data Length"),
              (116, "Protocol Header section at offset 2B but 2A bytes precede it"),
              (157, "no 'From/To Interface/Link' line"),
              (177, "bad source address '2001::::db8::1'")]
    assert len(info.warnings) == len(expect)
    for w, (line, reason) in zip(info.warnings, expect):
        assert w.startswith(f"line {line}: malformed CTRACE record"), w
        assert w.endswith(reason), w


@pytest.mark.parametrize("damage, reason", [
    (lambda t: t.replace("Full=33", "Full=34"), "hex dump sections hold 33 bytes of socket data, Full=34"),
    (lambda t: t.replace("Full=33", "Abbrev=32"), "hex dump holds 33 bytes, more than Abbrev=32"),
    (lambda t: t.replace("Dest Port: 40000", "Dest Port: 70000"), "bad or missing dest port"),
    (lambda t: t.replace("Tod Clock        : 2011/01/25", "Tod Clock        : 2011/02/30"), "bad Tod Clock"),
    (lambda t: t.replace("Data              : 33", "Data              : 40"), "Data holds 33 of 40 bytes"),
])
def test_one_damaged_data_record(tmp_path, damage, reason):
    good = render_records([data_records()[1]], with_banner=False)
    p = tmp_path / "one.txt"
    p.write_text(good + damage(good) + good)
    frames, info = read_frames(p)
    assert len(frames) == 2 and all(f["linktype"] == 147 for f in frames)
    assert len(info.errors) == 1 and reason in str(info.errors[0]), info.errors


def test_osaenta_lengths_without_the_mac_header(tmp_path):
    """Full= / Abbrev= counting the IP packet only (not the MAC header) is
    read too; an Abbrev= setting longer than the frame takes the IP length."""
    vlan, big = osa_frames()[1], osa_frames()[6]
    text = render_records([vlan, big], with_banner=False)
    assert "Full=66" in text and "Abbrev=256" in text
    p = tmp_path / "osa.txt"
    p.write_text(text.replace("Full=66", "Full=48").replace("Abbrev=256", "Abbrev=242"))
    frames, info = read_frames(p)
    assert not info.errors, info.errors
    assert [f["data"] for f in frames] == [vlan.data, big.data]
    assert [f["origlen"] for f in frames] == [66, 1337]
    qinq = osa_frames()[2]
    one = render_records([qinq], with_banner=False)
    assert len(qinq.data) == 79 and "Full=79" in one
    p.write_text(one.replace("Full=79", "Abbrev=224").replace(" Data Length: 29 ", " "))
    frames, info = read_frames(p)
    assert not info.errors, info.errors
    assert frames[0]["data"] == qinq.data
    assert frames[0]["origlen"] == 79 and frames[0]["ctrace.abbrev_len"] == 224


def test_small_chunks_and_batches(monkeypatch):
    for name in ("data_records.txt", "osaenta.txt", "data_trace.txt"):
        a, _ = read_frames(DATA / name)
        monkeypatch.setattr(ctrace, "MAX_BATCH_RECORDS", 2)
        for chunk in (64, 1000):
            b, info = read_frames(DATA / name, chunk_size=chunk)
            assert not info.errors
            assert [(f["data"], f["linktype"], f["offset"], f["iface"]) for f in b] == \
                [(f["data"], f["linktype"], f["offset"], f["iface"]) for f in a]
        monkeypatch.undo()


# ------------------------------------------------------------------ corpus round trip


def _osa_files() -> list[str]:
    """Small Ethernet pcaps: the first holding each of VLAN tags, ARP, LLC,
    IPv6, ICMP, TCP, UDP, then a spread of the others."""
    rows = [r for r in _manifest()
            if r["format"].startswith("pcap-") and r["linktypes"].split() == ["1:EN10MB"]
            and not r["tshark_read_error"] and not r["header_problems"] and 3 <= int(r["packets"] or 0) <= 1000
            and (CORPUS / r["path"]).is_file()]
    rows.sort(key=lambda r: r["path"])
    chosen: list[str] = []
    for proto in ("vlan=", "arp=", "llc=", "stp=", "ipv6=", "icmp=", "tcp=", "udp=", "mpls=", "pppoe"):
        for r in rows:
            if proto in r["tshark_protocols(frames)"] and r["path"] not in chosen:
                chosen.append(r["path"])
                break
    vl = [r["path"] for r in rows if "vlan=" in r["tshark_protocols(frames)"] and r["path"] not in chosen]
    chosen += vl[:3]
    step = max(1, len(rows) // 8)
    for r in rows[::step]:
        if r["path"] not in chosen:
            chosen.append(r["path"])
    return chosen[:22]


OSA_FILES = _osa_files()


def eth_frames(path) -> list[tuple[int, bytes, int]]:
    r = open_reader(path)
    out = []
    for b in r.batches():
        for i in range(len(b)):
            out.append((int(b.ts_ns[i]), b.packet_bytes(i), int(b.origlen[i])))
    assert not r.info.errors
    return out


def eth_pcap(path: Path, pkts: list[tuple[int, bytes, int]]) -> None:
    """Ethernet frames as a nanosecond pcap (LINKTYPE_ETHERNET)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
        for ts, data, origlen in pkts:
            f.write(struct.pack("<IIII", ts // 10**9, ts % 10**9, len(data), origlen))
            f.write(data)


def test_osa_selection():
    if not OSA_FILES:
        pytest.skip("no corpus at ../shared/corpus")
    assert len(OSA_FILES) >= 12


@pytest.mark.corpus
@pytest.mark.parametrize("rel", OSA_FILES or ["(no corpus)"])
def test_osaenta_round_trip_corpus(tmp_path, rel):
    if not OSA_FILES:
        pytest.skip("no corpus at ../shared/corpus")
    pkts = [(ts, d, ol) for ts, d, ol in eth_frames(CORPUS / rel) if mac_header_len(d) is not None]
    if not pkts:
        pytest.skip("no whole Ethernet headers")
    orig = tmp_path / "eth.pcap"
    eth_pcap(orig, pkts)
    rnd = random.Random(rel)
    frames_in = [Frame(d, ts, direction=rnd.choice(["In", "Out"]), origlen=ol,
                       discard=rnd.randint(1, 4095) if rnd.random() < 0.1 else None,
                       device_id=rnd.choice([None, "00-01-00-02"])) for ts, d, ol in pkts]
    text = tmp_path / "osa.txt"
    variant = OSA_FILES.index(rel) % 2
    text.write_text(render_records(frames_in, comp="SYSTCPOT", page_every=5, aligned=variant == 0))
    frames, info = read_frames(text)
    assert not info.errors, info.errors[:3]
    assert not info.warnings
    assert len(frames) == len(pkts)
    for f, w in zip(frames, frames_in):
        assert f["data"] == w.data
        assert f["linktype"] == 1
        assert f["caplen"] == len(w.data) and f["origlen"] == w.origlen
        assert f["ts"] == w.ts_ns // 1000 * 1000
        assert f["ctrace.direction"] == w.direction and f["ctrace.discard"] == w.discard
        assert f["ctrace.osa.device_id"] == w.device_id
    want, err_a = fields_text(orig, ETH_FIELDS)
    got, err_b = fields_text(text, ETH_FIELDS)
    assert not err_a and not err_b
    assert got == want


# ------------------------------------------------------------------ fuzzing

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
BASES = {n: (DATA / n).read_text().split("\n") for n in
         ["data_records.txt", "osaenta.txt", "data_label_variants.txt", "ibm_data_trace.txt", "data_trace.txt"]}
_line_text = st.one_of(
    st.text(st.characters(min_codepoint=9, max_codepoint=0x2FF), max_size=90),
    st.from_regex(r"[0-9A-F]{6}( [0-9A-Fa-fZ]{1,9}){0,6}( \|[ -~]{0,20})?", fullmatch=True),
    st.sampled_from([" Mac Header        : 99999999", " Frame : 0", " From Jobname      :", " To Jobname : X Full=-1",
                     "  Source           : 300.1.1.1", "  Local : ::1..99999999", "  Cid: FFFFFFFFFF",
                     "  Domain : AF_Inet Type: Protocol:", " Data              : 4 Data Length: 3",
                     "    9 SOW1     DATA     00000005 14:13:05.687446 Data Trace",
                     "    9 SOW1     OSAENTA  00000007 14:13:05.687446 OSAENTA",
                     " Ip Header         : 20 Offset: FFFFFFFFFFFF", "  Device ID        :", "\f"]),
)
_op = line_ops(_line_text)


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
        assert len(b) > 0 and b.first_number == n + 1
        n += len(b)
        assert (b.caplen <= b.origlen).all() and (b.origlen < 1 << 32).all()
        assert set(b.linktype.tolist()) <= {1, 101, 147}
        for name, arr in b.meta.items():
            assert len(arr) == len(b), name
        assert dec.decode(b).num_rows == len(b)
    info = reader.info
    assert len(info.errors) <= 1 and all(isinstance(e, TraceFormatError) for e in info.errors)
    assert info.format in ("ctrace-format", "ctrace-summary")
    assert all(isinstance(w, str) and w for w in info.warnings)


@FUZZ
@given(base=st.sampled_from(sorted(BASES)), ops=st.lists(_op, max_size=12), chunk=st.sampled_from([None, 97, 4096]))
def test_fuzz_data_and_osaenta(tmp_path_factory, base, ops, chunk):
    path = tmp_path_factory.mktemp("fz") / "f.txt"
    path.write_bytes(mutate_lines(BASES[base], ops))
    check_contract(path, chunk)


# ------------------------------------------------------------------ the command


def test_cli_info_osaenta_and_data():
    p = run("info", "--json", DATA / "osaenta.txt")
    assert p.returncode == 0, p.stderr
    facts = json.loads(p.stdout)
    assert facts["format"] == "ctrace-format"
    assert facts["system"] == "SOW1" and facts["component"] == "SYSTCPOT"
    assert facts["link_types"] == [{"linktype": 1, "name": "ETHERNET", "packets": 8}]
    assert facts["errors"] == []

    p = run("info", "--json", DATA / "data_records.txt")
    assert p.returncode == 0, p.stderr
    facts = json.loads(p.stdout)
    assert facts["format"] == "ctrace-format" and facts["system"] == "MVS182"
    assert facts["link_types"] == [{"linktype": 147, "name": "USER0", "packets": 7}]
    assert facts["packets"] == 7

    p = run("info", DATA / "data_trace.txt")
    assert p.returncode == 0, p.stderr
    assert "ctrace-format" in p.stdout and "SOW1" in p.stdout and "SYSTCPDA, SYSTCPOT" in p.stdout


def test_cli_fields_osaenta():
    p = run("fields", DATA / "osaenta.txt", "-e", "frame.number", "-e", "eth.src", "-e", "vlan.id",
            "-e", "ctrace.osa.device_id", "-e", "ctrace.discard")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[1] == "2\t00:11:22:33:44:55\t100\t00-01-00-02\t"
    assert lines[7] == "8\t00:11:22:33:44:55\t\t00-01-00-02\t12"


def test_cli_fields_data():
    p = run("fields", DATA / "data_records.txt", "-e", "frame.number", "-e", "frame.len", "-e", "ctrace.jobname",
            "-e", "ctrace.data.remote_ip", "-e", "ctrace.data.remote_port", "-e", "ctrace.conn_id")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[1] == "2\t33\tUSER12\t10.0.0.2\t40000\t0x00000058"
    assert lines[5] == "6\t9\tMDNSD\t2001:db8::2\t5353\t0x00001a2b"


def test_meta_types_match_the_packet_table():
    from tracedoc.decode.table import FIELDS as TABLE_FIELDS

    for name in ("data_records.txt", "osaenta.txt"):
        b = next(iter(open_reader(DATA / name).batches()))
        for col, arr in b.meta.items():
            assert col in TABLE_FIELDS, col
            assert arr.type == TABLE_FIELDS[col].arrow_type, col


def test_sniff_data_and_osaenta_only():
    for name in ("data_records.txt", "osaenta.txt", "ibm_data_trace.txt"):
        assert ctrace.sniff((DATA / name).read_bytes()[:65536]), name
