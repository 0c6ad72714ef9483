"""BOOTP and DHCP (RFC 951, RFC 2131, options RFC 2132) on UDP 67/68.

The decode follows Wireshark 4.0's ``dhcp`` dissector, field for field and
fault for fault, so the columns agree with tshark:

* a first pass over the options finds the message type (53), the overload
  flags (52) and the requested address (50) without raising, as Wireshark's
  first pass does;
* the fixed header is then added field by field, and a field that runs past
  the message stops the decode there (the chaddr, sname and file areas are
  only read when Wireshark reads them);
* without the magic cookie the 64-byte BOOTP vendor area is skipped and
  anything after it is read as options (RFC 1497 BOOTP vendor extensions
  start with the same cookie, so Wireshark looks for options past the area);
* every option adds ``dhcp.option.type`` / ``.length`` / ``.value``, padding
  and End add ``dhcp.option.type`` 0 as Wireshark does; an option whose
  length runs past the message, or whose dissector reads past its own
  length, ends the decode.

Options 52 (overload) re-enter the option loop over the sname / file areas,
in place, as Wireshark shows them under option 52.
"""

from __future__ import annotations

from tracedoc.decode.app import AppInfo
from tracedoc.decode.apptree import Tree, Truncated, ascii_text
from tracedoc.decode.fields import F

NAME = "dhcp"

FIELDS = (
    F("dhcp.type", "u8", "Message type"),
    # hw.type and mac_addr occur again inside option 61 (client identifier).
    F("dhcp.hw.type", "u8", "Hardware type", "hex", 2, multi=True),
    F("dhcp.hw.len", "u8", "Hardware address length"),
    F("dhcp.hops", "u8", "Hops"),
    F("dhcp.id", "u32", "Transaction ID", "hex", 8),
    F("dhcp.secs", "u16", "Seconds elapsed"),
    F("dhcp.flags", "u16", "Bootp flags", "hex", 4),
    F("dhcp.flags.bc", "bool", "Broadcast flag"),
    F("dhcp.flags.reserved", "u16", "Reserved flags", "hex", 4),
    F("dhcp.ip.client", "ipv4", "Client IP address"),
    F("dhcp.ip.your", "ipv4", "Your (client) IP address"),
    F("dhcp.ip.server", "ipv4", "Next server IP address"),
    F("dhcp.ip.relay", "ipv4", "Relay agent IP address"),
    F("dhcp.hw.mac_addr", "ether", "Client MAC address", multi=True),
    F("dhcp.hw.addr", "bytes", "Client hardware address"),
    F("dhcp.hw.addr_padding", "bytes", "Client hardware address padding"),
    F("dhcp.server", "string", "Server host name"),
    F("dhcp.file", "string", "Boot file name"),
    F("dhcp.cookie", "ipv4", "Magic cookie"),
    F("dhcp.vendor_specific_options", "bytes", "Bootp vendor specific options"),
    F("dhcp.bootp", "bool", "Frame is BOOTP"),
    # every option
    F("dhcp.option.type", "u8", "Option", multi=True),
    F("dhcp.option.length", "u8", "Length", multi=True),
    F("dhcp.option.value", "bytes", "Value", multi=True),
    F("dhcp.option.padding", "bytes", "Padding", multi=True),
    F("dhcp.option.end", "u8", "Option End", multi=True),  # the overloaded areas end too
    # options by number (RFC 2132 unless noted)
    F("dhcp.option.subnet_mask", "ipv4", "Subnet Mask"),                        # 1
    F("dhcp.option.time_offset", "i64", "Time Offset"),                         # 2
    F("dhcp.option.router", "ipv4", "Router", multi=True),                      # 3
    F("dhcp.option.time_server", "ipv4", "Time Server", multi=True),            # 4
    F("dhcp.option.domain_name_server", "ipv4", "Domain Name Server", multi=True),  # 6
    F("dhcp.option.hostname", "string", "Host Name"),                           # 12
    F("dhcp.option.domain_name", "string", "Domain Name"),                      # 15
    F("dhcp.option.default_ip_ttl", "u8", "Default IP Time-to-Live"),           # 23
    F("dhcp.option.interface_mtu", "u16", "Interface MTU"),                     # 26
    F("dhcp.option.broadcast_address", "ipv4", "Broadcast Address"),            # 28
    F("dhcp.option.ntp_server", "ipv4", "Network Time Protocol Server", multi=True),  # 42
    F("dhcp.option.netbios_over_tcpip_name_server", "ipv4", "NetBIOS over TCP/IP Name Server",
      multi=True),                                                              # 44
    F("dhcp.option.netbios_over_tcpip_node_type", "u8", "NetBIOS over TCP/IP Node Type"),  # 46
    F("dhcp.option.requested_ip_address", "ipv4", "Requested IP Address"),     # 50
    F("dhcp.option.ip_address_lease_time", "u32", "IP Address Lease Time"),    # 51
    F("dhcp.option.option_overload", "u8", "Option Overload"),                 # 52
    F("dhcp.option.dhcp", "u8", "DHCP"),                                        # 53
    F("dhcp.option.dhcp_server_id", "ipv4", "DHCP Server Identifier"),         # 54
    F("dhcp.option.request_list_item", "u8", "Parameter Request List Item", multi=True),  # 55
    F("dhcp.option.message", "string", "Message"),                              # 56
    F("dhcp.option.dhcp_max_message_size", "u16", "Maximum DHCP Message Size"),  # 57
    F("dhcp.option.renewal_time_value", "u32", "Renewal Time Value"),          # 58
    F("dhcp.option.rebinding_time_value", "u32", "Rebinding Time Value"),      # 59
    F("dhcp.option.vendor_class_id", "string", "Vendor class identifier"),     # 60
    F("dhcp.client_id.type", "u8", "Type"),                                     # 61
    F("dhcp.client_id.undef", "string", "Client Identifier"),
    F("dhcp.client_hardware_address", "string", "Client hardware address"),
    F("dhcp.client_id.iaid", "string", "IAID"),
    F("dhcp.client_id.duid_type", "u16", "DUID Type"),
    F("dhcp.client_id.link_layer_address", "string", "Link layer address"),
    F("dhcp.option.tftp_server_name", "string", "TFTP Server Name"),           # 66
    F("dhcp.option.bootfile_name", "string", "Bootfile name"),                 # 67
    F("dhcp.fqdn.flags", "u8", "Flags", "hex", 2),                              # 81 (RFC 4702)
    F("dhcp.fqdn.mbz", "u8", "Reserved flags", "hex", 2),
    F("dhcp.fqdn.n", "bool", "Server DDNS"),
    F("dhcp.fqdn.e", "bool", "Encoding"),
    F("dhcp.fqdn.o", "bool", "Server overrides"),
    F("dhcp.fqdn.s", "bool", "Server"),
    F("dhcp.fqdn.rcode1", "u8", "A-RR result"),
    F("dhcp.fqdn.rcode2", "u8", "PTR-RR result"),
    F("dhcp.fqdn.name", "string", "Client name"),
    F("dhcp.option.agent_information_option.suboption", "u8", "Option 82 Suboption", multi=True),  # 82 (RFC 3046)
    F("dhcp.option.agent_information_option.value", "bytes", "Value", multi=True),
    F("dhcp.option.agent_information_option.agent_circuit_id", "bytes", "Agent Circuit ID"),
    F("dhcp.option.agent_information_option.agent_remote_id", "bytes", "Agent Remote ID"),
    F("dhcp.option.agent_information_option.link_selection", "ipv4", "Link selection"),
    F("dhcp.option.agent_information_option.subscriber_id", "string", "Subscriber ID"),
    F("dhcp.option.agent_information_option.server_id_override", "ipv4", "Server ID Override"),
)
_F = {f.name: f for f in FIELDS}
(TYPE, HW_TYPE, HW_LEN, HOPS, ID, SECS, FLAGS, FLAGS_BC, FLAGS_RES, IP_CLIENT, IP_YOUR, IP_SERVER, IP_RELAY,
 MAC, HW_ADDR, HW_PAD, SERVER, FILE, COOKIE, VENDOR_AREA, BOOTP) = FIELDS[:21]
