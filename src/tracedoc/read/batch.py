"""Frame batches: what every reader produces and every decoder consumes.

A batch is one bytes buffer (a chunk of the file) plus one numpy array per
record attribute.  Decoders address packet bytes as ``data[offset[i] + k]``
for ``0 <= k < caplen[i]``; nothing else about the file format leaks past the
reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa


@dataclass
class FrameBatch:
    data: np.ndarray
    """uint8 buffer holding the packet bytes of every record in the batch."""
    offset: np.ndarray
    """int64: where each packet's bytes start in ``data``."""
    caplen: np.ndarray
    """int64: captured length (bytes present in ``data``)."""
    origlen: np.ndarray
    """int64: length of the packet on the wire."""
    ts_ns: np.ndarray
    """int64: timestamp, nanoseconds since the Unix epoch (UTC)."""
    linktype: np.ndarray
    """int32: LINKTYPE_* value of each record (pcapng interfaces differ)."""
    interface_id: np.ndarray
    """int32: pcapng interface id, -1 where the format has none."""
    record_offset: np.ndarray
    """int64: byte offset of each record's header in the (decompressed) file."""
    first_number: int
    """frame.number of the first record (1-based, continuous across batches)."""
    meta: dict[str, pa.Array] = field(default_factory=dict)
    """Per-record metadata columns the format carries (pcapng comments,
    epb_flags, drop counts; CTRACE direction, link name, ...), keyed by the
    packet-table column name they become."""

    def __len__(self) -> int:
        return len(self.offset)

    def packet_bytes(self, i: int) -> bytes:
        """The captured bytes of record ``i`` of this batch."""
        o = int(self.offset[i])
        return self.data[o:o + int(self.caplen[i])].tobytes()
