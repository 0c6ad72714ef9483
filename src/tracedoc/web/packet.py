"""Packet Details and Hex Decode of one frame, for the web page.

The frame is decoded exactly as ``tracedoc details -n N`` decodes it
(:func:`tracedoc.cli.details_cmd.collect`: from the trace's start, so TCP
and IP reassembly see every segment before it), and the JSON is that
command's JSON object.  The page shows the same tree as the text view
(hidden fields left out, one-line groups as one line that opens onto its
fields) with each node's byte range, so a click can highlight its bytes
in the hex dump.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from tracedoc.decode import details
from tracedoc.decode.apptree import Node

KEPT = 32
"""Decoded frames kept (clicking back and forth does not decode again)."""


@dataclass
class ViewNode:
    """One line of the details tree as the page shows it."""

    label: str
    offset: int
    length: int
    field: str | None
    kind: str
    """``block`` (a header), ``line`` (several fields on one line), ``node``."""
    in_frame: bool
    """Whether offset/length count in the frame's bytes (not in a reassembled message)."""
    children: list[ViewNode] = dc_field(default_factory=list)


def view_nodes(blocks: list[Node]) -> list[ViewNode]:
    def conv(n: Node, kind: str, in_frame: bool) -> ViewNode:
        if isinstance(n, details.AppBlock) and n.reassembled:
            in_frame = False
        v = ViewNode(n.label, int(n.offset), int(n.length), n.field, kind, in_frame)
        for c in n.children:
            if isinstance(c, details.Hidden):
                continue
            v.children.append(conv(c, "line" if isinstance(c, details.Line) else "node", in_frame))
        return v

    return [conv(b, "block", True) for b in blocks]


@dataclass
class HexRow:
    offset: str
    cells: list[tuple[int, str]]
    """(byte index, two hex digits) per byte."""
    chars: list[tuple[int, str]]
    """(byte index, printable ASCII or '.')."""


def hex_rows(data: bytes) -> list[HexRow]:
    width = max(4, len(f"{max(len(data) - 1, 0):X}"))
    out = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        out.append(HexRow(f"{off:0{width}X}",
                          [(off + i, f"{b:02X}") for i, b in enumerate(chunk)],
                          [(off + i, chr(b) if 0x20 <= b <= 0x7E else ".") for i, b in enumerate(chunk)]))
    return out


def row_columns() -> list[str]:
    """The packet-table columns Packet Details reads from a frame's row (the
    CTRACE record facts, the anomaly), and ``tracedoc.app``, which says
    whether the application pass made a tree for the frame."""
    from tracedoc.decode import ctrace

    return ["frame.number", "tracedoc.app", "_ws.malformed", *[f.name for f in ctrace.FIELDS]]


def quick_frame(path: str, frame: int, row: dict[str, Any]) -> Any:
    """The frame as :func:`~tracedoc.cli.details_cmd.collect` gives it, for a
    frame the application pass made no tree for (``row["tracedoc.app"]`` is
    null): its Packet Details are its headers, which need only its bytes, so
    the file is read up to it without decoding (a second per million frames,
    against a minute to decode them)."""
    import tracedoc
    from tracedoc.cli.details_cmd import Frame

    trace = tracedoc.open(path)
    for b in trace.iter_frames():
        n = len(b)
        if b.first_number <= frame < b.first_number + n:
            i = frame - b.first_number
            return Frame(frame, int(b.ts_ns[i]), b.packet_bytes(i), int(b.linktype[i]), int(b.origlen[i]), row, [])
    raise LookupError(f"the trace has no frame {frame}")


class FrameCache:
    """Decoded frames by (path, size, mtime, frame number)."""

    def __init__(self) -> None:
        self._frames: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str, frame: int, row: dict[str, Any] | None = None) -> Any:
        """The :class:`~tracedoc.cli.details_cmd.Frame`; :class:`LookupError`
        when the trace has no such frame, ``OSError`` / ``TracedocError``
        when the file cannot be read.  ``row``: the frame's :func:`row_columns`
        from the packet table; when it shows no application message the frame
        is read, not decoded (:func:`quick_frame`)."""
        import os

        import tracedoc
        from tracedoc.cli.details_cmd import collect

        st = os.stat(path)
        key = (path, st.st_size, st.st_mtime_ns, frame)
        with self._lock:
            got = self._frames.get(key)
            if got is not None:
                self._frames.move_to_end(key)
                return got
        if row is not None and row.get("tracedoc.app") is None:
            fr = quick_frame(path, frame, row)
        else:
            trace = tracedoc.open(path)
            # The frame's protocols are known from the table: decode only theirs on the way.
            apps = row.get("tracedoc.app") if row is not None else None
            frames, read, _ended = collect(trace, [frame], apps=list(apps) if apps else None)
            if not frames:
                raise LookupError(f"the trace has no frame {frame} (it has {read})")
            fr = frames[0]
        with self._lock:
            self._frames[key] = fr
            while len(self._frames) > KEPT:
                self._frames.popitem(last=False)
        return fr


def json_object(fr: Any) -> dict[str, Any]:
    """The frame's object of ``tracedoc details -n N --json``."""
    from tracedoc.cli.details_cmd import json_object as cli_json
    from tracedoc.cli.details_cmd import zone_info
    from tracedoc.cli.render import local_zone

    return cli_json(fr, zone_info(local_zone()))


def json_default(v: Any) -> Any:
    from tracedoc.cli.details_cmd import _json_default

    return _json_default(v)
