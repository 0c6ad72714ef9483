"""Fixtures for the browser tests: a real ``tracedoc serve`` process and a
real headless Chromium driven by Playwright.

The browser is Debian's ``chromium`` (scripts/setup.sh installs it;
Playwright's own browser downloads are never used).  Outside CI a missing
``chromium`` or ``playwright`` skips the tests with the reason; in CI
(``CI`` set) it fails them, because setup installs both.

Screenshots and other artifacts go under ``$TRACEDOC_ARTIFACTS`` when set,
else under the test's ``tmp_path``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.command import tracedoc_command
from tests.support.corpus import CORPUS

FTP = CORPUS / "zeek" / "testing" / "btest" / "Traces" / "ftp"
FTP_CAPTURE = FTP / "bruteforce.pcap"
"""606 packets, 210 of them FTP (more than one Packet Summary page of 200),
30 FTP sessions and a clear Exception Report (an FTP brute force with its
logon failures and slow responses under it, window-scaling notes)."""


def unavailable(reason: str) -> None:
    """Skip the test, or fail it in CI where setup should have provided everything
    (the pattern of tests/live/conftest.py)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: a failure in CI, where scripts/setup.sh installs Debian's chromium "
                    "and the test extra installs playwright", pytrace=False)
    pytest.skip(reason)


def chromium_path() -> str | None:
    return shutil.which("chromium")


def cli(*args: str, timeout: float = 120) -> str:
    """``tracedoc ARGS`` as a user runs it; its stdout."""
    r = subprocess.run([*tracedoc_command(), *args], check=False, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"tracedoc {' '.join(args)}: {r.stderr}"
    return r.stdout


def tshark_frames(path: Path, flt: str | None = None) -> list[int]:
    """The frame numbers tshark shows (with ``-Y flt``)."""
    if shutil.which("tshark") is None:
        unavailable("not installed: tshark")
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "frame.number"]
    if flt:
        cmd += ["-Y", flt]
    r = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [int(x) for x in r.stdout.split()]


def artifacts_dir(tmp_path: Path, name: str) -> Path:
    """Where a test's artifacts go: ``$TRACEDOC_ARTIFACTS/browser/NAME``, else ``tmp_path/NAME``."""
    base = os.environ.get("TRACEDOC_ARTIFACTS")
    d = Path(base) / "browser" / name if base else tmp_path / name
    d.mkdir(parents=True, exist_ok=True)
    return d


# -- the server ---------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    trace_dir: Path
    inventory: Path
    log: Path
    proc: subprocess.Popen  # type: ignore[type-arg]

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return int(r.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def start_server(tmp: Path) -> Server:
    """``tracedoc serve`` on a free loopback port, with an inventory and a
    trace directory under ``tmp``; returns once ``/`` answers 200."""
    trace_dir = tmp / "traces"
    trace_dir.mkdir(parents=True, exist_ok=True)
    inventory = tmp / "inventory.duckdb"
    last = ""
    for attempt in range(3):   # another process may take the free port before the server binds it
        port = _free_port()
        log = tmp / f"serve-{attempt}.log"
        cmd = [*tracedoc_command(), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--inventory", str(inventory), "--trace-dir", str(trace_dir), "--max-upload-mb", "16"]
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        server = Server(f"http://127.0.0.1:{port}", trace_dir, inventory, log, proc)
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                if _answers(server.url + "/"):
                    return server
                time.sleep(0.1)
        except BaseException:
            _stop(proc)
            raise
        _stop(proc)
        last = server.log_text()
        if "address already in use" not in last.lower():
            break
    raise AssertionError(f"tracedoc serve did not come up:\n{last}")


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("serve"))
    try:
        yield s
    finally:
        _stop(s.proc)


# -- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium under Playwright (never a downloaded browser).

    Package-scoped: Playwright's sync API keeps an asyncio loop running while
    it is started, which would break tests after these that call asyncio.run().
    """
    exe = chromium_path()
    missing = [] if exe else ["chromium (Debian package)"]
    if importlib.util.find_spec("playwright") is None:
        missing.append("playwright (pip, the test extra)")
    if missing:
        unavailable(f"not installed: {', '.join(missing)}")
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    args = ["--disable-dev-shm-usage"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")   # Chromium refuses to sandbox as root
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=exe, args=args, headless=True)
    except PlaywrightError as e:
        pw.stop()
        unavailable(f"chromium at {exe} does not start under Playwright: {e}")
    try:
        yield b
    finally:
        b.close()
        pw.stop()


@dataclass
class UI:
    """A browser page on the server, with what it reported on the side."""

    page: Any
    server: Server
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def goto(self, path: str) -> Any:
        r = self.page.goto(self.server.url + path)
        assert r is not None and r.ok, f"GET {path}: {r.status if r else 'no response'}"
        return r

    def frames_shown(self) -> list[int]:
        """The frame numbers of the Packet Summary rows in the page, in order."""
        return [int(x) for x in self.page.eval_on_selector_all(
            "#summary-rows tr.packet-row", "rows => rows.map(r => r.dataset.frame)")]

    def quiet(self) -> None:
        """No dialog opened, no script error, no console error (a CSP refusal shows as one)."""
        assert not self.dialogs, f"dialogs opened: {self.dialogs}"
        assert not self.errors, f"errors in the page: {self.errors}"


def on_console(u: UI, m: Any) -> None:
    # A failed request is reported (with its address) by on_response.
    if m.type == "error" and not m.text.startswith("Failed to load resource"):
        u.errors.append(f"console {m.type}: {m.text}")


def on_response(u: UI, r: Any) -> None:
    # The browser asks for /favicon.ico on its own; the workbench has none.
    if r.status >= 400 and urlsplit(r.url).path != "/favicon.ico":
        u.errors.append(f"HTTP {r.status}: {r.request.method} {r.url}")


@pytest.fixture
def ui(browser: Any, server: Server) -> Iterator[UI]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    u = UI(page, server)

    def on_dialog(d: Any) -> None:
        u.dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda e: u.errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: on_console(u, m))
    page.on("response", lambda r: on_response(u, r))
    try:
        yield u
    finally:
        context.close()