OPT_TYPE, OPT_LEN, OPT_VALUE, OPT_PAD, OPT_END = FIELDS[21:26]
OPT53 = _F["dhcp.option.dhcp"]
OPT52 = _F["dhcp.option.option_overload"]
OPT55 = _F["dhcp.option.request_list_item"]
OPT60 = _F["dhcp.option.vendor_class_id"]
CID_TYPE, CID_UNDEF, CID_HWADDR, CID_IAID, CID_DUID_TYPE, CID_LLADDR = (
    _F["dhcp.client_id.type"], _F["dhcp.client_id.undef"], _F["dhcp.client_hardware_address"],
    _F["dhcp.client_id.iaid"], _F["dhcp.client_id.duid_type"], _F["dhcp.client_id.link_layer_address"])
FQDN_FLAGS, FQDN_MBZ, FQDN_N, FQDN_E, FQDN_O, FQDN_S, FQDN_RC1, FQDN_RC2, FQDN_NAME = (
    _F[f"dhcp.fqdn.{n}"] for n in ("flags", "mbz", "n", "e", "o", "s", "rcode1", "rcode2", "name"))
_O82 = "dhcp.option.agent_information_option."
O82_SUB, O82_VALUE = _F[_O82 + "suboption"], _F[_O82 + "value"]

COOKIE_VALUE = 0x63825363
"""RFC 2131 section 3: the first four octets of the options field."""
SNAME_OFF, FILE_OFF, VENDOR_OFF = 44, 108, 236
BOOTP_PORTS = (67, 68)
PROXY_DHCP_PORT = 4011
"""PXE proxyDHCP (Wireshark decodes it only when the cookie is there)."""

MESSAGE_TYPES = {
    1: "Discover", 2: "Offer", 3: "Request", 4: "Decline", 5: "ACK", 6: "NAK", 7: "Release", 8: "Inform",
    9: "Force Renew", 10: "Lease query", 11: "Lease Unassigned", 12: "Lease Unknown", 13: "Lease Active",
    14: "Bulk Lease Query", 15: "Lease Query Done", 16: "Active LeaseQuery", 17: "Lease Query Status",
    18: "TLS",
}
"""Option 53 values (RFC 2132 9.6, RFC 3203, RFC 4388, RFC 6926, RFC 7724)."""

HW_TYPES = {0: "Reserved", 1: "Ethernet", 6: "IEEE 802", 7: "ARCNET", 15: "Frame Relay", 16: "ATM",
            20: "Serial Line", 32: "InfiniBand"}
"""ARP hardware types (IANA) for labels."""

OPTION_NAMES = {
    0: "Padding", 1: "Subnet Mask", 2: "Time Offset", 3: "Router", 4: "Time Server", 5: "Name Server",
    6: "Domain Name Server", 7: "Log Server", 8: "Quotes Server", 9: "LPR Server", 10: "Impress Server",
    11: "Resource Location Server", 12: "Host Name", 13: "Boot File Size", 14: "Merit Dump File",
    15: "Domain Name", 16: "Swap Server", 17: "Root Path", 18: "Extensions Path", 19: "IP Forwarding",
    20: "Non-Local Source Routing", 21: "Policy Filter", 22: "Maximum Datagram Reassembly Size",
    23: "Default IP Time-to-Live", 24: "Path MTU Aging Timeout", 25: "Path MTU Plateau Table",
    26: "Interface MTU", 27: "All Subnets are Local", 28: "Broadcast Address", 29: "Perform Mask Discovery",
    30: "Mask Supplier", 31: "Perform Router Discover", 32: "Router Solicitation Address", 33: "Static Route",
    34: "Trailer Encapsulation", 35: "ARP Cache Timeout", 36: "Ethernet Encapsulation", 37: "TCP Default TTL",
    38: "TCP Keepalive Interval", 39: "TCP Keepalive Garbage", 40: "Network Information Service Domain",
    41: "Network Information Service Servers", 42: "Network Time Protocol Servers",
    43: "Vendor-Specific Information", 44: "NetBIOS over TCP/IP Name Server",
    45: "NetBIOS over TCP/IP Datagram Distribution Name Server", 46: "NetBIOS over TCP/IP Node Type",
    47: "NetBIOS over TCP/IP Scope", 48: "X Window System Font Server", 49: "X Window System Display Manager",
    50: "Requested IP Address", 51: "IP Address Lease Time", 52: "Option Overload", 53: "DHCP Message Type",
    54: "DHCP Server Identifier", 55: "Parameter Request List", 56: "Message", 57: "Maximum DHCP Message Size",
    58: "Renewal Time Value", 59: "Rebinding Time Value", 60: "Vendor class identifier",
    61: "Client identifier", 62: "Novell/Netware IP domain", 63: "Novell Options",
    64: "Network Information Service+ Domain", 65: "Network Information Service+ Servers",
    66: "TFTP Server Name", 67: "Bootfile name", 68: "Mobile IP Home Agent", 69: "SMTP Server",
    70: "POP3 Server", 71: "NNTP Server", 72: "Default WWW Server", 73: "Default Finger Server",
    74: "Default IRC Server", 75: "StreetTalk Server", 76: "StreetTalk Directory Assistance Server",
    77: "User Class Information", 78: "Directory Agent Information", 79: "Service Location Agent Scope",
    80: "Rapid commit", 81: "Client Fully Qualified Domain Name", 82: "Agent Information Option",
    83: "iSNS", 85: "Novell Directory Services Servers", 86: "Novell Directory Services Tree Name",
    87: "Novell Directory Services Context", 90: "Authentication", 91: "Client last transaction time",
    92: "Associated IP option", 93: "Client System Architecture", 94: "Client Network Device Interface",
    97: "UUID/GUID-based Client Identifier", 99: "Civic Addresses Configuration", 100: "PCode", 101: "TCode",
    108: "IPv6-Only Preferred", 112: "NetInfo Parent Server Address", 113: "NetInfo Parent Server Tag",
    116: "DHCP Auto-Configuration", 117: "Name Service Search", 118: "Subnet Selection Option",
    119: "Domain Search", 120: "SIP Servers", 121: "Classless Static Route",
    123: "Coordinate-based Location Configuration", 124: "V-I Vendor Class",
    125: "V-I Vendor-specific Information", 137: "LoST Server Domain Name", 138: "CAPWAP Access Controllers",
    145: "Forcerenew Nonce Capable", 146: "RDNSS Selection", 150: "TFTP Server Address",
    151: "Leasequery Status code", 152: "Leasequery Base Time", 153: "Leasequery Start Time of State",
    154: "Leasequery Query Start Time", 155: "Leasequery Query End Time", 156: "Leasequery Dhcp State",
    157: "Leasequery Data Source", 158: "PCP Server", 159: "Portparams", 160: "DHCP Captive-Portal",
    161: "Manufacturer Usage Description", 209: "PXE Configuration file", 210: "PXE Path Prefix",
    212: "6RD", 249: "Private/Classless Static Route (Microsoft)", 252: "Private/Proxy autodiscovery",
    255: "End",
}

