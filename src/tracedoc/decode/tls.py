"""TLS and SSL over TCP: records, handshake messages, alerts and the
certificates a server (or client) presents, as Wireshark 4.0 decodes them
(``epan/dissectors/packet-tls.c`` and ``packet-tls-utils.c``), without
decryption.

* SSL 3.0 (RFC 6101), TLS 1.0-1.3 (RFC 2246, 4346, 5246, 8446): the record
  layer (``ContentType type; ProtocolVersion version; uint16 length``) cuts
  the stream into records; :func:`pdu_length` frames them, so a record that
  spans TCP segments is decoded on the frame that completes it and several
  records in one segment are each decoded.
* Handshake messages may span records (a server's Certificate chain often
  does): the bytes are buffered per direction and the message is decoded
  with the record that completes it, as Wireshark's handshake reassembly
  shows it.
* SSL 2.0 (draft-hickman-netscape-ssl-00): records are recognised and the
  Client Hello, Server Hello and Client Master Key decoded.
* Certificates are parsed with ``cryptography``: subject and issuer
  (RFC 4514), serial, validity, key type and size, SHA-1 fingerprint.  A
  certificate that does not parse is a named anomaly; the packet keeps its
  other fields.

Wireshark decides a few things from the conversation rather than the
record: the session's negotiated version (set by the first record that
states it with authority, then by the ServerHello's ``supported_versions``),
which side is the server (the destination of the ClientHello, else the side
on a TLS port), and when each side sent ChangeCipherSpec (handshake records
after it are encrypted).  They are kept in ``AppInfo.state`` under ``tls.``
keys, so a STARTTLS hand-off shares the state of the protocol before it.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from tracedoc.decode import tls_names as N
from tracedoc.decode.app import AppInfo
from tracedoc.decode.apptree import Node, Reader, Tree, Truncated
from tracedoc.decode.fields import F

NAME = "tls"

# -- field declarations ------------------------------------------------------------

SHOWN_WHILE_REASSEMBLING = True
"""Wireshark's TLS dissector adds itself to a segment it asks more bytes for."""

FIELDS = (
    F("tls.record.content_type", "u8", "Content Type", multi=True),
    F("tls.record.opaque_type", "u8", "Opaque Type", multi=True),
    F("tls.record.version", "u16", "Version", "hex", 4, multi=True),
    F("tls.record.length", "u16", "Length", multi=True),
    F("tls.app_data_length", "u32", "Encrypted Application Data length (tracedoc)", multi=True),
    F("tls.change_cipher_spec", "bool", "Change Cipher Spec Message"),
    F("tls.alert_message.level", "u8", "Level", multi=True),
    F("tls.alert_message.desc", "u8", "Description", multi=True),
    F("tls.heartbeat_message.type", "u8", "Type", multi=True),
    F("tls.heartbeat_message.payload_length", "u16", "Payload Length", multi=True),
    F("tls.handshake.type", "u8", "Handshake Message Type", multi=True),
    F("tls.handshake.length", "u32", "Length", multi=True),
    F("tls.handshake.version", "u16", "Version", "hex", 4, multi=True),
    F("tls.handshake.random", "bytes", "Random"),
    F("tls.handshake.session_id_length", "u16", "Session ID Length"),
    F("tls.handshake.session_id", "bytes", "Session ID"),
    F("tls.handshake.cipher_suites_length", "u16", "Cipher Suites Length"),
    F("tls.handshake.ciphersuite", "u16", "Cipher Suite", "hex", 4, multi=True),
    F("tls.handshake.comp_methods_length", "u8", "Compression Methods Length"),
    F("tls.handshake.comp_method", "u8", "Compression Method", multi=True),
    F("tls.handshake.extensions_length", "u16", "Extensions Length", multi=True),
    F("tls.handshake.extension.type", "u16", "Type", multi=True),
    F("tls.handshake.extension.len", "u16", "Length", multi=True),
    F("tls.handshake.extensions_server_name", "string", "Server Name", multi=True),
    F("tls.handshake.extensions_alpn_str", "string", "ALPN Next Protocol", multi=True),
    F("tls.handshake.extensions.supported_version", "u16", "Supported Version", "hex", 4, multi=True),
    F("tls.handshake.extensions_supported_group", "u16", "Supported Group", "hex", 4, multi=True),
    F("tls.handshake.ja3_full", "string", "JA3 Fullstring", multi=True),
    F("tls.handshake.ja3", "string", "JA3", multi=True),
    F("tls.handshake.ja3s_full", "string", "JA3S Fullstring", multi=True),
    F("tls.handshake.ja3s", "string", "JA3S", multi=True),
    F("tls.handshake.certificates_length", "u32", "Certificates Length", multi=True),
    F("tls.handshake.certificate_length", "u32", "Certificate Length", multi=True),
    F("tls.handshake.certificate", "bytes", "Certificate", multi=True),
    F("x509af.version", "i64", "version", multi=True),
    F("x509af.serialNumber", "bytes", "serialNumber", multi=True),
    F("tls.handshake.certificate.subject", "string", "Issued To (subject, RFC 4514) (tracedoc)", multi=True),
    F("tls.handshake.certificate.issuer", "string", "Issued By (issuer, RFC 4514) (tracedoc)", multi=True),
    F("tls.handshake.certificate.serial", "string", "Serial Number (tracedoc)", multi=True),
    F("tls.handshake.certificate.not_before", "string", "Issued On, UTC (tracedoc)", multi=True),
    F("tls.handshake.certificate.not_after", "string", "Expires On, UTC (tracedoc)", multi=True),
    F("tls.handshake.certificate.key_type", "string", "Public key algorithm (tracedoc)", multi=True),
    F("tls.handshake.certificate.key_size", "u32", "Public key size in bits (tracedoc)", multi=True),
    F("tls.handshake.certificate.sha1", "string", "SHA1 Fingerprint (tracedoc)", multi=True),
    F("tls.handshake.cipherspec", "u32", "Cipher Spec", "hex", 6, multi=True),
    F("tls.handshake.cipher_spec_len", "u16", "Cipher Spec Length"),
    F("tls.handshake.challenge_length", "u16", "Challenge Length"),
    F("tls.handshake.session_id_hit", "bool", "Session ID Hit"),
    F("tls.handshake.cert_type", "u8", "Certificate Type", multi=True),
    F("tls.handshake.connection_id_length", "u16", "Connection ID Length"),
)
(CONTENT_TYPE, OPAQUE_TYPE, RECORD_VERSION, RECORD_LENGTH, APP_DATA_LENGTH, CHANGE_CIPHER_SPEC_F,
 ALERT_LEVEL, ALERT_DESC, HEARTBEAT_TYPE, HEARTBEAT_PAYLOAD_LENGTH,
 HS_TYPE, HS_LENGTH, HS_VERSION, HS_RANDOM, HS_SESSION_ID_LENGTH, HS_SESSION_ID, HS_CIPHER_SUITES_LENGTH,
 HS_CIPHERSUITE, HS_COMP_METHODS_LENGTH, HS_COMP_METHOD, HS_EXTENSIONS_LENGTH, HS_EXT_TYPE, HS_EXT_LEN,
 HS_SERVER_NAME, HS_ALPN_STR, HS_SUPPORTED_VERSION, HS_SUPPORTED_GROUP,
 HS_JA3_FULL, HS_JA3, HS_JA3S_FULL, HS_JA3S,
 HS_CERTIFICATES_LENGTH, HS_CERTIFICATE_LENGTH, HS_CERTIFICATE_DER, X509_VERSION, X509_SERIAL,
 CERT_SUBJECT, CERT_ISSUER, CERT_SERIAL, CERT_NOT_BEFORE, CERT_NOT_AFTER, CERT_KEY_TYPE, CERT_KEY_SIZE,
 CERT_SHA1,
 SSL2_CIPHERSPEC, SSL2_CIPHER_SPEC_LEN, SSL2_CHALLENGE_LENGTH, SSL2_SESSION_ID_HIT, HS_CERT_TYPE,
 SSL2_CONNECTION_ID_LENGTH) = FIELDS

