"""What the dns rules share: the DNS queries worth judging, each with its
question split out and its search-list steps recognised, and one rule body
for "the server answered with this error".

Which queries are judged
    Those sent to a unicast server.  mDNS (RFC 6762, port 5353) and LLMNR
    (RFC 4795, port 5355) ask a multicast group, and only a host that owns
    the name answers (RFC 4795 2.7: a responder stays silent otherwise), so
    no answer is their normal "no such host", a query repeated is their
    normal probing, and the group is no server.  They are left out.

Search-list steps
    A stub resolver tries a name with each domain of its search list
    appended (``host.corp.example``, then ``host.example``) and as it is, in
    turn, until one of them is answered: glibc does it for names with fewer
    dots than ``ndots`` and for names the server said do not exist,
    Kubernetes pods (ndots:5) for almost every name, Windows with its suffix
    search list and devolution.  The NXDOMAIN (or REFUSED) answers to the
    candidates that failed are the walk working, not a fault.  Two names of
    one client belong to the same lookup (a *family*) when one is the other
    with domains appended (``www.example.com`` / ``www.example.com.corp``)
    or both are one base with nested search domains appended
    (``api.ns.svc.cluster.local`` / ``api.svc.cluster.local``), and the
    client asked them within :data:`SEARCH_WINDOW_NS` of each other (a
    resolver sends the next candidate as soon as the previous one failed).
    A family whose walk ended otherwise (a name answered, or a server
    failure, or no answer: the rules judging those report it) makes its
    NXDOMAIN/REFUSED answers *steps*, not reported.  A family where every
    name failed is reported once, under its shortest name (the one the user
    typed, as a rule), the other names listed as ``searched``.  Unrelated
    names sharing only a first label (``www.a.com`` / ``www.b.org``) are
    not a family: their domains are not nested.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow.compute as pc

from tracedoc.analyze.columns import values
from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding

MULTICAST_DNS_PORTS = (5353, 5355)
"""mDNS and LLMNR: multicast name resolution, not a server's."""

SEARCH_WINDOW_NS = 2_000_000_000
"""Two names of a client are steps of one search-list walk only when one
was asked within this time of the other's answer: a resolver sends the next
candidate at once (milliseconds) after an NXDOMAIN."""

FAILED = ("Name Error", "Refused")
"""Answers that send a resolver on to the next search-list candidate."""

REVERSE_ZONES = (".in-addr.arpa", ".ip6.arpa")


@dataclass
class Query:
    """One DNS transaction to a unicast server: a query (and Wireshark's
    retransmissions of it, same ID on the same conversation) and its answer."""

    client: str
    client_port: int | None
    server: str
    server_port: int | None
    qtype: str | None
    name: str
    """The name asked, as the client wrote it (no trailing dot)."""
    key: str
    """The name compared: lower case."""
    result: str | None
    """The answer's reply code text (None: unanswered)."""
    answered: bool
    start: int
    """ns since the epoch: the first query."""
    end: int
    """ns since the epoch: the answer (the last query sent when unanswered)."""
    last_sent: int
    """ns since the epoch: the last copy of the query sent."""
    query_frames: list[int]
    response_frame: int | None
    retries: int
    dns_id: int | None
    opcode: int | None
    step: bool = False
    """An NXDOMAIN/REFUSED answer to a search-list candidate whose walk went on."""
    base: str = ""
    """The name a failure is reported under (its family's shortest name when
    every name of the family failed, else its own)."""
    searched: list[str] = field(default_factory=list)
    """The other names of its family (when it is the family's base)."""

    @property
    def frames(self) -> list[int]:
        return self.query_frames + ([self.response_frame] if self.response_frame is not None else [])

    @property
    def reverse(self) -> bool:
        return self.key.endswith(REVERSE_ZONES)


@functools.lru_cache(maxsize=4096)
def is_unicast(server: str | None, port: int | None) -> bool:
    """A DNS server proper (not an mDNS/LLMNR multicast group or a broadcast)."""
    if server is None or port in MULTICAST_DNS_PORTS:
        return False
    try:
        a = ipaddress.ip_address(server)
    except ValueError:
        return True
    return not (a.is_multicast or (a.version == 4 and int(a) == 0xFFFFFFFF))


