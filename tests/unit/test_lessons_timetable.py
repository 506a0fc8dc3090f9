"""Timetable: periods per weekday, terms, holidays, make-up days, DST, config errors."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.config import ConfigError, from_dict
from agent.lessons.timetable import Timetable, build

TT: dict[str, Any] = {
    "terms": [{"name": "autumn", "start": "2026-09-01", "end": "2027-01-22"}],
    "holidays": ["2026-10-01..2026-10-07", "2026-09-25"],
    "makeup_days": [{"date": "2026-09-27", "follows": "fri"}],
    "bells": {"p1": "08:00-08:45", "p2": "08:55-09:40"},
    "classes": {"7a": {"roster_size": 40}},
    "periods": [
        {"days": ["mon", "fri"], "bell": "p1", "class": "7a", "subject": "math",
         "record": True},
        {"days": ["fri"], "bell": "p2", "class": "7a", "subject": "art"},
        {"days": ["tue"], "start": "13:30", "end": "14:15", "subject": "pe"},
    ],
}


def config(tt: dict[str, Any] | None = None, tz: str = "Asia/Shanghai", **lessons: Any):
    return from_dict({"site": {"timezone": tz}, "lessons": {"timetable": tt or TT, **lessons}})


def problems(**lessons: Any) -> list[str]:
    with pytest.raises(ConfigError) as e:
        from_dict({"lessons": lessons})
    return e.value.problems


def test_periods_terms_holidays_makeup() -> None:
    t = build(config())
    assert isinstance(t, Timetable)
    mon = t.lessons_on(date(2026, 9, 7))
    assert [p.lesson_id for p in mon] == ["2026-09-07-p1"]
    assert mon[0].start == datetime(2026, 9, 7, 0, 0, tzinfo=UTC)  # 08:00 in UTC+8
    assert mon[0].record and mon[0].subject == "math" and mon[0].class_id == "7a"
    assert [p.lesson_id for p in t.lessons_on(date(2026, 9, 8))] == ["2026-09-08-1330"]
    assert t.lessons_on(date(2026, 9, 25)) == []  # a holiday (Friday)
    assert t.lessons_on(date(2026, 10, 5)) == []  # inside a holiday range
    assert t.lessons_on(date(2026, 8, 31)) == []  # before the term
    assert t.lessons_on(date(2026, 9, 6)) == []  # Sunday
    assert [p.period for p in t.lessons_on(date(2026, 9, 27))] == ["p1", "p2"]  # make-up
    assert t.roster_size("7a") == 40 and t.roster_size("nope") is None
    p1 = mon[0]
    a, b = p1.window(60, 120, 300)
    assert a == p1.start - timedelta(seconds=60)
    assert b == p1.end + timedelta(seconds=420)
    assert t.find("2026-09-07-p1") == p1 and t.find("garbage") is None


def test_dst_day_keeps_one_lesson_per_period() -> None:
    tt = {"periods": [{"days": ["sun"], "start": "02:30", "end": "03:15", "id": "night"},
                      {"days": ["sun"], "start": "08:00", "end": "08:45", "id": "p1"}]}
    t = build(config(tt, tz="Europe/Berlin"))
    assert t is not None
    # 2026-03-29: clocks go 02:00 -> 03:00 (02:30 does not exist locally)
    spring = t.lessons_on(date(2026, 3, 29))
    assert [p.lesson_id for p in spring] == ["2026-03-29-night", "2026-03-29-p1"]
    assert spring[1].start == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)  # CEST, UTC+2
    # 2026-10-25: clocks go 03:00 -> 02:00 (02:30 happens twice): still one lesson
    autumn = t.lessons_on(date(2026, 10, 25))
    assert [p.lesson_id for p in autumn] == ["2026-10-25-night", "2026-10-25-p1"]
    assert autumn[1].start == datetime(2026, 10, 25, 7, 0, tzinfo=UTC)  # CET, UTC+1
    # the same (date, period) always maps to the same instant
    assert t.lessons_on(date(2026, 10, 25)) == autumn
    around = t.lessons_around(datetime(2026, 10, 25, 1, 0, tzinfo=UTC))
    assert len({p.lesson_id for p in around}) == len(around)


def test_timetable_file_json_and_toml(tmp_path: Path) -> None:
    j = tmp_path / "tt.json"
    j.write_text(json.dumps(TT))
    assert build(from_dict({"lessons": {"timetable_file": str(j)}})) is not None
    t = tmp_path / "tt.toml"
    t.write_text('bells = { p1 = "08:00-08:45" }\n[[periods]]\ndays = ["mon"]\nbell = "p1"\n')
    tt = build(from_dict({"lessons": {"timetable_file": str(t)}}))
    assert tt is not None and tt.lessons_on(date(2026, 9, 7))[0].period == "p1"
    bad = tmp_path / "bad.toml"
    bad.write_text('[[periods]]\ndays = ["mon"]\nstart = 8\n')
    errs = problems(timetable_file=str(bad))
    assert errs == [f"lessons.timetable_file: {bad}: periods[0].start: expected str, got 8"]
    assert problems(timetable_file=str(tmp_path / "missing.toml"))[0].startswith(
        "lessons.timetable_file: cannot read")


def test_errors_name_the_key_path() -> None:
    errs = problems(timetable={
        "bells": {"p1": "08:00-07:00"},
        "holidays": ["2026-02-30"],
        "terms": [{"start": "2026-09-01", "end": "2026-08-01"}],
        "makeup_days": [{"date": "2026-09-27", "follows": "friday"}],
        "periods": [
            {"days": ["mon"], "start": "08:00", "end": "08:45"},
            {"days": ["mon"], "start": "08:30", "end": "09:00"},
            {"days": ["funday"], "start": "25:00", "end": "09:00"},
            {"days": ["tue"], "bell": "p9"},
            {"days": ["wed"], "start": "10:00", "end": "09:00"},
        ],
    }, smart_use="panel_on_ratio >> 1", daily_report_time="noon", tick_s=0)
    assert errs == [
        "lessons.timetable.bells.p1: ends before it starts: '08:00-07:00'",
        "lessons.timetable.terms[0].end: before start",
        "lessons.timetable.holidays[0]: not a calendar date: '2026-02-30'",
        "lessons.timetable.makeup_days[0].follows: expected one of mon, tue, wed, thu, fri, "
        "sat, sun, got 'friday'",
        "lessons.timetable.periods[1]: overlaps periods[0] on mon",
        "lessons.timetable.periods[2].days: unknown weekday 'funday' (use mon, tue, wed, thu, "
        "fri, sat, sun)",
        "lessons.timetable.periods[2].start: expected HH:MM, got '25:00'",
        "lessons.timetable.periods[3].bell: 'p9' is not in lessons.timetable.bells",
        "lessons.timetable.periods[4].end: 09:00 is not after start 10:00",
        "lessons.smart_use: operator RShift not allowed",
        "lessons.daily_report_time: expected HH:MM, got 'noon'",
        "lessons.tick_s: must be > 0",
    ]
    assert problems(timetable={"periods": [{"days": ["mon"], "clas": "7a"}]}) == [
        "lessons.timetable.periods[0].clas: unknown key"]


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["terms", "holidays", "makeup_days", "bells", "classes", "periods", "x"]),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                 lambda c: st.lists(c, max_size=3) | st.dictionaries(
                     st.sampled_from(["days", "start", "end", "bell", "date", "follows",
                                      "roster_size", "class"]), c, max_size=4),
                 max_leaves=10),
    max_size=4))
def test_fuzzed_timetables_never_crash(tt: dict[str, Any]) -> None:
    """Any garbage: a valid config or ConfigError with key paths, never another error."""
    try:
        cfg = from_dict({"lessons": {"timetable": tt}})
    except ConfigError as e:
        assert all(p.split(":")[0] for p in e.problems)
        return
    t = build(cfg)
    if t is not None:
        for d in range(7):
            t.lessons_on(date(2026, 9, 7) + timedelta(days=d))


def test_zone_names_resolve() -> None:
    assert build(config(tz="America/New_York")).tz == ZoneInfo("America/New_York")


def test_terms_school_days_and_weeks() -> None:
    tt = build(config({
        "terms": [{"name": "autumn", "start": "2026-09-01", "end": "2026-09-30"},
                  {"start": "2026-10-08", "end": "2027-01-22"}],
        "holidays": ["2026-09-14..2026-09-18"],  # a whole school week off
        "makeup_days": [{"date": "2026-09-20", "follows": "fri"}],  # that Sunday: school
        "periods": [{"days": ["mon", "wed", "fri"], "start": "08:00", "end": "08:45"}],
    }, tz="UTC"))
    assert tt is not None
    assert [t[0] for t in tt.terms()] == ["autumn", "2026-10-08..2027-01-22"]
    assert tt.term_of(date(2026, 10, 1)) is None and tt.term_named("x") is None
    assert not tt.school_day(date(2026, 9, 2 + 3))  # a Saturday: no periods
    assert tt.school_day(date(2026, 9, 20)) and not tt.school_day(date(2026, 9, 16))
    weeks = tt.school_weeks(date(2026, 9, 1), date(2026, 9, 30))
    # 31 Aug, 7 Sep, (14 Sep: holidays - but the make-up Sunday 20th is in that week), 21, 28
    assert weeks == [date(2026, 8, 31), date(2026, 9, 7), date(2026, 9, 14),
                     date(2026, 9, 21), date(2026, 9, 28)]
    assert tt.school_week(date(2026, 9, 1)) == 1 and tt.school_week(date(2026, 9, 30)) == 5
    assert tt.school_week(date(2026, 10, 5)) is None  # between terms
