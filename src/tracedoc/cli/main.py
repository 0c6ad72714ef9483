"""The ``tracedoc`` command."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import click
import pyarrow as pa

from tracedoc.errors import TracedocError

EXIT_TRACE_ERROR = 1
EXIT_INTERNAL = 3


class _Group(click.Group):
    """Turns every tracedoc error into one line on stderr and an exit code,
    never a traceback (set TRACEDOC_DEBUG=1 to see one)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TracedocError as e:
            click.echo(f"tracedoc: error: {e}", err=True)
            sys.exit(EXIT_TRACE_ERROR)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except BrokenPipeError:
            # `tracedoc fields big.pcap | head`: the reader went away.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except Exception as e:  # anything else is a bug: say so in one line
            if os.environ.get("TRACEDOC_DEBUG"):
                raise
            click.echo(f"tracedoc: internal error: {type(e).__name__}: {e} "
                       f"(please report it; TRACEDOC_DEBUG=1 shows the traceback)", err=True)
            sys.exit(EXIT_INTERNAL)


@click.group(cls=_Group)
@click.version_option(package_name="tracedoc")
def main() -> None:
    """Diagnose network problems from packet traces."""
    from tracedoc import _malloc

    _malloc.tune()


def _progress(enabled: bool):  # type: ignore[no-untyped-def]
    """A rich progress bar on stderr for long reads (only on a terminal)."""
    from contextlib import nullcontext

    if not enabled or not sys.stderr.isatty():
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("reading"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), transient=True)


def _iter_with_progress(trace, bar, columns: list[str] | None = None,  # type: ignore[no-untyped-def]
                        skip_opaque: bool = False) -> Iterator[pa.RecordBatch]:
    if bar is None:
        yield from trace.iter_packets(columns=columns, skip_opaque=skip_opaque)
        return
    task = bar.add_task("read", total=trace.info.file_size or None)

    def cb(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total or None)

    yield from trace.iter_packets(cb, columns=columns, skip_opaque=skip_opaque)


def load_table(trace, columns: list[str] | None = None, flt=None,  # type: ignore[no-untyped-def]
               skip_opaque: bool = False) -> pa.Table:
    """The packet table of ``trace``, read with a progress bar: ``columns``
    and the ones filter ``flt`` reads, or every column when ``columns`` is None
    (``skip_opaque``: see :class:`~tracedoc.decode.app.AppDecoder`)."""
    from tracedoc.analyze.derived import Packets

    if columns is not None and flt is not None:
        columns = list(dict.fromkeys(columns + flt.columns))
    with _progress(True) as bar:
        batches = list(_iter_with_progress(trace, bar, columns, skip_opaque))
    return pa.Table.from_batches(batches, schema=Packets(columns).schema)


def _finish(trace) -> None:  # type: ignore[no-untyped-def]
    """Report damage found while reading; exit non-zero if there was any."""
    if trace.info.errors:
        for e in trace.info.errors:
            click.echo(f"tracedoc: error: {trace.path}: {e}", err=True)
        sys.exit(EXIT_TRACE_ERROR)


# -- info -------------------------------------------------------------------

def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    t = dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 1_000_000_000:09d}Z"


