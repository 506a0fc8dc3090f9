"""The programmes' figures per room, school and district for one term.

A clean API for reports, the HTTP API and a dashboard: ``term_report`` returns a typed
``Report``; ``weekly_series`` the per-week figures. Everything reads the per-term
aggregates the store keeps on ingest, never the lessons themselves.

Formulas (docs/district.md says where each comes from):
- class_hour_rate (课时达标率) = smart lessons in the term / targets.required_smart_lessons
  (per room; a school's and the district's use lessons per room, silent rooms included).
- subject_rate (学科达标率) = distinct subjects with at least one smart lesson /
  targets.required_subjects.
- recording_room_weekly_rate (录播教室每周至少使用1次) = school weeks with at least one
  recorded lesson / school weeks of the term so far, per recording room.
- quality recordings (精品课程 ≥ 5/科/学期): per lesson ``recording.quality_recordings``
  (ids; at least 1 when ``recording.quality``), the lesson's highest revision; per school
  and subject against targets.quality_recordings_per_subject. Null while no summary in
  scope carries the fields (agents older than showcase marking).
- homework (平板作业): the daily usage's ``homework[]`` per class and subject (highest
  revision of each day), summed per ISO week and term; a class is a tablet class when any
  of its lessons in the term had tablet activity (``LessonSummary.tablets``) or its
  homework got submissions (handed in on tablets). Weekly target per school week, term
  target on the term total. Null while no usage in scope carries ``homework``.
- live_lessons (异地同步教学): lessons whose summary says ``live``; null while no summary
  in scope carries the field.
Rates are fractions and are never capped (1.799 = 179.9 %).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from district.config import DistrictConfig, TargetsSection, TermSection
from district.store.store import Store

WHY_QUALITY = ("no lesson summary in scope carries quality (精品) recording marks "
               "(LessonSummary.recording.quality): agents older than showcase marking")
WHY_HOMEWORK = ("no daily usage in scope carries tablet homework (UsageDaily.homework): "
                "agents older than tablet homework")
WHY_HOMEWORK_DISTRICT = "listed per school (schools[].homework_by_class_subject)"
WHY_HOMEWORK_ROOM = "homework is per class: see the school's report"
WHY_QUALITY_MET_DISTRICT = "judged per school (schools[].quality_target_met_by_subject)"
WHY_LIVE = "no lesson summary in scope says whether it was live (LessonSummary.live)"
WHY_SILENT = "the room has never sent anything"
WHY_NOT_RECORDING = "not a recording room (no 'recording' capability and no recorded lesson)"
WHY_NO_RECORDING_ROOMS = "no recording room in scope"
WHY_NO_WEEKS = "no school week in the term so far"
WHY_NO_ROOMS = "no room in scope"


class TermInfo(msgspec.Struct, kw_only=True):
    name: str
    start: str
    end: str
    as_of: str  # figures count up to this day
    school_weeks: int
    holidays: list[str]


class HomeworkFigures(msgspec.Struct, kw_only=True):
    """Tablet homework of one class and subject over the term so far."""

    tablet_class: bool
    assignments: int  # term total
    submissions: int
    submission_rate: float | None  # rooms' rates weighted by assignments; None if unknown
    week_target: int
    school_weeks: int
    weeks_meeting: int  # school weeks with at least week_target assignments
    weekly_rate: float | None  # weeks_meeting / school_weeks
    term_target: int
    term_rate: float | None  # assignments / term_target
    meets_weekly: bool
    meets_term: bool


class RoomFigures(msgspec.Struct, kw_only=True):
    school: str
    room: str
    state: str | None  # online | offline | None (no status yet)
    last_seen: str | None
    silent: bool
    lessons: int
    smart_lessons: int
    class_hour_rate: float | None
    subjects_taught: int
    subject_rate: float | None
    subjects: list[str]
    recording_room: bool
    recorded_lessons: int
    recorded_weeks: int | None
    school_weeks: int
    recording_room_weekly_rate: float | None
    quality_recordings: int | None
    live_lessons: int | None
    usage_lessons: int  # what the room's daily usage says (cross-check of lost summaries)
    minutes: float
    reasons: dict[str, str]
    homework_days: int = 0  # daily usage messages carrying homework (0: not sent)


class SchoolFigures(msgspec.Struct, kw_only=True):
    school: str
    rooms: int
    reporting_rooms: int
    silent_rooms: int
    lessons: int
    smart_lessons: int
    smart_lessons_per_room: float | None
    class_hour_rate: float | None
    rooms_meeting_class_hours: int
    subjects_per_room: float | None
    subject_rate: float | None
    rooms_meeting_subjects: int
    recording_rooms: int
    recording_room_weekly_rate: float | None
    recording_rooms_weekly: int  # recording rooms used every school week so far
    quality_recordings_by_subject: dict[str, int] | None
    quality_target_met_by_subject: dict[str, bool] | None
    quality_subjects_meeting: int | None
    live_lessons: int | None
    live_lessons_rate: float | None
    homework_by_class_subject: dict[str, dict[str, HomeworkFigures]] | None
    homework_class_subjects: int | None  # (class, subject) pairs with homework
    homework_meeting_weekly: int | None  # ... reaching the weekly target every school week
    homework_meeting_term: int | None  # ... reaching the term target
    reasons: dict[str, str]


class DistrictFigures(SchoolFigures, kw_only=True):
    schools: int
    name: str = ""


class Report(msgspec.Struct, kw_only=True):
    district: DistrictFigures
    term: TermInfo
    targets: TargetsSection
    rooms: list[RoomFigures]
    schools: list[SchoolFigures]
    generated_at: str


def today(cfg: DistrictConfig) -> date:
    return datetime.now(ZoneInfo(cfg.district.timezone)).date()


def school_weeks(term: TermSection, as_of: date) -> list[str]:
    """ISO weeks of the term up to ``as_of`` with at least one school day (Mon-Fri, not a
    holiday)."""
    holidays = term.holiday_dates()
    last = min(term.end, as_of)
    weeks: list[str] = []
    d = term.start
    while d <= last:
        if d.weekday() < 5 and d not in holidays:
            y, w, _ = d.isocalendar()
            wk = f"{y}-W{w:02d}"
            if not weeks or weeks[-1] != wk:
                weeks.append(wk)
        d += timedelta(days=1)
    return weeks


def _rate(num: float, den: float) -> float | None:
    return None if den <= 0 else round(num / den, 6)


def room_figures(cfg: DistrictConfig, term: TermSection, store: Store, *,
                 school: str | None = None, room: str | None = None,
                 as_of: date | None = None) -> tuple[list[RoomFigures], list[str]]:
    as_of = as_of or today(cfg)
    weeks = school_weeks(term, as_of)
    t = cfg.targets
    totals = {(r["school"], r["room"]): r
              for r in store.term_room_totals(term.name, weeks, school, room)}
    smart_subjects: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in store.term_smart_subjects(term.name, school, room):
        smart_subjects[(r["school"], r["room"])].append(r["subject"])
    out: list[RoomFigures] = []
    for info in store.rooms(school, room):
        key = (info["school"], info["room"])
        tot = totals.get(key) or {}
        reasons: dict[str, str] = {}
        silent = info["first_seen"] is None
        lessons = int(tot.get("lessons") or 0)
        smart = int(tot.get("smart_lessons") or 0)
        subjects = sorted(smart_subjects.get(key, []))
        recorded = int(tot.get("recorded_lessons") or 0)
        is_rec = "recording" in info["capabilities"] or recorded > 0
        rec_weeks = int(tot.get("recorded_weeks") or 0)
        live_known = int(tot.get("live_known") or 0)
        quality_known = int(tot.get("quality_known") or 0)
        if not quality_known:
            reasons["quality_recordings"] = WHY_QUALITY
        class_rate = _rate(smart, t.required_smart_lessons)
        subject_rate = _rate(len(subjects), t.required_subjects)
        weekly_rate = _rate(rec_weeks, len(weeks)) if is_rec else None
        if silent:
            class_rate = subject_rate = None
            reasons["class_hour_rate"] = reasons["subject_rate"] = WHY_SILENT
        if not is_rec:
            reasons["recording_room_weekly_rate"] = WHY_NOT_RECORDING
        elif not weeks:
            reasons["recording_room_weekly_rate"] = WHY_NO_WEEKS
        if not live_known:
            reasons["live_lessons"] = WHY_LIVE
        out.append(RoomFigures(
            school=key[0], room=key[1], state=info["state"], last_seen=info["last_seen"],
            silent=silent, lessons=lessons, smart_lessons=smart, class_hour_rate=class_rate,
            subjects_taught=len(subjects), subject_rate=subject_rate, subjects=subjects,
            recording_room=is_rec, recorded_lessons=recorded,
            recorded_weeks=rec_weeks if is_rec else None, school_weeks=len(weeks),
            recording_room_weekly_rate=weekly_rate,
            quality_recordings=int(tot.get("quality_recordings") or 0) if quality_known
            else None,
            live_lessons=int(tot.get("live_lessons") or 0) if live_known else None,
            usage_lessons=int(tot.get("usage_lessons") or 0),
            minutes=round(float(tot.get("minutes") or 0), 3), reasons=reasons,
            homework_days=int(tot.get("homework_days") or 0)))
    return out, weeks


def _quality(rows: list[dict[str, Any]]) -> dict[str, int]:
    by: dict[str, int] = defaultdict(int)
    for r in rows:
        if r["subject"]:  # the target is per subject: lessons without one are not counted
            by[r["subject"]] += int(r["quality"] or 0)
    return dict(sorted(by.items()))


def _homework(rows: list[dict[str, Any]], t: TargetsSection,
              weeks: int) -> dict[str, dict[str, HomeworkFigures]]:
    out: dict[str, dict[str, HomeworkFigures]] = {}
    # a tablet class: tablet activity in any of its lessons, or hand-ins in any subject
    tablets = {r["class_id"] for r in rows
               if int(r["tablet_lessons"] or 0) > 0 or int(r["submissions"] or 0) > 0}
    for r in rows:
        assigned, submitted = int(r["assignments"] or 0), int(r["submissions"] or 0)
        tablet = r["class_id"] in tablets
        wt = t.homework_per_subject_week if tablet else t.homework_per_subject_week_no_tablets
        tt = t.homework_per_subject_term if tablet else t.homework_per_subject_term_no_tablets
        met = int((r["weeks_tablet"] if tablet else r["weeks_no_tablets"]) or 0)
        rated = int(r["rated"] or 0)
        out.setdefault(r["class_id"], {})[r["subject"]] = HomeworkFigures(
            tablet_class=tablet, assignments=assigned, submissions=submitted,
            submission_rate=round(float(r["rate_weighted"]) / rated, 6) if rated else None,
            week_target=wt, school_weeks=weeks, weeks_meeting=met,
            weekly_rate=_rate(met, weeks), term_target=tt, term_rate=_rate(assigned, tt),
            meets_weekly=weeks > 0 and met >= weeks, meets_term=assigned >= tt)
    return out


def _level(rooms: list[RoomFigures], t: TargetsSection, cls: type, *,
           quality: dict[str, int], homework: dict[str, dict[str, HomeworkFigures]] | None,
           hw_pairs: list[HomeworkFigures] | None, why_no_homework: str = WHY_HOMEWORK,
           quality_met: int | None = None, district: bool = False, **extra: Any) -> Any:
    """One school's (or the district's) figures. ``homework``: the school's table (None
    for the district and for a room's report); ``hw_pairs``: every (class, subject) in
    scope; ``quality_met`` (district only): subjects reaching the target, summed over
    schools."""
    n = len(rooms)
    rec = [r for r in rooms if r.recording_room and r.recording_room_weekly_rate is not None]
    smart = sum(r.smart_lessons for r in rooms)
    per_room = _rate(smart, n)
    subjects = _rate(sum(r.subjects_taught for r in rooms), n)
    live = [r.live_lessons for r in rooms if r.live_lessons is not None]
    reasons: dict[str, str] = {}
    by_subject: dict[str, int] | None = quality
    met: dict[str, bool] | None = None
    if not any(r.quality_recordings is not None for r in rooms):
        by_subject = None
        reasons["quality_recordings_by_subject"] = WHY_QUALITY
    elif district:
        reasons["quality_target_met_by_subject"] = WHY_QUALITY_MET_DISTRICT
    else:
        met = {s: q >= t.quality_recordings_per_subject for s, q in quality.items()}
        quality_met = sum(met.values())
    if by_subject is None:
        quality_met = None
    if not any(r.homework_days > 0 for r in rooms):
        homework, hw_pairs = None, None
        reasons["homework_by_class_subject"] = WHY_HOMEWORK
    elif homework is None:
        reasons["homework_by_class_subject"] = why_no_homework
    if not n:
        reasons["class_hour_rate"] = reasons["subject_rate"] = WHY_NO_ROOMS
    if not rec:
        reasons["recording_room_weekly_rate"] = WHY_NO_RECORDING_ROOMS
    if not live:
        reasons["live_lessons"] = WHY_LIVE
    live_total = sum(live) if live else None
    return cls(
        rooms=n,
        reporting_rooms=sum(1 for r in rooms if r.lessons > 0),
        silent_rooms=sum(1 for r in rooms if r.silent),
        lessons=sum(r.lessons for r in rooms), smart_lessons=smart,
        smart_lessons_per_room=per_room,
        class_hour_rate=None if per_room is None else round(per_room / t.required_smart_lessons,
                                                            6),
        rooms_meeting_class_hours=sum(1 for r in rooms if (r.class_hour_rate or 0) >= 1),
        subjects_per_room=subjects,
        subject_rate=None if subjects is None else round(subjects / t.required_subjects, 6),
        rooms_meeting_subjects=sum(1 for r in rooms if (r.subject_rate or 0) >= 1),
        recording_rooms=len(rec),
        recording_room_weekly_rate=_rate(sum(r.recording_room_weekly_rate or 0 for r in rec),
                                         len(rec)),
        recording_rooms_weekly=sum(1 for r in rec if (r.recording_room_weekly_rate or 0) >= 1),
        quality_recordings_by_subject=by_subject,
        quality_target_met_by_subject=met,
        quality_subjects_meeting=quality_met,
        live_lessons=live_total,
        live_lessons_rate=None if live_total is None else round(live_total / t.live_lessons, 6),
        homework_by_class_subject=homework,
        homework_class_subjects=None if hw_pairs is None else len(hw_pairs),
        homework_meeting_weekly=None if hw_pairs is None else sum(x.meets_weekly
                                                                  for x in hw_pairs),
        homework_meeting_term=None if hw_pairs is None else sum(x.meets_term
                                                                for x in hw_pairs),
        reasons=reasons, **extra)


def term_report(cfg: DistrictConfig, store: Store, term_name: str, *,
                school: str | None = None, room: str | None = None,
                as_of: date | None = None) -> Report:
    """The whole report for one term (optionally one school or one room)."""
    term = cfg.term(term_name)
    as_of = as_of or today(cfg)
    rooms, weeks = room_figures(cfg, term, store, school=school, room=room, as_of=as_of)
    by_school: dict[str, list[RoomFigures]] = defaultdict(list)
    for r in rooms:
        by_school[r.school].append(r)
    t = cfg.targets
    q_rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for q in store.term_quality_by_subject(term.name, school, room):
        q_rows[q["school"]].append(q)
    hw: dict[str, dict[str, dict[str, HomeworkFigures]]] = {}
    if room is None:  # homework is per class, not per room: a room's report has none
        tablet_lessons = {(c["school"], c["class_id"]): int(c["tablet_lessons"])
                          for c in store.term_classes(term.name, school)}
        by: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for h in store.term_homework(term.name, weeks, (
                t.homework_per_subject_week, t.homework_per_subject_week_no_tablets), school):
            h["tablet_lessons"] = tablet_lessons.get((h["school"], h["class_id"]), 0)
            by[h["school"]].append(h)
        hw = {s: _homework(rs, t, len(weeks)) for s, rs in by.items()}

    def pairs(s: str) -> list[HomeworkFigures] | None:
        if room is not None:
            return None
        return [x for subj in hw.get(s, {}).values() for x in subj.values()]

    schools = [_level(rs, t, SchoolFigures, quality=_quality(q_rows.get(s, [])),
                      homework=hw.get(s, {}) if room is None else None, hw_pairs=pairs(s),
                      why_no_homework=WHY_HOMEWORK_ROOM, school=s)
               for s, rs in sorted(by_school.items())]
    met = [s.quality_subjects_meeting for s in schools if s.quality_subjects_meeting is not None]
    all_pairs = None if room is not None else [x for s in by_school for x in pairs(s) or []]
    district = _level(rooms, t, DistrictFigures,
                      quality=_quality([r for rs in q_rows.values() for r in rs]),
                      homework=None, hw_pairs=all_pairs,
                      why_no_homework=WHY_HOMEWORK_ROOM if room else WHY_HOMEWORK_DISTRICT,
                      quality_met=sum(met) if met else None, district=True, school="",
                      schools=len(by_school), name=cfg.district.name)
    info = TermInfo(name=term.name, start=term.start.isoformat(), end=term.end.isoformat(),
                    as_of=min(as_of, term.end).isoformat(), school_weeks=len(weeks),
                    holidays=list(term.holidays))
    return Report(district=district, term=info, targets=cfg.targets, rooms=rooms,
                  schools=schools,
                  generated_at=datetime.now(ZoneInfo(cfg.district.timezone)).isoformat())


class WeekFigures(msgspec.Struct, kw_only=True):
    week: str
    school_week: bool
    rooms_with_lessons: int
    lessons: int
    smart_lessons: int
    recorded_lessons: int
    rooms_recorded: int
    usage_lessons: int


def weekly_series(cfg: DistrictConfig, store: Store, term_name: str, *,
                  school: str | None = None, room: str | None = None,
                  as_of: date | None = None) -> list[WeekFigures]:
    """Per ISO week of the term: what was taught (for charts)."""
    term = cfg.term(term_name)
    weeks = set(school_weeks(term, as_of or today(cfg)))
    cols = ("rooms_with_lessons", "lessons", "smart_lessons", "recorded_lessons",
            "rooms_recorded", "usage_lessons")
    acc = {r["week"]: r for r in store.term_week_totals(term.name, school, room)}
    return [WeekFigures(week=wk, school_week=wk in weeks,
                        **{c: int((acc.get(wk) or {}).get(c) or 0) for c in cols})
            for wk in sorted(set(acc) | weeks)]


def to_builtins(obj: Any) -> Any:
    return msgspec.to_builtins(obj)
