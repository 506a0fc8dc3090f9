"""FastClock (tests/helpers/clock.py): an accelerated clock for whole-day lesson tests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.helpers.clock import FastClock


async def test_fast_clock_holds_and_steps() -> None:
    t0 = datetime(2026, 9, 7, 8, 0, tzinfo=UTC)
    c = FastClock(t0, speed=10000)
    assert c.now() == t0  # held at start
    await c.run_until(t0 + timedelta(minutes=5))
    assert c.now() == t0 + timedelta(minutes=5)
    assert c.monotonic() == 300.0
    c.step(-120)
    assert c.now() == t0 + timedelta(minutes=3)
    assert c.monotonic() == 300.0
    slept = asyncio.create_task(c.sleep(60))
    await asyncio.sleep(0.01)
    assert not slept.done()  # held: time does not pass
    await c.run_for(60)
    await asyncio.wait_for(slept, 2)
