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
