"""FTP faults between a real vsftpd and Python's ftplib, each with its clean twin.

The network is client — r1 — server (``routed``); vsftpd serves on the
server, ftplib (the standard library's FTP client) runs on the client and
prints a JSON log of what it did and what it was told, which with tshark's
reading of the capture is where every expected value comes from.

- ``ftp.active_data_syn_missing`` (the seed's "active FTP lost SYN"): r1
  drops connections opened from the server to the client, so vsftpd's SYNs
  to the port the client announced with PORT never arrive and RETR ends in
  425.  Captured on the server's link (the SYNs go unanswered) and on the
  client's (no SYN at all; the 425 is the proof) at once.  Variants: r1
  rejects the SYN with a reset instead; the same over IPv6 (EPRT).
- ``ftp.passive_data_connect_failed`` (the seed's "failed PASV"; the issue's
  "FTP data connect failures after PASV on a firewalled port"): r1 drops
  what goes to the server's passive port range; over IPv4 (PASV) and IPv6
  (EPSV).
- ``ftp.logon_failure``: three wrong passwords, then the right one.
- ``ftp.brute_force``: four connections trying a hundred passwords each,
  as fast as the server answers (hundreds of 530s in about a second).
- ``ftp.error_reply``: RETR of a file that does not exist (550), passive
  and active (vsftpd never connects for the active one: no data-connection
  finding may follow from it).

The unanswered SYNs, the 425, the refused connection and the reset of a
data connection after a 550 are symptoms: each test checks that they are
nested under their cause and that the cause is the only top-level finding.

vsftpd runs in the foreground on a config written to the test's directory:
anonymous logins chrooted to a directory of the test for the data
connection cases; for the logon cases, "virtual" users checked by
pam_userdb against a Berkeley DB file of the test (made with Perl's
DB_File) and mapped to the ``ftp`` account (guest login), through a PAM
service file in /etc/pam.d that exists only while the test runs (one left
by a killed run is removed by the next): no system account is made.
(pam_exec would avoid the DB file, but with it vsftpd 3.0.3 hangs on the
second logon attempt of a connection: its privileged process blocks in
wait(), seemingly for the pam_exec child already reaped.)
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab import (
    INFORMATIONAL,
    Network,
    Node,
    Topology,
    assert_clean,
    assert_fires,
    diagnose,
    flatten,
    of_rule,
    routed,
    show,
    tshark_fields,
    tshark_frames,
)
from tests.lab.conftest import require
from tests.support.netns import _pid_alive

pytestmark = pytest.mark.lab

VSFTPD = "/usr/sbin/vsftpd"
PASV_PORTS = (50000, 50009)
USER, PASSWORD = "alice", "wonderland"
FILE = "notes.txt"
PAM_DIR = Path("/etc/pam.d")
PAM_PREFIX = "tdlab-ftp-"          # PAM service files: tdlab-ftp-<pid>-<n>
CONNECT_TIMEOUT = 2                # vsftpd gives up an active connect after this (425)
CLIENT_TIMEOUT = 2.5               # ftplib gives up a passive connect after this


# -- the server --------------------------------------------------------------------
def _remove_stale_pam() -> None:
    """PAM service files left by a test run whose process is gone."""
    for p in PAM_DIR.glob(f"{PAM_PREFIX}*"):
        pid = p.name[len(PAM_PREFIX):].split("-")[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            p.unlink(missing_ok=True)


_pam_count = 0

MAKE_USERDB = ('tie my %h, "DB_File", $ARGV[0], O_RDWR|O_CREAT, 0600, $DB_HASH or die "$ARGV[0]: $!"; '
               "$h{$ARGV[1]} = $ARGV[2]; untie %h")
"""Perl: a Berkeley DB hash file USER -> PASSWORD, the format pam_userdb reads (``db=`` + ".db")."""


@contextlib.contextmanager
def vsftpd(net: Network, node: Node, users: bool = False, ipv6: bool = False) -> Iterator[Path]:
    """vsftpd on ``node``'s address (its IPv6 one with ``ipv6``) serving FILE; yields its root directory.

    ``users``: local ("virtual") users only, USER/PASSWORD, with no delay
    after a failed logon and no limit on failures per connection (the
    client sets the pace); else anonymous logins only.
    """
    global _pam_count
    require(tools=[VSFTPD] + (["perl"] if users else []))
    work = net.workdir / "vsftpd"
    root, empty = work / "root", work / "empty"
    for d in (work, root, empty):
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o755)
    (root / FILE).write_text("tracedoc lab\n" * 4000)
    (root / FILE).chmod(0o644)
    listen = ["listen=NO", "listen_ipv6=YES", f"listen_address6={node.ip6}"] if ipv6 else \
        ["listen=YES", "listen_ipv6=NO", f"listen_address={node.ip}"]
    conf = [*listen, "background=NO",
            "seccomp_sandbox=NO", f"secure_chroot_dir={empty}", "write_enable=NO",
            f"pasv_min_port={PASV_PORTS[0]}", f"pasv_max_port={PASV_PORTS[1]}",
            f"connect_timeout={CONNECT_TIMEOUT}", "accept_timeout=5", "xferlog_enable=NO",
            "max_clients=0", "max_per_ip=0"]
    pam: Path | None = None
    if users:
        _remove_stale_pam()
        _pam_count += 1
        pam = PAM_DIR / f"{PAM_PREFIX}{os.getpid()}-{_pam_count}"
        db = work / "users"
        r = net.run(node, ["perl", "-MDB_File", "-MFcntl", "-e", MAKE_USERDB, f"{db}.db", USER, PASSWORD],
                    check=False)
        if r.returncode != 0:
            pytest.fail(f"could not make the pam_userdb file with Perl's DB_File: {r.stderr}")
        pam.write_text(f"auth required pam_userdb.so db={db} crypt=none\naccount required pam_permit.so\n")
        conf += ["anonymous_enable=NO", "local_enable=YES", "guest_enable=YES", "guest_username=ftp",
                 f"local_root={root}", f"pam_service_name={pam.name}", "delay_failed_login=0",
                 "max_login_fails=1000"]
    else:
        conf += ["anonymous_enable=YES", "no_anon_password=YES", f"anon_root={root}", "local_enable=NO"]
    (work / "vsftpd.conf").write_text("\n".join(conf) + "\n")
    try:
        proc = net.spawn(node, [VSFTPD, str(work / "vsftpd.conf")], "vsftpd")
        net.wait_listening(node, "tcp", 21, proc)
        yield root
    finally:
        if pam is not None:
            pam.unlink(missing_ok=True)


# -- the client --------------------------------------------------------------------
CLIENT = r"""
import ftplib, json, socket, sys, threading, time

