"""Fixtures for the live tests: a namespace lab, tools present or a clear skip.

These tests need root (network namespaces) and real programs from Debian
(scripts/setup.sh installs them).  Outside CI a missing tool or no root
skips the test with the reason; in CI (``CI`` set) it fails, because setup
installs everything and CI runs as root.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.netns import Lab, missing_tools, netns_works

# Always needed: namespaces and links (ip, ss from iproute2), the capture.
BASE_TOOLS = ("ip", "ss", "tcpdump")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "live: makes real traffic in network namespaces (root, Debian servers/clients)")


def unavailable(reason: str) -> None:
    """Skip the test, or fail it in CI where setup should have provided everything."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: a failure in CI, which runs as root after scripts/setup.sh "
                    "installed every tool these tests use", pytrace=False)
    pytest.skip(reason)


def require(tools: tuple[str, ...] | list[str] = (), modules: tuple[str, ...] | list[str] = ()) -> None:
    """The programs on PATH and Python modules a test needs, else skip (fail in CI)."""
    gone = missing_tools(list(tools))
    gone += [m for m in modules if importlib.util.find_spec(m) is None]
    if gone:
        unavailable(f"not installed: {', '.join(gone)}")


def require_netns(tools: tuple[str, ...] | list[str]) -> None:
    """Namespaces can be made here and ``tools`` are on PATH, else skip (fail in CI)."""
    why = netns_works()
    if why:
        unavailable(why)
    require(tools)


@pytest.fixture(scope="session")
def netns_ok() -> None:
    require_netns(BASE_TOOLS)


@pytest.fixture
def lab(netns_ok: None, tmp_path: Path) -> Iterator[Lab]:
    """Server and client namespaces joined by a veth pair; removed after the test."""
    with Lab(tmp_path / "lab") as lab:
        yield lab
