"""DHCPv6 (RFC 8415) on UDP 546/547.

Follows Wireshark 4.0's ``dhcpv6`` dissector so the columns agree with
tshark:

* a message is a type and a transaction ID, or (Relay-forw / Relay-reply) a
  hop count, link and peer address, followed by options; a Relay Message
  option holds a whole message again, decoded in place;
* an option whose header or data would run past its container ends the
  option list there, silently, and a bad option nested inside another
  (IA_NA, IA_PD, IA_TA, IA Address ...) ends the enclosing lists too;
* values are read from the datagram, not from the option, so an option
  shorter than its fixed part (a Status Code of length 0) shows the bytes
  after it, as Wireshark does, and faults only at the end of the datagram.
"""

from __future__ import annotations

from typing import Any

from tracedoc.decode.app import AppInfo
from tracedoc.decode.apptree import Tree, Truncated, ascii_text
from tracedoc.decode.dhcp import _dns_name
from tracedoc.decode.fields import F

NAME = "dhcpv6"

FIELDS = (
    F("dhcpv6.msgtype", "u8", "Message type", multi=True),   # relays carry a message inside
    F("dhcpv6.hopcount", "u8", "Hopcount", multi=True),
    F("dhcpv6.xid", "u32", "Transaction ID", "hex", 6),
    F("dhcpv6.linkaddr", "ipv6", "Link address", multi=True),
    F("dhcpv6.peeraddr", "ipv6", "Peer address", multi=True),
    F("dhcpv6.option.type", "u16", "Option", multi=True),
    F("dhcpv6.option.length", "u16", "Length", multi=True),
    F("dhcpv6.option.type_str", "string", "Option", multi=True),
    F("dhcpv6.duid.bytes", "bytes", "DUID", multi=True),
    F("dhcpv6.duid.type", "u16", "DUID Type", multi=True),
    F("dhcpv6.duidllt.hwtype", "u16", "Hardware type", multi=True),
    F("dhcpv6.duidllt.link_layer_addr", "string", "Link-layer address", multi=True),
    F("dhcpv6.duidll.hwtype", "u16", "Hardware type", multi=True),
    F("dhcpv6.duidll.link_layer_addr", "string", "Link-layer address", multi=True),
    F("dhcpv6.duiden.identifier", "bytes", "Identifier", multi=True),
    F("dhcpv6.duiduuid.bytes", "bytes", "UUID", multi=True),
    F("dhcpv6.iaid", "string", "IAID", multi=True),
    F("dhcpv6.iaid.t1", "u32", "T1", multi=True),
    F("dhcpv6.iaid.t2", "u32", "T2", multi=True),
    F("dhcpv6.iata", "string", "IATA", multi=True),
    F("dhcpv6.iaaddr.ip", "ipv6", "IPv6 address", multi=True),
    F("dhcpv6.iaaddr.pref_lifetime", "u32", "Preferred lifetime", multi=True),
    F("dhcpv6.iaaddr.valid_lifetime", "u32", "Valid lifetime", multi=True),
    F("dhcpv6.iaprefix.pref_lifetime", "u32", "Preferred lifetime", multi=True),
    F("dhcpv6.iaprefix.valid_lifetime", "u32", "Valid lifetime", multi=True),
    F("dhcpv6.iaprefix.pref_len", "u8", "Prefix length", multi=True),
    F("dhcpv6.iaprefix.pref_addr", "ipv6", "Prefix address", multi=True),
    F("dhcpv6.requested_option_code", "u16", "Requested Option code", multi=True),
    F("dhcpv6.option_preference", "u8", "Pref-value"),
    # Wireshark shows the elapsed time in milliseconds (hundredths x 10), past 16 bits.
    F("dhcpv6.elapsed_time", "u32", "Elapsed time"),
    F("dhcpv6.unicast", "ipv6", "IPv6 address"),
    F("dhcpv6.status_code", "u16", "Status Code", multi=True),
    F("dhcpv6.status_msg", "string", "Status Message", multi=True),
    F("dhcpv6.vendorclass.data", "string", "vendor-class-data", multi=True),
    F("dhcpv6.vendoropts.enterprise.option_code", "u16", "Option code", multi=True),
    F("dhcpv6.vendoropts.enterprise.option_length", "u16", "Option length", multi=True),
    F("dhcpv6.vendoropts.enterprise.option_data", "bytes", "Option data", multi=True),
    F("dhcpv6.interface_id", "bytes", "Interface-ID", multi=True),
    F("dhcpv6.reconf_msg", "u8", "Reconfigure message type"),
    F("dhcpv6.sip_server_domain_search_fqdn", "string", "SIP Server Domain Search FQDN", multi=True),
    F("dhcpv6.sip_server_a", "ipv6", "SIP server address", multi=True),
    F("dhcpv6.dns_server", "ipv6", "DNS server address", multi=True),
    F("dhcpv6.search_list_entry", "string", "List entry", multi=True),
    F("dhcpv6.sntp_server", "ipv6", "SNTP server address", multi=True),
    F("dhcpv6.ntpserver.option.type", "u16", "Suboption", multi=True),
    F("dhcpv6.ntpserver.option.length", "u16", "Length", multi=True),
    F("dhcpv6.ntpserver.addr", "ipv6", "NTP Server Address", multi=True),
    F("dhcpv6.ntpserver.mc_addr", "ipv6", "NTP Multicast Address", multi=True),
    F("dhcpv6.ntpserver.fqdn", "string", "NTP Server FQDN", multi=True),
    F("dhcpv6.lifetime", "u32", "Lifetime"),
    F("dhcpv6.remoteid_enterprise_id", "bytes", "Remote-ID"),
    F("dhcpv6.subscriber_id", "string", "Subscriber-ID"),
    F("dhcpv6.client_fqdn_flags", "u8", "Flags", "hex", 2),
    F("dhcpv6.client_domain", "string", "Client Domain Name", multi=True),
    F("dhcpv6.aftr_name", "string", "DS-Lite AFTR Name", multi=True),
    F("dhcpv6.mudurl", "string", "MUDURL"),
    F("dhcpv6.relay_port", "u16", "Downstream Source Port"),
)
_F = {f.name: f for f in FIELDS}
MSGTYPE, HOPCOUNT, XID, LINKADDR, PEERADDR, OPT_TYPE, OPT_LEN, OPT_TYPE_STR = FIELDS[:8]

