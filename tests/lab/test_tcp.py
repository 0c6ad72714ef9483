"""TCP faults from real Linux stacks: each tcp rule's fault made in the lab, and its clean twin.

- ``tcp.window_scaling``: the seed's case: a download through a router that adds 50 ms of
  delay, with window scaling disabled on the client (neither SYN then carries the option) or on
  the server (offered by one side only); the 64 KiB window holds the transfer to one window per
  round trip.  Clean twin: scaling on both sides, same path.
- ``tcp.sack_not_agreed``: SACK disabled on the server, a download that loses segments on the
  way.  Clean twin: SACK on both sides, nothing lost.
- ``tcp.mss_mismatch``: a router whose link to the client has a smaller MTU than the client's
  own, no MSS clamping and the router's "fragmentation needed" errors filtered: the server's
  full-sized segments never arrive (a PMTU black hole).  Clean twin: the router clamps the MSS.
- ``tcp.slow_response``: a server that waits 2 s before answering.  Clean twin: it answers at once.
- ``tcp.syn_unanswered`` (the server's firewall drops the SYNs), ``tcp.connection_refused``
  (nothing listens), ``tcp.reset`` (the server aborts with SO_LINGER 0), ``tcp.retransmissions``
  (a router drops every 25th data segment), ``tcp.zero_window`` (a client with a small receive
  buffer stops reading): each with its clean twin.

Netem is not in this kernel (CONFIG_NET_SCH_NETEM is off), so the delay is a delay line of
our own: the router routes what the client sends into a TUN device, and a small program holds
each packet there for the delay before handing it back to the router.  Loss is nftables'
``numgen`` counter: every Nth matching packet dropped, the same ones every run.

The servers and clients are a few lines of Python on plain sockets (below), so that each does
exactly one thing; expected evidence is tshark's selection of the frames that prove the fault.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.lab import (
    Network,
    Node,
    Topology,
    assert_clean,
    assert_fires,
    diagnose,
    of_rule,
    routed,
    show,
    tshark_fields,
    tshark_frames,
    two_hosts,
)
from tests.lab.conftest import require

pytestmark = pytest.mark.lab

PORT = 8080

SYNS = "tcp.flags.syn==1"
FIRST_SYNS = "tcp.flags.syn==1 && tcp.flags.ack==0"

# -- the programs ------------------------------------------------------------------------------------

SERVER = textwrap.dedent('''\
    """A TCP server doing one thing per connection (argv: MODE PORT [ARG])."""
    import socket, struct, sys, time
    mode, port = sys.argv[1], int(sys.argv[2])
    arg = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    print("listening", flush=True)
    while True:
        c, _ = s.accept()
        c.recv(1000)                              # the request
        if mode == "send":                        # ARG bytes, then an orderly close
            n = int(arg)
            c.sendall((bytes(range(256)) * (n // 256 + 1))[:n])
        elif mode == "answer":                    # wait ARG seconds, answer, close when the client does
            time.sleep(arg)
            c.sendall(b"answer after %.1f s\\n" % arg)
            c.shutdown(socket.SHUT_WR)
            c.recv(1000)
        elif mode == "reset":                     # abort: SO_LINGER 0 makes close() send a RST
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
''')

CLIENT = textwrap.dedent('''\
    """A TCP client (argv: MODE HOST PORT [ARG]); prints what happened."""
    import socket, sys, time
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    arg = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    c = socket.socket()
    if mode == "stall":                           # a small receive buffer, set before the handshake
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.settimeout(arg if mode == "connect" else 30)
    try:
        c.connect((host, port))
    except OSError as e:
        print("connect failed:", type(e).__name__, e)
        sys.exit(0)
    c.sendall(b"GET\\n")
    if mode == "stall":                           # read nothing for a while: the window closes
        time.sleep(arg)
    n = 0
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            n += len(b)
    except OSError as e:
        print("receive failed:", type(e).__name__, e)
    c.close()
    print("received", n)
''')

DELAY_LINE = textwrap.dedent('''\
    """Hold every packet routed into TUN device NAME for DELAY seconds, then hand it back (argv: NAME DELAY)."""
    import collections, fcntl, os, select, struct, sys, time
    name, delay = sys.argv[1], float(sys.argv[2])
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", name.encode(), 0x0001 | 0x1000))  # TUNSETIFF: IFF_TUN, IFF_NO_PI
    print("ready", flush=True)
    held = collections.deque()
    while True:
        wait = max(0.0, held[0][0] - time.monotonic()) if held else None
        if select.select([fd], [], [], wait)[0]:
            held.append((time.monotonic() + delay, os.read(fd, 65536)))
        now = time.monotonic()
        while held and held[0][0] <= now:
            os.write(fd, held.popleft()[1])
''')


def program(net: Network, name: str, text: str) -> str:
    path = net.workdir / name
    if not path.exists():
        path.write_text(text)
    return str(path)


PINNED = ["taskset", "-c", "0"]
"""Server and client run on one CPU.  A veth pair delivers a sender's packets
through the backlog of the CPU that sent them: a sender that migrates between
CPUs mid-burst can have its segments arrive out of order, and the receiver's
SACKs then draw spurious retransmissions (seen now and then on a busy
machine in the clean twins).  That is reordering made by the lab, not by the
network a scenario models."""


def server(net: Network, node: Node, mode: str, arg: float = 0) -> None:
    proc = net.spawn(node, [*PINNED, "python3", program(net, "server.py", SERVER), mode, str(PORT), str(arg)],
                     f"server-{mode}")
    net.wait_listening(node, "tcp", PORT, proc)


def client(net: Network, node: Node, mode: str, host: str, arg: float = 0, timeout: float = 30) -> str:
    r = net.run(node, [*PINNED, "python3", program(net, "client.py", CLIENT), mode, host, str(PORT), str(arg)],
                timeout=timeout)
    return r.stdout.strip()


def exchange(net: Network, t: Topology, pcap: Path, mode: str, arg: float = 0, at: Node | None = None,
             timeout: float = 30) -> tuple[Path, str]:
    """The client program (MODE, ARG) against the server while the link of ``at`` (the client) is
    captured into ``pcap``; (the capture, what the client printed)."""
    with net.capture(pcap, (at or t.client).ifaces[0]) as pcap:
        out = client(net, t.client, mode, t.server.ip or "", arg=arg, timeout=timeout)
    return pcap, out


def sysctl(net: Network, node: Node, name: str, value: int) -> None:
    """``net.ipv4.NAME = VALUE`` in the node's namespace (its own copy of the TCP settings)."""
    net.run(node, ["sh", "-ec", f"echo {value} > /proc/sys/net/ipv4/{name}"])


