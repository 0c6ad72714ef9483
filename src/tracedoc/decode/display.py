"""Field values as text, formatted the way tshark 4.0 formats them.

Everything here works on whole Arrow arrays: integers through Arrow's own
casts, fixed-width forms (hex, MAC addresses, the nanosecond part of times)
by building the text bytes with numpy and handing Arrow the buffers, IPv6 by
formatting each distinct address once.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracedoc.decode.fields import Field

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _fixed_strings(mat: np.ndarray, valid: np.ndarray | None) -> pa.Array:
    """A StringArray whose i-th value is row i of the uint8 matrix ``mat``."""
    n, w = mat.shape
    offsets = (np.arange(n + 1, dtype=np.int32) * w)
    validity = None
    nulls = 0
    if valid is not None and not valid.all():
        validity = pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
        nulls = int((~valid).sum())
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()),
                                       pa.py_buffer(np.ascontiguousarray(mat).tobytes()), validity, nulls)


def _np_values(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    valid = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    vals = np.asarray(arr.fill_null(0).to_numpy(zero_copy_only=False))
    return vals, valid


def hex_digits(vals: np.ndarray, width: int, prefix: bool = True) -> np.ndarray:
    v = vals.astype(np.uint64)
    cols = []
    if prefix:
        cols += [np.full(len(v), ord("0"), np.uint8), np.full(len(v), ord("x"), np.uint8)]
    for k in range(width - 1, -1, -1):
        cols.append(_HEX[((v >> np.uint64(4 * k)) & np.uint64(0xF)).astype(np.intp)])
    return np.stack(cols, axis=1) if cols else np.zeros((len(v), 0), np.uint8)


def format_hex(arr: pa.Array, width: int) -> pa.Array:
    vals, valid = _np_values(arr)
    # A value wider than the declared width still shows all its digits.
    need = int(vals.max()).bit_length() if len(vals) else 0
    width = max(width, (need + 3) // 4, 1)
    return _fixed_strings(hex_digits(vals, width), valid)


def format_ether(arr: pa.Array) -> pa.Array:
    vals, valid = _np_values(arr)
    v = vals.astype(np.uint64)
    cols = []
    for k in range(5, -1, -1):
        byte = (v >> np.uint64(8 * k)) & np.uint64(0xFF)
        cols.append(_HEX[(byte >> np.uint64(4)).astype(np.intp)])
        cols.append(_HEX[(byte & np.uint64(0xF)).astype(np.intp)])
        if k:
            cols.append(np.full(len(v), ord(":"), np.uint8))
    return _fixed_strings(np.stack(cols, axis=1), valid)


def _via_dictionary(arr: pa.Array, fmt) -> pa.Array:  # type: ignore[no-untyped-def]
    """Format each distinct value once (``fmt`` takes a numpy array of them
    and returns their texts) and spread the texts over the rows.  Traces
    repeat their addresses and seconds endlessly, so this is the cheap way."""
    enc = pc.dictionary_encode(arr)
    texts = pa.array(fmt(enc.dictionary.to_numpy(zero_copy_only=False)), type=pa.string())
    return pc.take(texts, enc.indices)


def format_ipv4(arr: pa.Array) -> pa.Array:
    def fmt(vals: np.ndarray) -> list[str]:
        return [f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}" for v in vals.tolist()]

    return _via_dictionary(arr.cast(pa.uint32()), fmt)


def format_ipv6(arr: pa.Array) -> pa.Array:
    if len(arr) == 0:
        return pa.array([], pa.string())
    valid = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    raw = np.frombuffer(arr.buffers()[1], dtype=np.uint8)[arr.offset * 16:(arr.offset + len(arr)) * 16]
    rows = raw.reshape(-1, 16).view("V16").ravel()
    uniq, inv = np.unique(rows, return_inverse=True)
    texts = np.array([str(ipaddress.IPv6Address(bytes(u))) for u in uniq], dtype=object)
    out = texts[inv.ravel()]
    return pa.array(out, type=pa.string(), mask=~valid)


def format_time(arr: pa.Array) -> pa.Array:
    """Epoch seconds with nine decimals (``1084443427.311224000``); a
    negative duration is its magnitude with a minus (``-0.000039000``)."""
    vals, valid = _np_values(arr)
    ns = vals.astype(np.int64)
    neg = ns < 0
    ns = np.abs(ns)
    sec = np.floor_divide(ns, 1_000_000_000)
    frac = ns - sec * 1_000_000_000
    secs = _via_dictionary(pa.array(sec), lambda v: [str(x) for x in v.tolist()])
    if neg.any():
        secs = pc.if_else(pa.array(neg), pc.binary_join_element_wise("-", secs, ""), secs)
    # 1_000_000_000 + frac has ten digits: drop the leading 1 for a zero-padded nine.
    digits = pc.utf8_slice_codeunits(pc.cast(pa.array(frac + 1_000_000_000), pa.string()), 1)
    out = pc.binary_join_element_wise(secs, digits, ".")
    if not valid.all():
        out = pc.if_else(pa.array(valid), out, pa.nulls(len(out), pa.string()))
    return out


def utc_text(ns: int) -> str:
    """An absolute time as tshark shows a UTC time field
    (``May 30, 2019 20:03:34.048406864 UTC``); 0 is ``NULL``, as for NTP."""
    if ns == 0:
        return "NULL"
    s, frac = divmod(int(ns), 1_000_000_000)
    t = time.gmtime(s)
    return f"{time.strftime('%b', t)} {t.tm_mday:2d}, {t.tm_year} {time.strftime('%H:%M:%S', t)}.{frac:09d} UTC"


def format_utc_time(arr: pa.Array) -> pa.Array:
    return _via_dictionary(arr.cast(pa.int64()), lambda v: [utc_text(x) for x in v.tolist()])


def format_bool(arr: pa.Array) -> pa.Array:
    return pc.if_else(arr, "1", "0")


def format_bytes(arr: pa.Array) -> pa.Array:
    """Plain hex digits; an empty byte string is ``<MISSING>``, as tshark prints it."""
    return pa.array([None if b is None else (b.hex() if b else "<MISSING>") for b in arr.to_pylist()],
                    type=pa.string())


def list_spans(arr: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """A list column's values, flattened, and where each row's occurrences
    start and end in them (``end == start`` for an empty or null list)."""
    flat = arr.flatten()
    parents = np.asarray(pc.list_parent_indices(arr).to_numpy(zero_copy_only=False), dtype=np.int64)
    rows = np.arange(len(arr), dtype=np.int64)
    return flat, np.searchsorted(parents, rows, "left"), np.searchsorted(parents, rows, "right")


def format_occurrences(arr: pa.Array, f: Field, occurrence: str = "a", aggregator: str = ",") -> pa.Array:
    """Text of a multi-occurrence (list) column: every occurrence joined by
    ``aggregator`` (``a``), or only the first (``f``) or last (``l``), as
    tshark's ``-E occurrence`` picks them.  Empty lists show as nothing."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    one = replace(f, multi=False)
    flat, first, end = list_spans(arr)
    has = end > first
    if occurrence in ("f", "l"):
        pick = first if occurrence == "f" else end - 1
        return format_field(pc.take(flat, pa.array(np.where(has, pick, 0), mask=~has)), one)
    flat_text = format_field(flat, one)
    offsets = pa.array(np.concatenate([first, end[-1:] if len(end) else [0]]).astype(np.int32))
    out = pc.binary_join(pa.ListArray.from_arrays(offsets, flat_text), aggregator)
    return pc.if_else(pa.array(has), out, pa.nulls(len(arr), pa.string()))


def format_field(arr: pa.Array, f: Field) -> pa.Array:
    """Text of every value of column ``arr`` declared by ``f``; nulls stay null."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if f.multi:
        return format_occurrences(arr, f)
    t = f.type
    if t == "ether":
        return format_ether(arr)
    if t == "ipv4":
        return format_ipv4(arr)
    if t == "ipv6":
        return format_ipv6(arr)
    if t == "time":
        return format_utc_time(arr) if f.base == "utc" else format_time(arr)
    if t == "bool":
        return format_bool(arr)
    if t == "bytes":
        return format_bytes(arr)
    if t == "string":
        return arr
    if f.base == "hex":
        return format_hex(arr, f.width)
    return pc.cast(arr, pa.string())
