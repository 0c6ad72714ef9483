"""FTP control connection: RFC 959 commands and replies, PORT/PASV and
RFC 2428 EPRT/EPSV addresses, multi-line replies across segments, the
working directory, AUTH TLS, the heuristic, corpus captures against tshark,
and bad bytes."""

from __future__ import annotations

import ipaddress

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support import pcapgen as g
from tests.support.app_checks import check_any_bytes
from tests.support.corpus import CORPUS, have_corpus, have_tshark
from tests.support.mutations import mutate, mutations
from tests.support.tshark_compare import assert_agrees
from tracedoc.decode import ftp
from tracedoc.decode.app import AppInfo
from tracedoc.decode.apptree import Tree
from tracedoc.decode.table import Decoder
from tracedoc.read.batch import FrameBatch

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def run(line: bytes, to_server: bool = True, state: dict | None = None, frame: int = 1,
        nodes: bool = False) -> Tree:
    tree = Tree(0, nodes, "ftp")
    sp, dp = (40000, 21) if to_server else (21, 40000)
    ftp.dissect(line, tree, AppInfo("tcp", sp, dp, 21, {} if state is None else state, frame))
    return tree


# -- requests and replies (RFC 959 section 4) ------------------------------------------------

def test_request_command_and_argument() -> None:
    t = run(b"USER anonymous\r\n")
    v = t.values
    assert v["ftp.request"] is True and v["ftp.response"] is False
    assert v["ftp.request.command"] == "USER" and v["ftp.request.arg"] == "anonymous"
    assert "ftp.response.code" not in v
    assert t.message == "ftp command USER"


def test_command_without_argument() -> None:
    t = run(b"PASV\r\n")
    assert t.values["ftp.request.command"] == "PASV" and "ftp.request.arg" not in t.values


def test_blanks_after_the_command_are_skipped_trailing_kept() -> None:
    # Wireshark 4.0 skips the blanks after the verb and keeps the rest as is.
    v = run(b"USER  bob \r\n").values
    assert (v["ftp.request.command"], v["ftp.request.arg"]) == ("USER", "bob ")


def test_line_without_a_verb() -> None:
    t = run(b" LIST\r\n")
    assert "ftp.request.command" not in t.values and t.values["ftp.request.arg"] == "LIST"
    assert t.message == "ftp command"


def test_only_the_first_line_is_the_request() -> None:
    v = run(b"USER x\nPASS y\r\n").values
    assert (v["ftp.request.command"], v["ftp.request.arg"]) == ("USER", "x")


def test_reply_code_and_text() -> None:
    t = run(b"220 ftp.example.org ready\r\n", to_server=False)
    v = t.values
    assert v["ftp.response"] is True and v["ftp.request"] is False
    assert v["ftp.response.code"] == 220 and v["ftp.response.arg"] == "ftp.example.org ready"
    assert t.message == "ftp reply code 220"


def test_reply_text_after_four_characters_whatever_the_fourth() -> None:
    v = run(b"230_no_space\r\n", to_server=False).values
    assert (v["ftp.response.code"], v["ftp.response.arg"]) == (230, "no_space")
    assert run(b"230\r\n", to_server=False).values["ftp.response.code"] == 230


def test_continuation_line_has_text_only() -> None:
    v = run(b"    The NetBSD Project\r\n", to_server=False).values
    assert "ftp.response.code" not in v and v["ftp.response.arg"] == "    The NetBSD Project"


def test_text_as_wireshark_reads_ascii() -> None:
    # Bytes above 0x7F become U+FFFD each; a NUL ends the string.
    v = run(b"RE\xc3\xa9TR x\xffy\r\n").values
    assert v["ftp.request.command"] == "RE\ufffd\ufffdTR" and v["ftp.request.arg"] == "x\ufffdy"
    assert run(b"x\x00y z\r\n").values["ftp.request.command"] == "x"


def test_details_labels() -> None:
    t = run(b"PORT 137,72,43,137,40,196\r\n", nodes=True)
    section = [n for n in t.root.children if n.label == "FTP Data"][0]
    labels = [n.label for n in section.children]
    assert "Command : PORT" in labels and "Parameters : 137,72,43,137,40,196" in labels
    t = run(b"227 Entering Passive Mode (137,72,43,207,14,95)\r\n", to_server=False, nodes=True)
    section = [n for n in t.root.children if n.label == "FTP Data"][0]
    assert "Reply Code : 227(Entering Passive Mode)" in [n.label for n in section.children]


