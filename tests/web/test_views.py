"""Every tab of the workbench for corpus FTP captures added to a temporary
inventory, checked against the CLI views and tshark on the same files."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.web.conftest import Bench, cli, corpus_file, need_tshark

TABS = ["traces", "query", "summary", "sessions", "hosts", "details", "sequence", "times", "findings", "plots",
        "exports"]


class Elements(HTMLParser):
    """Start tags with their attributes, and the text inside chosen elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def find(self, tag: str | None = None, **want: str) -> list[dict[str, str]]:
        out = []
        for t, a in self.tags:
            if tag is not None and t != tag:
                continue
            ok = True
            for k, v in want.items():
                k = k.replace("_", "-")
                if k == "class":
                    ok &= v in a.get("class", "").split()
                else:
                    ok &= a.get(k) == v
            if ok:
                out.append(a)
        return out


def parse(html: str) -> Elements:
    p = Elements()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def retr(bench: Bench) -> int:
    return bench.add(corpus_file("retr.pcap"))


@pytest.fixture(scope="module")
def brute(bench: Bench) -> int:
    return bench.add(corpus_file("bruteforce.pcap"))


def tab_urls(tid: int) -> dict[str, str]:
    return {"traces": f"/traces?trace={tid}", "query": f"/traces/{tid}/query", "summary": f"/traces/{tid}/summary",
            "sessions": f"/traces/{tid}/sessions", "hosts": f"/traces/{tid}/hosts",
            "details": f"/traces/{tid}/packet/10", "sequence": f"/traces/{tid}/sequence?session=1",
            "times": f"/traces/{tid}/times", "findings": f"/traces/{tid}/findings", "plots": f"/traces/{tid}/plots",
            "exports": f"/traces/{tid}/exports"}


MARKERS = {"traces": ("table", "traces-table"), "query": ("form", "query-form"),
           "summary": ("table", "summary-table"), "sessions": ("table", "sessions-table"),
           "hosts": ("table", "hosts-table"), "details": ("ul", "details-tree"), "sequence": ("div", "ladder"),
           "times": ("table", "times-table"), "findings": ("nav", "categories"), "plots": ("section", "plot-io"),
           "exports": ("table", "exports-table")}


@pytest.mark.parametrize("tab", TABS)
def test_every_tab_renders(bench: Bench, retr: int, tab: str) -> None:
    r = bench.client.get(tab_urls(retr)[tab])
    assert r.status_code == 200, r.text[:2000]
    assert r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    doc = parse(r.text)
    tag, ident = MARKERS[tab]
    assert doc.find(tag, id=ident), f"no <{tag} id={ident}>"
    links = {a["id"]: a for a in doc.find("a") if a.get("id", "").startswith("tab-")}
    assert set(links) == {f"tab-{t}" for t in TABS}
    assert "active" in links[f"tab-{tab}"].get("class", "")
    for t in TABS:
        assert links[f"tab-{t}"]["data-tab"] == t


def test_tabs_carry_the_filter(bench: Bench, retr: int) -> None:
    doc = parse(bench.client.get(f"/traces/{retr}/summary", params={"filter": "ftp"}).text)
    for a in doc.find("a"):
        if a.get("id", "").startswith("tab-") and a["id"] != "tab-traces":
            assert parse_qs(urlsplit(a["href"]).query).get("filter") == ["ftp"], a


# -- Packet Summary ---------------------------------------------------------------------------


def _all_pages(bench: Bench, tid: int, limit: int, flt: str = "") -> tuple[list[list[str]], list[str]]:
    rows: list[list[str]] = []
    offset = 0
    while True:
        r = bench.client.get(f"/traces/{tid}/summary.json", params={"offset": offset, "limit": limit, "filter": flt})
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["offset"] == offset and len(page["rows"]) <= limit
        rows += page["rows"]
        offset += limit
        if offset >= page["total"]:
            assert len(rows) == page["total"]
            return rows, page["columns"]


def test_pages_are_the_cli_summary(bench: Bench, brute: int) -> None:
    path = corpus_file("bruteforce.pcap")
    want = list(csv.reader(io.StringIO(cli("summary", str(path), "--format", "csv"))))
    got, heads = _all_pages(bench, brute, 97)
    assert heads == want[0]
    assert len(got) == len(want) - 1 == 606
    assert got == want[1:]


