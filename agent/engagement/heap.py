"""Keep the C heap small: free pages back to the system after an analysed frame.

Every frame allocates and frees tens of megabytes outside ONNX Runtime's arena (the
detector's 11 MB input blob, the RGB frame, FaceMesh crops, decoded pictures). glibc keeps
freed memory that is not at the top of a heap, so the process's RSS settles well above
what it uses between frames. ``malloc_trim(0)`` returns the free pages of every malloc
arena (docs/BENCHMARKS.md "Engagement memory and head pose": about 13 MB less RSS with
all models, no measurable CPU). A trim takes about 1.6 ms (up to ~20 ms after a body-model
pass), holds each malloc arena's lock in turn, and runs without the GIL (ctypes). A no-op
where the C library has no ``malloc_trim`` (musl, macOS).

``malloc_trim`` cannot shrink the top of a thread's malloc arena, and the service analyses
in a worker thread. glibc's default (a "dynamic" threshold) lets up to 64 MB stay free at
that top once large blocks have been freed; ``tune_malloc`` fixes the trim threshold at
16 MB (and the mmap threshold at its 32 MB maximum, which glibc reaches on its own after
the first large free), so a heap top above 16 MB is returned: another 10-20 MB less RSS in
the worker thread for 0-2.4 % more CPU a frame. Process-wide, set once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

_trim: Callable[[int], int] | None = None
_mallopt: Callable[[int, int], int] | None = None
_looked = False
_tuned = False
M_TRIM_THRESHOLD = -1  # glibc malloc.h
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 16 << 20
MMAP_THRESHOLD = 32 << 20  # glibc's largest (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit)


def _load() -> Callable[[int], int] | None:
    global _trim, _mallopt, _looked
    if not _looked:
        _looked = True
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            trim, mallopt = libc.malloc_trim, libc.mallopt
        except (OSError, AttributeError):
            return None
        trim.argtypes = [ctypes.c_size_t]
        trim.restype = ctypes.c_int
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        mallopt.restype = ctypes.c_int
        _trim, _mallopt = trim, mallopt
    return _trim


def tune_malloc() -> bool:
    """Fixed glibc thresholds (module doc); False when not glibc or already set."""
    global _tuned
    if _load() is None or _mallopt is None or _tuned:
        return False
    _tuned = True
    ok = _mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return _mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok


def release_free_heap() -> bool:
    """Return the C heap's free pages to the system; False when not supported."""
    trim = _load()
    if trim is None:
        return False
    trim(0)
    return True
