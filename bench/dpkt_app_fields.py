#!/usr/bin/env python3
"""The dpkt contender of ``bench_fields.py --fields app``: print application
columns as tab-separated lines, the way ``tshark -T fields`` prints them,
with a plain dpkt loop.

Usage: dpkt_app_fields.py FILE.pcap > OUT

Columns (the same as bench_fields.APP_FIELDS):
  frame.number dns.id dns.flags.rcode dns.qry.name tls.record.content_type
  http.request.method http.request.uri http.response.code

A straightforward dpkt program: dpkt.dns on UDP port 53, the TLS record
headers of each TCP segment on port 443, dpkt.http on TCP port 80 segments
that start a request or a response.  It does not reassemble TCP (a message
spanning segments is parsed from its first segment, or not at all), so it
does less work than tshark or tracedoc; it handles what the synthetic
benchmark trace contains and is not a general tshark replacement.
"""
import struct
import sys

import dpkt

EMPTY = "\t" * 7


def main() -> int:
    out = sys.stdout
    lines = []
    append = lines.append
    with open(sys.argv[1], "rb") as f:
        for num, (_, buf) in enumerate(dpkt.pcap.Reader(f), 1):
            cols = ["", "", "", "", "", "", ""]
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if isinstance(ip, dpkt.ip.IP):
                l4 = ip.data
                if isinstance(l4, dpkt.udp.UDP) and 53 in (l4.sport, l4.dport):
                    try:
                        d = dpkt.dns.DNS(l4.data)
                        cols[0] = "0x%04x" % d.id
                        cols[1] = str(d.rcode)
                        if d.qd:
                            cols[2] = d.qd[0].name
                    except (dpkt.UnpackError, IndexError):
                        pass
                elif isinstance(l4, dpkt.tcp.TCP) and l4.data:
                    data = l4.data
                    if 443 in (l4.sport, l4.dport):
                        types = []
                        i = 0
                        while i + 5 <= len(data):
                            types.append(str(data[i]))
                            i += 5 + struct.unpack_from("!H", data, i + 3)[0]
                        cols[3] = ",".join(types)
                    elif 80 in (l4.sport, l4.dport):
                        try:
                            if data.startswith(b"HTTP/"):
                                cols[6] = dpkt.http.Response(data).status
                            else:
                                r = dpkt.http.Request(data)
                                cols[4], cols[5] = r.method, r.uri
                        except (dpkt.UnpackError, dpkt.NeedData, ValueError):
                            pass
            append("%d\t%s\n" % (num, "\t".join(cols)))
            if len(lines) >= 8192:
                out.write("".join(lines))
                lines.clear()
    out.write("".join(lines))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