# -- protocol constants --------------------------------------------------------------

# ContentType (RFC 8446 5.1, RFC 6520 heartbeat, RFC 9146 tls12_cid)
CT_CHANGE_CIPHER_SPEC, CT_ALERT, CT_HANDSHAKE, CT_APPLICATION_DATA, CT_HEARTBEAT, CT_TLS12_CID = 20, 21, 22, 23, 24, 25
VALID_CONTENT_TYPES = frozenset((20, 21, 22, 23, 24, 25))

SSLV2, SSLV3, TLSV1, TLSV1_1, TLSV1_2, TLSV1_3, TLCPV1 = 0x0002, 0x0300, 0x0301, 0x0302, 0x0303, 0x0304, 0x0101
_PRE13 = frozenset((SSLV3, TLSV1, TLSV1_1, TLSV1_2, TLCPV1))
"""Session versions whose records Wireshark decodes without re-checking the header."""
_RECORD_VERSIONS = frozenset((SSLV3, TLSV1, TLSV1_1, TLSV1_2, TLSV1_3, TLCPV1))
"""Record versions a record of a session of unknown version may carry."""

# HandshakeType (RFC 8446 4, RFC 5246 7.4)
HS_CLIENT_HELLO, HS_SERVER_HELLO, HS_NEW_SESSION_TICKET, HS_HELLO_RETRY_REQUEST = 1, 2, 4, 6
HS_ENCRYPTED_EXTENSIONS, HS_CERTIFICATE, HS_CERTIFICATE_REQUEST, HS_CLIENT_KEY_EXCHANGE = 8, 11, 13, 16
_AUTHORITATIVE_HS_TYPES = frozenset((0, 2, 4, 5, 6, 8, 11, 12, 13, 14, 15, 16, 20, 21, 22, 23, 24, 25, 67))
"""Handshake types that state the session's version (every valid one but
ClientHello and the DTLS-only HelloVerifyRequest): ``ssl_is_valid_handshake_type``."""

# SSL 2.0 message types
SSL2_CLIENT_HELLO, SSL2_CLIENT_MASTER_KEY, SSL2_SERVER_HELLO = 1, 2, 4

# Extension types (IANA TLS ExtensionType Values)
EXT_SERVER_NAME, EXT_SUPPORTED_GROUPS, EXT_EC_POINT_FORMATS, EXT_SIGNATURE_ALGORITHMS = 0, 10, 11, 13
EXT_ALPN, EXT_SUPPORTED_VERSIONS, EXT_SIGNATURE_ALGORITHMS_CERT = 16, 43, 50
EXT_EARLY_DATA, EXT_TICKET_EARLY_DATA_INFO = 42, 46

TLS_MAX_RECORD_LENGTH = 0x4000

TCP_PORTS = (324, 443, 465, 636, 802, 853, 993, 995, 1300, 2221, 2443, 3249, 3250, 3251, 3252, 3496, 5061, 5671,
             5684, 5868, 8883, 11207, 19999, 27017)
"""TCP ports Wireshark 4.0 hands to TLS (``tshark -G decodes``: ``tcp.port ... tls``)."""
SERVER_PORTS = frozenset(TCP_PORTS + (3389,))
"""Ports of the ``tls.port`` table: a packet from one of them comes from the
server when no ClientHello has said otherwise (``ssl_packet_from_server``)."""

_APP_PROTOCOLS = {
    443: "Hypertext Transfer Protocol", 465: "Simple Mail Transfer Protocol",
    636: "Lightweight Directory Access Protocol",
    853: "Domain Name System", 993: "Internet Message Access Protocol", 995: "Post Office Protocol",
    5061: "Session Initiation Protocol", 8883: "MQ Telemetry Transport Protocol",
}
"""Application protocol Wireshark names in the record label of Application Data on these ports."""

# -- per-conversation state keys ---------------------------------------------------
_VERSION = "tls.version"        # negotiated version, 0 while unknown
_DRAFT = "tls.draft"            # TLS 1.3 draft number (0: final)
_SERVER = "tls.server"          # (server port, client port) from the ClientHello
_CCS = "tls.ccs"                # {from_server: frame of that side's first ChangeCipherSpec}
_HS = "tls.hs"                  # {from_server: bytes of a handshake message still being reassembled}
_MSG = "tls.msg"                # (frame, items of the Messages text already given in that frame)
_SEALED = "tls.sealed"          # {from_server} of the sides that have sent an application data record

_MAX_HS_MESSAGE = 1 << 20
"""A handshake message being reassembled is dropped past this size."""


def _grease(v: int) -> bool:
    """RFC 8701 reserved values (0x0a0a, 0x1a1a, ... 0xfafa)."""
    return (v & 0x0F0F) == 0x0A0A and (v & 0xFF) == (v >> 8)


def _short_version(v: int, default: str) -> str:
    return N.SHORT_VERSION_NAMES.get(v, default)


def _version_text(v: int) -> str:
    return f"{N.VERSIONS.get(v, 'Unknown')} (0x{v:04x})"


# -- framing ---------------------------------------------------------------------------

def _printable4(data: bytes) -> bool:
    return all(0x20 <= b < 0x7F for b in data[:4])


def _kind(data: bytes, version: int) -> int:
    """What ``data`` starts with, as ``dissect_ssl`` decides it: 2 an SSLv2
    record, 3 an SSLv3/TLS record, 0 too few bytes to tell, -1 no record
    (Wireshark skips the rest of the segment as continuation data)."""
    n = len(data)
    if version == SSLV2:
        return 2 if n >= 2 else 0
    if n < 5:
        return 0
    b0 = data[0]
    if version in _PRE13:
        if b0 == 0x80 and data[2] == 1:  # an SSLv2-compatible ClientHello
            return 2
        return 3 if b0 in VALID_CONTENT_TYPES else -1
    # Unknown version (or TLS 1.3): the header must look right.
    if b0 >= 0x80 and data[2] in (0, 1, 2, 4):
        return 2
    if b0 in VALID_CONTENT_TYPES and ((data[1] << 8) | data[2]) in _RECORD_VERSIONS:
        return 3
    return -1


def _ssl2_header(data: bytes) -> tuple[int, int, int]:
    """(header length, record length, padding length or -1) of an SSLv2 record."""
    b0 = data[0]
    if b0 & 0x80:
        return 2, ((b0 & 0x7F) << 8) | data[1], -1
    return 3, ((b0 & 0x3F) << 8) | data[1], data[2] if len(data) > 2 else 0


def opaque(state: dict) -> bool:
    """Whether the rest of this conversation is sealed: both sides have sent
    an application data record, so what follows is encrypted (alerts
    included) and only its record headers could be read.  The application
    pass may stop decoding the conversation here when its caller judges the
    set-up only (``tracedoc diagnose``)."""
    return len(state.get(_SEALED, ())) == 2


def pdu_length(data: bytes, info: AppInfo) -> int:
    """Length of the record at the start of ``data`` (5-byte header plus
    ``length`` for SSLv3/TLS, 2 or 3 bytes plus length for SSLv2)."""
    if len(data) > 4 and _printable4(data):
        return -1  # plain text: not TLS (Wireshark rejects it the same way)
    kind = _kind(data, info.state.get(_VERSION, 0))
    if kind == 3:
        return 5 + ((data[3] << 8) | data[4])
    if kind == 2:
        if len(data) < (2 if data[0] & 0x80 else 3):
            return 0
        hl, rlen, _ = _ssl2_header(data)
        return hl + rlen
    return kind


NOT_TLS_PORTS = frozenset((102, 3389, 6667, 57000))
"""TCP ports whose Wireshark 4.0 dissector (TPKT for ISO-TSAP and RDP, IRC)
takes every segment and never hands over to TLS: tshark shows no TLS there,
so the heuristic does not look for it either."""


