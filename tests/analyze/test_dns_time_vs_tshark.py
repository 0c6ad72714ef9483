"""DNS request/response tracking against tshark: ``dns.time`` and its companions.

tshark's DNS dissector pairs queries and responses per conversation and
transaction ID, treats a repeated unanswered query younger than 5 s as a
retransmission and times the answer from the *first* query.  tracedoc's
:class:`~tracedoc.analyze.transactions.DnsTime` deriver must give the same
``dns.time``, ``dns.response_to``, ``dns.retransmission``,
``dns.retransmit_request_in``, ``dns.retransmit_response_in`` and
``dns.unsolicited`` as ``tshark -T fields`` (one pass) on every frame.

Two checks: traffic this test builds with every case the matching has
(retransmitted queries and responses, the 5 s timer, AXFR's many responses
over TCP, a reused TCP port pair, unsolicited answers, time going backwards,
a query quoted in an ICMP error, mDNS, DNS in GRE and VXLAN tunnels), compared
on every frame and field; and every capture of the shared corpus with DNS
(``corpus`` mark).
"""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest

import tracedoc
from tests.support import pcapgen as g
from tests.support.corpus import DECODED_LINKTYPES, have_corpus, have_tshark
from tracedoc.analyze.transactions import DNS_FIELDS

pytestmark = pytest.mark.skipif(not have_tshark(), reason="tshark is not installed (scripts/setup.sh installs it)")

NAMES = [f.name for f in DNS_FIELDS]
EXTRA = ["dns.id", "ip.src", "ipv6.src", "_ws.malformed", "icmp.type", "icmpv6.type"]
MS = 1_000_000


def tshark_fields(path: Path) -> list[list[str]]:
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=a"]
    for f in EXTRA + NAMES:
        cmd += ["-e", f]
    p = subprocess.run(cmd, capture_output=True, env=dict(os.environ, LC_ALL="C.UTF-8"), timeout=600, check=False)
    return [ln.split("\t") for ln in p.stdout.decode("utf-8", "replace").split("\n")[:-1]]


def tracedoc_fields(path: Path) -> dict[str, list]:
    """The six derived columns, per frame."""
    out: dict[str, list] = {n: [] for n in NAMES}
    for b in tracedoc.open(path).iter_packets(columns=NAMES):
        for n in NAMES:
            out[n] += b.column(n).to_pylist()
    return out


def as_text(name: str, v) -> str:
    """tshark's text for a value of the deriver (times compared as ns elsewhere)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


def ns(text: str) -> int:
    """tshark's relative time (``-0.500000000``) in nanoseconds, exactly."""
    neg = text.startswith("-")
    sec, _, frac = text.lstrip("-").partition(".")
    v = int(sec) * 1_000_000_000 + int(frac.ljust(9, "0")[:9])
    return -v if neg else v


def compare(ts: list[list[str]], td: dict[str, list]) -> tuple[list, dict[str, int]]:
    """Disagreements (frame, field, tshark, tracedoc) and counts per class of frame."""
    bad = []
    counts = {"frames": 0, "matched responses": 0, "tunnelled responses": 0, "values": 0, "several messages": 0,
              "malformed for tshark": 0, "left-out responses tshark timed": 0}
    n = len(td[NAMES[0]])
    assert len(ts) == n, f"tshark shows {len(ts)} frames, tracedoc {n}"
    for i, line in enumerate(ts):
        line = line + [""] * (len(EXTRA) + len(NAMES) - len(line))
        ids, ip4, ip6, mal, icmp4, icmp6 = (x.split(",") if x else [] for x in line[:len(EXTRA)])
        ts_vals = dict(zip(NAMES, line[len(EXTRA):]))
        counts["frames"] += 1
        skip = None
        if len(ids) > 1:
            skip = "several messages"
        elif ids and any("DNS" in m for m in mal):
            skip = "malformed for tshark"
        if skip is not None:
            counts[skip] += 1
            if ts_vals["dns.time"]:
                counts["left-out responses tshark timed"] += 1
            continue
        if ts_vals["dns.time"]:
            counts["matched responses"] += 1
            if len(ip4) + len(ip6) > 1 and not icmp4 + icmp6:
                counts["tunnelled responses"] += 1
        for name in NAMES:
            want, got = ts_vals[name], td[name][i]
            if want or got is not None:
                counts["values"] += 1
            if name == "dns.time":
                same = (not want and got is None) or (bool(want) and got == ns(want))
            else:
                same = want == as_text(name, got)
            if not same:
                bad.append((i + 1, name, want, got))
    return bad, counts


