"""Telnet: RFC 854 commands and RFC 855 option negotiation, suboptions with
known layouts, text lines, TN3270E (RFC 2355) negotiation and data headers,
corpus captures against tshark, and bad bytes."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support.app_checks import assert_fields_or_anomaly, dissect_alone
from tests.support.corpus import CORPUS, have_corpus, have_tshark
from tests.support.mutations import mutate, mutations
from tests.support.tshark_compare import assert_agrees
from tracedoc.decode import telnet, tls
from tracedoc.decode.app import AppDecoder, AppInfo
from tracedoc.decode.apptree import Tree

IAC, DONT, DO, WONT, WILL, SB, SE, EOR = 255, 254, 253, 252, 251, 250, 240, 239
TERMINAL_TYPE, NAWS, TN3270E, START_TLS = 24, 31, 40, 46


def cmd(*b: int) -> bytes:
    return bytes([IAC, *b])


def sb(opt: int, params: bytes) -> bytes:
    return bytes([IAC, SB, opt]) + params + bytes([IAC, SE])


class Session:
    def __init__(self) -> None:
        self.state: dict = {}
        self.frame = 0

    def client(self, data: bytes, nodes: bool = False) -> Tree:
        return self._run(data, 40000, 23, nodes)

    def server(self, data: bytes, nodes: bool = False) -> Tree:
        return self._run(data, 23, 40000, nodes)

    def _run(self, data: bytes, sp: int, dp: int, nodes: bool) -> Tree:
        self.frame += 1
        tree = Tree(0, nodes, "telnet")
        telnet.dissect(data, tree, AppInfo("tcp", sp, dp, 23, self.state, self.frame))
        return tree


# -- negotiation (RFC 855) ----------------------------------------------------------------------

def test_do_will_negotiation() -> None:
    t = Session().client(cmd(DO, 3) + cmd(WILL, NAWS) + cmd(WILL, 33))
    assert t.values["telnet.cmd"] == [DO, WILL, WILL] and t.values["telnet.subcmd"] == [3, NAWS, 33]
    assert t.message == "telnet : DO SUPPRESS-GO-AHEAD, WILL NAWS, WILL TOGGLE-FLOW-CONTROL"


def test_seed_wording_for_tn3270e() -> None:
    assert Session().server(cmd(DO, TN3270E)).message == "telnet : DO TN3270E"


def test_naws_suboption() -> None:
    # RFC 1073: IAC SB NAWS 0 80 0 24 IAC SE.
    t = Session().client(sb(NAWS, struct.pack("!HH", 80, 24)))
    v = t.values
    assert v["telnet.cmd"] == [SB, SE] and v["telnet.subcmd"] == [NAWS]
    assert v["telnet.naws_subopt.width"] == [80] and v["telnet.naws_subopt.height"] == [24]


def test_escaped_iac_inside_a_suboption() -> None:
    # A width of 255 is sent as IAC IAC (RFC 1073 section 3).
    t = Session().client(sb(NAWS, b"\x00\xff\xff\x00\x18"))
    assert t.values["telnet.naws_subopt.width"] == [255] and t.values["telnet.naws_subopt.height"] == [24]


def test_wrong_length_suboption_is_not_decoded() -> None:
    t = Session().client(sb(NAWS, b"\x00\x50\x00"))
    assert "telnet.naws_subopt.width" not in t.values


def test_suboption_without_a_decoder_is_option_data() -> None:
    t = Session().client(sb(32, b"\x00" + b"38400,38400"))  # TERMINAL-SPEED IS (RFC 1079)
    assert t.values["telnet.option_data"] == [b"\x00" + b"38400,38400"]


def test_terminal_type_string() -> None:
    # RFC 1091: IAC SB TERMINAL-TYPE IS "VT100" IAC SE.
    t = Session().client(sb(TERMINAL_TYPE, b"\x00VT100"))
    assert t.values["telnet.subcmd"] == [TERMINAL_TYPE, 0] and t.values["telnet.string_subopt.value"] == ["VT100"]
    t = Session().server(sb(TERMINAL_TYPE, b"\x01"))
    assert t.values["telnet.subcmd"] == [TERMINAL_TYPE, 1]


def test_unclosed_suboption_runs_to_the_end() -> None:
    t = Session().client(bytes([IAC, SB, 66]) + b"abc")
    assert t.values["telnet.option_data"] == [b"abc"] and t.values["telnet.cmd"] == [SB]


def test_iac_in_the_last_byte_is_malformed() -> None:
    tree = AppDecoder()._dissect(telnet, b"login\xff", 0, AppInfo("tcp", 23, 40000, 23, {}, 1), 1)
    assert tree.anomaly is not None and "IAC" in tree.anomaly[0]


# -- text ---------------------------------------------------------------------------------------------

def test_text_lines() -> None:
    t = Session().server(b"login: ")
    assert t.values["telnet.data"] == ["login: "]
    assert t.message == "telnet : 7 bytes of telnet data.."
    assert Session().client(b"ab\r\ncd\nef").values["telnet.data"] == ["ab\r\n", "cd\n", "ef"]


def test_cr_nul_ends_a_line_and_nul_ends_the_string() -> None:
    assert Session().client(b"x\r\x00y").values["telnet.data"] == ["x\r", "y"]


def test_escaped_iac_in_text_stays_in_the_text() -> None:
    t = Session().client(b"a\xff\xffb" + cmd(241))
    assert t.values["telnet.data"] == ["a\ufffd\ufffdb"] and t.values["telnet.cmd"] == [241]


# -- TN3270 / TN3270E (RFC 1041, RFC 2355) --------------------------------------------------------------

def test_terminal_type_of_a_3270_marks_the_session() -> None:
    s = Session()
    s.client(sb(TERMINAL_TYPE, b"\x00IBM-3278-2"))
    assert s.state[telnet.STATE_TN3270] == {"outbound_port": 23, "extended": False, "model": 2}


def test_tn3270e_device_type_request_and_data_header() -> None:
    s = Session()
    t = s.server(cmd(DO, TN3270E))
    s.client(cmd(WILL, TN3270E))
    t = s.client(sb(TN3270E, b"\x02\x07IBM-3278-2-E"))  # DEVICE-TYPE REQUEST IBM-3278-2-E
    assert t.values["telnet.tn3270.subopt"] == [2, 7]
    assert t.values["telnet.tn3270.request_string"] == ["IBM-3278-2-E"]
    assert s.state[telnet.STATE_TN3270]["extended"] is True
    # A 3270-DATA record from the host: header (type 0, flags 0, seq 1), Erase/Write (0xF5), WCC, data.
    record = struct.pack("!BBBH", 0, 0, 0, 1) + b"\xf5\xc3\x11\x40\x40" + cmd(EOR)
    t = s.server(record)
    v = t.values
    assert v["tn3270.tn3270e_data_type"] == [0] and v["tn3270.tn3270e_seq_number"] == [1]
    assert v["tn3270.tn3270e_request_flag"] == [0] and v["tn3270.tn3270e_response_flag"] == [0]
    assert v["tn3270.command_code"] == [0xF5] and v["telnet.cmd"] == [EOR]
    assert t.message == "telnet : tn3270e data header"
    # From the terminal: header, then the AID (Enter, 0x7D).
    t = s.client(struct.pack("!BBBH", 0, 0, 0, 2) + b"\x7d\x40\x40" + cmd(EOR))
    assert t.values["tn3270.aid"] == [0x7D]


def test_tn3270_records_wait_for_their_iac() -> None:
    s = Session()
    s.client(sb(TN3270E, b"\x02\x07IBM-3278-2-E"))
    info = AppInfo("tcp", 23, 40000, 23, s.state, 9)
    assert telnet.pdu_length(b"\x00\x00\x00\x00\x01\xf5\xc3", info) == 0
    rec = b"\x00\x00\x00\x00\x01\xf5\xc3" + cmd(EOR)
    assert telnet.pdu_length(rec + b"\x00\x00", info) == len(rec)
    assert telnet.pdu_length(b"plain", AppInfo("tcp", 23, 40000, 23, {}, 1)) == 5


def test_start_tls_from_both_sides_hands_over() -> None:
    s = Session()
    s.client(sb(START_TLS, b"\x01"))
    assert "__handoff__" not in s.state
    s.server(sb(START_TLS, b"\x01"))
    assert s.state["__handoff__"] is tls


# -- against tshark ---------------------------------------------------------------------------------------

FIELDS = ["telnet.cmd", "telnet.subcmd", "telnet.data", "telnet.option_data", "telnet.string_subopt.value",
          "telnet.naws_subopt.width", "telnet.naws_subopt.height", "telnet.subcommand_data"]
TRACES = ["zeek/testing/btest/Traces/mixed-vlan-mpls.pcap",
          "tcpdump/tests/telnet-iac-check-oobr.pcap",
          "zeek/testing/btest/Traces/contentline/telnet-long-line-no-eol.pcapng.gz",
          "zeek/testing/btest/Traces/contentline/telnet-unclosed-suboption.pcapng.gz"]


@pytest.mark.corpus
@pytest.mark.skipif(not (have_corpus() and have_tshark()), reason="needs ../shared/corpus and tshark")
@pytest.mark.parametrize("name", TRACES)
def test_corpus_agrees_with_tshark(name: str) -> None:
    assert_agrees(CORPUS / name, FIELDS)


# -- any bytes ----------------------------------------------------------------------------------------------

SAMPLES = [cmd(DO, 3) + cmd(WILL, NAWS), sb(NAWS, b"\x00\xff\xff\x00\x18"), sb(TERMINAL_TYPE, b"\x00IBM-3278-2-E"),
           sb(TN3270E, b"\x02\x07IBM-3278-2-E\x01LU1"), sb(TN3270E, b"\x03\x07\x00\x02\x04"),
           sb(37, b"\x00\x02\x00\x00abc"), sb(38, b"\x01\x01\x02"), sb(44, b"\x01\x00\x00\x25\x80"),
           sb(29, b"\x01IBM"), sb(11, b"\x00\x08\x10"), sb(27, b"\x06ban\x1dner"), b"login: \r\n"]


def _check(payload: bytes, to_server: bool, state: dict | None = None) -> None:
    sp, dp = (40000, 23) if to_server else (23, 40000)
    dissect_alone(telnet, payload, AppInfo("tcp", sp, dp, 23, dict(state or {}), 1))
    n = telnet.pdu_length(payload, AppInfo("tcp", sp, dp, 23, dict(state or {}), 1))
    assert 0 <= n <= len(payload)
    assert_fields_or_anomaly(telnet, payload, AppInfo("tcp", sp, dp, 23, dict(state or {}), 1))


TN3270E_STATE = {telnet.STATE_TN3270: {"outbound_port": 23, "extended": True, "model": 2}}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.booleans(), st.booleans())
def test_arbitrary_bytes(payload: bytes, to_server: bool, tn3270e: bool) -> None:
    _check(payload, to_server, TN3270E_STATE if tn3270e else None)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.lists(mutations(40, [0, 1, 2, 7, 0xF0, 0xFA, 0xFF, 0xFFFF], [">B", ">H"]),
                                          min_size=1, max_size=4), st.booleans())
def test_mutated_messages(base: bytes, muts, to_server: bool) -> None:  # type: ignore[no-untyped-def]
    _check(mutate(base, muts), to_server)