def delay_from_client(net: Network, t: Topology, seconds: float) -> None:
    """Everything the client sends waits ``seconds`` in r1 (a delay line: see the module docstring)."""
    r1 = t.r1
    proc = net.spawn(r1, ["python3", program(net, "delay_line.py", DELAY_LINE), "dly0", str(seconds)], "delay-line")
    net.wait_for(proc, "ready")
    net.run(r1, ["ip", "link", "set", "dly0", "up"])
    net.run(r1, ["sh", "-ec", "echo 0 > /proc/sys/net/ipv4/conf/dly0/rp_filter"])
    net.run(r1, ["ip", "route", "add", "default", "dev", "dly0", "table", "100"])
    net.run(r1, ["ip", "rule", "add", "iif", r1.iface_to(t.client).name, "lookup", "100"])


def drop_every(net: Network, router: Node, src: str, nth: int) -> None:
    """``router`` drops every ``nth`` full-sized TCP segment that ``src`` sends through it (the 3rd,
    the (nth+3)th, ...): deterministic loss."""
    net.nft(router, f"""table ip lab_loss {{
  chain forward {{
    type filter hook forward priority 0;
    ip saddr {src} tcp sport {PORT} meta length > 1000 numgen inc mod {nth} == 2 counter drop
  }}
}}
""")


def timed(pcap: Path, flt: str) -> list[tuple[int, float]]:
    """(frame, epoch seconds) of the frames tshark selects."""
    return [(int(f), float(t)) for f, t in tshark_fields(pcap, flt, "frame.number", "frame.time_epoch")]


# -- tcp.window_scaling ------------------------------------------------------------------------------

DELAY = 0.05
DOWNLOAD = 2_000_000


