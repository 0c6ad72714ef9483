"""Telnet (RFC 854, option negotiation RFC 855) and TN3270/TN3270E
(RFC 1041, RFC 2355).

Decoded as Wireshark 4.0's Telnet dissector reads it: text is shown a line
at a time (``telnet.data``); ``IAC`` commands give ``telnet.cmd`` and, for
WILL/WONT/DO/DONT/SB, the option (``telnet.subcmd``); suboptions with a
known layout are decoded (terminal type, window size, TN3270E device type
and functions, authentication and encryption commands, START_TLS ...).

Once the terminal type or the TN3270E negotiation shows a 3270 session,
the connection's state (``info.state["telnet.tn3270"]``) records it, and
the data between commands is 3270 data stream: records end with IAC EOR,
so a record is rebuilt across segments until an IAC arrives
(:func:`pdu_length`, as Wireshark does), and under TN3270E each record
starts with the 5-byte TN3270E header (data type, request flag, response
flag, sequence number).
"""

from __future__ import annotations

import codecs
from typing import Any, Callable

from tracedoc.decode.app import AppInfo
from tracedoc.decode.apptree import Tree, Truncated, ascii_text
from tracedoc.decode.fields import F

NAME = "telnet"
HANDS_OFF_TO = ("tls",)
"""Protocols this one may hand its stream to (the stream may turn into TLS (STARTTLS): decoded whenever TLS columns are wanted)."""
FIELDS = (
    F("telnet.cmd", "u8", "Command", multi=True),
    F("telnet.subcmd", "u8", "Subcommand", multi=True),
    F("telnet.data", "string", "Data", multi=True),
    F("telnet.option_data", "bytes", "Option data", "bytes", multi=True),
    F("telnet.subcommand_data", "bytes", "Subcommand data", "bytes", multi=True),
    F("telnet.string_subopt.value", "string", "Value", multi=True),
    F("telnet.naws_subopt.width", "u16", "Width", multi=True),
    F("telnet.naws_subopt.height", "u16", "Height", multi=True),
    F("telnet.outmark_subopt.banner", "string", "Banner", multi=True),
    F("telnet.rfc_subopt.cmd", "u8", "Command", multi=True),
    F("telnet.tabstop", "u8", "Tabstop value", multi=True),
    F("telnet.auth.cmd", "u8", "Auth Cmd", multi=True),
    F("telnet.auth.type", "u8", "Auth Type", multi=True),
    F("telnet.auth.name", "string", "Name", multi=True),
    F("telnet.auth.krb5.cmd", "u8", "Command", multi=True),
    F("telnet.enc.cmd", "u8", "Enc Cmd", multi=True),
    F("telnet.enc.type", "u8", "Enc Type", multi=True),
    F("telnet.enc.type_data", "bytes", "Type-specific data", "bytes", multi=True),
    F("telnet.enc.key_id", "bytes", "Key ID", "bytes", multi=True),
    F("telnet.comport_subopt.signature", "string", "Signature", multi=True),
    F("telnet.comport_subopt.baud_rate", "u32", "Baud Rate", multi=True),
    F("telnet.comport_subopt.data_size", "u8", "Data Size", multi=True),
    F("telnet.comport_subopt.parity", "u8", "Parity", multi=True),
    F("telnet.comport_subopt.stop", "u8", "Stop Bits", multi=True),
    F("telnet.comport_subopt.control", "u8", "Control", multi=True),
    F("telnet.comport_subopt.purge", "u8", "Purge", multi=True),
    F("telnet.tn3270.subopt", "u8", "Suboption", multi=True),
    F("telnet.tn3270.connect", "string", "Connect", multi=True),
    F("telnet.tn3270.is", "string", "Is", multi=True),
    F("telnet.tn3270.request_string", "string", "Request", multi=True),
    F("telnet.tn3270.reason", "u8", "Reason", multi=True),
    F("telnet.tn3270.request", "u8", "Request", multi=True),
    F("telnet.tn3270.regime_subopt.value", "string", "Value", multi=True),
    F("telnet.regime_cmd", "u8", "Cmd", multi=True),
    F("telnet.starttls", "u8", "Follows", multi=True),
    F("tn3270.tn3270e_data_type", "u8", "TN3270E Data Type", "hex", 2, multi=True),
    F("tn3270.tn3270e_request_flag", "u8", "TN3270E Request Flag", "hex", 2, multi=True),
    F("tn3270.tn3270e_response_flag", "u8", "TN3270E Response Flag", "hex", 2, multi=True),
    F("tn3270.tn3270e_seq_number", "u16", "TN3270E Seq Number", multi=True),
    F("tn3270.tn3270e_header_data", "string", "TN3270E Header Data", multi=True),
    F("tn3270.command_code", "u8", "Command Code", "hex", 2, multi=True),
    F("tn3270.aid", "u8", "Attention Identification", "hex", 2, multi=True),
)
(CMD, SUBCMD, DATA, OPTION_DATA, SUBCOMMAND_DATA, STRING_VALUE, NAWS_WIDTH, NAWS_HEIGHT, OUTMARK_BANNER, RFC_CMD,
 TABSTOP, AUTH_CMD, AUTH_TYPE, AUTH_NAME, AUTH_KRB5_CMD, ENC_CMD, ENC_TYPE, ENC_TYPE_DATA, ENC_KEY_ID,
 COMPORT_SIGNATURE, COMPORT_BAUD, COMPORT_DATA_SIZE, COMPORT_PARITY, COMPORT_STOP, COMPORT_CONTROL, COMPORT_PURGE,
 TN3270_SUBOPT, TN3270_CONNECT, TN3270_IS, TN3270_REQUEST_STRING, TN3270_REASON, TN3270_REQUEST,
 TN3270_REGIME_VALUE, REGIME_CMD, STARTTLS, TN3270E_DATA_TYPE, TN3270E_REQUEST_FLAG, TN3270E_RESPONSE_FLAG,
 TN3270E_SEQ, TN3270E_HEADER_DATA, TN3270_COMMAND_CODE, TN3270_AID) = FIELDS

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240

