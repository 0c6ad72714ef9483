"""A workbench over a temporary inventory, driven through FastAPI's TestClient."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.command import tracedoc_command
from tests.support.corpus import CORPUS

FTP = CORPUS / "zeek" / "testing" / "btest" / "Traces" / "ftp"
HOST = "http://127.0.0.1:8765"


def corpus_file(name: str) -> Path:
    p = FTP / name
    if not p.is_file():
        pytest.skip(f"corpus capture {p} not found")
    return p


def need_tshark() -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")


def cli(*args: str) -> str:
    """``tracedoc ARGS`` as a user runs it; its stdout."""
    r = subprocess.run([*tracedoc_command(), *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


@dataclass
class Bench:
    client: Any
    inv: Any
    trace_dir: Path
    upload_dir: Path

    def add(self, path: Path) -> int:
        """Add ``path`` (copied into the trace directory) through the web form; its trace id."""
        dest = self.trace_dir / path.name
        if not dest.exists():
            shutil.copyfile(path, dest)
        r = self.client.post("/traces/add", data={"path": str(dest)}, follow_redirects=False)
        assert r.status_code == 303, r.text
        found = [t for t in self.inv.list() if Path(t.path).name == path.name]
        assert found, "the trace is not in the inventory"
        return int(found[0].id)


def make_bench(tmp: Path, **config: Any) -> Bench:
    from fastapi.testclient import TestClient

    from tracedoc.store import Inventory
    from tracedoc.web.app import WebConfig, build

    trace_dir = tmp / "traces"
    trace_dir.mkdir()
    upload_dir = tmp / "uploads"
    inv = Inventory(tmp / "inventory.duckdb")
    cfg = WebConfig(trace_dirs=[trace_dir], upload_dir=upload_dir, **config)
    client = TestClient(build(cfg, inv), base_url=HOST, raise_server_exceptions=True)
    return Bench(client, inv, trace_dir, upload_dir)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    b = make_bench(tmp_path_factory.mktemp("web"))
    with b.client:
        yield b
