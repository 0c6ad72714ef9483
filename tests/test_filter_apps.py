"""Display filters on application fields agree with tshark (issue 4).

200 filters — a fixed list covering each operator on the application fields,
then random combinations drawn from the values the fields take — run over a
merged set of corpus captures carrying DNS, DHCP, FTP, TLS, HTTP, SNMP and
NBNS; tracedoc (through ``tracedoc fields -Y`` for a sample, the compiled
filter for all) must select exactly the frames ``tshark -Y`` selects.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from tests.support.command import tracedoc_command
from tests.support.filter_agreement import compare_filters, merge, pick_captures, tshark_frames

FILTER_COUNT = 200
SEED = 20261126
PER_PROTOCOL = 3
"""Captures taken per application protocol."""

APP_PROTOCOLS = ["dns", "mdns", "dhcp", "ftp", "tls", "http", "snmp", "nbns"]

FIXED_FILTERS = r"""dns
dhcp
ftp
tls
http
snmp
nbns
dns && udp
dns.flags.response == 0
dns.flags.response == 1 && dns.flags.rcode == 0
dns.flags.rcode != 0
dns.flags.rcode == 3
dns.flags.rcode in {2, 3, 5}
dns.count.answers > 0
dns.count.answers == 0 && dns.flags.response == 1
dns.qry.type == 1
dns.qry.type == 28
dns.qry.type in {1, 28, 5}
dns.qry.type != 1
dns.qry.name contains "com"
dns.qry.name matches "^[a-z]+\\\\."
dns.qry.name == "www.google.com"
dns.id == 0
dns.id > 0x8000
!dns && udp
dhcp.option.dhcp == 1
dhcp.option.dhcp == 3
dhcp.option.dhcp in {2, 5}
dhcp.option.dhcp == 4
dhcp.ip.your != 0.0.0.0
dhcp.ip.your == 192.168.0.0/16
dhcp.id == 0
dhcp.id > 0x80000000
ftp.request.command == "USER"
ftp.request.command == "PASS"
ftp.request.command in {"PORT", "PASV", "EPRT", "EPSV"}
ftp.request.command != "USER"
ftp.request.arg contains "."
ftp.response.code == 220
ftp.response.code == 230 || ftp.response.code == 530
ftp.response.code >= 400
ftp.response.code in {200..299}
ftp.request.command matches "^(RETR|STOR)$"
tls.record.content_type == 22
tls.record.content_type == 23
tls.record.content_type == 21
tls.record.content_type != 23
tls.handshake.type == 1
tls.handshake.type == 2
tls.handshake.type == 11
tls.handshake.type in {1, 2}
tls.handshake.extensions_server_name
tls.handshake.extensions_server_name contains "google"
tls.handshake.ciphersuite == 0xc02f
tls.handshake.ciphersuite in {0x002f, 0x0035}
tls.handshake.ciphersuite > 0xc000
tls.handshake.type == 1 && !tls.handshake.extensions_server_name
http.request.method == "GET"
http.request.method == "POST"
http.request.method != "GET"
http.request.method in {"HEAD", "PUT", "DELETE", "OPTIONS"}
http.request.uri contains "?"
http.request.uri matches "\\\\.(gif|jpg|png)$"
http.request.uri == "/"
http.response.code == 200
http.response.code != 200
http.response.code >= 400
http.response.code in {301, 302, 304}
http.request && tcp.port != 80
snmp.community == "public"
snmp.community != "public"
snmp.community contains "pub"
nbns.name contains "WORKGROUP"
nbns.name matches "<00>$"
nbns
(dns || nbns) && ip.dst == 255.255.255.255
tcp.port == 21 && !ftp
ftp || http || tls""".splitlines()

# (field, kind) for the random generator.
GEN_FIELDS = [
    ("dns.id", "num"), ("dns.flags.response", "bool"), ("dns.flags.rcode", "num"), ("dns.qry.name", "str"),
    ("dns.qry.type", "num"), ("dns.count.answers", "num"), ("dhcp.option.dhcp", "num"), ("dhcp.id", "num"),
    ("dhcp.ip.your", "addr"), ("ftp.request.command", "str"), ("ftp.request.arg", "str"),
    ("ftp.response.code", "num"), ("tls.record.content_type", "num"), ("tls.handshake.type", "num"),
    ("tls.handshake.extensions_server_name", "str"), ("tls.handshake.ciphersuite", "num"),
    ("http.request.method", "str"), ("http.request.uri", "str"), ("http.response.code", "num"),
    ("snmp.community", "str"), ("nbns.name", "str"),
]
GEN_PROTOS = ["dns", "dhcp", "ftp", "tls", "http", "snmp", "nbns", "tcp", "udp"]


def _captures() -> list[Path]:
    """Small corpus captures, a few per application protocol."""
    return pick_captures(APP_PROTOCOLS, PER_PROTOCOL)


def _values(tbl: pa.Table) -> dict[str, list[str]]:
    """Texts of the values each generator field takes (every occurrence)."""
    from tracedoc.decode.display import format_field
    from tracedoc.decode.table import FIELDS

    out: dict[str, list[str]] = {}
    for name, kind in GEN_FIELDS:
        f = FIELDS[name]
        arr = tbl[name].combine_chunks()
        if f.multi:
            arr = arr.flatten()
            from dataclasses import replace
            f = replace(f, multi=False)
        arr = arr.drop_null()
        if f.type == "bool":
            vals = {str(int(v)) for v in arr.to_pylist()}
        else:
            vals = set(format_field(arr.unique(), f).to_pylist())
        out[name] = sorted(v for v in vals if v is not None and '"' not in v and "\\" not in v)
    return out


def _atom(rng: random.Random, values: dict[str, list[str]]) -> str:
    r = rng.random()
    if r < 0.1:
        return rng.choice(GEN_PROTOS)
    name, kind = rng.choice(GEN_FIELDS)
    vals = values.get(name) or []
    if r < 0.18 or not vals:
        return name
    v = rng.choice(vals)
    if kind == "str":
        q = f'"{v}"'
        c = rng.random()
        if c < 0.3 and len(v) > 2:
            i = rng.randrange(0, len(v) - 1)
            return f'{name} contains "{v[i:i + rng.randint(1, 4)]}"'
        if c < 0.4:
            picks = rng.sample(vals, min(len(vals), rng.randint(1, 3)))
            return f"{name} in {{{', '.join(chr(34) + p + chr(34) for p in picks)}}}"
        return f"{name} {rng.choice(['==', '!=', 'eq', 'ne'])} {q}"
    if kind == "addr" and rng.random() < 0.3:
        import ipaddress
        net = ipaddress.IPv4Network(f"{v}/{rng.choice([8, 16, 24])}", strict=False)
        return f"{name} {rng.choice(['==', '!='])} {net}"
    if kind == "num" and rng.random() < 0.25:
        picks = rng.sample(vals, min(len(vals), rng.randint(1, 3)))
        if rng.random() < 0.5:
            lo = int(picks[0], 0)
            picks[0] = f"{max(lo - rng.randint(0, 20), 0)}..{lo + rng.randint(0, 20)}"
        return f"{name} in {{{', '.join(picks)}}}"
    if kind in ("num", "addr") and rng.random() < 0.5:
        op = rng.choice(["<", ">", "<=", ">=", "lt", "ge"])
    elif kind == "bool":
        op = rng.choice(["==", "!="])
    else:
        op = rng.choice(["==", "!=", "eq", "ne"])
    return f"{name} {op} {v}"


def _expr(rng: random.Random, values: dict[str, list[str]], depth: int = 0) -> str:
    if depth >= 2 or rng.random() < 0.4:
        a = _atom(rng, values)
        return f"!({a})" if rng.random() < 0.15 else a
    op = rng.choice(["&&", "||", "and", "or"])
    e = f"{_expr(rng, values, depth + 1)} {op} {_expr(rng, values, depth + 1)}"
    return f"({e})" if rng.random() < 0.5 else e


def test_application_filters_agree_with_tshark(tmp_path: Path) -> None:
    from tests.support.corpus import have_corpus, have_tshark

    if not have_corpus() or not have_tshark() or shutil.which("mergecap") is None:
        pytest.skip("needs the corpus, tshark and mergecap")
    import tracedoc

    caps = _captures()
    assert len(caps) >= 15, caps
    merged = merge(caps, tmp_path / "apps.pcapng")
    tbl = tracedoc.open(merged).packets
    rng = random.Random(SEED)
    values = _values(tbl)
    filters = list(dict.fromkeys(FIXED_FILTERS))
    while len(filters) < FILTER_COUNT:
        e = _expr(rng, values)
        if e not in filters:
            filters.append(e)
    res = compare_filters(tbl, merged, filters)
    checked, bad, rejected = res.checked, res.bad, res.rejected
    print(f"\napplication display filters: {checked - len(bad)}/{checked} select exactly tshark's frames "
          f"({tbl.num_rows} frames from {len(caps)} captures; tshark rejected {len(rejected)})", file=sys.stderr)
    for b in bad:
        print("  DIFF", b, file=sys.stderr)
    assert not rejected, rejected
    assert checked == FILTER_COUNT
    assert not bad, "\n".join(bad)


def test_cli_fields_display_filter_on_application_fields(tmp_path: Path) -> None:
    """``tracedoc fields -Y`` prints exactly the frames ``tshark -Y`` prints."""
    from tests.support.corpus import have_corpus, have_tshark

    if not have_corpus() or not have_tshark():
        pytest.skip("needs the corpus and tshark")
    caps = [c for c in _captures() if "dns" in c.name or "ftp" in c.parts[-2] or "http" in c.name][:3] or _captures()[:3]
    for cap in caps:
        for flt in ("dns.flags.response == 1", "ftp.request.command", "http.request.method == \"GET\"",
                    "tls.handshake.type == 1"):
            want = tshark_frames(cap, flt)
            p = subprocess.run([*tracedoc_command(), "fields", str(cap), "-e", "frame.number", "-Y", flt],
                               capture_output=True, text=True, timeout=120)
            assert p.returncode == 0, p.stderr
            assert [int(x) for x in p.stdout.split()] == want, (cap, flt)
