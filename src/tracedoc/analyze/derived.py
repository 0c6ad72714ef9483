"""Per-packet columns the analysis derives from the packet table.

Some facts Wireshark shows per packet are not in the packet's own bytes but
in its conversation: whether a segment is a retransmission, the scaled
window, the round trip of the ACK that answered it.  A *deriver* computes
such columns from decoded batches, in frame order, keeping whatever state
it needs across batches (as tshark's single pass does), so a trace of any
size streams through in bounded memory.

A deriver class declares

- ``FIELDS``: the columns it makes (Wireshark names, declared as decoders
  declare theirs, so filters, ``fields`` and exports treat them alike);
- ``NEEDS``: the packet-table columns it reads;

and its ``feed(batch)`` returns one array per field, in ``FIELDS`` order,
each as long as the batch.  A deriver whose class sets ``TAKES_WANTED`` is
built with the set of its columns the caller asked for, and may leave the
others null (skipping the work only they need).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar, Protocol

import pyarrow as pa

from tracedoc.decode.fields import Field
from tracedoc.decode.table import FIELDS as DECODED
from tracedoc.decode.table import Decoder
from tracedoc.read.batch import FrameBatch


class Deriver(Protocol):
    FIELDS: ClassVar[tuple[Field, ...]]
    NEEDS: ClassVar[tuple[str, ...]]

    def feed(self, batch: pa.RecordBatch) -> list[pa.Array]: ...


def _derivers() -> list[type[Deriver]]:
    from tracedoc.analyze.tcp_analysis import TcpAnalysis
    from tracedoc.analyze.transactions import DnsTime

    return [TcpAnalysis, DnsTime]


DERIVERS: list[type[Deriver]] = _derivers()

DERIVED: dict[str, Field] = {f.name: f for d in DERIVERS for f in d.FIELDS}
"""Every derived column, by name."""

FIELDS: dict[str, Field] = {**DECODED, **DERIVED}
"""Every column a view or filter can ask for: decoded and derived."""

SCHEMA = pa.schema([pa.field(name, f.arrow_type, metadata={"type": f.type, "desc": f.desc})
                    for name, f in FIELDS.items()])


class Packets:
    """Decodes frame batches and adds the derived columns asked for.

    ``columns`` limits the output to those columns, in that order (default:
    every column of :data:`SCHEMA`).  The decoder is asked for the decoded
    columns plus what the derivers need; only derivers with a requested
    column run.
    """

    def __init__(self, columns: list[str] | None = None, detail_frames: set[int] | None = None,
                 skip_opaque: bool = False) -> None:
        if columns is None:
            self.schema = SCHEMA
            self.derivers: list[Deriver] = [d() for d in DERIVERS]
            decode_cols: list[str] | None = None
        else:
            unknown = [c for c in columns if c not in FIELDS]
            if unknown:
                raise KeyError(f"unknown columns: {unknown}")
            wanted = list(dict.fromkeys(columns))
            self.schema = pa.schema([SCHEMA.field(c) for c in wanted])
            want = set(wanted)
            self.derivers = [_deriver(d, want) for d in DERIVERS if want.intersection(f.name for f in d.FIELDS)]
            decode_cols = [c for c in wanted if c in DECODED]
            for d in self.derivers:
                decode_cols += [c for c in d.NEEDS if c not in decode_cols]
        self.decoder = Decoder(decode_cols, detail_frames, skip_opaque)

    def decode(self, batch: FrameBatch) -> pa.RecordBatch:
        rb = self.decoder.decode(batch)
        if not self.derivers:
            return rb if rb.schema.equals(self.schema) else _select(rb, self.schema)
        have: dict[str, pa.Array] = {name: rb.column(i) for i, name in enumerate(rb.schema.names)}
        for d in self.derivers:
            for f, arr in zip(d.FIELDS, d.feed(rb)):
                have[f.name] = arr
        return pa.RecordBatch.from_arrays([_column(have, f, rb.num_rows) for f in self.schema],
                                          schema=self.schema)


def _deriver(d: type[Deriver], want: set[str]) -> Deriver:
    """Deriver ``d``, told which of its columns are wanted if it can use that."""
    if getattr(d, "TAKES_WANTED", False):
        return d(want.intersection(f.name for f in d.FIELDS))  # type: ignore[call-arg]
    return d()


def _select(rb: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([rb.column(rb.schema.get_field_index(f.name)) for f in schema],
                                      schema=schema)


def _column(have: dict[str, pa.Array], f: pa.Field, n: int) -> pa.Array:
    arr = have.get(f.name)
    return pa.nulls(n, f.type) if arr is None else arr


def packets(batches: Iterable[FrameBatch], columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """Decoded batches with derived columns, in order."""
    p = Packets(columns)
    for b in batches:
        yield p.decode(b)