def download_with_delay(net: Network, tmp_path: Path, client_ws: int, server_ws: int, at: str = "client"
                        ) -> tuple[Path, Topology, str]:
    """The seed's case: a 2 MB download through r1, which delays the client's packets by 50 ms;
    captured at the client (or at the server)."""
    t = routed(net, routers=1)
    sysctl(net, t.client, "tcp_window_scaling", client_ws)
    sysctl(net, t.server, "tcp_window_scaling", server_ws)
    delay_from_client(net, t, DELAY)
    server(net, t.server, "send", DOWNLOAD)
    name = f"ws-c{client_ws}-s{server_ws}-at-{at}.pcap"
    pcap, out = exchange(net, t, tmp_path / name, "get", at=t.client if at == "client" else t.server)
    return pcap, t, out


def transfer_figures(pcap: Path, sender: str) -> tuple[int, float, float, int]:
    """From tshark: (payload bytes the sender sent, first to last data segment in seconds, the
    handshake RTT, the largest window the receiver advertised)."""
    data = tshark_fields(pcap, f"ip.src=={sender} && tcp.len>0", "frame.time_epoch", "tcp.len")
    nbytes = sum(int(n) for _, n in data)
    span = float(data[-1][0]) - float(data[0][0])
    [[irtt]] = tshark_fields(pcap, "tcp.analysis.initial_rtt && tcp.flags.syn==0", "tcp.analysis.initial_rtt")[:1]
    windows = tshark_fields(pcap, f"ip.dst=={sender}", "tcp.window_size")
    return nbytes, span, float(irtt), max(int(w[0]) for w in windows if w[0])


@pytest.mark.parametrize("off", ["client", "server"])
def test_window_scaling_off_caps_a_download_at_one_window_per_round_trip(net: Network, tmp_path: Path,
                                                                          off: str) -> None:
    """The seed's case: scaling disabled on one host, 50 ms of delay: 64 KiB per round trip at most."""
    pcap, t, out = download_with_delay(net, tmp_path, int(off != "client"), int(off != "server"))
    assert out == f"received {DOWNLOAD}", out
    srv = t.server.ip or ""
    syns = tshark_frames(pcap, SYNS)
    opts = tshark_fields(pcap, SYNS, "ip.src", "tcp.options.wscale.shift")
    # What the SYNs say (tshark): with the client's scaling off neither offers (the SYN-ACK may carry the
    # option only in answer to a SYN that did); with the server's off only the client does.
    offered = {src: bool(shift) for src, shift in opts}
    assert offered == {t.client.ip: off != "client", srv: False}
    findings = diagnose(pcap)
    [f] = assert_fires(findings, "tcp.window_scaling", syns, severity="warning",
                       details={"window_scaling": False, "limited": ["to_client"]},
                       summary="Neither side offered" if off == "client" else
                       f"offered by {t.client.ip} (client) but not by {srv}:{PORT} (server)")
    nbytes, span, irtt, largest = transfer_figures(pcap, srv)
    flow = f["details"]["to_client"]
    assert largest <= 65535 and flow["largest_window"] == largest
    assert flow["bytes"] == nbytes == DOWNLOAD
    assert flow["throughput"] == pytest.approx(nbytes / span, rel=0.01)
    # The transfer ran at (nearly) one full window per round trip: the window, not the path, set the pace,
    # and the cap the finding gives is 65,535 bytes per handshake RTT.
    assert flow["bdp_bytes"] == pytest.approx(nbytes / span * irtt, rel=0.01)
    assert flow["bdp_bytes"] > 0.75 * largest
    assert f["details"]["unscaled_cap"] == pytest.approx(65535 / irtt, rel=0.01)
    assert irtt == pytest.approx(DELAY, abs=0.02)


