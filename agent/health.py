"""System telemetry: published on ``health`` every ``health.interval_s`` and shown as the
``system`` section of /api/status."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import psutil

from agent.events import Health
from agent.runtime.service import AgentContext, Service


def read_temperature() -> float | None:
    """The hottest CPU-ish sensor, where the platform exposes one."""
    try:
        sensors = psutil.sensors_temperatures()  # absent on some platforms: AttributeError
    except (AttributeError, OSError):
        return None
    temps = [t.current for entries in sensors.values() for t in entries if t.current]
    return max(temps) if temps else None


class HealthService(Service):
    name = "system"
    capabilities = ("health",)

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        self._proc = psutil.Process()
        self._proc.cpu_percent(None)  # prime: the first reading is always 0
        psutil.cpu_percent(None)

    @classmethod
    def create(cls, ctx: AgentContext) -> HealthService:
        return cls(ctx)

    def system(self) -> dict[str, Any]:
        """Live system figures: the ``system`` section of /api/status and part of Health."""
        try:
            disk = psutil.disk_usage(str(self.ctx.config.data_dir))
            free, total = disk.free, disk.total
        except OSError:
            free = total = 0
        return {
            "cpu_percent": psutil.cpu_percent(None),
            "load_1m": round(os.getloadavg()[0], 2),
            "memory_percent": psutil.virtual_memory().percent,
            "disk_free_bytes": free,
            "disk_total_bytes": total,
            "temperature_c": read_temperature(),
            "rss_bytes": self._proc.memory_info().rss,
            "loop_lag_ms": round(self.ctx.looplag.last_ms, 2),
        }

    def sample(self) -> Health:
        up = self.ctx.services.get("uplink")
        u = up.status() if up else {}
        return Health(
            **self.system(),
            uptime_s=round((self.ctx.clock.now() - self.ctx.started).total_seconds(), 1),
            loop_lag_max_ms=round(self.ctx.looplag.take_max(), 2),
            outbox_depth=u.get("outbox_depth", 0),
            outbox_bytes=u.get("outbox_bytes", 0),
            outbox_oldest_age_s=u.get("outbox_oldest_age_s", 0.0),
            sent_total=u.get("sent_total", 0),
            dropped_total=u.get("dropped_total", 0),
            dropped_by_priority=u.get("dropped_by_priority", {}),
        )

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            await self.ctx.bus.publish(self.sample())
            # the interval is read each round so ``reload`` can change it live
            wait = self.ctx.config.health.interval_s - (time.monotonic() - started)
            await asyncio.sleep(max(0.1, wait))

    def status(self) -> dict[str, Any]:
        return self.system()
