"""The FTP rules on small captures made here, packet by packet, so each test
knows which frames prove its case (the frame numbers it wrote).

They pin what vsftpd showed in the lab (tests/lab/test_ftp.py): a server
connects for an active transfer only when the transfer command comes, so a
PORT followed by a refused command (550) or by no transfer at all is no
failed data connection; one answered 425 is, even when the capture saw no
SYN; the evidence holds every SYN of the attempt (and the reset that refused
it); a failed transfer names the data connection announced for it.  A
passive announcement with no SYN after it is judged the same way by what
the control connection said next (found on a corpus capture that holds only
the control connection: its transfers completed, 150 and 226).
"""

from __future__ import annotations

from pathlib import Path

import tracedoc
from tests.support import pcapgen
from tracedoc.analyze.diagnose import Evidence, diagnose
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import Rule, all_rules, settings
from tracedoc.analyze.summary import infer_local

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
MAC_C, MAC_S = "02:00:00:00:00:01", "02:00:00:00:00:02"
SYN, RST, PSH, ACK = 0x02, 0x04, 0x08, 0x10


class Capture:
    """Packets of TCP connections between CLIENT and SERVER, numbered as written."""

    def __init__(self) -> None:
        self.recs: list[pcapgen.Rec] = []
        self.seq: dict[tuple, int] = {}

    def _send(self, src: str, sport: int, dst: str, dport: int, flags: int, payload: bytes = b"") -> int:
        me, peer = (src, sport, dst, dport), (dst, dport, src, sport)
        seq = self.seq.setdefault(me, 1000 + 7919 * len(self.seq))
        ack = self.seq.get(peer, 0) if flags & ACK else 0
        seg = pcapgen.tcp(sport, dport, seq, ack, flags, 64000, payload=payload)
        mac_src, mac_dst = (MAC_C, MAC_S) if src == CLIENT else (MAC_S, MAC_C)
        data = pcapgen.ether(mac_dst, mac_src, 0x0800, pcapgen.ipv4(src, dst, 6, seg))
        self.seq[me] = seq + len(payload) + (1 if flags & SYN else 0)
        self.recs.append(pcapgen.Rec(pcapgen.BASE_TS + len(self.recs) * 10_000_000, data, len(data)))
        return len(self.recs)

    def syn(self, src: str, sport: int, dst: str, dport: int, again: bool = False) -> int:
        if again:  # a retransmission: the same initial sequence number
            self.seq[(src, sport, dst, dport)] -= 1
        return self._send(src, sport, dst, dport, SYN)

    def handshake(self, src: str, sport: int, dst: str, dport: int) -> int:
        first = self.syn(src, sport, dst, dport)
        self._send(dst, dport, src, sport, SYN | ACK)
        self._send(src, sport, dst, dport, ACK)
        return first

    def rst(self, src: str, sport: int, dst: str, dport: int) -> int:
        return self._send(src, sport, dst, dport, RST | ACK)

    def lose(self, frame: int) -> None:
        """Drop the last packet, ``frame``, from the capture (its bytes stay sent)."""
        assert frame == len(self.recs)
        self.recs.pop()

    def write(self, path: Path) -> Path:
        data, _ = pcapgen.pcap_file(self.recs)
        path.write_bytes(data)
        return path


class Control:
    """An FTP control connection: ``cmd`` and ``reply`` return their frame numbers."""

    def __init__(self, cap: Capture, cport: int = 40000) -> None:
        self.cap, self.cport = cap, cport
        cap.handshake(CLIENT, cport, SERVER, 21)
        self.reply("220 ready")
        self.cmd("USER alice")
        self.reply("331 Please specify the password.")
        self.cmd("PASS secret")
        self.reply("230 Login successful.")

    def cmd(self, text: str) -> int:
        return self.cap._send(CLIENT, self.cport, SERVER, 21, PSH | ACK, text.encode() + b"\r\n")

    def reply(self, text: str) -> int:
        return self.cap._send(SERVER, 21, CLIENT, self.cport, PSH | ACK, text.encode() + b"\r\n")

    def port(self, port: int) -> tuple[int, int]:
        a = CLIENT.replace(".", ",")
        return self.cmd(f"PORT {a},{port >> 8},{port & 255}"), self.reply("200 PORT command successful.")

    def pasv(self, port: int) -> tuple[int, int]:
        a = SERVER.replace(".", ",")
        return self.cmd("PASV"), self.reply(f"227 Entering Passive Mode ({a},{port >> 8},{port & 255}).")


