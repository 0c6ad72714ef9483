"""FTP control connection (RFC 959; PORT/PASV, RFC 2428 EPRT/EPSV; RFC 4217
AUTH TLS).

Each segment is decoded on its own, as Wireshark's FTP dissector does: its
first line is the request (``COMMAND arg``) or the reply (``NNN text``);
the lines after it are shown as text.  A multi-line reply (``NNN-`` ...
``NNN ``) split over segments therefore keeps tshark's placement: the reply
code sits on each segment whose first line carries one, and the details
tree notes which segments continue or end a reply begun earlier.

Which side sent the line decides request or reply, as in Wireshark: a
segment to the FTP port is a request.  When the conversation was found by
:func:`heuristic` (no FTP port), the side that sent the server greeting is
the server.

The data connections that PORT, PASV (227), EPRT and EPSV (229) announce are
recorded in ``info.state["ftp.data"]`` as ``(ip, port, frame, method)``
tuples — ``ip`` a big-endian int (IPv4), 16 bytes (IPv6) or None for EPSV
(the server's own address) — so a sessions pass can link them.
"""

from __future__ import annotations

import ipaddress
import re

from tracedoc.decode.app import AppInfo
from tracedoc.decode.apptree import Tree, ascii_text
from tracedoc.decode.fields import F

NAME = "ftp"
HANDS_OFF_TO = ("tls",)
"""Protocols this one may hand its stream to (the stream may turn into TLS (STARTTLS): decoded whenever TLS columns are wanted)."""
FIELDS = (
    F("ftp.request", "bool", "Request"),
    F("ftp.response", "bool", "Response"),
    F("ftp.request.command", "string", "Request command"),
    F("ftp.request.arg", "string", "Request arg"),
    F("ftp.response.code", "u32", "Response code"),
    F("ftp.response.arg", "string", "Response arg"),
    F("ftp.passive.ip", "ipv4", "Passive IP address"),
    F("ftp.passive.port", "u16", "Passive port"),
    F("ftp.passive.nat", "bool", "Passive IP NAT"),
    F("ftp.active.cip", "ipv4", "Active IP address"),
    F("ftp.active.port", "u16", "Active port"),
    F("ftp.active.nat", "bool", "Active IP NAT"),
    F("ftp.eprt.af", "u8", "Extended active address family"),
    F("ftp.eprt.ip", "ipv4", "Extended active IP address"),
    F("ftp.eprt.ipv6", "ipv6", "Extended active IPv6 address"),
    F("ftp.eprt.port", "u16", "Extended active port"),
    F("ftp.epsv.ip", "ipv4", "Extended passive IPv4 address"),
    F("ftp.epsv.ipv6", "ipv6", "Extended passive IPv6 address"),
    F("ftp.epsv.port", "u16", "Extended passive port"),
    F("ftp.current-working-directory", "string", "Current working directory"),
)
(REQUEST, RESPONSE, REQ_COMMAND, REQ_ARG, RSP_CODE, RSP_ARG, PASV_IP, PASV_PORT, PASV_NAT, ACTIVE_IP,
 ACTIVE_PORT, ACTIVE_NAT, EPRT_AF, EPRT_IP, EPRT_IPV6, EPRT_PORT, EPSV_IP, EPSV_IPV6, EPSV_PORT, CWD) = FIELDS

