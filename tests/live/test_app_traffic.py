"""The seed's Packet Summary wording for real FTP, DNS, DHCP, TLS and SNMP traffic.

Each test runs a real server in one network namespace and a real client in
another (see tests/support/netns.py), captures the link with tcpdump, then
runs ``tracedoc summary --format csv`` on the capture as a user would and
checks that the Messages column says what the seed's Packet Summary says
for such packets (``ACK PSH : ftp command USER``, ``dns : server response
(Name Error)``, ``dhcp : client request: decline use of X (already in
use)``...), on a packet going the right way.

Servers and clients: dnsmasq (DNS, DHCP), dig, busybox udhcpc, pyftpdlib
with Python's ftplib, openssl s_server/s_client, net-snmp snmpd and
snmpget/snmpgetnext.  Captures stay under the test's temporary directory.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.live.conftest import require
from tests.support.command import tracedoc_command
from tests.support.netns import Lab, LabError, Proc

pytestmark = pytest.mark.live

REPO = Path(__file__).resolve().parents[2]


# -- reading the capture back -----------------------------------------------------

def summary_rows(pcap: Path, local: str) -> list[dict[str, str]]:
    """``tracedoc summary PCAP --format csv --local LOCAL``, parsed."""
    r = subprocess.run([*tracedoc_command(), "summary", str(pcap), "--format", "csv", "--local", local],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, f"tracedoc summary {pcap} exited {r.returncode}:\n{r.stderr}"
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows, f"tracedoc summary {pcap} printed no rows:\n{r.stdout}\n{r.stderr}"
    assert "Messages" in rows[0] and "Dir" in rows[0], f"unexpected columns: {list(rows[0])}"
    return rows


def tracedoc_fields(pcap: Path, fields: list[str]) -> list[list[str]]:
    """``tracedoc fields PCAP -e F1 -e F2 ...``: one list of values per packet."""
    argv = [*tracedoc_command(), "fields", str(pcap)]
    for f in fields:
        argv += ["-e", f]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, f"tracedoc fields exited {r.returncode}:\n{r.stderr}"
    return [line.split("\t") for line in r.stdout.splitlines()]


def check_wording(pcap: Path, local: str, expected: list[tuple[str, str | None]]) -> list[dict[str, str]]:
    """Every (wording, direction) in ``expected`` is in some row's Messages.

    The direction is the Dir column seen from ``local`` ("->" sent by the
    local side, "<-" received), or None for any.  The message is matched as a
    substring: ``ACK PSH : ftp command USER`` contains ``ftp command USER``.
    """
    rows = summary_rows(pcap, local)
    missing = []
    for wording, direction in expected:
        hits = [r for r in rows if wording in (r["Messages"] or "")]
        if not hits or (direction is not None and not any(r["Dir"] == direction for r in hits)):
            where = f" ({direction})" if direction else ""
            seen = sorted({(r["Dir"], r["Messages"]) for r in hits})
            missing.append(f"{wording!r}{where}" + (f" only as {seen}" if hits else ""))
    if missing:
        shown = "\n".join(f"  {r['ID']:>4} {r['Dir']:2} {r['Protocol']:4} {r['Messages']}" for r in rows)
        pytest.fail(f"{pcap}: the summary lacks {len(missing)} expected message(s):\n  "
                    + "\n  ".join(missing) + f"\nMessages column:\n{shown}", pytrace=False)
    return rows


def wait_for_exit(proc: Proc, timeout: float) -> int:
    try:
        return proc.popen.wait(timeout)
    except subprocess.TimeoutExpired:
        raise LabError(f"{proc.name} still running after {timeout}s:\n{proc.output()}") from None


# -- DNS --------------------------------------------------------------------------

DNSMASQ_BASE = ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                "--pid-file=", "--user=root", "--group=root", "--bind-interfaces", "--log-queries"]
# A made-up root key: nothing validates against it, so every answer dnsmasq
# must validate (the forwarded ones) is bogus, and it answers SERVFAIL.
FAKE_ROOT_DS = ".,4242,8,2," + "5a" * 32


def test_dns_no_error_name_error_server_failure(lab: Lab) -> None:
    require(["dnsmasq", "dig"])
    srv = lab.server.ip
    assert srv is not None and lab.client.ip is not None
    # Upstream on the server's loopback: knows nothing, refuses the DNSSEC
    # queries the front server makes to validate what it forwards.
    back = lab.spawn(lab.server, [*DNSMASQ_BASE, "--listen-address=127.0.0.1", "--port=5353",
                                  "--address=/bogus.test/10.0.0.6"], "dnsmasq-upstream")
    lab.wait_listening(lab.server, "udp", 5353, back)
    front = lab.spawn(lab.server, [*DNSMASQ_BASE, f"--listen-address={srv}", "--port=53",
                                   "--address=/known.test/10.0.0.5",   # answered: No Error
                                   "--local=/nx.test/",                 # only local names: Name Error
                                   "--server=127.0.0.1#5353",           # the rest goes upstream...
                                   "--dnssec", f"--trust-anchor={FAKE_ROOT_DS}"],  # ...and fails validation
                      "dnsmasq")
    lab.wait_listening(lab.server, "udp", 53, front)
    pcap = lab.workdir / "dns.pcap"
    status = {}
    with lab.capture(pcap):
        for name in ("known.test", "missing.nx.test", "www.bogus.test"):
            out = lab.run(lab.client, ["dig", "+tries=1", "+time=3", f"@{srv}", name, "A"]).stdout
            status[name] = next((line.split("status: ")[1].split(",")[0]
                                 for line in out.splitlines() if "status: " in line), out)
    assert status == {"known.test": "NOERROR", "missing.nx.test": "NXDOMAIN",
                      "www.bogus.test": "SERVFAIL"}, front.output()
    check_wording(pcap, lab.client.ip, [
        ("dns : client query (Standard) known.test.", "->"),
        ("dns : server response (No Error)", "<-"),
        ("dns : client query (Standard) missing.nx.test.", "->"),
        ("dns : server response (Name Error)", "<-"),
        ("dns : client query (Standard) www.bogus.test.", "->"),
        ("dns : server response (Server Failure)", "<-"),
    ])


# -- DHCP -------------------------------------------------------------------------

OFFERED = "10.98.0.50"


def _dhcp_server(lab: Lab) -> None:
    srv = lab.server.ip
    proc = lab.spawn(lab.server, [
        *DNSMASQ_BASE, f"--listen-address={srv}", "--port=0", "--log-dhcp",
        f"--dhcp-range={OFFERED},{OFFERED},255.255.255.0,1h",   # one address to give
        f"--dhcp-leasefile={lab.workdir / 'leases'}", "--dhcp-authoritative",
        "--no-ping",   # offer even an address in use: the client must find out itself
    ], "dnsmasq-dhcp")
    lab.wait_listening(lab.server, "udp", 67, proc)


def _udhcpc(lab: Lab, *extra: str) -> list[str]:
    script = lab.workdir / "udhcpc.script"      # leave the interface as it is
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    return ["busybox", "udhcpc", "-f", "-i", lab.client.ifname, "-s", str(script), "-t", "3", "-T", "1",
            *extra]


@pytest.fixture
def dhcp_lab(netns_ok: None, tmp_path: Path) -> Iterator[Lab]:
    """A lab whose client has no address yet (it asks for one)."""
    require(["dnsmasq", "busybox"])
    have = subprocess.run(["busybox", "--list"], capture_output=True, text=True).stdout.split()
    if "udhcpc" not in have:
        pytest.skip("this busybox has no udhcpc applet")
    with Lab(tmp_path / "lab", client_host=None) as lab:
        _dhcp_server(lab)
        yield lab


def test_dhcp_discover_offer_request_ack(dhcp_lab: Lab) -> None:
    lab = dhcp_lab
    pcap = lab.workdir / "dhcp.pcap"
    with lab.capture(pcap):
        out = lab.run(lab.client, _udhcpc(lab, "-q", "-n"), timeout=15)
    assert f"lease of {OFFERED} obtained" in out.stdout + out.stderr, out.stdout + out.stderr
    check_wording(pcap, lab.server.ip or "", [
        ("dhcp : client request: discover find DHCP servers", None),
        (f"dhcp : server reply: offering ip address {OFFERED}", None),
        ("dhcp : client request: request new ip address", None),
        (f"dhcp : server reply: ACK use of {OFFERED} (ok to use)", None),
    ])


def test_dhcp_decline_address_in_use(dhcp_lab: Lab) -> None:
    lab = dhcp_lab
    # Another host on the link already has the address the server will offer;
    # udhcpc -a checks with an ARP probe after the ACK, gets a reply, declines.
    lab.add_neighbour(OFFERED)
    pcap = lab.workdir / "dhcp-decline.pcap"
    with lab.capture(pcap):
        client = lab.spawn(lab.client, _udhcpc(lab, "-a", "-A", "5"), "udhcpc")
        lab.wait_for(client, "broadcasting decline", timeout=10)
        time.sleep(0.2)
        lab.stop(client)
    check_wording(pcap, lab.server.ip or "", [
        ("dhcp : client request: discover find DHCP servers", None),
        (f"dhcp : server reply: ACK use of {OFFERED} (ok to use)", None),
        (f"dhcp : client request: decline use of {OFFERED} (already in use)", None),
    ])


# -- FTP --------------------------------------------------------------------------

FTP_SERVER = r"""
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