@main.command()
@click.argument("file", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the facts as one JSON object.")
def info(file: str, as_json: bool) -> None:
    """Facts about a trace file, like capinfos."""
    import numpy as np
    import pyarrow.compute as pc

    import tracedoc
    from tracedoc.read.linktypes import linktype_name

    trace = tracedoc.open(file)
    packets = 0
    nbytes = 0
    first = last = None
    malformed = 0
    cut_short = 0
    anomaly_kinds: dict[str, int] = {}
    linktypes: dict[int, int] = {}
    comments = 0
    with _progress(True) as bar:
        for b in _iter_with_progress(trace, bar):
            n = b.num_rows
            if n == 0:
                continue
            packets += n
            ts = b.column("frame.time_epoch").to_numpy()
            lo, hi = int(ts.min()), int(ts.max())
            first = lo if first is None else min(first, lo)
            last = hi if last is None else max(last, hi)
            nbytes += int(pc.sum(b.column("frame.len")).as_py() or 0)
            lt = b.column("frame.linktype").to_numpy()
            for v, c in zip(*np.unique(lt, return_counts=True)):
                linktypes[int(v)] = linktypes.get(int(v), 0) + int(c)
            mal = b.column("_ws.malformed")
            # A header the capture cut short (snaplen, abbreviated or
            # header-only records) is not malformed: Wireshark says "packet
            # size limited during capture" for those.
            cut = pc.less(b.column("frame.cap_len"), b.column("frame.len"))
            anomalous = pc.is_valid(mal)
            cut_short += int(pc.sum(pc.and_(anomalous, cut)).as_py() or 0)
            malformed += int(pc.sum(pc.and_(anomalous, pc.invert(cut))).as_py() or 0)
            if mal.null_count < n:
                for s in mal.drop_null().to_pylist():
                    kind = s.rsplit(" (offset", 1)[0]
                    anomaly_kinds[kind] = anomaly_kinds.get(kind, 0) + 1
            comments += n - b.column("frame.comment").null_count
    inf = trace.info
    duration = (last - first) / 1e9 if first is not None and last is not None else None
    facts: dict[str, Any] = {
        "file": trace.path,
        "format": inf.format,
        "compression": inf.compression,
        "byte_order": inf.byte_order,
        "version": inf.version,
        "file_size": inf.file_size,
        "sections": inf.sections,
        "packets": packets,
        "bytes": nbytes,
        "link_types": [{"linktype": k, "name": linktype_name(k), "packets": v} for k, v in sorted(linktypes.items())],
        "interfaces": [i.to_json() for i in inf.interfaces],
        "first_time": _iso(first),
        "last_time": _iso(last),
        "duration": duration,
        "comments": inf.comments,
        "packet_comments": comments,
        "blocks": inf.blocks,
        "malformed_packets": malformed,
        "cut_short_packets": cut_short,
        "anomalies": anomaly_kinds,
        "errors": [str(e) for e in inf.errors],
        "warnings": inf.warnings,
        **inf.extra,
    }
    if as_json:
        click.echo(json.dumps(facts, indent=2))
    else:
        _print_info(facts)
    _finish(trace)


# Format-specific facts readers put in TraceInfo.extra, with their labels.
_EXTRA_LABELS = {
    "system": "z/OS system",
    "trace_options": "Trace options",
    "component": "CTRACE component",
    "sniffer_version": "Sniffer version",
    "sniffer_network": "Sniffer network",
    "sniffer_compressed": "Sniffer compressed",
}


def _print_info(f: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    from tracedoc.cli.render import console

    con = console()
    t = Table(show_header=False, box=None)
    t.add_column(style="bold")
    t.add_column()

    def row(label: str, value: str) -> None:
        t.add_row(Text(label), Text(value))  # names and comments come from the file: no markup
    comp = f" ({f['compression']}-compressed)" if f["compression"] else ""
    row("File", f["file"])
    fmt = f"{f['format']}{comp}"
    if f["version"]:
        fmt += f", version {f['version']}"
    if f["byte_order"]:
        fmt += f", {f['byte_order']}-endian"
    row("Format", fmt)
    row("File size", f"{f['file_size']:,} bytes")
    if f["sections"] > 1:
        row("Sections", str(f["sections"]))
    for i in f["interfaces"]:
        name = f" {i['name']}" if i.get("name") else ""
        row(f"Interface {i['id']}{name}", f"{i['linktype_name']} ({i['linktype']}), snaplen {i['snaplen']}")
    row("Packets", f"{f['packets']:,}")
    row("Bytes on the wire", f"{f['bytes']:,}")
    row("First packet", str(f["first_time"]))
    row("Last packet", str(f["last_time"]))
    if f["duration"] is not None:
        row("Duration", f"{f['duration']:.6f} s")
    for c in f["comments"]:
        row("Comment", c)
    if f["packet_comments"]:
        row("Packet comments", str(f["packet_comments"]))
    if f["blocks"]:
        row("Blocks", ", ".join(f"{k} {v}" for k, v in sorted(f["blocks"].items())))
    for k, v in f.items():
        if k in _EXTRA_LABELS:
            row(_EXTRA_LABELS[k], v if isinstance(v, str) else json.dumps(v))
    row("Malformed packets", str(f["malformed_packets"]))
    if f["cut_short_packets"]:
        row("Headers cut short", f"{f['cut_short_packets']} (packet size limited during capture)")
    for k, v in sorted(f["anomalies"].items(), key=lambda kv: -kv[1]):
        row("", f"{v} x {k}")
    for e in f["errors"]:
        t.add_row(Text("Damage", style="red"), Text(str(e), style="red"))
    con.print(t)


# -- display filters (-Y) ------------------------------------------------------

def _display_filter(text: str | None):  # type: ignore[no-untyped-def]
    """Compile ``-Y FILTER``; a bad filter is shown with a caret under the fault."""
    if text is None:
        return None
    from tracedoc.errors import FilterSyntaxError
    from tracedoc.filter import caret_lines, compile_filter

    try:
        return compile_filter(text)
    except FilterSyntaxError as e:
        click.echo(f"tracedoc: error: display filter: {e}", err=True)
        for line in caret_lines(e):
            click.echo(f"tracedoc: error:   {line}", err=True)
        sys.exit(EXIT_TRACE_ERROR)


def _filtered(batches: Iterator[pa.RecordBatch], flt) -> Iterator[pa.RecordBatch]:  # type: ignore[no-untyped-def]
    """The frames ``flt`` selects (frame.number keeps the original numbers)."""
    for b in batches:
        yield flt.apply(b)


# -- fields -----------------------------------------------------------------

@main.command()
@click.argument("file", type=click.Path())
@click.option("-e", "fields", multiple=True, required=True, metavar="FIELD",
              help="Field to print (Wireshark name); repeat for more.")
@click.option("-E", "options", multiple=True, metavar="OPT=VAL",
              help="header=y|n, separator=/t|/s|C, quote=d|s|n, occurrence=f|l|a, aggregator=C")
@click.option("-Y", "--display-filter", "display_filter", metavar="FILTER",
              help="Print only the frames this Wireshark display filter selects.")
def fields(file: str, fields: tuple[str, ...], options: tuple[str, ...], display_filter: str | None) -> None:
    """Print fields, one line per frame, as `tshark -T fields` does."""
    import tracedoc
    from tracedoc.cli.fields_cmd import (PARALLEL_MIN_BYTES, check_fields, needed_columns, parse_options,
                                         stdout_binary, write_fields, write_fields_parallel)

    names = list(fields)
    check_fields(names)
    opts = parse_options(options)
    flt = _display_filter(display_filter)
    columns = needed_columns(names)
    if flt is not None:
        columns = list(dict.fromkeys(columns + flt.columns))
    trace = tracedoc.open(file)
    out = stdout_binary()
    parallel = (os.cpu_count() or 1) > 1 and trace.info.file_size >= PARALLEL_MIN_BYTES
    writer = write_fields_parallel if parallel else write_fields
    with _progress(True) as bar:
        batches = _iter_with_progress(trace, bar, columns)
        if flt is not None:
            batches = _filtered(batches, flt)
        writer(batches, names, opts, out)
    out.flush()
    _finish(trace)


# -- summary ----------------------------------------------------------------

def check_local(local: str | None) -> None:
    """``--local CIDR`` must be an address or network."""
    if local:
        import ipaddress

        try:
            ipaddress.ip_network(local, strict=False)
        except ValueError:
            raise click.BadParameter(f"'{local}' is not an IP address or network", param_hint="--local")


@main.command()
@click.argument("file", type=click.Path())
@click.option("--local", "local", metavar="CIDR", help="The local side (address or network).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--limit", type=int, default=None, help="Show at most N packets.")
@click.option("-Y", "--display-filter", "display_filter", metavar="FILTER",
              help="Show only the packets this Wireshark display filter selects.")
def summary(file: str, local: str | None, fmt: str, limit: int | None, display_filter: str | None) -> None:
    """The Packet Summary: one line per packet, oriented to the local side."""
    import tracedoc
    from tracedoc.analyze.summary import infer_local, summary as build
    from tracedoc.cli.render import render_summary

    check_local(local)
    flt = _display_filter(display_filter)
    trace = tracedoc.open(file)
    tbl = load_table(trace)
    full = tbl
    if flt is not None:
        tbl = tbl.filter(pa.array(flt(tbl)))
    if limit is not None:
        tbl = tbl.slice(0, max(limit, 0))
    # The local side is inferred from every packet, not only the shown ones.
    side = infer_local(full if flt is not None else tbl, local)
    rows = build(tbl, side)
    render_summary(rows, side, fmt)
    _finish(trace)


# -- details ----------------------------------------------------------------

@main.command()
@click.argument("file", type=click.Path())
@click.option("-n", "frames", multiple=True, metavar="N|N-M",
              help="Frame number or range (5-9); repeat for more.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per frame (JSON Lines).")
@click.option("--hex", "as_hex", is_flag=True,
              help="Add the Hex Decode: offset, hex, ASCII (and EBCDIC for z/OS traces).")
@click.option("-Y", "--display-filter", "display_filter", metavar="FILTER",
              help="Show the frames this Wireshark display filter selects (with -n: those of the named frames).")
def details(file: str, frames: tuple[str, ...], as_json: bool, as_hex: bool, display_filter: str | None) -> None:
    """Packet Details (and Hex Decode) of chosen frames."""
    import tracedoc
    from tracedoc.cli.details_cmd import run as run_details

    if not frames and display_filter is None:
        raise click.UsageError("name the frames: -n N (or N-M), or -Y FILTER")
    flt = _display_filter(display_filter)
    trace = tracedoc.open(file)
    with _progress(True) as bar:
        cb = None
        if bar is not None:
            task = bar.add_task("read", total=trace.info.file_size or None)

            def cb(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total or None)
        notes = run_details(trace, frames, flt, as_json, as_hex, cb)
    for note in notes:
        click.echo(f"tracedoc: note: {note}", err=True)
    _finish(trace)


# -- analysis views (one module each) ---------------------------------------------

from tracedoc.cli.sequence_cmd import sequence  # noqa: E402
from tracedoc.cli.diagnose_cmd import diagnose  # noqa: E402
from tracedoc.cli.hosts_cmd import hosts  # noqa: E402
from tracedoc.cli.sessions_cmd import sessions  # noqa: E402
from tracedoc.cli.times_cmd import response_times  # noqa: E402
from tracedoc.cli.store_cmd import add, annotate, check, list_traces  # noqa: E402
from tracedoc.cli.export_cmd import export, report  # noqa: E402
from tracedoc.cli.serve_cmd import serve  # noqa: E402

main.add_command(sessions)
main.add_command(sequence)
main.add_command(response_times)
main.add_command(hosts)
main.add_command(diagnose)
main.add_command(add)
main.add_command(list_traces)
main.add_command(annotate)
main.add_command(check)
main.add_command(export)
main.add_command(report)
main.add_command(serve)

if __name__ == "__main__":
    main()