# -- options with one value of a basic type -----------------------------------------------
# Wireshark's "basic type" table (DHCP_OPTION_BASICTYPE_RANGE): only the ones
# with a declared field are decoded here; the others add nothing beyond
# type/length/value and never fault, so leaving them out changes no column.
_IPV4, _IPV4_LIST, _STRING, _U8, _U16, _U32, _I32 = range(7)
BASIC: dict[int, tuple[int, str, str]] = {
    1: (_IPV4, "dhcp.option.subnet_mask", "subnet mask"),
    2: (_I32, "dhcp.option.time_offset", "time offset"),
    3: (_IPV4_LIST, "dhcp.option.router", "router"),
    4: (_IPV4_LIST, "dhcp.option.time_server", "time server"),
    6: (_IPV4_LIST, "dhcp.option.domain_name_server", "domain name server"),
    12: (_STRING, "dhcp.option.hostname", "host name"),
    15: (_STRING, "dhcp.option.domain_name", "domain name"),
    23: (_U8, "dhcp.option.default_ip_ttl", "default IP time-to-live"),
    26: (_U16, "dhcp.option.interface_mtu", "interface MTU"),
    28: (_IPV4, "dhcp.option.broadcast_address", "broadcast address"),
    42: (_IPV4_LIST, "dhcp.option.ntp_server", "NTP server"),
    44: (_IPV4_LIST, "dhcp.option.netbios_over_tcpip_name_server", "NetBIOS name server"),
    46: (_U8, "dhcp.option.netbios_over_tcpip_node_type", "NetBIOS node type"),
    50: (_IPV4, "dhcp.option.requested_ip_address", "DHCP requested IP address"),
    51: (_U32, "dhcp.option.ip_address_lease_time", "IP address lease time"),
    54: (_IPV4, "dhcp.option.dhcp_server_id", "server identifier"),
    56: (_STRING, "dhcp.option.message", "message"),
    57: (_U16, "dhcp.option.dhcp_max_message_size", "maximum DHCP message size"),
    58: (_U32, "dhcp.option.renewal_time_value", "renewal time value"),
    59: (_U32, "dhcp.option.rebinding_time_value", "rebinding time value"),
    66: (_STRING, "dhcp.option.tftp_server_name", "TFTP server name"),
    67: (_STRING, "dhcp.option.bootfile_name", "bootfile name"),
}
_TIMES = {51, 58, 59}


def _ip(v: int) -> str:
    return f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"


def _duration(s: int) -> str:
    if s == 0xFFFFFFFF:
        return "infinity"
    parts = []
    for unit, n in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        q, s = divmod(s, n)
        if q:
            parts.append(f"{q} {unit}{'s' if q != 1 else ''}")
    return ", ".join(parts) or "0 seconds"


def _mac(b: bytes) -> str:
    return ":".join(f"{c:02X}" for c in b)


# -- the message --------------------------------------------------------------------------

class _Scan:
    """What Wireshark's first pass over the options learns."""

    __slots__ = ("msgtype", "overload", "live_overload", "requested", "message", "vendor_class", "blocks", "seen",
                 "joined")

    def __init__(self) -> None:
        self.msgtype: int | None = None
        self.overload = 0
        self.live_overload = 0
        self.requested: int | None = None
        self.message: str | None = None
        self.vendor_class: bytes | None = None
        self.blocks = {119: 0, 120: 0}
        """RFC 3396: how many options 119 / 120 the message splits a value into."""
        # second pass: the pieces seen so far, concatenated
        self.seen = {119: 0, 120: 0}
        self.joined: dict[int, bytearray | None] = {119: None, 120: None}


def _first_pass(data: bytes, voff: int, eoff: int) -> _Scan:
    """Options 52/53 (and 50/56 for the summary), reading only whole options.

    A zero-length 52 or 53 takes the byte after it as its value, as
    Wireshark's first pass does; when that byte is past the end Wireshark's
    read faults before any field is added."""
    s = _Scan()
    n = len(data)
    off = voff
    while off < eoff:
        if off >= n:
            raise Truncated(n, "options")
        code = data[off]
        if code == 0:
            off += 1
            while off < eoff and off < n and data[off] == 0:
                off += 1
            if n <= off < eoff:
                raise Truncated(n, "padding")
            continue
        if code == 255:
            break
        if off + 1 >= n:
            off += 1
            continue
        optlen = data[off + 1]
        if off + 2 + optlen <= n:
            if code in (52, 53):
                if off + 2 >= n:
                    raise Truncated(off + 2, f"option {code} value")
                if code == 52:
                    s.overload = data[off + 2]
                else:
                    s.msgtype = data[off + 2]
            elif code == 60:
                s.vendor_class = data[off + 2:off + 2 + optlen]
            elif code in (119, 120):
                s.blocks[code] += 1
            elif code == 50 and optlen == 4 and s.requested is None:
                s.requested = int.from_bytes(data[off + 2:off + 6], "big")
            elif code == 56 and s.message is None:
                s.message = ascii_text(data[off + 2:off + 2 + optlen])
        off += optlen + 2
    return s


