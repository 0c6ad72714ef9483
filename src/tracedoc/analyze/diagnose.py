"""The Exception Report: run every rule over a trace's analysis tables.

:class:`Evidence` holds what rules read, each table built once on first
use (sessions, transactions, FTP data links); :func:`diagnose` runs the
rules with their settings, drops duplicate findings (same ``key``), keeps
those at or above a severity, and orders them as the seed's report does:
by category, then most severe first, then by first evidence frame.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import numpy as np
import pyarrow as pa

from tracedoc.analyze.findings import CATEGORIES, Finding, severity_rank
from tracedoc.analyze.rules import Rule
from tracedoc.analyze.summary import LocalSide


class Pending(Exception):
    """A rule asked for what needs the application columns before they came."""


class Evidence:
    """A trace's packet table and the analysis tables rules read.

    With ``app_pending`` the table lacks the application pass's columns for
    now (another process is decoding them): the transaction and FTP-link
    tables raise :class:`Pending` until :meth:`complete` adds them.
    """

    def __init__(self, tbl: pa.Table, local: LocalSide | None = None, app_pending: bool = False) -> None:
        self.tbl = tbl
        self.local = local
        self.app_pending = app_pending

    def complete(self, apps: list[pa.Table]) -> None:
        """Add the application columns (tables of the same rows, in order)."""
        tbl = self.tbl
        for app in apps:
            if app.num_rows != tbl.num_rows:
                raise RuntimeError(f"the application columns have {app.num_rows} rows, the packet table "
                                   f"{tbl.num_rows}")
            for name in app.column_names:
                if name not in tbl.column_names:
                    tbl = tbl.append_column(app.schema.field(name), app[name])
        self.tbl = tbl
        self.app_pending = False
        self.__dict__.pop("_values", None)   # columns read while they were missing

    def _ready(self) -> None:
        if self.app_pending:
            raise Pending

    @cached_property
    def frames(self) -> np.ndarray:
        return np.asarray(self.tbl["frame.number"].combine_chunks().to_numpy(zero_copy_only=False), dtype=np.int64)

    @cached_property
    def sessions(self):  # type: ignore[no-untyped-def]
        from tracedoc.analyze.sessions import build_sessions

        return build_sessions(self.tbl, self.local)

    @cached_property
    def transactions(self) -> pa.Table:
        from tracedoc.analyze.transactions import transactions

        self._ready()
        return transactions(self.tbl)

    @cached_property
    def ftp_links(self) -> pa.Table:
        from tracedoc.analyze.ftp_data import ftp_data_links

        self._ready()
        return ftp_data_links(self.tbl, self.sessions.sid)

    def column(self, name: str) -> pa.Array:
        return self.tbl[name].combine_chunks()

    def take(self, name: str, rows: np.ndarray) -> list:
        """Column ``name`` at ``rows`` as Python values (all None when the table lacks it)."""
        if name not in self.tbl.column_names:
            return [None] * len(rows)
        return self.tbl.column(name).take(pa.array(rows, type=pa.int64())).to_pylist()

    def values(self, name: str) -> list:
        """Column ``name`` as a Python list (made once), for rules that look
        at a few rows one by one; all None when the table lacks it."""
        cache = self.__dict__.setdefault("_values", {})
        if name not in cache:
            cache[name] = self.column(name).to_pylist() if name in self.tbl.column_names \
                else [None] * self.tbl.num_rows
        return cache[name]

    @cached_property
    def addresses(self) -> tuple[list, list]:
        """Source and destination address text of every packet (as the Packet Summary shows them)."""
        from tracedoc.analyze.summary import _addresses

        src, dst = _addresses(self.tbl)
        return src.to_pylist(), dst.to_pylist()

    def sessions_of(self, frames: list[int]) -> list[int]:
        """The sessions the given frames belong to."""
        sid = self.sessions.sid[np.isin(self.frames, np.asarray(frames, dtype=np.int64))]
        return sorted({int(s) for s in sid if s > 0})

    def session_frames(self, sid: int, mask: np.ndarray | None = None) -> list[int]:
        """Frame numbers of session ``sid`` (only those ``mask`` selects)."""
        rows = self.sessions.packets(sid)
        if mask is not None:
            rows = rows & mask
        return self.frames[rows].tolist()


def diagnosis_columns(rules: list[Rule]) -> list[str]:
    """The packet-table columns :class:`Evidence` and ``rules`` read: what
    ``tracedoc diagnose`` decodes."""
    from tracedoc.analyze import endpoints, ftp_data, transactions
    from tracedoc.analyze.sessions import SESSION_COLUMNS

    addresses = ["tracedoc.tunnel.src", "tracedoc.tunnel.dst", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
                 "arp.src.proto_ipv4", "arp.dst.proto_ipv4"]
    cols = ["frame.number", *addresses, *endpoints.NEEDS, *SESSION_COLUMNS, *transactions.COLUMNS,
            *ftp_data.NEEDS]
    for r in rules:
        cols += r.columns()
    return list(dict.fromkeys(cols))


def _same(*keys: str):  # type: ignore[no-untyped-def]
    """A cause explains a symptom when these details of both are equal."""
    return lambda cause, symptom: all(cause.details.get(k) == symptom.details.get(k) for k in keys)


def _data_connection_reply(cause: Finding, symptom: Finding) -> bool:
    """A 421/425 reply ("can't open data connection") from the server that
    could not make or take the data connection."""
    server = cause.details.get("connector_ip") if cause.rule == "ftp.active_data_syn_missing" \
        else cause.details.get("data_ip")
    return symptom.details.get("code") in (421, 425) and symptom.details.get("server") == server


def _same_session(cause: Finding, symptom: Finding) -> bool:
    """The symptom is about a session the cause names (the data connection
    whose SYNs went unanswered is that FTP data connection)."""
    return bool(symptom.sessions) and set(symptom.sessions) <= set(cause.sessions)


def _transfer_wait(cause: Finding, symptom: Finding) -> bool:
    """The server's slow answer to the transfer command whose data connection
    failed: it waited for that connection before giving up (425)."""
    transfer = cause.details.get("transfer")
    return bool(transfer) and str(symptom.details.get("request", "")).endswith(str(transfer)) \
        and _shares_session(cause, symptom)


def _shares_session(cause: Finding, symptom: Finding) -> bool:
    """The cause's evidence lies in a session the symptom is about (an ICMP
    error is part of the session whose datagram it quotes)."""
    return bool(set(symptom.sessions) & set(cause.sessions))


def _quoted_server(cause: Finding, symptom: Finding) -> bool:
    """An ICMP error quoting a datagram between the server the symptom says
    did not answer and one of that symptom's clients: a query (client to
    server) that looped or was refused on the way, or an answer (server to
    client) too big for the path."""
    server = symptom.details.get("server")
    if server is None:
        return False
    host = str(server).rsplit(":", 1)[0] if str(server).count(":") == 1 else str(server)
    clients = symptom.details.get("clients") or ([symptom.details["client"]] if symptom.details.get("client")
                                                 else None)
    src, dst = cause.details.get("src"), cause.details.get("dst")
    for a, b in ((dst, src), (src, dst)):   # a query quoted, or an answer quoted
        if a == host and (clients is None or b in clients):
            return True
    return False


def _same_destination(cause: Finding, symptom: Finding) -> bool:
    return cause.details.get("dst") is not None and cause.details.get("dst") == symptom.details.get("dst")


EXPLAINS = (
    ("ftp.brute_force", "ftp.logon_failure", _same("client", "server")),
    ("ftp.active_data_syn_missing", "tcp.syn_unanswered", _same_session),
    ("ftp.passive_data_connect_failed", "tcp.syn_unanswered", _same_session),
    ("ftp.active_data_syn_missing", "ftp.error_reply", _data_connection_reply),
    ("ftp.passive_data_connect_failed", "ftp.error_reply", _data_connection_reply),
    ("ftp.active_data_syn_missing", "tcp.connection_refused", _same_session),
    ("ftp.passive_data_connect_failed", "tcp.connection_refused", _same_session),
    ("ftp.active_data_syn_missing", "tcp.slow_response", _transfer_wait),
    ("ftp.passive_data_connect_failed", "tcp.slow_response", _transfer_wait),
    # After a 550 the server resets the data connection the client had opened.
    ("ftp.error_reply", "tcp.reset", _same_session),
    # A loop shows as TTL exceeded; both explain what they made fail.
    ("ip.routing_loop", "icmp.ttl_exceeded", _same_destination),
    ("icmp.ttl_exceeded", "dns.no_response", _quoted_server),
    ("icmp.ttl_exceeded", "tcp.syn_unanswered", _shares_session),
    ("icmp.unreachable", "dns.no_response", _quoted_server),
    ("icmp.unreachable", "snmp.no_response", _quoted_server),
    ("icmp.unreachable", "tcp.syn_unanswered", _shares_session),
    ("icmp.frag_needed", "dns.no_response", _quoted_server),
    ("icmp.frag_needed", "tcp.retransmissions", _shares_session),
    # An unanswered SYN is sent again: those are its retransmissions, not a lossy path's.
    ("tcp.syn_unanswered", "tcp.retransmissions", _same_session),
    ("tcp.mss_mismatch", "tcp.retransmissions", _same_session),
    ("icmp.frag_needed", "tcp.mss_mismatch", _shares_session),
    # FTP servers delay the answer to a wrong password on purpose.
    ("ftp.brute_force", "tcp.slow_response", _shares_session),
    ("ftp.logon_failure", "tcp.slow_response", _shares_session),
    # A scan's probes are refused, unanswered, reset or met with ICMP errors.
    *((scan, symptom, _shares_session) for scan in ("scan.port_scan", "scan.address_scan")
      for symptom in ("tcp.connection_refused", "tcp.syn_unanswered", "tcp.retransmissions", "tcp.reset",
                      "icmp.unreachable")),
    # z/OS discarded the packets the other side then sent again.
    ("ip.discarded", "tcp.syn_unanswered", _shares_session),
    ("ip.discarded", "tcp.retransmissions", _shares_session),
    ("ip.routing_loop", "dns.no_response", _quoted_server),
    # An expired certificate makes the client abort the handshake with an alert.
    ("tls.certificate_expired", "tls.handshake_failure", _same_session),
    ("tls.certificate_expired", "tls.alert", _same_session),
    ("tls.handshake_failure", "tls.alert", _same_session),
    # udhcpc's ARP probe found the offered address taken: the conflict is why it declined.
    ("dhcp.decline", "arp.duplicate_address", lambda c, s: c.details.get("address") == s.details.get("ip")),
)
"""(cause rule, symptom rule, match): a symptom a cause explains is listed
under the cause instead of as a finding of its own."""


def _nest(found: list[Finding]) -> list[Finding]:
    nested: set[int] = set()
    for cause_rule, symptom_rule, match in EXPLAINS:
        for c in found:
            if c.rule != cause_rule:
                continue
            for s in found:
                if s.rule == symptom_rule and id(s) not in nested and s is not c and match(c, s):
                    c.symptoms.append(s)
                    nested.add(id(s))
    return [f for f in found if id(f) not in nested]


def diagnose(ev: Evidence, rules: list[Rule], settings: dict[str, dict[str, float]],
             min_severity: str = "info", app: Callable[[], list[pa.Table]] | None = None) -> list[Finding]:
    """Every finding of ``rules`` on ``ev``, deduplicated, symptoms nested
    under their causes, and in report order.

    ``app``: ``ev`` is app-pending and this gives the application columns
    (tables of the same rows; waiting for them).  Rules that do not read them run first, the others
    once they are there.
    """
    found: list[Finding] = []
    later: list[Rule] = []
    if app is not None:
        from tracedoc.decode.table import APP_COLUMNS

        for rule in rules:
            if not APP_COLUMNS.isdisjoint(rule.columns()):
                later.append(rule)
                continue
            try:
                found += rule.run(ev, settings[rule.id])
            except Pending:
                later.append(rule)
        ev.complete(app())
    else:
        later = rules
    for rule in later:
        found += rule.run(ev, settings[rule.id])
    return report(found, min_severity)


def report(found: list[Finding], min_severity: str = "info") -> list[Finding]:
    """Findings deduplicated (same ``key``), symptoms nested under their
    causes, those at or above ``min_severity``, in report order."""
    floor = severity_rank(min_severity)
    seen: dict[str, Finding] = {}
    for f in found:
        if f.key not in seen:
            seen[f.key] = f
    top = [f for f in _nest(list(seen.values())) if severity_rank(f.severity) >= floor]
    return sorted(top, key=lambda f: (CATEGORIES.index(f.category), -severity_rank(f.severity),
                                      f.frames[0] if f.frames else 0, f.rule))