server, steps = sys.argv[1], json.loads(sys.argv[2])
log = []


class FTP(ftplib.FTP):
    # Record the data port each transfer announced (PORT/EPRT) or was told (PASV/EPSV):
    # ftplib uses the extended commands over IPv6.
    def makeport(self):
        sock = super().makeport()
        log.append({"announced": "PORT" if self.af == socket.AF_INET else "EPRT", "port": sock.getsockname()[1]})
        return sock

    def makepasv(self):
        host, port = super().makepasv()
        log.append({"announced": "PASV" if self.af == socket.AF_INET else "EPSV", "port": port})
        return host, port


def session(step):
    f = FTP(timeout=float(step.get("timeout", 10)))
    f.connect(server, 21)
    return f


def run(step):
    kind = step["do"]
    if kind == "guess":          # try passwords on one connection
        f, fails = session(step), 0
        for pw in step["passwords"]:
            try:
                f.login(step["user"], pw)
                f.quit()
                return {"do": kind, "fails": fails, "ok": True}
            except ftplib.error_perm as e:
                assert str(e).startswith("530"), e
                fails += 1
        f.quit()
        return {"do": kind, "fails": fails, "ok": False}
    f = session(step)
    f.login(step.get("user", "anonymous"), step.get("password", ""))
    f.set_pasv(step["mode"] == "passive")
    try:
        n = []
        f.retrbinary("RETR " + step["file"], n.append)
        out = {"do": kind, "reply": "226", "bytes": sum(map(len, n))}
    except ftplib.all_errors as e:
        out = {"do": kind, "reply": str(e)[:3], "error": str(e)}
    f.quit()
    return out