COMMANDS = {
    236: "End of File", 237: "Suspend Current Process", 238: "Abort Process", 239: "End of Record",
    240: "Suboption End", 241: "No Operation", 242: "Data Mark", 243: "Break", 244: "Interrupt Process",
    245: "Abort Output", 246: "Are You There?", 247: "Escape Character", 248: "Erase Line", 249: "Go Ahead",
    254: "Don't", 253: "Do", 252: "Won't", 251: "Will", 250: "Suboption",
}
VERBS = {WILL: "WILL", WONT: "WONT", DO: "DO", DONT: "DONT", SB: "SB"}
SHORT_COMMANDS = {236: "EOF", 237: "SUSP", 238: "ABORT", 239: "EOR", 240: "SE", 241: "NOP", 242: "DM", 243: "BRK",
                  244: "IP", 245: "AO", 246: "AYT", 247: "EC", 248: "EL", 249: "GA"}

NO_LENGTH, FIXED_LENGTH, VARIABLE_LENGTH = range(3)

# The options Wireshark knows: (name, length rule, length, decoder name or None).
OPTIONS: list[tuple[str, int, int, str | None]] = [
    ("Binary Transmission", NO_LENGTH, 0, None),                    # RFC 856
    ("Echo", NO_LENGTH, 0, None),                                   # RFC 857
    ("Reconnection", NO_LENGTH, 0, None),
    ("Suppress Go Ahead", NO_LENGTH, 0, None),                      # RFC 858
    ("Approx Message Size Negotiation", NO_LENGTH, 0, None),
    ("Status", VARIABLE_LENGTH, 1, None),                           # RFC 859
    ("Timing Mark", NO_LENGTH, 0, None),                            # RFC 860
    ("Remote Controlled Trans and Echo", VARIABLE_LENGTH, 1, None),  # RFC 726
    ("Output Line Width", VARIABLE_LENGTH, 0, None),
    ("Output Page Size", VARIABLE_LENGTH, 0, None),
    ("Output Carriage-Return Disposition", FIXED_LENGTH, 2, None),  # RFC 652
    ("Output Horizontal Tab Stops", VARIABLE_LENGTH, 1, "htstops"),  # RFC 653
    ("Output Horizontal Tab Disposition", FIXED_LENGTH, 2, None),   # RFC 654
    ("Output Formfeed Disposition", FIXED_LENGTH, 2, None),         # RFC 655
    ("Output Vertical Tabstops", VARIABLE_LENGTH, 1, None),         # RFC 656
    ("Output Vertical Tab Disposition", FIXED_LENGTH, 2, None),     # RFC 657
    ("Output Linefeed Disposition", FIXED_LENGTH, 2, None),         # RFC 658
    ("Extended ASCII", FIXED_LENGTH, 2, None),                      # RFC 698
    ("Logout", NO_LENGTH, 0, None),                                 # RFC 727
    ("Byte Macro", VARIABLE_LENGTH, 2, None),                       # RFC 735
    ("Data Entry Terminal", VARIABLE_LENGTH, 2, None),              # RFC 732, 1043
    ("SUPDUP", NO_LENGTH, 0, None),                                 # RFC 734, 736
    ("SUPDUP Output", VARIABLE_LENGTH, 1, None),                    # RFC 749
    ("Send Location", VARIABLE_LENGTH, 0, None),                    # RFC 779
    ("Terminal Type", VARIABLE_LENGTH, 1, "string"),                # RFC 1091
    ("End of Record", NO_LENGTH, 0, None),                          # RFC 885
    ("TACACS User Identification", FIXED_LENGTH, 4, None),          # RFC 927
    ("Output Marking", VARIABLE_LENGTH, 1, "outmark"),              # RFC 933
    ("Terminal Location Number", VARIABLE_LENGTH, 1, None),         # RFC 946
    ("Telnet 3270 Regime", VARIABLE_LENGTH, 1, "regime"),           # RFC 1041
    ("X.3 PAD", VARIABLE_LENGTH, 1, None),                          # RFC 1053
    ("Negotiate About Window Size", FIXED_LENGTH, 4, "naws"),       # RFC 1073
    ("Terminal Speed", VARIABLE_LENGTH, 1, None),                   # RFC 1079
    ("Remote Flow Control", FIXED_LENGTH, 1, "rfc"),                # RFC 1372
    ("Linemode", VARIABLE_LENGTH, 1, None),                         # RFC 1184
    ("X Display Location", VARIABLE_LENGTH, 1, "string"),           # RFC 1096
    ("Environment Option", VARIABLE_LENGTH, 1, None),               # RFC 1408, 1571
    ("Authentication Option", VARIABLE_LENGTH, 1, "auth"),          # RFC 2941
    ("Encryption Option", VARIABLE_LENGTH, 1, "enc"),               # RFC 2946
    ("New Environment Option", VARIABLE_LENGTH, 1, None),           # RFC 1572
    ("TN3270E", VARIABLE_LENGTH, 1, "tn3270e"),                     # RFC 1647, 2355
    ("XAUTH", VARIABLE_LENGTH, 1, None),
    ("CHARSET", VARIABLE_LENGTH, 1, None),                          # RFC 2066
    ("Remote Serial Port", VARIABLE_LENGTH, 1, None),
    ("COM Port Control", VARIABLE_LENGTH, 1, "comport"),            # RFC 2217
    ("Suppress Local Echo", NO_LENGTH, 0, None),
    ("Start TLS", FIXED_LENGTH, 1, "starttls"),                     # draft-ietf-tn3270e-telnet-tls
    ("KERMIT", VARIABLE_LENGTH, 1, None),                           # RFC 2840
    ("SEND-URL", VARIABLE_LENGTH, 1, None),
    ("FORWARD_X", VARIABLE_LENGTH, 1, None),
]
# Option names as negotiation is usually written (RFC keywords), for messages.
OPTION_KEYWORDS = {
    0: "BINARY", 1: "ECHO", 3: "SUPPRESS-GO-AHEAD", 5: "STATUS", 6: "TIMING-MARK", 24: "TERMINAL-TYPE",
    25: "END-OF-RECORD", 29: "3270-REGIME", 31: "NAWS", 32: "TERMINAL-SPEED", 33: "TOGGLE-FLOW-CONTROL",
    34: "LINEMODE", 35: "X-DISPLAY-LOCATION", 36: "ENVIRON", 37: "AUTHENTICATION", 38: "ENCRYPT",
    39: "NEW-ENVIRON", 40: "TN3270E", 42: "CHARSET", 44: "COM-PORT-OPTION", 46: "START-TLS",
}

