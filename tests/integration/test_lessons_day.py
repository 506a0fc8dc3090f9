"""A whole school day on an accelerated clock: the expected lesson summaries exactly, a
restart mid-lesson, a lesson with nothing used, a clock step, an ad-hoc lesson, the daily
usage message (over a real mosquitto) and the HTTP API.

Inputs that have no service in the tree yet are injected on the bus exactly as their
services publish them (DeviceState kind=panel, EngagementWindow, InteractionEvent); the
recording service is stood in for by ``FakeRecorder`` (same RecordingEvent contract).
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import msgspec
import paho.mqtt.client as mqtt
import pytest

from agent import events as ev
from agent.lessons.service import LessonService
from agent.runtime import agent as agent_mod
from agent.runtime.service import Service
from tests.helpers.clock import FastClock

TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 9, 7, tzinfo=TZ)  # a Monday


def at(hhmm: str, day: datetime = DAY) -> datetime:
    h, m = hhmm.split(":")[:2]
    s = int(hhmm.split(":")[2]) if hhmm.count(":") == 2 else 0
    return day.replace(hour=int(h), minute=int(m), second=s)


def utc(hhmm: str, day: datetime = DAY) -> str:
    return at(hhmm, day).astimezone(UTC).isoformat().replace("+00:00", "Z")


class FakeRecorder(Service):
    """Stands in for agent/recording: start/stop publish RecordingEvents (ids from the
    clock, so a restarted agent makes new ids); a shutdown is silent, like a crash."""

    name = "recording"
    capabilities = ("recording",)
    id_format = "rec-%H%M"
    quality_rule = "finished and minutes >= 35"

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.active: ev.RecordingEvent | None = None
        self.ended: dict[str, ev.RecordingEvent] = {}

    @classmethod
    def create(cls, ctx: Any) -> FakeRecorder:
        return cls(ctx)

    async def start(self) -> None:
        class StartArgs(msgspec.Struct):
            title: str = ""
            subject: str = ""
            lesson_id: str = ""
            teacher: str = ""
            trigger: str = "http"

        class NoArgs(msgspec.Struct):
            pass

        self.ctx.commands.register("record/start", lambda a: self.start_recording(
            **msgspec.structs.asdict(a)), StartArgs)
        self.ctx.commands.register("record/stop", lambda a: self.stop_recording(), NoArgs)

        class ShowcaseArgs(msgspec.Struct):
            recording_id: str
            undo: bool = False

        self.ctx.commands.register("record/showcase", lambda a: self.mark_showcase(
            a.recording_id, not a.undo, "mqtt"), ShowcaseArgs)

    async def mark_showcase(self, recording_id: str, showcase: bool = True,
                            trigger: str = "api") -> dict[str, Any]:
        """The real service's contract: a ShowcaseEvent judged by the quality rule."""
        rec = self.ended[recording_id]
        quality = showcase and rec.action == "finished" and rec.duration_s >= 35 * 60
        await self.ctx.bus.publish(ev.ShowcaseEvent(
            ts=self.ctx.clock.now(), recording_id=recording_id, lesson_id=rec.lesson_id,
            subject=rec.subject, showcase=showcase, quality=quality, rule=self.quality_rule,
            trigger=trigger))
        return {"recording_id": recording_id, "showcase": showcase, "quality": quality}

    async def start_recording(self, title: str, subject: str, lesson_id: str, teacher: str,
                              trigger: str) -> dict[str, Any]:
        now = self.ctx.clock.now()
        self.active = ev.RecordingEvent(
            ts=now, recording_id=now.astimezone(TZ).strftime(self.id_format), action="started",
            lesson_id=lesson_id, title=title, subject=subject, teacher=teacher,
            trigger=trigger, started=now,
        )
        await self.ctx.bus.publish(self.active)
        return {"recording_id": self.active.recording_id}

    async def stop_recording(self, trigger: str = "api", reason: str = "") -> dict[str, Any]:
        rec, self.active = self.active, None
        if rec is None:
            return {"stopped": False}
        now = self.ctx.clock.now()
        dur = (now - rec.started).total_seconds()
        end = msgspec.structs.replace(
            rec, ts=now, action="finished", ended=now, duration_s=dur,
            cameras=[ev.RecordingCamera(id="cam1", segments=math.ceil(dur / 60))],
        )
        self.ended[rec.recording_id] = end
        await self.ctx.bus.publish(end)
        return {"stopped": True}


