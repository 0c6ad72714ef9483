"""The table views as Arrow tables, for the exports and the web UI.

``view_table(name, tbl)`` gives the rows the CLI view of the same name
prints, built by the same analysis functions the CLI command calls
(``tracedoc summary``, ``sessions``, ``sequence``, ``response-times``,
``hosts``, ``diagnose``), with the same ``-Y`` semantics per view: the
Packet Summary and the Session Summary keep the selected packets but infer
the local side from all of them; the Response Time Summary finds
transactions over the whole trace and keeps those with a selected request
or response; the IP Summary counts selected packets and the sessions that
have one; the Exception Report judges the selected packets.

The columns are those of the CLI's CSV and JSON output, typed so each
writer can show them as its format should:

- epoch times are ``timestamp[ns, UTC]`` (the CLI's JSON: epoch seconds;
  its CSV: the local clock time);
- elapsed times measured in nanoseconds are ``duration[ns]``; durations the
  analysis gives in seconds stay float seconds;
- lists (a session's tunnel parents, a host's protocols, a finding's
  frames) stay lists.

Table-wide facts (the local side, the sequence heading, the thresholds)
are in the schema metadata under ``tracedoc.*`` keys (:func:`table_meta`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracedoc.analyze.findings import Finding
from tracedoc.analyze.summary import LocalSide
from tracedoc.errors import TracedocError

VIEWS = ("summary", "sessions", "sequence", "response-times", "hosts", "findings")
"""The view names, in the order the exports list them."""

FINDING_COLUMNS = ["id", "parent", "rule", "category", "severity", "summary", "explanation", "action", "frames",
                   "sessions", "details", "settings"]
"""The Exception Report as rows: one per finding, depth first; a finding
another explains (a symptom nested under its cause) has the cause's ``id``
in ``parent``.  ``details`` and ``settings`` (the judging rule's parameters)
are JSON text."""

TIMESTAMP = pa.timestamp("ns", tz="UTC")
DURATION = pa.duration("ns")
META_PREFIX = "tracedoc."


class ViewError(TracedocError):
    """A view was asked for with options it cannot take (no such session,
    a bad ``--between`` endpoint, an unknown view ...).  ``param`` names
    the option at fault, for a CLI to point at."""

    def __init__(self, message: str, param: str | None = None) -> None:
        self.param = param
        super().__init__(message)


# -- which columns a view reads ------------------------------------------------------


def view_columns(names: Iterable[str]) -> list[str] | None:
    """The packet-table columns the views ``names`` read; None for all of
    them (the Packet Summary and the Sequence of Execution show every
    decoded message)."""
    from tracedoc.analyze import hosts, transactions
    from tracedoc.analyze.diagnose import diagnosis_columns
    from tracedoc.analyze.rules import all_rules
    from tracedoc.analyze.sessions import SESSION_COLUMNS

    cols: list[str] = []
    for name in names:
        _check_name(name)
        if name in ("summary", "sequence"):
            return None
        if name == "sessions":
            cols += SESSION_COLUMNS
        elif name == "response-times":
            cols += transactions.COLUMNS
        elif name == "hosts":
            cols += hosts.COLUMNS + SESSION_COLUMNS
        elif name == "findings":
            cols += diagnosis_columns(all_rules())
    return list(dict.fromkeys(cols))


def _check_name(name: str) -> None:
    if name not in VIEWS:
        raise ViewError(f"no view {name!r} (views: {', '.join(VIEWS)})", "view")


# -- helpers --------------------------------------------------------------------------


def _filter(flt: Any) -> Any:
    """A compiled display filter from a :class:`~tracedoc.filter.Filter`, its text, or None."""
    if flt is None or not isinstance(flt, str):
        return flt
    from tracedoc.filter import compile_filter

    return compile_filter(flt)


def _side(tbl: pa.Table, local: str | LocalSide | None) -> LocalSide:
    from tracedoc.analyze.summary import infer_local

    if isinstance(local, LocalSide):
        return local
    if local:
        import ipaddress

        try:
            ipaddress.ip_network(local, strict=False)
        except ValueError:
            raise ViewError(f"'{local}' is not an IP address or network", "local") from None
    return infer_local(tbl, local)


def _mask(flt: Any, tbl: pa.Table) -> pa.Array:
    return pa.array(np.asarray(flt(tbl), dtype=bool))


def as_timestamps(tbl: pa.Table, *names: str) -> pa.Table:
    """Columns of epoch nanoseconds as ``timestamp[ns, UTC]``."""
    for name in names:
        i = tbl.schema.get_field_index(name)
        tbl = tbl.set_column(i, name, pc.cast(pc.cast(tbl[name], pa.int64()), TIMESTAMP))
    return tbl


def as_durations(tbl: pa.Table, *names: str) -> pa.Table:
    """Columns of nanoseconds as ``duration[ns]``."""
    for name in names:
        i = tbl.schema.get_field_index(name)
        tbl = tbl.set_column(i, name, pc.cast(pc.cast(tbl[name], pa.int64()), DURATION))
    return tbl


def with_meta(tbl: pa.Table, **meta: str) -> pa.Table:
    """``tbl`` with ``tracedoc.<key>`` schema metadata."""
    old = dict(tbl.schema.metadata or {})
    old.update({(META_PREFIX + k).encode(): v.encode() for k, v in meta.items()})
    return tbl.replace_schema_metadata(old)


def table_meta(tbl: pa.Table) -> dict[str, str]:
    """The ``tracedoc.*`` metadata of a view table, without the prefix."""
    out: dict[str, str] = {}
    for k, v in (tbl.schema.metadata or {}).items():
        key = k.decode("utf-8", "replace")
        if key.startswith(META_PREFIX):
            out[key[len(META_PREFIX):]] = v.decode("utf-8", "replace")
    return out


def _limit(tbl: pa.Table, limit: int | None) -> pa.Table:
    return tbl if limit is None else tbl.slice(0, max(limit, 0))


# -- the views ------------------------------------------------------------------------


def view_table(name: str, tbl: pa.Table, local: str | LocalSide | None = None, **opts: Any) -> pa.Table:
    """The rows of view ``name`` for packet table ``tbl``.

    ``tbl`` holds at least :func:`view_columns` ``([name])`` (and the
    filter's).  ``local``: the local side (CIDR text or a
    :class:`LocalSide`); inferred when None.  Options, each as the CLI
    command's of the same name:

    - every view: ``flt`` (a display filter, compiled or its text);
    - summary: ``limit``;
    - sessions: ``udp_timeout``, ``limit``;
    - sequence: ``session`` (a SID) or ``between`` (two endpoints,
      ``ADDRESS[:PORT]`` text or :class:`~tracedoc.analyze.sequence.Endpoint`),
      ``relative``;
    - response-times: ``thresholds`` (``TYPE=SECONDS`` texts or a dict),
      ``by`` ("server" | "type" | None), ``part`` ("summary", the CLI's
      table and CSV; "exceeding" or "unanswered", its JSON's other lists);
    - hosts: ``hierarchy`` (the protocol hierarchy instead);
    - findings: ``min_severity``, ``overrides`` (``RULE.PARAM=VALUE`` texts).

    Raises :class:`ViewError` for options the view cannot take.
    """
    _check_name(name)
    flt = _filter(opts.pop("flt", None))
    if name == "summary":
        out = _summary(tbl, local, flt, **opts)
    elif name == "sessions":
        out = _sessions(tbl, local, flt, **opts)
    elif name == "sequence":
        out = _sequence(tbl, local, flt, **opts)
    elif name == "response-times":
        out = _response_times(tbl, flt, **opts)
    elif name == "hosts":
        out = _hosts(tbl, flt, **opts)
    else:
        found, conf = diagnose_findings(tbl, local, flt, **opts)
        out = findings_table(found, conf)
    return with_meta(out, view=name)


def _summary(tbl: pa.Table, local: str | LocalSide | None, flt: Any, limit: int | None = None) -> pa.Table:
    from tracedoc.analyze.summary import summary as build

    full = tbl
    if flt is not None:
        tbl = tbl.filter(_mask(flt, tbl))
    tbl = _limit(tbl, limit)
    # As ``tracedoc summary``: the local side from every packet, not only the shown ones.
    side = _side(full if flt is not None else tbl, local)
    rows = as_timestamps(build(tbl, side), "Timestamp")
    return with_meta(rows, local=side.describe())


def _sessions(tbl: pa.Table, local: str | LocalSide | None, flt: Any, udp_timeout: float | None = None,
              limit: int | None = None) -> pa.Table:
    from tracedoc.analyze.sessions import UDP_TIMEOUT, build_sessions

    timeout = UDP_TIMEOUT if udp_timeout is None else udp_timeout
    if not timeout > 0:
        raise ViewError("the UDP timeout must be more than 0", "udp_timeout")
    side = _side(tbl, local)
    if flt is not None:
        tbl = tbl.filter(_mask(flt, tbl))
    result = build_sessions(tbl, side, udp_timeout=timeout)
    rows = as_timestamps(_limit(result.table, limit), "start", "end")
    return with_meta(rows, local=side.describe())


def _endpoints(between: Sequence[Any]) -> tuple[Any, Any]:
    from tracedoc.analyze.sequence import Endpoint

    if len(between) != 2:
        raise ViewError("between takes two endpoints", "between")
    try:
        a, b = (e if isinstance(e, Endpoint) else Endpoint.parse(str(e)) for e in between)
    except ValueError as e:
        raise ViewError(str(e), "between") from None
    return a, b


def sequence_of(tbl: pa.Table, local: str | LocalSide | None, flt: Any = None, session: int | None = None,
                between: Sequence[Any] | None = None, relative: bool = False) -> Any:
    """The :class:`~tracedoc.analyze.sequence.Sequence` ``tracedoc sequence`` shows (for the ladder)."""
    from tracedoc.analyze.sequence import between as pick_between
    from tracedoc.analyze.sequence import sequence as build
    from tracedoc.analyze.sessions import build_sessions

    flt = _filter(flt)
    if (session is None) == (not between):
        raise ViewError("the sequence view needs a session (SID) or a pair of endpoints", "session")
    ends = _endpoints(between) if between else None
    side = _side(tbl, local)
    sessions = build_sessions(tbl, side)
    if ends is not None:
        select = pick_between(tbl, *ends)
    else:
        n = sessions.table.num_rows
        if session is None or not 1 <= session <= n:
            raise ViewError(f"no session {session} (the trace has {n})", "session")
        select = sessions.sid == session
    if flt is not None:
        select = select & np.asarray(flt(tbl), dtype=bool)
    count = len(np.unique(sessions.sid[select & (sessions.sid > 0)]))
    return build(tbl, side, select, relative, count)


def _sequence(tbl: pa.Table, local: str | LocalSide | None, flt: Any, session: int | None = None,
              between: Sequence[Any] | None = None, relative: bool = False) -> pa.Table:
    seq = sequence_of(tbl, local, flt, session, between, relative)
    rows = as_durations(as_timestamps(seq.rows, "Timestamp"), "Elapsed")
    return with_meta(rows, heading=seq.heading())


def _limits(thresholds: Any) -> dict[str, float]:
    from tracedoc.analyze.transactions import thresholds as parse

    try:
        if thresholds is None:
            return parse(())
        if isinstance(thresholds, dict):
            return parse(f"{k}={v}" for k, v in thresholds.items())
        return parse(thresholds)
    except ValueError as e:
        raise ViewError(str(e), "threshold") from None


def transactions_of(tbl: pa.Table, flt: Any = None) -> pa.Table:
    """The transaction table ``tracedoc response-times`` summarises: found
    over the whole trace, those whose request or response ``flt`` selects."""
    from tracedoc.analyze.transactions import transactions

    flt = _filter(flt)
    txns = transactions(tbl)
    if flt is None:
        return txns
    frames = pc.filter(tbl["frame.number"].combine_chunks(), _mask(flt, tbl))
    keep = pc.or_(pc.is_in(txns["request_frame"], value_set=frames),
                  pc.fill_null(pc.is_in(txns["response_frame"], value_set=frames), False))
    return txns.filter(keep)


def _response_times(tbl: pa.Table, flt: Any, thresholds: Any = None, by: str | None = None,
                    part: str = "summary") -> pa.Table:
    from tracedoc.analyze.transactions import exceeding, summarise

    limits = _limits(thresholds)
    if by not in (None, "server", "type"):
        raise ViewError(f"by must be 'server' or 'type', not {by!r}", "by")
    txns = transactions_of(tbl, flt)
    if part == "summary":
        out = summarise(txns, limits, by)
    elif part in ("exceeding", "unanswered"):
        out = exceeding(txns, limits) if part == "exceeding" else txns.filter(pc.is_null(txns["response_frame"]))
        out = as_durations(as_timestamps(out, "request_time"), "response_time")
    else:
        raise ViewError(f"part must be summary, exceeding or unanswered, not {part!r}", "part")
    return with_meta(out, thresholds=json.dumps(limits), part=part)


def _hosts(tbl: pa.Table, flt: Any, hierarchy: bool = False) -> pa.Table:
    from tracedoc.analyze.hosts import hosts as build_hosts
    from tracedoc.analyze.hosts import protocol_hierarchy
    from tracedoc.analyze.sessions import build_sessions

    keep = _mask(flt, tbl) if flt is not None else None
    shown = tbl.filter(keep) if keep is not None else tbl
    if hierarchy:
        return protocol_hierarchy(shown)
    sessions = build_sessions(tbl)
    stable = sessions.table
    if keep is not None:
        sids = np.unique(sessions.sid[np.asarray(keep.to_numpy(zero_copy_only=False), dtype=bool)])
        stable = stable.filter(pc.is_in(stable["sid"], value_set=pa.array(sids[sids > 0], pa.int64())))
    return as_timestamps(build_hosts(shown, stable), "first_seen", "last_seen")


def diagnose_findings(tbl: pa.Table, local: str | LocalSide | None = None, flt: Any = None,
                      min_severity: str = "info", overrides: Iterable[str] = ()
                      ) -> tuple[list[Finding], dict[str, dict[str, float]]]:
    """The findings ``tracedoc diagnose`` reports (nested, in report order)
    and the rule settings that judged them."""
    from tracedoc.analyze.diagnose import Evidence
    from tracedoc.analyze.diagnose import diagnose as run
    from tracedoc.analyze.findings import SEVERITIES
    from tracedoc.analyze.rules import all_rules, settings

    flt = _filter(flt)
    if min_severity not in SEVERITIES:
        raise ViewError(f"min_severity must be one of {', '.join(SEVERITIES)}", "min_severity")
    rules = all_rules()
    try:
        conf = settings(rules, list(overrides))
    except ValueError as e:
        raise ViewError(str(e), "set") from None
    side = _side(tbl, local)
    if flt is not None:
        tbl = tbl.filter(_mask(flt, tbl))
    return run(Evidence(tbl, side), rules, conf, min_severity), conf


def _clean(text: str) -> str:
    """Text Arrow can hold: a lone surrogate (bytes a decoder could not
    read, kept by ``surrogateescape``) becomes its ``\\udcXX`` escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _json_text(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


FINDINGS_SCHEMA = pa.schema([
    pa.field("id", pa.int64()), pa.field("parent", pa.int64()), pa.field("rule", pa.string()),
    pa.field("category", pa.string()), pa.field("severity", pa.string()), pa.field("summary", pa.string()),
    pa.field("explanation", pa.string()), pa.field("action", pa.string()),
    pa.field("frames", pa.list_(pa.int64())), pa.field("sessions", pa.list_(pa.int64())),
    pa.field("details", pa.string()), pa.field("settings", pa.string()),
])


def findings_table(found: list[Finding], conf: dict[str, dict[str, float]] | None = None) -> pa.Table:
    """Findings as rows (:data:`FINDING_COLUMNS`), symptoms after their cause."""
    rows: list[dict[str, Any]] = []
    conf = conf or {}

    def add(f: Finding, parent: int | None) -> None:
        fid = len(rows) + 1
        rows.append({"id": fid, "parent": parent, "rule": _clean(f.rule), "category": f.category,
                     "severity": f.severity, "summary": _clean(f.summary), "explanation": _clean(f.explanation),
                     "action": _clean(f.action), "frames": list(f.frames), "sessions": list(f.sessions),
                     "details": _json_text(f.details), "settings": _json_text(conf.get(f.rule, {}))})
        for s in f.symptoms:
            add(s, fid)

    for f in found:
        add(f, None)
    return pa.Table.from_pylist(rows, schema=FINDINGS_SCHEMA)
