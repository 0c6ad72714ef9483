"""What the export tests share: running the real CLI (with ``export`` and
``report`` registered, whether or not main.py does it yet), the captures
they use, and hostile captures built with :mod:`tests.support.pcapgen`."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import pcapgen
from tests.support.corpus import CORPUS, have_corpus

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "sample.pcap"

CORPUS_CAPTURES = [
    "zeek/testing/btest/Traces/ftp/bruteforce.pcap",   # one finding explaining 60 others (nesting)
    "dpkt/examples/data/nb6-http.pcap",                # PPPoE, IPv6, ICMP errors
    "libpcap/tests/filter/geneve.pcap",                # tunnels: list columns (tunnel_parents)
    "scapy/doc/notebooks/tls/raw_data/tls_nss_example.pcap",  # TLS handshakes
]

# The CLI's ``main`` with ``export`` and ``report`` added when main.py does not register them (yet).
_RUN = """
import sys
from tracedoc.cli.main import main
if "export" not in main.commands:
    from tracedoc.cli.export_cmd import export, report
    main.add_command(export)
    main.add_command(report)
main(prog_name="tracedoc")
"""

ENV = {**os.environ, "TZ": "UTC", "COLUMNS": "200",
       "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
"""Times in the CLI's views and the xlsx in one known zone; this work tree's code, whatever is installed."""


def tracedoc(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``tracedoc ARGS`` as a user would (a fresh process, the real entry point)."""
    r = subprocess.run([sys.executable, "-c", _RUN, *map(str, args)], capture_output=True, text=True,
                       timeout=300, env=ENV, cwd=REPO)
    if check:
        assert r.returncode == 0, f"tracedoc {' '.join(map(str, args))}: exit {r.returncode}\n{r.stderr}"
    return r


def corpus_capture(rel: str) -> Path:
    if not have_corpus():
        pytest.skip("the shared corpus is not here")
    path = CORPUS / rel
    if not path.is_file():
        pytest.skip(f"{rel} is not in the corpus")
    return path


# -- hostile captures ------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
DNS_NAME = SCRIPT.encode() + b".=cmd|' /C calc'!A0.@x"
HTTP_URI = b"/<script>\x01\x1b\x0c\xc3\xa9\xe6\x97\xa5"
"""Control characters and UTF-8 (é, 日) in a URI: the HTTP decoder keeps them as they are."""


def _udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    return pcapgen.ether("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800,
                         pcapgen.ipv4(src, dst, 17, pcapgen.udp(sport, dport, payload)))


def _tcp(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
    return pcapgen.ether("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800,
                         pcapgen.ipv4(src, dst, 6, pcapgen.tcp(sport, dport, seq, ack, flags, 64240,
                                                               payload=payload)))


def _dns(flags: int, name: bytes) -> bytes:
    labels = b"".join(bytes([len(p)]) + p for p in name.split(b".")) + b"\0"
    return struct.pack("!HHHHHH", 0x4242, flags, 1, 0, 0, 0) + labels + struct.pack("!HH", 1, 1)


def hostile_capture(path: Path) -> Path:
    """A DNS query whose name holds ``<script>`` and a spreadsheet formula,
    answered NXDOMAIN (a finding), and an HTTP GET whose URI holds control
    characters and UTF-8, answered 3 s later (slower than HTTP's 2 s
    threshold, so the report lists it)."""
    c, dns, web = "192.0.2.1", "192.0.2.53", "192.0.2.80"
    req = b"GET " + HTTP_URI + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    rsp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    t = pcapgen.BASE_TS
    pkts = [
        (t, _udp(c, dns, 40000, 53, _dns(0x0100, DNS_NAME))),
        (t + 2_000_000, _udp(dns, c, 53, 40000, _dns(0x8183, DNS_NAME))),
        (t + 10_000_000, _tcp(c, web, 40001, 80, 1000, 0, 0x02)),
        (t + 11_000_000, _tcp(web, c, 80, 40001, 5000, 1001, 0x12)),
        (t + 12_000_000, _tcp(c, web, 40001, 80, 1001, 5001, 0x10)),
        (t + 13_000_000, _tcp(c, web, 40001, 80, 1001, 5001, 0x18, req)),
        (t + 3_013_000_000, _tcp(web, c, 80, 40001, 5001, 1001 + len(req), 0x18, rsp)),
    ]
    recs = [pcapgen.Rec(ts, p, len(p)) for ts, p in pkts]
    path.write_bytes(pcapgen.pcap_file(recs)[0])
    return path