def split_label(label: str | None) -> tuple[str | None, str]:
    """``"AAAA www.example.com"`` -> ``("AAAA", "www.example.com")``: the
    transaction label is the query type's name then the name."""
    if not label:
        return None, ""
    kind, sep, name = label.partition(" ")
    if sep and (kind in _TYPE_TEXT or kind.isdigit()):
        return kind, name.rstrip(".") or name
    return None, label.rstrip(".") or label


def _type_text() -> frozenset[str]:
    from tracedoc.decode.dns import TYPE_NAMES

    return frozenset(TYPE_NAMES.values())


_TYPE_TEXT = _type_text()


def queries(ev: Evidence) -> list[Query]:
    """The DNS transactions to unicast servers, as :class:`Query` objects in
    order of the first query, search-list steps marked (made once per
    :class:`Evidence`)."""
    cache: dict[str, Any] = ev.__dict__
    if "_dns_queries" not in cache:
        cache["_dns_queries"] = _queries(ev)
    out: list[Query] = cache["_dns_queries"]
    return out


def _queries(ev: Evidence) -> list[Query]:
    t = ev.transactions
    if t.num_rows == 0:
        return []
    rows = [r for r in t.filter(pc.equal(t["type"], "dns")).to_pylist() if is_unicast(r["server"], r["server_port"])]
    if not rows:
        return []
    frames = ev.frames
    order_ok = bool(np.all(frames[1:] > frames[:-1])) if len(frames) > 1 else True
    lookup = None if order_ok else {int(f): i for i, f in enumerate(frames.tolist())}

    def row_of(frame: int) -> int:
        if lookup is not None:
            return lookup[frame]
        return int(np.searchsorted(frames, frame))

    ids, has_id = values(ev.tbl, "dns.id")
    ops, has_op = values(ev.tbl, "dns.flags.opcode")
    times, _ = values(ev.tbl, "frame.time_epoch", np.int64)
    orig, has_orig = values(ev.tbl, "dns.retransmit_request_in", np.int64)
    again: dict[int, list[int]] = defaultdict(list)
    for r in np.flatnonzero(has_orig).tolist():
        again[int(orig[r])].append(int(frames[r]))
    out = []
    for r in rows:
        req = int(r["request_frame"])
        i = row_of(req)
        qtype, name = split_label(r["label"])
        copies = sorted(again.get(req, []))
        last = int(times[row_of(copies[-1])]) if copies else int(r["request_time"])
        answered = r["response_frame"] is not None
        out.append(Query(
            client=r["client"], client_port=r["client_port"], server=r["server"], server_port=r["server_port"],
            qtype=qtype, name=name, key=name.lower(), result=r["result"] if answered else None, answered=answered,
            start=int(r["request_time"]),
            end=int(r["request_time"]) + int(r["response_time"]) if answered else last, last_sent=last,
            query_frames=[req, *copies], response_frame=int(r["response_frame"]) if answered else None,
            retries=int(r["retries"] or 0), dns_id=int(ids[i]) if has_id[i] else None,
            opcode=int(ops[i]) if has_op[i] else None, base=name))
    out.sort(key=lambda q: (q.start, q.query_frames[0]))
    _mark_search_steps(out)
    return out


# -- search-list walks -------------------------------------------------------------------

def _related(key: str, known: set[str]) -> list[str]:
    """The names in ``known`` that ``key`` is a search-list relative of: its
    leading labels (``a.b.c`` -> ``a.b``, ``a``) and its leading labels with
    a nested (shorter) domain (``a.b.c.d`` -> ``a.c.d``, ``a.d``, ``a.b.d``)."""
    labels = key.split(".")
    n = len(labels)
    out = []
    for i in range(1, n):
        for j in range(i + 1, n + 1):
            cand = ".".join(labels[:i] + labels[j:])
            if cand != key and cand in known:
                out.append(cand)
    return out


def _near(a: list[tuple[int, int]], b: list[tuple[int, int]], window: int) -> bool:
    """Whether some (start, end) of ``a`` and some of ``b`` are within ``window`` ns."""
    if len(a) > len(b):
        a, b = b, a
    starts = [s for s, _ in b]
    for s, e in a:
        k = bisect.bisect_left(starts, s)
        for j in range(max(k - 2, 0), min(k + 2, len(b))):
            bs, be = b[j]
            if max(s, bs) - min(e, be) <= window:
                return True
    return False


