"""SMTP (RFC 5321; STARTTLS RFC 3207, AUTH RFC 4954, BDAT RFC 3030).

Decoded as Wireshark 4.0's SMTP dissector reads it, so the columns agree
with tshark:

* command and reply lines are rebuilt across segments until the first line
  of a segment is whole (:func:`pdu_length`); a segment whose first line is
  whole is decoded with every line it carries;
* a client segment is either commands, message data (after DATA or BDAT,
  or lines that are not commands before any), or the end of the data
  (``.`` on its own line); only command segments carry ``smtp.req.*``;
* a command is split after four characters (``STARTTLS`` shows as
  ``STAR`` + ``TLS``), as Wireshark does;
* in a multi-line reply only the first line carries the reply code, every
  line its text.

Message data is not decoded (the message is IMF, a separate protocol).
``smtp.data.length`` (tracedoc's, not Wireshark's) gives the message bytes
a data segment carries.
"""

from __future__ import annotations

from typing import Any

from tracedoc.decode.app import AppInfo
from tracedoc.decode.apptree import Tree
from tracedoc.decode.fields import F
from tracedoc.decode.apptree import ascii_text
from tracedoc.decode.ftp import line_end, show

NAME = "smtp"
HANDS_OFF_TO = ("tls",)
"""Protocols this one may hand its stream to (the stream may turn into TLS (STARTTLS): decoded whenever TLS columns are wanted)."""
FIELDS = (
    F("smtp.req", "bool", "Request", multi=True),
    F("smtp.rsp", "bool", "Response"),
    F("smtp.req.command", "string", "Command", multi=True),
    F("smtp.req.parameter", "string", "Request parameter", multi=True),
    F("smtp.response.code", "u32", "Response code", multi=True),
    F("smtp.rsp.parameter", "string", "Response parameter", multi=True),
    F("smtp.auth.username", "string", "Username"),
    F("smtp.auth.password", "string", "Password"),
    F("smtp.auth.username_password", "string", "Username/Password"),
    F("smtp.eom", "bool", "EOM"),
    F("smtp.data.length", "u32", "Message data bytes in this segment (tracedoc)"),
)
(REQ, RSP, REQ_COMMAND, REQ_PARAMETER, RSP_CODE, RSP_PARAMETER, USERNAME, PASSWORD, USERNAME_PASSWORD, EOM,
 DATA_LENGTH) = FIELDS

REPLY_TEXT = {
    211: "System status, or system help reply", 214: "Help message", 220: "<domain> Service ready",
    221: "<domain> Service closing transmission channel", 235: "Authentication successful",
    250: "Requested mail action okay, completed", 251: "User not local; will forward to <forward-path>",
    252: "Cannot VRFY user, but will accept message and attempt delivery", 334: "AUTH input",
    354: "Start mail input; end with <CRLF>.<CRLF>",
    421: "<domain> Service not available, closing transmission channel",
    432: "A password transition is needed", 450: "Requested mail action not taken: mailbox unavailable",
    451: "Requested action aborted: local error in processing",
    452: "Requested action not taken: insufficient system storage", 454: "Temporary authenticaion failed",
    500: "Syntax error, command unrecognized", 501: "Syntax error in parameters or arguments",
    502: "Command not implemented", 503: "Bad sequence of commands", 504: "Command parameter not implemented",
    530: "Authentication required", 534: "Authentication mechanism is too weak",
    535: "Authentication credentials invalid", 538: "Encryption required for requested authentication mechanism",
    550: "Requested action not taken: mailbox unavailable", 551: "User not local; please try <forward-path>",
    552: "Requested mail action aborted: exceeded storage allocation",
    553: "Requested action not taken: mailbox name not allowed", 554: "Transaction failed",
}

# Commands that are not four letters (RFC 3207 and Microsoft Exchange's).
LONG_COMMANDS = (b"STARTTLS", b"X-EXPS", b"X-LINK2STATE", b"XEXCH50")

