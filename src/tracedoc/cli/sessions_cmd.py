"""``tracedoc sessions``: the Session Summary, one line per session.

``-Y FILTER`` selects packets first and the sessions are then built from the
selected packets only (so ``-Y "tcp.port == 21"`` summarises the FTP control
connections from their own packets); the local side is still inferred from
every packet of the trace, as the Packet Summary does.

Connections inside tunnels are sessions of their own, next to the UDP flow
of a tunnel that runs over UDP (VXLAN, Geneve, GTP-U, Teredo ...); JSON and
CSV name each one's carriers in ``tunnel_parents`` (CSV: SIDs separated by
spaces).
"""

from __future__ import annotations

import click
import pyarrow as pa

from tracedoc.analyze.sessions import UDP_TIMEOUT, Sessions, duration_texts
from tracedoc.cli.render import write_csv, write_json

# The seed's Session Summary columns, then the state Zeek would log.
TABLE_COLUMNS = ["SID", "Start Time", "End Time", "Elapsed Time", "Server Time", "Network Time", "Local IP",
                 "Local Port", "Rmt. IP", "Rmt. Port", "Datagrams In (Bytes)", "Datagrams Out (Bytes)",
                 "Avg. Datagram", "Proto", "State", "History"]
_RIGHT = {"SID", "Elapsed Time", "Server Time", "Network Time", "Datagrams In (Bytes)", "Datagrams Out (Bytes)",
          "Avg. Datagram"}
_SECONDS = ("start", "end")


@click.command("sessions")
@click.argument("file", type=click.Path())
@click.option("-Y", "--display-filter", "display_filter", metavar="FILTER",
              help="Build the sessions from the packets this Wireshark display filter selects.")
@click.option("--local", "local", metavar="CIDR", help="The local side (address or network).")
@click.option("--udp-timeout", type=float, default=UDP_TIMEOUT, show_default=True, metavar="S",
              help="Seconds a UDP flow may stay idle before its next datagram starts a new session.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--limit", type=int, default=None, help="Show at most N sessions.")
@click.option("--ftp-data", "ftp_data", is_flag=True,
              help="Instead: every FTP data connection announced (PORT/EPRT/PASV/EPSV), with its control "
                   "session, the command and reply that announced it, and how far it got.")
def sessions(file: str, display_filter: str | None, local: str | None, udp_timeout: float, fmt: str,
             limit: int | None, ftp_data: bool) -> None:
    """The Session Summary: one line per TCP connection, UDP flow or ICMP exchange."""
    import tracedoc
    from tracedoc.analyze import ftp_data as ftp_links
    from tracedoc.analyze.sessions import SESSION_COLUMNS, build_sessions
    from tracedoc.analyze.summary import infer_local
    from tracedoc.cli.main import (
        _display_filter,
        _finish,
        check_local,
        load_table,
    )

    check_local(local)
    if udp_timeout <= 0:
        raise click.BadParameter("must be more than 0", param_hint="--udp-timeout")
    flt = _display_filter(display_filter)
    columns = list(SESSION_COLUMNS)
    if ftp_data:
        columns = list(dict.fromkeys(columns + ftp_links.NEEDS))
    trace = tracedoc.open(file)
    tbl = load_table(trace, columns, flt)
    # The local side is inferred from every packet, not only the selected ones.
    side = infer_local(tbl, local)
    if flt is not None:
        tbl = tbl.filter(pa.array(flt(tbl)))
    result = build_sessions(tbl, side, udp_timeout=udp_timeout)
    if ftp_data:
        render_links(ftp_links.ftp_data_links(tbl, result.sid), fmt, limit)
    else:
        render_sessions(result, fmt, limit)
    _finish(trace)


def _with_seconds(rows: pa.Table) -> pa.Table:
    """``start``/``end`` as epoch seconds (float), for CSV and JSON."""
    for name in _SECONDS:
        ns = rows[name].combine_chunks().to_numpy(zero_copy_only=False)
        rows = rows.set_column(rows.schema.get_field_index(name), name, pa.array(ns / 1e9, pa.float64()))
    return rows


