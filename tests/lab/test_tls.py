"""TLS faults from real stacks: openssl s_server and s_client.

- ``tls.handshake_failure`` (the seed's case) and ``tls.alert``: a client that
  offers only TLS 1.0 against a server that speaks only TLS 1.3 (the server
  answers the ClientHello with a fatal protocol_version alert), and a client
  whose cipher suites the server refuses (fatal handshake_failure).
- ``tls.certificate_expired``: the server's certificate expired yesterday; a
  TLS 1.2 client that verifies it (trusting the certificate itself, so expiry
  is the only fault) rejects it with a fatal certificate_expired alert.
- ``tls.deprecated_version``: server and client both forced to TLS 1.0 or
  1.1 (allowed by Debian's OpenSSL 3 only at security level 0).

Clean twins: the same server and client agreeing on TLS 1.3 or 1.2 with a
valid certificate.  Expected evidence is tshark's selection of the frames
that prove the fault.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.lab import (
    Network,
    Topology,
    assert_clean,
    assert_fires,
    diagnose,
    of_rule,
    tshark_fields,
    tshark_frames,
    two_hosts,
)
from tests.lab.conftest import require

pytestmark = pytest.mark.lab

NAME = "site.test"
PORT = 443
OLD = "DEFAULT@SECLEVEL=0"   # OpenSSL 3 refuses TLS 1.0/1.1 above security level 0


def make_cert(workdir: Path, days_left: float) -> tuple[Path, Path]:
    """A self-signed certificate for NAME valid from 30 days ago until ``days_left``
    days from now (negative: expired); its key and certificate files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tracedoc lab")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=30)).not_valid_after(now + dt.timedelta(days=days_left))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
            .sign(key, hashes.SHA256()))
    tag = "expired" if days_left < 0 else "valid"
    kf, cf = workdir / f"{tag}-key.pem", workdir / f"{tag}-cert.pem"
    kf.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    cf.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return kf, cf


def serve(net: Network, t: Topology, cert: tuple[Path, Path], *opts: str) -> None:
    """s_server on the server's address, answering one connection with a web page."""
    key, crt = cert
    proc = net.spawn(t.server, ["openssl", "s_server", "-accept", f"{t.server.ip}:{PORT}", "-cert", str(crt),
                                "-key", str(key), "-www", "-naccept", "1", *opts], "s_server")
    net.wait_listening(t.server, "tcp", PORT, proc)


def connect(net: Network, t: Topology, *opts: str) -> tuple[int, str]:
    """One s_client connection asking for a page; (exit status, output)."""
    r = net.run(t.client, ["openssl", "s_client", "-connect", f"{t.server.ip}:{PORT}", "-servername", NAME,
                           "-ign_eof", *opts], input="GET / HTTP/1.0\r\n\r\n", timeout=15, check=False)
    return r.returncode, r.stdout + r.stderr


def alert_name(info: str) -> str:
    """tshark's Info "Alert (Level: Fatal, Description: Protocol Version)" -> "Protocol Version"."""
    return info.split("Description: ", 1)[1].split(")", 1)[0]


@pytest.fixture
def tls(net: Network) -> Topology:
    require(tools=["openssl"])
    return two_hosts(net)


# -- tls.handshake_failure (seed) and tls.alert ------------------------------------

