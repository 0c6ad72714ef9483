"""What the ftp rules share."""

from __future__ import annotations

from bisect import bisect_left

import numpy as np
import pyarrow.compute as pc

from tracedoc.analyze.columns import values
from tracedoc.analyze.diagnose import Evidence

TRANSFER_COMMANDS = frozenset({"RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD"})
"""Commands that move data over the announced data connection (RFC 959, RFC 3659)."""

DATA_CONNECTION_FAILED = (421, 425)
"""Replies that say the server could not open (or get) the data connection:
425 "Can't open data connection" (RFC 959); 421 from servers that close the
session over it."""

SYN, RST, ACK = 0x02, 0x04, 0x10


def ftp_rows(ev: Evidence) -> list[dict]:
    t = ev.transactions
    if t.num_rows == 0:
        return []
    return t.filter(pc.equal(t["type"], "ftp")).to_pylist()


def reply_code(r: dict) -> int | None:
    res = r["result"] or ""
    return int(res[:3]) if res[:3].isdigit() else None


def logon_failures(ev: Evidence) -> list[dict]:
    return [r for r in ftp_rows(ev) if (r["label"] or "").split(" ")[0].upper() == "PASS" and reply_code(r) == 530]


def links(ev: Evidence, methods: set[str], bad: set[str]) -> list[dict]:
    """The data-connection links of ``methods`` whose status is in ``bad``, with
    what the control connection said about each between its announcement and
    the next one there:

    ``transfer``
        the transfer command that used the announced connection (the first
        one in that window), None when none was captured;
    ``replies``
        the server's replies in that window, as (frame, code), read from
        the packets (so they count even when the command they answer is
        missing from the capture);
    ``failed``
        the first of them saying the data connection could not be made
        (425, 421), or None;
    ``used``
        whether one of them says data moved (a 1xx "opening data
        connection", a 226 "transfer complete")."""
    rows = ev.ftp_links.to_pylist()
    if not any(r["method"] in methods and r["status"] in bad for r in rows):
        return []
    # Each announcement's window on its control connection: up to the next announcement there.
    next_announce: dict[int, int] = {}
    last: dict[int | None, int] = {}
    for i in reversed(range(len(rows))):
        next_announce[i] = last.get(rows[i]["control_sid"], 1 << 62)
        last[rows[i]["control_sid"]] = rows[i]["announce_frame"]
    transfers = [r for r in ftp_rows(ev) if (r["label"] or "").split(" ")[0].upper() in TRANSFER_COMMANDS]
    sid_of = session_of(ev, [int(r["request_frame"]) for r in transfers])
    by_control: dict[int, list[dict]] = {}
    for t in sorted(transfers, key=lambda t: t["request_frame"]):
        by_control.setdefault(sid_of.get(int(t["request_frame"]), 0), []).append(t)
    starts = {c: [t["request_frame"] for t in ts] for c, ts in by_control.items()}
    replies = _replies(ev)
    out = []
    for i, r in enumerate(rows):
        if r["method"] not in methods or r["status"] not in bad:
            continue
        control = r["control_sid"] or 0
        mine = by_control.get(control, [])
        # At the announcement's frame too: a client may send PORT and RETR in one segment.
        k = bisect_left(starts.get(control, []), r["announce_frame"])
        r["transfer"] = mine[k] if k < len(mine) and mine[k]["request_frame"] < next_announce[i] else None
        frames, codes = replies.get(control, ([], []))
        lo, hi = bisect_left(frames, r["announce_frame"] + 1), bisect_left(frames, next_announce[i])
        r["replies"] = list(zip(frames[lo:hi], codes[lo:hi]))
        r["failed"] = next(((f, c) for f, c in r["replies"] if c in DATA_CONNECTION_FAILED), None)
        r["used"] = any(100 <= c < 200 or c == 226 for _, c in r["replies"])
        out.append(r)
    return out


def _replies(ev: Evidence) -> dict[int, tuple[list[int], list[int]]]:
    """The FTP reply codes of each session, (frames, codes) in frame order."""
    code, has = values(ev.tbl, "ftp.response.code")
    rows = np.flatnonzero(has)
    out: dict[int, tuple[list[int], list[int]]] = {}
    for sid, frame, c in zip(ev.sessions.sid[rows].tolist(), ev.frames[rows].tolist(), code[rows].tolist()):
        f, cs = out.setdefault(int(sid), ([], []))
        f.append(int(frame))
        cs.append(int(c))
    return out


def session_of(ev: Evidence, frames: list[int]) -> dict[int, int]:
    """The session id of each of ``frames`` (a frame number -> its session)."""
    if not frames:
        return {}
    want = np.asarray(frames, dtype=np.int64)
    rows = np.flatnonzero(np.isin(ev.frames, want))
    return {int(f): int(s) for f, s in zip(ev.frames[rows], ev.sessions.sid[rows])}


def flag_frames(ev: Evidence, sid: int | None, want: int, without: int = 0) -> list[int]:
    """The frames of session ``sid`` with TCP flags ``want`` set and ``without`` clear
    (``SYN`` without ``ACK``: every attempt to open it; ``RST``: its resets)."""
    if not sid:
        return []
    f, has = values(ev.tbl, "tcp.flags")
    return ev.session_frames(sid, has & ((f & want) == want) & ((f & without) == 0))


def link_frames(ev: Evidence, r: dict, announced: list[int | None]) -> list[int]:
    """The evidence of a data-connection link: the announcing command and
    reply (``announced``), the SYNs and resets of the data connection, and,
    when no SYN was seen but the server said it could not connect, that
    reply and the transfer command it answered."""
    frames = [f for f in announced if f is not None] \
        + flag_frames(ev, r["data_sid"], SYN, ACK) + flag_frames(ev, r["data_sid"], RST)
    t, failed = r["transfer"], r["failed"]
    if r["status"] == "no_syn" and failed is not None:
        frames += [failed[0]] + ([t["request_frame"]] if t is not None else [])
    return frames


def link_details(r: dict) -> dict:
    """A data-connection finding's details: the link's facts and its transfer command."""
    t = r["transfer"]
    return {**{k: r[k] for k in ("method", "data_ip", "data_port", "connector_ip", "status", "syns", "reply_code")},
            "transfer": t["label"] if t is not None else None,
            "transfer_reply": reply_code(t) if t is not None else None}
