"""The Sequence of Execution: one conversation's packets, step by step.

The seed's ladder view: every packet of a session (or of every exchange
between two endpoints) in time order, with the time since the previous
packet of the same view, the direction as an arrow seen from the local
side, and the TCP sequence, acknowledgment and window fields, raw or
relative to each direction's initial sequence number.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracedoc.analyze.endpoints import V4_PREFIX, ends
from tracedoc.analyze.summary import LocalSide, summary

COLUMNS = ["ID", "Timestamp", "Elapsed", "Datagram Size", "Messages", "Local Port", "Direction",
           "Rmt. Port", "Seq. Number", "Ack. Number", "Window Size"]
"""The ladder's columns (``Elapsed`` in nanoseconds since the previous row)."""


@dataclass
class Sequence:
    rows: pa.Table
    """One row per packet, :data:`COLUMNS`."""
    local_ips: list[str]
    remote_ips: list[str]
    protocols: list[str]
    sessions: int
    """How many sessions the rows belong to (1 for ``--session``)."""

    def heading(self) -> str:
        return (f"Local IP: {', '.join(self.local_ips) or '-'} Remote IP: {', '.join(self.remote_ips) or '-'} "
                f"Protocol: {', '.join(self.protocols) or '-'} Sessions Count: {self.sessions}")


@dataclass(frozen=True)
class Endpoint:
    """An address, with a port or not (``10.0.0.1``, ``10.0.0.1:21``, ``[2001:db8::1]:53``)."""

    address: str
    port: int | None

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        t = text.strip()
        port: int | None = None
        if t.startswith("["):
            host, _, rest = t[1:].partition("]")
            if rest.startswith(":"):
                port = _port(rest[1:], text)
            t = host
        elif t.count(":") == 1:
            t, p = t.split(":")
            port = _port(p, text)
        try:
            addr = ipaddress.ip_address(t)
        except ValueError:
            raise ValueError(f"'{text}' is not an address or address:port") from None
        return cls(str(addr), port)


def _port(p: str, text: str) -> int:
    if not p.isdigit() or int(p) > 65535:
        raise ValueError(f"'{text}': bad port '{p}'")
    return int(p)


def _packed(address: str) -> np.ndarray:
    """An address as :mod:`tracedoc.analyze.endpoints` stores it (16 bytes, IPv4-mapped)."""
    ip = ipaddress.ip_address(address)
    raw = V4_PREFIX + ip.packed if ip.version == 4 else ip.packed
    return np.frombuffer(raw, dtype=np.uint8)


def between(tbl: pa.Table, a: Endpoint, b: Endpoint) -> np.ndarray:
    """Packets exchanged between ``a`` and ``b`` (either way), by the
    addresses and ports conversations are keyed on (a tunnel's inner ones)."""
    e = ends(tbl)

    def at(addr: np.ndarray, port: np.ndarray, end: Endpoint) -> np.ndarray:
        m = e.has_ip & (addr == _packed(end.address)).all(axis=1)
        if end.port is not None:
            m &= port == end.port
        return m

    forward = at(e.src, e.sport, a) & at(e.dst, e.dport, b)
    back = at(e.src, e.sport, b) & at(e.dst, e.dport, a)
    return forward | back


def sequence(tbl: pa.Table, side: LocalSide, select: np.ndarray, relative: bool = False,
             sessions: int = 1) -> Sequence:
    """The ladder rows of the packets ``select`` picks from ``tbl``."""
    picked = tbl.filter(pa.array(np.asarray(select, dtype=bool)))
    rows = summary(picked, side)
    ts = np.asarray(picked["frame.time_epoch"].combine_chunks().fill_null(0).to_numpy(zero_copy_only=False),
                    dtype=np.int64)
    elapsed = np.diff(ts, prepend=ts[:1]) if len(ts) else ts
    direction = pc.fill_null(rows["Dir"].combine_chunks(), "")
    arrows = pc.replace_substring(pc.replace_substring(direction, "<-", "<----"), "->", "---->")
    seq, ack = rows["Seq. Number"], rows["Ack. Number"]
    if relative and "tcp.seq" in picked.column_names:
        seq = pc.coalesce(picked["tcp.seq"].combine_chunks().cast(pa.int64()),
                          rows["Seq. Number"].combine_chunks().cast(pa.int64()))
        ack = pc.coalesce(picked["tcp.ack"].combine_chunks().cast(pa.int64()),
                          rows["Ack. Number"].combine_chunks().cast(pa.int64()))
    out = pa.table({
        "ID": rows["ID"], "Timestamp": rows["Timestamp"], "Elapsed": pa.array(elapsed, type=pa.int64()),
        "Datagram Size": rows["Datagram Size"], "Messages": rows["Messages"], "Local Port": rows["Local Port"],
        "Direction": arrows, "Rmt. Port": rows["Rmt. Port"], "Seq. Number": seq, "Ack. Number": ack,
        "Window Size": rows["Window Size"],
    })

    def distinct(col: str) -> list[str]:
        return [v for v in pc.unique(rows[col].combine_chunks()).to_pylist() if v]

    return Sequence(out, distinct("Local IP"), distinct("Rmt. IP"), distinct("Protocol"), sessions)
