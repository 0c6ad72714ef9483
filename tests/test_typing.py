"""The package's annotations hold: mypy over src/tracedoc finds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_mypy_clean():
    api = pytest.importorskip("mypy.api", reason="mypy is not installed (scripts/setup.sh installs it)")
    out, err, status = api.run(["--config-file", str(REPO / "pyproject.toml"), str(REPO / "src" / "tracedoc")])
    assert status == 0, out + err