# -- data connections ---------------------------------------------------------------------------

def test_port_command() -> None:
    # The seed's example: 40 * 256 + 196 = 10436.
    state: dict = {}
    t = run(b"PORT 137,72,43,137,40,196\r\n", state=state, frame=61)
    assert t.values["ftp.active.cip"] == ip("137.72.43.137") and t.values["ftp.active.port"] == 10436
    assert t.message == "ftp command PORT 137.72.43.137:10436"
    assert state[ftp.STATE_DATA] == [(ip("137.72.43.137"), 10436, 61, "PORT")]


def test_pasv_reply() -> None:
    state: dict = {}
    t = run(b"227 Entering Passive Mode (137,72,43,207,14,95)\r\n", to_server=False, state=state, frame=733)
    assert t.values["ftp.passive.ip"] == ip("137.72.43.207") and t.values["ftp.passive.port"] == 14 * 256 + 95
    assert t.message == "ftp reply code 227 (Entering Passive Mode) 137.72.43.207:3679"
    assert state[ftp.STATE_DATA] == [(ip("137.72.43.207"), 3679, 733, "PASV")]


@pytest.mark.parametrize("text, want", [
    (b"Entering Passive Mode (127,0,0,1,4,51)", (ip("127.0.0.1"), 1075)),
    (b"Data transfer will passively listen to 127,0,0,1,4,51", (ip("127.0.0.1"), 1075)),
    (b"Entering passive mode. 127,0,0,1,4,51", (ip("127.0.0.1"), 1075)),
    (b"Mode 7 (10, 1, 2, 3, 1, 2)", (ip("10.1.2.3"), 258)),   # blanks after commas, as scanf reads them
    (b"port 300,1,1,1,1,-1", (ip("44.1.1.1"), 511)),           # values taken modulo 256, as Wireshark does
    (b"no address here", None),
])
def test_pasv_address_forms(text: bytes, want: tuple[int, int] | None) -> None:
    got = ftp.parse_port_pasv(text)
    assert (got[:2] if got else None) == want


def test_eprt_ipv4_and_ipv6() -> None:
    # RFC 2428 section 2 examples.
    v = run(b"EPRT |1|132.235.1.2|6275|\r\n").values
    assert (v["ftp.eprt.af"], v["ftp.eprt.ip"], v["ftp.eprt.port"]) == (1, ip("132.235.1.2"), 6275)
    v = run(b"EPRT |2|1080::8:800:200C:417A|5282|\r\n").values
    assert v["ftp.eprt.af"] == 2 and v["ftp.eprt.port"] == 5282
    assert v["ftp.eprt.ipv6"] == ipaddress.IPv6Address("1080::8:800:200C:417A").packed


@pytest.mark.parametrize("arg", [b"|3|1.2.3.4|5|", b"|1|1.2.3|5|", b"1|1.2.3.4|5|", b"|1|1.2.3.4|70000|",
                                 b"|1||5|", b"|1|1.2.3.4|5"])
def test_bad_eprt_gives_no_address(arg: bytes) -> None:
    assert ftp.parse_eprt(arg) is None


def test_epsv_reply() -> None:
    state: dict = {}
    t = run(b"229 Entering Extended Passive Mode (|||6446|)\r\n", to_server=False, state=state, frame=9)
    assert t.values["ftp.epsv.port"] == 6446
    assert state[ftp.STATE_DATA] == [(None, 6446, 9, "EPSV")]
    assert "port 6446" in (t.message or "")


def test_a_prefix_of_port_counts_as_port() -> None:
    # Wireshark compares the verb with strncmp(verb, "PORT", len(verb)).
    assert run(b"POR 1,2,3,4,0,21\r\n").values["ftp.active.port"] == 21
    assert "ftp.active.port" not in run(b"PORTX 1,2,3,4,0,21\r\n").values


# -- multi-line replies (RFC 959 4.2) -------------------------------------------------------------

