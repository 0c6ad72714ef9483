"""Real traffic between Linux network namespaces, captured with tcpdump.

A :class:`Lab` is two namespaces, a server and a client, joined by a veth
pair (one Ethernet link, IPv4 only, offloads off so the capture holds the
segments as sent, with real checksums).  Servers run in one namespace,
clients in the other, tcpdump on the client's end of the link writes a pcap::

    with Lab(tmp_path) as lab:
        lab.spawn(lab.server, ["dnsmasq", "--no-daemon", ...], "dns")
        lab.wait_listening(lab.server, "udp", 53)
        with lab.capture(tmp_path / "dns.pcap"):
            lab.run(lab.client, ["dig", f"@{lab.server.ip}", "known.test"])

Everything started through the lab (servers, tcpdump, extra hosts) is
stopped and every namespace deleted when the ``with`` block ends, whether it
ends normally or by an exception; namespaces left by an earlier run that was
killed (its process is gone) are removed on the next start.  Needs root
(``ip netns``), ``ip`` and ``tcpdump``; ``ethtool`` is used when present.

The same lab serves fault-injection tests: ``lab.run(lab.server, ["nft",
...])`` or ``["tc", "qdisc", ...]`` act on the server's side of the link only.

Running, spawning, waiting, capturing and the teardown are :class:`Namespaces`',
which tests/lab's ``Network`` (a network of many namespaces) shares.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Generic, Iterator, Protocol, Self, Sequence, TypeVar

PREFIX = "tdlive"          # namespace names: tdlive-<pid>-<n>-<role>


class LabError(RuntimeError):
    """The lab could not be built or a step in it failed (with its output)."""


def is_root() -> bool:
    return os.geteuid() == 0


def missing_tools(names: Sequence[str]) -> list[str]:
    return [n for n in names if shutil.which(n) is None]


def netns_works() -> str | None:
    """None when namespaces can be made here, else why not."""
    if not is_root():
        return "needs root (ip netns)"
    if shutil.which("ip") is None:
        return "ip (iproute2) is not installed"
    name = f"{PREFIX}-{os.getpid()}-probe"
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if r.returncode != 0:
        return f"cannot create a network namespace: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


@dataclass
class Host:
    """One end of the link: a namespace, its interface and IPv4 address."""
    ns: str
    ifname: str
    ip: str | None
    mac: str = ""


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    name: str
    log: Path
    _fh: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if check and r.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ns_list() -> list[str]:
    r = _ip("netns", "list", check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def _kill_ns_processes(ns: str) -> None:
    """SIGTERM, then SIGKILL, whatever still runs in our namespace ``ns``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        r = _ip("netns", "pids", ns, check=False)
        pids = [int(p) for p in r.stdout.split() if p.isdigit()]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and any(_pid_alive(p) for p in pids):
            time.sleep(0.05)


def remove_stale_of(prefix: str) -> list[str]:
    """Delete the namespaces named ``<prefix>-<pid>-...`` whose creating process has gone; their names."""
    removed = []
    for ns in _ns_list():
        parts = ns.split("-")
        if len(parts) >= 3 and parts[0] == prefix and parts[1].isdigit():
            pid = int(parts[1])
            if pid != os.getpid() and not _pid_alive(pid):
                _kill_ns_processes(ns)
                _ip("netns", "del", ns, check=False)
                removed.append(ns)
    return removed


def remove_stale() -> None:
    """Delete namespaces of ours whose creating process has gone."""
    remove_stale_of(PREFIX)


class InNamespace(Protocol):
    """Anything that lives in one namespace: a :class:`Host` here, a ``Node`` of tests/lab."""

    @property
    def ns(self) -> str: ...


H = TypeVar("H", bound=InNamespace)