TIMETABLE = {
    "bells": {"p1": "08:00-08:45", "p2": "08:55-09:40", "p3": "10:00-10:45",
              "p5": "14:00-14:45", "p6": "15:00-15:45"},
    "classes": {"7a": {"roster_size": 40}, "7b": {"roster_size": 3}},
    "periods": [
        {"days": ["mon"], "bell": "p1", "class": "7a", "subject": "math", "teacher": "t-wang",
         "record": True},
        {"days": ["mon"], "bell": "p2", "class": "7a", "subject": "chinese", "teacher": "t-li"},
        {"days": ["mon"], "bell": "p3", "class": "7b", "subject": "english", "teacher": "t-su"},
        {"days": ["mon"], "bell": "p5", "class": "7a", "subject": "physics",
         "teacher": "t-zhao", "record": True},
        {"days": ["mon"], "bell": "p6", "class": "7a", "subject": "art", "teacher": "t-qian"},
    ],
}


def base(lesson_id: str, **kw: Any) -> dict[str, Any]:
    """A summary with every field at its 'nothing happened' value, then ``kw``."""
    doc: dict[str, Any] = {
        "lesson_id": lesson_id, "kind": "scheduled", "date": "2026-09-07", "period": "",
        "subject": "", "class_id": "", "teacher": "", "title": "", "scheduled_start": None,
        "scheduled_end": None, "extended_min": 0, "ended_by": "schedule", "restarts": 0,
        "panel": {"on_minutes": 0.0, "on_ratio": 0.0, "minutes_by_input": {}},
        "recording": {"minutes": 0.0, "recordings": [], "files": 0, "showcase": False,
                      "quality": False, "showcase_recordings": [], "quality_recordings": [],
                      "quality_rule": "finished and minutes >= 35 and gap_s < 30 and "
                                      "all_cameras"},
        "live": {"minutes": 0.0, "outages": [], "url_host": "", "counted": False},
        "tablets": {"active": 0, "checkins": 0, "answers": 0, "hand_raises": 0,
                    "assignments": 0, "submissions": 0},
        "attendance": {"roster_size": 40, "present": 0, "late": 0, "absent": 40,
                       "head_count_median": None, "head_count_max": None},
        "engagement": {"mean_head_up_rate": None, "timeline": []},
        "smart_classroom_use": False,
        "smart_use_rule": "panel_on_ratio >= 0.5 or recorded or tablets_used",
        "class_minutes": 45.0, "revision": 0, "term": "", "homework": [],
    }
    for k, v in kw.items():
        if isinstance(v, dict) and isinstance(doc.get(k), dict):
            doc[k] = {**doc[k], **v}
        else:
            doc[k] = v
    doc["ts"] = doc["end"]
    return doc


class Room:
    """Drives one in-process agent on the shared FastClock; restartable."""

    def __init__(self, cfg: Any, clock: FastClock, run_agent: Any) -> None:
        self.cfg, self.clock, self.run_agent = cfg, clock, run_agent
        self._cm: Any = None
        self.agent: Any = None
        self.published: list[ev.Event] = []
        self.day = DAY  # the local day goto() means

    async def start(self) -> None:
        self._cm = self.run_agent(self.cfg, clock=self.clock)
        self.agent = await self._cm.__aenter__()
        self.agent.ctx.bus.add_listener(
            lambda e: self.published.append(e) if isinstance(
                e, (ev.LessonSummary, ev.UsageDaily)) else None)

    async def stop(self) -> None:
        await self._cm.__aexit__(None, None, None)

    @property
    def svc(self) -> LessonService:
        s = self.agent.ctx.service(LessonService)
        assert s is not None
        return s

    @property
    def current(self) -> str | None:
        c = self.svc.current
        return c.row.lesson_id if c else None

    async def until(self, cond: Callable[[], bool], what: str) -> None:
        for _ in range(2000):
            if cond():
                return
            await asyncio.sleep(0.005)
        raise AssertionError(
            f"timed out waiting for {what}: now {self.clock.now()}, mono "
            f"{self.clock.monotonic()}, lesson {self.svc.current_lesson()}, "
            f"next delay {self.svc._next_delay()}"
        )

    async def goto(self, hhmm: str, lesson: str | bool | None = False) -> None:
        """Run the clock to ``hhmm`` (held there); then wait until the current lesson is
        ``lesson`` (False: don't wait). The clock stays held while waiting: the service
        must act at exactly this instant (never nudge time on here: a nudge while the
        service is mid-step is what stamped things seconds off under load)."""
        await self.clock.run_until(at(hhmm, self.day))
        if lesson is not False:
            await self.until(lambda: self.current == lesson, f"{lesson} at {hhmm}")
        await asyncio.sleep(0.01)  # let the loop settle at this instant

    async def publish(self, e: ev.Event) -> None:
        await self.agent.ctx.bus.publish(e)
        await asyncio.sleep(0.01)

    async def panel(self, power: str, inp: str | None = None) -> None:
        await self.publish(ev.DeviceState(
            ts=self.clock.now(), device_id="panel", kind="panel", status="online",
            attrs={"power": power, "input": inp}))

    async def tablet(self, kind: str, dev: str, student: str, **kw: Any) -> None:
        await self.publish(ev.InteractionEvent(
            ts=self.clock.now(), kind=kind, device_id=dev, student_id=student,
            message_id=f"{dev}-{kind}-{self.clock.now():%H%M%S}",
            lesson_id=self.current, **kw))

    async def engagement(self, up: float, med: float, peak: int) -> None:
        now = self.clock.now()
        await self.publish(ev.EngagementWindow(
            ts=now, camera_id="cam1", window_start=now - timedelta(seconds=30), window_end=now,
            head_count_median=med, head_count_max=peak, head_up_rate=up, fps=5.0, frames=150))

    async def command(self, name: str, args: Any = None) -> Any:
        res = await self.agent.ctx.commands.dispatch(name, args)
        assert res.ok, res.error
        return res.result