RELAY_FORW, RELAY_REPL = 12, 13
MAX_RELAY_DEPTH = 64
"""Relay messages decoded inside one another (RFC 8415 HOP_COUNT_LIMIT is 8);
deeper nesting is named malformed rather than followed."""
INFINITY = 0xFFFFFFFF

MESSAGE_TYPES = {
    1: "Solicit", 2: "Advertise", 3: "Request", 4: "Confirm", 5: "Renew", 6: "Rebind", 7: "Reply",
    8: "Release", 9: "Decline", 10: "Reconfigure", 11: "Information-request", 12: "Relay-forw",
    13: "Relay-reply", 14: "Leasequery", 15: "Leasequery-reply", 16: "Leasequery-done",
    17: "Leasequery-data", 18: "Reconfigure-request", 19: "Reconfigure-reply",
}
"""RFC 8415 section 7.3, RFC 5007, RFC 5460, RFC 6977 (Wireshark's names)."""

DUID_TYPES = {1: "link-layer address plus time", 2: "assigned by vendor based on Enterprise number",
              3: "link-layer address", 4: "Universally Unique IDentifier (UUID)"}
"""RFC 8415 11.1, RFC 6355."""


def _hw(hw: int) -> str:
    return f"{'Ethernet' if hw == 1 else 'IEEE 802' if hw == 6 else 'type'} ({hw})"


STATUS_CODES = {
    0: "Success", 1: "UnspecFail", 2: "NoAddrAvail", 3: "NoBinding", 4: "NotOnLink", 5: "UseMulticast",
    6: "NoPrefixAvail", 7: "UnknownQueryType", 8: "MalformedQuery", 9: "NotConfigured", 10: "NotAllowed",
    11: "QueryTerminated", 12: "DataMissing", 13: "CatchUpComplete", 14: "NotSupported",
    15: "TLSConnectionRefused",
}

