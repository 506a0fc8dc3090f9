"""Keep the C heap small: free pages back to the system after an analysed frame.

Every frame allocates and frees tens of megabytes outside ONNX Runtime's arena (the
detector's 11 MB input blob, the RGB frame, FaceMesh crops, decoded pictures). glibc keeps
freed memory that is not at the top of a heap, so the process's RSS settles well above
what it uses between frames. ``malloc_trim(0)`` returns the free pages of every malloc
arena (docs/BENCHMARKS.md "Engagement memory and head pose": about 13 MB less RSS with
all models). A trim takes about 1.6 ms (up to ~20 ms after a body-model
pass), holds each malloc arena's lock in turn, and runs without the GIL (ctypes). A no-op
where the C library has no ``malloc_trim`` (musl, macOS).

``malloc_trim`` cannot shrink the top of a thread's malloc arena, and the service analyses
in a worker thread. glibc's default (a "dynamic" threshold) lets up to 64 MB stay free at
that top once large blocks have been freed; ``tune_malloc`` fixes the trim threshold at
16 MB (and the mmap threshold at its 32 MB maximum, which glibc reaches on its own after
the first large free), so a heap top above 16 MB is returned: another 10-20 MB less RSS in
the worker thread for 0-8 % more CPU a frame (BENCHMARKS.md, two runs). Process-wide, set once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any

M_TRIM_THRESHOLD = -1  # glibc malloc.h
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 16 << 20
MMAP_THRESHOLD = 32 << 20  # glibc's largest (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit)


@functools.cache
def _glibc() -> Any | None:
    """The C library when it has ``malloc_trim`` and ``mallopt`` (glibc), else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


@functools.cache
def tune_malloc() -> bool:
    """Fixed glibc thresholds (module doc), set once per process; False when not glibc."""
    libc = _glibc()
    if libc is None:
        return False
    ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok)


def release_free_heap() -> bool:
    """Return the C heap's free pages to the system; False when not supported."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
