"""The tcp rules on connections built segment by segment (tests.support.pcapgen):
window scaling off or windows too small for the path, SACK offered by one
side, MSS values that do not fit the connection or the path, slow answers.

Each test plays both TCP stacks by hand (a :class:`Conn` keeps each side's
next sequence number and what it has acknowledged) and keeps its own log of
the frames it wrote; the expected frames, sizes and times follow from that
log and from the protocol (RFC 7323 window scaling, RFC 2018 SACK, RFC 9293
MSS), never from the code under test.
"""

from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import tracedoc
from tests.support import pcapgen as g
from tests.support.corpus import have_tshark
from tests.support.tcp_analysis_traces import options
from tracedoc.analyze.diagnose import Evidence, diagnose
from tracedoc.analyze.findings import Finding
from tracedoc.analyze.rules import all_rules, settings
from tracedoc.analyze.summary import infer_local

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
MAC_C, MAC_S = "02:00:00:00:00:01", "02:00:00:00:00:02"
MS = 1_000_000
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

TCP_RULES = [r for r in all_rules() if r.id.startswith("tcp.")]


# -- building connections ---------------------------------------------------------------------------


@dataclass
class Side:
    ip: str
    port: int
    isn: int
    mss: int | None = 1460
    wscale: int | None = None
    sack: bool = False
    nxt: int = 0
    """Next sequence number to send (relative: the SYN is 0, data starts at 1)."""
    acked: int = 0
    """The other side's relative sequence number this side has acknowledged."""
    shift: int = 0
    """The shift this side applies to the windows it advertises (0 without scaling)."""
    window: int = 65535
    """The window (bytes) this side advertises, until an :meth:`Conn.ack` changes it."""


@dataclass
class Capture:
    """Frames at chosen times (ns); remembers each frame's number."""
    frames: list[tuple[int, bytes]] = field(default_factory=list)

    def add(self, t_ns: int, frame: bytes) -> int:
        self.frames.append((t_ns, frame))
        return len(self.frames)

    def write(self, path: Path) -> Path:
        times = [t for t, _ in self.frames]
        assert times == sorted(times), "frames added out of time order would be numbered differently"
        recs = [g.Rec(g.BASE_TS + t, f, len(f)) for t, f in self.frames]
        path.write_bytes(g.pcap_file(recs, nsec=True)[0])
        return path


