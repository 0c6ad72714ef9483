"""``tracedoc sequence``: the Sequence of Execution of one session, or of
every packet between two endpoints, as a table and as an SVG ladder."""

from __future__ import annotations

import click
import numpy as np
import pyarrow as pa

from tracedoc.cli.render import write_csv, write_json


@click.command("sequence")
@click.argument("file", type=click.Path())
@click.option("--session", "sid", type=int, metavar="SID", help="The session (SID from `tracedoc sessions`).")
@click.option("--between", "ends", nargs=2, metavar="A B",
              help="Every packet between two endpoints: ADDRESS or ADDRESS:PORT ([v6]:port).")
@click.option("--relative", is_flag=True, help="Sequence and acknowledgment numbers relative to each ISN.")
@click.option("--svg", "svg_out", type=click.Path(dir_okay=False, writable=True), metavar="OUT",
              help="Also draw the ladder diagram to OUT (SVG).")
@click.option("--local", "local", metavar="CIDR", help="The local side (address or network).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("-Y", "--display-filter", "display_filter", metavar="FILTER",
              help="Keep only the packets this Wireshark display filter selects.")
def sequence(file: str, sid: int | None, ends: tuple[str, str] | None, relative: bool, svg_out: str | None,
             local: str | None, fmt: str, display_filter: str | None) -> None:
    """The Sequence of Execution: a session's packets step by step (the seed's ladder)."""
    import tracedoc
    from tracedoc.analyze.sequence import Endpoint, between
    from tracedoc.analyze.sequence import sequence as build
    from tracedoc.analyze.sessions import build_sessions
    from tracedoc.analyze.summary import infer_local
    from tracedoc.cli.main import _display_filter, _finish, check_local, load_table

    if (sid is None) == (not ends):
        raise click.UsageError("give either --session SID or --between A B")
    endpoints = None
    if ends:
        try:
            endpoints = (Endpoint.parse(ends[0]), Endpoint.parse(ends[1]))
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--between")
    check_local(local)
    flt = _display_filter(display_filter)
    trace = tracedoc.open(file)
    tbl = load_table(trace)
    side = infer_local(tbl, local)
    sessions = build_sessions(tbl, side)
    if endpoints is not None:
        select = between(tbl, *endpoints)
    else:
        if sid is None or not 1 <= sid <= sessions.table.num_rows:
            raise click.BadParameter(f"no session {sid} (the trace has {sessions.table.num_rows})",
                                     param_hint="--session")
        select = sessions.sid == sid
    if flt is not None:
        select &= np.asarray(flt(tbl), dtype=bool)
    count = len(np.unique(sessions.sid[select & (sessions.sid > 0)]))
    seq = build(tbl, side, select, relative, count)
    _render(seq, fmt)
    if svg_out:
        from tracedoc.cli.render import local_zone, timestamp_texts
        from tracedoc.export.ladder import ladder_svg

        svg = ladder_svg(seq, timestamp_texts(seq.rows["Timestamp"].combine_chunks(), local_zone()))
        with open(svg_out, "w", encoding="utf-8") as f:
            f.write(svg)
        click.echo(f"ladder: {seq.rows.num_rows} packets drawn to {svg_out}", err=True)
    _finish(trace)


def _seconds(ns: pa.Array) -> pa.Array:
    """Nanoseconds as float seconds (epoch times exceed float's exact integers, hence numpy)."""
    vals = np.asarray(ns.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    return pa.array(vals / 1e9, mask=np.asarray(ns.is_null().to_numpy(zero_copy_only=False), dtype=bool))


def _elapsed_text(ns: pa.Array) -> pa.Array:
    """hh:mm:ss.tttt, as the seed shows elapsed times."""
    out: list[str | None] = []
    for v in ns.to_pylist():
        if v is None:
            out.append(None)
            continue
        t = v // 100_000  # ten-thousandths of a second
        s, frac = divmod(t, 10_000)
        h, rest = divmod(s, 3600)
        m, sec = divmod(rest, 60)
        out.append(f"{h:02d}:{m:02d}:{sec:02d}.{frac:04d}")
    return pa.array(out, type=pa.string())


def _render(seq, fmt: str) -> None:  # type: ignore[no-untyped-def]
    from tracedoc.cli.render import local_zone, timestamp_texts

    rows = seq.rows
    if fmt == "json":
        out = rows.set_column(1, "Timestamp", _seconds(rows["Timestamp"].combine_chunks()))
        out = out.set_column(2, "Elapsed", _seconds(rows["Elapsed"].combine_chunks()))
        write_json({"heading": seq.heading(), "packets": out.to_pylist()})
        return
    texts = rows.set_column(1, "Timestamp", timestamp_texts(rows["Timestamp"].combine_chunks(), local_zone()))
    texts = texts.set_column(2, "Elapsed", _elapsed_text(rows["Elapsed"].combine_chunks()))
    if fmt == "csv":
        write_csv(texts)
        return
    from rich.markup import escape

    from tracedoc.cli.render import console, table_rows, write_table

    console().print(f"[bold]Seq. of Execution[/bold]  {escape(seq.heading())}")
    write_table(texts.column_names, table_rows(texts), {"ID", "Datagram Size", "Seq. Number", "Ack. Number",
                                                        "Window Size"})
