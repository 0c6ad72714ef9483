"""The TLS decoder: records, handshake messages, alerts and certificates.

Messages are built here byte by byte from RFC 8446 / RFC 5246 / RFC 6066 /
RFC 7301 structures (and the SSL 2.0 draft), so every expected value follows
from the input; a few corpus captures are compared with tshark; and any
bytes, or mutated valid records, give fields or a named anomaly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support import pcapgen as g
from tests.support.app_checks import assert_fields_or_anomaly, dissect_alone
from tests.support.corpus import CORPUS, have_corpus, have_tshark
from tests.support.tshark_compare import assert_agrees
from tracedoc.decode import tls
from tracedoc.decode.app import AppInfo
from tracedoc.decode.apptree import Tree
from tracedoc.decode.table import Decoder
from tracedoc.read.batch import FrameBatch

CLIENT_PORT = 51000

# -- building messages -------------------------------------------------------------------


def record(content_type: int, body: bytes, version: int = 0x0303) -> bytes:
    """TLSPlaintext (RFC 8446 5.1)."""
    return struct.pack("!BHH", content_type, version, len(body)) + body


def handshake(msg_type: int, body: bytes) -> bytes:
    """Handshake (RFC 8446 4): type, uint24 length, body."""
    return struct.pack("!B", msg_type) + len(body).to_bytes(3, "big") + body


def vec(n: int, body: bytes) -> bytes:
    """An opaque vector with an ``n``-byte length."""
    return len(body).to_bytes(n, "big") + body


def ext(ext_type: int, body: bytes) -> bytes:
    return struct.pack("!H", ext_type) + vec(2, body)


def sni(*names: str) -> bytes:
    """RFC 6066 3: ServerNameList of host_name entries."""
    return ext(0, vec(2, b"".join(b"\x00" + vec(2, n.encode()) for n in names)))


def alpn(*protocols: str) -> bytes:
    """RFC 7301 3.1."""
    return ext(16, vec(2, b"".join(vec(1, p.encode()) for p in protocols)))


RANDOM = bytes(range(32))


def client_hello(suites: list[int], exts: bytes, version: int = 0x0303, session_id: bytes = b"") -> bytes:
    body = struct.pack("!H", version) + RANDOM + vec(1, session_id)
    body += vec(2, b"".join(struct.pack("!H", s) for s in suites)) + vec(1, b"\x00")
    if exts:
        body += vec(2, exts)
    return handshake(1, body)


def server_hello(suite: int, exts: bytes = b"", version: int = 0x0303, session_id: bytes = b"\x11" * 32) -> bytes:
    body = struct.pack("!H", version) + RANDOM[::-1] + vec(1, session_id) + struct.pack("!HB", suite, 0)
    if exts:
        body += vec(2, exts)
    return handshake(2, body)


def self_signed(cn: str = "www.example.com", serial: int = 0x4CCDA7E2) -> bytes:
    """A small EC certificate with known subject, serial and validity."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Org")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(dt.datetime(2011, 4, 19, tzinfo=dt.timezone.utc))
            .not_valid_after(dt.datetime(2012, 4, 19, 12, 30, tzinfo=dt.timezone.utc))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def certificate_msg(*ders: bytes) -> bytes:
    """RFC 5246 7.4.2: certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>."""
    return handshake(11, vec(3, b"".join(vec(3, d) for d in ders)))


# -- decoding -------------------------------------------------------------------------------


class Conv:
    """One TLS conversation decoded record by record, as the application pass does."""

    def __init__(self, server_port: int = 443) -> None:
        self.state: dict = {}
        self.port = server_port
        self.frame = 0

    def decode(self, *records: bytes, from_server: bool = False, want_nodes: bool = False) -> list[Tree]:
        self.frame += 1
        sp, dp = (self.port, CLIENT_PORT) if from_server else (CLIENT_PORT, self.port)
        info = AppInfo("tcp", sp, dp, self.port, self.state, self.frame)
        trees = []
        for rec in records:
            tree = Tree(0, want_nodes, "tls")
            tls.dissect(rec, tree, info)
            trees.append(tree)
        return trees