class Conn:
    """One TCP connection between CLIENT and SERVER, played by the test."""

    def __init__(self, cap: Capture, cport: int = 40000, sport: int = 80, *, c_mss: int | None = 1460,
                 s_mss: int | None = 1460, c_ws: int | None = None, s_ws: int | None = None,
                 c_sack: bool = False, s_sack: bool = False) -> None:
        self.cap = cap
        self.c = Side(CLIENT, cport, 1_000_000, c_mss, c_ws, c_sack)
        self.s = Side(SERVER, sport, 7_000_000, s_mss, s_ws, s_sack)
        self.log: dict[str, list[int]] = {}

    def peer(self, side: Side) -> Side:
        return self.s if side is self.c else self.c

    def _frame(self, src: Side, seq: int, ack: int, flags: int, window: int, opts: bytes = b"",
               payload: bytes = b"") -> bytes:
        dst = self.peer(src)
        seg = g.tcp(src.port, dst.port, (src.isn + seq) & 0xFFFFFFFF, (dst.isn + ack) & 0xFFFFFFFF if ack else 0,
                    flags, window, options=opts, payload=payload)
        macs = (MAC_S, MAC_C) if src is self.c else (MAC_C, MAC_S)
        return g.ether(macs[0], macs[1], 0x0800, g.ipv4(src.ip, dst.ip, 6, seg))

    def note(self, what: str, frame: int) -> int:
        self.log.setdefault(what, []).append(frame)
        return frame

    def handshake(self, t_ms: float, rtt_ms: float = 50, c_win: int = 64240, s_win: int = 65160) -> float:
        """SYN, SYN-ACK, ACK; the capture sits next to the client. Returns the time of the ACK."""
        c, s = self.c, self.s
        copt = options(mss=c.mss, wscale=c.wscale, sack_perm=c.sack)
        self.note("syn", self.cap.add(int(t_ms * MS), self._frame(c, 0, 0, SYN, c_win, copt)))
        # RFC 7323 1.3: the SYN-ACK may carry window scale only if the SYN did.
        sopt = options(mss=s.mss, wscale=s.wscale if c.wscale is not None else None, sack_perm=s.sack)
        self.note("syn", self.cap.add(int((t_ms + rtt_ms) * MS), self._frame(s, 0, 1, SYN | ACK, s_win, sopt)))
        scaling = c.wscale is not None and s.wscale is not None
        c.shift, s.shift = (c.wscale or 0, s.wscale or 0) if scaling else (0, 0)
        c.nxt = s.nxt = 1
        c.acked = s.acked = 1
        self.cap.add(int((t_ms + rtt_ms) * MS) + 10_000, self._frame(c, 1, 1, ACK, self._window_field(c)))
        return t_ms + rtt_ms + 0.01

    def send(self, src: Side, t_ms: float, n: int, *, seq: int | None = None, payload: bytes | None = None,
             what: str = "data") -> int:
        """A segment of ``n`` bytes (at ``seq``, else the next new one), acknowledging what ``src`` received."""
        new = seq is None
        s = src.nxt if seq is None else seq
        body = payload if payload is not None else bytes(n)
        f = self.cap.add(int(t_ms * MS), self._frame(src, s, src.acked, ACK | (PSH if payload else 0),
                                                     self._window_field(src), payload=body))
        if new:
            src.nxt = s + len(body)
        return self.note(what, f)

    def _window_field(self, side: Side) -> int:
        """The header's window field for the window the side advertises (RFC 7323 2.3: shifted right)."""
        return min(side.window >> side.shift, 65535)

    def ack(self, src: Side, t_ms: float, window: int, *, upto: int | None = None) -> int:
        """A pure ACK from ``src`` of everything the peer sent (or up to ``upto``), advertising ``window`` bytes."""
        src.acked = self.peer(src).nxt if upto is None else upto
        src.window = window
        return self.note("ack", self.cap.add(int(t_ms * MS), self._frame(src, src.nxt, src.acked, ACK,
                                                                        self._window_field(src))))


def tshark_frames(path: Path, flt: str) -> list[int]:
    if not have_tshark():
        pytest.skip("tshark is not installed")
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", flt, "-T", "fields", "-e", "frame.number"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return [int(x) for x in out.split()]


def judge(path: Path, *overrides: str) -> list[Finding]:
    tbl = tracedoc.open(path).table()
    return diagnose(Evidence(tbl, infer_local(tbl)), TCP_RULES, settings(TCP_RULES, list(overrides)))


def of(found: list[Finding], rule: str) -> list[Finding]:
    return [f for f in found if f.rule == rule]


# -- tcp.window_scaling -----------------------------------------------------------------------------

MSS_DATA = 1448


def bulk(conn: Conn, sender: Side, t_ms: float, rtt_ms: float, rounds: int, window: int,
         at_sender: bool = True) -> list[int]:
    """A transfer held to ``window`` bytes per round trip: each round the sender sends as many full
    segments as fit in the window the receiver advertised, the receiver acknowledges them all with
    ``window`` again.  Captured next to the sender (each flight leaves right after the ACK that opened
    it) or next to the receiver (the flight arrives, an ACK leaves at once for every second segment,
    the next flight arrives a round trip after the first of them).  Returns, per round, the frame of the flight's last segment (the one that
    leaves less than a segment of window open)."""
    receiver = conn.peer(sender)
    per_round = window // MSS_DATA
    last = []
    t = t_ms
    for _ in range(rounds):
        for k in range(per_round):
            f = conn.send(sender, t + k * 0.01, MSS_DATA)
            if not at_sender and k % 2:
                conn.ack(receiver, t + k * 0.01 + 0.005, window)      # every second segment, at once
        last.append(f)
        if at_sender:
            conn.ack(receiver, t + rtt_ms, window)
            t += rtt_ms + 0.05
        else:
            conn.ack(receiver, t + per_round * 0.01 + 0.005, window)
            t += rtt_ms
    return last


