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
  ``data`` does not start a message; ``UNTIL_FIN`` when the message runs to
  the end of the stream (an HTTP response with no length): it is decoded on
  the frame whose FIN ends the direction, where ``info.fin`` is set.  Without
  it every segment's payload is decoded as it comes (line protocols, as
  Wireshark's FTP dissector does).
* ``heuristic(data: bytes, info: AppInfo) -> bool`` (optional) — whether the
  payload is this protocol, for traffic on ports no table names.
* ``SHOWN_WHILE_REASSEMBLING = True`` (optional) — a segment the decoder
  only asked more bytes for still counts as carrying the protocol (a display
  filter ``tls`` matches it), as Wireshark's TLS dissector shows itself.

Which module takes which port, and which heuristics are tried, is declared
in :mod:`tracedoc.decode.dispatch` (``UDP_APPS``, ``TCP_APPS``,
``UDP_HEURISTICS``, ``TCP_HEURISTICS``).

TCP payload is reassembled per direction, as Wireshark does by default:
segments are appended in sequence order; a segment that repeats bytes
already seen (a retransmission, an overlap) is decoded by nobody; after a
gap (a segment not captured, or one still to come out of order) the message
before it is abandoned, the bytes it claimed are skipped, and decoding starts
afresh, so no message is ever glued together from the wrong bytes.  A
message's fields go on the frame whose segment completed it (or whose FIN
ended a message that runs to the end of the stream), as tshark shows them.
Per-packet Python runs only here, and only when a view asks for application columns.
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
    F("tracedoc.app", "string", "Application protocols in the frame (the name a display filter tests)",
      multi=True),
)
MESSAGE, APP = FIELDS

UNTIL_FIN = -2
"""``pdu_length``: the message ends where the stream does (Wireshark's
DESEGMENT_UNTIL_FIN)."""
NOT_THIS_PROTOCOL = -3
"""``pdu_length``: the stream no longer carries this protocol (after an
HTTP Upgrade, say): the bytes are dropped and the frame does not count as
carrying it."""


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
    fin: bool = False
    """The segment being decoded carries FIN: no more bytes follow in this
    direction (Wireshark stops waiting for message bodies then)."""
    src: int | bytes = 0
    """Source address of the packet (an int for IPv4, 16 bytes for IPv6, 0 unknown)."""
    dst: int | bytes = 0
    reported_len: int = 0
    """Length of the message on the wire as the transport header states it
    (UDP length - 8; a TCP segment's length for decoders without framing),
    which may exceed ``len(data)`` when the capture cut the packet short;
    0 when unknown."""

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

    def start_tls(self) -> None:
        """STARTTLS was accepted (FTP AUTH TLS, SMTP/IMAP STARTTLS, POP3
        STLS, Telnet START_TLS): the conversation carries TLS from the next
        segment on."""
        from tracedoc.decode import tls

        self.handoff(tls)


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

MAX_BUFFER = 4 << 20
"""Bytes buffered per direction for one message before giving up on it."""
MAX_CONVERSATIONS = 200_000


@dataclass
class _Direction:
    next_seq: int | None = None
    buf: bytearray = dc_field(default_factory=bytearray)
    isn: int | None = None
    """One past the SYN's sequence number, once a SYN was seen."""
    until_fin: bool = False
    """The buffered message runs to this direction's FIN."""
    need: int = 0
    """Length of the buffered message, when known and not yet all there."""
    got: int = 0
    """Bytes received of a message longer than MAX_BUFFER (only its first
    MAX_BUFFER bytes are kept)."""
    skip_to: int | None = None
    """After a gap inside a message of known length: where the bytes that
    message claimed end (Wireshark drops them with it)."""
    skip_all: bool = False
    """After a gap inside a message that runs to the FIN: nothing more decodes."""

    def reset(self, next_seq: int | None) -> None:
        """Forget what was buffered: decoding goes on at ``next_seq``."""
        self.next_seq = next_seq
        self.buf.clear()
        self.until_fin = False
        self.need = self.got = 0
        self.skip_to = None
        self.skip_all = False