# Reply codes (RFC 959 4.2, RFC 2228, RFC 2428), as Wireshark names them.
REPLY_TEXT = {
    110: "Restart marker reply", 120: "Service ready in nnn minutes",
    125: "Data connection already open; transfer starting",
    150: "File status okay; about to open data connection", 200: "Command okay",
    202: "Command not implemented, superfluous at this site", 211: "System status, or system help reply",
    212: "Directory status", 213: "File status", 214: "Help message", 215: "NAME system type",
    220: "Service ready for new user", 221: "Service closing control connection",
    225: "Data connection open; no transfer in progress", 226: "Closing data connection",
    227: "Entering Passive Mode", 229: "Entering Extended Passive Mode", 230: "User logged in, proceed",
    232: "User logged in, authorized by security data exchange", 234: "Security data exchange complete",
    235: "Security data exchange completed successfully", 250: "Requested file action okay, completed",
    257: "PATHNAME created", 331: "User name okay, need password", 332: "Need account for login",
    334: "Requested security mechanism is ok", 335: "Security data is acceptable, more is required",
    336: "Username okay, need password. Challenge is ...",
    350: "Requested file action pending further information",
    421: "Service not available, closing control connection", 425: "Can't open data connection",
    426: "Connection closed; transfer aborted", 431: "Need some unavailable resource to process security",
    450: "Requested file action not taken", 451: "Requested action aborted: local error in processing",
    452: "Requested action not taken. Insufficient storage space in system",
    500: "Syntax error, command unrecognized", 501: "Syntax error in parameters or arguments",
    502: "Command not implemented", 503: "Bad sequence of commands",
    504: "Command not implemented for that parameter", 522: "Network protocol not supported",
    530: "Not logged in", 532: "Need account for storing files",
    533: "Command protection level denied for policy reasons", 534: "Request denied for policy reasons",
    535: "Failed security check (hash, sequence, etc)", 536: "Requested PROT level not supported by mechanism",
    537: "Command protection level not supported by security mechanism",
    550: "Requested action not taken: File unavailable", 551: "Requested action aborted: page type unknown",
    552: "Requested file action aborted: Exceeded storage allocation",
    553: "Requested action not taken: File name not allowed", 631: "Integrity protected reply",
    632: "Confidentiality and integrity protected reply", 633: "Confidentiality protected reply",
}

MAX_DATA_CONNECTIONS = 4096
"""Announced data connections kept per control connection (oldest dropped)."""

STATE_REPLY = "ftp.reply"          # (code, first frame) of a multi-line reply still open
STATE_DATA = "ftp.data"            # announced data connections
STATE_SERVER_PORT = "ftp.server"   # server's port when found by heuristic
STATE_AUTH = "ftp.auth_tls"        # AUTH TLS/SSL sent, awaiting 234
STATE_CWD = "ftp.cwd"              # current working directory, as far as CWD/CDUP/PWD tell
STATE_LAST = "ftp.last_command"    # the last request line


# -- text ------------------------------------------------------------------------------

def line_end(data: bytes, start: int = 0) -> tuple[int, int]:
    """``(end, next)`` of the line starting at ``start``: the line's text
    stops at ``end``; the following line begins at ``next``.

    As Wireshark's ``tvb_find_line_end`` without desegmentation: a line ends
    at CR LF, a lone LF or a lone CR; the last line may have no end."""
    n = len(data)
    lf = data.find(b"\n", start)
    cr = data.find(b"\r", start, lf if lf >= 0 else n)
    if cr >= 0:
        return cr, (cr + 2 if cr + 1 < n and data[cr + 1] == 0x0A else cr + 1)
    if lf >= 0:
        return lf, lf + 1
    return n, n


def show(b: bytes, limit: int = 100) -> str:
    """Printable text of some bytes for labels and messages."""
    s = b[:limit].decode("latin-1")
    if not s.isprintable():
        s = "".join(c if c.isprintable() and ord(c) < 0x7F else f"\\x{ord(c):02x}" for c in s)
    return s + ("..." if len(b) > limit else "")


def token(line: bytes) -> tuple[int, int]:
    """Length of the first word and where the text after it (and the blanks
    that follow it) begins (Wireshark 4.0 ``get_token_len``)."""
    sp = line.find(b" ")
    tok = len(line) if sp < 0 else sp
    nxt = tok
    while nxt < len(line) and line[nxt] == 0x20:
        nxt += 1
    return tok, nxt