def _summary(op: int, data: bytes, s: _Scan) -> str:
    """The Packet Summary's Messages text (the seed's ``dhcp : client
    request: discover find DHCP servers`` ... wording)."""
    n = len(data)
    ci = int.from_bytes(data[12:16], "big") if n >= 16 else 0
    yi = int.from_bytes(data[16:20], "big") if n >= 20 else 0
    side = "client request" if op == 1 else "server reply" if op == 2 else f"op {op}"
    t = s.msgtype
    if t is None:
        if op == 2:
            return f"dhcp : server reply: bootp boot reply, ip address {_ip(yi)}"
        return f"dhcp : {side}: bootp boot request"
    if t == 1:
        return "dhcp : client request: discover find DHCP servers"
    if t == 2:
        return f"dhcp : server reply: offering ip address {_ip(yi)}"
    if t == 3:
        if ci:
            return f"dhcp : client request: renew use of {_ip(ci)}"
        return "dhcp : client request: request new ip address"
    if t == 4:
        addr = s.requested if s.requested is not None else ci
        return f"dhcp : client request: decline use of {_ip(addr)} (already in use)"
    if t == 5:
        if yi:
            return f"dhcp : server reply: ACK use of {_ip(yi)} (ok to use)"
        return "dhcp : server reply: ACK configuration parameters"
    if t == 6:
        why = f" ({s.message})" if s.message else ""
        return f"dhcp : server reply: NAK ip address request refused{why}"
    if t == 7:
        return f"dhcp : client request: release use of {_ip(ci)}"
    if t == 8:
        return f"dhcp : client request: inform ask for configuration parameters for {_ip(ci)}"
    name = MESSAGE_TYPES.get(t, f"unknown message type {t}").lower()
    return f"dhcp : {side}: {name}"


def dissect(data: bytes, tree: Tree, info: AppInfo) -> None:
    n = len(data)
    has_cookie = n >= VENDOR_OFF + 4 and int.from_bytes(data[VENDOR_OFF:VENDOR_OFF + 4], "big") == COOKIE_VALUE
    if PROXY_DHCP_PORT in (info.srcport, info.dstport) and not has_cookie:
        # Wireshark: "not a DHCP packet at all" on the proxyDHCP port.
        tree.malformed("not a DHCP message: no magic cookie on the proxyDHCP port", 0)
        return
    if n < 3:
        raise Truncated(n, "BOOTP header")
    op, htype, hlen = data[0], data[1], data[2]
    if op == 1 and hlen and n < 28 + hlen:
        # Wireshark names a request by its chaddr before adding any field.
        raise Truncated(n, "client hardware address")
    # Options run to the datagram's reported end; bytes a short snapshot
    # length cut off make Wireshark's reads fault there.
    eoff = max(info.reported_len, n)
    s = _first_pass(data, VENDOR_OFF + 4 if has_cookie else VENDOR_OFF + 64, eoff)
    tree.message = _summary(op, data, s)
    nodes = tree.want_nodes
    if nodes:
        tree.root.label = ("DHCP : CLIENT REQUEST" if op == 1 else "DHCP : SERVER REPLY" if op == 2
                           else f"DHCP : MESSAGE TYPE {op}")

    add = tree.add
    add(TYPE, op, 0, 1, f"Message type - {'Boot Request' if op == 1 else 'Boot Reply' if op == 2 else 'Unknown'}"
        f" ({op})" if nodes else None)
    add(HW_TYPE, htype, 1, 1, f"Hardware Type - {HW_TYPES.get(htype, f'0x{htype:02x}')}" if nodes else None)
    add(HW_LEN, hlen, 2, 1, f"Hardware Address Length - {hlen}" if nodes else None)
    _need(data, 4, "hops")
    add(HOPS, data[3], 3, 1, f"Hops - {data[3]}" if nodes else None)
    _need(data, 8, "transaction ID")
    xid = int.from_bytes(data[4:8], "big")
    add(ID, xid, 4, 4, f"Transaction ID - 0x{xid:08X}" if nodes else None)
    _need(data, 10, "seconds elapsed")
    be = int.from_bytes(data[8:10], "big")
    le = data[8] | data[9] << 8
    # Windows clients send secs little-endian; Wireshark shows the value read
    # that way when it makes sense (1..255).
    secs = le if 0 < le <= 0xFF else be
    add(SECS, secs, 8, 2, (f"Elapse Seconds - {be}" + (f" (little-endian: {le})" if secs != be else ""))
        if nodes else None)
    _need(data, 12, "flags")
    flags = int.from_bytes(data[10:12], "big")
    tree.open(f"Flags - {'broadcast' if flags & 0x8000 else 'unicast'}", 10, 2)
    add(FLAGS, flags, 10, 2, f"Bootp flags - 0x{flags:04x}" if nodes else None)
    add(FLAGS_BC, bool(flags & 0x8000), 10, 2,
        f"Broadcast flag - {'broadcast' if flags & 0x8000 else 'unicast'}" if nodes else None)
    add(FLAGS_RES, flags & 0x7FFF, 10, 2, f"Reserved flags - 0x{flags & 0x7FFF:04x}" if nodes else None)
    tree.close()
    for f, off, text in ((IP_CLIENT, 12, "Client IP"), (IP_YOUR, 16, "Your (client) IP"),
                         (IP_SERVER, 20, "Next server IP"), (IP_RELAY, 24, "Relay Agent IP")):
        _need(data, off + 4, f.desc)
        v = int.from_bytes(data[off:off + 4], "big")
        add(f, v, off, 4, f"{text} - {_ip(v)}" if nodes else None)
    if 0 < hlen <= 16:
        if htype in (1, 6) and hlen == 6:
            _need(data, 34, "client MAC address")
            add(MAC, int.from_bytes(data[28:34], "big"), 28, 6,
                f"Client MAC Address - {_mac(data[28:34])}" if nodes else None)
        else:
            _need(data, 44, "client hardware address")
            add(HW_ADDR, data[28:44], 28, 16,
                f"Client Hardware Address - {_mac(data[28:28 + hlen])}" if nodes else None)
        if hlen < 16:
            _need(data, 44, "client hardware address padding")
            add(HW_PAD, data[28 + hlen:44], 28 + hlen, 16 - hlen)
    elif nodes:
        tree.text("Client MAC Address - not given", 28, 16)
    # RFC 2132 9.3: overload 1 = the file field holds options, 2 = sname, 3 = both.
    for f, off, size, bit, text in ((SERVER, SNAME_OFF, 64, 2, "Server host name"),
                                    (FILE, FILE_OFF, 128, 1, "Boot file name")):
        if s.overload & bit:
            if nodes:
                tree.text(f"{text} - holds options (overloaded)", off, size)
            continue
        # Wireshark reads the first byte, then adds the whole area either way.
        _need(data, off + size, f.desc)
        if data[off]:
            area = ascii_text(data[off:off + size])
            add(f, area, off, size, f"{text} - {area}" if nodes else None)
        else:
            add(f, "", off, size, f"{text} - not provided" if nodes else None)
    if s.msgtype is None:
        add(BOOTP, True, 0, 0, "BOOTP (no DHCP message type)" if nodes else None)
    if has_cookie:
        add(COOKIE, COOKIE_VALUE, VENDOR_OFF, 4, "Magic cookie - DHCP" if nodes else None)
        voff = VENDOR_OFF + 4
    else:
        _need(data, VENDOR_OFF + 64, "BOOTP vendor area")
        add(VENDOR_AREA, data[VENDOR_OFF:VENDOR_OFF + 64], VENDOR_OFF, 64,
            "Bootp vendor specific options" if nodes else None)
        voff = VENDOR_OFF + 64
    if voff >= eoff:
        return
    tree.open("DHCP Options:", voff, eoff - voff)
    try:
        s.live_overload = s.overload
        voff, _ = _options(data, tree, voff, eoff, s)
        if voff < eoff:
            _need(data, eoff, "padding")
            add(OPT_PAD, data[voff:eoff], voff, eoff - voff, "Padding" if nodes else None)
    finally:
        tree.close()