class MqttTap:
    """Collects what the district would receive on ``lessons`` and ``usage``."""

    def __init__(self, port: int, root: str) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="tap")
        self.c.on_message = self._on
        self.c.connect("127.0.0.1", port)
        self.c.subscribe([(f"{root}/lessons", 1), (f"{root}/usage", 1)])
        self.c.loop_start()

    def _on(self, _c: Any, _u: Any, msg: Any) -> None:
        with self._lock:
            self.messages.append((msg.topic.rsplit("/", 1)[1], json.loads(msg.payload)))

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


async def open_room(make_config: Any, run_agent: Any, start: str = "08:50") -> Room:
    """A started room on the test timetable (Asia/Shanghai, 60 s ticks) at ``start``."""
    cfg = make_config(
        site={"school": "test-school", "room": "r1", "timezone": "Asia/Shanghai"},
        lessons={"timetable": TIMETABLE, "tick_s": 60.0},
    )
    room = Room(cfg, FastClock(at(start), speed=3000), run_agent)
    await room.start()
    return room


@pytest.fixture
def with_fake_recorder(monkeypatch: pytest.MonkeyPatch) -> None:
    real = agent_mod.service_factories

    def factories() -> list[Any]:
        out = real()
        out.insert(out.index(LessonService.create), FakeRecorder.create)
        return out

    monkeypatch.setattr(agent_mod, "service_factories", factories)


