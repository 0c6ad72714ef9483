"""Plots as standalone SVG: the I/O graph, the TCP time-sequence (Stevens)
graph, the response-time histogram and the protocol hierarchy.

Each function takes the analysis tables and returns the text of one SVG
document: no script, no stylesheet or font to fetch, so a page can inline it
and a report can embed it.  The numbers come from the analysis modules
(:mod:`tracedoc.analyze.io_graph`, the ``tcp.analysis`` columns,
:func:`tracedoc.analyze.transactions.transactions`,
:func:`tracedoc.analyze.hosts.protocol_hierarchy`); nothing here decodes or
analyses.

Every text taken from a trace (addresses, protocol names, DNS names, TLS
server names, HTTP URIs) is XML-escaped: trace contents are chosen by
whoever sent the packets.  The elements that carry data have class names and
``data-*`` attributes holding their numbers (``<rect class="bin"
data-bin="3" ...>``, ``<circle class="seg" data-frame="17" ...>``,
``<rect class="bar" data-bin="2" data-count="5" ...>``, ``<g class="node"
data-path="eth:ip:tcp" ...>``), so a page or a test can find them.  An input
with nothing to draw (no packets, no TCP data, no transactions of the kind)
gives an SVG that says so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape as _xml_escape
from xml.sax.saxutils import quoteattr as _xml_quoteattr

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracedoc.analyze import endpoints
from tracedoc.analyze.columns import valid as _valid
from tracedoc.analyze.columns import values
from tracedoc.analyze.io_graph import interval_ns, io_series, steps_125
from tracedoc.analyze.sessions import Sessions
from tracedoc.analyze.summary import LocalSide

WIDTH = 960
FONT = 'font-family="sans-serif" font-size="12"'
OUT_COLOUR = "#b04a00"   # as the ladder draws packets leaving the local side
IN_COLOUR = "#1f5fa8"
OTHER_COLOUR = "#777777"
GRID = "#e4e4e4"
AXIS = "#444444"

MAX_DRAWN_BINS = 20_000
"""The I/O graph draws at most this many intervals (choose a longer interval)."""
MAX_BIN_TARGETS = 2_000
"""Up to this many intervals, each also gets a ``rect.bin`` with its numbers and a tooltip."""
MAX_POINTS = 5_000
"""The Stevens graph draws up to this many segments as ``circle.seg`` elements; beyond it, the
ordinary segments become one path of dots at screen resolution (retransmissions stay circles)."""
MAX_SLOWEST = 5
"""The response-time histogram lists this many of the slowest transactions."""


# ------------------------------------------------------------------ helpers

# Characters XML 1.0 does not allow (C0 controls but tab, newline and carriage return; lone
# surrogates; U+FFFE, U+FFFF): a document holding one does not parse at all.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else "\ufffd", text)


def escape(text: str) -> str:
    """Text for an element's content: markup escaped, characters XML cannot hold shown as \\xNN."""
    return _xml_escape(_xml_safe(text))


def quoteattr(text: str) -> str:
    """Text as a quoted attribute value (see :func:`escape`)."""
    return _xml_quoteattr(_xml_safe(text))


def _n(v: float) -> str:
    """A coordinate."""
    return f"{v:.1f}"


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _num(v: float) -> str:
    """A number in at most four significant digits, without float noise."""
    if v == 0:
        return "0"
    return f"{float(f'{v:.4g}'):g}"


def _si(v: float) -> str:
    """A count or byte total with an SI prefix (1.5k, 2M)."""
    a = abs(v)
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return _num(v / div) + suffix
    return _num(v)


def _dur(s: float) -> str:
    """Seconds as a duration text (500 us, 20 ms, 1.5 s, 2 min)."""
    a = abs(s)
    if a == 0:
        return "0 s"
    if a < 1e-3:
        return f"{_num(s * 1e6)} \u00b5s"
    if a < 1:
        return f"{_num(s * 1e3)} ms"
    if a < 600:
        return f"{_num(s)} s"
    if a < 36_000:
        return f"{_num(s / 60)} min"
    if a < 172_800:
        return f"{_num(s / 3600)} h"
    return f"{_num(s / 86400)} d"


