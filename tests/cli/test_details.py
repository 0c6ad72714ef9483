"""``tracedoc details``: the Packet Details and Hex Decode views.

The seed's TCP SYN example is rebuilt byte for byte and its lines asserted;
other frames are built with ``tests.support.pcapgen`` so every expected value
follows from the bytes the test wrote.  The tree's fields are checked
against the packet table (the decoded columns) on every frame of several
corpus captures and on mutated frames: a node that names a column must show
that column's value.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import struct
import subprocess
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracedoc
from tests.support import pcapgen as g
from tests.support.command import tracedoc_command
from tests.support.corpus import CORPUS, have_corpus
from tracedoc.cli import details_cmd
from tracedoc.cli.main import main
from tracedoc.decode import details, dispatch
from tracedoc.decode.apptree import Node, Reader
from tracedoc.decode.fields import F
from tracedoc.decode.table import FIELDS, Decoder
from tracedoc.read.batch import FrameBatch

REPO = Path(__file__).resolve().parents[2]
CTRACE = REPO / "tests" / "data" / "ctrace"


def norm(line: str) -> str:
    """Runs of spaces as one (the seed's PDF text lost its column spacing)."""
    return " ".join(line.split())


def invoke(*args: Any, tz: str = "UTC") -> Any:
    env = {"TZ": tz}
    return CliRunner().invoke(main, ["details", *[str(a) for a in args]], env=env, catch_exceptions=False)


def write_pcap(tmp_path: Path, frames: list[bytes], name: str = "t.pcap", network: int = 1,
               ts: list[int] | None = None) -> Path:
    recs = [g.Rec(ts[i] if ts else g.BASE_TS + i * 1_000_000, f, len(f)) for i, f in enumerate(frames)]
    p = tmp_path / name
    p.write_bytes(g.pcap_file(recs, network=network)[0])
    return p


def lines_of(data: bytes, linktype: int = 1) -> list[str]:
    """The Packet Details text of one frame's headers, blank lines dropped."""
    blocks = details.packet_details(data, linktype, len(data))
    return [norm(x) for x in details_cmd.block_lines(blocks) if x.strip()]


# -- the seed's example ------------------------------------------------------------------

SEED_MAC_CLIENT, SEED_MAC_ROUTER = "08:00:46:F4:3A:09", "00:04:75:C9:51:B6"
# MSS 1460, NOP, window scale 2, NOP, NOP, SACK permitted (RFC 793, 7323, 2018)
SEED_SYN_OPTIONS = bytes([2, 4, 0x05, 0xB4, 1, 3, 3, 2, 1, 1, 4, 2])
SEED_SYN = g.ether(SEED_MAC_ROUTER, SEED_MAC_CLIENT, 0x0800, g.ipv4(
    "10.0.52.164", "204.152.184.134", 6,
    g.tcp(2646, 80, 3087588094, 0, 0x002, 65535, options=SEED_SYN_OPTIONS), ident=0x3316, ttl=64))
SEED_SYNACK = g.ether(SEED_MAC_CLIENT, SEED_MAC_ROUTER, 0x0800, g.ipv4(
    "204.152.184.134", "10.0.52.164", 6,
    g.tcp(80, 2646, 1218508629, 3087588095, 0x012, 65535, options=bytes([2, 4, 0x05, 0xB4, 1, 3, 3, 0, 1, 1, 4, 2])),
    ident=0xF6EB, ttl=50))
# 11/2/2005 21:04:29.5621 CST = 2005-11-03 03:04:29.5621 UTC
SEED_TS = int(dt.datetime(2005, 11, 3, 3, 4, 29, 562100, tzinfo=dt.timezone.utc).timestamp()) * 10**9 + 562100_000

SEED_LINES = """\
Packet ID : 1
Time : 11/2/2005 21:04:29.562100 CST
Link Header :
Source Mac : 08:00:46:F4:3A:09 Remote Mac : 00:04:75:C9:51:B6
ETHERTYPE : IP (0x800)
IP Version 4
Header Length : 20
Source : 10.0.52.164 Remote : 204.152.184.134
Protocol : TCP
Datagram Length : 52
ID : 0x3316 (13078)
Flags : Don't Fragment Fragment Offset : 0
Time to live : 64
Header checksum : 0x43EB
TCP Header Info
Source Port : 2646 2646 Remote Port : 80 http
Seq. Number : 3087588094 Ack. Number : 0
Window : 65535 Flags : SYN
Maximum segment size: 1460 bytes
NOP
Window scale: 2 (multiply by 4)
NOP
NOP
SACK permitted""".splitlines()


def test_seed_syn_packet_details(tmp_path: Path) -> None:
    # The seed prints the time as 21:04:29:5621; tracedoc writes the
    # Packet Summary's time of day (microseconds after a dot).
    p = write_pcap(tmp_path, [SEED_SYN, SEED_SYNACK], ts=[SEED_TS, SEED_TS + 180_000_000])
    r = invoke(p, "-n", 1, tz="America/Chicago")
    assert r.exit_code == 0, r.output
    got = [norm(x) for x in r.stdout.splitlines() if x.strip()]
    assert got[:len(SEED_LINES)] == SEED_LINES
    # Then the header fields the seed's layout leaves out, on one line.
    assert got[len(SEED_LINES):] == ["Header Length : 32 Segment Length : 0 Checksum : 0xBEEF"]
    # Blocks are separated by blank lines, as the seed shows them.
    text = r.stdout.splitlines()
    assert text[2] == "" and text[3] == "Link Header :"


def test_seed_synack_options(tmp_path: Path) -> None:
    got = lines_of(SEED_SYNACK)
    i = got.index("TCP Header Info")
    assert got[i + 1:i + 9] == [
        "Source Port : 80 http Remote Port : 2646 2646",
        "Seq. Number : 1218508629 Ack. Number : 3087588095",
        "Window : 65535 Flags : ACK SYN",
        "Maximum segment size: 1460 bytes", "NOP", "Window scale: 0 (multiply by 1)", "NOP", "NOP"]
    assert "ID : 0xF6EB (63211)" in got and "Time to live : 50" in got


def test_seed_syn_nodes_know_their_bytes() -> None:
    blocks = details.packet_details(SEED_SYN, 1, len(SEED_SYN))
    found: dict[str, Node] = {}

    def walk(ns: list[Node]) -> None:
        for n in ns:
            if n.field:
                found.setdefault(n.field, n)
            walk(n.children)

    walk(blocks)
    for name, off, length, value in (("eth.src", 6, 6, 0x080046F43A09), ("eth.dst", 0, 6, 0x000475C951B6),
                                     ("eth.type", 12, 2, 0x0800), ("ip.id", 18, 2, 0x3316),
                                     ("ip.ttl", 22, 1, 64), ("ip.checksum", 24, 2, 0x43EB),
                                     ("ip.src", 26, 4, 0x0A0034A4), ("tcp.srcport", 34, 2, 2646),
                                     ("tcp.seq_raw", 38, 4, 3087588094), ("tcp.options.mss_val", 54, 4, 1460),
                                     ("tcp.options.wscale.shift", 61, 1, 2),
                                     ("tcp.options.wscale.multiplier", 61, 1, 4),
                                     ("tcp.options.sack_perm", 64, 2, b"\x04\x02")):
        n = found[name]
        assert (n.offset, n.length, n.value) == (off, length, value), name
        assert SEED_SYN[off:off + length], name


# -- UDP / DNS, ICMP errors ---------------------------------------------------------------


def test_dns_over_udp(tmp_path: Path) -> None:
    p = write_pcap(tmp_path, [g.UDP_DNS])
    r = invoke(p, "-n", 1)
    assert r.exit_code == 0, r.output
    got = [norm(x) for x in r.stdout.splitlines() if x.strip()]
    i = got.index("UDP Header Info")
    assert got[i + 1:i + 3] == ["Source Port : 53000 53000 Remote Port : 53 dns", "Length : 37 Checksum : 0xCAFE"]
    assert "Time to live : 128" in got and "Source : 10.0.0.1 Remote : 8.8.8.8" in got
    # The 29-byte DNS query (42..71) is the application block: the DNS
    # decoder's when one is registered for port 53, else shown as data.
    obj = json.loads(invoke(p, "-n", 1, "--json").stdout)
    last = obj["layers"][-1]
    assert (last["offset"], last["length"]) == (42, 29)
    if 53 in dispatch.UDP_APPS:
        assert last.get("reassembled") is False and last["label"].startswith("DNS")
    else:
        assert last["label"] == "Data: 29 bytes"


def test_icmp_error_shows_the_quoted_datagram(tmp_path: Path) -> None:
    p = write_pcap(tmp_path, [g.ICMP_UNREACH])
    out = invoke(p, "-n", 1).stdout.splitlines()
    i = out.index("ICMP Header")
    assert [norm(x) for x in out[i + 1:i + 4]] == [
        "Type : 3 Destination Unreachable Code : 3 Port unreachable",
        f"Checksum : 0x{struct.unpack('!H', g.ICMP_UNREACH[36:38])[0]:04X}",
        "Quoted datagram : 28 bytes"]
    quoted = out[i + 4:]
    assert quoted[0] == "  IP Version 4"
    assert "    Source : 10.0.0.1    Remote : 8.8.8.8" in quoted
    assert "    Protocol : UDP" in quoted and "    Time to live : 128" in quoted
    assert "  UDP Header Info" in quoted
    assert "    Source Port : 53000 53000    Remote Port : 53 dns" in quoted
    # The outer header: no flags set.
    assert "Flags :     Fragment Offset : 0" in out
    obj = json.loads(invoke(p, "-n", 1, "--json").stdout)
    icmp_block = obj["layers"][2]
    q = [c for c in icmp_block["children"] if c.get("quoted")]
    assert len(q) == 1 and (q[0]["offset"], q[0]["length"]) == (42, 28)
    ip_src = q[0]["children"][0]["children"][1]["children"][0]
    assert (ip_src["field"], ip_src["offset"], ip_src["value"], ip_src["show"]) == ("ip.src", 54, 0x0A000001,
                                                                                    "10.0.0.1")
    vals = details.first_values(details.packet_details(g.ICMP_UNREACH, 1, len(g.ICMP_UNREACH)))
    assert vals["inner.udp.dstport"] == 53 and vals["ip.src"] == 0x08080808 and vals["inner.ip.src"] == 0x0A000001


# -- other link types, IPv6, TCP options, ARP ---------------------------------------------


IPV4_UDP = g.ipv4("10.0.0.1", "10.0.0.2", 17, g.udp(1234, 5678, b"abcd"), ident=7)


def test_linux_cooked_captures() -> None:
    sll = struct.pack("!HHH8sH", 4, 1, 6, g.mac("00:11:22:33:44:55") + b"\0\0", 0x0800) + IPV4_UDP
    got = lines_of(sll, 113)
    assert got[:5] == ["Link Header : Linux cooked capture", "Packet Type : Sent by us (4)",
                       "Link-layer Address Type : Ethernet (1) Address Length : 6", "Source Mac : 00:11:22:33:44:55",
                       "Protocol : IP (0x800)"]
    assert "UDP Header Info" in got
    sll2 = struct.pack("!HHIHBB8s", 0x86DD, 0, 3, 1, 0, 6, g.mac("66:77:88:99:aa:bb") + b"\0\0") + g.ipv6(
        "2001:db8::1", "2001:db8::2", 17, g.udp(1, 2, b""))
    got = lines_of(sll2, 276)
    assert got[:3] == ["Link Header : Linux cooked capture v2", "Protocol : IPv6 (0x86DD)", "Interface Index : 3"]
    assert "Source Mac : 66:77:88:99:AA:BB" in got and "IP Version 6" in got


@pytest.mark.parametrize("linktype,head", [(0, struct.pack("<I", 2)), (0, struct.pack(">I", 2)),
                                            (108, struct.pack(">I", 2)), (101, b""), (228, b"")])
def test_loopback_and_raw_ip(linktype: int, head: bytes) -> None:
    got = lines_of(head + IPV4_UDP, linktype)
    if head:
        assert got[:2] == ["Link Header : BSD loopback", "Family : IP (2)"]
    else:
        assert got[0] == "IP Version 4"
    assert "Source Port : 1234 1234 Remote Port : 5678 5678" in got


def test_vlan_tags_and_llc() -> None:
    tagged = g.mac("66:77:88:99:aa:bb") + g.mac("00:11:22:33:44:55") + struct.pack("!HHHH", 0x88A8, 200, 0x8100,
                                                                                (3 << 13) | 300) \
        + struct.pack("!H", 0x0800) + IPV4_UDP
    got = lines_of(tagged)
    assert got[2] == "ETHERTYPE : 802.1ad (0x88A8)"
    assert got[3:9] == ["802.1ad Service VLAN", "VLAN ID : 200 Priority : 0 DEI : 0", "ETHERTYPE : 802.1Q VLAN (0x8100)",
                        "802.1Q Virtual LAN", "VLAN ID : 300 Priority : 3 DEI : 0", "ETHERTYPE : IP (0x800)"]
    snap = g.mac("66:77:88:99:aa:bb") + g.mac("00:11:22:33:44:55") + struct.pack("!H", 8 + len(IPV4_UDP)) \
        + bytes([0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00]) + IPV4_UDP
    got = lines_of(snap)
    assert got[2:7] == [f"Length : {8 + len(IPV4_UDP)} (IEEE 802.3)", "Logical-Link Control", "DSAP : 0xAA SSAP : 0xAA",
                        "Control : 0x03", "Organization Code : 0x000000"]
    assert "Type : IP (0x800)" in got and "IP Version 4" in got


def test_ipv6_extension_headers_and_fragment() -> None:
    hop = bytes([44, 0]) + bytes([5, 2, 0, 0, 1, 0])          # hop-by-hop: router alert, next = fragment
    frag = bytes([17, 0]) + struct.pack("!HI", 0, 0xABCD)     # offset 0, M=0: an atomic fragment
    pkt = g.ipv6("2001:db8::1", "2001:db8::2", 0, hop + frag + g.udp(7, 9, b"xy"))
    got = lines_of(pkt, 229)
    assert got[:7] == ["IP Version 6", "Source : 2001:db8::1 Remote : 2001:db8::2",
                       "Next Header : IPv6 Hop-by-Hop (0)", f"Payload Length : {len(pkt) - 40}", "Hop Limit : 64",
                       "Traffic Class : 0x00 Flow Label : 0x12345",
                       "Hop-by-Hop Options : 8 bytes, next header IPv6 Fragment (44)"]
    assert got[7:9] == ["Fragment Header : next header UDP (17)", "Fragment Offset : 0 More Fragments : No"]
    assert "ID : 0x0000ABCD" in got and "Source Port : 7 7 Remote Port : 9 9" in got
    # A real fragment is not decoded further until reassembled.
    frag2 = bytes([17, 0]) + struct.pack("!HI", (0 << 3) | 1, 0xABCD)
    got = lines_of(g.ipv6("2001:db8::1", "2001:db8::2", 44, frag2 + g.udp(7, 9, b"xy")), 229)
    assert "UDP Header Info" not in got and got[-1].startswith("Fragment data: 10 bytes")


def test_every_tcp_option() -> None:
    opts = (bytes([8, 10]) + struct.pack("!II", 111, 222)                       # timestamps
            + bytes([5, 18]) + struct.pack("!IIII", 1000, 2000, 3000, 4000)     # SACK, two blocks
            + bytes([30, 4, 0, 0])                                              # MPTCP (unknown here)
            + bytes([1, 0, 0, 0]))                                              # NOP, EOL, padding
    frame = g.ether(g.MAC_B, g.MAC_A, 0x0800, g.ipv4("10.0.0.1", "10.0.0.2", 6, g.tcp(
        1, 2, 3, 4, 0x010, 100, options=opts, payload=b"hello")))
    got = lines_of(frame)
    i = got.index("Window : 100 Flags : ACK")
    assert got[i + 1:i + 7] == ["Timestamps: TSval 111, TSecr 222", "SACK: 1000-2000 3000-4000",
                                "Multipath TCP (kind 30): 4 bytes", "NOP", "EOL",
                                "Header Length : 56 Segment Length : 5 Checksum : 0xBEEF"]
    assert got[-1] == "Data: 5 bytes"
    vals = details.first_values(details.packet_details(frame, 1, len(frame)))
    assert (vals["tcp.options.sack_le"], vals["tcp.options.sack_re"], vals["tcp.options.sack.count"]) == (1000, 2000, 2)
    # A bad option length stops the walk, as decode does.
    bad = g.ether(g.MAC_B, g.MAC_A, 0x0800, g.ipv4("10.0.0.1", "10.0.0.2", 6, g.tcp(
        1, 2, 3, 4, 0x002, 100, options=bytes([2, 1, 0, 0]))))
    assert "[Bad TCP option length 1 (kind 2)]" in lines_of(bad)


def test_arp_and_generic_data() -> None:
    got = lines_of(g.ARP_REQ)
    assert got[3:9] == ["ARP Header", "Hardware Type : Ethernet (1) Protocol Type : IP (0x800)",
                        "Hardware Size : 6 Protocol Size : 4", "Opcode : Request (1)",
                        "Sender MAC : 00:11:22:33:44:55 Sender IP : 10.0.0.1",
                        "Target MAC : 00:00:00:00:00:00 Target IP : 10.0.0.2"]
    assert got[-1] == "Padding: 18 bytes"
    lldp = g.ether("01:80:c2:00:00:0e", g.MAC_A, 0x88CC, b"\x02\x07" + b"\0" * 30)
    assert lines_of(lldp)[-2:] == ["ETHERTYPE : LLDP (0x88CC)", "Data: 32 bytes"]
    assert lines_of(b"\x01\x02\x03", 9999) == ["Data: 3 bytes (link type 9999)"]
    assert lines_of(g.SYN[:10]) == ["Link Header :", "Remote Mac : 66:77:88:99:AA:BB",
                                    "[Truncated: frame shorter than an Ethernet header (10 of 14 bytes)]"]


# -- CTRACE (z/OS) -------------------------------------------------------------------------


def test_ctrace_record_facts_and_ebcdic() -> None:
    r = invoke(CTRACE / "seed_discard_4114.txt", "-n", 1, "--hex")
    assert r.exit_code == 0, r.output
    out = r.stdout.splitlines()
    assert out[:2] == ["Packet ID : 1", "Time : 1/25/2011 14:13:05.687445 UTC"]
    assert out[3] == "CTRACE Record : packet trace (SYSTCPDA)"
    for line in ("Direction : In", "Interface : OSDL", "Device Type : QDIO Ethernet", "Flags : In Dscrd",
                 "Interface Index : 9", "ASID : 0x004F",
                 "Discard Reason Code : 4114 (IP_MAC_BRDCST) Interface and IP layer"):
        assert line in out, line
    assert out.index("Discard Reason Code : 4114 (IP_MAC_BRDCST) Interface and IP layer") < out.index("IP Version 4")
    assert "Source Port : 137 NBNS    Remote Port : 137 NBNS" in out
    hx = out[out.index("Hex Decode (ASCII, EBCDIC)") + 1:]
    assert len(hx) == 5  # 78 bytes
    # Row 0x10 holds the UDP header and the first NetBIOS bytes 84 E2, which
    # are "dS" in EBCDIC (code page 037), as the IPCS dump of the seed shows.
    row = hx[1]
    assert row.startswith("0010  AC 1D BF FF 00 89 00 89  00 3A 00 00 84 E2 01 10  ")
    ascii_col, ebcdic_col = row[56:72], row[74:]
    assert ascii_col == "".join(chr(b) if 32 <= b < 127 else "." for b in bytes.fromhex("AC1DBFFF008900890" "03A000084E20110"))
    assert ebcdic_col[12:14] == "dS"
    # The ASCII text of the NetBIOS name is EBCDIC nonsense and vice versa.
    assert hx[2][56:72] == "........ FIFAFGE"


def test_ctrace_json_row_facts() -> None:
    obj = json.loads(invoke(CTRACE / "multi_record.txt", "-n", 9, "--json").stdout)
    rec = obj["layers"][0]
    assert rec["field"] == "ctrace"
    flat: dict[str, Any] = {}

    def walk(ds: list[dict]) -> None:
        for d in ds:
            if "field" in d:
                flat.setdefault(d["field"], d["value"])
            walk(d.get("children", []))

    walk([rec])
    assert flat["ctrace.direction"] == "Out" and flat["ctrace.discard"] == 4114
    assert flat["ctrace.discard_name"] == "IP_MAC_BRDCST" and flat["ctrace.link"] == "OSDL"


def test_data_trace_record_is_socket_data() -> None:
    out = invoke(CTRACE / "data_trace.txt", "-n", 2).stdout.splitlines()
    assert "Jobname : FTPD1" in out and "Data: 18 bytes (socket data)" in out


def test_no_ebcdic_column_for_pcap(tmp_path: Path) -> None:
    p = write_pcap(tmp_path, [g.UDP_DNS])
    out = invoke(p, "-n", 1, "--hex").stdout.splitlines()
    i = out.index("Hex Decode")
    assert out[i + 1] == "0000  " + " ".join(f"{b:02X}" for b in g.UDP_DNS[:8]) + "  " \
        + " ".join(f"{b:02X}" for b in g.UDP_DNS[8:16]) + "  " \
        + "".join(chr(b) if 32 <= b < 127 else "." for b in g.UDP_DNS[:16])


# -- hex and JSON ---------------------------------------------------------------------------


def test_hex_offsets() -> None:
    data = bytes(range(256)) * 2 + b"\x41" * 3
    lines = details_cmd.hex_lines(data)
    assert [x[:4] for x in lines] == [f"{o:04X}" for o in range(0, len(data), 16)]
    assert lines[-1] == "0200  41 41 41" + " " * (48 - 8) + "  AAA"
    big = details_cmd.hex_lines(b"\0" * 70000)
    assert big[0].startswith("00000  ") and big[-1].startswith("11160  ")
    eb = details_cmd.hex_lines("HELLO, z/OS".encode("cp037"), ebcdic=True)
    assert eb[0].endswith("HELLO, z/OS")


def test_json_shape(tmp_path: Path) -> None:
    frames = [g.SYN, g.UDP_DNS, g.ICMP_UNREACH]
    p = write_pcap(tmp_path, frames)
    r = invoke(p, "-n", "1-3", "--json")
    objs = [json.loads(x) for x in r.stdout.splitlines()]
    assert [o["frame"] for o in objs] == [1, 2, 3]
    for o, data in zip(objs, frames):
        assert set(o) == {"frame", "time", "local_time", "layers", "hex"}
        assert bytes.fromhex(o["hex"]) == data
        assert o["time"] == pytest.approx((g.BASE_TS + (o["frame"] - 1) * 1_000_000) / 1e9)

        def check(ds: list[dict]) -> None:
            for d in ds:
                assert {"label", "offset", "length"} <= set(d)
                assert 0 <= d["offset"] and d["offset"] + d["length"] <= len(data), d
                if "field" in d:
                    assert "value" in d
                    if d["field"] in FIELDS and d["value"] is not None and FIELDS[d["field"]].type.startswith("u"):
                        assert isinstance(d["value"], int)
                check(d.get("children", []))

        check(o["layers"])
    assert [[b["label"] for b in o["layers"][:3]] for o in objs] == [
        ["Link Header :", "IP Version 4", "TCP Header Info"], ["Link Header :", "IP Version 4", "UDP Header Info"],
        ["Link Header :", "IP Version 4", "ICMP Header"]]


# -- choosing frames, errors ---------------------------------------------------------------


@pytest.fixture
def nine(tmp_path: Path) -> Path:
    return write_pcap(tmp_path, [g.PACKETS[k] for k in g.PACKETS], "nine.pcap")


def ids(out: str) -> list[int]:
    return [int(x.split(":")[1]) for x in out.splitlines() if x.startswith("Packet ID :")]


def test_frames_ranges_and_filters(nine: Path) -> None:
    assert ids(invoke(nine, "-n", "5-7", "-n", 2, "-n", "9,1").stdout) == [1, 2, 5, 6, 7, 9]
    # -Y alone: every matching frame (the ICMP error quotes a UDP datagram).
    assert ids(invoke(nine, "-Y", "udp").stdout) == [4, 7, 9]
    # -Y with -n: the named frames the filter selects.
    assert ids(invoke(nine, "-n", "1-6", "-Y", "tcp").stdout) == [1, 2, 3]
    r = invoke(nine, "-Y", "dns.qry.name == \"x\"" if "dns.qry.name" in FIELDS else "ip.ttl == 99")
    assert r.exit_code == 0 and r.stdout == "" and "no frame matches the filter" in r.stderr


def test_filter_cap_and_note(nine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(details_cmd, "MAX_FRAMES", 2)
    r = invoke(nine, "-Y", "ip")
    assert ids(r.stdout) == [1, 2]
    assert "tracedoc: note: showing the first 2 frames the filter selects" in r.stderr
    r = invoke(nine, "-n", "3-9")
    assert ids(r.stdout) == [3, 4] and "showing the first 2" in r.stderr


def run_cli(*args: Any) -> subprocess.CompletedProcess:
    env = dict(os.environ, LC_ALL="C.UTF-8")
    env.pop("TRACEDOC_DEBUG", None)
    return subprocess.run(tracedoc_command() + ["details", *[str(a) for a in args]], capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.mark.parametrize("spec,message", [
    ("10", "frame 10 is out of range (the trace has 9 frames)"),
    ("8-12", "frame 10 is out of range (the trace has 9 frames)"),
    ("0", "frame 0 is out of range (frames are numbered from 1)"),
    ("abc", "bad frame number 'abc' (give N or N-M)"),
    ("7-3", "bad frame range '7-3' (the end is before the start)"),
])
def test_bad_frame_numbers(nine: Path, spec: str, message: str) -> None:
    p = run_cli(nine, "-n", spec)
    assert p.returncode == 1 and p.stdout == "" and "Traceback" not in p.stderr
    assert p.stderr.splitlines() == [f"tracedoc: error: {message}"]


def test_no_frames_named_is_a_usage_error(nine: Path) -> None:
    r = CliRunner().invoke(main, ["details", str(nine)])
    assert r.exit_code == 2 and "name the frames" in r.output


def test_bad_filter_and_bad_file(nine: Path, tmp_path: Path) -> None:
    p = run_cli(nine, "-Y", "ip.nosuchfield == 1")
    assert p.returncode == 1 and p.stderr.startswith("tracedoc: error: display filter:")
    # A trace damaged after frame 3: the frames before the damage are
    # shown, the damage is reported and the run fails.
    data = (nine.read_bytes())
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:24 + 3 * 16 + sum(len(g.PACKETS[k]) for k in list(g.PACKETS)[:3]) + 20])
    p = run_cli(cut, "-Y", "ip")
    assert ids(p.stdout) == [1, 2, 3] and p.returncode == 1
    assert p.stderr.startswith("tracedoc: error: ") and "truncated record" in p.stderr
    p = run_cli(cut, "-n", 5)
    assert p.returncode == 1 and p.stderr.splitlines() == [
        "tracedoc: error: frame 5 is out of range (the trace has 3 frames; the trace is damaged after it)"]
    bad = tmp_path / "garbage.pcap"
    bad.write_bytes(b"not a trace\n" * 10)
    p = run_cli(bad, "-n", 1)
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1 and "Traceback" not in p.stderr


# -- the application block ------------------------------------------------------------------


def _toy(name: str, framed: bool) -> types.ModuleType:
    """A toy protocol: 2-byte length, then text."""
    m = types.ModuleType(name)
    m.NAME = name  # type: ignore[attr-defined]
    ln, word = F(f"{name}.len", "u16", "Length"), F(f"{name}.word", "string", "Word")
    m.FIELDS = (ln, word)  # type: ignore[attr-defined]

    def dissect(data: bytes, tree, info) -> None:  # type: ignore[no-untyped-def]
        r = Reader(data)
        n = r.u16(0)
        tree.add(ln, n, 0, 2, f"Length : {n}")
        tree.add(word, r.bytes(2, n).decode(), 2, n)

    def pdu_length(data: bytes, info) -> int:  # type: ignore[no-untyped-def]
        return 0 if len(data) < 2 else struct.unpack("!H", data[:2])[0] + 2

    m.dissect = dissect  # type: ignore[attr-defined]
    if framed:
        m.pdu_length = pdu_length  # type: ignore[attr-defined]
    return m


@pytest.fixture
def toy_apps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatch, "UDP_APPS", dict(dispatch.UDP_APPS) | {7777: _toy("toy", False)})
    monkeypatch.setattr(dispatch, "TCP_APPS", dict(dispatch.TCP_APPS) | {7777: _toy("toy", True)})