FAULTS = {
    # client options, server options
    "version": (["-tls1", "-cipher", OLD], ["-tls1_3"]),
    "cipher": (["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
               ["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"]),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_handshake_failure(net: Network, tls: Topology, tmp_path: Path, fault: str) -> None:
    client_opts, server_opts = FAULTS[fault]
    serve(net, tls, make_cert(net.workdir, 2), *server_opts)
    with net.capture(tmp_path / f"{fault}.pcap", tls.client.ifaces[0]) as pcap:
        rc, out = connect(net, tls, *client_opts)
    assert rc != 0 and "HTTP/1.0 200" not in out, out
    findings = diagnose(pcap)
    hello = tshark_frames(pcap, "tls.handshake.type == 1")
    alerts = tshark_fields(pcap, "tls.alert_message", "frame.number", "ip.src", "_ws.col.Info")
    assert len(hello) == 1 and len(alerts) == 1 and tshark_frames(pcap, "tls.handshake.type == 2") == [], out
    frame, src, info = alerts[0]
    assert src == tls.server.ip
    failed = assert_fires(findings, "tls.handshake_failure", hello + [int(frame)], exact=True,
                          details={"server": tls.server.ip, "server_port": PORT, "sni": NAME,
                                   "alert": alert_name(info), "alert_from": "server", "alert_level": "fatal"})
    # What the client offered, as tshark decodes its ClientHello.
    (version, ciphers), = tshark_fields(pcap, "tls.handshake.type == 1", "tls.handshake.version",
                                        "tls.handshake.ciphersuite")
    assert len(failed[0]["details"]["offered_cipher_suites"]) == len(ciphers.split(","))
    if fault == "version":
        assert version == "0x0301" and failed[0]["details"]["offered_versions"] == ["TLS 1.0"]
    # The alert itself, on its connection (the lead may nest it under the failure).
    assert_fires(findings, "tls.alert", [int(frame)], exact=True, severity="error",
                 details={"server": tls.server.ip, "fatal": True})
    assert {s for f in of_rule(findings, "tls.alert") for s in f["sessions"]} <= set(failed[0]["sessions"])


def test_handshake_clean_twin(net: Network, tls: Topology, tmp_path: Path) -> None:
    serve(net, tls, make_cert(net.workdir, 2), "-tls1_3")
    with net.capture(tmp_path / "ok13.pcap", tls.client.ifaces[0]) as pcap:
        rc, out = connect(net, tls, "-tls1_3", "-quiet")
    assert rc == 0 and "HTTP/1.0 200" in out, out
    assert tshark_frames(pcap, "tls.handshake.type == 2")
    assert_clean(diagnose(pcap))


# -- tls.certificate_expired ---------------------------------------------------------

def _verify_run(net: Network, tls: Topology, tmp_path: Path, days_left: float, name: str) -> tuple[Path, str]:
    key, crt = make_cert(net.workdir, days_left)
    serve(net, tls, (key, crt))
    with net.capture(tmp_path / f"{name}.pcap", tls.client.ifaces[0]) as pcap:
        # TLS 1.2: the certificate travels in the clear.  The client trusts
        # this very certificate, so its dates are the only thing to fail.
        rc, out = connect(net, tls, "-tls1_2", "-CAfile", str(crt), "-verify_return_error", "-quiet")
    return pcap, out


def test_certificate_expired(net: Network, tls: Topology, tmp_path: Path) -> None:
    pcap, out = _verify_run(net, tls, tmp_path, -1, "expired")
    assert "certificate has expired" in out, out
    findings = diagnose(pcap)
    (cert_frame, capture_time, times), = tshark_fields(pcap, "tls.handshake.certificate", "frame.number",
                                                       "frame.time_epoch", "x509af.utcTime")
    not_before, not_after = times.split(",")
    expires = dt.datetime.strptime(not_after, "%Y-%m-%d %H:%M:%S (UTC)").replace(tzinfo=dt.timezone.utc)
    assert expires.timestamp() < float(capture_time)
    told = tshark_frames(pcap, "tls.alert_message.desc == 45")   # certificate_expired, from the client
    assert told and tshark_fields(pcap, "tls.alert_message.desc == 45", "ip.src")[0] == [tls.client.ip]
    assert_fires(findings, "tls.certificate_expired", [int(cert_frame)] + told, exact=True, severity="error",
                 details={"state": "expired", "position": 0, "sender": "server", "server": tls.server.ip,
                          "server_port": PORT, "not_after": expires.strftime("%Y-%m-%d %H:%M:%S UTC")})
    # The handshake failed because of it, with the client's alert.
    assert_fires(findings, "tls.handshake_failure", told, details={"alert_from": "client",
                                                                   "alert": "Certificate Expired"})


def test_certificate_clean_twin(net: Network, tls: Topology, tmp_path: Path) -> None:
    pcap, out = _verify_run(net, tls, tmp_path, 30, "valid")
    assert "HTTP/1.0 200" in out, out
    assert tshark_frames(pcap, "tls.handshake.certificate")
    assert_clean(diagnose(pcap))


# -- tls.deprecated_version -------------------------------------------------------------

@pytest.mark.parametrize("flag, wire, name", [("-tls1", "0x0301", "TLS 1.0"), ("-tls1_1", "0x0302", "TLS 1.1")])
def test_deprecated_version(net: Network, tls: Topology, tmp_path: Path, flag: str, wire: str, name: str) -> None:
    serve(net, tls, make_cert(net.workdir, 2), flag, "-cipher", OLD)
    with net.capture(tmp_path / "old.pcap", tls.client.ifaces[0]) as pcap:
        rc, out = connect(net, tls, flag, "-cipher", OLD, "-quiet")
    if rc != 0 and "HTTP/1.0 200" not in out:
        pytest.fail(f"this OpenSSL would not speak {name} even at security level 0:\n{out}")
    hellos = tshark_fields(pcap, "tls.handshake.type == 2", "frame.number", "tls.handshake.version")
    assert [v for _, v in hellos] == [wire]
    frames = tshark_frames(pcap, "tls.handshake.type == 1 || tls.handshake.type == 2")
    assert_fires(diagnose(pcap), "tls.deprecated_version", frames, exact=True, severity="warning",
                 details={"server": tls.server.ip, "server_port": PORT, "version": name, "connections": 1})


def test_deprecated_version_clean_twin(net: Network, tls: Topology, tmp_path: Path) -> None:
    serve(net, tls, make_cert(net.workdir, 2), "-tls1_2")
    with net.capture(tmp_path / "tls12.pcap", tls.client.ifaces[0]) as pcap:
        rc, out = connect(net, tls, "-tls1_2", "-quiet")
    assert rc == 0 and "HTTP/1.0 200" in out, out
    assert tshark_fields(pcap, "tls.handshake.type == 2", "tls.handshake.version") == [["0x0303"]]
    assert_clean(diagnose(pcap))