def heuristic(data: bytes, info: AppInfo) -> bool:
    """TLS on a port no table names: a Handshake or Application Data record
    of SSL 3.0 - TLS 1.2 (1.3 sends 0x0303 too) with a sane length, or an
    SSLv2-compatible ClientHello (``is_sslv3_or_tls``, ``is_sslv2_clienthello``)."""
    if len(data) < 5 or info.srcport in NOT_TLS_PORTS or info.dstport in NOT_TLS_PORTS:
        return False
    ct, ver, rlen = data[0], (data[1] << 8) | data[2], (data[3] << 8) | data[4]
    if ct in (CT_HANDSHAKE, CT_APPLICATION_DATA) and ver in (SSLV3, TLSV1, TLSV1_1, TLSV1_2, TLCPV1):
        return 0 < rlen < TLS_MAX_RECORD_LENGTH + 2048
    if len(data) < 46 or data[0] != 0x80 or data[2] != 1:
        return False
    spec_len = (data[5] << 8) | data[6]
    sid_len = (data[7] << 8) | data[8]
    return spec_len != 0 and spec_len % 3 == 0 and sid_len in (0, 16) and ((data[9] << 8) | data[10]) == 32


# -- conversation state -------------------------------------------------------------

def _from_server(info: AppInfo) -> bool:
    server = info.state.get(_SERVER)
    if server is not None:
        return (info.srcport, info.dstport) == server
    return info.srcport in SERVER_PORTS


def _try_set_version(st: dict[str, Any], content_type: int, hs_type: int | None, version: int) -> None:
    """``ssl_try_set_version``: records other than a ClientHello state the version."""
    if content_type == CT_HANDSHAKE:
        if hs_type is None or hs_type not in _AUTHORITATIVE_HS_TYPES:
            return
    elif content_type not in VALID_CONTENT_TYPES:
        return
    draft = 0
    if hs_type == HS_SERVER_HELLO and content_type == CT_HANDSHAKE:
        if (version >> 8) == 0x7F:
            draft = version & 0xFF
        elif version in (0xFB17, 0xFB1A):  # Facebook's TLS 1.3 drafts 23 and 26
            draft = version & 0xFF
        if draft:
            version = TLSV1_3
    if version not in (SSLV3, TLSV1, TLSV1_1, TLSV1_2, TLSV1_3):
        return
    st[_DRAFT] = draft
    st[_VERSION] = version


# -- entry point ---------------------------------------------------------------------

def dissect(data: bytes, tree: Tree, info: AppInfo) -> None:
    """Decode one record (as framed by :func:`pdu_length`)."""
    items: list[str] = []
    try:
        kind = _kind(data, info.state.get(_VERSION, 0))
        if kind == 3:
            _record(data, tree, info, items)
        elif kind == 2:
            _ssl2_record(data, tree, info, items)
        elif kind == 0:
            raise Truncated(len(data), "record header")
        else:
            tree.malformed("not a TLS or SSL record", 0)
    finally:
        _set_message(tree, info, items)


def dissect_handshake(data: bytes, tree: Tree, info: AppInfo) -> None:
    """Decode TLS 1.3 handshake messages carried without the record layer
    (QUIC's CRYPTO frames, RFC 9001 4), as ``dissect_tls13_handshake`` does:
    for a QUIC decoder to call once it has the Initial packets' plaintext."""
    st = info.state
    if st.get(_VERSION, 0) == 0:
        st[_VERSION] = TLSV1_3
    items: list[str] = []
    rec = _Section(tree, "TLSv1.3 Handshake Protocol", 0, len(data))
    try:
        _handshake(Reader(data), 0, len(data), tree, info, items, TLSV1_3, _from_server(info), rec)
    finally:
        rec.close()
        _set_message(tree, info, items)


_SEED_WORDS = {"Encrypted Handshake Message": "Encrypted Data", "Application Data": "Application"}


def _set_message(tree: Tree, info: AppInfo, items: list[str]) -> None:
    """The Packet Summary's Messages text, in the seed's words
    (``TLS: Client Key Exchange, Change Cipher Spec, Encrypted Data``).

    Each record is its own message to the application pass, which joins a
    frame's messages with ", ": the first record of a frame says "TLS: ",
    later ones only add what the frame has not said yet."""
    if not items:
        return
    got = info.state.get(_MSG)
    if got is None or got[0] != info.frame:
        got = (info.frame, [])
        info.state[_MSG] = got
    said: list[str] = got[1]
    new = []
    for it in items:
        it = _SEED_WORDS.get(it, it)
        if it not in said and it not in new:
            new.append(it)
    if not new:
        return
    tree.message = ("TLS: " if not said else "") + ", ".join(new)
    said.extend(new)


# -- SSLv3 / TLS records ----------------------------------------------------------------

def _record(data: bytes, tree: Tree, info: AppInfo, items: list[str]) -> None:
    st = info.state
    r = Reader(data)
    ct = data[0]
    rver = (data[1] << 8) | data[2]
    rlen = (data[3] << 8) | data[4]
    end = 5 + rlen
    session = st.get(_VERSION, 0)
    wn = tree.want_nodes
    rec = _Section(tree, f"{_short_version(session or rver, 'SSL')} Record Layer" if wn else "", 0, end)
    if session == TLSV1_3 and ct == CT_APPLICATION_DATA:
        tree.add(OPAQUE_TYPE, ct, 0, 1, f"Opaque Type: Application Data ({ct})" if wn else None)
    else:
        tree.add(CONTENT_TYPE, ct, 0, 1, f"Content Type: {N.CONTENT_TYPES.get(ct, 'Unknown')} ({ct})" if wn else None)
    tree.add(RECORD_VERSION, rver, 1, 2, f"Version: {_version_text(rver)}" if wn else None)
    tree.add(RECORD_LENGTH, rlen, 3, 2)
    if session == 0:
        _try_set_version(st, ct, data[5] if len(data) > 5 else None, rver)
        version = rver
    else:
        version = session
    from_server = _from_server(info)
    try:
        if ct == CT_HANDSHAKE:
            _handshake(r, 5, end, tree, info, items, version, from_server, rec)
        elif ct == CT_APPLICATION_DATA:
            st.setdefault(_SEALED, set()).add(from_server)
            items.append("Application Data")
            if wn:
                app = _APP_PROTOCOLS.get(info.port) or _APP_PROTOCOLS.get(min(info.srcport, info.dstport)) \
                    or "Application Data"
                rec.label = f"{_short_version(version, 'SSL')} Record Layer: Application Data Protocol: {app}"
            tree.add(APP_DATA_LENGTH, rlen, 5, rlen, f"Encrypted Application Data [{rlen} bytes]" if wn else None)
        elif ct == CT_CHANGE_CIPHER_SPEC:
            draft = st.get(_DRAFT, 0)
            if version == TLSV1_3 and 0 < draft < 22:
                tree.text("[Record type is not allowed in TLS 1.3]", 0, 1)
                return
            items.append("Change Cipher Spec")
            cur = st.get(_VERSION, 0)
            rec.label = f"{_short_version(cur, 'SSL')} Record Layer: Change Cipher Spec Protocol: Change Cipher Spec"
            r.need(5, 1)
            tree.add(CHANGE_CIPHER_SPEC_F, True, 5, 1, "Change Cipher Spec Message")
            if cur != TLSV1_3:
                ccs = st.setdefault(_CCS, {})
                ccs.setdefault(from_server, info.frame)
        elif ct == CT_ALERT:
            _alert(r, rlen, tree, st, items, rec)
        elif ct == CT_HEARTBEAT:
            if version == TLSV1_3:
                tree.text("[Record type is not allowed in TLS 1.3]", 0, 1)
                return
            _heartbeat(r, rlen, tree, items, rec)
        # CT_TLS12_CID: the payload is encrypted; the header says it all.
    finally:
        rec.close()