def _c_prefix_eq(tok: bytes, word: bytes) -> bool:
    """``strncmp(tok, word, len(tok)) == 0`` — how Wireshark picks out PORT and
    EPRT: a token that is a prefix of the word (or stops at a NUL) matches."""
    for i, a in enumerate(tok):
        b = word[i] if i < len(word) else 0
        if a != b:
            return False
        if a == 0:
            return True
    return True


# -- PORT / PASV / EPRT / EPSV ---------------------------------------------------------

_SIX = re.compile(rb"(\d+),\s*([+-]?\d+),\s*([+-]?\d+),\s*([+-]?\d+),\s*([+-]?\d+),\s*([+-]?\d+)")
_DIGITS = re.compile(rb"\d+")


def _c_int(text: bytes) -> int:
    """``%d`` as glibc's scanf stores it: a long, clamped, cut to 32 bits."""
    v = max(min(int(text), (1 << 63) - 1), -(1 << 63)) & 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def parse_port_pasv(args: bytes) -> tuple[int, int, int] | None:
    """``(ip, port, offset)`` from ``h1,h2,h3,h4,p1,p2`` anywhere in ``args``
    (D. J. Bernstein's advice, as Wireshark follows it: try six
    comma-separated numbers at each run of digits in turn)."""
    z = args.find(b"\0")
    if z >= 0:
        args = args[:z]
    for m in _DIGITS.finditer(args):
        six = _SIX.match(args, m.start())
        if six is not None:
            a, b, c, d, p1, p2 = (_c_int(x) for x in six.groups())
            ip = ((a << 24) | (b << 16) | (c << 8) | d) & 0xFFFFFFFF
            return ip, ((p1 & 0xFF) << 8) | (p2 & 0xFF), m.start()
    return None


def _valid_delimiter(c: int) -> bool:
    """RFC 2428 section 2: a printable character that is not a digit, a hex
    letter, '.' or ':'."""
    return 0x21 <= c <= 0x7E and chr(c).lower() not in "0123456789abcdef.:"


def _strtou(text: bytes, limit: int) -> int | None:
    """Wireshark's ``ws_strtou*`` with no end pointer: leading blanks, then
    decimal digits only, to the end; None if that fails or overflows."""
    t = text.lstrip(b" \t\n\v\f\r")
    if not t or not t.isdigit() or text[:1] in (b"+", b"-"):
        return None
    v = int(t)
    return v if v <= limit else None


def parse_eprt(args: bytes) -> tuple[int, int | bytes, int] | None:
    """``(af, address, port)`` from ``<d>af<d>addr<d>port<d>`` (RFC 2428)."""
    z = args.find(b"\0")
    if z >= 0:
        args = args[:z]
    if len(args) < 4 or not _valid_delimiter(args[0]):
        return None
    d = args[:1]
    if args.count(d) != 4:
        return None
    parts = args.split(d)
    af_s, addr_s, port_s = parts[1], parts[2], parts[3]
    if not af_s or not addr_s or not port_s:
        return None
    af = _strtou(af_s, 0xFFFFFFFF)
    if af is None or af not in (1, 2):
        return None
    addr: int | bytes
    try:
        text = addr_s.decode("ascii")
        if af == 1:
            addr = int(ipaddress.IPv4Address(text))
        else:
            addr = ipaddress.IPv6Address(text).packed
    except ValueError:
        return None
    port = _strtou(port_s, 0xFFFF)
    if port is None:
        return None
    return af, addr, port


def parse_epsv(args: bytes) -> tuple[int, int] | None:
    """``(port, offset)`` from ``(<d><d><d>port<d>)`` (RFC 2428 section 3),
    as leniently as Wireshark reads it."""
    z = args.find(b"\0")
    if z >= 0:
        args = args[:z]
    p = args.find(b"(")
    if p < 0:
        return None
    p += 1
    delim = 0
    for _ in range(3):
        if p >= len(args):
            break
        c = args[p]
        if delim == 0 and _valid_delimiter(c):
            delim = c
        if c != delim:
            break
        p += 1
    if p >= len(args):
        return None
    rest = args[p:]
    if rest[:1] in (b"+", b"-"):
        return None
    t = rest.lstrip(b" \t\n\v\f\r")
    n = 0
    while n < len(t) and 0x30 <= t[n] <= 0x39:
        n += 1
    after = t[n:n + 1]
    if n == 0:
        if after != b"|":
            return None
        port = 0
    else:
        port = int(t[:n])
        if port > 0xFFFF:
            if after != b"|":
                return None
            port = 0xFFFF
    if args.find(b")", p) < 0:
        return None
    return port, p