OPTION_NAMES = {
    1: "Client Identifier", 2: "Server Identifier", 3: "Identity Association for Non-temporary Address",
    4: "Identity Association for Temporary Address", 5: "IA Address", 6: "Option Request", 7: "Preference",
    8: "Elapsed time", 9: "Relay Message", 11: "Authentication", 12: "Server unicast", 13: "Status code",
    14: "Rapid Commit", 15: "User Class", 16: "Vendor Class", 17: "Vendor-specific Information",
    18: "Interface-Id", 19: "Reconfigure Message", 20: "Reconfigure Accept", 21: "SIP Server Domain Name List",
    22: "SIP Servers IPv6 Address List", 23: "DNS recursive name server", 24: "Domain Search List",
    25: "Identity Association for Prefix Delegation", 26: "IA Prefix", 27: "Network Information Server",
    28: "Network Information Server V2", 29: "Network Information Server Domain Name",
    30: "Network Information Server V2 Domain Name", 31: "Simple Network Time Protocol Server",
    32: "Lifetime", 33: "BCMCS Server Domain", 34: "BCMCS Servers IPv6 Address List",
    36: "Geoconf Civic Address", 37: "Remote Identifier", 38: "Subscriber Identifier",
    39: "Client Fully Qualified Domain Name", 40: "PANA Agents IPv6 Address List", 41: "Time Zone",
    42: "Time Zone Database", 43: "Echo Request Option", 44: "Leasequery Query", 45: "Leasequery Client Data",
    46: "Client Last Transaction Time", 47: "Leasequery Relay Data", 48: "Leasequery Client Link Address List",
    49: "Home Network Identifier FQDN", 50: "Visited Home Network Information", 51: "LoST Server",
    52: "CAPWAP Access Controllers", 53: "Relay-ID", 54: "MoS IPv6 Address", 55: "MoS Domain Name List",
    56: "NTP Server", 57: "Access Network Domain Name", 58: "SIP User Agent Configuration Service Domains",
    59: "Boot File URL", 60: "Boot File Parameters", 61: "Client System Architecture Type",
    62: "Client Network Interface Identifier", 63: "Geolocation", 64: "Dual-Stack Lite AFTR Name",
    65: "ERP Local Domain Name", 66: "Relay-Supplied Options", 67: "Prefix Exclude",
    68: "Virtual Subnet Selection", 69: "Identified Home Network Information",
    70: "Unrestricted Home Network Information", 71: "Home Network Prefix", 72: "Home Agent Address",
    73: "Home Agent FQDN", 74: "RDNSS Selection", 75: "Kerberos Principal Name", 76: "Kerberos Realm Name",
    77: "Kerberos Default Realm Name", 78: "Kerberos KDC", 79: "Client Link-Layer Address", 80: "Link Address",
    81: "RADIUS", 82: "SOL_MAX_RT", 83: "INF_MAX_RT", 84: "Address Selection", 85: "Address Selection table",
    86: "PCP Server", 87: "DHCPv4 Message", 88: "DHCP 4o6 Servers Address", 89: "S46 Rule", 90: "S46 BR",
    91: "S46 DMR", 92: "S46 IPv4/IPv6 Address Binding", 93: "S46 Port Parameters", 94: "S46 MAP-E Container",
    95: "S46 MAP-T Container", 96: "S46 Lightweight 4over6 Container", 97: "4rd Options",
    98: "4rd Mapping Rule", 99: "4rd Non-Mapping Rule", 100: "LQ Server Base Time",
    101: "LQ Server Query Start Time", 102: "LQ Server Query End Time", 103: "Captive Portal",
    104: "MPL Parameter Configuration", 105: "Access Technology Type", 106: "Access Network Name",
    107: "Access Point Name", 108: "Access Point BSSID", 109: "Access Network Operator ID",
    110: "Access Network Operator Realm", 111: "S46 Priority", 112: "Manufacturer Usage Description",
    113: "IPv4/IPv6 Multicast Prefixes", 114: "Failover Binding Status", 115: "Failover Connect Flags",
    116: "Failover DNS Removal Info", 117: "Failover DNS Hostname", 118: "Failover DNS Zone Name",
    119: "Failover DNS Flags", 120: "Failover Expiration Time",
    121: "Failover Maximum Number Unacked BNDUPD Messages", 122: "Failover Maximum Client Lead Time (MCLT)",
    123: "Failover Partner Lifetime", 124: "Failover Partner Lifetime Sent", 125: "Failover Partner Down Time",
    126: "Failover Partner Raw Client Time", 127: "Failover Protocol Version", 128: "Failover Keepalive Time",
    129: "Failover Reconfigure Data", 130: "Failover Relationship Name", 131: "Failover Server Flags",
    132: "Failover Server State", 133: "Failover Start Time of State", 134: "Failover State Expiration Time",
    135: "Relay Source Port", 136: "SZTP Redirect", 137: "Softwire Source Binding Prefix Hint",
    143: "ANDSF IPv6 Address", 165: "Mobile IPv6 Home Agent", 166: "Mobile IPv6 Home Address",
    167: "Network Access Identifier",
}
"""Option codes (IANA "DHCPv6 Option Codes"), as Wireshark 4.0 names them."""

