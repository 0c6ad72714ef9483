"""NTP decoding: RFC 5905 headers packed with struct, control (mode 6) and
private (mode 7) messages, corpus captures against tshark, and bad bytes."""

from __future__ import annotations

import calendar
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support.app_checks import check_any_bytes
from tests.support.corpus import CORPUS, have_corpus, have_tshark
from tests.support.mutations import mutate, mutations
from tests.support.tshark_compare import assert_agrees, tshark_lines
from tracedoc.decode import ntp
from tracedoc.decode.app import AppInfo
from tracedoc.decode.apptree import Tree, Truncated

NTP_EPOCH_OFFSET = 2208988800  # 1900-01-01 to 1970-01-01 (RFC 5905 section 6)


def ntp_ts(unix_seconds: int, frac: int = 0) -> bytes:
    return struct.pack("!II", unix_seconds + NTP_EPOCH_OFFSET, frac)


def header(li: int, vn: int, mode: int, stratum: int, poll: int, precision: int, rootdelay: int, rootdisp: int,
           refid: bytes, ref: bytes, org: bytes, rec: bytes, xmt: bytes) -> bytes:
    return struct.pack("!BBbbII4s", (li << 6) | (vn << 3) | mode, stratum, poll, precision, rootdelay, rootdisp,
                       refid) + ref + org + rec + xmt


T0 = calendar.timegm((2019, 5, 30, 20, 3, 34, 0, 0, 0))


def run(data: bytes, want_nodes: bool = False) -> Tree:
    tree = Tree(0, want_nodes, "ntp")
    ntp.dissect(data, tree, AppInfo("udp", 40000, 123, 123, {}, 1))
    return tree


def test_client_request() -> None:
    data = header(0, 4, 3, 0, 6, -20, 0, 0, b"\0\0\0\0", bytes(8), bytes(8), bytes(8), ntp_ts(T0, 1 << 31))
    t = run(data)
    v = t.values
    assert v["ntp.flags"] == 0x23
    assert (v["ntp.flags.li"], v["ntp.flags.vn"], v["ntp.flags.mode"]) == (0, 4, 3)
    assert v["ntp.stratum"] == 0 and v["ntp.ppoll"] == 6
    assert v["ntp.precision"] == 236  # -20 as tshark prints it (unsigned)
    assert v["ntp.org"] == 0  # all-zero timestamp: tshark's "NULL"
    assert v["ntp.xmt"] == T0 * 1_000_000_000 + 500_000_000
    assert "ntp.keyid" not in v
    assert t.message == "ntp : client request (v4)"
    assert t.anomaly is None


def test_server_reply() -> None:
    data = header(0, 4, 4, 2, 6, -23, 0x0C81, 0x1244, bytes([105, 237, 207, 28]), ntp_ts(T0 - 600),
                  ntp_ts(T0), ntp_ts(T0 + 1), ntp_ts(T0 + 1, 0x40000000))
    t = run(data)
    v = t.values
    assert v["ntp.flags.mode"] == 4 and v["ntp.stratum"] == 2
    assert v["ntp.rootdelay"] == 0x0C81 and v["ntp.rootdispersion"] == 0x1244
    assert v["ntp.refid"] == bytes([105, 237, 207, 28])
    assert v["ntp.reftime"] == (T0 - 600) * 1_000_000_000
    assert v["ntp.rec"] == (T0 + 1) * 1_000_000_000
    assert v["ntp.xmt"] == (T0 + 1) * 1_000_000_000 + 250_000_000
    assert t.message == "ntp : server reply (v4) stratum 2"


def test_kiss_of_death() -> None:
    # RFC 5905 section 7.4: stratum 0, the reference ID carries the kiss code.
    data = header(3, 4, 4, 0, 6, -20, 0, 0, b"RATE", bytes(8), ntp_ts(T0), ntp_ts(T0), ntp_ts(T0))
    assert run(data).message == "ntp : server reply (v4) stratum 0 kiss code RATE"