class _Section:
    """A subtree whose label may be set after its contents are decoded."""

    __slots__ = ("tree", "node")

    def __init__(self, tree: Tree, label: str, off: int, length: int) -> None:
        self.tree = tree
        self.node: Node | None = None
        if tree.want_nodes:
            # A record's subtree hangs from the root: Tree.open appends it there.
            tree.open(label, off, length)
            self.node = tree.root.children[-1]

    @property
    def label(self) -> str:
        return self.node.label if self.node is not None else ""

    @label.setter
    def label(self, text: str) -> None:
        if self.node is not None:
            self.node.label = text

    def close(self) -> None:
        if self.node is not None:
            self.tree.close()
            self.node = None


def _alert(r: Reader, rlen: int, tree: Tree, st: dict[str, Any], items: list[str], rec: _Section) -> None:
    cur = st.get(_VERSION, 0)
    if rlen != 2:
        # Alerts are two bytes; anything else is an encrypted one.
        items.append("Encrypted Alert")
        rec.label = f"{_short_version(cur, 'TLS')} Record Layer: Encrypted Alert"
        tree.text("Alert Message: Encrypted Alert", 5, rlen)
        return
    level, desc = r.u8(5), r.u8(6)
    ltext = N.ALERT_LEVELS.get(level, "Unknown")
    dtext = N.ALERT_DESCRIPTIONS.get(desc, "Unknown")
    items.append(f"Alert (Level: {ltext}, Description: {dtext})")
    rec.label = f"{_short_version(cur, 'TLS')} Record Layer: Alert (Level: {ltext}, Description: {dtext})"
    tree.open("Alert Message", 5, 2)
    tree.add(ALERT_LEVEL, level, 5, 1, f"Level: {ltext} ({level})" if tree.want_nodes else None)
    tree.add(ALERT_DESC, desc, 6, 1, f"Description: {dtext} ({desc})" if tree.want_nodes else None)
    tree.close()


_HEARTBEAT_TYPES = {1: "Request", 2: "Response"}


def _heartbeat(r: Reader, rlen: int, tree: Tree, items: list[str], rec: _Section) -> None:
    """RFC 6520.  Without keys Wireshark takes every heartbeat for plain text
    when its lengths allow (``dissect_ssl3_heartbeat``)."""
    hb_type = r.u8(5)
    payload_length = r.u16(6)
    name = _HEARTBEAT_TYPES.get(hb_type)
    if name is None:
        items.append("Encrypted Heartbeat")
        rec.label = rec.label.split(" Record Layer")[0] + " Record Layer: Encrypted Heartbeat"
        return
    items.append(f"Heartbeat {name}")
    rec.label = rec.label.split(" Record Layer")[0] + f" Record Layer: Heartbeat {name}"
    tree.open("Heartbeat Message", 5, rlen)
    tree.add(HEARTBEAT_TYPE, hb_type, 5, 1, f"Type: {name} ({hb_type})")
    tree.add(HEARTBEAT_PAYLOAD_LENGTH, payload_length, 6, 2)
    if 3 + payload_length + 16 > rlen:
        tree.text(f"[Invalid heartbeat payload length ({payload_length})]", 6, 2)
    tree.close()


# -- handshake protocol -----------------------------------------------------------------

def _is_encrypted(r: Reader, off: int, end: int, info: AppInfo, from_server: bool) -> bool:
    """``is_encrypted_handshake_message``: no keys, so guess from the bytes."""
    if end - off < 16:
        return False  # every cipher adds at least 16 bytes
    data = r.data
    maybe = data[off:off + 5] == b"\x00\x00\x00\x00\x00"  # an explicit GCM/CCM nonce
    if not maybe:
        ccs = info.state.get(_CCS, {}).get(from_server, 0)
        maybe = ccs != 0 and info.frame > ccs
    if not maybe:
        msg_type = r.u8(off)
        maybe = msg_type not in N.HANDSHAKE_TYPES or r.u24(off + 1) >= 0x10000
    return maybe


def _handshake(r: Reader, off: int, end: int, tree: Tree, info: AppInfo, items: list[str], version: int,
               from_server: bool, rec: _Section) -> None:
    """``dissect_tls_handshake``: complete a message begun in an earlier
    record, then decode the messages of this one; a message the record ends
    in the middle of is kept for the next record from the same side."""
    st = info.state
    pending: dict[bool, bytearray] = st.setdefault(_HS, {})
    buf = pending.get(from_server)
    first = True
    short = _short_version(version, "TLS")
    if buf is not None:
        frags = len(buf)
        head = bytes(buf[:4]) if frags >= 4 else bytes(buf) + r.data[off:off + 4 - frags]
        subset = end - off
        msg_len = 0
        if len(head) >= 4:
            msg_len = 4 + int.from_bytes(head[1:4], "big")
            if msg_len >= frags and subset > msg_len - frags:
                subset = msg_len - frags
        if len(r.data) < off + subset:
            del pending[from_server]  # bytes missing from the capture: give up on this message
        else:
            buf += r.data[off:off + subset]
            name = N.HANDSHAKE_TYPES.get(buf[0], "Encrypted Handshake Message")
            if frags + subset != msg_len:
                if len(buf) > _MAX_HS_MESSAGE:
                    del pending[from_server]
                rec.label = f"{short} Record Layer: Handshake Protocol: Multiple Handshake Messages"
                tree.text(f"Handshake Protocol: {name} (fragment)", off, end - off)
                return
            del pending[from_server]
            tree.text(f"Handshake Protocol: {name} (last fragment)", off, subset)
            off += subset
            _handshake_message(Reader(bytes(buf)), 0, tree, info, items, version, from_server, True, rec,
                               rebuilt=True)
            first = False
    elif _is_encrypted(r, off, end, info, from_server):
        items.append("Encrypted Handshake Message")
        rec.label = f"{short} Record Layer: Handshake Protocol: Encrypted Handshake Message"
        tree.text("Handshake Protocol: Encrypted Handshake Message", off, end - off)
        return
    while off < end:
        subset = end - off
        msg_len = 4 + r.u24(off + 1) if subset >= 4 else 0
        if msg_len == 0 or subset < msg_len:
            # The message goes on in the next record from this side.
            if len(r.data) >= end:
                pending[from_server] = bytearray(r.data[off:end])
            msg_type = r.u8(off)
            name = N.HANDSHAKE_TYPES.get(msg_type, "Encrypted Handshake Message")
            if first:
                items.append(f"[{name} Fragment]")
                rec.label = f"{short} Record Layer: Handshake Protocol: {name} (fragment)"
            else:
                rec.label = f"{short} Record Layer: Handshake Protocol: Multiple Handshake Messages"
            tree.text(f"Handshake Protocol: {name} (fragment)", off, subset)
            return
        _handshake_message(r, off, tree, info, items, version, from_server, first, rec)
        off += msg_len
        first = False