def _endpoint(ip: int | bytes | None, port: int) -> str:
    if ip is None:
        return f"port {port}"
    if isinstance(ip, bytes):
        return f"[{ipaddress.IPv6Address(ip)}]:{port}"
    return f"{ipaddress.IPv4Address(ip)}:{port}"


def _record(info: AppInfo, ip: int | bytes | None, port: int, method: str) -> None:
    conns = info.state.setdefault(STATE_DATA, [])
    if len(conns) >= MAX_DATA_CONNECTIONS:
        del conns[0]
    conns.append((ip, port, info.frame, method))


def _addr(info: AppInfo, which: str) -> int | bytes | None:
    """The packet's source or destination address, when the pass provides it."""
    v = getattr(info, which, None)
    return v if isinstance(v, (int, bytes)) and v else None


# -- dissection ------------------------------------------------------------------------

def is_request(data: bytes, info: AppInfo) -> bool:
    if info.port:
        return info.dstport == info.port
    server = info.state.get(STATE_SERVER_PORT)
    if server is not None:
        return info.dstport == server
    return not (len(data) >= 3 and data[:3].isdigit())


def dissect(data: bytes, tree: Tree, info: AppInfo) -> None:
    request = is_request(data, info)
    tree.add(REQUEST, request, 0, 0)
    tree.add(RESPONSE, not request, 0, 0)
    end, nxt = line_end(data)
    line = data[:end]
    tree.open("FTP Data", 0, len(data))
    if request:
        info.state[STATE_LAST] = _utf8(line)
        _request(data, line, tree, info)
    else:
        _reply(data, line, tree, info)
    cwd = info.state.get(STATE_CWD, "")
    tree.add(CWD, cwd, 0, 0, f"[Current working directory: {cwd}]")
    if tree.want_nodes:
        off = nxt
        while off < len(data):
            e, n = line_end(data, off)
            tree.text(show(data[off:e]), off, n - off)
            off = n
    tree.close()


def _request(data: bytes, line: bytes, tree: Tree, info: AppInfo) -> None:
    tok, nxt = token(line)
    command = ""
    if tok:
        command = ascii_text(line[:tok])
        tree.add(REQ_COMMAND, command, 0, tok, f"Command : {command}")
    args = line[nxt:]
    if args:
        arg = ascii_text(args)
        tree.add(REQ_ARG, arg, nxt, len(args), f"Parameters : {arg}")
    word = line[:tok]
    shown = command if 3 <= len(word) <= 4 and word.isalpha() else ""
    tree.message = f"ftp command {shown}" if shown else "ftp command"
    if tok and _c_prefix_eq(word, b"PORT"):
        got = parse_port_pasv(args)
        if got is not None:
            ip, port, at = got
            tree.add(ACTIVE_IP, ip, nxt + at, 0, f"Client's IP Address : {ipaddress.IPv4Address(ip)}")
            tree.add(ACTIVE_PORT, port, nxt + at, 0, f"Client's Port : {port} ({port >> 8} * 256 + {port & 0xFF})")
            src = _addr(info, "src")
            if isinstance(src, int) and src != ip:
                tree.add(ACTIVE_NAT, True, 0, 0, "Client's address differs from the sender's (NAT)")
            _record(info, ip, port, "PORT")
            tree.message += " " + _endpoint(ip, port)
    elif tok and _c_prefix_eq(word, b"EPRT"):
        eprt = parse_eprt(args)
        if eprt is None:
            tree.text("[EPRT arguments must have the form: |<family>|<addr>|<port>|]", nxt, len(args))
        else:
            af, addr, port = eprt
            tree.add(EPRT_AF, af, nxt + 1, 1, f"Address Family : {'IPv4' if af == 1 else 'IPv6'} ({af})")
            if isinstance(addr, int):
                tree.add(EPRT_IP, addr, nxt + 3, 0, f"Client's IP Address : {ipaddress.IPv4Address(addr)}")
            else:
                tree.add(EPRT_IPV6, addr, nxt + 3, 0, f"Client's IP Address : {ipaddress.IPv6Address(addr)}")
            tree.add(EPRT_PORT, port, nxt, len(args), f"Client's Port : {port}")
            _record(info, addr, port, "EPRT")
            tree.message += " " + _endpoint(addr, port)
    if len(line) == 8 and line.upper() in (b"AUTH TLS", b"AUTH SSL"):
        info.state[STATE_AUTH] = True


