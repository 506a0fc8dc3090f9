"""The room's timetable: which lesson is planned when, in the room's time zone.

A lesson's identity is ``{local date}-{period id}``: the same (date, period) always gives
the same ``lesson_id``, whatever the wall clock did, so re-evaluating the schedule after a
clock step or a restart finds the same lesson instead of making a new one.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from agent.config import Config, ConfigError, LessonsConfig, TimetableConfig

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_HOLIDAY_RANGE_DAYS = 400


@dataclass(frozen=True)
class PlannedLesson:
    """One lesson the timetable plans on one date; ``start``/``end`` are UTC."""

    lesson_id: str
    date: date
    period: str
    start: datetime
    end: datetime
    class_id: str
    subject: str
    teacher: str
    title: str
    record: bool
    live: bool = False  # pushed live from start to end (agent/live)

    def window(
        self, pre_roll_s: float, post_roll_s: float, extend_s: float
    ) -> tuple[datetime, datetime]:
        """UTC bounds of the lesson session: recorded periods add pre-/post-roll."""
        pre = pre_roll_s if self.record else 0.0
        post = post_roll_s if self.record else 0.0
        return (
            self.start - timedelta(seconds=pre),
            self.end + timedelta(seconds=extend_s + post),
        )


def parse_hhmm(text: str) -> time:
    m = _HHMM.match(text.strip())
    if not m:
        raise ValueError(f"expected HH:MM, got {text!r}")
    return time(int(m.group(1)), int(m.group(2)))


def parse_date(text: str) -> date:
    if not _DATE.match(text):
        raise ValueError(f"expected YYYY-MM-DD, got {text!r}")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a calendar date: {text!r}") from None


def parse_holiday(text: str) -> tuple[date, date]:
    """``YYYY-MM-DD`` or ``YYYY-MM-DD..YYYY-MM-DD`` (inclusive)."""
    first, sep, last = text.partition("..")
    a = parse_date(first.strip())
    b = parse_date(last.strip()) if sep else a
    if b < a:
        raise ValueError(f"range ends before it starts: {text!r}")
    if (b - a).days > MAX_HOLIDAY_RANGE_DAYS:
        raise ValueError(f"range longer than {MAX_HOLIDAY_RANGE_DAYS} days: {text!r}")
    return a, b


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "period"


@dataclass(frozen=True)
class _Slot:
    period: str
    start: time
    end: time
    class_id: str
    subject: str
    teacher: str
    title: str
    record: bool
    live: bool = False


class Timetable:
    """A validated timetable; build with ``Timetable.build`` (raises ValueError lists)."""

    def __init__(self, tt: TimetableConfig, tz: ZoneInfo) -> None:
        problems = validate(tt)
        if problems:
            raise ConfigError(problems)
        self.tz = tz
        self.config = tt
        self._terms = [(parse_date(t.start), parse_date(t.end)) for t in tt.terms]
        self._holidays = [parse_holiday(h) for h in tt.holidays]
        self._makeup = {parse_date(m.date): m.follows for m in tt.makeup_days}
        self._slots: dict[str, list[_Slot]] = {d: [] for d in WEEKDAYS}
        for p in tt.periods:
            start, end = _period_times(p, tt)
            pid = _safe_id(p.id or p.bell or start.strftime("%H%M"))
            slot = _Slot(pid, start, end, p.class_, p.subject, p.teacher, p.title, p.record,
                         p.live)
            for d in p.days:
                self._slots[d].append(slot)
        for slots in self._slots.values():
            slots.sort(key=lambda s: s.start)

    def roster_size(self, class_id: str) -> int | None:
        c = self.config.classes.get(class_id)
        return c.roster_size if c and c.roster_size > 0 else None

    def day_plan(self, d: date) -> str | None:
        """Which weekday's timetable ``d`` follows, or None (holiday, out of term)."""
        if any(a <= d <= b for a, b in self._holidays):
            return None
        if self._terms and not any(a <= d <= b for a, b in self._terms):
            return None
        if d in self._makeup:
            return self._makeup[d]
        return WEEKDAYS[d.weekday()]

    # -- terms: the programmes count per term and per school week of a term

    def terms(self) -> list[tuple[str, date, date]]:
        """(name, first day, last day) of every term; an unnamed one is called
        ``start..end``."""
        return [(t.name or f"{t.start}..{t.end}", a, b)
                for t, (a, b) in zip(self.config.terms, self._terms, strict=True)]

    def term_of(self, d: date) -> tuple[str, date, date] | None:
        return next((t for t in self.terms() if t[1] <= d <= t[2]), None)

    def term_named(self, name: str) -> tuple[str, date, date] | None:
        return next((t for t in self.terms() if t[0] == name), None)

    def school_day(self, d: date) -> bool:
        """Lessons are planned that day (in term, not a holiday; make-up days count)."""
        plan = self.day_plan(d)
        return plan is not None and bool(self._slots[plan])

    def school_weeks(self, first: date, last: date) -> list[date]:
        """Mondays of the Mon-Sun weeks that hold at least one school day in
        ``[first, last]``: the school weeks, in order."""
        out: list[date] = []
        d = first
        while d <= last:
            monday = d - timedelta(days=d.weekday())
            if (not out or out[-1] != monday) and self.school_day(d):
                out.append(monday)
            d += timedelta(days=1)
        return out

    def school_week(self, d: date) -> int | None:
        """1-based number of ``d``'s week among its term's school weeks (None: outside a
        term, or a week without any school day)."""
        term = self.term_of(d)
        if term is None:
            return None
        sunday = d + timedelta(days=6 - d.weekday())
        weeks = self.school_weeks(term[1], min(sunday, term[2]))
        monday = d - timedelta(days=d.weekday())
        return weeks.index(monday) + 1 if monday in weeks else None

    def lessons_on(self, d: date) -> list[PlannedLesson]:
        plan = self.day_plan(d)
        if plan is None:
            return []
        out = []
        for s in self._slots[plan]:
            out.append(
                PlannedLesson(
                    lesson_id=f"{d.isoformat()}-{s.period}",
                    date=d,
                    period=s.period,
                    start=self._utc(d, s.start),
                    end=self._utc(d, s.end),
                    class_id=s.class_id,
                    subject=s.subject,
                    teacher=s.teacher,
                    title=s.title,
                    record=s.record,
                    live=s.live,
                )
            )
        return out

    def lessons_around(self, now: datetime) -> list[PlannedLesson]:
        """Lessons of the local day before, of and after ``now`` (windows may cross
        midnight with roll and extensions), sorted by start."""
        today = now.astimezone(self.tz).date()
        out: list[PlannedLesson] = []
        for delta in (-1, 0, 1):
            out.extend(self.lessons_on(today + timedelta(days=delta)))
        return sorted(out, key=lambda p: p.start)

    def find(self, lesson_id: str) -> PlannedLesson | None:
        try:
            d = parse_date(lesson_id[:10])
        except ValueError:
            return None
        return next((p for p in self.lessons_on(d) if p.lesson_id == lesson_id), None)

    def _utc(self, d: date, t: time) -> datetime:
        # zoneinfo resolves a DST gap/fold deterministically (fold=0), so the same
        # (date, period) always maps to the same instant
        return datetime.combine(d, t, tzinfo=self.tz).astimezone(UTC)


