"""Which decoder takes which packets: every binding in one place.

``linktype`` maps a record's LINKTYPE_ value, ``ethertype`` an Ethernet type
(also used for SLL protocols, VLAN, SNAP, GRE, PPP and the version nibble of
raw IP), ``ipproto`` an IP protocol / IPv6 next-header value.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from tracedoc.decode import (app, arp, ctrace, eth, gre, icmp, icmpv6, ipsec, ipv4, ipv6, mpls, null, ppp, raw, sll, tcp,
                             tunnel, udp, vlan, wlan)
from tracedoc.decode import ftp, imap, pop, smtp, telnet  # noqa: E402
from tracedoc.decode import http  # noqa: E402
from tracedoc.decode import dhcp, dhcpv6  # noqa: E402
from tracedoc.decode import tls  # noqa: E402
from tracedoc.decode import dns, nbns  # noqa: E402
from tracedoc.decode import innermost  # noqa: E402
from tracedoc.decode import ntp, snmp  # noqa: E402
from tracedoc.decode.context import Ctx
from tracedoc.decode.layer import Layer, Next

Dissector = Callable[[Ctx, Layer], list[Next]]

LINKTYPE: dict[int, Dissector] = {
    0: null.dissect,          # NULL
    1: eth.dissect,           # ETHERNET
    9: ppp.ppp_hdlc,          # PPP
    12: raw.by_version,       # DLT_RAW on some BSDs
    14: raw.by_version,       # DLT_RAW on OpenBSD
    50: ppp.ppp_hdlc,         # PPP_HDLC
    101: raw.by_version,      # RAW
    104: ppp.cisco_hdlc,      # C_HDLC
    105: wlan.dissect,        # IEEE802_11
    108: null.dissect_loop,   # LOOP
    113: sll.dissect,         # LINUX_SLL
    127: wlan.radiotap,       # IEEE802_11_RADIOTAP
    228: raw.ipv4,            # IPV4
    229: raw.ipv6,            # IPV6
    276: sll.dissect2,        # LINUX_SLL2
}

ETHERTYPE: dict[int, Dissector] = {
    0x0800: ipv4.dissect,
    0x0806: arp.dissect,
    0x86DD: ipv6.dissect,
    0x8100: vlan.dissect,     # 802.1Q
    0x88A8: vlan.dissect,     # 802.1ad
    0x9100: vlan.dissect,     # pre-standard QinQ
    0x8847: mpls.dissect,
    0x8848: mpls.dissect,
    0x8864: ppp.pppoe_session,
    0x6558: eth.dissect,      # transparent Ethernet bridging (GRE)
    0x880B: ppp.ppp_hdlc,     # PPP in PPTP's GRE
    0x88BE: tunnel.erspan_i,  # ERSPAN type I/II (GRE)
    0x22EB: tunnel.erspan_iii,
    0x88E7: tunnel.pbb,       # 802.1ah
    0xD28B: tunnel.arista,
    0x8200: wlan.dissect,     # Aruba's GRE: 802.11 frames
    0x8926: tunnel.vntag,     # Cisco VN-Tag
}

# UDP destination or source port -> decoder of the payload, for the
# encapsulations that carry packets again (the lower port is tried first,
# as Wireshark does).
UDPPORT: dict[int, Dissector] = {
    1701: tunnel.l2tp,
    2152: tunnel.gtp_u,
    3544: tunnel.teredo,
    4754: tunnel.gre_in_udp,
    4789: tunnel.vxlan,
    5072: tunnel.ayiya,
    6081: tunnel.geneve,
}

IPPROTO: dict[int, Dissector] = {
    1: icmp.dissect,
    4: raw.ipv4,              # IP in IP
    6: tcp.dissect,
    17: udp.dissect,
    41: raw.ipv6,             # IPv6 in IP
    47: gre.dissect,
    50: ipsec.esp,
    51: ipsec.ah,
    58: icmpv6.dissect,
    108: ipsec.ipcomp,
}

TABLES: dict[str, dict[int, Dissector]] = {
    "linktype": LINKTYPE,
    "ethertype": ETHERTYPE,
    "ipproto": IPPROTO,
    "udpport": UDPPORT,
}

# Modules whose FIELDS make up the packet table, in column order.
PROTOCOLS = (eth, vlan, sll, null, ppp, mpls, arp, ipv4, ipv6, gre, icmp, icmpv6, tcp, udp, tunnel, wlan, ipsec, ctrace,
             innermost)
# Protocols that may appear quoted inside an ICMP error (``inner.`` columns).
INNER_PROTOCOLS = (ipv4, ipv6, tcp, udp, icmp, icmpv6)

# -- application protocols -------------------------------------------------------
# Port -> module for UDP and TCP payloads (the lower port is tried first, as
# Wireshark does), then the heuristics, in order, for traffic on other ports.
# See tracedoc.decode.app for what a module provides.
UDP_APPS: dict[int, ModuleType] = {
    **{port: http.SSDP for port in http.UDP_PORTS},
    # dns:
    53: dns,
    137: nbns,
    138: nbns.NBDGM,
    5353: dns.MDNS,
    5355: dns.LLMNR,
    # dhcp:
    67: dhcp,
    68: dhcp,
    4011: dhcp,
    546: dhcpv6,
    547: dhcpv6,
    # snmp/ntp:
    **{port: snmp for port in snmp.UDP_PORTS},
    **{port: ntp for port in ntp.UDP_PORTS},
}
TCP_APPS: dict[int, ModuleType] = {
    # dns:
    53: dns,
    5353: dns,
    # ftp/mail/telnet/http:
    **{port: http for port in http.TCP_PORTS},
    21: ftp,
    23: telnet,
    25: smtp,
    110: pop,
    143: imap,
    587: smtp,
    # tls:
    **{port: tls for port in tls.TCP_PORTS},
}
UDP_HEURISTICS: list[ModuleType] = [
    # dns:
    dns,
    # dhcp:
]
TCP_HEURISTICS: list[ModuleType] = [
    # tls:
    tls,
    # ftp/mail/telnet/http:
    http,
    ftp,
]
# Application modules whose FIELDS are packet-table columns, in column order.
APP_PROTOCOLS: tuple[ModuleType, ...] = (
    app,
    # dns:
    dns,
    nbns,
    nbns.NBDGM,
    # dhcp:
    dhcp,
    dhcpv6,
    # snmp/ntp:
    snmp,
    ntp,
    # ftp/mail/telnet/http:
    http,
    ftp,
    smtp,
    pop,
    imap,
    telnet,
    # tls:
    tls,
)

MAX_DEPTH = 24