def _reply(data: bytes, line: bytes, tree: Tree, info: AppInfo) -> None:
    state = info.state
    open_reply = state.get(STATE_REPLY)
    if len(line) >= 3 and line[:3].isdigit():
        code = int(line[:3])
        what = REPLY_TEXT.get(code, "Unknown")
        tree.add(RSP_CODE, code, 0, 3, f"Reply Code : {code}({what})")
        tree.message = f"ftp reply code {code}"
        args = line[4:] if len(line) >= 4 else b""
        if args:
            arg = ascii_text(args)
            tree.add(RSP_ARG, arg, 4, len(args), f"Message : {arg}")
        if code == 227 and args:
            got = parse_port_pasv(args)
            if got is not None:
                ip, port, at = got
                tree.add(PASV_IP, ip, 4 + at, 0, f"Server's IP Address : {ipaddress.IPv4Address(ip)}")
                tree.add(PASV_PORT, port, 4 + at, 0,
                         f"Server's Port : {port} ({port >> 8} * 256 + {port & 0xFF})")
                src = _addr(info, "src")
                if isinstance(src, int) and src != ip:
                    tree.add(PASV_NAT, True, 0, 0, "Server's address differs from the sender's (NAT)")
                _record(info, ip, port, "PASV")
                tree.message += f" ({what}) {_endpoint(ip, port)}"
        elif code == 229 and args:
            got2 = parse_epsv(args)
            if got2 is None:
                tree.text("[EPSV arguments must have the form (|||<port>|)]", 4, len(args))
            else:
                port, at = got2
                src = _addr(info, "src")
                if isinstance(src, int):
                    tree.add(EPSV_IP, src, 0, 0, f"Server's IP Address : {ipaddress.IPv4Address(src)}")
                elif isinstance(src, bytes):
                    tree.add(EPSV_IPV6, src, 0, 0, f"Server's IP Address : {ipaddress.IPv6Address(src)}")
                tree.add(EPSV_PORT, port, 4 + at, 0, f"Server's Port : {port}")
                _record(info, src, port, "EPSV")
                tree.message += f" ({what}) {_endpoint(src, port)}"
        elif code == 234 and state.pop(STATE_AUTH, False):
            tree.text("[AUTH TLS accepted: TLS follows]", 0, 0)
            info.start_tls()
        elif code == 250:
            last = state.get(STATE_LAST, "")
            if last.startswith("CWD "):
                state[STATE_CWD] = change_directory(state.get(STATE_CWD, ""), last[4:])
            elif last.startswith("CDUP"):
                state[STATE_CWD] = change_directory(state.get(STATE_CWD, ""), "..")
        elif code == 257 and len(line) >= 4:
            pwd = quoted_path(line[4:])
            if pwd is not None:
                state[STATE_CWD] = pwd
    else:
        if open_reply is not None:
            tree.message = f"ftp reply code {open_reply[0]} (continued)"
        else:
            tree.message = "ftp reply"
        if line:
            arg = ascii_text(line)
            tree.add(RSP_ARG, arg, 0, len(line), f"Message : {arg}")
    _track_multiline(data, tree, info, open_reply)


