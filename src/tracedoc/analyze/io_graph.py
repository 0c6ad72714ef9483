"""The numbers behind the I/O graph: packets and bytes per interval, per direction.

The bins are those of ``tshark -q -z io,stat,INTERVAL``: interval ``k``
holds the frames whose time since the start of the trace (Wireshark's
``frame.time_relative``) lies in ``[k * interval, (k + 1) * interval)``,
from the first interval to the one holding the last frame, empty ones
included; bytes are the frames' lengths on the wire (``frame.len``), as
tshark's ``Bytes`` column counts them.  The start is the first frame's time,
or an earlier time a later frame carries (a trace whose clock stepped back),
so no frame falls before the first interval.

Direction is that of the Packet Summary's ``Dir`` column
(:mod:`tracedoc.analyze.summary`): a frame is *out* when its source address
lies in the local network, *in* when its destination does and its source
does not, and *other* when neither (traffic between two remote hosts, frames
with no address, or every frame when the trace has no IP traffic to decide
the local side on).  The address is the innermost IP header's (a tunnelled
packet's inner hosts), else IPv4, IPv6, or ARP's sender and target, in that
order.

Everything is numpy over whole columns: one pass to decide each frame's
direction (address and network compared as integers) and one ``bincount``.
"""

from __future__ import annotations

import ipaddress
import math

import numpy as np
import pyarrow as pa

from tracedoc.analyze.columns import values
from tracedoc.analyze.summary import LocalSide, infer_local

COLUMNS = ["frame.time_epoch", "frame.len", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
           "tracedoc.tunnel.src", "tracedoc.tunnel.dst", "arp.src.proto_ipv4", "arp.dst.proto_ipv4"]
"""The packet-table columns :func:`io_series` reads."""

SCHEMA = pa.schema([
    pa.field("bin", pa.int64()),
    pa.field("start", pa.int64()),
    pa.field("offset", pa.float64()),
    pa.field("packets", pa.int64()),
    pa.field("bytes", pa.int64()),
    pa.field("packets_out", pa.int64()),
    pa.field("bytes_out", pa.int64()),
    pa.field("packets_in", pa.int64()),
    pa.field("bytes_in", pa.int64()),
    pa.field("packets_other", pa.int64()),
    pa.field("bytes_other", pa.int64()),
])
"""One row per interval, in time order: ``bin`` its index, ``start`` its
start (epoch ns), ``offset`` its start in seconds since the trace's start;
``packets``/``bytes`` every frame in it, then the frames out of the local
side, into it, and neither.  The table's schema metadata holds
``interval_ns``, ``start_ns`` and ``local`` (the local side's description)."""

TARGET_BINS = 400
"""An automatic interval is the shortest 1-2-5 step (1 us, 2 us, 5 us, 10 us,
...) that covers the trace in at most this many intervals: between 160 and
400 of them for any trace longer than 160 us."""

MAX_BINS = 2_000_000
"""More intervals than this is a mistake (a 1 us interval over an hour):
:func:`io_series` refuses it rather than allocate gigabytes."""

_MIN_INTERVAL_NS = 1_000


def steps_125(lo: float) -> float:
    """The smallest value of the 1-2-5 series (..., 0.1, 0.2, 0.5, 1, 2, 5, 10, ...) that is >= ``lo`` (> 0)."""
    exp = math.floor(math.log10(lo))
    for e in (exp, exp + 1):
        for m in (1, 2, 5):
            v = float(f"{m}e{e}")
            if v >= lo * (1 - 1e-12):
                return v
    return float(f"1e{exp + 2}")


def auto_interval_ns(duration_ns: int, target: int = TARGET_BINS) -> int:
    """The interval (ns) for a trace of ``duration_ns`` (see :data:`TARGET_BINS`)."""
    for exp in range(3, 19):
        for m in (1, 2, 5):
            step = m * 10 ** exp
            if duration_ns // step + 1 <= target:
                return step
    return 10 ** 19


def _mask_ints(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int]:
    return int(net.network_address), int(net.netmask)