t0 = time.monotonic()
for step in steps:
    if step.get("parallel"):
        results = [None] * step["parallel"]
        def one(i):
            results[i] = run(step["each"][i])
        threads = [threading.Thread(target=one, args=(i,)) for i in range(step["parallel"])]
        for t in threads: t.start()
        for t in threads: t.join()
        log.append({"parallel": results})
    else:
        log.append(run(step))
log.append({"seconds": time.monotonic() - t0})
print(json.dumps(log))
"""


def ftp_client(net: Network, t: Topology, *steps: dict[str, Any], ipv6: bool = False) -> list[dict[str, Any]]:
    """Run ``steps`` with ftplib on the client against the server; the client's log."""
    server = t.server.ip6 if ipv6 else t.server.ip
    r = net.run(t.client, [sys.executable, "-c", CLIENT, server or "", json.dumps(steps)], timeout=60,
                check=False)
    assert r.returncode == 0, f"ftp client failed:\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# -- helpers for the evidence --------------------------------------------------------
def syns_to(pcap: Path, port: int) -> list[int]:
    """tshark: the SYNs (no ACK) to ``port``."""
    return tshark_frames(pcap, f"tcp.flags.syn==1 && tcp.flags.ack==0 && tcp.dstport=={port}")


def command_and_reply(pcap: Path, command: str) -> tuple[int, int]:
    """tshark: the (only) ``command`` request and the first reply after it (replies come in order)."""
    cmd = tshark_frames(pcap, f'ftp.request.command == "{command}"')
    assert len(cmd) == 1, (command, cmd)
    reply = tshark_frames(pcap, f"ftp.response && frame.number > {cmd[0]}")
    return cmd[0], reply[0]


def errors(findings: list[dict[str, Any]]) -> list[str]:
    """Top-level findings outside the informational categories, by rule."""
    return sorted(f["rule"] for f in findings if f["category"] not in INFORMATIONAL)


def firewall(net: Network, router: Node, rule: str) -> None:
    """An nftables forward rule on ``router`` (the firewall between client and server)."""
    require(tools=["nft"])
    net.nft(router, "table inet fw {\n chain forward {\n  type filter hook forward priority 0; policy accept;\n"
                    f"  {rule}\n }}\n}}\n")


