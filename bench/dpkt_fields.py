#!/usr/bin/env python3
"""The dpkt contender of bench_fields.py: print the L4 columns as tab-separated
text lines, the way ``tshark -T fields`` prints them, with a plain dpkt loop.

Usage: dpkt_fields.py FILE.pcap > OUT

Columns (fixed, the same as bench_fields.FIELDS):
  frame.number frame.time_epoch ip.src ip.dst ip.proto tcp.srcport tcp.dstport
  tcp.seq_raw tcp.ack_raw tcp.flags tcp.window_size_value tcp.len udp.srcport
  udp.dstport udp.length icmp.type icmp.code

This is meant to be a fair, straightforward dpkt program: dpkt.pcap.Reader,
dpkt.ethernet.Ethernet (which decodes IP and TCP/UDP/ICMP on the way), one
formatted line per frame, output written in large chunks. It handles what the
synthetic benchmark trace contains (Ethernet/IPv4, TCP/UDP/ICMP, no VLAN, no
IPv6, no ICMP errors quoting inner packets); it is not a general tshark
replacement.
"""
import socket
import sys

import dpkt

ETH_TYPE_IP = dpkt.ethernet.ETH_TYPE_IP
IP_PROTO_TCP = dpkt.ip.IP_PROTO_TCP
IP_PROTO_UDP = dpkt.ip.IP_PROTO_UDP
IP_PROTO_ICMP = dpkt.ip.IP_PROTO_ICMP
EMPTY_L4 = "\t" * 11          # the 12 columns after ip.proto, all empty
EMPTY_IP = "\t" * 15          # the 15 columns after frame.time_epoch, all empty


def main() -> int:
    path = sys.argv[1]
    ntoa = socket.inet_ntoa
    out = sys.stdout
    lines = []
    append = lines.append
    with open(path, "rb") as f:
        reader = dpkt.pcap.Reader(f)
        # tshark prints frame.time_epoch with 9 decimals. A microsecond pcap
        # has 6 significant ones (a float64 epoch holds them closely enough to
        # round correctly); for a nanosecond pcap dpkt gives a Decimal.
        nano = getattr(reader, "_divisor", 1e6) == 1e9
        for num, (ts, buf) in enumerate(reader, 1):
            head = "%d\t%s" % (num, format(ts, ".9f")) if nano else "%d\t%.6f000" % (num, ts)
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if eth.type != ETH_TYPE_IP or not isinstance(ip, dpkt.ip.IP):
                append(head + EMPTY_IP + "\n")
            else:
                p = ip.p
                l4 = ip.data
                pre = "%s\t%s\t%s\t%d\t" % (head, ntoa(ip.src), ntoa(ip.dst), p)
                if p == IP_PROTO_TCP and isinstance(l4, dpkt.tcp.TCP):
                    of = l4._off_flags
                    tlen = ip.len - ip.hl * 4 - (of >> 12) * 4
                    append("%s%d\t%d\t%d\t%d\t0x%04x\t%d\t%d\t\t\t\t\t\n" % (
                        pre, l4.sport, l4.dport, l4.seq, l4.ack, of & 0x0FFF, l4.win, tlen))
                elif p == IP_PROTO_UDP and isinstance(l4, dpkt.udp.UDP):
                    append("%s\t\t\t\t\t\t\t%d\t%d\t%d\t\t\n" % (pre, l4.sport, l4.dport, l4.ulen))
                elif p == IP_PROTO_ICMP and isinstance(l4, dpkt.icmp.ICMP):
                    append("%s\t\t\t\t\t\t\t\t\t\t%d\t%d\n" % (pre, l4.type, l4.code))
                else:
                    append(pre + EMPTY_L4 + "\n")
            if len(lines) >= 8192:
                out.write("".join(lines))
                lines.clear()
    out.write("".join(lines))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