def _handshake_message(r: Reader, off: int, tree: Tree, info: AppInfo, items: list[str], version: int,
                       from_server: bool, first: bool, rec: _Section, rebuilt: bool = False) -> None:
    """``dissect_tls_handshake_full``: one whole handshake message at ``off``."""
    st = info.state
    msg_type = r.u8(off)
    length = r.u24(off + 1)
    name = N.HANDSHAKE_TYPES.get(msg_type)
    if name is None and not first:
        return  # only the first message of a record may be of an unknown type
    hrr = False
    if first and msg_type == HS_SERVER_HELLO and length > 2:
        server_version, hrr = _scan_server_hello(r, off + 4, off + 4 + length)
        _try_set_version(st, CT_HANDSHAKE, HS_SERVER_HELLO, server_version)
        if hrr:
            name = "Hello Retry Request"
    shown = name or "Encrypted Handshake Message"
    items.append(shown)
    short = _short_version(version, "TLS")
    rec.label = f"{short} Record Layer: Handshake Protocol: " + (shown if first else "Multiple Handshake Messages")
    if name is None:
        tree.text(f"Handshake Protocol: {shown}", off, length + 4)
        return
    # Offsets of a message rebuilt from several records count in that message.
    saved_base = tree.base
    if rebuilt:
        tree.base = 0
    tree.open(f"Handshake Protocol: {shown}", off, length + 4)
    try:
        tree.add(HS_TYPE, msg_type, off, 1, f"Handshake Type: {name} ({msg_type})" if tree.want_nodes else None)
        tree.add(HS_LENGTH, length, off + 1, 3)
        body, body_end = off + 4, off + 4 + length
        if msg_type == HS_CLIENT_HELLO:
            st[_SERVER] = (info.dstport, info.srcport)
            if _client_hello(r, body, body_end, tree, st, items):
                # Early data is TLS 1.3 whatever the server answers (RFC 8446 4.2.10).
                st[_VERSION] = TLSV1_3
        elif msg_type == HS_SERVER_HELLO:
            _server_hello(r, body, body_end, tree, st, hrr)
        elif msg_type == HS_HELLO_RETRY_REQUEST:
            _hello_retry_request(r, body, body_end, tree, st)
        elif msg_type == HS_NEW_SESSION_TICKET:
            _new_session_ticket(r, body, body_end, tree, st)
        elif msg_type == HS_ENCRYPTED_EXTENSIONS:
            _extensions(r, body, body_end, tree, st, HS_ENCRYPTED_EXTENSIONS, None)
        elif msg_type == HS_CERTIFICATE:
            _certificate(r, body, body_end, tree, st)
        elif msg_type == HS_CERTIFICATE_REQUEST:
            _certificate_request(r, body, body_end, tree, st)
    finally:
        tree.close()
        tree.base = saved_base


def _scan_server_hello(r: Reader, off: int, end: int) -> tuple[int, bool]:
    """``tls_scan_server_hello``: the version a ServerHello settles on (its
    ``supported_versions`` extension in TLS 1.3) and whether it is a
    HelloRetryRequest (RFC 8446 4.1.3's special random)."""
    data = r.data
    version = r.u16(off)
    hrr = False
    if version == TLSV1_2 and end - off >= 46:
        off += 2
        hrr = data[off:off + 32] == _HRR_RANDOM
        off += 32
        sid_len = r.u8(off)
        off += 1
        if end - off < sid_len + 5:
            return version, hrr
        off += sid_len + 5
        while end - off >= 6:
            ext_type, ext_len = r.u16(off), r.u16(off + 2)
            if end - off < 4 + ext_len:
                break
            if ext_type == EXT_SUPPORTED_VERSIONS and ext_len == 2:
                return r.u16(off + 4), hrr
            off += 4 + ext_len
    return version, hrr


_HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


class _Bad(Exception):
    """A vector's length runs past its enclosing structure."""


def _vector(r: Reader, off: int, end: int, size: int, tree: Tree, f: Any, label: str | None = None) -> int:
    """``ssl_add_vector``: read a ``size``-byte length at ``off`` (and show it);
    raise :class:`_Bad` when it does not fit before ``end``."""
    if off > end or end - off < size:
        raise _Bad()
    n = int.from_bytes(r.bytes(off, size), "big")
    if f is not None:
        tree.add(f, n, off, size, label)
    elif tree.want_nodes and label:
        tree.text(label, off, size)
    if end - off - size < n:
        raise _Bad()
    return n


def _hello_common(r: Reader, off: int, tree: Tree, st: dict[str, Any], from_server: bool) -> int:
    """Random and Session ID, shared by ClientHello and ServerHello."""
    random = r.bytes(off, 32)
    tree.add(HS_RANDOM, random, off, 32, f"Random: {random.hex()}" if tree.want_nodes else None)
    if tree.want_nodes and st.get(_VERSION, 0) != TLSV1_3:
        import datetime as _dt

        t = int.from_bytes(random[:4], "big")
        when = _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%b %e, %Y %H:%M:%S.000000000 UTC")
        tree.text(f"GMT Unix Time: {when}", off, 4)
        tree.text(f"Random Bytes: {random[4:].hex()}", off + 4, 28)
    off += 32
    draft = st.get(_DRAFT, 0)
    if not from_server or not (st.get(_VERSION, 0) == TLSV1_3 and 0 < draft < 22):
        sid_len = r.u8(off)
        tree.add(HS_SESSION_ID_LENGTH, sid_len, off, 1)
        off += 1
        if sid_len:
            sid = r.bytes(off, sid_len)
            tree.add(HS_SESSION_ID, sid, off, sid_len, f"Session ID: {sid.hex()}" if tree.want_nodes else None)
            off += sid_len
    return off


def _client_hello(r: Reader, off: int, end: int, tree: Tree, st: dict[str, Any], items: list[str]) -> bool:
    """Decode a ClientHello; True when it offers early data."""
    client_version = r.u16(off)
    tree.add(HS_VERSION, client_version, off, 2,
             f"Version: {_version_text(client_version)}" if tree.want_nodes else None)
    off += 2
    off = _hello_common(r, off, tree, st, False)
    ja3 = [str(client_version)]
    try:
        n = _vector(r, off, end, 2, tree, HS_CIPHER_SUITES_LENGTH)
        off += 2
        nxt = off + n
        tree.open(f"Cipher Suites ({n // 2} suite{'' if n // 2 == 1 else 's'})", off, n)
        suites = []
        while off + 2 <= nxt:
            cs = r.u16(off)
            tree.add(HS_CIPHERSUITE, cs, off, 2,
                     f"Cipher Suite: {N.CIPHER_SUITES.get(cs, 'Unknown')} (0x{cs:04x})" if tree.want_nodes else None)
            if not _grease(cs):
                suites.append(str(cs))
            off += 2
        tree.close()
        off = nxt
        ja3.append("-".join(suites))
        n = _vector(r, off, end, 1, tree, HS_COMP_METHODS_LENGTH)
        off += 1
        nxt = off + n
        tree.open(f"Compression Methods ({n} method{'' if n == 1 else 's'})", off, n)
        while off < nxt:
            m = r.u8(off)
            tree.add(HS_COMP_METHOD, m, off, 1,
                     f"Compression Method: {N.COMPRESSION_METHODS.get(m, 'Unknown')} ({m})"
                     if tree.want_nodes else None)
            off += 1
        tree.close()
        if off < end:
            names = _extensions(r, off, end, tree, st, HS_CLIENT_HELLO, ja3)
            if names:
                items[-1] = f"{items[-1]} ({names[0]})"
        else:
            ja3 += ["", "", ""]
    except _Bad:
        tree.text("[Malformed: vector length past the end of the message]", off, 0)
        return False
    full = ",".join(ja3)
    tree.add(HS_JA3_FULL, full, off, 0, f"[JA3 Fullstring: {full}]" if tree.want_nodes else None)
    digest = hashlib.md5(full.encode()).hexdigest()
    tree.add(HS_JA3, digest, off, 0, f"[JA3: {digest}]" if tree.want_nodes else None)
    return any(t in (str(EXT_EARLY_DATA), str(EXT_TICKET_EARLY_DATA_INFO)) for t in ja3[2].split("-"))