# The session's state machine, as Wireshark keeps it per conversation.
START, READING_CMDS, READING_DATA, AWAITING_STARTTLS = range(4)
(AUTH_NONE, AUTH_START, AUTH_USERNAME_REQ, AUTH_USERNAME_RSP, AUTH_PASSWORD_REQ, AUTH_PASSWORD_RSP,
 AUTH_PLAIN_START_REQ, AUTH_PLAIN_CRED_REQ, AUTH_PLAIN_REQ, AUTH_PLAIN_RSP, AUTH_NTLM_REQ, AUTH_NTLM_CHALLENGE,
 AUTH_NTLM_RSP, AUTH_SUCCESS, AUTH_FAILED) = range(15)
PDU_CMD, PDU_MESSAGE, PDU_EOM = range(3)

STATE = "smtp"


class _Session:
    __slots__ = ("state", "auth", "crlf_seen", "data_seen", "msg_read_len", "msg_tot_len", "msg_last")

    def __init__(self) -> None:
        self.state = START
        self.auth = AUTH_NONE
        self.crlf_seen = False
        self.data_seen = False
        self.msg_read_len = 0
        self.msg_tot_len = 0
        self.msg_last = True


def _session(info: AppInfo) -> _Session:
    s = info.state.get(STATE)
    if s is None:
        s = info.state[STATE] = _Session()
    return s


def _line_end_deseg(data: bytes, start: int) -> tuple[int, int]:
    """A line's end as Wireshark's first pass finds it (``tvb_find_line_end``
    with desegmentation): a line with no end, or ending in a CR that is the
    last byte, runs to the end of the segment."""
    n = len(data)
    lf = data.find(b"\n", start)
    cr = data.find(b"\r", start, lf if lf >= 0 else n)
    if cr >= 0:
        if cr + 1 >= n:
            return n, n
        return cr, (cr + 2 if data[cr + 1] == 0x0A else cr + 1)
    if lf >= 0:
        return lf, lf + 1
    return n, n


def pdu_length(data: bytes, info: AppInfo) -> int:
    """Everything buffered, once the first line is whole."""
    n = len(data)
    cr = data.find(b"\r")
    lf = data.find(b"\n")
    if cr < 0 and lf < 0:
        return 0
    if lf >= 0 and (cr < 0 or lf < cr):
        return n
    return n if cr + 1 < n else 0


def is_command(word: bytes) -> bool:
    """RFC 821: four letters; or one of the longer extension commands."""
    if len(word) == 4 and word.isalpha() and word.isascii():
        return True
    up = word.upper()
    return any(up == c for c in LONG_COMMANDS)


def _strtoul(b: bytes) -> int:
    """C ``strtoul(s, NULL, 10)`` cut to 32 bits: blanks, a sign, digits."""
    i, n = 0, len(b)
    while i < n and b[i] in b" \t\n\v\f\r":
        i += 1
    neg = False
    if i < n and b[i] in b"+-":
        neg = b[i] == 0x2D
        i += 1
    j = i
    while j < n and 0x30 <= b[j] <= 0x39:
        j += 1
    if j == i:
        return 0
    v = min(int(b[i:j]), (1 << 64) - 1)
    if neg:
        v = (-v) & ((1 << 64) - 1)
    return v & 0xFFFFFFFF


def dissect(data: bytes, tree: Tree, info: AppInfo) -> None:
    if not data:
        tree.malformed("empty SMTP segment", 0)
        return
    s = _session(info)
    request = info.dstport == info.port
    flags = _classify(data, s, request, info)
    if request:
        _request(data, tree, s, flags)
    else:
        _response(data, tree, s, info)


