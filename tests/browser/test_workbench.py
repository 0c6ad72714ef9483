"""The workbench in a real headless Chromium, against a real ``tracedoc serve``.

One corpus FTP capture (bruteforce.pcap: 606 packets, 210 FTP, 30 sessions,
an FTP brute force in the Exception Report) is added through the Traces tab
and then worked as a person would: filter ``ftp``, open a packet's details
and hex, its session's ladder, the Exception Report's evidence frames, every
export; each tab is photographed.  Every step checks what the page shows
against an independent source: tshark, the ``tracedoc`` CLI run on the
capture file itself (not the server's inventory or Parquet cache), dpkt
reading the capture's bytes, openpyxl / ElementTree / json / csv reading the
downloads.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.conftest import (
    FTP_CAPTURE,
    UI,
    Server,
    artifacts_dir,
    cli,
    tshark_frames,
    unavailable,
)

EXPORT_VIEWS = ("summary", "sessions", "sequence", "response-times", "hosts", "findings")
EXPORT_FORMATS = ("csv", "xlsx", "xml", "json")


def _tshark_fields(path: Path, flt: str, *fields: str) -> list[list[str]]:
    args = ["tshark", "-n", "-r", str(path), "-Y", flt, "-T", "fields", "-E", "separator=\t"]
    for f in fields:
        args += ["-e", f]
    r = subprocess.run(args, check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [line.split("\t") for line in r.stdout.splitlines()]


def _frame_bytes(path: Path, n: int) -> bytes:
    """Frame ``n``'s bytes as dpkt reads them from the capture."""
    import dpkt

    with open(path, "rb") as f:
        for i, (_ts, buf) in enumerate(dpkt.pcap.Reader(f), start=1):
            if i == n:
                return bytes(buf)
    raise AssertionError(f"no frame {n} in {path}")


def _navigate(ui: UI, selector: str) -> None:
    """Click ``selector`` (a link or submit button) and wait for the page it opens."""
    with ui.page.expect_navigation():
        ui.page.click(selector)


def _all_frames(ui: UI) -> list[int]:
    """Every frame of the current Packet Summary selection, page by page (``#pager-next``)."""
    page = ui.page
    total = int(page.get_attribute("#summary-table", "data-total") or 0)
    limit = int(page.get_attribute("#summary-table", "data-limit") or 0)
    frames = ui.frames_shown()
    while len(frames) < total:
        before = int(page.get_attribute("#summary-table", "data-offset") or 0)
        _navigate(ui, "#pager-next")
        offset = int(page.get_attribute("#summary-table", "data-offset") or 0)
        assert offset == before + limit, f"the next page starts at row {offset}, not {before + limit}"
        frames += ui.frames_shown()
    return frames


# -- the capture, added through the Traces tab ----------------------------------------------------


@dataclass
class Added:
    id: int
    path: Path
    message: str
    url: str


@pytest.fixture(scope="module")
def ftp_trace(browser: Any, server: Server) -> Iterator[Added]:
    """The FTP capture, copied into the server's trace directory and added
    by typing its path into the Traces tab's form."""
    if not FTP_CAPTURE.is_file():
        pytest.skip(f"corpus capture {FTP_CAPTURE} not found")
    if shutil.which("tshark") is None:
        unavailable("not installed: tshark")
    dest = server.trace_dir / FTP_CAPTURE.name
    shutil.copyfile(FTP_CAPTURE, dest)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(server.url + "/traces")
        # The trace directory's files are listed, this one not yet in the inventory.
        row = page.locator(f'tr.trace-file[data-path="{dest}"]')
        assert row.count() == 1, "the copied capture is not listed under the trace directory"
        assert row.locator("button.add-file").count() == 1
        page.fill("#add-path-input", str(dest))
        with page.expect_navigation():
            page.click("#add-path-submit")
        message = page.locator("#message")
        assert message.get_attribute("data-kind") == "ok", message.inner_text()
        m = re.search(r"as trace (\d+)", message.inner_text())
        assert m, message.inner_text()
        yield Added(int(m.group(1)), dest, message.inner_text(), page.url)
    finally:
        context.close()


