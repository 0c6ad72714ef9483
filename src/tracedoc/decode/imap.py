"""IMAP4 (RFC 3501; STARTTLS).

Decoded as Wireshark 4.0's IMAP dissector reads it: lines are rebuilt
across segments until each is whole, and an untagged ``FETCH`` response
carrying a literal (``{n}``) waits until the literal and its closing
parenthesis have arrived (:func:`pdu_length`).  Tagged lines give the tag,
the command (or the reply status), the folder of mailbox commands and the
LOGIN user; untagged (``*``) lines only appear as ``imap.line``.

As in Wireshark, the first two messages of a connection are checked for
text: five bytes that are not printable mean the connection already
carries TLS (STARTTLS before the capture began).
"""

from __future__ import annotations

from tracedoc.decode.app import AppInfo
from tracedoc.decode.apptree import Tree, Truncated
from tracedoc.decode.fields import F
from tracedoc.decode.apptree import ascii_text
from tracedoc.decode.ftp import show

NAME = "imap"
HANDS_OFF_TO = ("tls",)
"""Protocols this one may hand its stream to (the stream may turn into TLS (STARTTLS): decoded whenever TLS columns are wanted)."""
FIELDS = (
    F("imap.isrequest", "bool", "Request"),
    F("imap.line", "string", "Line", multi=True),
    F("imap.request", "string", "Request", multi=True),
    F("imap.response", "string", "Response", multi=True),
    F("imap.request_tag", "string", "Request Tag", multi=True),
    F("imap.response_tag", "string", "Response Tag", multi=True),
    F("imap.tag", "string", "Tag", multi=True),
    F("imap.request.command", "string", "Request Command", multi=True),
    F("imap.response.status", "string", "Response Status", multi=True),
    F("imap.response.command", "string", "Response Command", multi=True),
    F("imap.command", "string", "Command", multi=True),
    F("imap.request.folder", "string", "Request Folder", multi=True),
    F("imap.request.command.uid", "bool", "Request isUID", multi=True),
    F("imap.request.username", "string", "Request Username"),
    F("imap.request.password", "string", "Request Password"),
)
(ISREQUEST, LINE, REQUEST, RESPONSE, REQUEST_TAG, RESPONSE_TAG, TAG, REQ_COMMAND, RSP_STATUS, RSP_COMMAND,
 COMMAND, FOLDER, UID, USERNAME, PASSWORD) = FIELDS

FOLDER_COMMANDS = ("select", "examine", "create", "delete", "rename", "subscribe", "unsubscribe", "status",
                   "append", "search")

STATE_TRIES = "imap.tls_tries"     # messages left to test for TLS (two, as Wireshark)
STATE_STARTTLS = "imap.starttls"   # STARTTLS sent, awaiting OK
STATE_VIEW = "imap.view"           # the buffer pdu_length looked at


def _line(data: bytes, start: int) -> tuple[int, int]:
    """``(end, next)`` of the line at ``start``, or ``(-1, -1)`` when it is
    not yet whole (Wireshark's ``tvb_find_line_end`` with desegmentation)."""
    n = len(data)
    lf = data.find(b"\n", start)
    cr = data.find(b"\r", start, lf if lf >= 0 else n)
    if cr >= 0:
        if cr + 1 >= n:
            return -1, -1
        return cr, (cr + 2 if data[cr + 1] == 0x0A else cr + 1)
    if lf >= 0:
        return lf, lf + 1
    return -1, -1


def _token(data: bytes, off: int, length: int) -> tuple[int, int]:
    """Wireshark's ``tvb_get_token_len``: the word at ``off`` (up to a
    blank, CR or LF within ``length`` bytes) and where the next one starts
    (one delimiter later)."""
    if length <= 0:
        return 0, off
    end = off + length
    i = off
    while i < end and data[i] not in (0x20, 0x0D, 0x0A):
        i += 1
    if i >= end:
        return length, end
    return i - off, i + 1


def _prefix_eq_nocase(data: bytes, off: int, n: int, word: bytes) -> bool:
    """``g_ascii_strncasecmp`` of ``n`` bytes at ``off`` with ``word`` equals
    zero: a shorter token that is a prefix of the word matches."""
    for i in range(n):
        a = data[off + i] if off + i < len(data) else 0
        b = word[i] if i < len(word) else 0
        la = a + 32 if 0x41 <= a <= 0x5A else a
        lb = b + 32 if 0x41 <= b <= 0x5A else b
        if la != lb:
            return False
        if a == 0:
            return True
    return True


def _c_prefix(token: str, word: str) -> bool:
    """``strncmp(token, word, len(token)) == 0`` for a non-empty token."""
    return bool(token) and word.startswith(token)


