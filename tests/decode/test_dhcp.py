"""BOOTP/DHCP (RFC 951, RFC 2131, options RFC 2132): the fixed header, the
options, the seed's summary wording and details labels, Wireshark 4.0's
behaviour on short and malformed messages, corpus captures against tshark,
and bad bytes."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support.app_checks import assert_fields_or_anomaly, dissect_alone
from tests.support.corpus import CORPUS, have_corpus, have_tshark
from tests.support.mutations import mutate, mutations
from tests.support.tshark_compare import assert_agrees
from tracedoc.decode import dhcp
from tracedoc.decode.app import AppDecoder, AppInfo
from tracedoc.decode.apptree import Node, Tree

COOKIE = b"\x63\x82\x53\x63"
MAC = bytes.fromhex("001b9e701042")


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def opt(code: int, value: bytes) -> bytes:
    return bytes([code, len(value)]) + value


def bootp(op: int = 1, *, htype: int = 1, hlen: int = 6, hops: int = 0, xid: int = 0xED63F236, secs: int = 0,
          flags: int = 0x8000, ciaddr: str = "0.0.0.0", yiaddr: str = "0.0.0.0", siaddr: str = "0.0.0.0",
          giaddr: str = "0.0.0.0", chaddr: bytes = MAC, sname: bytes = b"", file: bytes = b"",
          options: bytes | None = b"\xff") -> bytes:
    """An RFC 2131 section 2 message: the 236-byte fixed part, then the magic
    cookie and ``options`` (no cookie when ``options`` is None)."""
    fixed = struct.pack("!BBBBIHH4s4s4s4s", op, htype, hlen, hops, xid, secs, flags,
                        *(ipaddress.IPv4Address(a).packed for a in (ciaddr, yiaddr, siaddr, giaddr)))
    fixed += chaddr.ljust(16, b"\0") + sname.ljust(64, b"\0") + file.ljust(128, b"\0")
    assert len(fixed) == 236
    return fixed if options is None else fixed + COOKIE + options


def run(msg: bytes, *, request: bool = True, nodes: bool = False, port: int = 67) -> Tree:
    tree = Tree(0, nodes, "dhcp")
    sp, dp = (68, port) if request else (port, 68)
    dhcp.dissect(msg, tree, AppInfo("udp", sp, dp, min(sp, dp), {}, 1))
    return tree


def through_pass(msg: bytes, nodes: bool = False) -> Tree:
    """Decode as the application pass does: faults become a named anomaly."""
    return AppDecoder({1} if nodes else set())._dissect(dhcp, msg, 0, AppInfo("udp", 68, 67, 67, {}, 1), 1)


def labels(node: Node) -> list[str]:
    out = [node.label]
    for c in node.children:
        out += labels(c)
    return out


# -- the seed's DHCP decline sequence (Discover, Offer, Request, ACK, Decline) ------------------

CID = opt(61, b"\x01" + MAC)
DISCOVER = bootp(1, options=opt(53, b"\x01") + CID + opt(55, bytes([1, 3, 6, 15])) + b"\xff")
OFFER = bootp(2, yiaddr="192.168.0.104", siaddr="192.168.0.1",
              options=opt(53, b"\x02") + opt(54, bytes([192, 168, 0, 1])) + opt(51, struct.pack("!I", 86400))
              + opt(1, bytes([255, 255, 255, 0])) + opt(3, bytes([192, 168, 0, 1]))
              + opt(6, bytes([192, 168, 0, 1, 8, 8, 8, 8])) + b"\xff")
REQUEST = bootp(1, options=opt(53, b"\x03") + CID + opt(50, bytes([192, 168, 0, 104]))
                + opt(54, bytes([192, 168, 0, 1])) + opt(12, b"host1") + b"\xff")
ACK = bootp(2, yiaddr="192.168.0.104", options=opt(53, b"\x05") + opt(54, bytes([192, 168, 0, 1]))
            + opt(51, struct.pack("!I", 86400)) + opt(58, struct.pack("!I", 43200))
            + opt(59, struct.pack("!I", 75600)) + opt(15, b"example.org") + b"\xff")
# The seed's decline: secs 0x0D00 (3328; a Windows client's little-endian 13), ciaddr set.
DECLINE = bootp(1, secs=0x0D00, ciaddr="192.168.0.104",
                options=opt(53, b"\x04") + CID + opt(50, bytes([192, 168, 0, 104]))
                + opt(54, bytes([192, 168, 0, 1])) + b"\xff" + b"\0" * 6)


def test_summary_messages_read_like_the_seed() -> None:
    assert run(DISCOVER).message == "dhcp : client request: discover find DHCP servers"
    assert run(OFFER, request=False).message == "dhcp : server reply: offering ip address 192.168.0.104"
    assert run(REQUEST).message == "dhcp : client request: request new ip address"
    assert run(ACK, request=False).message == "dhcp : server reply: ACK use of 192.168.0.104 (ok to use)"
    assert run(DECLINE).message == "dhcp : client request: decline use of 192.168.0.104 (already in use)"


def test_other_message_types_in_the_same_style() -> None:
    renew = bootp(1, ciaddr="10.1.2.3", options=opt(53, b"\x03") + b"\xff")
    assert run(renew).message == "dhcp : client request: renew use of 10.1.2.3"
    nak = bootp(2, options=opt(53, b"\x06") + opt(56, b"wrong network") + b"\xff")
    assert run(nak, request=False).message == "dhcp : server reply: NAK ip address request refused (wrong network)"
    release = bootp(1, ciaddr="10.1.2.3", options=opt(53, b"\x07") + b"\xff")
    assert run(release).message == "dhcp : client request: release use of 10.1.2.3"
    inform = bootp(1, ciaddr="10.1.2.3", options=opt(53, b"\x08") + b"\xff")
    assert run(inform).message == "dhcp : client request: inform ask for configuration parameters for 10.1.2.3"
    assert run(bootp(1, options=None) + bytes(64)).message == "dhcp : client request: bootp boot request"
    reply = bootp(2, yiaddr="10.9.9.9", options=None) + bytes(64)
    assert run(reply, request=False).message == "dhcp : server reply: bootp boot reply, ip address 10.9.9.9"


def test_fixed_header_fields() -> None:
    v = run(OFFER, request=False).values
    assert v["dhcp.type"] == 2 and v["dhcp.hw.type"] == [1] and v["dhcp.hw.len"] == 6 and v["dhcp.hops"] == 0
    assert v["dhcp.id"] == 0xED63F236
    assert v["dhcp.flags"] == 0x8000 and v["dhcp.flags.bc"] is True and v["dhcp.flags.reserved"] == 0
    assert v["dhcp.ip.client"] == 0 and v["dhcp.ip.your"] == ip("192.168.0.104")
    assert v["dhcp.ip.server"] == ip("192.168.0.1") and v["dhcp.ip.relay"] == 0
    assert v["dhcp.hw.mac_addr"] == [0x001B9E701042]
    assert v["dhcp.hw.addr_padding"] == bytes(10)
    assert v["dhcp.server"] == "" and v["dhcp.file"] == ""  # not given: present, empty
    assert v["dhcp.cookie"] == 0x63825363
    assert "dhcp.bootp" not in v


def test_options_of_an_offer() -> None:
    v = run(OFFER, request=False).values
    assert v["dhcp.option.dhcp"] == 2
    assert v["dhcp.option.dhcp_server_id"] == ip("192.168.0.1")
    assert v["dhcp.option.ip_address_lease_time"] == 86400
    assert v["dhcp.option.subnet_mask"] == ip("255.255.255.0")
    assert v["dhcp.option.router"] == [ip("192.168.0.1")]
    assert v["dhcp.option.domain_name_server"] == [ip("192.168.0.1"), ip("8.8.8.8")]
    # End adds option type 0 (Wireshark's item value), and Option End 255.
    assert v["dhcp.option.type"] == [53, 54, 51, 1, 3, 6, 0]
    assert v["dhcp.option.length"] == [1, 4, 4, 4, 4, 8]
    assert v["dhcp.option.value"][0] == b"\x02" and v["dhcp.option.end"] == [255]


def test_request_and_ack_options() -> None:
    v = run(REQUEST).values
    assert v["dhcp.option.requested_ip_address"] == ip("192.168.0.104")
    assert v["dhcp.option.hostname"] == "host1"
    # the 7-byte client identifier: hardware type and MAC, after the header's
    assert v["dhcp.hw.type"] == [1, 1] and v["dhcp.hw.mac_addr"] == [0x001B9E701042] * 2
    a = run(ACK, request=False).values
    assert (a["dhcp.option.renewal_time_value"], a["dhcp.option.rebinding_time_value"]) == (43200, 75600)
    assert a["dhcp.option.domain_name"] == "example.org"
    assert run(DISCOVER).values["dhcp.option.request_list_item"] == [1, 3, 6, 15]


def test_seconds_little_endian_as_wireshark_reads_them() -> None:
    # Wireshark takes the little-endian reading when it is 1..255 (Windows).
    assert run(DECLINE).values["dhcp.secs"] == 13
    assert run(bootp(1, secs=300)).values["dhcp.secs"] == 300  # 0x012c: LE 0x2c01 > 255


def test_trailing_padding_after_end() -> None:
    v = run(DECLINE).values
    assert v["dhcp.option.padding"] == [bytes(6)]
    assert v["dhcp.option.type"] == [53, 61, 50, 54, 0]


def test_details_read_like_the_seed() -> None:
    tree = run(DECLINE, nodes=True)
    text = labels(tree.root)
    for line in ["DHCP : CLIENT REQUEST", "Hardware Type - Ethernet", "Hardware Address Length - 6", "Hops - 0",
                 "Transaction ID - 0xED63F236", "Elapse Seconds - 3328 (little-endian: 13)", "Flags - broadcast",
                 "Client IP - 192.168.0.104", "Your (client) IP - 0.0.0.0", "Next server IP - 0.0.0.0",
                 "Relay Agent IP - 0.0.0.0", "Client MAC Address - 00:1B:9E:70:10:42",
                 "Server host name - not provided", "Boot file name - not provided", "DHCP Options:",
                 "DHCP Message - dhcp decline", "DHCP client-identifier", "Hardware type: Ethernet (10Mb)",
                 "Client address: 00:1B:9E:70:10:42", "DHCP requested IP address = 192.168.0.104",
                 "server identifier = 192.168.0.1", "End Option", "Padding"]:
        assert line in text, line
    assert run(OFFER, request=False, nodes=True).root.label == "DHCP : SERVER REPLY"


def test_client_identifier_forms() -> None:
    v = run(bootp(options=opt(61, b"\x00client-7") + b"\xff")).values
    assert (v["dhcp.client_id.type"], v["dhcp.client_id.undef"]) == (0, "client-7")
    # RFC 4361: type 255, IAID, DUID-LL (type 3, hardware type 1)
    v = run(bootp(options=opt(61, b"\xff\x01\x02\x03\x04\x00\x03\x00\x01" + MAC) + b"\xff")).values
    assert v["dhcp.client_id.iaid"] == "01020304" and v["dhcp.client_id.duid_type"] == 3
    assert v["dhcp.client_id.link_layer_address"] == "00:1b:9e:70:10:42"
    v = run(bootp(options=opt(61, b"\x05" + MAC) + b"\xff")).values  # not Ethernet: hex text
    assert v["dhcp.client_hardware_address"] == "001b9e701042"


def test_client_fqdn() -> None:
    v = run(bootp(options=opt(81, b"\x05\x00\x00\x04host\x07example\x00") + b"\xff")).values
    assert v["dhcp.fqdn.flags"] == 5 and v["dhcp.fqdn.e"] is True and v["dhcp.fqdn.s"] is True
    assert v["dhcp.fqdn.n"] is False and v["dhcp.fqdn.mbz"] == 0
    assert v["dhcp.fqdn.name"] == "host.example"
    v = run(bootp(options=opt(81, b"\x00\xff\xffhost.example") + b"\xff")).values
    assert v["dhcp.fqdn.name"] == "host.example" and v["dhcp.fqdn.rcode1"] == 255


def test_relay_agent_information() -> None:
    sub = b"\x01\x04eth0" + b"\x02\x06" + MAC + b"\x05\x04" + bytes([10, 0, 0, 1])
    v = run(bootp(giaddr="10.0.0.1", options=opt(82, sub) + b"\xff")).values
    assert v["dhcp.option.agent_information_option.suboption"] == [1, 2, 5]
    assert v["dhcp.option.agent_information_option.agent_circuit_id"] == b"eth0"
    assert v["dhcp.option.agent_information_option.agent_remote_id"] == MAC
    assert v["dhcp.option.agent_information_option.link_selection"] == ip("10.0.0.1")


def test_option_overload_reads_sname_and_file() -> None:
    # RFC 2132 9.3: value 3 = both fields hold options; Wireshark shows them
    # under option 52, in place.
    msg = bootp(2, sname=opt(12, b"abc") + b"\xff", file=opt(15, b"dom.example") + b"\xff",
                options=opt(52, b"\x03") + opt(53, b"\x05") + b"\xff")
    v = run(msg, request=False).values
    assert v["dhcp.option.option_overload"] == 3
    assert v["dhcp.option.type"] == [52, 12, 0, 15, 0, 53, 0]
    assert v["dhcp.option.hostname"] == "abc" and v["dhcp.option.domain_name"] == "dom.example"
    assert "dhcp.server" not in v and "dhcp.file" not in v
    assert v["dhcp.option.end"] == [255, 255, 255]


def test_bootp_without_cookie() -> None:
    # No cookie: the 64-byte vendor area, "Frame is BOOTP", options after it.
    msg = bootp(1, options=None) + bytes(range(64)) + opt(12, b"late") + b"\xff"
    v = run(msg).values
    assert v["dhcp.vendor_specific_options"] == bytes(range(64)) and v["dhcp.bootp"] is True
    assert "dhcp.cookie" not in v and v["dhcp.option.hostname"] == "late"


def test_non_ethernet_hardware_address() -> None:
    v = run(bootp(htype=6, hlen=4, chaddr=b"\x0a\x0b\x0c\x0d")).values
    assert v["dhcp.hw.addr"] == b"\x0a\x0b\x0c\x0d" + bytes(12) and "dhcp.hw.mac_addr" not in v
    assert v["dhcp.hw.addr_padding"] == bytes(12)


# -- short and malformed messages, as Wireshark 4.0 shows them ---------------------------------

def test_option_past_the_end_keeps_type_and_length() -> None:
    t = through_pass(bootp(options=opt(53, b"\x01") + b"\x0c\x10abc"))
    assert t.values["dhcp.option.type"] == [53, 12] and t.values["dhcp.option.length"] == [1, 16]
    assert t.values["dhcp.option.value"] == [b"\x01"] and "dhcp.option.hostname" not in t.values
    assert t.anomaly is not None and "option 12" in t.anomaly[0]


def test_header_cut_in_the_file_area() -> None:
    t = through_pass(bootp(options=opt(53, b"\x01"))[:200])
    assert t.values["dhcp.id"] == 0xED63F236 and t.values["dhcp.server"] == ""
    assert "dhcp.file" not in t.values and "dhcp.option.type" not in t.values
    assert t.anomaly is not None


def test_request_shorter_than_its_hardware_address() -> None:
    # Wireshark names a request by its chaddr before adding any field.
    t = through_pass(bootp(1)[:30])
    assert not t.values and t.anomaly is not None
    assert through_pass(bootp(2)[:30]).values["dhcp.id"] == 0xED63F236


def test_zero_length_message_type_option() -> None:
    t = through_pass(bootp(options=opt(53, b"") + opt(12, b"x") + b"\xff"))
    assert t.values["dhcp.option.type"] == [53] and t.anomaly is not None


def test_proxy_dhcp_port_needs_the_cookie() -> None:
    assert run(bootp(1, options=None) + bytes(64), port=4011).values == {}
    assert run(DISCOVER, port=4011).values["dhcp.option.dhcp"] == 1


# -- corpus captures against tshark ---------------------------------------------------------------

TRACES = ["zeek/testing/btest/Traces/dhcp/dhcp.pcap", "zeek/testing/btest/Traces/dhcp/dhcp_inform.pcap",
          "zeek/testing/btest/Traces/dhcp/dhcp_ack_subscriber_id_and_agent_remote_id.pcap",
          "zeek/testing/btest/Traces/dhcp/dhcp_discover_param_req_and_client_id.pcap",
          "zeek/testing/btest/Traces/dhcp/dhcp_time_and_nameserver.pcap",
          "zeek/testing/btest/Traces/dhcp/hw-type0.pcap", "tcpdump/tests/dhcp-rfc3004.pcap",
          "tcpdump/tests/dhcp-rfc4388.pcap", "tcpdump/tests/dhcp-rfc5859.pcap", "tcpdump/tests/dhcp-mud.pcap"]


@pytest.mark.corpus
@pytest.mark.skipif(not (have_corpus() and have_tshark()), reason="needs ../shared/corpus and tshark")
@pytest.mark.parametrize("name", TRACES)
def test_corpus_agrees_with_tshark(name: str) -> None:
    assert_agrees(CORPUS / name, [f.name for f in dhcp.FIELDS], require_values=True)


# -- any bytes --------------------------------------------------------------------------------------

SAMPLES = [DISCOVER, OFFER, REQUEST, ACK, DECLINE,
           bootp(2, sname=opt(12, b"abc") + b"\xff", options=opt(52, b"\x02") + opt(53, b"\x05") + b"\xff"),
           bootp(1, options=opt(53, b"\x01") + opt(81, b"\x05\x00\x00\x01a\x00") + opt(82, b"\x09\x05" + bytes(5))
                 + opt(60, b"PXEClient") + opt(43, b"\x08\x07\x00\x01\x01" + bytes(4)) + opt(119, b"\x01a\x00")
                 + opt(121, b"\x18\x0a\x00\x00\x0a\x00\x00\x01") + opt(125, bytes(4) + b"\x03\x01\x01\x00") + b"\xff"),
           bootp(1, options=opt(53, b"\x01") + opt(60, b"pktc1.0:0A01020203") + b"\xff")]


def _check(payload: bytes) -> None:
    dissect_alone(dhcp, payload, AppInfo("udp", 68, 67, 67, {}, 1))
    assert_fields_or_anomaly(dhcp, payload, AppInfo("udp", 68, 67, 67, {}, 1), detail=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=1, max_size=400))
def test_arbitrary_bytes(payload: bytes) -> None:
    _check(payload)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.lists(mutations(330, [0, 1, 2, 4, 0x35, 0x34, 0x3F, 0x80, 0xFF], [">B", ">H"]),
                                          min_size=1, max_size=5))
def test_mutated_messages(base: bytes, muts) -> None:  # type: ignore[no-untyped-def]
    _check(mutate(base, muts))