def _need(data: bytes, end: int, what: str) -> None:
    if len(data) < end:
        raise Truncated(len(data), what)


def _options(data: bytes, tree: Tree, voff: int, eoff: int, s: _Scan, main: bool = True) -> tuple[int, bool]:
    """Wireshark's second pass: every option from ``voff`` to ``eoff`` or End
    (``main`` False for the overloaded sname / file areas, where option 52
    does not apply again).  Returns where it stopped and whether it met End."""
    nodes = tree.want_nodes
    add = tree.add
    n = len(data)
    s.seen = {119: 0, 120: 0}
    while voff < eoff:
        if voff >= n:
            raise Truncated(n, "option code")
        code = data[voff]
        if code == 0:
            i = voff + 1
            while i < eoff and i < n and data[i] == 0:
                i += 1
            if n <= i < eoff:
                raise Truncated(n, "padding")
            tree.open("Padding", voff, i - voff)
            add(OPT_TYPE, 0, voff, 1, "Option - (0) Padding" if nodes else None)
            add(OPT_PAD, data[voff:i], voff, i - voff, f"Padding - {i - voff} bytes" if nodes else None)
            tree.close()
            voff = i
            continue
        if code == 255:
            tree.open("End Option", voff, 1)
            add(OPT_TYPE, 0, voff, 1, "Option - (255) End" if nodes else None)
            add(OPT_END, 255, voff, 1, "Option End - 255" if nodes else None)
            tree.close()
            return voff + 1, True
        if voff + 1 >= n:
            raise Truncated(voff + 1, f"option {code} length")
        optlen = data[voff + 1]
        vstart = voff + 2
        if nodes:
            tree.open(_option_label(code, data[vstart:vstart + optlen], optlen), voff, optlen + 2)
        try:
            add(OPT_TYPE, code, voff, 1,
                f"Option - ({code}) {OPTION_NAMES.get(code, 'Unknown')}" if nodes else None)
            add(OPT_LEN, optlen, voff + 1, 1, f"Length - {optlen}" if nodes else None)
            if vstart + optlen > n:
                raise Truncated(n, f"option {code} value")
            v = data[vstart:vstart + optlen]
            add(OPT_VALUE, v, vstart, optlen, f"Value - {v.hex()}" if nodes else None)
            _option(code, v, vstart, data, tree, s.live_overload if main else 0, s)
        finally:
            if nodes:
                tree.close()
        voff = vstart + optlen
    return voff, False


def _option_label(code: int, v: bytes, optlen: int) -> str:
    """The seed's option line (``DHCP Message - dhcp decline``,
    ``DHCP requested IP address = 192.168.0.104``, ``server identifier = ...``)."""
    if code == 53 and v:
        return f"DHCP Message - dhcp {MESSAGE_TYPES.get(v[0], f'type {v[0]}').lower()}"
    if code == 61:
        return "DHCP client-identifier"
    b = BASIC.get(code)
    if b is not None:
        kind, _, text = b
        if kind == _IPV4 and optlen == 4:
            return f"{text} = {_ip(int.from_bytes(v, 'big'))}"
        if kind == _IPV4_LIST and optlen and optlen % 4 == 0:
            return f"{text} = " + ", ".join(_ip(int.from_bytes(v[i:i + 4], "big")) for i in range(0, optlen, 4))
        if kind == _STRING:
            return f"{text} = {ascii_text(v)}"
        if kind == _U32 and optlen == 4:
            x = int.from_bytes(v, "big")
            return f"{text} = {x}" + (f" ({_duration(x)})" if code in _TIMES else "")
        if kind in (_U8, _U16) and optlen == (1 if kind == _U8 else 2):
            return f"{text} = {int.from_bytes(v, 'big')}"
        if kind == _I32 and optlen == 4:
            return f"{text} = {int.from_bytes(v, 'big', signed=True)}"
    if code == 55:
        return "parameter request list = " + ", ".join(str(c) for c in v)
    if code == 60:
        return f"vendor class identifier = {ascii_text(v)}"
    if code == 81:
        return "client fully qualified domain name"
    if code == 82:
        return "relay agent information"
    if code == 52 and v:
        return f"option overload = {v[0]}"
    return f"option {code} ({OPTION_NAMES.get(code, 'Unknown')}), length {optlen}"


