"""Per-packet TCP analysis on hand-made segment sequences.

Each test builds a short exchange with tests.support.tcp_analysis_traces,
writes it as a pcap, reads it with tracedoc and checks the columns against
what Wireshark's definitions (the TCP analysis chapter of the Wireshark
User's Guide, packet-tcp.c 4.0) say each packet is.  The expected values
are worked out from those definitions by hand, not taken from the code.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

import tracedoc
from tracedoc.analyze.derived import Packets
from tracedoc.analyze.tcp_analysis import FIELDS, INNER_FIELDS, TcpAnalysis
from tracedoc.trace import Trace
from tests.support.tcp_analysis_traces import ACK, FIN, PSH, RST, SYN, Host, Trace as Frames
from tests.support.tcp_analysis_traces import gre, icmp_error, options, segment

C = Host("10.0.0.1", 40000)
S = Host("10.0.0.2", 80)
C6 = Host("2001:db8::1", 40000)
S6 = Host("2001:db8::2", 443)
MS = 1_000_000  # one millisecond, in ns

FLAGS = [f.name for f in FIELDS if f.type == "bool"]
COLS = ["frame.number"] + [f.name for f in FIELDS]


def run(tmp_path, frames: Frames, chunk_size: int | None = None) -> list[dict]:
    p = tmp_path / "t.pcap"
    p.write_bytes(frames.pcap())
    return Trace(p, chunk_size).table(COLS).to_pylist()


def flags(row: dict) -> set[str]:
    """The analysis flags set on a row, by their short names."""
    return {n.removeprefix("tcp.analysis.") for n in FLAGS if row[n]}


def handshake(t: Frames, c: Host = C, s: Host = S, cisn: int = 1000, sisn: int = 5000, rtt: int = 10 * MS,
              copt: bytes = b"", sopt: bytes = b"", cwin: int = 1000, swin: int = 65160) -> None:
    t.add(segment(c, s, cisn, 0, SYN, 64240, opts=copt), 0)
    t.add(segment(s, c, sisn, cisn + 1, SYN | ACK, swin, opts=sopt), rtt // 2)
    t.add(segment(c, s, cisn + 1, sisn + 1, ACK, cwin), rtt // 2)


# ---------------------------------------------------------------- basics


def test_handshake_relative_numbers_rtt_and_bytes_in_flight(tmp_path):
    t = Frames()
    handshake(t)                                                      # 1-3
    t.add(segment(C, S, 1001, 5001, ACK | PSH, 1000, length=100), MS)  # 4
    t.add(segment(C, S, 1101, 5001, ACK, 1000, length=50), MS)         # 5
    t.add(segment(S, C, 5001, 1151, ACK, 2000), 8 * MS)                # 6 acks 4 and 5
    t.add(segment(S, C, 5001, 1151, ACK | PSH, 2000, length=10), MS)   # 7
    r = run(tmp_path, t)
    assert [x["tcp.stream"] for x in r] == [0] * 7
    assert [x["tcp.seq"] for x in r] == [0, 0, 1, 1, 101, 1, 1]
    # The ACK number is relative once the ACK flag is set; a SYN shows the raw field (0 here).
    assert [x["tcp.ack"] for x in r] == [0, 1, 1, 1, 1, 151, 151]
    assert [x["tcp.nxtseq"] for x in r] == [1, 1, 1, 101, 151, 1, 11]
    # The SYN/ACK acknowledges the SYN, the third packet the SYN/ACK, 6 the last data (5).
    assert r[1]["tcp.analysis.acks_frame"] == 1 and r[1]["tcp.analysis.ack_rtt"] == 5 * MS
    assert r[2]["tcp.analysis.acks_frame"] == 2 and r[2]["tcp.analysis.ack_rtt"] == 5 * MS
    assert r[5]["tcp.analysis.acks_frame"] == 5 and r[5]["tcp.analysis.ack_rtt"] == 8 * MS
    # iRTT: first SYN to the ACK that completes the handshake, shown from then on
    # on packets with analysis results.
    assert r[0]["tcp.analysis.initial_rtt"] is None and r[1]["tcp.analysis.initial_rtt"] is None
    assert all(x["tcp.analysis.initial_rtt"] == 10 * MS for x in r[2:])
    # Bytes in flight: unacknowledged data of the sender after the packet.
    assert [x["tcp.analysis.bytes_in_flight"] for x in r] == [None, None, None, 100, 150, None, 10]
    # Bytes since the last PSH: 4 has PSH (100), 5 starts a new count (50).
    assert [x["tcp.analysis.push_bytes_sent"] for x in r] == [None, None, None, 100, 50, None, 10]
    assert [x["tcp.time_relative"] for x in r] == [0, 5 * MS, 10 * MS, 11 * MS, 12 * MS, 20 * MS, 21 * MS]
    assert [x["tcp.time_delta"] for x in r] == [0, 5 * MS, 5 * MS, MS, MS, 8 * MS, MS]
    assert all(not flags(x) for x in r)


def test_stream_index_per_connection_in_order_of_first_packet(tmp_path):
    t = Frames()
    other = Host("10.0.0.3", 22)
    t.add(segment(C, S, 1, 0, SYN, 100), 0)
    t.add(segment(Host("10.0.0.1", 40001), other, 9, 0, SYN, 100), MS)
    t.add(segment(S, C, 7, 2, SYN | ACK, 100), MS)
    t.add(segment(other, Host("10.0.0.1", 40001), 3, 10, SYN | ACK, 100), MS)
    t.add(segment(C6, S6, 1, 0, SYN, 100), MS)
    t.add(segment(S6, C6, 1, 2, SYN | ACK, 100), MS)
    r = run(tmp_path, t)
    assert [x["tcp.stream"] for x in r] == [0, 1, 0, 1, 2, 2]


def test_sequence_numbers_wrap(tmp_path):
    t = Frames()
    handshake(t, cisn=0xFFFFFFF0)
    t.add(segment(C, S, 0xFFFFFFF1, 5001, ACK, 1000, length=100), MS)
    t.add(segment(S, C, 5001, 0x55, ACK, 2000), MS)
    r = run(tmp_path, t)
    assert r[3]["tcp.seq"] == 1 and r[3]["tcp.nxtseq"] == 101
    assert r[4]["tcp.ack"] == 101 and r[4]["tcp.analysis.acks_frame"] == 4
    assert all(not flags(x) for x in r)


# ---------------------------------------------------- retransmissions & co


def test_retransmission(tmp_path):
    t = Frames()
    handshake(t)
    t.add(segment(C, S, 1001, 5001, ACK, 1000, length=100), MS)        # 4
    t.add(segment(C, S, 1001, 5001, ACK, 1000, length=100), 300 * MS)  # 5: again, long after
    r = run(tmp_path, t)
    assert flags(r[3]) == set()
    # Not advancing the sequence, not within the out-of-order time, not
    # after duplicate ACKs, not already acknowledged: a plain retransmission.
    assert flags(r[4]) == {"flags", "retransmission"}


def test_spurious_retransmission(tmp_path):
    t = Frames()
    handshake(t)
    t.add(segment(C, S, 1001, 5001, ACK, 1000, length=100), MS)        # 4
    t.add(segment(S, C, 5001, 1101, ACK, 2000), 10 * MS)               # 5 acks it
    t.add(segment(C, S, 1001, 5001, ACK, 1000, length=100), 300 * MS)  # 6: data already acknowledged
    r = run(tmp_path, t)
    # tshark also shows a spurious retransmission as a retransmission.
    assert flags(r[5]) == {"flags", "spurious_retransmission", "retransmission"}


def test_fast_retransmission_and_duplicate_ack_numbering(tmp_path):
    t = Frames()
    handshake(t)
    t.add(segment(C, S, 1001, 5001, ACK, 1000, length=100), MS)      # 4: lost on the way
    t.add(segment(C, S, 1101, 5001, ACK, 1000, length=100), MS)      # 5
    t.add(segment(S, C, 5001, 1001, ACK, 65160), 5 * MS)              # 6: ACK 1001 again, same window
    t.add(segment(S, C, 5001, 1001, ACK, 65160), MS)                  # 7: dup #2
    t.add(segment(S, C, 5001, 1001, ACK, 65160), MS)                  # 8: dup #3
    t.add(segment(C, S, 1001, 5001, ACK, 1000, length=100), 2 * MS)  # 9: resent 2 ms after it
    r = run(tmp_path, t)
    # The server's last packet before was the SYN/ACK (frame 2: ack 1001,
    # window 65160): 6, 7 and 8 repeat it with nothing new.
    assert [flags(x) for x in r[5:8]] == [{"flags", "duplicate_ack"}] * 3
    assert [x["tcp.analysis.duplicate_ack_num"] for x in r[5:8]] == [1, 2, 3]
    assert [x["tcp.analysis.duplicate_ack_frame"] for x in r[5:8]] == [2, 2, 2]
    assert flags(r[8]) == {"flags", "fast_retransmission", "retransmission"}


def test_retransmission_long_after_duplicate_acks_is_not_fast(tmp_path):
    t = Frames()
    handshake(t)
    t.add(segment(C, S, 1001, 5001, ACK, 1000, length=100), MS)
    t.add(segment(C, S, 1101, 5001, ACK, 1000, length=100), MS)
    for _ in range(3):
        t.add(segment(S, C, 5001, 1001, ACK, 65160), MS)
    t.add(segment(C, S, 1001, 5001, ACK, 1000, length=100), 25 * MS)  # more than 20 ms after the last dup ACK
    r = run(tmp_path, t)
    assert flags(r[-1]) == {"flags", "retransmission"}


def test_out_of_order_and_lost_segment(tmp_path):
    t = Frames()
    handshake(t)
    t.add(segment(C, S, 1101, 5001, ACK, 1000, length=100), MS)         # 4: 1001-1100 not yet seen
    t.add(segment(C, S, 1001, 5001, ACK, 1000, length=100), MS // 2)    # 5: it, 0.5 ms later
    r = run(tmp_path, t)
    assert flags(r[3]) == {"flags", "lost_segment"}
    # Within the handshake RTT (10 ms) of the highest segment and not
    # ending where it does: out of order.
    assert flags(r[4]) == {"flags", "out_of_order"}


def test_out_of_order_limit_is_the_handshake_rtt(tmp_path):
    t = Frames()
    handshake(t, rtt=2 * MS)
    t.add(segment(C, S, 1101, 5001, ACK, 1000, length=100), MS)
    t.add(segment(C, S, 1001, 5001, ACK, 1000, length=100), 3 * MS)     # later than the 2 ms iRTT
    r = run(tmp_path, t)
    assert flags(r[4]) == {"flags", "retransmission"}


def test_out_of_order_limit_without_handshake_is_3ms(tmp_path):
    t = Frames()
    t.add(segment(C, S, 1101, 5001, ACK, 1000, length=100), 0)
    t.add(segment(C, S, 1001, 5001, ACK, 1000, length=100), 2 * MS)
    t.add(segment(C, S, 1301, 5001, ACK, 1000, length=100), MS)
    t.add(segment(C, S, 1201, 5001, ACK, 1000, length=100), 4 * MS)
    r = run(tmp_path, t)
    assert flags(r[1]) == {"flags", "out_of_order"}
    assert flags(r[2]) == {"flags", "lost_segment"}
    assert flags(r[3]) == {"flags", "retransmission"}


def test_fast_retransmission_takes_precedence_over_out_of_order(tmp_path):
    # Segment 1001 is both within 20 ms of the second duplicate ACK asking
    # for it and within the out-of-order time of the highest segment:
    # Wireshark's default precedence calls it a fast retransmission.
    t = Frames()
    handshake(t)
    t.add(segment(C, S, 1101, 5001, ACK, 1000, length=100), MS)         # 4 (1001 never seen before)
    t.add(segment(S, C, 5001, 1001, ACK, 65160), MS // 10)               # 5: dup ACK #1
    t.add(segment(S, C, 5001, 1001, ACK, 65160), MS // 10)               # 6: dup ACK #2
    t.add(segment(C, S, 1001, 5001, ACK, 1000, length=100), MS // 10)   # 7
    r = run(tmp_path, t)
    assert flags(r[3]) == {"flags", "lost_segment"}
    assert [x["tcp.analysis.duplicate_ack_num"] for x in r[4:6]] == [1, 2]
    assert flags(r[6]) == {"flags", "fast_retransmission", "retransmission"}


def test_syn_retransmission_same_isn_is_not_reused_ports(tmp_path):
    t = Frames()
    t.add(segment(C, S, 1000, 0, SYN, 64240), 0)
    t.add(segment(C, S, 1000, 0, SYN, 64240), 1000 * MS)
    t.add(segment(S, C, 5000, 1001, SYN | ACK, 65160), 10 * MS)
    t.add(segment(C, S, 1001, 5001, ACK, 1000), 10 * MS)
    r = run(tmp_path, t)
    assert [x["tcp.stream"] for x in r] == [0, 0, 0, 0]
    assert flags(r[1]) == {"flags", "retransmission"}
    # iRTT counts from the most recent SYN.
    assert r[3]["tcp.analysis.initial_rtt"] == 20 * MS


# ----------------------------------------------------------------- windows


def test_zero_window_probe_and_probe_ack(tmp_path):
    t = Frames()
    handshake(t)
    t.add(segment(C, S, 1001, 5001, ACK, 1000, length=100), MS)   # 4
    t.add(segment(S, C, 5001, 1101, ACK, 0), MS)                  # 5: window closed
    t.add(segment(C, S, 1101, 5001, ACK, 1000, length=1), 200 * MS)  # 6: one byte into it
    t.add(segment(S, C, 5001, 1101, ACK, 0), MS)                  # 7: still closed, same ACK
    t.add(segment(S, C, 5001, 1101, ACK, 4000), 100 * MS)         # 8: opens
    t.add(segment(C, S, 1101, 5001, ACK, 1000, length=100), MS)   # 9: the byte again, with more
    r = run(tmp_path, t)
    assert flags(r[4]) == {"flags", "zero_window"}
    assert flags(r[5]) == {"flags", "zero_window_probe"}
    assert flags(r[6]) == {"flags", "zero_window", "zero_window_probe_ack"}
    assert flags(r[7]) == {"flags", "window_update"}
    # The probe did not move the next expected sequence number: 9 starts there.
    assert flags(r[8]) == set()


def test_window_full_with_scaling(tmp_path):
    t = Frames()
    handshake(t, copt=options(wscale=2), sopt=options(wscale=3), cwin=100, swin=2000)
    t.add(segment(S, C, 5001, 1001, ACK, 100), MS)                 # 4: server window 100 << 3 = 800
    t.add(segment(C, S, 1001, 5001, ACK, 100, length=500), MS)     # 5
    t.add(segment(C, S, 1501, 5001, ACK, 100, length=300), MS)     # 6: reaches 1001 + 800
    r = run(tmp_path, t)
    assert r[3]["tcp.window_size"] == 800 and r[3]["tcp.window_size_scalefactor"] == 8
    assert r[4]["tcp.window_size"] == 400 and r[4]["tcp.window_size_scalefactor"] == 4
    assert flags(r[4]) == set()
    assert flags(r[5]) == {"flags", "window_full"}


def test_window_update(tmp_path):
    t = Frames()
    handshake(t)
    t.add(segment(S, C, 5001, 1001, ACK, 65160), MS)  # as the SYN/ACK: a duplicate ACK
    t.add(segment(S, C, 5001, 1001, ACK, 9000), MS)   # only the window changes
    r = run(tmp_path, t)
    assert flags(r[3]) == {"flags", "duplicate_ack"}
    assert flags(r[4]) == {"flags", "window_update"}


def test_window_scaling_negotiation(tmp_path):
    t = Frames()
    # Both offer scaling: windows after the handshake are scaled.
    handshake(t, copt=options(wscale=7), sopt=options(wscale=0), cwin=10)
    # No option in the SYN: no scaling at all (-2), even if the SYN/ACK offers it.
    handshake(t, c=Host("10.0.0.1", 40001), sopt=options(wscale=5), cwin=10)
    # The SYN offers it, the SYN/ACK does not: no scaling.
    handshake(t, c=Host("10.0.0.1", 40002), copt=options(wscale=5), cwin=10)
    # A shift above 14 counts as 14 (RFC 7323).
    handshake(t, c=Host("10.0.0.1", 40003), copt=options(wscale=15), sopt=options(wscale=1), cwin=10)
    r = run(tmp_path, t)
    syns = [x for x in r if x["tcp.window_size_scalefactor"] is None]
    assert len(syns) == 8 and all(x["tcp.window_size"] in (64240, 65160) for x in syns)  # SYNs are never scaled
    assert (r[2]["tcp.window_size"], r[2]["tcp.window_size_scalefactor"]) == (1280, 128)
    assert (r[5]["tcp.window_size"], r[5]["tcp.window_size_scalefactor"]) == (10, -2)
    assert (r[8]["tcp.window_size"], r[8]["tcp.window_size_scalefactor"]) == (10, -2)
    assert (r[11]["tcp.window_size"], r[11]["tcp.window_size_scalefactor"]) == (10 << 14, 1 << 14)


def test_window_scaling_unknown_without_the_handshake(tmp_path):
    t = Frames()
    t.add(segment(C, S, 1001, 5001, ACK, 300, length=10), 0)
    t.add(segment(S, C, 5001, 1011, ACK, 400), MS)
    r = run(tmp_path, t)
    # Scaling unknown: the window as sent, factor -1.
    assert [(x["tcp.window_size"], x["tcp.window_size_scalefactor"]) for x in r] == [(300, -1), (400, -1)]
    # The first packet seen of each direction counts from 1.
    assert [x["tcp.seq"] for x in r] == [1, 1] and [x["tcp.ack"] for x in r] == [1, 11]


def test_window_scaling_with_only_the_syn_seen(tmp_path):
    t = Frames()
    t.add(segment(C, S, 1000, 0, SYN, 64240, opts=options(wscale=4)), 0)
    t.add(segment(C, S, 1001, 5001, ACK, 10), 20 * MS)   # the SYN/ACK was not captured
    t.add(segment(S, C, 5001, 1001, ACK, 10), MS)
    r = run(tmp_path, t)
    assert (r[1]["tcp.window_size"], r[1]["tcp.window_size_scalefactor"]) == (160, 16)
    assert (r[2]["tcp.window_size"], r[2]["tcp.window_size_scalefactor"]) == (10, -1)


# ------------------------------------------------------ keep-alive, losses


def test_keep_alive_and_its_ack(tmp_path):
    t = Frames()
    handshake(t)
    t.add(segment(C, S, 1001, 5001, ACK, 1000, length=100), MS)
    t.add(segment(S, C, 5001, 1101, ACK, 2000), MS)
    t.add(segment(C, S, 1100, 5001, ACK, 1000), 45_000 * MS)              # one byte back, no data
    t.add(segment(S, C, 5001, 1101, ACK, 2000), MS)                       # its answer
    t.add(segment(C, S, 1100, 5001, ACK, 1000, length=1), 45_000 * MS)    # one byte back, one byte
    t.add(segment(S, C, 5001, 1101, ACK, 2000), MS)
    r = run(tmp_path, t)
    assert flags(r[5]) == {"flags", "keep_alive"}
    # The answer repeats the last ACK: a keep-alive ACK, not a duplicate ACK.
    assert flags(r[6]) == {"flags", "keep_alive_ack"}
    assert flags(r[7]) == {"flags", "keep_alive"}  # not a retransmission
    assert flags(r[8]) == {"flags", "keep_alive_ack"}


def test_ack_of_unseen_segment(tmp_path):
    t = Frames()
    handshake(t)
    t.add(segment(C, S, 1001, 5001, ACK, 1000, length=100), MS)   # 4
    t.add(segment(S, C, 5001, 1201, ACK, 2000), MS)               # 5: acks 1101-1200, never seen
    t.add(segment(S, C, 5001, 1301, ACK, 2000), MS)               # 6: and more
    t.add(segment(C, S, 1301, 5001, ACK, 1000, length=100), MS)   # 7
    t.add(segment(S, C, 5001, 1501, ACK, 2000), MS)               # 8: beyond again
    r = run(tmp_path, t)
    assert flags(r[4]) == {"flags", "ack_lost_segment"}
    # The same loss is reported once: the ACKs after it say nothing new.
    assert flags(r[5]) == set()
    assert flags(r[6]) == {"flags", "lost_segment"}
    assert flags(r[7]) == {"flags", "ack_lost_segment"}


def test_acknowledging_segments_sent_out_of_order(tmp_path):
    """Once a segment goes back below one sent before, an ACK is matched
    against every unacknowledged segment, and bytes in flight span them all."""
    t = Frames()
    handshake(t)                                                       # 1-3, ISN 1000, iRTT 10 ms
    t.add(segment(C, S, 1101, 5001, ACK, 1000, length=100), MS)        # 4: 1001-1100 not seen yet
    t.add(segment(C, S, 1001, 5001, ACK, 1000, length=100), MS)        # 5: it comes after
    t.add(segment(S, C, 5001, 1201, ACK, 2000), MS)                    # 6: ACK of both
    t.add(segment(C, S, 1201, 5001, ACK, 1000, length=100), MS)        # 7
    t.add(segment(C, S, 1401, 5001, ACK, 1000, length=100), MS)        # 8: 1301-1400 not seen yet
    t.add(segment(S, C, 5001, 1301, ACK, 2000), MS)                    # 9: ACK of 7
    t.add(segment(C, S, 1301, 5001, ACK, 1000, length=100), MS)        # 10: the gap, 2 ms after 8
    t.add(segment(S, C, 5001, 1501, ACK, 2000), MS)                    # 11: ACK of 8 and 10
    r = run(tmp_path, t)
    assert flags(r[3]) == {"flags", "lost_segment"}
    assert flags(r[4]) == {"flags", "out_of_order"}
    # An ACK is "to the segment" that ends where it points: 4, not 5.
    assert (r[5]["tcp.analysis.acks_frame"], r[5]["tcp.analysis.ack_rtt"]) == (4, 2 * MS)
    assert (r[8]["tcp.analysis.acks_frame"], r[8]["tcp.analysis.ack_rtt"]) == (7, 2 * MS)
    assert flags(r[9]) == {"flags", "out_of_order"}
    # 1301-1400 and 1401-1500 unacknowledged: 200 bytes (the ACK in 9 made
    # the count valid again after the loss in 8).
    assert r[9]["tcp.analysis.bytes_in_flight"] == 200
    assert (r[10]["tcp.analysis.acks_frame"], r[10]["tcp.analysis.ack_rtt"]) == (8, 3 * MS)
    # Bytes in flight are not shown between a loss and the next ACK.
    assert r[4]["tcp.analysis.bytes_in_flight"] is None and r[7]["tcp.analysis.bytes_in_flight"] is None


def test_rst_is_not_a_lost_segment(tmp_path):
    t = Frames()
    handshake(t)
    t.add(segment(C, S, 9001, 5001, RST | ACK, 0), MS)  # far beyond: RSTs are not judged for gaps
    r = run(tmp_path, t)
    assert flags(r[3]) == set()


def test_reused_ports(tmp_path):
    t = Frames()
    handshake(t)
    t.add(segment(C, S, 1001, 5001, FIN | ACK, 1000), MS)
    t.add(segment(S, C, 5001, 1002, FIN | ACK, 2000), MS)
    t.add(segment(C, S, 1002, 5002, ACK, 1000), MS)
    handshake(t, cisn=777777, sisn=888888)   # the same tuple, a new ISN
    r = run(tmp_path, t)
    assert [x["tcp.stream"] for x in r] == [0] * 6 + [1] * 3
    assert flags(r[6]) == {"flags", "reused_ports"}
    assert r[6]["tcp.seq"] == 0 and r[7]["tcp.ack"] == 1
    assert all(not flags(x) for x in r[7:])
    # The new conversation's clock starts again.
    assert r[6]["tcp.time_relative"] == 0 and r[6]["tcp.time_delta"] == 0


# ---------------------------------------------------------- ICMP, IPv6


def test_icmp_error_quoting_a_segment(tmp_path):
    t = Frames()
    handshake(t)
    data = segment(C, S, 1001, 5001, ACK, 1000, length=100)
    t.add(data, MS)
    # A full quote of a segment of a connection not seen yet starts a
    # conversation (stream 1) as tshark's does; an 8-byte quote does not.
    other = segment(Host("10.0.0.1", 40009), S, 77, 88, SYN, 1000)
    t.add(icmp_error("192.0.2.1", C, other, 20), MS)
    t.add(icmp_error("192.0.2.1", C, data, 8), MS)
    t.add(segment(Host("10.0.0.1", 40010), S, 1, 0, SYN, 1000), MS)
    p = tmp_path / "t.pcap"
    p.write_bytes(t.pcap())
    names = ["tcp.stream", "inner.tcp.stream", "inner.tcp.seq", "inner.tcp.ack", "inner.tcp.window_size"]
    r = tracedoc.open(p).table(names).to_pylist()
    assert r[4]["tcp.stream"] is None and r[4]["inner.tcp.stream"] == 1
    # Quoted headers get no sequence analysis: raw numbers.
    assert (r[4]["inner.tcp.seq"], r[4]["inner.tcp.ack"], r[4]["inner.tcp.window_size"]) == (77, 88, 1000)
    assert r[5]["inner.tcp.stream"] is None and r[5]["inner.tcp.seq"] == 1001
    assert r[6]["tcp.stream"] == 2


def test_ipv6(tmp_path):
    t = Frames()
    handshake(t, c=C6, s=S6)
    t.add(segment(C6, S6, 1001, 5001, ACK, 1000, length=100), MS)
    t.add(segment(C6, S6, 1001, 5001, ACK, 1000, length=100), 500 * MS)
    r = run(tmp_path, t)
    assert [x["tcp.stream"] for x in r] == [0] * 5
    assert flags(r[4]) == {"flags", "retransmission"}


# ------------------------------------------------------------------ tunnels

R1, R2 = "198.51.100.1", "198.51.100.2"  # tunnel ends


def test_a_connection_partly_through_a_tunnel_is_one_stream(tmp_path):
    """Conversations are keyed on the innermost IP header, as tshark keys
    them: the client's packets in GRE and the server's direct are one
    connection."""
    t = Frames()
    t.add(gre(segment(C, S, 1000, 0, SYN, 64240), R1, R2), 0)
    t.add(segment(S, C, 5000, 1001, SYN | ACK, 65160), 5 * MS)
    t.add(gre(segment(C, S, 1001, 5001, ACK, 1000), R1, R2), 5 * MS)
    t.add(gre(segment(C, S, 1001, 5001, ACK | PSH, 1000, length=100), R1, R2), MS)
    t.add(segment(S, C, 5001, 1101, ACK, 2000), MS)
    r = run(tmp_path, t)
    assert [x["tcp.stream"] for x in r] == [0] * 5
    assert [x["tcp.seq"] for x in r] == [0, 0, 1, 1, 1]
    assert [x["tcp.ack"] for x in r] == [0, 1, 1, 1, 101]
    assert r[2]["tcp.analysis.initial_rtt"] == 10 * MS
    assert r[4]["tcp.analysis.acks_frame"] == 4
    assert all(not flags(x) for x in r)


def test_connections_in_one_tunnel_are_apart(tmp_path):
    """Two connections with the same ports between different inner hosts,
    carried by the same tunnel (one way each direction, and a mirror that
    sends both directions the same way): two streams."""
    other = Host("10.0.0.3", 40000)
    t = Frames()
    for c in (C, other):
        t.add(gre(segment(c, S, 1000, 0, SYN, 64240), R1, R2), MS)
    for c, ends in ((C, (R2, R1)), (other, (R1, R2))):
        t.add(gre(segment(S, c, 5000, 1001, SYN | ACK, 65160), *ends), MS)
    for c in (C, other):
        t.add(gre(segment(c, S, 1001, 5001, ACK, 1000), R1, R2), MS)
    r = run(tmp_path, t)
    assert [x["tcp.stream"] for x in r] == [0, 1, 0, 1, 0, 1]
    assert [x["tcp.seq"] for x in r] == [0, 0, 0, 0, 1, 1]
    assert all(not flags(x) for x in r)


# ----------------------------------------------------- streaming, bad input


def test_state_carries_across_batches(tmp_path):
    t = Frames()
    handshake(t, copt=options(wscale=2), sopt=options(wscale=2))
    for k in range(20):
        t.add(segment(C, S, 1001 + 100 * k, 5001, ACK, 100, length=100), MS)
        if k % 3 == 2:
            t.add(segment(S, C, 5001, 1001 + 100 * (k + 1), ACK, 100), MS)
    t.add(segment(C, S, 1001, 5001, ACK, 100, length=100), 500 * MS)
    whole = run(tmp_path, t)
    small = run(tmp_path, t, chunk_size=256)   # a few packets per batch
    assert small == whole
    assert flags(whole[-1]) == {"flags", "spurious_retransmission", "retransmission"}


def test_columns_not_wanted_are_left_null(tmp_path):
    """``TcpAnalysis(wanted)`` gives the columns asked for as the whole
    analysis does, and the others null (skipping the work only they need)."""
    from tests.support.tcp_analysis_traces import random_trace
    from tracedoc.analyze.tcp_analysis import NEEDS

    p = tmp_path / "t.pcap"
    p.write_bytes(random_trace(7, 300, 1).pcap())
    dec = Packets(list(NEEDS))
    batches = [dec.decode(b) for b in Trace(p, 4096).iter_frames()]
    assert len(batches) > 3
    names = [f.name for f in TcpAnalysis.FIELDS]
    full = TcpAnalysis()
    whole = [full.feed(b) for b in batches]
    for wanted in ({"tcp.analysis.flags", "tcp.seq"}, {"tcp.analysis.retransmission", "tcp.analysis.duplicate_ack"},
                   {"tcp.analysis.bytes_in_flight"}, {"tcp.analysis.initial_rtt"}, {"tcp.time_delta"},
                   {"inner.tcp.seq", "inner.tcp.time_delta"}, {"tcp.window_size_scalefactor"}):
        d = TcpAnalysis(wanted)
        for b, ref in zip(batches, whole):
            for name, got, want in zip(names, d.feed(b), ref):
                if name in wanted:
                    assert got.equals(want), (wanted, name)
                else:
                    assert got.null_count == len(got), (wanted, name)
    # The trace does show what is compared.
    shown = {name for name, arr in zip(names, whole[1]) if arr.null_count < len(arr)}
    assert {"tcp.analysis.flags", "tcp.analysis.bytes_in_flight", "tcp.time_delta"} <= shown


def test_conversation_key_collisions_fall_back_to_the_keys(tmp_path, monkeypatch):
    """Conversations are told apart by a hash of their key checked against
    the key: with every hash the same, the streams are still right."""
    import numpy as np

    from tracedoc.analyze import tcp_analysis

    t = Frames()
    for k in range(4):
        handshake(t, c=Host("10.0.0.1", 40000 + k))
    handshake(t, c=C6, s=S6)
    expected = [k for k in range(5) for _ in range(3)]
    assert [x["tcp.stream"] for x in run(tmp_path, t)] == expected
    monkeypatch.setattr(tcp_analysis, "_KEY_MULTIPLIERS", np.zeros(5, dtype=np.uint64))
    assert [x["tcp.stream"] for x in run(tmp_path, t)] == expected


def test_packets_without_tcp_and_empty_batches():
    d = TcpAnalysis()
    empty = pa.RecordBatch.from_pylist([], schema=pa.schema([("frame.number", pa.uint32())]))
    out = d.feed(empty)
    assert len(out) == len(FIELDS) + len(INNER_FIELDS) and all(len(a) == 0 for a in out)
    # Columns missing altogether, or all null: no analysis, no error.
    rows = pa.RecordBatch.from_pylist([{"frame.number": 1, "tcp.srcport": 5, "tcp.flags": None}],
                                      schema=pa.schema([("frame.number", pa.uint32()), ("tcp.srcport", pa.uint16()),
                                                        ("tcp.flags", pa.uint16())]))
    out = d.feed(rows)
    assert all(a.null_count == 1 for a in out)


def test_truncated_and_non_tcp_packets(tmp_path):
    t = Frames()
    syn = segment(C, S, 1000, 0, SYN, 64240)
    t.add(syn[:14 + 20 + 10], 0)             # TCP header cut at 10 bytes
    t.add(segment(C, S, 1000, 0, SYN, 64240), MS)
    t.add(b"\xff" * 14, MS)                  # no IP at all
    r = run(tmp_path, t)
    assert r[0]["tcp.stream"] is None and r[2]["tcp.stream"] is None
    assert r[1]["tcp.stream"] == 0 and r[1]["tcp.seq"] == 0


def test_flags_print_as_tshark_prints_them(tmp_path):
    """``tracedoc fields`` shows a set flag as ``1`` and nothing otherwise,
    as ``tshark -T fields`` does."""
    import io

    from tracedoc.cli.fields_cmd import needed_columns, parse_options, write_fields

    t = Frames()
    handshake(t)
    t.add(segment(C, S, 1001, 5001, ACK, 1000, length=100), MS)
    t.add(segment(C, S, 1001, 5001, ACK, 1000, length=100), 300 * MS)
    p = tmp_path / "t.pcap"
    p.write_bytes(t.pcap())
    names = ["tcp.analysis.retransmission", "tcp.analysis.lost_segment", "tcp.analysis.bytes_in_flight",
             "tcp.analysis.ack_rtt", "tcp.window_size_scalefactor"]
    buf = io.BytesIO()
    write_fields(tracedoc.open(p).iter_packets(columns=needed_columns(names)), names, parse_options([]), buf)
    lines = buf.getvalue().decode().splitlines()
    assert lines[1] == "\t\t\t0.005000000\t"
    assert lines[2] == "\t\t\t0.005000000\t-2"
    assert lines[4] == "1\t\t100\t\t-2"


@pytest.mark.parametrize("name", [f.name for f in FIELDS])
def test_every_column_is_filterable(name):
    """Derived columns are in the table's schema, so filters and ``fields`` see them."""
    assert name in Packets([name]).schema.names