# TN3270E (RFC 2355 section 8).
TN3270E_DATA_TYPES = {0: "3270-DATA", 1: "SCS-DATA", 2: "RESPONSE", 3: "BIND-IMAGE", 4: "UNBIND", 5: "NVT-DATA",
                      6: "REQUEST", 7: "SSCP-LU-DATA", 8: "PRINT-EOJ"}
TN3270E_SUBOPTIONS = {0: "ASSOCIATE", 1: "CONNECT", 2: "DEVICE-TYPE", 3: "FUNCTIONS", 4: "IS", 5: "REASON",
                      6: "REJECT", 7: "REQUEST", 8: "SEND"}
TN3270E_FUNCTIONS = {0: "BIND-IMAGE", 1: "DATA-STREAM-CTL", 2: "RESPONSES", 3: "SCS-CTL-CODES", 4: "SYSREQ"}
# 3270 data stream command codes (IBM GA23-0059, 3.3) and their local/SNA forms.
COMMAND_CODES = {0x01: "Write", 0x05: "Erase/Write", 0x0D: "Erase/Write Alternate", 0x0F: "Erase All Unprotected",
                 0x11: "Write Structured Field", 0x02: "Read Buffer", 0x06: "Read Modified",
                 0x0E: "Read Modified All", 0xF1: "Write", 0xF5: "Erase/Write", 0x7E: "Erase/Write Alternate",
                 0x6F: "Erase All Unprotected", 0xF3: "Write Structured Field", 0xF2: "Read Buffer",
                 0xF6: "Read Modified", 0x6E: "Read Modified All"}
