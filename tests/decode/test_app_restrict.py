"""The application pass decodes only what a view asks for, and that changes
nothing in what it gives.

Asked for one protocol's columns, the pass skips the conversations of the
others; a protocol that can hand its stream over (STARTTLS in FTP, SMTP,
POP, IMAP; HTTP CONNECT) is still decoded when the protocol it hands to is
wanted.  Over corpus captures that mix protocols, each protocol's columns
asked for alone must equal the same columns of the full decode.  With
``skip_opaque`` (``tracedoc diagnose``), TLS stops once both sides encrypt:
every handshake message, alert and certificate the full decode shows is
still there, and nothing else differs where both have a value.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

import tracedoc
from tests.support.corpus import CORPUS, captures, have_corpus
from tracedoc.decode.dispatch import APP_PROTOCOLS

pytestmark = pytest.mark.skipif(not have_corpus(), reason="../shared/corpus is not there")

MIXED = [
    "zeek/testing/btest/Traces/ftp/ftp-auth-tls.pcap",           # FTP AUTH TLS
    "zeek/testing/btest/Traces/http/connect-with-header.pcap",   # HTTP CONNECT, then TLS
    "zeek/testing/btest/Traces/smtp.pcap",                       # SMTP, DNS, NBDGM, TLS on other ports
    "zeek/testing/btest/Traces/tls/imap-starttls.pcap",
    "zeek/testing/btest/Traces/tls/pop3-starttls.pcap",
    "zeek/testing/btest/Traces/tls/smtp-starttls.pcap",
]


def _mixed_more(limit: int = 14) -> list[str]:
    """Small corpus captures with at least three application protocols."""
    apps = ("dns", "dhcp", "snmp", "ntp", "http", "ftp", "smtp", "pop", "imap", "telnet", "tls", "nbns")
    out = []
    for c in captures():
        if c.rel in MIXED or not c.tshark_reads or c.packets > 3000:
            continue
        protos = {p.split("=")[0] for p in _protocols(c.rel).split(",")}
        if len(protos.intersection(apps)) >= 3:
            out.append(c.rel)
    return out[:limit]


def _protocols(rel: str) -> str:
    import csv

    with open(CORPUS / "MANIFEST.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["path"] == rel:
                return row["tshark_protocols(frames)"]
    return ""


def _module_columns() -> list[tuple[str, list[str]]]:
    return [(m.NAME, [f.name for f in m.FIELDS]) for m in APP_PROTOCOLS if getattr(m, "NAME", None) and m.FIELDS]


@pytest.mark.parametrize("rel", MIXED + _mixed_more() if have_corpus() else [])
def test_each_protocol_alone_equals_the_full_decode(rel: str) -> None:
    path = CORPUS / rel
    full = tracedoc.open(path).table()
    assert full.num_rows > 0
    for name, cols in _module_columns():
        alone = tracedoc.open(path).table(cols)
        for c in cols:
            assert alone[c].equals(full[c]), f"{rel}: {name} alone gives another {c}"


def _tls_rows(tbl: pa.Table, name: str) -> set[int]:
    col = tbl[name].combine_chunks()
    return {i for i, v in enumerate(col.to_pylist()) if v is not None and v != []}


@pytest.mark.parametrize("rel", [r for r in MIXED if "tls" in _protocols(r)] if have_corpus() else [])
def test_skip_opaque_keeps_every_handshake_and_alert(rel: str) -> None:
    path = CORPUS / rel
    full = tracedoc.open(path).table()
    light = tracedoc.open(path).table(skip_opaque=True)
    sealed = 0
    for name in ("tls.handshake.type", "tls.alert_message.desc", "tls.handshake.certificate",
                 "tls.handshake.extensions_server_name"):
        assert _tls_rows(full, name) <= _tls_rows(light, name), f"{rel}: {name} lost"
    for c in full.column_names:
        a, b = full[c].to_pylist(), light[c].to_pylist()
        for i, (x, y) in enumerate(zip(a, b)):
            if x is not None and y is not None:
                assert x == y, f"{rel}: frame {i + 1} {c}: {x!r} vs {y!r}"
            elif c == "tls.record.content_type" and x is not None:
                sealed += 1
    print(f"{rel}: {sealed} sealed TLS records not decoded")


@pytest.mark.parametrize("rel", MIXED if have_corpus() else [])
def test_details_with_the_frames_protocols_only_equal_the_full_decode(rel: str) -> None:
    """Packet Details told which application protocols a frame carries (the
    web UI knows them from the table) decode only those on the way: every
    such frame's details equal those of the full decode."""
    import datetime as dt

    from tracedoc.cli.details_cmd import collect, json_object

    path = CORPUS / rel
    tbl = tracedoc.open(path).table(["frame.number", "tracedoc.app"])
    carrying = [(int(n), list(a)) for n, a in zip(tbl["frame.number"].to_pylist(), tbl["tracedoc.app"].to_pylist())
                if a]
    assert carrying
    full, _, _ = collect(tracedoc.open(path), [n for n, _ in carrying])
    by_number = {f.number: f for f in full}
    for n, apps in carrying:
        [fast], _, _ = collect(tracedoc.open(path), [n], apps=apps)
        assert json_object(fast, dt.timezone.utc) == json_object(by_number[n], dt.timezone.utc), f"{rel} frame {n}"
