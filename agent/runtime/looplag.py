"""Event-loop lag: how late a short sleep wakes up. A blocked loop shows up here first."""

from __future__ import annotations

import asyncio
import time


class LoopLagMonitor:
    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self.last_ms = 0.0
        self.max_ms = 0.0  # worst since the last ``take_max``
        self.samples = 0

    async def run(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(self.interval_s)
            lag = max(0.0, (time.perf_counter() - t0 - self.interval_s) * 1000.0)
            self.last_ms = lag
            self.max_ms = max(self.max_ms, lag)
            self.samples += 1

    def take_max(self) -> float:
        m, self.max_ms = self.max_ms, self.last_ms
        return m