TN3270_MODELS = ("IBM-3278-2-E", "IBM-3278-2", "IBM-3278-3", "IBM-3278-4", "IBM-3278-5", "IBM-3277-2",
                 "IBM-3279-3", "IBM-3279-4", "IBM-3279-2-E", "IBM-3279-2", "IBM-3279-4-E")
TN5250_TYPES = ("IBM-5555-C01", "IBM-5555-B01", "IBM-3477-FC", "IBM-3477-FG", "IBM-3180-2", "IBM-3179-2",
                "IBM-3196-A1", "IBM-5292-2", "IBM-5291-1", "IBM-5251-11")

STATE_TN3270 = "telnet.tn3270"     # {"extended": bool, "outbound_port": int}
STATE_TN5250 = "telnet.tn5250"
STATE_STARTTLS = "telnet.starttls"  # (frame, srcport) of the first START_TLS FOLLOWS


def _format_text(b: bytes) -> str:
    """Wireshark's ``tvb_format_text`` for the few comparisons it feeds."""
    return "".join(chr(c) if 0x20 <= c < 0x7F else f"\\x{c:02x}" for c in b)


class _Msg:
    """What one message held, for the Packet Summary wording."""

    __slots__ = ("commands", "data_bytes", "tn3270e")

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.data_bytes = 0
        self.tn3270e: str | None = None


# -- framing ------------------------------------------------------------------------------

def _find_iac(data: bytes, off: int) -> int:
    """The next IAC that is not an escaped 0xFF data byte (IAC IAC), or -1.
    An IAC in the last byte cannot be told apart: Wireshark stops there."""
    n = len(data)
    while True:
        i = data.find(b"\xff", off)
        if i < 0:
            return -1
        if i + 1 >= n:
            raise Truncated(i, "IAC at the end of the segment")
        if data[i + 1] != IAC:
            return i
        off = i + 2


def _suboption_end(data: bytes, start: int) -> tuple[int, int]:
    """For ``IAC SB opt`` at ``start``: where its parameters end (the IAC
    that follows them, or the end of the data) and how many escaped IACs
    they hold.  The odd bound on the escape test is Wireshark's."""
    off = start + 3
    n = len(data)
    length = n - off
    cur = off
    escaped = 0
    while True:
        i = data.find(b"\xff", cur)
        if i < 0:
            return n, escaped
        if i + 1 >= length or data[i + 1] != IAC:
            return i, escaped
        cur = i + 2
        escaped += 1


def _command_end(data: bytes, start: int) -> int:
    n = len(data)
    if start + 1 >= n:
        raise Truncated(start, "telnet command")
    code = data[start + 1]
    off = start + 2
    if code in (WILL, WONT, DO, DONT, SB):
        if off >= n:
            raise Truncated(off, "telnet option")
        off += 1
        if code == SB:
            off = _suboption_end(data, start)[0]
    return off


def _block_mode(info: AppInfo) -> bool:
    return STATE_TN3270 in info.state or STATE_TN5250 in info.state


def pdu_length(data: bytes, info: AppInfo) -> int:
    """Every segment as it comes, except in a 3270/5250 session, where data
    waits until an IAC (end of record) follows it."""
    if not _block_mode(info):
        return len(data)
    off, n = 0, len(data)
    try:
        while off < n:
            i = _find_iac(data, off)
            if i < 0:
                return off
            off = _command_end(data, i)
    except Truncated:
        return n
    return n


# -- dissection ----------------------------------------------------------------------------

def dissect(data: bytes, tree: Tree, info: AppInfo) -> None:
    if not data:
        tree.malformed("empty telnet segment", 0)
        return
    msg = _Msg()
    tn3270 = STATE_TN3270 in info.state
    tn5250 = not tn3270 and STATE_TN5250 in info.state
    off, n = 0, len(data)
    try:
        while off < n:
            i = _find_iac(data, off)
            if i < 0:
                _data(data, off, n, tree, info, msg, tn3270, tn5250)
                break
            if i > off:
                _data(data, off, i, tree, info, msg, tn3270, tn5250)
            off = _command(data, i, tree, info, msg)
    finally:
        tree.message = _message(msg)


def _message(msg: _Msg) -> str:
    parts: list[str] = []
    if msg.tn3270e is not None:
        parts.append(msg.tn3270e)
    # IAC SE only closes a suboption; IAC EOR only closes the record the data is.
    quiet = ("IAC SE", "IAC EOR") if (msg.data_bytes or msg.tn3270e) else ("IAC SE",)
    commands = [c for c in msg.commands if c not in quiet]
    if commands:
        shown = commands[:8]
        parts.append(", ".join(shown) + (", ..." if len(commands) > 8 else ""))
    if msg.data_bytes and msg.tn3270e is None:
        parts.append(f"{msg.data_bytes} bytes of telnet data..")
    return "telnet : " + ", ".join(parts) if parts else "telnet"


