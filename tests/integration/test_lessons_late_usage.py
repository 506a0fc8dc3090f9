"""A lesson that closes after the day's usage message sends the day again, as the next
revision: the district's daily figures never miss a late lesson."""

from __future__ import annotations

from typing import Any

from agent import events as ev
from tests.helpers.clock import FastClock
from tests.integration.test_lessons_day import (  # noqa: F401 - the fixture is used by name
    TIMETABLE,
    Room,
    at,
    with_fake_recorder,
)


async def test_late_lesson_sends_the_day_again(make_config: Any, run_agent: Any,
                                              with_fake_recorder: None) -> None:  # noqa: F811
    cfg = make_config(
        site={"school": "test-school", "room": "r1", "timezone": "Asia/Shanghai"},
        lessons={"timetable": TIMETABLE, "daily_report_time": "17:00", "tick_s": 60.0,
                 "idle_end_s": 300},
    )
    room = Room(cfg, FastClock(at("15:50"), speed=3000), run_agent)
    await room.start()

    def daily() -> list[ev.UsageDaily]:
        return [e for e in room.published if isinstance(e, ev.UsageDaily)]

    try:
        await room.goto("17:02")
        await room.until(lambda: len(daily()) == 1, "the day's usage message")
        assert (daily()[0].revision, daily()[0].lessons) == (0, 0)

        # the teacher records a club after the report: an ad-hoc lesson of the same day
        await room.goto("17:30")
        await room.command("record/start", {"title": "club", "trigger": "panel"})
        await room.until(lambda: room.current is not None, "ad-hoc lesson")
        await room.goto("17:45")
        await room.command("record/stop")
        await room.goto("17:52", None)  # idle_end_s over: closed
        await room.goto("17:55")
        await room.until(lambda: len(daily()) == 2, "the day sent again")
        again = daily()[1]
        assert (again.date, again.revision, again.lessons, again.recordings) == (
            "2026-09-07", 1, 1, 1)
        await room.goto("19:00")
        assert len(daily()) == 2  # nothing new: not sent a third time
    finally:
        await room.stop()