def test_multiline_reply_over_segments_keeps_tsharks_placement() -> None:
    state: dict = {}
    first = run(b"230-Welcome\r\n", to_server=False, state=state, frame=10, nodes=True)
    middle = run(b" more text\r\n", to_server=False, state=state, frame=12, nodes=True)
    last = run(b"230 Done\r\n", to_server=False, state=state, frame=14, nodes=True)
    assert first.values["ftp.response.code"] == 230
    assert "ftp.response.code" not in middle.values
    assert middle.message == "ftp reply code 230 (continued)"
    assert last.values["ftp.response.code"] == 230
    texts = [n.label for n in middle.root.children[-1].children] + [n.label for n in last.root.children[-1].children]
    assert any("begun in frame 10" in x for x in texts)
    assert ftp.STATE_REPLY not in state


def test_multiline_reply_in_one_segment_closes() -> None:
    state: dict = {}
    run(b"211-Features:\r\n EPSV\r\n211 End\r\n", to_server=False, state=state)
    assert ftp.STATE_REPLY not in state


# -- working directory ------------------------------------------------------------------------------

def test_working_directory_follows_cwd_cdup_and_pwd() -> None:
    state: dict = {}
    run(b"CWD pub/data/\r\n", state=state)
    t = run(b"250 CWD command successful\r\n", to_server=False, state=state)
    assert t.values["ftp.current-working-directory"] == "pub/data/"
    run(b"CWD 2015\r\n", state=state)
    assert run(b"250 ok\r\n", to_server=False, state=state).values["ftp.current-working-directory"] == "pub/data/2015"
    run(b"CWD ../\r\n", state=state)
    assert run(b"250 ok\r\n", to_server=False, state=state).values["ftp.current-working-directory"] == "pub/data"
    run(b"PWD\r\n", state=state)
    assert run(b'257 "/home/a""b" is cwd\r\n', to_server=False,
               state=state).values["ftp.current-working-directory"] == '/home/a"b'


def test_change_directory_normalises() -> None:
    assert ftp.change_directory("/a/b", "../c/./d") == "/a/c/d"
    assert ftp.change_directory("", "x/y") == "x/y"
    assert ftp.change_directory("/a", "/etc") == "/etc"
    assert ftp.change_directory("/a", "..") == "/"


# -- AUTH TLS (RFC 4217) -------------------------------------------------------------------------------

def test_auth_tls_then_234_hands_the_connection_to_tls() -> None:
    state: dict = {}
    run(b"AUTH TLS\r\n", state=state)
    run(b"234 Proceed with negotiation.\r\n", to_server=False, state=state, nodes=True)
    from tracedoc.decode import tls

    assert state["__handoff__"] is tls


def test_234_without_auth_tls_is_an_ordinary_reply() -> None:
    state: dict = {}
    run(b"234 ok\r\n", to_server=False, state=state)
    assert "__handoff__" not in state


# -- heuristic -----------------------------------------------------------------------------------------

def test_heuristic_takes_a_server_greeting_naming_ftp() -> None:
    state: dict = {}
    info = AppInfo("tcp", 2121, 40000, 0, state, 1)
    assert ftp.heuristic(b"220 ProFTPD Server ready.\r\n", info)
    assert state[ftp.STATE_SERVER_PORT] == 2121
    # Later lines of that conversation: the server is known.
    t = Tree(0, False, "ftp")
    ftp.dissect(b"USER x\r\n", t, AppInfo("tcp", 40000, 2121, 0, state, 2))
    assert t.values["ftp.request.command"] == "USER"


@pytest.mark.parametrize("first", [b"220 mail.example.org ESMTP Postfix\r\n", b"220 FTP ESMTP\r\n",
                                   b"USER anonymous\r\n", b"HTTP/1.1 200 OK\r\n", b"\x16\x03\x01\x00\x05"])
def test_heuristic_refuses_what_is_not_an_ftp_greeting(first: bytes) -> None:
    assert not ftp.heuristic(first, AppInfo("tcp", 2525, 40000, 0, {}, 1))


def test_heuristic_looks_only_at_the_first_payload() -> None:
    state: dict = {}
    assert not ftp.heuristic(b"hello\r\n", AppInfo("tcp", 40000, 2121, 0, state, 1))
    assert not ftp.heuristic(b"220 FTP ready\r\n", AppInfo("tcp", 2121, 40000, 0, state, 2))


# -- whole frames through the pass -------------------------------------------------------------------------