def _data(data: bytes, start: int, end: int, tree: Tree, info: AppInfo, msg: _Msg, tn3270: bool,
          tn5250: bool) -> None:
    if tn3270:
        _tn3270(data[start:end], start, tree, info, msg)
    elif tn5250:
        tree.text(f"TN5250 data ({end - start} bytes)", start, end - start)
        msg.data_bytes += end - start
    else:
        _add_text(data, start, end - start, tree)
        msg.data_bytes += end - start


def _add_text(data: bytes, off: int, length: int, tree: Tree) -> None:
    """Wireshark's ``telnet_add_text``: a field per line, line end included;
    CR NUL, CR LF and LF end a line, and a run of CRs is one line end."""
    n = len(data)
    while length != 0 and off < n:
        bound = min(off + length, n)
        lf = data.find(b"\n", off, bound)
        cr = data.find(b"\r", off, lf if lf >= 0 else bound)
        if cr >= 0:
            eol = cr
            nxt = cr + 2 if cr + 1 < bound and data[cr + 1] == 0x0A else cr + 1
        elif lf >= 0:
            eol = lf
            nxt = lf + 1
        else:
            eol = nxt = bound
        length -= nxt - off
        if nxt == eol + 1 and length >= 1 and data[eol] == 0x0D:
            last_cr = True
            while length != 0 and nxt < n:
                c = data[nxt]
                nxt += 1
                length -= 1
                if c == 0x0A or (c == 0 and last_cr):
                    break
                last_cr = c == 0x0D
        text = ascii_text(data[off:nxt])
        tree.add(DATA, text, off, nxt - off, f"Data: {_format_text(data[off:nxt])}" if tree.want_nodes else None)
        off = nxt


def _command(data: bytes, start: int, tree: Tree, info: AppInfo, msg: _Msg) -> int:
    code = data[start + 1]
    off = start + 2
    verb = VERBS.get(code)
    name = COMMANDS.get(code, "<unknown option>")
    tree.open(name, start, 2)
    tree.add(CMD, code, start + 1, 1, f"Command: {name} ({code})")
    if verb is None:
        msg.commands.append(f"IAC {SHORT_COMMANDS.get(code, str(code))}")
        tree.close()
        return off
    if off >= len(data):
        tree.close()
        raise Truncated(off, "telnet option")
    opt = data[off]
    opt_name = OPTIONS[opt][0] if opt < len(OPTIONS) else "<unknown option>"
    tree.add(SUBCMD, opt, off, 1, f"Subcommand: {opt_name}")
    off += 1
    msg.commands.append(f"{verb} {OPTION_KEYWORDS.get(opt, opt_name)}")
    if code == SB:
        off = _suboption(data, start, opt, tree, info, msg)
    tree.close()
    return off


def _suboption(data: bytes, start: int, opt: int, tree: Tree, info: AppInfo, msg: _Msg) -> int:
    end, escaped = _suboption_end(data, start)
    p = start + 3
    length = end - p
    if length <= 0:
        return end
    rule = OPTIONS[opt] if opt < len(OPTIONS) else None
    decoder = rule[3] if rule is not None else None
    if decoder is not None and rule is not None:
        _, kind, need, _ = rule
        have = length - escaped
        if kind == NO_LENGTH:
            tree.text("[Bogus suboption data]", p, length)
            return end
        if kind == FIXED_LENGTH and have != need:
            tree.text(f"[Suboption parameter length is {length}, should be {need}]", p, length)
            return end
        if kind == VARIABLE_LENGTH and have < need:
            tree.text(f"[Suboption parameter length is {length}, should be at least {need}]", p, length)
            return end
        if escaped:
            buf = data[p:end].replace(b"\xff\xff", b"\xff")
            _DECODERS[decoder](_View(buf, p), 0, have, tree, info, msg, rule[0])
        else:
            _DECODERS[decoder](_View(data, 0), p, length, tree, info, msg, rule[0])
    else:
        raw = data[p:end].replace(b"\xff\xff", b"\xff") if escaped else data[p:end]
        tree.add(OPTION_DATA, raw, p, length, f"Option data: {raw.hex()}" if tree.want_nodes else None)
    return end


class _View:
    """The bytes a suboption decoder reads (the segment, or its unescaped
    copy) and where offsets in it sit in the message."""

    __slots__ = ("b", "base")

    def __init__(self, b: bytes, base: int) -> None:
        self.b = b
        self.base = base

    def u8(self, off: int) -> int:
        if off < 0 or off >= len(self.b):
            raise Truncated(self.base + off)
        return self.b[off]

    def u16(self, off: int) -> int:
        return (self.u8(off) << 8) | self.u8(off + 1)

    def u32(self, off: int) -> int:
        return (self.u16(off) << 16) | self.u16(off + 2)

    def get(self, off: int, n: int) -> bytes:
        if n < 0 or off < 0 or off + n > len(self.b):
            raise Truncated(self.base + off)
        return self.b[off:off + n]