def _server_hello(r: Reader, off: int, end: int, tree: Tree, st: dict[str, Any], hrr: bool) -> None:
    draft = st.get(_DRAFT, 0)
    server_version = r.u16(off)
    tree.add(HS_VERSION, server_version, off, 2,
             f"Version: {_version_text(server_version)}" if tree.want_nodes else None)
    off += 2
    off = _hello_common(r, off, tree, st, True)
    cs = r.u16(off)
    tree.add(HS_CIPHERSUITE, cs, off, 2,
             f"Cipher Suite: {N.CIPHER_SUITES.get(cs, 'Unknown')} (0x{cs:04x})" if tree.want_nodes else None)
    off += 2
    if not (st.get(_VERSION, 0) == TLSV1_3 and 0 < draft < 22):
        m = r.u8(off)
        tree.add(HS_COMP_METHOD, m, off, 1,
                 f"Compression Method: {N.COMPRESSION_METHODS.get(m, 'Unknown')} ({m})" if tree.want_nodes else None)
        off += 1
    ja3s = [str(server_version), str(cs)]
    try:
        if off < end:
            _extensions(r, off, end, tree, st, HS_HELLO_RETRY_REQUEST if hrr else HS_SERVER_HELLO, ja3s)
        else:
            ja3s.append("")
    except _Bad:
        tree.text("[Malformed: vector length past the end of the message]", off, 0)
        return
    full = ",".join(ja3s)
    tree.add(HS_JA3S_FULL, full, off, 0, f"[JA3S Fullstring: {full}]" if tree.want_nodes else None)
    digest = hashlib.md5(full.encode()).hexdigest()
    tree.add(HS_JA3S, digest, off, 0, f"[JA3S: {digest}]" if tree.want_nodes else None)


def _hello_retry_request(r: Reader, off: int, end: int, tree: Tree, st: dict[str, Any]) -> None:
    """TLS 1.3 drafts up to -21 (a ServerHello since -22)."""
    version = r.u16(off)
    tree.add(HS_VERSION, version, off, 2)
    draft = version & 0xFF if (version >> 8) == 0x7F else 0
    off += 2
    if draft == 0 or draft >= 19:
        tree.add(HS_CIPHERSUITE, r.u16(off), off, 2)
        off += 2
    try:
        _extensions(r, off, end, tree, st, HS_HELLO_RETRY_REQUEST, None)
    except _Bad:
        pass


def _new_session_ticket(r: Reader, off: int, end: int, tree: Tree, st: dict[str, Any]) -> None:
    """RFC 5077 3.3; RFC 8446 4.6.1 adds an age, a nonce and extensions."""
    tls13 = st.get(_VERSION, 0) == TLSV1_3
    draft = st.get(_DRAFT, 0)
    tree.open("TLS Session Ticket", off, end - off)
    try:
        tree.text(f"Session Ticket Lifetime Hint: {r.u32(off)} seconds", off, 4)
        off += 4
        if tls13:
            off += 4
            if draft == 0 or draft >= 21:
                n = _vector(r, off, end, 1, tree, None, "Session Ticket Nonce Length")
                off += 1 + n
        n = _vector(r, off, end, 2, tree, None, "Session Ticket Length")
        off += 2 + n
        if tls13:
            _extensions(r, off, end, tree, st, HS_NEW_SESSION_TICKET, None)
    except _Bad:
        pass
    finally:
        tree.close()


def _extensions(r: Reader, off: int, end: int, tree: Tree, st: dict[str, Any], hs_type: int,
                ja3: list[str] | None) -> list[str]:
    """``ssl_dissect_hnd_extension``; returns the host names of a server_name
    extension.  ``ja3`` collects the extension, group and point-format lists."""
    names: list[str] = []
    exts_len = _vector(r, off, end, 2, tree, HS_EXTENSIONS_LENGTH)
    off += 2
    end = off + exts_len
    types: list[str] = []
    groups: list[str] = []
    formats: list[str] = []
    try:
        while end - off >= 4:
            ext_type = r.u16(off)
            ext_len = r.u16(off + 2)
            ename = N.EXTENSION_TYPES.get(ext_type, f"Unknown type {ext_type}")
            tree.open(f"Extension: {ename} (len={ext_len})", off, 4 + ext_len)
            try:
                tree.add(HS_EXT_TYPE, ext_type, off, 2, f"Type: {ename} ({ext_type})" if tree.want_nodes else None)
                if not _grease(ext_type):
                    types.append(str(ext_type))
                off += 2
                ext_len = _vector(r, off, end, 2, tree, HS_EXT_LEN)
                off += 2
                nxt = off + ext_len
                try:
                    if ext_type == EXT_SERVER_NAME:
                        names += _server_name(r, off, nxt, tree)
                    elif ext_type == EXT_ALPN:
                        _alpn(r, off, nxt, tree)
                    elif ext_type == EXT_SUPPORTED_VERSIONS:
                        if hs_type == HS_CLIENT_HELLO:
                            n = _vector(r, off, nxt, 1, tree, None, None)
                            p, vend = off + 1, off + 1 + n
                            while p + 2 <= vend:
                                v = r.u16(p)
                                tree.add(HS_SUPPORTED_VERSION, v, p, 2,
                                         f"Supported Version: {_version_text(v)}" if tree.want_nodes else None)
                                p += 2
                        elif hs_type in (HS_SERVER_HELLO, HS_HELLO_RETRY_REQUEST):
                            v = r.u16(off)
                            tree.add(HS_SUPPORTED_VERSION, v, off, 2,
                                     f"Supported Version: {_version_text(v)}" if tree.want_nodes else None)
                    elif ext_type == EXT_SUPPORTED_GROUPS:
                        n = _vector(r, off, nxt, 2, tree, None, None)
                        p, gend = off + 2, off + 2 + n
                        while p + 2 <= gend:
                            g = r.u16(p)
                            tree.add(HS_SUPPORTED_GROUP, g, p, 2,
                                     f"Supported Group: {N.SUPPORTED_GROUPS.get(g, 'Unknown')} (0x{g:04x})"
                                     if tree.want_nodes else None)
                            if not _grease(g):
                                groups.append(str(g))
                            p += 2
                    elif ext_type == EXT_EC_POINT_FORMATS:
                        n = r.u8(off)
                        for i in range(n):
                            formats.append(str(r.u8(off + 1 + i)))
                    elif ext_type in (EXT_SIGNATURE_ALGORITHMS, EXT_SIGNATURE_ALGORITHMS_CERT):
                        n = _vector(r, off, nxt, 2, tree, None, None)
                        p, send = off + 2, off + 2 + n
                        while p + 2 <= send and tree.want_nodes:
                            a = r.u16(p)
                            tree.text(f"Signature Algorithm: {_signature_scheme(a)} (0x{a:04x})", p, 2)
                            p += 2
                except _Bad:
                    pass  # this extension is malformed; the next one starts where its length says
                off = nxt
            finally:
                tree.close()
    finally:
        if ja3 is not None:
            ja3.append("-".join(types))
            if hs_type == HS_CLIENT_HELLO:
                ja3.append("-".join(groups))
                ja3.append("-".join(formats))
    return names


def _signature_scheme(a: int) -> str:
    """RFC 8446 SignatureScheme, or a TLS 1.2 hash/signature pair (RFC 5246 7.4.1.4.1)."""
    name = N.SIGNATURE_SCHEMES.get(a)
    if name is not None:
        return name
    return f"{N.SIGNATURE_HASHES.get(a >> 8, 'Unknown')} {N.SIGNATURE_ALGORITHMS.get(a & 0xFF, 'Unknown')}"


def _server_name(r: Reader, off: int, end: int, tree: Tree) -> list[str]:
    """RFC 6066 3: ServerName server_name_list<1..2^16-1>."""
    out: list[str] = []
    if off == end:
        return out  # a server acknowledges SNI with an empty extension
    tree.open("Server Name Indication extension", off, end - off)
    try:
        n = _vector(r, off, end, 2, tree, None, None)
        off += 2
        nxt = off + n
        while off < nxt:
            name_type = r.u8(off)
            off += 1
            ln = _vector(r, off, nxt, 2, tree, None, None)
            off += 2
            name = _ascii(r.bytes(off, ln))
            tree.add(HS_SERVER_NAME, name, off, ln, f"Server Name: {name}" if tree.want_nodes else None)
            off += ln
            if name_type == 0:
                out.append(name)
    finally:
        tree.close()
    return out