# -- traffic built for the test ------------------------------------------------------

C, S, M = "10.0.0.1", "10.0.0.2", "10.0.0.9"


def msg(ident: int, response: bool, qtype: int = 1, name: str = "www.example.com") -> bytes:
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack("!HH", qtype, 1)
    return struct.pack("!HHHHHH", ident, 0x8180 if response else 0x0100, 1, 0, 0, 0) + q


def frame(src: str, dst: str, proto: int, l4: bytes) -> bytes:
    return g.ether("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800, g.ipv4(src, dst, proto, l4))


def dns_udp(src: str, sport: int, dst: str, dport: int, payload: bytes) -> bytes:
    return frame(src, dst, 17, g.udp(sport, dport, payload))


T1, T2 = "192.0.2.1", "192.0.2.2"  # tunnel ends


def gre(src: str, dst: str, inner_ip: bytes) -> bytes:
    """An IPv4 packet in GRE (RFC 2784: no options, protocol type IPv4)."""
    return frame(src, dst, 47, struct.pack("!HH", 0, 0x0800) + inner_ip)


def vxlan(src: str, sport: int, dst: str, inner_frame: bytes) -> bytes:
    """An Ethernet frame in VXLAN (RFC 7348: flags with the VNI bit, VNI 42) to UDP port 4789."""
    return frame(src, dst, 17, g.udp(sport, 4789, struct.pack("!II", 0x08000000, 42 << 8) + inner_frame))


def built(tmp_path: Path) -> Path:
    q, r = (lambda i, **k: dns_udp(C, 4000, S, 53, msg(i, False, **k))), \
        (lambda i, **k: dns_udp(S, 53, C, 4000, msg(i, True, **k)))
    seq = {"c": 1000, "s": 9000}

    def tcp(from_client: bool, flags: int, payload: bytes = b"", sport: int = 4100) -> bytes:
        me, peer = ("c", "s") if from_client else ("s", "c")
        src, dst = (C, S) if from_client else (S, C)
        sp, dp = (sport, 53) if from_client else (53, sport)
        f = frame(src, dst, 6, g.tcp(sp, dp, seq[me], seq[peer] if flags & 0x10 else 0, flags, 65535,
                                     payload=payload))
        seq[me] += len(payload) + (1 if flags & 0x02 else 0)
        return f

    def dns_tcp(m: bytes) -> bytes:
        return struct.pack("!H", len(m)) + m

    timed: list[tuple[int, bytes]] = [
        (0, q(1)), (1000 * MS, q(1)),                 # a retransmitted query
        (1500 * MS, r(1)), (1600 * MS, r(1)),         # its answer, and the answer again
        (2000 * MS, r(2)),                            # unsolicited
        (3000 * MS, q(3)), (9000 * MS, q(3)),         # 6 s apart: two queries
        (9100 * MS, r(3)),
        (10000 * MS, q(4)), (9500 * MS, r(4)),        # the clock went backwards
        (11000 * MS, q(1)), (11010 * MS, r(1)),       # ID 1 again, after its answer: a new query
        # AXFR over TCP: one query, several responses.
        (12000 * MS, tcp(True, 0x02)), (12001 * MS, tcp(False, 0x12)), (12002 * MS, tcp(True, 0x10)),
        (12003 * MS, tcp(True, 0x18, dns_tcp(msg(5, False, 252)))),
        (12050 * MS, tcp(False, 0x18, dns_tcp(msg(5, True, 252)))),
        (12060 * MS, tcp(False, 0x18, dns_tcp(msg(5, True, 252)))),
        (12070 * MS, tcp(True, 0x18, dns_tcp(msg(8, False)))),   # left unanswered
    ]
    # The same port pair again with a new ISN: a new conversation, where
    # ID 8 (unanswered in the old one 1 s ago) is a new query, no retransmission.
    seq["c"] = 777777
    timed += [(13000 * MS, tcp(True, 0x02)), (13001 * MS, tcp(False, 0x12)), (13002 * MS, tcp(True, 0x10)),
              (13003 * MS, tcp(True, 0x18, dns_tcp(msg(8, False)))),
              (13020 * MS, tcp(False, 0x18, dns_tcp(msg(8, True)))),
              (13030 * MS, tcp(False, 0x18, dns_tcp(msg(8, True))))]
    # A query quoted in a port unreachable is no query, a quoted response is
    # unsolicited (tshark finds no query for it); mDNS pairs per conversation too.
    quoted = g.ipv4(C, S, 17, g.udp(4001, 53, msg(6, False)))
    quoted_answer = g.ipv4(S, C, 17, g.udp(53, 4001, msg(6, True)))
    # A quote that ends inside the answer record its header counts: tshark
    # stops where the quote does and shows nothing.
    answered = bytearray(msg(6, True))
    answered[7] = 1
    cut_answer = g.ipv4(S, C, 17, g.udp(53, 4001, bytes(answered) + b"\xc0\x0c\x00\x01"))
    timed += [(14000 * MS, dns_udp(C, 4001, S, 53, msg(6, False))),
              (14001 * MS, frame(S, C, 1, g.icmp(3, 3, b"\0\0\0\0", quoted))),
              (14002 * MS, dns_udp(S, 53, C, 4001, msg(6, True))),
              (14003 * MS, frame(C, S, 1, g.icmp(3, 3, b"\0\0\0\0", quoted_answer))),
              (14004 * MS, frame(C, S, 1, g.icmp(3, 3, b"\0\0\0\0", cut_answer))),
              (15000 * MS, dns_udp(C, 5353, "224.0.0.251", 5353, msg(0, False, name="printer.local"))),
              (15001 * MS, dns_udp(M, 5353, "224.0.0.251", 5353, msg(0, True, name="printer.local"))),
              (15002 * MS, dns_udp(C, 5353, "224.0.0.251", 5353, msg(0, False, name="printer.local")))]
    # Tunnelled DNS pairs on the innermost addresses and ports, as Wireshark
    # keys it: a query in GRE answered outside the tunnel, a query and answer
    # in VXLAN (the outer UDP ports differ each way), and an answer from
    # another inner host through the same GRE tunnel ends (unsolicited).
    timed += [(16000 * MS, gre(T1, T2, g.ipv4(C, S, 17, g.udp(4002, 53, msg(9, False))))),
              (16010 * MS, dns_udp(S, 53, C, 4002, msg(9, True))),
              (16100 * MS, vxlan(T1, 50001, T2, dns_udp(C, 4003, S, 53, msg(10, False)))),
              (16120 * MS, vxlan(T2, 50002, T1, dns_udp(S, 53, C, 4003, msg(10, True)))),
              (16200 * MS, gre(T1, T2, g.ipv4(C, S, 17, g.udp(4004, 53, msg(11, False))))),
              (16210 * MS, gre(T2, T1, g.ipv4(M, C, 17, g.udp(53, 4004, msg(11, True)))))]
    recs = [g.Rec(g.BASE_TS + t, f, len(f)) for t, f in timed]
    data, _ = g.pcap_file(recs, nsec=True)
    p = tmp_path / "dns.pcap"
    p.write_bytes(data)
    return p


def test_built_traffic_agrees_with_tshark_on_every_frame(tmp_path):
    path = built(tmp_path)
    ts = tshark_fields(path)
    bad, counts = compare(ts, tracedoc_fields(path))
    assert bad == []
    # What tshark said, so the test is known to cover each case.
    col = {n: [ln[len(EXTRA) + i] if len(ln) > len(EXTRA) + i else "" for ln in ts] for i, n in enumerate(NAMES)}
    assert col["dns.time"][2] == "1.500000000"                  # timed from the first query
    assert col["dns.retransmit_request_in"][1] == "1"
    assert col["dns.retransmit_response_in"][3] == "3"
    assert col["dns.unsolicited"][4] == "1"
    assert col["dns.response_to"][7] == "7"                     # the 6 s later query
    assert col["dns.time"][9] == "-0.500000000"
    assert col["dns.time"][16] != "" and col["dns.time"][17] != ""  # AXFR: both responses timed
    assert col["dns.retransmission"][22] == ""                  # new conversation: a new query
    assert col["dns.response_to"][23] == "23" and col["dns.retransmit_response_in"][24] == "24"
    assert col["dns.response_to"][27] == "26"                   # the ICMP quote changed nothing
    assert col["dns.unsolicited"][28] == "1"                    # the quoted response
    assert col["dns.unsolicited"][29] == ""                     # ... cut short
    assert col["dns.retransmit_request_in"][32] == "31"         # mDNS: the answer came from another host
    assert col["dns.time"][34] == "0.010000000"                 # GRE query, plain answer
    assert col["dns.time"][36] == "0.020000000"                 # VXLAN both ways
    assert col["dns.unsolicited"][38] == "1"                    # another inner host
    assert counts["matched responses"] >= 10


# -- the corpus ---------------------------------------------------------------------------

def _dns_captures() -> list[tuple[str, Path]]:
    import csv

    from tests.support.corpus import CORPUS, MANIFEST

    out = []
    with open(MANIFEST, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            protos = {p.split("=")[0] for p in row["tshark_protocols(frames)"].split(",") if "=" in p}
            lts = {int(x.split(":")[0]) for x in row["linktypes"].split() if x.split(":")[0].isdigit()}
            if protos & {"dns", "mdns", "llmnr"} and lts and lts <= DECODED_LINKTYPES \
                    and not row["tshark_read_error"]:
                out.append((row["path"], CORPUS / row["path"]))
    return out


def _cached_tshark(cache, rel: str, path: Path) -> list[list[str]]:
    st = path.stat()
    key = f"tracedoc/dns_time/{rel}"
    stamp = [st.st_size, st.st_mtime_ns, EXTRA + NAMES]
    got = cache.get(key, None)
    if got is not None and got.get("stamp") == stamp:
        return got["lines"]
    lines = tshark_fields(path)
    cache.set(key, {"stamp": stamp, "lines": lines})
    return lines


@pytest.mark.corpus
@pytest.mark.skipif(not have_corpus(), reason="../shared/corpus is not there")
def test_corpus_dns_time_agrees_with_tshark(cache):
    """Every DNS capture tracedoc decodes the link layer of, every frame,
    tunnelled ones included (GRE, ERSPAN, VXLAN, Teredo ...: the matching is
    keyed on the innermost addresses and ports, as Wireshark's; the responses
    tshark times in a tunnel are counted as *tunnelled responses*).  Frames
    left out of the comparison, each counted and printed, for limits of the
    packet table rather than of the matching:

    - *several messages*: tshark shows more than one DNS message in the frame
      (DNS over TCP); the packet table holds one message's header per frame,
      so the later messages are not tracked.
    - *malformed for tshark*: tshark's DNS dissector threw an exception
      (``_ws.malformed`` names DNS), which stops it before the tracking fields
      are shown; tracedoc's decoder does not flag every such message (e.g. an
      SVCB or LOC record whose length disagrees with its contents), and so
      shows the response time tshark would have shown.
    """
    caps = _dns_captures()
    assert len(caps) > 100
    total: dict[str, int] = {}
    bad_all = []
    for rel, path in caps:
        if not path.exists():
            continue
        bad, counts = compare(_cached_tshark(cache, rel, path), tracedoc_fields(path))
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
        bad_all += [(rel, *b) for b in bad]
    print(f"\ndns tracking vs tshark over {len(caps)} captures: {total}; disagreements: {len(bad_all)}")
    for b in bad_all[:20]:
        print("  ", b)
    assert total["matched responses"] >= 200
    assert total["tunnelled responses"] >= 5
    assert bad_all == []
