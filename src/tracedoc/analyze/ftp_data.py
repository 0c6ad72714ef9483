"""FTP data connections tied to the control session that announced them.

An FTP control connection announces each data connection before it is
made: in active mode the client names its own address and port (``PORT``,
``EPRT``) and the server connects to it; in passive mode the server names
the address and port it listens on (``227`` reply to ``PASV``, ``229`` reply
to ``EPSV``) and the client connects there.  Each announcement is matched
to the first SYN after it from the expected side to the announced port, and
the data connection's session tells how far it got:

``connected``
    the handshake completed (SYN, SYN-ACK, and the data flowed or the
    connection at least opened);
``syn_unanswered``
    SYNs were sent and nothing answered them (a firewall dropped them, or
    the listener never existed);
``refused``
    the announced port answered the SYN with a reset;
``no_syn``
    nothing tried to connect after the announcement (the connecting side
    gave up, or its SYNs never reached the capture point).

The announced address is matched when it is the address connected to; a
NAT'd announcement (``ftp.passive.nat``) or an address the capture never
sees is matched by the control connection's far-end address and the port.
The expert rules (``ftp.active_data_syn_missing``,
``ftp.passive_data_connect_failed``) judge these facts; this module only
records them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracedoc.analyze.columns import valid as _valid
from tracedoc.analyze.columns import values
from tracedoc.decode.display import format_ipv4, format_ipv6

NEEDS = ["frame.number", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport", "tcp.flags",
         "ftp.request.command", "ftp.response.code", "ftp.passive.ip", "ftp.passive.port", "ftp.active.cip",
         "ftp.active.port", "ftp.eprt.ip", "ftp.eprt.ipv6", "ftp.eprt.port", "ftp.epsv.ip", "ftp.epsv.ipv6",
         "ftp.epsv.port"]
"""The packet-table columns the linking reads."""

SCHEMA = pa.schema([
    ("control_sid", pa.int64()), ("method", pa.string()), ("command_frame", pa.int64()),
    ("announce_frame", pa.int64()), ("reply_frame", pa.int64()), ("reply_code", pa.int64()),
    ("data_ip", pa.string()), ("data_port", pa.int64()), ("connector_ip", pa.string()),
    ("data_sid", pa.int64()), ("syn_frame", pa.int64()), ("syns", pa.int64()), ("synack_frame", pa.int64()),
    ("status", pa.string()),
])
"""One row per announced data connection.