def _mark_search_steps(qs: list[Query], window: int = SEARCH_WINDOW_NS) -> None:
    by_client: dict[str, list[Query]] = defaultdict(list)
    for q in qs:
        by_client[q.client].append(q)
    for mine in by_client.values():
        spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for q in mine:
            spans[q.key].append((q.start, q.end))
        known = set(spans)
        parent = {k: k for k in known}

        def find(k: str) -> str:
            while parent[k] != k:
                parent[k] = parent[parent[k]]
                k = parent[k]
            return k

        for k in known:
            if "." not in k:
                continue
            for other in _related(k, known):
                if _near(spans[k], spans[other], window):
                    parent[find(k)] = find(other)
        families: dict[str, list[Query]] = defaultdict(list)
        for q in mine:
            families[find(q.key)].append(q)
        for fam in families.values():
            keys = {q.key for q in fam}
            if len(keys) == 1:
                continue
            went_on = {q.key for q in fam if q.result not in FAILED}
            if went_on:
                for q in fam:
                    if q.result in FAILED and q.key not in went_on:
                        q.step = True
                continue
            base = min(fam, key=lambda q: (q.key.count("."), q.start))
            others = sorted({q.name for q in fam if q.key != base.key})
            for q in fam:
                q.base = base.name
                if q.key == base.key:
                    q.searched = others


# -- wording ---------------------------------------------------------------------------------

def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def clients_text(clients: list[str], most: int = 3) -> str:
    if len(clients) <= most:
        return ", ".join(clients)
    return f"{', '.join(clients[:most])} and {len(clients) - most} more"


def types_text(qs: list[Query]) -> str:
    kinds = sorted({q.qtype for q in qs if q.qtype})
    return "/".join(kinds)


def seconds(ns: int) -> float:
    return round(ns / 1e9, 3)


# -- "the server answered with this error" ----------------------------------------------------

Wording = Callable[[str, str, list[Query], str], str]
"""(name, server, queries, clients text) -> summary."""


def answers(rule: str, result: str, severity: str, explanation: str, action: str, wording: Wording,
            search_steps: bool) -> Callable[[Evidence, dict[str, float]], list[Finding]]:
    """A rule reporting, per name and server, the queries answered ``result``.

    ``search_steps``: leave out the answers to search-list candidates whose
    walk went on (see the module docstring), and report a walk where every
    candidate failed once, under its shortest name."""

    def run(ev: Evidence, p: dict[str, float]) -> list[Finding]:
        groups: dict[tuple[str, str], list[Query]] = defaultdict(list)
        for q in queries(ev):
            if q.result != result or (search_steps and q.step):
                continue
            name = q.base if search_steps else q.name
            groups[(name.lower(), q.server)].append(q)
        out = []
        for (_, server), qs in groups.items():
            name = qs[0].base if search_steps else qs[0].name
            out.append(finding(ev, rule, severity, wording(name or "(no name)", server, qs,
                                                              clients_text(sorted({q.client for q in qs}))),
                               explanation, action, name, server, qs))
        return out

    return run


def finding(ev: Evidence, rule: str, severity: str, summary: str, explanation: str, action: str, name: str,
            server: str, qs: list[Query], key: str | None = None, **extra: Any) -> Finding:
    """A finding about the queries ``qs`` for ``name`` at ``server``, with the
    details every dns rule gives (``name``, ``server``, ``clients``, ``count``,
    ``types``, ``searched``)."""
    frames = [f for q in qs for f in q.frames]
    searched = sorted({s for q in qs for s in q.searched} | {q.name for q in qs if q.key != name.lower()})
    details: dict[str, Any] = {"name": name, "server": server, "clients": sorted({q.client for q in qs}),
                               "count": len(qs), "types": sorted({q.qtype for q in qs if q.qtype})}
    if searched:
        details["searched"] = searched
    details.update(extra)
    return Finding(rule, "Application Errors", severity, summary, explanation, action, frames,
                   ev.sessions_of(frames), details, key=key or f"{rule}:{name.lower()}:{server}")
