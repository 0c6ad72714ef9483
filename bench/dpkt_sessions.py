#!/usr/bin/env python3
"""The dpkt contender of bench_sessions.py: per-conversation packet and byte
counts of the TCP and UDP traffic in a pcap, as CSV, with a plain dpkt loop.

Usage: dpkt_sessions.py FILE.pcap > OUT.csv

One line per conversation (a 5-tuple seen in either direction), in the order
of the conversation's first packet:

  proto,a_ip,a_port,b_ip,b_port,packets_ab,bytes_ab,packets_ba,bytes_ba,start,end,first_frame

A is the sender of the conversation's first packet; bytes are IP bytes (the
IPv4 total length), start/end the epoch times of its first and last packet.

This is what a user would write to get a session table out of dpkt: a
dpkt.pcap.Reader loop, dpkt.ethernet.Ethernet decoding IPv4 and TCP/UDP on
the way, one dict keyed by the 5-tuple. It does not track TCP state: a port
pair reused by a new connection (new SYN) or a UDP flow resumed after a long
idle time stays one conversation. It understands Ethernet/IPv4 only (no
VLAN, no IPv6); other frames are skipped.
"""
import socket
import sys

import dpkt

ETH_TYPE_IP = dpkt.ethernet.ETH_TYPE_IP
PROTO_NAME = {dpkt.ip.IP_PROTO_TCP: "tcp", dpkt.ip.IP_PROTO_UDP: "udp"}
L4_CLASS = {dpkt.ip.IP_PROTO_TCP: dpkt.tcp.TCP, dpkt.ip.IP_PROTO_UDP: dpkt.udp.UDP}


def open_reader(f):
    """A pcap reader, or a pcapng one when the file is pcapng."""
    try:
        return dpkt.pcap.Reader(f)
    except ValueError:
        f.seek(0)
        return dpkt.pcapng.Reader(f)


def main() -> int:
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    # key (proto, src, sport, dst, dport) as seen in the first packet ->
    # [packets a->b, bytes a->b, packets b->a, bytes b->a, start, end, first frame]
    convs: dict[tuple, list] = {}
    get = convs.get
    with open(sys.argv[1], "rb") as f:
        reader = open_reader(f)
        if reader.datalink() != dpkt.pcap.DLT_EN10MB:
            sys.stderr.write(f"dpkt_sessions: link type {reader.datalink()} is not Ethernet\n")
            return 1
        for num, (ts, buf) in enumerate(reader, 1):
            try:
                eth = dpkt.ethernet.Ethernet(buf)
            except dpkt.UnpackError:
                continue
            ip = eth.data
            if eth.type != ETH_TYPE_IP or not isinstance(ip, dpkt.ip.IP):
                continue
            p = ip.p
            l4 = ip.data
            cls = L4_CLASS.get(p)
            if cls is None or not isinstance(l4, cls):
                continue
            rec = get((p, ip.src, l4.sport, ip.dst, l4.dport))
            if rec is not None:
                rec[0] += 1
                rec[1] += ip.len
                rec[5] = ts
                continue
            rec = get((p, ip.dst, l4.dport, ip.src, l4.sport))
            if rec is not None:
                rec[2] += 1
                rec[3] += ip.len
                rec[5] = ts
                continue
            convs[(p, ip.src, l4.sport, ip.dst, l4.dport)] = [1, ip.len, 0, 0, ts, ts, num]

    ntoa = socket.inet_ntoa
    lines = ["proto,a_ip,a_port,b_ip,b_port,packets_ab,bytes_ab,packets_ba,bytes_ba,start,end,first_frame\n"]
    for (p, src, sport, dst, dport), (pab, bab, pba, bba, t0, t1, first) in convs.items():
        lines.append(f"{PROTO_NAME[p]},{ntoa(src)},{sport},{ntoa(dst)},{dport},{pab},{bab},{pba},{bba},"
                     f"{t0:.6f},{t1:.6f},{first}\n")
    sys.stdout.write("".join(lines))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