def test_add_a_corpus_capture_by_path(ui: UI, ftp_trace: Added) -> None:
    tid = ftp_trace.id
    frames = tshark_frames(FTP_CAPTURE)
    assert ftp_trace.message == f"added {FTP_CAPTURE.name} as trace {tid} ({len(frames):,} packets)"
    assert urlsplit(ftp_trace.url).fragment == f"trace-{tid}"
    ui.goto("/traces")
    row = ui.page.locator(f"tr.trace-row#trace-{tid}")
    assert row.get_attribute("data-trace-id") == str(tid)
    cells = [c.strip() for c in row.locator(":scope > td").all_inner_texts()]
    assert cells[1].splitlines()[0] == FTP_CAPTURE.name
    assert str(ftp_trace.path) in cells[1]
    assert cells[2] == "pcap"
    assert int(cells[4].replace(",", "")) == len(frames)        # Packets, as tshark counts them
    ips = {a for r in _tshark_fields(FTP_CAPTURE, "ip", "ip.src", "ip.dst") for a in r}
    assert set(cells[7].split(", ")) == ips                      # Hosts, as tshark sees them
    # The file is now marked as in the inventory; its Add button is gone.
    file_row = ui.page.locator(f'tr.trace-file[data-path="{ftp_trace.path}"]')
    assert file_row.locator("button.add-file").count() == 0
    assert "in the inventory" in (file_row.text_content() or "")   # (in a closed <details>)
    # Opening it leads to its Packet Summary with every packet.
    _navigate(ui, f'a.trace-open[data-trace-id="{tid}"]')
    assert urlsplit(ui.page.url).path == f"/traces/{tid}/summary"
    assert ui.page.get_attribute("#trace-title", "data-trace-id") == str(tid)
    assert int(ui.page.get_attribute("#summary-table", "data-total") or -1) == len(frames)
    ui.quiet()


# -- the filter bar --------------------------------------------------------------------------------


def test_filter_ftp_shows_tsharks_frames(ui: UI, ftp_trace: Added) -> None:
    want = tshark_frames(FTP_CAPTURE, "ftp")
    everything = tshark_frames(FTP_CAPTURE)
    ui.goto(f"/traces/{ftp_trace.id}/summary")
    page = ui.page
    page.fill("#filter-input", "ftp")
    _navigate(ui, "#filter-apply")
    assert parse_qs(urlsplit(page.url).query).get("filter") == ["ftp"]
    assert page.input_value("#filter-input") == "ftp"
    assert page.locator("#filter-error").count() == 0
    total = int(page.get_attribute("#summary-table", "data-total") or -1)
    limit = int(page.get_attribute("#summary-table", "data-limit") or -1)
    assert total == len(want)
    assert total > limit, "the capture should need more than one page (paging is part of the check)"
    assert page.inner_text("#summary-count").startswith(f"{len(want)} packets selected of {len(everything)}")
    # Page one: tshark's first `limit` FTP frames; the pager says where we are.
    assert ui.frames_shown() == want[:limit]
    assert f"rows 1–{limit} of {total}" in page.inner_text("#pager")
    # The pager's next page: the rest.
    _navigate(ui, "#pager-next")
    assert parse_qs(urlsplit(page.url).query).get("filter") == ["ftp"]
    assert ui.frames_shown() == want[limit:]
    assert f"rows {limit + 1}–{total} of {total}" in page.inner_text("#pager")
    # Back to the first page; scrolling the table fetches the rest of the selection.
    _navigate(ui, "#pager-first")
    assert ui.frames_shown() == want[:limit]
    page.eval_on_selector("#summary-scroll", "box => { box.scrollTop = box.scrollHeight; }")
    page.wait_for_function("n => document.querySelectorAll('#summary-rows tr.packet-row').length >= n",
                           arg=total)
    assert ui.frames_shown() == want
    ui.quiet()


def test_query_builder_writes_a_filter(ui: UI, ftp_trace: Added) -> None:
    want = tshark_frames(FTP_CAPTURE, "ftp.response.code == 530")
    assert want
    ui.goto(f"/traces/{ftp_trace.id}/query")
    page = ui.page
    row = page.locator('div.query-row[data-row="0"]')
    row.locator("input.q-field").fill("ftp.response.code")
    row.locator("select.q-op").select_option("==")
    row.locator("input.q-value").fill("530")
    _navigate(ui, "#query-apply")
    assert urlsplit(page.url).path == f"/traces/{ftp_trace.id}/summary"
    flt = page.input_value("#filter-input")
    assert re.fullmatch(r"ftp\.response\.code\s*==\s*530", flt), flt
    assert _all_frames(ui) == want
    ui.quiet()