def test_window_scaling_off_seen_at_the_sender_names_the_segments_that_filled_the_window(
        net: Network, tmp_path: Path) -> None:
    """Captured at the server, the sender: its bytes in flight reach the client's 64 KiB window flight after
    flight, and the finding lists those segments."""
    pcap, t, out = download_with_delay(net, tmp_path, 0, 1, at="server")
    assert out == f"received {DOWNLOAD}", out
    srv = t.server.ip
    syns = tshark_frames(pcap, SYNS)
    [f] = assert_fires(diagnose(pcap), "tcp.window_scaling", syns, severity="warning",
                       details={"window_scaling": False, "limited": ["to_client"]})
    # Each listed segment, by tshark's own numbers: a server data segment whose bytes in flight came within
    # one MSS (the 1460 the client announced) of the window the client last advertised before it.
    rows = tshark_fields(pcap, "tcp", "frame.number", "ip.src", "tcp.len", "tcp.window_size",
                         "tcp.analysis.bytes_in_flight")
    window = None
    filled = []
    for frame, src, tlen, win, bif in rows:
        if src != srv:
            window = int(win)
        elif int(tlen) and bif and window is not None and int(bif) >= window - 1460:
            filled.append(int(frame))
    listed = sorted(set(f["frames"]) - set(syns))
    assert len(filled) > 100 and listed == filled[:len(listed)] and len(listed) == 20
    assert f["details"]["to_client"]["window_full_segments"] == len(filled)


def test_window_scaling_clean_twin_both_sides_scale(net: Network, tmp_path: Path) -> None:
    pcap, t, out = download_with_delay(net, tmp_path, 1, 1)
    assert out == f"received {DOWNLOAD}", out
    assert all(shift for _, shift in tshark_fields(pcap, SYNS, "ip.src", "tcp.options.wscale.shift"))
    assert_clean(diagnose(pcap))


# -- tcp.sack_not_agreed -----------------------------------------------------------------------------


def lossy_download(net: Network, tmp_path: Path, server_sack: int, loss: bool) -> tuple[Path, Topology, str]:
    t = routed(net, routers=1)
    sysctl(net, t.server, "tcp_sack", server_sack)
    if loss:
        drop_every(net, t.r1, t.server.ip or "", 40)
    server(net, t.server, "send", 600_000)
    pcap, out = exchange(net, t, tmp_path / f"sack{server_sack}-loss{int(loss)}.pcap", "get")
    return pcap, t, out


def test_sack_not_agreed_with_loss(net: Network, tmp_path: Path) -> None:
    """The server does not permit SACK; the path loses segments: recovery without selective ACKs."""
    require(["nft"])
    pcap, t, out = lossy_download(net, tmp_path, server_sack=0, loss=True)
    assert out == "received 600000", out
    sack = tshark_fields(pcap, SYNS, "ip.src", "tcp.options.sack_perm")
    assert {src: bool(v) for src, v in sack} == {t.client.ip: True, t.server.ip: False}
    resent = tshark_frames(pcap, "tcp.analysis.retransmission")
    assert resent, "the router dropped nothing"
    [f] = assert_fires(diagnose(pcap), "tcp.sack_not_agreed", tshark_frames(pcap, SYNS) + resent, exact=True,
                       severity="warning", details={"sack_client": True, "sack_server": False,
                                                    "retransmissions": len(resent)})
    assert f"not by {t.server.ip}:{PORT} (server)" in f["summary"]


def test_sack_agreed_with_the_same_loss_is_not_reported(net: Network, tmp_path: Path) -> None:
    require(["nft"])
    pcap, _, out = lossy_download(net, tmp_path, server_sack=1, loss=True)
    assert out == "received 600000", out
    findings = diagnose(pcap)
    assert tshark_frames(pcap, "tcp.analysis.retransmission") and of_rule(findings, "tcp.retransmissions")
    assert not of_rule(findings, "tcp.sack_not_agreed"), show(findings)


def test_sack_clean_twin(net: Network, tmp_path: Path) -> None:
    pcap, _, out = lossy_download(net, tmp_path, server_sack=1, loss=False)
    assert out == "received 600000", out
    assert_clean(diagnose(pcap))


# -- tcp.mss_mismatch --------------------------------------------------------------------------------

NARROW = 1000
"""The MTU of r1's link to the client (the client's own end stays at 1500, so it announces 1460)."""