Decoder = Callable[[_View, int, int, Tree, AppInfo, _Msg, str], None]


def _string_subopt(v: _View, off: int, length: int, tree: Tree, info: AppInfo, msg: _Msg, optname: str) -> None:
    cmd = v.u8(off)
    at = v.base + off
    if cmd == 0:
        tree.add(SUBCMD, 0, at, 1, f"Here's my {optname}")
        off += 1
        length -= 1
        value = ""
        if length > 0:
            value = ascii_text(v.get(off, length))
            tree.add(STRING_VALUE, value, v.base + off, length, f"Value: {value}")
        if optname == "Terminal Type":
            _check_terminal_type(_format_text(v.get(off, max(length, 0))), info)
            msg.commands[-1] += f" IS {value}"
    elif cmd == 1:
        tree.add(SUBCMD, 1, at, 1, f"Send your {optname}")
        if length - 1 > 0:
            tree.add(SUBCOMMAND_DATA, v.get(off + 1, length - 1), v.base + off + 1, length - 1, "Extra data")
        if optname == "Terminal Type":
            msg.commands[-1] += " SEND"
    else:
        tree.text(f"[Invalid {optname} subcommand {cmd}]", at, 1)
        if length - 1 > 0:
            tree.add(SUBCOMMAND_DATA, v.get(off + 1, length - 1), v.base + off + 1, length - 1)


def _check_terminal_type(term: str, info: AppInfo) -> None:
    if term in TN3270_MODELS:
        _add_tn3270(info, False, ord(term[9]) - 0x30)
    if term in TN5250_TYPES:
        info.state.setdefault(STATE_TN5250, True)


def _add_tn3270(info: AppInfo, extended: bool, model: int) -> None:
    """Wireshark's ``add_tn3270_conversation``: the receiver of the message
    that shows the 3270 session is the mainframe (outbound side)."""
    st = info.state.get(STATE_TN3270)
    if st is None:
        st = info.state[STATE_TN3270] = {"outbound_port": info.dstport}
    st["extended"] = extended
    st["model"] = model


def _regime(v: _View, off: int, length: int, tree: Tree, info: AppInfo, msg: _Msg, optname: str) -> None:
    while length > 0:
        cmd = v.u8(off)
        if cmd in (0, 1):
            tree.add(REGIME_CMD, cmd, v.base + off, 1, "ARE" if cmd == 1 else "IS")
            if cmd == 1:
                _add_tn3270(info, False, 0)
            value = ascii_text(v.get(off + 1, length - 1))
            tree.add(TN3270_REGIME_VALUE, value, v.base + off + 1, length - 1, f"Value: {value}")
            return
        tree.add(REGIME_CMD, cmd, v.base + off, 1, f"Bogus value: {cmd}")
        off += 1
        length -= 1


def _tn3270e(v: _View, off: int, length: int, tree: Tree, info: AppInfo, msg: _Msg, optname: str) -> None:
    """TN3270E negotiation (RFC 2355 section 7), byte by byte as Wireshark
    walks it."""
    words: list[str] = []
    while length > 0:
        cmd = v.u8(off)
        tree.add(TN3270_SUBOPT, cmd, v.base + off, 1, f"Suboption: {TN3270E_SUBOPTIONS.get(cmd, cmd)}")
        words.append(TN3270E_SUBOPTIONS.get(cmd, str(cmd)))
        if cmd == 1:  # CONNECT
            text = ascii_text(v.get(off + 1, length))
            tree.add(TN3270_CONNECT, text, v.base + off + 1, length, f"Connect: {text}")
            words.append(text)
            off += length - 1
            length = 1
        elif cmd == 4:  # IS
            if v.u8(off - 1) == 2:  # DEVICE-TYPE IS <type> [CONNECT <name>]
                stop = min(off + 1 + length, len(v.b))
                at = v.b.find(b"\x01", off + 1, stop)
                if at >= 0:
                    datalen = at - (off + 1)
                    if datalen > 0:
                        text = ascii_text(v.get(off + 1, datalen))
                        tree.add(TN3270_IS, text, v.base + off + 1, datalen, f"Is: {text}")
                        words.append(text)
                        _check_tn3270_model(_format_text(v.get(off + 1, datalen)), info)
                        off += datalen
                        length -= datalen
        elif cmd == 5:  # REASON
            off += 1
            length -= 1
            tree.add(TN3270_REASON, v.u8(off), v.base + off, 1)
        elif cmd == 7:  # REQUEST
            _add_tn3270(info, True, 0)
            kind = v.u8(off - 1)
            if kind == 2:  # DEVICE-TYPE REQUEST <type>
                text = ascii_text(v.get(off + 1, length - 1))
                tree.add(TN3270_REQUEST_STRING, text, v.base + off + 1, length - 1, f"Request: {text}")
                words.append(text)
                off += length - 1
                length = 1
            elif kind == 3:  # FUNCTIONS REQUEST <functions>
                while length > 0:
                    rsn = v.u8(off)
                    tree.add(TN3270_REQUEST, rsn, v.base + off, 1,
                             f"Request: {TN3270E_FUNCTIONS.get(rsn, rsn)}")
                    if rsn not in TN3270E_FUNCTIONS:
                        break
                    off += 1
                    length -= 1
        off += 1
        length -= 1
    if words:
        msg.commands[-1] += " " + " ".join(words)


