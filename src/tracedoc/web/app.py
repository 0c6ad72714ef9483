"""The workbench: ``tracedoc serve``'s web application (FastAPI, Jinja2
templates rendered on the server, a little dependency-free JavaScript).

Every tab reads the inventory's tables through :mod:`tracedoc.web.data`;
nothing here decodes or analyses.  Every text from a trace goes through
Jinja2's autoescaping; the only markup put in unescaped is SVG from
tracedoc's own drawings, checked by :mod:`tracedoc.web.svg` first.
Security (token, Host and Origin checks, paths, uploads): see
:mod:`tracedoc.web.security`.

URLs (``{id}`` a trace id; every table page takes ``?filter=`` — a
Wireshark display filter — and the tab links carry it along)::

    GET  /                        Traces tab (the inventory)
    POST /traces/add              add by path (form field ``path``), under a --trace-dir
    POST /traces/upload           upload (multipart field ``file``, or the raw file as the
                                  body with ``?name=``); streamed to disk, size-limited
    POST /traces/{id}/tag         form field ``tag``
    POST /traces/{id}/annotate    form fields ``text``, ``frame`` (optional)
    POST /traces/{id}/check       inv.check: ok / moved / changed / missing
    GET  /traces/{id}/query       Query Builder (GET .../query/apply writes the filter)
    GET  /traces/{id}/summary     Packet Summary (``offset``, ``limit`` <= 500, ``frame`` to jump)
    GET  /traces/{id}/summary/rows   the rows only (HTML <tr>s), for scrolling
    GET  /traces/{id}/summary.json   {total, offset, limit, columns, rows: [[text...]]}
    GET  /traces/{id}/sessions    Session Summary
    GET  /traces/{id}/hosts       IP Summary
    GET  /traces/{id}/packet/{n}  Packet Details / Hex Decode;  .../packet/{n}.json as
                                  ``tracedoc details -n N --json``;  .../packet?frame=N
    GET  /traces/{id}/sequence    Sequence of Execution (``session=SID`` or ``frame=N``),
                                  ladder SVG inline; .../sequence.svg the ladder alone
    GET  /traces/{id}/times       Response Time Summary
    GET  /traces/{id}/findings    Exception Report;  ?finding=K on the summary shows its frames
    GET  /traces/{id}/plots       I/O graph, Stevens graph, response-time histogram, hierarchy;
                                  .../plots/{io,stevens,histogram,hierarchy}.svg alone
    GET  /traces/{id}/exports     export links; .../export/{view}.{csv|xlsx|xml|json},
                                  .../export/all.{xlsx|json|xml|zip}, .../report.pdf

Stable hooks for browser tests (ids are unique on a page; ``data-*`` hold
the numbers a test needs):

- layout: ``nav#tabs`` with ``a#tab-{name}[data-tab={name}]`` for name in
  traces, query, summary, sessions, hosts, details, sequence, times,
  findings, plots, exports (the current one has class ``active``);
  ``#trace-title[data-trace-id]``; ``#message[data-kind=ok|error]``.
- filter bar: ``form#filter-bar``, ``input#filter-input`` (name ``filter``),
  ``button#filter-apply``, ``a#filter-clear``; a bad filter shows
  ``#filter-error`` (its message) with ``pre#filter-caret`` (filter and caret).
- Traces: ``table#traces-table``, ``tr.trace-row#trace-{id}[data-trace-id]``,
  ``a.trace-open[data-trace-id]``, ``form.tag-form``, ``form.annotate-form``,
  ``form.check-form`` (each ``[data-trace-id]``), ``li.annotation[data-frame]``;
  ``form#add-path-form`` with ``input#add-path-input``; ``table#trace-files``
  with ``tr.trace-file[data-path]`` and ``button.add-file``;
  ``form#upload-form`` with ``input#upload-input``, ``button#upload-submit``.
- Query Builder: ``form#query-form``, ``div.query-row[data-row=i]`` holding
  ``input.q-field``, ``select.q-op``, ``input.q-value``, ``select.q-join``;
  ``button#query-add-row``, ``button#query-apply``, ``#query-error``,
  ``datalist#field-names``.
- Packet Summary: ``table#summary-table[data-total][data-offset][data-limit]``,
  ``tbody#summary-rows``, ``tr.packet-row#pkt-{frame}[data-frame]``,
  ``a.packet-link[data-frame]`` (to Packet Details), ``a.ladder-link[data-frame]``
  (to its session's ladder), ``#summary-count``, ``nav#pager`` with
  ``a#pager-first``, ``#pager-prev``, ``#pager-next``, ``#pager-last``,
  ``form#goto-form`` / ``input#goto-frame``, ``div#summary-scroll``.
- Session Summary: ``table#sessions-table``, ``tr.session-row#session-{sid}[data-sid]``,
  ``a.sequence-link[data-sid]``, ``a.stevens-link[data-sid]``.
- IP Summary: ``table#hosts-table``, ``tr.host-row[data-address]``.
- Packet Details: ``#packet-details[data-frame]``, ``ul#details-tree`` of
  ``li.node`` (``[data-offset][data-length][data-field][data-in-frame]``;
  click the ``span.label`` to highlight), ``#hex-dump`` with ``span.hb[data-i]``
  (hex) and ``span.ha[data-i]`` (ASCII), highlighted bytes get class ``hl``;
  ``a#packet-prev``, ``a#packet-next``, ``a#packet-json``, ``a#packet-ladder``,
  ``form#packet-goto``; ``li.annotation`` for the frame's notes.
- Sequence of Execution: ``#sequence-heading``, ``div#ladder`` (its SVG has
  ``g.packet[data-frame]``), ``table#sequence-table`` with ``tr.sequence-row[data-frame]``.
- Response Time Summary: ``table#times-table`` (``tr.times-row[data-type]``),
  ``table#slow-table``, ``table#unanswered-table`` (``tr.txn-row``).
- Exception Report: ``nav#categories`` with ``a.category-link[data-category][data-count]``;
  ``section.category[data-category]``; ``div.finding#finding-{k}[data-rule][data-severity]``;
  ``a.finding-frames[data-count]`` (to the Packet Summary of its evidence frames),
  ``a.finding-session[data-sid]`` (to the session's ladder).
- Plots: ``section#plot-io``, ``#plot-stevens``, ``#plot-histogram``,
  ``#plot-hierarchy``, each with ``a.plot-download``; ``form#io-form``,
  ``form#stevens-form``, ``form#histogram-form``.
- Exports: ``table#exports-table`` with ``tr.export-row[data-view]`` and
  ``a.export-link[data-view][data-format]``; ``a#export-all-xlsx``,
  ``a#export-all-json``, ``a#export-all-xml``, ``a#export-all-zip``, ``a#export-report``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from tracedoc.errors import FilterSyntaxError, TracedocError
from tracedoc.web import security
from tracedoc.web.data import (
    PAGE,
    PAGE_MAX,
    NotInTrace,
    Selection,
    TraceData,
    Workbench,
    table_texts,
    texts,
)

log = logging.getLogger("tracedoc.web")

HERE = Path(__file__).parent
TABS = [("traces", "Traces"), ("query", "Query Builder"), ("summary", "Packet Summary"),
        ("sessions", "Session Summary"), ("hosts", "IP Summary"), ("details", "Packet Details"),
        ("sequence", "Sequence of Execution"), ("times", "Response Time Summary"),
        ("findings", "Exception Report"), ("plots", "Plots"), ("exports", "Exports")]
TAB_PATHS = {"query": "query", "summary": "summary", "sessions": "sessions", "hosts": "hosts",
             "details": "packet", "sequence": "sequence", "times": "times", "findings": "findings",
             "plots": "plots", "exports": "exports"}
CATEGORY_SHORT = {"Response Time Thresholds": "Resp. Time Thresh."}
FRAMES_IN_FILTER = 300
"""A finding with up to this many evidence frames links to the filter
``frame.number in {...}``; one with more links to its frames by index."""
SEQUENCE_PAGE = 500
"""Rows of the Sequence of Execution (and its ladder) per page."""
SESSIONS_PAGE = 500
"""Rows of the Session and IP Summaries per page."""
EXPORT_FORMATS = ("csv", "xlsx", "xml", "json")
MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "xml": "application/xml", "json": "application/json", "zip": "application/zip", "pdf": "application/pdf"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


@dataclass
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    inventory: str | None = None
    """The inventory file (None: the Inventory's default)."""
    trace_dirs: list[Path] = field(default_factory=list)
    """Directories whose files may be added by path."""
    token: str | None = None
    """Required on every request when set (see :func:`tracedoc.web.security.token_for`)."""
    max_upload: int = 1024 * 1024 * 1024
    """Bytes an upload may have (0: uploads off)."""
    upload_dir: Path | None = None
    """Where uploads go (default: ``uploads`` beside the inventory's cache)."""


# -- templates ----------------------------------------------------------------------------


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["thousands"] = lambda v: f"{v:,}" if isinstance(v, (int, float)) else v
    env.filters["jsattr"] = lambda v: json.dumps(v)
    return env


def _limit(request: Request) -> int:
    try:
        limit = int(request.query_params.get("limit", PAGE))
    except ValueError:
        raise HTTPException(400, "limit must be a number") from None
    return max(1, min(limit, PAGE_MAX))

def _int_param(request: Request, name: str, default: int | None = None) -> int | None:
    v = request.query_params.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise HTTPException(400, f"{name} must be a number") from None


def _size_text(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _time_text(ns: int | None) -> str:
    if ns is None:
        return ""
    import datetime as dt

    from tracedoc.cli.details_cmd import zone_info
    from tracedoc.cli.render import local_zone

    t = dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=zone_info(local_zone()))
    return f"{t:%Y-%m-%d %H:%M:%S}.{(ns % 1_000_000_000) // 1000:06d} {t:%Z}"


def _packet_time(ns: int) -> str:
    """As ``tracedoc details`` writes a frame's time."""
    from tracedoc.cli.details_cmd import time_text, zone_info
    from tracedoc.cli.render import local_zone

    return time_text(ns, zone_info(local_zone()))


class Page:
    """What every page's template gets."""

    def __init__(self, app: Workbench, request: Request, tab: str, record: Any = None, flt: str = "") -> None:
        self.request = request
        self.tab = tab
        self.record = record
        self.filter = flt
        self.filter_error: str | None = None
        self.filter_caret: list[str] = []
        self.message: str | None = request.query_params.get("msg")
        self.message_kind = request.query_params.get("kind", "ok")

    def url(self, tab: str, **params: Any) -> str:
        """The URL of ``tab`` for the current trace, carrying the filter."""
        if self.record is None:
            return "/traces"
        if tab == "traces":
            return f"/traces?trace={self.record.id}"
        q = {k: v for k, v in params.items() if v is not None and v != ""}
        if self.filter and "filter" not in params:
            q = {"filter": self.filter, **q}
        query = urlencode(q)
        return f"/traces/{self.record.id}/{TAB_PATHS[tab]}" + (f"?{query}" if query else "")

    def tabs(self) -> list[tuple[str, str, str]]:
        return [(name, label, self.url(name)) for name, label in TABS
                if name == "traces" or self.record is not None]

    def packet_url(self, n: Any) -> str:
        q = urlencode({"filter": self.filter}) if self.filter else ""
        return f"/traces/{self.record.id}/packet/{n}" + (f"?{q}" if q else "")

    def filter_url(self, text: str, tab: str = "summary") -> str:
        return self.url(tab, filter=text)


# -- the application ---------------------------------------------------------------------------


def create_app(config: WebConfig, inventory: Any = None) -> FastAPI:
    """The FastAPI application (:func:`build` puts the token / Host guard in front)."""
    if inventory is None:
        from tracedoc.store import Inventory

        inventory = Inventory(config.inventory)
    bench = Workbench(inventory)
    env = _env()
    _preload()
    from tracedoc.web.packet import FrameCache

    frames = FrameCache()
    upload_dir = config.upload_dir or Path(inventory.cache_dir).parent / "uploads"
    api = FastAPI(title="tracedoc", docs_url=None, redoc_url=None, openapi_url=None)
    api.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    api.state.workbench = bench
    api.state.config = config

    def render(name: str, page: Page, code: int = 200, **ctx: Any) -> HTMLResponse:
        html = env.get_template(name).render(page=page, **ctx)
        return HTMLResponse(html, status_code=code)

    @api.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def check_origin(request: Request) -> None:
        if not security.same_origin(request.headers, request.headers.get("host", "")):
            raise HTTPException(403, "cross-site request refused")

    def record_of(trace_id: int) -> Any:
        try:
            return inventory.get(trace_id)
        except KeyError:
            raise HTTPException(404, f"no trace {trace_id} in the inventory") from None

    def data_of(trace_id: int) -> TraceData:
        try:
            return bench.data(trace_id)
        except KeyError:
            raise HTTPException(404, f"no trace {trace_id} in the inventory") from None

    def selection(page: Page, data: TraceData) -> Selection | None:
        """The filter's rows, or None with the error set on the page."""
        from tracedoc.filter import caret_lines

        try:
            return data.select(page.filter)
        except FilterSyntaxError as e:
            page.filter_error = f"display filter: {e}"
            page.filter_caret = caret_lines(e)
            return None

    def go(url: str, msg: str | None = None, kind: str = "ok") -> RedirectResponse:
        if msg:
            base, hash_, frag = url.partition("#")
            base += ("&" if "?" in base else "?") + urlencode({"msg": msg, "kind": kind})
            url = base + hash_ + frag
        return RedirectResponse(url, status_code=303)

    # -- errors ---------------------------------------------------------------------------------

    @api.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.endswith((".json", ".svg")) or "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        page = Page(bench, request, "error")
        return render("error.html", page, exc.status_code, status=exc.status_code, detail=str(exc.detail))

    @api.exception_handler(TracedocError)
    async def tracedoc_error(request: Request, exc: TracedocError) -> Response:
        if request.url.path.endswith((".json", ".svg")):
            return JSONResponse({"error": str(exc)}, status_code=409)
        page = Page(bench, request, "error")
        return render("error.html", page, 409, status=409, detail=str(exc))

    @api.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s", request.url.path)
        page = Page(bench, request, "error")
        return render("error.html", page, 500, status=500,
                      detail=f"internal error: {type(exc).__name__} (see the server's log)")

    # -- Traces ---------------------------------------------------------------------------------

    def traces_page(request: Request, status: int = 200, error: str | None = None) -> HTMLResponse:
        records = inventory.list()
        # The tabs lead to the trace named (?trace=N), else to the one last opened.
        current = _int_param(request, "trace") if request.method == "GET" else None
        if current is None:
            current = bench.recent()
        record = next((r for r in records if r.id == current), None)
        page = Page(bench, request, "traces", record)
        if error:
            page.message, page.message_kind = error, "error"
        notes = {r.id: inventory.annotations(r.id) for r in records}
        files = security.trace_files(config.trace_dirs) if config.trace_dirs else []
        known = {str(r.path) for r in records}
        return render("traces.html", page, status, records=records, annotations=notes, files=files,
                      known=known, trace_dirs=config.trace_dirs, max_upload=config.max_upload,
                      size_text=_size_text, time_text=_time_text)

    @api.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        return traces_page(request)

    @api.get("/traces", response_class=HTMLResponse)
    def traces(request: Request) -> HTMLResponse:
        return traces_page(request)

    def add_path(path: Path, tags: list[str], note: str | None) -> Any:
        # Decoded and cached in the same pass: the first view then reads Parquet.
        rec = inventory.add(path, tags=tags, note=note, cache=True)
        inventory.cache_file(rec.id)   # content already known before: cached now if it was not
        return rec

    @api.post("/traces/add")
    async def traces_add(request: Request) -> Response:
        check_origin(request)
        form = await request.form()
        text = str(form.get("path") or "")
        tags = [t for t in str(form.get("tags") or "").replace(",", " ").split() if t]
        note = str(form.get("note") or "").strip() or None
        try:
            path = security.allowed_path(text, config.trace_dirs)
            rec = await run_in_threadpool(add_path, path, tags, note)
        except (TracedocError, OSError) as e:
            return traces_page(request, 400, f"cannot add {text!r}: {e}")
        return go(f"/traces#trace-{rec.id}", f"added {rec.name} as trace {rec.id} ({rec.packets:,} packets)")

    @api.post("/traces/upload")
    async def traces_upload(request: Request) -> Response:
        check_origin(request)
        if config.max_upload <= 0:
            return traces_page(request, 403, "uploads are off (--max-upload-mb 0)")
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > config.max_upload + 64 * 1024:
            return traces_page(request, 413, f"the upload is larger than the limit ({config.max_upload:,} bytes)")
        upload_dir.mkdir(parents=True, exist_ok=True)
        made: list[security.Sink] = []

        def sink_for(name: str) -> security.Sink:
            fd, tmp = tempfile.mkstemp(prefix="upload-", suffix="-" + security.safe_filename(name),
                                       dir=upload_dir)
            os.close(fd)
            os.unlink(tmp)
            s = security.Sink(Path(tmp), config.max_upload)
            made.append(s)
            return s

        ctype = request.headers.get("content-type", "")
        fields: dict[str, str] = {}
        try:
            if ctype.startswith("multipart/form-data"):
                sink, fields = await security.save_multipart(request.stream(), ctype, sink_for)
            else:
                sink = sink_for(request.query_params.get("name") or "upload")
                await security.save_raw(request.stream(), sink)
        except security.UploadTooLarge as e:
            for s in made:
                s.discard()
            return traces_page(request, 413, str(e))
        except (security.UploadError, OSError) as e:
            for s in made:
                s.discard()
            return traces_page(request, 400, f"upload failed: {e}")
        if sink.written == 0:
            sink.discard()
            return traces_page(request, 400, "the uploaded file is empty")
        tags = [t for t in fields.get("tags", "").replace(",", " ").split() if t]
        note = fields.get("note", "").strip() or None
        try:
            rec = await run_in_threadpool(add_path, sink.dest, tags, note)
        except (TracedocError, OSError) as e:
            sink.discard()
            return traces_page(request, 400, f"the upload is not a trace tracedoc can read: {e}")
        if Path(rec.path).resolve() != sink.dest.resolve():
            sink.discard()  # the inventory had this content already, under its first path
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"id": rec.id, "name": rec.name, "packets": rec.packets})
        return go(f"/traces#trace-{rec.id}", f"uploaded {rec.name} as trace {rec.id} ({rec.packets:,} packets)")

    @api.post("/traces/{trace_id}/tag")
    async def trace_tag(request: Request, trace_id: int) -> Response:
        check_origin(request)
        record_of(trace_id)
        form = await request.form()
        tags = [t for t in str(form.get("tag") or "").replace(",", " ").split() if t]
        if not tags:
            return go(f"/traces#trace-{trace_id}", "give a tag", "error")
        inventory.tag(trace_id, *tags)
        bench.changed(trace_id)
        return go(f"/traces#trace-{trace_id}", f"tagged trace {trace_id}: {' '.join(tags)}")

    @api.post("/traces/{trace_id}/annotate")
    async def trace_annotate(request: Request, trace_id: int) -> Response:
        check_origin(request)
        record_of(trace_id)
        form = await request.form()
        text = str(form.get("text") or "").strip()
        frame_text = str(form.get("frame") or "").strip()
        back = str(form.get("back") or "")
        target = back if back.startswith(f"/traces/{trace_id}/") else f"/traces#trace-{trace_id}"
        if not text:
            return go(target, "write the annotation's text", "error")
        frame: int | None = None
        if frame_text:
            if not frame_text.isdigit() or int(frame_text) < 1:
                return go(target, f"bad frame number {frame_text!r}", "error")
            frame = int(frame_text)
        inventory.annotate(trace_id, text, frame)
        bench.changed(trace_id)
        return go(target, f"annotated trace {trace_id}" + (f" frame {frame}" if frame else ""))

    @api.post("/traces/{trace_id}/check")
    async def trace_check(request: Request, trace_id: int) -> Response:
        check_origin(request)
        record_of(trace_id)

        def run() -> str:
            return str(inventory.check(trace_id))

        state = await run_in_threadpool(run)
        if state != "ok":
            bench.forget(trace_id)
        return go(f"/traces#trace-{trace_id}", f"trace {trace_id}: {state}", "ok" if state in ("ok", "moved")
                  else "error")

    @api.get("/traces/{trace_id}")
    def trace_home(trace_id: int) -> Response:
        record_of(trace_id)
        return RedirectResponse(f"/traces/{trace_id}/summary", status_code=303)

    # -- Query Builder ----------------------------------------------------------------------------

    def query_page(request: Request, trace_id: int, rows: list[Any], joins: list[str], error: str | None,
                   status: int = 200) -> HTMLResponse:
        from tracedoc.analyze.derived import FIELDS
        from tracedoc.web.query import OPERATORS

        rec = record_of(trace_id)
        page = Page(bench, request, "query", rec, request.query_params.get("filter", ""))
        return render("query.html", page, status, rows=rows, joins=joins, operators=OPERATORS,
                      fields=sorted(FIELDS), error=error)

    @api.get("/traces/{trace_id}/query", response_class=HTMLResponse)
    def query(request: Request, trace_id: int) -> HTMLResponse:
        from tracedoc.web.query import Row

        return query_page(request, trace_id, [Row("", "==", ""), Row("", "==", "")], ["and"], None)

    @api.get("/traces/{trace_id}/query/apply")
    def query_apply(request: Request, trace_id: int) -> Response:
        from tracedoc.filter import caret_lines, compile_filter
        from tracedoc.web.query import QueryError, Row, build

        q = request.query_params
        fields_, ops, values_, joins = q.getlist("field"), q.getlist("op"), q.getlist("value"), q.getlist("join")
        rows = [Row(f, o, v) for f, o, v in zip(fields_, ops, values_)]
        try:
            text = build(rows, joins)
            compile_filter(text)
        except QueryError as e:
            return query_page(request, trace_id, rows or [Row("", "==", "")], joins, str(e), 400)
        except FilterSyntaxError as e:
            caret = "\n".join(caret_lines(e))
            return query_page(request, trace_id, rows, joins, f"display filter: {e}\n{caret}", 400)
        target = q.get("target", "summary")
        if target not in TAB_PATHS or target == "query":
            target = "summary"
        return RedirectResponse(f"/traces/{trace_id}/{TAB_PATHS[target]}?" + urlencode({"filter": text}),
                                status_code=303)

    # -- Packet Summary ---------------------------------------------------------------------------

    def finding_selection(data: TraceData, sel: Selection, k: int) -> Selection:
        found = flat_findings(data.findings(sel))
        if not 1 <= k <= len(found):
            raise HTTPException(404, f"no finding {k}")
        frames = np.asarray(found[k - 1][0].frames, dtype=np.int64)
        allf = data.frame_numbers()
        pos = np.searchsorted(allf, frames)
        ok = (pos < len(allf)) & (allf[np.minimum(pos, len(allf) - 1)] == frames)
        return Selection(f"finding {k}", pos[ok].astype(np.int64), sel.total)

    def summary_selection(request: Request, page: Page, data: TraceData) -> Selection | None:
        sel = selection(page, data)
        k = _int_param(request, "finding")
        if sel is not None and k is not None:
            sel = finding_selection(data, sel, k)
        return sel

    def summary_rows(data: TraceData, sel: Selection, offset: int, limit: int) -> tuple[list[str], list[list[str]]]:
        tbl = data.summary_page(sel, offset, limit)
        return tbl.column_names, table_texts(tbl)

    def annotated(trace_id: int) -> dict[int, list[str]]:
        return data_of(trace_id).annotations()

    @api.get("/traces/{trace_id}/summary", response_class=HTMLResponse)
    def summary(request: Request, trace_id: int) -> HTMLResponse:
        data = data_of(trace_id)
        page = Page(bench, request, "summary", data.record, request.query_params.get("filter", ""))
        sel = summary_selection(request, page, data)
        limit = _limit(request)
        heads: list[str] = []
        rows: list[list[str]] = []
        offset = 0
        count = 0
        if sel is not None:
            count = sel.count
            frame = _int_param(request, "frame")
            offset = _int_param(request, "offset", 0) or 0
            if frame is not None:
                offset = data.offset_of(sel, frame)
                offset -= offset % limit
            offset = max(0, min(offset, max(count - 1, 0)))
            heads, rows = summary_rows(data, sel, offset, limit)
        else:
            from tracedoc.analyze.summary import COLUMNS
            heads = list(COLUMNS)
        last = max(0, (count - 1) // limit * limit)
        return render("summary.html", page, 200 if sel is not None else 400, heads=heads, rows=rows,
                      offset=offset, limit=limit, total=count, last=last, notes=annotated(trace_id),
                      finding=request.query_params.get("finding"), side=data.side.describe(),
                      all_packets=data.rows())

    @api.get("/traces/{trace_id}/summary/rows", response_class=HTMLResponse)
    def summary_fragment(request: Request, trace_id: int) -> HTMLResponse:
        data = data_of(trace_id)
        page = Page(bench, request, "summary", data.record, request.query_params.get("filter", ""))
        sel = summary_selection(request, page, data)
        if sel is None:
            raise HTTPException(400, page.filter_error or "bad filter")
        offset = max(0, _int_param(request, "offset", 0) or 0)
        heads, rows = summary_rows(data, sel, offset, _limit(request))
        return render("summary_rows.html", page, heads=heads, rows=rows, notes=annotated(trace_id))

    @api.get("/traces/{trace_id}/summary.json")
    def summary_json(request: Request, trace_id: int) -> JSONResponse:
        from tracedoc.filter import caret_lines

        data = data_of(trace_id)
        try:
            sel = data.select(request.query_params.get("filter", ""))
        except FilterSyntaxError as e:
            return JSONResponse({"error": f"display filter: {e}", "caret": caret_lines(e)}, status_code=400)
        k = _int_param(request, "finding")
        if k is not None:
            sel = finding_selection(data, sel, k)
        offset = max(0, _int_param(request, "offset", 0) or 0)
        limit = _limit(request)
        heads, rows = summary_rows(data, sel, offset, limit)
        return JSONResponse({"trace": trace_id, "filter": sel.text, "total": sel.count, "offset": offset,
                             "limit": limit, "columns": heads, "rows": rows, "local": data.side.describe()})

    # -- Session Summary ---------------------------------------------------------------------------

    @api.get("/traces/{trace_id}/sessions", response_class=HTMLResponse)
    def sessions(request: Request, trace_id: int) -> HTMLResponse:
        from tracedoc.cli.sessions_cmd import TABLE_COLUMNS, _texts

        data = data_of(trace_id)
        page = Page(bench, request, "sessions", data.record, request.query_params.get("filter", ""))
        sel = selection(page, data)
        rows: list[list[str]] = []
        count = 0
        offset = max(0, _int_param(request, "offset", 0) or 0)
        if sel is not None:
            result = data.sessions(sel)
            count = result.table.num_rows
            rows = _texts(result.table.slice(offset, SESSIONS_PAGE))
        return render("sessions.html", page, 200 if sel is not None else 400, heads=TABLE_COLUMNS, rows=rows,
                      total=count, offset=offset, limit=SESSIONS_PAGE, filtered=bool(page.filter))

    # -- IP Summary ---------------------------------------------------------------------------------

    HOST_HEADS = {"address": "IP Address", "packets_sent": "Pkts Sent", "packets_received": "Pkts Rcvd",
                  "bytes_sent": "Bytes Sent", "bytes_received": "Bytes Rcvd", "sessions_opened": "Sess. Opened",
                  "sessions_accepted": "Sess. Accepted", "protocols": "Protocols", "first_seen": "First Seen",
                  "last_seen": "Last Seen"}

    @api.get("/traces/{trace_id}/hosts", response_class=HTMLResponse)
    def hosts(request: Request, trace_id: int) -> HTMLResponse:
        from tracedoc.cli.render import timestamp_texts
        from tracedoc.web.data import zone

        data = data_of(trace_id)
        page = Page(bench, request, "hosts", data.record, request.query_params.get("filter", ""))
        sel = selection(page, data)
        rows: list[list[str]] = []
        count = 0
        offset = max(0, _int_param(request, "offset", 0) or 0)
        if sel is not None:
            tbl = data.hosts(sel)
            count = tbl.num_rows
            part = tbl.slice(offset, SESSIONS_PAGE)
            z = zone()
            cols: dict[str, list[str]] = {}
            for k in HOST_HEADS:
                if k in ("first_seen", "last_seen"):
                    cols[k] = texts(timestamp_texts(part[k].combine_chunks(), z).to_pylist())
                elif k == "protocols":
                    cols[k] = [" ".join(p or []) for p in part[k].to_pylist()]
                else:
                    cols[k] = texts(part[k].to_pylist())
            rows = [list(r) for r in zip(*cols.values())] if part.num_rows else []
        return render("hosts.html", page, 200 if sel is not None else 400, heads=list(HOST_HEADS.values()),
                      rows=rows, total=count, offset=offset, limit=SESSIONS_PAGE)

    # -- Packet Details -------------------------------------------------------------------------------

    def decoded_frame(data: TraceData, n: int) -> Any:
        if n < 1 or n > data.rows():
            raise HTTPException(404, f"the trace has no frame {n} (it has {data.rows():,})")
        from tracedoc.web.packet import row_columns

        try:
            return frames.get(str(data.record.path), n, data.frame_row(n, row_columns()))
        except LookupError as e:
            raise HTTPException(404, str(e)) from None
        except (OSError, TracedocError) as e:
            raise HTTPException(409, f"cannot read the trace file {data.record.path}: {e} "
                                     f"(the Traces tab's check finds a moved file)") from None

    @api.get("/traces/{trace_id}/packet", response_class=HTMLResponse)
    def packet_pick(request: Request, trace_id: int) -> Response:
        data = data_of(trace_id)
        n = _int_param(request, "frame")
        if n is not None:
            q = {"filter": request.query_params["filter"]} if request.query_params.get("filter") else {}
            return RedirectResponse(f"/traces/{trace_id}/packet/{n}" + (f"?{urlencode(q)}" if q else ""),
                                    status_code=303)
        page = Page(bench, request, "details", data.record, request.query_params.get("filter", ""))
        return render("packet.html", page, frame=None, tree=[], hexrows=[], notes=[], packets=data.rows(),
                      json_url="", sid=0)

    @api.get("/traces/{trace_id}/packet/{n}.json")
    def packet_json(trace_id: int, n: int) -> Response:
        from tracedoc.web.packet import json_default, json_object

        data = data_of(trace_id)
        fr = decoded_frame(data, n)
        body = json.dumps(json_object(fr), default=json_default)
        return Response(body, media_type="application/json")

    @api.get("/traces/{trace_id}/packet/{n}", response_class=HTMLResponse)
    def packet(request: Request, trace_id: int, n: int) -> HTMLResponse:
        from tracedoc.web.packet import hex_rows, view_nodes

        data = data_of(trace_id)
        fr = decoded_frame(data, n)
        page = Page(bench, request, "details", data.record, request.query_params.get("filter", ""))
        notes = inventory.annotations(trace_id, n)
        try:
            sid = data.session_of(n)
        except NotInTrace:
            sid = 0
        return render("packet.html", page, frame=fr, tree=view_nodes(fr.blocks()), hexrows=hex_rows(fr.data),
                      notes=notes, packets=data.rows(), time=_packet_time(fr.ts_ns),
                      json_url=f"/traces/{trace_id}/packet/{n}.json", sid=sid)

    # -- Sequence of Execution ------------------------------------------------------------------------

    def sequence_of(request: Request, data: TraceData, page: Page) -> tuple[Any, int, str | None]:
        sid = _int_param(request, "session")
        frame = _int_param(request, "frame")
        if sid is None and frame is not None:
            try:
                sid = data.session_of(frame)
            except NotInTrace as e:
                raise HTTPException(404, str(e)) from None
            if sid == 0:
                return None, 0, f"frame {frame} belongs to no session"
        if sid is None:
            return None, 0, None
        sel = selection(page, data)
        if sel is None:
            return None, sid, None
        try:
            seq = data.sequence(sid, sel, request.query_params.get("relative") == "1")
        except NotInTrace as e:
            raise HTTPException(404, str(e)) from None
        return seq, sid, None

    def ladder(seq: Any, offset: int) -> Any:
        from tracedoc.analyze.sequence import Sequence
        from tracedoc.cli.render import timestamp_texts
        from tracedoc.export.ladder import ladder_svg
        from tracedoc.web.data import zone
        from tracedoc.web.svg import checked

        part = Sequence(seq.rows.slice(offset, SEQUENCE_PAGE), seq.local_ips, seq.remote_ips, seq.protocols,
                        seq.sessions)
        return checked(ladder_svg(part, timestamp_texts(part.rows["Timestamp"].combine_chunks(), zone())))

    @api.get("/traces/{trace_id}/sequence", response_class=HTMLResponse)
    def sequence(request: Request, trace_id: int) -> HTMLResponse:
        from tracedoc.cli.render import timestamp_texts
        from tracedoc.cli.sequence_cmd import _elapsed_text
        from tracedoc.web.data import zone

        data = data_of(trace_id)
        page = Page(bench, request, "sequence", data.record, request.query_params.get("filter", ""))
        seq, sid, note = sequence_of(request, data, page)
        offset = max(0, _int_param(request, "offset", 0) or 0)
        rows: list[list[str]] = []
        heads: list[str] = []
        svg = None
        total = 0
        if seq is not None:
            part = seq.rows.slice(offset, SEQUENCE_PAGE)
            total = seq.rows.num_rows
            part = part.set_column(1, "Timestamp", timestamp_texts(part["Timestamp"].combine_chunks(), zone()))
            part = part.set_column(2, "Elapsed", _elapsed_text(part["Elapsed"].combine_chunks()))
            heads, rows = part.column_names, table_texts(part)
            svg = ladder(seq, offset)
        tcp_sessions = []
        if seq is None and page.filter_error is None:
            st = data.sessions_full().table
            if st.num_rows:
                busy = pc.add(st["packets_in"], st["packets_out"])
                order = np.argsort(-np.asarray(busy.to_numpy(zero_copy_only=False)), kind="stable")[:50]
                tcp_sessions = st.take(pa.array(order, pa.int64())).select(
                    ["sid", "proto", "local_ip", "local_port", "remote_ip", "remote_port", "packets_in",
                     "packets_out"]).to_pylist()
        return render("sequence.html", page, 200 if page.filter_error is None else 400, seq=seq, sid=sid,
                      note=note, heads=heads, rows=rows, svg=svg, offset=offset, total=total,
                      limit=SEQUENCE_PAGE, sessions=tcp_sessions,
                      relative=request.query_params.get("relative") == "1")

    @api.get("/traces/{trace_id}/sequence.svg")
    def sequence_svg(request: Request, trace_id: int) -> Response:
        data = data_of(trace_id)
        page = Page(bench, request, "sequence", data.record, request.query_params.get("filter", ""))
        seq, sid, note = sequence_of(request, data, page)
        if seq is None:
            raise HTTPException(400, note or page.filter_error or "give session=SID or frame=N")
        offset = max(0, _int_param(request, "offset", 0) or 0)
        return Response(str(ladder(seq, offset)), media_type="image/svg+xml")

    # -- Response Time Summary ------------------------------------------------------------------------

    @api.get("/traces/{trace_id}/times", response_class=HTMLResponse)
    def times(request: Request, trace_id: int) -> HTMLResponse:
        from tracedoc.analyze.transactions import exceeding, summarise, thresholds
        from tracedoc.cli.render import timestamp_texts
        from tracedoc.web.data import zone

        data = data_of(trace_id)
        page = Page(bench, request, "times", data.record, request.query_params.get("filter", ""))
        sel = selection(page, data)
        summary_rows_: list[dict[str, Any]] = []
        parts: list[tuple[str, str, list[dict[str, Any]], int]] = []
        total = 0
        if sel is not None:
            txns = data.transactions(sel)
            total = txns.num_rows
            limits = thresholds(())
            summary_rows_ = summarise(txns, limits, None).to_pylist()
            slow = exceeding(txns, limits)
            unanswered = txns.filter(pc.is_null(txns["response_frame"]))
            for key, title, part in (("slow", "Slower than the threshold", slow), ("unanswered", "Unanswered",
                                                                                   unanswered)):
                shown = part.slice(0, SESSIONS_PAGE)
                clock = texts(timestamp_texts(shown["request_time"].combine_chunks(), zone()).to_pylist())
                items = shown.to_pylist()
                for r, when in zip(items, clock):
                    r["when"] = when
                    rt = r["response_time"]
                    r["seconds"] = "" if rt is None else f"{rt / 1e9:.6f}"
                parts.append((key, title, items, part.num_rows))
        return render("times.html", page, 200 if sel is not None else 400, rows=summary_rows_, parts=parts,
                      total=total, secs=lambda v: "" if v is None else f"{v:.6f}")

    # -- Exception Report ---------------------------------------------------------------------------

    def flat_findings(found: list[Any]) -> list[tuple[Any, int]]:
        """Findings depth first with their depth (a symptom under its cause), numbered from 1."""
        out: list[tuple[Any, int]] = []

        def add(f: Any, depth: int) -> None:
            out.append((f, depth))
            for s in f.symptoms:
                add(s, depth + 1)

        for f in found:
            add(f, 0)
        return out

    def frames_link(page: Page, f: Any, k: int) -> str:
        if len(f.frames) <= FRAMES_IN_FILTER:
            return page.filter_url("frame.number in {" + " ".join(str(x) for x in f.frames) + "}")
        return page.url("summary", finding=str(k))

    @api.get("/traces/{trace_id}/findings", response_class=HTMLResponse)
    def findings(request: Request, trace_id: int) -> HTMLResponse:
        from tracedoc.analyze.findings import CATEGORIES

        data = data_of(trace_id)
        page = Page(bench, request, "findings", data.record, request.query_params.get("filter", ""))
        sel = selection(page, data)
        items: list[dict[str, Any]] = []
        if sel is not None:
            for k, (f, depth) in enumerate(flat_findings(data.findings(sel)), start=1):
                items.append({"k": k, "f": f, "depth": depth, "frames_url": frames_link(page, f, k)})
        by_cat = {c: [i for i in items if i["f"].category == c and i["depth"] == 0] for c in CATEGORIES}
        return render("findings.html", page, 200 if sel is not None else 400, items=items, categories=CATEGORIES,
                      by_cat=by_cat, short=CATEGORY_SHORT, details_text=lambda d: json.dumps(d, default=str))

    # -- plots ----------------------------------------------------------------------------------------

    def plot_svg(kind: str, request: Request, data: TraceData, sel: Selection) -> Any:
        from tracedoc.analyze import hosts as hosts_mod
        from tracedoc.analyze import io_graph
        from tracedoc.export import plots
        from tracedoc.web.svg import checked

        def picked(cols: list[str]) -> pa.Table:
            tbl = data.load(cols)
            return tbl if sel.rows is None else tbl.take(pa.array(sel.rows, type=pa.int64()))

        try:
            if kind == "io":
                iv = request.query_params.get("interval")
                interval = float(iv) if iv else None
                svg = plots.io_graph_svg(picked(list(io_graph.COLUMNS)), interval, data.side)
            elif kind == "stevens":
                sid = _int_param(request, "session") or default_stevens(data)
                if not sid:
                    return checked(plots.no_data_svg("TCP time-sequence graph (Stevens)", "no TCP session"))
                sender = request.query_params.get("sender") or None
                svg = plots.stevens_svg(data.load(list(plots.STEVENS_COLUMNS)), sid, data.sessions_full(), sender)
            elif kind == "histogram":
                kinds = txn_kinds(data, sel)
                kind_ = request.query_params.get("type") or (kinds[0] if kinds else "dns")
                svg = plots.response_histogram_svg(data.transactions(sel), kind_)
            elif kind == "hierarchy":
                svg = plots.hierarchy_svg(picked(list(hosts_mod.COLUMNS)))
            else:
                raise HTTPException(404, f"no plot {kind!r}")
        except (ValueError, KeyError) as e:
            raise HTTPException(400, f"{kind}: {e}") from None
        return checked(svg)

    def default_stevens(data: TraceData) -> int:
        st = data.sessions_full().table
        if st.num_rows == 0:
            return 0
        tcp = st.filter(pc.equal(st["proto"], "tcp"))
        if tcp.num_rows == 0:
            return 0
        payload = pc.add(pc.fill_null(tcp["payload_in"], 0), pc.fill_null(tcp["payload_out"], 0))
        return int(tcp["sid"][int(np.argmax(np.asarray(payload.to_numpy(zero_copy_only=False))))].as_py())

    def txn_kinds(data: TraceData, sel: Selection) -> list[str]:
        txns = data.transactions(sel)
        if txns.num_rows == 0:
            return []
        return [str(v) for v in pc.unique(txns["type"]).to_pylist() if v]

    @api.get("/traces/{trace_id}/plots", response_class=HTMLResponse)
    def plots_tab(request: Request, trace_id: int) -> HTMLResponse:
        data = data_of(trace_id)
        page = Page(bench, request, "plots", data.record, request.query_params.get("filter", ""))
        sel = selection(page, data)
        svgs: dict[str, Any] = {}
        errors: dict[str, str] = {}
        kinds: list[str] = []
        tcp_sessions: list[dict[str, Any]] = []
        if sel is not None:
            for kind in ("io", "stevens", "histogram", "hierarchy"):
                try:
                    svgs[kind] = plot_svg(kind, request, data, sel)
                except HTTPException as e:
                    errors[kind] = str(e.detail)
                except Exception as e:  # one plot failing leaves the others
                    log.exception("plot %s", kind)
                    errors[kind] = f"{kind}: internal error ({type(e).__name__})"
            kinds = txn_kinds(data, sel)
            st = data.sessions_full().table
            tcp = st.filter(pc.equal(st["proto"], "tcp")) if st.num_rows else st
            tcp_sessions = tcp.select(["sid", "local_ip", "local_port", "remote_ip", "remote_port"]).slice(
                0, 2000).to_pylist() if tcp.num_rows else []
        q = request.query_params
        return render("plots.html", page, 200 if sel is not None else 400, svgs=svgs, errors=errors, kinds=kinds,
                      sessions=tcp_sessions, interval=q.get("interval", ""),
                      session=_int_param(request, "session") or (default_stevens(data) if sel is not None else 0),
                      kind=q.get("type") or (kinds[0] if kinds else ""))

    @api.get("/traces/{trace_id}/plots/{kind}.svg")
    def plot_file(request: Request, trace_id: int, kind: str) -> Response:
        data = data_of(trace_id)
        try:
            sel = data.select(request.query_params.get("filter", ""))
        except FilterSyntaxError as e:
            raise HTTPException(400, f"display filter: {e}") from None
        svg = plot_svg(kind, request, data, sel)
        return Response('<?xml version="1.0" encoding="UTF-8"?>\n' + str(svg), media_type="image/svg+xml",
                        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})

    # -- exports ----------------------------------------------------------------------------------------

    from tracedoc.export.views import VIEWS

    @api.get("/traces/{trace_id}/exports", response_class=HTMLResponse)
    def exports(request: Request, trace_id: int) -> HTMLResponse:
        data = data_of(trace_id)
        page = Page(bench, request, "exports", data.record, request.query_params.get("filter", ""))
        selection(page, data)
        q = {"filter": page.filter} if page.filter else {}
        # The sequence export is of one session: ?session=SID, else the first.
        sid = _int_param(request, "session") or 1
        links = []
        for view in VIEWS:
            extra = {"session": str(sid)} if view == "sequence" else {}
            if view == "sequence" and not sid:
                continue
            query = urlencode({**q, **extra})
            links.append((view, [(fmt, f"/traces/{trace_id}/export/{view}.{fmt}" + (f"?{query}" if query else ""))
                                 for fmt in EXPORT_FORMATS]))
        query = urlencode(q)
        suffix = f"?{query}" if query else ""
        return render("exports.html", page, 200 if page.filter_error is None else 400, links=links,
                      all_links=[(fmt, f"/traces/{trace_id}/export/all.{fmt}{suffix}")
                                 for fmt in ("xlsx", "json", "xml", "zip")],
                      report=f"/traces/{trace_id}/report.pdf{suffix}", sid=sid)

    def export_table(data: TraceData, view: str, flt: str, request: Request) -> pa.Table:
        from tracedoc.analyze.sessions import SESSION_COLUMNS
        from tracedoc.export.views import view_columns, view_table
        from tracedoc.filter import compile_filter
        from tracedoc.web.data import SUMMARY_COLUMNS

        compiled = compile_filter(flt) if flt else None
        cols = view_columns([view])
        if cols is None:  # summary, sequence: these read only what the summary reads (tested)
            cols = SUMMARY_COLUMNS + (list(SESSION_COLUMNS) + ["tcp.seq", "tcp.ack"] if view == "sequence" else [])
        if compiled is not None:
            cols = cols + compiled.columns
        tbl = data.load(list(dict.fromkeys(cols)))
        opts: dict[str, Any] = {"flt": compiled}
        if view == "sequence":
            sid = _int_param(request, "session")
            frame = _int_param(request, "frame")
            if sid is None and frame is not None:
                sid = data.session_of(frame)
            if not sid:
                raise HTTPException(400, "the sequence export needs session=SID (or frame=N)")
            opts["session"] = sid
        return view_table(view, tbl, data.side, **opts)

    def send_file(make: Callable[[str], None], filename: str, media: str) -> Response:
        fd, tmp = tempfile.mkstemp(prefix="tracedoc-export-", suffix="-" + filename)
        os.close(fd)
        try:
            make(tmp)
        except BaseException:
            os.unlink(tmp)
            raise
        return FileResponse(tmp, media_type=media, filename=filename, background=BackgroundTask(os.unlink, tmp))

    def base_name(data: TraceData) -> str:
        return security.safe_filename(Path(str(data.record.name)).stem or f"trace-{data.id}")

    @api.get("/traces/{trace_id}/export/{view}.{fmt}")
    def export(request: Request, trace_id: int, view: str, fmt: str) -> Response:
        from tracedoc.export.views import ViewError
        from tracedoc.export.writers import write

        data = data_of(trace_id)
        flt = request.query_params.get("filter", "")
        if fmt not in EXPORT_FORMATS + ("zip",):
            raise HTTPException(404, f"no export format {fmt!r}")
        try:
            if view == "all":
                if fmt == "csv":
                    raise HTTPException(400, "several views as CSV come as a zip: all.zip")
                names = [v for v in VIEWS if v != "sequence"]
                tables = {v: export_table(data, v, flt, request) for v in names}
                out_fmt = "csv" if fmt == "zip" else fmt
            elif view in VIEWS:
                if fmt == "zip":
                    raise HTTPException(404, "a zip holds several views: all.zip")
                tables = {view: export_table(data, view, flt, request)}
                out_fmt = fmt
            else:
                raise HTTPException(404, f"no view {view!r}")
        except FilterSyntaxError as e:
            raise HTTPException(400, f"display filter: {e}") from None
        except (ViewError, NotInTrace) as e:
            raise HTTPException(400, str(e)) from None
        name = f"{base_name(data)}-{view}.{fmt}"
        return send_file(lambda p: write(tables, out_fmt, p), name, MEDIA[fmt])

    @api.get("/traces/{trace_id}/report.pdf")
    def report(request: Request, trace_id: int) -> Response:
        data = data_of(trace_id)
        flt = request.query_params.get("filter", "") or None
        if flt:
            try:
                data.select(flt)
            except FilterSyntaxError as e:
                raise HTTPException(400, f"display filter: {e}") from None
        name = f"{base_name(data)}-report.pdf"
        return send_file(lambda p: _write_report(data, flt, p), name, MEDIA["pdf"])

    return api


