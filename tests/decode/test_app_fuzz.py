"""Every application decoder, handed any bytes from either side, yields
fields or a named anomaly, never an exception (the pass's safety net for
decoder bugs, "decoder failed", must never be what catches it)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support.app_checks import assert_fields_or_anomaly, dissect_alone
from tracedoc.decode import app, dispatch
from tracedoc.decode.app import AppInfo

MODULES = [m for m in dispatch.APP_PROTOCOLS if m is not app]


def _ports(mod) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    out = [("udp", p) for p, m in dispatch.UDP_APPS.items() if m is mod]
    out += [("tcp", p) for p, m in dispatch.TCP_APPS.items() if m is mod]
    return out or [("tcp", 0)]


def test_every_application_module_is_reachable() -> None:
    for mod in MODULES:
        reachable = (any(m is mod for m in dispatch.UDP_APPS.values())
                     or any(m is mod for m in dispatch.TCP_APPS.values())
                     or mod in dispatch.UDP_HEURISTICS or mod in dispatch.TCP_HEURISTICS)
        assert reachable, f"{mod.NAME} is declared but never dispatched to"


@pytest.mark.skipif(not MODULES, reason="no application decoders registered")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_bytes_give_fields_or_a_named_anomaly(data) -> None:  # type: ignore[no-untyped-def]
    mod = data.draw(st.sampled_from(MODULES))
    transport, port = data.draw(st.sampled_from(_ports(mod)))
    payload = data.draw(st.binary(min_size=1, max_size=600))  # the pass never hands over empty payloads
    server_side = data.draw(st.booleans())
    sp, dp = (port, 40000) if server_side else (40000, port)
    # The decoder itself raises nothing but Truncated, and through the pass
    # the message has fields or a named fault.
    dissect_alone(mod, payload, AppInfo(transport, sp, dp, port, {}, 1), data.draw(st.booleans()))
    assert_fields_or_anomaly(mod, payload, AppInfo(transport, sp, dp, port, {}, 1))