# Options whose data is a list of further options after a fixed part.
_NESTED = {3: 12, 25: 12, 4: 4, 5: 24, 26: 25, 45: 0, 94: 0, 95: 0, 96: 0}
_ADDRESS_LISTS = {22: "dhcpv6.sip_server_a", 23: "dhcpv6.dns_server", 31: "dhcpv6.sntp_server",
                  27: "", 28: "", 34: "", 40: "", 48: "", 52: ""}
_DOMAIN_LISTS = {21: "dhcpv6.sip_server_domain_search_fqdn", 24: "dhcpv6.search_list_entry",
                 29: "", 30: "", 33: ""}


class _Msg:
    """What the summary line needs, gathered while decoding."""

    __slots__ = ("types", "status", "addresses")

    def __init__(self) -> None:
        self.types: list[int] = []
        self.status: int | None = None
        self.addresses: list[bytes] = []


class _End:
    """Wireshark's shared ``at_end`` flag: a bad option anywhere in a list
    ends every enclosing list of the same message."""

    __slots__ = ("hit",)

    def __init__(self) -> None:
        self.hit = False


def _ip6(b: bytes) -> str:
    import ipaddress

    return str(ipaddress.IPv6Address(b))


def _need(data: bytes, end: int, what: str) -> None:
    if end > len(data):
        raise Truncated(len(data), what)


def _u16(data: bytes, off: int) -> int:
    _need(data, off + 2, "16-bit field")
    return data[off] << 8 | data[off + 1]


def _u32(data: bytes, off: int) -> int:
    _need(data, off + 4, "32-bit field")
    return int.from_bytes(data[off:off + 4], "big")


def _hexstr(b: bytes) -> str:
    """Wireshark's bytes_to_str: hex, cut at 36 bytes with an ellipsis."""
    return b.hex() if len(b) <= 36 else b[:36].hex() + "\u2026"


def _arphrd(b: bytes, hwtype: int) -> str:
    if not b:
        return "<No address>"
    if hwtype in (1, 6) and len(b) == 6:
        return ":".join(f"{c:02x}" for c in b)
    return _hexstr(b)


def summary(m: _Msg) -> str:
    """``dhcpv6 : Solicit``; a relay names what it carries
    (``dhcpv6 : Relay-forw : Solicit``); a failure status is shown."""
    names = [MESSAGE_TYPES.get(t, f"Message Type {t}") for t in m.types]
    text = "dhcpv6 : " + " : ".join(names)
    if m.status:
        text += f" ({STATUS_CODES.get(m.status, f'status {m.status}')})"
    return text


def dissect(data: bytes, tree: Tree, info: AppInfo) -> None:
    m = _Msg()
    eoff = max(info.reported_len, len(data))
    try:
        _message(data, 0, eoff, tree, m, 0)
    finally:
        if m.types:
            tree.message = summary(m)


def _message(data: bytes, off: int, eoff: int, tree: Tree, m: _Msg, depth: int) -> None:
    nodes = tree.want_nodes
    add = tree.add
    _need(data, off + 1, "message type")
    msgtype = data[off]
    m.types.append(msgtype)
    name = MESSAGE_TYPES.get(msgtype, f"Message Type {msgtype}")
    if depth:
        tree.open(f"DHCPv6 : {name}", off, eoff - off)
    elif nodes:
        tree.root.label = f"DHCPv6 : {name.upper()}"
    try:
        add(MSGTYPE, msgtype, off, 1, f"Message type - {name} ({msgtype})" if nodes else None)
        if msgtype in (RELAY_FORW, RELAY_REPL):
            _need(data, off + 2, "hop count")
            add(HOPCOUNT, data[off + 1], off + 1, 1, f"Hop count - {data[off + 1]}" if nodes else None)
            _need(data, off + 18, "link address")
            add(LINKADDR, data[off + 2:off + 18], off + 2, 16,
                f"Link address - {_ip6(data[off + 2:off + 18])}" if nodes else None)
            _need(data, off + 34, "peer address")
            add(PEERADDR, data[off + 18:off + 34], off + 18, 16,
                f"Peer address - {_ip6(data[off + 18:off + 34])}" if nodes else None)
            off += 34
        else:
            _need(data, off + 4, "transaction ID")
            xid = int.from_bytes(data[off + 1:off + 4], "big")
            add(XID, xid, off + 1, 3, f"Transaction ID - 0x{xid:06X}" if nodes else None)
            off += 4
        end = _End()
        while off < eoff and not end.hit:
            off += _option(data, off, eoff, tree, m, depth, msgtype, end)
    finally:
        if depth:
            tree.close()


