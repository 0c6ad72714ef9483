"""DNS, mDNS and LLMNR decoding: RFC 1035 messages packed with struct, the
names Wireshark shows specially, EDNS(0), TCP framing, the seed's wording,
corpus captures and odd-name captures against tshark, and bad bytes."""

from __future__ import annotations

import ipaddress
import struct
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support import pcapgen
from tests.support.app_checks import check_any_bytes
from tests.support.corpus import CORPUS, have_corpus, have_tshark
from tests.support.mutations import mutate, mutations
from tests.support.tshark_compare import assert_agrees
from tracedoc.decode import dispatch, dns
from tracedoc.decode.app import AppDecoder, AppInfo
from tracedoc.decode.apptree import Tree, Truncated

# -- building messages (RFC 1035 4.1) ---------------------------------------------------------

def name(text: str) -> bytes:
    if text == ".":
        return b"\0"
    return b"".join(bytes([len(lab)]) + lab.encode() for lab in text.rstrip(".").split(".")) + b"\0"


def labels(*parts: bytes) -> bytes:
    return b"".join(bytes([len(p)]) + p for p in parts) + b"\0"


def header(ident: int, flags: int, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", ident, flags, qd, an, ns, ar)


def question(qname: bytes | str, qtype: int = 1, qclass: int = 1) -> bytes:
    return (name(qname) if isinstance(qname, str) else qname) + struct.pack("!HH", qtype, qclass)


def rr(owner: bytes | str, rtype: int, rclass: int, ttl: int, rdata: bytes) -> bytes:
    return ((name(owner) if isinstance(owner, str) else owner)
            + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata)


PTR_12 = b"\xc0\x0c"  # compression pointer to the first question's name


def run(data: bytes, module: ModuleType = dns, transport: str = "udp", want_nodes: bool = False) -> Tree:
    tree = Tree(0, want_nodes, module.NAME)
    module.dissect(data, tree, AppInfo(transport, 40000, 53, 53, {}, 1))
    return tree


# -- header and question --------------------------------------------------------------------

def test_standard_query() -> None:
    t = run(header(0x1A2B, 0x0100) + question("www.example.com"))
    v = t.values
    assert v["dns.id"] == 0x1A2B and v["dns.flags"] == 0x0100
    assert v["dns.flags.response"] is False and v["dns.flags.opcode"] == 0
    assert v["dns.flags.recdesired"] is True and v["dns.flags.truncated"] is False
    # A query carries neither AA, RA nor a reply code; AD only when it is set.
    for absent in ("dns.flags.authoritative", "dns.flags.recavail", "dns.flags.rcode", "dns.flags.authenticated"):
        assert absent not in v
    assert v["dns.count.queries"] == 1 and v["dns.count.answers"] == 0
    assert v["dns.qry.name"] == ["www.example.com"]
    assert v["dns.qry.name.len"] == [15] and v["dns.count.labels"] == [3]
    assert v["dns.qry.type"] == [1] and v["dns.qry.class"] == [1]
    assert t.message == "dns : client query (Standard) www.example.com."
    assert t.anomaly is None


def test_response_with_every_common_type() -> None:
    soa = name("ns1.example.com") + name("hostmaster.example.com") + struct.pack("!IIIII", 2024010101, 7200, 3600,
                                                                                     1209600, 300)
    msg = (header(7, 0x8180, 1, 8, 1, 0) + question("example.com", 255)
           + rr(PTR_12, 1, 1, 300, bytes([192, 0, 2, 1]))
           + rr(PTR_12, 28, 1, 300, ipaddress.IPv6Address("2001:db8::1").packed)
           + rr("www.example.com", 5, 1, 60, PTR_12)
           + rr(PTR_12, 2, 1, 86400, name("ns1.example.com"))
           + rr("1.2.0.192.in-addr.arpa", 12, 1, 60, name("host.example.com"))
           + rr(PTR_12, 15, 1, 60, struct.pack("!H", 10) + name("mail.example.com"))
           + rr(PTR_12, 16, 1, 60, b"\x05hello\x00\x05world")
           + rr("_sip._tcp.example.com", 33, 1, 60, struct.pack("!HHH", 10, 60, 5060) + name("sip.example.com"))
           + rr(PTR_12, 6, 1, 3600, soa))
    v = run(msg).values
    assert v["dns.flags.response"] is True and v["dns.flags.rcode"] == 0 and v["dns.flags.recavail"] is True
    assert v["dns.count.answers"] == 8 and v["dns.count.auth_rr"] == 1
    # The SRV record's owner is split into service, protocol and name instead.
    assert v["dns.resp.name"] == ["example.com", "example.com", "www.example.com", "example.com",
                                  "1.2.0.192.in-addr.arpa", "example.com", "example.com", "example.com"]
    assert v["dns.resp.type"] == [1, 28, 5, 2, 12, 15, 16, 33, 6]
    assert v["dns.resp.ttl"][0] == 300 and v["dns.resp.len"][0] == 4
    assert v["dns.a"] == [0xC0000201]
    assert v["dns.aaaa"] == [ipaddress.IPv6Address("2001:db8::1").packed]
    assert v["dns.cname"] == ["example.com"]
    assert v["dns.ns"] == ["ns1.example.com"]
    assert v["dns.ptr.domain_name"] == ["host.example.com"]
    assert v["dns.mx.preference"] == [10] and v["dns.mx.mail_exchange"] == ["mail.example.com"]
    assert v["dns.txt.length"] == [5, 0, 5] and v["dns.txt"] == ["hello", "", "world"]
    assert (v["dns.srv.service"], v["dns.srv.proto"], v["dns.srv.name"]) == (["_sip"], ["_tcp"], ["example.com"])
    assert (v["dns.srv.priority"], v["dns.srv.weight"], v["dns.srv.port"]) == ([10], [60], [5060])
    assert v["dns.srv.target"] == ["sip.example.com"]
    assert v["dns.soa.mname"] == ["ns1.example.com"] and v["dns.soa.rname"] == ["hostmaster.example.com"]
    assert v["dns.soa.serial_number"] == [2024010101] and v["dns.soa.minimum_ttl"] == [300]


@pytest.mark.parametrize("rcode,text", [(0, "No Error"), (1, "Format Error"), (2, "Server Failure"),
                                        (3, "Name Error"), (4, "Not Implemented"), (5, "Refused")])
def test_response_wording(rcode: int, text: str) -> None:
    t = run(header(31, 0x8580 | rcode) + question("109.1.168.192.in-addr.arpa", 12))
    assert t.message == f"dns : server response ({text})"
    assert t.values["dns.flags.rcode"] == rcode


def test_reverse_lookup_query_names_no_host() -> None:
    # The seed shows "dns : client query (Standard)" alone for a PTR lookup.
    assert run(header(1, 0x0100) + question("109.1.168.192.in-addr.arpa", 12)).message == \
        "dns : client query (Standard)"
    assert run(header(1, 0x2800) + question("example.com", 6)).message == \
        "dns : client query (Update) example.com."
    # A DNS-SD browse is a PTR query too, but names a service, not an address.
    assert run(header(0, 0, 1) + question("_ipp._tcp.local", 12), dns.MDNS).message == \
        "mdns : client query (Standard) _ipp._tcp.local."


def test_update_counts_are_named_for_update() -> None:
    v = run(header(9, 0x2800, 1, 0, 1, 0) + question("example.com", 6) + rr("a.example.com", 1, 255, 0, b"")).values
    assert v["dns.count.zones"] == 1 and v["dns.count.updates"] == 1 and v["dns.count.prerequisites"] == 0
    assert "dns.count.queries" not in v
    assert v["dns.resp.len"] == [0] and "dns.a" not in v  # no data, nothing decoded


def test_seed_details_labels() -> None:
    # The seed's Packet Details for a name error: id 31, flags AA RD RA.
    t = run(header(31, 0x8583) + question("109.1.168.192.in-addr.arpa", 12), want_nodes=True)
    lines = []

    def walk(node) -> None:  # type: ignore[no-untyped-def]
        lines.append(node.label)
        for c in node.children:
            walk(c)
    walk(t.root)
    for want in ("DNS Header", "DNS Message ID : 31", "Type : Response (Name Error)", "Flags : AA RD RA",
                 "Request address of following names", "109.1.168.192.in-addr.arpa"):
        assert want in lines


# -- names as Wireshark shows them -----------------------------------------------------------

def test_root_name() -> None:
    v = run(header(1, 0x0100) + question(".", 2)).values
    assert v["dns.qry.name"] == ["<Root>"] and v["dns.qry.name.len"] == [6] and v["dns.count.labels"] == [1]


def test_single_character_name_has_no_length() -> None:
    # Wireshark counts a name's length and labels only past one character.
    v = run(header(1, 0x0100) + question("x")).values
    assert v["dns.qry.name"] == ["x"] and v["dns.qry.name.len"] == [0] and v["dns.count.labels"] == [0]


def test_pointer_loop() -> None:
    msg = header(1, 0x0100) + b"\xc0\x0c" + struct.pack("!HH", 1, 1)
    t = run(msg)
    assert t.values["dns.qry.name"] == ["<Name contains a pointer that loops>"]
    assert t.values["dns.qry.type"] == [1]
    # A two-step cycle loops as well.
    msg = header(1, 0x0100) + b"\x01a\xc0\x10\x01b\xc0\x0c" + struct.pack("!HH", 1, 1)
    assert run(msg).values["dns.qry.name"] == ["<Name contains a pointer that loops>"]


def test_name_length_limit() -> None:
    ok = labels(b"a" * 63, b"b" * 63, b"c" * 63, b"d" * 61)  # 253 characters
    assert len(run(header(1, 0x0100) + question(ok)).values["dns.qry.name"][0]) == 253
    long = labels(b"a" * 63, b"b" * 63, b"c" * 63, b"d" * 62)  # 254 characters
    assert run(header(1, 0x0100) + question(long)).values["dns.qry.name"] == ["<Name too long>"]


def test_unprintable_bytes_are_escaped() -> None:
    raw = labels(b"a\tb", b"\x00z", b"\x7f", "é".encode(), b"\xff", "\u200b".encode())
    v = run(header(1, 0x0100) + question(raw)).values
    assert v["dns.qry.name"] == ["a\\tb.\\000z.\\177.é.\ufffd.\\u200B"]
    assert v["dns.qry.name.len"] == [17]  # the raw bytes, not the escaped text


def test_reserved_label_type_is_malformed() -> None:
    t = run(header(1, 0x0100) + b"\x01a\x81b\x00" + struct.pack("!HH", 1, 1))
    assert "dns.qry.name" not in t.values and t.values["dns.id"] == 1
    assert t.anomaly is not None and "label" in t.anomaly[0]


def test_truncated_message_keeps_what_came_before() -> None:
    msg = header(5, 0x8180, 1, 2) + question("example.com") + rr(PTR_12, 1, 1, 60, bytes(4))
    with pytest.raises(Truncated):
        run(msg + rr(PTR_12, 1, 1, 60, bytes(4))[:6])
    tree = AppDecoder()._dissect(dns, msg, 0, AppInfo("udp", 53, 40000, 53, {}, 1), 1)
    assert tree.values["dns.a"] == [0] and tree.anomaly is not None


def test_record_running_past_the_data_shows_nothing() -> None:
    # Wireshark opens a record's subtree over RDLENGTH first.
    msg = header(5, 0x8180, 1, 1) + question("example.com") + PTR_12 + struct.pack("!HHIH", 1, 1, 60, 40) + bytes(4)
    tree = AppDecoder()._dissect(dns, msg, 0, AppInfo("udp", 53, 40000, 53, {}, 1), 1)
    assert "dns.resp.name" not in tree.values and tree.anomaly is not None


# -- EDNS(0), mDNS, LLMNR, TCP ---------------------------------------------------------------

def test_edns0_opt_record() -> None:
    ecs = struct.pack("!HHHBB", 8, 7, 1, 24, 0) + bytes([198, 51, 100])  # RFC 7871: 198.51.100.0/24
    cookie = struct.pack("!HH", 10, 8) + bytes(range(8))                  # RFC 7873: client cookie only
    opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0x00008000, len(ecs + cookie)) + ecs + cookie
    v = run(header(3, 0x0120, 1, 0, 0, 1) + question("example.com") + opt).values
    assert v["dns.flags.authenticated"] is True  # a query's AD bit is shown only when set
    assert v["dns.resp.name"] == ["<Root>"] and v["dns.resp.type"] == [41]
    assert v["dns.rr.udp_payload_size"] == [1232]
    assert v["dns.resp.ext_rcode"] == [0] and v["dns.resp.edns0_version"] == [0]
    assert v["dns.resp.z.do"] == [True] and v["dns.resp.z"] == [0x8000]
    assert "dns.resp.ttl" not in v and "dns.resp.class" not in v
    assert v["dns.opt.code"] == [8, 10] and v["dns.opt.len"] == [7, 8]
    assert v["dns.opt.client.family"] == [1] and v["dns.opt.client.netmask"] == [24]
    assert v["dns.opt.client.addr4"] == [0xC6336400]
    assert v["dns.opt.cookie.client"] == [bytes(range(8))] and v["dns.opt.cookie.server"] == [b""]


