"""The usage reports of the lessons: the daily ``UsageDaily`` (sent again as a new revision
when a lesson closes after it went out), /api/usage for a date range or a term. The figures
themselves are pure functions in rollup.py; this class reads the lesson store and the
timetable for them. The lessons service owns one and calls ``maybe_publish`` every step."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from agent.bus import Bus
from agent.clock import Clock
from agent.config import LessonsConfig
from agent.events import UsageDaily
from agent.lessons import rollup
from agent.lessons.store import LessonStore
from agent.lessons.timetable import Timetable, parse_hhmm
from agent.metrics import Metrics

USAGE_CATCHUP_DAYS = 7


class UsageReports:
    def __init__(self, cfg: LessonsConfig, timetable: Timetable | None, tz: ZoneInfo,
                 clock: Clock, bus: Bus, metrics: Metrics) -> None:
        self.cfg = cfg
        self.timetable = timetable
        self.tz = tz
        self.clock = clock
        self.bus = bus
        self.store: LessonStore | None = None  # the service's, while it runs
        self._last_usage_check: float | None = None
        self._pruned: date | None = None
        self._m_usage = metrics.counter("classroom_lessons_usage_daily_total",
                                        "UsageDaily published")

    async def maybe_publish(self, now: datetime) -> None:
        """At most once a minute: the UsageDaily of every day that is due (again)."""
        mono = self.clock.monotonic()
        if self._last_usage_check is not None and mono - self._last_usage_check < 60:
            return
        self._last_usage_check = mono
        assert self.store is not None
        local = now.astimezone(self.tz)
        today = local.date()
        since = (today - timedelta(days=USAGE_CATCHUP_DAYS)).isoformat()
        counts = await asyncio.to_thread(self.store.lesson_counts, since)
        due = {d for d in map(date.fromisoformat, counts) if d < today}
        if local.time() >= parse_hhmm(self.cfg.daily_report_time):
            school_day = self.timetable is not None and self.timetable.day_plan(today) is not None
            if school_day or today.isoformat() in counts:
                due.add(today)
        for d in sorted(due):
            lessons = counts.get(d.isoformat(), 0)
            sent = await asyncio.to_thread(self.store.usage_sent, d.isoformat())
            if sent is not None and lessons <= sent[0]:
                continue
            # a lesson closed after that day's message (late ad-hoc lesson, or one running
            # past daily_report_time): the day goes out again, as the next revision
            event = await self.usage_daily(d)
            event.revision = 0 if sent is None else sent[1] + 1
            await self.bus.publish(event)
            await asyncio.to_thread(self.store.mark_usage_sent, d.isoformat(), now, lessons,
                                    event.revision)
            self._m_usage.inc()
        if self.cfg.keep_days and self._pruned != today:
            self._pruned = today
            cutoff = (today - timedelta(days=self.cfg.keep_days)).isoformat()
            await asyncio.to_thread(self.store.prune, cutoff)

    def _roster(self, class_id: str) -> int | None:
        return self.timetable.roster_size(class_id) if self.timetable else None

    async def _homework_usage(self, first: date, last: date) -> tuple[list[Any], list[Any]]:
        """(per class and subject, records) of the homework between the dates."""
        assert self.store is not None
        a, b = first.isoformat(), last.isoformat()
        rows = await asyncio.to_thread(self.store.homework, a, b)
        subs = await asyncio.to_thread(self.store.submissions_for, a, b)
        return rollup.homework_usage(rows, subs, self._roster), rows

    async def usage_daily(self, d: date) -> UsageDaily:
        assert self.store is not None
        monday = d - timedelta(days=d.weekday())
        week = await asyncio.to_thread(self.store.summaries, monday.isoformat(), d.isoformat())
        day = [s for s in week if s.get("date") == d.isoformat()]
        ev = rollup.daily(d, day, week)
        ev.homework = (await self._homework_usage(d, d))[0]
        ev.week_homework = (await self._homework_usage(monday, d))[0]
        ev.subjects = rollup.add_homework(ev.subjects, ev.homework)
        ev.week_subjects = rollup.add_homework(ev.week_subjects, ev.week_homework)
        tt = self.timetable
        if tt is not None:
            ev.school_day = tt.school_day(d)
            term = tt.term_of(d)
            if term is not None:
                name, first, _last = term
                ev.term, ev.school_week = name, tt.school_week(d)
                sums = await asyncio.to_thread(self.store.summaries, first.isoformat(),
                                               d.isoformat())
                ev.term_homework = (await self._homework_usage(first, d))[0]
                ev.term_subjects = rollup.add_homework(rollup.by_subject(sums),
                                                       ev.term_homework)
                weeks = tt.school_weeks(first, d)
                recorded = {rollup.monday_of(s["date"]) for s in sums if rollup.recorded(s)}
                ev.term_school_weeks = len(weeks)
                ev.term_weeks_recording_room_used = sum(1 for w in weeks if w in recorded)
        ev.ts = self.clock.now()
        return ev

    async def usage(self, first: date, last: date) -> dict[str, Any]:
        if self.store is None:
            return rollup.usage_report(first, last, [])
        items = await asyncio.to_thread(self.store.summaries, first.isoformat(), last.isoformat())
        _hw, rows = await self._homework_usage(first, last)
        subs = await asyncio.to_thread(self.store.submissions_for, first.isoformat(),
                                       last.isoformat())
        tt = self.timetable
        return rollup.usage_report(first, last, items, rows, subs, self._roster,
                                   tt.school_week if tt is not None else None)

    def term_names(self) -> list[str]:
        return [t[0] for t in self.timetable.terms()] if self.timetable else []

    async def term_usage(self, name: str, today: date) -> dict[str, Any] | None:
        """/api/usage?term=NAME: the term from its first day up to today (or its last
        day), by day and ISO week (with the school-week number), plus the term's school
        weeks and in how many of them the recording room was used. None: no such term."""
        tt = self.timetable
        term = tt.term_named(name) if tt is not None else None
        if term is None or tt is None:
            return None
        _name, first, end = term
        last = max(first, min(end, today))
        doc = await self.usage(first, last)
        weeks = tt.school_weeks(first, last)
        items = await asyncio.to_thread(self.store.summaries, first.isoformat(),
                                        last.isoformat()) if self.store else []
        used = {rollup.monday_of(s["date"]) for s in items if rollup.recorded(s)}
        doc["term"] = {
            "name": name,
            "start": first.isoformat(),
            "end": end.isoformat(),
            "school_days": sum(1 for i in range((last - first).days + 1)
                               if tt.school_day(first + timedelta(days=i))),
            "school_weeks": len(weeks),
            "weeks_recording_room_used": sum(1 for w in weeks if w in used),
            "recording_room_used_every_week": bool(weeks) and all(w in used for w in weeks),
        }
        return doc
