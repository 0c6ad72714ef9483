"""Build small, exactly known capture files with ``struct``.

Packets (Ethernet II carrying IPv4/TCP, UDP, ICMP, ARP and IPv6) and the
classic pcap / pcapng containers around them, so tests know every byte of the
file they hand the reader and where every record starts.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

# ----------------------------------------------------------------- packets


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def ip4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def ip6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def inet_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ether(dst: str, src: str, etype: int, payload: bytes) -> bytes:
    return mac(dst) + mac(src) + struct.pack("!H", etype) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, *, ttl: int = 64, ident: int = 0x1234,
         flags_frag: int = 0x4000, tos: int = 0, ihl: int = 5, total: int | None = None,
         options: bytes = b"") -> bytes:
    total = 4 * ihl + len(payload) if total is None else total
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, total, ident, flags_frag, ttl, proto, 0,
                      ip4(src), ip4(dst)) + options
    csum = inet_checksum(hdr)
    return hdr[:10] + struct.pack("!H", csum) + hdr[12:] + payload


def tcp(sport: int, dport: int, seq: int, ack: int, flags: int, window: int, *,
        options: bytes = b"", payload: bytes = b"", data_offset: int | None = None) -> bytes:
    off = (20 + len(options)) // 4 if data_offset is None else data_offset
    return struct.pack("!HHIIHHHH", sport, dport, seq, ack, (off << 12) | flags, window, 0xBEEF, 0) \
        + options + payload


def udp(sport: int, dport: int, payload: bytes, length: int | None = None) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload) if length is None else length, 0xCAFE) \
        + payload


def icmp(typ: int, code: int, rest: bytes, payload: bytes = b"") -> bytes:
    body = struct.pack("!BBH", typ, code, 0) + rest + payload
    return body[:2] + struct.pack("!H", inet_checksum(body)) + body[4:]


def arp(op: int, sha: str, spa: str, tha: str, tpa: str) -> bytes:
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + mac(sha) + ip4(spa) + mac(tha) + ip4(tpa)


def ipv6(src: str, dst: str, nxt: int, payload: bytes, *, hlim: int = 64, tclass: int = 0,
         flow: int = 0x12345) -> bytes:
    return struct.pack("!IHBB", (6 << 28) | (tclass << 20) | flow, len(payload), nxt, hlim) \
        + ip6(src) + ip6(dst) + payload


MAC_A = "00:11:22:33:44:55"
MAC_B = "66:77:88:99:aa:bb"
MSS_1460 = bytes([2, 4, 0x05, 0xB4])

SYN = ether(MAC_B, MAC_A, 0x0800, ipv4("10.0.0.1", "10.0.0.2", 6, tcp(
    40000, 80, 1000, 0, 0x002, 64240, options=MSS_1460 + bytes([1, 3, 3, 7])), ident=0x1234))
SYNACK = ether(MAC_A, MAC_B, 0x0800, ipv4("10.0.0.2", "10.0.0.1", 6, tcp(
    80, 40000, 5000, 1001, 0x012, 65160, options=MSS_1460 + bytes([1, 1, 4, 2])), ident=0x0000))
TCP_DATA = ether(MAC_B, MAC_A, 0x0800, ipv4("10.0.0.1", "10.0.0.2", 6, tcp(
    40000, 80, 1001, 5001, 0x018, 502, payload=b"GET / HTTP/1.0\r\n\r\n"), ident=0x1235))
UDP_DNS = ether(MAC_B, MAC_A, 0x0800, ipv4("10.0.0.1", "8.8.8.8", 17, udp(
    53000, 53, bytes.fromhex("abcd01000001000000000000") + b"\x07example\x03com\x00\x00\x01\x00\x01"),
    ident=0x2000, ttl=128))
ICMP_ECHO = ether(MAC_B, MAC_A, 0x0800, ipv4("10.0.0.1", "10.0.0.2", 1, icmp(
    8, 0, struct.pack("!HH", 0x0101, 7), b"ping" * 8), ident=0x3000, flags_frag=0))
ARP_REQ = ether("ff:ff:ff:ff:ff:ff", MAC_A, 0x0806, arp(1, MAC_A, "10.0.0.1", "00:00:00:00:00:00",
                                                         "10.0.0.2") + b"\0" * 18)
IPV6_UDP = ether("33:33:00:00:00:01", MAC_A, 0x86DD, ipv6("2001:db8::1", "2001:db8::2", 17, udp(
    5353, 5353, b"hello, v6"), hlim=255))
IPV6_TCP = ether(MAC_B, MAC_A, 0x86DD, ipv6("fe80::1", "2001:db8::2", 6, tcp(
    443, 50000, 7, 8, 0x010, 1024)))
# Port unreachable quoting the DNS query's IP and UDP headers.
ICMP_UNREACH = ether(MAC_A, MAC_B, 0x0800, ipv4("8.8.8.8", "10.0.0.1", 1, icmp(
    3, 3, b"\0\0\0\0", UDP_DNS[14:14 + 28]), ident=0x4000, flags_frag=0))

PACKETS: dict[str, bytes] = {
    "syn": SYN, "synack": SYNACK, "tcp_data": TCP_DATA, "udp_dns": UDP_DNS, "icmp_echo": ICMP_ECHO,
    "arp": ARP_REQ, "ipv6_udp": IPV6_UDP, "ipv6_tcp": IPV6_TCP, "icmp_unreach": ICMP_UNREACH,
}

# ------------------------------------------------------------------ records


@dataclass(frozen=True)
class Rec:
    ts_ns: int
    data: bytes
    origlen: int

    @property
    def caplen(self) -> int:
        return len(self.data)


BASE_TS = 1_700_000_000 * 1_000_000_000


def records(names: list[str] | None = None, step_ns: int = 1_250_000) -> list[Rec]:
    """One record per named packet, time stamps ``step_ns`` apart (whole
    microseconds, so usec and nsec files hold the same times)."""
    names = list(PACKETS) if names is None else names
    return [Rec(BASE_TS + 123_456_000 + i * step_ns, PACKETS[n], len(PACKETS[n])) for i, n in enumerate(names)]


# --------------------------------------------------------------------- pcap

MAGIC_USEC = 0xA1B2C3D4
MAGIC_NSEC = 0xA1B23C4D
MAGIC_MODIFIED = 0xA1B2CD34


def pcap_header(endian: str = "<", *, magic: int = MAGIC_USEC, major: int = 2, minor: int = 4,
                snaplen: int = 65535, network: int = 1) -> bytes:
    return struct.pack(endian + "IHHiIII", magic, major, minor, 0, 0, snaplen, network)


def pcap_record(rec: Rec, endian: str = "<", *, nsec: bool = False, modified: bool = False,
                caplen: int | None = None) -> bytes:
    sec, frac = divmod(rec.ts_ns, 1_000_000_000)
    sub = frac if nsec else frac // 1000
    hdr = struct.pack(endian + "IIII", sec, sub, rec.caplen if caplen is None else caplen, rec.origlen)
    if modified:
        hdr += struct.pack(endian + "iHBB", 2, 0x0800, 0, 0)
    return hdr + rec.data


def pcap_file(recs: list[Rec], endian: str = "<", *, nsec: bool = False, modified: bool = False,
              snaplen: int = 65535, network: int = 1) -> tuple[bytes, list[int]]:
    """The file and the byte offset of every record header in it."""
    magic = MAGIC_MODIFIED if modified else (MAGIC_NSEC if nsec else MAGIC_USEC)
    out = [pcap_header(endian, magic=magic, snaplen=snaplen, network=network)]
    offsets = []
    pos = 24
    for r in recs:
        offsets.append(pos)
        b = pcap_record(r, endian, nsec=nsec, modified=modified)
        out.append(b)
        pos += len(b)
    return b"".join(out), offsets


# ------------------------------------------------------------------- pcapng


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def ng_block(btype: int, body: bytes, endian: str = "<") -> bytes:
    body = _pad4(body)
    n = 12 + len(body)
    return struct.pack(endian + "II", btype, n) + body + struct.pack(endian + "I", n)


def ng_shb(endian: str = "<") -> bytes:
    return ng_block(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1), endian)


def ng_idb(linktype: int = 1, snaplen: int = 0, endian: str = "<", tsresol: int | None = None) -> bytes:
    opts = b""
    if tsresol is not None:
        opts = struct.pack(endian + "HH", 9, 1) + bytes([tsresol, 0, 0, 0]) + struct.pack(endian + "HH", 0, 0)
    return ng_block(1, struct.pack(endian + "HHI", linktype, 0, snaplen) + opts, endian)


def ng_epb(rec: Rec, iface: int = 0, endian: str = "<", *, nsec: bool = False) -> bytes:
    ticks = rec.ts_ns if nsec else rec.ts_ns // 1000
    return ng_block(6, struct.pack(endian + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF,
                                   rec.caplen, rec.origlen) + _pad4(rec.data), endian)


def pcapng_file(recs: list[Rec], endian: str = "<", *, nsec: bool = False,
                linktype: int = 1) -> tuple[bytes, list[int]]:
    """SHB, one IDB, one EPB per record; returns the file and EPB offsets."""
    out = [ng_shb(endian), ng_idb(linktype, 0, endian, tsresol=9 if nsec else None)]
    pos = sum(len(b) for b in out)
    offsets = []
    for r in recs:
        offsets.append(pos)
        b = ng_epb(r, 0, endian, nsec=nsec)
        out.append(b)
        pos += len(b)
    return b"".join(out), offsets


# ------------------------------------------------------------------ reading


def read_all(path, **kw):
    """(frames as (ts_ns, caplen, origlen, bytes, record_offset, number), info)."""
    from tracedoc.read import open_reader

    r = open_reader(path, **kw)
    frames = []
    for b in r.batches():
        for i in range(len(b)):
            frames.append((int(b.ts_ns[i]), int(b.caplen[i]), int(b.origlen[i]), b.packet_bytes(i),
                           int(b.record_offset[i]), b.first_number + i))
    return frames, r.info


def expected_frames(recs: list[Rec], offsets: list[int]) -> list[tuple]:
    return [(r.ts_ns, r.caplen, r.origlen, r.data, off, i + 1) for i, (r, off) in enumerate(zip(recs, offsets))]
