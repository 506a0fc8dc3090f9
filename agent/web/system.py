"""The ``system`` section of the status document: CPU, memory, temperature, disk, loop lag.

Used when no service already reports a ``system`` section. Sampled at most every
``MIN_INTERVAL_S`` so live pages and scrapes never make psutil the hot path.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any

import psutil

from agent.runtime.service import AgentContext

MIN_INTERVAL_S = 2.0

_cache: dict[int, tuple[float, dict[str, Any]]] = {}


def _temperature_c() -> float | None:
    try:
        temps = psutil.sensors_temperatures()  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return None
    best = None
    for name, entries in (temps or {}).items():
        for e in entries:
            if e.current is None:
                continue
            # prefer the CPU package sensor; otherwise the hottest reading
            if name in ("coretemp", "k10temp", "cpu_thermal", "soc_thermal"):
                return round(float(e.current), 1)
            best = max(best or float(e.current), float(e.current))
    return round(best, 1) if best is not None else None


def _disk(path: str) -> tuple[int | None, int | None]:
    p = path
    while p and not os.path.exists(p):  # data dir may not exist yet (fresh install)
        p = os.path.dirname(p)
    try:
        du = shutil.disk_usage(p or "/")
    except OSError:
        return None, None
    return du.free, du.total


def sample(ctx: AgentContext) -> dict[str, Any]:
    now = time.monotonic()
    hit = _cache.get(id(ctx))
    if hit and now - hit[0] < MIN_INTERVAL_S:
        out = dict(hit[1])
    else:
        vm = psutil.virtual_memory()
        free, total = _disk(str(ctx.config.data_dir))
        try:
            load1 = os.getloadavg()[0]
        except OSError:
            load1 = None
        out = {
            # non-blocking: CPU use since the previous call (0.0 on the very first)
            "cpu_percent": psutil.cpu_percent(interval=None),
            "cpu_count": psutil.cpu_count() or 1,
            "load_1m": round(load1, 2) if load1 is not None else None,
            "memory_percent": vm.percent,
            "memory_total_bytes": vm.total,
            "rss_bytes": psutil.Process().memory_info().rss,
            "temperature_c": _temperature_c(),
            "disk_free_bytes": free,
            "disk_total_bytes": total,
        }
        if len(_cache) > 16:  # agents come and go in tests
            _cache.clear()
        _cache[id(ctx)] = (now, out)
        out = dict(out)
    out["loop_lag_ms"] = round(ctx.looplag.last_ms, 2)
    return out
