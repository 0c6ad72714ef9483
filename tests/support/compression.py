"""Streaming decompressors by name, for tests that damage compressed traces."""

from __future__ import annotations

import bz2
import lzma
import zlib
from typing import Any

import zstandard


def decompressor(kind: str) -> Any:
    """A fresh decompressor object for ``kind`` (gzip, bzip2, xz, zstd)."""
    if kind == "gzip":
        return zlib.decompressobj(31)
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    if kind == "xz":
        return lzma.LZMADecompressor()
    return zstandard.ZstdDecompressor().decompressobj()