def _option(code: int, v: bytes, base: int, data: bytes, tree: Tree, overload: int, s: _Scan) -> None:
    """The option's own dissector; ``base`` is the value's offset in the message.
    Raises Truncated where Wireshark's dissector reads past the option."""
    add = tree.add
    nodes = tree.want_nodes
    optlen = len(v)
    b = BASIC.get(code)
    if b is not None:
        kind, name, text = b
        f = _F[name]
        if kind == _IPV4:
            if optlen == 4:
                x = int.from_bytes(v, "big")
                add(f, x, base, 4, f"{text} = {_ip(x)}" if nodes else None)
        elif kind == _IPV4_LIST:
            for i in range(0, optlen - optlen % 4, 4):
                x = int.from_bytes(v[i:i + 4], "big")
                add(f, x, base + i, 4, f"{text} = {_ip(x)}" if nodes else None)
        elif kind == _STRING:
            t = ascii_text(v)
            add(f, t, base, optlen, f"{text} = {t}" if nodes else None)
        elif kind in (_U8, _U16, _U32, _I32):
            size = 1 if kind == _U8 else 2 if kind == _U16 else 4
            if optlen == size:
                x = int.from_bytes(v, "big", signed=kind == _I32)
                add(f, x, base, size,
                    (f"{text} = {x}" + (f" ({_duration(x)})" if code in _TIMES else "")) if nodes else None)
        return
    if code == 53:
        if not v:
            raise Truncated(base, "option 53 value")
        add(OPT53, v[0], base, 1,
            f"DHCP Message - dhcp {MESSAGE_TYPES.get(v[0], f'type {v[0]}').lower()} ({v[0]})" if nodes else None)
    elif code == 55:
        for i, c in enumerate(v):
            add(OPT55, c, base + i, 1, f"({c}) {OPTION_NAMES.get(c, 'Unknown')}" if nodes else None)
    elif code == 52:
        if not v:
            return
        add(OPT52, v[0], base, 1, f"Option Overload - {v[0]}" if nodes else None)
        if 1 <= overload <= 3:
            # RFC 2131 4.1: the sname / file areas hold further options.
            # Wireshark reads them at the first option 52 only.
            s.live_overload = 0
            for bit, start, end, text in ((2, SNAME_OFF, FILE_OFF, "Server host name option overload"),
                                          (1, FILE_OFF, VENDOR_OFF, "Boot file name option overload")):
                if v[0] & bit:
                    tree.open(text, start, end - start)
                    try:
                        _options(data, tree, start, end, s, False)
                    finally:
                        tree.close()
    elif code == 60:
        t = ascii_text(v)
        add(OPT60, t, base, optlen, f"vendor class identifier = {t}" if nodes else None)
        if optlen >= 8 and v[:8] in (b"pktc1.0:", b"pktc1.5:", b"pktc2.0:"):
            _packetcable_mta(v, base)
    elif code == 61:
        _client_id(v, base, tree)
    elif code == 43:
        if s.vendor_class is not None and s.vendor_class.startswith(b"PXEClient"):
            off = 0
            while off < optlen:
                off = _pxe_suboption(v, off, base)
    elif code == 63:
        _suboptions(v, base, "option 63 suboption")
    elif code == 79:
        if not v:
            raise Truncated(base, "option 79 value")
    elif code == 81:
        _fqdn(v, base, tree)
    elif code == 82:
        off = 0
        while off < optlen:
            off = _agent_info(v, off, base, tree)
    elif code == 94:
        if not v or (v[0] == 1 and optlen < 3):
            raise Truncated(base + optlen, "option 94 value")
    elif code in (119, 120):
        _long_option(code, v, base, s)
    elif code in (121, 249):
        _classless_routes(v, base)
    elif code == 124:
        off = 0
        if optlen != 1:
            while optlen - off >= 5:
                dlen = v[off + 4]
                off += 5
                if off + dlen > optlen:
                    raise Truncated(base + optlen, "option 124 vendor class data")
                off += dlen
    elif code == 125:
        _vi_vendor_info(v, base)
    elif code == 123:
        # RFC 3825 location (16 bytes) or CableLabs DSS_IDs (code, length, name; twice)
        if optlen != 16 and optlen < 69:
            if optlen < 2 or 2 + v[1] > optlen:
                raise Truncated(base + optlen, "option 123 DSS_ID")
            first = v[1]
            if optlen > first + 2:
                if 4 + first > optlen:
                    raise Truncated(base + optlen, "option 123 second DSS_ID")
                second = v[3 + first]
                if 4 + second + second > optlen:  # Wireshark reads the second name at 4 + its own length
                    raise Truncated(base + optlen, "option 123 second DSS_ID")
    elif code == 158:
        # RFC 7291 PCP server lists; Wireshark's list subtree spans the list length.
        if optlen >= 5:
            off = 0
            while optlen - off >= 5:
                llen = v[off]
                if off + llen > optlen:
                    raise Truncated(base + optlen, "option 158 server list")
                off += 1
                got = 1
                while (llen - 1) % 4 == 0 and got < llen and optlen - off >= 4:
                    off += 4
                    got += 4
    elif code == 146:
        if optlen >= 10:
            _dns_name(v, 9, optlen - 9, 9, base)


def _pxe_suboption(v: bytes, off: int, base: int) -> int:
    """One PXE suboption of option 43 (PXE 2.1, when the vendor class is
    PXEClient); returns the offset after it.  Only where Wireshark's reads
    fault matters here: it decodes no declared field."""
    end = len(v)
    sub = v[off]
    if sub == 0:
        return off + 1
    if sub == 255:
        return end
    if off + 1 >= end:
        return end
    slen = v[off + 1]
    p = off + 2

    def need(upto: int) -> None:
        if upto > end:
            raise Truncated(base + end, f"option 43 PXE suboption {sub}")

    need(p + slen)
    if sub == 6:
        need(p + 1)
    elif sub in (8, 9):
        q = p
        while q - p < slen - 1:
            need(q + 3)
            count = v[q + 2]
            q += 3
            if sub == 8:
                need(q + 4 * count)
                q += 4 * count
            else:
                need(q + count)
                q += count
    elif sub == 10:
        need(p + 1)
    elif sub == 71:
        need(p + 4)
    return off + 2 + slen


def _scan_hex(two: bytes) -> int | None:
    """C's sscanf("%x") on a two-character buffer: None when it matches nothing."""
    t = two.split(b"\0", 1)[0].decode("latin-1").lstrip(" \t\n\v\f\r")
    neg = t[:1] in ("-", "+")
    sign = -1 if t[:1] == "-" else 1
    if neg:
        t = t[1:]
    if t[:2].lower() == "0x":
        t = t[2:] or "0"
    digits = ""
    for ch in t:
        if ch in "0123456789abcdefABCDEF":
            digits += ch
        else:
            break
    if not digits:
        return None
    return (sign * int(digits, 16)) & 0xFFFFFFFF


def _packetcable_mta(v: bytes, base: int) -> None:
    """PacketCable MTA device capabilities in option 60 (PKT-SP-PROV 8.2):
    hex-text TLVs after "pktcX.Y:" and a two-digit length."""
    n = len(v)

    def need(upto: int) -> None:
        if upto > n:
            raise Truncated(base + n, "option 60 PacketCable capabilities")

    off = 10
    need(off + 2)
    first = _scan_hex(v[off:off + 2])
    if first is None or first > 0xFF:
        return
    off += 2
    while off < n:
        need(off + 4)
        typ = int.from_bytes(v[off:off + 2], "big")
        tlv_len = _scan_hex(v[off + 2:off + 4])
        if tlv_len is None or tlv_len < 1 or tlv_len > 0xFFFF:
            return
        if typ == 0x3042 or typ == 0x3062:           # supported codecs
            need(off + 4 + 2 * tlv_len)
        elif typ == 0x3132:                          # provisioning flows
            need(off + 8)
        elif typ == 0x3137:                          # MIBs
            p, end = off + 4, off + 4 + 2 * tlv_len
            while p < end:
                need(p + 2)
                if v[p:p + 2] != b"02":
                    return
                need(p + 6)
                if _scan_hex(v[p + 4:p + 6]) is None:
                    return
                p += 6
        elif typ in _MTA_TWO_CHAR:
            need(off + 6)
        else:                                        # vendor TLVs and unknown types
            need(off + 4 + 2 * tlv_len)
        off += tlv_len * 2 + 4


