"""Process-wide memory settings applied before any thread starts."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_ARENA_MAX = -8  # glibc mallopt parameter


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """glibc gives each thread that allocates its own malloc arena (up to 8 per core); with
    capture, inference, SQLite and web threads those arenas hold freed memory apart and
    RSS grows by tens of MB (bench/footprint.py, busy lesson). Two arenas keep it bounded
    at no measurable CPU cost here. An explicit MALLOC_ARENA_MAX in the environment wins."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        return bool(ctypes.CDLL(name).mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
