"""Fixtures of the network lab: ``net``, a :class:`~tests.lab.net.Network` in the
test's tmp_path, torn down after the test whatever its outcome.

The lab needs root (network namespaces) and Debian's programs (scripts/setup.sh
installs them).  Outside CI, no root or a missing tool skips the test with the
reason; in CI (``CI`` set) it fails, because CI runs as root after setup.
Scenario tests that need more programs call ``require(tools=[...])`` first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.lab.net import Network
from tests.live.conftest import require, require_netns, unavailable

__all__ = ["LAB_TOOLS", "require", "unavailable"]

# Always needed: namespaces and links (ip, ss), the capture (tcpdump), the evidence (tshark).
LAB_TOOLS = ("ip", "ss", "tcpdump", "tshark")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lab: builds a network of namespaces, injects a fault, diagnoses the capture "
                   "(root, Debian servers/clients)")


@pytest.fixture(scope="session")
def lab_ok() -> None:
    """Namespaces can be made here and the base tools are installed (else skip; fail in CI)."""
    require_netns(LAB_TOOLS)


@pytest.fixture
def net(lab_ok: None, tmp_path: Path) -> Iterator[Network]:
    """An empty network in tmp_path/lab; every namespace and process removed after the test."""
    with Network(tmp_path / "lab") as n:
        yield n