def test_bytes_in_flight_leave_out_every_sack_block(tmp_path):
    """tshark leaves the blocks of the other side's last SACK option (up to
    three) out of bytes in flight.  The decoder may give the first block
    only, or every block as a list: both are taken."""
    from tracedoc.analyze.tcp_analysis import NEEDS

    t = Frames()
    handshake(t)
    for k in range(5):
        t.add(segment(C, S, 1001 + 100 * k, 5001, ACK, 1000, length=100), MS)   # 4-8
    sacks = [(1101, 1201), (1301, 1401)]
    t.add(segment(S, C, 5001, 1001, ACK, 65160, opts=options(sack=sacks)), MS)  # 9
    t.add(segment(C, S, 1501, 5001, ACK, 1000, length=100), MS)                # 10
    p = tmp_path / "t.pcap"
    p.write_bytes(t.pcap())
    dec = Packets(list(NEEDS))
    batch = pa.Table.from_batches([dec.decode(b) for b in tracedoc.open(p).iter_frames()]).combine_chunks()
    batch = batch.to_batches()[0]
    bif = [f.name for f in FIELDS].index("tcp.analysis.bytes_in_flight")

    def bytes_in_flight(b: pa.RecordBatch) -> list:
        return TcpAnalysis().feed(b)[bif].to_pylist()

    # 600 bytes sent (1001-1600) and not acknowledged, less what the SACK
    # reports received.
    first_only = bytes_in_flight(batch)
    assert first_only[9] == 600 - 100
    lists = {"tcp.options.sack_le": [None] * 8 + [[1101, 1301]] + [None],
             "tcp.options.sack_re": [None] * 8 + [[1201, 1401]] + [None]}
    for name, values in lists.items():
        batch = batch.set_column(batch.schema.get_field_index(name), name, pa.array(values, pa.list_(pa.uint32())))
    assert bytes_in_flight(batch)[9] == 600 - 200
