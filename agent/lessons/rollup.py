"""Day and week rollups per subject, computed from stored lesson summaries."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import msgspec

from agent.events import HomeworkUsage, UsageBySubject, UsageDaily


def iso_week(d: date) -> str:
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


def monday_of(day: str) -> date:
    d = date.fromisoformat(day)
    return d - timedelta(days=d.weekday())


def recorded(s: dict[str, Any]) -> bool:
    """The lesson was recorded (the recording room was used)."""
    rec = s.get("recording") or {}
    return (rec.get("minutes") or 0) > 0 or bool(rec.get("recordings"))


def homework_usage(
    rows: list[dict[str, Any]],
    submitted: dict[str, int],
    roster: Any = None,
) -> list[HomeworkUsage]:
    """Per class and subject: ``rows`` are homework records of the period (``a``
    assigned|submitted, ``aid``, ``cls``, ``subj``, ``st``, ``enr``); ``submitted`` counts
    the submissions received so far per assignment id (for the rate); ``roster(class_id)``
    gives a class's size when an assignment did not say (None = unknown)."""
    out: dict[tuple[str, str], HomeworkUsage] = {}
    expected: dict[tuple[str, str], int | None] = {}
    got: dict[tuple[str, str], int] = {}
    seen: set[tuple[str, str, str]] = set()
    for r in rows:
        key3 = (str(r.get("a")), str(r.get("aid")), str(r.get("st") or ""))
        if key3 in seen:
            continue
        seen.add(key3)
        key = (str(r.get("cls") or ""), str(r.get("subj") or ""))
        u = out.setdefault(key, HomeworkUsage(class_id=key[0], subject=key[1]))
        if r.get("a") == "assigned":
            u.assignments += 1
            n = r.get("enr") if isinstance(r.get("enr"), int) and r["enr"] > 0 else None
            if n is None and roster is not None:
                n = roster(key[0])
            prev = expected.get(key, 0)
            expected[key] = None if (prev is None or n is None) else prev + n
            got[key] = got.get(key, 0) + submitted.get(str(r.get("aid")), 0)
        elif r.get("a") == "submitted":
            u.submissions += 1
    for key, u in out.items():
        want = expected.get(key)
        if u.assignments and want:
            u.submission_rate = round(got.get(key, 0) / want, 3)
    return [out[k] for k in sorted(out)]


def add_homework(subjects: list[UsageBySubject], hw: list[HomeworkUsage]) -> list[UsageBySubject]:
    """Per-subject rows with the homework counts added (all classes of a subject)."""
    out = {u.subject: u for u in subjects}
    for h in hw:
        u = out.setdefault(h.subject, UsageBySubject(subject=h.subject))
        u.assignments += h.assignments
        u.submissions += h.submissions
    return [out[k] for k in sorted(out)]


def by_subject(summaries: list[dict[str, Any]]) -> list[UsageBySubject]:
    out: dict[str, UsageBySubject] = {}
    for s in summaries:
        subject = s.get("subject") or ""
        u = out.setdefault(subject, UsageBySubject(subject=subject))
        rec = s.get("recording") or {}
        u.lessons += 1
        u.smart_lessons += 1 if s.get("smart_classroom_use") else 0
        u.recordings += len(rec.get("recordings") or [])
        u.recorded_lessons += 1 if (rec.get("minutes") or 0) > 0 or rec.get("recordings") else 0
        u.recorded_minutes = round(u.recorded_minutes + float(rec.get("minutes") or 0), 2)
        u.live_lessons += 1 if (s.get("live") or {}).get("counted") else 0
        u.panel_on_minutes = round(
            u.panel_on_minutes + float((s.get("panel") or {}).get("on_minutes") or 0), 2
        )
        u.class_minutes = round(u.class_minutes + float(s.get("class_minutes") or 0), 2)
        u.showcase_recordings += len(rec.get("showcase_recordings") or [])
        u.quality_recordings += len(rec.get("quality_recordings") or [])
    return [out[k] for k in sorted(out)]


def _totals(subjects: list[UsageBySubject]) -> dict[str, Any]:
    return {
        "lessons": sum(u.lessons for u in subjects),
        "smart_lessons": sum(u.smart_lessons for u in subjects),
        "recordings": sum(u.recordings for u in subjects),
        "recorded_lessons": sum(u.recorded_lessons for u in subjects),
        "live_lessons": sum(u.live_lessons for u in subjects),
    }