def _classify(data: bytes, s: _Session, request: bool, info: AppInfo) -> dict[str, Any]:
    """Wireshark's first pass over the segment's lines: what the segment is
    (commands, message data or the end of it) and how the session moves."""
    flags: dict[str, Any] = {"pdu": PDU_CMD}
    off, n = 0, len(data)
    while off < n:
        end, nxt = _line_end_deseg(data, off)
        line = data[off:end]
        eom = False
        if s.state == READING_DATA:
            if (s.crlf_seen and data.startswith(b".\r\n", off)) or data.startswith(b"\r\n.\r\n", off):
                eom = True
            s.crlf_seen = n >= 2 and data[n - 2:n] == b"\r\n"
        if request:
            if s.state == READING_DATA:
                if eom:
                    flags["pdu"] = PDU_EOM
                    flags["eom_at"] = off
                    s.state = READING_CMDS
                    break
                flags["pdu"] = PDU_MESSAGE
                if s.msg_tot_len > 0:
                    s.msg_read_len = (s.msg_read_len + n - off) & 0xFFFFFFFF
                    nxt = n
                    if s.msg_read_len == s.msg_tot_len:
                        s.state = READING_CMDS
                        break
            else:
                sp = line.find(b" ")
                word = line if sp < 0 else line[:sp]
                if is_command(word):
                    _command_state(line, data[off:], s, flags)
                elif s.auth == AUTH_USERNAME_REQ:
                    s.auth = AUTH_USERNAME_RSP
                    flags["username"] = True
                elif s.auth == AUTH_PASSWORD_REQ:
                    s.auth = AUTH_PASSWORD_RSP
                    flags["password"] = True
                elif s.auth == AUTH_PLAIN_REQ:
                    s.auth = AUTH_PLAIN_RSP
                    flags["user_pass"] = True
                elif s.auth == AUTH_NTLM_CHALLENGE:
                    s.auth = AUTH_NTLM_RSP
                    flags["ntlm_rsp"] = True
                else:
                    flags["pdu"] = PDU_MESSAGE if (s.data_seen or s.state == START) else PDU_CMD
        off = nxt
    return flags


def _command_state(line: bytes, rest: bytes, s: _Session, flags: dict[str, Any]) -> None:
    up = line[:10].upper()
    flags["pdu"] = PDU_CMD
    if up.startswith(b"DATA"):
        s.state = READING_DATA
        s.data_seen = True
    elif up.startswith(b"BDAT"):
        size = _strtoul(rest[5:])
        s.data_seen = True
        s.msg_tot_len = (s.msg_tot_len + size) & 0xFFFFFFFF
        s.state = READING_CMDS if size == 0 else READING_DATA
        s.msg_last = line[-4:].upper() == b"LAST"
    elif up == b"AUTH LOGIN":
        s.state = READING_CMDS
        if len(line) <= 11:
            s.auth = AUTH_START
        else:
            s.auth = AUTH_USERNAME_RSP
            flags["username_cmd"] = True
    elif up == b"AUTH PLAIN":
        s.state = READING_CMDS
        if len(line) <= 11:
            s.auth = AUTH_PLAIN_START_REQ
        else:
            s.auth = AUTH_PLAIN_CRED_REQ
            flags["user_pass_cmd"] = True
    elif up.startswith(b"AUTH NTLM") and len(line) > 10:
        s.state = READING_CMDS
        s.auth = AUTH_NTLM_REQ
        flags["ntlm_req"] = True
    elif up.startswith(b"STARTTLS"):
        s.state = AWAITING_STARTTLS