def test_symmetric_and_broadcast_wording() -> None:
    base = list(header(0, 3, 1, 3, 10, -18, 0, 0, b"\x7f\x7f\x01\x00", *(ntp_ts(T0),) * 4))
    assert run(bytes(base)).message == "ntp : symmetric active (v3) stratum 3"
    base[0] = (4 << 3) | 5
    assert run(bytes(base)).message == "ntp : broadcast (v4) stratum 3"


def test_timestamp_eras() -> None:
    # Wireshark: a timestamp whose top bit is clear is in era 1 (from 2036-02-07 06:28:16 UTC).
    assert ntp.ntp_time_ns(0, 1) == 2085978496 * 1_000_000_000
    assert ntp.ntp_time_ns(0x80000000, 0) == (0x80000000 - NTP_EPOCH_OFFSET) * 1_000_000_000
    assert ntp.format_ntp_time(T0 * 1_000_000_000 + 48406864) == "May 30, 2019 20:03:34.048406864 UTC"
    assert ntp.format_ntp_time(0) == "NULL"


def test_mac_and_extension_fields() -> None:
    base = header(0, 4, 3, 2, 6, -20, 0, 0, b"\x0a\0\0\1", *(ntp_ts(T0),) * 4)
    md5 = struct.pack("!I", 1) + bytes(range(16))
    v = run(base + md5).values
    assert v["ntp.keyid"] == b"\0\0\0\1" and v["ntp.mac"] == bytes(range(16))
    ext = struct.pack("!HH", 0x0104, 16) + b"\x11" * 12
    v = run(base + ext + md5).values
    assert v["ntp.ext.type"] == [0x0104] and v["ntp.ext.length"] == [16]
    assert v["ntp.keyid"] == b"\0\0\0\1"
    v = run(base + b"\0\0\0\0").values  # crypto-NAK
    assert v["ntp.keyid"] == b"\0\0\0\0" and "ntp.mac" not in v


def test_control_message() -> None:
    # RFC 9327 section 2: read variables response, 12-byte header then data.
    payload = b'version="ntpd 4.2.8"'
    data = struct.pack("!BBHHHHH", (0 << 6) | (2 << 3) | 6, 0x82, 68, 0x0618, 0, 0, len(payload)) + payload
    t = run(data)
    v = t.values
    assert v["ntp.flags.mode"] == 6
    assert v["ntp.ctrl.flags2"] == 0x82
    assert (v["ntp.ctrl.flags2.r"], v["ntp.ctrl.flags2.error"], v["ntp.ctrl.flags2.opcode"]) == (1, 0, 2)
    assert v["ntp.ctrl.sequence"] == 68 and v["ntp.ctrl.status"] == 0x0618
    assert v["ntp.ctrl.count"] == len(payload)
    assert "ntp.stratum" not in v
    assert t.message == "ntp : control response (v2) read variables"


def test_control_data_past_the_end_is_truncated() -> None:
    data = struct.pack("!BBHHHHH", 0x16, 0x02, 1, 0, 0, 0, 100) + b"x" * 10
    with pytest.raises(Truncated):
        run(data)


def test_private_peer_list_sum() -> None:
    # ntpd mode 7 PEER_LIST_SUM response: two 72-byte items.
    def item(stratum: int, ppoll: int) -> bytes:
        return (struct.pack("!4s4sHBbbBBB", bytes([127, 0, 0, 1]), bytes([10, 0, 0, 2]), 123, stratum, 6, ppoll,
                            255, 1, 3) + bytes(72 - 17))
    data = struct.pack("!BBBBHH", 0x80 | (2 << 3) | 7, 0, 3, 1, 2, 72) + item(3, 10) + item(1, 8)
    t = run(data)
    v = t.values
    assert v["ntp.flags"] == 0x97 and "ntp.flags.li" not in v
    assert v["ntp.priv.flags.r"] == 1 and v["ntp.priv.impl"] == 3 and v["ntp.priv.reqcode"] == 1
    assert v["ntp.priv.numitems"] == 2 and v["ntp.priv.itemsize"] == 72 and v["ntp.priv.err"] == 0
    assert v["ntp.stratum"] == 3 and v["ntp.ppoll"] == 10  # the first item's, as tshark's first occurrence
    assert t.message == "ntp : private response (v2) PEER_LIST_SUM"


