"""Day and week rollups per subject, computed from stored lesson summaries."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import msgspec

from agent.events import UsageBySubject, UsageDaily


def iso_week(d: date) -> str:
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


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
    return [out[k] for k in sorted(out)]


def _totals(subjects: list[UsageBySubject]) -> dict[str, Any]:
    return {
        "lessons": sum(u.lessons for u in subjects),
        "smart_lessons": sum(u.smart_lessons for u in subjects),
        "recordings": sum(u.recordings for u in subjects),
        "recorded_lessons": sum(u.recorded_lessons for u in subjects),
        "live_lessons": sum(u.live_lessons for u in subjects),
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


def usage_report(first: date, last: date, summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The /api/usage document: per day and per ISO week (clipped to the range), each
    with totals and per-subject rows, plus totals for the whole range."""
    days: dict[str, list[dict[str, Any]]] = {}
    weeks: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        try:
            d = date.fromisoformat(s["date"])
        except (KeyError, ValueError):
            continue
        if first <= d <= last:
            days.setdefault(d.isoformat(), []).append(s)
            weeks.setdefault(iso_week(d), []).append(s)

    def block(items: list[dict[str, Any]]) -> dict[str, Any]:
        subjects = by_subject(items)
        t = _totals(subjects)
        t["recording_room_used"] = t["recorded_lessons"] > 0
        t["subjects"] = msgspec.to_builtins(subjects)
        return t

    day_rows = []
    week_names: list[str] = []  # every ISO week the range touches, in order
    d = first
    while d <= last:
        day_rows.append({"date": d.isoformat(), **block(days.get(d.isoformat(), []))})
        if iso_week(d) not in week_names:
            week_names.append(iso_week(d))
        d += timedelta(days=1)
    week_rows = [{"week": wk, **block(weeks.get(wk, []))} for wk in week_names]
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "total": block([s for items in days.values() for s in items]),
        "days": day_rows,
        "weeks": week_rows,
    }
