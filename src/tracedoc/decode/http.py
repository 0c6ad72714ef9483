"""HTTP/1.x (RFC 1945, RFC 9110/9112) requests and responses, and SSDP's
HTTP-over-UDP messages, decoded as Wireshark 4.0's HTTP dissector shows them.

Framing follows Wireshark's defaults (``http.desegment_headers`` and
``http.desegment_body`` on): a message's fields go on the frame that
completes its headers and its body — the body measured by Content-Length, by
chunks up to the last chunk, or, for a response with neither, up to the end
of the connection (the FIN).  Responses that carry no body (to HEAD, 1xx,
204, 304, 2xx to CONNECT) end with their headers.  Where Wireshark's own
reassembly test and its dissector measure a message differently (trailers
after the last chunk, a HEAD response announcing a Content-Length), the
message length here is the dissector's, on the bytes reassembly gathered,
so the next message starts where Wireshark's does.

Values are what Wireshark stores: header values after the colon and
leading blanks (trailing blanks kept), bytes above 0x7f as U+FFFD, cut at a
NUL.  Every header line of a request (response) is also an
``http.request.line`` (``http.response.line``) value, line end included.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from tracedoc.decode.app import NOT_THIS_PROTOCOL, UNTIL_FIN
from tracedoc.decode.apptree import Tree, Truncated
from tracedoc.decode.fields import F

NAME = "http"
HANDS_OFF_TO = ("*",)
"""Protocols this one may hand its stream to (CONNECT turns the stream into whatever its port names: decoded whenever any TCP protocol's columns are wanted)."""

TCP_PORTS = (80, 631, 1900, 2710, 2869, 3128, 3132, 3689, 5985, 8080, 8088, 11371)
"""Wireshark 4.0's ``http.tcp.port`` range (80,3128,3132,5985,8080,8088,
11371,1900,2869,2710) plus the ports IPP (631) and DAAP (3689) hand to it."""
UDP_PORTS = (1900,)
"""SSDP: HTTP messages in UDP datagrams."""

_CLAIMED_TCP_PORTS = frozenset((21, 22, 23, 25, 110, 143, 443, 465, 587, 993, 995, 1080, 3306, 5432))
"""Ports whose Wireshark 4.0 dissector (FTP, SSH, Telnet, SMTP, POP, IMAP,
TLS, SOCKS, MySQL, PostgreSQL) takes whatever a conversation on them
carries: Wireshark tries port dissectors before heuristics, so its HTTP
heuristic never sees those conversations.  (Most other dissectors that
Wireshark binds to ports turn down bytes that are not theirs, and the
heuristic then gets its turn.)"""

FIELDS = (
    F("http.request", "bool", "Request"),
    F("http.response", "bool", "Response"),
    F("http.notification", "bool", "Notification"),
    F("http.request.method", "string", "Request Method"),
    F("http.request.uri", "string", "Request URI"),
    F("http.request.version", "string", "Request Version"),
    F("http.request.full_uri", "string", "Full request URI"),
    F("http.response.version", "string", "Response Version"),
    F("http.response.code", "u16", "Status Code"),
    F("http.response.phrase", "string", "Response Phrase"),
    F("http.request_number", "u32", "Request number"),
    F("http.response_number", "u32", "Response number"),
    F("http.request_in", "u32", "Request in frame"),
    F("http.response_for.uri", "string", "Request URI (of the request this responds to)"),
    F("http.host", "string", "Host"),
    F("http.user_agent", "string", "User-Agent"),
    F("http.accept", "string", "Accept"),
    F("http.accept_language", "string", "Accept-Language"),
    F("http.accept_encoding", "string", "Accept Encoding"),
    F("http.referer", "string", "Referer"),
    F("http.cookie", "string", "Cookie"),
    F("http.authorization", "string", "Authorization"),
    F("http.authbasic", "string", "Credentials"),
    F("http.proxy_authorization", "string", "Proxy-Authorization"),
    F("http.proxy_authenticate", "string", "Proxy-Authenticate"),
    F("http.www_authenticate", "string", "WWW-Authenticate"),
    F("http.content_type", "string", "Content-Type"),
    F("http.content_length_header", "string", "Content-Length"),
    F("http.content_length", "u64", "Content length"),
    F("http.content_encoding", "string", "Content-Encoding"),
    F("http.transfer_encoding", "string", "Transfer-Encoding"),
    F("http.connection", "string", "Connection"),
    F("http.upgrade", "string", "Upgrade"),
    F("http.server", "string", "Server"),
    F("http.location", "string", "Location"),
    F("http.set_cookie", "string", "Set-Cookie", multi=True),
    F("http.date", "string", "Date"),
    F("http.last_modified", "string", "Last-Modified"),
    F("http.cache_control", "string", "Cache-Control"),
    F("http.x_forwarded_for", "string", "X-Forwarded-For"),
    F("http.request.line", "string", "Request line", multi=True),
    F("http.response.line", "string", "Response line", multi=True),
    F("http.unknown_header", "string", "Unknown header", multi=True),
)
_F = {f.name: f for f in FIELDS}
(REQUEST, RESPONSE, NOTIFICATION, METHOD, URI, REQ_VERSION, FULL_URI, RESP_VERSION, CODE, PHRASE,
 REQUEST_NUMBER, RESPONSE_NUMBER, REQUEST_IN, RESPONSE_FOR_URI) = FIELDS[:14]
AUTHBASIC = _F["http.authbasic"]
CONTENT_LENGTH = _F["http.content_length"]
REQUEST_LINE, RESPONSE_LINE, UNKNOWN_HEADER = FIELDS[-3:]


# Message kinds (Wireshark's media_container_type).
_REQ, _RESP, _NOTIFY = 1, 2, 3

# Methods Wireshark 4.0 recognises at the start of a request line.
_METHODS = frozenset(m.encode() for m in (
    "GET PUT COPY HEAD LOCK MOVE POLL POST BCOPY BMOVE MKCOL TRACE PATCH LABEL MERGE DELETE SEARCH "
    "UNLOCK REPORT UPDATE BDELETE CONNECT OPTIONS CHECKIN PROPFIND CHECKOUT CCM_POST PROPPATCH BPROPFIND "
    "BPROPPATCH UNCHECKOUT MKACTIVITY MKWORKSPACE RPC_CONNECT RPC_IN_DATA RPC_OUT_DATA VERSION-CONTROL "
    "BASELINE-CONTROL SSTP_DUPLEX_POST").split())
_NOTIFY_METHODS = frozenset((b"NOTIFY", b"SUBSCRIBE", b"UNSUBSCRIBE"))

# Header name (lower case) -> field, as Wireshark 4.0's header table has them.
_HEADERS: dict[bytes, Any] = {
    b"authorization": _F["http.authorization"],
    b"proxy-authorization": _F["http.proxy_authorization"],
    b"proxy-authenticate": _F["http.proxy_authenticate"],
    b"www-authenticate": _F["http.www_authenticate"],
    b"content-type": _F["http.content_type"],
    b"content-length": _F["http.content_length_header"],
    b"content-encoding": _F["http.content_encoding"],
    b"transfer-encoding": _F["http.transfer_encoding"],
    b"upgrade": _F["http.upgrade"],
    b"user-agent": _F["http.user_agent"],
    b"host": _F["http.host"],
    b"connection": _F["http.connection"],
    b"cookie": _F["http.cookie"],
    b"accept": _F["http.accept"],
    b"referer": _F["http.referer"],
    b"accept-language": _F["http.accept_language"],
    b"accept-encoding": _F["http.accept_encoding"],
    b"date": _F["http.date"],
    b"cache-control": _F["http.cache_control"],
    b"server": _F["http.server"],
    b"location": _F["http.location"],
    b"set-cookie": _F["http.set_cookie"],
    b"last-modified": _F["http.last_modified"],
    b"x-forwarded-for": _F["http.x_forwarded_for"],
    # Known to Wireshark but without a column here: still not "unknown".
    b"sec-websocket-accept": None,
    b"sec-websocket-extensions": None,
    b"sec-websocket-key": None,
    b"sec-websocket-protocol": None,
    b"sec-websocket-version": None,
    b"http2-settings": None,
}

_LINE_END = re.compile(rb"[\r\n]")
# RFC 9110 tchar, as Wireshark checks header names (it also lets ':' and '\\' pass).
_TOKEN = frozenset(b"!#$%&\\:*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_SPACE = b" \t\n\x0b\x0c\r"
_WHITE = " \t\n\x0b\x0c\r"
_HEX_PREFIX = re.compile(rb"[ \t\n\x0b\x0c\r]*([+-]?)(0[xX])?([0-9A-Fa-f]*)")
_DEC_PREFIX = re.compile(rb"[ \t\n\x0b\x0c\r]*([+-]?)([0-9]*)")
_RPC_TYPES = (b"RPC_IN_DATA", b"RPC_OUT_DATA")


# -- text --------------------------------------------------------------------------

def _text(b: bytes) -> str:
    """A string value as Wireshark's ENC_ASCII makes it: cut at NUL, every
    byte above 0x7f a U+FFFD."""
    z = b.find(0)
    if z >= 0:
        b = b[:z]
    if b.isascii():
        return b.decode("ascii")
    return "".join(chr(c) if c < 0x80 else "\ufffd" for c in b)


_C_ESCAPES = {0x07: "\\a", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x0B: "\\v"}


def _show(b: bytes) -> str:
    """Text as Wireshark's format_text shows it (Packet Details lines, and the
    value of an unknown header outside a request or response): control
    characters as C escapes (``\\r\\n``, ``\\001``), UTF-8 kept, other bytes
    U+FFFD."""
    out = []
    for part in re.split(rb"([\x00-\x1f\x7f])", b):
        if len(part) == 1 and (part[0] < 0x20 or part[0] == 0x7F):
            c = part[0]
            out.append(_C_ESCAPES.get(c) or f"\\{c >> 6 & 3}{c >> 3 & 7}{c & 7}")
        elif part:
            out.append(part.decode("utf-8", "replace"))
    return "".join(out)


# -- lines ---------------------------------------------------------------------------

def _line_end(data: bytes, off: int, end: int, deseg: bool) -> tuple[int, int]:
    """(length of the line at ``off``, offset after its end) as Wireshark's
    tvb_find_line_end finds them in ``data[off:end]``: the line ends at CR,
    LF or CRLF.  With ``deseg`` a line without an end (or ending in a CR that
    may be half a CRLF) gives (-1, off); otherwise it runs to ``end``."""
    m = _LINE_END.search(data, off, end)
    if m is None:
        return (-1, off) if deseg else (end - off, end)
    eol = m.start()
    if data[eol] == 0x0D:
        if eol + 1 >= end:
            if deseg:
                return -1, off
        elif data[eol + 1] == 0x0A:
            return eol - off, eol + 2
    return eol - off, eol + 1


def _kind(line: bytes) -> int:
    """Whether a line starts a request, a response or a notification (0: none),
    as Wireshark's is_http_request_or_reply decides."""
    d = line[2:] if line.startswith(b"M-") else line
    if d.startswith(b"HTTP/") or d.startswith(b"ICY"):
        return _RESP
    sp = d.find(b" ")
    method = d if sp < 0 else d[:sp]
    if method in _METHODS:
        return _REQ
    if method in _NOTIFY_METHODS:
        return _NOTIFY
    return 0


def _token(line: bytes, pos: int) -> tuple[int, int]:
    """(end of the token at ``pos``, start of the next one): a token ends at
    a blank, CR or LF; the blanks after it are skipped (strutil's get_token_len)."""
    n = len(line)
    e = pos
    while e < n and line[e] not in b" \r\n":
        e += 1
    nxt = e
    while nxt < n and line[nxt] == 0x20:
        nxt += 1
    return e, nxt


def _strtoul10(b: bytes) -> int:
    m = _DEC_PREFIX.match(b)
    assert m is not None
    if not m.group(2):
        return 0
    v = int(m.group(2))
    if v >= 1 << 64:
        return (1 << 64) - 1
    return (-v) % (1 << 64) if m.group(1) == b"-" else v


def _status_code(line: bytes) -> int:
    """The status code Wireshark's body decisions use (parse_http_status_code):
    the second token, exactly three characters, a decimal number."""
    e, nxt = _token(line, 0)
    if e == 0:
        return 0
    e2, _ = _token(line, nxt)
    if e2 - nxt != 3:
        return 0
    s = line[nxt:e2]
    return int(s) if re.fullmatch(rb"[+-]?\d+", s) else 0


def _strtoi32(b: bytes) -> int | None:
    """ws_strtoi32 on a stripped value: the whole string a decimal int32."""
    z = b.find(0)
    if z >= 0:
        b = b[:z]
    if not re.fullmatch(rb"[ \t\n\x0b\x0c\r]*[+-]?\d+", b):
        return None
    v = int(b.strip())
    return v if -(1 << 31) <= v < (1 << 31) else None


def _content_length(value: bytes) -> int | None:
    """The dissector's reading of a Content-Length value (g_ascii_strtoll, then
    only blanks may follow); None when Wireshark finds it invalid."""
    m = re.match(rb"[ \t\n\x0b\x0c\r]*([+-]?)(\d+)", value)
    if m is None:
        return None
    rest = value[m.end():]
    if rest and rest[0] not in _SPACE and rest[0] != 0:
        return None
    v = int(m.group(2))
    if m.group(1) == b"-":
        v = -v
    if v < 0 or v >= 1 << 63:
        return None
    return v


def _chunk_size_scanf(b: bytes) -> int | None:
    """``sscanf(line, "%x")`` as the reassembly test reads a chunk size."""
    m = _HEX_PREFIX.match(b)
    assert m is not None
    digits = m.group(3)
    if not digits:
        return 0 if m.group(2) else None
    v = int(digits, 16)
    v = (1 << 64) - 1 if v >= 1 << 64 else v
    if m.group(1) == b"-":
        v = (-v) % (1 << 64)
    return v & 0xFFFFFFFF


def _chunk_size_strtol(b: bytes) -> int:
    """``(guint32) strtol(line, NULL, 16)`` as the dissector reads it."""
    m = _HEX_PREFIX.match(b)
    assert m is not None
    digits = m.group(3)
    if not digits:
        return 0
    v = min(int(digits, 16), (1 << 63) - 1)
    if m.group(1) == b"-":
        v = -v
    return v & 0xFFFFFFFF


def _chunk_line(data: bytes, start: int, length: int) -> bytes:
    s = data[start:start + length]
    cut = s.find(b";")
    if cut >= 0:
        s = s[:cut]
    z = s.find(0)
    return s if z < 0 else s[:z]


# -- conversation state ----------------------------------------------------------------

@dataclass
class _Exchange:
    """One request/response pair as Wireshark's http_req_res_t keeps it."""

    number: int
    req_frame: int = 0
    res_frame: int = 0


@dataclass
class _Conv:
    """What Wireshark's HTTP dissector remembers of a conversation (both
    directions): the last request's method and URI, the last status code,
    and the request/response pairs, numbered."""

    request_method: bytes | None = None
    """Of the last request line (without an ``M-`` prefix)."""
    request_uri: str | None = None
    full_uri: str | None = None
    """Of the last request that had a Host header."""
    response_code: int = 0
    count: int = 0
    tail: _Exchange | None = None
    frame_exchange: tuple[int, _Exchange] | None = None
    """The exchange the last message of a frame joined, with that frame."""
    changed_at: int = 0
    """Frame of the last message decoded."""
    switched: bool = False
    """After 101 Switching Protocols (or SSTP's 200) the stream is no longer HTTP."""

    def push_request(self, frame: int) -> _Exchange:
        self.count += 1
        self.tail = _Exchange(self.count, req_frame=frame)
        self.frame_exchange = (frame, self.tail)
        return self.tail

    def push_response(self, frame: int) -> _Exchange:
        ex = self.tail
        if ex is None or ex.res_frame > 0:  # a response whose request was not seen
            self.count += 1
            ex = self.tail = _Exchange(self.count)
        ex.res_frame = frame
        self.frame_exchange = (frame, ex)
        return ex

    def current(self, frame: int) -> _Exchange | None:
        if self.frame_exchange is not None and self.frame_exchange[0] == frame:
            return self.frame_exchange[1]
        return None

    def tunnel(self) -> bool:
        """Wireshark hands a stream to the CONNECT tunnel's protocol once the
        last request was CONNECT and the last status 200."""
        return (self.response_code == 200 and self.request_method is not None
                and self.request_method.startswith(b"CONNECT") and self.request_uri is not None)


def _conv(info: Any) -> _Conv:
    st = info.state.get("http")
    if st is None:
        st = info.state["http"] = _Conv()
    return st


# -- framing ---------------------------------------------------------------------------------

_NEED, _DONE = 0, -1


def _reassembly(data: bytes, off: int, body: bool, until_fin: bool) -> int:
    """Wireshark's req_resp_hdrs_do_reassembly on ``data[off:]``: _DONE when
    the message is whole enough to decode, _NEED for more bytes (or, when
    Content-Length tells, the whole message's length), UNTIL_FIN when it
    runs to the end of the stream."""
    n = len(data)
    nxt = off
    clen: int | None = None
    ctype = b""
    chunked = False
    while True:
        if nxt >= n:
            return _NEED
        linelen, after = _line_end(data, nxt, n, True)
        if linelen < 0:
            return _NEED
        start, nxt = nxt, after
        if linelen == 0:
            break
        if not body or data[start] not in b"cCtT":
            continue
        line = data[start:start + linelen]
        low = line[:18].lower()
        if low.startswith(b"content-length:"):
            v = _strtoi32(line[15:].strip(_SPACE))
            if v is not None and v >= 0:
                clen = v
        elif low.startswith(b"content-type:"):
            ctype = line[13:].lstrip(b" ")
        elif low.startswith(b"transfer-encoding:"):
            if line[18:].lstrip(b" \t")[:7].lower() == b"chunked":
                chunked = True
    if not body:
        return _DONE
    if chunked:
        while True:
            if nxt >= n:
                return _NEED
            linelen, chunk_off = _line_end(data, nxt, n, True)
            if linelen < 0:
                return _NEED
            size = _chunk_size_scanf(_chunk_line(data, nxt, linelen))
            if size is None or size > 1 << 31:
                return _DONE
            if size == 0:
                linelen, _ = _line_end(data, chunk_off, n, True)
                return _NEED if linelen < 0 else _DONE
            if n - nxt > size:
                nxt = chunk_off + size + 2
            else:
                return _NEED
    if clen is not None:
        if clen >= 128 * 1024 and (ctype.startswith(b"application/rpc") or data[:12].startswith(_RPC_TYPES)):
            return _DONE
        return nxt + clen if nxt + clen > n else _DONE
    return UNTIL_FIN if until_fin else _DONE


def _chunked_length(data: bytes, off: int, end: int) -> int:
    """Bytes of the chunked body at ``data[off:end]`` Wireshark's
    chunked_encoding_dissector takes (0: none)."""
    datalen = end - off
    orig = datalen
    o = off
    while datalen > 0:
        linelen, chunk_off = _line_end(data, o, end, True)
        if linelen <= 0:
            break
        size = _chunk_size_strtol(_chunk_line(data, o, linelen))
        if size > datalen:
            size = datalen
        if chunk_off + size > end:
            raise Truncated(chunk_off, "chunk data")
        o = chunk_off + size
        if size > 0:
            o += 2
        datalen = max(end - o, 0)
        if size == 0:
            trailer = o
            while True:
                trailer_len = trailer - o
                hlen, after = _line_end(data, trailer, end, True)
                if hlen > 0:
                    trailer = after
                    continue
                break
            if trailer_len > 0:
                o += trailer_len
                datalen -= trailer_len
            if hlen == 0:
                datalen -= after - o
            break
    return orig - datalen


@dataclass
class _Headers:
    content_length: int | None = None
    te: str | None = None
    """None: no Transfer-Encoding header; else the non-chunked coding Wireshark
    recognised ("unknown" when none)."""
    chunked: bool = False
    upgrade: bool = False


def _transfer_coding(value: bytes, h: _Headers) -> None:
    """http_parse_transfer_coding: note chunked and the other coding."""
    h.te = "unknown"
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in b" \t,":
            i += 1
        if i >= n:
            break
        if value.startswith(b"chunked", i):
            h.chunked = True
            i += 7
            continue
        if h.te != "unknown":
            break
        for name, coding in ((b"compress", "compress"), (b"deflate", "deflate"), (b"gzip", "gzip"),
                             (b"identity", "identity"), (b"x-compress", "compress"), (b"x-gzip", "gzip")):
            if value.startswith(name, i):
                h.te = coding
                i += len(name)
                break
        else:
            c = value.find(b",", i)
            if c < 0:
                break
            i = c


def _valid_name(name: bytes) -> bool:
    return bool(name) and all(c in _TOKEN for c in name)


def _message(data: bytes, info: Any, tree: Tree | None) -> tuple[int, bool]:
    """Walk one message at the start of ``data`` as Wireshark's
    dissect_http_message does, adding fields to ``tree`` (and updating the
    conversation) when given.  Returns the bytes it takes and whether it
    found a request, status or header line at all."""
    n = len(data)
    conv = _conv(info)
    frame = info.frame
    off = 0
    if n > 3 and data[0] == 0x0D and data[1] == 0x0A:
        off = 2
    if not 0x20 <= data[off] <= 0x7E:
        return n, False  # binary: body bytes of a message already seen
    htype = 0
    headers = _Headers()
    saw = False
    req_uri: str | None = None
    host: str | None = None
    code = 0
    first_kind = 0
    while off < n:
        linelen, nxt = _line_end(data, off, n, False)
        line = data[off:off + linelen]
        kind = _kind(line)
        colon = -1
        if not kind and linelen:
            colon = line.find(b":")
            if colon < 0:
                if saw and off + linelen + 1 > n:
                    raise Truncated(off + linelen, "header line")
                break
        if linelen == 0 and not kind:
            if tree is not None and tree.want_nodes:
                tree.text(_show(data[off:nxt]), off, nxt - off)
            off = nxt
            break
        saw = True
        if kind:
            htype = kind
            first_kind = first_kind or kind
            if kind == _RESP:
                if tree is not None:
                    tree.open(_show(data[off:nxt]), off, nxt - off)
                code = _response_line(line, off, tree, conv)
            elif tree is not None:
                stripped = line[2:] if line.startswith(b"M-") else line
                sp = stripped.find(b" ")
                conv.request_method = stripped if sp < 0 else stripped[:sp]
                tree.open(_show(data[off:nxt]), off, nxt - off)
                req_uri = _request_line(line, off, tree, conv)
            if tree is not None:
                tree.close()
        else:
            h = _header(data, off, nxt, line, colon, htype, headers, tree)
            if h is not None:
                host = h
        off = nxt
    if tree is not None:
        conv.changed_at = frame
        _summary(tree, htype, first_kind, conv, req_uri, host, data, frame)
    # The body: how much of what follows Wireshark takes as this message's.
    datalen = n - off
    if headers.content_length is not None and headers.te is None:
        datalen = min(datalen, headers.content_length)
    elif htype == _REQ:
        if headers.te is None:
            datalen = 0
    elif htype == _RESP:
        if code // 100 == 1 or code in (204, 304):
            datalen = 0
    if datalen > 0 and headers.chunked:
        took = _chunked_length(data, off, n)
        if took:
            datalen = took
    off += datalen
    if tree is not None and htype == _RESP and conv.request_method is not None:
        if ((conv.request_method == b"SSTP_DUPLEX_POST" and conv.response_code == 200)
                or (headers.upgrade and conv.response_code == 101)):
            conv.switched = True
        elif conv.tunnel() and conv.request_uri is not None:
            _tunnel(info, conv.request_uri)
    return off, saw


def _request_line(line: bytes, off: int, tree: Tree, conv: _Conv) -> str | None:
    """basic_request_dissector: method, URI, version.  Returns the URI."""
    e, nxt = _token(line, 0)
    if e == 0:
        return None
    tree.add(METHOD, _text(line[:e]), off, e)
    if nxt > 2 and line[nxt - 1] == 0x20 and line[nxt - 2] == 0x20:
        nxt -= 1  # two blanks: an empty URI
    e2, nxt2 = _token(line, nxt)
    uri = _text(line[nxt:e2])
    conv.request_uri = uri
    tree.add(URI, uri, off + nxt, e2 - nxt)
    tree.add(REQ_VERSION, _text(line[nxt2:]), off + nxt2, len(line) - nxt2)
    return uri


def _response_line(line: bytes, off: int, tree: Tree | None, conv: _Conv) -> int:
    """basic_response_dissector: version, status code, phrase.  Returns the
    status code the body decision uses (0 when the line has none)."""
    e, nxt = _token(line, 0)
    if e == 0:
        return 0
    if tree is not None:
        tree.add(RESP_VERSION, _text(line[:e]), off, e)
    e2, nxt2 = _token(line, nxt)
    if e2 - nxt < 3:
        return 0
    code = _strtoul10(line[nxt:nxt + 3]) & 0xFFFFFFFF
    if tree is not None:
        conv.response_code = code
        tree.add(CODE, code & 0xFFFF, off + nxt, 3)
        if len(line) - nxt2 >= 1:
            tree.add(PHRASE, _text(line[nxt2:]), off + nxt2, len(line) - nxt2)
    return code


def _header(data: bytes, off: int, nxt: int, line: bytes, colon: int, htype: int, headers: _Headers,
            tree: Tree | None) -> str | None:
    """process_header: one header line.  Returns the Host value, if this is Host."""
    raw_line = data[off:nxt]
    line_field = RESPONSE_LINE if htype == _RESP else REQUEST_LINE if htype == _REQ else None
    name = line[:colon]
    if not _valid_name(name):
        if tree is not None:
            tree.add(line_field or UNKNOWN_HEADER, _text(raw_line), off, nxt - off,
                     label=_show(raw_line) if tree.want_nodes else None)
        return None
    key = name.lower()
    v = colon + 1
    while v < len(line) and line[v] in b" \t":
        v += 1
    value = line[v:]
    known = key in _HEADERS
    f = _HEADERS.get(key)
    if tree is not None:
        label = _show(raw_line) if tree.want_nodes else None
        if f is not None:
            tree.add(f, _text(value), off, nxt - off, label=label)
        elif known:
            tree.text(label or "", off, nxt - off)
        if line_field is not None:
            if known:
                _hidden(tree, line_field, _text(raw_line))  # Wireshark hides the line under a known header
            else:
                tree.add(line_field, _text(raw_line), off, nxt - off, label=label)
        elif not known:
            tree.add(UNKNOWN_HEADER, _show(raw_line), off, nxt - off, label=label)
    if not known:
        return None
    if key == b"content-length":
        cl = _content_length(value)
        headers.content_length = cl
        if cl is not None and tree is not None:
            tree.add(CONTENT_LENGTH, cl, off, nxt - off)
    elif key == b"transfer-encoding":
        _transfer_coding(value, headers)
    elif key == b"upgrade":
        headers.upgrade = True
    elif key == b"host":
        return _text(value)
    elif tree is not None and key in (b"authorization", b"proxy-authorization"):
        if value.startswith(b"Basic "):
            tree.add(AUTHBASIC, _base64_text(value[6:]), off + v + 6, len(value) - 6)
    return None


def _hidden(tree: Tree, f: Any, value: Any) -> None:
    """A value in the table with no line in Packet Details (Wireshark's hidden items)."""
    got = tree.values.get(f.name)
    if got is None:
        tree.values[f.name] = [value]
    else:
        got.append(value)


def _base64_text(b: bytes) -> str:
    """base64_to_tvb, then the bytes as UTF-8 (Wireshark skips what is not
    Base64 alphabet and stops at the padding)."""
    keep = bytes(c for c in b if c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    eq = keep.find(b"=")
    if eq >= 0:
        keep = keep[:eq]
    if len(keep) % 4 == 1:
        keep = keep[:-1]  # a lone sextet makes no byte
    try:
        raw = base64.b64decode(keep + b"=" * (-len(keep) % 4))
    except ValueError:
        raw = b""
    z = raw.find(0)
    if z >= 0:
        raw = raw[:z]
    return raw.decode("utf-8", "replace")


def _summary(tree: Tree, htype: int, first_kind: int, conv: _Conv, uri: str | None, host: str | None,
             data: bytes, frame: int) -> None:
    """The per-message fields Wireshark adds after the headers, and the
    Packet Summary text."""
    if host is not None and uri is not None:
        low = uri[:8].lower()
        if low.startswith("http://") or low.startswith("https://") \
                or (conv.request_method or b"CONNECT")[:7].upper() == b"CONNECT":
            full = uri
        else:
            full = f"http://{host.strip(_WHITE)}{uri}"
        conv.full_uri = full
        tree.add(FULL_URI, full)
    if htype == _REQ:
        conv.push_request(frame)
    elif htype == _RESP:
        conv.push_response(frame)
    curr = conv.current(frame)
    if htype == _RESP:
        tree.add(RESPONSE, True)
        if curr is not None:
            tree.add(RESPONSE_NUMBER, curr.number)
            if curr.req_frame:
                tree.add(REQUEST_IN, curr.req_frame)
        if conv.full_uri is not None or conv.request_uri is not None:
            tree.add(RESPONSE_FOR_URI, conv.full_uri if conv.full_uri is not None else conv.request_uri)
    elif htype == _REQ:
        tree.add(REQUEST, True)
        if curr is not None:
            tree.add(REQUEST_NUMBER, curr.number)
    elif htype == _NOTIFY:
        tree.add(NOTIFICATION, True)
    if first_kind:
        start = 2 if data[:2] == b"\r\n" and len(data) > 3 else 0
        linelen, _ = _line_end(data, start, len(data), False)
        first = _text(data[start:start + linelen])
        if first_kind == _RESP:
            tree.message = f"Reply: {first}"
        else:
            e, _ = _token(data[start:start + linelen], 0)
            what = first[:e]
            if uri:
                what += " " + (uri if len(uri) <= 60 else uri[:57] + "...")
            tree.message = f"Request: {what}"


def _tunnel(info: Any, uri: str) -> None:
    """After a 200 answer to CONNECT the stream carries what the URI's port
    names (TLS for host:443), from the next segment on."""
    from tracedoc.decode import dispatch

    host, sep, port = uri.rpartition(":")
    mod: ModuleType | None = None
    if sep and port.isdigit():
        mod = dispatch.TCP_APPS.get(int(port))
    if mod is not None and mod.NAME != NAME and hasattr(info, "handoff"):
        info.handoff(mod)


# -- the module contract ---------------------------------------------------------------------

def pdu_length(data: bytes, info: Any) -> int:
    """Length of the HTTP message at the start of ``data`` once Wireshark would
    decode it: 0 while reassembly waits for more bytes, -1 when the stream is
    no longer HTTP (after an upgrade, inside a CONNECT tunnel) or the bytes
    are not a message (binary continuation data)."""
    conv = _conv(info)
    if conv.switched or (conv.tunnel() and info.frame > conv.changed_at):
        return NOT_THIS_PROTOCOL
    n = len(data)
    if n == 0:
        return 0
    off = 2 if n > 3 and data[0] == 0x0D and data[1] == 0x0A else 0
    if not 0x20 <= data[off] <= 0x7E:
        return -1
    linelen, _ = _line_end(data, off, n, True)
    if linelen < 0:
        return 0
    kind = _kind(data[off:off + linelen])
    if kind:
        fin = info.fin
        body = not fin
        if body and kind == _RESP:
            code = _status_code(data[off:off + linelen])
            method = conv.request_method
            if (method == b"HEAD" or (code // 100 == 2 and method in (b"CONNECT", b"SSTP_DUPLEX_POST"))
                    or code // 100 == 1 or code in (204, 304)):
                body = False
        r = _reassembly(data, off, body, kind == _RESP)
        if r >= 0:
            return r  # 0, or the length Content-Length makes it
        if r == UNTIL_FIN:
            return UNTIL_FIN  # the pass keeps it until this direction's FIN
    try:
        took, saw = _message(data, info, None)
    except Truncated:
        return n
    # Bytes with no request, status or header line are the body of a
    # message not seen whole: Wireshark calls them "Continuation".
    return took if saw else -1


def dissect(data: bytes, tree: Tree, info: Any) -> None:
    saw = False
    if data:
        _, saw = _message(data, info, tree)
    if not saw:
        tree.malformed("not an HTTP message (no request, status or header line)", 0)


def heuristic(data: bytes, info: Any) -> bool:
    """Wireshark's TCP heuristic: the first line starts with ``HTTP/1.`` or
    ends with ``HTTP/1.x`` (case-insensitive)."""
    if info.srcport in _CLAIMED_TCP_PORTS or info.dstport in _CLAIMED_TCP_PORTS:
        return False
    linelen, _ = _line_end(data, 0, len(data), True)
    if linelen < 0 or linelen == 8:
        return False
    if data[:7].lower() == b"http/1.":
        return True
    return linelen > 8 and data[linelen - 8:linelen - 1].lower() == b"http/1."


SSDP = ModuleType(f"{__name__}.ssdp", "SSDP (HTTP over UDP 1900): HTTP's fields, the protocol named ssdp as Wireshark names it.")
vars(SSDP).update(NAME="ssdp", FIELDS=(), dissect=dissect)
