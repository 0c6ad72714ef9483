"""LINKTYPE_ values (tcpdump.org/linktypes.html) tracedoc knows by name.

A value outside this table is reported as unsupported, as Wireshark does for
link types no dissector claims.  ``DECODED`` lists the ones whose headers
tracedoc's decode stage walks down to IP.
"""

from __future__ import annotations

LINKTYPE_NAMES: dict[int, str] = {
    0: "NULL", 1: "ETHERNET", 3: "AX25", 6: "IEEE802_5", 7: "ARCNET_BSD", 8: "SLIP",
    9: "PPP", 10: "FDDI", 50: "PPP_HDLC", 51: "PPP_ETHER", 100: "ATM_RFC1483",
    101: "RAW", 104: "C_HDLC", 105: "IEEE802_11", 107: "FRELAY", 108: "LOOP",
    113: "LINUX_SLL", 114: "LTALK", 117: "PFLOG", 119: "IEEE802_11_PRISM",
    122: "IP_OVER_FC", 123: "SUNATM", 127: "IEEE802_11_RADIOTAP", 129: "ARCNET_LINUX",
    138: "APPLE_IP_OVER_IEEE1394", 139: "MTP2_WITH_PHDR", 140: "MTP2", 141: "MTP3",
    142: "SCCP", 143: "DOCSIS", 144: "LINUX_IRDA", 147: "USER0", 148: "USER1",
    149: "USER2", 150: "USER3", 151: "USER4", 152: "USER5", 153: "USER6",
    154: "USER7", 155: "USER8", 156: "USER9", 157: "USER10", 158: "USER11",
    159: "USER12", 160: "USER13", 161: "USER14", 162: "USER15", 163: "IEEE802_11_AVS",
    165: "BACNET_MS_TP", 166: "PPP_PPPD", 169: "GPRS_LLC", 170: "GPF_T", 171: "GPF_F",
    177: "LINUX_LAPD", 187: "BLUETOOTH_HCI_H4", 189: "USB_LINUX", 192: "PPI",
    195: "IEEE802_15_4_WITHFCS", 196: "SITA", 197: "ERF", 201: "BLUETOOTH_HCI_H4_WITH_PHDR",
    202: "AX25_KISS", 203: "LAPD", 204: "PPP_WITH_DIR", 205: "C_HDLC_WITH_DIR",
    206: "FRELAY_WITH_DIR", 207: "LAPB_WITH_DIR", 209: "IPMB_LINUX", 210: "FLEXRAY",
    212: "LIN", 215: "IEEE802_15_4_NONASK_PHY", 220: "USB_LINUX_MMAPPED",
    224: "FC_2", 225: "FC_2_WITH_FRAME_DELIMS", 226: "IPNET", 227: "CAN_SOCKETCAN",
    228: "IPV4", 229: "IPV6", 230: "IEEE802_15_4_NOFCS", 231: "DBUS", 235: "DVB_CI",
    236: "MUX27010", 237: "STANAG_5066_D_PDU", 239: "NFLOG", 240: "NETANALYZER",
    241: "NETANALYZER_TRANSPARENT", 242: "IPOIB", 243: "MPEG_2_TS", 244: "NG40",
    245: "NFC_LLCP", 247: "INFINIBAND", 248: "SCTP", 249: "USBPCAP", 250: "RTAC_SERIAL",
    251: "BLUETOOTH_LE_LL", 252: "WIRESHARK_UPPER_PDU", 253: "NETLINK", 254: "BLUETOOTH_LINUX_MONITOR",
    255: "BLUETOOTH_BREDR_BB", 256: "BLUETOOTH_LE_LL_WITH_PHDR", 257: "PROFIBUS_DL",
    258: "PKTAP", 259: "EPON", 260: "IPMI_HPM_2", 261: "ZWAVE_R1_R2", 262: "ZWAVE_R3",
    263: "WATTSTOPPER_DLM", 264: "ISO_14443", 265: "RDS", 266: "USB_DARWIN",
    268: "SDLC", 270: "LORATAP", 271: "VSOCK", 272: "NORDIC_BLE", 273: "DOCSIS31_XRA31",
    274: "ETHERNET_MPACKET", 275: "DISPLAYPORT_AUX", 276: "LINUX_SLL2", 278: "OPENVIZSLA",
    279: "EBHSCR", 280: "VPP_DISPATCH", 283: "IEEE802_15_4_TAP", 287: "ZBOSS_NCP",
    288: "USB_2_0", 289: "AUERSWALD_LOG", 290: "ZWAVE_TAP", 291: "SILABS_DEBUG_CHANNEL",
    292: "FIRA_UCI", 293: "MDB", 294: "DECT_NR",
    # Juniper pseudo-headers Wireshark dissects
    137: "JUNIPER_ATM1", 135: "JUNIPER_ATM2", 130: "JUNIPER_MLPPP", 131: "JUNIPER_MLFR",
    133: "JUNIPER_GGSN", 134: "JUNIPER_MFR", 136: "JUNIPER_SERVICES", 167: "JUNIPER_PPPOE",
    168: "JUNIPER_PPPOE_ATM", 174: "JUNIPER_PIC_PEER", 175: "ERF_ETH", 176: "ERF_POS",
    178: "JUNIPER_ETHER", 179: "JUNIPER_PPP", 180: "JUNIPER_FRELAY", 181: "JUNIPER_CHDLC",
    183: "JUNIPER_VP", 200: "JUNIPER_ST",
}
"""Names for the link types tracedoc accepts.  Left out on purpose: DSA tag
formats (281, 282, 284, 285), MFR (182), JUNIPER_ES (132) and JUNIPER_MONITOR
(164), for which no dissector exists, in Wireshark either."""

DECODED: frozenset[int] = frozenset({0, 1, 12, 14, 101, 108, 113, 228, 229, 276})
"""Link types whose frames tracedoc decodes into L3/L4 columns."""

# Wireshark's per-link-type cap on a record's captured length
# (WTAP_MAX_PACKET_SIZE_STANDARD / _USBPCAP / _DBUS / _EBHSCR).
MAX_CAPLEN_STANDARD = 262144
_MAX_CAPLEN = {231: 128 * 1024 * 1024, 249: 128 * 1024 * 1024, 279: 8 * 1024 * 1024}

# DLT_ values that some platforms write instead of the LINKTYPE_ value.
DLT_TO_LINKTYPE = {12: 101, 14: 101}


def max_caplen(linktype: int) -> int:
    return _MAX_CAPLEN.get(linktype, MAX_CAPLEN_STANDARD)


def linktype_name(linktype: int) -> str:
    if linktype in (12, 14):
        return "RAW"
    return LINKTYPE_NAMES.get(linktype, f"LINKTYPE_{linktype}")


NO_DISSECTOR: frozenset[int] = frozenset({132, 164, 182, 281, 282, 284, 285})
"""Registered link types no Wireshark dissector handles (tshark refuses
files with them): JUNIPER_ES, JUNIPER_MONITOR, MFR and the DSA tag formats."""

HIGHEST_REGISTERED = 300


def is_known(linktype: int) -> bool:
    """Whether a file with this link type is readable (Wireshark's rule: a
    registered LINKTYPE_ value some dissector claims)."""
    if linktype in NO_DISSECTOR:
        return False
    return linktype in LINKTYPE_NAMES or linktype in (12, 14) or 0 <= linktype <= HIGHEST_REGISTERED