ip, root = sys.argv[1], sys.argv[2]
auth = DummyAuthorizer()
auth.add_user("alice", "wonderland", root, perm="elr")
FTPHandler.authorizer = auth
FTPHandler.passive_ports = range(60000, 60010)
FTPHandler.auth_failed_timeout = 0          # answer a bad password at once
FTPHandler.banner = "tracedoc live test FTP server ready."
FTPServer((ip, 21), FTPHandler).serve_forever()
"""

FTP_CLIENT = r"""
import ftplib, io, sys

f = ftplib.FTP()
f.connect(sys.argv[1], 21, timeout=5)
try:
    f.login("alice", "not-the-password")
    sys.exit("a wrong password was accepted")
except ftplib.error_perm as e:
    print("refused:", e)
f.login("alice", "wonderland")
print("pwd:", f.pwd())
f.set_pasv(True)
listing = []
f.retrlines("LIST", listing.append)
print("list:", listing)
f.set_pasv(False)
data = io.BytesIO()
f.retrbinary("RETR notes.txt", data.write)
print("retr:", len(data.getvalue()))
f.quit()
"""


def test_ftp_login_list_retr(lab: Lab) -> None:
    require(modules=["pyftpdlib"])
    srv, cli = lab.server.ip, lab.client.ip
    assert srv is not None and cli is not None
    root = lab.workdir / "ftproot"
    root.mkdir()
    text = "".join(f"line {i:04d} of the tracedoc live FTP file\n" for i in range(200))
    (root / "notes.txt").write_text(text)
    server = lab.spawn(lab.server, [sys.executable, "-c", FTP_SERVER, srv, str(root)], "ftpd")
    lab.wait_listening(lab.server, "tcp", 21, server)
    pcap = lab.workdir / "ftp.pcap"
    with lab.capture(pcap):
        out = lab.run(lab.client, [sys.executable, "-c", FTP_CLIENT, srv], timeout=20).stdout
    assert "refused: 530" in out and "notes.txt" in out and f"retr: {len(text)}" in out, out
    check_wording(pcap, cli, [
        ("ftp reply code 220", "<-"),
        ("ftp command USER", "->"),
        ("ftp reply code 331", "<-"),
        ("ftp command PASS", "->"),
        ("ftp reply code 530", "<-"),
        ("ftp reply code 230", "<-"),
        ("ftp command PWD", "->"),
        ("ftp reply code 257", "<-"),
        ("ftp command PASV", "->"),
        ("ftp reply code 227", "<-"),
        ("ftp command LIST", "->"),
        ("ftp command PORT", "->"),
        ("ftp reply code 200", "<-"),
        ("ftp command RETR", "->"),
        ("ftp reply code 226", "<-"),
        ("ftp command QUIT", "->"),
        ("ftp reply code 221", "<-"),
    ])


# -- TLS --------------------------------------------------------------------------

CERT_SUBJECT = "/CN=site.test/O=tracedoc live test"


def test_tls_handshakes(lab: Lab) -> None:
    require(["openssl"])
    srv, cli = lab.server.ip, lab.client.ip
    assert srv is not None and cli is not None
    key, cert = lab.workdir / "key.pem", lab.workdir / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", CERT_SUBJECT],
                   check=True, capture_output=True, timeout=30)
    server = lab.spawn(lab.server, ["openssl", "s_server", "-accept", f"{srv}:443", "-cert", str(cert),
                                    "-key", str(key), "-www", "-naccept", "2"], "s_server")
    lab.wait_listening(lab.server, "tcp", 443, server)
    pcap = lab.workdir / "tls.pcap"
    with lab.capture(pcap):
        # TLS 1.2 first (the certificate is in the clear), then TLS 1.3.
        for version in ("-tls1_2", "-tls1_3"):
            out = lab.run(lab.client, ["openssl", "s_client", "-connect", f"{srv}:443",
                                       "-servername", "site.test", version, "-ign_eof", "-quiet"],
                          input="GET / HTTP/1.0\r\n\r\n", timeout=15).stdout
            assert "HTTP/1.0 200 ok" in out, out[:500]
    assert wait_for_exit(server, 5) == 0, server.output()
    rows = check_wording(pcap, cli, [
        ("TLS: Client Hello", "->"),
        ("TLS: Server Hello", "<-"),
        ("Certificate", "<-"),
        ("Server Hello Done", "<-"),
        ("Client Key Exchange", "->"),
        ("Change Cipher Spec", "->"),
        ("Change Cipher Spec", "<-"),
        ("TLS: Application", "->"),
        ("TLS: Application", "<-"),
    ])
    # Both Client Hellos name the server; the certificate (in the clear in
    # TLS 1.2 only) shows the subject the test gave it, on the packet whose
    # message says Certificate.
    fields = tracedoc_fields(pcap, ["frame.number", "tls.handshake.extensions_server_name",
                                    "tls.handshake.certificate.subject"])
    assert [f[0] for f in fields if f[1] == "site.test"] == \
        [r["ID"] for r in rows if "Client Hello" in r["Messages"]], fields
    certs = [f for f in fields if f[2]]
    assert len(certs) == 1 and "CN=site.test" in certs[0][2] and "O=tracedoc live test" in certs[0][2], certs
    assert "Certificate" in next(r["Messages"] for r in rows if r["ID"] == certs[0][0])


# -- SNMP -------------------------------------------------------------------------

SYS_DESCR = "1.3.6.1.2.1.1.1.0"


def test_snmp_v1_v2c(lab: Lab) -> None:
    require(["snmpd", "snmpget", "snmpgetnext"])
    srv, cli = lab.server.ip, lab.client.ip
    assert srv is not None and cli is not None
    conf = lab.workdir / "snmpd.conf"
    conf.write_text("rocommunity public default\n"
                    "sysDescr tracedoc live test agent\n"
                    "sysName agent.test\n")
    persist = lab.workdir / "snmp-state"
    persist.mkdir()
    # -C: only our config; -M/-m: no MIB files needed (numeric OIDs); state kept in the test's dir.
    server = lab.spawn(lab.server, ["env", f"SNMP_PERSISTENT_DIR={persist}", "snmpd", "-f", "-Lo", "-C",
                                    "-c", str(conf), "-M", str(persist), "-m", "", "-p",
                                    str(lab.workdir / "snmpd.pid"), f"udp:{srv}:161"], "snmpd")
    lab.wait_listening(lab.server, "udp", 161, server)
    pcap = lab.workdir / "snmp.pcap"
    client_env = ["env", f"SNMP_PERSISTENT_DIR={persist}", "MIBS=", f"MIBDIRS={persist}"]
    with lab.capture(pcap):
        v1 = lab.run(lab.client, [*client_env, "snmpget", "-On", "-v1", "-c", "public", srv, SYS_DESCR]).stdout
        v2 = lab.run(lab.client, [*client_env, "snmpget", "-On", "-v2c", "-c", "public", srv,
                                  "1.3.6.1.2.1.1.5.0"]).stdout
        nxt = lab.run(lab.client, [*client_env, "snmpgetnext", "-On", "-v2c", "-c", "public", srv,
                                   SYS_DESCR]).stdout
        # A community the agent does not know: no answer at all (v1 sends no error).
        bad = lab.run(lab.client, [*client_env, "snmpget", "-On", "-v1", "-r", "0", "-t", "0.3", "-c",
                                   "private", srv, SYS_DESCR], check=False)
    assert "tracedoc live test agent" in v1 and "agent.test" in v2 and ".1.3.6.1.2.1.1.2.0" in nxt, \
        (v1, v2, nxt)
    assert bad.returncode != 0 and "Timeout" in bad.stdout + bad.stderr, bad
    check_wording(pcap, cli, [
        ("SNMP : Community - public(v1) : pdu - GetRequest", "->"),
        ("SNMP : Community - public(v1) : pdu -", "<-"),
        ("SNMP : Community - public(v2c) : pdu - GetRequest", "->"),
        ("SNMP : Community - public(v2c) : pdu -", "<-"),
        ("SNMP : Community - public(v2c) : pdu - GetNextRequest", "->"),
        ("SNMP : Community - private(v1) : pdu - GetRequest", "->"),
    ])


def test_lab_cleans_up_after_a_failure(netns_ok: None, tmp_path: Path) -> None:
    """An exception inside the lab still stops its processes and removes its namespaces."""
    with pytest.raises(RuntimeError, match="boom"):
        with Lab(tmp_path / "lab") as lab:
            sleeper = lab.spawn(lab.server, ["sleep", "60"], "sleeper")
            names = [lab.server.ns, lab.client.ns]
            with lab.capture(tmp_path / "x.pcap"):
                raise RuntimeError("boom")
    assert sleeper.popen.poll() is not None
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(n in listed for n in names), listed
    assert not os.path.exists(f"/run/netns/{names[0]}")