def test_application_block_from_the_application_pass(tmp_path: Path, toy_apps: None) -> None:
    msg = struct.pack("!H", 5) + b"hello"
    udp_frame = g.ether(g.MAC_B, g.MAC_A, 0x0800, g.ipv4("10.0.0.1", "10.0.0.2", 17, g.udp(40000, 7777, msg)))
    seg = [g.ether(g.MAC_B, g.MAC_A, 0x0800, g.ipv4("10.0.0.1", "10.0.0.2", 6, g.tcp(
        40001, 7777, 100 + k, 1, 0x018, 1000, payload=part))) for k, part in ((0, msg[:4]), (4, msg[4:]))]
    p = write_pcap(tmp_path, [udp_frame] + seg)
    out = invoke(p, "-n", 1).stdout.splitlines()
    assert out[-3:] == ["TOY", "Length : 5", "Word: hello"]
    objs = [json.loads(x) for x in invoke(p, "-n", "1-3", "--json").stdout.splitlines()]
    app = objs[0]["layers"][-1]
    assert (app["label"], app["offset"], app["length"], app["reassembled"]) == ("TOY", 42, 7, False)
    assert [(c["field"], c["offset"], c["value"]) for c in app["children"]] == [("toy.len", 42, 5),
                                                                               ("toy.word", 44, "hello")]
    # The message split over two segments completes in frame 3, rebuilt:
    # frame 2 shows its bytes as data, frame 3 the reassembled message.
    assert objs[1]["layers"][-1]["label"] == "Data: 4 bytes"
    app3 = objs[2]["layers"][-1]
    assert (app3["label"], app3["reassembled"]) == ("TOY (reassembled)", True)
    assert app3["children"][1]["value"] == "hello"


