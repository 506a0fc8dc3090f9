"""Give the C heap's free pages back to the system after an analysed frame.

Every frame allocates and frees tens of megabytes outside ONNX Runtime's arena (the
detector's 11 MB input blob, the RGB frame, FaceMesh crops, decoded pictures). glibc keeps
freed memory that is not at the top of a heap, so the process's RSS settles well above
what it uses between frames. ``malloc_trim(0)`` returns the free pages of every malloc
arena (docs/BENCHMARKS.md "Engagement RSS": about 20 MB less RSS with all models for
under 1 % more CPU a frame). A no-op where the C library has no ``malloc_trim`` (musl,
macOS).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

_trim: Callable[[int], int] | None = None
_looked = False


def _load() -> Callable[[int], int] | None:
    global _trim, _looked
    if not _looked:
        _looked = True
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _trim = libc.malloc_trim
            _trim.argtypes = [ctypes.c_size_t]
            _trim.restype = ctypes.c_int
        except (OSError, AttributeError):
            _trim = None
    return _trim


def release_free_heap() -> bool:
    """Return the C heap's free pages to the system; False when not supported."""
    trim = _load()
    if trim is None:
        return False
    trim(0)
    return True