def _flat_lists(rows: pa.Table) -> pa.Table:
    """List columns (``tunnel_parents``) as space-separated text, for CSV."""
    for i, f in enumerate(rows.schema):
        if pa.types.is_list(f.type):
            text = [" ".join(str(v) for v in x or []) for x in rows[f.name].to_pylist()]
            rows = rows.set_column(i, f.name, pa.array(text, pa.string()))
    return rows


def render_sessions(result: Sessions, fmt: str, limit: int | None = None) -> None:
    rows = result.table
    if limit is not None:
        rows = rows.slice(0, max(limit, 0))
    if fmt == "json":
        write_json(_with_seconds(rows).to_pylist())
        return
    if fmt == "csv":
        write_csv(_flat_lists(_with_seconds(rows)))
        return
    _print_table(rows, result)


def render_links(links: pa.Table, fmt: str, limit: int | None = None) -> None:
    """The FTP data connections table."""
    if limit is not None:
        links = links.slice(0, max(limit, 0))
    if fmt == "json":
        write_json(links.to_pylist())
        return
    if fmt == "csv":
        write_csv(links)
        return
    from tracedoc.cli.render import console, table_rows, write_table

    console().print(f"[bold]FTP data connections[/bold]  {links.num_rows:,} announced")
    heads = {"control_sid": "Control SID", "method": "Method", "command_frame": "Command", "announce_frame":
             "Announced", "reply_frame": "Reply", "reply_code": "Code", "data_ip": "Data IP", "data_port":
             "Data Port", "connector_ip": "Connects From", "data_sid": "Data SID", "syn_frame": "SYN",
             "syns": "SYNs", "synack_frame": "SYN-ACK", "status": "Status"}
    write_table([heads.get(c, c) for c in links.column_names], table_rows(links))


def _texts(rows: pa.Table) -> list[list[str]]:
    """The seed's columns as display text, one list per session."""
    from tracedoc.cli.render import local_zone, timestamp_texts

    zone = local_zone()
    start = timestamp_texts(rows["start"].combine_chunks(), zone).to_pylist()
    end = timestamp_texts(rows["end"].combine_chunks(), zone).to_pylist()
    cols = {name: rows[name].to_pylist() for name in (
        "sid", "elapsed", "server_time", "network_time", "local_ip", "local_port", "local_service", "remote_ip",
        "remote_port", "remote_service", "packets_in", "bytes_in", "packets_out", "bytes_out", "avg_datagram",
        "proto", "conn_state", "history")}
    elapsed = duration_texts(cols["elapsed"])
    server = duration_texts(cols["server_time"])
    network = duration_texts(cols["network_time"])
    out = []
    for i in range(rows.num_rows):
        lport = cols["local_service"][i] or ("" if cols["local_port"][i] is None else str(cols["local_port"][i]))
        rport = cols["remote_service"][i] or ("" if cols["remote_port"][i] is None else str(cols["remote_port"][i]))
        avg = cols["avg_datagram"][i]
        out.append([str(cols["sid"][i]), start[i] or "", end[i] or "", elapsed[i], server[i], network[i],
                    cols["local_ip"][i] or "", lport, cols["remote_ip"][i] or "", rport,
                    f"{cols['packets_in'][i]} ({cols['bytes_in'][i]})",
                    f"{cols['packets_out'][i]} ({cols['bytes_out'][i]})",
                    f"{avg:g}" if avg is not None else "", cols["proto"][i].upper(),
                    cols["conn_state"][i] or "", cols["history"][i] or ""])
    return out


def _print_table(rows: pa.Table, result: Sessions) -> None:
    from tracedoc.cli.render import console, local_zone, write_table

    side = result.local.describe() if result.local is not None else "local side: unknown"
    console().print(f"[bold]Session Summary[/bold]  {result.table.num_rows:,} sessions  {side}  "
                    f"times: {local_zone()}")
    write_table(TABLE_COLUMNS, _texts(rows), _RIGHT)
