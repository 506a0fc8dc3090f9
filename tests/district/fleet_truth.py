"""The figures computed independently from what a simulated fleet published."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from district.simulate.fleet import Truth


def expected_rooms(truth: Truth, start: str, end: str) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {
        key: {"lessons": 0, "smart_lessons": 0, "subjects": set(), "recorded_lessons": 0,
              "usage_lessons": 0, "quality_recordings": 0} for key in truth.rooms}
    for (school, room, _), s in truth.lessons.items():
        if not start <= s.date <= end:
            continue
        e = out[(school, room)]
        e["lessons"] += 1
        e["smart_lessons"] += s.smart_classroom_use
        if s.smart_classroom_use and s.subject:
            e["subjects"].add(s.subject)
        e["recorded_lessons"] += s.recording.minutes > 0
        e["quality_recordings"] += max(len(set(s.recording.quality_recordings)),
                                       int(s.recording.quality))
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
                "usage_lessons": r.usage_lessons, "quality_recordings": r.quality_recordings}
        if have != e:
            problems.append(f"{key}: got {have}, want {e}")
    by_school: dict[str, int] = defaultdict(int)
    for (school, _), e in want.items():
        by_school[school] += e["smart_lessons"]
    for s in report.schools:
        if s.smart_lessons != by_school[s.school]:
            problems.append(f"school {s.school}: {s.smart_lessons} != {by_school[s.school]}")
    homework: dict[str, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    for (school, _, day), u in truth.usage.items():
        if start <= day <= end:
            for h in u.homework:
                homework[school][(h.class_id, h.subject)] += h.assignments
    for s in report.schools:
        if s.homework_by_class_subject is None:
            continue  # a room's report (homework is per class) or a partial one
        got_hw = {(c, subj): f.assignments for c, by in s.homework_by_class_subject.items()
                  for subj, f in by.items() if f.assignments}
        want_hw = {k: v for k, v in homework[s.school].items() if v}
        if got_hw != want_hw:
            problems.append(f"school {s.school} homework: {got_hw} != {want_hw}")
    return problems