class Namespaces(Generic[H]):
    """Namespaces a test made and the processes it started in them, for :class:`Lab` and
    tests/lab's ``Network``: commands, background processes, waits, tcpdump, and teardown.

    A subclass makes the namespaces (:meth:`_new_ns`) in its ``start`` and may
    name its hosts in error messages (:meth:`_where`; by default the namespace).
    """

    def __init__(self, workdir: Path | str) -> None:
        self.workdir = Path(workdir)
        self.namespaces: list[str] = []
        self.procs: list[Proc] = []

    # -- life cycle -------------------------------------------------------------
    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stop everything started here and delete the namespaces (never raises)."""
        for p in reversed(self.procs):
            with contextlib.suppress(Exception):
                self.stop(p)
        for ns in reversed(self.namespaces):
            with contextlib.suppress(Exception):
                _kill_ns_processes(ns)
            with contextlib.suppress(Exception):
                _ip("netns", "del", ns, check=False)
        self.namespaces.clear()

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _new_ns(self, ns: str) -> None:
        """``ip netns add ns``, deleted again by :meth:`close`."""
        _ip("netns", "add", ns)
        self.namespaces.append(ns)

    def _link_up(self, host: H, ifname: str) -> str:
        """Offloads off, ``ifname`` up in ``host``; its MAC address."""
        if shutil.which("ethtool"):
            # Real on-the-wire segments: no TSO/GSO super-packets, real checksums.
            self.run(host, ["ethtool", "-K", ifname, "tx", "off", "rx", "off", "tso", "off",
                            "gso", "off", "gro", "off"], check=False)
        self.run(host, ["ip", "link", "set", ifname, "up"])
        return self.run(host, ["cat", f"/sys/class/net/{ifname}/address"]).stdout.strip()

    def _where(self, host: H) -> str:
        """How error messages name ``host``."""
        return host.ns

    # -- commands ---------------------------------------------------------------
    def _run_in(self, ns: str, where: str, argv: Sequence[str], timeout: float, check: bool,
                input: str | None) -> subprocess.CompletedProcess[str]:
        try:
            r = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                               timeout=timeout, input=input,
                               stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise LabError(f"{' '.join(argv)} (in {where}) took over {timeout}s; output: "
                           f"{e.stdout!r} {e.stderr!r}") from None
        if check and r.returncode != 0:
            raise LabError(f"{' '.join(argv)} (in {where}) exited {r.returncode}:\n{r.stdout}{r.stderr}")
        return r

    def run(self, host: H, argv: Sequence[str], timeout: float = 20, check: bool = True,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in ``host``'s namespace to the end; its output (LabError if it fails and ``check``)."""
        return self._run_in(host.ns, self._where(host), argv, timeout, check, input)

    def spawn(self, host: H, argv: Sequence[str], name: str) -> Proc:
        """Start ``argv`` in ``host``'s namespace in the background (output to WORKDIR/NAME.log)."""
        log = self.workdir / f"{name}.log"
        fh = open(log, "wb")
        # `ip netns exec` execs the command: the Popen pid is the process itself.
        popen = subprocess.Popen(["ip", "netns", "exec", host.ns, *argv], stdin=subprocess.DEVNULL,
                                 stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        proc = Proc(popen, name, log, fh)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, timeout: float = 3) -> int:
        """SIGTERM (then SIGKILL) ``proc``; its exit status."""
        p = proc.popen
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
                p.wait(timeout)
        if proc._fh is not None:
            proc._fh.close()
            proc._fh = None
        return p.returncode

    def wait_listening(self, host: H, proto: str, port: int, proc: Proc | None = None,
                       timeout: float = 10) -> None:
        """Until a ``proto`` ("tcp"/"udp") socket listens on ``port`` in ``host``."""
        flag = "-Hltn" if proto == "tcp" else "-Hlun"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.run(host, ["ss", flag, f"sport = :{port}"], check=False).stdout.strip():
                return
            if proc is not None and proc.popen.poll() is not None:
                raise LabError(f"{proc.name} exited {proc.popen.returncode} before listening on "
                               f"{proto}/{port}:\n{proc.output()}")
            time.sleep(0.05)
        raise LabError(f"nothing listens on {proto}/{port} in {self._where(host)} after {timeout}s"
                       + (f":\n{proc.output()}" if proc else ""))

    def wait_for(self, proc: Proc, text: str, timeout: float = 10) -> None:
        """Until ``text`` appears in ``proc``'s output (read once more after the process ends)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in proc.output():
                return
            if proc.popen.poll() is not None:
                if text in proc.output():
                    return
                break
            time.sleep(0.05)
        raise LabError(f"{proc.name}: no {text!r} after {timeout}s:\n{proc.output()}")

    @contextlib.contextmanager
    def _tcpdump(self, host: H, ifname: str, path: Path | str, bpf: Sequence[str],
                 settle: float) -> Iterator[Path]:
        """tcpdump on ``ifname`` in ``host`` into ``path`` while the block runs, then ``settle`` seconds
        more, so the last packets in flight are in the file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        proc = self.spawn(host, ["tcpdump", "-i", ifname, "-n", "--immediate-mode", "-U",
                                 "-s", "262144", "-Z", "root", "-w", str(path), *bpf], f"tcpdump-{path.stem}")
        try:
            self.wait_for(proc, "listening on")
            yield path
            time.sleep(settle)
        finally:
            self.stop(proc)
        if not path.is_file() or path.stat().st_size < 24:
            raise LabError(f"tcpdump wrote no capture at {path}:\n{proc.output()}")