def _alpn(r: Reader, off: int, end: int, tree: Tree) -> None:
    """RFC 7301 3.1: ProtocolName protocol_name_list<2..2^16-1>."""
    n = _vector(r, off, end, 2, tree, None, None)
    off += 2
    nxt = off + n
    tree.open("ALPN Protocol", off, n)
    try:
        while off < nxt:
            ln = _vector(r, off, nxt, 1, tree, None, None)
            off += 1
            name = _ascii(r.bytes(off, ln))
            tree.add(HS_ALPN_STR, name, off, ln, f"ALPN Next Protocol: {name}" if tree.want_nodes else None)
            off += ln
    finally:
        tree.close()


def _ascii(b: bytes) -> str:
    """A string as Wireshark's ENC_ASCII shows it: up to a NUL, other bytes replaced."""
    nul = b.find(0)
    if nul >= 0:
        b = b[:nul]
    return b.decode("ascii", "replace")


# -- certificates ------------------------------------------------------------------------

def _certificate(r: Reader, off: int, end: int, tree: Tree, st: dict[str, Any]) -> None:
    """RFC 5246 7.4.2 / RFC 8446 4.4.2: the chain, one DER certificate after another."""
    tls13 = st.get(_VERSION, 0) == TLSV1_3
    try:
        if tls13:
            n = _vector(r, off, end, 1, tree, None, "Certificate Request Context Length")
            off += 1 + n
        total = _vector(r, off, end, 3, tree, HS_CERTIFICATES_LENGTH)
        off += 3
        nxt = off + total
        if total:
            tree.open(f"Certificates ({total} bytes)", off, total)
        try:
            while off < nxt:
                n = _vector(r, off, nxt, 3, tree, HS_CERTIFICATE_LENGTH)
                off += 3
                _one_certificate(r.bytes(off, n), off, tree)
                off += n
                if tls13:
                    off = _cert_entry_extensions(r, off, nxt, tree, st)
        finally:
            if total:
                tree.close()
    except _Bad:
        tree.text("[Malformed: vector length past the end of the message]", off, 0)


_CLIENT_CERT_TYPES = {1: "RSA Sign", 2: "DSS Sign", 3: "RSA Fixed DH", 4: "DSS Fixed DH", 5: "RSA Ephemeral DH",
                      6: "DSS Ephemeral DH", 20: "Fortezza", 64: "ECDSA Sign", 65: "RSA Fixed ECDH",
                      66: "ECDSA Fixed ECDH", 67: "GOST R 34.10-2012"}


def _certificate_request(r: Reader, off: int, end: int, tree: Tree, st: dict[str, Any]) -> None:
    """RFC 5246 7.4.4 (certificate types the server accepts); RFC 8446 4.3.2
    carries a context and extensions instead."""
    try:
        if st.get(_VERSION, 0) == TLSV1_3:
            n = _vector(r, off, end, 1, tree, None, "Certificate Request Context Length")
            off += 1 + n
            _extensions(r, off, end, tree, st, HS_CERTIFICATE_REQUEST, None)
            return
        n = _vector(r, off, end, 1, tree, None, None)
        off += 1
        tree.open(f"Certificate types ({n})", off, n)
        for i in range(n):
            t = r.u8(off + i)
            tree.add(HS_CERT_TYPE, t, off + i, 1, f"Certificate type: {_CLIENT_CERT_TYPES.get(t, 'Unknown')} ({t})")
        tree.close()
    except _Bad:
        tree.text("[Malformed: vector length past the end of the message]", off, 0)


def _cert_entry_extensions(r: Reader, off: int, end: int, tree: Tree, st: dict[str, Any]) -> int:
    n = _vector(r, off, end, 2, tree, None, None)
    _extensions(r, off, off + 2 + n, tree, st, HS_CERTIFICATE, None)
    return off + 2 + n


def _one_certificate(der: bytes, off: int, tree: Tree) -> None:
    facts = _cert_facts(der)
    tree.open(f"Certificate ({facts[0]})" if not isinstance(facts, str) else "Certificate", off, len(der))
    try:
        tree.add(HS_CERTIFICATE_DER, der, off, len(der),
                 f"Certificate: {der[:32].hex()}..." if tree.want_nodes else None)
        version, serial = _tbs_version_serial(der)
        if version is not None:
            tree.add(X509_VERSION, version, off, 0, f"version: v{version + 1} ({version})")
        if serial is not None:
            tree.add(X509_SERIAL, serial, off, 0, f"serialNumber: 0x{serial.hex()}")
        if isinstance(facts, str):
            tree.malformed(f"certificate could not be parsed: {facts}", off)
            return
        subject, issuer, serial_text, not_before, not_after, key_type, key_size, sha1 = facts
        tree.open("Issued To", off, 0)
        tree.add(CERT_SUBJECT, subject, off, len(der), f"Subject: {subject}")
        tree.add(CERT_SERIAL, serial_text, off, 0, f"Serial Number: {serial_text}")
        tree.close()
        tree.open("Issued By", off, 0)
        tree.add(CERT_ISSUER, issuer, off, len(der), f"Issuer: {issuer}")
        tree.close()
        tree.open("Validity", off, 0)
        tree.add(CERT_NOT_BEFORE, not_before, off, 0, f"Issued On: {not_before}")
        tree.add(CERT_NOT_AFTER, not_after, off, 0, f"Expires On: {not_after}")
        tree.close()
        tree.open("Subject Public Key Info", off, 0)
        tree.add(CERT_KEY_TYPE, key_type, off, 0, f"Public Key Algorithm: {key_type}")
        if key_size is not None:
            tree.add(CERT_KEY_SIZE, key_size, off, 0, f"Key Size: {key_size} bits")
        tree.close()
        tree.open("Fingerprints", off, 0)
        tree.add(CERT_SHA1, sha1, off, 0, f"SHA1 Fingerprint: {sha1}")
        tree.close()
    finally:
        tree.close()


def _der_item(der: bytes, off: int) -> tuple[int, int, int]:
    """(tag, offset of the contents, length of the contents) of the DER item at ``off``."""
    tag = der[off]
    n = der[off + 1]
    off += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4:
            raise ValueError("bad DER length")
        n = int.from_bytes(der[off:off + k], "big")
        off += k
    if off + n > len(der):
        raise ValueError("DER item runs past the certificate")
    return tag, off, n


def _tbs_version_serial(der: bytes) -> tuple[int | None, bytes | None]:
    """The version and raw serial number of a certificate's TBSCertificate
    (RFC 5280 4.1), read from the DER as Wireshark's x509af fields show them."""
    try:
        tag, off, _ = _der_item(der, 0)           # Certificate ::= SEQUENCE
        if tag != 0x30:
            return None, None
        tag, off, _ = _der_item(der, off)         # tbsCertificate ::= SEQUENCE
        if tag != 0x30:
            return None, None
        version = None
        tag, c, n = _der_item(der, off)
        if tag == 0xA0:                           # [0] EXPLICIT Version DEFAULT v1
            vtag, vc, vn = _der_item(der, c)
            if vtag == 0x02:
                version = int.from_bytes(der[vc:vc + vn], "big", signed=True)
            off = c + n
            tag, c, n = _der_item(der, off)
        if tag != 0x02:
            return version, None
        return version, der[c:c + n]
    except (ValueError, IndexError):
        return None, None


