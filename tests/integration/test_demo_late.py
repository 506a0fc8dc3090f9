"""A demo started late in the evening, when no 40-minute lesson fits before midnight,
still has a current lesson: it records an ad-hoc one (the CI run that started at 23:27 UTC
found a demo with no lesson at all)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.lessons.demo import demo_part as lessons_part
from agent.lessons.demo import demo_timetable
from agent.recording.demo import camera_part


def test_the_timetable_has_no_period_that_would_cross_midnight() -> None:
    tz = UTC
    assert demo_timetable(datetime(2026, 11, 23, 23, 21, tzinfo=tz), tz)["periods"]
    assert demo_timetable(datetime(2026, 11, 23, 23, 22, tzinfo=tz), tz)["periods"] == []
    first = demo_timetable(datetime(2026, 11, 23, 10, 0, tzinfo=tz), tz)["periods"][0]
    assert (first["start"], first["end"], first["record"]) == ("09:58", "10:38", True)
    first = demo_timetable(datetime(2026, 11, 23, 0, 1, tzinfo=tz), tz)["periods"][0]
    assert (first["start"], first["end"]) == ("00:00", "00:40")  # not yesterday's 23:59


async def test_a_late_demo_records_an_ad_hoc_lesson(make_config, run_agent,
                                                     tmp_path: Path) -> None:
    data: dict[str, Any] = {}
    work = tmp_path / "demo"
    work.mkdir()
    ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    late = datetime.now(UTC).replace(hour=23, minute=40)
    parts = [functools.partial(lessons_part, now=late), camera_part]
    async with contextlib.AsyncExitStack() as stack:
        for part in parts:
            await stack.enter_async_context(part(data, work, ready))
        assert data["lessons"]["timetable"]["periods"] == []
        async with run_agent(make_config(**data)) as agent:
            ready.set_result(agent.ctx)
            deadline = asyncio.get_running_loop().time() + 60
            current = None
            while asyncio.get_running_loop().time() < deadline and not current:
                await asyncio.sleep(0.3)
                current = agent.ctx.services["lessons"].status().get("current")
            assert current, agent.ctx.services["lessons"].status()
            assert current["kind"] == "adhoc", current
            assert agent.ctx.services["recording"].session is not None