@dataclass
class _Conversation:
    module: ModuleType | None
    port: int
    state: dict[str, Any] = dc_field(default_factory=dict)
    dirs: dict[tuple, _Direction] = dc_field(default_factory=dict)
    skip: bool = False
    """Nothing more of this conversation is decoded (a protocol nobody asked
    for, or the sealed rest of one whose set-up was all that was wanted)."""


def _signed32(x: int) -> int:
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


class AppDecoder:
    """Application decoding for one trace; keeps TCP stream state across batches."""

    def __init__(self, detail_frames: set[int] | None = None, fields: frozenset[str] | None = None,
                 skip_opaque: bool = False) -> None:
        """``fields``: the columns wanted (None: all).  Only conversations of
        protocols with a wanted column, or that can hand their stream over to
        one (``HANDS_OFF_TO``: STARTTLS, HTTP CONNECT), are decoded.  The
        protocol is chosen as in a full decode (port, then heuristics in
        order), so the wanted columns are the same as when everything is
        decoded.  ``skip_opaque``: stop decoding a conversation once its
        protocol says the rest is opaque (``opaque(state)``: TLS once both
        sides encrypt); for views that judge set-ups, not contents."""
        from tracedoc.decode import dispatch

        self.fields = fields
        self.skip_opaque = skip_opaque
        self._want: dict[int, bool] = {}
        self._skipped4: set[tuple[int, int]] = set()
        """Skipped conversations between IPv4 addresses, as (addresses, ports)
        packed the way :meth:`_drop_skipped` packs rows: their segments are
        dropped before the per-segment loop."""

        self.udp_apps = dispatch.UDP_APPS
        self.tcp_apps = dispatch.TCP_APPS
        self.udp_heur = dispatch.UDP_HEURISTICS
        self.tcp_heur = dispatch.TCP_HEURISTICS
        self.convs: dict[tuple, _Conversation] = {}
        self.udp_state: dict[tuple, dict[str, Any]] = {}
        self.detail_frames = detail_frames or set()
        self.trees: dict[int, list[Tree]] = {}
        """Frame number -> the detail trees of its messages (``detail_frames`` only)."""
        self._reached: str | None = None
        """The protocol the segment being handled was shown to, when it gave no message."""

    # -- entry point ------------------------------------------------------------
    def decode(self, ctx: Ctx, pl: Payloads) -> None:
        results: dict[int, list[Tree]] = {}
        present: dict[int, list[str]] = {}
        keys = _Keys(ctx)
        mv = memoryview(ctx.data)  # type: ignore[arg-type]
        first = ctx.batch.first_number
        items: list[tuple] = []
        for rows, pos, plen, sp, dp, wire in pl.udp:
            for r, p, n, s, d, w in zip(rows.tolist(), pos.tolist(), plen.tolist(), sp.tolist(), dp.tolist(),
                                        wire.tolist()):
                items.append((r, 0, p, n, s, d, w))
        for r, data, s, d in pl.rebuilt_udp:
            items.append((r, 0, data, -1, s, d, len(data)))
        for rows, pos, cap, seglen, seq, flags, sp, dp in pl.tcp:
            if self._skipped4:
                keep = ~self._drop_skipped(keys, rows, sp, dp)
                rows, pos, cap, seglen, seq, flags, sp, dp = (
                    a[keep] for a in (rows, pos, cap, seglen, seq, flags, sp, dp))
            for r, p, c, sl, q, fl, s, d in zip(rows.tolist(), pos.tolist(), cap.tolist(), seglen.tolist(),
                                                seq.tolist(), flags.tolist(), sp.tolist(), dp.tolist()):
                items.append((r, 1, p, c, s, d, sl, q, fl))
        for r, data, s, d, seq, flags, seglen in pl.rebuilt_tcp:
            items.append((r, 1, data, -1, s, d, seglen, seq, flags))
        for rows, pos, plen, sp, dp, wire in pl.quoted_udp:
            for r, p, n, s, d, w in zip(rows.tolist(), pos.tolist(), plen.tolist(), sp.tolist(), dp.tolist(),
                                        wire.tolist()):
                items.append((r, 2, p, n, s, d, w))
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
            self._reached = None
            if it[1] == 0:
                trees = self._udp(data, base, it[4], it[5], it[6], keys.of(row), frame)
            elif it[1] == 2:
                trees = self._quoted(data, base, it[4], it[5], it[6], frame)
            else:
                trees = self._tcp(data, base, it[4], it[5], it[6], it[7], it[8], keys.of(row), frame)
            names = present.setdefault(row, [])
            for t in trees:
                if t.protocol not in names:
                    names.append(t.protocol)
            if self._reached is not None and self._reached not in names:
                names.append(self._reached)  # a segment of a message not yet whole
            if trees:
                results.setdefault(row, []).extend(trees)
                if frame in self.detail_frames:
                    self.trees.setdefault(frame, []).extend(trees)
        self._put(ctx, results, present)

    def _quoted(self, data: bytes, base: int, sp: int, dp: int, wire: int, frame: int) -> list[Tree]:
        """A datagram quoted in an ICMP error: decoded as tshark decodes it
        (its fields are the packet's fields), but its message is not the
        packet's: the summary keeps the error's own wording."""
        mod, port = _lookup(self.udp_apps, sp, dp)
        if mod is None or not self._wanted(mod):
            return []
        tree = self._dissect(mod, data, base, AppInfo("udp", sp, dp, port, {}, frame, reported_len=wire), frame)
        tree.message = None
        tree.anomaly = None  # a quote is expected to be cut short
        return [tree]

    # -- UDP ------------------------------------------------------------------
    def _udp(self, data: bytes, base: int, sp: int, dp: int, wire: int, addrs: tuple, frame: int) -> list[Tree]:
        mod, port = _lookup(self.udp_apps, sp, dp)
        ckey = (addrs, sp, dp) if (addrs, sp) <= (addrs[::-1], dp) else (addrs[::-1], dp, sp)
        state = self.udp_state.get(ckey)
        if state is None:
            if len(self.udp_state) > MAX_CONVERSATIONS:
                self.udp_state.clear()
            state = self.udp_state[ckey] = {}
        info = AppInfo("udp", sp, dp, port, state, frame, src=addrs[0], dst=addrs[1], reported_len=wire)
        if mod is None:
            for h in self.udp_heur:
                if _safe_heuristic(h, data, info):
                    mod = h
                    break
            if mod is None:
                return []
        if not self._wanted(mod):
            return []
        return [self._dissect(mod, data, base, info, frame)]

    def _drop_skipped(self, keys: _Keys, rows: np.ndarray, sp: np.ndarray, dp: np.ndarray) -> np.ndarray:
        """Which of these TCP segments (IPv4, not tunnelled) belong to a
        conversation already skipped: :meth:`_tcp` would return nothing for
        them, so they need not reach it one by one."""
        src, dst, v4 = keys.v4
        if src is None or dst is None or v4 is None:
            return np.zeros(len(rows), dtype=bool)
        plain = v4[rows].copy()
        tun = keys.tunnel[2]
        if tun is not None:
            plain &= ~tun[rows]
        a = src[rows].astype(np.uint64)
        b = dst[rows].astype(np.uint64)
        p, q = sp.astype(np.uint64), dp.astype(np.uint64)
        fwd = (a < b) | ((a == b) & (p <= q))      # as _tcp orders a conversation's ends
        k1 = np.where(fwd, a, b) << np.uint64(32) | np.where(fwd, b, a)
        k2 = np.where(fwd, p, q) << np.uint64(16) | np.where(fwd, q, p)
        pairs = np.stack([k1, k2], axis=1)
        uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
        gone = np.fromiter(((int(x), int(y)) in self._skipped4 for x, y in uniq.tolist()), dtype=bool,
                           count=len(uniq))
        return gone[inv.reshape(-1)] & plain

    def _skip(self, conv: _Conversation, ckey: tuple) -> None:
        """Decode nothing more of this conversation."""
        conv.skip = True
        a, sp, b, dp = ckey
        if isinstance(a, int) and isinstance(b, int):
            self._skipped4.add(((a << 32) | b, (sp << 16) | dp))

    def _wanted(self, mod: ModuleType) -> bool:
        if self.fields is None:
            return True
        w = self._want.get(id(mod))
        if w is None:
            self._want[id(mod)] = False   # a hand-off cycle ends here
            w = self._want[id(mod)] = self._decide(mod)
        return w

    def _decide(self, mod: ModuleType) -> bool:
        assert self.fields is not None
        names = {f.name for f in getattr(mod, "FIELDS", ())}
        if not names or not names.isdisjoint(self.fields):
            return True   # (a variant without columns of its own decodes as asked)
        for target in getattr(mod, "HANDS_OFF_TO", ()):
            pool = [*self.tcp_apps.values(), *self.tcp_heur] if target == "*" else \
                [m for m in (*self.tcp_apps.values(), *self.tcp_heur) if m.NAME == target]
            if any(self._wanted(m) for m in pool):
                return True
        return False

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
                self._skipped4.clear()
            mod, port = _lookup(self.tcp_apps, sp, dp)
            conv = self.convs[ckey] = _Conversation(mod, port)
            if mod is not None and not self._wanted(mod):
                self._skip(conv, ckey)
        if conv.skip or (flags & 0x04 and not data):
            return []
        if self.skip_opaque and conv.module is not None and conv.module.__dict__.get("opaque") is not None \
                and conv.module.opaque(conv.state):
            self._skip(conv, ckey)
            return []
        d = conv.dirs.get((a, sp))
        if d is None:
            d = conv.dirs[(a, sp)] = _Direction()
        if flags & 0x02:  # SYN: the data starts one past its sequence number
            seq = (seq + 1) & 0xFFFFFFFF
            if seq != d.isn:  # a retransmitted SYN changes nothing
                d.reset(seq)
                d.isn = seq
        fin = bool(flags & 0x01)
        if not data and not fin:
            return []
        if conv.module is None:
            if not data:
                return []
            info = AppInfo("tcp", sp, dp, 0, conv.state, frame, src=a, dst=b)
            for h in self.tcp_heur:
                if _safe_heuristic(h, data, info):
                    conv.module = h
                    break
            if conv.module is None:
                return []
            if not self._wanted(conv.module):
                self._skip(conv, ckey)
                return []
            # The stream is this protocol from here on: earlier bytes were
            # not decoded, so each direction starts at its next segment.
            for dd in conv.dirs.values():
                dd.reset(None)
        handoff = conv.state.pop("__handoff__", None)
        if handoff is not None:
            conv.module = handoff
            if not self._wanted(handoff):
                self._skip(conv, ckey)
                return []
            for dd in conv.dirs.values():
                dd.reset(dd.next_seq)
        mod = conv.module
        assert mod is not None
        info = AppInfo("tcp", sp, dp, conv.port, conv.state, frame, src=a, dst=b, fin=fin)
        if d.next_seq is None:
            if not data:
                return []
            d.next_seq = seq
        rel = _signed32(seq - d.next_seq)
        if not hasattr(mod, "pdu_length"):
            # Line protocols: each segment on its own, as Wireshark decodes
            # them; a segment whose bytes were all seen before (a
            # retransmission) is decoded by nobody, as in a reassembled stream.
            if not data or (rel < 0 and -rel >= seglen):
                return []
            if rel >= 0:
                d.next_seq = (seq + seglen) & 0xFFFFFFFF
            info.reported_len = seglen
            return [self._dissect(mod, data, base, info, frame)]
        complete = len(data) >= seglen  # every byte of the segment was captured
        if rel < 0:
            # It starts in bytes already seen.  Wireshark hands no dissector a
            # segment its sequence analysis flags (retransmission, out of
            # order), even one that carries new bytes too: those are lost, as
            # in a gap.
            if -rel >= seglen:
                return []
            seq = (seq + seglen) & 0xFFFFFFFF
            rel += seglen
            data, seglen, complete = b"", 0, True
        if rel > 0:
            # A gap (bytes not captured, or a segment that comes later).  Like
            # Wireshark, whose tcp.reassemble_out_of_order is off by default,
            # do not wait for it: the message before the gap stays incomplete
            # and the bytes it claimed are lost with it (all of them for one
            # that runs to the FIN); decoding starts afresh after them.
            skip_all, skip_to = d.skip_all or d.until_fin, d.skip_to
            if d.need:
                got = d.got if d.need > MAX_BUFFER else len(d.buf)
                skip_to = (d.next_seq - got + d.need) & 0xFFFFFFFF
            d.reset(seq)
            d.skip_all, d.skip_to = skip_all, skip_to
        if d.skip_all:
            d.next_seq = (seq + seglen) & 0xFFFFFFFF
            return []
        if d.skip_to is not None:
            over = _signed32(d.skip_to - seq)
            if over >= len(data) and complete:
                d.next_seq = (seq + seglen) & 0xFFFFFFFF
                if over == len(data):
                    d.skip_to = None
                return []
            d.skip_to = None
            if over > 0:
                data = data[over:]
                base = -1 if base < 0 else base + over
                seq = (seq + over) & 0xFFFFFFFF
                seglen -= over
        if not complete:
            # Bytes missing from the capture: nothing buffered can be made
            # whole; decode what this segment has, alone, as tshark shows a
            # message cut short.
            d.reset((seq + seglen) & 0xFFFFFFFF)
            return self._frame_pdus(mod, bytearray(data), info, frame, 0, base, partial_ok=True)
        d.next_seq = (seq + len(data)) & 0xFFFFFFFF
        if d.need > MAX_BUFFER:
            return self._long_message(mod, d, data, base, info, frame)
        first_off = len(d.buf)
        if not (d.until_fin and len(d.buf) >= MAX_BUFFER):
            d.buf += data
        if not d.buf or (not fin and (d.until_fin or len(d.buf) < d.need)):
            return []  # nothing yet, or the message waits for its FIN or for the bytes it needs
        d.until_fin = False
        d.need = 0
        return self._frame_pdus(mod, d.buf, info, frame, first_off, base if data else -1, d=d)

    def _long_message(self, mod: ModuleType, d: _Direction, data: bytes, base: int, info: AppInfo,
                      frame: int) -> list[Tree]:
        """Bytes of a message longer than MAX_BUFFER: keep its head, count
        the rest, and decode the head on the frame that completes it (or
        ends the stream), then go on with what follows it."""
        part = data[:d.need - d.got]
        d.buf += part[:max(0, MAX_BUFFER - len(d.buf))]
        d.got += len(part)
        if d.got < d.need and not info.fin:
            return []
        rest = data[len(part):]
        if d.got < d.need:  # the stream ends first: decode what came, as Wireshark does at a FIN
            d.need = d.got = 0
            return self._frame_pdus(mod, d.buf, info, frame, len(d.buf), -1, d=d)
        info.reassembled = True
        out = [self._dissect(mod, bytes(d.buf), -1, info, frame)]
        d.buf = bytearray(rest)
        d.need = d.got = 0
        if rest:
            out += self._frame_pdus(mod, d.buf, info, frame, 0, -1 if base < 0 else base + len(part), d=d)
        return out

    def _frame_pdus(self, mod: ModuleType, buf: bytearray, info: AppInfo, frame: int, first_off: int,
                    seg_base: int, partial_ok: bool = False, d: _Direction | None = None) -> list[Tree]:
        """Cut whole messages off the front of ``buf`` and decode them.

        ``first_off`` is where this segment's bytes begin in ``buf`` and
        ``seg_base`` the segment payload's offset in the frame (-1 when it
        was rebuilt from other bytes): a message lying wholly inside the
        segment gets frame offsets; one rebuilt from several segments is
        marked reassembled.  With ``partial_ok`` an incomplete message is
        decoded as far as it goes instead of waiting for more bytes."""
        # A decoder that shows itself on a segment it only asks more bytes
        # for (TLS does; HTTP does not) puts its protocol on the frame, as
        # tshark's frame.protocols lists it.
        if getattr(mod, "SHOWN_WHILE_REASSEMBLING", False):
            self._reached = mod.NAME
        out: list[Tree] = []
        consumed = 0
        while consumed < len(buf):
            view = bytes(buf) if consumed == 0 else bytes(memoryview(buf)[consumed:])
            try:
                n = int(mod.pdu_length(view, info))
            except Exception:
                n = -1
            inside = consumed >= first_off and seg_base >= 0
            mbase = seg_base + (consumed - first_off) if inside else -1
            if n == UNTIL_FIN and d is not None and not partial_ok:
                d.until_fin = True  # kept until the FIN
                break
            if n < 0:
                consumed = len(buf)  # not the start of a message: wait for a segment that is
                if n != NOT_THIS_PROTOCOL:
                    self._reached = mod.NAME  # shown as the protocol's continuation data
                break
            if n == 0 or n > len(view):
                if partial_ok:
                    out.append(self._dissect(mod, view, mbase, info, frame))  # cut short by the capture
                if d is not None and n > MAX_BUFFER and not partial_ok:
                    # Longer than we keep: its head is kept, the rest counted.
                    d.need, d.got = n, len(view)
                    del buf[consumed + MAX_BUFFER:]
                elif partial_ok or len(view) > MAX_BUFFER:
                    consumed = len(buf)
                elif d is not None and n > 0:
                    d.need = n  # counted from the message's start, buf[0] once trimmed below
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
    def _put(self, ctx: Ctx, results: dict[int, list[Tree]], present: dict[int, list[str]]) -> None:
        from tracedoc.decode.table import FIELDS as ALL

        per_field: dict[str, tuple[list[int], list[Any]]] = {}
        wanted = self.fields
        msg_rows: list[int] = []
        msg_vals: list[str] = []
        for row, trees in results.items():
            merged: dict[str, Any] = {}
            msgs: list[str] = []
            for t in trees:
                for k, v in t.values.items():
                    if wanted is not None and k not in wanted:
                        continue   # a column nobody asked for
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
        rows = [r for r, names in present.items() if names]
        if rows:
            ctx.put(APP, np.asarray(rows, dtype=np.int64), [present[r] for r in rows])


