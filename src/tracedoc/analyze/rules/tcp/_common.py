"""What the tcp rules share."""

from __future__ import annotations

import numpy as np

from tracedoc.analyze.columns import valid, values
from tracedoc.analyze.diagnose import Evidence

SYN, RST, ACK = 0x02, 0x04, 0x10

MAX_UNSCALED_WINDOW = 65535
"""The largest window the 16-bit header field holds without window scaling (RFC 7323 2.2)."""


def flag_rows(ev: Evidence, want: int, without: int = 0) -> np.ndarray:
    f, has = values(ev.tbl, "tcp.flags")
    return has & ((f & want) == want) & ((f & without) == 0)


def session_list(ev: Evidence) -> list[dict]:
    """The TCP sessions' rows as dicts, made once per trace for every tcp rule."""
    cache = ev.__dict__.setdefault("_tcp_columns", {})
    if "_sessions" not in cache:
        t = ev.sessions.table
        tcp = t.filter(t["proto"].combine_chunks().to_numpy(zero_copy_only=False) == "tcp") if t.num_rows else t
        cache["_sessions"] = tcp.to_pylist()
    return cache["_sessions"]


def tcp_sessions(ev: Evidence, states: set[str]) -> list[dict]:
    return [r for r in session_list(ev) if r["conn_state"] in states]


def server(r: dict) -> str:
    return f"{r['responder_ip']}:{r['responder_port']}"


def client(r: dict) -> str:
    return f"{r['initiator_ip']}:{r['initiator_port']}"


def flagged(ev: Evidence, *names: str) -> np.ndarray:
    out = np.zeros(ev.tbl.num_rows, dtype=bool)
    for name in names:
        out |= valid(ev.tbl, name)
    return out


def per_session(ev: Evidence, mask: np.ndarray) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for sid, frame in zip(ev.sessions.sid[mask].tolist(), ev.frames[mask].tolist()):
        out.setdefault(int(sid), []).append(int(frame))
    return out


def column(ev: Evidence, name: str, dtype: type | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`values` of a packet-table column, made once per trace for every tcp rule."""
    cache = ev.__dict__.setdefault("_tcp_columns", {})
    key = (name, dtype)
    if key not in cache:
        cache[key] = values(ev.tbl, name, dtype)
    return cache[key]


def present(ev: Evidence, name: str) -> np.ndarray:
    """:func:`valid` of a packet-table column (any type), made once per trace for every tcp rule."""
    cache = ev.__dict__.setdefault("_tcp_columns", {})
    key = ("_valid", name)
    if key not in cache:
        cache[key] = valid(ev.tbl, name)
    return cache[key]


def retransmitted(ev: Evidence) -> np.ndarray:
    """Rows Wireshark flags as a retransmission (plain, fast or spurious)."""
    cache = ev.__dict__.setdefault("_tcp_columns", {})
    if "_retransmitted" not in cache:
        cache["_retransmitted"] = flagged(ev, "tcp.analysis.retransmission", "tcp.analysis.fast_retransmission",
                                          "tcp.analysis.spurious_retransmission")
    return cache["_retransmitted"]


def tcp_rows(ev: Evidence, sids: list[int]) -> dict[int, np.ndarray]:
    """The rows (in frame order) of the TCP segments of each session in ``sids``
    (its own packets: not the ICMP errors quoting it, not the carrier flows)."""
    if not sids:
        return {}
    _, is_tcp = column(ev, "tcp.flags")
    sid = ev.sessions.sid
    rows = np.flatnonzero(is_tcp & np.isin(sid, np.asarray(sids, dtype=np.int64)))
    s = sid[rows]
    order = np.argsort(s, kind="stable")
    rows, s = rows[order], s[order]
    cuts = np.flatnonzero(np.diff(s)) + 1
    return {int(part[0]): r for part, r in zip(np.split(s, cuts), np.split(rows, cuts)) if len(part)}


def from_initiator(ev: Evidence, r: dict, rows: np.ndarray) -> np.ndarray:
    """Which of session ``r``'s TCP ``rows`` the initiator (client) sent."""
    if r["initiator_port"] != r["responder_port"]:
        sport, _ = column(ev, "tcp.srcport")
        return np.asarray(sport[rows] == r["initiator_port"], dtype=bool)
    src = ev.addresses[0]
    return np.array([src[i] == r["initiator_ip"] for i in rows.tolist()], dtype=bool)


def syn_frames(ev: Evidence, rows: np.ndarray) -> list[int]:
    """Frames of the SYNs and SYN-ACKs among ``rows`` (those that carry the options)."""
    f, has = column(ev, "tcp.flags")
    return ev.frames[rows[has[rows] & ((f[rows] & SYN) != 0)]].tolist()


def side_names(r: dict) -> tuple[str, str]:
    """How the text names the initiator and the responder."""
    return f"{r['initiator_ip']} (client)", f"{server(r)} (server)"


def rate_text(bytes_per_s: float) -> str:
    """A throughput in bytes and bits per second, as people quote it."""
    for unit, bits, scale in (("GB/s", "Gbit/s", 1e9), ("MB/s", "Mbit/s", 1e6), ("kB/s", "kbit/s", 1e3)):
        if bytes_per_s >= scale:
            return f"{bytes_per_s / scale:.3g} {unit} ({bytes_per_s * 8 / scale:.3g} {bits})"
    return f"{bytes_per_s:.0f} B/s ({bytes_per_s * 8:.0f} bit/s)"


def ms_text(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"
