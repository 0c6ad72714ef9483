"""The Sequence of Execution drawn as a ladder diagram (SVG).

Two lifelines, the local side on the left and the remote side on the right;
one arrow per packet, top to bottom in time order, labelled with the
packet's Messages text and its sequence, acknowledgment and window fields.
Rows are evenly spaced (a ladder is read step by step; the time column and
the elapsed time since the previous packet say how far apart they were).

Every text is XML-escaped: trace contents are chosen by whoever sent the
packets.  Each arrow is a ``<g class="packet" data-frame="N">`` so a page
can link it to the packet's details.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

import pyarrow as pa

from tracedoc.analyze.sequence import Sequence

ROW = 34
TOP = 70
LEFT_TEXT = 12
LOCAL_X = 330
REMOTE_X = 830
WIDTH = 1010
MAX_LABEL = 70


def _clip(text: str, n: int = MAX_LABEL) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _seconds(ns: int | None) -> str:
    if ns is None:
        return ""
    return f"+{ns / 1e9:.4f}s"


def ladder_svg(seq: Sequence, times: pa.Array) -> str:
    """SVG text of the ladder; ``times`` are the rows' timestamps as text."""
    rows = seq.rows.to_pylist()
    tstexts = times.to_pylist()
    height = TOP + ROW * max(len(rows), 1) + 30
    out: list[str] = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="monospace" font-size="11">',
        f"<title>{escape('Sequence of Execution: ' + seq.heading())}</title>",
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" "
        "markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\"/></marker></defs>",
        f'<text x="{LEFT_TEXT}" y="18" font-weight="bold">{escape(seq.heading())}</text>',
        f'<text x="{LOCAL_X}" y="44" text-anchor="middle" font-weight="bold">'
        f"{escape('Local ' + ', '.join(seq.local_ips))}</text>",
        f'<text x="{REMOTE_X}" y="44" text-anchor="middle" font-weight="bold">'
        f"{escape('Remote ' + ', '.join(seq.remote_ips))}</text>",
        f'<line x1="{LOCAL_X}" y1="{TOP - 14}" x2="{LOCAL_X}" y2="{height - 10}" stroke="#555"/>',
        f'<line x1="{REMOTE_X}" y1="{TOP - 14}" x2="{REMOTE_X}" y2="{height - 10}" stroke="#555"/>',
    ]
    for i, (r, ts) in enumerate(zip(rows, tstexts)):
        y = TOP + ROW * i + 16
        d = r["Direction"] or ""
        inbound = d.startswith("<")
        x1, x2 = (REMOTE_X, LOCAL_X) if inbound else (LOCAL_X, REMOTE_X)
        colour = "#1f5fa8" if inbound else "#b04a00"
        dash = "" if d else ' stroke-dasharray="4 3"'
        msg = r["Messages"] or ""
        numbers = " ".join(f"{k} {r[c]}" for k, c in (("seq", "Seq. Number"), ("ack", "Ack. Number"),
                                                      ("win", "Window Size")) if r[c] is not None)
        ports = f"{r['Local Port'] or ''} {d or '?'} {r['Rmt. Port'] or ''}".strip()
        tip = f"frame {r['ID']} {ts or ''} {ports} {msg} {numbers}".strip()
        out.append(f'<g class="packet" data-frame="{int(r["ID"])}"><title>{escape(tip)}</title>')
        out.append(f'<text x="{LEFT_TEXT}" y="{y}">{escape(str(r["ID"]))}</text>')
        out.append(f'<text x="{LEFT_TEXT + 52}" y="{y}">{escape(ts or "")}</text>')
        out.append(f'<text x="{LEFT_TEXT + 52}" y="{y + 12}" fill="#666">{escape(_seconds(r["Elapsed"]))} '
                   f'{escape(str(r["Datagram Size"] or ""))}B</text>')
        out.append(f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke={quoteattr(colour)} stroke-width="1.5"'
                   f'{dash} marker-end="url(#arrow)"/>')
        mid = (LOCAL_X + REMOTE_X) // 2
        out.append(f'<text x="{mid}" y="{y - 4}" text-anchor="middle">{escape(_clip(msg))}</text>')
        if numbers:
            out.append(f'<text x="{mid}" y="{y + 12}" text-anchor="middle" fill="#666">{escape(numbers)}</text>')
        out.append(f'<text x="{REMOTE_X + 8}" y="{y + 4}">{escape(str(r["Rmt. Port"] or ""))}</text>')
        out.append(f'<text x="{LOCAL_X - 8}" y="{y + 4}" text-anchor="end">{escape(str(r["Local Port"] or ""))}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