def test_mdns_class_top_bit() -> None:
    q = header(0, 0x0000, 1) + question("printer.local", 12, 0x8001)
    t = run(q, dns.MDNS)
    assert t.values["dns.qry.class"] == [1] and t.values["dns.qry.qu"] == [True]
    assert t.message == "mdns : client query (Standard) printer.local."
    a = header(0, 0x8400, 0, 1) + rr("printer.local", 1, 0x8001, 120, bytes([10, 0, 0, 7]))
    v = run(a, dns.MDNS).values
    assert v["dns.resp.class"] == [1] and v["dns.resp.cache_flush"] == [True] and v["dns.a"] == [0x0A000007]
    # Plain DNS keeps the whole class.
    assert run(q).values["dns.qry.class"] == [0x8001] and "dns.qry.qu" not in run(q).values


def test_llmnr_flags() -> None:
    # RFC 4795 2.1.1: C (conflict) and T (tentative) where DNS has AA and RD.
    t = run(header(0x77, 0x0700) + question("wpad"), dns.LLMNR)
    v = t.values
    assert v["dns.flags.conflict"] is True and v["dns.flags.tentative"] is True and v["dns.flags.truncated"] is True
    for absent in ("dns.flags.recdesired", "dns.flags.z", "dns.flags.checkdisable", "dns.flags.rcode"):
        assert absent not in v
    assert t.message == "llmnr : client query (Standard) wpad."


