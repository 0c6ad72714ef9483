"""Rendering tables for the terminal, CSV and JSON."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tracedoc.analyze.summary import LocalSide

PAGE = 2000


def write_csv(tbl: pa.Table) -> None:
    """``tbl`` as CSV on stdout (strings quoted where needed)."""
    sys.stdout.flush()
    pacsv.write_csv(tbl, sys.stdout.buffer, pacsv.WriteOptions(quoting_style="needed"))
    sys.stdout.buffer.flush()


def write_json(obj: object) -> None:
    """``obj`` as indented JSON on stdout."""
    json.dump(obj, sys.stdout, indent=1)
    sys.stdout.write("\n")


def console(stderr: bool = False):  # type: ignore[no-untyped-def]
    """The terminal console every view prints with: no emoji codes (``:100:``
    in an IPv6 address is not 💯), no highlighting, and piped output never
    cut to a terminal's width."""
    from rich.console import Console

    out = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, emoji=False, width=None if out.isatty() else 400)


_CONTROL = {c: f"\\x{c:02x}" for c in range(32)} | {10: "\\n", 13: "\\r", 9: "\\t", 127: "\\x7f"}


def write_table(heads: list[str], rows: Sequence[Sequence[object]], right: set[str] | frozenset[str] = frozenset(),
                out=None) -> None:  # type: ignore[no-untyped-def]
    """Rows as aligned text columns, two spaces apart, header first.

    Plain text rather than rich: a million-row Packet Summary takes seconds
    this way, minutes through rich.  Control characters from the trace are
    shown escaped (``\\n``), so one packet stays one line.
    """
    out = out or sys.stdout
    texts = [[("" if v is None else str(v).translate(_CONTROL)) for v in r] for r in rows]
    widths = [len(h) for h in heads]
    for i, col in enumerate(zip(*texts)) if texts else ():
        widths[i] = max(widths[i], max(map(len, col)))
    align = [str.rjust if h in right else str.ljust for h in heads]

    def line(vals: list[str]) -> str:
        return "  ".join(a(v, w) for a, v, w in zip(align, vals, widths)).rstrip() + "\n"

    out.write(line(heads))
    for start in range(0, len(texts), PAGE):
        out.write("".join(line(r) for r in texts[start:start + PAGE]))
    out.flush()


def cells(values) -> list:  # type: ignore[no-untyped-def]
    """Table cells shown exactly as given: trace contents (names, comments,
    messages) may hold ``[...]`` that rich would otherwise read as markup."""
    from rich.text import Text

    return [Text("" if v is None else str(v)) for v in values]


def local_zone() -> str:
    """The IANA name of the local time zone (TZ, else /etc/localtime), or UTC."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and "/" in tz or tz == "UTC":
        return tz
    real = os.path.realpath("/etc/localtime")
    if "zoneinfo/" in real:
        return real.split("zoneinfo/", 1)[1]
    return "UTC"


def timestamp_texts(ns: pa.Array, zone: str) -> pa.Array:
    """HH:MM:SS.ffffff in ``zone`` for every epoch-ns value."""
    ts = pc.cast(ns, pa.int64()).cast(pa.timestamp("ns", tz=zone))
    return pc.utf8_slice_codeunits(pc.strftime(ts, format="%H:%M:%S"), 0, 15)


def render_summary(rows: pa.Table, side: LocalSide, fmt: str) -> None:
    if fmt == "json":
        ns = rows["Timestamp"].combine_chunks()
        secs = pa.array(ns.fill_null(0).to_numpy(zero_copy_only=False) / 1e9, mask=ns.is_null().to_numpy(zero_copy_only=False))
        out = rows.set_column(rows.schema.get_field_index("Timestamp"), "Timestamp", secs)
        write_json({"local": side.describe(), "packets": out.to_pylist()})
        return
    zone = local_zone()
    texts = rows.set_column(rows.schema.get_field_index("Timestamp"), "Timestamp",
                            timestamp_texts(rows["Timestamp"].combine_chunks(), zone))
    if fmt == "csv":
        write_csv(texts)
        return
    con = console()
    first = rows["Timestamp"][0].as_py() if rows.num_rows else None
    day = ""
    if first is not None:
        day = pc.strftime(pa.array([first]).cast(pa.timestamp("ns", tz=zone)), format="%Y-%m-%d")[0].as_py()
        day = f"{day} {zone}"
    con.print(f"[bold]Packet Summary[/bold]  {rows.num_rows:,} packets  {side.describe()}"
              + (f"  times: {day}" if day else ""))
    numeric = {"ID", "Datagram Size", "Seq. Number", "Ack. Number", "Window Size"}
    write_table(texts.column_names, table_rows(texts), numeric)


def table_rows(tbl: pa.Table) -> list[list]:
    """The rows of ``tbl`` as lists of values, column by column (fast)."""
    cols = [tbl[c].to_pylist() for c in tbl.column_names]
    return [list(r) for r in zip(*cols)]