def _ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Round tick values (1-2-5 steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    step = steps_125((hi - lo) / most)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [k * step for k in range(first, last + 1)]


_LONG_STEPS = (30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0, 21600.0, 43200.0,
               86400.0)
_UNITS = ((86400.0, "d"), (3600.0, "h"), (60.0, "min"), (1.0, "s"), (1e-3, "ms"), (1e-6, "\u00b5s"), (1e-9, "ns"))


def _time_ticks(lo: float, hi: float, most: int = 8) -> tuple[list[float], Any]:
    """Tick values for a time axis in seconds (1-2-5 steps below half a minute, then minutes and
    hours a clock divides by) and a formatter writing them in the unit of the step."""
    if hi <= lo:
        hi = lo + 1.0
    want = (hi - lo) / most
    step = steps_125(want)
    if step >= 30:
        step = next((s for s in _LONG_STEPS if s >= want * (1 - 1e-9)), 0.0) or steps_125(want / 86400) * 86400
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    ticks = [k * step for k in range(first, last + 1)]
    k = next((i for i, (d, _) in enumerate(_UNITS) if step >= d * (1 - 1e-9)), len(_UNITS) - 1)
    # 0.5 s, 1 s, 1.5 s rather than 500 ms, 1000 ms, 1500 ms.
    if _UNITS[k][0] < 1 and step >= _UNITS[k][0] * 100 and max(abs(lo), abs(hi)) >= _UNITS[k - 1][0]:
        k -= 1
    div, unit = _UNITS[k]

    def fmt(v: float) -> str:
        return "0" if abs(v) < step * 1e-6 else f"{_num(v / div)} {unit}"

    return ticks, fmt


def _open(width: int, height: int, title: str, extra: str = "") -> list[str]:
    return [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" {FONT}{extra}>',
        f"<title>{escape(title)}</title>",
        f'<rect class="background" x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text class="heading" x="12" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]


def _close(out: list[str]) -> str:
    out.append("</svg>")
    return "\n".join(out) + "\n"


def no_data_svg(title: str, message: str, width: int = WIDTH, height: int = 120) -> str:
    """A small SVG saying there is nothing to draw, and why."""
    out = _open(width, height, title, ' class="no-data"')
    out.append(f'<text class="no-data" x="{width // 2}" y="{height // 2 + 10}" text-anchor="middle" '
               f'fill="#666666">{escape(message)}</text>')
    return _close(out)


class _Frame:
    """A plot area: data ranges mapped to pixels, axes with ticks and labels."""

    def __init__(self, left: float, top: float, width: float, height: float,
                 x: tuple[float, float], y: tuple[float, float], logx: bool = False) -> None:
        self.left, self.top, self.width, self.height = left, top, width, height
        self.logx = logx
        self.x0, self.x1 = x
        self.y0, self.y1 = y
        if self.x1 <= self.x0:
            self.x1 = self.x0 + (abs(self.x0) or 1.0)
        if self.y1 <= self.y0:
            self.y1 = self.y0 + (abs(self.y0) or 1.0)

    def px(self, v: Any) -> Any:
        if self.logx:
            lo, hi = math.log10(self.x0), math.log10(self.x1)
            return self.left + (np.log10(v) - lo) / (hi - lo) * self.width
        return self.left + (np.asarray(v, dtype=np.float64) - self.x0) / (self.x1 - self.x0) * self.width

    def py(self, v: Any) -> Any:
        return self.top + self.height - (np.asarray(v, dtype=np.float64) - self.y0) / (self.y1 - self.y0) * self.height

    def axes(self, xlabel: str, ylabel: str, xfmt: Any, yfmt: Any,
             xticks: Sequence[float] | None = None, yint: bool = False) -> list[str]:
        """Axes with ticks; ``xfmt`` None: a time axis in seconds (see :func:`_time_ticks`);
        ``yint``: only whole numbers on the y axis (counts)."""
        out = [f'<g class="axes" stroke="{AXIS}">']
        bottom, right = self.top + self.height, self.left + self.width
        if xfmt is None:
            xticks, xfmt = _time_ticks(self.x0, self.x1)
        yticks = _ticks(self.y0, self.y1, 5)
        if yint:
            yticks = [v for v in yticks if v == int(v)]
        for v in yticks:
            y = float(self.py(v))
            out.append(f'<line class="grid" x1="{_n(self.left)}" y1="{_n(y)}" x2="{_n(right)}" y2="{_n(y)}" '
                       f'stroke="{GRID}"/>')
            out.append(f'<text class="tick" x="{_n(self.left - 6)}" y="{_n(y + 4)}" text-anchor="end" '
                       f'stroke="none">{escape(yfmt(v))}</text>')
        for v in (_ticks(self.x0, self.x1, 8) if xticks is None else xticks):
            x = float(self.px(v))
            out.append(f'<line class="tick" x1="{_n(x)}" y1="{_n(bottom)}" x2="{_n(x)}" y2="{_n(bottom + 5)}"/>')
            out.append(f'<text class="tick" x="{_n(x)}" y="{_n(bottom + 18)}" text-anchor="middle" '
                       f'stroke="none">{escape(xfmt(v))}</text>')
        out.append(f'<rect class="plot-area" x="{_n(self.left)}" y="{_n(self.top)}" width="{_n(self.width)}" '
                   f'height="{_n(self.height)}" fill="none"/>')
        out.append(f'<text class="axis-label" x="{_n(self.left + self.width / 2)}" y="{_n(bottom + 36)}" '
                   f'text-anchor="middle" stroke="none">{escape(xlabel)}</text>')
        cy = self.top + self.height / 2
        out.append(f'<text class="axis-label" x="14" y="{_n(cy)}" text-anchor="middle" stroke="none" '
                   f'transform="rotate(-90 14 {_n(cy)})">{escape(ylabel)}</text>')
        out.append("</g>")
        return out


def _legend(x: float, y: float, items: list[tuple[str, str, str]]) -> list[str]:
    """Legend entries (class, colour, text) in one row from (x, y)."""
    out = ['<g class="legend">']
    for cls, colour, text in items:
        out.append(f'<g class="legend-item" data-series={quoteattr(cls)}>'
                   f'<rect x="{_n(x)}" y="{_n(y - 9)}" width="14" height="10" fill={quoteattr(colour)}/>'
                   f'<text x="{_n(x + 19)}" y="{_n(y)}">{escape(text)}</text></g>')
        x += 30 + 7 * len(text)
    out.append("</g>")
    return out


def _steps(xs: np.ndarray, ys: np.ndarray, x_end: float) -> str:
    """An SVG path stepping through (xs[i], ys[i]) .. (xs[i+1], ys[i]), ending at x_end."""
    if len(xs) == 0:
        return ""
    parts = [f"M{_n(xs[0])} {_n(ys[0])}"]
    nxt = np.append(xs[1:], x_end)
    for i in range(len(xs)):
        parts.append(f"H{_n(nxt[i])}")
        if i + 1 < len(xs) and ys[i + 1] != ys[i]:
            parts.append(f"V{_n(ys[i + 1])}")
    return "".join(parts)


# ------------------------------------------------------------------ I/O graph

_IO_SERIES = (("out", OUT_COLOUR, "out (->)"),
              ("in", IN_COLOUR, "in (<-)"),
              ("other", OTHER_COLOUR, "neither side local"))


def io_graph_svg(tbl: pa.Table, interval_s: float | None = None, local: LocalSide | str | None = None) -> str:
    """The I/O graph: packets (top) and bytes (bottom) per interval, out of and into the local
    side, from :func:`tracedoc.analyze.io_graph.io_series` (its columns must be in ``tbl``).
    Raises ValueError for a bad interval or one giving more than :data:`MAX_DRAWN_BINS` intervals."""
    series = io_series(tbl, interval_s, local)
    meta = series.schema.metadata or {}
    local_text = meta.get(b"local", b"").decode()
    if series.num_rows == 0:
        return no_data_svg("I/O graph", "no packets in the trace")
    nbins = series.num_rows
    if nbins > MAX_DRAWN_BINS:
        raise ValueError(f"{nbins} intervals are too many to draw (at most {MAX_DRAWN_BINS}): "
                         f"choose a longer interval")
    iv = interval_ns(series) / 1e9
    cols = {name: np.asarray(series[name].to_numpy()) for name in series.column_names}
    show = [s for s in _IO_SERIES if s[0] != "other" or cols["packets_other"].any()]
    height = 610
    left, width = 80, WIDTH - 80 - 24
    title = f"I/O graph: packets and bytes per {_dur(iv)}"
    out = _open(WIDTH, height, title, ' class="io-graph"')
    out.append(f'<text x="12" y="40" fill="#444444">{escape(local_text)}; {nbins} intervals of {escape(_dur(iv))} '
               f'from the first packet; {int(cols["packets"].sum())} packets, '
               f'{escape(_si(float(cols["bytes"].sum())))} bytes</text>')
    legend = [(name, colour, f"{text}: {int(cols['packets_' + name].sum())} packets, "
                             f"{_si(float(cols['bytes_' + name].sum()))} bytes") for name, colour, text in show]
    out += _legend(left, 62, legend)
    x_end = nbins * iv
    panels = (("packets", "packets per interval", 80), ("bytes", "bytes per interval", 345))
    frames: list[_Frame] = []
    for unit, ylabel, top in panels:
        peak = max(float(cols[f"{unit}_{name}"].max()) for name, _, _ in show)
        fr = _Frame(left, top, width, 210, (0.0, x_end), (0.0, max(peak, 1.0) * 1.05))
        frames.append(fr)
        out += fr.axes("time since the first packet", ylabel, None, _si, yint=True)
        xs = np.asarray(fr.px(cols["offset"]))
        for name, colour, _ in show:
            ys = np.asarray(fr.py(cols[f"{unit}_{name}"]))
            out.append(f'<path class="series {unit}" data-series="{unit}_{name}" fill="none" '
                       f'stroke="{colour}" stroke-width="1.3" d="{_steps(xs, ys, float(fr.px(x_end)))}"/>')
    if nbins <= MAX_BIN_TARGETS:
        area_top, bottom = frames[0].top, frames[1].top + frames[1].height
        xs = np.asarray(frames[0].px(cols["offset"]))
        w = float(frames[0].px(iv) - frames[0].px(0.0))
        out.append('<g class="bins">')
        for i in range(nbins):
            numbers = " ".join(f'data-{k.replace("_", "-")}="{int(cols[k][i])}"'
                               for k in ("packets", "bytes", "packets_out", "bytes_out", "packets_in",
                                         "bytes_in", "packets_other", "bytes_other"))
            tip = (f"{_dur(float(cols['offset'][i]))} to {_dur(float(cols['offset'][i]) + iv)}: "
                   f"{int(cols['packets'][i])} packets, {int(cols['bytes'][i])} bytes; "
                   f"out {int(cols['packets_out'][i])} packets {int(cols['bytes_out'][i])} bytes; "
                   f"in {int(cols['packets_in'][i])} packets {int(cols['bytes_in'][i])} bytes")
            out.append(f'<rect class="bin" data-bin="{i}" data-start="{int(cols["start"][i])}" '
                       f'data-offset="{_num(float(cols["offset"][i]))}" {numbers} x="{_n(xs[i])}" '
                       f'y="{_n(area_top)}" width="{_n(max(w, 0.1))}" height="{_n(bottom - area_top)}" '
                       f'fill="none" pointer-events="all"><title>{escape(tip)}</title></rect>')
        out.append("</g>")
    return _close(out)


# ------------------------------------------------------------------ Stevens graph

STEVENS_COLUMNS = list(dict.fromkeys(["frame.number", "frame.time_epoch", "tcp.seq", "tcp.ack", "tcp.len",
                                      "tcp.flags", "tcp.window_size", "tcp.analysis.retransmission",
                                      *endpoints.NEEDS]))
"""The packet-table columns :func:`stevens_svg` reads (besides those the sessions were built from)."""

_ACK = 0x10


def _unwrap32(v: np.ndarray) -> np.ndarray:
    """Relative sequence numbers (mod 2**32) made monotonic across a wrap: each value is taken
    as the one nearest the previous value."""
    if len(v) < 2:
        return v.astype(np.int64)
    d: np.ndarray = np.diff(v.astype(np.int64))
    d = np.mod(d + (1 << 31), 1 << 32) - (1 << 31)
    return np.concatenate([[int(v[0])], int(v[0]) + np.cumsum(d)])


def _address_bytes(text: str) -> bytes:
    import ipaddress

    a = ipaddress.ip_address(text)
    return (endpoints.V4_PREFIX + a.packed) if a.version == 4 else a.packed


def _session_row(sessions: Sessions, sid: int) -> dict[str, Any]:
    """The session table's row of ``sid``; KeyError if there is none."""
    st = sessions.table
    hit = np.flatnonzero(np.asarray(st["sid"].to_numpy()) == sid) if st.num_rows else np.zeros(0, np.int64)
    if len(hit) == 0:
        raise KeyError(f"no session {sid}")
    row: dict[str, Any] = st.slice(int(hit[0]), 1).to_pylist()[0]
    return row


def stevens_points(tbl: pa.Table, sid: int, sessions: Sessions, sender: str | None = None) -> dict[str, Any]:
    """The data of the Stevens graph of TCP session ``sid``: for the sender (``"initiator"``,
    ``"responder"``, or None: the one that sent more payload), the frame number, time (seconds
    since ``tbl``'s first frame, as ``frame.time_relative``), relative sequence number, length and
    retransmission flag of each of its data segments, and the time, relative acknowledgment number
    and window of each ACK from the receiver; ``session_start`` is the session's first packet's
    time on the same clock.  Raises KeyError for an unknown session, ValueError
    when it is not TCP or ``tbl`` lacks the columns (:data:`STEVENS_COLUMNS`)."""
    missing = [c for c in ("frame.number", "frame.time_epoch", "tcp.seq", "tcp.ack", "tcp.len", "tcp.flags",
                           "tcp.window_size") if c not in tbl.column_names]
    if missing:
        raise ValueError(f"the packet table lacks the columns {', '.join(missing)}")
    row = _session_row(sessions, sid)
    if row["proto"] != "tcp":
        raise ValueError(f"session {sid} is {row['proto']}, not TCP")
    if sender not in (None, "initiator", "responder"):
        raise ValueError(f"sender must be 'initiator' or 'responder', not {sender!r}")
    if len(sessions.sid) != tbl.num_rows:
        raise ValueError(f"the sessions were built from a table of {len(sessions.sid)} packets, not this one "
                         f"of {tbl.num_rows}")
    e = endpoints.ends(tbl)
    rows = np.flatnonzero(sessions.packets(sid) & (e.proto == 6) & _valid(tbl, "tcp.seq"))
    init_addr = np.frombuffer(_address_bytes(row["initiator_ip"]), np.uint8)
    from_init = (e.src[rows] == init_addr).all(axis=1) & (e.sport[rows] == row["initiator_port"])
    length, _ = values(tbl, "tcp.len", np.int64)
    length = length[rows]
    if sender is None:
        sent_init = int(length[from_init].sum())
        sent_resp = int(length[~from_init].sum())
        sender = "initiator" if sent_init >= sent_resp else "responder"
    fwd = from_init if sender == "initiator" else ~from_init
    t, _ = values(tbl, "frame.time_epoch", np.int64)
    t_first = int(t[0]) if len(t) else 0
    frame, _ = values(tbl, "frame.number", np.int64)
    seq, _ = values(tbl, "tcp.seq", np.int64)
    ack, has_ack = values(tbl, "tcp.ack", np.int64)
    win, has_win = values(tbl, "tcp.window_size", np.int64)
    flags, _ = values(tbl, "tcp.flags", np.int64)
    retrans, _ = values(tbl, "tcp.analysis.retransmission", np.int64)
    data = rows[fwd & (length > 0)]
    acks = rows[~fwd]
    acks = acks[has_ack[acks] & ((flags[acks] & _ACK) != 0)]
    if sender == "initiator":
        src = (row["initiator_ip"], row["initiator_port"])
        dst = (row["responder_ip"], row["responder_port"])
    else:
        src = (row["responder_ip"], row["responder_port"])
        dst = (row["initiator_ip"], row["initiator_port"])
    ack_abs = _unwrap32(ack[acks])
    return {
        "sid": sid, "sender": sender, "src": src, "dst": dst,
        "frame": frame[data], "time": (t[data] - t_first) / 1e9, "seq": _unwrap32(seq[data]),
        "len": length[fwd & (length > 0)],
        "retransmission": retrans[data].astype(bool),
        "ack_frame": frame[acks], "ack_time": (t[acks] - t_first) / 1e9, "ack": ack_abs,
        "session_start": (int(row["start"]) - t_first) / 1e9,
        "window": np.where(has_win[acks], ack_abs + win[acks], ack_abs),
    }


def _address(end: tuple[Any, Any]) -> str:
    ip, port = end
    ip = str(ip)
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def stevens_svg(tbl: pa.Table, sid: int, sessions: Sessions, sender: str | None = None) -> str:
    """The TCP time-sequence graph (Stevens) of session ``sid``: the relative sequence number of
    each data segment the sender sent (by default the side that sent more payload) over time,
    retransmissions marked, with the receiver's ACK line and receive-window line (ack + window).
    A session that is not TCP, or has no data segments from the sender, gives a "no data" SVG;
    KeyError for an unknown session, ValueError for a table lacking :data:`STEVENS_COLUMNS`."""
    row = _session_row(sessions, sid)
    if row["proto"] != "tcp":
        return no_data_svg(f"TCP time-sequence graph (Stevens): session {sid}",
                           f"session {sid} is {row['proto']}, not TCP: it has no sequence numbers to draw")
    p = stevens_points(tbl, sid, sessions, sender)
    title = f"TCP time-sequence graph (Stevens): session {sid}, {_address(p['src'])} -> {_address(p['dst'])}"
    n = len(p["frame"])
    if n == 0:
        return no_data_svg(title, f"no data segments from {_address(p['src'])} in session {sid}")
    height = 560
    left, top, pw, ph = 90, 80, WIDTH - 90 - 24, 400
    # Time runs from the session's first packet (a session may start hours into a trace);
    # data-time keeps tshark's frame.time_relative.
    base = p["session_start"]
    seg_t = p["time"] - base
    ack_t = p["ack_time"] - base
    times = np.concatenate([seg_t, ack_t])
    ys = np.concatenate([p["seq"], p["seq"] + p["len"], p["ack"], p["window"]])
    t0, t1 = float(times.min()), float(times.max())
    pad = (t1 - t0) * 0.02 or 1e-3
    y0, y1 = float(ys.min()), float(ys.max())
    if 0 <= y0 < 0.2 * (y1 - y0):
        y0 = 0.0
    fr = _Frame(left, top, pw, ph, (min(t0 - pad, 0.0) if t0 < 5 * pad else t0 - pad, t1 + pad),
                (y0, y0 + (y1 - y0) * 1.03 + 1))
    out = _open(WIDTH, height, title, ' class="stevens"')
    nret = int(p["retransmission"].sum())
    out.append(f'<text x="12" y="40" fill="#444444">{n} data segments, {nret} retransmitted, '
               f'{int(p["len"].sum())} bytes; sender: the {escape(p["sender"])}</text>')
    out += _legend(left, 62, [("seg", IN_COLOUR, "data segment (relative seq)"),
                              ("retransmission", "#d62728", "retransmission"),
                              ("ack", "#2ca02c", "ACK from the receiver"),
                              ("rwin", "#9467bd", "receive window (ack + window)")])
    xlabel = "time since the session's first packet"
    if base > 0:
        xlabel += f" ({_dur(base)} after the first packet of the trace)"
    out += fr.axes(xlabel, "relative sequence number", None, _si)
    if len(p["ack_time"]):
        ax = np.asarray(fr.px(ack_t))
        end = float(fr.px(t1))
        out.append(f'<path class="ack" fill="none" stroke="#2ca02c" stroke-width="1.2" '
                   f'd="{_steps(ax, np.asarray(fr.py(p["ack"])), end)}"/>')
        out.append(f'<path class="rwin" fill="none" stroke="#9467bd" stroke-width="1.2" '
                   f'd="{_steps(ax, np.asarray(fr.py(p["window"])), end)}"/>')
    xs = np.asarray(fr.px(seg_t))
    yseq = np.asarray(fr.py(p["seq"]))
    yend = np.asarray(fr.py(p["seq"] + p["len"]))
    ret = p["retransmission"]
    individual = np.ones(n, dtype=bool) if n <= MAX_POINTS else ret.copy()
    if n > MAX_POINTS:
        # One dot per screen pixel the segments fall on: the picture is the same.
        bulk = ~ret
        pix = np.unique(np.stack([np.rint(xs[bulk]), np.rint(yseq[bulk])], axis=1), axis=0)
        d = "".join(f"M{int(x)} {int(y)}h0" for x, y in pix.tolist())
        out.append(f'<path class="segs" data-count="{int(bulk.sum())}" stroke="{IN_COLOUR}" stroke-width="3" '
                   f'stroke-linecap="round" fill="none" d="{d}"/>')
    out.append('<g class="segments">')
    for i in np.flatnonzero(individual).tolist():
        cls = "seg retransmission" if ret[i] else "seg"
        colour = "#d62728" if ret[i] else IN_COLOUR
        tip = (f"frame {int(p['frame'][i])} at {p['time'][i]:.6f} s: seq {int(p['seq'][i])}, "
               f"len {int(p['len'][i])}{' (retransmission)' if ret[i] else ''}")
        out.append(f'<g class="segment"><line x1="{_n(xs[i])}" y1="{_n(yseq[i])}" x2="{_n(xs[i])}" '
                   f'y2="{_n(yend[i])}" stroke="{colour}"/>'
                   f'<circle class="{cls}" data-frame="{int(p["frame"][i])}" data-time="{p["time"][i]:.9f}" '
                   f'data-seq="{int(p["seq"][i])}" data-len="{int(p["len"][i])}" cx="{_n(xs[i])}" '
                   f'cy="{_n(yseq[i])}" r="{3.5 if ret[i] else 2.2}" fill="{colour}">'
                   f'<title>{escape(tip)}</title></circle></g>')
    out.append("</g>")
    return _close(out)


# ------------------------------------------------------------------ response-time histogram

LOG_SPAN = 50.0
"""Response times spanning more than this ratio (slowest / fastest) get logarithmic bins."""


def _edges_125(lo: float, hi: float) -> np.ndarray:
    """Bin edges on the 1-2-5 series from at or below ``lo`` to above ``hi`` (both > 0)."""
    exp = math.floor(math.log10(lo))
    edges: list[float] = []
    while True:
        for m in (1, 2, 5):
            v = float(f"{m}e{exp}")
            if v <= lo * (1 + 1e-12):
                edges = [v]
            elif edges:
                edges.append(v)
                if v > hi:
                    return np.asarray(edges)
        exp += 1


def histogram_bins(secs: np.ndarray) -> tuple[np.ndarray, bool]:
    """Bin edges (seconds) for response times ``secs`` (answered ones, >= 0) and whether they are
    logarithmic: 1-2-5 steps per decade when the times span more than :data:`LOG_SPAN`, else about
    20 equal bins of a round width from 0.  Bin ``i`` is [edges[i], edges[i+1]); the last one also holds
    its upper edge.  On a log scale the first bin starts at 0 when some time is 0."""
    pos = secs[secs > 0]
    if len(pos) and pos.max() / pos.min() > LOG_SPAN:
        edges = _edges_125(float(pos.min()), float(pos.max()))
        if (secs <= 0).any():
            edges[0] = 0.0
        return edges, True
    # Linear: from 0, so the picture shows how long the times are, not only how they differ.
    hi = float(secs.max())
    step = steps_125(max(hi / 20, 1e-6))
    k = int(math.floor(hi / step + 1e-9)) + 1
    return np.asarray([i * step for i in range(k + 1)]), False


def histogram_counts(secs: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """How many of ``secs`` fall in each bin of ``edges`` (see :func:`histogram_bins`)."""
    idx = np.searchsorted(edges, secs, side="right") - 1
    idx = np.clip(idx, 0, len(edges) - 2)
    return np.bincount(idx, minlength=len(edges) - 1)


def response_histogram_svg(transactions: pa.Table, kind: str, threshold: float | None = None) -> str:
    """The response times of the ``kind`` transactions (``dns``, ``tcp.connect``, ``http`` ...)
    of a :func:`tracedoc.analyze.transactions.transactions` table as a histogram, with the
    unanswered ones counted apart, the ``threshold`` (default: the type's in
    :data:`~tracedoc.analyze.transactions.DEFAULT_THRESHOLDS`) marked and the slowest listed."""
    from tracedoc.analyze.transactions import DEFAULT_THRESHOLDS

    title = f"Response times: {kind}"
    if "type" not in transactions.column_names or transactions.num_rows == 0:
        return no_data_svg(title, "no transactions in the trace")
    mine = transactions.filter(pc.fill_null(pc.equal(transactions["type"], kind), False))
    if mine.num_rows == 0:
        return no_data_svg(title, f"no {kind} transactions in the trace")
    rt = mine["response_time"].combine_chunks()
    answered = np.asarray(rt.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    secs_all = np.asarray(rt.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.float64) / 1e9
    secs = secs_all[answered]
    unanswered = int((~answered).sum())
    if threshold is None:
        threshold = DEFAULT_THRESHOLDS.get(kind)
    if len(secs) == 0:
        return no_data_svg(title, f"{mine.num_rows} {kind} transactions, none answered in the trace")
    edges, logx = histogram_bins(secs)
    counts = histogram_counts(secs, edges)
    height = 470 + 18 * min(MAX_SLOWEST, len(secs))
    left, top, pw, ph = 70, 80, WIDTH - 70 - 24 - (100 if unanswered else 0), 260
    scale_lo = edges[1] / 2 if logx and edges[0] == 0 else edges[0]
    fr = _Frame(left, top, pw, ph, (float(scale_lo), float(edges[-1])), (0.0, float(counts.max()) * 1.1),
                logx=logx)
    out = _open(WIDTH, height, title, ' class="response-histogram"')
    over = int((secs > threshold).sum()) if threshold is not None else 0
    facts = (f"{mine.num_rows} transactions, {len(secs)} answered, {unanswered} unanswered; "
             f"min {_dur(float(secs.min()))}, median {_dur(float(np.percentile(secs, 50)))}, "
             f"p95 {_dur(float(np.percentile(secs, 95)))}, max {_dur(float(secs.max()))}"
             + (f"; {over} over the threshold of {_dur(threshold)}" if threshold is not None else ""))
    out.append(f'<text class="facts" x="12" y="40" fill="#444444">{escape(facts)}</text>')
    out.append(f'<text x="12" y="60" fill="#444444">{"logarithmic" if logx else "linear"} bins</text>')
    xticks = [float(v) for v in edges] if logx else None
    if logx and len(edges) > 13:
        xticks = [float(v) for v in edges if float(f"{v:.1e}"[0]) in (1.0,)]
    if logx and edges[0] == 0:
        xticks = [v for v in (xticks or []) if v > 0]
    out += fr.axes("response time", "transactions", _dur if logx else None, _num, xticks, yint=True)
    out.append('<g class="bars">')
    for i, c in enumerate(counts.tolist()):
        lo_e, hi_e = float(edges[i]), float(edges[i + 1])
        x0 = float(fr.px(max(lo_e, scale_lo)))
        x1 = float(fr.px(hi_e))
        y = float(fr.py(c))
        tip = f"{_dur(lo_e)} to {_dur(hi_e)}: {c} transactions"
        out.append(f'<rect class="bar" data-bin="{i}" data-lo="{lo_e!r}" data-hi="{hi_e!r}" data-count="{c}" '
                   f'x="{_n(x0 + 0.5)}" y="{_n(y)}" width="{_n(max(x1 - x0 - 1, 0.5))}" '
                   f'height="{_n(top + ph - y)}" fill="{IN_COLOUR}"><title>{escape(tip)}</title></rect>')
    out.append("</g>")
    if unanswered:
        ux = left + pw + 40
        uh = ph * min(unanswered / max(float(counts.max()) * 1.1, 1.0), 1.0)
        out.append(f'<rect class="bar unanswered" data-count="{unanswered}" x="{ux}" y="{_n(top + ph - uh)}" '
                   f'width="40" height="{_n(uh)}" fill="{OTHER_COLOUR}"><title>{unanswered} unanswered'
                   f'</title></rect>')
        out.append(f'<text x="{ux + 20}" y="{top + ph + 32}" text-anchor="middle">no answer</text>')
        out.append(f'<text x="{ux + 20}" y="{_n(top + ph - uh - 4)}" text-anchor="middle">{unanswered}</text>')
    if threshold is not None and fr.x0 <= threshold <= fr.x1:
        tx = float(fr.px(threshold))
        out.append(f'<line class="threshold" data-seconds="{threshold!r}" x1="{_n(tx)}" y1="{top}" x2="{_n(tx)}" '
                   f'y2="{top + ph}" stroke="#d62728" stroke-dasharray="5 3"/>')
        out.append(f'<text x="{_n(tx + 4)}" y="{top + 12}" fill="#d62728">threshold {escape(_dur(threshold))}</text>')
    # The slowest, with what they asked (a DNS name, a URI, a server name: trace text).
    order = np.argsort(-np.where(answered, secs_all, -1.0), kind="stable")[:min(MAX_SLOWEST, len(secs))]
    y = top + ph + 64
    out.append(f'<text x="12" y="{y}" font-weight="bold">slowest</text>')
    out.append('<g class="slowest">')
    rows = mine.take(pa.array(order)).to_pylist()
    for r, s in zip(rows, secs_all[order].tolist()):
        y += 18
        who = f"{r.get('client') or '?'} -> {r.get('server') or '?'}:{r.get('server_port') or ''}"
        text = (f"frame {r.get('request_frame')}  {_dur(s)}  {who}  {_clip(str(r.get('label') or ''), 60)}"
                f"  {r.get('result') or ''}")
        out.append(f'<text class="transaction" data-frame="{int(r.get("request_frame") or 0)}" x="24" y="{y}">'
                   f"{escape(text)}</text>")
    out.append("</g>")
    return _close(out)


# ------------------------------------------------------------------ protocol hierarchy

def hierarchy_table_svg(phs: pa.Table, frames_total: int, bytes_total: int) -> str:
    """A protocol hierarchy table (:data:`tracedoc.analyze.hosts.PHS_SCHEMA` rows) as a bar tree:
    one row per node, indented by depth, with bars for its share of the frames and the bytes."""
    title = "Protocol hierarchy"
    if phs.num_rows == 0:
        return no_data_svg(title, "no frames in the trace")
    rows = phs.to_pylist()
    row_h = 20
    top = 64
    height = top + row_h * len(rows) + 20
    name_w, bar_w = 300, 200
    fx, bx = 12 + name_w, 12 + name_w + bar_w + 130
    out = _open(WIDTH, height, f"{title} ({frames_total} frames, {bytes_total} bytes)", ' class="hierarchy"')
    out.append(f'<text x="{fx}" y="{top - 8}" font-weight="bold">frames</text>')
    out.append(f'<text x="{bx}" y="{top - 8}" font-weight="bold">bytes</text>')
    for i, r in enumerate(rows):
        y = top + row_h * i
        fshare = r["frames"] / frames_total if frames_total else 0.0
        bshare = (r["bytes"] or 0) / bytes_total if bytes_total else 0.0
        depth = int(r["depth"] or 0)
        out.append(f'<g class="node" data-path={quoteattr(str(r["path"]))} data-protocol={quoteattr(str(r["protocol"]))} '
                   f'data-depth="{depth}" data-frames="{int(r["frames"])}" data-bytes="{int(r["bytes"] or 0)}">')
        out.append(f'<title>{escape(str(r["path"]))}: {int(r["frames"])} frames ({fshare:.2%}), '
                   f'{int(r["bytes"] or 0)} bytes ({bshare:.2%})</title>')
        if i % 2:
            out.append(f'<rect class="stripe" x="6" y="{y}" width="{WIDTH - 12}" height="{row_h}" fill="#f6f6f6"/>')
        out.append(f'<text class="protocol" x="{12 + 14 * depth}" y="{y + 14}">'
                   f'{escape(_clip(str(r["protocol"]), max(8, 40 - 2 * depth)))}</text>')
        for cls, x, share, count in (("frames", fx, fshare, int(r["frames"])),
                                     ("bytes", bx, bshare, int(r["bytes"] or 0))):
            out.append(f'<rect class="bar {cls}" x="{x}" y="{y + 4}" width="{_n(max(bar_w * share, 0.5))}" '
                       f'height="{row_h - 8}" fill="{IN_COLOUR if cls == "frames" else OUT_COLOUR}"/>')
            out.append(f'<text x="{x + bar_w + 6}" y="{y + 14}">{count} ({share:.1%})</text>')
        out.append("</g>")
    return _close(out)


def hierarchy_svg(tbl: pa.Table) -> str:
    """The protocol hierarchy of the packet table (``tshark -q -z io,phs``'s numbers, from
    :func:`tracedoc.analyze.hosts.protocol_hierarchy`) as a horizontal bar tree."""
    from tracedoc.analyze.hosts import protocol_hierarchy

    phs = protocol_hierarchy(tbl)
    size, _ = values(tbl, "frame.len", np.int64)
    return hierarchy_table_svg(phs, tbl.num_rows, int(size.sum()))
