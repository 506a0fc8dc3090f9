"""A timetabled live lesson on the accelerated clock, with the real parts: a real RTSP
camera, the recording service and a real nginx-rtmp server. The period goes live at its
start and stops at its end by itself; the summary carries ``live`` and the day's usage
counts it as a live lesson."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from agent import events as ev
from tests.helpers.clock import FastClock
from tests.integration.test_lessons_day import Room, at
from tests.recording_helpers import RtspServer, ffprobe, wait_for
from tests.stream_servers import NginxRtmp, have_nginx_rtmp

pytestmark = pytest.mark.skipif(not have_nginx_rtmp(), reason="nginx-rtmp not installed")

TIMETABLE = {
    "periods": [
        {"days": ["mon"], "start": "08:00", "end": "08:30", "id": "p1", "class": "7a",
         "subject": "math", "teacher": "t-wang", "live": True},
        {"days": ["mon"], "start": "09:00", "end": "09:40", "id": "p2", "class": "7a",
         "subject": "art", "teacher": "t-li"},
    ],
}


async def test_timetabled_live_lesson(make_config, run_agent, tmp_path) -> None:
    rtsp = RtspServer(width=320, height=240, fps=25, gop=25)
    nginx = NginxRtmp(tmp_path / "nginx")
    rtsp.start()
    nginx.start()
    try:
        cfg = make_config(
            site={"school": "test-school", "room": "r1", "timezone": "Asia/Shanghai"},
            cameras=[{"id": "teacher", "role": "teacher", "url": rtsp.url,
                      "read_timeout_s": 2.0, "connect_timeout_s": 2.0}],
            recording={"segment_s": 2.0, "stall_s": 2.0, "probe_interval_s": 3600.0},
            live={"url": nginx.url("7a-math"), "min_minutes": 20.0},
            lessons={"timetable": TIMETABLE, "tick_s": 30.0, "daily_report_time": "23:30"},
        )
        clock = FastClock(at("07:58"), speed=3000)
        room = Room(cfg, clock, run_agent)
        await room.start()
        try:
            live = room.agent.ctx.services["live"]
            rec = room.agent.ctx.services["recording"]
            await room.goto("07:59")
            assert live.session is None  # live = true has no pre-roll
            await room.goto("08:00", "2026-09-07-p1")
            await room.until(lambda: room.svc.current.autolive == "started", "timetabled live")
            assert rec.session is not None and rec.session.m.trigger == "live"
            # the clock is held at 08:00 while the push connects and sends (real time)
            await wait_for(lambda: live.status()["state"] == "live", 30, "live")
            await wait_for(lambda: live.session.push.live_s > 3, 30, "3 s live")
            await room.goto("08:29")
            assert live.session is not None
            await room.goto("08:31", None)
            await room.until(lambda: live.session is None and rec.session is None,
                             "live and its recording stopped at the period's end")
            await room.goto("09:00", "2026-09-07-p2")
            await room.goto("09:41", None)
            await room.goto("23:31")
            await room.until(lambda: any(isinstance(e, ev.UsageDaily)
                                         for e in room.published), "usage")
        finally:
            await room.stop()
        got = {e.lesson_id: e for e in room.published if isinstance(e, ev.LessonSummary)}
        p1 = msgspec.to_builtins(got["2026-09-07-p1"])
        assert p1["live"] == {"minutes": 30.0, "outages": [], "counted": True,
                              "url_host": f"127.0.0.1:{nginx.port}"}
        assert "7a-math" not in str(p1)  # the stream key never leaves the agent
        assert got["2026-09-07-p2"].live.minutes == 0 and not got["2026-09-07-p2"].live.counted
        [usage] = [e for e in room.published if isinstance(e, ev.UsageDaily)]
        assert usage.live_lessons == 1
        by_subject = {u.subject: u.live_lessons for u in usage.subjects}
        assert by_subject == {"math": 1, "art": 0}
        await asyncio.sleep(0.5)
        [flv] = nginx.recordings()
        assert float(ffprobe(flv)["format"]["duration"]) > 3
    finally:
        nginx.kill()
        rtsp.kill()
