"""Building room payloads for district tests from the agent's own types and envelope."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from agent import events as ev
from agent.uplink.envelope import SCHEMA_VERSION, Envelope, encode, uuid7
from agent.uplink.topics import ROUTES, root

_seq: dict[tuple[str, str, str], int] = defaultdict(int)


def message(school: str, room: str, event: ev.Event, *, seq: int | None = None,
            data_patch: dict[str, Any] | None = None, data_drop: tuple[str, ...] = (),
            prefix: str = "classroom") -> tuple[str, bytes]:
    route = ROUTES[type(event)]
    sub = route.topic_for(event)
    if seq is None:
        _seq[(school, room, sub)] += 1
        seq = _seq[(school, room, sub)]
    env = Envelope(v=SCHEMA_VERSION, id=uuid7(), seq=seq, ts=event.ts, school=school,
                   room=room, type=route.type, data=event)
    payload = encode(env)
    if data_patch or data_drop:  # a newer agent's field, or one an older agent lacks
        d = json.loads(payload)
        d["data"].update(data_patch or {})
        for name in data_drop:
            d["data"].pop(name, None)
        payload = json.dumps(d).encode()
    return f"{root(prefix, school, room)}/{sub}", payload


def lesson(day: str, lesson_id: str, subject: str, smart: bool, recorded: bool = False,
           **kw: Any) -> ev.LessonSummary:
    start = datetime.fromisoformat(day).replace(hour=1, tzinfo=UTC)
    end = start + timedelta(minutes=40)
    return ev.LessonSummary(
        ts=end, lesson_id=lesson_id, kind="scheduled", date=day, subject=subject,
        start=start, end=end, minutes=40.0, smart_classroom_use=smart,
        recording=ev.LessonRecording(minutes=40.0 if recorded else 0.0,
                                     recordings=["rec"] if recorded else []), **kw)


def usage(day: str, revision: int, lessons: int, smart: int,
          homework: list[ev.HomeworkUsage] | None = None) -> ev.UsageDaily:
    y, w, _ = datetime.fromisoformat(day).isocalendar()
    return ev.UsageDaily(ts=datetime.fromisoformat(day).replace(hour=9, tzinfo=UTC), date=day,
                         week=f"{y}-W{w:02d}", revision=revision, lessons=lessons,
                         smart_lessons=smart, homework=homework or [])


# what an agent older than showcase marking / tablet homework sends
OLD_RECORDING = {"recording": {"minutes": 0.0, "recordings": [], "files": 0}}
OLD_USAGE = ("homework", "week_homework", "term_homework")


def status(state: str, capabilities: list[str]) -> ev.AgentStatus:
    return ev.AgentStatus(state=state, version="0.1.0", capabilities=capabilities)


# The KPI fixture: its hand-computed figures are in tests/district/test_district_kpi.py
CFG = {
    "web": {"listen": ""},
    "terms": [{"name": "2026 autumn", "start": "2026-09-01", "end": "2026-09-30",
               "holidays": ["2026-09-14..2026-09-18"]}],
    "targets": {"required_smart_lessons": 4, "required_subjects": 2},
    "schools": [{"id": "a", "rooms": ["r1", "r2", "r3"]}],
}


def fixture_messages() -> list[tuple[str, bytes]]:
    m = []
    m.append(message("a", "r1", status("online", ["lessons", "recording"])))
    m.append(message("a", "r2", status("offline", ["lessons"])))
    m.append(message("a", "r1", lesson("2026-08-31", "L1", "math", True)))
    m.append(message("a", "r1", lesson("2026-09-01", "L2", "math", True, recorded=True)))
    l3 = lesson("2026-09-08", "L3", "chinese", True)
    m.append(message("a", "r1", l3))
    m.append(message("a", "r1", l3))  # after a crash: new envelope id, new seq
    m.append(message("a", "r1", lesson("2026-09-15", "L4", "english", True, recorded=True)))
    m.append(message("a", "r1", lesson("2026-09-30", "L5", "physics", False, recorded=True)))
    m.append(message("a", "r1", lesson("2026-10-01", "L6", "math", True)))
    m.append(message("a", "r2", lesson("2026-09-08", "M1", "math", True)))
    m.append(message("a", "r2", lesson("2026-09-08", "M2", "math", True)))
    m3 = lesson("2026-09-08", "M3", "biology", False)
    m.append(message("a", "r2", m3))
    m.append(message("a", "r2", m3, data_patch={"revision": 1, "smart_classroom_use": True}))
    m.append(message("a", "r2", m3, data_patch={"revision": 0}))
    m.append(message("a", "r2", usage("2026-09-08", 0, 1, 1)))
    m.append(message("a", "r2", usage("2026-09-08", 2, 3, 3)))
    m.append(message("a", "r2", usage("2026-09-08", 1, 2, 2)))
    return m