def _np_dtype(t: str) -> Any:
    from tracedoc.decode.context import _NP_TYPES

    return _NP_TYPES[t]


def _safe_heuristic(mod: ModuleType, data: bytes, info: AppInfo) -> bool:
    try:
        return bool(mod.heuristic(data, info))
    except Exception:
        return False


class _Keys:
    """The address pair of a row, from the IP columns already decoded: the
    innermost IP header's in a tunnel (as Wireshark keys conversations)."""

    def __init__(self, ctx: Ctx) -> None:
        c = ctx.cols
        self.tunnel = (c.values.get("tracedoc.tunnel.src"), c.values.get("tracedoc.tunnel.dst"),
                       c.valid.get("tracedoc.tunnel.src"))
        self.v4 = (c.values.get("ip.src"), c.values.get("ip.dst"), c.valid.get("ip.src"))
        self.v6 = (c.values.get("ipv6.src"), c.values.get("ipv6.dst"), c.valid.get("ipv6.src"))

    def of(self, row: int) -> tuple:
        src, dst, valid = self.tunnel
        if valid is not None and src is not None and dst is not None and valid[row]:
            return (bytes(src[row]), bytes(dst[row]))
        src, dst, valid = self.v4
        if valid is not None and src is not None and dst is not None and valid[row]:
            return (int(src[row]), int(dst[row]))
        src, dst, valid = self.v6
        if valid is not None and src is not None and dst is not None and valid[row]:
            return (bytes(src[row]), bytes(dst[row]))
        return (0, 0)