def _period_times(p, tt: TimetableConfig) -> tuple[time, time]:
    if p.bell:
        a, _, b = tt.bells[p.bell].partition("-")
        return parse_hhmm(a), parse_hhmm(b)
    return parse_hhmm(p.start), parse_hhmm(p.end)


def validate(tt: TimetableConfig, prefix: str = "lessons.timetable") -> list[str]:
    """Semantic problems of a timetable, each worded ``key.path: what is wrong``."""
    problems: list[str] = []
    for name, span in tt.bells.items():
        a, sep, b = span.partition("-")
        try:
            if not sep:
                raise ValueError(f"expected HH:MM-HH:MM, got {span!r}")
            if parse_hhmm(b) <= parse_hhmm(a):
                raise ValueError(f"ends before it starts: {span!r}")
        except ValueError as e:
            problems.append(f"{prefix}.bells.{name}: {e}")
    for i, t in enumerate(tt.terms):
        try:
            if parse_date(t.end) < parse_date(t.start):
                problems.append(f"{prefix}.terms[{i}].end: before start")
        except ValueError as e:
            problems.append(f"{prefix}.terms[{i}]: {e}")
    for i, h in enumerate(tt.holidays):
        try:
            parse_holiday(h)
        except ValueError as e:
            problems.append(f"{prefix}.holidays[{i}]: {e}")
    for i, m in enumerate(tt.makeup_days):
        try:
            parse_date(m.date)
        except ValueError as e:
            problems.append(f"{prefix}.makeup_days[{i}].date: {e}")
        if m.follows not in WEEKDAYS:
            problems.append(
                f"{prefix}.makeup_days[{i}].follows: expected one of {', '.join(WEEKDAYS)}, "
                f"got {m.follows!r}"
            )
    for name, c in tt.classes.items():
        if c.roster_size < 0:
            problems.append(f"{prefix}.classes.{name}.roster_size: must be >= 0")
    seen: dict[str, list[tuple[time, time, str, int]]] = {d: [] for d in WEEKDAYS}
    for i, p in enumerate(tt.periods):
        where = f"{prefix}.periods[{i}]"
        if not p.days:
            problems.append(f"{where}.days: give at least one weekday")
        bad_days = [d for d in p.days if d not in WEEKDAYS]
        if bad_days:
            problems.append(
                f"{where}.days: unknown weekday {bad_days[0]!r} (use {', '.join(WEEKDAYS)})"
            )
        if p.bell and (p.start or p.end):
            problems.append(f"{where}.bell: give either bell or start/end, not both")
            continue
        if p.bell and p.bell not in tt.bells:
            problems.append(f"{where}.bell: {p.bell!r} is not in {prefix}.bells")
            continue
        if not p.bell and not (p.start and p.end):
            problems.append(f"{where}.start: give start and end (HH:MM) or a bell name")
            continue
        try:
            start, end = _period_times(p, tt)
        except ValueError as e:
            key = "bell" if p.bell else ("start" if not _HHMM.match(p.start) else "end")
            problems.append(f"{where}.{key}: {e}")
            continue
        if end <= start:
            problems.append(f"{where}.end: {end:%H:%M} is not after start {start:%H:%M}")
            continue
        pid = _safe_id(p.id or p.bell or start.strftime("%H%M"))
        for d in p.days:
            for s2, e2, pid2, j in seen.get(d, []):
                if start < e2 and s2 < end:
                    problems.append(f"{where}: overlaps periods[{j}] on {d}")
                elif pid == pid2:
                    problems.append(f"{where}.id: period id {pid!r} used twice on {d}")
            if d in seen:
                seen[d].append((start, end, pid, i))
    return problems