def download_through_narrow_link(net: Network, tmp_path: Path, fix: str | None) -> tuple[Path, Topology, str]:
    """A download through r1, whose link to the client carries only NARROW bytes, captured at the server.

    ``fix`` None: r1's "fragmentation needed" errors are filtered (a PMTU black hole);
    "clamp": r1 rewrites the MSS of the SYNs it forwards to what its narrow link carries."""
    t = routed(net, routers=1, mtus=[(1500, NARROW), None])
    r1 = t.r1
    if fix == "clamp":
        net.nft(r1, f"""table ip lab_mss {{
  chain forward {{
    type filter hook forward priority mangle;
    tcp flags syn tcp option maxseg size set {NARROW - 40}
  }}
}}
""")
    else:
        net.nft(r1, """table ip lab_pmtu {
  chain output {
    type filter hook output priority 0;
    icmp type destination-unreachable icmp code frag-needed drop
  }
}
""")
    server(net, t.server, "send", 200_000)
    pcap, out = exchange(net, t, tmp_path / f"mss-{fix or 'hole'}.pcap", "connect", arg=3, at=t.server, timeout=20)
    return pcap, t, out


def test_mss_larger_than_the_path_carries_black_hole(net: Network, tmp_path: Path) -> None:
    require(["nft"])
    pcap, t, out = download_through_narrow_link(net, tmp_path, None)
    assert "timed out" in out, out
    srv = t.server.ip
    # tshark: the client announced 1460; the server's full-sized segments (over what the narrow link
    # carries) were sent again and again; no ICMP reached the server.
    [[mss]] = tshark_fields(pcap, f"{FIRST_SYNS}", "tcp.options.mss_val")
    assert int(mss) == 1460 and not tshark_frames(pcap, "icmp")
    stuck = tshark_frames(pcap, f"ip.src=={srv} && tcp.analysis.retransmission && ip.len > {NARROW}")
    assert len(stuck) >= 3, stuck
    [f] = assert_fires(diagnose(pcap), "tcp.mss_mismatch", tshark_frames(pcap, SYNS) + stuck,
                       severity="error", details={"case": "black_hole", "mss_client": 1460})
    sizes = {int(n) for [n] in tshark_fields(pcap, f"ip.src=={srv} && tcp.analysis.retransmission", "tcp.len")}
    assert sizes == {f["details"]["stuck_size"]}


def test_mss_clean_twin_router_clamps_the_mss(net: Network, tmp_path: Path) -> None:
    require(["nft"])
    pcap, _, out = download_through_narrow_link(net, tmp_path, "clamp")
    assert out == "received 200000", out
    [[mss]] = tshark_fields(pcap, FIRST_SYNS, "tcp.options.mss_val")
    assert int(mss) == NARROW - 40                       # the clamp at work
    assert_clean(diagnose(pcap))


# -- tcp.slow_response -------------------------------------------------------------------------------


@pytest.mark.parametrize("wait", [2.0, 0.0])
def test_slow_response(net: Network, tmp_path: Path, wait: float) -> None:
    """A server that waits 2 s before answering (and its clean twin, answering at once)."""
    t = two_hosts(net)
    server(net, t.server, "answer", wait)
    pcap, out = exchange(net, t, tmp_path / f"slow{wait:g}.pcap", "answer")
    assert out.startswith("received"), out
    findings = diagnose(pcap)
    if not wait:
        assert_clean(findings)
        return
    [(req, t_req)] = timed(pcap, f"ip.src=={t.client.ip} && tcp.len>0")
    [(resp, t_resp)] = timed(pcap, f"ip.src=={t.server.ip} && tcp.len>0")
    [f] = assert_fires(findings, "tcp.slow_response", [req, resp], exact=True,
                       details={"request_frame": req, "response_frame": resp})
    d = f["details"]
    assert d["wait"] == pytest.approx(t_resp - t_req, abs=1e-6)
    assert d["server_time"] == pytest.approx(t_resp - t_req - d["network_time"], abs=1e-6)
    assert wait <= d["server_time"] < wait + 0.5 and d["network_time"] < 0.01


# -- tcp.syn_unanswered, tcp.connection_refused, tcp.reset -------------------------------------------