# -- agreement with the packet table ------------------------------------------------------------


def _disagreements(path: Path, limit: int = 5000) -> tuple[int, list[tuple]]:
    """Compare every node that names a column with the frame's row."""
    trace = tracedoc.open(path)
    dec = Decoder(detail_frames=set(range(1, limit + 1)))
    bad: list[tuple] = []
    n = 0
    for b in trace.iter_frames():
        rows = dec.decode(b).to_pylist()
        trees = dec.app.trees if dec.app is not None else {}
        for i, row in enumerate(rows):
            n += 1
            num = row["frame.number"]
            tr = trees.pop(num, [])
            blocks = details.packet_details(b.packet_bytes(i), int(b.linktype[i]), int(b.origlen[i]), row, tr)
            for name, v in details.first_values(blocks).items():
                if name in FIELDS and row.get(name) != v:
                    bad.append((num, name, v, row.get(name)))
            bad += _app_disagreements(num, row, tr)
        if n >= limit:
            break
    return n, bad


def _app_disagreements(num: int, row: dict, trees: list) -> list[tuple]:
    """Application nodes: the first node of a field shows the row's value;
    every node of a ``multi`` field shows one of the row's values (decoders
    may keep a value without a node, as Wireshark hides some items)."""
    first: dict[str, Any] = {}
    bad: list[tuple] = []

    def walk(ns: list[Node]) -> None:
        for n in ns:
            f = FIELDS.get(n.field or "")
            if f is not None and n.value is not None:
                if f.multi:
                    if n.value not in (row.get(f.name) or []):
                        bad.append((num, f.name, n.value, row.get(f.name)))
                else:
                    first.setdefault(f.name, n.value)
            walk(n.children)

    for t in trees:
        walk(t.root.children)
    return bad + [(num, k, v, row.get(k)) for k, v in first.items() if row.get(k) != v]


