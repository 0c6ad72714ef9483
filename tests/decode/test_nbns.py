"""NetBIOS name and datagram services (RFC 1001/1002): messages packed with
struct, first-level name encoding, the seed's NBNS Packet Details, corpus
captures against tshark, and bad bytes."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support.app_checks import check_any_bytes
from tests.support.corpus import CORPUS, have_corpus, have_tshark
from tests.support.mutations import mutate, mutations
from tests.support.tshark_compare import assert_agrees
from tracedoc.decode import dispatch, nbns
from tracedoc.decode.app import AppDecoder, AppInfo
from tracedoc.decode.apptree import Tree, Truncated


def encode(name: str | bytes, suffix: int = 0x00, scope: str = "") -> bytes:
    """RFC 1001 14.1: pad to 15 bytes, add the type byte, split every byte into
    two nibbles written as 'A'+nibble; a 32-byte label, then the scope's labels."""
    raw = (name.encode() if isinstance(name, str) else name).ljust(15, b" ")[:15] + bytes([suffix])
    first = bytes(c for b in raw for c in (0x41 + (b >> 4), 0x41 + (b & 0xF)))
    out = bytes([32]) + first
    for lab in scope.split(".") if scope else []:
        out += bytes([len(lab)]) + lab.encode()
    return out + b"\0"