def load_timetable(cfg: LessonsConfig) -> TimetableConfig | None:
    """The timetable given inline or in ``timetable_file``; raises ConfigError."""
    if cfg.timetable_file is None:
        return cfg.timetable
    from agent.config import explain_validation

    path = Path(cfg.timetable_file)
    key = "lessons.timetable_file"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{key}: cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{key}: {path} is not UTF-8 text") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{key}: {path}: syntax error: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{key}: {path}: expected a table/object at the top")
    try:
        return msgspec.convert(data, TimetableConfig, strict=True)
    except msgspec.ValidationError as err:
        raise ConfigError(f"{key}: {path}: {explain_validation(err, data)}") from None


def check_config(cfg: Config) -> list[str]:
    """SEMANTIC_CHECKS entry for the ``lessons`` section."""
    lc = cfg.lessons
    problems: list[str] = []
    if lc.timetable is not None and lc.timetable_file is not None:
        problems.append("lessons.timetable_file: give either [lessons.timetable] or a file")
    try:
        tt = load_timetable(lc)
    except ConfigError as e:
        problems.extend(e.problems)
        tt = None
    if tt is not None:
        prefix = (
            f"lessons.timetable_file({lc.timetable_file})"
            if lc.timetable_file
            else "lessons.timetable"
        )
        problems.extend(validate(tt, prefix))
    from agent.lessons.rule import RuleError, compile_rule

    try:
        compile_rule(lc.smart_use)
    except RuleError as e:
        problems.append(f"lessons.smart_use: {e}")
    try:
        parse_hhmm(lc.daily_report_time)
    except ValueError as e:
        problems.append(f"lessons.daily_report_time: {e}")
    for key in ("pre_roll_s", "post_roll_s", "late_after_s", "idle_end_s", "keep_days"):
        if getattr(lc, key) < 0:
            problems.append(f"lessons.{key}: must be >= 0")
    if lc.adhoc_max_s < 60:
        problems.append("lessons.adhoc_max_s: must be at least 60")
    if not 0 <= lc.max_extend_min <= 240:
        problems.append("lessons.max_extend_min: must be between 0 and 240")
    if lc.tick_s <= 0:
        problems.append("lessons.tick_s: must be > 0")
    return problems


def build(cfg: Config) -> Timetable | None:
    """The room's Timetable from a validated config (None when none is given)."""
    tt = load_timetable(cfg.lessons)
    if tt is None:
        return None
    try:
        tz = ZoneInfo(cfg.site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return Timetable(tt, tz)