async def test_school_day(make_config: Any, run_agent: Any, mosquitto: Any,
                          with_fake_recorder: None) -> None:
    cfg = make_config(
        site={"school": "test-school", "room": "r1", "timezone": "Asia/Shanghai"},
        mqtt={"url": mosquitto.url},
        lessons={"timetable": TIMETABLE, "pre_roll_s": 60, "post_roll_s": 60,
                 "idle_end_s": 300, "daily_report_time": "17:00", "tick_s": 30.0},
    )
    tap = MqttTap(mosquitto.port, "classroom/test-school/r1")
    clock = FastClock(at("07:50"), speed=3000)
    room = Room(cfg, clock, run_agent)
    await room.start()
    try:
        # ---- p1 math, recorded: pre-roll at 07:59, teacher stops the recording early
        assert room.current is None
        await room.goto("07:59", "2026-09-07-p1")
        await room.until(lambda: room.svc.current.row.autorec == "started", "auto record")
        await room.goto("08:02")
        await room.panel("on", "hdmi1")
        await room.goto("08:30")
        await room.panel("on", "ops")
        await room.goto("08:40")
        await room.command("record/stop")
        await room.goto("08:44")
        await room.panel("off")
        await room.goto("08:46", None)  # post-roll over: closed, and not recorded again

        # ---- p2 chinese: nothing used
        await room.goto("08:55", "2026-09-07-p2")
        await room.goto("09:40", None)

        # ---- p3 english: panel, tablets, engagement
        await room.goto("10:00", "2026-09-07-p3")
        await room.goto("10:01")
        await room.tablet("checkin", "t1", "s1")
        await room.engagement(0.8, 3, 3)
        await room.goto("10:01:30")
        await room.engagement(0.6, 3, 4)
        await room.goto("10:03")
        await room.tablet("checkin", "t2", "s2")
        await room.goto("10:05")
        await room.panel("on", "hdmi2")
        await room.goto("10:07")
        await room.tablet("checkin", "t3", "s3")  # after late_after_s (5 min): late
        await room.goto("10:10")
        await room.tablet("answer", "t1", "s1", question_id="q1", choice="A")
        await room.tablet("answer", "t2", "s2", question_id="q1", choice="B")
        await room.goto("10:12")
        await room.tablet("hand", "t3", "s3", state="raise")
        await room.tablet("hand", "t3", "s3", state="lower")
        await room.goto("10:20")
        await room.engagement(0.5, 2, 3)
        await room.goto("10:35")
        await room.panel("off")
        await room.goto("10:45", None)

        # ---- p5 physics, recorded: agent restart mid-lesson, teacher extends by 5 min
        await room.goto("13:59", "2026-09-07-p5")
        # (wait at the held instant: at 3000x a 50 ms outbox write is 2.5 clock minutes)
        await room.until(lambda: room.svc.current.row.autorec == "started", "auto record")
        await room.goto("14:05")
        await room.panel("on", "ops")
        await room.goto("14:20")
        await room.stop()  # the agent goes down (the fake recorder stops silently)
        await room.goto("14:22")
        await room.start()  # panel driver re-reports on start
        assert room.current == "2026-09-07-p5"
        await room.panel("on", "ops")
        await room.until(lambda: room.svc.current.row.autorec == "started", "re-record")
        await room.goto("14:40")
        res = await room.command("lesson/extend", {"minutes": 5})
        assert res["extended_min"] == 5
        assert res["ends"] == at("14:50").astimezone(UTC).isoformat()
        await room.goto("14:48")
        await room.panel("off")
        await room.goto("14:51", None)

        # ---- p6 art: an NTP step of +10 min at 15:20 shortens it; a step back after it
        # ended does not reopen it
        await room.goto("15:00", "2026-09-07-p6")
        await room.goto("15:10")
        await room.panel("on", "hdmi1")
        await room.goto("15:20")
        clock.step(600)  # wall clock now reads 15:30
        await room.goto("15:45", None)
        clock.step(-600)  # back to 15:35: inside p6's window again
        await room.goto("15:40")
        assert room.current is None

        # ---- ad-hoc: the teacher records outside the timetable
        await room.goto("16:30")
        await room.command("record/start", {"title": "club", "subject": "music",
                                            "trigger": "panel"})
        await room.until(lambda: room.current is not None, "ad-hoc lesson")
        adhoc_id = room.current
        assert adhoc_id == "2026-09-07-adhoc-163000"
        await room.goto("16:40")
        await room.panel("off")  # on since p6
        await room.goto("16:50")
        await room.command("record/stop")
        await room.goto("16:54")
        assert room.current == adhoc_id  # idle_end_s not over yet
        await room.goto("16:55", None)

        # ---- daily usage at 17:00
        await room.goto("17:02")
        await room.until(lambda: any(isinstance(e, ev.UsageDaily) for e in room.published),
                         "usage daily")

        async with aiohttp.ClientSession() as http:
            url = room.agent.web_url
            async with http.get(f"{url}/api/lessons?limit=50") as r:
                assert r.status == 200
                lessons = (await r.json())["lessons"]
            async with http.get(f"{url}/api/usage?from=2026-09-07&to=2026-09-07") as r:
                assert r.status == 200
                usage = await r.json()
            async with http.get(f"{url}/api/usage?from=2026-09-08&to=2026-09-07") as r:
                assert r.status == 400
                assert "after" in (await r.json())["error"]
            async with http.get(f"{url}/api/status") as r:
                status = await r.json()
                assert status["lessons"]["current"] is None
                assert status["lessons"]["next"] is None  # nothing on Tuesday
        # the uplink delivered every summary and the usage record to the broker
        await room.until(lambda: len(tap.messages) >= 7, "mqtt delivery")
    finally:
        await room.stop()
        tap.close()

    got = {s["lesson_id"]: s for s in lessons}
    assert sorted(got) == sorted([
        "2026-09-07-p1", "2026-09-07-p2", "2026-09-07-p3", "2026-09-07-p5", "2026-09-07-p6",
        adhoc_id,
    ])
    expected = {
        "2026-09-07-p1": base(
            "2026-09-07-p1", period="p1", subject="math", class_id="7a", teacher="t-wang",
            scheduled_start=utc("08:00"), scheduled_end=utc("08:45"),
            start=utc("07:59"), end=utc("08:46"), minutes=47.0,
            panel={"on_minutes": 42.0, "on_ratio": 0.894,
                   "minutes_by_input": {"hdmi1": 28.0, "ops": 14.0}},
            # recorded 07:59-08:40: the pre-roll minute is not counted
            recording={"minutes": 40.0, "recordings": ["rec-0759"], "files": 41},
            engagement={"mean_head_up_rate": None, "timeline": [None] * 47},
            smart_classroom_use=True,
        ),
        "2026-09-07-p2": base(
            "2026-09-07-p2", period="p2", subject="chinese", class_id="7a", teacher="t-li",
            scheduled_start=utc("08:55"), scheduled_end=utc("09:40"),
            start=utc("08:55"), end=utc("09:40"), minutes=45.0,
            engagement={"mean_head_up_rate": None, "timeline": [None] * 45},
        ),
        "2026-09-07-p3": base(
            "2026-09-07-p3", period="p3", subject="english", class_id="7b", teacher="t-su",
            scheduled_start=utc("10:00"), scheduled_end=utc("10:45"),
            start=utc("10:00"), end=utc("10:45"), minutes=45.0,
            panel={"on_minutes": 30.0, "on_ratio": 0.667, "minutes_by_input": {"hdmi2": 30.0}},
            tablets={"active": 3, "checkins": 3, "answers": 2, "hand_raises": 1},
            attendance={"roster_size": 3, "present": 2, "late": 1, "absent": 0,
                        "head_count_median": 3.0, "head_count_max": 4},
            engagement={"mean_head_up_rate": 0.633,
                        "timeline": [None, 0.7] + [None] * 18 + [0.5] + [None] * 24},
            smart_classroom_use=True,
        ),
        "2026-09-07-p5": base(
            "2026-09-07-p5", period="p5", subject="physics", class_id="7a",
            teacher="t-zhao", scheduled_start=utc("14:00"), scheduled_end=utc("14:45"),
            start=utc("13:59"), end=utc("14:51"), minutes=52.0, extended_min=5, restarts=1,
            panel={"on_minutes": 43.0, "on_ratio": 0.827, "minutes_by_input": {"ops": 43.0}},
            # 13:59-14:20 (the agent went down), 14:22-14:51 (re-recorded after the restart;
            # the first recording's end was never seen, so only the second's files count);
            # counted inside the lesson proper 14:00-14:50 (extended): 20 + 28 minutes
            recording={"minutes": 48.0, "recordings": ["rec-1359", "rec-1422"], "files": 29},
            engagement={"mean_head_up_rate": None, "timeline": [None] * 52},
            smart_classroom_use=True,
        ),
        "2026-09-07-p6": base(
            # wall clock stepped +10 min at 15:20: the lesson ended at wall 15:45 = 15:35
            # true time; start/end/minutes are on the monotonic timeline
            "2026-09-07-p6", period="p6", subject="art", class_id="7a", teacher="t-qian",
            scheduled_start=utc("15:00"), scheduled_end=utc("15:45"),
            start=utc("15:00"), end=utc("15:35"), minutes=35.0,
            panel={"on_minutes": 25.0, "on_ratio": 0.714, "minutes_by_input": {"hdmi1": 25.0}},
            engagement={"mean_head_up_rate": None, "timeline": [None] * 35},
            smart_classroom_use=True,
        ),
        adhoc_id: base(
            # named by what the teacher typed on the panel
            adhoc_id, kind="adhoc", title="club", subject="music",
            start=utc("16:30"), end=utc("16:50"), minutes=20.0,
            ended_by="idle", recording={"minutes": 20.0, "recordings": ["rec-1630"], "files": 20},
            class_minutes=20.0,  # ad-hoc: the observed minutes
            panel={"on_minutes": 10.0, "on_ratio": 0.5, "minutes_by_input": {"hdmi1": 10.0}},
            attendance={"roster_size": None, "absent": None},
            engagement={"mean_head_up_rate": None, "timeline": [None] * 20},
            smart_classroom_use=True,
        ),
    }
    for lid, want in expected.items():
        assert got[lid] == want, lid

    # published on the bus once each (the restart did not duplicate p5)
    ids = [e.lesson_id for e in room.published if isinstance(e, ev.LessonSummary)]
    assert sorted(ids) == sorted(expected)

    daily = next(e for e in room.published if isinstance(e, ev.UsageDaily))
    assert daily.date == "2026-09-07" and daily.week == "2026-W37"
    assert (daily.lessons, daily.smart_lessons, daily.recordings, daily.recorded_lessons) == (
        6, 5, 4, 3)
    assert daily.recording_room_used and daily.week_recording_room_used
    by = {u.subject: u for u in daily.subjects}
    assert by["math"].recordings == 1 and by["math"].smart_lessons == 1
    assert by["chinese"].lessons == 1 and by["chinese"].smart_lessons == 0
    assert by["music"].recorded_minutes == 20.0 and by["music"].recordings == 1
    assert usage["total"]["lessons"] == 6 and usage["weeks"][0]["week"] == "2026-W37"

    topics = [t for t, _ in tap.messages]
    assert topics.count("lessons") == 6 and topics.count("usage") == 1
    env = next(m for t, m in tap.messages if t == "lessons")
    assert env["type"] == "lesson_summary" and env["room"] == "r1"


