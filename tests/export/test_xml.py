"""The XML export is well-formed whatever a trace holds: ``<script>`` in a
DNS name, control characters in an HTTP URI, characters XML 1.0 cannot
carry at all.  Checked by parsing it with ElementTree."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pyarrow as pa

import tracedoc
from tests.export.helpers import SAMPLE, SCRIPT, hostile_capture
from tests.export.helpers import tracedoc as run
from tracedoc.export import writers
from tracedoc.export.views import view_table, with_meta

VIEWS = ["summary", "sessions", "sequence", "response-times", "hosts", "findings"]


def _views(root: ElementTree.Element) -> dict[str, ElementTree.Element]:
    return {v.get("name"): v for v in root.findall("view")}  # type: ignore[misc]


def test_hostile_capture_gives_well_formed_xml(tmp_path: Path) -> None:
    trace = hostile_capture(tmp_path / "hostile.pcap")
    out = tmp_path / "h.xml"
    run("export", trace, *[a for v in VIEWS for a in ("--view", v)], "--session", "1", "-o", out)
    raw = out.read_bytes()
    assert SCRIPT.encode() not in raw                         # escaped, never markup
    root = ElementTree.fromstring(raw)
    assert root.tag == "tracedoc"
    views = _views(root)
    assert list(views) == VIEWS
    tbl = tracedoc.open(trace).packets
    for name in VIEWS:
        opts: dict[str, Any] = {"session": 1} if name == "sequence" else {}
        expected = view_table(name, tbl, **opts).num_rows
        assert len(views[name].findall("row")) == expected == int(views[name].get("rows", -1)), name
    texts = [c.text or "" for c in root.iter("col")]
    assert any(SCRIPT in t for t in texts)                    # the DNS name, as text
    # The URI's control characters, which XML 1.0 cannot carry, as the terminal shows them.
    messages = [c.text or "" for c in views["summary"].iter("col") if c.get("name") == "Messages"]
    assert any("GET /<script>\\x01\\x1b\\x0c" in m for m in messages), messages


def test_sample_rows_round_trip(tmp_path: Path) -> None:
    tbl = tracedoc.open(SAMPLE).packets
    sessions = view_table("sessions", tbl)
    buf = io.BytesIO()
    writers.write({"sessions": sessions}, "xml", buf)
    view = _views(ElementTree.fromstring(buf.getvalue()))["sessions"]
    meta = {m.get("name"): m.text for m in view.findall("meta")}
    assert meta["local"] == sessions.schema.metadata[b"tracedoc.local"].decode()
    rows = view.findall("row")
    assert len(rows) == sessions.num_rows
    for row, expected in zip(rows, sessions.to_pylist()):
        cols = {c.get("name"): c for c in row.findall("col")}
        assert int(cols["sid"].text or "") == expected["sid"]
        assert (cols["remote_ip"].text or "") == expected["remote_ip"]
        # A null has no <col>; a list has one <item> per element.
        assert ("local_port" in cols) == (expected["local_port"] is not None)
        assert [int(i.text or "") for i in cols["tunnel_parents"].findall("item")] == expected["tunnel_parents"]
        assert (cols["start"].text or "").endswith("Z")


def test_every_character_is_escaped_or_made_visible() -> None:
    every_control = "".join(chr(c) for c in range(0x20)) + "\x7f\x85\x9f"
    values = [every_control, "a & b < c > d \"q\" 'a' ]]>", "\ufffe\uffff", "é日😀", "tab\tnl\ncr\r"]
    odd_name = 'na"me <&>\x01'
    tbl = with_meta(pa.table({odd_name: values, "n": [1, None, 3, 4, 5]}), local='x"<\x02')
    buf = io.BytesIO()
    writers.write({'v"<&>': tbl}, "xml", buf)
    root = ElementTree.fromstring(buf.getvalue())
    view = root.find("view")
    assert view is not None and view.get("name") == 'v"<&>'
    assert view.find("meta").text == 'x"<\\x02'  # type: ignore[union-attr]
    rows = view.findall("row")
    got = [r.find("col").text or "" for r in rows]  # type: ignore[union-attr]
    assert rows[0].find("col").get("name") == 'na"me <&>\\x01'  # type: ignore[union-attr]
    # Tab, newline and carriage return are XML characters and come back as they were ...
    assert got[4] == "tab\tnl\ncr\r"
    assert got[1] == values[1] and got[3] == values[3]
    # ... the others are written as \xHH / \uHHHH text.
    assert got[0] == "".join("\t\n\r"[("\t\n\r").index(ch)] if ch in "\t\n\r" else f"\\x{ord(ch):02x}"
                             for ch in every_control)
    assert got[2] == "\\ufffe\\uffff"
    assert [r.find("col[@name='n']") is None for r in rows] == [False, True, False, False, False]