def _options(data: bytes, off: int, eoff: int, tree: Tree, m: _Msg, depth: int, msgtype: int, end: _End) -> None:
    """The options nested in an option's data, from ``off`` to ``eoff``."""
    while eoff - off > 0:
        off += _option(data, off, eoff, tree, m, depth, msgtype, end)
        if end.hit:
            return


def _option(data: bytes, off: int, eoff: int, tree: Tree, m: _Msg, depth: int, msgtype: int, end: _End) -> int:
    """One option at ``off``; returns its size, or 0 (and sets ``end``) when
    its header or data would pass ``eoff``."""
    if eoff - off < 4:
        end.hit = True
        return 0
    opttype = _u16(data, off)
    optlen = _u16(data, off + 2)
    if eoff - off < 4 + optlen:
        end.hit = True
        return 0
    nodes = tree.want_nodes
    add = tree.add
    name = OPTION_NAMES.get(opttype, f"DHCP option {opttype}")
    tree.open(name, off, 4 + optlen)
    try:
        add(OPT_TYPE_STR, name, off, 4 + optlen, f"Option - {name}" if nodes else None)
        add(OPT_TYPE, opttype, off, 2, f"Option code - {opttype}" if nodes else None)
        add(OPT_LEN, optlen, off + 2, 2, f"Length - {optlen}" if nodes else None)
        _need(data, off + 4 + optlen, "option data")  # only when a snapshot length cut the datagram
        _value(data, off + 4, optlen, opttype, tree, m, depth, msgtype, end)
    finally:
        tree.close()
    return 4 + optlen


def _f(name: str) -> Any:
    return _F[name]


