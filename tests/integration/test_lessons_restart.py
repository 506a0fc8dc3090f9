"""Restarts outside the mid-lesson case: down across a lesson's end (closed at the last
heartbeat, once), up again in the middle of the next lesson (counted from then)."""

from __future__ import annotations

from typing import Any

import msgspec

from agent import events as ev
from tests.integration.test_lessons_day import open_room, utc


async def test_down_across_lesson_end(make_config: Any, run_agent: Any) -> None:
    room = await open_room(make_config, run_agent)
    try:
        await room.goto("08:55", "2026-09-07-p2")
        await room.goto("09:05")
        await room.panel("on", "ops")
        await room.goto("09:15")
        await room.stop()  # down from 09:15 to 10:30: p2 ended meanwhile, p3 began
        await room.goto("10:30")
        await room.start()
        await room.until(lambda: room.current == "2026-09-07-p3", "p3")
        await room.goto("10:45", None)
        await room.stop()
        await room.start()  # a restart after everything closed changes nothing
        await room.goto("10:50")
        assert room.current is None
        stored = await room.svc.recent(10)
    finally:
        await room.stop()

    # (p2 was published while the second agent started, before the test listened)
    got = [msgspec.convert(d, ev.LessonSummary) for d in reversed(stored)]
    assert [s.lesson_id for s in got] == ["2026-09-07-p2", "2026-09-07-p3"]
    p2, p3 = got
    # p2: closed at its last heartbeat (the shutdown), the panel minutes it saw
    assert (p2.ended_by, p2.minutes, p2.panel.on_minutes) == ("schedule", 20.0, 10.0)
    assert p2.end.isoformat().replace("+00:00", "Z") == utc("09:15")
    # p3: the agent came up at 10:30 and saw the last 15 minutes
    assert p3.start.isoformat().replace("+00:00", "Z") == utc("10:30")
    assert (p3.minutes, p3.restarts) == (15.0, 0)
    assert p3.panel.on_minutes == 0.0  # nobody re-reported the panel after the restart
