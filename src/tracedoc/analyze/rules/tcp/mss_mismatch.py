"""``tcp.mss_mismatch``: a maximum segment size that does not fit the connection.

Each side announces on its SYN the largest segment it can receive (RFC 9293
3.7.1: data bytes, without IP and TCP headers), normally its interface MTU
minus 40 (IPv4) or 60 (IPv6).  The two values differ on most paths (1460
against 1400 behind a tunnel), and that is normal: each side sends the other
segments no larger than the other's MSS.  So the rule never fires on the
values alone; it fires when the MSS does not fit what the connection did or
what the path carries:

``oversize``
    A side sent segments with more data than the MSS the other side
    announced (at least ``min_oversize``): the receiver or a hop before it
    may drop them.  Only segments that fit the sender's own MSS count: a
    segment larger than the sender's own interface allows was never on the
    wire as such, it is a capture taken on the host, where TCP segmentation
    or receive offload (TSO/GRO) shows many segments as one.
``path_mtu``
    An ICMP "fragmentation needed" (or ICMPv6 "packet too big") about the
    connection names a next-hop MTU below the announced MSS plus headers:
    the MSS a side announced is larger than the path carries, and nothing on
    the path clamps it (the icmp.frag_needed rule reports the ICMP itself).
``black_hole``
    With no such ICMP: segments of one size were retransmitted at least
    ``min_stuck_retransmissions`` times and never acknowledged, while the
    receiver acknowledged every smaller segment before them; the segments of
    the announced MSS do not get through (a PMTU black hole: a hop with a
    smaller MTU whose ICMP errors are lost or filtered).
``absent`` / ``small``
    A side's SYN carried no MSS option (the peer must then assume 536 bytes
    for IPv4, 1220 for IPv6) or announced less than ``min_mss`` (IPv4) /
    ``min_mss_ipv6``, and the peer sent it at least ``min_small_bytes``: every
    segment it receives is small, so a transfer needs many more packets and
    round trips than the path requires (a few small exchanges do not suffer
    from it, and hand-made test traces often leave the option out).

Evidence: the SYNs showing the options, then the segments or ICMP errors
that prove the case.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule
from tracedoc.analyze.rules.tcp._common import (
    ACK,
    SYN,
    column,
    from_initiator,
    present,
    retransmitted,
    server,
    session_list,
    side_names,
    syn_frames,
    tcp_rows,
)

DEFAULT_MSS = {4: 536, 6: 1220}
"""The MSS a sender must assume when the SYN carries none (RFC 9293 3.7.1, RFC 8200 5)."""

HEADERS = {4: 40, 6: 60}
"""IP and TCP header bytes between an MTU and an MSS."""

MAX_OPTIONS = 40
"""The most TCP option bytes a segment carries (timestamps, SACK blocks): a segment of at least the
MSS minus this is a full-sized one."""

EVIDENCE_SEGMENTS = 20


def mss_mismatch(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    table = [r for r in session_list(ev) if r["sack_initiator"] is not None or r["sack_responder"] is not None]
    if not table:
        return []
    frag = _frag_needed_rows(ev)
    frag_sids = set(ev.sessions.sid[frag].tolist())
    tlen, _ = column(ev, "tcp.len", np.int64)
    # Which sessions may hold an oversize segment: one longer than the smaller announced MSS.
    longest = np.zeros(int(ev.sessions.sid.max(initial=0)) + 1, dtype=np.int64)
    _, is_tcp = column(ev, "tcp.flags")
    np.maximum.at(longest, ev.sessions.sid[is_tcp], tlen[is_tcp])
    cand = []
    for r in table:
        m = [x for x in (r["mss_initiator"], r["mss_responder"]) if x is not None]
        if (r["sid"] in frag_sids or (m and longest[r["sid"]] > min(m))
                or (r["retransmissions"] or 0) >= p["min_stuck_retransmissions"] or _small_or_absent(r, p)):
            cand.append(r)
    by_sid = tcp_rows(ev, [r["sid"] for r in cand])
    out = []
    for r in cand:
        rows = by_sid.get(r["sid"])
        if rows is not None:
            f = _judge(ev, r, rows, frag[ev.sessions.sid[frag] == r["sid"]], p)
            if f is not None:
                out.append(f)
    return out


def _frag_needed_rows(ev: Evidence) -> np.ndarray:
    t4, h4 = column(ev, "icmp.type", np.int64)
    c4, _ = column(ev, "icmp.code", np.int64)
    t6, h6 = column(ev, "icmpv6.type", np.int64)
    return np.flatnonzero((h4 & (t4 == 3) & (c4 == 4)) | (h6 & (t6 == 2)))


def _version(ev: Evidence, row: int) -> int:
    return 6 if present(ev, "ipv6.src")[row] and not present(ev, "ip.src")[row] else 4


def _small_or_absent(r: dict, p: dict[str, float]) -> bool:
    """A side whose SYN is seen announced no MSS or a small one (judged finally in :func:`_judge`)."""
    for seen, mss in ((r["sack_initiator"], r["mss_initiator"]), (r["sack_responder"], r["mss_responder"])):
        if seen is not None and (mss is None or mss < max(p["min_mss"], p["min_mss_ipv6"])):
            return True
    return False


def _judge(ev: Evidence, r: dict, rows: np.ndarray, frag: np.ndarray, p: dict[str, float]) -> Finding | None:
    tlen, _ = column(ev, "tcp.len", np.int64)
    flags, _ = column(ev, "tcp.flags")
    fi = from_initiator(ev, r, rows)
    data = (tlen[rows] > 0) & ((flags[rows] & SYN) == 0)
    version = _version(ev, int(rows[0]))
    cname, sname = side_names(r)
    names = {True: cname, False: sname}          # by "sent by the initiator"
    mss = {True: r["mss_initiator"], False: r["mss_responder"]}
    seen = {True: r["sack_initiator"] is not None, False: r["sack_responder"] is not None}
    syns = syn_frames(ev, rows)
    base: dict[str, Any] = {"server": server(r), "client": r["initiator_ip"], "mss_client": mss[True],
                            "mss_server": mss[False]}

    def finding(case: str, severity: str, summary: str, why: str, do: str, frames: list[int],
                **details: Any) -> Finding:
        return Finding("tcp.mss_mismatch", "Session Errors", severity, summary, why, do, syns + frames,
                       [r["sid"]], {**base, "case": case, **details})

    # oversize: segments longer than the receiver's MSS that the sender's own MSS allows.
    for by_client in (True, False):
        peer, own = mss[not by_client], mss[by_client]
        if peer is None:
            continue
        cap = own if own is not None else 1500 - HEADERS[version]
        sent = data & (fi == by_client)
        over = sent & (tlen[rows] > peer) & (tlen[rows] <= cap)
        if over.sum() >= p["min_oversize"]:
            frames = ev.frames[rows[over]].tolist()
            biggest = int(tlen[rows][over].max())
            return finding(
                "oversize", "warning",
                f"{names[by_client]} sent {len(frames)} segment(s) of up to {biggest} bytes to "
                f"{names[not by_client]}, which announced an MSS of {peer}",
                f"A side must not send segments with more data than the MSS the other side announced on its "
                f"SYN (RFC 9293 3.7.1). {names[not by_client]} announced {peer}, yet {names[by_client]} sent up to "
                f"{biggest}: the receiver, or a hop before it with a smaller MTU, may drop them, and each drop "
                "costs a retransmission timeout.",
                f"Check {names[by_client]}'s TCP stack or any middle box that rewrites the MSS option (an MSS "
                "clamp applied to one direction only), and the MTU of the path.",
                frames[:EVIDENCE_SEGMENTS], sender=names[by_client], oversize_segments=len(frames),
                largest_segment=biggest)

    # path_mtu: an ICMP error says the path carries less than the announced MSS.
    if len(frag):
        mtu4, _ = column(ev, "icmp.mtu", np.int64)
        mtu6, _ = column(ev, "icmpv6.mtu", np.int64)
        t6, h6 = column(ev, "icmpv6.type", np.int64)
        isport, _ = column(ev, "inner.tcp.srcport", np.int64)
        for row in frag.tolist():
            mtu = int(mtu6[row] if h6[row] else mtu4[row])
            # The quoted segment's sender sends to the other side, whose MSS it used.
            by_client = bool(isport[row] == r["initiator_port"])
            announced = mss[not by_client]
            path_mss = mtu - HEADERS[6 if h6[row] else 4]
            if announced is None or mtu <= 0 or announced <= path_mss:
                continue
            icmps = ev.frames[frag].tolist()
            return finding(
                "path_mtu", "warning",
                f"{names[not by_client]} announced an MSS of {announced}, but the path to it carries at most "
                f"{path_mss} (next-hop MTU {mtu})",
                f"{names[not by_client]} announced the MSS of its own link, {announced} bytes, but a router on the "
                f"path from {names[by_client]} has a next-hop MTU of {mtu} and answered segments of that size with "
                "'fragmentation needed'. Each connection must discover this (and lose the first large "
                "segments) unless the MSS is clamped on the path; if the ICMP errors are filtered, the "
                "connection stalls.",
                f"Clamp the TCP MSS to {path_mss} on the router with the small MTU, for the SYNs crossing that "
                f"link in both directions (nftables: tcp flags syn tcp option maxseg size set {path_mss}), or raise "
                "that link's MTU.",
                icmps, sender=names[by_client], path_mtu=mtu, path_mss=path_mss, announced_mss=announced)

    # black_hole: one size of segment retransmitted and never acknowledged, smaller ones acknowledged.
    if (r["retransmissions"] or 0) >= p["min_stuck_retransmissions"]:
        hole = _black_hole(ev, r, rows, fi, data, p)
        if hole is not None:
            by_client, size, stuck, acked_max, resent = hole
            announced = mss[not by_client]
            return finding(
                "black_hole", "error",
                f"Segments of {size} bytes from {names[by_client]} to {names[not by_client]} never got through "
                f"(retransmitted {resent} times, no ICMP seen): the path does not carry segments of the MSS "
                + (f"{names[not by_client]} announced ({announced})" if announced else "assumed"),
                f"{names[by_client]} sent segments of {size} bytes, the size the MSS allows, and retransmitted them "
                f"{resent} times without an acknowledgment, while "
                + (f"{names[not by_client]} acknowledged every segment of up to {acked_max} bytes before them"
                   if acked_max else "its smaller packets (the handshake) got through")
                + ". A hop on the path has a smaller MTU and its "
                "ICMP 'fragmentation needed' errors do not reach the sender (filtered, or not sent): a path MTU "
                "black hole, so the connection stalls.",
                "Let ICMP 'fragmentation needed' / 'packet too big' through to the sender, clamp the MSS of "
                "the SYNs crossing the link with the small MTU to that MTU minus 40 (nftables: tcp flags syn "
                "tcp option maxseg size set ...), or enable packetization-layer PMTU discovery on the sender "
                "(Linux: net.ipv4.tcp_mtu_probing=1).",
                stuck[:EVIDENCE_SEGMENTS], sender=names[by_client], stuck_size=size,
                largest_acknowledged=acked_max, retransmissions=resent)

    # absent / small: the receiver of data announced no MSS or a small one.
    for by_client in (True, False):
        if not seen[by_client]:
            continue
        own = mss[by_client]
        floor = p["min_mss_ipv6"] if version == 6 else p["min_mss"]
        got = data & (fi != by_client)
        if tlen[rows][got].sum() < max(p["min_small_bytes"], 1) or (own is not None and own >= floor):
            continue
        largest = int(tlen[rows][got].max())
        frames = ev.frames[rows[got]][:1].tolist()
        if own is None:
            return finding(
                "absent", "warning",
                f"{names[by_client]}'s SYN carried no MSS option: it receives segments of at most "
                f"{DEFAULT_MSS[version]} bytes",
                f"Without an MSS option the other side must assume {DEFAULT_MSS[version]} bytes (RFC 9293 3.7.1), "
                f"so {names[by_client]} receives small segments (the largest here: {largest} bytes) and a "
                "transfer to it needs more packets and round trips than its link requires. Current stacks "
                "always send the option: an old or embedded stack, or a middle box that strips options.",
                f"Find what removes the option from {names[by_client]}'s SYNs (capture next to it to see whether "
                "it sends one), or fix its TCP stack's configuration.",
                frames, receiver=names[by_client], largest_received=largest)
        return finding(
            "small", "warning",
            f"{names[by_client]} announced an unusually small MSS of {own} bytes",
            f"{names[by_client]} asked for segments of at most {own} bytes (below {int(floor)}, the "
            f"{'IPv6' if version == 6 else 'IPv4'} minimum every host must accept), so a transfer to it needs "
            "many more packets and round trips than usual: a misconfigured interface MTU, a tunnel with a "
            "very small MTU, or an MSS clamp set too low on the path.",
            f"Check the MTU of {names[by_client]}'s interface and any MSS clamp on the path.",
            frames, receiver=names[by_client], largest_received=largest)
    return None


def _black_hole(ev: Evidence, r: dict, rows: np.ndarray, fi: np.ndarray, data: np.ndarray,
                p: dict[str, float]) -> tuple[bool, int, list[int], int, int] | None:
    """(sent by the client, segment size, stuck frames, largest acknowledged size, retransmissions) of a
    direction whose segments of one size were retransmitted and never acknowledged."""
    seq, has_seq = column(ev, "tcp.seq", np.int64)
    ack, has_ack = column(ev, "tcp.ack", np.int64)
    flags, _ = column(ev, "tcp.flags")
    tlen, _ = column(ev, "tcp.len", np.int64)
    resent = retransmitted(ev)
    for by_client in (True, False):
        sent = data & (fi == by_client) & has_seq[rows]
        peer = (fi != by_client) & has_ack[rows] & ((flags[rows] & ACK) != 0)
        if not sent.any() or not (sent & resent[rows]).any():
            continue
        acked = int(ack[rows][peer].max()) if peer.any() else 0
        s = rows[sent]
        end = seq[s] + tlen[s]
        lost = end > acked
        retx = resent[s] & lost
        if retx.sum() < p["min_stuck_retransmissions"]:
            continue
        size = int(tlen[s][retx].max())
        ok = ~lost
        acked_max = int(tlen[s][ok].max()) if ok.any() else 0
        # Every retransmission is of the one stuck size, a full-sized segment (within the options a segment
        # may carry of the receiver's MSS), nothing that large was ever acknowledged, and the receiver did
        # acknowledge the sender's SYN: the path carries the sender's small packets, not its large ones.
        peer_mss = r["mss_responder"] if by_client else r["mss_initiator"]
        full = size >= (peer_mss if peer_mss is not None else DEFAULT_MSS[4]) - MAX_OPTIONS
        if not full or acked_max >= size or (tlen[s][retx] != size).any() or acked <= 0:
            continue
        stuck = lost & (tlen[s] == size)
        return by_client, size, ev.frames[s[stuck]].tolist(), acked_max, int(retx.sum())
    return None


RULE = Rule("tcp.mss_mismatch", "Session Errors", "TCP MSS larger than the path or the peer allows, or too small", (
    Param("min_oversize", 1, "report a side that sent at least this many segments longer than the other "
                             "side's MSS"),
    Param("min_stuck_retransmissions", 3, "a black hole: segments of one size retransmitted at least this many "
                                          "times and never acknowledged"),
    Param("min_mss", 536, "an IPv4 MSS below this is unusually small (RFC 9293's default)"),
    Param("min_mss_ipv6", 1220, "an IPv6 MSS below this is unusually small (IPv6 minimum MTU 1280 - 60)"),
    Param("min_small_bytes", 65536, "report an absent or small MSS only when its side received at least this "
                                    "many bytes"),
), mss_mismatch)