CORPUS_CAPTURES = [
    "dpkt/examples/data/dns_icmp.pcap",                         # ICMP errors quoting UDP
    "dpkt/examples/data/http.pcap",                             # TCP, HTTP
    "tcpdump/tests/afs.pcap",                                   # IPv4 fragments, ICMP unreachables
    "tcpdump/tests/babel.pcap",                                 # Linux SLL, IPv6 hop-by-hop
    "tcpdump/tests/ikev2four.pcap",                             # BSD NULL
    "tcpdump/tests/rpvstp-trunk-native-vid5.pcap",              # 802.3 LLC/SNAP, VLAN
    "tcpdump/tests/babel_rtt.pcap",                             # raw IP
    "tcpdump/tests/hoobr_rt6_print.pcap",                       # raw IPv6, damaged routing header
    "tcpdump/tests/arp-oobr.pcap",                              # ARP, damaged ones too
    "zeek/testing/btest/Traces/ipv6-http-atomic-frag.pcap",     # IPv6 extension headers, fragments
    "zeek/testing/btest/Traces/mixed-vlan-mpls.pcap",           # VLAN, MPLS
    "zeek/testing/btest/Traces/cisco-fabric-path.pcap",         # FabricPath
    "zeek/testing/btest/Traces/communityid/icmp6.pcap",         # ICMPv6 errors
]


