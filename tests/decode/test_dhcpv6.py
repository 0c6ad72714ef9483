"""DHCPv6 (RFC 8415): client/server messages, relay messages with the
relayed message inside, DUIDs, IA_NA / IA_TA / IA_PD with their addresses
and prefixes, status codes, the option request and elapsed time options,
DNS servers and domain lists; Wireshark 4.0's handling of options that run
past their container; corpus captures against tshark; bad bytes."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support.app_checks import assert_fields_or_anomaly, dissect_alone
from tests.support.corpus import CORPUS, have_corpus, have_tshark
from tests.support.mutations import mutate, mutations
from tests.support.tshark_compare import assert_agrees
from tracedoc.decode import dhcpv6
from tracedoc.decode.app import AppDecoder, AppInfo
from tracedoc.decode.apptree import Node, Tree

MAC = bytes.fromhex("000102030405")


def ip6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def opt(code: int, value: bytes, length: int | None = None) -> bytes:
    return struct.pack("!HH", code, len(value) if length is None else length) + value


def msg(mtype: int, xid: int, *options: bytes) -> bytes:
    return bytes([mtype]) + xid.to_bytes(3, "big") + b"".join(options)


def relay(mtype: int, hops: int, link: str, peer: str, *options: bytes) -> bytes:
    return bytes([mtype, hops]) + ip6(link) + ip6(peer) + b"".join(options)


def name(*labels: bytes) -> bytes:
    return b"".join(bytes([len(x)]) + x for x in labels) + b"\0"


def run(data: bytes, nodes: bool = False) -> Tree:
    tree = Tree(0, nodes, "dhcpv6")
    dhcpv6.dissect(data, tree, AppInfo("udp", 546, 547, 546, {}, 1))
    return tree


def labels(node: Node) -> list[str]:
    out = [node.label]
    for c in node.children:
        out += labels(c)
    return out


DUID_LL = opt(1, b"\x00\x03\x00\x01" + MAC)                                   # RFC 8415 11.4
DUID_LLT = opt(2, b"\x00\x01\x00\x01" + struct.pack("!I", 0x18F00B3F) + MAC)  # RFC 8415 11.2
SOLICIT = msg(1, 0x90B45C, DUID_LL, opt(6, struct.pack("!HH", 23, 24)), opt(8, struct.pack("!H", 25)),
              opt(3, struct.pack("!III", 0x02030405, 3600, 5400)))
IAADDR = opt(5, ip6("2001:db8::100") + struct.pack("!II", 7200, 0xFFFFFFFF))
ADVERTISE = msg(2, 0x90B45C, DUID_LL, DUID_LLT, opt(3, struct.pack("!III", 0x02030405, 3600, 5400) + IAADDR),
                opt(23, ip6("2001:db8::53") + ip6("2001:db8::54")), opt(24, name(b"example", b"com")))
REPLY_FAIL = msg(7, 0x123456, DUID_LLT, opt(13, struct.pack("!H", 2) + b"no addresses"))


def test_client_message_header_and_options() -> None:
    t = run(SOLICIT)
    v = t.values
    assert v["dhcpv6.msgtype"] == [1] and v["dhcpv6.xid"] == 0x90B45C
    assert v["dhcpv6.option.type"] == [1, 6, 8, 3] and v["dhcpv6.option.length"] == [10, 4, 2, 12]
    assert v["dhcpv6.option.type_str"][0] == "Client Identifier"
    assert v["dhcpv6.duid.type"] == [3] and v["dhcpv6.duidll.hwtype"] == [1]
    assert v["dhcpv6.duidll.link_layer_addr"] == ["00:01:02:03:04:05"]
    assert v["dhcpv6.requested_option_code"] == [23, 24]
    assert v["dhcpv6.elapsed_time"] == 250  # hundredths of a second, shown in milliseconds
    assert v["dhcpv6.iaid"] == ["02030405"] and v["dhcpv6.iaid.t1"] == [3600] and v["dhcpv6.iaid.t2"] == [5400]
    assert t.message == "dhcpv6 : Solicit"


def test_server_message_with_address_and_dns() -> None:
    t = run(ADVERTISE)
    v = t.values
    assert v["dhcpv6.duid.type"] == [3, 1] and v["dhcpv6.duidllt.hwtype"] == [1]
    assert v["dhcpv6.duidllt.link_layer_addr"] == ["00:01:02:03:04:05"]
    assert v["dhcpv6.iaaddr.ip"] == [ip6("2001:db8::100")]
    assert v["dhcpv6.iaaddr.pref_lifetime"] == [7200] and v["dhcpv6.iaaddr.valid_lifetime"] == [0xFFFFFFFF]
    assert v["dhcpv6.option.type"] == [1, 2, 3, 5, 23, 24]  # the IA Address inside IA_NA
    assert v["dhcpv6.dns_server"] == [ip6("2001:db8::53"), ip6("2001:db8::54")]
    assert v["dhcpv6.search_list_entry"] == ["example.com."]
    assert t.message == "dhcpv6 : Advertise"


def test_status_code_in_the_summary() -> None:
    t = run(REPLY_FAIL)
    assert t.values["dhcpv6.status_code"] == [2] and t.values["dhcpv6.status_msg"] == ["no addresses"]
    assert t.message == "dhcpv6 : Reply (NoAddrAvail)"
    assert run(msg(3, 1, DUID_LL)).message == "dhcpv6 : Request"


def test_prefix_delegation_and_temporary_addresses() -> None:
    prefix = opt(26, struct.pack("!IIB", 300, 600, 56) + ip6("2001:db8:100::"))
    v = run(msg(7, 5, opt(25, struct.pack("!III", 7, 150, 240) + prefix))).values
    assert v["dhcpv6.iaprefix.pref_len"] == [56] and v["dhcpv6.iaprefix.pref_addr"] == [ip6("2001:db8:100::")]
    assert v["dhcpv6.iaprefix.pref_lifetime"] == [300] and v["dhcpv6.iaprefix.valid_lifetime"] == [600]
    v = run(msg(7, 5, opt(4, b"\x00\x00\x00\x09" + IAADDR))).values
    assert v["dhcpv6.iata"] == ["00000009"] and v["dhcpv6.iaaddr.ip"] == [ip6("2001:db8::100")]


def test_relay_forward_carries_the_client_message() -> None:
    data = relay(12, 0, "2001:db8:1::1", "fe80::1", opt(18, b"eth0"), opt(9, SOLICIT))
    t = run(data)
    v = t.values
    assert v["dhcpv6.msgtype"] == [12, 1] and v["dhcpv6.hopcount"] == [0]
    assert v["dhcpv6.linkaddr"] == [ip6("2001:db8:1::1")] and v["dhcpv6.peeraddr"] == [ip6("fe80::1")]
    assert v["dhcpv6.interface_id"] == [b"eth0"] and v["dhcpv6.xid"] == 0x90B45C
    assert v["dhcpv6.option.type"] == [18, 9, 1, 6, 8, 3]
    assert t.message == "dhcpv6 : Relay-forw : Solicit"
    details = labels(run(data, nodes=True).root)
    assert "DHCPv6 : RELAY-FORW" in details and "DHCPv6 : Solicit" in details


def test_domain_names() -> None:
    v = run(msg(7, 1, opt(24, name(b"a", b"example") + name(b"b", b"example", b"org")))).values
    assert v["dhcpv6.search_list_entry"] == ["a.example.", "b.example.org."]
    v = run(msg(7, 1, opt(64, name(b"aftr", b"example", b"net")))).values
    assert v["dhcpv6.aftr_name"] == ["aftr.example.net."]
    v = run(msg(1, 1, opt(39, b"\x01" + name(b"host", b"example", b"com")))).values
    assert v["dhcpv6.client_fqdn_flags"] == 1 and v["dhcpv6.client_domain"] == ["host.example.com."]


def test_bad_option_ends_the_lists() -> None:
    # An IA Address whose length runs past IA_NA ends IA_NA and the message's
    # own list too (Wireshark's shared end flag): the DNS option is not read.
    ia = opt(3, struct.pack("!III", 1, 2, 3) + opt(5, ip6("2001:db8::1"), length=40))
    t = run(msg(7, 1, ia, opt(23, ip6("2001:db8::53"))))
    assert t.values["dhcpv6.option.type"] == [3] and "dhcpv6.dns_server" not in t.values
    assert t.anomaly is None  # Wireshark notes nothing: the list just ends


def test_status_code_shorter_than_its_code_reads_on() -> None:
    # Wireshark reads the code from the datagram: the next option's bytes.
    v = run(msg(7, 1, opt(13, b""), opt(14, b""))).values
    assert v["dhcpv6.status_code"] == [14] and v["dhcpv6.option.type"] == [13, 14]


def test_truncated_header() -> None:
    t = AppDecoder()._dissect(dhcpv6, b"\x01\x02", 0, AppInfo("udp", 546, 547, 546, {}, 1), 1)
    assert t.values["dhcpv6.msgtype"] == [1] and "dhcpv6.xid" not in t.values and t.anomaly is not None


def test_deep_relay_nesting_is_named() -> None:
    inner = SOLICIT
    for _ in range(80):
        inner = relay(12, 0, "::", "::", opt(9, inner))
    t = AppDecoder()._dissect(dhcpv6, inner, 0, AppInfo("udp", 547, 547, 547, {}, 1), 1)
    assert t.anomaly is not None and "nested" in t.anomaly[0]


# -- corpus captures against tshark ------------------------------------------------------------------

TRACES = ["tcpdump/tests/dhcpv6-ia-na.pcap", "tcpdump/tests/dhcpv6-ia-pd.pcap", "tcpdump/tests/dhcpv6-ia-ta.pcap",
          "tcpdump/tests/dhcpv6-domain-list.pcap", "tcpdump/tests/dhcpv6-AFTR-Name-RFC6334.pcap",
          "tcpdump/tests/dhcpv6-ntp-server.pcap", "tcpdump/tests/dhcpv6-rfc6355-duid-uuid.pcap",
          "tcpdump/tests/dhcpv6-sip-server-d.pcap", "tcpdump/tests/dhcpv6-mud.pcap",
          "tcpdump/tests/dhcpv4v6-rfc5970-rfc8572.pcap", "zeek/testing/btest/Traces/pppoe.pcap"]


@pytest.mark.corpus
@pytest.mark.skipif(not (have_corpus() and have_tshark()), reason="needs ../shared/corpus and tshark")
@pytest.mark.parametrize("name", TRACES)
def test_corpus_agrees_with_tshark(name: str) -> None:
    assert_agrees(CORPUS / name, [f.name for f in dhcpv6.FIELDS], require_values=True)


# -- any bytes ------------------------------------------------------------------------------------------

SAMPLES = [SOLICIT, ADVERTISE, REPLY_FAIL, relay(12, 1, "::1", "::2", opt(9, SOLICIT)),
           msg(7, 1, opt(56, opt(1, ip6("::1")) + opt(3, name(b"ntp", b"org"))), opt(17, bytes(4) + opt(1, b"ab")),
               opt(16, bytes(4) + b"\x00\x03abc"), opt(89, bytes(8)))]


def _check(payload: bytes) -> None:
    dissect_alone(dhcpv6, payload, AppInfo("udp", 546, 547, 546, {}, 1))
    assert_fields_or_anomaly(dhcpv6, payload, AppInfo("udp", 546, 547, 546, {}, 1), detail=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=1, max_size=300))
def test_arbitrary_bytes(payload: bytes) -> None:
    _check(payload)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.lists(mutations(200, [0, 1, 3, 9, 12, 13, 0x3F, 0xFF, 0xFFFF], [">B", ">H"]),
                                          min_size=1, max_size=5))
def test_mutated_messages(base: bytes, muts) -> None:  # type: ignore[no-untyped-def]
    _check(mutate(base, muts))