def test_tcp_length_prefix() -> None:
    msg = header(0x4242, 0x8180, 1, 1) + question("example.org") + rr(PTR_12, 1, 1, 5, bytes([203, 0, 113, 9]))
    framed = struct.pack("!H", len(msg)) + msg
    info = AppInfo("tcp", 53, 40000, 53, {}, 1)
    assert dns.pdu_length(framed[:1], info) == 0
    assert dns.pdu_length(framed + b"next", info) == len(framed)
    v = run(framed, transport="tcp").values
    # Pointers count from the message, past the length.
    assert v["dns.length"] == len(msg) and v["dns.resp.name"] == ["example.org"] and v["dns.a"] == [0xCB007109]


def test_heuristic() -> None:
    info = AppInfo("udp", 40000, 40001, 0, {}, 1)
    assert dns.heuristic(header(1, 0x0100) + question("a.example"), info)
    answer = rr(PTR_12, 1, 1, 60, bytes(4))
    assert dns.heuristic(header(1, 0x8180, 1, 2) + question("a.example") + answer + answer, info)
    assert not dns.heuristic(header(1, 0x8180, 1, 2) + question("a.example") + answer, info)  # cut short
    # An ONC RPC call (xid, CALL, RPC v2, portmap ...) reads as a response with
    # no question; Wireshark's heuristic takes it, this one does not.
    rpc = bytes.fromhex("39cf84ee00000000000000020001 86a0000000020000000300000000") + bytes(16)
    assert not dns.heuristic(rpc, info)
    assert not dns.heuristic(header(1, 0x0100, 2) + question("a.example"), info)   # two questions
    assert not dns.heuristic(header(1, 0x2800) + question("a.example"), info)      # an update
    assert not dns.heuristic(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", info)
    assert not dns.heuristic(header(1, 0x0100), info)                             # header only


def test_dispatch() -> None:
    assert dispatch.UDP_APPS[53] is dns and dispatch.TCP_APPS[53] is dns and dispatch.TCP_APPS[5353] is dns
    assert dispatch.UDP_APPS[5353] is dns.MDNS and dispatch.UDP_APPS[5355] is dns.LLMNR
    assert dns.MDNS.NAME == "mdns" and dns.LLMNR.FIELDS is dns.FIELDS


# -- against tshark --------------------------------------------------------------------------

DNS_FIELDS = ["dns.id", "dns.flags", "dns.flags.response", "dns.flags.opcode", "dns.flags.authoritative",
              "dns.flags.conflict", "dns.flags.tentative", "dns.flags.recdesired", "dns.flags.recavail",
              "dns.flags.authenticated", "dns.flags.rcode", "dns.count.queries", "dns.count.answers",
              "dns.count.auth_rr", "dns.count.add_rr", "dns.length", "dns.qry.name", "dns.qry.name.len",
              "dns.count.labels", "dns.qry.type", "dns.qry.class", "dns.qry.qu", "dns.resp.name", "dns.resp.type",
              "dns.resp.class", "dns.resp.cache_flush", "dns.resp.ttl", "dns.resp.len", "dns.a", "dns.aaaa",
              "dns.cname", "dns.ns", "dns.ptr.domain_name", "dns.mx.mail_exchange", "dns.txt", "dns.soa.mname",
              "dns.soa.serial_number", "dns.srv.target", "dns.srv.port", "dns.rr.udp_payload_size",
              "dns.resp.z.do", "dns.opt.code", "dns.opt.client.addr4", "dns.opt.client.addr6"]

DNS_TRACES = ["zeek/testing/btest/Traces/dns-edns-ecs.pcap", "zeek/testing/btest/Traces/dns-edns-ecs-bad.pcap",
              "zeek/testing/btest/Traces/dnssec/nsec3.pcap", "zeek/testing/btest/Traces/dns/tm1t.pcap",
              "zeek/testing/btest/Traces/var-services-std-ports.pcap", "zeek/testing/btest/Traces/wikipedia.pcap",
              "tcpdump/tests/dns_udp_8053.pcap", "tcpdump/tests/edns-opts.pcap", "dpkt/examples/data/dns_icmp.pcap"]


@pytest.mark.corpus
@pytest.mark.skipif(not (have_corpus() and have_tshark()), reason="needs ../shared/corpus and tshark")
@pytest.mark.parametrize("rel", DNS_TRACES)
def test_corpus_agrees_with_tshark(rel: str) -> None:
    assert_agrees(CORPUS / rel, DNS_FIELDS, require_values=True)


ODD_NAMES = [
    question("."), question("x"), question(labels(b"a b", b"c.d", b"e\\f")),
    question(labels(b"a\tb\nc\x07", b"\x00z", b"\x1b")), question(labels("é".encode(), b"\xc0\x80", b"\xe2\x80")),
    question(labels(b"\xf0\x9f\x98\x80", "\u200b".encode(), b"\xef\xbf\xbf", b"\xed\xa0\x80")),
    question(labels(b"a" * 63, b"b" * 63, b"c" * 63, b"d" * 62)), b"\xc0\x0c" + struct.pack("!HH", 1, 1),
    question(b"\x03abc\x7fzz\x00"), question(b"\x01a\x81b\x00"),
]


@pytest.mark.skipif(not have_tshark(), reason="needs tshark")
def test_odd_names_agree_with_tshark(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Names Wireshark shows specially, on a capture made here."""
    from tests.support.tshark_compare import compare

    recs = []
    for i, q in enumerate(ODD_NAMES):
        udp = pcapgen.udp(40000 + i, 53, header(i, 0x0100) + q)
        frame = pcapgen.ether("00:00:00:00:00:02", "00:00:00:00:00:01", 0x0800,
                              pcapgen.ipv4("10.0.0.1", "10.0.0.2", 17, udp))
        recs.append(pcapgen.Rec(pcapgen.BASE_TS + i * 1000, frame, len(frame)))
    path = tmp_path / "odd-names.pcap"
    path.write_bytes(pcapgen.pcap_file(recs)[0])
    r = compare(str(path), ["dns.id", "dns.qry.name", "dns.qry.name.len", "dns.count.labels", "dns.qry.type"])
    assert r.error is None
    assert r.agree == r.pairs, r.examples


# -- any bytes --------------------------------------------------------------------------------

SAMPLES = [
    header(7, 0x8180, 1, 2, 0, 1) + question("example.com") + rr(PTR_12, 1, 1, 300, bytes(4))
    + rr(PTR_12, 16, 1, 60, b"\x03abc") + b"\0" + struct.pack("!HHIH", 41, 4096, 0, 11)
    + struct.pack("!HHHBB", 8, 7, 1, 24, 0) + bytes(3),
    header(1, 0x8180, 1, 1) + question("_x._tcp.example.org", 33)
    + rr(PTR_12, 33, 1, 5, struct.pack("!HHH", 1, 2, 3) + PTR_12),
    header(2, 0x8180, 1, 0, 1) + question("example.net", 6)
    + rr(PTR_12, 6, 1, 5, name("a.example.net") + PTR_12 + bytes(20)),
]


def _check(payload: bytes, module=dns) -> None:  # type: ignore[no-untyped-def]
    check_any_bytes(module, payload, AppInfo("udp", 40000, 53, 53, {}, 1))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.sampled_from([dns, dns.MDNS, dns.LLMNR]))
def test_arbitrary_bytes(payload: bytes, module) -> None:  # type: ignore[no-untyped-def]
    _check(payload, module)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.lists(mutations(120, [0, 1, 0xC0, 0xC00C, 0xFFFF, 0x3F], [">B", ">H"]),
                                          min_size=1, max_size=4))
def test_mutated_messages(base: bytes, muts) -> None:  # type: ignore[no-untyped-def]
    _check(mutate(base, muts))
