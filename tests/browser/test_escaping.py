"""Trace contents are text in a real browser: a capture whose DNS query
name, HTTP request line and headers, HTTP response phrase and pcapng comment
hold ``<script>`` (and ``<img onerror>``) payloads, uploaded through the
Traces tab, shows them literally on every page — no dialog opens, the only
script element is the workbench's own, no element carries an event handler
from the trace, and the payloads are visible as text.  The expected strings
are read from the capture by tshark.

The server's Content-Security-Policy would block an injected inline script
anyway; the DOM checks (no injected element at all) are what proves the
escaping, the dialog listener is the last line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import UI, tshark_frames, unavailable
from tests.web.test_security import script_trace

SAFETY_JS = """() => ({
  scripts: [...document.querySelectorAll('script')].map(s => s.getAttribute('src')),
  handlers: [...document.querySelectorAll('*')].flatMap(e => [...e.attributes]
      .filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name + '=' + a.value)),
  imgs: document.querySelectorAll('img').length,
  bolds: [...document.querySelectorAll('b')].map(b => b.textContent).filter(t => t === 'bold'),
})"""


@pytest.fixture(autouse=True)
def _tshark_needed() -> None:
    if shutil.which("tshark") is None:
        unavailable("not installed: tshark")


def _tshark(path: Path, frame: int, field: str) -> str:
    r = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", f"frame.number == {frame}", "-T", "fields",
                        "-e", field], check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def _safe(ui: UI, where: str) -> None:
    """Nothing from the trace became markup on the current page."""
    got = ui.page.evaluate(SAFETY_JS)
    assert got["scripts"] == ["/static/app.js"], f"{where}: script elements {got['scripts']}"
    assert got["handlers"] == [], f"{where}: event handler attributes {got['handlers']}"
    assert got["imgs"] == 0, f"{where}: an <img> element"
    assert got["bolds"] == [], f"{where}: a <b> element from a tag"
    assert ui.dialogs == [], f"{where}: dialogs {ui.dialogs}"


def _visible(ui: UI, text: str, where: str) -> None:
    """``text`` is shown literally (as characters, not markup) and visible."""
    ui.page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
    loc = ui.page.get_by_text(text, exact=False)
    assert loc.count() > 0, f"{where}: {text!r} is not on the page as text"
    assert any(loc.nth(i).is_visible() for i in range(loc.count())), f"{where}: {text!r} is not visible"
    assert text in ui.page.inner_text("body"), f"{where}: {text!r}"


def _navigate(ui: UI, selector: str) -> None:
    with ui.page.expect_navigation():
        ui.page.click(selector)


def test_script_payloads_render_as_text(ui: UI, tmp_path: Path) -> None:
    capture = tmp_path / "script.pcapng"
    script_trace(capture)
    dns_name = _tshark(capture, 1, "dns.qry.name")
    host = _tshark(capture, 6, "http.host")
    uri = _tshark(capture, 6, "http.request.uri")
    agent = _tshark(capture, 6, "http.user_agent")
    phrase = _tshark(capture, 7, "http.response.phrase")
    comment = _tshark(capture, 6, "frame.comment")
    for value in (dns_name, host, uri, phrase, comment):
        assert "<script>" in value, value
    assert "onerror" in agent
    page = ui.page

    # Upload it through the Traces tab.
    ui.goto("/traces")
    page.set_input_files("#upload-input", str(capture))
    _navigate(ui, "#upload-submit")
    msg = page.inner_text("#message")
    assert page.get_attribute("#message", "data-kind") == "ok", msg
    m = re.search(r"as trace (\d+) \((\d+) packets\)", msg)
    assert m, msg
    tid = int(m.group(1))
    assert int(m.group(2)) == len(tshark_frames(capture))
    # Tag it and annotate a frame with markup, through the forms.
    row = page.locator(f"tr.trace-row#trace-{tid}")
    row.locator("form.tag-form input[name=tag]").fill("<b>bold</b>")
    with page.expect_navigation():
        row.locator("form.tag-form button").click()
    ui.goto(f"/traces/{tid}/packet/6")
    page.fill("#packet-notes form.annotate-form input[name=text]", "<script>alert(7)</script>")
    _navigate(ui, "#packet-notes form.annotate-form button")
    assert urlsplit(page.url).path == f"/traces/{tid}/packet/6"

    ui.goto("/traces")
    _safe(ui, "Traces")
    _visible(ui, "<b>bold</b>", "Traces (the tag)")
    _visible(ui, "<script>alert(7)</script>", "Traces (the annotation)")
    _visible(ui, comment, "Traces (the pcapng comment)")

    ui.goto(f"/traces/{tid}/summary")
    _safe(ui, "Packet Summary")
    _visible(ui, dns_name, "Packet Summary (the DNS query name)")
    _visible(ui, uri, "Packet Summary (the HTTP request)")

    # A filter typed with markup selects the packets, and is shown as typed.
    flt = 'dns.qry.name contains "<script>"'
    page.fill("#filter-input", flt)
    _navigate(ui, "#filter-apply")
    assert page.input_value("#filter-input") == flt
    assert ui.frames_shown() == tshark_frames(capture, flt)
    _safe(ui, "Packet Summary, filtered")
    bad = '"<script>alert(8)</script>"'
    page.fill("#filter-input", bad)
    with page.expect_navigation():
        page.click("#filter-apply")
    assert page.locator("#filter-error").count() == 1
    # The page of a bad filter answers 400: expected here, not an error of the page.
    assert [e for e in ui.errors if e.startswith("HTTP 400: GET ")] == ui.errors != []
    ui.errors.clear()
    assert page.input_value("#filter-input") == bad
    _safe(ui, "Packet Summary, a bad filter")
    _visible(ui, "<script>alert(8)</script>", "the bad filter's caret line")

    ui.goto(f"/traces/{tid}/packet/1")
    _safe(ui, "Packet Details 1")
    _visible(ui, dns_name, "Packet Details (DNS)")
    ui.goto(f"/traces/{tid}/packet/6")
    _safe(ui, "Packet Details 6")
    for text in (host, uri, agent, comment, "<script>alert(7)</script>"):
        _visible(ui, text, "Packet Details (HTTP request)")
    ui.goto(f"/traces/{tid}/packet/7")
    _safe(ui, "Packet Details 7")
    _visible(ui, phrase, "Packet Details (HTTP response)")

    # The HTTP session's ladder: the request in its table and in the SVG's labels.
    ui.goto(f"/traces/{tid}/summary")
    _navigate(ui, '#summary-rows a.ladder-link[data-frame="6"]')
    _safe(ui, "Sequence of Execution")
    _visible(ui, uri, "Sequence of Execution")
    svg_text = page.eval_on_selector("#ladder svg", "s => s.textContent")
    assert uri in svg_text
    assert page.locator("#ladder svg script, #ladder svg foreignObject").count() == 0

    for tab in ("sessions", "hosts", "times", "findings", "plots", "exports", "query"):
        _navigate(ui, f"#tab-{tab}")
        assert "active" in (page.get_attribute(f"#tab-{tab}", "class") or "")
        _safe(ui, tab)
    ui.quiet()