_MTA_TWO_CHAR = {0x3031, 0x3032, 0x3130, 0x3033, 0x3034, 0x3035, 0x3036, 0x3037, 0x3039, 0x3041, 0x3061,
                 0x3043, 0x3063, 0x3044, 0x3064, 0x3045, 0x3065, 0x3046, 0x3066, 0x3131, 0x3135, 0x3136,
                 0x3138, 0x3139, 0x3141, 0x3161, 0x3133, 0x3134}
"""MTA capability types whose value Wireshark reads as two characters."""


def _suboptions(v: bytes, base: int, what: str) -> None:
    """Code/length suboptions whose value Wireshark reads whole (option 63)."""
    off, end = 0, len(v)
    while off < end:
        if off + 1 >= end:
            return
        slen = v[off + 1]
        if off + 2 + slen > end:
            raise Truncated(base + end, what)
        off += 2 + slen


def _long_option(code: int, v: bytes, base: int, s: _Scan) -> None:
    """Options 119 (RFC 3397 domain search) and 120 (RFC 3361 SIP servers),
    which RFC 3396 lets a message split over several options: the names are
    read from the concatenation, at the last piece."""
    s.seen[code] += 1
    joined = s.joined[code]
    if v:
        if joined is None:
            joined = s.joined[code] = bytearray()
        joined += v
    if s.seen[code] != s.blocks[code] or joined is None:
        return
    buf = bytes(joined)
    s.joined[code] = None
    if code == 119:
        off = 0
        while off < len(buf):
            off += _dns_name(buf, off, len(buf), 0, base)[0]
    elif buf[0] == 0 and len(buf) >= 3:  # encoding 0: domain names after the encoding byte
        off = 1
        while off < len(buf):
            off += _dns_name(buf, off, len(buf), 1, base)[0]


def _classless_routes(v: bytes, base: int) -> None:
    """Options 121 / 249 (RFC 3442): width, significant octets, router."""
    if len(v) < 5:
        return
    off = 0
    while off < len(v):
        width = v[off]
        if width > 32:
            return
        if off + 1 + (width + 7) // 8 + 4 > len(v):
            raise Truncated(base + len(v), "classless static route")
        off += 1 + (width + 7) // 8 + 4


def _vi_vendor_info(v: bytes, base: int) -> None:
    """Option 125 (RFC 3925): enterprise number, length, suboptions."""
    total = len(v)
    off = 0
    while total - off >= 5:
        ent = int.from_bytes(v[off:off + 4], "big")
        dlen = v[off + 4]
        off += 5
        s_end = off + dlen
        # (Wireshark 4.0 never sees its "no room left" check fire: a length
        # past the end faults when the data is cut out.)
        while off < s_end:
            if off >= total:
                raise Truncated(base + total, "option 125 suboption")
            if ent in (4491, 3561):  # CableLabs, Broadband Forum TR-111: code, length, value
                piece = v[off:off + dlen]
                if len(piece) < 2:
                    off += 1
                elif len(piece) - 2 < piece[1]:
                    off += 2
                else:
                    off += piece[1] + 2
                continue
            sub = off + 1
            if sub >= s_end:
                off = s_end
                continue
            if sub >= total:
                raise Truncated(base + total, "option 125 suboption length")
            slen = v[sub]
            sub += 1
            if sub + slen > s_end:
                off = s_end
            elif sub + slen > total:
                raise Truncated(base + total, "option 125 suboption data")
            else:
                off = sub + slen


MAX_DNAME_LEN = 255
MIN_DNAME_LEN = 2


def _dns_name(buf: bytes, offset: int, max_len: int, data_offset: int, base: int) -> tuple[int, str]:
    """Wireshark's get_dns_name (packet-dns.c) on ``buf``: the bytes the name
    takes at ``offset`` and its text.  Raises Truncated where it faults."""
    n = len(buf)
    start = offset
    out = bytearray()
    length = -1
    pointers = 0
    maxname = MAX_DNAME_LEN
    special: str | None = None

    def byte(i: int) -> int:
        if i >= n or i < 0:
            raise Truncated(base + n, "domain name")
        return buf[i]

    while True:
        if max_len and offset - start > max_len - 1:
            break
        c = byte(offset)
        offset += 1
        if c == 0:
            break
        kind = c & 0xC0
        if kind == 0x00:
            if out:
                if maxname > 0:
                    out.append(0x2E)
                    maxname -= 1
            else:
                maxname -= 1
            for _ in range(c):
                if max_len and offset - start > max_len - 1:
                    raise Truncated(base + offset, "domain name label")
                x = byte(offset)
                if maxname > 0:
                    out.append(x)
                    maxname -= 1
                offset += 1
        elif kind == 0x40:
            if c & 0x3F == 0x01:  # RFC 2673 bitstring label
                bits = byte(offset)
                offset += 1
                text = "\\[x"
                for _ in range((bits - 1) // 8 + 1):
                    text += f"{byte(offset):02x}"
                    offset += 1
                text += f"/{bits}]"
                take = text.encode()[:max(maxname, 0)]
                out += take
                maxname -= len(take)
            else:
                special = "<Unknown extended label>"
                length = offset - start
                if length < 1:
                    raise Truncated(base + offset, "domain name")
                break
        elif kind == 0x80:
            raise Truncated(base + offset, "domain name label type")
        else:
            indir = data_offset + (((c & 0x3F) << 8) | byte(offset))
            offset += 1
            pointers += 1
            if length < 0:
                length = offset - start
            if indir == offset + 2 or pointers > MAX_DNAME_LEN:
                special = "<Name contains a pointer that loops>"
                break
            offset = indir
    if special is None and maxname <= 0:
        special = "<Name too long>"
    if length < 0:
        length = offset - start
    if special is not None:
        name, name_len = special, len(special)
    else:
        name, name_len = _format_text(bytes(out)), len(out)
    if special is None and not out and length <= MIN_DNAME_LEN:
        return length, "<Root>"
    if length < MIN_DNAME_LEN or (length > MIN_DNAME_LEN and name_len == 0):
        raise Truncated(base + offset, "domain name")
    return length, name


_ESCAPES = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}


def _format_text(b: bytes) -> str:
    """Wireshark's format_text: printable ASCII as is, other ASCII as C
    escapes, UTF-8 kept (invalid bytes as U+FFFD)."""
    if all(0x20 <= c < 0x7F for c in b):
        return b.decode("ascii")
    out = []
    for part in _ascii_runs(b):
        if isinstance(part, str):
            out.append(part)
        else:
            out.append(part.decode("utf-8", "replace"))
    return "".join(out)


def _ascii_runs(b: bytes) -> list[str | bytes]:
    parts: list[str | bytes] = []
    hi = bytearray()
    for c in b:
        if c >= 0x80:
            hi.append(c)
            continue
        if hi:
            parts.append(bytes(hi))
            hi = bytearray()
        parts.append(chr(c) if 0x20 <= c < 0x7F else _ESCAPES.get(c, f"\\{c:03o}"))
    if hi:
        parts.append(bytes(hi))
    return parts