# -- active FTP: the server's SYN never arrives ----------------------------------------
@pytest.mark.parametrize("variant", ["lost-syn", "rejected", "lost-syn-ipv6", "clean"])
def test_active_data_syn_missing(net: Network, tmp_path: Path, variant: str) -> None:
    """r1 stands for the client site's firewall: nothing may open a connection from the
    server's side to the client's.  It drops the SYNs, or rejects them with a reset
    (sent in the client's name, so the client's link sees nothing either way)."""
    ipv6 = variant.endswith("ipv6")
    t = routed(net, routers=1, ipv6=ipv6)
    client_ip = t.client.ip6 if ipv6 else t.client.ip
    server_ip = t.server.ip6 if ipv6 else t.server.ip
    with vsftpd(net, t.server, ipv6=ipv6):
        if variant != "clean":
            action = "reject with tcp reset" if variant == "rejected" else "drop"
            firewall(net, t.r1, f'iifname "{t.r1.iface_to(t.server).name}" tcp flags & (syn | ack) == syn {action}')
        with net.capture(tmp_path / "server-side.pcap", t.server.ifaces[0]) as at_server, \
                net.capture(tmp_path / "client-side.pcap", t.client.ifaces[0]) as at_client:
            log = ftp_client(net, t, {"do": "get", "mode": "active", "file": FILE}, ipv6=ipv6)
    method = "EPRT" if ipv6 else "PORT"
    port = next(e["port"] for e in log if e.get("announced") == method)
    result = next(e for e in log if e.get("do") == "get")
    if variant == "clean":
        assert result["reply"] == "226", log
        assert_clean(diagnose(at_server))
        assert_clean(diagnose(at_client))
        return
    assert result["reply"] == "425", log

    # On the server's link: the PORT, its 200, and the SYNs that got no answer (or the reset).
    found = diagnose(at_server)
    port_cmd, port_ok = command_and_reply(at_server, method)
    syns = syns_to(at_server, port)
    resets = tshark_frames(at_server, f"tcp.flags.reset == 1 && tcp.srcport == {port}")
    if variant == "rejected":
        assert len(syns) == 1 and len(resets) == 1, (syns, resets)
    else:
        assert len(syns) >= 2 and not resets, syns   # the first SYN and at least one retransmission
    status = "refused" if variant == "rejected" else "syn_unanswered"
    [cause] = assert_fires(found, "ftp.active_data_syn_missing", [port_cmd, port_ok, *syns, *resets], exact=True,
                           details={"data_port": port, "data_ip": client_ip, "connector_ip": server_ip,
                                    "status": status, "method": method, "reply_code": 200})
    assert cause["severity"] == "error" and cause["category"] == "Session Errors"
    # ... which explains the SYNs' fate and vsftpd's 425 to RETR, nested under it.
    retr, refused = command_and_reply(at_server, "RETR")
    assert tshark_frames(at_server, "ftp.response.code == 425") == [refused]
    symptoms = {s["rule"]: s for s in cause.get("symptoms", [])}
    tcp_rule = "tcp.connection_refused" if variant == "rejected" else "tcp.syn_unanswered"
    # vsftpd waits connect_timeout (2 s) for its SYNs before the 425: that slow answer is the same story.
    expected = ["ftp.error_reply", tcp_rule] + (["tcp.slow_response"] if variant != "rejected" else [])
    assert sorted(symptoms) == sorted(expected), show(found)
    if "tcp.slow_response" in symptoms:
        assert symptoms["tcp.slow_response"]["frames"] == [retr, refused]
    assert set(syns) <= set(symptoms[tcp_rule]["frames"])
    assert symptoms["ftp.error_reply"]["frames"] == [retr, refused]
    assert symptoms["ftp.error_reply"]["details"]["code"] == 425
    assert errors(found) == ["ftp.active_data_syn_missing"], show(found)

    # On the client's link no SYN arrives: the 425 after RETR is the proof the server tried.
    found = diagnose(at_client)
    assert syns_to(at_client, port) == []
    port_cmd, port_ok = command_and_reply(at_client, method)
    retr, refused = command_and_reply(at_client, "RETR")
    [cause] = assert_fires(found, "ftp.active_data_syn_missing", [port_cmd, port_ok, retr, refused], exact=True,
                           details={"data_port": port, "status": "no_syn", "transfer_reply": 425})
    symptoms = {s["rule"]: s for s in cause.get("symptoms", [])}
    assert sorted(symptoms) == ["ftp.error_reply"] + (["tcp.slow_response"] if variant != "rejected" else []), \
        show(found)
    if "tcp.slow_response" in symptoms:
        assert symptoms["tcp.slow_response"]["frames"] == [retr, refused]
    assert errors(found) == ["ftp.active_data_syn_missing"], show(found)