def _check_tn3270_model(term: str, info: AppInfo) -> None:
    if term in TN3270_MODELS:
        _add_tn3270(info, False, ord(term[9]) - 0x30)


def _naws(v: _View, off: int, length: int, tree: Tree, info: AppInfo, msg: _Msg, optname: str) -> None:
    w, h = v.u16(off), v.u16(off + 2)
    tree.add(NAWS_WIDTH, w, v.base + off, 2, f"Width: {w}")
    tree.add(NAWS_HEIGHT, h, v.base + off + 2, 2, f"Height: {h}")
    msg.commands[-1] += f" {w}x{h}"


def _rfc(v: _View, off: int, length: int, tree: Tree, info: AppInfo, msg: _Msg, optname: str) -> None:
    tree.add(RFC_CMD, v.u8(off), v.base + off, 1)


def _htstops(v: _View, off: int, length: int, tree: Tree, info: AppInfo, msg: _Msg, optname: str) -> None:
    cmd = v.u8(off)
    if cmd in (0, 1):
        tree.add(SUBCMD, cmd, v.base + off, 1, f"{'Here' + chr(39) + 's my' if cmd == 0 else 'Send your'} {optname}")
        off += 1
        length -= 1
    else:
        tree.text(f"[Invalid {optname} subcommand {cmd}]", v.base + off, 1)
        if length - 1 > 0:
            tree.add(SUBCOMMAND_DATA, v.get(off + 1, length - 1), v.base + off + 1, length - 1)
        return
    while length > 0:
        tree.add(TABSTOP, v.u8(off), v.base + off, 1)
        off += 1
        length -= 1


def _outmark(v: _View, off: int, length: int, tree: Tree, info: AppInfo, msg: _Msg, optname: str) -> None:
    while length > 0:
        tree.text(f"Command: {_format_text(v.get(off, 1))}", v.base + off, 1)
        off += 1
        length -= 1
        stop = min(off + max(length, 0), len(v.b))
        gs = v.b.find(b"\x1d", off, stop)
        if gs < 0:
            gs = off + length
        datalen = gs - off
        if datalen > 0:
            banner = ascii_text(v.get(off, datalen))
            tree.add(OUTMARK_BANNER, banner, v.base + off, datalen, f"Banner: {banner}")
            off += datalen
            length -= datalen


def _auth(v: _View, off: int, length: int, tree: Tree, info: AppInfo, msg: _Msg, optname: str) -> None:
    """RFC 2941; the Kerberos V5 data itself (RFC 2942) is not decoded."""
    acmd = v.u8(off)
    tree.add(AUTH_CMD, acmd, v.base + off, 1)
    off += 1
    length -= 1
    if acmd in (0, 2):  # IS, REPLY: type pair, then the Kerberos command
        tree.add(AUTH_TYPE, v.u8(off), v.base + off, 1)
        v.u8(off + 1)
        off += 2
        length -= 2
        tree.add(AUTH_KRB5_CMD, v.u8(off), v.base + off, 1)
    elif acmd == 1:  # SEND: type pairs
        while length > 0:
            tree.add(AUTH_TYPE, v.u8(off), v.base + off, 1)
            v.u8(off + 1)
            off += 2
            length -= 2
    elif acmd == 3:  # NAME
        name = ascii_text(v.get(off, max(length, 0)))
        tree.add(AUTH_NAME, name, v.base + off, length, f"Name: {name}")


def _enc(v: _View, off: int, length: int, tree: Tree, info: AppInfo, msg: _Msg, optname: str) -> None:
    """RFC 2946 encryption option commands."""
    ecmd = v.u8(off)
    tree.add(ENC_CMD, ecmd, v.base + off, 1)
    off += 1
    length -= 1
    if ecmd in (0, 2):  # IS, REPLY: type, type-specific data
        if length > 0:
            tree.add(ENC_TYPE, v.u8(off), v.base + off, 1)
            off += 1
            length -= 1
            tree.add(ENC_TYPE_DATA, v.get(off, length), v.base + off, length)
    elif ecmd == 1:  # SUPPORT
        while length > 0:
            tree.add(ENC_TYPE, v.u8(off), v.base + off, 1)
            off += 1
            length -= 1
    elif ecmd in (3, 5, 7, 8):  # START, REQUEST-START, ENC_KEYID, DEC_KEYID: key id
        if length > 0:
            tree.add(ENC_KEY_ID, v.get(off, length), v.base + off, length)