@pytest.mark.corpus
@pytest.mark.skipif(not have_corpus(), reason="corpus not available")
@pytest.mark.parametrize("rel", CORPUS_CAPTURES)
def test_details_agree_with_the_packet_table_on_corpus(rel: str) -> None:
    path = CORPUS / rel
    if not path.is_file():
        pytest.skip(f"{rel} not in the corpus")
    n, bad = _disagreements(path)
    assert n > 0
    assert not bad, bad[:10]


@pytest.mark.parametrize("name", ["multi_record.txt", "ipv6.txt", "osaenta.txt", "format_only.txt",
                                  "data_trace.txt", "abbrev.txt", "summary.txt"])
def test_details_agree_with_the_packet_table_on_ctrace(name: str) -> None:
    n, bad = _disagreements(CTRACE / name)
    assert n > 0 and not bad, bad[:10]


# Hand-built frames mutated: truncated anywhere, bytes changed anywhere.
def _eth(etype: int, payload: bytes) -> bytes:
    return g.ether(g.MAC_B, g.MAC_A, etype, payload)


_V6_UDP = g.ipv6("2001:db8::1", "2001:db8::2", 17, g.udp(7, 9, b"xy"))
_BASES = [g.PACKETS[k] for k in g.PACKETS] + [SEED_SYN, SEED_SYNACK] + [
    # QinQ, SNAP
    g.mac("66:77:88:99:aa:bb") + g.mac("00:11:22:33:44:55") + struct.pack("!HHHHH", 0x88A8, 200, 0x8100, 300, 0x0800)
    + IPV4_UDP,
    g.mac("66:77:88:99:aa:bb") + g.mac("00:11:22:33:44:55") + struct.pack("!H", 8 + len(IPV4_UDP))
    + bytes([0xAA, 0xAA, 3, 0, 0, 0, 8, 0]) + IPV4_UDP,
    # TCP with timestamps, SACK blocks, an unknown option; IPv4 options (router alert, NOP)
    _eth(0x0800, g.ipv4("10.0.0.1", "10.0.0.2", 6, g.tcp(1, 2, 3, 4, 0x010, 9, options=bytes([8, 10]) + bytes(8)
                                                         + bytes([5, 10]) + bytes(8) + bytes([30, 4, 0, 0]),
                                                         payload=b"data"))),
    _eth(0x0800, g.ipv4("10.0.0.1", "10.0.0.2", 17, g.udp(1, 2, b"ab"), ihl=6, options=bytes([148, 4, 0, 0]))),
    # an IPv4 fragment, IPv6 extension headers, an ICMPv6 error quoting IPv6/UDP
    _eth(0x0800, g.ipv4("10.0.0.1", "10.0.0.2", 17, g.udp(1, 2, b"abcdefgh"), flags_frag=0x2000)),
    _eth(0x86DD, g.ipv6("2001:db8::1", "2001:db8::2", 0, bytes([44, 0, 5, 2, 0, 0, 1, 0, 17, 0])
                        + struct.pack("!HI", 0, 9) + g.udp(7, 9, b"xy"))),
    _eth(0x86DD, g.ipv6("2001:db8::2", "2001:db8::1", 58, bytes([1, 4, 0, 0, 0, 0, 0, 0]) + _V6_UDP)),
]


