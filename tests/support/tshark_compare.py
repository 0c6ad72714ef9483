"""Compare ``tracedoc fields`` with ``tshark -T fields`` on one capture.

Run as a script to list disagreements over the corpus:

    python -m tests.support.tshark_compare [--field F] [--show N] [PATH ...]
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

ISSUE2_FIELDS = """frame.number frame.time_epoch frame.len frame.cap_len frame.interface_id eth.src eth.dst
eth.type vlan.id arp.opcode arp.src.hw_mac arp.src.proto_ipv4 arp.dst.proto_ipv4 ip.version ip.hdr_len
ip.dsfield ip.len ip.id ip.flags.df ip.flags.mf ip.frag_offset ip.ttl ip.proto ip.checksum ip.src ip.dst
ipv6.plen ipv6.nxt ipv6.hlim ipv6.src ipv6.dst tcp.srcport tcp.dstport tcp.seq_raw tcp.ack_raw tcp.hdr_len
tcp.flags tcp.window_size_value tcp.len tcp.options.mss_val tcp.options.wscale.shift tcp.options.sack_perm
udp.srcport udp.dstport udp.length icmp.type icmp.code icmpv6.type icmpv6.code""".split()

ISSUE4_FIELDS = """dns.id dns.flags.response dns.flags.rcode dns.qry.name dns.qry.type dns.count.answers
dhcp.option.dhcp dhcp.id dhcp.ip.your ftp.request.command ftp.request.arg ftp.response.code
tls.record.content_type tls.handshake.type tls.handshake.extensions_server_name
tls.handshake.ciphersuite http.request.method http.request.uri http.response.code
snmp.community nbns.name""".split()
"""The application fields issue 4 compares with tshark."""


@dataclass
class Result:
    path: str
    frames_tshark: int = 0
    frames_tracedoc: int = 0
    pairs: int = 0
    agree: int = 0
    nonempty_pairs: int = 0
    nonempty_agree: int = 0
    by_field: Counter = field(default_factory=Counter)
    per_field: dict = field(default_factory=dict)
    """Field -> [agreeing, compared] over the values either side has."""
    examples: list = field(default_factory=list)
    error: str | None = None


def tshark_lines(path: str, fields: list[str]) -> list[list[str]]:
    cmd = ["tshark", "-n", "-r", path, "-T", "fields", "-E", "occurrence=f"]
    for f in fields:
        cmd += ["-e", f]
    env = dict(os.environ, LC_ALL="C.UTF-8")
    p = subprocess.run(cmd, capture_output=True, env=env, timeout=600)
    text = p.stdout.decode("utf-8", "replace")
    return [ln.split("\t") for ln in text.split("\n")[:-1]]


def tracedoc_lines(path: str, fields: list[str]) -> tuple[list[list[str]], str | None]:
    import tracedoc
    from tracedoc.cli.fields_cmd import parse_options, write_fields
    from tracedoc.decode.table import FIELDS
    from tracedoc.errors import TracedocError

    # Fields tracedoc does not know yet count as empty (and so disagree).
    known = [f for f in fields if f in FIELDS]
    buf = io.BytesIO()
    try:
        t = tracedoc.open(path)
        write_fields(t.iter_packets(columns=_columns(known)), known, parse_options(["occurrence=f"]), buf)
        err = "; ".join(t.errors) or None
    except TracedocError as e:
        err = str(e)
    text = buf.getvalue().decode("utf-8", "replace")
    lines = [ln.split("\t") for ln in text.split("\n")[:-1]]
    if len(known) < len(fields):
        where = {f: i for i, f in enumerate(known)}
        lines = [[ln[where[f]] if f in where and where[f] < len(ln) else "" for f in fields] for ln in lines]
    return lines, err


def _columns(names: list[str]) -> list[str]:
    from tracedoc.cli.fields_cmd import needed_columns

    return needed_columns(names)


def compare(path: str, fields: list[str] = ISSUE2_FIELDS, max_examples: int = 5) -> Result:
    r = Result(path)
    ts = tshark_lines(path, fields)
    td, r.error = tracedoc_lines(path, fields)
    r.frames_tshark, r.frames_tracedoc = len(ts), len(td)
    for i in range(max(len(ts), len(td))):
        a = ts[i] if i < len(ts) else [""] * len(fields)
        b = td[i] if i < len(td) else [""] * len(fields)
        for j, name in enumerate(fields):
            va = a[j] if j < len(a) else ""
            vb = b[j] if j < len(b) else ""
            r.pairs += 1
            same = va == vb
            r.agree += same
            if va or vb:
                r.nonempty_pairs += 1
                r.nonempty_agree += same
                pf = r.per_field.setdefault(name, [0, 0])
                pf[0] += same
                pf[1] += 1
            if not same:
                r.by_field[name] += 1
                if len(r.examples) < max_examples:
                    r.examples.append((i + 1, name, va, vb))
    return r


def compare_many(paths: list[str], fields: list[str] = ISSUE2_FIELDS, workers: int | None = None) -> list[Result]:
    workers = workers or max(1, (os.cpu_count() or 1))
    with ProcessPoolExecutor(workers) as ex:
        return list(ex.map(compare, paths, [fields] * len(paths), chunksize=4))


@dataclass
class Totals:
    files: int
    pairs: int
    agree: int
    nonempty_pairs: int
    nonempty_agree: int
    by_field: Counter
    per_field: dict = field(default_factory=dict)
    """Field -> [agreeing, compared] over the values either side has."""

    @property
    def ratio(self) -> float:
        """Agreement over the (frame, field) values either side has."""
        return self.nonempty_agree / max(self.nonempty_pairs, 1)

    def line(self) -> str:
        return (f"files {self.files}  non-empty (frame, field) values {self.nonempty_agree}/{self.nonempty_pairs} "
                f"= {self.ratio:.5%}; all values {self.agree}/{self.pairs} = {self.agree / max(self.pairs, 1):.5%}")


def totals(results: list[Result]) -> Totals:
    by_field: Counter = Counter()
    per_field: dict[str, list[int]] = {}
    for r in results:
        by_field.update(r.by_field)
        for f, (agree, pairs) in r.per_field.items():
            pf = per_field.setdefault(f, [0, 0])
            pf[0] += agree
            pf[1] += pairs
    return Totals(len(results), sum(r.pairs for r in results), sum(r.agree for r in results),
                  sum(r.nonempty_pairs for r in results), sum(r.nonempty_agree for r in results), by_field,
                  per_field)


def worst(results: list[Result], n: int) -> list[Result]:
    """The ``n`` captures with the most disagreeing values (only those with any)."""
    bad = [r for r in results if r.nonempty_pairs > r.nonempty_agree]
    return sorted(bad, key=lambda r: r.nonempty_pairs - r.nonempty_agree, reverse=True)[:n]


def corpus_paths() -> list[str]:
    from tests.support.corpus import DECODED_LINKTYPES, captures

    return [str(c.path) for c in captures()
            if c.tshark_reads and c.linktypes and c.linktypes <= DECODED_LINKTYPES and c.path.is_file()]


def main(argv: list[str]) -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--show", type=int, default=40)
    ap.add_argument("--fields", default="issue2",
                    help="issue2, issue4, or field names separated by commas or spaces")
    args = ap.parse_args(argv)
    named = {"issue2": ISSUE2_FIELDS, "issue4": ISSUE4_FIELDS}
    fields = named.get(args.fields) or args.fields.replace(",", " ").split()
    paths = args.paths or corpus_paths()
    results = compare_many(paths, fields)
    tot = totals(results)
    print(tot.line())
    print("by field:", tot.by_field.most_common(30))
    for r in worst(results, args.show):
        bad = r.nonempty_pairs - r.nonempty_agree
        print(f"{bad:6d} {r.path} frames {r.frames_tshark}/{r.frames_tracedoc} {dict(r.by_field.most_common(4))}")
        for ex in r.examples[:3]:
            print("        ", ex)


if __name__ == "__main__":
    main(sys.argv[1:])


def assert_agrees(path, fields: list[str], *, require_values: bool = False, check_error: bool = True) -> None:  # type: ignore[no-untyped-def]
    """A corpus capture's ``fields`` agree with tshark on every value either
    side has (skips when the capture is not in the corpus).
    ``require_values``: tshark must show at least one of them."""
    import pytest

    if not path.exists():
        pytest.skip(f"{path} is not in the corpus")
    r = compare(str(path), fields)
    if check_error:
        assert r.error is None
    if require_values:
        assert r.nonempty_pairs > 0
    assert r.nonempty_agree == r.nonempty_pairs, r.examples
