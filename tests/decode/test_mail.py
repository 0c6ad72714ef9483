"""SMTP, POP3 and IMAP: commands and replies from the RFCs' examples, the
session state each keeps (SMTP DATA/BDAT, AUTH, STARTTLS; POP3 STLS; IMAP
STARTTLS and literals), line framing across segments, corpus captures
against tshark, and bad bytes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support.app_checks import assert_fields_or_anomaly, dissect_alone
from tests.support.corpus import CORPUS, have_corpus, have_tshark
from tests.support.mutations import mutate, mutations
from tests.support.tshark_compare import assert_agrees
from tracedoc.decode import imap, pop, smtp, tls
from tracedoc.decode.app import AppInfo
from tracedoc.decode.apptree import Tree, Truncated


class Session:
    """One connection's state, fed a segment at a time from either side."""

    def __init__(self, mod, port: int) -> None:  # type: ignore[no-untyped-def]
        self.mod, self.port, self.frame = mod, port, 0
        self.state: dict = {}

    def client(self, data: bytes, nodes: bool = False) -> Tree:
        return self._run(data, 40000, self.port, nodes)

    def server(self, data: bytes, nodes: bool = False) -> Tree:
        return self._run(data, self.port, 40000, nodes)

    def _run(self, data: bytes, sp: int, dp: int, nodes: bool) -> Tree:
        self.frame += 1
        tree = Tree(0, nodes, self.mod.NAME)
        self.mod.dissect(data, tree, AppInfo("tcp", sp, dp, self.port, self.state, self.frame))
        return tree


# -- SMTP (RFC 5321) -----------------------------------------------------------------------------

def test_smtp_command_and_parameter() -> None:
    s = Session(smtp, 25)
    t = s.client(b"MAIL FROM:<Smith@bar.com>\r\n")
    assert t.values["smtp.req.command"] == ["MAIL"] and t.values["smtp.req.parameter"] == ["FROM:<Smith@bar.com>"]
    assert t.values["smtp.req"] == [True]
    assert t.message == "smtp command MAIL"


def test_smtp_command_is_split_after_four_characters() -> None:
    # As Wireshark: STARTTLS shows as STAR + TLS.
    t = Session(smtp, 25).client(b"STARTTLS\r\n")
    assert t.values["smtp.req.command"] == ["STAR"] and t.values["smtp.req.parameter"] == ["TLS"]