# -- Packet Details and Hex Decode ------------------------------------------------------------------

# Each node of the tree: its label, byte range, field, whether the range is
# in the frame's bytes, its depth, and the label of its parent node.
NODES_JS = """els => els.map(li => {
  const label = el => el.querySelector(':scope > .label, :scope > details > summary > .label').textContent;
  let parent = li.parentElement.closest('li.node');
  let depth = 0;
  for (let p = parent; p; p = p.parentElement.closest('li.node')) depth++;
  return {label: label(li), offset: +li.dataset.offset, length: +li.dataset.length,
          field: li.dataset.field || null, inFrame: li.dataset.inFrame === '1', depth: depth,
          parent: parent ? label(parent) : null, line: parent ? parent.classList.contains('line') : false};
})"""

LIT_JS = """() => ({hex: [...document.querySelectorAll('#hex-dump span.hb.hl')].map(e => [+e.dataset.i, e.textContent]),
                 asc: [...document.querySelectorAll('#hex-dump span.ha.hl')].map(e => +e.dataset.i)})"""


def _json_nodes(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``tracedoc details --json``'s tree, depth first, with depth and parent label."""
    out: list[dict[str, Any]] = []

    def walk(nodes: list[dict[str, Any]], depth: int, parent: str | None) -> None:
        for n in nodes:
            out.append({"label": n["label"], "offset": n["offset"], "length": n["length"],
                        "field": n.get("field"), "depth": depth, "parent": parent})
            walk(n.get("children") or [], depth + 1, n["label"])

    walk(layers, 0, None)
    return out


def _text_view_lines(text: str) -> list[str]:
    """The tree lines of ``tracedoc details -n N`` (its text view)."""
    lines = text.split("Hex Decode")[0].splitlines()
    return [ln.strip() for ln in lines[2:] if ln.strip()]   # after "Packet ID :" and "Time :"


def _a_530_reply() -> int:
    replies = _tshark_fields(FTP_CAPTURE, "ftp.response.code == 530", "frame.number")
    assert replies, "the capture has no 530 reply"
    return int(replies[0][0])


def test_packet_details_and_hex_decode(ui: UI, ftp_trace: Added) -> None:
    n = _a_530_reply()
    data = _frame_bytes(FTP_CAPTURE, n)
    want = json.loads(cli("details", str(FTP_CAPTURE), "-n", str(n), "--json").splitlines()[0])
    assert want["frame"] == n
    text_view = _text_view_lines(cli("details", str(FTP_CAPTURE), "-n", str(n)))
    page = ui.page

    # Reach the packet from the FTP-filtered Packet Summary, as a person does.
    ui.goto(f"/traces/{ftp_trace.id}/summary?filter=ftp")
    assert n in ui.frames_shown()
    _navigate(ui, f'#summary-rows a.packet-link[data-frame="{n}"]')
    assert urlsplit(page.url).path == f"/traces/{ftp_trace.id}/packet/{n}"
    assert page.get_attribute("#packet-details", "data-frame") == str(n)
    assert "active" in (page.get_attribute("#tab-details", "class") or "")

    # The tree: the lines of the text view, each node where the JSON puts it.
    nodes = page.eval_on_selector_all("#details-tree li.node", NODES_JS)
    shown = [x["label"] for x in nodes if not x["line"]]   # a one-line group's fields open under it
    assert shown == text_view
    expected = _json_nodes(want["layers"])
    i = 0
    for node in nodes:   # the page's nodes are the JSON's, in its order (hidden fields left out)
        key = {k: node[k] for k in ("label", "offset", "length", "field", "depth", "parent")}
        while i < len(expected) and expected[i] != key:
            i += 1
        assert i < len(expected), f"node {key} is not in `tracedoc details --json` (or out of order)"
        i += 1
    fields = {x["field"] for x in nodes}
    assert {"ip.src", "tcp.srcport", "ftp.response.code", "ftp.response.arg"} <= fields

    # The Hex Decode: every byte of the frame, as dpkt reads it from the file.
    cells = page.eval_on_selector_all("#hex-dump span.hb", "els => els.map(e => [+e.dataset.i, e.textContent])")
    assert cells == [[k, f"{b:02X}"] for k, b in enumerate(data)]
    assert want["hex"] == data.hex()
    assert page.locator("#hex-dump span.hl").count() == 0

    # Clicking a line lights exactly its bytes (hex and ASCII), none for an empty range.
    for k, node in enumerate(nodes):
        assert node["inFrame"], node
        page.evaluate("() => document.querySelectorAll('#details-tree details').forEach(d => { d.open = true; })")
        li = page.locator("#details-tree li.node").nth(k)
        li.locator(":scope > .label, :scope > details > summary > .label").click()
        assert "selected" in (li.get_attribute("class") or "")
        lit = page.evaluate(LIT_JS)
        span = range(node["offset"], min(node["offset"] + node["length"], len(data)))
        assert [i for i, _ in lit["hex"]] == list(span), f"{node['label']!r}: {lit['hex']}"
        assert lit["asc"] == list(span), node["label"]
        assert bytes.fromhex("".join(h for _, h in lit["hex"])) == data[node["offset"]:node["offset"] + node["length"]]
    # Two anchors outside tracedoc: the reply code's bytes read "530", the source address is tshark's.
    code = next(k for k, x in enumerate(nodes) if x["field"] == "ftp.response.code")
    page.evaluate("() => document.querySelectorAll('#details-tree details').forEach(d => { d.open = true; })")
    page.locator("#details-tree li.node").nth(code).locator(":scope > .label").click()
    assert "".join(page.locator("#hex-dump span.ha.hl").all_text_contents()) == "530"
    src = next(k for k, x in enumerate(nodes) if x["field"] == "ip.src")
    page.locator("#details-tree li.node").nth(src).locator(":scope > .label").click()
    lit_bytes = bytes.fromhex("".join(page.locator("#hex-dump span.hb.hl").all_text_contents()))
    (tshark_src,), = _tshark_fields(FTP_CAPTURE, f"frame.number == {n}", "ip.src")
    assert ".".join(str(b) for b in lit_bytes) == tshark_src
    # The JSON link gives the CLI's object.
    r = page.request.get(ui.server.url + (page.get_attribute("#packet-json", "href") or ""))
    assert r.ok and r.json()["layers"] == want["layers"]
    ui.quiet()


# -- the ladder ---------------------------------------------------------------------------------------


LADDER_JS = """gs => gs.map(g => {
  const line = g.querySelector('line[marker-end]');
  const at = name => line ? +line.getAttribute(name) : null;
  return {frame: +g.dataset.frame, x1: at('x1'), x2: at('x2')};
})"""


def _ladder(ui: UI) -> list[dict[str, Any]]:
    return list(ui.page.eval_on_selector_all("#ladder svg g.packet", LADDER_JS))


def _check_ladder(ui: UI, cli_packets: list[dict[str, Any]]) -> None:
    arrows = _ladder(ui)
    assert [a["frame"] for a in arrows] == [p["ID"] for p in cli_packets]
    for a, p in zip(arrows, cli_packets):   # one arrow each, pointing the way the CLI says
        assert a["x1"] is not None and a["x1"] != a["x2"], a
        assert p["Direction"] in ("---->", "<----"), p
        assert (a["x2"] > a["x1"]) == (p["Direction"] == "---->"), (a, p)
    rows = ui.page.eval_on_selector_all("#sequence-table tr.sequence-row", "rs => rs.map(r => +r.dataset.frame)")
    assert rows == [p["ID"] for p in cli_packets]
    assert int(ui.page.get_attribute("#sequence-heading", "data-rows") or -1) == len(cli_packets)


def test_a_packets_session_ladder(ui: UI, ftp_trace: Added) -> None:
    n = _a_530_reply()
    page = ui.page
    ui.goto(f"/traces/{ftp_trace.id}/packet/{n}?filter=ftp")
    sid = page.get_attribute("#packet-ladder", "data-sid")
    assert sid and sid.isdigit()
    _navigate(ui, "#packet-ladder")
    assert "active" in (page.get_attribute("#tab-sequence", "class") or "")
    assert page.get_attribute("#sequence-heading", "data-sid") == sid
    # With the filter carried along: the session's FTP packets.
    filtered = json.loads(cli("sequence", str(FTP_CAPTURE), "--session", sid, "-Y", "ftp", "--format", "json"))
    assert n in [p["ID"] for p in filtered["packets"]]
    _check_ladder(ui, filtered["packets"])
    # The filter emptied in the filter bar: every packet of the session.
    page.fill("#filter-input", "")
    _navigate(ui, "#filter-apply")
    assert page.get_attribute("#sequence-heading", "data-sid") == sid
    full = json.loads(cli("sequence", str(FTP_CAPTURE), "--session", sid, "--format", "json"))
    assert page.inner_text("#sequence-heading").strip() == full["heading"]
    _check_ladder(ui, full["packets"])
    # tshark agrees on the packets: those of the TCP stream frame n is in.
    (stream,), = _tshark_fields(FTP_CAPTURE, f"frame.number == {n}", "tcp.stream")
    assert [p["ID"] for p in full["packets"]] == tshark_frames(FTP_CAPTURE, f"tcp.stream == {stream}")
    assert len(full["packets"]) > len(filtered["packets"])
    # An arrow opens its packet.
    last = full["packets"][-1]["ID"]
    with page.expect_navigation():
        page.locator(f'#ladder svg g.packet[data-frame="{last}"] line').click(force=True)
    assert urlsplit(page.url).path == f"/traces/{ftp_trace.id}/packet/{last}"
    # The Packet Summary's ladder link leads to the same session.
    ui.goto(f"/traces/{ftp_trace.id}/summary?filter=ftp")
    _navigate(ui, f'#summary-rows a.ladder-link[data-frame="{n}"]')
    assert page.get_attribute("#sequence-heading", "data-sid") == sid
    _check_ladder(ui, filtered["packets"])
    ui.quiet()


# -- the Exception Report ------------------------------------------------------------------------------


def _flat(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def walk(fs: list[dict[str, Any]], depth: int) -> None:
        for f in fs:
            out.append({**f, "depth": depth})
            walk(f.get("symptoms") or [], depth + 1)

    walk(found, 0)
    return out


def test_exception_report_findings_lead_to_their_frames(ui: UI, ftp_trace: Added) -> None:
    found = json.loads(cli("diagnose", str(FTP_CAPTURE), "--format", "json"))
    flat = _flat(found)
    assert any(f["rule"] == "ftp.brute_force" for f in flat)
    page = ui.page
    ui.goto(f"/traces/{ftp_trace.id}/summary")
    _navigate(ui, "#tab-findings")
    assert urlsplit(page.url).path == f"/traces/{ftp_trace.id}/findings"
    # The categories count the top-level findings as the CLI reports them.
    counts = {c.get_attribute("data-category"): int(c.get_attribute("data-count") or -1)
              for c in page.locator("nav#categories a.category-link").all()}
    for cat, count in counts.items():
        assert count == sum(1 for f in found if f["category"] == cat), cat
    assert sum(counts.values()) == len(found)
    # Every finding, in the CLI's order (a symptom under its cause).
    shown = page.eval_on_selector_all(
        "div.finding", "ds => ds.map(d => [d.id, d.dataset.rule, d.dataset.severity, +d.dataset.depth])")
    assert shown == [[f"finding-{k}", f["rule"], f["severity"], f["depth"]] for k, f in enumerate(flat, start=1)]
    # Follow each top-level finding and the first finding of each rule to its frames.
    followed: set[str] = set()
    for k, f in enumerate(flat, start=1):
        if f["depth"] > 0 and f["rule"] in followed:
            continue
        followed.add(f["rule"])
        link = page.locator(f"#finding-{k} a.finding-frames")
        if not f["frames"]:
            assert link.count() == 0
            continue
        assert int(link.get_attribute("data-count") or -1) == len(f["frames"])
        _navigate(ui, f"#finding-{k} a.finding-frames")
        assert urlsplit(page.url).path == f"/traces/{ftp_trace.id}/summary"
        assert _all_frames(ui) == sorted(set(f["frames"])), f"finding {k} ({f['rule']})"
        assert int(page.get_attribute("#summary-count", "data-total") or -1) == len(set(f["frames"]))
        ui.goto(f"/traces/{ftp_trace.id}/findings")
    assert len(followed) >= 3
    # A finding's session link opens that session's ladder.
    first = next(k for k, f in enumerate(flat, start=1) if f.get("sessions"))
    sid = str(flat[first - 1]["sessions"][0])
    _navigate(ui, f'#finding-{first} a.finding-session[data-sid="{sid}"]')
    assert page.get_attribute("#sequence-heading", "data-sid") == sid
    ui.quiet()


# -- exports ---------------------------------------------------------------------------------------------


@dataclass
class Expected:
    """Each view's rows, from the CLI run on the capture file; row counts from tshark where it has them."""

    rows: dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def cli_export(tmp_path_factory: pytest.TempPathFactory) -> Expected:
    out = tmp_path_factory.mktemp("cli-export") / "all.json"
    args = ["export", str(FTP_CAPTURE), "--format", "json", "-o", str(out), "--session", "1"]
    for v in EXPORT_VIEWS:
        args += ["--view", v]
    cli(*args)
    doc = json.loads(out.read_text())
    return Expected({v: doc[v]["rows"] for v in EXPORT_VIEWS})


def _independent_counts() -> dict[str, int]:
    """Row counts from outside tracedoc: tshark, and ``tracedoc diagnose``."""
    conv = subprocess.run(["tshark", "-n", "-r", str(FTP_CAPTURE), "-q", "-z", "conv,tcp", "-z", "conv,udp"],
                          check=True, capture_output=True, text=True, timeout=120)
    ends = subprocess.run(["tshark", "-n", "-r", str(FTP_CAPTURE), "-q", "-z", "endpoints,ip", "-z",
                           "endpoints,ipv6"], check=True, capture_output=True, text=True, timeout=120)
    seq = json.loads(cli("sequence", str(FTP_CAPTURE), "--session", "1", "--format", "json"))
    (stream,), = _tshark_fields(FTP_CAPTURE, f"frame.number == {seq['packets'][0]['ID']}", "tcp.stream")
    return {
        "summary": len(tshark_frames(FTP_CAPTURE)),
        "sessions": conv.stdout.count("<->"),
        "sequence": len(tshark_frames(FTP_CAPTURE, f"tcp.stream == {stream}")),
        "hosts": len(re.findall(r"^\S+\s+\d+\s+\d+", ends.stdout.split("=\n", 1)[-1], re.MULTILINE)),
        "findings": len(_flat(json.loads(cli("diagnose", str(FTP_CAPTURE), "--format", "json")))),
    }


def _check_csv(data: bytes, rows: list[dict[str, Any]]) -> None:
    got = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert got[0] == list(rows[0]), "CSV header"
    assert len(got) - 1 == len(rows)


def _check_xlsx(path: Path, sheets: dict[str, list[dict[str, Any]]]) -> None:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=False)
    assert [s[:31] for s in sheets] == wb.sheetnames
    for name, rows in sheets.items():
        ws = wb[name[:31]]
        values = list(ws.iter_rows(values_only=True))
        assert list(values[0]) == list(rows[0]), f"{name}: header"
        assert len(values) - 1 == len(rows), name
        assert ws.freeze_panes == "A2", name
        assert ws.auto_filter.ref, name


def _check_xml(data: bytes, sheets: dict[str, list[dict[str, Any]]]) -> None:
    root = ET.fromstring(data)
    views = root.findall("view")
    assert [v.get("name") for v in views] == list(sheets)
    for v in views:
        rows = sheets[v.get("name") or ""]
        got = v.findall("row")
        assert int(v.get("rows") or -1) == len(rows) == len(got)
        for x, row in zip(got, rows):   # a null cell has no <col>
            assert [c.get("name") for c in x.findall("col")] == [k for k, val in row.items() if val is not None]


def _check_json(data: bytes, sheets: dict[str, list[dict[str, Any]]]) -> None:
    doc = json.loads(data)
    assert list(doc) == list(sheets)
    for name, rows in sheets.items():
        assert doc[name]["rows"] == rows, name


def test_every_export_downloads(ui: UI, ftp_trace: Added, cli_export: Expected, tmp_path: Path) -> None:
    counts = _independent_counts()
    for view, n in counts.items():
        assert len(cli_export.rows[view]) == n, f"{view}: the CLI's rows against tshark's count"
    page = ui.page
    ui.goto(f"/traces/{ftp_trace.id}/summary")
    _navigate(ui, "#tab-exports")
    links = page.locator("a.export-link")
    pairs = [(links.nth(i).get_attribute("data-view"), links.nth(i).get_attribute("data-format"))
             for i in range(links.count())]
    assert sorted(pairs) == sorted((v, f) for v in EXPORT_VIEWS for f in EXPORT_FORMATS)
    out = tmp_path / "downloads"
    out.mkdir()

    def download(selector: str) -> Path:
        with page.expect_download() as info:
            page.click(selector)
        d = info.value
        assert d.failure() is None, f"{selector}: {d.failure()}"
        dest = out / d.suggested_filename
        d.save_as(dest)
        assert dest.stat().st_size > 0, selector
        return dest

    # One load of the Exports tab per view: Chromium stops honouring download
    # clicks that come too fast, many on one page load (about every tenth one).
    for view in EXPORT_VIEWS:
        _navigate(ui, "#tab-exports")
        for fmt in EXPORT_FORMATS:
            got = download(f'a.export-link[data-view="{view}"][data-format="{fmt}"]')
            assert got.name.endswith(f"-{view}.{fmt}"), got.name
            one = {view: cli_export.rows[view]}
            if fmt == "csv":
                _check_csv(got.read_bytes(), cli_export.rows[view])
            elif fmt == "xlsx":
                _check_xlsx(got, one)
            elif fmt == "xml":
                _check_xml(got.read_bytes(), one)
            else:
                _check_json(got.read_bytes(), one)

    _navigate(ui, "#tab-exports")
    every = {v: cli_export.rows[v] for v in EXPORT_VIEWS if v != "sequence"}
    _check_xlsx(download("#export-all-xlsx"), every)
    _check_json(download("#export-all-json").read_bytes(), every)
    _check_xml(download("#export-all-xml").read_bytes(), every)
    with zipfile.ZipFile(download("#export-all-zip")) as z:
        names = z.namelist()
        assert len(names) == len(every)
        for view, rows in every.items():
            member = next(m for m in names if m.endswith(f"{view}.csv"))
            _check_csv(z.read(member), rows)

    pdf = download("#export-report")
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext") or os.environ.get("CI"):   # poppler-utils: setup.sh installs it
        text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                              text=True, timeout=60).stdout
        assert "Exception Report" in text
        assert "ftp.brute_force" in text or "brute" in text.lower()
    ui.quiet()