def _batch(frames: list[bytes], linktype: int = 1) -> FrameBatch:
    lens = np.array([len(f) for f in frames], dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    n = len(frames)
    return FrameBatch(data=np.frombuffer(b"".join(frames) or b"\0", dtype=np.uint8).copy(), offset=offs,
                      caplen=lens, origlen=lens, ts_ns=np.zeros(n, np.int64),
                      linktype=np.full(n, linktype, np.int32), interface_id=np.full(n, -1, np.int32),
                      record_offset=offs, first_number=1)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(_BASES), cut=st.integers(0, 120),
       flips=st.lists(st.tuples(st.integers(0, 119), st.integers(0, 255)), max_size=4),
       linktype=st.sampled_from([1, 1, 1, 0, 101, 113, 276]))
def test_mutated_frames_agree_with_the_packet_table(base: bytes, cut: int, flips: list, linktype: int) -> None:
    data = bytearray(base if linktype == 1 else (bytes(20) + base[14:]))
    for pos, val in flips:
        if pos < len(data):
            data[pos] = val
    frame = bytes(data[:cut])
    row = Decoder().decode(_batch([frame], linktype)).to_pylist()[0]
    blocks = details.packet_details(frame, linktype, len(frame), row)
    for name, v in details.first_values(blocks).items():
        if name in FIELDS:
            assert row.get(name) == v, (name, v, row.get(name))
    _assert_inside(blocks, len(frame))
    details_cmd.block_lines(blocks)


def _assert_inside(nodes: list[Node], size: int) -> None:
    """Every node with bytes lies inside the frame."""
    for n in nodes:
        assert n.offset >= 0 and (n.length == 0 or n.offset + n.length <= size), (n.label, n.offset, n.length)
        _assert_inside(n.children, size)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200), linktype=st.sampled_from(sorted(details.LINKTYPE) + [147, 9999]))
def test_any_bytes_give_details(data: bytes, linktype: int) -> None:
    blocks = details.packet_details(data, linktype, len(data))
    details_cmd.block_lines(blocks)
    _assert_inside(blocks, len(data))
    json.dumps([b.as_dict() for b in blocks], default=lambda v: v.hex())
