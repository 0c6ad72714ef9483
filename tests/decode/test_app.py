"""The application pass: port and heuristic dispatch, TCP reassembly per
direction (split, coalesced, out-of-order, retransmitted, lost and
cut-short segments), STARTTLS-style hand-off, and state across batches.

A toy protocol with 2-byte length-prefixed messages stands in for a real
one, so every expectation follows from the bytes the test builds.
"""

from __future__ import annotations

import struct
import types

import numpy as np
import pytest

from tests.support import pcapgen as g
from tracedoc.decode import dispatch
from tracedoc.decode.apptree import Reader
from tracedoc.decode.fields import F
from tracedoc.decode.table import Decoder
from tracedoc.read.batch import FrameBatch

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
PORT = 7777


def _toy(name: str, framed: bool = True, handoff_to: types.ModuleType | None = None) -> types.ModuleType:
    m = types.ModuleType(name)
    m.NAME = name  # type: ignore[attr-defined]
    m.FIELDS = (F(f"{name}.len", "u16", "length"),)  # type: ignore[attr-defined]

    def dissect(data: bytes, tree, info) -> None:  # type: ignore[no-untyped-def]
        r = Reader(data)
        n = r.u16(0)
        body = r.bytes(2, n)
        tree.message = f"{name} {body.decode()}" + (" (reassembled)" if info.reassembled else "")
        if handoff_to is not None and body == b"STARTTLS":
            info.handoff(handoff_to)

    def pdu_length(data: bytes, info) -> int:  # type: ignore[no-untyped-def]
        if len(data) < 2:
            return 0
        n = struct.unpack("!H", data[:2])[0]
        if n > 1000:
            return -1
        return n + 2

    m.dissect = dissect  # type: ignore[attr-defined]
    if framed:
        m.pdu_length = pdu_length  # type: ignore[attr-defined]
    return m


def msg(text: str) -> bytes:
    return struct.pack("!H", len(text)) + text.encode()


def seg(seq: int, payload: bytes, *, to_server: bool = True, flags: int = 0x18, sport: int = 40000,
        dport: int = PORT) -> bytes:
    if not to_server:
        sport, dport = dport, sport
    src, dst = (CLIENT, SERVER) if to_server else (SERVER, CLIENT)
    return g.ether("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800,
                   g.ipv4(src, dst, 6, g.tcp(sport, dport, seq, 1, flags, 65535, payload=payload)))


def dgram(payload: bytes, sport: int, dport: int) -> bytes:
    return g.ether("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800,
                   g.ipv4(CLIENT, SERVER, 17, g.udp(sport, dport, payload)))