``announce_frame`` is the frame that named the address (the PORT/EPRT
command, or the 227/229 reply); ``command_frame`` the command that asked
for it (PORT/EPRT/PASV/EPSV); ``reply_frame``/``reply_code`` the server's
answer to that command (for PASV/EPSV the announcing reply itself)."""

SYN, ACK, RST = 0x02, 0x10, 0x04


def _col(tbl: pa.Table, name: str) -> pa.Array:
    return tbl[name].combine_chunks()


def _np(tbl: pa.Table, name: str) -> np.ndarray:
    return values(tbl, name, np.int64)[0]


def _addr(tbl: pa.Table, v4: str, v6: str) -> list[str | None]:
    return pc.coalesce(format_ipv4(_col(tbl, v4)), format_ipv6(_col(tbl, v6))).to_pylist()


def ftp_data_links(tbl: pa.Table, sid: np.ndarray) -> pa.Table:
    """The data connections announced on FTP control connections.

    ``sid`` is the session id of every packet (:class:`Sessions.sid`).
    Returns a table of :data:`SCHEMA`, in announcement order.
    """
    n = tbl.num_rows
    if n == 0 or not all(c in tbl.column_names for c in NEEDS):
        return SCHEMA.empty_table()
    has_pasv = _valid(tbl, "ftp.passive.port")
    has_epsv = _valid(tbl, "ftp.epsv.port")
    has_port = _valid(tbl, "ftp.active.port")
    has_eprt = _valid(tbl, "ftp.eprt.port")
    announced = np.flatnonzero(has_pasv | has_epsv | has_port | has_eprt)
    if len(announced) == 0:
        return SCHEMA.empty_table()
    frame = _np(tbl, "frame.number").astype(np.int64)
    src = _addr(tbl, "ip.src", "ipv6.src")
    dst = _addr(tbl, "ip.dst", "ipv6.dst")
    dport = _np(tbl, "tcp.dstport").astype(np.int64)
    flags = _np(tbl, "tcp.flags").astype(np.int64)
    has_tcp = _valid(tbl, "tcp.flags")
    cmd = _col(tbl, "ftp.request.command").to_pylist()
    code = _col(tbl, "ftp.response.code").to_pylist()
    pasv_ip = format_ipv4(_col(tbl, "ftp.passive.ip")).to_pylist()
    active_ip = format_ipv4(_col(tbl, "ftp.active.cip")).to_pylist()
    eprt_ip = pc.coalesce(format_ipv4(_col(tbl, "ftp.eprt.ip")), format_ipv6(_col(tbl, "ftp.eprt.ipv6"))).to_pylist()
    epsv_ip = pc.coalesce(format_ipv4(_col(tbl, "ftp.epsv.ip")), format_ipv6(_col(tbl, "ftp.epsv.ipv6"))).to_pylist()
    ports = {"PASV": _np(tbl, "ftp.passive.port"), "EPSV": _np(tbl, "ftp.epsv.port"),
             "PORT": _np(tbl, "ftp.active.port"), "EPRT": _np(tbl, "ftp.eprt.port")}

    # SYNs (without ACK) and SYN-ACKs, by the address and port they go to / come from.
    is_syn = has_tcp & ((flags & (SYN | ACK)) == SYN)
    is_synack = has_tcp & ((flags & (SYN | ACK)) == (SYN | ACK))
    is_rst = has_tcp & ((flags & RST) != 0)
    syns_to: dict[int, list[int]] = {}
    for r in np.flatnonzero(is_syn).tolist():
        syns_to.setdefault(int(dport[r]), []).append(r)
    by_sid_synack: dict[int, int] = {}
    by_sid_rst: dict[int, int] = {}
    for r in np.flatnonzero(is_synack).tolist():
        by_sid_synack.setdefault(int(sid[r]), r)
    for r in np.flatnonzero(is_rst).tolist():
        by_sid_rst.setdefault(int(sid[r]), r)

    # Rows of each control session, in order, for finding commands and replies.
    ftp_rows: dict[int, list[int]] = {}
    for r in np.flatnonzero(pc.is_valid(_col(tbl, "ftp.request.command")).to_numpy(zero_copy_only=False)
                            | pc.is_valid(_col(tbl, "ftp.response.code")).to_numpy(zero_copy_only=False)).tolist():
        ftp_rows.setdefault(int(sid[r]), []).append(r)

    # A SYN belongs to the latest announcement of its port before it: a
    # server may announce the same passive port again after an unused one.
    announced_port = {int(a): int(next(ports[m][a] for m, has in (("PASV", has_pasv), ("EPSV", has_epsv),
                                                                  ("PORT", has_port), ("EPRT", has_eprt)) if has[a]))
                      for a in announced.tolist()}
    next_same: dict[int, int] = {}
    last_of_port: dict[int, int] = {}
    for a in reversed(announced.tolist()):
        next_same[a] = last_of_port.get(announced_port[a], n)
        last_of_port[announced_port[a]] = a

    used_syns: set[int] = set()
    out: dict[str, list[object]] = {f.name: [] for f in SCHEMA}
    for a in announced.tolist():
        control = int(sid[a])
        rows = ftp_rows.get(control, [a])
        pos = rows.index(a) if a in rows else 0
        if has_pasv[a] or has_epsv[a]:
            method = "PASV" if has_pasv[a] else "EPSV"
            ip = (pasv_ip if has_pasv[a] else epsv_ip)[a] or src[a]
            connector, far = dst[a], src[a]   # the client connects to the server's announced port
            command: int | None = next((r for r in reversed(rows[:pos]) if cmd[r] is not None), None)
            reply: int | None = a
            reply_code = code[a]
        else:
            method = "PORT" if has_port[a] else "EPRT"
            ip = (active_ip if has_port[a] else eprt_ip)[a] or src[a]
            connector, far = dst[a], src[a]   # the server connects to the client's announced port
            command = a
            reply = next((r for r in rows[pos + 1:] if code[r] is not None and not 100 <= code[r] < 200), None)
            reply_code = code[reply] if reply is not None else None
        port = int(ports[method][a])
        later = [r for r in syns_to.get(port, ()) if a < r < next_same[a]]
        cand = [r for r in later if src[r] == connector and r not in used_syns]
        exact = [r for r in cand if dst[r] == ip]
        pick = exact or [r for r in cand if dst[r] == far] or cand
        first_syn = pick[0] if pick else None
        data_sid = int(sid[first_syn]) if first_syn is not None else None
        syns = 0
        synack = None
        if first_syn is not None:
            same = [r for r in later if sid[r] == data_sid]
            used_syns.update(same)
            syns = len(same)
            synack = by_sid_synack.get(int(data_sid)) if data_sid else None
            if synack is not None:
                status = "connected"
            elif data_sid and by_sid_rst.get(int(data_sid)) is not None:
                status = "refused"
            else:
                status = "syn_unanswered"
        else:
            status = "no_syn"
        out["control_sid"].append(control or None)
        out["method"].append(method)
        out["command_frame"].append(int(frame[command]) if command is not None else None)
        out["announce_frame"].append(int(frame[a]))
        out["reply_frame"].append(int(frame[reply]) if reply is not None else None)
        out["reply_code"].append(reply_code)
        out["data_ip"].append(ip)
        out["data_port"].append(port)
        out["connector_ip"].append(connector)
        out["data_sid"].append(data_sid or None)
        out["syn_frame"].append(int(frame[first_syn]) if first_syn is not None else None)
        out["syns"].append(syns)
        out["synack_frame"].append(int(frame[synack]) if synack is not None else None)
        out["status"].append(status)
    return pa.table(out, schema=SCHEMA)
