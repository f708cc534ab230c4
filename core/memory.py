"""The process's memory policy: a large buffer goes back to the system once it is freed.

glibc serves an allocation above its mmap threshold (128 KiB) with a mapping of its own, which
`free` returns at once; but after the first such free it raises the threshold to that size (up
to 32 MiB), so later answers of a few MiB come from the heap, which keeps the memory. Measured
on `fnproxy serve`: 32 answers of 6 MiB left it 57 MiB larger for good (59 -> 116 MiB); with
the threshold pinned it went back to its baseline (60 MiB). Pinning it (`mallopt`) also turns
the dynamic raise off. A no-op where the C library has no `mallopt` (macOS).
"""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024


def return_large_buffers() -> bool:
    """Pin the C allocator's mmap threshold; True when it took effect (glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
