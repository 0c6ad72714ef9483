"""What the scan rules share: the probes of a trace, and counting distinct
ports or addresses within a sliding window.

A *probe* is an attempt that exchanged no data:

- a TCP session that began with the initiator's SYN and carried no payload
  either way: refused (SYN answered by RST: the port is *closed*), never
  answered (*filtered*: dropped on the way, or answered by an ICMP error),
  or accepted and dropped unused (SYN-ACK: the port is *open*; a connect()
  scan closes it at once, a SYN scan resets it).  FTP data connections are
  left out (an empty directory listing is one of those);
- a UDP flow that got no datagram back: met with ICMP port unreachable from
  the target (*closed*), another ICMP unreachable (*filtered*), or nothing
  (*open|filtered*).  Flows answered by ICMP time exceeded, and unanswered
  flows sent with a TTL of at most :data:`TRACEROUTE_TTL`, are a traceroute's
  probes (one port per probe, TTLs 1, 2, 3 ...), not a scan's;
- an ICMP / ICMPv6 echo request (answered or not), unless its sender is a
  DHCP server checking an address it offers (dnsmasq and ISC dhcpd ping an
  address before they offer it: a busy pool would look like a sweep);
- an ARP request for another address (not a gratuitous ARP, not an RFC 5227
  probe), answered when that address replied: how nmap and its like sweep
  the scanner's own subnet, where they see no IP at all for hosts that are
  not there.

Broadcast and multicast destinations are not targets.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass

import numpy as np

from tracedoc.analyze.columns import values
from tracedoc.analyze.diagnose import Evidence

TRACEROUTE_TTL = 30
"""traceroute's default maximum TTL: its probes never carry more."""


@dataclass
class Probes:
    """One entry per probe, in time order."""

    sid: np.ndarray
    proto: np.ndarray
    """'tcp', 'udp' or 'icmp' (echo, v4 or v6)."""
    scanner: np.ndarray
    target: np.ndarray
    port: np.ndarray
    """Destination port; -1 for an echo request."""
    time: np.ndarray
    """Start, epoch ns."""
    status: np.ndarray
    """'open', 'closed', 'filtered', 'open|filtered'; echo and ARP: 'answered' or 'unanswered'."""
    row: np.ndarray
    """The probe's own packet (row of the packet table); -1 for a session's (its packets are the session's)."""
    answer: np.ndarray
    """Row of the answer to a sessionless probe (an ARP reply), else -1."""

    FIELDS = ("sid", "proto", "scanner", "target", "port", "time", "status", "row", "answer")

    def select(self, mask: np.ndarray) -> Probes:
        return Probes(*(getattr(self, f)[mask] for f in self.FIELDS))

    def __len__(self) -> int:
        return len(self.sid)


def _unicast(addrs: np.ndarray) -> np.ndarray:
    ok: dict[str, bool] = {}
    for a in set(addrs.tolist()):
        try:
            ip = ipaddress.ip_address(a)
            ok[a] = not (ip.is_multicast or ip.is_unspecified or (ip.version == 4 and str(ip) == "255.255.255.255"))
        except (ValueError, TypeError):
            ok[a] = False
    return np.asarray([ok[a] for a in addrs.tolist()], dtype=bool)


