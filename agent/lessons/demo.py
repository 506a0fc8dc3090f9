"""The demo's timetable: lessons around now, so the demo has a current lesson at once.

``demo_part`` follows the ``agent.demo`` part contract: it adds a ``lessons`` section
whose timetable has, on today's weekday, a 40-minute lesson that began two minutes ago
(recorded automatically) and more 40-minute lessons every 50 minutes until the end of
the day, for class ``class-7a`` (the tablets demo takes its class from here).

Late in the evening no 40-minute lesson fits before midnight (the timetable has no
overnight periods), so the demo then records an ad-hoc lesson instead, the way a teacher
pressing Record outside the timetable would: the demo always has a current lesson.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from agent.lessons.timetable import WEEKDAYS

log = logging.getLogger("agent.demo")

DEMO_CLASS = "class-7a"
SUBJECTS = ["math", "chinese", "english", "physics", "art", "history"]


def demo_timetable(now: datetime, tz: ZoneInfo, class_id: str = DEMO_CLASS) -> dict[str, Any]:
    local = now.astimezone(tz).replace(second=0, microsecond=0)
    day = WEEKDAYS[local.weekday()]
    # two minutes ago, but not yesterday (a demo started at 00:00 still gets its lesson)
    start = max(local - timedelta(minutes=2), local.replace(hour=0, minute=0))
    periods = []
    n = 0
    while start.date() == local.date() and (start + timedelta(minutes=40)).date() == local.date():
        end = start + timedelta(minutes=40)
        periods.append(
            {
                "days": [day],
                "id": f"demo{n + 1}",
                "start": f"{start:%H:%M}",
                "end": f"{end:%H:%M}",
                "class": class_id,
                "subject": SUBJECTS[n % len(SUBJECTS)],
                "teacher": "t-demo",
                "record": n == 0,
            }
        )
        n += 1
        start += timedelta(minutes=50)
    return {
        "classes": {class_id: {"name": "Grade 7 A (demo)", "roster_size": 30}},
        "periods": periods,
    }


async def record_adhoc(ready: asyncio.Future[Any]) -> None:
    """Once the agent runs, start an ad-hoc recording (hence an ad-hoc lesson)."""
    from agent.recording.service import RecordingService

    ctx = await ready
    svc = ctx.service(RecordingService)
    if svc is None:
        return
    log.info("no timetabled lesson fits before midnight: recording an ad-hoc demo lesson")
    await svc.start_recording(title="Demo lesson (ad hoc)", subject=SUBJECTS[0],
                              teacher="t-demo", trigger="demo")


@contextlib.asynccontextmanager
async def demo_part(data: dict[str, Any], work: Path, ready: Any,
                    now: datetime | None = None) -> AsyncIterator[None]:
    """``now`` (tests) replaces the wall clock the timetable is built around."""
    lessons = data.setdefault("lessons", {})
    adhoc: asyncio.Task[None] | None = None
    if "timetable" not in lessons and "timetable_file" not in lessons:
        tz = ZoneInfo((data.get("site") or {}).get("timezone") or "UTC")
        lessons["timetable"] = demo_timetable(now or datetime.now(tz), tz)
        if not lessons["timetable"]["periods"]:
            adhoc = asyncio.create_task(record_adhoc(ready))
    try:
        yield
    finally:
        if adhoc is not None:
            adhoc.cancel()
            with contextlib.suppress(BaseException):
                await adhoc
