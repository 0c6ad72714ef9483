"""``tracedoc fields``: a drop-in for ``tshark -r FILE -T fields -e ...``."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracedoc.decode.display import format_field, format_occurrences
from tracedoc.decode.fields import INNER_PREFIX
from tracedoc.analyze.derived import FIELDS
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


# tshark's fields output writes these control characters of a string as escapes.
_ESCAPES = (("\b", "\\b"), ("\f", "\\f"), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))


def _escaped(text: pa.Array) -> pa.Array:
    for ch, esc in _ESCAPES:
        if pc.any(pc.match_substring(text, ch)).as_py():
            text = pc.replace_substring(text, ch, esc)
    return text


def column_text(batch: pa.RecordBatch, name: str, occurrence: str, aggregator: str) -> pa.Array:
    """Text of one field for every frame: the packet's own value, then the one
    quoted inside an ICMP error, as tshark lists a field's occurrences."""
    f = FIELDS[name]
    if f.multi:
        text = format_occurrences(batch.column(name), f, occurrence, aggregator)
        return _escaped(text) if f.type == "string" else text
    if f.type == "string":
        return _escaped(format_field(batch.column(name), f))
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


def _format_lines(batch: pa.RecordBatch, names: list[str], opts: dict[str, str]) -> memoryview:
    """The text of every frame of ``batch``, one line each."""
    sep = opts["separator"]
    quote = {"d": '"', "s": "'"}.get(opts["quote"], "")
    cols = []
    for name in names:
        text = column_text(batch, name, opts["occurrence"], opts["aggregator"])
        if quote:
            text = pc.binary_join_element_wise(quote, text, quote, "")
        cols.append(text)
    line = pc.binary_join_element_wise(*cols, sep, null_handling="replace", null_replacement="")
    line = pc.binary_join_element_wise(line, pa.scalar("\n"), "")
    # The joined array's data buffer is exactly the text of every line.
    n = batch.num_rows
    offs = np.frombuffer(line.buffers()[1], dtype=np.int32)[line.offset:line.offset + n + 1]
    return memoryview(line.buffers()[2])[int(offs[0]):int(offs[-1])]


def write_fields(batches: Iterable[pa.RecordBatch], names: list[str], opts: dict[str, str],
                 out: BinaryIO) -> int:
    if opts["header"] == "y":
        out.write((opts["separator"].join(names) + "\n").encode())
    rows = 0
    for batch in batches:
        if batch.num_rows:
            out.write(_format_lines(batch, names, opts))
            rows += batch.num_rows
    return rows


def _writer_process(conn, names: list[str], opts: dict[str, str], fd: int) -> None:  # type: ignore[no-untyped-def]
    """Child side of :func:`write_fields_parallel`: format and write.  The
    first message is the batches' schema, then one message per batch, then
    an empty one."""
    import os

    from tracedoc import _malloc

    _malloc.tune()
    out = os.fdopen(os.dup(fd), "wb", buffering=1 << 20)
    try:
        schema = pa.ipc.read_schema(pa.py_buffer(conn.recv_bytes()))
        while True:
            msg = conn.recv_bytes()
            if not msg:
                break
            batch = pa.ipc.read_record_batch(pa.py_buffer(msg), schema)
            out.write(_format_lines(batch, names, opts))
        out.flush()
    except BrokenPipeError:
        os._exit(0)
    except BaseException as e:  # reported by the parent, which owns the exit code
        sys.stderr.write(f"tracedoc: internal error in the output writer: {type(e).__name__}: {e}\n")
        os._exit(3)
    os._exit(0)


def write_fields_parallel(batches: Iterable[pa.RecordBatch], names: list[str], opts: dict[str, str],
                          out: BinaryIO) -> int:
    """:func:`write_fields` with the text formatting in a second process.

    Decoding and formatting each take about half the time of a run; on a
    machine with two or more cores the parent decodes batch k+1 while the
    child formats and writes batch k.  The pipe holds at most one batch in
    flight, so memory stays bounded.  Output order is the batches' order.
    """
    import multiprocessing as mp

    if opts["header"] == "y":
        out.write((opts["separator"].join(names) + "\n").encode())
    out.flush()
    # Fork before the first batch is decoded, while this process has not yet
    # started Arrow's or numpy's worker threads: a fork is only safe then.
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_writer_process, args=(recv, names, opts, out.fileno()),
                        name="tracedoc-writer", daemon=True)
    child.start()
    recv.close()
    rows = 0
    schema_sent = False
    try:
        for batch in batches:
            if not schema_sent:
                send.send_bytes(batch.schema.serialize().to_pybytes())
                schema_sent = True
            if batch.num_rows:
                send.send_bytes(batch.serialize())
                rows += batch.num_rows
        if not schema_sent:
            send.send_bytes(pa.schema([]).serialize().to_pybytes())
        send.send_bytes(b"")
    except (BrokenPipeError, OSError):
        # The writer is gone (the reader of our output closed it, or it
        # failed and said so): stop decoding.
        pass
    finally:
        send.close()
        child.join()
    if child.exitcode not in (0, None):
        raise RuntimeError(f"output writer process failed (exit code {child.exitcode})")
    return rows


PARALLEL_MIN_BYTES = 32 << 20
"""Below this file size the second process costs more than it saves."""


def stdout_binary() -> BinaryIO:
    return sys.stdout.buffer