class Lab(Namespaces[Host]):
    """Two namespaces joined by a veth pair; see the module docstring."""

    _count = 0

    def __init__(self, workdir: Path, subnet: str = "10.98.0", prefix_len: int = 24,
                 server_host: int = 1, client_host: int | None = 2) -> None:
        super().__init__(workdir)
        Lab._count += 1
        tag = f"{PREFIX}-{os.getpid()}-{Lab._count}"
        self.subnet = subnet
        self.prefix_len = prefix_len
        self.server = Host(f"{tag}-srv", "veth-srv", f"{subnet}.{server_host}")
        self.client = Host(f"{tag}-cli", "veth-cli",
                           None if client_host is None else f"{subnet}.{client_host}")
        self._extra = 0

    # -- life cycle -------------------------------------------------------------
    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        remove_stale()
        for host in (self.server, self.client):
            self._add_ns(host.ns)
        _ip("link", "add", self.server.ifname, "netns", self.server.ns, "type", "veth",
            "peer", "name", self.client.ifname, "netns", self.client.ns)
        for host in (self.server, self.client):
            self._up(host)

    def _add_ns(self, ns: str) -> None:
        self._new_ns(ns)
        # IPv4 only: no IPv6 link-local chatter (router solicitations, MLD) in the trace.
        # (/proc/sys/net is the namespace's own; no sysctl binary needed.)
        self.run_ns(ns, ["sh", "-c", "for c in all default; do echo 1 > /proc/sys/net/ipv6/conf/$c/disable_ipv6; "
                                     "done"], check=False)
        self.run_ns(ns, ["ip", "link", "set", "lo", "up"])

    def _up(self, host: Host) -> None:
        if host.ip:
            self.run(host, ["ip", "addr", "add", f"{host.ip}/{self.prefix_len}", "dev", host.ifname])
        host.mac = self._link_up(host, host.ifname)

    def add_neighbour(self, ip: str) -> Host:
        """A third host with address ``ip`` on the same link (answers ARP for it).

        A macvlan on the server's interface moved into a namespace of its
        own; where macvlan is unavailable, an extra address on the server.
        """
        self._extra += 1
        host = Host(f"{self.server.ns.rsplit('-', 1)[0]}-nb{self._extra}", f"mv{self._extra}", ip)
        made = self.run(self.server, ["ip", "link", "add", "link", self.server.ifname, "name",
                                      host.ifname, "type", "macvlan", "mode", "bridge"], check=False)
        if made.returncode != 0:
            self.run(self.server, ["ip", "addr", "add", f"{ip}/32", "dev", self.server.ifname])
            return Host(self.server.ns, self.server.ifname, ip, self.server.mac)
        self._add_ns(host.ns)
        self.run(self.server, ["ip", "link", "set", host.ifname, "netns", host.ns])
        self._up(host)
        return host

    # -- commands ---------------------------------------------------------------
    def run_ns(self, ns: str, argv: Sequence[str], timeout: float = 20, check: bool = True,
               input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the namespace named ``ns`` to the end and return its output."""
        return self._run_in(ns, ns, argv, timeout, check, input)

    def capture(self, path: Path, host: Host | None = None, bpf: Sequence[str] = (),
                settle: float = 0.3) -> contextlib.AbstractContextManager[Path]:
        """tcpdump on ``host``'s interface (the client's) into ``path`` while the block runs.

        ``settle`` seconds pass after the block before tcpdump stops, so the
        last packets in flight (FIN, ACK) are in the file.
        """
        host = host or self.client
        return self._tcpdump(host, host.ifname, path, bpf, settle)