def test_window_scaling_offered_by_one_side_is_reported_with_its_syns(tmp_path):
    cap = Capture()
    conn = Conn(cap, c_ws=7, s_ws=None)                       # the server ignores the option
    t = conn.handshake(0, rtt_ms=40)
    conn.send(conn.c, t + 1, 100)
    conn.send(conn.s, t + 45, 1000)
    found = of(judge(cap.write(tmp_path / "t.pcap")), "tcp.window_scaling")
    assert len(found) == 1
    f = found[0]
    assert f.frames == conn.log["syn"] and f.severity == "info" and f.category == "Session Errors"
    assert "offered by 10.0.0.1 (client) but not by 10.0.0.2:80 (server)" in f.summary
    # 65,535 bytes per 40 ms round trip at most.
    assert f.details["unscaled_cap"] == pytest.approx(65535 / 0.040, rel=1e-3)
    assert f.details["windows"]["client"]["offered_shift"] == 7
    assert f.details["windows"]["client"]["potential_window"] == 65535     # scaling is off: no shift applies
    assert f.details["limited"] == []


def test_scaling_on_both_sides_and_a_small_transfer_is_not_reported(tmp_path):
    cap = Capture()
    conn = Conn(cap, c_ws=7, s_ws=7)
    t = conn.handshake(0)
    conn.send(conn.c, t + 1, 100)
    conn.send(conn.s, t + 51, 1000)
    assert of(judge(cap.write(tmp_path / "t.pcap")), "tcp.window_scaling") == []


def test_neither_side_scaling_and_a_window_limited_download_at_the_sender(tmp_path):
    cap = Capture()
    conn = Conn(cap)                                          # no window scale option at all
    t = conn.handshake(0, rtt_ms=50)
    conn.send(conn.c, t + 1, 20)
    lasts = bulk(conn, conn.s, t + 51, 50, rounds=20, window=65535)
    found = of(judge(cap.write(tmp_path / "t.pcap")), "tcp.window_scaling")
    assert len(found) == 1
    f = found[0]
    assert f.severity == "warning" and "Neither side offered window scaling" in f.summary
    assert f.details["limited"] == ["to_client"]
    flow = f.details["to_client"]
    # 45 segments of 1448 bytes per round: only the 45th leaves less than one MSS (1460) of the 65,535 open.
    assert flow["window_full_segments"] == 20
    assert f.frames == conn.log["syn"] + lasts[:20]
    assert flow["bytes"] == 20 * 45 * MSS_DATA and flow["largest_window"] == 65535


def test_window_limited_download_seen_at_the_receiver(tmp_path):
    # At the receiver the sender's bytes in flight are not visible; the throughput is: one window per RTT.
    cap = Capture()
    conn = Conn(cap, c_ws=None, s_ws=8)                       # the client does not offer it
    t = conn.handshake(0, rtt_ms=50)
    conn.send(conn.c, t + 1, 20)
    bulk(conn, conn.s, t + 51, 50, rounds=20, window=65535, at_sender=False)
    path = cap.write(tmp_path / "t.pcap")
    f = of(judge(path), "tcp.window_scaling")[0]
    flow = f.details["to_client"]
    assert flow["window_full_segments"] == 0 and f.frames == conn.log["syn"]
    # Its own figures: 20 rounds of 45 x 1448 bytes, the first segment to the last 19 RTTs + 44 x 10 us later.
    duration = 19 * 0.050 + 44 * 0.00001
    assert flow["throughput"] == pytest.approx(20 * 45 * MSS_DATA / duration, rel=1e-3)
    assert flow["bdp_bytes"] == pytest.approx(20 * 45 * MSS_DATA / duration * 0.050, rel=1e-3)
    assert f.severity == "warning" and "Neither side offered" in f.summary
    assert "(Linux: sysctl net.ipv4.tcp_window_scaling=1" in f.action
    # The bar is a setting: ask for more than a full window per round trip and it does not fire.
    assert of(judge(path, "tcp.window_scaling.min_window_use=1.1"), "tcp.window_scaling") == []