def _frames(segments: list[tuple[bool, bytes]]) -> FrameBatch:
    seq = {True: 1000, False: 5000}
    frames = []
    for to_server, payload in segments:
        sp, dp = (40000, 21) if to_server else (21, 40000)
        src, dst = (CLIENT, SERVER) if to_server else (SERVER, CLIENT)
        frames.append(g.ether("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800, g.ipv4(
            src, dst, 6, g.tcp(sp, dp, seq[to_server], seq[not to_server], 0x18, 65535, payload=payload))))
        seq[to_server] += len(payload)
    lens = np.array([len(f) for f in frames], dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    n = len(frames)
    return FrameBatch(data=np.frombuffer(b"".join(frames), dtype=np.uint8).copy(), offset=offs, caplen=lens,
                      origlen=lens, ts_ns=np.arange(n, dtype=np.int64), linktype=np.ones(n, np.int32),
                      interface_id=np.full(n, -1, np.int32), record_offset=offs, first_number=1)


def test_segments_through_the_pass() -> None:
    cols = ["frame.number", "tracedoc.message", "ftp.request.command", "ftp.response.code"]
    rb = Decoder(cols).decode(_frames([(False, b"220 hi\r\n"), (True, b"USER a\r\n"), (False, b"331 pw\r\n"),
                                       (False, b"230-a\r\n"), (False, b" b\r\n"), (False, b"230 c\r\n")]))
    assert rb.column("ftp.request.command").to_pylist() == [None, "USER", None, None, None, None]
    assert rb.column("ftp.response.code").to_pylist() == [220, None, 331, 230, None, 230]
    assert rb.column("tracedoc.message").to_pylist()[4] == "ftp reply code 230 (continued)"


# -- against tshark ------------------------------------------------------------------------------------------

FIELDS = ["ftp.request.command", "ftp.request.arg", "ftp.response.code", "ftp.response.arg", "ftp.request",
          "ftp.response", "ftp.passive.ip", "ftp.passive.port", "ftp.active.cip", "ftp.active.port",
          "ftp.eprt.af", "ftp.eprt.ip", "ftp.eprt.ipv6", "ftp.eprt.port", "ftp.epsv.port",
          "ftp.current-working-directory"]
TRACES = ["ftp/ipv4.pcap", "ftp/ipv6.pcap", "ftp/cwd-navigation.pcap", "ftp/ftp-auth-tls.pcap",
          "ftp/fake-long-commands.pcap", "ftp/ftp-missing-space-after-reply-code.pcap",
          "ftp/ipv6-multiline-reply.pcap", "ftp/ftp-many-port-expected.pcap.gz",
          "contentline/nvt-line-limit-crlf-heap-buffer-overflow.pcap.gz"]


@pytest.mark.corpus
@pytest.mark.skipif(not (have_corpus() and have_tshark()), reason="needs ../shared/corpus and tshark")
@pytest.mark.parametrize("name", TRACES)
def test_corpus_agrees_with_tshark(name: str) -> None:
    assert_agrees(CORPUS / "zeek/testing/btest/Traces" / name, FIELDS)


# -- any bytes -----------------------------------------------------------------------------------------------

SAMPLES = [b"USER anonymous\r\n", b"PORT 137,72,43,137,40,196\r\n", b"EPRT |2|1080::8:800:200C:417A|5282|\r\n",
           b"227 Entering Passive Mode (137,72,43,207,14,95)\r\n", b"229 Entering Extended Passive Mode (|||6446|)\r\n",
           b"230-Welcome\r\n more\r\n230 Done\r\n", b'257 "/a""b" created\r\n', b"AUTH TLS\r\n"]


def _check(payload: bytes, to_server: bool) -> None:
    sp, dp = (40000, 21) if to_server else (21, 40000)
    check_any_bytes(ftp, payload, AppInfo("tcp", sp, dp, 21, {}, 1))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.booleans())
def test_arbitrary_bytes(payload: bytes, to_server: bool) -> None:
    _check(payload, to_server)
    ftp.heuristic(payload, AppInfo("tcp", 2121, 40000, 0, {}, 1))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.lists(mutations(60, [0, 0x20, 0x2C, 0x7C, 0xFF, 0x0D0A], [">B", ">H"]),
                                          min_size=1, max_size=4), st.booleans())
def test_mutated_messages(base: bytes, muts, to_server: bool) -> None:  # type: ignore[no-untyped-def]
    _check(mutate(base, muts), to_server)