def _col(t, name: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.asarray(t[name].to_numpy(zero_copy_only=False))


def probes(ev: Evidence) -> Probes:
    """Every probe of the trace (see the module docstring)."""
    s = ev.sessions.table
    proto = _col(s, "proto")
    keep = np.isin(proto, ("tcp", "udp"))
    history = np.asarray([h or "" for h in _col(s, "history")], dtype=object)
    payload = np.nan_to_num(_col(s, "payload_in").astype(float)) + np.nan_to_num(_col(s, "payload_out").astype(float))
    state = _col(s, "conn_state")
    n_err = np.nan_to_num(_col(s, "icmp_errors").astype(float))
    first_err = _col(s, "first_icmp_error")
    first = _col(s, "first_frame")
    tcp = keep & (proto == "tcp") & np.asarray([h[:1] == "S" for h in history], dtype=bool) & (payload == 0)
    udp = keep & (proto == "udp") & np.asarray(["d" not in h for h in history], dtype=bool)
    status = np.full(len(proto), "", dtype=object)
    opened = np.asarray(["h" in h for h in history], dtype=bool)
    closed = (state == "REJ") | np.asarray(["r" in h for h in history], dtype=bool)
    status[tcp] = "filtered"
    status[tcp & closed] = "closed"
    status[tcp & opened] = "open"
    if udp.any():
        t4, _ = values(ev.tbl, "icmp.type", np.int64)
        c4, _ = values(ev.tbl, "icmp.code", np.int64)
        t6, h6 = values(ev.tbl, "icmpv6.type", np.int64)
        c6, _ = values(ev.tbl, "icmpv6.code", np.int64)
        ttl4, has4 = values(ev.tbl, "ip.ttl", np.int64)
        ttl6, _ = values(ev.tbl, "ipv6.hlim", np.int64)
        src = np.asarray(ev.addresses[0], dtype=object)
        responder = _col(s, "responder_ip")
        last = len(ev.frames) - 1
        err = udp & (n_err > 0) & ~np.isnan(first_err.astype(float))
        i = np.flatnonzero(err)
        r = np.minimum(np.searchsorted(ev.frames, first_err[i].astype(np.int64)), last)
        typ, code = np.where(h6[r], t6[r], t4[r]), np.where(h6[r], c6[r], c4[r])
        unreach = np.where(h6[r], typ == 1, typ == 3)
        udp[i[~unreach]] = False                       # time exceeded: a traceroute's probe
        port_unreach = unreach & (code == np.where(h6[r], 4, 3)) & (src[r] == responder[i])
        status[i[unreach]] = "filtered"
        status[i[port_unreach]] = "closed"
        i = np.flatnonzero(udp & ~err)
        r = np.minimum(np.searchsorted(ev.frames, first[i].astype(np.int64)), last)
        low = np.where(has4[r], ttl4[r], ttl6[r]) <= TRACEROUTE_TTL
        udp[i[low]] = False
        status[i[~low]] = "open|filtered"
    chosen = tcp | udp
    sid = _col(s, "sid")[chosen].astype(np.int64)
    none = np.full(len(sid), -1, dtype=np.int64)
    out = Probes(sid, proto[chosen], _col(s, "initiator_ip")[chosen], _col(s, "responder_ip")[chosen],
                 np.nan_to_num(_col(s, "responder_port")[chosen].astype(float), nan=-1).astype(np.int64),
                 _col(s, "start")[chosen].astype(np.int64), status[chosen], none, none.copy())
    if out.sid.size:
        ftp = ev.ftp_links
        if ftp.num_rows:
            data = {x for x in ftp["data_sid"].to_pylist() if x is not None}
            out = out.select(~np.isin(out.sid, list(data)))
    more = [echo_probes(ev), arp_probes(ev)]
    merged = Probes(*(np.concatenate([getattr(x, f) for x in [out, *more]]) for f in Probes.FIELDS))
    merged = merged.select(_unicast(merged.target))
    return merged.select(np.argsort(merged.time, kind="stable"))


def echo_probes(ev: Evidence) -> Probes:
    """Echo requests (ICMP type 8, ICMPv6 128), each answered when its session holds a reply."""
    t4, h4 = values(ev.tbl, "icmp.type", np.int64)
    t6, h6 = values(ev.tbl, "icmpv6.type", np.int64)
    req = (h4 & (t4 == 8)) | (h6 & (t6 == 128))
    rep = (h4 & (t4 == 0)) | (h6 & (t6 == 129))
    rows = np.flatnonzero(req)
    src, dst = ev.addresses
    # A DHCP server's ping of an address it offers (its own message from port 67 gives it as yiaddr).
    yours, has_y = values(ev.tbl, "dhcp.ip.your", np.int64)
    sport, has_s = values(ev.tbl, "udp.srcport", np.int64)
    offered = {(src[r], str(ipaddress.IPv4Address(int(yours[r]))))
               for r in np.flatnonzero(has_y & has_s & (sport == 67) & (yours != 0)).tolist()}
    if offered:
        rows = np.asarray([r for r in rows.tolist() if (src[r], dst[r]) not in offered], dtype=np.int64)
    sid = ev.sessions.sid
    answered = np.isin(sid[rows], sid[rep][sid[rep] > 0]) if len(rows) else np.zeros(0, dtype=bool)
    tm, _ = values(ev.tbl, "frame.time_epoch", np.int64)
    none = np.full(len(rows), -1, dtype=np.int64)
    return Probes(sid[rows].astype(np.int64), np.full(len(rows), "icmp", dtype=object),
                  np.asarray([src[r] for r in rows.tolist()], dtype=object),
                  np.asarray([dst[r] for r in rows.tolist()], dtype=object),
                  none, tm[rows], np.where(answered, "answered", "unanswered").astype(object),
                  rows.astype(np.int64), none.copy())


def arp_probes(ev: Evidence) -> Probes:
    """ARP requests asking for another address; answered by the first reply from that address after."""
    op, has = values(ev.tbl, "arp.opcode", np.int64)
    spa, _ = values(ev.tbl, "arp.src.proto_ipv4", np.int64)
    tpa, has_t = values(ev.tbl, "arp.dst.proto_ipv4", np.int64)
    rows = np.flatnonzero(has & has_t & (op == 1) & (spa != 0) & (tpa != 0) & (tpa != spa))
    replies = np.flatnonzero(has & (op == 2))
    answer = np.full(len(rows), -1, dtype=np.int64)
    if len(rows) and len(replies):
        # The first reply from the asked-for address after each request: sort replies by (address, row).
        order = replies[np.lexsort((replies, spa[replies]))]
        keys = spa[order]
        lo = np.searchsorted(keys, tpa[rows], side="left")
        hi = np.searchsorted(keys, tpa[rows], side="right")
        for i in np.flatnonzero(hi > lo).tolist():
            cand = order[lo[i]:hi[i]]
            after = cand[cand > rows[i]]
            if len(after):
                answer[i] = after[0]
    text: dict[int, str] = {}

    def ip(v: int) -> str:
        if v not in text:
            text[v] = str(ipaddress.IPv4Address(v))
        return text[v]

    tm, _ = values(ev.tbl, "frame.time_epoch", np.int64)
    return Probes(np.zeros(len(rows), dtype=np.int64), np.full(len(rows), "arp", dtype=object),
                  np.asarray([ip(v) for v in spa[rows].tolist()], dtype=object),
                  np.asarray([ip(v) for v in tpa[rows].tolist()], dtype=object),
                  np.full(len(rows), -1, dtype=np.int64), tm[rows],
                  np.where(answer >= 0, "answered", "unanswered").astype(object), rows.astype(np.int64), answer)


def most_in_window(times: np.ndarray, keys: list, window_ns: int) -> tuple[int, int, int]:
    """The most distinct ``keys`` among entries whose ``times`` (ascending) lie within one window of
    ``window_ns``: (count, first index, end index) of the best window."""
    seen: Counter = Counter()
    best, lo, best_lo, best_hi = 0, 0, 0, 0
    for hi in range(len(times)):
        seen[keys[hi]] += 1
        while times[hi] - times[lo] > window_ns:
            seen[keys[lo]] -= 1
            if not seen[keys[lo]]:
                del seen[keys[lo]]
            lo += 1
        if len(seen) > best:
            best, best_lo, best_hi = len(seen), lo, hi + 1
    return best, best_lo, best_hi


def groups(p: Probes, *fields: str) -> dict[tuple, np.ndarray]:
    """Indices of the probes, by the values of ``fields`` (indices in time order)."""
    out: dict[tuple, list[int]] = {}
    cols = [getattr(p, f).tolist() for f in fields]
    for i, key in enumerate(zip(*cols)):
        out.setdefault(key, []).append(i)
    return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}


def frames_of(ev: Evidence, p: Probes) -> list[int]:
    """Every frame of the probes' sessions (with the ICMP errors that quote them), and of the probes
    that are no session (ARP requests) with their answers."""
    sids = p.sid[p.sid > 0]
    mask = np.isin(ev.sessions.sid, sids) if len(sids) else np.zeros(len(ev.frames), dtype=bool)
    alone = p.sid <= 0
    for col in (p.row[alone], p.answer[alone]):
        mask[col[col >= 0]] = True
    return ev.frames[mask].tolist()


def port_text(proto: str, port: int) -> str:
    return {"icmp": "ICMP echo", "arp": "ARP"}[proto] if port < 0 else f"{proto.upper()} {port}"