def _comport(v: _View, off: int, length: int, tree: Tree, info: AppInfo, msg: _Msg, optname: str) -> None:
    """RFC 2217 COM port control commands (client 0-12, server 100-112)."""
    cmd = v.u8(off)
    cmd = cmd - 100 if cmd > 99 else cmd
    length -= 1
    at = v.base + off
    if cmd == 0:
        sig = ascii_text(v.get(off + 1, length)) if length else ""
        tree.add(COMPORT_SIGNATURE, sig, at, 1 + length)
    elif cmd == 1 and length >= 4:
        tree.add(COMPORT_BAUD, v.u32(off + 1), at, 5)
    elif cmd in (2, 3, 4, 5, 12) and length >= 1:
        f = {2: COMPORT_DATA_SIZE, 3: COMPORT_PARITY, 4: COMPORT_STOP, 5: COMPORT_CONTROL, 12: COMPORT_PURGE}[cmd]
        tree.add(f, v.u8(off + 1), at, 2)
    elif cmd > 12:
        if length > 0:
            tree.add(SUBCOMMAND_DATA, v.get(off + 1, length), at + 1, length)


def _starttls(v: _View, off: int, length: int, tree: Tree, info: AppInfo, msg: _Msg, optname: str) -> None:
    """START_TLS FOLLOWS from one side, then from the other: TLS follows."""
    tree.add(STARTTLS, v.u8(off), v.base + off, 1)
    first = info.state.get(STATE_STARTTLS)
    if first is None:
        info.state[STATE_STARTTLS] = (info.frame, info.srcport)
    elif first[0] < info.frame and first[1] != info.srcport:
        info.start_tls()


_DECODERS: dict[str, Decoder] = {
    "string": _string_subopt, "regime": _regime, "tn3270e": _tn3270e, "naws": _naws, "rfc": _rfc,
    "htstops": _htstops, "outmark": _outmark, "auth": _auth, "enc": _enc, "comport": _comport,
    "starttls": _starttls,
}


# -- 3270 data ------------------------------------------------------------------------------

_EBCDIC = codecs.getdecoder("cp037")


def _tn3270(rec: bytes, base: int, tree: Tree, info: AppInfo, msg: _Msg) -> None:
    """A 3270 record: the TN3270E header when TN3270E is in use, then the
    command code (to the terminal) or the AID (from it)."""
    st: dict[str, Any] = info.state[STATE_TN3270]
    off = 0
    tree.open("TN3270 Protocol", base, len(rec))
    if st.get("extended"):
        v = _View(rec, base)
        dtype = v.u8(0)
        name = TN3270E_DATA_TYPES.get(dtype, "Unknown")
        tree.open(f"TN3270E Header (Data Type: {name})", base, 5)
        tree.add(TN3270E_DATA_TYPE, dtype, base, 1, f"TN3270E Data Type: {name} (0x{dtype:02x})")
        tree.add(TN3270E_REQUEST_FLAG, v.u8(1), base + 1, 1)
        tree.add(TN3270E_RESPONSE_FLAG, v.u8(2), base + 2, 1)
        seq = v.u16(3)
        tree.add(TN3270E_SEQ, seq, base + 3, 2, f"TN3270E Seq Number: {seq}")
        off = 5
        if dtype in (1, 2, 3, 4, 5, 6, 7):
            text = _EBCDIC(rec[5:], "replace")[0]
            tree.add(TN3270E_HEADER_DATA, text, base + 5, len(rec) - 5)
            off = len(rec)
        tree.close()
        msg.tn3270e = "tn3270e data header" if dtype == 0 else f"tn3270e data header ({name})"
    else:
        msg.data_bytes += len(rec)
    if off < len(rec):
        b = rec[off]
        if info.srcport == st.get("outbound_port"):
            if b in COMMAND_CODES:
                tree.add(TN3270_COMMAND_CODE, b, base + off, 1, f"Command Code: {COMMAND_CODES[b]} (0x{b:02x})")
            else:
                tree.text(f"Bogus value: {b}", base + off, 1)
        else:
            tree.add(TN3270_AID, b, base + off, 1, f"Attention Identification: 0x{b:02x}")
        tree.text(f"3270 data stream ({len(rec) - off} bytes)", base + off, len(rec) - off)
    tree.close()