def batch_of(frames: list[bytes], first: int = 1, caplen: list[int] | None = None) -> FrameBatch:
    lens = np.array([len(f) for f in frames], dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    cap = lens if caplen is None else np.array(caplen, dtype=np.int64)
    n = len(frames)
    return FrameBatch(data=np.frombuffer(b"".join(frames), dtype=np.uint8).copy(), offset=offs, caplen=cap,
                      origlen=lens, ts_ns=np.arange(n, dtype=np.int64), linktype=np.ones(n, np.int32),
                      interface_id=np.full(n, -1, np.int32), record_offset=offs, first_number=first)


@pytest.fixture
def apps(monkeypatch):  # type: ignore[no-untyped-def]
    """Register toy modules: returns a function (transport, port, module)."""
    monkeypatch.setattr(dispatch, "TCP_APPS", dict(dispatch.TCP_APPS))
    monkeypatch.setattr(dispatch, "UDP_APPS", dict(dispatch.UDP_APPS))
    monkeypatch.setattr(dispatch, "TCP_HEURISTICS", list(dispatch.TCP_HEURISTICS))
    monkeypatch.setattr(dispatch, "UDP_HEURISTICS", list(dispatch.UDP_HEURISTICS))

    def register(transport: str, port: int | None, mod: types.ModuleType) -> None:
        if port is None:
            (dispatch.TCP_HEURISTICS if transport == "tcp" else dispatch.UDP_HEURISTICS).insert(0, mod)
        else:
            (dispatch.TCP_APPS if transport == "tcp" else dispatch.UDP_APPS)[port] = mod
    return register


COLUMNS = ["frame.number", "tracedoc.message", "tracedoc.app", "_ws.malformed"]


def messages(frames: list[bytes] | list[list[bytes]], **kw) -> list[str | None]:  # type: ignore[no-untyped-def]
    """Decode ``frames`` (one batch, or a list of batches) and return each frame's message."""
    batches = frames if frames and isinstance(frames[0], list) else [frames]
    dec = Decoder(COLUMNS)
    out: list[str | None] = []
    first = 1
    for fr in batches:
        rb = dec.decode(batch_of(fr, first, **kw))  # type: ignore[arg-type]
        out += rb.column("tracedoc.message").to_pylist()
        first += len(fr)
    return out


def test_whole_messages_coalesced_in_one_segment(apps) -> None:  # type: ignore[no-untyped-def]
    apps("tcp", PORT, _toy("toy"))
    assert messages([seg(100, msg("a") + msg("bc"))]) == ["toy a, toy bc"]


def test_message_split_over_segments_completes_on_last(apps) -> None:  # type: ignore[no-untyped-def]
    apps("tcp", PORT, _toy("toy"))
    m = msg("hello world")
    got = messages([seg(100, m[:3]), seg(103, m[3:8]), seg(108, m[8:])])
    assert got == [None, None, "toy hello world (reassembled)"]


def test_split_across_batches(apps) -> None:  # type: ignore[no-untyped-def]
    apps("tcp", PORT, _toy("toy"))
    m = msg("spanning")
    assert messages([[seg(1, m[:4])], [seg(5, m[4:])]]) == [None, "toy spanning (reassembled)"]


def test_out_of_order_message_is_lost_not_corrupted(apps) -> None:  # type: ignore[no-untyped-def]
    apps("tcp", PORT, _toy("toy"))
    m = msg("abcdefgh")
    # 1st, 3rd, then 2nd part.  As Wireshark by default (out-of-order
    # reassembly off), the message whose bytes came out of order is not
    # decoded, no wrong bytes are glued into it, and the next one is.
    got = messages([seg(1000, m[:3]), seg(1006, m[6:]), seg(1003, m[3:6]), seg(1010, msg("next"))])
    assert got == [None, None, None, "toy next"]

def test_retransmission_does_not_repeat_or_corrupt(apps) -> None:  # type: ignore[no-untyped-def]
    apps("tcp", PORT, _toy("toy"))
    a, b = msg("first"), msg("second")
    got = messages([seg(1, a), seg(1, a), seg(1 + len(a), b)])
    assert got == ["toy first", None, "toy second"]


def test_segment_overlapping_seen_bytes_is_not_decoded(apps) -> None:  # type: ignore[no-untyped-def]
    apps("tcp", PORT, _toy("toy"))
    a, b = msg("one"), msg("two")
    stream = a + b
    # The second segment repeats 2 bytes already seen: Wireshark hands such a
    # segment to no dissector, so "one" and "two" are lost; "three" is not.
    got = messages([seg(1, stream[:4]), seg(3, stream[2:]), seg(11, msg("three"))])
    assert got == [None, None, "toy three"]

def test_directions_are_reassembled_apart(apps) -> None:  # type: ignore[no-untyped-def]
    apps("tcp", PORT, _toy("toy"))
    q, r = msg("query"), msg("reply")
    got = messages([seg(1, q[:2]), seg(500, r[:4], to_server=False), seg(3, q[2:]),
                    seg(504, r[4:], to_server=False)])
    assert got == [None, None, "toy query (reassembled)", "toy reply (reassembled)"]


def test_syn_sets_where_data_starts(apps) -> None:  # type: ignore[no-untyped-def]
    apps("tcp", PORT, _toy("toy"))
    m = msg("x")
    # After the SYN (seq 99) the stream starts at 100: data at 103 follows a
    # gap, so it is decoded afresh, and the late bytes at 100 are not.
    got = messages([seg(99, b"", flags=0x02), seg(103, m), seg(100, b"\x00\x00\x00")])
    assert got == [None, "toy x", None]


def test_retransmitted_syn_does_not_reset_the_stream(apps) -> None:  # type: ignore[no-untyped-def]
    apps("tcp", PORT, _toy("toy"))
    m = msg("hello")
    got = messages([seg(99, b"", flags=0x02), seg(100, m[:3]), seg(99, b"", flags=0x02), seg(103, m[3:])])
    assert got == [None, None, None, "toy hello (reassembled)"]

def test_decoding_goes_on_after_a_lost_segment(apps) -> None:  # type: ignore[no-untyped-def]
    apps("tcp", PORT, _toy("toy"))
    x, lost = msg("x"), msg("lost")
    a, b = msg("a"), msg("b")
    base = 1 + len(x) + len(lost)
    # The segment carrying "lost" was never captured: the next ones decode at once.
    got = messages([seg(1, x), seg(base, a), seg(base + len(a), b)])
    assert got == ["toy x", "toy a", "toy b"]


def test_bytes_a_message_claimed_are_dropped_after_a_gap(apps) -> None:  # type: ignore[no-untyped-def]
    apps("tcp", PORT, _toy("toy"))
    m = msg("0123456789")   # 12 bytes: 2 of length, 10 of body
    # Its middle segment is lost: its tail is not taken for a new message.
    got = messages([seg(1, m[:4]), seg(9, m[8:]), seg(13, msg("ok"))])
    assert got == [None, None, "toy ok"]


def test_message_running_to_fin_completes_there(apps) -> None:  # type: ignore[no-untyped-def]
    from tracedoc.decode.app import UNTIL_FIN

    m = _toy("fin")
    # The module says "to the end" until the FIN is there, then how long.
    m.pdu_length = lambda data, info: len(data) if info.fin else UNTIL_FIN  # type: ignore[attr-defined]
    apps("tcp", PORT, m)
    body = msg("to the end")
    got = messages([seg(1, body[:5], to_server=False), seg(6, body[5:], to_server=False),
                    seg(len(body) + 1, b"", flags=0x11, to_server=False)])
    assert got == [None, None, "fin to the end (reassembled)"]

def test_segment_cut_short_by_snaplen_is_named(apps) -> None:  # type: ignore[no-untyped-def]
    apps("tcp", PORT, _toy("toy"))
    f = seg(1, msg("truncated message"))
    dec = Decoder(COLUMNS)
    rb = dec.decode(batch_of([f], caplen=[len(f) - 5]))
    assert rb.column("tracedoc.app").to_pylist() == [["toy"]]
    bad = rb.column("_ws.malformed").to_pylist()[0]
    assert bad is not None and bad.startswith("toy: toy message truncated")


def test_not_a_message_start_is_skipped_until_one_is(apps) -> None:  # type: ignore[no-untyped-def]
    apps("tcp", PORT, _toy("toy"))
    junk = b"\xff\xff" + b"z" * 10   # length 65535 > 1000: pdu_length says "not a message"
    got = messages([seg(1, junk), seg(1 + len(junk), msg("ok"))])
    assert got == [None, "toy ok"]


def test_handoff_switches_the_conversation(apps) -> None:  # type: ignore[no-untyped-def]
    after = _toy("after")
    apps("tcp", PORT, _toy("before", handoff_to=after))
    s1 = msg("STARTTLS")
    got = messages([seg(1, s1), seg(200, msg("234"), to_server=False), seg(1 + len(s1), msg("hello"))])
    assert got == ["before STARTTLS", "after 234", "after hello"]


def test_heuristic_finds_a_protocol_on_any_port(apps) -> None:  # type: ignore[no-untyped-def]
    m = _toy("heur")
    m.heuristic = lambda data, info: data[2:5] == b"HEU"  # type: ignore[attr-defined]
    apps("tcp", None, m)
    got = messages([seg(1, msg("HEU1"), dport=5555), seg(1, msg("other"), sport=41000, dport=5556)])
    assert got == ["heur HEU1", None]


def test_udp_lower_port_first(apps) -> None:  # type: ignore[no-untyped-def]
    apps("udp", 53, _toy("low", framed=False))
    apps("udp", 5353, _toy("high", framed=False))
    got = messages([dgram(msg("q"), 5353, 53), dgram(msg("r"), 5353, 40000)])
    assert got == ["low q", "high r"]


def test_line_protocol_decodes_each_segment(apps) -> None:  # type: ignore[no-untyped-def]
    apps("tcp", PORT, _toy("line", framed=False))
    got = messages([seg(1, msg("a")), seg(4, msg("b"))])
    assert got == ["line a", "line b"]


def test_no_application_pass_unless_asked(apps) -> None:  # type: ignore[no-untyped-def]
    apps("tcp", PORT, _toy("toy"))
    dec = Decoder(["frame.number", "tcp.srcport"])
    assert dec.app is None
    rb = dec.decode(batch_of([seg(1, msg("a"))]))
    assert rb.column("tcp.srcport").to_pylist() == [40000]


def test_decoder_failure_becomes_a_named_anomaly(apps) -> None:  # type: ignore[no-untyped-def]
    m = _toy("boom", framed=False)

    def dissect(data, tree, info):  # type: ignore[no-untyped-def]
        raise ValueError("bug")
    m.dissect = dissect  # type: ignore[attr-defined]
    apps("udp", 9, m)
    dec = Decoder(COLUMNS)
    rb = dec.decode(batch_of([dgram(b"xx", 40000, 9)]))
    assert rb.column("_ws.malformed").to_pylist() == ["boom: boom decoder failed: ValueError: bug (offset 42)"]