# --------------------------------------------------------------------------- the programmes'
# figures across a term boundary: tablet homework (a teacher tablet assigns, student tablets
# hand in), a showcase lesson marked after its summary went out (sent again as a revision),
# holidays and a make-up day in the school-week count, /api/usage?term=

SPRING, AUTUMN = "2025-2026 spring", "2026-2027 autumn"
JUL10 = datetime(2026, 7, 10, tzinfo=TZ)  # a Friday: the spring term's last day
TERM_TT = {
    "terms": [{"name": SPRING, "start": "2026-02-23", "end": "2026-07-10"},
              {"name": AUTUMN, "start": "2026-09-01", "end": "2027-01-22"}],
    # a whole spring week off; autumn starts with a holiday, then a make-up Saturday
    "holidays": ["2026-04-06..2026-04-10", "2026-09-01..2026-09-04"],
    "makeup_days": [{"date": "2026-09-05", "follows": "fri"}],
    "bells": {"p1": "08:00-08:45", "p2": "08:55-09:40"},
    "classes": {"7a": {"roster_size": 4}},
    "periods": [
        {"days": ["mon", "fri"], "bell": "p1", "class": "7a", "subject": "math",
         "teacher": "t-wang", "record": True},
        {"days": ["mon"], "bell": "p2", "class": "7a", "subject": "chinese", "teacher": "t-li"},
    ],
}


