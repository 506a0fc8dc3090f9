"""The figures computed independently from what a simulated fleet published."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from district.simulate.fleet import Truth


def expected_rooms(truth: Truth, start: str, end: str) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {
        key: {"lessons": 0, "smart_lessons": 0, "subjects": set(), "recorded_lessons": 0,
              "usage_lessons": 0} for key in truth.rooms}
    for (school, room, _), s in truth.lessons.items():
        if not start <= s.date <= end:
            continue
        e = out[(school, room)]
        e["lessons"] += 1
        e["smart_lessons"] += s.smart_classroom_use
        if s.smart_classroom_use and s.subject:
            e["subjects"].add(s.subject)
        e["recorded_lessons"] += s.recording.minutes > 0
    for (school, room, day), u in truth.usage.items():
        if start <= day <= end:
            out[(school, room)]["usage_lessons"] += u.lessons
    return out


def compare(report: Any, truth: Truth, start: str, end: str) -> list[str]:
    """Differences between the report's room rows and the truth (empty = equal)."""
    want = expected_rooms(truth, start, end)
    got = {(r.school, r.room): r for r in report.rooms}
    problems = []
    if set(got) != set(want):
        problems.append(f"rooms differ: {sorted(set(got) ^ set(want))[:5]}")
    for key, e in want.items():
        r = got.get(key)
        if r is None:
            continue
        have = {"lessons": r.lessons, "smart_lessons": r.smart_lessons,
                "subjects": set(r.subjects), "recorded_lessons": r.recorded_lessons,
                "usage_lessons": r.usage_lessons}
        if have != e:
            problems.append(f"{key}: got {have}, want {e}")
    by_school: dict[str, int] = defaultdict(int)
    for (school, _), e in want.items():
        by_school[school] += e["smart_lessons"]
    for s in report.schools:
        if s.smart_lessons != by_school[s.school]:
            problems.append(f"school {s.school}: {s.smart_lessons} != {by_school[s.school]}")
    return problems
