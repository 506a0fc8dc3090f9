"""The engagement demo part picks engagement.active: "lessons" when the demo timetable has a
lesson now, "always" otherwise (so the demo shows live numbers whenever it starts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.engagement.demo import _lesson_now
from agent.lessons.timetable import WEEKDAYS
from tests.conftest import zone_at_mid_morning


def _data(tmp_path: Path, start: datetime, end: datetime, day: datetime,
          zone: str = "UTC") -> dict:
    return {
        "site": {"school": "s", "room": "r", "timezone": zone},
        "storage": {"data_dir": str(tmp_path)},
        "lessons": {"timetable": {
            "classes": {"c1": {"name": "C1", "roster_size": 30}},
            "periods": [{"days": [WEEKDAYS[day.weekday()]], "id": "p1",
                         "start": f"{start:%H:%M}", "end": f"{end:%H:%M}", "class": "c1",
                         "subject": "math", "teacher": "t"}],
        }},
    }


def test_lesson_now(tmp_path: Path) -> None:
    zone = zone_at_mid_morning()  # a same-day period around now at any hour
    now = datetime.now(UTC).astimezone(ZoneInfo(zone))
    start, end = now - timedelta(minutes=2), now + timedelta(minutes=20)
    assert _lesson_now(_data(tmp_path, start, end, now, zone))
    other_day = now + timedelta(days=3)
    assert not _lesson_now(_data(tmp_path, start, end, other_day, zone))


def test_no_lessons_or_bad_config(tmp_path: Path) -> None:
    base = {"site": {"school": "s", "room": "r"}, "storage": {"data_dir": str(tmp_path)}}
    assert not _lesson_now({**base, "lessons": {"enabled": False}})
    assert not _lesson_now(base)  # no timetable
    assert not _lesson_now({**base, "lessons": {"bogus": 1}})  # config error: no crash