def test_smtp_pipelined_commands() -> None:
    t = Session(smtp, 25).client(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n")
    assert t.values["smtp.req.command"] == ["MAIL", "RCPT"]
    assert t.message == "smtp command MAIL | RCPT"


def test_smtp_reply_and_multiline_reply() -> None:
    s = Session(smtp, 25)
    t = s.server(b"250-mx.example.org\r\n250-PIPELINING\r\n250 OK\r\n")
    # The code on the first line of the reply, the text of every line.
    assert t.values["smtp.response.code"] == [250]
    assert t.values["smtp.rsp.parameter"] == ["mx.example.org", "PIPELINING", "OK"]
    assert t.values["smtp.rsp"] is True
    assert t.message == "smtp reply code 250"
    t = s.server(b"250 ok\r\n550 no\r\n")
    assert t.values["smtp.response.code"] == [250, 550]


def test_smtp_data_is_not_commands_until_the_lone_dot() -> None:
    s = Session(smtp, 25)
    s.client(b"DATA\r\n")
    s.server(b"354 go ahead\r\n")
    body = s.client(b"Subject: QUIT\r\n\r\nRCPT TO:<x>\r\n")
    assert "smtp.req.command" not in body.values and body.values["smtp.data.length"] == 15 + 2 + 13
    end = s.client(b".\r\n")
    assert end.values["smtp.eom"] is True and "smtp.req.command" not in end.values
    assert s.client(b"QUIT\r\n").values["smtp.req.command"] == ["QUIT"]


def test_smtp_body_and_dot_in_one_segment() -> None:
    s = Session(smtp, 25)
    s.client(b"DATA\r\n")
    s.server(b"354 go\r\n")
    t = s.client(b"hello\r\n.\r\n")
    assert t.values["smtp.eom"] is True and t.values["smtp.data.length"] == 7


def test_smtp_bdat_chunk_is_data() -> None:
    s = Session(smtp, 25)
    s.client(b"BDAT 5 LAST\r\n")
    assert "smtp.req.command" not in s.client(b"QUIT\r").values  # the 5 bytes of the chunk
    assert s.client(b"NOOP\r\n").values["smtp.req.command"] == ["NOOP"]


def test_smtp_unknown_line_before_any_command_state_is_data() -> None:
    t = Session(smtp, 25).client(b"hello there\r\n")
    assert "smtp.req" not in t.values and t.values["smtp.data.length"] == 13


def test_smtp_auth_login() -> None:
    # RFC 4954 section 4, AUTH LOGIN as Wireshark follows it.
    s = Session(smtp, 25)
    s.client(b"AUTH LOGIN\r\n")
    s.server(b"334 VXNlcm5hbWU6\r\n")
    assert s.client(b"dXNlcg==\r\n").values["smtp.auth.username"] == "dXNlcg=="
    s.server(b"334 UGFzc3dvcmQ6\r\n")
    assert s.client(b"cGFzcw==\r\n").values["smtp.auth.password"] == "cGFzcw=="
    s.server(b"235 ok\r\n")


def test_smtp_starttls_then_220_hands_over() -> None:
    s = Session(smtp, 25)
    s.client(b"STARTTLS\r\n")
    s.server(b"220 2.0.0 Ready to start TLS\r\n")
    assert s.state["__handoff__"] is tls


def test_smtp_lines_wait_until_the_first_is_whole() -> None:
    info = AppInfo("tcp", 40000, 25, 25, {}, 1)
    assert smtp.pdu_length(b"RCPT TO:<e", info) == 0
    assert smtp.pdu_length(b"RCPT TO:<e@f>\r", info) == 0  # an LF may follow the CR
    assert smtp.pdu_length(b"RCPT TO:<e@f>\r\nDA", info) == 17


# -- POP3 (RFC 1939) ---------------------------------------------------------------------------------

def test_pop_command_and_reply() -> None:
    s = Session(pop, 110)
    t = s.client(b"USER  mrose \r\n")
    assert t.values["pop.request.command"] == "USER" and t.values["pop.request.parameter"] == "mrose "
    assert t.values["pop.request"] == "" and t.message == "pop3 command USER"
    t = s.server(b"+OK mrose is a real hoopy frood\r\n")
    assert t.values["pop.response.indicator"] == "+OK"
    assert t.values["pop.response.description"] == "mrose is a real hoopy frood"
    assert t.message == "pop3 reply +OK"
    assert s.server(b"-ERR no\r\n").values["pop.response.indicator"] == "-ERR"


def test_pop_multiline_reply_and_continuation() -> None:
    s = Session(pop, 110)
    t = s.server(b"+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n")
    assert t.values["pop.response.data"] == ["", "", ""]
    t = s.server(b"From: a\r\n\r\nbody\r\n")
    assert "pop.response.indicator" not in t.values and t.values["pop.data.length"] == 17


def test_pop_stls() -> None:
    # RFC 2595 section 4.
    s = Session(pop, 110)
    s.client(b"STLS\r\n")
    s.server(b"+OK Begin TLS negotiation\r\n")
    assert s.state["__handoff__"] is tls


# -- IMAP (RFC 3501) -----------------------------------------------------------------------------------

def test_imap_tagged_command_and_reply() -> None:
    s = Session(imap, 143)
    t = s.client(b"a002 SELECT INBOX\r\n")
    v = t.values
    assert v["imap.isrequest"] is True and v["imap.request_tag"] == ["a002"]
    assert v["imap.request.command"] == ["SELECT"] and v["imap.request.folder"] == ["INBOX"]
    assert v["imap.line"] == ["a002 SELECT INBOX\r\n"] and v["imap.request"] == ["a002 SELECT INBOX"]
    assert t.message == "imap command SELECT"
    t = s.server(b"* 172 EXISTS\r\na002 OK [READ-WRITE] SELECT completed\r\n")
    v = t.values
    assert v["imap.response_tag"] == ["a002"] and v["imap.response.status"] == ["OK"]
    assert v["imap.response.command"] == ["[READ-WRITE]"] and len(v["imap.line"]) == 2
    assert t.message == "imap reply OK"


def test_imap_uid_and_copy_and_login() -> None:
    s = Session(imap, 143)
    v = s.client(b"a3 UID FETCH 1 (FLAGS)\r\n").values
    assert v["imap.request.command.uid"] == [True] and v["imap.request.command"] == ["FETCH"]
    assert s.client(b"a5 COPY 2:4 MEETING\r\n").values["imap.request.folder"] == ["MEETING"]
    v = s.client(b'a001 LOGIN SMITH "SESAME"\r\n').values
    assert v["imap.request.username"] == "SMITH" and v["imap.request.password"] == "SESAME"


def test_imap_login_without_quoted_password_is_malformed() -> None:
    with pytest.raises(Truncated):
        Session(imap, 143).client(b"a4 LOGIN x y\r\n")


def test_imap_fetch_literal_waits_for_its_bytes() -> None:
    info = AppInfo("tcp", 143, 40000, 143, {"imap.tls_tries": 0}, 1)
    head = b"* 2 FETCH (BODY[] {5}\r\nab"
    assert imap.pdu_length(head, info) == 0
    whole = b"* 2 FETCH (BODY[] {5}\r\nabcde)\r\na4 OK\r\n"
    assert imap.pdu_length(whole, info) == len(whole)
    assert imap.pdu_length(b"a1 OK\r\na2 O", info) == 7


def test_imap_starttls_and_tls_heuristic() -> None:
    s = Session(imap, 143)
    s.client(b". STARTTLS\r\n")
    s.server(b". OK Begin TLS negotiation now\r\n")
    assert s.state["__handoff__"] is tls
    # A first message that is not text: STARTTLS happened before the capture.
    s2 = Session(imap, 143)
    t = s2.server(b"\x16\x03\x03\x00\x40rest")
    assert "imap.line" not in t.values
    assert s2.state["__handoff__"] is tls


# -- against tshark -----------------------------------------------------------------------------------

CASES = [
    ("smtp.pcap", "smtp.req.command smtp.req.parameter smtp.response.code smtp.rsp.parameter smtp.req"),
    ("smtp-mail-transactions-invalid.pcap", "smtp.req.command smtp.req.parameter smtp.response.code smtp.req"),
    ("smtp/rfc3030-bdat-multipart-chunked.pcap", "smtp.req.command smtp.req.parameter smtp.response.code"),
    ("smtp/smtp-many-addresses.pcap.gz", "smtp.req.command smtp.req.parameter smtp.response.code smtp.eom"),
    ("tls/smtp-starttls.pcap", "smtp.req.command smtp.req.parameter smtp.response.code smtp.rsp.parameter"),
    ("pop3/pop3.pcap", "pop.request.command pop.request.parameter pop.response.indicator pop.response.description"),
    ("pop3-unknown-commands.pcap", "pop.request.command pop.request.parameter pop.response.indicator"),
    ("tls/pop3-starttls.pcap", "pop.request.command pop.response.indicator pop.response.description"),
    ("tls/imap-starttls.pcap", "imap.isrequest imap.request_tag imap.response_tag imap.request.command "
                               "imap.response.status imap.response.command imap.request imap.response imap.line"),
]


@pytest.mark.corpus
@pytest.mark.skipif(not (have_corpus() and have_tshark()), reason="needs ../shared/corpus and tshark")
@pytest.mark.parametrize("name, fields", CASES)
def test_corpus_agrees_with_tshark(name: str, fields: str) -> None:
    assert_agrees(CORPUS / "zeek/testing/btest/Traces" / name, fields.split())


# -- any bytes ---------------------------------------------------------------------------------------------

MODULES = [(smtp, 25), (pop, 110), (imap, 143)]
SAMPLES = [b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n", b"250-a\r\n250 b\r\n", b"AUTH LOGIN dXNlcg==\r\n",
           b"BDAT 10 LAST\r\n", b"+OK 2 messages\r\n1 120\r\n.\r\n", b"USER mrose\r\n",
           b"a1 UID FETCH 1:* (FLAGS)\r\n", b'a001 LOGIN "u" "p"\r\n', b"* 2 FETCH (BODY[] {5}\r\nabcde)\r\n"]


def _check(mod, port: int, payload: bytes, to_server: bool) -> None:  # type: ignore[no-untyped-def]
    sp, dp = (40000, port) if to_server else (port, 40000)
    dissect_alone(mod, payload, AppInfo("tcp", sp, dp, port, {}, 1))
    if hasattr(mod, "pdu_length"):
        n = mod.pdu_length(payload, AppInfo("tcp", sp, dp, port, {}, 1))
        assert -1 <= n <= len(payload)
    assert_fields_or_anomaly(mod, payload, AppInfo("tcp", sp, dp, port, {}, 1))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MODULES), st.binary(max_size=300), st.booleans())
def test_arbitrary_bytes(modport, payload: bytes, to_server: bool) -> None:  # type: ignore[no-untyped-def]
    _check(modport[0], modport[1], payload, to_server)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MODULES), st.sampled_from(SAMPLES),
       st.lists(mutations(40, [0, 0x20, 0x2A, 0x7B, 0x7D, 0xFF, 0x0D0A], [">B", ">H"]), min_size=1, max_size=4),
       st.booleans())
def test_mutated_messages(modport, base: bytes, muts, to_server: bool) -> None:  # type: ignore[no-untyped-def]
    _check(modport[0], modport[1], mutate(base, muts), to_server)
