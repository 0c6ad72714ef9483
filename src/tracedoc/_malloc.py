"""Keep freed memory in the process instead of handing it back to the OS.

tracedoc allocates and frees buffers of many megabytes per batch (file
windows, numpy temporaries, Arrow columns).  glibc serves allocations that
large with fresh mmap()s and returns them on free, so every batch pays its
page faults again: about a third of the run time on a 1M-packet trace.
Raising the mmap and trim thresholds lets glibc reuse that memory.  Peak
memory stays bounded by the largest batch; nothing changes on other libcs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

_done = False


def tune() -> bool:
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = bool(mallopt(M_MMAP_THRESHOLD, 256 << 20)) and bool(mallopt(M_TRIM_THRESHOLD, 1 << 30))
    _done = ok
    return ok
