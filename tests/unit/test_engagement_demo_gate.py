"""The engagement demo part picks engagement.active: "lessons" when the demo timetable has a
lesson now, "always" otherwise (so the demo shows live numbers whenever it starts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.engagement.demo import _lesson_now
from agent.lessons.timetable import WEEKDAYS


def _data(tmp_path: Path, start: datetime, end: datetime, day: datetime) -> dict:
    return {
        "site": {"school": "s", "room": "r", "timezone": "UTC"},
        "storage": {"data_dir": str(tmp_path)},
        "lessons": {"timetable": {
            "classes": {"c1": {"name": "C1", "roster_size": 30}},
            "periods": [{"days": [WEEKDAYS[day.weekday()]], "id": "p1",
                         "start": f"{start:%H:%M}", "end": f"{end:%H:%M}", "class": "c1",
                         "subject": "math", "teacher": "t"}],
        }},
    }


def test_lesson_now(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    start, end = now - timedelta(minutes=2), now + timedelta(minutes=20)
    if start.date() != end.date():
        pytest.skip("too close to midnight for a same-day period")
    assert _lesson_now(_data(tmp_path, start, end, now))
    other_day = now + timedelta(days=3)
    assert not _lesson_now(_data(tmp_path, start, end, other_day))


def test_no_lessons_or_bad_config(tmp_path: Path) -> None:
    base = {"site": {"school": "s", "room": "r"}, "storage": {"data_dir": str(tmp_path)}}
    assert not _lesson_now({**base, "lessons": {"enabled": False}})
    assert not _lesson_now(base)  # no timetable
    assert not _lesson_now({**base, "lessons": {"bogus": 1}})  # config error: no crash