def _fetch_end(data: bytes, fetch_at: int, next_offset: int) -> int:
    """Where an untagged FETCH response ends (the next line's start), or -1
    when more data is needed; after Wireshark's ``dissect_imap_fetch``."""
    n = len(data)
    paren = data.find(b"(", fetch_at)
    if paren < 0 or n - (paren + 1) <= 0:
        return -1
    brace = data.find(b"{", paren)
    if brace >= 0:
        close = data.find(b"}", brace + 1)
        if close <= 0:
            return -1
        size_text = data[brace + 1:close]
        if not size_text or not size_text.isdigit():
            return -1
        size = int(size_text)
        if size > 0xFFFFFFFF:
            return -1
        if n - (close + size) <= 0:
            return -1
        if data.find(b")", close + size) < 0:
            return -1
        return next_offset + size
    e, nx = _line(data, paren)
    return -1 if e < 0 else nx


def _untagged_fetch(data: bytes, off: int, next_offset: int) -> int | None:
    """For a ``*`` line: None if it is not a FETCH response; else where the
    response ends, or -1 when more data is needed."""
    tokens: list[tuple[int, int]] = []
    pos = off
    while len(tokens) < 3:
        start = pos + 1
        nxt = -1
        for i in range(start, next_offset):
            if data[i] in (0x20, 0x09, 0x0D, 0x0A):
                nxt = i
                break
        if nxt > start:
            tokens.append((start, nxt))
        if nxt < 0:
            break
        pos = nxt
    if len(tokens) < 2:
        return None
    for a, b in tokens:
        if _prefix_eq_nocase(data, a, b - a, b"FETCH"):
            return _fetch_end(data, b, next_offset)
    return None


def _scan(data: bytes) -> int:
    """How many bytes of ``data`` Wireshark decodes now: up to the first line
    that is not whole (or FETCH response not complete)."""
    off, n = 0, len(data)
    while off < n:
        e, nx = _line(data, off)
        if e < 0:
            return off
        if data[off] == 0x2A:
            fe = _untagged_fetch(data, off, nx)
            if fe is not None:
                if fe < 0:
                    return off
                nx = fe
        off = nx
    return n


def _looks_like_tls(data: bytes, info: AppInfo) -> bool:
    tries = info.state.get(STATE_TRIES, 2)
    if tries <= 0:
        return False
    return len(data) >= 5 and not all(0x20 <= c <= 0x7E for c in data[:5])


def pdu_length(data: bytes, info: AppInfo) -> int:
    if _looks_like_tls(data, info):
        return len(data)
    n = _scan(data)
    if n:
        info.state[STATE_VIEW] = data
    return n


def dissect(data: bytes, tree: Tree, info: AppInfo) -> None:
    state = info.state
    tries = state.get(STATE_TRIES, 2)
    if tries > 0:
        state[STATE_TRIES] = tries - 1
        if len(data) >= 5 and not all(0x20 <= c <= 0x7E for c in data[:5]):
            state[STATE_TRIES] = 0
            _as_tls(data, tree, info)
            return
    full = state.pop(STATE_VIEW, None)
    if not isinstance(full, bytes) or not full.startswith(data):
        full = data
    request = info.dstport == info.port
    tree.add(ISREQUEST, request, 0, 0)
    n = len(data)
    off = 0
    said: list[str] = []
    while off < n:
        end, nxt = _line(full, off)
        if end < 0:
            end, nxt = n, n
        if full[off] == 0x2A:
            fe = _untagged_fetch(full, off, nxt)
            if fe is not None and fe >= 0:
                tree.add(LINE, ascii_text(full[off:nxt]), off, nxt - off, f"Line: {show(full[off:nxt])}")
                tree.text(f"FETCH literal: {fe - nxt} bytes (IMF)", nxt, fe - nxt)
                nxt = fe
            else:
                tree.add(LINE, ascii_text(full[off:nxt]), off, nxt - off, f"Line: {show(full[off:nxt])}")
            if not said:
                said.append("untagged")
        else:
            _tagged(full, off, end, nxt, tree, info, request, said)
        off = nxt
    if request:
        cmds = [c for c in said if c != "untagged"]
        tree.message = "imap command " + " | ".join(cmds) if cmds else "imap command"
    else:
        sts = [c for c in said if c != "untagged"]
        tree.message = "imap reply " + " | ".join(sts) if sts else "imap reply (untagged)"