# -- passive FTP: the client's SYNs to the passive port are dropped ---------------------
@pytest.mark.parametrize("variant", ["pasv-blocked", "epsv-blocked-ipv6", "clean", "clean-ipv6"])
def test_passive_data_connect_failed(net: Network, tmp_path: Path, variant: str) -> None:
    """r1 stands for the server site's firewall, not opened for vsftpd's passive ports."""
    ipv6 = variant.endswith("ipv6")
    t = routed(net, routers=1, ipv6=ipv6)
    client_ip = t.client.ip6 if ipv6 else t.client.ip
    server_ip = t.server.ip6 if ipv6 else t.server.ip
    fault = not variant.startswith("clean")
    with vsftpd(net, t.server, ipv6=ipv6):
        if fault:
            firewall(net, t.r1, f"tcp dport {PASV_PORTS[0]}-{PASV_PORTS[1]} drop")
        with net.capture(tmp_path / "client-side.pcap", t.client.ifaces[0]) as at_client, \
                net.capture(tmp_path / "server-side.pcap", t.server.ifaces[0]) as at_server:
            log = ftp_client(net, t, {"do": "get", "mode": "passive", "file": FILE, "timeout": CLIENT_TIMEOUT},
                             ipv6=ipv6)
    method, code = ("EPSV", 229) if ipv6 else ("PASV", 227)
    port = next(e["port"] for e in log if e.get("announced") == method)
    assert PASV_PORTS[0] <= port <= PASV_PORTS[1]
    result = next(e for e in log if e.get("do") == "get")
    if not fault:
        assert result["reply"] == "226", log
        assert_clean(diagnose(at_client))
        assert_clean(diagnose(at_server))
        return
    assert "timed out" in result["error"], log

    found = diagnose(at_client)
    pasv, announced = command_and_reply(at_client, method)
    assert tshark_frames(at_client, f"ftp.response.code == {code}") == [announced]
    syns = syns_to(at_client, port)
    assert len(syns) >= 2, syns
    [cause] = assert_fires(found, "ftp.passive_data_connect_failed", [pasv, announced, *syns], exact=True,
                           details={"data_port": port, "data_ip": server_ip, "connector_ip": client_ip,
                                    "status": "syn_unanswered", "method": method, "reply_code": code})
    assert cause["severity"] == "error" and cause["category"] == "Session Errors"
    # The unanswered SYNs are that connection's: nested under it, not reported on their own.
    assert [(s["rule"], s["frames"]) for s in cause.get("symptoms", [])] == [("tcp.syn_unanswered", syns)], \
        show(found)
    assert errors(found) == ["ftp.passive_data_connect_failed"], show(found)

    # Behind the firewall the server saw its announcement answered by nobody.
    found = diagnose(at_server)
    assert syns_to(at_server, port) == []
    pasv, announced = command_and_reply(at_server, method)
    assert_fires(found, "ftp.passive_data_connect_failed", [pasv, announced], exact=True,
                 details={"data_port": port, "status": "no_syn"}, severity="warning")


# -- logons ----------------------------------------------------------------------------
def _wrong_pass_frames(pcap: Path) -> list[int]:
    """tshark: PASS commands that did not carry the right password."""
    return tshark_frames(pcap, f'ftp.request.command == "PASS" && ftp.request.arg != "{PASSWORD}"')


@pytest.mark.parametrize("fault", [True, False], ids=["wrong-passwords", "clean"])
def test_logon_failure(net: Network, tmp_path: Path, fault: bool) -> None:
    t = routed(net, routers=1)
    wrong = ["summer2024", "Wonderland", "wonderland1"] if fault else []
    with vsftpd(net, t.server, users=True), net.capture(tmp_path / "logon.pcap", t.client.ifaces[0]) as pcap:
        log = ftp_client(net, t, {"do": "guess", "user": USER, "passwords": [*wrong, PASSWORD]},
                         {"do": "get", "mode": "passive", "file": FILE, "user": USER, "password": PASSWORD})
    done = [e for e in log if "do" in e]
    assert done[0] == {"do": "guess", "fails": len(wrong), "ok": True}, log
    assert done[1]["reply"] == "226", log
    found = diagnose(pcap)
    if not fault:
        assert_clean(found)
        return
    rejected = tshark_frames(pcap, "ftp.response.code == 530")
    assert len(rejected) == len(wrong)
    assert_fires(found, "ftp.logon_failure", _wrong_pass_frames(pcap) + rejected, exact=True,
                       details={"client": t.client.ip, "server": t.server.ip, "failures": len(wrong)})
    # A few mistyped passwords are no attack.
    assert not of_rule(found, "ftp.brute_force"), show(found)
    assert errors(found) == ["ftp.logon_failure"], show(found)


CONNECTIONS, GUESSES = 4, 100