def merged(trees: list[Tree]) -> dict:
    """Field values of one frame, merged the way the application pass merges them."""
    out: dict = {}
    for t in trees:
        for k, v in t.values.items():
            if k in out and isinstance(v, list):
                out[k] = out[k] + v
            else:
                out.setdefault(k, v)
    return out


def message(trees: list[Tree]) -> str:
    return ", ".join(t.message for t in trees if t.message)


# -- client and server hello --------------------------------------------------------------------

def test_client_hello_fields_and_summary() -> None:
    exts = (sni("www.example.com") + alpn("h2", "http/1.1")
            + ext(43, vec(1, struct.pack("!HH", 0x0304, 0x0303)))   # supported_versions
            + ext(10, vec(2, struct.pack("!HH", 0x001D, 0x0017)))   # supported_groups
            + ext(11, vec(1, b"\x00")))                              # ec_point_formats
    hello = client_hello([0x1301, 0x0A0A, 0xC02F], exts)
    trees = Conv().decode(record(22, hello, 0x0301))
    v = merged(trees)
    assert v["tls.record.content_type"] == [22]
    assert v["tls.record.version"] == [0x0301]
    assert v["tls.record.length"] == [len(hello)]
    assert v["tls.handshake.type"] == [1]
    assert v["tls.handshake.length"] == [len(hello) - 4]
    assert v["tls.handshake.version"] == [0x0303]
    assert v["tls.handshake.random"] == RANDOM
    assert v["tls.handshake.session_id_length"] == 0
    assert v["tls.handshake.cipher_suites_length"] == 6
    assert v["tls.handshake.ciphersuite"] == [0x1301, 0x0A0A, 0xC02F]
    assert v["tls.handshake.comp_method"] == [0]
    assert v["tls.handshake.extension.type"] == [0, 16, 43, 10, 11]
    assert v["tls.handshake.extensions_server_name"] == ["www.example.com"]
    assert v["tls.handshake.extensions_alpn_str"] == ["h2", "http/1.1"]
    assert v["tls.handshake.extensions.supported_version"] == [0x0304, 0x0303]
    assert v["tls.handshake.extensions_supported_group"] == [0x001D, 0x0017]
    # JA3: version, ciphers, extensions, groups, point formats; GREASE left out.
    ja3 = "771,4865-49199,0-16-43-10-11,29-23,0"
    assert v["tls.handshake.ja3_full"] == [ja3]
    assert v["tls.handshake.ja3"] == [hashlib.md5(ja3.encode()).hexdigest()]
    assert message(trees) == "TLS: Client Hello (www.example.com)"


def test_client_hello_without_extensions_is_sslv3_style() -> None:
    trees = Conv().decode(record(22, client_hello([0x000A], b""), 0x0300))
    v = merged(trees)
    assert v["tls.handshake.ciphersuite"] == [0x000A]
    assert "tls.handshake.extension.type" not in v
    assert v["tls.handshake.ja3_full"] == ["771,10,,,"]
    assert message(trees) == "TLS: Client Hello"


def test_server_hello_tls13_makes_application_data_opaque() -> None:
    conv = Conv(8443)
    conv.decode(record(22, client_hello([0x1301], sni("a.example"))))
    sh = server_hello(0x1301, ext(43, struct.pack("!H", 0x0304)))
    trees = conv.decode(record(22, sh), record(20, b"\x01"), record(23, b"\xAA" * 40), from_server=True)
    v = merged(trees)
    assert v["tls.handshake.type"] == [2]
    assert v["tls.handshake.ciphersuite"] == [0x1301]
    assert v["tls.handshake.extensions.supported_version"] == [0x0304]
    assert v["tls.handshake.session_id"] == b"\x11" * 32
    assert v["tls.handshake.ja3s_full"] == ["771,4865,43"]
    # In TLS 1.3 the outer type of protected records is opaque (RFC 8446 5.2).
    assert v["tls.record.content_type"] == [22, 20]
    assert v["tls.record.opaque_type"] == [23]
    assert v["tls.change_cipher_spec"] is True
    assert message(trees) == "TLS: Server Hello, Change Cipher Spec, Application"