# -- a screenshot of every tab -------------------------------------------------------------------------


TABS = ("traces", "query", "summary", "sessions", "hosts", "details", "sequence", "times", "findings", "plots",
        "exports")


def test_screenshot_of_every_tab(ui: UI, ftp_trace: Added, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = artifacts_dir(tmp_path, "tabs")
    n = _a_530_reply()
    page = ui.page
    ui.goto(f"/traces/{ftp_trace.id}/summary?filter=ftp")
    assert [a.get_attribute("data-tab") for a in page.locator("nav#tabs a").all()] == list(TABS)
    saved = []
    sid = ""
    for name in TABS:
        _navigate(ui, f"#tab-{name}")
        # Details and the ladder need a packet / a session: the 530 reply's.
        if name == "details":
            page.fill("#packet-frame", str(n))
            _navigate(ui, "#packet-goto button[type=submit]")
            assert page.get_attribute("#packet-details", "data-frame") == str(n)
            sid = page.get_attribute("#packet-ladder", "data-sid") or ""
        elif name == "sequence":
            assert sid
            page.fill("#sequence-session", sid)
            _navigate(ui, "#sequence-form button[type=submit]")
            assert page.locator("#ladder svg g.packet").count() > 0
        elif name == "plots":
            for plot in ("io", "stevens", "histogram", "hierarchy"):
                assert page.locator(f"#plot-{plot} svg").count() >= 1, plot
        assert "active" in (page.get_attribute(f"#tab-{name}", "class") or ""), name
        assert page.get_attribute("body", "data-tab") == name
        path = out / f"{TABS.index(name) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000, path
        saved.append(path)
    assert len(saved) == len(TABS)
    with capsys.disabled():   # shown in the run's log even when output is captured
        print("\nscreenshots of every tab:", *saved, sep="\n  ")
    ui.quiet()