def _value(data: bytes, off: int, optlen: int, opttype: int, tree: Tree, m: _Msg, depth: int, msgtype: int,
           end: _End) -> None:
    nodes = tree.want_nodes
    add = tree.add
    if opttype in (1, 2, 53):                                  # client / server / relay DUID
        if optlen < 2:
            return
        duid = data[off:off + optlen]
        add(_f("dhcpv6.duid.bytes"), duid, off, optlen, f"DUID - {duid.hex()}" if nodes else None)
        dtype = _u16(data, off)
        add(_f("dhcpv6.duid.type"), dtype, off, 2,
            f"DUID Type - {DUID_TYPES.get(dtype, 'unknown')} ({dtype})" if nodes else None)
        if dtype == 1 and optlen >= 8:                         # link-layer address plus time
            hw = _u16(data, off + 2)
            add(_f("dhcpv6.duidllt.hwtype"), hw, off + 2, 2, f"Hardware type - {_hw(hw)}" if nodes else None)
            _need(data, off + 8, "DUID time")
            if optlen > 8:
                a = _arphrd(data[off + 8:off + optlen], hw)
                add(_f("dhcpv6.duidllt.link_layer_addr"), a, off + 8, optlen - 8,
                    f"Link-layer address - {a}" if nodes else None)
        elif dtype == 2 and optlen >= 6:                       # enterprise number
            _need(data, off + 6, "DUID enterprise number")
            if optlen > 6:
                add(_f("dhcpv6.duiden.identifier"), data[off + 6:off + optlen], off + 6, optlen - 6)
        elif dtype == 3 and optlen >= 4:                       # link-layer address
            hw = _u16(data, off + 2)
            add(_f("dhcpv6.duidll.hwtype"), hw, off + 2, 2, f"Hardware type - {_hw(hw)}" if nodes else None)
            if optlen > 4:
                a = _arphrd(data[off + 4:off + optlen], hw)
                add(_f("dhcpv6.duidll.link_layer_addr"), a, off + 4, optlen - 4,
                    f"Link-layer address - {a}" if nodes else None)
        elif dtype == 4 and optlen == 18:                      # UUID (RFC 6355)
            add(_f("dhcpv6.duiduuid.bytes"), data[off + 2:off + 18], off + 2, 16)
    elif opttype in (3, 25):                                   # IA_NA, IA_PD
        if optlen < 12:
            return
        iaid = _arphrd(data[off:off + 4], opttype)
        add(_f("dhcpv6.iaid"), iaid, off, 4, f"IAID - {iaid}" if nodes else None)
        for f, o, text in (("dhcpv6.iaid.t1", 4, "T1"), ("dhcpv6.iaid.t2", 8, "T2")):
            v = _u32(data, off + o)
            add(_f(f), v, off + o, 4, f"{text} - {'infinity' if v == INFINITY else v}" if nodes else None)
        _options(data, off + 12, off + optlen, tree, m, depth, msgtype, end)
    elif opttype == 4:                                         # IA_TA
        if optlen < 4:
            return
        iata = _arphrd(data[off:off + 4], opttype)
        add(_f("dhcpv6.iata"), iata, off, 4, f"IATA - {iata}" if nodes else None)
        _options(data, off + 4, off + optlen, tree, m, depth, msgtype, end)
    elif opttype == 5:                                         # IA Address
        if optlen < 24:
            return
        _need(data, off + 24, "IA address")
        ip = data[off:off + 16]
        m.addresses.append(ip)
        add(_f("dhcpv6.iaaddr.ip"), ip, off, 16, f"IPv6 address - {_ip6(ip)}" if nodes else None)
        for f, o, text in (("dhcpv6.iaaddr.pref_lifetime", 16, "Preferred lifetime"),
                           ("dhcpv6.iaaddr.valid_lifetime", 20, "Valid lifetime")):
            v = _u32(data, off + o)
            add(_f(f), v, off + o, 4, f"{text} - {'infinity' if v == INFINITY else v}" if nodes else None)
        _options(data, off + 24, off + optlen, tree, m, depth, msgtype, end)
    elif opttype == 26:                                        # IA Prefix
        if optlen < 25:
            return
        _need(data, off + 25, "IA prefix")
        for f, o, text in (("dhcpv6.iaprefix.pref_lifetime", 0, "Preferred lifetime"),
                           ("dhcpv6.iaprefix.valid_lifetime", 4, "Valid lifetime")):
            v = _u32(data, off + o)
            add(_f(f), v, off + o, 4, f"{text} - {'infinity' if v == INFINITY else v}" if nodes else None)
        plen = data[off + 8]
        prefix = data[off + 9:off + 25]
        add(_f("dhcpv6.iaprefix.pref_len"), plen, off + 8, 1)
        add(_f("dhcpv6.iaprefix.pref_addr"), prefix, off + 9, 16,
            f"Prefix - {_ip6(prefix)}/{plen}" if nodes else None)
        m.addresses.append(prefix)
        _options(data, off + 25, off + optlen, tree, m, depth, msgtype, end)
    elif opttype in (6, 43):                                   # Option Request, Echo Request
        for i in range(0, optlen, 2):
            code = _u16(data, off + i)
            add(_f("dhcpv6.requested_option_code"), code, off + i, 2,
                f"Requested Option code - {OPTION_NAMES.get(code, code)}" if nodes else None)
    elif opttype == 7:
        if optlen == 1:
            add(_f("dhcpv6.option_preference"), data[off], off, 1)
    elif opttype == 8:
        if optlen == 2:
            v = _u16(data, off) * 10
            add(_f("dhcpv6.elapsed_time"), v, off, 2, f"Elapsed time - {v}ms" if nodes else None)
    elif opttype == 9:                                         # Relay Message: a whole message
        if optlen:
            if depth >= MAX_RELAY_DEPTH:
                tree.malformed(f"relay messages nested over {MAX_RELAY_DEPTH} deep", off)
                end.hit = True
                return
            _message(data, off, off + optlen, tree, m, depth + 1)
    elif opttype == 11:                                        # Authentication
        if optlen >= 11:
            _need(data, off + optlen, "authentication")
    elif opttype == 12:
        if optlen == 16:
            add(_f("dhcpv6.unicast"), data[off:off + 16], off, 16)
    elif opttype == 13:                                        # Status Code
        code = _u16(data, off)
        if depth == 0 or m.status is None:
            m.status = code
        add(_f("dhcpv6.status_code"), code, off, 2,
            f"Status Code - {STATUS_CODES.get(code, code)} ({code})" if nodes else None)
        if optlen > 2:
            msg = ascii_text(data[off + 2:off + optlen])
            add(_f("dhcpv6.status_msg"), msg, off + 2, optlen - 2, f"Status Message - {msg}" if nodes else None)
    elif opttype == 16:                                        # Vendor Class
        if optlen >= 4:
            _need(data, off + 4, "vendor class enterprise number")
            if optlen > 4:
                start, ln = off + 6, optlen - 6
                if ln < -1:
                    raise Truncated(off, "vendor class data")
                if ln == -1:                                   # "to the end", up to a NUL
                    rest = data[start:]
                    if b"\0" not in rest:
                        raise Truncated(len(data), "vendor class data")
                    ln = rest.index(b"\0") + 1
                _need(data, start + ln, "vendor class data")
                add(_f("dhcpv6.vendorclass.data"), ascii_text(data[start:start + ln]), start, ln)
    elif opttype == 17:                                        # Vendor-specific Information
        if optlen >= 4:
            ent = _u32(data, off)
            if ent != 4491:
                o = 0
                while optlen - 4 - o > 0:
                    p = off + o + 4
                    olen = _u16(data, p + 2)
                    _need(data, p + 4 + olen, "vendor option")
                    add(_f("dhcpv6.vendoropts.enterprise.option_code"), _u16(data, p), p, 2)
                    add(_f("dhcpv6.vendoropts.enterprise.option_length"), olen, p + 2, 2)
                    add(_f("dhcpv6.vendoropts.enterprise.option_data"), data[p + 4:p + 4 + olen], p + 4, olen)
                    o += 4 + olen
    elif opttype == 18:
        if optlen:
            add(_f("dhcpv6.interface_id"), data[off:off + optlen], off, optlen)
    elif opttype == 19:
        if optlen == 1:
            add(_f("dhcpv6.reconf_msg"), data[off], off, 1)
    elif opttype in _ADDRESS_LISTS:
        if optlen % 16 == 0:
            fname = _ADDRESS_LISTS[opttype]
            for i in range(0, optlen, 16):
                if fname:
                    addr = data[off + i:off + i + 16]
                    add(_f(fname), addr, off + i, 16, f"{fname.split('.')[-1]} - {_ip6(addr)}" if nodes else None)
    elif opttype in _DOMAIN_LISTS:
        if optlen:
            _domains(data, off, optlen, _DOMAIN_LISTS[opttype], tree)
    elif opttype == 32:
        if optlen == 4:
            add(_f("dhcpv6.lifetime"), _u32(data, off), off, 4)
    elif opttype == 37:                                        # Remote-ID
        if optlen >= 4:
            add(_f("dhcpv6.remoteid_enterprise_id"), data[off + 4:off + optlen], off + 4, optlen - 4)
    elif opttype == 38:
        if optlen:
            add(_f("dhcpv6.subscriber_id"), ascii_text(data[off:off + optlen]), off, optlen)
    elif opttype == 39:                                        # Client FQDN (RFC 4704)
        if optlen >= 1 and msgtype in (1, 2, 3, 5, 6, 7):
            fl = data[off]
            add(_f("dhcpv6.client_fqdn_flags"), fl, off, 1, f"Flags - 0x{fl:02x}" if nodes else None)
            _domains(data, off + 1, optlen - 1, "dhcpv6.client_domain", tree)
    elif opttype == 44:                                        # Leasequery Query
        if optlen >= 17:
            _need(data, off + 17, "leasequery query")
            _options(data, off + 17, off + optlen, tree, m, depth, msgtype, end)
    elif opttype in (45, 94, 95, 96):                          # option containers
        _options(data, off, off + optlen, tree, m, depth, msgtype, end)
    elif opttype == 47:
        if optlen >= 16:
            _need(data, off + 16, "leasequery relay data")
    elif opttype == 56:                                        # NTP server (RFC 5908)
        if optlen >= 4:
            _ntp_server(data, off, optlen, tree)
    elif opttype == 64:
        _domains(data, off, optlen, "dhcpv6.aftr_name", tree)
    elif opttype in (89, 92):                                  # S46 rule / binding: prefix, then options
        _s46(data, off, optlen, opttype, tree, m, depth, msgtype, end)
    elif opttype == 91:                                        # S46 DMR
        if 1 <= optlen <= 17 and data[off] <= 128:
            _need(data, off + 1 + _prefix_bytes(data[off]), "S46 DMR prefix")
    elif opttype == 93:
        if optlen == 4:
            _need(data, off + 4, "S46 port parameters")
    elif opttype == 112:
        if optlen:
            add(_f("dhcpv6.mudurl"), ascii_text(data[off:off + optlen]), off, optlen)
    elif opttype in (117, 118):                                # failover DNS names
        _dns_name(data, off, optlen, off, 0)
    elif opttype == 135:
        if optlen == 2:
            add(_f("dhcpv6.relay_port"), _u16(data, off), off, 2)
    elif opttype == 167:                                       # NAI: Wireshark reads length - 2
        if optlen >= 4:
            _need(data, off + optlen - 2, "NAI")


