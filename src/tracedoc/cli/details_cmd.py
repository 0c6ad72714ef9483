"""``tracedoc details``: the seed's Packet Details and Hex Decode views of
chosen frames.

The trace is decoded from its start (TCP reassembly and IP reassembly need
every segment before the frame) with the application pass keeping the
detail trees of the chosen frames, and reading stops once the batch holding
the last of them is decoded.  The header blocks come from
:mod:`tracedoc.decode.details`, the application blocks from the
application pass, the record facts and times from the frame's packet-table
row.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from tracedoc.decode import details
from tracedoc.decode.apptree import Node, Tree
from tracedoc.errors import TracedocError

MAX_FRAMES = 200
"""At most this many frames are shown per run (a ``-Y`` filter or an ``-n``
range that selects more shows the first ones and says so)."""


class FrameNumberError(TracedocError):
    """A frame number or range the trace does not have."""


@dataclass
class Frame:
    number: int
    ts_ns: int
    data: bytes
    linktype: int
    wire_len: int
    row: dict[str, Any]
    trees: list[Tree] = field(default_factory=list)

    def blocks(self) -> list[Node]:
        return details.packet_details(self.data, self.linktype, self.wire_len, self.row, self.trees)


# -- which frames ----------------------------------------------------------------


def parse_frames(specs: Iterable[str]) -> list[tuple[int, int]]:
    """``-n 7``, ``-n 5-9`` (inclusive) and commas (``-n 1,4-6``) as ranges."""
    out: list[tuple[int, int]] = []
    for spec in specs:
        for part in spec.split(","):
            text = part.strip()
            lo_s, dash, hi_s = text.partition("-")
            try:
                lo = int(lo_s)
                hi = int(hi_s) if dash else lo
            except ValueError:
                raise FrameNumberError(f"bad frame number '{text}' (give N or N-M)") from None
            if lo < 1:
                raise FrameNumberError(f"frame {lo} is out of range (frames are numbered from 1)")
            if hi < lo:
                raise FrameNumberError(f"bad frame range '{text}' (the end is before the start)")
            out.append((lo, hi))
    return out


def first_frames(ranges: list[tuple[int, int]], limit: int) -> tuple[list[int], bool]:
    """The lowest ``limit`` frame numbers the ranges name, and whether there were more."""
    picked: set[int] = set()
    for lo, hi in sorted(ranges):
        for n in range(lo, min(hi, lo + limit + 1) + 1):
            picked.add(n)
    ordered = sorted(picked)
    return ordered[:limit], len(ordered) > limit


def matching_frames(trace, flt, limit: int) -> tuple[list[int], bool]:  # type: ignore[no-untyped-def]
    """The first ``limit`` frames a display filter selects (a first pass that
    decodes only the filter's columns), and whether there were more."""
    import numpy as np

    cols = list(dict.fromkeys(["frame.number"] + list(flt.columns)))
    found: list[int] = []
    for b in trace.iter_packets(columns=cols):
        if b.num_rows == 0:
            continue
        mask = np.asarray(flt(b), dtype=bool)
        if mask.any():
            nums = b.column("frame.number").to_numpy(zero_copy_only=False)[mask]
            found += [int(x) for x in nums[: limit + 1 - len(found)]]
        if len(found) > limit:
            return found[:limit], True
    return found, False


# -- decoding the chosen frames ---------------------------------------------------------


def detail_columns(apps: list[str], flt=None) -> list[str]:  # type: ignore[no-untyped-def]
    """What the Packet Details of frames carrying the application protocols
    ``apps`` read: every decoded column of the lower layers and the columns
    of those protocols (so the application pass decodes their conversations
    and, through ``HANDS_OFF_TO``, any that can turn into them, and skips
    the rest), plus what ``flt`` reads.  Derived columns are not shown in
    details, so none are made."""
    from tracedoc.decode import dispatch
    from tracedoc.decode.table import APP_COLUMNS, FIELDS

    names = set(apps)
    mods = [*dispatch.APP_PROTOCOLS, *dispatch.UDP_APPS.values(), *dispatch.TCP_APPS.values(),
            *dispatch.UDP_HEURISTICS, *dispatch.TCP_HEURISTICS]
    cols = [c for c in FIELDS if c not in APP_COLUMNS]
    for m in mods:
        if getattr(m, "NAME", None) in names:
            cols += [f.name for f in m.FIELDS]
    if flt is not None:
        cols += list(flt.columns)
    return list(dict.fromkeys(cols))


def collect(trace, wanted: list[int], flt=None,  # type: ignore[no-untyped-def]
            progress: Callable[[int, int], None] | None = None,
            apps: list[str] | None = None) -> tuple[list[Frame], int, bool]:
    """Decode the trace from its start until every wanted frame is decoded.

    Returns the frames (those ``flt`` selects, when given), the number of
    frames read, and whether the trace ended before the last wanted frame.
    ``apps``: the application protocols the wanted frames carry, when known
    (the packet table's ``tracedoc.app``): only those are decoded on the way,
    which gives the same frames (see :func:`detail_columns`) far sooner in a
    big trace.
    """
    import numpy as np

    from tracedoc.analyze.derived import Packets

    want = set(wanted)
    last = max(wanted)
    dec = Packets(detail_columns(apps, flt) if apps is not None else None, detail_frames=want)
    out: list[Frame] = []
    read = 0
    for b in trace.iter_frames(progress):
        n = len(b)
        first = b.first_number
        read = first + n - 1 if n else read
        rb = dec.decode(b)
        here = [f for f in wanted if first <= f < first + n]
        if here:
            keep = np.ones(n, dtype=bool) if flt is None else np.asarray(flt(rb), dtype=bool)
            trees = dec.decoder.app.trees if dec.decoder.app is not None else {}
            for f in here:
                i = f - first
                if not keep[i]:
                    continue
                row = rb.slice(i, 1).to_pylist()[0]
                out.append(Frame(f, int(b.ts_ns[i]), b.packet_bytes(i), int(b.linktype[i]), int(b.origlen[i]),
                                 row, list(trees.pop(f, []))))
        if read >= last:
            return out, read, False
    return out, read, True


# -- presenting --------------------------------------------------------------------------


def zone_info(zone: str) -> dt.tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(zone)
    except Exception:
        return dt.timezone.utc


def time_text(ns: int, tz: dt.tzinfo) -> str:
    """``11/2/2005 21:04:29.562100 CST``: the seed's date order, the
    summary's time of day (microseconds), in the local zone."""
    t = dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=tz)
    return f"{t.month}/{t.day}/{t.year} {t:%H:%M:%S}.{(ns % 1_000_000_000) // 1000:06d} {t:%Z}"