def test_hello_retry_request_is_named() -> None:
    hrr_random = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
    body = struct.pack("!H", 0x0303) + hrr_random + vec(1, b"") + struct.pack("!HB", 0x1302, 0)
    body += vec(2, ext(43, struct.pack("!H", 0x0304)))
    trees = Conv().decode(record(22, handshake(2, body)), from_server=True)
    assert message(trees) == "TLS: Hello Retry Request"


def test_handshake_without_record_layer_for_quic() -> None:
    hello = client_hello([0x1301], sni("quic.example") + ext(57, b"\x01\x02"))
    tree = Tree(0, False, "tls")
    info = AppInfo("udp", CLIENT_PORT, 443, 443, {}, 1)
    tls.dissect_handshake(hello, tree, info)
    assert tree.values["tls.handshake.type"] == [1]
    assert tree.values["tls.handshake.extensions_server_name"] == ["quic.example"]
    assert "tls.record.content_type" not in tree.values
    assert tree.message == "TLS: Client Hello (quic.example)"


# -- the TLS 1.2 flow of the seed -------------------------------------------------------------

def test_tls12_handshake_summaries_in_the_seeds_words() -> None:
    conv = Conv()
    assert message(conv.decode(record(22, client_hello([0x002F], b""), 0x0301))) == "TLS: Client Hello"
    cert = certificate_msg(self_signed())
    got = conv.decode(record(22, server_hello(0x002F) + cert), from_server=True)
    assert message(got) == "TLS: Server Hello, Certificate"
    assert message(conv.decode(record(22, handshake(14, b"")), from_server=True)) == "TLS: Server Hello Done"
    cke = handshake(16, vec(2, b"\x55" * 128))
    finished = bytes([0xAB]) + b"\x9c" * 39  # encrypted Finished: not a handshake type Wireshark knows
    trees = conv.decode(record(22, cke), record(20, b"\x01"), record(22, finished))
    assert message(trees) == "TLS: Client Key Exchange, Change Cipher Spec, Encrypted Data"
    v = merged(trees)
    assert v["tls.record.content_type"] == [22, 20, 22]
    assert v["tls.handshake.type"] == [16]  # the encrypted message has no type
    # After its ChangeCipherSpec, a side's handshake records are encrypted,
    # whatever their first byte says.
    conv.decode(record(20, b"\x01"), from_server=True)
    trees = conv.decode(record(22, handshake(20, b"\x00" * 36)), from_server=True)
    assert message(trees) == "TLS: Encrypted Data"
    assert "tls.handshake.type" not in merged(trees)
    trees = conv.decode(record(23, b"\x17" * 100), record(23, b"\x18" * 50), from_server=True)
    assert message(trees) == "TLS: Application"
    assert merged(trees)["tls.app_data_length"] == [100, 50]


def test_alerts() -> None:
    trees = Conv().decode(record(21, b"\x02\x28"), from_server=True)
    v = merged(trees)
    assert v["tls.alert_message.level"] == [2]
    assert v["tls.alert_message.desc"] == [40]
    assert message(trees) == "TLS: Alert (Level: Fatal, Description: Handshake Failure)"
    trees = Conv().decode(record(21, b"\x01" * 26))
    assert "tls.alert_message.level" not in merged(trees)
    assert message(trees) == "TLS: Encrypted Alert"


def test_heartbeat_request() -> None:
    # RFC 6520: type 1 (request), payload_length 0x4000 in a 3-byte record: heartbleed.
    trees = Conv().decode(record(24, b"\x01\x40\x00"))
    v = merged(trees)
    assert v["tls.heartbeat_message.type"] == [1]
    assert v["tls.heartbeat_message.payload_length"] == [0x4000]
    assert message(trees) == "TLS: Heartbeat Request"


# -- certificates -----------------------------------------------------------------------------

