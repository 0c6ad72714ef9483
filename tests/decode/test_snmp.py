"""SNMP decoding: hand-built messages with known bytes, the BER helpers,
corpus captures against tshark, and bad bytes."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support.app_checks import check_any_bytes
from tests.support.corpus import CORPUS, have_corpus, have_tshark
from tests.support.mutations import mutate, mutations
from tests.support.tshark_compare import assert_agrees
from tracedoc.decode import ber, snmp
from tracedoc.decode.app import AppInfo
from tracedoc.decode.apptree import Tree, Truncated


# -- a BER encoder for the tests (X.690 definite lengths) -------------------------
def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(body)]) + body + content


def integer(v: int) -> bytes:
    n = max(1, (v + (v < 0)).bit_length() // 8 + 1)
    return tlv(0x02, v.to_bytes(n, "big", signed=True))


def varbind(oid: bytes, value: bytes) -> bytes:
    return tlv(0x30, tlv(0x06, oid) + value)


NULL = b"\x05\x00"
SYS_DESCR = bytes([0x2B, 6, 1, 2, 1, 1, 1, 0])  # 1.3.6.1.2.1.1.1.0
SYS_UPTIME = bytes([0x2B, 6, 1, 2, 1, 1, 3, 0])  # 1.3.6.1.2.1.1.3.0


def message(version: int, community: bytes, pdu: bytes) -> bytes:
    return tlv(0x30, integer(version) + tlv(0x04, community) + pdu)


def pdu(tag: int, request_id: int, binds: list[bytes], status: int = 0, index: int = 0) -> bytes:
    return tlv(tag, integer(request_id) + integer(status) + integer(index) + tlv(0x30, b"".join(binds)))


def run(data: bytes, want_nodes: bool = False) -> Tree:
    tree = Tree(0, want_nodes, "snmp")
    snmp.dissect(data, tree, AppInfo("udp", 40000, 161, 161, {}, 1))
    return tree


# -- v1 / v2c ---------------------------------------------------------------------
def test_v1_get_request() -> None:
    # The GetRequest of RFC 1157 section 4.1.2 for sysDescr.0, community "public".
    data = message(0, b"public", pdu(0xA0, 1234, [varbind(SYS_DESCR, NULL)]))
    assert data == bytes.fromhex("3027020100040670756" "26c6963a01a020204d2020100020100300e300c0608"
                                 "2b060102010101000500")
    t = run(data)
    v = t.values
    assert v["snmp.version"] == 0
    assert v["snmp.community"] == "public"
    assert v["snmp.data"] == 0
    assert v["snmp.request_id"] == 1234
    assert v["snmp.error_status"] == 0 and v["snmp.error_index"] == 0
    assert v["snmp.variable_bindings"] == 1
    assert v["snmp.name"] == ["1.3.6.1.2.1.1.1.0"]
    assert v["snmp.value.null"] == [True]
    assert t.message == "SNMP : Community - public(v1) : pdu - GetRequest"
    assert t.anomaly is None


def test_v1_response_is_getresponse_v2c_is_response() -> None:
    binds = [varbind(SYS_DESCR, tlv(0x04, b"Linux box"))]
    assert run(message(0, b"public", pdu(0xA2, 7, binds))).message == \
        "SNMP : Community - public(v1) : pdu - GetResponse"
    t = run(message(1, b"private", pdu(0xA2, 7, binds, status=2, index=1)))
    assert t.message == "SNMP : Community - private(v2c) : pdu - Response"
    assert t.values["snmp.error_status"] == 2 and t.values["snmp.error_index"] == 1
    assert t.values["snmp.value.octets"] == [b"Linux box"]


@pytest.mark.parametrize("tag,name", [(0xA1, "GetNextRequest"), (0xA3, "SetRequest"), (0xA6, "InformRequest"),
                                      (0xA7, "SNMPv2-Trap"), (0xA8, "Report")])
def test_pdu_names(tag: int, name: str) -> None:
    t = run(message(1, b"public", pdu(tag, 1, [varbind(SYS_UPTIME, NULL)])))
    assert t.values["snmp.data"] == tag & 0x1F
    assert t.message == f"SNMP : Community - public(v2c) : pdu - {name}"


def test_varbind_value_types() -> None:
    binds = [
        varbind(SYS_UPTIME, tlv(0x43, (123456).to_bytes(3, "big"))),          # TimeTicks
        varbind(SYS_DESCR, tlv(0x40, bytes([192, 0, 2, 1]))),                   # IpAddress
        varbind(SYS_DESCR, tlv(0x41, bytes([0x00, 0xFF, 0xFF, 0xFF, 0xFF]))),   # Counter32 4294967295
        varbind(SYS_DESCR, tlv(0x42, bytes([0x01, 0x00]))),                     # Gauge32 256
        varbind(SYS_DESCR, tlv(0x46, bytes([0x01] + [0] * 7))),                 # Counter64 2**56
        varbind(SYS_DESCR, tlv(0x06, bytes([0x2B, 6, 1, 4, 1, 0x82, 0x37]))),   # OID 1.3.6.1.4.1.311
        varbind(SYS_DESCR, integer(-5)),
        varbind(SYS_DESCR, b"\x80\x00"),                                        # noSuchObject
        varbind(SYS_DESCR, b"\x81\x00"),                                        # noSuchInstance
        varbind(SYS_DESCR, b"\x82\x00"),                                        # endOfMibView
    ]
    v = run(message(1, b"public", pdu(0xA2, 9, binds))).values
    assert v["snmp.variable_bindings"] == 10
    assert len(v["snmp.name"]) == 10
    assert v["snmp.value.timeticks"] == [123456]
    assert v["snmp.value.ipv4"] == [0xC0000201]
    assert v["snmp.value.counter"] == [4294967295, 1 << 56]
    assert v["snmp.value.g32"] == [256]
    assert v["snmp.value.oid"] == ["1.3.6.1.4.1.311"]
    assert v["snmp.value.int"] == [-5]
    assert v["snmp.noSuchObject"] == [True]
    assert v["snmp.noSuchInstance"] == [True]
    assert v["snmp.endOfMibView"] == [True]


def test_v1_trap() -> None:
    # RFC 1157 section 4.1.6: enterprise, agent-addr, generic-trap, specific-trap, time-stamp.
    body = (tlv(0x06, bytes([0x2B, 6, 1, 4, 1, 0x82, 0x37, 1])) + tlv(0x40, bytes([10, 1, 2, 3])) + integer(6)
            + integer(42) + tlv(0x43, (90000).to_bytes(3, "big")) + tlv(0x30, varbind(SYS_DESCR, integer(3))))
    t = run(message(0, b"traps", tlv(0xA4, body)))
    v = t.values
    assert v["snmp.data"] == 4
    assert v["snmp.enterprise"] == "1.3.6.1.4.1.311.1"
    assert v["snmp.agent_addr"] == (10 << 24) | (1 << 16) | (2 << 8) | 3
    assert v["snmp.generic_trap"] == 6 and v["snmp.specific_trap"] == 42
    assert v["snmp.time_stamp"] == 90000
    assert v["snmp.value.int"] == [3]
    assert "snmp.request_id" not in v
    assert t.message == "SNMP : Community - traps(v1) : pdu - Trap"


def test_get_bulk() -> None:
    # RFC 3416 section 4.2.3: non-repeaters and max-repetitions replace error-status/index.
    body = integer(77) + integer(1) + integer(10) + tlv(0x30, varbind(SYS_DESCR, NULL) + varbind(SYS_UPTIME, NULL))
    t = run(message(1, b"public", tlv(0xA5, body)))
    v = t.values
    assert v["snmp.request_id"] == 77
    assert v["snmp.non_repeaters"] == 1 and v["snmp.max_repetitions"] == 10
    assert "snmp.error_status" not in v
    assert v["snmp.name"] == ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.3.0"]
    assert t.message == "SNMP : Community - public(v2c) : pdu - GetBulkRequest"


def test_long_form_lengths() -> None:
    big = b"x" * 300
    data = message(1, b"public", pdu(0xA2, 1, [varbind(SYS_DESCR, tlv(0x04, big))]))
    assert data[1] == 0x82  # the outer length takes two bytes
    t = run(data)
    assert t.values["snmp.value.octets"] == [big]
    assert t.anomaly is None


def test_community_shown_as_wireshark_shows_strings() -> None:
    # ASCII: bytes over 0x7F become U+FFFD; the text ends at a NUL.
    assert run(message(0, b"caf\xc3\xa9", pdu(0xA0, 1, []))).values["snmp.community"] == "caf\ufffd\ufffd"
    assert run(message(0, b"ab\x00cd", pdu(0xA0, 1, []))).values["snmp.community"] == "ab"
    assert run(message(0, b"", pdu(0xA0, 1, []))).values["snmp.community"] == ""


def test_request_id_wider_than_32_bits_keeps_low_bits() -> None:
    body = tlv(0x02, bytes([1, 0, 0, 0, 5])) + integer(0) + integer(0) + tlv(0x30, b"")
    assert run(message(1, b"public", tlv(0xA0, body))).values["snmp.request_id"] == 5


def test_unknown_pdu_tag_is_passed_over() -> None:
    t = run(message(1, b"public", pdu(0xA9, 1, [])))
    assert t.values["snmp.community"] == "public"
    assert "snmp.data" not in t.values
    assert t.message == "SNMP : Community - public(v2c) : pdu -"


# -- v3 ----------------------------------------------------------------------------
def v3(flags: int, user: bytes, scoped: bytes, msg_id: int = 0x01020304) -> bytes:
    header = tlv(0x30, integer(msg_id) + integer(65507) + tlv(0x04, bytes([flags])) + integer(3))
    usm = tlv(0x30, tlv(0x04, bytes.fromhex("80001f8880a9498e5e3a2c3043")) + integer(5) + integer(1000)
              + tlv(0x04, user) + tlv(0x04, b"\0" * 12) + tlv(0x04, b""))
    return tlv(0x30, integer(3) + header + tlv(0x04, usm) + scoped)


def test_v3_plaintext() -> None:
    scoped = tlv(0x30, tlv(0x04, b"\x80\x00\x1f\x88") + tlv(0x04, b"") + pdu(0xA0, 99, [varbind(SYS_DESCR, NULL)]))
    t = run(v3(0x05, b"alice", scoped))
    v = t.values
    assert v["snmp.msgVersion"] == 3 and "snmp.version" not in v
    assert v["snmp.msgID"] == 0x01020304 and v["snmp.msgMaxSize"] == 65507
    assert v["snmp.msgFlags"] == b"\x05"
    assert v["snmp.v3.flags.auth"] is True and v["snmp.v3.flags.crypt"] is False and v["snmp.v3.flags.report"] is True
    assert v["snmp.msgSecurityModel"] == 3
    assert v["snmp.msgAuthoritativeEngineBoots"] == 5 and v["snmp.msgAuthoritativeEngineTime"] == 1000
    assert v["snmp.msgUserName"] == "alice"
    assert v["snmp.msgData"] == 0
    assert v["snmp.contextName"] == ""
    assert v["snmp.data"] == 0 and v["snmp.request_id"] == 99
    assert t.message == "SNMP : v3 msgID 16909060 (user alice) : pdu - GetRequest"


def test_v3_encrypted() -> None:
    t = run(v3(0x07, b"bob", tlv(0x04, bytes(range(32)))))
    v = t.values
    assert v["snmp.msgData"] == 1
    assert v["snmp.encryptedPDU"] == bytes(range(32))
    assert "snmp.data" not in v
    assert t.message == "SNMP : v3 msgID 16909060 (user bob) : encrypted pdu"


# -- bad bytes -------------------------------------------------------------------------
def test_lying_inner_length_is_malformed_at_its_offset() -> None:
    good = message(1, b"public", pdu(0xA0, 1, [varbind(SYS_DESCR, NULL)]))
    bad = bytearray(good)
    bad[6] = 0x7F  # the community claims 127 bytes
    t = run(bytes(bad))
    assert t.anomaly is not None
    assert t.values["snmp.version"] == 1
    assert t.values["snmp.community"].startswith("public")  # cut to what is there, as tshark shows it
    assert "snmp.data" not in t.values


def test_indefinite_outer_length_decodes_to_the_end_of_contents() -> None:
    good = message(1, b"public", pdu(0xA0, 1, [varbind(SYS_DESCR, NULL)]))
    t = run(b"\x30\x80" + good[2:] + b"\x00\x00")
    assert t.values["snmp.name"] == ["1.3.6.1.2.1.1.1.0"]


def test_cut_short_message_is_truncated() -> None:
    good = message(1, b"public", pdu(0xA0, 1, [varbind(SYS_DESCR, NULL)]))
    tree = Tree(0, False, "snmp")
    with pytest.raises(Truncated):
        snmp.dissect(good[:20], tree, AppInfo("udp", 40000, 161, 161, {}, 1))
    assert tree.values["snmp.community"] == "public"
    assert tree.message == "SNMP : Community - public(v2c) : pdu - GetRequest"


def test_invalid_oid_ends_the_message() -> None:
    binds = [varbind(SYS_DESCR, NULL), varbind(bytes([0x2B, 0x90, 0x80, 0x80, 0x80, 0x00]), NULL),
             varbind(SYS_UPTIME, NULL)]
    t = run(message(1, b"public", pdu(0xA0, 1, binds)))
    assert t.values["snmp.name"] == ["1.3.6.1.2.1.1.1.0", ""]  # as tshark lists them
    assert t.anomaly is not None and "invalid OID" in t.anomaly[0]


def test_not_snmp_is_named() -> None:
    t = run(b"\x01\x02\x03")
    assert not t.values and t.anomaly is not None


def test_pdu_length_frames_tcp() -> None:
    data = message(1, b"public", pdu(0xA0, 1, []))
    assert snmp.pdu_length(data + b"\x30", AppInfo("tcp", 40000, 161, 161, {}, 1)) == len(data)
    assert snmp.pdu_length(data[:1], AppInfo("tcp", 40000, 161, 161, {}, 1)) == 0
    assert snmp.pdu_length(b"\x16\x03", AppInfo("tcp", 40000, 161, 161, {}, 1)) == -1


# -- BER helpers -----------------------------------------------------------------------
def test_oid_text() -> None:
    assert ber.oid_text(bytes([0x2B, 6, 1])) == "1.3.6.1"
    assert ber.oid_text(bytes([0x88, 0x37, 0x03])) == "2.999.3"  # X.690 section 8.19.5 example
    assert ber.oid_text(bytes([0x2B, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F])) == "1.3.4294967295"
    assert ber.oid_text(bytes([0x2B, 0x90, 0x80, 0x80, 0x80, 0x00])) is None  # 2**32
    assert ber.oid_text(bytes([0x2B, 6, 0x81])) == "1.3.6"  # unfinished sub-identifier dropped
    assert ber.oid_text(b"") == "0"


def test_integer_widths() -> None:
    assert ber.integer(b"\xff", True, 32) == -1
    assert ber.integer(b"\xff", False, 32) == 255
    assert ber.integer(b"\x80\x00\x00\x00", True, 32) == -(1 << 31)
    assert ber.integer(b"\x01\x00\x00\x00\x07", True, 32) == 7
    assert ber.integer_fits(b"\x00" + b"\xff" * 8) and not ber.integer_fits(b"\x01" * 9)
    assert not ber.integer_fits(b"")


def test_read_tlv() -> None:
    t = ber.read_tlv(b"\x04\x82\x01\x00" + b"a" * 256, 0, 260)
    assert (t.cls, t.constructed, t.tag, t.off, t.length) == (0, False, 4, 4, 256)
    t = ber.read_tlv(b"\x30\x80\x05\x00\x00\x00", 0, 6)
    assert t.indefinite and t.length == 2 and t.next == 6
    t = ber.read_tlv(b"\x9f\x81\x00\x00", 0, 4)  # high tag number form
    assert (t.cls, t.tag) == (2, 128)
    with pytest.raises(ber.BerBounds):
        ber.read_tlv(b"\x30\x80\x05\x00", 0, 4)


# -- against tshark ------------------------------------------------------------------
SNMP_TRACES = ["snmpv1_get.pcap", "snmpv1_trap.pcap", "snmpv1_set.pcap", "snmpv2_get_bulk.pcap",
               "snmpv2_get_next.pcap", "snmpv3_get_next.pcap", "snmp-crash-62790.pcap",
               "snmp-oid-subidentifier-too-long.pcap", "snmpwalk-short.pcap"]
FIELDS = ["snmp.version", "snmp.community", "snmp.data", "snmp.request_id", "snmp.error_status",
          "snmp.error_index", "snmp.name", "snmp.variable_bindings", "snmp.enterprise", "snmp.agent_addr",
          "snmp.generic_trap", "snmp.time_stamp", "snmp.non_repeaters", "snmp.max_repetitions", "snmp.msgVersion",
          "snmp.msgID", "snmp.msgFlags", "snmp.msgSecurityModel", "snmp.msgUserName", "snmp.msgData",
          "snmp.value.counter"]


@pytest.mark.corpus
@pytest.mark.skipif(not (have_corpus() and have_tshark()), reason="needs ../shared/corpus and tshark")
@pytest.mark.parametrize("name", SNMP_TRACES)
def test_corpus_agrees_with_tshark(name: str) -> None:
    assert_agrees(CORPUS / "zeek/testing/btest/Traces/snmp" / name, FIELDS)


# -- any bytes ------------------------------------------------------------------------
SAMPLES = [
    message(0, b"public", pdu(0xA0, 1, [varbind(SYS_DESCR, NULL)])),
    message(1, b"public", tlv(0xA5, integer(1) + integer(0) + integer(5) + tlv(0x30, varbind(SYS_DESCR, NULL)))),
    message(0, b"t", tlv(0xA4, tlv(0x06, b"\x2b\x06") + tlv(0x40, b"\x01\x02\x03\x04") + integer(0) + integer(0)
                         + tlv(0x43, b"\x01") + tlv(0x30, varbind(SYS_UPTIME, tlv(0x43, b"\x05"))))),
    v3(0x04, b"", tlv(0x30, tlv(0x04, b"") + tlv(0x04, b"") + pdu(0xA0, 1, []))),
]


def _check(payload: bytes) -> None:
    check_any_bytes(snmp, payload, AppInfo("udp", 40000, 161, 161, {}, 1))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes(payload: bytes) -> None:
    _check(payload)
    _check(b"\x30" + payload)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.lists(mutations(120, [0, 0x80, 0x81, 0x82, 0x84, 0xFF, 0x7F, 0x1F],
                                                     [">B", ">H", ">I"]), min_size=1, max_size=4))
def test_mutated_messages(base: bytes, muts) -> None:  # type: ignore[no-untyped-def]
    _check(mutate(base, muts))


def test_struct_sanity() -> None:
    # The test encoder itself, checked against a known encoding (RFC 1157 message header).
    assert integer(0) == b"\x02\x01\x00"
    assert integer(-1) == b"\x02\x01\xff"
    assert integer(128) == b"\x02\x02\x00\x80"
    assert tlv(0x04, b"public") == struct.pack("!BB6s", 4, 6, b"public")
