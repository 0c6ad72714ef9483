"""``dhcp.nak``: a server refused a client's request for an address (DHCPNAK)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow.compute as pc

from tracedoc.analyze.diagnose import Evidence
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Rule
from tracedoc.analyze.rules.dhcp._common import ACK, NAK, REQUEST, messages, plural


def _answered_requests(ev: Evidence) -> dict[int, int]:
    """Response frame -> request frame of the DHCP transactions."""
    t = ev.transactions
    if t.num_rows == 0:
        return {}
    t = t.filter(pc.and_(pc.equal(t["type"], "dhcp"), pc.is_valid(t["response_frame"])))
    return dict(zip(t["response_frame"].to_pylist(), t["request_frame"].to_pylist()))


def _request(requests: list[dict[str, Any]], by_frame: dict[int, dict[str, Any]], asked: dict[int, int],
             n: dict[str, Any]) -> dict[str, Any] | None:
    """The Request the NAK answers: its transaction's, else the latest Request
    of the client with the NAK's xid."""
    got = by_frame.get(asked.get(n["frame"], -1))
    if got is not None:
        return got
    same = [r for r in requests if r["frame"] < n["frame"] and r["xid"] == n["xid"] and r["mac"] == n["mac"]]
    return same[-1] if same else None


def nak(ev: Evidence, p: dict[str, float]) -> list[Finding]:
    msgs = messages(ev, (REQUEST, ACK, NAK))
    naks = [m for m in msgs if m["type"] == NAK]
    if not naks:
        return []
    requests = [m for m in msgs if m["type"] == REQUEST]
    by_frame = {r["frame"]: r for r in requests}
    asked = _answered_requests(ev)
    groups: dict[tuple, list[tuple[dict[str, Any], dict[str, Any] | None]]] = defaultdict(list)
    for n in naks:
        groups[(n["mac"], n["server_id"] or n["src"])].append((n, _request(requests, by_frame, asked, n)))
    out = []
    for (mac, server), pairs in groups.items():
        frames = [f for n, r in pairs for f in (n["frame"], r["frame"] if r else None) if f is not None]
        # The address asked for: option 50 (SELECTING, INIT-REBOOT), else the
        # client's own address (RENEWING, REBINDING; RFC 2131 4.3.2).
        wanted = list(dict.fromkeys(a for _, r in pairs if r for a in [r["requested"] or r["ciaddr"]] if a))
        texts = list(dict.fromkeys(n["message"] for n, _ in pairs if n["message"]))
        last = max(n["frame"] for n, _ in pairs)
        # A client that got an ACK after the NAK recovered (it moved and took a new lease).
        recovered = any(m["type"] == ACK and m["mac"] == mac and m["frame"] > last for m in msgs)
        asked_for = f" for {', '.join(wanted)}" if wanted else ""
        said = f": \"{texts[0]}\"" if texts else ""
        out.append(Finding(
            "dhcp.nak", "Application Errors", "warning" if recovered else "error",
            f"DHCP server {server} refused (NAK) {plural(len(pairs), 'request')} of client {mac}{asked_for}{said}",
            "The client asked to use an address and the server said no (DHCPNAK, RFC 2131 4.3.2): the address "
            "is wrong for the client's subnet (the client moved, or a relay forwarded it from another network), "
            "its lease expired or was given to another client, or the server's configuration changed. The "
            "client must drop the address and start over with DHCPDISCOVER"
            + ("; here it then got a lease." if recovered else "; the trace shows no lease after the NAK."),
            f"Compare the address the client asked for with the scope {server} serves on that subnet (and the "
            "relay's giaddr); if the client did not move, check the server's lease database and "
            "configuration, and whether another DHCP server is answering.",
            frames, ev.sessions_of(frames),
            {"client_mac": mac, "server": server, "naks": len(pairs), "requested": wanted, "messages": texts,
             "recovered": recovered},
            key=f"dhcp.nak:{mac}:{server}"))
    return out


RULE = Rule("dhcp.nak", "Application Errors", "DHCP request refused (NAK)", (), nak)
