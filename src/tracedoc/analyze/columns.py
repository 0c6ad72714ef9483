"""Packet-table columns as numpy arrays: one way for every analysis module.

:func:`values` gives a column's values (nulls as 0) with its validity;
:func:`valid` only the validity.  A column the table lacks is all null, so
a view that did not ask for a column still runs.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def values(tbl: pa.Table, name: str, dtype: type | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Values (nulls as 0) and validity of a column; absent columns are all null.  Integers come
    as int32 when they fit (16-bit and narrower columns), else int64, unless ``dtype`` says."""
    n = tbl.num_rows
    if name not in tbl.column_names:
        return np.zeros(n, dtype=dtype or np.int64), np.zeros(n, dtype=bool)
    a = tbl[name].combine_chunks()
    if pa.types.is_integer(a.type):
        # Straight from the Arrow buffers: one copy (the cast), nulls zeroed in place.  Narrow
        # types keep a trace's many per-packet arrays small (memory the first pass must fault in).
        bufs = a.buffers()
        raw = np.frombuffer(bufs[1], dtype=a.type.to_pandas_dtype(), count=a.offset + n)[a.offset:]
        if dtype is None:
            dtype = np.int32 if a.type.bit_width <= 16 else np.int64
        vals: np.ndarray = raw.astype(dtype)
        if a.null_count and bufs[0] is not None:
            bits = np.frombuffer(bufs[0], dtype=np.uint8)
            valid = np.unpackbits(bits, count=a.offset + n, bitorder="little")[a.offset:].view(bool)
            vals[~valid] = 0
        else:
            valid = np.ones(n, dtype=bool)
        return vals, valid
    valid = np.asarray(a.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_binary(a.type) or pa.types.is_large_binary(a.type):
        return valid.copy(), valid
    if a.null_count:
        a = a.fill_null(False if pa.types.is_boolean(a.type) else 0)
    vals = np.asarray(a.to_numpy(zero_copy_only=False)).astype(dtype or np.int64, copy=False)
    return vals, valid


def valid(tbl: pa.Table, name: str) -> np.ndarray:
    """Which rows have a value in column ``name`` (none when the table lacks it)."""
    if name not in tbl.column_names:
        return np.zeros(tbl.num_rows, dtype=bool)
    return np.asarray(tbl[name].combine_chunks().is_valid().to_numpy(zero_copy_only=False), dtype=bool)
