"""What every application decoder must do with any bytes (issue 4's
property tests): raise nothing but Truncated, and through the application
pass yield fields or a named anomaly, never the pass's "decoder failed"
safety net."""

from __future__ import annotations

from types import ModuleType

from tracedoc.decode.app import AppDecoder, AppInfo
from tracedoc.decode.apptree import Tree, Truncated


def dissect_alone(mod: ModuleType, payload: bytes, info: AppInfo, nodes: bool = True) -> None:
    """The decoder on its own raises nothing but Truncated."""
    try:
        mod.dissect(payload, Tree(0, nodes, mod.NAME), info)
    except Truncated:
        pass


def assert_fields_or_anomaly(mod: ModuleType, payload: bytes, info: AppInfo, detail: bool = False) -> Tree:
    """Through the pass the message has fields or a named fault."""
    tree = AppDecoder({1} if detail else None)._dissect(mod, payload, 0, info, 1)
    assert tree.values or tree.anomaly is not None, f"{mod.NAME}: {payload!r} gave neither fields nor an anomaly"
    if tree.anomaly is not None:
        assert "decoder failed" not in tree.anomaly[0], tree.anomaly
    return tree


def check_any_bytes(mod: ModuleType, payload: bytes, info: AppInfo, nodes: bool = True) -> None:
    """Both of the above, each with its own copy of ``info``'s state."""
    dissect_alone(mod, payload, _fresh(info), nodes)
    assert_fields_or_anomaly(mod, payload, _fresh(info))


def _fresh(info: AppInfo) -> AppInfo:
    from dataclasses import replace

    return replace(info, state=dict(info.state))
