"""A morning with the real parts: the PJLink panel emulator behind the panels service, the
recording service on a file camera, and tablets over the WebSocket gateway (emulated
tablet apps), on the accelerated clock. The lessons service drives the recording and the
tablets' lesson context; the summaries come out exact except the number of segment files
(real capture runs in real time)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec

from agent import events as ev
from agent.panel.demo import start_demo_panel
from drivers.emulators.camera import make_clip
from drivers.emulators.tablets import TabletClient
from tests.helpers.clock import FastClock
from tests.integration.test_lessons_day import Room, at, base, utc

TIMETABLE = {
    "bells": {"p1": "08:00-08:45", "p2": "08:55-09:40"},
    "periods": [
        {"days": ["mon"], "bell": "p1", "class": "7a", "subject": "math", "teacher": "t-wang",
         "record": True},
        {"days": ["mon"], "bell": "p2", "class": "7a", "subject": "chinese", "teacher": "t-li"},
    ],
}


async def test_morning_with_devices(make_config: Any, run_agent: Any, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=320, height=180, fps=10, seconds=2.0,
                     audio=False)
    roster = tmp_path / "roster.csv"
    roster.write_text("classSourcedId,userSourcedId\n7a,s1\n7a,s2\n7a,s3\n")
    handle, panel = start_demo_panel("pjlink")
    panel.update(poll_s=0.5, automation={})  # automation off: p2 must stay unused
    cfg = make_config(
        site={"school": "test-school", "room": "r1", "timezone": "Asia/Shanghai"},
        panels=[panel],
        cameras=[{"id": "cam1", "role": "teacher", "url": str(clip), "loop": True}],
        tablets={"enabled": True, "join_code": "1234", "roster_file": str(roster)},
        lessons={"timetable": TIMETABLE, "tick_s": 30.0},
    )
    clock = FastClock(at("07:55"), speed=3000)
    room = Room(cfg, clock, run_agent)
    tablets: list[TabletClient] = []
    await room.start()
    try:
        state = room.agent.ctx.state

        def panel_attr(key: str) -> Any:
            d = state.devices.get("panel")
            return d.attrs.get(key) if d else None

        await room.until(lambda: panel_attr("power") == "off", "panel online and off")
        ws = room.agent.web_url.replace("http", "ws") + "/ws/tablet"
        for dev, student in (("tab1", "s1"), ("tab2", "s2")):
            t = TabletClient(ws, dev, student, join_code="1234")
            await t.connect()
            tablets.append(t)

        await room.goto("07:59", "2026-09-07-p1")
        await room.until(lambda: room.svc.current.row.autorec == "started", "auto record")
        rec = room.agent.ctx.services["recording"]
        assert rec.session is not None  # the recording service is recording this lesson
        assert rec.session.m.lesson_id == "2026-09-07-p1" and rec.session.m.trigger == "timetable"

        await room.goto("08:01")
        await tablets[0].request(tablets[0].checkin())
        await room.goto("08:02")
        await room.command("panel/power", {"power": "on"})
        await room.until(lambda: panel_attr("power") == "on", "panel on")
        first_input = panel_attr("input")
        await room.goto("08:07")
        await tablets[1].request(tablets[1].checkin())  # after 08:05: late
        await room.goto("08:10")
        q = await room.command("tablets/question", {"prompt": "2+2?", "choices": ["3", "4"]})
        qid = q["question_id"]
        for t in tablets:
            await t.request(t.answer(qid, choice="4"))
        await room.goto("08:12")
        await tablets[0].request(tablets[0].hand("raise"))
        await room.goto("08:30")
        await room.command("panel/input", {"input": "DIGITAL2"})
        await room.until(lambda: panel_attr("input") not in (None, first_input), "input")
        second_input = panel_attr("input")
        await room.goto("08:44")
        await room.command("panel/power", {"power": "off"})
        await room.until(lambda: panel_attr("power") in ("off", "cooling"), "panel off")
        await room.goto("08:46", None)
        assert rec.session is None  # the post-roll ended: recording stopped by the schedule

        await room.goto("08:55", "2026-09-07-p2")
        await asyncio.sleep(0.1)
        await room.goto("09:40", None)
        await room.until(lambda: len([e for e in room.published
                                      if isinstance(e, ev.LessonSummary)]) == 2, "summaries")
    finally:
        for t in tablets:
            await t.close()
        await room.stop()
        handle.stop()

    got = {e.lesson_id: e for e in room.published if isinstance(e, ev.LessonSummary)}
    p1 = msgspec.to_builtins(got["2026-09-07-p1"])
    files = p1["recording"].pop("files")
    recordings = p1["recording"].pop("recordings")
    assert files >= 1 and len(recordings) == 1
    want = base(
        "2026-09-07-p1", period="p1", subject="math", class_id="7a", teacher="t-wang",
        scheduled_start=utc("08:00"), scheduled_end=utc("08:45"),
        start=utc("07:59"), end=utc("08:46"), minutes=47.0,
        panel={"on_minutes": 42.0, "on_ratio": 0.894,
               "minutes_by_input": {first_input: 28.0, second_input: 14.0}},
        tablets={"active": 2, "checkins": 2, "answers": 2, "hand_raises": 1},
        attendance={"roster_size": 3, "present": 1, "late": 1, "absent": 1},
        engagement={"mean_head_up_rate": None, "timeline": [None] * 47},
        smart_classroom_use=True,
    )
    # files and ids checked above; recorded 07:59-08:46, counted 08:00-08:45 (no roll)
    want["recording"] = {k: v for k, v in want["recording"].items()
                         if k not in ("files", "recordings")} | {"minutes": 45.0}
    assert p1 == want
    p2 = msgspec.to_builtins(got["2026-09-07-p2"])
    assert p2 == base(
        "2026-09-07-p2", period="p2", subject="chinese", class_id="7a", teacher="t-li",
        scheduled_start=utc("08:55"), scheduled_end=utc("09:40"),
        start=utc("08:55"), end=utc("09:40"), minutes=45.0,
        attendance={"roster_size": 3, "present": 0, "late": 0, "absent": 3},
        engagement={"mean_head_up_rate": None, "timeline": [None] * 45},
    )
