"""Rendering tables for the terminal, CSV and JSON."""

from __future__ import annotations

import json
import os
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tracedoc.analyze.summary import LocalSide

PAGE = 2000


def console(stderr: bool = False):  # type: ignore[no-untyped-def]
    """The terminal console every view prints with: no emoji codes (``:100:``
    in an IPv6 address is not 💯), no highlighting, and piped output never
    cut to a terminal's width."""
    from rich.console import Console

    out = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, emoji=False, width=None if out.isatty() else 400)


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
        json.dump({"local": side.describe(), "packets": out.to_pylist()}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    zone = local_zone()
    texts = rows.set_column(rows.schema.get_field_index("Timestamp"), "Timestamp",
                            timestamp_texts(rows["Timestamp"].combine_chunks(), zone))
    if fmt == "csv":
        sys.stdout.flush()
        pacsv.write_csv(texts, sys.stdout.buffer, pacsv.WriteOptions(quoting_style="needed"))
        sys.stdout.buffer.flush()
        return
    from rich.table import Table

    con = console()
    first = rows["Timestamp"][0].as_py() if rows.num_rows else None
    day = ""
    if first is not None:
        day = pc.strftime(pa.array([first]).cast(pa.timestamp("ns", tz=zone)), format="%Y-%m-%d")[0].as_py()
        day = f"{day} {zone}"
    con.print(f"[bold]Packet Summary[/bold]  {rows.num_rows:,} packets  {side.describe()}"
              + (f"  times: {day}" if day else ""))
    numeric = {"ID", "Datagram Size", "Seq. Number", "Ack. Number", "Window Size"}
    for start in range(0, max(texts.num_rows, 1), PAGE):
        t = Table(box=None, show_header=(start == 0), pad_edge=False, header_style="bold")
        for c in texts.column_names:
            t.add_column(c, justify="right" if c in numeric else "left", no_wrap=c != "Messages")
        for r in texts.slice(start, PAGE).to_pylist():
            t.add_row(*cells(r.values()))
        con.print(t)