def _tagged(data: bytes, off: int, end: int, nxt: int, tree: Tree, info: AppInfo, request: bool,
            said: list[str]) -> None:
    linelen = end - off
    tree.open(f"Line: {show(data[off:nxt])}", off, nxt - off)
    tree.add(LINE, ascii_text(data[off:nxt]), off, nxt - off)
    if linelen:
        text = ascii_text(data[off:end])
        tree.add(REQUEST if request else RESPONSE, text, off, linelen, f"{'Request' if request else 'Response'}: {text}")
    tok, nt = _token(data, off, linelen)
    if tok:
        tag = ascii_text(data[off:off + tok])
        tree.add(REQUEST_TAG if request else RESPONSE_TAG, tag, off, tok,
                 f"{'Request' if request else 'Response'} Tag: {tag}")
        tree.add(TAG, tag, off, tok)
        linelen -= nt - off
        off = nt
    tok, nt = _token(data, off, linelen)
    if tok:
        word = ascii_text(data[off:off + tok])
        lower = word.lower()
        command = ""
        folder_off, folder_len, folder_next = 0, 0, 0
        if request and _prefix_eq_nocase(data, off, tok, b"UID"):
            tree.add(UID, True, off, tok, "Request isUID: True")
            uid_at = nt
            utok, unext = _token(data, uid_at, linelen - (nt - off))
            if utok:
                command = ascii_text(data[uid_at:uid_at + utok])
                tree.add(REQ_COMMAND, command, uid_at, utok, f"Request Command: {command}")
                tree.add(COMMAND, word, off, tok)
                folder_off = unext
                folder_len, folder_next = _token(data, unext, linelen - (unext - off))
        else:
            if request:
                tree.add(REQ_COMMAND, word, off, tok, f"Request Command: {word}")
                tree.add(COMMAND, word, off, tok)
                command = word
                folder_off = nt
                folder_len, folder_next = _token(data, nt, linelen - (nt - off))
            else:
                tree.add(RSP_STATUS, word, off, tok, f"Response Status: {word}")
        said.append(command if request else word)
        if command:
            cmd = command.lower()
            if any(_c_prefix(cmd, w) for w in FOLDER_COMMANDS):
                if folder_len:
                    f = ascii_text(data[folder_off:folder_off + folder_len])
                    tree.add(FOLDER, f, folder_off, folder_len, f"Request Folder: {f}")
            elif linelen > 0 and _c_prefix(cmd, "copy"):
                flen, _ = _token(data, folder_next, linelen - (folder_next - off))
                if flen:
                    f = ascii_text(data[folder_next:folder_next + flen])
                    tree.add(FOLDER, f, folder_next, flen, f"Request Folder: {f}")
            elif _c_prefix(cmd, "starttls"):
                info.state[STATE_STARTTLS] = True
            elif _c_prefix(cmd, "login"):
                ulen, unext = _token(data, nt, linelen - (nt - off))
                user = ascii_text(data[nt:nt + ulen])
                tree.add(USERNAME, user, nt, ulen, f"Request Username: {user}")
                plen, _ = _token(data, unext, linelen - (unext - off))
                if plen < 2:
                    tree.close()
                    raise Truncated(unext, "LOGIN password")
                pw = ascii_text(data[unext + 1:unext + plen - 1])
                tree.add(PASSWORD, pw, unext, plen, f"Request Password: {pw}")
        if not request:
            clen, _ = _token(data, nt, linelen - (nt - off))
            if clen > 0:
                c = ascii_text(data[nt:nt + clen])
                tree.add(RSP_COMMAND, c, nt, clen, f"Response Command: {c}")
                tree.add(COMMAND, c, nt, clen)
        if info.state.get(STATE_STARTTLS) and not request and _c_prefix(lower, "ok"):
            info.state.pop(STATE_STARTTLS, None)
            info.state[STATE_TRIES] = 0
            info.start_tls()
    tree.close()


def _as_tls(data: bytes, tree: Tree, info: AppInfo) -> None:
    """Not text: the connection already carries TLS (STARTTLS before the
    capture began).  The whole records here are decoded as TLS, as Wireshark
    hands this message to its TLS dissector; the rest of the connection is
    TLS's."""
    tree.text("Not IMAP text: the connection carries TLS (STARTTLS before the capture)", 0, len(data))
    info.start_tls()
    from tracedoc.decode import tls

    off, base = 0, tree.base
    try:
        while off < len(data):
            n = tls.pdu_length(data[off:], info)
            if n <= 0 or off + n > len(data):
                break
            tree.base = base + off
            tls.dissect(data[off:off + n], tree, info)
            off += n
    finally:
        tree.base = base
    if off == 0:
        tree.malformed("neither IMAP text nor a TLS record", 0)
        tree.message = "imap : TLS-protected data"