def _track_multiline(data: bytes, tree: Tree, info: AppInfo, open_reply: tuple[int, int] | None) -> None:
    """Follow RFC 959 multi-line replies (``NNN-`` first line, ``NNN `` last)
    across segments, and say in the details where each segment stands."""
    first_is_open = len(data) >= 4 and data[:3].isdigit() and data[3] == 0x2D
    if open_reply is None and not first_is_open:
        return
    state = info.state
    cur = open_reply
    began_here = False
    off = 0
    n = len(data)
    while off < n:
        e, nx = line_end(data, off)
        ln = data[off:e]
        if cur is None:
            if len(ln) >= 4 and ln[:3].isdigit() and ln[3] == 0x2D:
                cur = (int(ln[:3]), info.frame)
                began_here = True
        elif len(ln) >= 3 and ln[:3].isdigit() and int(ln[:3]) == cur[0] and (len(ln) == 3 or ln[3] == 0x20):
            if not began_here:
                tree.text(f"[End of the multi-line {cur[0]} reply begun in frame {cur[1]}]", off, nx - off)
            cur = None
            began_here = False
        off = nx
    if cur is not None and not began_here:
        tree.text(f"[Continues the multi-line {cur[0]} reply begun in frame {cur[1]}]", 0, len(data))
    if cur is None:
        state.pop(STATE_REPLY, None)
    else:
        state[STATE_REPLY] = cur


def _utf8(b: bytes) -> str:
    z = b.find(b"\0")
    return (b if z < 0 else b[:z]).decode("utf-8", "replace")


def change_directory(cwd: str, path: str) -> str:
    """The working directory after a successful ``CWD path`` (or CDUP,
    ``..``), normalised as Wireshark does: ``.`` dropped, ``..`` removing the
    directory before it.  Until a PWD reply tells the real one, the
    directory is relative to wherever the login started (empty)."""
    if path.startswith("/"):
        return path
    if not cwd:
        return path
    joined = cwd + path if cwd.endswith("/") else cwd + "/" + path
    out = "/" if cwd.startswith("/") else ""
    for name in joined.split("/"):
        if not name or name == ".":
            continue
        if name == "..":
            out = out[:out.rfind("/") + 1] if "/" in out else ""
            if len(out) > 1 and out.endswith("/"):
                out = out[:-1]
        else:
            if out and not out.endswith("/"):
                out += "/"
            out += name
    return out


def quoted_path(text: bytes) -> str | None:
    """The directory in a 257 reply: ``"name"`` with ``""`` standing for one
    quote (RFC 959 Appendix II); None when it is not quoted."""
    if len(text) < 2 or text[0] != 0x22:
        return None
    out = bytearray()
    i, n, started = 0, len(text), False
    while i < n:
        c = text[i]
        if c == 0x22:
            if i + 1 < n and text[i + 1] == 0x22:
                out.append(0x22)
                i += 2
                continue
            if started:
                return _utf8(bytes(out))
            started = True
        else:
            out.append(c)
        i += 1
    return None


# -- finding FTP on other ports ---------------------------------------------------------

_GREETING = re.compile(rb"220[ -][\x20-\x7e]*\r?\n")


def heuristic(data: bytes, info: AppInfo) -> bool:
    """An FTP server greeting (``220 ... FTP ...``) as the first bytes seen on
    a connection: the sender is the server.  The greeting must name FTP, as
    SMTP servers greet with 220 too."""
    if info.state.get("ftp.heuristic_tried"):
        return False
    info.state["ftp.heuristic_tried"] = True
    m = _GREETING.match(data)
    if m is None or b"FTP" not in m.group().upper():
        return False
    if b"SMTP" in m.group().upper():
        return False
    info.state[STATE_SERVER_PORT] = info.srcport
    return True