def test_certificate_facts() -> None:
    der = self_signed("www.wellsfargo.com", 0x4CCDA7E2A024382007)
    trees = Conv().decode(record(22, certificate_msg(der, der)), from_server=True, want_nodes=True)
    v = merged(trees)
    assert v["tls.handshake.certificate_length"] == [len(der), len(der)]
    assert v["tls.handshake.certificate"] == [der, der]
    assert v["tls.handshake.certificate.subject"][0] == "O=Example Org,CN=www.wellsfargo.com"
    assert v["tls.handshake.certificate.issuer"][0] == "O=Example Org,CN=www.wellsfargo.com"
    assert v["tls.handshake.certificate.serial"][0] == "4C:CD:A7:E2:A0:24:38:20:07"
    assert v["tls.handshake.certificate.not_before"][0] == "2011-04-19 00:00:00 UTC"
    assert v["tls.handshake.certificate.not_after"][0] == "2012-04-19 12:30:00 UTC"
    assert v["tls.handshake.certificate.key_type"][0] == "EC (secp256r1)"
    assert v["tls.handshake.certificate.key_size"][0] == 256
    sha1 = hashlib.sha1(der).hexdigest().upper()
    assert v["tls.handshake.certificate.sha1"][0] == ":".join(sha1[i:i + 2] for i in range(0, 40, 2))
    assert v["x509af.version"] == [2, 2]  # v3
    assert v["x509af.serialNumber"][0] == bytes.fromhex("4ccda7e2a024382007")
    labels = [n.label for n in _walk(trees[0].root)]
    for section in ("Issued To", "Issued By", "Validity", "Fingerprints"):
        assert section in labels


def test_a_certificate_that_does_not_parse_is_an_anomaly_and_keeps_the_rest() -> None:
    bad = b"\x30\x03\x02\x01\x05"  # a SEQUENCE holding one INTEGER: not a certificate
    trees = Conv().decode(record(22, server_hello(0x002F) + certificate_msg(bad)), from_server=True)
    v = merged(trees)
    assert v["tls.handshake.type"] == [2, 11]
    assert v["tls.handshake.certificate"] == [bad]
    assert "tls.handshake.certificate.subject" not in v
    anomaly = trees[0].anomaly
    assert anomaly is not None and "certificate could not be parsed" in anomaly[0]


def test_certificate_message_spanning_records_completes_on_the_last() -> None:
    conv = Conv()
    der = self_signed()
    msg = certificate_msg(der)
    cut = len(msg) // 2
    first = conv.decode(record(22, server_hello(0x002F) + msg[:cut]), from_server=True)
    v = merged(first)
    assert v["tls.handshake.type"] == [2]
    assert "tls.handshake.certificate" not in v
    assert message(first) == "TLS: Server Hello"
    # The other side's records do not disturb the reassembly.
    conv.decode(record(22, handshake(16, vec(2, b"\x01" * 64))))
    last = conv.decode(record(22, msg[cut:] + handshake(14, b"")), from_server=True)
    v = merged(last)
    assert v["tls.handshake.type"] == [11, 14]
    assert v["tls.handshake.certificate"] == [der]
    assert message(last) == "TLS: Certificate, Server Hello Done"


# -- SSL 2.0 ------------------------------------------------------------------------------------

def ssl2_client_hello() -> bytes:
    """draft-hickman-netscape-ssl-00: msg type 1, version, three lengths, specs, challenge."""
    specs = bytes.fromhex("0700c0" "010080")
    challenge = bytes(range(16))
    body = struct.pack("!BHHHH", 1, 0x0002, len(specs), 0, len(challenge)) + specs + challenge
    return struct.pack("!H", 0x8000 | len(body)) + body


def test_sslv2_client_hello() -> None:
    hello = ssl2_client_hello()
    info = AppInfo("tcp", CLIENT_PORT, 443, 443, {}, 1)
    assert tls.pdu_length(hello + b"\x16\x03", info) == len(hello)
    trees = Conv().decode(hello)
    v = merged(trees)
    assert v["tls.record.version"] == [0x0002]
    assert v["tls.record.length"] == [len(hello) - 2]
    assert v["tls.handshake.type"] == [1]
    assert v["tls.handshake.version"] == [0x0002]
    assert v["tls.handshake.cipherspec"] == [0x0700C0, 0x010080]
    assert v["tls.handshake.challenge_length"] == 16
    assert message(trees) == "TLS: Client Hello"


