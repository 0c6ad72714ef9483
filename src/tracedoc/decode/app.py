"""The application pass: find application messages in UDP datagrams and TCP
streams, rebuild the ones that span segments, and decode them.

How a protocol module plugs in (``decode/dns.py`` is an example):

* ``NAME`` — the protocol's filter name (``dns``); ``FIELDS`` — its declared
  fields, named as Wireshark names them.
* ``dissect(data: bytes, tree: Tree, info: AppInfo) -> None`` — decode one
  message, calling ``tree.add`` for each field and setting ``tree.message``
  to the Packet Summary wording.  Offsets count from the start of ``data``.
* ``pdu_length(data: bytes, info: AppInfo) -> int`` (TCP protocols that
  frame their messages; optional) — length of the first whole message at
  the start of ``data``; 0 when more bytes are needed to tell; -1 when
  ``data`` does not start a message.  Without it every segment's payload is
  decoded as it comes (line protocols, as Wireshark's FTP dissector does).
* ``heuristic(data: bytes, info: AppInfo) -> bool`` (optional) — whether the
  payload is this protocol, for traffic on ports no table names.

Which module takes which port, and which heuristics are tried, is declared
in :mod:`tracedoc.decode.dispatch` (``UDP_APPS``, ``TCP_APPS``,
``UDP_HEURISTICS``, ``TCP_HEURISTICS``).

TCP payload is reassembled per direction: segments are put in sequence
order, retransmitted bytes are dropped, segments that arrive early wait for
the gap to fill (up to a bound), and a message's fields go on the frame
whose segment completed it, as tshark shows them.  Per-packet Python runs
only here, and only when a view asks for application columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from types import ModuleType
from typing import Any

import numpy as np

from tracedoc.decode.apptree import Tree, Truncated
from tracedoc.decode.context import Ctx, Payloads
from tracedoc.decode.fields import F

FIELDS = (
    F("tracedoc.message", "string", "Messages (the Packet Summary's decoded text)"),
    F("tracedoc.app", "string", "Application protocol decoded"),
)
MESSAGE, APP = FIELDS


@dataclass
class AppInfo:
    """What a decoder knows about the message besides its bytes."""

    transport: str
    """``udp`` or ``tcp``."""
    srcport: int
    dstport: int
    port: int
    """The port the protocol was chosen by (0 when found by heuristic)."""
    state: dict[str, Any]
    """Per-conversation scratch space shared by both directions (a control
    connection's state, the ports a PASV reply announced, ...)."""
    frame: int = 0
    """Frame number of the packet the message completes in."""
    reassembled: bool = False

    @property
    def from_server(self) -> bool:
        """The message came from the side that owns the protocol's port."""
        return self.port != 0 and self.srcport == self.port and self.dstport != self.port

    @property
    def to_server(self) -> bool:
        return self.port != 0 and self.dstport == self.port and self.srcport != self.port

    def handoff(self, module: ModuleType) -> None:
        """From the next segment on, this conversation carries ``module``'s
        protocol (STARTTLS: FTP ``AUTH TLS`` then TLS)."""
        self.state["__handoff__"] = module


def _lookup(table: dict[int, ModuleType], sp: int, dp: int) -> tuple[ModuleType | None, int]:
    """Lower port first, as Wireshark tries them."""
    lo, hi = (sp, dp) if sp <= dp else (dp, sp)
    m = table.get(lo)
    if m is not None:
        return m, lo
    m = table.get(hi)
    if m is not None:
        return m, hi
    return None, 0


# -- TCP stream state ---------------------------------------------------------------

MAX_HELD_SEGMENTS = 64
"""Out-of-order segments held per direction while a gap waits to fill."""
MAX_BUFFER = 4 << 20
"""Bytes buffered per direction for one message before giving up on it."""
MAX_CONVERSATIONS = 200_000


@dataclass
class _Direction:
    next_seq: int | None = None
    buf: bytearray = dc_field(default_factory=bytearray)
    held: dict[int, bytes] = dc_field(default_factory=dict)


@dataclass
class _Conversation:
    module: ModuleType | None
    port: int
    state: dict[str, Any] = dc_field(default_factory=dict)
    dirs: dict[tuple, _Direction] = dc_field(default_factory=dict)
    decided: bool = False


def _signed32(x: int) -> int:
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


class AppDecoder:
    """Application decoding for one trace; keeps TCP stream state across batches."""

    def __init__(self, detail_frames: set[int] | None = None) -> None:
        from tracedoc.decode import dispatch

        self.udp_apps = dispatch.UDP_APPS
        self.tcp_apps = dispatch.TCP_APPS
        self.udp_heur = dispatch.UDP_HEURISTICS
        self.tcp_heur = dispatch.TCP_HEURISTICS
        self.convs: dict[tuple, _Conversation] = {}
        self.udp_state: dict[tuple, dict[str, Any]] = {}
        self.detail_frames = detail_frames or set()
        self.trees: dict[int, list[Tree]] = {}
        """Frame number -> the detail trees of its messages (``detail_frames`` only)."""

    # -- entry point ------------------------------------------------------------
    def decode(self, ctx: Ctx, pl: Payloads) -> None:
        results: dict[int, list[Tree]] = {}
        keys = _Keys(ctx)
        mv = memoryview(ctx.data)  # type: ignore[arg-type]
        first = ctx.batch.first_number
        items: list[tuple] = []
        for rows, pos, plen, sp, dp in pl.udp:
            for r, p, n, s, d in zip(rows.tolist(), pos.tolist(), plen.tolist(), sp.tolist(), dp.tolist()):
                items.append((r, 0, p, n, s, d))
        for r, data, s, d in pl.rebuilt_udp:
            items.append((r, 0, data, -1, s, d))
        for rows, pos, cap, seglen, seq, flags, sp, dp in pl.tcp:
            for r, p, c, sl, q, fl, s, d in zip(rows.tolist(), pos.tolist(), cap.tolist(), seglen.tolist(),
                                                seq.tolist(), flags.tolist(), sp.tolist(), dp.tolist()):
                items.append((r, 1, p, c, s, d, sl, q, fl))
        for r, data, s, d, seq, flags, seglen in pl.rebuilt_tcp:
            items.append((r, 1, data, -1, s, d, seglen, seq, flags))
        if not items:
            return
        items.sort(key=lambda it: it[0])
        for it in items:
            row = it[0]
            if isinstance(it[2], bytes):
                data, base = it[2], -1
            else:
                base = it[2] - int(ctx.start[row])
                data = bytes(mv[it[2]:it[2] + it[3]])
            frame = first + row
            if it[1] == 0:
                trees = self._udp(data, base, it[4], it[5], keys.of(row), frame)
            else:
                trees = self._tcp(data, base, it[4], it[5], it[6], it[7], it[8], keys.of(row), frame)
            if trees:
                results.setdefault(row, []).extend(trees)
                if frame in self.detail_frames:
                    self.trees.setdefault(frame, []).extend(trees)
        self._put(ctx, results)

    # -- UDP ------------------------------------------------------------------
    def _udp(self, data: bytes, base: int, sp: int, dp: int, addrs: tuple, frame: int) -> list[Tree]:
        mod, port = _lookup(self.udp_apps, sp, dp)
        ckey = (addrs, sp, dp) if (addrs, sp) <= (addrs[::-1], dp) else (addrs[::-1], dp, sp)
        state = self.udp_state.get(ckey)
        if state is None:
            if len(self.udp_state) > MAX_CONVERSATIONS:
                self.udp_state.clear()
            state = self.udp_state[ckey] = {}
        info = AppInfo("udp", sp, dp, port, state, frame)
        if mod is None:
            for h in self.udp_heur:
                if _safe_heuristic(h, data, info):
                    mod = h
                    break
            if mod is None:
                return []
        return [self._dissect(mod, data, base, info, frame)]

    # -- TCP ------------------------------------------------------------------
    def _tcp(self, data: bytes, base: int, sp: int, dp: int, seglen: int, seq: int, flags: int,
             addrs: tuple, frame: int) -> list[Tree]:
        a, b = addrs
        fwd = (a, sp) <= (b, dp)
        ckey = (a, sp, b, dp) if fwd else (b, dp, a, sp)
        conv = self.convs.get(ckey)
        if conv is None:
            if len(self.convs) > MAX_CONVERSATIONS:
                self.convs.clear()
            mod, port = _lookup(self.tcp_apps, sp, dp)
            conv = self.convs[ckey] = _Conversation(mod, port, decided=mod is not None)
        if flags & 0x04 and not data:
            return []
        d = conv.dirs.get((a, sp))
        if d is None:
            d = conv.dirs[(a, sp)] = _Direction()
        if flags & 0x02:  # SYN: the data starts one past its sequence number
            seq = (seq + 1) & 0xFFFFFFFF
            d.buf.clear()
            d.held.clear()
            d.next_seq = seq
        if not data:
            return []
        if not conv.decided:
            info = AppInfo("tcp", sp, dp, 0, conv.state, frame)
            for h in self.tcp_heur:
                if _safe_heuristic(h, data, info):
                    conv.module = h
                    break
            conv.decided = conv.module is not None
            if not conv.decided:
                return []
        handoff = conv.state.pop("__handoff__", None)
        if handoff is not None:
            conv.module, conv.port = handoff, conv.port
            for dd in conv.dirs.values():
                dd.buf.clear()
                dd.held.clear()
        mod = conv.module
        assert mod is not None
        info = AppInfo("tcp", sp, dp, conv.port, conv.state, frame)
        framed = hasattr(mod, "pdu_length")
        complete = len(data) >= seglen  # every byte of the segment was captured
        if d.next_seq is None:
            d.next_seq = seq
        rel = _signed32(seq - d.next_seq)
        if not framed:
            # Line protocols: each segment on its own, as Wireshark decodes them.
            if rel >= 0:
                d.next_seq = (seq + seglen) & 0xFFFFFFFF
            return [self._dissect(mod, data, base, info, frame)]
        if rel < 0:
            # Retransmission or overlap: keep only bytes past what we have.
            if -rel >= len(data):
                return []
            data = data[-rel:]
            base = -1 if base < 0 else base - rel
            seglen += rel
            rel = 0
        if rel > 0:
            if len(d.held) < MAX_HELD_SEGMENTS and complete:
                d.held[seq] = data
                return []
            # The gap will not fill (the segment was not captured): drop what
            # waited before it and go on from the earliest segment held.
            d.buf.clear()
            if complete:
                d.held[seq] = data
            if d.held:
                d.next_seq = min(d.held, key=lambda s: _signed32(s - d.next_seq))  # type: ignore[operator]
                first = d.held.pop(d.next_seq)
                d.buf += first
                d.next_seq = (d.next_seq + len(first)) & 0xFFFFFFFF
                self._drain_held(d)
                return self._frame_pdus(mod, d.buf, info, frame, len(d.buf), -1)
            d.next_seq = seq
        if not complete:
            # Bytes missing from the capture: nothing buffered can be made
            # whole; decode what this segment has, alone, as tshark shows a
            # message cut short.
            d.buf.clear()
            d.held.clear()
            d.next_seq = (seq + seglen) & 0xFFFFFFFF
            return self._frame_pdus(mod, bytearray(data), info, frame, 0, base, partial_ok=True)
        first_off = len(d.buf)
        d.buf += data
        d.next_seq = (seq + len(data)) & 0xFFFFFFFF
        self._drain_held(d)
        return self._frame_pdus(mod, d.buf, info, frame, first_off, base)

    @staticmethod
    def _drain_held(d: _Direction) -> None:
        """Append the segments that arrived early and now follow on."""
        assert d.next_seq is not None
        at: int = d.next_seq
        while d.held:
            nxt = d.held.pop(at, None)
            if nxt is None:
                # Trim or drop held segments the stream has already passed.
                for s in [s for s in d.held if _signed32(s - at) < 0]:
                    old = d.held.pop(s)
                    over = _signed32(at - s)
                    if over < len(old):
                        d.held.setdefault(at, old[over:])
                if at not in d.held:
                    break
                continue
            d.buf += nxt
            at = (at + len(nxt)) & 0xFFFFFFFF
        d.next_seq = at

    def _frame_pdus(self, mod: ModuleType, buf: bytearray, info: AppInfo, frame: int, first_off: int,
                    seg_base: int, partial_ok: bool = False) -> list[Tree]:
        """Cut whole messages off the front of ``buf`` and decode them.

        ``first_off`` is where this segment's bytes begin in ``buf`` and
        ``seg_base`` the segment payload's offset in the frame (-1 when it
        was rebuilt from other bytes): a message lying wholly inside the
        segment gets frame offsets; one rebuilt from several segments is
        marked reassembled.  With ``partial_ok`` an incomplete message is
        decoded as far as it goes instead of waiting for more bytes."""
        out: list[Tree] = []
        consumed = 0
        while consumed < len(buf):
            view = bytes(buf[consumed:])
            try:
                n = int(mod.pdu_length(view, info))
            except Exception:
                n = -1
            inside = consumed >= first_off and seg_base >= 0
            mbase = seg_base + (consumed - first_off) if inside else -1
            if n < 0:
                consumed = len(buf)  # not the start of a message: wait for a segment that is
                break
            if n == 0 or n > len(view):
                if partial_ok:
                    out.append(self._dissect(mod, view, mbase, info, frame))  # cut short by the capture
                if partial_ok or len(view) > MAX_BUFFER or n > MAX_BUFFER:
                    consumed = len(buf)
                break
            info.reassembled = not inside
            out.append(self._dissect(mod, view[:n], mbase, info, frame))
            consumed += n
        del buf[:consumed]
        return out

    # -- one message ------------------------------------------------------------
    def _dissect(self, mod: ModuleType, data: bytes, base: int, info: AppInfo, frame: int) -> Tree:
        tree = Tree(max(base, 0), frame in self.detail_frames, mod.NAME)
        tree.reassembled = base < 0
        try:
            mod.dissect(data, tree, info)
        except Truncated as e:
            tree.malformed(f"{mod.NAME} message truncated" + (f" ({e.what})" if e.what else ""), e.offset)
        except Exception as e:  # a decoder bug must not stop the trace: name it on the packet
            tree.malformed(f"{mod.NAME} decoder failed: {type(e).__name__}: {e}", 0)
        if tree.want_nodes:
            tree.root.length = len(data)
        return tree

    # -- results into columns ------------------------------------------------------
    def _put(self, ctx: Ctx, results: dict[int, list[Tree]]) -> None:
        from tracedoc.decode.table import FIELDS as ALL

        per_field: dict[str, tuple[list[int], list[Any]]] = {}
        msg_rows: list[int] = []
        msg_vals: list[str] = []
        app_vals: list[str] = []
        for row, trees in results.items():
            merged: dict[str, Any] = {}
            msgs: list[str] = []
            for t in trees:
                for k, v in t.values.items():
                    if k in merged:
                        if isinstance(v, list) and isinstance(merged[k], list):
                            merged[k] = merged[k] + v
                    else:
                        merged[k] = v
                if t.message and t.message not in msgs:
                    msgs.append(t.message)
                if t.anomaly is not None:
                    reason, off = t.anomaly
                    pos = ctx.start[row] + (0 if t.reassembled else off)
                    ctx.cols.anomaly(np.array([row]), t.protocol, np.array([pos]), reason)
            for k, v in merged.items():
                rs, vs = per_field.setdefault(k, ([], []))
                rs.append(row)
                vs.append(v)
            msg_rows.append(row)
            msg_vals.append(", ".join(msgs))
            app_vals.append(trees[0].protocol)
        for name, (rs, vs) in per_field.items():
            f = ALL.get(name)
            if f is None:
                continue
            idx = np.asarray(rs, dtype=np.int64)
            if f.multi or f.type in ("string", "bytes"):
                ctx.put(f, idx, vs)
            elif f.type == "ipv6":
                ctx.put(f, idx, np.frombuffer(b"".join(vs), dtype=np.uint8).reshape(-1, 16))
            else:
                ctx.put(f, idx, np.asarray(vs).astype(_np_dtype(f.type)))
        if msg_rows:
            idx = np.asarray(msg_rows, dtype=np.int64)
            keep = [i for i, m in enumerate(msg_vals) if m]
            ctx.put(MESSAGE, idx[keep], [msg_vals[i] for i in keep])
            ctx.put(APP, idx, app_vals)


def _np_dtype(t: str) -> Any:
    from tracedoc.decode.context import _NP_TYPES

    return _NP_TYPES[t]


def _safe_heuristic(mod: ModuleType, data: bytes, info: AppInfo) -> bool:
    try:
        return bool(mod.heuristic(data, info))
    except Exception:
        return False


class _Keys:
    """The address pair of a row, from the IP columns already decoded."""

    def __init__(self, ctx: Ctx) -> None:
        c = ctx.cols
        self.v4 = (c.values.get("ip.src"), c.values.get("ip.dst"), c.valid.get("ip.src"))
        self.v6 = (c.values.get("ipv6.src"), c.values.get("ipv6.dst"), c.valid.get("ipv6.src"))

    def of(self, row: int) -> tuple:
        src, dst, valid = self.v4
        if valid is not None and src is not None and dst is not None and valid[row]:
            return (int(src[row]), int(dst[row]))
        src, dst, valid = self.v6
        if valid is not None and src is not None and dst is not None and valid[row]:
            return (bytes(src[row]), bytes(dst[row]))
        return (0, 0)
