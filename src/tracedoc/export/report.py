"""The PDF report (``tracedoc report FILE -o report.pdf``): what a manager
or another team reads.

In order: the trace's facts (file, format, packets, time span, hosts, local
side), the Exception Report (every finding with its severity, summary,
explanation, action and evidence; the findings it explains listed under
it), the busiest sessions, the IP Summary's busiest addresses, the Response
Time Summary with the slow and unanswered transactions, and the plots of
:mod:`tracedoc.export.plots` (I/O graph, protocol hierarchy, a response-time
histogram per transaction type).  Every table comes from
:mod:`tracedoc.export.views`, so the report says what the CLI views say.

Written with fpdf2: pure Python, and it draws SVG itself (paths, text,
transforms), so the plots go in as vectors with no converter (reportlab
would need svglib and lxml for that).  Text is set in DejaVu Sans (Debian's
``fonts-dejavu-core``), which covers Latin, Greek, Cyrillic and more, so
names from a trace print as they are; without it the report falls back to
the PDF core fonts and shows what Latin-1 cannot hold as ``?``.  Characters
neither font has come out blank, never as an error.  Control characters
from a trace are shown as ``\\xHH``, as the terminal views do.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tracedoc.analyze.findings import CATEGORIES, SEVERITIES, Finding
from tracedoc.analyze.summary import LocalSide

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts")
"""Where DejaVu Sans is looked for (Debian's fonts-dejavu-core puts it in the first)."""

TOP_SESSIONS = 20
TOP_HOSTS = 15
MAX_RESPONSE_ROWS = 60
MAX_LISTED_TRANSACTIONS = 20
MAX_SYMPTOMS = 100
"""Findings listed under one cause (a brute-force attack explains hundreds of failed logins)."""
MAX_EVIDENCE_FRAMES = 40
MAX_HISTOGRAMS = 6

_SEVERITY_COLOURS = {"critical": (150, 0, 0), "error": (200, 40, 20), "warning": (190, 120, 0), "info": (60, 90, 140)}
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _visible(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def _font_files(name: str = "DejaVuSans") -> tuple[Path, Path] | None:
    """The regular and bold TTF of a DejaVu family, if installed."""
    for d in FONT_DIRS:
        regular, bold = Path(d, f"{name}.ttf"), Path(d, f"{name}-Bold.ttf")
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


def _clock(ns: int | None, zone: str) -> str:
    if ns is None:
        return ""
    from zoneinfo import ZoneInfo

    secs, rest = divmod(int(ns), 1_000_000_000)
    t = dt.datetime.fromtimestamp(secs, tz=dt.timezone.utc).astimezone(ZoneInfo(zone))
    return t.strftime("%Y-%m-%d %H:%M:%S") + f".{rest // 1000:06d}"


def _secs(v: float | None, places: int = 6) -> str:
    return "" if v is None else f"{v:.{places}f}"


def _endpoint(addr: str | None, port: Any) -> str:
    if not addr:
        return ""
    if port is None or port == "":
        return addr
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def _frames_text(frames: Sequence[int]) -> str:
    shown = ", ".join(map(str, frames[:MAX_EVIDENCE_FRAMES]))
    return shown + (f" ... ({len(frames)} frames)" if len(frames) > MAX_EVIDENCE_FRAMES else "")


def trace_facts(trace: Any, tbl: pa.Table) -> dict[str, Any]:
    """The facts the report opens with, from a :class:`tracedoc.Trace` and its packet table."""
    inf = trace.info
    ts = tbl["frame.time_epoch"] if "frame.time_epoch" in tbl.column_names else pa.chunked_array([], pa.int64())
    first = pc.min(ts).as_py() if len(ts) else None
    last = pc.max(ts).as_py() if len(ts) else None
    size = pc.sum(tbl["frame.len"]).as_py() if "frame.len" in tbl.column_names and tbl.num_rows else 0
    return {"file": str(trace.path), "format": inf.format, "compression": inf.compression,
            "file_size": inf.file_size, "packets": tbl.num_rows, "bytes": int(size or 0),
            "first_ns": first, "last_ns": last, "errors": [str(e) for e in inf.errors]}


# -- the document ---------------------------------------------------------------------


def _pdf_class() -> Any:
    from fpdf import FPDF

    class Pdf(FPDF):  # type: ignore[misc]
        footer_text = ""
        base_font = "Helvetica"

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font(self.base_font, size=7)
            self.set_text_color(110, 110, 110)
            self.cell(0, 5, self.footer_text, align="L")
            self.set_x(self.l_margin)
            self.cell(0, 5, f"page {self.page_no()} of {{nb}}", align="R")
            self.set_text_color(0, 0, 0)

    return Pdf


class _Doc:
    """fpdf2 with the report's few text styles, and trace text made printable."""

    def __init__(self, title: str) -> None:
        Pdf = _pdf_class()
        self.pdf = pdf = Pdf(orientation="P", unit="mm", format="A4")
        fonts = _font_files()
        self.glyphs: set[int] | None = None
        self.svg_glyphs: set[int] | None = None
        if fonts is not None:
            from fontTools.ttLib import TTFont

            # "sans-serif" and "monospace" too: the families the plots' SVG text asks for, which
            # fpdf2 would otherwise set in the Latin-1 core fonts.
            families = [("DejaVu", fonts), ("sans-serif", fonts), ("monospace", _font_files("DejaVuSansMono") or fonts)]
            cmaps: dict[str, set[int]] = {}
            for family, (regular, bold) in families:
                pdf.add_font(family, "", str(regular))
                pdf.add_font(family, "B", str(bold))
                for path in (regular, bold):
                    with TTFont(str(path), lazy=True) as font:
                        cmap = set(font.getBestCmap())
                    cmaps[family] = cmap if family not in cmaps else cmaps[family] & cmap
            pdf.base_font = "DejaVu"
            self.glyphs = cmaps["DejaVu"]
            self.svg_glyphs = cmaps["sans-serif"] & cmaps["monospace"]
        else:
            pdf.base_font = "Helvetica"
        pdf.set_margins(15, 15, 15)
        pdf.set_auto_page_break(True, margin=16)
        pdf.footer_text = self.text(title)
        pdf.set_title(self.text(title))
        pdf.set_creator("tracedoc")
        pdf.add_page()
        self.width = pdf.epw

    def text(self, s: Any) -> str:
        """``s`` as the fonts can show it: control characters as ``\\xHH``, characters the font
        has no glyph for as ``?``."""
        s = _CONTROL.sub(_visible, "" if s is None else str(s)).replace("\t", "\\t")
        return _shown(s, self.glyphs)

    def font(self, size: float, bold: bool = False) -> None:
        self.pdf.set_font(self.pdf.base_font, "B" if bold else "", size)

    def heading(self, text: str, level: int = 1) -> None:
        pdf = self.pdf
        size = {0: 17, 1: 13, 2: 10.5}[level]
        if level <= 1 and pdf.get_y() > pdf.h - 60:
            pdf.add_page()
        pdf.ln(2 if level == 2 else 4)
        self.font(size, bold=True)
        pdf.multi_cell(0, size * 0.5, self.text(text), align="L", new_x="LMARGIN", new_y="NEXT")
        if level == 1:
            y = pdf.get_y() + 0.5
            pdf.set_draw_color(150, 150, 150)
            pdf.line(pdf.l_margin, y, pdf.l_margin + self.width, y)
            pdf.ln(2)
        pdf.ln(1)

    def para(self, text: str, size: float = 9, bold: bool = False, indent: float = 0,
             colour: tuple[int, int, int] | None = None) -> None:
        pdf = self.pdf
        self.font(size, bold)
        if colour:
            pdf.set_text_color(*colour)
        pdf.set_x(pdf.l_margin + indent)
        pdf.multi_cell(self.width - indent, size * 0.45, self.text(text), align="L", new_x="LMARGIN",
                       new_y="NEXT")
        pdf.set_text_color(0, 0, 0)

    def labelled(self, label: str, text: str, indent: float = 0, size: float = 8.5) -> None:
        """``label`` in bold, then the text, wrapped under itself."""
        pdf = self.pdf
        self.font(size, bold=True)
        pdf.set_x(pdf.l_margin + indent)
        w = pdf.get_string_width(label) + 1.5
        pdf.cell(w, size * 0.45, label)
        self.font(size)
        pdf.multi_cell(self.width - indent - w, size * 0.45, self.text(text), align="L", new_x="LMARGIN",
                       new_y="NEXT")

    def table(self, heads: list[str], rows: list[list[Any]], widths: Sequence[float],
              right: Sequence[int] = (), size: float = 7) -> None:
        """A table with a bold header row repeated on each page."""
        pdf = self.pdf
        self.font(size)
        align = ["RIGHT" if i in right else "LEFT" for i in range(len(heads))]
        with pdf.table(col_widths=tuple(widths), width=self.width, text_align=tuple(align),
                       line_height=size * 0.5, first_row_as_headings=True, repeat_headings=1,
                       headings_style=_headings_style(), borders_layout="HORIZONTAL_LINES",
                       padding=0.8) as t:
            r = t.row()
            for h in heads:
                r.cell(self.text(h))
            for row in rows:
                r = t.row()
                for v in row:
                    r.cell(self.text(v))
        pdf.ln(2)

    def svg(self, svg_text: str, caption: str) -> None:
        """An SVG plot across the page; one fpdf2 cannot draw is named, not fatal."""
        pdf = self.pdf
        data = _shown(svg_text, self.svg_glyphs)   # the markup is ASCII: this changes only the texts
        logger = logging.getLogger("fpdf.svg")
        level = logger.level
        logger.setLevel(logging.ERROR)      # <title> tooltips are not drawn: no need to say so
        try:
            pdf.image(io.BytesIO(data.encode("utf-8")), w=self.width)
        except Exception as e:  # a plot the SVG renderer cannot draw must not cost the whole report
            self.para(f"({caption}: the plot could not be drawn in the PDF: {type(e).__name__}: {e})", size=8)
        finally:
            logger.setLevel(level)
        pdf.ln(3)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def _shown(s: str, glyphs: set[int] | None) -> str:
    """``s`` with what the font cannot draw as ``?``: beyond Latin-1 for the core fonts
    (``glyphs`` None), else every character without a glyph."""
    if s.isascii():
        return s
    if glyphs is None:
        return s.encode("latin-1", "replace").decode("latin-1")
    return "".join(ch if ord(ch) in glyphs or ch < "\x80" else "?" for ch in s)


def _headings_style() -> Any:
    from fpdf.fonts import FontFace

    return FontFace(emphasis="BOLD", fill_color=(221, 229, 240))


# -- the sections ------------------------------------------------------------------------


def build_report(tbl: pa.Table, facts: dict[str, Any], local: str | LocalSide | None = None, flt: Any = None,
                 zone: str | None = None) -> bytes:
    """The PDF (bytes) for packet table ``tbl`` (all columns) and the facts
    of :func:`trace_facts`.  ``flt``: a display filter; each section uses it
    as the view of the same name does, the plots draw the selected packets."""
    from tracedoc.export.views import _filter, _side

    if zone is None:
        from tracedoc.cli.render import local_zone

        zone = local_zone()
    flt = _filter(flt)
    side = _side(tbl, local)
    selected = tbl.filter(pa.array(flt(tbl))) if flt is not None else tbl
    name = Path(facts.get("file") or "trace").name
    doc = _Doc(f"tracedoc report: {name}")
    doc.heading(f"tracedoc report: {name}", level=0)
    doc.para(f"Made {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by tracedoc. "
             f"Times are in the time zone {zone}.", size=8, colour=(90, 90, 90))
    from tracedoc.export.views import diagnose_findings, transactions_of, view_table

    findings, conf = diagnose_findings(tbl, side, flt)
    sessions = view_table("sessions", tbl, side, flt=flt)
    hosts = view_table("hosts", tbl, side, flt=flt)
    _facts(doc, facts, tbl, selected, side, hosts, sessions, findings, flt, zone)
    _exception_report(doc, findings, conf)
    _top_sessions(doc, sessions, zone)
    _hosts(doc, hosts)
    txns = transactions_of(tbl, flt)
    _response_times(doc, txns, zone)
    _plots(doc, txns, selected, side)
    return doc.output()


def _facts(doc: _Doc, facts: dict[str, Any], tbl: pa.Table, selected: pa.Table, side: LocalSide, hosts: pa.Table,
           sessions: pa.Table, findings: list[Finding], flt: Any, zone: str) -> None:
    doc.heading("Trace")
    fmt = str(facts.get("format") or "unknown")
    if facts.get("compression"):
        fmt += f" ({facts['compression']}-compressed)"
    first, last = facts.get("first_ns"), facts.get("last_ns")
    span = f"{(last - first) / 1e9:.6f} s" if first is not None and last is not None else ""
    rows: list[tuple[str, str]] = [
        ("File", str(facts.get("file") or "")),
        ("Format", fmt),
        ("File size", f"{int(facts.get('file_size') or 0):,} bytes"),
        ("Packets", f"{int(facts.get('packets') or tbl.num_rows):,}"),
        ("Bytes on the wire", f"{int(facts.get('bytes') or 0):,}"),
        ("First packet", _clock(first, zone) or "-"),
        ("Last packet", _clock(last, zone) or "-"),
        ("Time span", span or "-"),
    ]
    if flt is not None:
        rows.append(("Display filter", f"{flt.text}  ({selected.num_rows:,} packets selected)"))
    busiest = ", ".join(hosts["address"].to_pylist()[:5])
    rows += [
        ("Hosts", f"{hosts.num_rows:,} IP addresses" + (f"; busiest: {busiest}" if busiest else "")),
        ("Local side", side.describe().removeprefix("local side: ")),
        ("Sessions", f"{sessions.num_rows:,}"),
        ("Findings", _counts(findings) or "none"),
    ]
    for e in facts.get("errors") or []:
        rows.append(("Damage", str(e)))
    for label, value in rows:
        doc.labelled(f"{label}:", value, size=9)


def _counts(findings: list[Finding]) -> str:
    by = {s: 0 for s in reversed(SEVERITIES)}
    for f in findings:
        by[f.severity] += 1
    return ", ".join(f"{n} {s}" for s, n in by.items() if n)


def _exception_report(doc: _Doc, findings: list[Finding], conf: dict[str, dict[str, float]]) -> None:
    doc.heading("Exception Report")
    if not findings:
        doc.para("No findings: no rule found a problem in this trace.")
        return
    doc.para(f"{len(findings)} finding(s): {_counts(findings)}. Each with why it matters, what to do, and the "
             "frames and sessions that show it (SIDs as in the Session Summary).", size=8.5)
    category = None
    for f in sorted(findings, key=lambda f: CATEGORIES.index(f.category)):
        if f.category != category:
            category = f.category
            doc.heading(category, level=2)
        _finding(doc, f, conf)


def _finding(doc: _Doc, f: Finding, conf: dict[str, dict[str, float]]) -> None:
    pdf = doc.pdf
    if pdf.get_y() > pdf.h - 40:
        pdf.add_page()
    doc.para(f"{f.severity.upper()}  {f.rule}: {f.summary}", size=9, bold=True,
             colour=_SEVERITY_COLOURS.get(f.severity))
    doc.labelled("Why:", f.explanation, indent=4)
    doc.labelled("Do:", f.action, indent=4)
    ev = []
    if f.frames:
        ev.append(f"frames {_frames_text(f.frames)}")
    if f.sessions:
        ev.append(f"sessions {_frames_text(f.sessions).replace(' frames)', ' sessions)')}")
    if ev:
        doc.labelled("Evidence:", "; ".join(ev), indent=4)
    params = conf.get(f.rule) or {}
    if params:
        doc.labelled("Settings:", ", ".join(f"{f.rule}.{k}={v:g}" for k, v in params.items()), indent=4, size=7.5)
    _symptoms(doc, f.symptoms, 4)
    pdf.ln(1.5)


def _symptoms(doc: _Doc, symptoms: list[Finding], indent: float) -> None:
    if not symptoms:
        return
    shown = symptoms[:MAX_SYMPTOMS]
    doc.para(f"Explains {len(symptoms)} finding(s):", size=8, bold=True, indent=indent)
    for s in shown:
        ev = f" [frames {_frames_text(s.frames)}]" if s.frames else ""
        doc.para(f"- {s.severity.upper()} {s.rule}: {s.summary}{ev}", size=7.5, indent=indent + 3)
        _symptoms(doc, s.symptoms, indent + 6)
    if len(symptoms) > len(shown):
        doc.para(f"... and {len(symptoms) - len(shown)} more (tracedoc diagnose --format json lists them all)",
                 size=7.5, indent=indent + 3)


def _top_sessions(doc: _Doc, sessions: pa.Table, zone: str) -> None:
    doc.heading("Top sessions")
    if not sessions.num_rows:
        doc.para("No sessions.")
        return
    total = pc.add(pc.fill_null(sessions["bytes_in"], 0), pc.fill_null(sessions["bytes_out"], 0))
    order = pc.sort_indices(pa.table({"t": total, "sid": sessions["sid"]}),
                            sort_keys=[("t", "descending"), ("sid", "ascending")])
    picked = sessions.take(order[:TOP_SESSIONS])
    starts = pc.cast(picked["start"], pa.int64()).to_pylist()
    top = picked.to_pylist()
    doc.para(f"The {len(top)} sessions with the most bytes, of {sessions.num_rows:,}.", size=8.5)
    rows = []
    for r, start in zip(top, starts):
        lport = r["local_service"] or ("" if r["local_port"] is None else r["local_port"])
        rport = r["remote_service"] or ("" if r["remote_port"] is None else r["remote_port"])
        rows.append([r["sid"], r["proto"].upper(), _endpoint(r["local_ip"], lport), _endpoint(r["remote_ip"], rport),
                     _clock(start, zone)[11:],
                     _secs(r["elapsed"], 3), f"{r['packets_in']} / {r['packets_out']}",
                     f"{r['bytes_in']:,} / {r['bytes_out']:,}", r["conn_state"] or "", r["history"] or ""])
    doc.table(["SID", "Proto", "Local", "Remote", "Start", "Elapsed", "Pkts in/out", "Bytes in/out", "State",
               "History"], rows, (8, 9, 29, 31, 24, 12, 14, 22, 9, 14), right=(0, 5, 6, 7))


def _hosts(doc: _Doc, hosts: pa.Table) -> None:
    doc.heading("IP Summary")
    if not hosts.num_rows:
        doc.para("No IP addresses.")
        return
    top = hosts.slice(0, TOP_HOSTS).to_pylist()
    doc.para(f"The {len(top)} busiest of {hosts.num_rows:,} addresses.", size=8.5)
    rows = [[r["address"], r["packets_sent"], r["packets_received"], f"{r['bytes_sent']:,}",
             f"{r['bytes_received']:,}", "" if r["sessions_opened"] is None else r["sessions_opened"],
             "" if r["sessions_accepted"] is None else r["sessions_accepted"], " ".join(r["protocols"] or [])]
            for r in top]
    doc.table(["Address", "Pkts sent", "Pkts rcvd", "Bytes sent", "Bytes rcvd", "Opened", "Accepted", "Protocols"],
              rows, (34, 14, 14, 19, 19, 13, 16, 51), right=(1, 2, 3, 4, 5, 6))


def _response_times(doc: _Doc, txns: pa.Table, zone: str) -> None:
    """The Response Time Summary of ``tracedoc response-times`` (same functions, default thresholds)."""
    from tracedoc.analyze.transactions import DEFAULT_THRESHOLDS, exceeding, summarise

    doc.heading("Response Time Summary")
    if not txns.num_rows:
        doc.para("No request/response transactions (TCP connect, DNS, FTP, HTTP, TLS, SNMP, DHCP, SMTP, POP, "
                 "IMAP) in this trace.")
        return
    doc.para("Seconds from request to response. 'Over': answered slower than the threshold.", size=8.5)
    heads = ["Type", "Server", "Port", "Count", "Ans.", "Unans.", "Min", "Mean", "P50", "P95", "Max", "Thresh.",
             "Over"]
    for by, title in (("type", "Per type"), ("server", "Per server")):
        rows = summarise(txns, DEFAULT_THRESHOLDS, by).to_pylist()
        shown = rows[:MAX_RESPONSE_ROWS]
        doc.heading(title, level=2)
        doc.table(heads, [[r["type"], r["server"] or "", "" if r["server_port"] is None else r["server_port"],
                           r["count"], r["answered"], r["unanswered"],
                           *[_secs(r[k]) for k in ("min", "mean", "p50", "p95", "max")], _secs(r["threshold"], 3),
                           r["over"]] for r in shown],
                  (17, 26, 10, 10, 13, 11, 14, 14, 14, 14, 14, 12, 9), right=tuple(range(2, 13)), size=6.5)
        if len(rows) > len(shown):
            doc.para(f"... {len(rows) - len(shown)} more (tracedoc export --view response-times has them all).",
                     size=7.5)
    slow = exceeding(txns, DEFAULT_THRESHOLDS)
    slow = slow.take(pc.sort_indices(slow, sort_keys=[("response_time", "descending")]))
    unanswered = txns.filter(pc.is_null(txns["response_frame"]))
    for part, title in ((slow, "Slower than the threshold"), (unanswered, "Unanswered")):
        if not part.num_rows:
            continue
        doc.heading(f"{title}: {part.num_rows:,}", level=2)
        picked = part.slice(0, MAX_LISTED_TRANSACTIONS)
        listed = picked.to_pylist()
        requests = picked["request_time"].to_pylist()
        out = []
        for r, req in zip(listed, requests):
            rt = r["response_time"]
            out.append([r["type"], r["request_frame"], "" if r["response_frame"] is None else r["response_frame"],
                        _clock(req, zone)[11:],
                        _endpoint(r["client"], r["client_port"]), _endpoint(r["server"], r["server_port"]),
                        "" if rt is None else f"{rt / 1e9:.6f}", r["label"] or "", r["result"] or "",
                        r["retries"] or ""])
        doc.table(["Type", "Req.", "Resp.", "Time", "Client", "Server", "Seconds", "Label", "Result", "Retries"],
                  out, (16, 10, 10, 21, 27, 27, 13, 26, 13, 13), right=(1, 2, 6, 9), size=6.5)
        if part.num_rows > len(listed):
            doc.para(f"... {part.num_rows - len(listed)} more (tracedoc response-times --format json lists them).",
                     size=7.5)


def _plots(doc: _Doc, txns: pa.Table, selected: pa.Table, side: LocalSide) -> None:
    from tracedoc.analyze.transactions import TYPES
    from tracedoc.export import plots

    doc.pdf.add_page()
    doc.heading("Plots")
    try:
        io_svg = plots.io_graph_svg(selected, None, side)
    except ValueError as e:
        io_svg = plots.no_data_svg("I/O graph", str(e))
    doc.svg(io_svg, "I/O graph")
    doc.svg(plots.hierarchy_svg(selected), "Protocol hierarchy")
    present = set(txns["type"].to_pylist()) if txns.num_rows else set()
    kinds = [k for k in TYPES if k in present][:MAX_HISTOGRAMS]
    for kind in kinds:
        doc.svg(plots.response_histogram_svg(txns, kind), f"Response times: {kind}")
    if not kinds:
        doc.para("No transactions: no response-time histograms.", size=8.5)