def test_seed_case_server_shift_zero_caps_its_window(tmp_path):
    # The seed's handshake: client shift 2, server shift 0. Scaling is on, but the server's window can never
    # exceed 65,535 bytes: an upload to it is held to one such window per round trip.
    cap = Capture()
    conn = Conn(cap, c_ws=2, s_ws=0)
    t = conn.handshake(0, rtt_ms=100, s_win=65535)
    lasts = bulk(conn, conn.c, t + 1, 100, rounds=12, window=65535)
    f = of(judge(cap.write(tmp_path / "t.pcap")), "tcp.window_scaling")[0]
    assert f.details["window_scaling"] is True and f.details["limited"] == ["to_server"]
    assert f.details["windows"]["server"] == {"offered_shift": 0, "potential_window": 65535,
                                              "largest_window": 65535}
    assert f.details["windows"]["client"]["potential_window"] == 65535 << 2
    assert "offered a window scale shift of 0" in f.summary
    assert f.frames == conn.log["syn"] + lasts


def test_receive_buffer_far_below_the_scale_is_named(tmp_path):
    cap = Capture()
    conn = Conn(cap, c_ws=7, s_ws=7)
    t = conn.handshake(0, rtt_ms=50)
    conn.send(conn.c, t + 1, 20)
    bulk(conn, conn.s, t + 51, 50, rounds=8, window=256 * 1024)
    f = of(judge(cap.write(tmp_path / "t.pcap")), "tcp.window_scaling")[0]
    assert f.details["windows"]["client"]["potential_window"] == 65535 << 7
    assert f.details["windows"]["client"]["largest_window"] == 256 * 1024
    assert "receive window" in f.summary and "too small for the path" in f.summary


def test_scaled_transfer_well_inside_its_window_is_not_reported(tmp_path):
    # 20 rounds of 64 KB against a 4 MB window: the path, not the window, sets the pace.
    cap = Capture()
    conn = Conn(cap, c_ws=7, s_ws=7)
    t = conn.handshake(0, rtt_ms=50)
    conn.send(conn.c, t + 1, 20)
    receiver_window = 4 << 20
    for r in range(20):
        for k in range(45):
            conn.send(conn.s, t + 51 + r * 50 + k * 0.01, MSS_DATA)
        conn.ack(conn.c, t + 51 + r * 50 + 1, receiver_window)
    assert of(judge(cap.write(tmp_path / "t.pcap")), "tcp.window_scaling") == []