def test_a_page_in_the_middle(bench: Bench, brute: int) -> None:
    path = corpus_file("bruteforce.pcap")
    want = list(csv.reader(io.StringIO(cli("summary", str(path), "--format", "csv"))))[1:]
    page = bench.client.get(f"/traces/{brute}/summary.json", params={"offset": 333, "limit": 50}).json()
    assert page["rows"] == want[333:383]
    html = bench.client.get(f"/traces/{brute}/summary", params={"offset": 333, "limit": 50}).text
    frames = [int(a["data-frame"]) for a in parse(html).find("tr", **{"class": "packet-row"})]
    assert frames == [int(r[0]) for r in want[333:383]]
    rows = bench.client.get(f"/traces/{brute}/summary/rows", params={"offset": 600, "limit": 50}).text
    assert [int(a["data-frame"]) for a in parse(rows).find("tr", **{"class": "packet-row"})] == \
        [int(r[0]) for r in want[600:]]


def test_go_to_frame(bench: Bench, brute: int) -> None:
    html = bench.client.get(f"/traces/{brute}/summary", params={"frame": 450, "limit": 100}).text
    doc = parse(html)
    assert doc.find("table", id="summary-table")[0]["data-offset"] == "400"
    assert doc.find("tr", id="pkt-450")


def _tshark_frames(path: str, flt: str) -> list[int]:
    need_tshark()
    out = subprocess.run(["tshark", "-n", "-r", path, "-Y", flt, "-T", "fields", "-e", "frame.number"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    return [int(x) for x in out.split()]


@pytest.mark.parametrize("name", ["retr.pcap", "bruteforce.pcap"])
def test_filter_ftp_selects_tsharks_frames(bench: Bench, name: str) -> None:
    path = corpus_file(name)
    tid = bench.add(path)
    want = _tshark_frames(str(path), "ftp")
    assert want
    rows, _ = _all_pages(bench, tid, 50, "ftp")
    assert [int(r[0]) for r in rows] == want
    html = bench.client.get(f"/traces/{tid}/summary", params={"filter": "ftp", "limit": 500}).text
    assert [int(a["data-frame"]) for a in parse(html).find("tr", **{"class": "packet-row"})] == want
    assert parse(html).find("input", id="filter-input")[0]["value"] == "ftp"


def test_a_bad_filter_says_where(bench: Bench, retr: int) -> None:
    r = bench.client.get(f"/traces/{retr}/summary", params={"filter": "tcp.port == 21 && tcp.bogus"})
    assert r.status_code == 400
    doc = parse(r.text)
    assert doc.find("div", id="filter-error") and doc.find("pre", id="filter-caret")
    m = re.search(r'<pre id="filter-caret">(.*?)</pre>', r.text, re.S)
    assert m is not None
    text, caret = m.group(1).split("\n")
    assert text == "tcp.port == 21 &amp;&amp; tcp.bogus"
    assert caret == " " * "tcp.port == 21 && tcp.bogus".index("tcp.bogus") + "^"
    assert not doc.find("tr", **{"class": "packet-row"})
    j = bench.client.get(f"/traces/{retr}/summary.json", params={"filter": "no.such.field"})
    assert j.status_code == 400 and "no.such.field" in j.json()["error"] and j.json()["caret"]
    for tab in ("sessions", "hosts", "times", "findings", "plots"):
        r = bench.client.get(f"/traces/{retr}/{tab}", params={"filter": "tcp.port == "})
        assert r.status_code == 400 and 'id="filter-error"' in r.text, tab


# -- Packet Details ---------------------------------------------------------------------------------


@pytest.mark.parametrize("frame", [1, 10, 28])
def test_details_json_is_the_cli_json(bench: Bench, retr: int, frame: int) -> None:
    path = corpus_file("retr.pcap")
    want = json.loads(cli("details", str(path), "-n", str(frame), "--json"))
    got = bench.client.get(f"/traces/{retr}/packet/{frame}.json")
    assert got.status_code == 200
    assert got.json() == want


def _nodes(layers: list[dict]) -> list[dict]:
    out = []
    for n in layers:
        out.append(n)
        out += _nodes(n.get("children", []))
    return out


def test_details_page_tree_and_hex(bench: Bench, retr: int) -> None:
    frame = 10
    want = bench.client.get(f"/traces/{retr}/packet/{frame}.json").json()
    html = bench.client.get(f"/traces/{retr}/packet/{frame}").text
    doc = parse(html)
    assert doc.find("div", id="packet-details")[0]["data-frame"] == str(frame)
    # The hex dump holds the frame's bytes, one span per byte in hex and one in ASCII.
    cells = re.findall(r'<span class="hb" data-i="(\d+)">([0-9A-F]{2})</span>', html)
    assert [int(i) for i, _ in cells] == list(range(len(want["hex"]) // 2))
    assert "".join(h for _, h in cells).lower() == want["hex"]
    assert len(doc.find("span", **{"class": "ha"})) == len(cells)
    # Every node shown carries the byte range the JSON gives for it.
    json_nodes = {(n["label"], n["offset"], n["length"]) for n in _nodes(want["layers"])}
    shown = re.findall(r'<li class="node [^"]*" data-offset="(\d+)" data-length="(\d+)" data-field="([^"]*)"'
                       r'[^>]*>\s*(?:<details[^>]*><summary>)?<span class="label" tabindex="0">(.*?)</span>', html, re.S)
    assert len(shown) > 10
    import html as htmllib
    for off, length, _field, label in shown:
        assert (htmllib.unescape(label), int(off), int(length)) in json_nodes
    fields = {f for _, _, f, _ in shown}
    assert {"ip.src", "tcp.srcport", "eth.type"} <= fields


def test_details_of_a_frame_the_trace_lacks(bench: Bench, retr: int) -> None:
    assert bench.client.get(f"/traces/{retr}/packet/9999").status_code == 404
    assert bench.client.get(f"/traces/{retr}/packet/9999.json").status_code == 404
    assert bench.client.get("/traces/999/summary").status_code == 404


# -- sessions, sequence, hosts, response times ---------------------------------------------------------


def test_sessions_are_the_cli_sessions(bench: Bench, brute: int) -> None:
    path = corpus_file("bruteforce.pcap")
    want = list(csv.DictReader(io.StringIO(cli("sessions", str(path), "--format", "csv"))))
    html = bench.client.get(f"/traces/{brute}/sessions").text
    sids = [int(a["data-sid"]) for a in parse(html).find("tr", **{"class": "session-row"})]
    assert sids == [int(r["sid"]) for r in want]
    filtered = list(csv.DictReader(io.StringIO(cli("sessions", str(path), "-Y", "ftp", "--format", "csv"))))
    html = bench.client.get(f"/traces/{brute}/sessions", params={"filter": "ftp"}).text
    assert len(parse(html).find("tr", **{"class": "session-row"})) == len(filtered)


def test_sequence_is_the_cli_sequence(bench: Bench, retr: int) -> None:
    path = corpus_file("retr.pcap")
    want = list(csv.reader(io.StringIO(cli("sequence", str(path), "--session", "1", "--format", "csv"))))
    html = bench.client.get(f"/traces/{retr}/sequence", params={"session": 1}).text
    rows = re.findall(r'<tr class="sequence-row" data-frame="(\d+)">(.*?)</tr>', html, re.S)
    assert [int(f) for f, _ in rows] == [int(r[0]) for r in want[1:]]
    import html as htmllib
    cells = [[htmllib.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)]
             for _, body in rows]
    assert cells == want[1:]
    ladder = re.search(r'<div id="ladder"[^>]*>(.*?)</div>', html, re.S)
    assert ladder is not None
    drawn = [int(x) for x in re.findall(r'<g class="packet" data-frame="(\d+)"', ladder.group(1))]
    assert drawn == [int(f) for f, _ in rows]
    # From a packet: the same ladder.
    by_frame = bench.client.get(f"/traces/{retr}/sequence", params={"frame": want[3][0]}).text
    assert re.findall(r'<tr class="sequence-row" data-frame="(\d+)">', by_frame) == [f for f, _ in rows]
    svg = bench.client.get(f"/traces/{retr}/sequence.svg", params={"session": 1})
    assert svg.headers["content-type"].startswith("image/svg+xml")
    ET.fromstring(svg.text)


def test_hosts_are_the_cli_hosts(bench: Bench, brute: int) -> None:
    path = corpus_file("bruteforce.pcap")
    want = list(csv.DictReader(io.StringIO(cli("hosts", str(path), "--format", "csv"))))
    html = bench.client.get(f"/traces/{brute}/hosts").text
    assert [a["data-address"] for a in parse(html).find("tr", **{"class": "host-row"})] == \
        [r["address"] for r in want]


def test_response_times_are_the_cli_ones(bench: Bench, retr: int) -> None:
    path = corpus_file("retr.pcap")
    want = json.loads(cli("response-times", str(path), "--format", "json"))
    html = bench.client.get(f"/traces/{retr}/times").text
    types = [a["data-type"] for a in parse(html).find("tr", **{"class": "times-row"})]
    assert types == [r["type"] for r in want["summary"]]
    assert types
    assert len(parse(html).find("tr", **{"class": "txn-row"})) == \
        min(len(want["exceeding"]), 500) + min(len(want["unanswered"]), 500)


# -- Exception Report ---------------------------------------------------------------------------------------


def _flat(findings: list[dict]) -> list[dict]:
    out = []
    for f in findings:
        out.append(f)
        out += _flat(f.get("symptoms", []))
    return out


@pytest.mark.parametrize("name", ["retr.pcap", "bruteforce.pcap"])
def test_findings_link_to_their_evidence_frames(bench: Bench, name: str) -> None:
    path = corpus_file(name)
    tid = bench.add(path)
    want = _flat(json.loads(cli("diagnose", str(path), "--format", "json")))
    assert want, "the capture should have findings"
    html = bench.client.get(f"/traces/{tid}/findings").text
    doc = parse(html)
    shown = doc.find("div", **{"class": "finding"})
    assert [(d["data-rule"], d["data-severity"]) for d in shown] == [(f["rule"], f["severity"]) for f in want]
    cats = {a["data-category"]: int(a["data-count"]) for a in doc.find("a", **{"class": "category-link"})}
    top = json.loads(cli("diagnose", str(path), "--format", "json"))
    for c, n in cats.items():
        assert n == sum(1 for f in top if f["category"] == c)
    links = doc.find("a", **{"class": "finding-frames"})
    assert len(links) == sum(1 for f in want if f["frames"])
    for link, f in zip(links, [f for f in want if f["frames"]]):
        url = urlsplit(link["href"])
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        page = bench.client.get(url.path.replace("/summary", "/summary.json"), params={**q, "limit": 500}).json()
        assert [int(r[0]) for r in page["rows"]] == f["frames"][:500]
        assert page["total"] == len(f["frames"])
        if "filter" in q:
            assert unquote(q["filter"]).startswith("frame.number in {")


# -- Query Builder -------------------------------------------------------------------------------------------


def test_query_builder_writes_the_filter(bench: Bench, brute: int) -> None:
    path = corpus_file("bruteforce.pcap")
    params = [("field", "ftp.request.command"), ("op", "=="), ("value", "USER"), ("join", "or"),
              ("field", "ftp.response.code"), ("op", "=="), ("value", "530"), ("target", "summary")]
    r = bench.client.get(f"/traces/{brute}/query/apply", params=params, follow_redirects=False)
    assert r.status_code == 303
    flt = parse_qs(urlsplit(r.headers["location"]).query)["filter"][0]
    assert flt == 'ftp.request.command == "USER" || ftp.response.code == 530'
    page = bench.client.get(r.headers["location"])
    assert parse(page.text).find("input", id="filter-input")[0]["value"] == flt
    rows, _ = _all_pages(bench, brute, 500, flt)
    assert [int(x[0]) for x in rows] == _tshark_frames(str(path), flt)
    bad = bench.client.get(f"/traces/{brute}/query/apply",
                           params=[("field", "no.such"), ("op", "=="), ("value", "1")])
    assert bad.status_code == 400 and 'id="query-error"' in bad.text and "no.such" in bad.text


# -- plots and exports -------------------------------------------------------------------------------------


def test_plots(bench: Bench, retr: int) -> None:
    html = bench.client.get(f"/traces/{retr}/plots").text
    doc = parse(html)
    for sid in ("plot-io", "plot-stevens", "plot-histogram", "plot-hierarchy"):
        assert doc.find("section", id=sid)
    assert 'class="error plot-error"' not in html
    assert html.count("<svg") == 4
    for kind in ("io", "stevens", "histogram", "hierarchy"):
        r = bench.client.get(f"/traces/{retr}/plots/{kind}.svg")
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
        ET.fromstring(r.text.split("?>", 1)[1])
    assert bench.client.get(f"/traces/{retr}/plots/io.svg", params={"interval": "-1"}).status_code == 400


def test_every_export_link_downloads(bench: Bench, retr: int) -> None:
    import openpyxl

    path = corpus_file("retr.pcap")
    html = bench.client.get(f"/traces/{retr}/exports", params={"filter": "ftp"}).text
    links = parse(html).find("a", **{"class": "export-link"})
    assert {(a["data-view"], a["data-format"]) for a in links} == {
        (v, f) for v in ("summary", "sessions", "sequence", "response-times", "hosts", "findings")
        for f in ("csv", "xlsx", "xml", "json")}
    ftp_frames = len(_tshark_frames(str(path), "ftp"))
    for a in links:
        r = bench.client.get(a["href"])
        assert r.status_code == 200, (a["href"], r.text[:500])
        assert "attachment" in r.headers["content-disposition"]
        fmt, view = a["data-format"], a["data-view"]
        if fmt == "csv":
            rows = list(csv.reader(io.StringIO(r.text)))
            if view == "summary":
                assert len(rows) - 1 == ftp_frames
        elif fmt == "xlsx":
            wb = openpyxl.load_workbook(io.BytesIO(r.content), read_only=True)
            assert wb.sheetnames
            if view == "summary":
                assert wb[wb.sheetnames[0]].max_row - 1 == ftp_frames
        elif fmt == "xml":
            ET.fromstring(r.content)
        else:
            json.loads(r.content)
    whole = bench.client.get(f"/traces/{retr}/export/all.xlsx")
    wb = openpyxl.load_workbook(io.BytesIO(whole.content), read_only=True)
    assert len(wb.sheetnames) == 5
    z = zipfile.ZipFile(io.BytesIO(bench.client.get(f"/traces/{retr}/export/all.zip").content))
    assert len(z.namelist()) == 5
    assert bench.client.get(f"/traces/{retr}/export/nothing.csv").status_code == 404


def _pdf_text(data: bytes, tmp_path) -> str:  # type: ignore[no-untyped-def]
    import shutil

    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed")
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(data)
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    # The line saying when it was made differs from run to run.
    return "\n".join(line for line in out.splitlines() if "Made " not in line)


@pytest.mark.parametrize("flt", ["", "ftp"])
def test_report_is_the_cli_report(bench: Bench, retr: int, tmp_path, flt: str) -> None:  # type: ignore[no-untyped-def]
    """The web's report reads only the columns it needs; the CLI's reads every
    column: the two PDFs say the same."""
    rec = bench.inv.get(retr)
    cli_pdf = tmp_path / "cli.pdf"
    # `tracedoc report` through its click command: main.py may not register it yet.
    from click.testing import CliRunner

    from tracedoc.cli.export_cmd import report

    res = CliRunner().invoke(report, [rec.path, "-o", str(cli_pdf), *(["-Y", flt] if flt else [])])
    assert res.exit_code == 0, res.output
    r = bench.client.get(f"/traces/{retr}/report.pdf", params={"filter": flt} if flt else {})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    web = _pdf_text(r.content, tmp_path)
    assert "Exception Report" in web
    assert web == _pdf_text(cli_pdf.read_bytes(), tmp_path)


CTRACE = Path(__file__).resolve().parents[1] / "data" / "ctrace"


@pytest.mark.parametrize("name", ["retr.pcap", "ipv6.pcap", "ftp-auth-tls.pcap", "ctrace/seed_discard_4114.txt",
                                  "ctrace/data_trace.txt", "ctrace/osaenta.txt"])
def test_every_frames_details_are_the_cli_ones(bench: Bench, name: str) -> None:
    """Frames without an application message are read, not decoded (the quick
    path); those with one are decoded from the start: both as the CLI."""
    path = CTRACE / name.split("/", 1)[1] if name.startswith("ctrace/") else corpus_file(name)
    tid = bench.add(path)
    n = bench.inv.get(tid).packets
    want = [json.loads(line) for line in cli("details", str(path), "-n", f"1-{n}", "--json").splitlines()]
    assert len(want) == n
    quick = 0
    for w in want:
        row = bench.client.app.app.state.workbench.data(tid).frame_row(w["frame"], ["frame.number", "tracedoc.app"])
        quick += row["tracedoc.app"] is None
        got = bench.client.get(f"/traces/{tid}/packet/{w['frame']}.json")
        assert got.status_code == 200
        assert got.json() == w, w["frame"]
    if name.endswith(".pcap"):
        assert 0 < quick < n
    elif n > 1:
        assert quick > 0