def _printable(ch: str) -> str:
    return ch if " " <= ch <= "~" else "."


def hex_lines(data: bytes, ebcdic: bool = False) -> list[str]:
    """The Hex Decode: offset, 16 bytes in hex, the bytes as ASCII, and, for
    z/OS traces, as EBCDIC (code page 037); non-printables as ``.``."""
    width = max(4, len(f"{max(len(data) - 1, 0):X}"))
    out = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        hx = " ".join(f"{b:02X}" for b in chunk[:8])
        if len(chunk) > 8:
            hx += "  " + " ".join(f"{b:02X}" for b in chunk[8:])
        asc = "".join(_printable(chr(b)) for b in chunk)
        line = f"{off:0{width}X}  {hx:<48}  {asc}"
        if ebcdic:
            line = f"{line:<{width + 2 + 48 + 2 + 16}}  " + "".join(_printable(c) for c in chunk.decode("cp037"))
        out.append(line.rstrip())
    return out


def _node_lines(node: Node, indent: int, out: list[str]) -> None:
    for c in node.children:
        if isinstance(c, details.Hidden):
            continue
        out.append(" " * indent + c.label)
        if c.children and not isinstance(c, details.Line):
            _node_lines(c, indent + 2, out)


def block_lines(blocks: list[Node]) -> list[str]:
    """The text of Packet Details blocks: a blank line, the block's title,
    its lines; nested sections indented."""
    out: list[str] = []
    for blk in blocks:
        out.append("")
        out.append(blk.label)
        _node_lines(blk, 0, out)
    return out