def _in_net4(a32: np.ndarray, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> np.ndarray:
    """Which IPv4 addresses (as integers) lie in ``net`` (an IPv6 network holds none of them,
    unless it is an IPv4-mapped one)."""
    if isinstance(net, ipaddress.IPv6Network):
        if net.prefixlen < 96 or net.network_address.ipv4_mapped is None:
            return np.zeros(len(a32), dtype=bool)
        base, mask = int(net.network_address) & 0xFFFFFFFF, int(net.netmask) & 0xFFFFFFFF
    else:
        base, mask = _mask_ints(net)
    return (a32.astype(np.uint32) & np.uint32(mask)) == np.uint32(base)


def _in_net16(a16: np.ndarray, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> np.ndarray:
    """Which 16-byte addresses ((n, 16) uint8; IPv4 as IPv4-mapped) lie in ``net``."""
    if len(a16) == 0:
        return np.zeros(0, dtype=bool)
    words = np.ascontiguousarray(a16).view(">u8").reshape(-1, 2)
    hi, lo = words[:, 0], words[:, 1]
    if isinstance(net, ipaddress.IPv4Network):
        v4 = (hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))
        return v4 & _in_net4((lo & np.uint64(0xFFFFFFFF)).astype(np.uint32), net)
    base, mask = _mask_ints(net)
    return (((hi & np.uint64(mask >> 64)) == np.uint64(base >> 64))
            & ((lo & np.uint64(mask & 0xFFFFFFFFFFFFFFFF)) == np.uint64(base & 0xFFFFFFFFFFFFFFFF)))


def _fixed16(tbl: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray]:
    n = tbl.num_rows
    if name not in tbl.column_names or tbl[name].null_count == n:
        return np.zeros((0, 16), np.uint8), np.zeros(n, dtype=bool)
    a = tbl[name].combine_chunks()
    valid = np.asarray(a.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    data = np.frombuffer(a.buffers()[1], dtype=np.uint8)[a.offset * 16:(a.offset + n) * 16]
    return data.reshape(n, 16), valid


def local_rows(tbl: pa.Table, end: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network | None) -> np.ndarray:
    """Which frames have their ``end`` ("src" or "dst") address in ``net``: the innermost IP
    header's, else IPv4's, IPv6's or ARP's (the first of them the frame has)."""
    n = tbl.num_rows
    out = np.zeros(n, dtype=bool)
    if net is None or n == 0:
        return out
    decided = np.zeros(n, dtype=bool)
    arp = "arp.src.proto_ipv4" if end == "src" else "arp.dst.proto_ipv4"
    for name in (f"tracedoc.tunnel.{end}", f"ip.{end}", f"ipv6.{end}", arp):
        if name not in tbl.column_names:
            continue
        if pa.types.is_fixed_size_binary(tbl.schema.field(name).type):
            a16, valid = _fixed16(tbl, name)
            if not valid.any():
                continue
            take = valid & ~decided
            out[take] = _in_net16(a16[take], net)
        else:
            a32, valid = values(tbl, name, np.int64)
            if not valid.any():
                continue
            take = valid & ~decided
            out[take] = _in_net4(a32[take], net)
        decided |= valid
    return out


def directions(tbl: pa.Table, local: LocalSide) -> np.ndarray:
    """Per frame: 1 out of the local side, 2 into it, 0 neither (int8)."""
    src_local = local_rows(tbl, "src", local.network)
    dst_local = local_rows(tbl, "dst", local.network)
    return np.where(src_local, 1, np.where(dst_local, 2, 0)).astype(np.int8)


def _local(tbl: pa.Table, local: LocalSide | str | None) -> LocalSide:
    if isinstance(local, LocalSide):
        return local
    return infer_local(tbl, local)


def io_series(tbl: pa.Table, interval_s: float | None = None, local: LocalSide | str | None = None) -> pa.Table:
    """Packets and bytes per interval of ``interval_s`` seconds (None: automatic, see
    :data:`TARGET_BINS`), in total and per direction from the ``local`` side (a
    :class:`LocalSide`, a network as text, or None to infer it).  Raises ValueError for an
    interval that is not a positive number of at least a microsecond, or that would
    give more than :data:`MAX_BINS` intervals."""
    if interval_s is not None:
        if not isinstance(interval_s, (int, float)) or not math.isfinite(interval_s) or interval_s <= 0:
            raise ValueError(f"the interval must be a positive number of seconds, not {interval_s!r}")
        if interval_s < _MIN_INTERVAL_NS / 1e9:
            raise ValueError(f"the interval must be at least 1 us (0.000001 s), not {interval_s!r}")
    side = _local(tbl, local)
    t, has_t = values(tbl, "frame.time_epoch", np.int64)
    size, _ = values(tbl, "frame.len", np.int64)
    dirs = directions(tbl, side)
    if not has_t.all():
        t, size, dirs = t[has_t], size[has_t], dirs[has_t]
    meta = {"local": side.describe()}
    if len(t) == 0:
        iv = int(round(interval_s * 1e9)) if interval_s is not None else auto_interval_ns(0)
        meta.update(interval_ns=str(iv), start_ns="")
        return SCHEMA.empty_table().replace_schema_metadata(meta)
    t0 = int(t.min())
    rel = t - t0
    duration = int(rel.max())
    iv = int(round(interval_s * 1e9)) if interval_s is not None else auto_interval_ns(duration)
    nbins = duration // iv + 1
    if nbins > MAX_BINS:
        raise ValueError(f"an interval of {iv / 1e9:g} s gives {nbins} intervals over the trace's "
                         f"{duration / 1e9:g} s; choose at least {steps_125(duration / 1e9 / MAX_BINS):g} s")
    idx = rel // iv
    key = idx * 3 + dirs
    counts = np.bincount(key, minlength=3 * nbins).reshape(nbins, 3)
    # Byte sums in float64 are exact below 2**53 bytes per interval.
    nbytes = np.rint(np.bincount(key, weights=size, minlength=3 * nbins)).astype(np.int64).reshape(nbins, 3)
    bins = np.arange(nbins, dtype=np.int64)
    meta.update(interval_ns=str(iv), start_ns=str(t0))
    return pa.table({
        "bin": bins,
        "start": t0 + bins * iv,
        "offset": bins * (iv / 1e9),
        "packets": counts.sum(axis=1),
        "bytes": nbytes.sum(axis=1),
        "packets_out": counts[:, 1].copy(),
        "bytes_out": nbytes[:, 1].copy(),
        "packets_in": counts[:, 2].copy(),
        "bytes_in": nbytes[:, 2].copy(),
        "packets_other": counts[:, 0].copy(),
        "bytes_other": nbytes[:, 0].copy(),
    }, schema=SCHEMA).replace_schema_metadata(meta)


def interval_ns(series: pa.Table) -> int:
    """The interval of an :func:`io_series` table, in ns."""
    return int((series.schema.metadata or {}).get(b"interval_ns", b"0") or 0)