def header(ident: int, flags: int, qd: int = 0, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", ident, flags, qd, an, ns, ar)


def run(data: bytes, module=nbns, want_nodes: bool = False) -> Tree:  # type: ignore[no-untyped-def]
    tree = Tree(0, want_nodes, module.NAME)
    module.dissect(data, tree, AppInfo("udp", 137, 137, 137, {}, 1))
    return tree


def labels_of(tree: Tree) -> list[str]:
    out: list[str] = []

    def walk(node) -> None:  # type: ignore[no-untyped-def]
        out.append(node.label)
        for c in node.children:
            walk(c)
    walk(tree.root)
    return out


VISTA_QUERY = header(51541, 0x0100, 1) + encode("VISTA") + struct.pack("!HH", 32, 1)


def test_name_query_as_the_seed_shows_it() -> None:
    t = run(VISTA_QUERY[:2] + b"\x01\x10" + VISTA_QUERY[4:], want_nodes=True)  # RD and B, to 172.29.191.255
    v = t.values
    assert v["nbns.id"] == 51541 and v["nbns.flags"] == 0x0110 and v["nbns.flags.broadcast"] is True
    assert v["nbns.flags.response"] is False and v["nbns.flags.opcode"] == 0 and v["nbns.flags.recdesired"] is True
    assert "nbns.flags.rcode" not in v and "nbns.flags.authoritative" not in v
    assert v["nbns.name"] == ["VISTA<00>"] and v["nbns.type"] == [32] and v["nbns.class"] == [1]
    assert t.message == "nbns : name query VISTA<00>"
    lines = labels_of(t)
    for want in ("Transaction ID : 51541", "Type : Query(Standard)", "Flags : RD", "Questions : 1",
                 "Answer RRs : 0", "Authority RRs : 0", "Additional RRs : 0", "Queries", "Name: VISTA",
                 "Type: NB (NetBIOS general name service resource record)", "Class: IN (Internet class)"):
        assert want in lines


def test_seed_hex_dump_packet() -> None:
    # The 50-byte NBNS datagram in the seed's CTRACE hex dump: a broadcast
    # query whose encoded name "FIFAFGEJFCEHEJEO CACA..." is XPVIRGIN<00>.
    data = bytes.fromhex("84E20110 00010000 00000000 20464946 41464745 4A464345 48454A45 4F434143"
                         "41434143 41434143 41434141 41000020 0001")
    t = run(data)
    assert t.values["nbns.id"] == 0x84E2 and t.values["nbns.flags.broadcast"] is True
    assert t.values["nbns.name"] == ["XPVIRGIN<00>"] and t.values["nbns.type"] == [32]
    assert t.anomaly is None


@pytest.mark.parametrize("raw,suffix,shown", [
    (b"WORKGROUP", 0x1D, "WORKGROUP<1d>"),
    (b"*" + bytes(14), 0x00, "*" + "<00>" * 14 + "<00>"),
    (b"\x01\x02__MSBROWSE__\x02", 0x01, "<01><02>__MSBROWSE__<02><01>"),
    (b"IPV6.GOOGLE.COM", 0x00, "IPV6.GOOGLE.COM<00>"),
    (b" " * 15, 0x20, " " * 15 + "<20>"),  # a name of blanks keeps them, as Wireshark does
])
def test_name_decoding(raw: bytes, suffix: int, shown: str) -> None:
    data = header(1, 0x0110, 1) + encode(raw, suffix) + struct.pack("!HH", 32, 1)
    assert run(data).values["nbns.name"] == [shown]


def test_scope_and_illegal_names() -> None:
    scoped = header(1, 0x0100, 1) + encode("HOST", 0x20, "corp.example") + struct.pack("!HH", 32, 1)
    assert run(scoped).values["nbns.name"] == ["HOST<20>.corp.example"]
    odd = header(1, 0x0100, 1) + b"\x03ABC\x00" + struct.pack("!HH", 32, 1)
    assert run(odd).values["nbns.name"] == ["Illegal NetBIOS name (odd number of bytes)"]
    lower = header(1, 0x0100, 1) + b"\x02ab\x00" + struct.pack("!HH", 32, 1)
    assert run(lower).values["nbns.name"] == [
        "Illegal NetBIOS name (1st character not between A and Z in first-level encoding)"]
    short = header(1, 0x0100, 1) + b"\x04ABCD\x00" + struct.pack("!HH", 32, 1)
    assert run(short).values["nbns.name"] == ["Illegal NetBIOS name (2 bytes long)"]


def test_positive_and_negative_responses() -> None:
    nb = struct.pack("!HI", 0x6000, 0xC0A80105)  # H-node, unique, 192.168.1.5
    pos = header(51541, 0x8500, 0, 1) + encode("VISTA") + struct.pack("!HHIH", 32, 1, 300000, len(nb)) + nb
    t = run(pos)
    v = t.values
    # Wireshark names an NB record with its type's meaning.
    assert v["nbns.name"] == ["VISTA<00> (Workstation/Redirector)"]
    assert v["nbns.flags.authoritative"] is True and v["nbns.flags.rcode"] == 0
    assert v["nbns.ttl"] == [300000] and v["nbns.data_length"] == [6]
    assert v["nbns.nb_flags"] == [0x6000] and v["nbns.nb_flags.ont"] == [3] and v["nbns.nb_flags.group"] == [False]
    assert v["nbns.addr"] == [0xC0A80105]
    assert t.message == "nbns : name query response VISTA<00>"
    neg = header(51541, 0x8503, 0, 1) + encode("VISTA") + struct.pack("!HHIH", 32, 1, 0, 0)
    assert run(neg).message == "nbns : name query response (Name Error) VISTA<00>"


def test_registration_and_wack() -> None:
    nb = struct.pack("!HI", 0x0000, 0x0A000001)
    reg = (header(9, 0x2910, 1, 0, 0, 1) + encode("HOST", 0x20) + struct.pack("!HH", 32, 1)
           + b"\xc0\x0c" + struct.pack("!HHIH", 32, 1, 300000, 6) + nb)
    t = run(reg)
    assert t.values["nbns.flags.opcode"] == 5 and t.message == "nbns : registration HOST<20>"
    assert t.values["nbns.name"] == ["HOST<20>", "HOST<20> (Server service)"]
    # WACK (RFC 1002 4.2.16): the record's data is a copy of the request's flags.
    wack = (header(9, 0xBC00, 0, 1) + encode("HOST", 0x20) + struct.pack("!HHIH", 32, 1, 2, 2)
            + struct.pack("!H", 0x2910))
    v = run(wack).values
    assert v["nbns.flags"] == 0xBC00 and v["nbns.flags.opcode"] == 7 and v["nbns.flags.rcode"] == 0
    assert "nbns.addr" not in v and "nbns.nb_flags" not in v


def test_node_status_response() -> None:
    names = encode(b"*" + bytes(14), 0)
    body = bytes([2]) + b"WIN-HOST       \x00" + struct.pack("!H", 0x0400) + b"WORKGROUP      \x00" \
        + struct.pack("!H", 0x8400) + bytes.fromhex("0a02d75e9702") + bytes(40)
    data = header(0x8D02, 0x8400, 0, 1) + names + struct.pack("!HHIH", 33, 1, 0, len(body)) + body
    v = run(data).values
    assert v["nbns.number_of_names"] == [2]
    assert v["nbns.netbios_name"] == ["WIN-HOST", "WORKGROUP"]
    assert v["nbns.name_flags"] == [0x0400, 0x8400] and v["nbns.name_flags.group"] == [False, True]
    assert v["nbns.name_flags.act"] == [True, True]
    assert v["nbns.unit_id"] == [0x0A02D75E9702]
    assert v["nbns.session_data_packet_size"] == [0]


def test_datagram_service() -> None:
    data = (struct.pack("!BBHIHHH", 0x11, 0x0E, 0x891D, 0xC0A801F9, 138, 165, 0)
            + encode("DJP95S0J") + encode("ARBEITSGRUPPE") + b"\xffSMB")
    t = run(data, nbns.NBDGM)
    v = t.values
    assert v["nbdgm.type"] == 0x11 and v["nbdgm.flags"] == 0x0E
    assert v["nbdgm.first"] is True and v["nbdgm.next"] is False and v["nbdgm.node_type"] == 3
    assert v["nbdgm.dgram_id"] == 0x891D and v["nbdgm.src.ip"] == 0xC0A801F9 and v["nbdgm.src.port"] == 138
    assert v["nbdgm.dgram_len"] == 165 and v["nbdgm.pkt_offset"] == 0
    assert v["nbdgm.source_name"] == "DJP95S0J<00>" and v["nbdgm.destination_name"] == "ARBEITSGRUPPE<00>"
    assert t.message == "nbdgm : Direct_group datagram DJP95S0J<00> -> ARBEITSGRUPPE<00>"
    err = run(struct.pack("!BBHIHB", 0x13, 0x02, 1, 0x0A000001, 138, 0x82), nbns.NBDGM)
    assert err.values["nbdgm.error_code"] == 0x82


def test_short_message_is_truncated() -> None:
    with pytest.raises(Truncated):
        run(VISTA_QUERY[:20])
    tree = AppDecoder()._dissect(nbns, VISTA_QUERY[:20], 0, AppInfo("udp", 137, 137, 137, {}, 1), 1)
    assert tree.values["nbns.id"] == 51541 and tree.anomaly is not None


def test_dispatch() -> None:
    assert dispatch.UDP_APPS[137] is nbns and dispatch.UDP_APPS[138] is nbns.NBDGM
    assert nbns.NBDGM in dispatch.APP_PROTOCOLS and nbns in dispatch.APP_PROTOCOLS


# -- against tshark --------------------------------------------------------------------------

FIELDS = ["nbns.id", "nbns.flags", "nbns.flags.response", "nbns.flags.opcode", "nbns.flags.broadcast",
          "nbns.flags.rcode", "nbns.count.queries", "nbns.count.answers", "nbns.count.add_rr", "nbns.name",
          "nbns.type", "nbns.class", "nbns.ttl", "nbns.nb_flags", "nbns.addr", "nbns.netbios_name",
          "nbns.name_flags", "nbns.unit_id", "nbdgm.type", "nbdgm.flags", "nbdgm.dgram_id", "nbdgm.src.ip",
          "nbdgm.source_name", "nbdgm.destination_name"]

TRACES = ["tcpdump/tests/eapon1.pcap", "tcpdump/tests/nbns-valgrind.pcap", "tcpdump/tests/smb_print_trans-oobr2.pcap",
          "zeek/testing/btest/Traces/smb/smb_v2_only_non_zero_reserved1.pcap",
          "zeek/testing/btest/Traces/tunnels/Teredo.pcap", "zeek/testing/btest/Traces/wikipedia.pcap",
          "zeek/testing/btest/Traces/erspan.pcap"]


@pytest.mark.corpus
@pytest.mark.skipif(not (have_corpus() and have_tshark()), reason="needs ../shared/corpus and tshark")
@pytest.mark.parametrize("rel", TRACES)
def test_corpus_agrees_with_tshark(rel: str) -> None:
    assert_agrees(CORPUS / rel, FIELDS, require_values=True)


# -- any bytes --------------------------------------------------------------------------------

SAMPLES = [
    VISTA_QUERY,
    header(1, 0x8500, 0, 1) + encode("VISTA") + struct.pack("!HHIH", 32, 1, 5, 6) + struct.pack("!HI", 0, 1),
    header(2, 0x8400, 0, 1) + encode(b"*" + bytes(14)) + struct.pack("!HHIH", 33, 1, 0, 25) + bytes([1])
    + b"HOST           \x20" + struct.pack("!H", 0x0400) + bytes(6),
]
DGM_SAMPLES = [struct.pack("!BBHIHHH", 0x11, 0x0E, 1, 1, 138, 80, 0) + encode("A") + encode("B") + b"\xffSMB",
               struct.pack("!BBHIH", 0x14, 0x02, 1, 1, 138) + encode("A")]


def _check(payload: bytes, module) -> None:  # type: ignore[no-untyped-def]
    check_any_bytes(module, payload, AppInfo("udp", 137, 137, 137, {}, 1))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200), st.sampled_from([nbns, nbns.NBDGM]))
def test_arbitrary_bytes(payload: bytes, module) -> None:  # type: ignore[no-untyped-def]
    _check(payload, module)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([(s, nbns) for s in SAMPLES] + [(s, nbns.NBDGM) for s in DGM_SAMPLES]),
       st.lists(mutations(100, [0, 1, 0x20, 0xC00C, 0xFFFF], [">B", ">H"]), min_size=1, max_size=4))
def test_mutated_messages(sample, muts) -> None:  # type: ignore[no-untyped-def]
    base, module = sample
    _check(mutate(base, muts), module)
