"""MPLS label stack (RFC 3032); the payload after the bottom label is told
apart by its first nibble, as Wireshark's heuristic does."""

from __future__ import annotations

import numpy as np

from tracedoc.decode import raw
from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F
from tracedoc.decode.layer import Layer, Next

FIELDS = (
    F("mpls.label", "u32", "MPLS Label"),
    F("mpls.exp", "u8", "MPLS Experimental Bits"),
    F("mpls.bottom", "u8", "MPLS Bottom Of Label Stack"),
    F("mpls.ttl", "u8", "MPLS TTL"),
)
LABEL, EXP, BOTTOM, TTL = FIELDS
MAX_LABELS = 16


def dissect(ctx: Ctx, ly: Layer) -> list[Next]:
    idx, pos = ly.idx, ly.pos
    out: list[Next] = []
    for _ in range(MAX_LABELS):
        ok = ctx.have(idx, pos, 4)
        idx, pos = idx[ok], pos[ok]
        if len(idx) == 0:
            break
        v = ctx.u32(pos)
        ctx.put(LABEL, idx, v >> 12)
        ctx.put(EXP, idx, ((v >> 9) & 7).astype(np.uint8))
        bottom = ((v >> 8) & 1).astype(bool)
        ctx.put(BOTTOM, idx, bottom.astype(np.uint8))
        ctx.put(TTL, idx, (v & 0xFF).astype(np.uint8))
        pos = pos + 4
        if bottom.any():
            # The payload names no protocol: tell IPv4 from IPv6 by its first nibble.
            out += raw.by_version(ctx, Layer(idx[bottom], pos[bottom], None, ly.prefix, ly.depth))
        idx, pos = idx[~bottom], pos[~bottom]
    return out
