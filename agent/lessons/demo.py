"""The demo's timetable: lessons around now, so the demo has a current lesson at once.

``demo_part`` follows the ``agent.demo`` part contract: it adds a ``lessons`` section
whose timetable has, on today's weekday, a 40-minute lesson that began two minutes ago
(recorded automatically) and more 40-minute lessons every 50 minutes until the end of
the day, for class ``class-7a`` (the tablets demo takes its class from here).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from agent.lessons.timetable import WEEKDAYS

DEMO_CLASS = "class-7a"
SUBJECTS = ["math", "chinese", "english", "physics", "art", "history"]


def demo_timetable(now: datetime, tz: ZoneInfo, class_id: str = DEMO_CLASS) -> dict[str, Any]:
    local = now.astimezone(tz).replace(second=0, microsecond=0)
    day = WEEKDAYS[local.weekday()]
    start = local - timedelta(minutes=2)
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


@contextlib.asynccontextmanager
async def demo_part(data: dict[str, Any], work: Path, ready: Any) -> AsyncIterator[None]:
    lessons = data.setdefault("lessons", {})
    if "timetable" not in lessons and "timetable_file" not in lessons:
        tz = ZoneInfo((data.get("site") or {}).get("timezone") or "UTC")
        lessons["timetable"] = demo_timetable(datetime.now(tz), tz)
    yield