@lru_cache(maxsize=512)
def _cert_facts(der: bytes) -> tuple[str, str, str, str, str, str, int | None, str] | str:
    """Subject, issuer, serial, validity, key and SHA-1 fingerprint of a DER
    certificate, or the reason it could not be parsed.  Servers send the same
    chain to every client, so the answers are kept."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import dh, dsa, ec, ed448, ed25519, rsa, x448, x25519

        import warnings

        with warnings.catch_warnings():
            # A certificate breaking RFC 5280 (a negative serial) is still shown.
            warnings.simplefilter("ignore")
            cert = x509.load_der_x509_certificate(der)
            serial_number = cert.serial_number
        subject = cert.subject.rfc4514_string()
        issuer = cert.issuer.rfc4514_string()
        serial_bytes = _int_bytes(serial_number)
        serial = ":".join(f"{b:02X}" for b in serial_bytes)
        not_before = cert.not_valid_before_utc.strftime("%Y-%m-%d %H:%M:%S UTC")
        not_after = cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC")
        key_type = "unknown"
        key_size: int | None = None
        try:
            key = cert.public_key()
            if isinstance(key, rsa.RSAPublicKey):
                key_type, key_size = "RSA", key.key_size
            elif isinstance(key, ec.EllipticCurvePublicKey):
                key_type, key_size = f"EC ({key.curve.name})", key.curve.key_size
            elif isinstance(key, dsa.DSAPublicKey):
                key_type, key_size = "DSA", key.key_size
            elif isinstance(key, ed25519.Ed25519PublicKey):
                key_type, key_size = "Ed25519", 256
            elif isinstance(key, ed448.Ed448PublicKey):
                key_type, key_size = "Ed448", 456
            elif isinstance(key, x25519.X25519PublicKey):
                key_type, key_size = "X25519", 256
            elif isinstance(key, x448.X448PublicKey):
                key_type, key_size = "X448", 448
            elif isinstance(key, dh.DHPublicKey):
                key_type, key_size = "DH", key.key_size
        except Exception:  # an algorithm cryptography does not know (ML-DSA, GOST, ...)
            key_type = cert.public_key_algorithm_oid.dotted_string
        sha1 = ":".join(f"{b:02X}" for b in hashlib.sha1(der).digest())
        return subject, issuer, serial, not_before, not_after, key_type, key_size, sha1
    except Exception as e:  # cryptography raises ValueError and others on bad certificates
        return f"{type(e).__name__}: {e}"


def _int_bytes(v: int) -> bytes:
    """The big-endian two's-complement bytes of an INTEGER, as DER writes them."""
    n = (v.bit_length() + 8) // 8 if v >= 0 else ((-v - 1).bit_length() + 8) // 8
    return v.to_bytes(max(n, 1), "big", signed=True)


# -- SSL 2.0 ---------------------------------------------------------------------------------

def _ssl2_valid_handshake(r: Reader, off: int, rlen: int) -> bool:
    """``ssl_looks_like_valid_v2_handshake``: only the messages sent in clear."""
    msg_type = r.u8(off)
    if msg_type == SSL2_CLIENT_HELLO:
        return r.u16(off + 1) in N.VERSIONS
    if msg_type == SSL2_SERVER_HELLO:
        return r.u16(off + 3) in N.VERSIONS
    if msg_type == SSL2_CLIENT_MASTER_KEY:
        return r.u16(off + 4) + r.u16(off + 6) + r.u16(off + 8) <= rlen
    return False


def _ssl2_record(data: bytes, tree: Tree, info: AppInfo, items: list[str]) -> None:
    st = info.state
    r = Reader(data)
    hl, rlen, padding = _ssl2_header(data)
    # Wireshark reads the message type even past an empty record; a record
    # too short to hold one is taken for encrypted data.
    msg_type = data[hl] if rlen and len(data) > hl else -1
    if st.get(_VERSION, 0) == 0 and 2 <= msg_type <= 8:
        st[_VERSION] = SSLV2
    name = N.SSL2_MSG_TYPES.get(msg_type)
    try:
        valid = name is not None and _ssl2_valid_handshake(r, hl, rlen)
    except Truncated:
        valid = False
    rec = _Section(tree, f"SSLv2 Record Layer: {name if valid else 'Encrypted Data'}", 0, hl + rlen)
    try:
        tree.add(RECORD_VERSION, SSLV2, 0, 0, "[Version: SSL 2.0 (0x0002)]")
        if not valid:
            items.append("Encrypted Data")
            return
        assert name is not None
        items.append(name)
        tree.add(RECORD_LENGTH, rlen, 0, hl)
        if padding >= 0:
            tree.text(f"Is Escape: {bool(data[0] & 0x40)}", 0, 1)
            tree.text(f"Padding Length: {padding}", 2, 1)
        tree.add(HS_TYPE, msg_type, hl, 1, f"Handshake Message Type: {name} ({msg_type})")
        off = hl + 1
        if msg_type == SSL2_CLIENT_HELLO:
            _ssl2_client_hello(r, off, tree, info)
        elif msg_type == SSL2_CLIENT_MASTER_KEY:
            spec = r.u24(off)
            tree.add(SSL2_CIPHERSPEC, spec, off, 3, _cipherspec_label(spec))
        elif msg_type == SSL2_SERVER_HELLO:
            _ssl2_server_hello(r, off, tree)
    finally:
        rec.close()


def _cipherspec_label(spec: int) -> str:
    return f"Cipher Spec: {N.SSL2_CIPHER_SPECS.get(spec, 'Unknown')} (0x{spec:06x})"


def _ssl2_client_hello(r: Reader, off: int, tree: Tree, info: AppInfo) -> None:
    version = r.u16(off)
    if version not in N.VERSIONS:
        return  # probably encrypted
    info.state[_SERVER] = (info.dstport, info.srcport)
    tree.add(HS_VERSION, version, off, 2, f"Version: {_version_text(version)}")
    spec_len = r.u16(off + 2)
    tree.add(SSL2_CIPHER_SPEC_LEN, spec_len, off + 2, 2)
    sid_len = r.u16(off + 4)
    tree.add(HS_SESSION_ID_LENGTH, sid_len, off + 4, 2)
    if sid_len > 16:
        tree.text(f"[Session ID length ({sid_len}) must be less than 16.]", off + 4, 2)
        return
    challenge_len = r.u16(off + 6)
    tree.add(SSL2_CHALLENGE_LENGTH, challenge_len, off + 6, 2)
    off += 8
    tree.open(f"Cipher Specs ({spec_len // 3} specs)", off, spec_len)
    left = spec_len
    while left > 0:
        spec = r.u24(off)
        tree.add(SSL2_CIPHERSPEC, spec, off, 3, _cipherspec_label(spec))
        off += 3
        left -= 3
    tree.close()
    if sid_len:
        tree.add(HS_SESSION_ID, r.bytes(off, sid_len), off, sid_len)
        off += sid_len
    if challenge_len:
        tree.text("Challenge", off, challenge_len)


def _ssl2_server_hello(r: Reader, off: int, tree: Tree) -> None:
    version = r.u16(off + 2)
    if version not in N.VERSIONS:
        return
    tree.add(SSL2_SESSION_ID_HIT, bool(r.u8(off)), off, 1)
    cert_type = r.u8(off + 1)
    tree.add(HS_CERT_TYPE, cert_type, off + 1, 1,
             f"Certificate Type: {'X.509 Certificate' if cert_type == 1 else 'Unknown'} ({cert_type})")
    tree.add(HS_VERSION, version, off + 2, 2, f"Version: {_version_text(version)}")
    cert_len = r.u16(off + 4)
    tree.add(HS_CERTIFICATE_LENGTH, cert_len, off + 4, 2)
    spec_len = r.u16(off + 6)
    tree.add(SSL2_CIPHER_SPEC_LEN, spec_len, off + 6, 2)
    conn_len = r.u16(off + 8)
    tree.add(SSL2_CONNECTION_ID_LENGTH, conn_len, off + 8, 2)
    off += 10
    if cert_len:
        _one_certificate(r.bytes(off, cert_len), off, tree)
        off += cert_len
    if spec_len:
        tree.open(f"Cipher Specs ({spec_len // 3} spec{'' if spec_len // 3 == 1 else 's'})", off, spec_len)
        left = spec_len
        while left > 0:
            spec = r.u24(off)
            tree.add(SSL2_CIPHERSPEC, spec, off, 3, _cipherspec_label(spec))
            off += 3
            left -= 3
        tree.close()
    if conn_len:
        tree.text("Connection ID", off, conn_len)


__all__ = ["NAME", "FIELDS", "TCP_PORTS", "dissect", "dissect_handshake", "pdu_length", "heuristic"]