def test_short_message_is_truncated() -> None:
    data = header(0, 4, 3, 0, 6, -20, 0, 0, bytes(4), *(bytes(8),) * 4)[:30]
    tree = Tree(0, False, "ntp")
    with pytest.raises(Truncated):
        ntp.dissect(data, tree, AppInfo("udp", 40000, 123, 123, {}, 1))
    assert tree.values["ntp.stratum"] == 0


def test_details_labels() -> None:
    data = header(0, 4, 4, 2, 6, -23, 3201, 4676, bytes([105, 237, 207, 28]), *(ntp_ts(T0),) * 4)
    t = run(data, want_nodes=True)
    labels = [n.label for n in t.root.children]
    assert "Flags: 0x24, Leap Indicator: no warning, Version number: NTP Version 4, Mode: server" in labels
    assert "..10 0... = Version number: NTP Version 4 (4)" in labels
    assert "Root Delay: 0.048843 seconds" in labels
    assert "Reference ID: 105.237.207.28" in labels
    assert "Transmit Timestamp: May 30, 2019 20:03:34.000000000 UTC" in labels


# -- against tshark ------------------------------------------------------------------
NTP_TRACES = ["zeek/testing/btest/Traces/ntp/ntp.pcap", "zeek/testing/btest/Traces/ntp/NTP-digest.pcap",
              "zeek/testing/btest/Traces/ntp/ntpmode67.pcap",
              "zeek/testing/btest/Traces/ntp/ntp-no-extensions-mac.pcap",
              "tcpdump/tests/ntp-control.pcap", "tcpdump/tests/ntp-mode7.pcap", "tcpdump/tests/ntp-time-ef.pcap"]
FIELDS = ["ntp.flags", "ntp.flags.li", "ntp.flags.vn", "ntp.flags.mode", "ntp.stratum", "ntp.ppoll", "ntp.precision",
          "ntp.rootdelay", "ntp.rootdispersion", "ntp.refid", "ntp.keyid", "ntp.mac", "ntp.ctrl.flags2",
          "ntp.ctrl.flags2.opcode", "ntp.ctrl.sequence", "ntp.ctrl.status", "ntp.ctrl.count", "ntp.priv.flags.r",
          "ntp.priv.reqcode", "ntp.priv.numitems", "ntp.priv.itemsize", "ntp.priv.err"]


@pytest.mark.corpus
@pytest.mark.skipif(not (have_corpus() and have_tshark()), reason="needs ../shared/corpus and tshark")
@pytest.mark.parametrize("rel", NTP_TRACES)
def test_corpus_agrees_with_tshark(rel: str) -> None:
    path = CORPUS / rel
    assert_agrees(path, FIELDS)
    # Timestamps: same instants, in tshark's text.
    import tracedoc

    want = [ln[0] for ln in tshark_lines(str(path), ["ntp.xmt"])]
    got = []
    for batch in tracedoc.open(str(path)).iter_packets(columns=["ntp.xmt"]):
        got += batch.column("ntp.xmt").to_pylist()
    shown = ["" if g is None else ntp.format_ntp_time(g) for g in got]
    assert shown == want


# -- any bytes ------------------------------------------------------------------------
SAMPLES = [
    header(0, 4, 4, 2, 6, -23, 3201, 4676, bytes([105, 237, 207, 28]), *(ntp_ts(T0),) * 4) + struct.pack("!I", 1)
    + bytes(16),
    struct.pack("!BBHHHHH", 0x16, 0x81, 5, 0, 0, 0, 8) + b"\0\1\x96\x1a\0\2\x80\x11",
    struct.pack("!BBBBHH", 0x97, 0, 3, 2, 1, 96) + bytes(96),
]


def _check(payload: bytes) -> None:
    check_any_bytes(ntp, payload, AppInfo("udp", 40000, 123, 123, {}, 1))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_arbitrary_bytes(payload: bytes) -> None:
    _check(payload)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.lists(mutations(120, [0, 0xFFFF, 0x10, 0x1000, 0xFFFFFFFF], [">B", ">H", ">I"]),
                                          min_size=1, max_size=4))
def test_mutated_messages(base: bytes, muts) -> None:  # type: ignore[no-untyped-def]
    _check(mutate(base, muts))
