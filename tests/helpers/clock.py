"""FastClock: an accelerated clock for whole-day lesson tests."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from agent.clock import Clock


class FastClock(Clock):
    """Time runs ``speed`` times faster than real time, but never past the *hold* point.

    ``run_until(t)`` lets the clock run (fast) until wall time ``t`` and holds it there, so
    a test acts at an exact instant and every event it causes is stamped with exactly
    ``t``; ``step(seconds)`` moves only the wall clock, like an NTP correction (monotonic
    time does not jump).

    Time advances only between event-loop iterations: every reading taken in one
    synchronous run of code (between two awaits) is the same instant, however long that
    code takes in real time on a loaded machine. So "read the clock, compute a delay, start
    a sleep" is exact, as it is on a real clock to within microseconds; otherwise each
    read-to-read gap would be multiplied by ``speed`` (1 ms real = 3 s at 3000x)."""

    def __init__(self, start: datetime, speed: float = 2000.0) -> None:
        self.start = start.astimezone(UTC)
        self.speed = speed
        self._real0 = time.monotonic()
        self._virt0 = 0.0
        self._hold = 0.0  # starts held at ``start``
        self._wall_offset = 0.0
        self._frozen: float | None = None  # this loop iteration's reading

    def monotonic(self) -> float:
        if self._frozen is not None:
            return self._frozen
        v = min(self._virt0 + (time.monotonic() - self._real0) * self.speed, self._hold)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a worker thread, or no loop: a plain reading
            return v
        self._frozen = v
        loop.call_soon(self._thaw)  # runs after everything ready in this iteration
        return v

    def _thaw(self) -> None:
        self._frozen = None

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.monotonic() + self._wall_offset)

    async def sleep(self, seconds: float) -> None:
        # Exact: a sleeper wakes at its target, never early. One aimed past the hold point
        # waits (time is held) for the next run_until. No tolerance for "a hair past": the
        # code under test must fix its deadlines so they never overshoot the instant it
        # means (the lessons service does), else a test would stamp latency x speed.
        target = self.monotonic() + max(0.0, seconds)
        while True:
            now = self.monotonic()
            if now >= target - 1e-6:
                return
            if now >= self._hold:  # held: nothing changes until the next run_until
                await asyncio.sleep(0.005)
            else:
                await asyncio.sleep(min(max((target - now) / self.speed, 0.0005), 0.02))

    def _rebase(self, hold: float) -> None:
        self._virt0 = self.monotonic()
        self._real0 = time.monotonic()
        self._hold = max(hold, self._virt0)
        self._frozen = None  # the formula changed: read afresh

    async def run_until(self, wall: datetime) -> None:
        """Let time run until the wall clock reads ``wall``, then hold it there."""
        target = (wall.astimezone(UTC) - self.start).total_seconds() - self._wall_offset
        self._rebase(target)
        while self.monotonic() < self._hold:
            await asyncio.sleep(0.002)

    def set_speed(self, speed: float) -> None:
        """Change the pace from now on; the time read so far is kept."""
        self._rebase(self._hold)
        self.speed = speed

    async def run_for(self, seconds: float) -> None:
        await self.run_until(self.now() + timedelta(seconds=seconds))

    def step(self, seconds: float) -> None:
        """Step the wall clock (NTP); the monotonic clock and the hold point do not move."""
        self._wall_offset += seconds
