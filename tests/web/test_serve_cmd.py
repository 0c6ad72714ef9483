"""``tracedoc serve`` as a process: where it listens, the token it prints,
and what a request without the token gets."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(tmp: Path, *args: str) -> tuple[subprocess.Popen, int]:  # type: ignore[type-arg]
    port = _free_port()
    # The command's module, as `tracedoc serve` runs it (main.py may not register it yet).
    cmd = [sys.executable, "-m", "tracedoc.cli.serve_cmd", "--inventory", str(tmp / "inv.duckdb"),
           "--port", str(port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(300):
        if proc.poll() is not None:
            raise AssertionError(f"serve exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("serve did not come up")


def _stop(proc: subprocess.Popen) -> str:  # type: ignore[type-arg]
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


def _get(url: str, headers: dict[str, str] | None = None) -> int:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def _listening(port: int) -> list[str]:
    """The IPv4 addresses a socket listens on at ``port`` (from /proc/net/tcp)."""
    tcp = Path("/proc/net/tcp")
    if not tcp.is_file():
        pytest.skip("no /proc/net/tcp")
    out = []
    for line in tcp.read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, p = local.split(":")
        if int(p, 16) == port and state == "0A":   # 0A: LISTEN
            out.append(socket.inet_ntoa(bytes.fromhex(addr)[::-1]))
    return out


@pytest.fixture
def exposed(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, int]]:  # type: ignore[type-arg]
    proc, port = _serve(tmp_path, "--host", "0.0.0.0")
    yield proc, port
    _stop(proc)


def test_non_loopback_prints_a_token_and_requires_it(exposed: tuple[subprocess.Popen, int]) -> None:  # type: ignore[type-arg]
    proc, port = exposed
    base = f"http://127.0.0.1:{port}"
    assert _listening(port) == ["0.0.0.0"]
    assert _get(base + "/traces") == 401
    assert _get(base + "/traces", {"Authorization": "Bearer not-the-token"}) == 401
    err = _stop(proc)
    m = re.search(r"token \(generated\): (\S+)", err)
    assert m, err
    assert f"?token={m.group(1)}" in err


def test_token_given_is_required_and_works(tmp_path: Path) -> None:
    proc, port = _serve(tmp_path, "--host", "0.0.0.0", "--token", "a-long-enough-token")
    try:
        base = f"http://127.0.0.1:{port}"
        assert _get(base + "/traces") == 401
        assert _get(base + "/traces", {"Authorization": "Bearer a-long-enough-token"}) == 200
        assert _get(base + "/traces", {"Cookie": "tracedoc_token=a-long-enough-token"}) == 200
    finally:
        err = _stop(proc)
    assert "generated" not in err


def test_loopback_by_default(tmp_path: Path) -> None:
    proc, port = _serve(tmp_path)
    try:
        assert _get(f"http://127.0.0.1:{port}/traces") == 200
        assert _listening(port) == ["127.0.0.1"]
    finally:
        err = _stop(proc)
    assert f"serving on http://127.0.0.1:{port}/" in err and "token" not in err


def test_a_short_token_is_refused(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "tracedoc.cli.serve_cmd", "--inventory", str(tmp_path / "i.duckdb"),
                        "--token", "short"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "--token" in r.stderr