def rules() -> list[Rule]:
    """The FTP rules and the TCP ones whose findings they explain."""
    return [r for r in all_rules() if r.id.startswith("ftp.") or r.id in ("tcp.syn_unanswered",)]


def run(path: Path) -> list[Finding]:
    tbl = tracedoc.open(path).packets
    return diagnose(Evidence(tbl, infer_local(tbl)), rules(), settings(rules(), []))


def of(found: list[Finding], rule: str) -> list[Finding]:
    out = []
    for f in found:
        out += [f] if f.rule == rule else []
        out += of(f.symptoms, rule)
    return out


def test_port_never_used_is_no_failure(tmp_path: Path) -> None:
    """vsftpd: PORT, then RETR of a missing file (550: no connect), then PORT and QUIT."""
    cap = Capture()
    c = Control(cap)
    c.port(5001)
    retr, missing = c.cmd("RETR nothing.txt"), c.reply("550 Failed to open file.")
    c.port(5002)
    c.cmd("QUIT")
    c.reply("221 Goodbye.")
    found = run(cap.write(tmp_path / "unused.pcap"))
    assert of(found, "ftp.active_data_syn_missing") == []
    [err] = of(found, "ftp.error_reply")
    assert err.frames == [retr, missing] and err.details["code"] == 550


def test_active_connect_that_failed_before_the_capture_point(tmp_path: Path) -> None:
    """No SYN in the capture, and the server says 425: the server tried and failed."""
    cap = Capture()
    c = Control(cap)
    port_cmd, port_ok = c.port(5001)
    retr, failed = c.cmd("RETR notes.txt"), c.reply("425 Failed to establish connection.")
    found = run(cap.write(tmp_path / "no-syn.pcap"))
    [f] = of(found, "ftp.active_data_syn_missing")
    assert f.frames == [port_cmd, port_ok, retr, failed]
    assert (f.details["status"], f.details["transfer_reply"], f.details["data_port"]) == ("no_syn", 425, 5001)
    # The 425 is its symptom.
    assert [(s.rule, s.frames) for s in f.symptoms] == [("ftp.error_reply", [retr, failed])]


def test_active_syns_unanswered_are_all_evidence(tmp_path: Path) -> None:
    cap = Capture()
    c = Control(cap)
    port_cmd, port_ok = c.port(5001)
    retr = c.cmd("RETR notes.txt")
    syns = [cap.syn(SERVER, 20, CLIENT, 5001), cap.syn(SERVER, 20, CLIENT, 5001, again=True)]
    c.reply("425 Failed to establish connection.")
    found = run(cap.write(tmp_path / "lost-syn.pcap"))
    [f] = of(found, "ftp.active_data_syn_missing")
    assert f.frames == [port_cmd, port_ok, *syns] and f.details["status"] == "syn_unanswered"
    assert f.details["transfer"] == "RETR notes.txt" and retr not in f.frames
    assert sorted(s.rule for s in f.symptoms) == ["ftp.error_reply", "tcp.syn_unanswered"]
    assert [s.frames for s in f.symptoms if s.rule == "tcp.syn_unanswered"] == [syns]


def test_active_connect_refused(tmp_path: Path) -> None:
    """The client's side answers the server's SYN with a reset (a rejecting firewall)."""
    cap = Capture()
    c = Control(cap)
    port_cmd, port_ok = c.port(5001)
    c.cmd("RETR notes.txt")
    syn = cap.syn(SERVER, 20, CLIENT, 5001)
    rst = cap.rst(CLIENT, 5001, SERVER, 20)
    c.reply("425 Failed to establish connection.")
    found = run(cap.write(tmp_path / "refused.pcap"))
    [f] = of(found, "ftp.active_data_syn_missing")
    assert f.frames == [port_cmd, port_ok, syn, rst] and f.details["status"] == "refused"
    assert "refused" in f.summary