def _prefix_bytes(plen: int) -> int:
    return ((plen + 7) & 0xF8) >> 3


def _s46(data: bytes, off: int, optlen: int, opttype: int, tree: Tree, m: _Msg, depth: int, msgtype: int,
         end: _End) -> None:
    """RFC 7598 S46 Rule (89) / IPv4-IPv6 Address Binding (92)."""
    if opttype == 89:
        if optlen < 8:
            return
        _need(data, off + 8, "S46 rule")
        if data[off + 2] > 32 or data[off + 7] > 128:
            return
        n = _prefix_bytes(data[off + 7])
        _need(data, off + 8 + n, "S46 rule prefix")
        first = 8 + n
    else:
        if optlen < 5:
            return
        _need(data, off + 5, "S46 binding")
        if data[off + 4] > 128:
            return
        n = _prefix_bytes(data[off + 4])
        _need(data, off + 5 + n, "S46 binding prefix")
        first = 5 + n
    if optlen - first > 0:
        _options(data, off + first, off + optlen, tree, m, depth, msgtype, end)


def _ntp_server(data: bytes, off: int, optlen: int, tree: Tree) -> None:
    """RFC 5908 suboptions: server address, multicast address, FQDN."""
    add = tree.add
    t = 0
    while optlen > t:
        stype = _u16(data, off + t)
        slen = _u16(data, off + t + 2)
        if slen > optlen - t:
            return
        add(_f("dhcpv6.ntpserver.option.type"), stype, off + t, 2)
        add(_f("dhcpv6.ntpserver.option.length"), slen, off + t + 2, 2)
        t += 4
        if stype in (1, 2):
            _need(data, off + t + 16, "NTP server address")
            name = "dhcpv6.ntpserver.addr" if stype == 1 else "dhcpv6.ntpserver.mc_addr"
            add(_f(name), data[off + t:off + t + 16], off + t, 16)
        elif stype == 3:
            _domains(data, off + t, slen, "dhcpv6.ntpserver.fqdn", tree)
        t += slen