def test_sslv2_compatible_client_hello_is_found_by_heuristic() -> None:
    # RFC 5246 E.2: a V2ClientHello offering TLS 1.0, 16-byte session id, 32-byte challenge.
    specs = bytes.fromhex("000035" "00002f" "010080")
    body = struct.pack("!BHHHH", 1, 0x0301, len(specs), 16, 32) + specs + b"\x01" * 16 + b"\x02" * 32
    hello = struct.pack("!H", 0x8000 | len(body)) + body
    assert tls.heuristic(hello, AppInfo("tcp", CLIENT_PORT, 7000, 0, {}, 1))
    assert merged(Conv(7000).decode(hello))["tls.handshake.version"] == [0x0301]


# -- framing and heuristics ------------------------------------------------------------------------

def test_pdu_length() -> None:
    info = AppInfo("tcp", CLIENT_PORT, 443, 443, {}, 1)
    rec = record(23, b"x" * 300)
    assert tls.pdu_length(rec, info) == 305
    assert tls.pdu_length(rec[:3], info) == 0          # the header is not all there yet
    assert tls.pdu_length(rec[:100], info) == 305       # the record goes on in later segments
    assert tls.pdu_length(b"GET / HTTP/1.1\r\n", info) == -1
    assert tls.pdu_length(b"\x00\x01\x02\x03\x04\x05", info) == -1


def test_heuristic() -> None:
    info = AppInfo("tcp", CLIENT_PORT, 4433, 0, {}, 1)
    assert tls.heuristic(record(22, client_hello([0x1301], b""), 0x0301), info)
    assert tls.heuristic(record(23, b"\x00" * 20), info)
    assert not tls.heuristic(record(20, b"\x01"), info)           # only Handshake and Application Data
    assert not tls.heuristic(record(22, b"", 0x0301), info)        # an empty record
    assert not tls.heuristic(record(22, b"\x01" * 10, 0x0304), info)  # 1.3 still says 0x0303 outside
    assert not tls.heuristic(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", info)
    assert not tls.heuristic(b"\x16\x03", info)
    # Wireshark's TPKT owns RDP's port and never hands over to TLS.
    rdp = AppInfo("tcp", CLIENT_PORT, 3389, 0, {}, 1)
    assert not tls.heuristic(record(22, client_hello([0x1301], b""), 0x0301), rdp)


# -- through the application pass ---------------------------------------------------------------------

def _frame(seq: int, payload: bytes, *, to_server: bool = True, port: int = 443, flags: int = 0x18) -> bytes:
    sport, dport = (CLIENT_PORT, port) if to_server else (port, CLIENT_PORT)
    src, dst = ("10.0.0.1", "10.0.0.2") if to_server else ("10.0.0.2", "10.0.0.1")
    return g.ether("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800,
                   g.ipv4(src, dst, 6, g.tcp(sport, dport, seq, 1, flags, 65535, payload=payload)))


def _decode(frames: list[bytes], columns: list[str]) -> dict[str, list]:
    lens = np.array([len(f) for f in frames], dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    n = len(frames)
    batch = FrameBatch(data=np.frombuffer(b"".join(frames), dtype=np.uint8).copy(), offset=offs, caplen=lens,
                       origlen=lens, ts_ns=np.arange(n, dtype=np.int64), linktype=np.ones(n, np.int32),
                       interface_id=np.full(n, -1, np.int32), record_offset=offs, first_number=1)
    rb = Decoder(columns).decode(batch)
    return {c: rb.column(c).to_pylist() for c in columns}


def test_record_split_over_segments_and_records_coalesced() -> None:
    hello = record(22, client_hello([0xC02F], sni("split.example")))
    ccs, app = record(20, b"\x01"), record(23, b"\x42" * 30)
    stream = hello + ccs + app
    got = _decode([_frame(1000, stream[:20]), _frame(1020, stream[20:])],
                  ["tls.handshake.extensions_server_name", "tls.record.content_type", "tracedoc.message"])
    assert got["tls.handshake.extensions_server_name"] == [None, ["split.example"]]
    assert got["tls.record.content_type"] == [None, [22, 20, 23]]
    assert got["tracedoc.message"] == [None, "TLS: Client Hello (split.example), Change Cipher Spec, Application"]


def test_tls_on_another_port_is_found_by_heuristic() -> None:
    frames = [_frame(1, record(22, client_hello([0x1301], b""), 0x0301), port=9090),
              _frame(1, record(21, b"\x02\x46"), to_server=False, port=9090)]
    got = _decode(frames, ["tls.record.content_type", "tls.alert_message.desc", "tracedoc.app"])
    assert got["tracedoc.app"] == [["tls"], ["tls"]]
    assert got["tls.alert_message.desc"] == [None, [70]]


# -- property tests ------------------------------------------------------------------------------------

def _walk(node):  # type: ignore[no-untyped-def]
    yield node
    for c in node.children:
        yield from _walk(c)


_VALID = [
    record(22, client_hello([0x1301, 0xC02F], sni("a.example") + alpn("h2"))),
    record(22, server_hello(0x002F, ext(0xFF01, b"\x00"))),
    record(21, b"\x02\x28"),
    record(23, b"\x00" * 24),
    ssl2_client_hello(),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_records_give_fields_or_a_named_anomaly(data) -> None:  # type: ignore[no-untyped-def]
    base = bytearray(data.draw(st.sampled_from(_VALID)))
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(base) - 1))
        base[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(base)))
    payload = bytes(base[:cut]) if data.draw(st.booleans()) else bytes(base)
    from_server = data.draw(st.booleans())
    sp, dp = (443, CLIENT_PORT) if from_server else (CLIENT_PORT, 443)
    dissect_alone(tls, payload, AppInfo("tcp", sp, dp, 443, {}, 1), data.draw(st.booleans()))
    assert_fields_or_anomaly(tls, payload, AppInfo("tcp", sp, dp, 443, {}, 1))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.booleans())