def _client_id(v: bytes, base: int, tree: Tree) -> None:
    """Option 61 (RFC 2132 9.14; RFC 4361 type 255 = IAID + DUID), as
    Wireshark reads it."""
    add = tree.add
    nodes = tree.want_nodes
    length = len(v)
    t = v[0] if length else 0
    if length == 7 and 0 < t < 48:
        add(HW_TYPE, t, base, 1,
            f"Hardware type: {'Ethernet (10Mb)' if t == 1 else HW_TYPES.get(t, str(t))}" if nodes else None)
        if t in (1, 6):
            add(MAC, int.from_bytes(v[1:7], "big"), base + 1, 6,
                f"Client address: {_mac(v[1:7])}" if nodes else None)
        else:
            add(CID_HWADDR, v[1:7].hex(), base + 1, 6, f"Client address: {v[1:7].hex()}" if nodes else None)
    elif length == 17 and t == 0:
        if nodes:
            tree.text(f"Client Identifier (UUID): {v[1:17].hex()}", base + 1, 16)
    elif t == 255:
        if length < 5:
            raise Truncated(base + length, "option 61 IAID")
        add(CID_IAID, v[1:5].hex(), base + 1, 4, f"IAID: {v[1:5].hex()}" if nodes else None)
        if length < 7:
            raise Truncated(base + length, "option 61 DUID type")
        duid = int.from_bytes(v[5:7], "big")
        add(CID_DUID_TYPE, duid, base + 5, 2, f"DUID Type: {duid}" if nodes else None)
        if duid == 1 and length >= 8:            # DUID-LLT: hardware type, time, address
            if length < 13:
                raise Truncated(base + length, "option 61 DUID-LLT")
            if length > 8:
                hw = int.from_bytes(v[7:9], "big")
                a = _arphrd(v[13:], hw)
                add(CID_LLADDR, a, base + 13, length - 13, f"Link layer address: {a}" if nodes else None)
        elif duid == 2 and length >= 6:          # DUID-EN: enterprise number, identifier
            if length < 11:
                raise Truncated(base + length, "option 61 DUID-EN")
        elif duid == 3 and length >= 4:          # DUID-LL: hardware type, address
            if length < 9:
                raise Truncated(base + length, "option 61 DUID-LL")
            if length > 4:
                hw = int.from_bytes(v[7:9], "big")
                a = _arphrd(v[9:], hw)
                add(CID_LLADDR, a, base + 9, length - 9, f"Link layer address: {a}" if nodes else None)
    elif t == 0 and length > 1:
        add(CID_TYPE, 0, base, 1, "Type: 0" if nodes else None)
        u = ascii_text(v[1:])
        add(CID_UNDEF, u, base + 1, length - 1, f"Client Identifier: {u}" if nodes else None)


def _arphrd(b: bytes, hwtype: int) -> str:
    """Wireshark's tvb_arphrdaddr_to_str: a MAC for Ethernet, else hex."""
    if not b:
        return "<No address>"
    if hwtype in (1, 6) and len(b) == 6:
        return ":".join(f"{c:02x}" for c in b)
    return b.hex()


def _fqdn(v: bytes, base: int, tree: Tree) -> None:
    """Option 81 (RFC 4702): flags, two result codes, the name."""
    add = tree.add
    nodes = tree.want_nodes
    length = len(v)
    if length < 3:
        return
    fl = v[0]
    add(FQDN_FLAGS, fl, base, 1, f"Flags: 0x{fl:02x}" if nodes else None)
    add(FQDN_MBZ, fl >> 4, base, 1)  # a bitmask field's value is shifted down
    add(FQDN_N, bool(fl & 0x08), base, 1)
    add(FQDN_E, bool(fl & 0x04), base, 1)
    add(FQDN_O, bool(fl & 0x02), base, 1)
    add(FQDN_S, bool(fl & 0x01), base, 1)
    add(FQDN_RC1, v[1], base + 1, 1)
    add(FQDN_RC2, v[2], base + 2, 1)
    if length > 3:
        if fl & 0x04:  # canonical wire format (RFC 4702 2.3.1)
            name = _dns_name(v, 3, length - 3, 3, base)[1]
        else:
            name = ascii_text(v[3:])
        add(FQDN_NAME, name, base + 3, length - 3, f"Client name: {name}" if nodes else None)


_O82_BYTES = {1: "agent_circuit_id", 2: "agent_remote_id"}
_O82_IPV4 = {5: "link_selection", 11: "server_id_override"}


def _agent_info(v: bytes, off: int, base: int, tree: Tree) -> int:
    """One option 82 suboption (RFC 3046); returns the offset after it."""
    add = tree.add
    nodes = tree.want_nodes
    optend = len(v)
    sub = v[off]
    if off + 1 >= optend:
        return optend
    slen = v[off + 1]
    add(O82_SUB, sub, base + off, slen + 2, f"Option 82 Suboption: ({sub})" if nodes else None)
    start = off + 2
    end = start + slen
    if end > optend:
        return optend
    val = v[start:end]
    add(O82_VALUE, val, base + start, slen, f"Value: {val.hex()}" if nodes else None)
    name = _O82_BYTES.get(sub)
    if name is not None:
        add(_F[_O82 + name], val, base + start, slen)
    elif sub in _O82_IPV4:
        if slen == 4:
            add(_F[_O82 + _O82_IPV4[sub]], int.from_bytes(val, "big"), base + start, 4)
    elif sub == 6:
        add(_F[_O82 + "subscriber_id"], ascii_text(val), base + start, slen)
    elif sub == 16 and slen < 6:  # access point BSSID, read as a MAC address
        raise Truncated(base + end, "option 82 BSSID")
    elif sub == 9:
        _agent_vendor_info(v, start, end, base, tree)
    return end


def _agent_vendor_info(v: bytes, p: int, end: int, base: int, tree: Tree) -> None:
    """Option 82 suboption 9 (RFC 4243): enterprise number, length, data."""
    optend = len(v)

    def need(upto: int) -> None:
        if upto > optend:
            raise Truncated(base + optend, "option 82 vendor-specific information")

    while p < end:
        need(p + 5)
        ent = int.from_bytes(v[p:p + 4], "big")
        dlen = v[p + 4]
        p += 5
        if ent == 4491:  # CableLabs: tag, length, value
            q, qend = p, p + dlen
            while q < qend:
                need(q + 2)
                tag, tlen = v[q], v[q + 1]
                q += 2
                if tag in (1, 2):
                    need(q + 2)
                    q += 2
                elif tag == 4:
                    need(q + tlen)
                else:
                    if tag in (5, 6, 7):
                        need(q + tlen)
                    q += tlen
            p = q
        else:
            need(p + dlen)
            tree.add(O82_VALUE, v[p:p + dlen], base + p, dlen)
            p += dlen
