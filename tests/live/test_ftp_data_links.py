"""FTP data connections linked to their control session, on real transfers.

pyftpdlib serves, a Python ftplib client makes every kind of data
connection in one control session: PASV (LIST), PORT (RETR), EPSV and EPRT
(RETR, by hand), a PASV nobody connects to, an active connection whose SYNs
the client's firewall (nftables) drops, and a passive one whose SYNs the
server's firewall drops.  tcpdump captures the link; ``tracedoc sessions
--ftp-data --format json`` must tie each data connection to the control
session and to the command and reply that announced it, and say how far
each got.  Which connections exist is known from the client's own log of
what it did (ports it announced or was told), not from tracedoc.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.live.conftest import require
from tests.support.command import tracedoc_command
from tests.support.netns import Lab

pytestmark = pytest.mark.live

REPO = Path(__file__).resolve().parents[2]
PASSIVE = (60100, 60101)
"""One passive port: every PASV/EPSV announces the same port, so each SYN must
be tied to the latest announcement before it (not to an earlier unused one)."""
DROPPED_ACTIVE_PORT = 45999

SERVER = r"""
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

ip, root, lo, hi = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
auth = DummyAuthorizer()
auth.add_user("alice", "wonderland", root, perm="elr")
FTPHandler.authorizer = auth
FTPHandler.passive_ports = range(lo, hi)
FTPHandler.permit_foreign_addresses = False
FTPHandler.active_dtp.timeout = 3   # give up an active connect after 3 s (425)
FTPServer((ip, 21), FTPHandler).serve_forever()
"""

CLIENT = r"""
import ftplib, json, re, socket, subprocess, sys, time

srv, me, dropped, nft_block, nft_unblock = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
log = []
f = ftplib.FTP()
f.connect(srv, 21, timeout=5)
f.login("alice", "wonderland")

# 1. PASV + LIST
f.set_pasv(True)
lines = []
f.retrlines("LIST", lines.append)
log.append({"method": "PASV", "expect": "connected"})
# 2. PORT + RETR
f.set_pasv(False)
f.retrbinary("RETR notes.txt", lambda b: None)
log.append({"method": "PORT", "expect": "connected"})
# 3. EPSV + RETR by hand
resp = f.sendcmd("EPSV")
port = int(re.search(r"\(\|\|\|(\d+)\|\)", resp).group(1))
s = socket.create_connection((srv, port), timeout=5)
f.sendcmd("TYPE I")
f.putcmd("RETR notes.txt"); f.getresp()
while s.recv(65536): pass
s.close(); f.voidresp()
log.append({"method": "EPSV", "port": port, "expect": "connected"})
# 4. EPRT + RETR by hand
ls = socket.socket(); ls.bind((me, 0)); ls.listen(1)
eport = ls.getsockname()[1]
f.sendcmd(f"EPRT |1|{me}|{eport}|")
f.putcmd("RETR notes.txt"); f.getresp()
c, _ = ls.accept()
while c.recv(65536): pass
c.close(); ls.close(); f.voidresp()
log.append({"method": "EPRT", "port": eport, "expect": "connected"})
# 5. PASV that nobody connects to
resp = f.sendcmd("PASV")
log.append({"method": "PASV", "expect": "no_syn"})
f.sendcmd("NOOP")
# 6. PORT to a port whose SYNs this host's firewall drops (pyftpdlib connects
#    as soon as it gets PORT, and answers 425 or 421 when it cannot)
ls = socket.socket(); ls.bind((me, dropped)); ls.listen(1)
subprocess.run(nft_block.split(), check=True)
try:
    f.sendcmd(f"PORT {me.replace('.', ',')},{dropped >> 8},{dropped & 255}")
    log.append({"method": "PORT", "port": dropped, "expect": "connected?"})
except ftplib.error_temp as e:
    log.append({"method": "PORT", "port": dropped, "expect": "syn_unanswered", "reply": str(e)[:3]})
ls.close()
subprocess.run(nft_unblock.split(), check=True)
# 7. PASV whose SYNs the server's firewall drops (the block is set by the test runner before)
resp = f.sendcmd("PASV")
nums = [int(x) for x in re.search(r"\((\d+,\d+,\d+,\d+,\d+,\d+)\)", resp).group(1).split(",")]
pport = nums[4] * 256 + nums[5]
open(sys.argv[6], "w").write(str(pport))
time.sleep(0.5)   # the runner blocks the port on the server
try:
    socket.create_connection((srv, pport), timeout=2.5).close()
    log.append({"method": "PASV", "port": pport, "expect": "connected?"})
except OSError:
    log.append({"method": "PASV", "port": pport, "expect": "syn_unanswered"})
