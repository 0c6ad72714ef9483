"""POP3 (RFC 1939; STLS, RFC 2595).

Each segment is decoded on its own, as Wireshark 4.0's POP dissector does.
A client segment's first line is the command and its argument; a server
segment that starts with ``+OK`` or ``-ERR`` is a reply (indicator and
description), any other server segment continues a multi-line reply or
carries message data (Wireshark hands that to IMF; here only its size is
kept, in ``pop.data.length``, a tracedoc field).  ``pop.request`` and
``pop.response`` are present, empty, on every command and reply, as in
Wireshark.
"""

from __future__ import annotations

from tracedoc.decode.app import AppInfo
from tracedoc.decode.apptree import Tree
from tracedoc.decode.fields import F
from tracedoc.decode.apptree import ascii_text
from tracedoc.decode.ftp import line_end, show, token

NAME = "pop"
HANDS_OFF_TO = ("tls",)
"""Protocols this one may hand its stream to (the stream may turn into TLS (STARTTLS): decoded whenever TLS columns are wanted)."""
FIELDS = (
    F("pop.request", "string", "Request"),
    F("pop.request.command", "string", "Request command"),
    F("pop.request.parameter", "string", "Request parameter"),
    F("pop.request.data", "string", "Data", multi=True),
    F("pop.response", "string", "Response"),
    F("pop.response.indicator", "string", "Response indicator"),
    F("pop.response.description", "string", "Response description"),
    F("pop.response.data", "string", "Data", multi=True),
    F("pop.data.length", "u32", "Message data bytes in this segment (tracedoc)"),
)
(REQUEST, REQ_COMMAND, REQ_PARAMETER, REQ_DATA, RESPONSE, RSP_INDICATOR, RSP_DESCRIPTION, RSP_DATA,
 DATA_LENGTH) = FIELDS

STATE_STLS = "pop.stls"   # STLS sent, awaiting +OK


def dissect(data: bytes, tree: Tree, info: AppInfo) -> None:
    request = info.dstport == info.port
    end, nxt = line_end(data)
    line = data[:end]
    if not request and not (data.startswith(b"+OK") or data.startswith(b"-ERR")):
        n = len(data)
        tree.add(DATA_LENGTH, n, 0, n, f"Data fragment: {n} bytes")
        tree.message = f"pop3 : {n} bytes of message data"
        return
    tree.open(show(data[:nxt]), 0, nxt)
    tree.add(REQUEST if request else RESPONSE, "", 0, nxt, "Request" if request else "Response")
    tok, after = token(line)
    word = ascii_text(line[:tok])
    rest_at = 0
    if tok:
        if request:
            tree.add(REQ_COMMAND, word, 0, tok, f"Request command: {word}")
            if line[:4].upper() == b"STLS":
                info.state[STATE_STLS] = True
        else:
            tree.add(RSP_INDICATOR, word, 0, tok, f"Response indicator: {word}")
            if info.state.pop(STATE_STLS, False) and line[:4].upper() == b"+OK ":
                tree.text("[STLS accepted: TLS follows]", 0, 0)
                info.start_tls()
        rest_at = after
    rest = line[rest_at:]
    if rest:
        text = ascii_text(rest)
        if request:
            tree.add(REQ_PARAMETER, text, rest_at, len(rest), f"Request parameter: {text}")
        else:
            tree.add(RSP_DESCRIPTION, text, rest_at, len(rest), f"Response description: {text}")
    tree.close()
    off = nxt
    more = REQ_DATA if request else RSP_DATA
    while off < len(data):
        e, nx = line_end(data, off)
        tree.add(more, "", off, nx - off, show(data[off:nx]) if tree.want_nodes else None)
        off = nx
    if request:
        tree.message = f"pop3 command {word}" if tok else "pop3 command"
    else:
        tree.message = f"pop3 reply {word}" if tok else "pop3 reply"
