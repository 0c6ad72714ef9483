"""z/OS Communications Server packet-trace discard reason codes.

A z/OS CTRACE packet-trace (SYSTCPDA) or OSAENTA (SYSTCPOT) record of a
packet that was dropped carries a nonzero discard reason code, which the IPCS
formatter prints as e.g. ``Discard : 4114 (IP_MAC_BRDCST)``.

The authoritative list is IBM's *z/OS Communications Server: IP and SNA Codes*,
section "TCP/IP Discard reason codes" (packet trace discard reason codes,
Tables 1-4 for the IP, TCP, UDP and RAW protocols), e.g.
https://www.ibm.com/support/knowledgecenter/SSLTBW_2.1.0/com.ibm.zos.v2r1.cs3cod0/rdp.htm
(same text for V2R3: .../SSLTBW_2.3.0/com.ibm.zos.v2r3.cs3cod0/rdp.dita).  That
section splits the code space by who discarded the packet:

* 1-4095: the OSA-Express adapter (listed in the OSA network traffic analyzer
  (OSAENTA) discard codes of the *Open Systems Adapter-Express Customer's Guide
  and Reference*, not in IP and SNA Codes);
* 4096-8191: the interface (IF) and IP layer;
* 8192-12287: the TCP layer;
* 12288-16383: the UDP layer;
* 16384-20479: the RAW layer.

``CODES`` holds only the codes whose number and IBM name were actually found
in a public source; each group below names its source.  It is NOT the full
table (IBM's has a few hundred entries): codes not listed here still get their
layer from :func:`category` via :func:`lookup`.  The meanings are short
paraphrases, not IBM's wording.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Discard:
    code: int
    name: str
    category: str
    meaning: str


CATEGORIES = (
    (1, 4095, "OSA"),
    (4096, 8191, "Interface and IP layer"),
    (8192, 12287, "TCP layer"),
    (12288, 16383, "UDP layer"),
    (16384, 20479, "RAW layer"),
)


def category(code: int) -> str:
    for lo, hi, name in CATEGORIES:
        if lo <= code <= hi:
            return name
    return "unknown"


def _d(code: int, name: str, meaning: str) -> tuple[int, Discard]:
    return code, Discard(code, name, category(code), meaning)


CODES: dict[int, Discard] = dict(
    [
        # --- Interface and IP layer (4096-8191) ---
        # Source: IBM, z/OS Communications Server: IP and SNA Codes,
        # "TCP/IP Discard reason codes", Table 1 "Packet trace discard reason
        # codes for the IP protocol" (X'1000'-X'1007'), V2R1/V2R3 editions:
        # https://www.ibm.com/support/knowledgecenter/SSLTBW_2.1.0/com.ibm.zos.v2r1.cs3cod0/rdp.htm
        _d(4096, "IP_NO_INTERF",
           "No interface could be found for the packet; the interface had been deleted."),
        _d(4097, "IP_NOT_ACTIVE",
           "The interface the packet arrived on or was sent to is not active."),
        _d(4098, "IP_MAL_VER",
           "Malformed packet: the IP version field is neither 4 nor 6."),
        _d(4099, "IP_MAL_IPHL",
           "Malformed packet: the IP header length field is too small."),
        _d(4100, "IP_MAL_IPLEN",
           "Malformed packet: the IP header length exceeds the length of the packet."),
        _d(4101, "IP_MAL_DATA",
           "Malformed packet: the packet data is incomplete as it was sent."),
        _d(4102, "IP_BAD_CKSUM",
           "The IP header checksum is not valid."),
        _d(4103, "IP_BAD_IPLEN",
           "The packet is too short to hold the header of its protocol."),
        # Source: "Network problem diagnosis with packet traces" (seed document,
        # /work/shared/seed/network-problem-diagnosis-with-packet-traces.txt,
        # section "Discard Reason Code", quoting Comm Server IP & SNA Codes).
        _d(4114, "IP_MAC_BRDCST",
           "A packet with a MAC broadcast header was not accepted. It usually means a "
           "non-broadcast destination IP address inside a broadcast media header, often "
           "caused by an invalid locally administered MAC address."),
        # Source: Colin Paice, "Where's my packet gone? How can I see it being
        # discarded." (2024-02-28),
        # https://colinpaice.blog/2024/02/28/wheres-my-packet-gone-how-can-i-see-it-being-discarded/
        # (packet trace on z/OS showing "4167, IP_NO_FWD").
        _d(4167, "IP_NO_FWD",
           "The packet cannot be forwarded, so it was dropped. Seen, for example, for packets "
           "to an unregistered address that an OSA passes to its PRIROUTER stack."),
        # --- TCP (8192-12287), UDP (12288-16383), RAW (16384-20479), OSA (1-4095) ---
        # No code with its IBM name was found in any searched source (IBM
        # Tables 2-4 and the OSAENTA list were not available beyond their
        # headings); lookup() still reports the layer for these ranges.
    ]
)


def lookup(code: int) -> Discard:
    """The code's entry; an unknown code still gets its category."""
    d = CODES.get(code)
    if d is not None:
        return d
    return Discard(code, f"code {code}", category(code), "not in tracedoc's table of IBM discard codes")
