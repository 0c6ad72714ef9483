"""View tables to files: CSV, Excel (xlsx), XML and JSON.

``write({"sessions": tbl, ...}, fmt, out)`` writes the tables
:func:`tracedoc.export.views.view_table` makes.  What each format does with
the typed columns:

=========  ======================  ==========================  ===========================
format     epoch times             durations (ns)              lists
=========  ======================  ==========================  ===========================
csv        ISO 8601 UTC, ns, ``Z`` seconds, 9 decimals         items joined by spaces
xlsx       Excel date-times in     seconds (number)            items joined by spaces
           the local time zone
           (ms: Excel's finest)
xml        ISO 8601 UTC, ns, ``Z`` seconds, 9 decimals         one ``<item>`` each
json       epoch seconds (float)   seconds (float)             arrays
=========  ======================  ==========================  ===========================

JSON takes epoch seconds as ``tracedoc ... --format json`` does, so a
view's ``rows`` there equal the CLI's.  The local time zone of the xlsx is
the one the CLI views print times in (``TZ``, else the system's); it is
named in the workbook's properties (comments).

Several tables: xlsx has one sheet per view, XML one ``<view>`` each, JSON
one member each.  CSV holds one table, so several CSV tables go into a zip
archive, one ``VIEW.csv`` per view, and then ``out`` must end in ``.zip``
(a single table is written as a zip too when ``out`` ends in ``.zip``).

Trace contents are attacker-controlled, and these files are opened by
spreadsheets and parsers:

- **CSV formula injection.**  A text cell whose first character is
  ``=``, ``+``, ``-``, ``@``, tab or carriage return is written with a
  ``'`` in front (OWASP's advice), so no spreadsheet reads it as a formula.
  This applies to every text cell (the direction ``->`` too), never to
  numbers.
- **xlsx** cells are written typed: text as text cells (never formulas,
  URLs or numbers however it looks), so ``=cmd|...`` in a DNS name stays
  text and nothing is prefixed.  A text longer than Excel's cell limit
  (32,767 characters) is cut there, ending in ``…``.  A sheet holds at most
  1,048,575 rows under its header; the rest go on to ``VIEW (2)``, ...
- **XML**: every text is escaped; characters XML 1.0 cannot carry at all
  (control characters other than tab, newline and carriage return, lone
  surrogates, U+FFFE/U+FFFF), and DEL and the C1 controls it advises
  against, are written as the text ``\\xHH`` / ``\\uHHHH``, as the
  terminal views show them, so the file is always well-formed.
- **JSON**: lone surrogates are written as ``\\udcXX`` escapes, NaN and
  infinities as null, so any strict parser reads it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tracedoc.errors import TracedocError
from tracedoc.export.views import table_meta

FORMATS = ("csv", "xlsx", "xml", "json")

XLSX_MAX_ROWS = 1_048_575
"""Data rows on one sheet (Excel's 1,048,576 less the header)."""
XLSX_MAX_CELL = 32_767
"""Characters in one Excel cell."""
EXACT_INT = 2 ** 53
"""Integers at or beyond this are written to xlsx as text (a double cannot hold them exactly)."""
CHUNK = 65_536
"""Rows turned into Python values at a time (bounds the memory a big table needs)."""

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""First characters a spreadsheet may take for a formula."""


class ExportError(TracedocError):
    """The tables cannot be written as asked (wrong format, CSV of several views to a non-zip ...)."""


def write(tables: dict[str, pa.Table] | pa.Table, fmt: str, out: str | Path | IO[bytes],
          zone: str | None = None, as_zip: bool | None = None) -> None:
    """Write ``tables`` (view name -> table; one bare table is named by its
    view) as ``fmt`` to ``out`` (a path or a binary file object).
    ``zone``: the IANA time zone xlsx times are shown in (default: the
    CLI's, :func:`tracedoc.cli.render.local_zone`).  ``as_zip`` (CSV): a
    zip of one CSV per table; None: when ``out``'s name ends in ``.zip``."""
    if isinstance(tables, pa.Table):
        tables = {table_meta(tables).get("view", "view"): tables}
    if not tables:
        raise ExportError("nothing to write: no tables")
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r} (formats: {', '.join(FORMATS)})")
    if fmt == "csv":
        _write_csv(tables, out, as_zip)
    elif fmt == "xlsx":
        _write_xlsx(tables, out, zone)
    elif fmt == "xml":
        _with_file(out, lambda f: write_xml(tables, f))
    else:
        _with_file(out, lambda f: write_json(tables, f))


def _with_file(out: str | Path | IO[bytes], fn: Any) -> None:
    if isinstance(out, (str, Path)):
        with open(out, "wb") as f:
            fn(f)
    else:
        fn(out)


def _chunks(tbl: pa.Table) -> Iterator[pa.Table]:
    for start in range(0, tbl.num_rows, CHUNK):
        yield tbl.slice(start, CHUNK)


def _ns(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A timestamp or duration column as int64 ns, and its validity."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    ints = pc.cast(arr, pa.int64())
    vals = np.asarray(ints.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    valid = np.asarray(ints.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return vals, valid


def _seconds_array(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """ns as float seconds (as the CLI's JSON: float64(ns) / 1e9)."""
    vals, valid = _ns(col)
    return pa.array(vals / 1e9, pa.float64(), mask=~valid)


def _iso_texts(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Timestamps as ISO 8601 UTC with nanoseconds: 2024-05-01T12:00:00.123456789Z."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    ts = pc.cast(pc.cast(arr, pa.int64()), pa.timestamp("ns", tz="UTC"))
    # Arrow's %S carries the fraction for ns timestamps.
    return pc.binary_join_element_wise(pc.strftime(ts, format="%Y-%m-%dT%H:%M:%S"), pa.scalar("Z"), "")


def _duration_texts(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    vals, valid = _ns(col)
    return pa.array([_secs_text(int(v)) if ok else None for v, ok in zip(vals, valid)], pa.string())


def _secs_text(ns: int) -> str:
    sign = "-" if ns < 0 else ""
    s, frac = divmod(abs(ns), 1_000_000_000)
    return f"{sign}{s}.{frac:09d}"


def _list_texts(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    return pa.array([None if v is None else " ".join("" if x is None else str(x) for x in v)
                     for v in col.to_pylist()], pa.string())


def _is_list(t: pa.DataType) -> bool:
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t))


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


# -- CSV --------------------------------------------------------------------------------

def defuse_formulas(arr: pa.Array) -> pa.Array:
    """Text cells that start like a formula, with ``'`` in front."""
    risky = pc.match_substring_regex(arr, r"^[=+\-@\t\r]")
    return pc.if_else(pc.fill_null(risky, False), pc.binary_join_element_wise(pa.scalar("'"), arr, ""), arr)


def csv_ready(tbl: pa.Table) -> pa.Table:
    """``tbl`` with every column as CSV shows it (see the module's table), text defused."""
    cols: list[pa.Array] = []
    for f in tbl.schema:
        col = tbl[f.name].combine_chunks()
        if pa.types.is_timestamp(f.type):
            col = _iso_texts(col)
        elif pa.types.is_duration(f.type):
            col = _duration_texts(col)
        elif _is_list(f.type):
            col = _list_texts(col)
        elif pa.types.is_dictionary(f.type):
            col = pc.cast(col, pa.string())
        if _is_text(col.type):
            col = defuse_formulas(col)
        cols.append(col)
    return pa.table(cols, names=tbl.column_names)


def _csv_bytes(tbl: pa.Table, sink: Any) -> None:
    pacsv.write_csv(csv_ready(tbl), sink, pacsv.WriteOptions(quoting_style="needed"))


def _write_csv(tables: dict[str, pa.Table], out: str | Path | IO[bytes], as_zip: bool | None) -> None:
    if as_zip is None:
        name = str(out) if isinstance(out, (str, Path)) else getattr(out, "name", "")
        as_zip = str(name).lower().endswith(".zip")
    if len(tables) > 1 and not as_zip:
        raise ExportError(f"CSV holds one table and {len(tables)} views were asked for: "
                          "name a .zip output (or ask for a zip) to get one CSV file per view")
    if not as_zip:
        ((_, tbl),) = tables.items()
        if isinstance(out, (str, Path)):
            with open(out, "wb") as f:
                _csv_bytes(tbl, f)
        else:
            _csv_bytes(tbl, out)
        return
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for view, tbl in tables.items():
            buf = io.BytesIO()
            _csv_bytes(tbl, buf)
            z.writestr(f"{_file_name(view)}.csv", buf.getvalue())


def _file_name(view: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", view) or "view"


# -- XML --------------------------------------------------------------------------------

_NOT_XML = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""What XML 1.0 cannot carry, and the C1 controls (DEL to U+009F) it advises against."""


def _not_xml(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def xml_text(s: str) -> str:
    """``s`` as XML 1.0 character data: escaped, and any character XML
    cannot carry written as ``\\xHH`` / ``\\uHHHH`` text."""
    s = _NOT_XML.sub(_not_xml, s)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def xml_attr(s: str) -> str:
    """``s`` as a double-quoted XML attribute value (whitespace kept as character references)."""
    return xml_text(s).replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;")


def _xml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("NaN" if math.isnan(v) else ("INF" if v > 0 else "-INF"))
    return xml_text(str(v))


def _xml_columns(tbl: pa.Table) -> list[list[Any]]:
    """Each column of ``tbl`` as Python values ready for XML (times as text, lists as lists)."""
    out: list[list[Any]] = []
    for f in tbl.schema:
        col = tbl[f.name]
        if pa.types.is_timestamp(f.type):
            out.append(_iso_texts(col).to_pylist())
        elif pa.types.is_duration(f.type):
            out.append(_duration_texts(col).to_pylist())
        else:
            out.append(col.to_pylist())
    return out


def write_xml(tables: dict[str, pa.Table], f: IO[bytes]) -> None:
    """``<tracedoc><view name=".."><meta name="..">..</meta><row><col name="..">..</col>...``;
    a null cell has no ``<col>``; a list cell holds one ``<item>`` per element."""
    f.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<tracedoc version="1">\n')
    for view, tbl in tables.items():
        f.write(f'<view name="{xml_attr(view)}" rows="{tbl.num_rows}">\n'.encode())
        for k, v in table_meta(tbl).items():
            if k != "view":
                f.write(f'<meta name="{xml_attr(k)}">{xml_text(v)}</meta>\n'.encode())
        heads = [f' name="{xml_attr(n)}"' for n in tbl.column_names]
        for chunk in _chunks(tbl):
            cols = _xml_columns(chunk)
            parts: list[str] = []
            for row in zip(*cols):
                parts.append("<row>")
                for head, v in zip(heads, row):
                    if v is None:
                        continue
                    if isinstance(v, list):
                        items = "".join("<item/>" if x is None else f"<item>{_xml_value(x)}</item>" for x in v)
                        parts.append(f"<col{head}>{items}</col>")
                    else:
                        parts.append(f"<col{head}>{_xml_value(v)}</col>")
                parts.append("</row>\n")
            f.write("".join(parts).encode("utf-8"))
        f.write(b"</view>\n")
    f.write(b"</tracedoc>\n")


# -- JSON -------------------------------------------------------------------------------

def json_ready(tbl: pa.Table) -> pa.Table:
    """``tbl`` with times and durations as float seconds (as the CLI's JSON)."""
    for i, f in enumerate(tbl.schema):
        if pa.types.is_timestamp(f.type) or pa.types.is_duration(f.type):
            tbl = tbl.set_column(i, f.name, _seconds_array(tbl[f.name]))
    return tbl


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, list):
        return [_finite(x) for x in v]
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    return v


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(_finite(obj), ensure_ascii=False, allow_nan=False).encode("utf-8", "backslashreplace")


def write_json(tables: dict[str, pa.Table], f: IO[bytes]) -> None:
    """``{"VIEW": {"meta": {...}, "rows": [{column: value, ...}, ...]}, ...}``,
    streamed row by row."""
    f.write(b"{")
    for n, (view, tbl) in enumerate(tables.items()):
        meta = {k: v for k, v in table_meta(tbl).items() if k != "view"}
        f.write(b"," if n else b"")
        f.write(b"\n" + _json_bytes(view) + b': {"meta": ' + _json_bytes(meta) + b', "rows": [')
        first = True
        for chunk in _chunks(json_ready(tbl)):
            rows = chunk.to_pylist()
            if rows:
                f.write((b"" if first else b",") + b"\n" + b",\n".join(_json_bytes(r) for r in rows))
                first = False
        f.write(b"\n]}")
    f.write(b"\n}\n")


# -- xlsx -------------------------------------------------------------------------------

def _sheet_names(views: list[str], parts: list[int]) -> list[list[str]]:
    """Sheet names per view (one per part of ``XLSX_MAX_ROWS`` rows): Excel's
    rules (at most 31 characters, none of ``[]:*?/\\``, unique ignoring case)."""
    used: set[str] = set()
    out: list[list[str]] = []
    for view, n in zip(views, parts):
        base = re.sub(r"[\[\]:*?/\\]", "_", view).strip("'") or "view"
        names = []
        for p in range(n):
            suffix = f" ({p + 1})" if p else ""
            name = base[: 31 - len(suffix)] + suffix
            k = 2
            while name.lower() in used:
                tag = f"~{k}"
                name = base[: 31 - len(suffix) - len(tag)] + tag + suffix
                k += 1
            used.add(name.lower())
            names.append(name)
        out.append(names)
    return out


def _xlsx_width(texts: list[str], head: str) -> float:
    """A column width (in characters) that fits the header (and its filter
    button) and most cells, within 8..60."""
    longest = max((len(t) for t in texts), default=0)
    return float(min(60, max(8, len(head) + 3, longest + 2)))


def _cell_text(s: str) -> str:
    return s if len(s) <= XLSX_MAX_CELL else s[: XLSX_MAX_CELL - 1] + "\u2026"


def _write_xlsx(tables: dict[str, pa.Table], out: str | Path | IO[bytes], zone: str | None) -> None:
    from zoneinfo import ZoneInfo

    import xlsxwriter

    if zone is None:
        from tracedoc.cli.render import local_zone

        zone = local_zone()
    tz = ZoneInfo(zone)
    to_path = isinstance(out, (str, Path))
    wb = xlsxwriter.Workbook(str(out) if to_path else out, {
        # Rows go to temporary files as written, so a big Packet Summary
        # fits in memory (a file object is built in memory instead).
        "constant_memory": to_path,
        "in_memory": not to_path,
        "strings_to_formulas": False,  # trace text is never a formula,
        "strings_to_urls": False,      # nor a link,
        "strings_to_numbers": False,   # nor a number
    })
    wb.set_properties({"title": "tracedoc export", "comments": f"Times are in the time zone {zone}.",
                       "subject": ", ".join(tables)})
    head_fmt = wb.add_format({"bold": True, "bg_color": "#DDE5F0", "bottom": 1, "text_wrap": False})
    time_fmt = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss.000"})
    secs_fmt = wb.add_format({"num_format": "0.000000"})
    views = list(tables)
    parts = [max(1, -(-tables[v].num_rows // XLSX_MAX_ROWS)) for v in views]
    for view, names in zip(views, _sheet_names(views, parts)):
        tbl = tables[view]
        for p, sheet_name in enumerate(names):
            _xlsx_sheet(wb, sheet_name, tbl.slice(p * XLSX_MAX_ROWS, XLSX_MAX_ROWS), tz,
                        head_fmt, time_fmt, secs_fmt)
    wb.close()


def _xlsx_sheet(wb: Any, name: str, tbl: pa.Table, tz: Any, head_fmt: Any, time_fmt: Any, secs_fmt: Any) -> None:
    ws = wb.add_worksheet(name)
    heads = tbl.column_names
    kinds = []
    for f in tbl.schema:
        t = f.type
        kind = ("time" if pa.types.is_timestamp(t) else "secs" if pa.types.is_duration(t)
                else "list" if _is_list(t) else "bool" if pa.types.is_boolean(t)
                else "int" if pa.types.is_integer(t) else "float" if pa.types.is_floating(t) else "text")
        kinds.append(kind)
    # Widths from the header and the first rows' texts.
    sample = tbl.slice(0, 2000)
    for c, (head, kind) in enumerate(zip(heads, kinds)):
        if kind == "time":
            width = max(25.0, len(head) + 3.0)
        else:
            vals = sample[head].to_pylist()
            texts = [" ".join(map(str, v)) if isinstance(v, list) else ("" if v is None else str(v)) for v in vals]
            width = _xlsx_width(texts, head)
        ws.set_column(c, c, width, time_fmt if kind == "time" else secs_fmt if kind == "secs" else None)
    for c, head in enumerate(heads):
        ws.write_string(0, c, head, head_fmt)
    ws.freeze_panes(1, 0)
    if heads:
        ws.autofilter(0, 0, max(tbl.num_rows, 1), len(heads) - 1)
    row = 1
    for chunk in _chunks(tbl):
        cols: list[list[Any]] = []
        for head, kind in zip(heads, kinds):
            col = chunk[head]
            if kind == "time":
                vals, valid = _ns(col)
                cols.append([_excel_time(int(v), tz) if ok else None for v, ok in zip(vals, valid)])
            elif kind == "secs":
                cols.append(_seconds_array(col).to_pylist())
            else:
                cols.append(col.to_pylist())
        for values in zip(*cols):
            for c, (v, kind) in enumerate(zip(values, kinds)):
                if v is None:
                    continue
                if kind == "time":
                    if v.year < 1900:       # before Excel's calendar (a clock never set): as text
                        ws.write_string(row, c, v.isoformat(sep=" "))
                    else:
                        ws.write_datetime(row, c, v, time_fmt)
                elif kind == "secs":
                    ws.write_number(row, c, v, secs_fmt)
                elif kind == "bool":
                    ws.write_boolean(row, c, v)
                elif kind in ("int", "float"):
                    if isinstance(v, float) and not math.isfinite(v):
                        ws.write_string(row, c, str(v))
                    elif kind == "int" and abs(v) >= EXACT_INT:
                        ws.write_string(row, c, str(v))
                    else:
                        ws.write_number(row, c, v)
                elif kind == "list":
                    ws.write_string(row, c, _cell_text(" ".join("" if x is None else str(x) for x in v)))
                else:
                    ws.write_string(row, c, _cell_text(v if isinstance(v, str) else str(v)))
            row += 1


def _excel_time(ns: int, tz: Any) -> dt.datetime:
    """Epoch ns as a naive date-time on the wall clock of ``tz`` (Excel has no zones)."""
    secs, rest = divmod(ns, 1_000_000_000)
    t = dt.datetime.fromtimestamp(secs, tz=dt.timezone.utc).astimezone(tz)
    return t.replace(tzinfo=None, microsecond=rest // 1000)