def _preload() -> None:
    """Import what the views use now, not on the first request."""
    import tracedoc.analyze.diagnose  # noqa: F401
    import tracedoc.analyze.hosts  # noqa: F401
    import tracedoc.analyze.sessions  # noqa: F401
    import tracedoc.analyze.summary  # noqa: F401
    import tracedoc.analyze.transactions  # noqa: F401
    import tracedoc.cli.render  # noqa: F401
    import tracedoc.cli.sessions_cmd  # noqa: F401
    import tracedoc.filter  # noqa: F401


def report_columns(flt: Any) -> list[str]:
    """The packet-table columns the PDF report reads: those of the views it
    shows, the plots' and the trace facts' (``tests/web`` checks the report
    made from these is the one ``tracedoc report`` makes from every column)."""
    from tracedoc.analyze import hosts, io_graph
    from tracedoc.export.views import view_columns

    cols = view_columns(["sessions", "response-times", "hosts", "findings"]) or []
    cols = ["frame.number", "frame.time_epoch", "frame.len", *cols, *io_graph.COLUMNS, *hosts.COLUMNS]
    if flt is not None:
        cols += flt.columns
    return list(dict.fromkeys(cols))


def _write_report(data: TraceData, flt: str | None, out: str) -> None:
    """``tracedoc report``'s PDF for one inventory trace."""
    from types import SimpleNamespace

    from tracedoc.export.report import build_report, trace_facts
    from tracedoc.filter import compile_filter

    compiled = compile_filter(flt) if flt else None
    tbl = data.load(report_columns(compiled))
    rec = data.record
    trace = SimpleNamespace(path=rec.path, info=SimpleNamespace(
        format=rec.format, compression=getattr(rec, "compression", None), file_size=rec.size, errors=[]))
    pdf = build_report(tbl, trace_facts(trace, tbl), local=data.side, flt=compiled)
    Path(out).write_bytes(pdf)


def guarded(api: FastAPI, config: WebConfig) -> security.Guard:
    """``api`` behind the token / Host guard (what uvicorn serves)."""
    return security.Guard(api, config.token, security.is_loopback(config.host))


def build(config: WebConfig, inventory: Any = None) -> security.Guard:
    return guarded(create_app(config, inventory), config)

