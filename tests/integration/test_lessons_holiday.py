"""A holiday (no lessons, no usage record), commands refused outside lessons, a teacher
ending a lesson early, and the HTTP API's input validation."""

from __future__ import annotations

from typing import Any

import aiohttp

from agent import events as ev
from tests.helpers.clock import FastClock
from tests.integration.test_lessons_day import TIMETABLE, Room, at, open_room


async def test_holiday_then_school_day(make_config: Any, run_agent: Any) -> None:
    tt = {**TIMETABLE, "holidays": ["2026-09-07"]}  # the Monday is a holiday
    cfg = make_config(
        site={"school": "test-school", "room": "r1", "timezone": "Asia/Shanghai"},
        lessons={"timetable": tt, "daily_report_time": "17:00", "tick_s": 60.0},
    )
    clock = FastClock(at("07:50"), speed=6000)
    room = Room(cfg, clock, run_agent)
    await room.start()
    try:
        assert room.svc.status()["next"] is None  # nothing today or tomorrow (Tuesday)
        for hhmm in ("08:00", "10:00", "14:00", "17:30"):
            await room.goto(hhmm)
            assert room.current is None
        res = await room.agent.ctx.commands.dispatch("lesson/extend", {"minutes": 5})
        assert not res.ok and res.error["code"] == "no_lesson"
        res = await room.agent.ctx.commands.dispatch("lesson/end", {})
        assert not res.ok and res.error["code"] == "no_lesson"
        res = await room.agent.ctx.commands.dispatch("lesson/extend", {"minutes": "5"})
        assert not res.ok and res.error["code"] == "bad_args"
        assert room.published == []  # no summary, and no usage record for a holiday

        async with aiohttp.ClientSession() as http:
            url = room.agent.web_url
            for query, needle in [
                ("from=2026-09-32", "from: expected a date YYYY-MM-DD"),
                ("to=yesterday", "to: expected a date YYYY-MM-DD"),
                ("from=2026-09-08&to=2026-09-07", "is after to"),
                ("from=2020-01-01&to=2026-09-07", "at most 400 days"),
                ("form=2026-09-01", "unknown parameter 'form'"),
            ]:
                async with http.get(f"{url}/api/usage?{query}") as r:
                    assert r.status == 400, query
                    assert needle in (await r.json())["error"], query
            # "²".isdigit() is True but int("²") raises: that used to be a 500
            for limit in ("0", "501", "\u00b2", "\u0661", "-1", "+5", " 5", "1e3", "abc",
                          "9" * 5000):
                async with http.get(f"{url}/api/lessons", params={"limit": limit}) as r:
                    assert r.status == 400, limit
                    assert "limit: expected an integer 1..500" in (await r.json())["error"]
            async with http.get(f"{url}/api/lessons?limit=3") as r:
                assert r.status == 200
            async with http.get(f"{url}/api/usage") as r:  # default: the last 7 days
                doc = await r.json()
                assert (doc["from"], doc["to"]) == ("2026-09-01", "2026-09-07")
                assert doc["total"]["lessons"] == 0

    finally:
        await room.stop()


async def test_teacher_ends_lesson_early(make_config: Any, run_agent: Any) -> None:
    room = await open_room(make_config, run_agent)
    try:
        await room.goto("08:55", "2026-09-07-p2")
        await room.goto("09:10")
        res = await room.command("lesson/end", {})
        assert res == {"lesson_id": "2026-09-07-p2", "ended": True}
        assert room.current is None
        await room.goto("09:20")
        assert room.current is None  # not reopened although its period still runs
        s = next(e for e in room.published if isinstance(e, ev.LessonSummary))
        assert (s.lesson_id, s.ended_by, s.minutes) == ("2026-09-07-p2", "teacher", 15.0)
        assert not s.smart_classroom_use
    finally:
        await room.stop()