def extra_totals(subjects: list[UsageBySubject]) -> dict[str, Any]:
    """The programmes' further totals (API blocks; UsageDaily has them per subject)."""
    return {
        "class_minutes": round(sum(u.class_minutes for u in subjects), 2),
        "showcase_recordings": sum(u.showcase_recordings for u in subjects),
        "quality_recordings": sum(u.quality_recordings for u in subjects),
        "live_lessons": sum(u.live_lessons for u in subjects),
        "assignments": sum(u.assignments for u in subjects),
        "submissions": sum(u.submissions for u in subjects),
    }


def daily(
    day: date, day_summaries: list[dict[str, Any]], week_summaries: list[dict[str, Any]]
) -> UsageDaily:
    """The UsageDaily of ``day``; ``week_summaries`` = Monday of its week up to ``day``."""
    subjects = by_subject(day_summaries)
    week = by_subject(week_summaries)
    t = _totals(subjects)
    return UsageDaily(
        date=day.isoformat(),
        week=iso_week(day),
        subjects=subjects,
        week_subjects=week,
        recording_room_used=t["recorded_lessons"] > 0,
        week_recording_room_used=any(u.recorded_lessons for u in week),
        **t,
    )


def usage_report(
    first: date,
    last: date,
    summaries: list[dict[str, Any]],
    homework: list[dict[str, Any]] | None = None,
    submitted: dict[str, int] | None = None,
    roster: Any = None,
    school_week: Any = None,
) -> dict[str, Any]:
    """The /api/usage document: per day and per ISO week (clipped to the range), each
    with totals and per-subject rows, plus totals for the whole range. ``homework``:
    records with a ``date`` (see ``homework_usage``); ``school_week(day)``: the term's
    school-week number of a day (None outside), added to the week rows when given."""
    days: dict[str, list[dict[str, Any]]] = {}
    weeks: dict[str, list[dict[str, Any]]] = {}
    hw_days: dict[str, list[dict[str, Any]]] = {}
    hw_weeks: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        try:
            d = date.fromisoformat(s["date"])
        except (KeyError, ValueError):
            continue
        if first <= d <= last:
            days.setdefault(d.isoformat(), []).append(s)
            weeks.setdefault(iso_week(d), []).append(s)
    for h in homework or []:
        try:
            d = date.fromisoformat(h["date"])
        except (KeyError, ValueError):
            continue
        if first <= d <= last:
            hw_days.setdefault(d.isoformat(), []).append(h)
            hw_weeks.setdefault(iso_week(d), []).append(h)

    def block(items: list[dict[str, Any]], hw_items: list[dict[str, Any]]) -> dict[str, Any]:
        hw = homework_usage(hw_items, submitted or {}, roster)
        subjects = add_homework(by_subject(items), hw)
        t = _totals(subjects)
        t["recording_room_used"] = t["recorded_lessons"] > 0
        t.update(extra_totals(subjects))
        t["subjects"] = msgspec.to_builtins(subjects)
        t["homework"] = msgspec.to_builtins(hw)
        return t

    day_rows = []
    week_names: list[str] = []  # every ISO week the range touches, in order
    week_numbers: dict[str, int | None] = {}
    d = first
    while d <= last:
        day_rows.append({"date": d.isoformat(),
                         **block(days.get(d.isoformat(), []), hw_days.get(d.isoformat(), []))})
        if iso_week(d) not in week_names:
            week_names.append(iso_week(d))
        if school_week is not None and week_numbers.get(iso_week(d)) is None:
            week_numbers[iso_week(d)] = school_week(d)
        d += timedelta(days=1)
    week_rows = []
    for wk in week_names:
        row: dict[str, Any] = {"week": wk}
        if school_week is not None:
            row["school_week"] = week_numbers.get(wk)
        row.update(block(weeks.get(wk, []), hw_weeks.get(wk, [])))
        week_rows.append(row)
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "total": block([s for items in days.values() for s in items],
                       [h for items in hw_days.values() for h in items]),
        "days": day_rows,
        "weeks": week_rows,
    }