@pytest.mark.parametrize("fault", [True, False], ids=["attack", "clean"])
def test_brute_force(net: Network, tmp_path: Path, fault: bool) -> None:
    t = routed(net, routers=1)
    if fault:
        each = [{"do": "guess", "user": USER, "passwords": [f"guess-{c}-{i}" for i in range(GUESSES)]}
                for c in range(CONNECTIONS)]
    else:
        each = [{"do": "get", "mode": "passive", "file": FILE, "user": USER, "password": PASSWORD}
                for _ in range(CONNECTIONS)]
    with vsftpd(net, t.server, users=True), net.capture(tmp_path / "brute.pcap", t.client.ifaces[0]) as pcap:
        log = ftp_client(net, t, {"parallel": CONNECTIONS, "each": each})
    results = next(e["parallel"] for e in log if "parallel" in e)
    found = diagnose(pcap)
    if not fault:
        assert [r["reply"] for r in results] == ["226"] * CONNECTIONS, log
        assert_clean(found)
        return
    fails = sum(r["fails"] for r in results)
    assert fails == CONNECTIONS * GUESSES, log
    rejected = tshark_frames(pcap, "ftp.response.code == 530")
    assert len(rejected) == fails
    times = [float(x[0]) for x in tshark_fields(pcap, "ftp.response.code == 530", "frame.time_relative")]
    span = max(times) - min(times)
    assert span < 10, span    # hundreds of attempts in seconds
    [bf] = assert_fires(found, "ftp.brute_force", rejected, exact=True, severity="critical",
                        details={"client": t.client.ip, "server": t.server.ip, "failures": fails})
    assert bf["details"]["max_in_window"] == fails and abs(bf["details"]["seconds"] - span) < 0.01
    controls = {int(s[0]) for s in tshark_fields(pcap, "ftp.response.code == 530", "tcp.stream")}
    assert len(bf["sessions"]) == len(controls) == CONNECTIONS
    # The logon failures are the attack's symptoms, nested under it.
    assert [s["rule"] for s in bf.get("symptoms", [])] == ["ftp.logon_failure"], show(found)
    assert bf["symptoms"][0]["frames"] == sorted(_wrong_pass_frames(pcap) + rejected)
    assert errors(found) == ["ftp.brute_force"], show(found)


# -- error replies -----------------------------------------------------------------------
@pytest.mark.parametrize("fault", [True, False], ids=["missing-file", "clean"])
def test_error_reply(net: Network, tmp_path: Path, fault: bool) -> None:
    t = routed(net, routers=1)
    name = "no-such-file.txt" if fault else FILE
    with vsftpd(net, t.server), net.capture(tmp_path / "retr.pcap", t.client.ifaces[0]) as pcap:
        log = ftp_client(net, t, {"do": "get", "mode": "passive", "file": name},
                         {"do": "get", "mode": "active", "file": name})
    found = diagnose(pcap)
    if not fault:
        assert [e["reply"] for e in log if e.get("do") == "get"] == ["226", "226"], log
        assert_clean(found)
        return
    assert [e["reply"] for e in log if e.get("do") == "get"] == ["550", "550"], log
    retr = tshark_frames(pcap, f'ftp.request.command == "RETR" && ftp.request.arg == "{name}"')
    missing = tshark_frames(pcap, "ftp.response.code == 550")
    assert len(retr) == len(missing) == 2
    [err] = assert_fires(found, "ftp.error_reply", retr + missing, exact=True, severity="error",
                         details={"server": t.server.ip, "code": 550, "command": "RETR", "count": 2})
    # vsftpd connects for an active RETR only once the file is open: the PORT it never
    # used is no failed data connection.  The passive connection ftplib opened before
    # RETR, vsftpd resets after its 550: part of that failure, nested under it.
    pasv_port = next(e["port"] for e in log if e.get("announced") == "PASV")
    resets = tshark_frames(pcap, f"tcp.flags.reset == 1 && tcp.srcport == {pasv_port}")
    nested = flatten(err.get("symptoms", []))
    assert sorted({f for s in nested for f in s["frames"]}) == resets, show(found)
    assert all(s["rule"] == "tcp.reset" for s in nested), show(found)
    assert errors(found) == ["ftp.error_reply"], show(found)