f.sendcmd("NOOP")
f.quit()
print(json.dumps(log))
"""


def test_every_data_connection_is_linked(lab: Lab) -> None:
    require(tools=["nft"], modules=["pyftpdlib"])
    srv, cli = lab.server.ip, lab.client.ip
    assert srv is not None and cli is not None
    root = lab.workdir / "ftproot"
    root.mkdir()
    (root / "notes.txt").write_text("tracedoc\n" * 2000)
    server = lab.spawn(lab.server, [sys.executable, "-c", SERVER, srv, str(root), *map(str, PASSIVE)], "ftpd")
    lab.wait_listening(lab.server, "tcp", 21, server)
    # The client's firewall: a table it fills and empties itself around step 6.
    lab.run(lab.client, ["nft", "add", "table", "inet", "lab"])
    lab.run(lab.client, ["nft", "add", "chain", "inet", "lab", "input",
                         "{ type filter hook input priority 0 ; }"])
    block = f"nft add rule inet lab input tcp dport {DROPPED_ACTIVE_PORT} drop"
    unblock = "nft flush chain inet lab input"
    lab.run(lab.server, ["nft", "add", "table", "inet", "lab"])
    lab.run(lab.server, ["nft", "add", "chain", "inet", "lab", "input",
                         "{ type filter hook input priority 0 ; }"])
    portfile = lab.workdir / "pasv-port"
    pcap = lab.workdir / "ftp-data.pcap"
    with lab.capture(pcap):
        client = lab.spawn(lab.client, [sys.executable, "-c", CLIENT, srv, cli, str(DROPPED_ACTIVE_PORT),
                                        f"ip netns exec {lab.client.ns} {block}",
                                        f"ip netns exec {lab.client.ns} {unblock}", str(portfile)], "ftp-client")
        deadline = time.monotonic() + 30
        while not portfile.exists() and time.monotonic() < deadline and client.popen.poll() is None:
            time.sleep(0.02)
        assert portfile.exists(), client.output()
        lab.run(lab.server, ["nft", "add", "rule", "inet", "lab", "input", "tcp", "dport",
                             portfile.read_text().strip(), "drop"])
        assert client.popen.wait(40) == 0, client.output()
    log = json.loads(client.output().strip().splitlines()[-1])
    assert [e["expect"] for e in log] == ["connected"] * 4 + ["no_syn", "syn_unanswered", "syn_unanswered"], log

    r = subprocess.run([*tracedoc_command(), "sessions", str(pcap), "--ftp-data", "--format", "json"],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    links = json.loads(r.stdout)
    sessions = json.loads(subprocess.run([*tracedoc_command(), "sessions", str(pcap), "--format", "json"],
                                         capture_output=True, text=True, timeout=120, cwd=REPO).stdout)
    control = [s for s in sessions if s["proto"] == "tcp" and 21 in (s["local_port"], s["remote_port"])]
    assert len(control) == 1, control
    csid = control[0]["sid"]
    assert [(x["method"], x["status"]) for x in links] == [(e["method"], e["expect"]) for e in log]
    by_sid = {s["sid"]: s for s in sessions}
    for x, e in zip(links, log):
        assert x["control_sid"] == csid
        assert x["announce_frame"] is not None and x["command_frame"] is not None
        if "port" in e:
            assert x["data_port"] == e["port"]
        if x["method"] in ("PORT", "EPRT"):
            # The client announced its own address; the server connects to it.
            assert x["data_ip"] == cli and x["connector_ip"] == srv
            assert x["command_frame"] == x["announce_frame"] < x["reply_frame"]
        else:
            assert x["data_ip"] == srv and x["connector_ip"] == cli
            assert x["command_frame"] < x["announce_frame"] == x["reply_frame"]
            assert x["reply_code"] == (227 if x["method"] == "PASV" else 229)
        if e["expect"] == "connected":
            d = by_sid[x["data_sid"]]
            assert d["conn_state"] in ("SF", "S1", "RSTO", "RSTR", "S2", "S3"), d
            assert x["syn_frame"] < x["synack_frame"]
        elif e["expect"] == "syn_unanswered":
            assert x["syns"] >= 1 and x["synack_frame"] is None
            assert by_sid[x["data_sid"]]["conn_state"] == "S0"
        else:
            assert x["data_sid"] is None and x["syns"] == 0
    # The active connect whose SYNs were dropped was answered with the error the
    # client got (425, or 421 from newer pyftpdlib), and that is PORT's reply.
    assert log[5]["reply"].startswith("4") and links[5]["reply_code"] == int(log[5]["reply"])

    # The Exception Report names the two seed cases, with the SYNs tshark sees as evidence.
    def syns_to(port: int, after: int = 0) -> list[int]:
        out = subprocess.run(["tshark", "-n", "-r", str(pcap), "-Y", f"tcp.flags.syn==1 && tcp.flags.ack==0 && "
                              f"tcp.dstport=={port} && frame.number > {after}", "-T", "fields", "-e", "frame.number"],
                             capture_output=True, text=True, check=True, timeout=60).stdout
        return [int(x) for x in out.split()]

    r = subprocess.run([*tracedoc_command(), "diagnose", str(pcap), "--format", "json"],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    active = [f for f in report if f["rule"] == "ftp.active_data_syn_missing"]
    assert len(active) == 1 and active[0]["details"]["data_port"] == DROPPED_ACTIVE_PORT
    assert syns_to(DROPPED_ACTIVE_PORT)[0] in active[0]["frames"] and csid in active[0]["sessions"]
    passive = sorted((f for f in report if f["rule"] == "ftp.passive_data_connect_failed"),
                     key=lambda f: f["frames"][0])
    assert [f["details"]["status"] for f in passive] == ["no_syn", "syn_unanswered"]
    assert passive[1]["details"]["data_port"] == log[6]["port"]
    assert syns_to(log[6]["port"], after=links[6]["announce_frame"])[0] in passive[1]["frames"]
    # The server's 4xx to the PORT whose connect failed is that failure's
    # symptom, nested under it; the transfers that worked are not reported.
    assert sorted((s["rule"], s["details"].get("code")) for s in active[0].get("symptoms", [])) == \
        [("ftp.error_reply", int(log[5]["reply"])), ("tcp.syn_unanswered", None)]
    # So are the unanswered SYNs of the two data connections.
    assert [s["rule"] for s in passive[1].get("symptoms", [])] == ["tcp.syn_unanswered"]
    assert not [f for f in report if f["rule"] == "tcp.syn_unanswered"]
    assert sorted(f["rule"] for f in report if f["rule"].startswith("ftp.")) == \
        ["ftp.active_data_syn_missing"] + ["ftp.passive_data_connect_failed"] * 2