@pytest.mark.parametrize("fault", [True, False])
def test_syn_unanswered_when_the_server_drops_them(net: Network, tmp_path: Path, fault: bool) -> None:
    require(["nft"])
    t = two_hosts(net)
    server(net, t.server, "answer", 0)
    if fault:
        net.nft(t.server, f"""table inet lab_drop {{
  chain input {{
    type filter hook input priority 0;
    tcp dport {PORT} drop
  }}
}}
""")
    pcap, out = exchange(net, t, tmp_path / f"syn{int(fault)}.pcap", "connect", arg=3.5)
    findings = diagnose(pcap)
    if not fault:
        assert out == "received 19", out
        assert_clean(findings)
        return
    assert "timed out" in out, out
    syns = tshark_frames(pcap, FIRST_SYNS)
    assert len(syns) >= 3, syns                      # the first SYN and its retransmissions (1 s, 3 s)
    assert_fires(findings, "tcp.syn_unanswered", syns, exact=True, details={"syns": len(syns)})


@pytest.mark.parametrize("fault", [True, False])
def test_connection_refused_nothing_listens(net: Network, tmp_path: Path, fault: bool) -> None:
    t = two_hosts(net)
    if not fault:
        server(net, t.server, "answer", 0)
    pcap, out = exchange(net, t, tmp_path / f"refused{int(fault)}.pcap", "connect", arg=3)
    findings = diagnose(pcap)
    if not fault:
        assert out == "received 19", out
        assert_clean(findings)
        return
    assert "ConnectionRefused" in out, out
    evidence = tshark_frames(pcap, FIRST_SYNS) + tshark_frames(pcap, "tcp.flags.reset==1")
    assert_fires(findings, "tcp.connection_refused", evidence, exact=True,
                 details={"server": f"{t.server.ip}:{PORT}"})


@pytest.mark.parametrize("fault", [True, False])
def test_reset_by_the_server(net: Network, tmp_path: Path, fault: bool) -> None:
    """The server aborts an established connection (SO_LINGER 0 close) instead of closing it."""
    t = two_hosts(net)
    server(net, t.server, "reset" if fault else "send", 0 if fault else 1000)
    pcap, out = exchange(net, t, tmp_path / f"reset{int(fault)}.pcap", "get")
    findings = diagnose(pcap)
    if not fault:
        assert out == "received 1000", out
        assert_clean(findings)
        return
    rst = tshark_frames(pcap, f"tcp.flags.reset==1 && ip.src=={t.server.ip}")
    assert rst, out
    assert_fires(findings, "tcp.reset", rst, exact=True, details={"reset_by": "the server"})


# -- tcp.retransmissions, tcp.zero_window ----------------------------------------------------------


@pytest.mark.parametrize("fault", [True, False])
def test_retransmissions_on_a_lossy_router(net: Network, tmp_path: Path, fault: bool) -> None:
    require(["nft"])
    t = routed(net, routers=1)
    if fault:
        drop_every(net, t.r1, t.server.ip or "", 25)
    server(net, t.server, "send", 500_000)
    pcap, out = exchange(net, t, tmp_path / f"loss{int(fault)}.pcap", "get")
    assert out == "received 500000", out
    findings = diagnose(pcap)
    if not fault:
        assert_clean(findings)
        return
    resent = tshark_frames(pcap, "tcp.analysis.retransmission")
    assert resent
    assert_fires(findings, "tcp.retransmissions", resent, exact=True, details={"retransmissions": len(resent)})


@pytest.mark.parametrize("fault", [True, False])
def test_zero_window_from_a_client_that_stops_reading(net: Network, tmp_path: Path, fault: bool) -> None:
    t = two_hosts(net)
    server(net, t.server, "send", 300_000)
    pcap, out = exchange(net, t, tmp_path / f"zw{int(fault)}.pcap", "stall" if fault else "get", arg=2)
    assert out == "received 300000", out
    findings = diagnose(pcap)
    if not fault:
        assert_clean(findings)
        return
    zero = tshark_frames(pcap, "tcp.analysis.zero_window")
    assert zero and all(src == t.client.ip for [src] in tshark_fields(pcap, "tcp.analysis.zero_window", "ip.src"))
    assert_fires(findings, "tcp.zero_window", zero, exact=True, details={"zero_windows": len(zero)})
    # The small window filled again and again, but a slow reader is not a window too small for the path.
    assert not of_rule(findings, "tcp.window_scaling"), show(findings)