def _request(data: bytes, tree: Tree, s: _Session, flags: dict[str, Any]) -> None:
    pdu = flags["pdu"]
    n = len(data)
    if pdu == PDU_MESSAGE:
        tree.add(DATA_LENGTH, n, 0, n, f"Message data: {n} bytes")
        tree.message = f"smtp : message data, {n} bytes"
        return
    if pdu == PDU_EOM:
        at = flags["eom_at"]
        tree.add(EOM, True, at, 3, "C: . (end of message data)")
        if at:
            tree.add(DATA_LENGTH, at, 0, at, f"Message data: {at} bytes")
        tree.message = "smtp : end of message data"
        return
    commands: list[str] = []
    off = 0
    first_text: str | None = None
    while off < n:
        end, nxt = line_end(data, off)
        line = data[off:end]
        ll = len(line)
        tree.add(REQ, True, off, 0, "Request")
        if flags.get("username") or flags.get("password"):
            if first_text is None:
                first_text = ascii_text(line)
            f = USERNAME if flags.get("username") else PASSWORD
            tree.add(f, first_text, off, ll, f"{f.desc}: {first_text}")
            commands.append("AUTH username" if f is USERNAME else "AUTH password")
        elif flags.get("ntlm_rsp"):
            tree.text(f"Command Line: {show(line)}", off, nxt - off)
            commands.append("AUTH NTLM response")
        elif flags.get("user_pass"):
            up = ascii_text(line)
            tree.add(USERNAME_PASSWORD, up, off, ll, f"Username/Password: {up}")
            commands.append("AUTH PLAIN credentials")
        else:
            tree.open(f"Command Line: {show(line)}", off, nxt - off)
            command = ascii_text(line[:4])
            tree.add(REQ_COMMAND, command, off, min(4, ll), f"Command: {command}")
            commands.append(command)
            if ll > 5:
                param = ascii_text(line[5:])
                tree.add(REQ_PARAMETER, param, off + 5, ll - 5, f"Request parameter: {param}")
                if flags.get("username_cmd") and ll >= 11:
                    user = ascii_text(line[11:])
                    tree.add(USERNAME, user, off + 11, ll - 11, f"Username: {user}")
                elif flags.get("user_pass_cmd"):
                    up = ascii_text(line[11:])
                    tree.add(USERNAME_PASSWORD, up, off + 11, max(ll - 11, 0), f"Username/Password: {up}")
            tree.close()
        off = nxt
    tree.message = "smtp command " + " | ".join(commands) if commands else "smtp command"


def _response(data: bytes, tree: Tree, s: _Session, info: AppInfo) -> None:
    tree.add(RSP, True, 0, 0, "Response")
    n = len(data)
    off = 0
    multiline = 0  # 0 none, 1 start, 2 continue, 3 end
    multi_code = 0
    codes: list[str] = []
    opened = False
    while off < n:
        end, nxt = line_end(data, off)
        line = data[off:end]
        ll = len(line)
        if ll >= 3 and line[:3].isdigit():
            code = int(line[:3])
            if ll > 3 and line[3] == 0x2D:
                if multiline == 0:
                    multiline, multi_code = 1, code
                else:
                    multiline = 2
            elif multiline in (1, 2):
                multiline = 3
            if s.state == AWAITING_STARTTLS:
                if code == 220:
                    tree.text("[STARTTLS accepted: TLS follows]", 0, 0)
                    info.start_tls()
                s.state = READING_CMDS
            _auth_reply(code, s)
            if multiline not in (2, 3):
                if opened:
                    tree.close()
                tree.open(f"Response: {show(line)}", off, nxt - off)
                opened = True
                tree.add(RSP_CODE, code, off, 3, f"Response code: {REPLY_TEXT.get(code, 'Unknown')} ({code})")
                codes.append(str(code))
            elif code != multi_code:
                tree.text(f"[Unexpected response code {code} in multiline response. Expected {multi_code}]",
                          off, 3)
            if ll >= 4:
                param = ascii_text(line[4:])
                tree.add(RSP_PARAMETER, param, off + 4, ll - 4, f"Response parameter: {param}")
            if multiline == 3:
                multiline = 0
        off = nxt
    if opened:
        tree.close()
    tree.message = "smtp reply code " + " | ".join(codes) if codes else "smtp reply"


def _auth_reply(code: int, s: _Session) -> None:
    if code == 334:
        s.auth = {AUTH_START: AUTH_USERNAME_REQ, AUTH_USERNAME_RSP: AUTH_PASSWORD_REQ,
                  AUTH_PLAIN_REQ: AUTH_PLAIN_RSP, AUTH_PLAIN_START_REQ: AUTH_PLAIN_REQ,
                  AUTH_NTLM_REQ: AUTH_NTLM_CHALLENGE}.get(s.auth, s.auth)
    elif s.auth in (AUTH_PASSWORD_RSP, AUTH_PLAIN_RSP, AUTH_NTLM_RSP, AUTH_PLAIN_CRED_REQ):
        s.auth = AUTH_SUCCESS if code == 235 else AUTH_FAILED