def test_passive_syns_unanswered_are_all_evidence(tmp_path: Path) -> None:
    cap = Capture()
    c = Control(cap)
    pasv, announced = c.pasv(50001)
    syns = [cap.syn(CLIENT, 41000, SERVER, 50001), cap.syn(CLIENT, 41000, SERVER, 50001, again=True),
            cap.syn(CLIENT, 41000, SERVER, 50001, again=True)]
    c.cmd("QUIT")
    c.reply("221 Goodbye.")
    found = run(cap.write(tmp_path / "pasv.pcap"))
    [f] = of(found, "ftp.passive_data_connect_failed")
    assert f.frames == [pasv, announced, *syns] and f.severity == "error"
    assert [(s.rule, s.frames) for s in f.symptoms] == [("tcp.syn_unanswered", syns)]


def test_failed_transfer_names_its_data_connection(tmp_path: Path) -> None:
    """PASV, the client connects, RETR gets 550 and the server resets the data connection."""
    cap = Capture()
    c = Control(cap)
    c.pasv(50001)
    data_syn = cap.handshake(CLIENT, 41000, SERVER, 50001)
    c.cmd("RETR nothing.txt")
    c.reply("550 Failed to open file.")
    cap.rst(SERVER, 50001, CLIENT, 41000)
    tbl = tracedoc.open(cap.write(tmp_path / "reset.pcap")).packets
    ev = Evidence(tbl, infer_local(tbl))
    control = ev.sessions.sid[0]
    data = ev.sessions.sid[data_syn - 1]
    assert control != data
    [err] = [f for f in diagnose(ev, rules(), settings(rules(), [])) if f.rule == "ftp.error_reply"]
    assert err.sessions == sorted({int(control), int(data)})


def test_port_refused_at_once_with_no_syn(tmp_path: Path) -> None:
    """A server that connects on PORT (pyftpdlib) and answers PORT itself with 425."""
    cap = Capture()
    c = Control(cap)
    port_cmd = c.cmd(f"PORT {CLIENT.replace('.', ',')},19,137")
    failed = c.reply("425 Can't connect to specified address.")
    found = run(cap.write(tmp_path / "port-425.pcap"))
    [f] = of(found, "ftp.active_data_syn_missing")
    assert f.frames == [port_cmd, failed] and (f.details["reply_code"], f.details["data_port"]) == (425, 5001)


def test_passive_no_syn_judged_by_the_control_connection(tmp_path: Path) -> None:
    """No SYN after any of four PASV: the replies that followed each tell what happened."""
    cap = Capture()
    c = Control(cap)
    # 1. RETR answered 425 after the server waited in vain: an error, proven by PASV, 227, RETR, 425.
    waited = [*c.pasv(50001), c.cmd("RETR a.txt"), c.reply("425 Failed to establish connection.")]
    # 2. RETR of a missing file: the 550 is ftp.error_reply's, no data connection was needed.
    c.pasv(50002)
    c.cmd("RETR missing.txt")
    c.reply("550 Failed to open file.")
    # 3. The transfer worked over a connection this capture lacks (and its RETR was not captured).
    c.pasv(50003)
    cap.lose(c.cmd("RETR b.txt"))
    c.reply("150 Opening BINARY mode data connection.")
    c.reply("226 Transfer complete.")
    # 4. Asked for and never used: a warning.
    unused = list(c.pasv(50004))
    c.cmd("NOOP")
    c.reply("200 NOOP ok.")
    found = run(cap.write(tmp_path / "pasv-no-syn.pcap"))
    got = sorted(of(found, "ftp.passive_data_connect_failed"), key=lambda f: f.frames[0])
    assert [(f.details["data_port"], f.severity, f.frames) for f in got] == \
        [(50001, "error", waited), (50004, "warning", unused)]
    assert got[0].details["transfer_reply"] == 425 and got[1].details["transfer"] is None
