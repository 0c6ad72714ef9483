"""``snmp.no_response``: SNMP requests (and their retries) an agent never
answered, per agent."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow.compute as pc

from tracedoc.analyze.columns import valid, values
from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Param, Rule

_REQUESTS = (0, 1, 3, 5, 6)
"""GetRequest, GetNextRequest, SetRequest, GetBulkRequest, InformRequest: the
PDUs an agent answers (the Confirmed Class, RFC 3416 2.8)."""

_VERSIONS = {0: "v1", 1: "v2c", 3: "v3"}




def _port(ev: Evidence, rows: np.ndarray, side: str) -> list:
    udp = ev.take(f"udp.{side}port", rows)
    tcp = ev.take(f"tcp.{side}port", rows)
    return [u if u is not None else t for u, t in zip(udp, tcp)]


def no_response(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    t = ev.transactions
    if t.num_rows == 0:
        return []
    lost = t.filter(pc.and_(pc.equal(t["type"], "snmp"), pc.is_null(t["response_frame"]))).to_pylist()
    if not lost:
        return []
    # Every request frame of the unanswered ones, retries included: a request
    # PDU of the same conversation with the same request-id (how the
    # transactions count a retry).  An ICMP error quoting a request decodes
    # the request's fields too; it is no request of its own.
    quoted = valid(ev.tbl, "icmp.type") | valid(ev.tbl, "icmpv6.type")
    pdu, has = values(ev.tbl, "snmp.data")
    rows = np.flatnonzero(has & np.isin(pdu, _REQUESTS) & ~quoted)
    frames = ev.take("frame.number", rows)
    ids = ev.take("snmp.request_id", rows)
    sport, dport = _port(ev, rows, "src"), _port(ev, rows, "dst")
    src, dst = ev.addresses
    row_of = dict(zip(frames, range(len(rows))))
    conv: dict[tuple, list[int]] = defaultdict(list)
    for i, r in enumerate(rows.tolist()):
        conv[(src[r], sport[i], dst[r], dport[i], ids[i])].append(frames[i])
    versions = ev.take("snmp.version", rows)
    communities = ev.take("snmp.community", rows)
    agents: dict[tuple, list[dict]] = defaultdict(list)
    for x in lost:
        agents[(x["server"], x["server_port"])].append(x)
    out = []
    for (agent, port), txns in agents.items():
        fs: list[int] = []
        managers, vs, names = set(), set(), set()
        # A request in an ICMP error's quote is none of its own.
        txns = [x for x in txns if x["request_frame"] in row_of]
        for x in txns:
            at = row_of[x["request_frame"]]
            i, r = at, int(rows[at])
            k = (src[r], sport[i], dst[r], dport[i], ids[i])
            fs += [f for f in conv[k] if f >= x["request_frame"]][:1 + int(x["retries"] or 0)]
            managers.add(x["client"])
            if versions[i] is not None:
                vs.add(_VERSIONS.get(versions[i], str(versions[i])))
            if communities[i] is not None:
                names.add(communities[i])
        if not fs or len(fs) < p["min_requests"]:
            continue
        community = sorted(names)
        v12 = vs & {"v1", "v2c"}
        out.append(Finding(
            "snmp.no_response", "Application Errors", "error",
            f"SNMP agent {agent}:{port} never answered {len(fs)} request{'' if len(fs) == 1 else 's'}"
            + (f" (community {', '.join(repr(c) for c in community)})" if community else ""),
            "The manager's requests (and its retries) got no Response PDU in the trace: the agent is down or "
            "not listening on this address and port, a firewall drops the requests or the answers, or the "
            "agent rejects them without a word"
            + (" -- SNMPv1 and v2c agents silently drop a request whose community they do not know, and "
               "one from a manager their access rules do not allow." if v12 else "."),
            f"Check that the SNMP agent runs on {agent} and listens on UDP {port}"
            + (f", that community {', '.join(repr(c) for c in community)} is configured there for "
               f"{', '.join(sorted(str(m) for m in managers))}" if community else "")
            + ", and that a firewall between them passes SNMP; look for ICMP errors the requests drew.",
            fs, ev.sessions_of(fs),
            {"server": agent, "server_port": port, "clients": sorted(str(m) for m in managers),
             "requests": len(txns), "retries": sum(int(x["retries"] or 0) for x in txns),
             "versions": sorted(vs), "communities": community},
            key=f"snmp.no_response:{agent}:{port}"))
    return out


RULE = Rule("snmp.no_response", "Application Errors", "SNMP request never answered",
            (Param("min_requests", 1, "report an agent when at least this many requests to it (retries "
                                      "included) went unanswered"),), no_response)