def test_slow_reader_shrinking_its_window_is_not_a_scaling_problem(tmp_path):
    # The client advertises 64 KB at first, then ever less as its application stops reading; the sender fills
    # each small window. The window filled because it shrank, not because it was too small for the path.
    cap = Capture()
    conn = Conn(cap, c_ws=7, s_ws=7)
    t = conn.handshake(0, rtt_ms=1)
    conn.send(conn.c, t + 1, 20)
    t += 2
    windows = [65535] + [8 * MSS_DATA] * 40
    for w in windows:
        n = max(1, w // MSS_DATA)
        for k in range(n):
            conn.send(conn.s, t + k * 0.01, MSS_DATA)
        conn.ack(conn.c, t + 1, w)
        t += 50
    assert of(judge(cap.write(tmp_path / "t.pcap")), "tcp.window_scaling") == []


def test_small_window_filled_by_a_stalling_reader_on_a_fast_path_is_not_reported(tmp_path):
    # A 2,920-byte window (a tiny SO_RCVBUF), filled by every flight, on a 1 ms path; but the reader pauses
    # 20 ms between reads, so the transfer runs at a fraction of window / RTT: the application, not the
    # window size, set the pace.
    cap = Capture()
    conn = Conn(cap, c_ws=0, s_ws=7)
    t = conn.handshake(0, rtt_ms=1)
    conn.send(conn.c, t + 1, 20)
    t += 2
    for _ in range(100):
        conn.send(conn.s, t, MSS_DATA)
        conn.send(conn.s, t + 0.01, MSS_DATA)
        conn.ack(conn.c, t + 1, 0)                        # full: nothing read yet
        conn.ack(conn.c, t + 20, 2920)                    # read: the window opens again
        t += 21
    path = cap.write(tmp_path / "t.pcap")
    assert tshark_frames(path, "tcp.analysis.zero_window")    # the trace is what it says: a stalling reader
    assert of(judge(path), "tcp.window_scaling") == []


# -- tcp.sack_not_agreed ----------------------------------------------------------------------------


def lossy_exchange(conn: Conn, t: float) -> int:
    """The client's request, the server's first answer segment lost and resent after 200 ms. Returns the
    retransmission's frame."""
    conn.send(conn.c, t + 1, 100)
    first = conn.s.nxt
    conn.send(conn.s, t + 52, 1000)                       # captured at the client: it arrives ...
    conn.ack(conn.c, t + 53, 65535, upto=1)               # ... but say the client saw a hole before it
    return conn.send(conn.s, t + 252, 1000, seq=first, what="resent")


def test_sack_offered_by_one_side_with_retransmissions_is_a_warning(tmp_path):
    cap = Capture()
    conn = Conn(cap, c_sack=True, s_sack=False)
    t = conn.handshake(0)
    resent = lossy_exchange(conn, t)
    path = cap.write(tmp_path / "t.pcap")
    f = of(judge(path), "tcp.sack_not_agreed")
    assert len(f) == 1
    assert f[0].severity == "warning" and f[0].frames == conn.log["syn"] + [resent]
    assert "SACK permitted by 10.0.0.1 (client) but not by 10.0.0.2:80 (server)" in f[0].summary
    assert f[0].details["retransmissions"] == 1
    # With the bar raised, the same connection is only informational.
    again = of(judge(path, "tcp.sack_not_agreed.min_retransmissions=2"), "tcp.sack_not_agreed")
    assert again[0].severity == "info"


@pytest.mark.parametrize("c_sack, s_sack, expected", [
    (False, True, "info"),        # one side, nothing lost: informational
    (True, True, None),           # agreed
    (False, False, None),         # neither offered: nothing "not agreed"
])
def test_sack_agreement(tmp_path, c_sack, s_sack, expected):
    cap = Capture()
    conn = Conn(cap, c_sack=c_sack, s_sack=s_sack)
    t = conn.handshake(0)
    conn.send(conn.c, t + 1, 100)
    conn.send(conn.s, t + 52, 1000)
    f = of(judge(cap.write(tmp_path / "t.pcap")), "tcp.sack_not_agreed")
    assert [x.severity for x in f] == ([expected] if expected else [])


# -- tcp.mss_mismatch -------------------------------------------------------------------------------


def test_asymmetric_mss_respected_by_both_sides_is_normal(tmp_path):
    cap = Capture()
    conn = Conn(cap, c_mss=1460, s_mss=1400)
    t = conn.handshake(0)
    conn.send(conn.c, t + 1, 1400)                        # the client respects the server's 1400
    for k in range(5):
        conn.send(conn.s, t + 52 + k * 0.1, 1460)         # and the server the client's 1460
    assert of(judge(cap.write(tmp_path / "t.pcap")), "tcp.mss_mismatch") == []


def test_segments_above_the_peer_mss_are_reported(tmp_path):
    cap = Capture()
    conn = Conn(cap, c_mss=1460, s_mss=1360)              # the server is behind a tunnel
    t = conn.handshake(0)
    over = [conn.send(conn.c, t + 1 + k * 0.1, 1460, what="over") for k in range(3)]
    conn.send(conn.c, t + 2, 1000)                        # this one fits
    # A segment larger than the client's own MSS was never on the wire as such (segmentation offload
    # in a capture on the host): not counted.
    conn.send(conn.c, t + 3, 2 * 1360)
    f = of(judge(cap.write(tmp_path / "t.pcap")), "tcp.mss_mismatch")
    assert len(f) == 1
    assert f[0].details["case"] == "oversize" and f[0].frames == conn.log["syn"] + over
    assert f[0].details["oversize_segments"] == 3 and f[0].details["largest_segment"] == 1460
    assert "announced an MSS of 1360" in f[0].summary


def test_offload_super_segments_alone_are_not_a_mismatch(tmp_path):
    cap = Capture()
    conn = Conn(cap, c_mss=1460, s_mss=1460)
    t = conn.handshake(0)
    conn.send(conn.c, t + 1, 100)
    for k in range(4):
        conn.send(conn.s, t + 52 + k, 4 * 1448)           # GRO at the capturing client: 4 segments as one
    assert of(judge(cap.write(tmp_path / "t.pcap")), "tcp.mss_mismatch") == []


def test_frag_needed_below_the_announced_mss(tmp_path):
    cap = Capture()
    conn = Conn(cap, c_mss=1460, s_mss=1460)
    t = conn.handshake(0)
    conn.send(conn.c, t + 1, 100)
    big = conn.send(conn.s, t + 52, 1448)
    quoted = cap.frames[big - 1][1][14:14 + 28]
    router = "10.0.0.254"
    err = g.ether(MAC_S, MAC_C, 0x0800, g.ipv4(router, SERVER, 1, g.icmp(3, 4, struct.pack("!HH", 0, 1280), quoted),
                                              flags_frag=0))
    icmp_frame = cap.add(int((t + 52.1) * MS), err)
    f = of(judge(cap.write(tmp_path / "t.pcap")), "tcp.mss_mismatch")
    assert len(f) == 1
    d = f[0].details
    assert d["case"] == "path_mtu" and d["path_mtu"] == 1280 and d["path_mss"] == 1240
    assert d["announced_mss"] == 1460 and f[0].frames == conn.log["syn"] + [icmp_frame]
    assert "Clamp the TCP MSS to 1240" in f[0].action


def test_black_hole_full_segments_never_acknowledged(tmp_path):
    cap = Capture()
    conn = Conn(cap, c_mss=1460, s_mss=1460)
    t = conn.handshake(0)
    conn.send(conn.c, t + 1, 100)
    conn.send(conn.s, t + 52, 300)                        # small: got through
    conn.ack(conn.c, t + 103, 65535)
    first = conn.s.nxt
    stuck = [conn.send(conn.s, t + 104, 1448, what="stuck")]
    for k, back in enumerate((300, 600, 1200)):           # RTO backoff, the same full segment each time
        stuck.append(conn.send(conn.s, t + 104 + back * (k + 1), 1448, seq=first, what="stuck"))
    f = of(judge(cap.write(tmp_path / "t.pcap")), "tcp.mss_mismatch")
    assert len(f) == 1
    d = f[0].details
    assert d["case"] == "black_hole" and f[0].severity == "error"
    assert d["stuck_size"] == 1448 and d["largest_acknowledged"] == 300 and d["retransmissions"] == 3
    assert f[0].frames == conn.log["syn"] + stuck


def test_small_request_retransmitted_to_a_dead_server_is_no_black_hole(tmp_path):
    cap = Capture()
    conn = Conn(cap)
    t = conn.handshake(0)
    for k in range(5):
        conn.send(conn.c, t + 1 + 300 * k, 100, seq=1)
    assert of(judge(cap.write(tmp_path / "t.pcap")), "tcp.mss_mismatch") == []


@pytest.mark.parametrize("c_mss, case, text", [
    (None, "absent", "carried no MSS option"),
    (256, "small", "unusually small MSS of 256"),
])
def test_absent_or_small_mss_of_a_receiver(tmp_path, c_mss, case, text):
    size = c_mss or 536                                   # RFC 9293 3.7.1: 536 when the SYN says nothing
    cap = Capture()
    conn = Conn(cap, c_mss=c_mss, s_mss=1460)
    t = conn.handshake(0)
    conn.send(conn.c, t + 1, 100)
    first = conn.send(conn.s, t + 52, size)
    path = cap.write(tmp_path / "few.pcap")
    # One small segment costs nothing: not reported below min_small_bytes (64 KiB) received ...
    assert of(judge(path), "tcp.mss_mismatch") == []
    assert [x.details["case"] for x in of(judge(path, "tcp.mss_mismatch.min_small_bytes=1"), "tcp.mss_mismatch")] \
        == [case]
    # ... and a 70 kB download in segments of that size is.
    for k in range(70_000 // size):
        conn.send(conn.s, t + 53 + k * 0.01, size)
    f = of(judge(cap.write(tmp_path / "many.pcap")), "tcp.mss_mismatch")
    assert [x.details["case"] for x in f] == [case]
    assert text in f[0].summary and f[0].frames == conn.log["syn"] + [first]
    assert f[0].details["largest_received"] == size


# -- tcp.slow_response ------------------------------------------------------------------------------


def test_slow_answer_names_its_request_and_response(tmp_path):
    cap = Capture()
    conn = Conn(cap)
    t = conn.handshake(0, rtt_ms=20)
    req = conn.send(conn.c, t + 1, 0, payload=b"GET /report HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.ack(conn.s, t + 21, 65535)
    resp = conn.send(conn.s, t + 1 + 2500, 0, payload=b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    # A quick second exchange on the same connection.
    conn.send(conn.c, t + 2600, 0, payload=b"GET /quick HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.send(conn.s, t + 2625, 0, payload=b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    path = cap.write(tmp_path / "t.pcap")
    f = of(judge(path), "tcp.slow_response")
    assert len(f) == 1
    d = f[0].details
    assert f[0].category == "Response Time Thresholds" and f[0].severity == "warning"
    assert f[0].frames == [req, resp] and (d["request_frame"], d["response_frame"]) == (req, resp)
    # 2.5 s wait, of which one round trip is the network's: the handshake's, SYN to the ACK that completes
    # it (20 ms + the 10 us the client took to send that ACK).
    assert d["wait"] == pytest.approx(2.5) and d["network_time"] == pytest.approx(0.02001)
    assert d["server_time"] == pytest.approx(2.5 - 0.02001) and d["request"] == "HTTP GET /report"
    assert d["slow_responses"] == 1
    assert of(judge(path, "tcp.slow_response.min_server_time=3"), "tcp.slow_response") == []
    assert of(judge(path, "tcp.slow_response.error_server_time=2"), "tcp.slow_response")[0].severity == "error"


@pytest.mark.parametrize("port, wait_ms", [(22, 2500), (80, 130_000)])
def test_interactive_sessions_and_very_late_messages_are_not_answers(tmp_path, port, wait_ms):
    # An SSH session (the wait is the user's command) and a server message 130 s after the client's
    # (past max_wait: a push or keep-alive, not an answer).
    cap = Capture()
    conn = Conn(cap, sport=port)
    t = conn.handshake(0, rtt_ms=20)
    conn.send(conn.c, t + 1, 50)
    conn.send(conn.s, t + 1 + wait_ms, 80)
    path = cap.write(tmp_path / "t.pcap")
    assert of(judge(path), "tcp.slow_response") == []
    if port == 80:
        assert len(of(judge(path, "tcp.slow_response.max_wait=200"), "tcp.slow_response")) == 1


def test_quick_answers_are_not_slow(tmp_path):
    cap = Capture()
    conn = Conn(cap)
    t = conn.handshake(0, rtt_ms=20)
    for k in range(5):
        conn.send(conn.c, t + 1 + k * 400, 50)
        conn.send(conn.s, t + 1 + k * 400 + 300, 500)     # 300 ms each: 1.4 s of server time in all
    assert of(judge(cap.write(tmp_path / "t.pcap")), "tcp.slow_response") == []


def test_an_answer_that_starts_with_a_retransmission_is_not_server_time(tmp_path):
    # Captured next to the server: its answer left at once and was lost on the way; the client, not having
    # it, sends a second request; 3 s later the server resends the first answer. The 3 s were the network's
    # (a lost segment and its retransmission timeout), not the server's.
    cap = Capture()
    conn = Conn(cap)
    t = conn.handshake(0, rtt_ms=20)
    conn.send(conn.c, t + 1, 50)
    conn.send(conn.s, t + 2, 500)                         # the answer, lost after the capture point
    conn.send(conn.c, t + 30, 50)                         # the next request (it acknowledges nothing new)
    resent = conn.send(conn.s, t + 3030, 500, seq=1)      # the lost answer again
    path = cap.write(tmp_path / "t.pcap")
    assert of(judge(path), "tcp.slow_response") == []
    # The retransmission is what tshark calls one (the independent check that this trace is what it says).
    assert resent in tshark_frames(path, "tcp.analysis.retransmission")


# -- tcp.retransmissions: a close the peer was slow to acknowledge -----------------------------------

def _close_with_fin_resent(conn: Conn, t: float, resends: int) -> list[int]:
    """The client's FIN, sent again ``resends`` times 200 ms apart before the server acknowledges it
    (a delayed ACK of the close). Returns the frames of the copies."""
    c, s = conn.c, conn.s
    fin_seq = c.nxt
    conn.cap.add(int(t * MS), conn._frame(c, fin_seq, c.acked, FIN | ACK, 502))
    copies = [conn.cap.add(int((t + 200 * (k + 1)) * MS), conn._frame(c, fin_seq, c.acked, FIN | ACK, 502))
              for k in range(resends)]
    c.nxt = fin_seq + 1
    conn.ack(s, t + 200 * resends + 1, 65535)
    return copies


@pytest.mark.parametrize("resends, as_loss", [(1, False), (2, True)])
def test_a_lone_fin_sent_again_is_no_retransmission_problem(tmp_path, resends, as_loss):
    cap = Capture()
    conn = Conn(cap)
    t = conn.handshake(0)
    conn.send(conn.c, t + 1, 100)
    conn.send(conn.s, t + 52, 1000)
    conn.ack(conn.c, t + 53, 65535)
    copies = _close_with_fin_resent(conn, t + 60, resends)
    path = cap.write(tmp_path / "t.pcap")
    # tshark flags every copy a retransmission: the rule reports each time, but one alone is a late ACK
    # of the close, for information (TERM Packets), not a Session Error.
    assert tshark_frames(path, "tcp.analysis.retransmission") == copies
    [found] = of(judge(path), "tcp.retransmissions")
    assert found.frames == copies
    if as_loss:
        assert found.category == "Session Errors" and found.severity in ("warning", "error")
    else:
        assert (found.category, found.severity) == ("TERM Packets", "info")
        assert found.details["closing_only"] is True and "no data was resent" in found.summary
    # A data retransmission on the same kind of connection makes it a Session Error, lone FIN or not.
    cap2 = Capture()
    conn2 = Conn(cap2)
    t2 = conn2.handshake(0)
    resent = lossy_exchange(conn2, t2)
    fins = _close_with_fin_resent(conn2, t2 + 300, resends)
    found2 = of(judge(cap2.write(tmp_path / "u.pcap")), "tcp.retransmissions")
    assert len(found2) == 1 and found2[0].category == "Session Errors"
    assert found2[0].frames == ([resent] + (fins if as_loss else []))


def test_spurious_retransmissions_are_named_as_such(tmp_path):
    """A segment the receiver had already acknowledged, sent again: not loss (tshark: spurious)."""
    cap = Capture()
    conn = Conn(cap)
    t = conn.handshake(0)
    conn.send(conn.c, t + 1, 100)
    first = conn.s.nxt
    conn.send(conn.s, t + 52, 1000)
    conn.ack(conn.c, t + 53, 65535)                                   # acknowledged ...
    again = conn.send(conn.s, t + 300, 1000, seq=first, what="resent")  # ... and sent again all the same
    path = cap.write(tmp_path / "t.pcap")
    assert tshark_frames(path, "tcp.analysis.spurious_retransmission") == [again]
    [f] = of(judge(path), "tcp.retransmissions")
    assert f.frames == [again] and f.details["spurious"] == 1
    assert f.summary.endswith(", 1 spurious") and "receiver already had that data" in f.explanation
