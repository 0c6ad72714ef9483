"""Rendering tables for the terminal, CSV and JSON."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys

import pyarrow as pa

from tracedoc.analyze.summary import LocalSide

PAGE = 2000


def timestamp_text(ns: int, tz: dt.tzinfo | None = None) -> str:
    t = dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=tz or dt.timezone.utc)
    return t.strftime("%H:%M:%S") + f".{(ns % 1_000_000_000) // 1000:06d}"


def _local_tz() -> dt.tzinfo:
    return dt.datetime.now().astimezone().tzinfo or dt.timezone.utc


def render_summary(rows: pa.Table, side: LocalSide, fmt: str) -> None:
    tz = _local_tz()
    if fmt == "json":
        out = []
        for r in rows.to_pylist():
            r["Timestamp"] = r["Timestamp"] / 1e9 if r["Timestamp"] is not None else None
            out.append(r)
        json.dump({"local": side.describe(), "packets": out}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    if fmt == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(rows.column_names)
        for start in range(0, rows.num_rows, PAGE):
            for r in rows.slice(start, PAGE).to_pylist():
                r["Timestamp"] = timestamp_text(r["Timestamp"], tz)
                w.writerow(["" if v is None else v for v in r.values()])
        return
    from rich.console import Console
    from rich.table import Table

    # Piped output is never cut to a terminal's width.
    con = Console(highlight=False, width=None if sys.stdout.isatty() else 400)
    first = rows["Timestamp"][0].as_py() if rows.num_rows else None
    day = dt.datetime.fromtimestamp(first // 10**9, tz=tz).strftime("%Y-%m-%d %Z") if first else ""
    con.print(f"[bold]Packet Summary[/bold]  {rows.num_rows:,} packets  {side.describe()}"
              + (f"  times: {day}" if day else ""))
    numeric = {"ID", "Datagram Size", "Seq. Number", "Ack. Number", "Window Size"}
    for start in range(0, max(rows.num_rows, 1), PAGE):
        t = Table(box=None, show_header=(start == 0), pad_edge=False, header_style="bold")
        for c in rows.column_names:
            t.add_column(c, justify="right" if c in numeric else "left", no_wrap=c != "Messages")
        for r in rows.slice(start, PAGE).to_pylist():
            r["Timestamp"] = timestamp_text(r["Timestamp"], tz)
            t.add_row(*["" if v is None else str(v) for v in r.values()])
        con.print(t)
