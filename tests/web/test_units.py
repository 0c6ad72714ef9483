"""The workbench's helpers on their own: the summary's column list, the
SVG check, the Query Builder's filter text, and Packet Details' nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.support.corpus import CORPUS

REPO = Path(__file__).resolve().parents[2]
CAPTURES = [
    CORPUS / "zeek" / "testing" / "btest" / "Traces" / "ftp" / "retr.pcap",
    CORPUS / "libpcap" / "tests" / "filter" / "vxlan.pcap",
    CORPUS / "libpcap" / "tests" / "filter" / "geneve.pcap",
    CORPUS / "dpkt" / "examples" / "data" / "dns_icmp.pcap",
    REPO / "tests" / "data" / "ctrace" / "data_trace.txt",
    REPO / "tests" / "data" / "ctrace" / "seed_discard_4114.txt",
    REPO / "tests" / "data" / "ctrace" / "ipv6.txt",
]


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_summary_columns_are_all_the_summary_reads(path: Path) -> None:
    """A page built from only SUMMARY_COLUMNS equals the summary of the whole table."""
    import tracedoc
    from tracedoc.analyze.summary import infer_local, summary
    from tracedoc.web.data import ADDRESS_COLUMNS, SUMMARY_COLUMNS

    if not path.is_file():
        pytest.skip(f"{path} not found")
    full = tracedoc.open(path).table()
    side = infer_local(full)
    assert infer_local(full.select(ADDRESS_COLUMNS)) == side
    want = summary(full, side)
    got = summary(full.select(SUMMARY_COLUMNS), side)
    assert got.equals(want)
    # And page by page: the rows of a slice are that slice of the rows.
    if full.num_rows > 3:
        part = summary(full.select(SUMMARY_COLUMNS).take(pa.array([1, 2, full.num_rows - 1])), side)
        assert part.equals(want.take(pa.array([1, 2, full.num_rows - 1])))


def test_svg_check_passes_drawings_and_refuses_the_rest() -> None:
    from tracedoc.web.svg import UnsafeSvg, checked

    ok = ('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
          '<defs><marker id="a"><path d="M0 0"/></marker></defs><g class="packet" data-frame="3">'
          '<title>&lt;script&gt;</title><line marker-end="url(#a)"/></g></svg>')
    out = str(checked(ok))
    assert out.startswith("<svg") and 'data-frame="3"' in out and "&lt;script&gt;" in out
    bad = [
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        '<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><div/></foreignObject></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink">'
        '<use x:href="http://evil/x.svg#a"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:alert(1)"><text>x</text></a></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill:url(http://evil/)"/></svg>',
        '<!DOCTYPE svg [<!ENTITY e "x">]><svg xmlns="http://www.w3.org/2000/svg">&e;</svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><text>unclosed</svg>',
        '<html><script>alert(1)</script></html>',
    ]
    for b in bad:
        with pytest.raises(UnsafeSvg):
            checked(b)
    # A processing instruction an HTML parser would end early is dropped, not passed on.
    pi = '<svg xmlns="http://www.w3.org/2000/svg"><?x a><script>alert(1)</script>?><text>t</text></svg>'
    assert "script" not in str(checked(pi))


def test_query_builder_text() -> None:
    from tracedoc.filter import compile_filter
    from tracedoc.web.query import QueryError, Row, build

    cases = [
        ([Row("ip.addr", "==", "10.0.0.1")], [], "ip.addr == 10.0.0.1"),
        ([Row("tcp.port", "in", "21, 20 990")], [], "tcp.port in {21 20 990}"),
        ([Row("dns.qry.name", "contains", 'a"b\\c')], [], 'dns.qry.name contains "a\\"b\\\\c"'),
        ([Row("ftp.request.command", "==", "PASS"), Row("tcp.flags.reset", "exists")], ["and"],
         'ftp.request.command == "PASS" && tcp.flags.reset'),
        ([Row("tcp", "exists"), Row("udp", "exists"), Row("dns", "missing")], ["and", "or"],
         "(tcp && udp) || !dns"),
        ([Row("", "==", ""), Row("udp.port", ">=", "53")], ["and"], "udp.port >= 53"),
        ([Row("http.request.uri", "matches", "^/a.*")], [], 'http.request.uri matches "^/a.*"'),
        ([Row("tcp.port", "==", "21 || 1")], [], 'tcp.port == "21 || 1"'),
    ]
    for rows, joins, want in cases:
        text = build(rows, joins)
        assert text == want
        if "21 || 1" not in text:
            compile_filter(text)
    for rows, joins in (([], []), ([Row("tcp.port", "==", "")], []), ([Row("x y", "==", "1")], []),
                        ([Row("tcp.port", "~~", "1")], []), ([Row("tcp", "exists"), Row("udp", "exists")], ["xor"])):
        with pytest.raises(QueryError):
            build(rows, joins)


def test_view_nodes_leave_hidden_fields_out() -> None:
    from tracedoc.decode import details
    from tracedoc.decode.apptree import Node
    from tracedoc.web.packet import hex_rows, view_nodes

    blk = Node("IP Version 4", 14, 20, "ip", None, [
        details.Hidden("DF", 20, 1, "ip.flags.df", True),
        details.Line("Source : a  Remote : b", 26, 8, None, None, [Node("Source : a", 26, 4, "ip.src", 1)]),
    ])
    app = details.AppBlock("FTP (reassembled)", 0, 10, None, None, [Node("Command: X", 0, 4, "ftp.request.command")],
                           reassembled=True)
    v = view_nodes([blk, app])
    assert [c.label for c in v[0].children] == ["Source : a  Remote : b"]
    assert v[0].children[0].kind == "line" and v[0].children[0].children[0].field == "ip.src"
    assert v[1].in_frame is False and v[1].children[0].in_frame is False
    rows = hex_rows(bytes(range(20)))
    assert rows[0].offset == "0000" and rows[1].offset == "0010"
    assert [i for i, _ in rows[1].cells] == [16, 17, 18, 19]
    assert rows[0].chars[0] == (0, ".")


def _corpus_sample() -> list[Path]:
    import csv

    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    with open(manifest) as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if not r["tshark_read_error"]]
    rows = [r for r in rows if 0 < int(r["packets"] or 0) <= 5000]
    return [CORPUS / r["path"] for r in rows[::7]][:60]


def test_local_side_is_infer_local() -> None:
    """The web's fast local side equals the Packet Summary's on real captures,
    and on made-up tables with ties, ARP only, IPv6 only, tunnels and nothing."""
    import tracedoc
    from tracedoc.analyze.summary import infer_local
    from tracedoc.errors import TracedocError
    from tracedoc.web.data import ADDRESS_COLUMNS, local_side

    checked_ = 0
    for path in _corpus_sample() + [p for p in CAPTURES if p.is_file()]:
        try:
            tbl = tracedoc.open(path).table(ADDRESS_COLUMNS)
        except (TracedocError, OSError):
            continue
        assert local_side(tbl) == infer_local(tbl), path
        checked_ += 1
    assert checked_ >= 5

    from tracedoc.analyze.derived import SCHEMA

    def table(**cols: Any) -> pa.Table:
        n = max(len(v) for v in cols.values())
        return pa.table({c: pa.array(cols.get(c, [None] * n), SCHEMA.field(c).type) for c in ADDRESS_COLUMNS})

    a, b, c = 0x0A000001, 0x0A000002, 0x0A000003
    v6 = bytes.fromhex("20010db8000000000000000000000001")
    mapped = bytes(10) + b"\xff\xff" + bytes([10, 0, 0, 3])
    cases = [
        table(**{"ip.src": [a, b], "ip.dst": [b, a]}),                       # tie: first source wins
        table(**{"ip.src": [b, a], "ip.dst": [a, b]}),
        table(**{"ip.src": [None, a], "ip.dst": [None, c], "arp.src.proto_ipv4": [c, None],
                 "arp.dst.proto_ipv4": [b, None]}),
        table(**{"ipv6.src": [v6, v6, None], "ipv6.dst": [None, None, None], "ip.src": [None, None, a],
                 "ip.dst": [None, None, b]}),
        table(**{"ip.src": [a, a, b], "ip.dst": [b, b, c], "tracedoc.tunnel.src": [mapped, mapped, None],
                 "tracedoc.tunnel.dst": [mapped, None, None]}),
        table(**{"ip.src": [None, None], "ip.dst": [None, None]}),
        table(**{"ip.src": [a, b, b, a], "ip.dst": [c, c, a, b]}),
    ]
    for t in cases:
        assert local_side(t) == infer_local(t), t.to_pylist()