def text_lines(fr: Frame, tz: dt.tzinfo, with_hex: bool, ebcdic: bool) -> list[str]:
    out = [f"Packet ID : {fr.number}", f"Time : {time_text(fr.ts_ns, tz)}"]
    out += block_lines(fr.blocks())
    if with_hex:
        out += ["", "Hex Decode" + (" (ASCII, EBCDIC)" if ebcdic else "")]
        out += hex_lines(fr.data, ebcdic)
    return out


def _with_address_text(d: dict[str, Any]) -> dict[str, Any]:
    """Node dicts whose value is an address (stored as a number, as the
    packet table stores it) also get the address as text, under ``show``."""
    from tracedoc.analyze.derived import FIELDS

    f = FIELDS.get(d.get("field") or "")
    v = d.get("value")
    if f is not None and v is not None:
        if f.type == "ether" and isinstance(v, int):
            d["show"] = details.mac_text(v).lower()
        elif f.type == "ipv4" and isinstance(v, int):
            d["show"] = details.ipv4_text(v)
        elif f.type == "ipv6" and isinstance(v, str) and len(v) == 32:
            d["show"] = details.ipv6_text(bytes.fromhex(v))
    for c in d.get("children", ()):
        _with_address_text(c)
    return d


def json_object(fr: Frame, tz: dt.tzinfo) -> dict[str, Any]:
    """``{"frame", "time" (epoch seconds), "local_time", "layers" (node
    dicts: label, offset, length, field, value, children), "hex"}``."""
    return {
        "frame": fr.number,
        "time": fr.ts_ns / 1e9,
        "local_time": time_text(fr.ts_ns, tz),
        "layers": [_with_address_text(b.as_dict()) for b in fr.blocks()],
        "hex": fr.data.hex(),
    }


def show(frames: list[Frame], as_json: bool, with_hex: bool, ebcdic: bool, out: TextIO | None = None) -> None:
    from tracedoc.cli.render import local_zone

    out = out or sys.stdout
    tz = zone_info(local_zone())
    for k, fr in enumerate(frames):
        if as_json:
            out.write(json.dumps(json_object(fr, tz), default=_json_default) + "\n")
            continue
        if k:
            out.write("\n" + "-" * 72 + "\n\n")
        out.write("\n".join(text_lines(fr, tz, with_hex, ebcdic)) + "\n")
    out.flush()


def _json_default(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    return str(v)


def run(trace, specs: tuple[str, ...], flt, as_json: bool, with_hex: bool,  # type: ignore[no-untyped-def]
        progress: Callable[[int, int], None] | None = None) -> list[str]:
    """Pick, decode and show the frames; returns notes for stderr."""
    notes: list[str] = []
    scan_errors: list[Any] = []
    if specs:
        wanted, more = first_frames(parse_frames(specs), MAX_FRAMES)
        if more:
            notes.append(f"showing the first {MAX_FRAMES} of the frames -n names")
    else:
        wanted, more = matching_frames(trace, flt, MAX_FRAMES)
        if more:
            notes.append(f"showing the first {MAX_FRAMES} frames the filter selects; there are more "
                         f"(narrow the filter or pick frames with -n)")
        if not wanted:
            return notes + ["no frame matches the filter"]
        flt = None  # already applied
        scan_errors = list(trace.info.errors)
    frames, read, ended = collect(trace, wanted, flt, progress)
    if not specs and scan_errors and not trace.info.errors:
        # The second pass stopped before the damage the first one read
        # through: it still makes the run fail, as for the other commands.
        trace.info.errors.extend(scan_errors)
    if ended:
        missing = [f for f in wanted if f > read]
        if missing:
            damaged = "; the trace is damaged after it" if trace.info.errors else ""
            raise FrameNumberError(f"frame {missing[0]} is out of range (the trace has {read} frame"
                                   f"{'' if read == 1 else 's'}{damaged})")
    if not frames and flt is not None:
        notes.append("no frame named by -n matches the filter")
    fmt = (trace.info.format or "").lower()
    show(frames, as_json, with_hex, fmt.startswith("ctrace"))
    return notes
