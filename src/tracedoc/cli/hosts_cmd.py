"""``tracedoc hosts``: the IP Summary, or the protocol hierarchy.

With ``-Y FILTER`` both count only the packets the filter selects; the
sessions an address opened or accepted are those of the whole trace that
have at least one selected packet (a session is never cut in pieces by the
filter).
"""

from __future__ import annotations

import click
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracedoc.cli.render import write_csv, write_json


@click.command("hosts")
@click.argument("file", type=click.Path())
@click.option("-Y", "--display-filter", "display_filter", metavar="FILTER",
              help="Count only the packets this Wireshark display filter selects.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--hierarchy", is_flag=True,
              help="Show the protocol hierarchy (frames and bytes per protocol path, like tshark -z io,phs).")
def hosts(file: str, display_filter: str | None, fmt: str, hierarchy: bool) -> None:
    """The IP Summary: per IP address, packets and bytes sent and received,
    sessions opened and accepted, protocols, first and last seen."""
    import tracedoc
    from tracedoc.analyze.hosts import COLUMNS, protocol_hierarchy
    from tracedoc.analyze.hosts import hosts as build_hosts
    from tracedoc.analyze.sessions import SESSION_COLUMNS, build_sessions
    from tracedoc.cli.main import (
        _display_filter,
        _finish,
        load_table,
    )

    flt = _display_filter(display_filter)
    columns = list(COLUMNS) if hierarchy else list(dict.fromkeys(COLUMNS + SESSION_COLUMNS))
    trace = tracedoc.open(file)
    tbl = load_table(trace, columns, flt)
    keep = pa.array(flt(tbl)) if flt is not None else None
    shown = tbl.filter(keep) if keep is not None else tbl
    if hierarchy:
        _hierarchy(protocol_hierarchy(shown), fmt, display_filter)
    else:
        sessions = build_sessions(tbl)
        stable = sessions.table
        if keep is not None:
            sids = np.unique(sessions.sid[np.asarray(keep.to_numpy(zero_copy_only=False), dtype=bool)])
            stable = stable.filter(pc.is_in(stable["sid"], value_set=pa.array(sids[sids > 0], pa.int64())))
        _hosts(build_hosts(shown, stable), fmt)
    _finish(trace)


def _hosts(rows: pa.Table, fmt: str) -> None:
    if fmt == "json":
        out = rows.to_pylist()
        for r in out:
            for k in ("first_seen", "last_seen"):
                r[k] = None if r[k] is None else r[k] / 1e9
        write_json({"hosts": out})
        return
    from tracedoc.cli.render import local_zone, timestamp_texts

    zone = local_zone()
    texts = rows
    for k in ("first_seen", "last_seen"):
        texts = texts.set_column(texts.schema.get_field_index(k), k,
                                 timestamp_texts(rows[k].combine_chunks(), zone))
    protos = pc.binary_join(rows["protocols"], " ") if rows.num_rows else pa.array([], pa.string())
    texts = texts.set_column(texts.schema.get_field_index("protocols"), "protocols", protos)
    if fmt == "csv":
        write_csv(texts)
        return
    from tracedoc.cli.render import console, write_table

    console().print(f"[bold]IP Summary[/bold]  {rows.num_rows:,} addresses  times: {zone}")
    heads = {"address": "IP Address", "packets_sent": "Pkts Sent", "packets_received": "Pkts Rcvd",
             "bytes_sent": "Bytes Sent", "bytes_received": "Bytes Rcvd", "sessions_opened": "Sess. Opened",
             "sessions_accepted": "Sess. Accepted", "protocols": "Protocols", "first_seen": "First Seen",
             "last_seen": "Last Seen"}
    cols = [texts[k].to_pylist() for k in heads]
    numeric = {h for k, h in heads.items() if k not in ("address", "protocols", "first_seen", "last_seen")}
    write_table(list(heads.values()), [list(r) for r in zip(*cols)], numeric)


def _hierarchy(rows: pa.Table, fmt: str, display_filter: str | None) -> None:
    if fmt == "json":
        write_json({"filter": display_filter, "protocols": rows.to_pylist()})
        return
    if fmt == "csv":
        write_csv(rows)
        return
    from rich.markup import escape

    from tracedoc.cli.render import console, write_table

    console().print("[bold]Protocol Hierarchy[/bold]" + (f"  filter: {escape(display_filter)}" if display_filter else ""))
    write_table(["Protocol", "Frames", "Bytes"],
                [["  " * r["depth"] + r["protocol"], f"{r['frames']:,}", f"{r['bytes']:,}"] for r in rows.to_pylist()],
                {"Frames", "Bytes"})