def _domains(data: bytes, field_off: int, field_len: int, fname: str, tree: Tree) -> None:
    """Wireshark's dhcpv6_domain: the names in a domain field (RFC 8415
    10), each FQDN with its trailing dot; a partial name ends the field."""
    if field_len == 0:
        return
    f = _F[fname] if fname else None
    offset = first = field_off
    final = field_off + field_len - 1
    remlen = field_len
    labels = 0
    name = bytearray()
    fqdn_seen = False
    while remlen:
        _need(data, offset + 1, "domain name label")
        label_len = data[offset]
        if label_len > 63:
            return                                             # not DNS-encoded
        if not name:
            first = offset
        offset += 1
        remlen -= 1
        if label_len > remlen:
            return                                             # label runs past the field
        if len(name) + label_len + 2 > 255:
            return                                             # over 255 octets: shown as an error only
        if label_len == 0:
            name.append(0x2E)
            if labels == 0:
                return                                         # a lone root label
            if labels == 1:                                    # a TLD: shown as a warning
                labels = 0
                name = bytearray()
                fqdn_seen = True
                continue
            if f is not None:
                tree.add(f, _cstr(name), first, len(name) + 1, f"{f.desc}: {_cstr(name)}" if tree.want_nodes else None)
            labels = 0
            name = bytearray()
            fqdn_seen = True
            continue
        if offset + label_len - 1 == final:
            # A partial name ends the field.  (Wireshark copies its bytes
            # from the start of the name's first label.)
            _need(data, first + 1 + label_len, "domain name")
            name += data[first + 1:first + 1 + label_len]
            labels += 1
            if fqdn_seen:
                return
            if f is not None:
                tree.add(f, _cstr(name), first, len(name) + 1, f"{f.desc}: {_cstr(name)}" if tree.want_nodes else None)
            return
        if labels:
            name.append(0x2E)
        _need(data, offset + label_len, "domain name label")
        name += data[offset:offset + label_len]
        offset += label_len
        remlen -= label_len
        labels += 1


def _cstr(b: bytearray) -> str:
    """The name as a C string (to the first NUL), as the tree shows it."""
    z = b.find(b"\0")
    raw = bytes(b if z < 0 else b[:z])
    return raw.decode("ascii") if raw.isascii() else raw.decode("utf-8", "replace")

