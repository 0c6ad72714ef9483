"""Small TCP traces for the analysis tests: a segment builder and a random
trace generator whose traces put tshark's sequence analysis through its
rarer paths (probes into zero windows, keep-alives, SACK, window scaling
with and without the handshake, sequence wrap-around, reused ports, ICMP
errors quoting segments, lost and reordered packets, packets that take a
GRE tunnel or not).

Everything is deterministic: a seed gives the same bytes every time.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

from tests.support.pcapgen import BASE_TS, MAC_A, MAC_B, Rec, ether, icmp, ipv4, ipv6, pcap_file, tcp

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def options(*, mss: int | None = None, wscale: int | None = None, sack_perm: bool = False,
            sack: list[tuple[int, int]] | None = None, ts: tuple[int, int] | None = None) -> bytes:
    """TCP options, NOP-padded to a multiple of four bytes."""
    out = b""
    if mss is not None:
        out += struct.pack("!BBH", 2, 4, mss)
    if wscale is not None:
        out += bytes([1, 3, 3, wscale])
    if sack_perm:
        out += bytes([1, 1, 4, 2])
    if ts is not None:
        out += bytes([1, 1]) + struct.pack("!BBII", 8, 10, *ts)
    if sack:
        out += bytes([1, 1, 5, 2 + 8 * len(sack)]) + b"".join(struct.pack("!II", a, b) for a, b in sack)
    while len(out) % 4:
        out += b"\x01"
    return out


@dataclass(frozen=True)
class Host:
    addr: str
    port: int

    @property
    def v6(self) -> bool:
        return ":" in self.addr


def segment(src: Host, dst: Host, seq: int, ack: int, flags: int, window: int, *, length: int = 0,
            opts: bytes = b"") -> bytes:
    """An Ethernet frame with one TCP segment of ``length`` payload bytes."""
    body = tcp(src.port, dst.port, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, flags, window & 0xFFFF, options=opts,
               payload=bytes(length))
    if src.v6:
        return ether(MAC_B, MAC_A, 0x86DD, ipv6(src.addr, dst.addr, 6, body))
    return ether(MAC_B, MAC_A, 0x0800, ipv4(src.addr, dst.addr, 6, body))


def icmp_error(router: str, to: Host, quoted: bytes, quote_len: int) -> bytes:
    """An ICMPv4 destination unreachable quoting the first ``quote_len``
    bytes of TCP behind the IP header of Ethernet frame ``quoted``."""
    ip_part = quoted[14:14 + 20 + quote_len]
    return ether(MAC_A, MAC_B, 0x0800, ipv4(router, to.addr, 1, icmp(3, 1, b"\0\0\0\0", ip_part), flags_frag=0))


def gre(frame: bytes, outer_src: str, outer_dst: str) -> bytes:
    """Ethernet frame ``frame`` with its IP packet carried in GRE (RFC 2784,
    no optional fields) inside IPv4 from ``outer_src`` to ``outer_dst``."""
    return ether(MAC_B, MAC_A, 0x0800, ipv4(outer_src, outer_dst, 47, b"\0\0" + frame[12:14] + frame[14:]))


@dataclass
class Trace:
    """Frames with their times (nanoseconds after BASE_TS)."""

    frames: list[tuple[int, bytes]] = field(default_factory=list)
    now: int = 0

    def add(self, frame: bytes, gap_ns: int = 1_000_000) -> None:
        self.now += gap_ns
        self.frames.append((self.now, frame))

    def pcap(self) -> bytes:
        recs = [Rec(BASE_TS + t, f, len(f)) for t, f in self.frames]
        return pcap_file(recs)[0]


@dataclass
class _Side:
    host: Host
    seq: int
    window: int
    shift: int | None
    acked: int = 0
    """Highest sequence number of the other side this side has acknowledged."""


def random_trace(seed: int, packets: int = 120, sack_blocks: int = 2, tunnel: bool = False) -> Trace:
    """A trace of a few interleaved connections doing unusual things
    (SACK options with up to ``sack_blocks`` blocks).  With ``tunnel``, some
    packets travel in GRE between two routers, in either direction or the
    same way both ways (a mirror), and others do not: the conversation is
    the inner one all the same."""
    rnd = random.Random(seed)
    tunnel_rnd = random.Random(-1 - seed)  # apart, so that the rest stays as without tunnels
    tr = Trace()

    def add(frame: bytes, gap_ns: int) -> None:
        if tunnel and tunnel_rnd.random() < 0.4:
            ends = ["198.51.100.1", "198.51.100.2"]
            tunnel_rnd.shuffle(ends)
            frame = gre(frame, *ends)
        tr.add(frame, gap_ns)

    v6 = rnd.random() < 0.3
    hosts = ([Host("2001:db8::1", 0), Host("2001:db8::2", 0)] if v6
             else [Host("10.0.0.1", 0), Host("10.0.0.2", 0)])
    conns: list[tuple[_Side, _Side]] = []
    sent: list[bytes] = []

    def gap() -> int:
        return rnd.choice([0, 1_000, 500_000, 2_000_000, 5_000_000, 15_000_000, 40_000_000, 300_000_000])

    def new_conn() -> tuple[_Side, _Side]:
        # Few ports, so that tuples come back with new ISNs (reused ports).
        cport = rnd.choice([40000, 40001, 40002])
        near_wrap = rnd.random() < 0.25

        def isn() -> int:
            return rnd.randrange(0xFFFFFF00, 0x100000000) if near_wrap else rnd.randrange(0, 1 << 32)

        c = _Side(Host(hosts[0].addr, cport), isn(), rnd.choice([0, 1, 512, 8192, 65535]),
                  rnd.choice([None, 0, 2, 7, 14, 15]))
        s = _Side(Host(hosts[1].addr, 80), isn(), rnd.choice([0, 1, 512, 8192, 65535]),
                  rnd.choice([None, 0, 3, 7]))
        return c, s

    def emit(a: _Side, b: _Side, flags: int, length: int = 0, *, seq: int | None = None, ack: int | None = None,
             window: int | None = None, opts: bytes = b"", advance: bool = True, record: bool = True) -> bytes:
        s = a.seq if seq is None else seq
        k = b.seq if ack is None else ack
        f = segment(a.host, b.host, s, k, flags, a.window if window is None else window, length=length, opts=opts)
        if record:
            add(f, gap())
        sent.append(f)
        if advance and seq is None:
            a.seq = (a.seq + length + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        if flags & ACK:
            a.acked = k
        return f

    while len(tr.frames) < packets:
        if not conns or rnd.random() < 0.05:
            c, s = new_conn()
            conns.append((c, s))
            if rnd.random() < 0.8:
                wsc = None if c.shift is None else options(mss=1460, wscale=c.shift, sack_perm=True)
                syn = emit(c, s, SYN, ack=0, opts=wsc or b"", record=rnd.random() < 0.9)
                if rnd.random() < 0.2:
                    add(syn, gap())  # the SYN again
                wss = None if s.shift is None else options(mss=1460, wscale=s.shift)
                emit(s, c, SYN | ACK, opts=wss or b"", record=rnd.random() < 0.9)
                emit(c, s, ACK)
            continue
        c, s = rnd.choice(conns)
        a, b = (c, s) if rnd.random() < 0.6 else (s, c)
        r = rnd.random()
        if r < 0.35:  # data, sometimes not captured
            n = rnd.choice([1, 10, 100, 1000, 1460])
            emit(a, b, ACK | (PSH if rnd.random() < 0.5 else 0), n, record=rnd.random() < 0.9)
        elif r < 0.45:  # a pure ACK, sometimes repeated, sometimes with SACK
            sack = None
            if rnd.random() < 0.3:
                lo = (b.seq + rnd.choice([100, 1000])) & 0xFFFFFFFF
                sack = [(lo, (lo + 1000) & 0xFFFFFFFF)]
                if sack_blocks > 1 and rnd.random() < 0.5:
                    sack.append(((lo + 2000) & 0xFFFFFFFF, (lo + 2500) & 0xFFFFFFFF))
            ack = b.seq if rnd.random() < 0.7 else a.acked
            for _ in range(rnd.choice([1, 1, 2, 3, 4])):
                emit(a, b, ACK, ack=ack, opts=options(sack=sack) if sack else b"")
        elif r < 0.55:  # a retransmission of something sent before
            if sent:
                add(rnd.choice(sent[-12:]), gap())
        elif r < 0.6:  # two packets swapped
            f1 = emit(a, b, ACK, rnd.choice([10, 500]), record=False)
            f2 = emit(a, b, ACK, rnd.choice([10, 500]), record=False)
            add(f2, gap())
            add(f1, rnd.choice([100_000, 5_000_000]))
        elif r < 0.66:  # the window closes, a probe, its answer, it opens
            emit(a, b, ACK, window=0)
            a.window = 0
            probe = b.seq
            emit(b, a, ACK, 1, seq=probe)
            emit(a, b, ACK, window=0)
            if rnd.random() < 0.5:
                emit(b, a, ACK, 1, seq=probe)
            a.window = rnd.choice([512, 8192, 65535])
            emit(a, b, ACK)
        elif r < 0.71:  # a keep-alive and its answer
            emit(a, b, ACK, rnd.choice([0, 1]), seq=(a.seq - 1) & 0xFFFFFFFF)
            emit(b, a, ACK)
        elif r < 0.76:  # a window update
            a.window = rnd.choice([1024, 4096, 30000, 65535])
            emit(a, b, ACK)
        elif r < 0.8:  # fill the window the other side advertised
            n = max(1, min(1460, b.window << (b.shift or 0) if b.shift is not None else b.window))
            emit(a, b, ACK | PSH, n, ack=b.seq)
        elif r < 0.84:  # an ICMP error quoting something sent
            if sent and not v6:
                q = rnd.choice(sent[-6:])
                add(icmp_error("192.0.2.9", a.host, q, rnd.choice([8, 20, 28, 40])), gap())
        elif r < 0.88:  # an ACK of data never seen
            emit(a, b, ACK, ack=(b.seq + rnd.choice([1, 500, 3000])) & 0xFFFFFFFF)
        elif r < 0.92:  # FIN, sometimes RST
            emit(a, b, FIN | ACK if rnd.random() < 0.7 else RST | ACK)
        elif r < 0.95:  # a jump forward in sequence (a lost segment)
            a.seq = (a.seq + rnd.choice([100, 1460, 5000])) & 0xFFFFFFFF
            emit(a, b, ACK, 100)
        else:  # fast retransmit after duplicate ACKs
            data = emit(a, b, ACK, 500, record=False)
            emit(a, b, ACK, 500)
            for _ in range(3):
                emit(b, a, ACK, ack=(a.seq - 1000) & 0xFFFFFFFF, advance=False)
            add(data, rnd.choice([1_000_000, 30_000_000]))
    return tr
