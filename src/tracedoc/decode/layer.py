"""What a protocol decoder is handed and what it hands on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Layer:
    """A set of packets that carry one protocol at known positions."""

    idx: np.ndarray
    """Row numbers in the batch."""
    pos: np.ndarray
    """Byte position of this protocol's header in the batch buffer."""
    plen: np.ndarray | None = None
    """Length of this layer on the wire as the enclosing header states it
    (IP payload length), or None where no enclosing length applies."""
    prefix: str = ""
    """Column-name prefix (``inner.`` inside an ICMP error)."""
    depth: int = 0

    def take(self, mask: np.ndarray) -> "Layer":
        return Layer(self.idx[mask], self.pos[mask],
                     None if self.plen is None else self.plen[mask], self.prefix, self.depth)


@dataclass
class Next:
    """Packets to hand to the next protocol, looked up in dispatch ``table``
    by ``key`` (an ethertype, an IP protocol number, ...)."""

    table: str
    key: np.ndarray
    layer: Layer
