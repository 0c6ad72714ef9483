"""``tracedoc fields``: a drop-in for ``tshark -r FILE -T fields -e ...``."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracedoc.decode.display import format_field
from tracedoc.decode.fields import INNER_PREFIX
from tracedoc.decode.table import FIELDS
from tracedoc.errors import FieldError

SEPARATORS = {"/t": "\t", "/s": " ", "\\t": "\t"}


def check_fields(names: Iterable[str]) -> None:
    for name in names:
        if name not in FIELDS or name.startswith(INNER_PREFIX):
            close = difflib.get_close_matches(name, [n for n in FIELDS if not n.startswith(INNER_PREFIX)],
                                              n=5, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise FieldError(f"unknown field '{name}'{hint}")


def needed_columns(names: list[str]) -> list[str]:
    """The packet-table columns that printing ``names`` reads."""
    cols = []
    for name in names:
        cols.append(name)
        if INNER_PREFIX + name in FIELDS:
            cols.append(INNER_PREFIX + name)
    return cols


def parse_options(opts: Iterable[str]) -> dict[str, str]:
    """``-E header=y`` style options, as tshark takes them."""
    out = {"header": "n", "separator": "\t", "quote": "n", "occurrence": "a", "aggregator": ","}
    for o in opts:
        key, _, val = o.partition("=")
        if key not in out:
            raise FieldError(f"unknown -E option '{key}' (header, separator, quote, occurrence, aggregator)")
        if key == "separator":
            val = SEPARATORS.get(val, val)
        if key == "aggregator":
            val = SEPARATORS.get(val, val)
        out[key] = val
    return out


def column_text(batch: pa.RecordBatch, name: str, occurrence: str, aggregator: str) -> pa.Array:
    """Text of one field for every frame: the packet's own value, then the one
    quoted inside an ICMP error, as tshark lists a field's occurrences."""
    f = FIELDS[name]
    own = format_field(batch.column(name), f)
    inner_name = INNER_PREFIX + name
    if inner_name not in FIELDS:
        return own
    inner = format_field(batch.column(inner_name), FIELDS[inner_name])
    if occurrence == "f":
        return pc.coalesce(own, inner)
    if occurrence == "l":
        return pc.coalesce(inner, own)
    both = pc.and_(pc.is_valid(own), pc.is_valid(inner))
    if not pc.any(both).as_py():
        return pc.coalesce(own, inner)
    return pc.if_else(both, pc.binary_join_element_wise(own, inner, aggregator), pc.coalesce(own, inner))


def write_fields(batches: Iterable[pa.RecordBatch], names: list[str], opts: dict[str, str],
                 out: BinaryIO) -> int:
    sep = opts["separator"]
    quote = {"d": '"', "s": "'"}.get(opts["quote"], "")
    if opts["header"] == "y":
        out.write((sep.join(names) + "\n").encode())
    rows = 0
    for batch in batches:
        n = batch.num_rows
        if n == 0:
            continue
        cols = []
        for name in names:
            text = column_text(batch, name, opts["occurrence"], opts["aggregator"])
            if quote:
                text = pc.binary_join_element_wise(quote, text, quote, "")
            cols.append(text)
        line = pc.binary_join_element_wise(*cols, sep, null_handling="replace", null_replacement="")
        line = pc.binary_join_element_wise(line, pa.scalar("\n"), "")
        # The joined array's data buffer is exactly the text of every line.
        offs = np.frombuffer(line.buffers()[1], dtype=np.int32)[line.offset:line.offset + n + 1]
        data = line.buffers()[2]
        out.write(memoryview(data)[int(offs[0]):int(offs[-1])])
        rows += n
    return rows


def stdout_binary() -> BinaryIO:
    return sys.stdout.buffer
