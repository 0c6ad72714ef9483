"""Service names for well-known ports, in the wording of the Packet Summary."""

from __future__ import annotations

TCP_SERVICES: dict[int, str] = {
    20: "ftp data", 21: "ftp control", 22: "ssh", 23: "telnet", 25: "smtp", 53: "dns",
    79: "finger", 80: "http", 88: "kerberos", 110: "pop3", 111: "sunrpc", 119: "nntp",
    135: "epmap", 139: "NBSS", 143: "imap", 179: "bgp", 389: "ldap", 443: "https",
    445: "microsoft-ds", 465: "smtps", 513: "login", 514: "shell", 515: "printer",
    587: "submission", 623: "tn3270", 636: "ldaps", 989: "ftps data", 990: "ftps",
    992: "telnets", 993: "imaps", 995: "pop3s", 1080: "socks", 1433: "ms-sql", 1521: "oracle",
    1723: "pptp", 2049: "nfs", 3128: "http proxy", 3306: "mysql", 3389: "rdp", 5060: "sip",
    5432: "postgresql", 8080: "http alt",
}
UDP_SERVICES: dict[int, str] = {
    53: "dns", 67: "bootps", 68: "bootpc", 69: "tftp", 88: "kerberos", 111: "sunrpc",
    123: "ntp", 137: "NBNS", 138: "NBDS", 161: "snmp", 162: "snmptrap", 389: "ldap", 443: "https",
    500: "isakmp", 514: "syslog", 520: "rip", 546: "dhcpv6 client", 547: "dhcpv6 server",
    1812: "radius", 1813: "radius acct", 1900: "ssdp", 2049: "nfs", 4500: "ipsec-nat-t",
    4789: "vxlan", 5060: "sip", 5353: "mdns", 5355: "llmnr",
}