async def test_term_homework_showcase(make_config: Any, run_agent: Any, mosquitto: Any,
                                      with_fake_recorder: None, tmp_path: Any,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from drivers.emulators.tablets import TabletClient, TabletRefused

    monkeypatch.setattr(FakeRecorder, "id_format", "rec-%m%d-%H%M")
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"teacher-tab": {"token": "t0k3n", "role": "teacher"},
                                  "s9-tab": "s9-token"}))
    cfg = make_config(
        site={"school": "test-school", "room": "r1", "timezone": "Asia/Shanghai"},
        mqtt={"url": mosquitto.url},
        lessons={"timetable": TERM_TT, "daily_report_time": "17:00", "tick_s": 30.0},
        tablets={"enabled": True, "join_code": "1234",
                 "device_tokens_file": str(tokens)},
    )
    tap = MqttTap(mosquitto.port, "classroom/test-school/r1")
    clock = FastClock(at("07:50", JUL10), speed=3000)
    room = Room(cfg, clock, run_agent)
    room.day = JUL10
    tablets: list[TabletClient] = []

    async def connect(students: list[str]) -> tuple[TabletClient, dict[str, TabletClient]]:
        ws = room.agent.web_url.replace("http", "ws") + "/ws/tablet"
        teacher = TabletClient(ws, "teacher-tab", "t-wang", token="t0k3n")
        kids = {s: TabletClient(ws, f"{s}-tab", s, join_code="1234") for s in students}
        for c in [teacher, *kids.values()]:
            tablets.append(c)
            await c.connect()
        return teacher, kids

    def bots_submit(kids: dict[str, TabletClient]) -> None:
        """Student bots hand in every assignment relayed to them."""
        for c in kids.values():
            c.on_assignment = lambda a, c=c: asyncio.get_running_loop().create_task(
                c.request(c.submission(a.assignment_id)))

    async def acked(kids: dict[str, TabletClient], n: int) -> None:
        await room.until(lambda: sum(c.acks for c in kids.values()) >= n, f"{n} acks")
        await asyncio.sleep(0.05)

    await room.start()
    try:
        async with asyncio.timeout(300):  # a hang fails here, with its line
            # ---- the spring term's last day: homework during a recorded math lesson
            teacher, kids = await connect(["s1", "s2", "s3"])
            await room.goto("07:59", "2026-07-10-p1")  # held: the recording starts now
            await room.until(lambda: room.svc.current.row.autorec == "started", "auto record")
            await room.goto("08:10")
            bots_submit({k: kids[k] for k in ("s1", "s2")})  # s3 never hands it in
            await teacher.request(teacher.assignment("a-jul", "7a", "math", title="fractions"))
            await acked(kids, 2)
            assert [a.assignment_id for a in kids["s3"].assignments] == ["a-jul"]
            await room.goto("08:46", None)
            for c in tablets:
                await c.close()
            tablets.clear()
            await room.stop()  # the summer break: the room is off
            clock.set_speed(2_000_000)
            await clock.run_until(at("07:50"))
            clock.set_speed(3000)
            room.day = DAY
            await room.start()

            # ---- Monday 7 September, autumn school week 2 (week 1 = the make-up Saturday)
            teacher, kids = await connect(["s1", "s2", "s3", "s9"])
            await room.goto("07:59", "2026-09-07-p1")
            await room.until(lambda: room.svc.current.row.autorec == "started", "auto record")
            await room.goto("08:05")
            bots_submit({k: kids[k] for k in ("s1", "s2", "s3")})
            ack = await teacher.request(teacher.assignment("a-1", "7a", "math"))
            assert not ack.duplicate
            await acked(kids, 3)
            # a student tablet cannot set an assignment, nor a token device without the role
            for c in (kids["s1"], kids["s9"]):
                with pytest.raises(TabletRefused) as refused:
                    await c.request(c.assignment("a-evil", "7a", "math"))
                assert refused.value.code == "forbidden"
            # a submission for an assignment nobody set
            with pytest.raises(TabletRefused) as refused:
                await kids["s9"].request(kids["s9"].submission("a-nope"))
            assert refused.value.code == "unknown_assignment"
            # the same student handing in again is acknowledged, not counted
            await kids["s1"].request(kids["s1"].submission("a-1"))
            await room.goto("08:40")
            await room.command("record/stop")
            await room.goto("08:50", None)
            # the teacher keeps the lesson as a showcase after its summary went out
            res = await room.command("record/showcase", {"recording_id": "rec-0907-0759"})
            assert res["quality"] is True
            await room.until(lambda: any(isinstance(e, ev.LessonSummary) and e.revision == 1
                                         for e in room.published), "revision")

            for c in kids.values():
                c.on_assignment = None
            await room.goto("09:00", "2026-09-07-p2")
            await teacher.request(teacher.assignment("a-2", "7a", "chinese", kind="quiz"))
            await kids["s1"].request(kids["s1"].submission("a-2"))
            await room.goto("10:00", None)  # between lessons: counted by the day only
            await kids["s2"].request(kids["s2"].submission("a-2"))
            await room.goto("10:30")
            async with aiohttp.ClientSession() as http:  # the school platform assigns
                async with http.post(f"{room.agent.web_url}/api/tablets/assignments",
                                     json={"class_id": "7a", "subject": "english",
                                           "assignment_id": "a-3", "kind": "practice"},
                                     headers={"X-Requested-With": "test"}) as r:
                    assert r.status == 200, await r.text()
                    assert (await r.json())["result"]["sent_to"] == 4
                async with http.post(f"{room.agent.web_url}/api/tablets/assignments",
                                     json={"class_id": "7a", "subject": "art",
                                           "assignment_id": "a-3"},
                                     headers={"X-Requested-With": "test"}) as r:
                    assert r.status == 400
                    assert (await r.json())["error"]["code"] == "assignment_conflict"
            await room.goto("17:02")
            await room.until(lambda: any(isinstance(e, ev.UsageDaily) for e in room.published),
                             "usage daily")
            # a late hand-in after the day's message: the day goes out again
            await room.goto("17:10")
            await kids["s3"].request(kids["s3"].submission("a-2"))
            await room.goto("17:15")
            await room.until(lambda: any(isinstance(e, ev.UsageDaily) and e.revision == 1
                                         for e in room.published), "usage revision")
            # the teacher takes the showcase back the same day: both go out again
            await room.goto("17:20")
            await room.command("record/showcase", {"recording_id": "rec-0907-0759",
                                                   "undo": True})
            await room.goto("17:25")
            await room.until(lambda: any(isinstance(e, ev.UsageDaily) and e.revision == 2
                                         for e in room.published), "usage revision 2")

            async with aiohttp.ClientSession() as http:
                url = room.agent.web_url
                async with http.get(f"{url}/api/lessons?limit=50") as r:
                    lessons = {s["lesson_id"]: s for s in (await r.json())["lessons"]}
                usage = {}
                for term in (SPRING, AUTUMN):
                    async with http.get(f"{url}/api/usage", params={"term": term}) as r:
                        assert r.status == 200
                        usage[term] = await r.json()
                async with http.get(f"{url}/api/usage", params={"term": "nope"}) as r:
                    assert r.status == 404 and SPRING in (await r.json())["error"]
                async with http.get(f"{url}/api/usage",
                                    params={"term": SPRING, "from": "2026-09-01"}) as r:
                    assert r.status == 400
            await room.until(lambda: len(tap.messages) >= 6, "mqtt delivery")
    finally:
        for c in tablets:
            await c.close()
        await room.stop()
        tap.close()

    # ---- the lesson summaries, by hand
    jul = lessons["2026-07-10-p1"]
    assert (jul["term"], jul["class_minutes"], jul["recording"]["minutes"]) == (
        SPRING, 45.0, 45.0)  # recorded 07:59-08:46, counted 08:00-08:45
    assert jul["tablets"]["assignments"] == 1 and jul["tablets"]["submissions"] == 2
    assert jul["homework"] == [{"class_id": "7a", "subject": "math", "assignments": 1,
                                "submissions": 2, "submission_rate": 0.5}]  # 2 of 4
    p1 = lessons["2026-09-07-p1"]  # its last revision: the showcase undone
    assert (p1["term"], p1["revision"], p1["class_minutes"]) == (AUTUMN, 2, 45.0)
    assert p1["recording"] | {"quality_rule": ""} == {
        "minutes": 40.0, "recordings": ["rec-0907-0759"], "files": 41, "showcase": False,
        "quality": False, "showcase_recordings": [], "quality_recordings": [],
        "quality_rule": ""}
    rev1 = next(msgspec.to_builtins(e) for e in room.published if isinstance(
        e, ev.LessonSummary) and e.lesson_id == "2026-09-07-p1" and e.revision == 1)
    assert rev1["recording"] | {"quality_rule": ""} == {
        "minutes": 40.0, "recordings": ["rec-0907-0759"], "files": 41, "showcase": True,
        "quality": True, "showcase_recordings": ["rec-0907-0759"],
        "quality_recordings": ["rec-0907-0759"], "quality_rule": ""}
    assert p1["homework"] == [{"class_id": "7a", "subject": "math", "assignments": 1,
                               "submissions": 3, "submission_rate": 0.75}]
    assert p1["tablets"]["active"] == 3
    p2 = lessons["2026-09-07-p2"]
    assert p2["homework"] == [{"class_id": "7a", "subject": "chinese", "assignments": 1,
                               "submissions": 1, "submission_rate": 0.25}]
    assert not p2["smart_classroom_use"] and p2["revision"] == 0
    # p1 went out three times: revision 1 with the showcase, revision 2 without
    revs = [(e.revision, e.recording.showcase) for e in room.published
            if isinstance(e, ev.LessonSummary) and e.lesson_id == "2026-09-07-p1"]
    assert revs == [(0, False), (1, True), (2, False)]
    envs = list({m["id"]: m for t, m in tap.messages if t == "lessons"  # at-least-once:
                 and m["data"]["lesson_id"] == "2026-09-07-p1"}.values())  # dedupe on id
    assert [m["data"]["revision"] for m in envs] == [0, 1, 2]  # each a new envelope id

    # ---- the day's usage message, then its revision after the late hand-in
    days = [e for e in room.published if isinstance(e, ev.UsageDaily)]
    assert [(d.date, d.revision) for d in days] == [
        ("2026-09-07", 0), ("2026-09-07", 1), ("2026-09-07", 2)]
    first, last = days[0], days[1]
    undone = {u.subject: u for u in days[2].subjects}["math"]
    assert (undone.showcase_recordings, undone.quality_recordings) == (0, 0)
    assert (first.term, first.school_day, first.school_week) == (AUTUMN, True, 2)
    assert (first.term_school_weeks, first.term_weeks_recording_room_used) == (2, 1)
    hw = {(h.class_id, h.subject): (h.assignments, h.submissions, h.submission_rate)
          for h in first.homework}
    assert hw == {("7a", "math"): (1, 3, 0.75), ("7a", "chinese"): (1, 2, 0.5),
                  ("7a", "english"): (1, 0, 0.0)}
    hw = {(h.class_id, h.subject): (h.assignments, h.submissions, h.submission_rate)
          for h in last.homework}
    assert hw[("7a", "chinese")] == (1, 3, 0.75)
    assert first.week_homework == first.homework
    by = {u.subject: u for u in first.subjects}
    assert (by["math"].lessons, by["math"].smart_lessons, by["math"].class_minutes,
            by["math"].recorded_minutes, by["math"].recordings) == (1, 1, 45.0, 40.0, 1)
    assert (by["math"].showcase_recordings, by["math"].quality_recordings,
            by["math"].live_lessons) == (1, 1, 0)
    assert (by["math"].assignments, by["math"].submissions) == (1, 3)
    assert (by["chinese"].lessons, by["chinese"].smart_lessons,
            by["chinese"].class_minutes) == (1, 0, 45.0)
    assert (by["english"].lessons, by["english"].assignments) == (0, 1)
    # term to date: the spring lesson of July is another term's
    term = {u.subject: u for u in first.term_subjects}
    assert (term["math"].lessons, term["math"].quality_recordings,
            term["math"].assignments) == (1, 1, 1)
    assert first.week_subjects == first.subjects

    # ---- /api/usage?term=: school weeks counted from the term, holidays, make-up days
    spring = usage[SPRING]
    assert (spring["from"], spring["to"]) == ("2026-02-23", "2026-07-10")
    mondays = [date(2026, 2, 23) + timedelta(weeks=i) for i in range(20)]  # ... to 6 July
    assert mondays[-1] == date(2026, 7, 6)
    assert spring["term"]["school_weeks"] == len(mondays) - 1  # 6-10 April off
    assert spring["term"]["weeks_recording_room_used"] == 1
    assert not spring["term"]["recording_room_used_every_week"]
    assert (spring["total"]["lessons"], spring["total"]["assignments"],
            spring["total"]["submissions"]) == (1, 1, 2)
    autumn = usage[AUTUMN]
    assert (autumn["from"], autumn["to"]) == ("2026-09-01", "2026-09-07")
    assert autumn["term"] | {"end": ""} == {
        "name": AUTUMN, "start": "2026-09-01", "end": "", "school_days": 2,
        "school_weeks": 2, "weeks_recording_room_used": 1,
        "recording_room_used_every_week": False}
    assert [w["school_week"] for w in autumn["weeks"]] == [1, 2]
    t = autumn["total"]
    assert (t["lessons"], t["smart_lessons"], t["class_minutes"], t["quality_recordings"],
            t["showcase_recordings"], t["assignments"], t["submissions"],
            t["live_lessons"]) == (2, 1, 90.0, 0, 0, 3, 6, 0)  # (showcase undone)
