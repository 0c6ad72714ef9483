"""``tracedoc response-times``: the Response Time Summary.

Transactions (see :mod:`tracedoc.analyze.transactions`) are found over the
whole trace; ``-Y FILTER`` then keeps those whose request or response frame
the filter selects, so a filter naming one side of an exchange (``dns.qry.name
contains "example"``, ``ip.addr == 10.0.0.1``) never leaves a request
without its answer.
"""

from __future__ import annotations

from typing import Any

import click
import pyarrow as pa
import pyarrow.compute as pc

from tracedoc.analyze.transactions import DEFAULT_THRESHOLDS
from tracedoc.cli.render import write_csv, write_json


def _threshold_help() -> str:
    pairs = ", ".join(f"{t}={v:g}" for t, v in DEFAULT_THRESHOLDS.items())
    return f"Response time (seconds) above which a transaction is slow; repeatable. Defaults: {pairs}."


@click.command("response-times")
@click.argument("file", type=click.Path())
@click.option("-Y", "--display-filter", "display_filter", metavar="FILTER",
              help="Count only transactions whose request or response frame this display filter selects.")
@click.option("--threshold", "overrides", multiple=True, metavar="TYPE=SECONDS", help=_threshold_help())
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--by", "by", type=click.Choice(["server", "type"]), default=None,
              help="One row per server (and port) of each type, or one per type (default: both).")
def response_times(file: str, display_filter: str | None, overrides: tuple[str, ...], fmt: str,
                   by: str | None) -> None:
    """The Response Time Summary: request -> response times per application
    (TCP connect, DNS, FTP, HTTP, TLS handshake, SNMP, DHCP, SMTP, POP, IMAP),
    per server, with the transactions slower than their threshold."""
    import tracedoc
    from tracedoc.analyze.transactions import (
        COLUMNS,
        exceeding,
        summarise,
        thresholds,
        transactions,
    )
    from tracedoc.cli.main import (
        _display_filter,
        _finish,
        load_table,
    )

    try:
        limits = thresholds(overrides)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--threshold")
    flt = _display_filter(display_filter)
    columns = list(COLUMNS)
    trace = tracedoc.open(file)
    tbl = load_table(trace, columns, flt)
    txns = transactions(tbl)
    if flt is not None:
        txns = _selected(txns, tbl, flt)
    rows = summarise(txns, limits, by)
    slow = exceeding(txns, limits)
    unanswered = txns.filter(pc.is_null(txns["response_frame"]))
    if fmt == "json":
        _json(rows, slow, unanswered, limits)
    elif fmt == "csv":
        write_csv(rows)
    else:
        _table(rows, slow, unanswered, txns.num_rows)
    _finish(trace)


def _selected(txns: pa.Table, tbl: pa.Table, flt: Any) -> pa.Table:
    """Transactions whose request or response frame ``flt`` selects."""
    hit = pa.array(flt(tbl))
    frames = pc.filter(tbl["frame.number"].combine_chunks(), hit)
    keep = pc.or_(pc.is_in(txns["request_frame"], value_set=frames),
                  pc.fill_null(pc.is_in(txns["response_frame"], value_set=frames), False))
    return txns.filter(keep)


def _seconds(txns: pa.Table) -> pa.Table:
    """``response_time`` in seconds, ``request_time`` as epoch seconds."""
    for name in ("response_time", "request_time"):
        col = pc.divide(pc.cast(txns[name], pa.float64(), safe=False), 1e9)
        txns = txns.set_column(txns.schema.get_field_index(name), name, col)
    return txns


def _json(rows: pa.Table, slow: pa.Table, unanswered: pa.Table, limits: dict[str, float]) -> None:
    out = {"thresholds": limits, "summary": rows.to_pylist(), "exceeding": _seconds(slow).to_pylist(),
           "unanswered": _seconds(unanswered).to_pylist()}
    write_json(out)


def _secs(v: float | None) -> str:
    return "" if v is None else f"{v:.6f}"


def _table(rows: pa.Table, slow: pa.Table, unanswered: pa.Table, total: int) -> None:
    from rich.markup import escape
    from rich.table import Table

    from tracedoc.cli.render import console, local_zone, timestamp_texts

    con = console()
    con.print(f"[bold]Response Time Summary[/bold]  {total:,} transactions (seconds)")
    t = Table(box=None, pad_edge=False, header_style="bold")
    heads = ["Type", "Server", "Port", "Count", "Answered", "Unanswered", "Min", "Mean", "P50", "P95", "Max",
             "Threshold", "Over"]
    for h in heads:
        t.add_column(h, justify="left" if h in ("Type", "Server") else "right", no_wrap=True)
    for r in rows.to_pylist():
        server = "(all)" if r["server"] is None and r["server_port"] is None else (r["server"] or "")
        t.add_row(r["type"], escape(server), "" if r["server_port"] is None else str(r["server_port"]),
                  str(r["count"]), str(r["answered"]), str(r["unanswered"]),
                  *[_secs(r[k]) for k in ("min", "mean", "p50", "p95", "max")],
                  _secs(r["threshold"]), str(r["over"]))
    con.print(t)
    zone = local_zone()
    for title, part in (("Slower than the threshold", slow), ("Unanswered", unanswered)):
        if not part.num_rows:
            continue
        con.print(f"\n[bold]{title}[/bold]  {part.num_rows:,}")
        lt = Table(box=None, pad_edge=False, header_style="bold")
        for h in ("Type", "Request", "Response", "Time", "Client", "Server", "Seconds", "Label", "Result", "Retries"):
            lt.add_column(h, justify="right" if h in ("Request", "Response", "Seconds", "Retries") else "left",
                          no_wrap=h not in ("Label",))
        clock = timestamp_texts(part["request_time"].combine_chunks(), zone).to_pylist()
        for r, when in zip(part.to_pylist(), clock):
            rt = r["response_time"]
            lt.add_row(r["type"], str(r["request_frame"]),
                       "" if r["response_frame"] is None else str(r["response_frame"]), when,
                       escape(_endpoint(r["client"], r["client_port"])),
                       escape(_endpoint(r["server"], r["server_port"])),
                       "" if rt is None else f"{rt / 1e9:.6f}", escape(r["label"] or ""), escape(r["result"] or ""),
                       str(r["retries"]) if r["retries"] else "")
        con.print(lt)


def _endpoint(addr: str | None, port: int | None) -> str:
    if addr is None:
        return ""
    if port is None:
        return addr
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"