def test_any_bytes_frame_and_dissect_safely(payload: bytes, from_server: bool) -> None:
    sp, dp = (443, CLIENT_PORT) if from_server else (CLIENT_PORT, 443)
    info = AppInfo("tcp", sp, dp, 443, {}, 1)
    n = tls.pdu_length(payload, info)
    assert n >= -1
    assert_fields_or_anomaly(tls, payload, info)


# -- against tshark ----------------------------------------------------------------------------------------

TLS_CAPTURES = [
    "zeek/testing/btest/Traces/tls/tls1.2.pcap",
    "zeek/testing/btest/Traces/tls/ssl-v2.pcap",
    "zeek/testing/btest/Traces/tls/tls-fragmented-handshake.pcap.gz",
    "zeek/testing/btest/Traces/tls/tls13_wolfssl.pcap",
    "zeek/testing/btest/Traces/tls/heartbleed.pcap",
    "zeek/testing/btest/Traces/tls/tls-early-alert.pcap",
    "scapy/test/pcaps/tls_tcp_frag.pcap.gz",
]
TLS_FIELDS = ["tls.record.content_type", "tls.handshake.type", "tls.handshake.extensions_server_name",
              "tls.handshake.ciphersuite", "tls.record.version", "tls.record.length", "tls.handshake.version",
              "tls.handshake.extension.type", "tls.alert_message.desc", "tls.handshake.certificate_length",
              "x509af.serialNumber", "tls.handshake.ja3", "tls.handshake.ja3s"]


@pytest.mark.corpus
@pytest.mark.skipif(not (have_corpus() and have_tshark()), reason="needs ../shared/corpus and tshark")
@pytest.mark.parametrize("rel", TLS_CAPTURES)
def test_agrees_with_tshark(rel: str) -> None:
    assert_agrees(CORPUS / rel, TLS_FIELDS, require_values=True, check_error=False)
