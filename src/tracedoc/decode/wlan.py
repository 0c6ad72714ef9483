"""IEEE 802.11 data frames, as far as the LLC/SNAP header that names the
payload (IEEE 802.11-2020 9.2-9.3).  Management and control frames, and
protected (encrypted) data, stop here."""

from __future__ import annotations

import numpy as np

from tracedoc.decode import eth
from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F
from tracedoc.decode.layer import Layer, Next

WLAN_FIELDS = (
    F("wlan.fc.type_subtype", "u16", "Type/Subtype", "hex", 4),
    F("wlan.flags", "u8", "Flags", "hex", 2),
    F("wlan.ra", "ether", "Receiver address"),
    F("wlan.ta", "ether", "Transmitter address"),
)
TYPE_SUBTYPE, FLAGS, RA, TA = WLAN_FIELDS

DATA = 2


def dissect(ctx: Ctx, ly: Layer) -> list[Next]:
    ok = ctx.have(ly.idx, ly.pos, 2)
    ly = ly.take(ok)
    idx, pos = ly.idx, ly.pos
    fc0 = ctx.u8(pos)
    flags = ctx.u8(pos + 1)
    ftype = (fc0 >> 2) & 3
    subtype = (fc0 >> 4) & 0xF
    ctx.put(TYPE_SUBTYPE, idx, (ftype.astype(np.uint16) << 4) | subtype, ly.prefix)
    ctx.put(FLAGS, idx, flags, ly.prefix)
    a1 = ctx.have(idx, pos, 10)
    ctx.put(RA, idx[a1], ctx.mac(pos[a1] + 4), ly.prefix)
    a2 = ctx.have(idx, pos, 16) & (ftype != 1)
    ctx.put(TA, idx[a2], ctx.mac(pos[a2] + 10), ly.prefix)
    qos = (subtype & 0x8) != 0
    hdr = 24 + 6 * ((flags & 3) == 3) + 2 * qos + 4 * (qos & ((flags & 0x80) != 0))
    has_body = (ftype == DATA) & ((subtype & 0x4) == 0) & ((flags & 0x40) == 0)
    return eth.llc(ctx, Layer(idx[has_body], (pos + hdr)[has_body], None, ly.prefix, ly.depth + 1))


RADIOTAP_FIELDS = (
    F("radiotap.version", "u8", "Header revision"),
    F("radiotap.length", "u16", "Header length"),
)
RT_VERSION, RT_LENGTH = RADIOTAP_FIELDS


def radiotap(ctx: Ctx, ly: Layer) -> list[Next]:
    """Radiotap (LINKTYPE_IEEE802_11_RADIOTAP): a little-endian header of its
    own stated length before the 802.11 frame.  Only revision 0 exists; a
    length shorter than the fixed 8 bytes or past the capture stops here."""
    ok = ctx.have(ly.idx, ly.pos, 8)
    ly = ly.take(ok)
    version = ctx.u8(ly.pos)
    length = ctx.u16le(ly.pos + 2)
    ctx.put(RT_VERSION, ly.idx, version, ly.prefix)
    ctx.put(RT_LENGTH, ly.idx, length, ly.prefix)
    good = (version == 0) & (length >= 8) & ctx.have(ly.idx, ly.pos, length.astype(np.int64))
    inner = ly.take(good)
    return dissect(ctx, Layer(inner.idx, inner.pos + length[good].astype(np.int64), None, ly.prefix, ly.depth + 1))


FIELDS = (*WLAN_FIELDS, *RADIOTAP_FIELDS)
