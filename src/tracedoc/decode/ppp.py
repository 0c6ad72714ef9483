"""PPPoE session stage (RFC 2516) and the PPP protocol field (RFC 1661)."""

from __future__ import annotations

import numpy as np

from tracedoc.decode.context import Ctx
from tracedoc.decode.fields import F
from tracedoc.decode.layer import Layer, Next

FIELDS = (
    F("pppoe.code", "u8", "Code", "hex", 2),
    F("pppoe.session_id", "u16", "Session ID", "hex", 4),
    F("ppp.protocol", "u16", "Protocol", "hex", 4),
)
CODE, SESSION, PROTOCOL = FIELDS

# PPP protocol numbers -> ethertype, so one dispatch table serves both.
PPP_TO_ETHERTYPE = {0x0021: 0x0800, 0x0057: 0x86DD, 0x0281: 0x8847}


def pppoe_session(ctx: Ctx, ly: Layer) -> list[Next]:
    ok = ctx.have(ly.idx, ly.pos, 8)
    ly = ly.take(ok)
    idx, pos = ly.idx, ly.pos
    ctx.put(CODE, idx, ctx.u8(pos + 1))
    ctx.put(SESSION, idx, ctx.u16(pos + 2))
    # The session header's payload length bounds what follows, as Wireshark
    # cuts its buffer there: Ethernet padding after it is nobody's payload,
    # and an IP total length past it is cut to it.
    stop = pos + 6 + ctx.u16(pos + 4).astype(np.int64)
    ctx.end[idx] = np.minimum(ctx.end[idx], stop)
    ctx.wire_end[idx] = np.minimum(ctx.wire_end[idx], stop)
    return ppp_protocol(ctx, Layer(idx, pos + 6, None, ly.prefix, ly.depth + 1))


def ppp_protocol(ctx: Ctx, ly: Layer) -> list[Next]:
    ok = ctx.have(ly.idx, ly.pos, 2)
    ly = ly.take(ok)
    proto = ctx.u16(ly.pos)
    ctx.put(PROTOCOL, ly.idx, proto)
    key = np.zeros(len(proto), dtype=np.uint32)
    for p, et in PPP_TO_ETHERTYPE.items():
        key[proto == p] = et
    return [Next("ethertype", key, Layer(ly.idx, ly.pos + 2, None, ly.prefix, ly.depth + 1))]


def ppp_hdlc(ctx: Ctx, ly: Layer) -> list[Next]:
    """PPP as carried by LINKTYPE_PPP, PPTP's GRE and PPP-in-HDLC framing:
    the address/control bytes 0xFF 0x03 may precede the protocol field."""
    ok = ctx.have(ly.idx, ly.pos, 2)
    ly = ly.take(ok)
    hdlc = (ctx.u8(ly.pos) == 0xFF) & (ctx.u8(ly.pos + 1) == 0x03)
    return ppp_protocol(ctx, Layer(ly.idx, ly.pos + 2 * hdlc, None, ly.prefix, ly.depth))


def cisco_hdlc(ctx: Ctx, ly: Layer) -> list[Next]:
    """Cisco HDLC (LINKTYPE_C_HDLC): address, control, then an ethertype."""
    ok = ctx.have(ly.idx, ly.pos, 4)
    ly = ly.take(ok)
    return [Next("ethertype", ctx.u16(ly.pos + 2).astype(np.uint32),
                 Layer(ly.idx, ly.pos + 4, None, ly.prefix, ly.depth + 1))]
