"""Time for the agent. Components take time from a Clock so tests can run a school day
on an accelerated or stepped clock; production uses the system clock."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime


class Clock:
    def now(self) -> datetime:
        """Wall-clock time, UTC (may step when NTP corrects it)."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Seconds that never step; use for durations and timeouts."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
