"""The smart-use rule, the summary arithmetic and the usage rollups (pure functions)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.lessons import rollup
from agent.lessons.rule import VARIABLES, RuleError, compile_rule
from agent.lessons.store import LessonRow
from agent.lessons.summary import (
    attendance,
    engagement,
    panel_usage,
    recording_usage,
    summarize,
    tablet_usage,
)

# ---------------------------------------------------------------- rule


def test_rule_examples() -> None:
    r = compile_rule("panel_on_ratio >= 0.5 or recorded or tablets_used")
    assert r({"panel_on_ratio": 0.5, "recorded": False, "tablets_used": False})
    assert not r({"panel_on_ratio": 0.49, "recorded": False, "tablets_used": False})
    assert r({"panel_on_ratio": 0.0, "recorded": True})
    r = compile_rule("(panel_on_minutes + recorded_minutes) / minutes > 0.5 and not scheduled")
    assert r({"panel_on_minutes": 20, "recorded_minutes": 10, "minutes": 45, "scheduled": False})
    assert not r({"panel_on_minutes": 20, "recorded_minutes": 10, "minutes": 45,
                  "scheduled": True})
    # unknown values (no camera) never raise: comparisons with None are false
    assert not compile_rule("mean_head_up_rate > 0.1")({"mean_head_up_rate": None})
    assert compile_rule("not mean_head_up_rate > 0.1")({"mean_head_up_rate": None})
    assert not compile_rule("minutes / 0 > 1")({"minutes": 3})  # division by zero: false
    assert compile_rule("1 < minutes <= 45 and true")({"minutes": 45})


@pytest.mark.parametrize("text,error", [
    ("", "empty rule"),
    ("__import__('os')", "Call not allowed in a rule"),
    ("minutes.real > 1", "Attribute not allowed in a rule"),
    ("foo > 1", "unknown name 'foo'"),
    ("minutes > 'x'", "only numbers and true/false allowed"),
    ("minutes > ", "syntax error"),
    ("minutes ** 2 > 1", "operator Pow not allowed"),
    ("minutes in [1]", "operator In not allowed"),
    ("x" * 600, "longer than 500"),
])
def test_rule_rejects(text: str, error: str) -> None:
    with pytest.raises(RuleError, match=error.replace("(", r"\(").replace("*", r"\*")):
        compile_rule(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="panel_onratio recd<>=!() andort0123456789.+-*/", max_size=60))
def test_fuzzed_rules_compile_or_refuse(text: str) -> None:
    try:
        rule = compile_rule(text)
    except RuleError:
        return
    values = {k: 1 for k in VARIABLES}
    assert rule(values) in (True, False)
    assert rule({}) in (True, False)


# ---------------------------------------------------------------- summary parts


def test_panel_union_and_inputs() -> None:
    sig = [
        (0.0, "panel", {"dev": "a", "on": False, "input": None}),
        (60.0, "panel", {"dev": "a", "on": True, "input": "hdmi1"}),
        (600.0, "panel", {"dev": "a", "on": True, "input": "ops"}),
        (300.0, "panel", {"dev": "b", "on": True, "input": "hdmi1"}),  # a second panel
        (900.0, "panel", {"dev": "b", "on": False, "input": None}),
    ]
    p = panel_usage(sig, 0.0, 1200.0)
    # any panel on: 60..1200 -> 19 min; per input sums both panels
    assert p.on_minutes == 19.0 and p.on_ratio == round(1140 / 1200, 3)
    assert p.minutes_by_input == {"hdmi1": 19.0, "ops": 10.0}
    assert panel_usage(sig, 0.0, 0.0).on_ratio == 0.0


def test_recording_gap_and_clipping() -> None:
    sig = [
        (-30.0, "rec_start", {"id": "r0"}),  # clamped by begin
        (100.0, "rec_end", {"id": "r0", "files": 2, "duration_s": 130}),
        (200.0, "rec_start", {"id": "r1"}),
        (500.0, "gap", {"from": 400.0, "to": 500.0}),  # the agent (and recorder) were down
        (600.0, "rec_start", {"id": "r2"}),  # still running at the end
        (50.0, "rec_end", {"id": "rX", "files": 1, "duration_s": 120}),  # began before
    ]
    r = recording_usage(sig, 0.0, 900.0)
    assert r.recordings == ["r0", "r1", "r2", "rX"]
    assert r.minutes == round((100 + 200 + 300) / 60, 2)  # r0 0-100 (rX inside), r1, r2
    assert r.files == 3


def test_tablets_attendance_engagement() -> None:
    sig = [
        (10.0, "ix", {"k": "checkin", "dev": "t1", "st": "s1", "late": None}),
        (20.0, "ix", {"k": "checkin", "dev": "t1", "st": "s1", "late": None}),  # again
        (400.0, "ix", {"k": "checkin", "dev": "t2", "st": "s2", "late": None}),  # late
        (500.0, "ix", {"k": "answer", "dev": "t2", "st": "s2"}),
        (510.0, "ix", {"k": "hand", "dev": "t2", "st": "s2", "state": "raise"}),
        (520.0, "ix", {"k": "hand", "dev": "t2", "st": "s2", "state": "lower"}),
        (30.0, "eng", {"up": 0.9, "hc_med": 10, "hc_max": 12}),
        (70.0, "eng", {"up": 0.5, "hc_med": 20, "hc_max": 21}),
        (90.0, "eng", {"up": None, "hc_med": 30, "hc_max": 31}),
    ]
    assert tablet_usage(sig) == msgspec.convert(
        {"active": 2, "checkins": 2, "answers": 1, "hand_raises": 1}, type(tablet_usage([])))
    a = attendance(sig, "L", 30, late_at=300.0)
    assert (a.roster_size, a.present, a.late, a.absent) == (30, 1, 1, 28)
    assert (a.head_count_median, a.head_count_max) == (20.0, 31)
    assert attendance(sig, "L", None, 300.0).absent is None
    # the tablet service's own attendance wins (final over interim)
    att = [
        *sig,
        (600.0, "att", {"lesson": "L", "enrolled": 3, "present": 2, "late": 1, "absent": 0,
                        "head_count": 3, "final": True}),
        (700.0, "att", {"lesson": "L", "enrolled": 3, "present": 1, "late": 0, "absent": 2,
                        "head_count": 3, "final": False}),
    ]
    a = attendance(att, "L", 30, 300.0)
    assert (a.roster_size, a.present, a.late, a.absent) == (3, 2, 1, 0)
    # ... and its counters too
    t = tablet_usage([*sig, (800.0, "tally", {"tablets_active": 5, "checkins": 4,
                                             "answers": 9, "hands": 2})])
    assert (t.active, t.checkins, t.answers, t.hand_raises) == (5, 4, 9, 2)
    e = engagement(sig, 0.0, 150.0)
    assert e.mean_head_up_rate == 0.7 and e.timeline == [0.9, 0.5, None]


def test_summarize_applies_rule() -> None:
    origin = datetime(2026, 9, 7, 0, 0, tzinfo=UTC)
    row = LessonRow(lesson_id="2026-09-07-p1", kind="scheduled", date="2026-09-07",
                    origin=origin, opened=origin, subject="math")
    rule_text = "tablets_used"
    s = summarize(row, [(5.0, "ix", {"k": "answer", "dev": "t"})], 2700.0, "schedule",
                  compile_rule(rule_text), rule_text, None, 300)
    assert s.minutes == 45.0 and s.smart_classroom_use and s.smart_use_rule == rule_text
    assert s.end == datetime(2026, 9, 7, 0, 45, tzinfo=UTC) and s.ts == s.end
    s = summarize(row, [], 2700.0, "schedule", compile_rule(rule_text), rule_text, None, 300)
    assert not s.smart_classroom_use and s.engagement.timeline == [None] * 45


# ---------------------------------------------------------------- rollups


def summary(d: str, subject: str, smart: bool, recs: list[str], rec_min: float = 0.0
            ) -> dict[str, Any]:
    return {"date": d, "subject": subject, "smart_classroom_use": smart,
            "recording": {"minutes": rec_min, "recordings": recs, "files": 1},
            "panel": {"on_minutes": 10.0}}


def test_daily_and_report() -> None:
    items = [
        summary("2026-09-07", "math", True, ["r1"], 40.0),
        summary("2026-09-07", "math", False, []),
        summary("2026-09-08", "art", True, []),
        summary("2026-09-14", "math", True, ["r2", "r3"], 45.0),
    ]
    d = rollup.daily(date(2026, 9, 8), [items[2]], items[:3])
    assert (d.date, d.week, d.lessons, d.smart_lessons, d.recordings) == (
        "2026-09-08", "2026-W37", 1, 1, 0)
    assert not d.recording_room_used and d.week_recording_room_used
    assert [(u.subject, u.lessons, u.recordings) for u in d.week_subjects] == [
        ("art", 1, 0), ("math", 2, 1)]
    rep = rollup.usage_report(date(2026, 9, 6), date(2026, 9, 14), items)
    assert [w["week"] for w in rep["weeks"]] == ["2026-W36", "2026-W37", "2026-W38"]
    assert rep["weeks"][0]["lessons"] == 0
    assert rep["weeks"][1]["lessons"] == 3 and rep["weeks"][2]["recordings"] == 2
    assert len(rep["days"]) == 9 and rep["total"]["lessons"] == 4
    assert rep["total"]["subjects"][1] == {
        "subject": "math", "lessons": 3, "smart_lessons": 2, "recordings": 3,
        "recorded_lessons": 2, "recorded_minutes": 85.0, "panel_on_minutes": 30.0,
        "class_minutes": 0.0, "showcase_recordings": 0, "quality_recordings": 0,
        "live_lessons": 0, "assignments": 0, "submissions": 0}


# ---------------------------------------------------------------- programme figures


def test_counted_recording_minutes_and_showcase_marks() -> None:
    sigs = [
        (0.0, "rec_start", {"id": "r1"}),  # pre-roll from 0; the lesson proper is 60..2760
        (2820.0, "rec_end", {"id": "r1", "files": 5}),
        (2830.0, "mark", {"id": "r1", "showcase": True, "quality": False}),
        (2840.0, "mark", {"id": "r1", "showcase": True, "quality": True}),  # last wins
    ]
    rec = recording_usage(sigs, 0.0, 2820.0, counted=(60.0, 2760.0))
    assert rec.minutes == 45.0 and rec.files == 5
    assert (rec.showcase, rec.quality) == (True, True)
    assert rec.showcase_recordings == rec.quality_recordings == ["r1"]
    sigs.append((2850.0, "mark", {"id": "r1", "showcase": False, "quality": False}))
    rec = recording_usage(sigs, 0.0, 2820.0)  # ad-hoc: the whole session counts
    assert rec.minutes == 47.0 and not rec.showcase and rec.showcase_recordings == []


def test_homework_usage_counts_and_rates() -> None:
    rows = [
        {"a": "assigned", "aid": "a1", "cls": "7a", "subj": "math", "enr": 4},
        {"a": "assigned", "aid": "a1", "cls": "7a", "subj": "math", "enr": 4},  # repeat
        {"a": "assigned", "aid": "a2", "cls": "7a", "subj": "math"},  # size from roster
        {"a": "assigned", "aid": "b1", "cls": "8b", "subj": "art"},  # size unknown
        {"a": "submitted", "aid": "a1", "cls": "7a", "subj": "math", "st": "s1"},
        {"a": "submitted", "aid": "a1", "cls": "7a", "subj": "math", "st": "s1"},  # repeat
        {"a": "submitted", "aid": "old", "cls": "7a", "subj": "math", "st": "s2"},
    ]
    hw = rollup.homework_usage(rows, {"a1": 3, "a2": 1}, {"7a": 4}.get)
    assert [msgspec.to_builtins(h) for h in hw] == [
        {"class_id": "7a", "subject": "math", "assignments": 2, "submissions": 2,
         "submission_rate": 0.5},  # (3 + 1) of 2 x 4
        {"class_id": "8b", "subject": "art", "assignments": 1, "submissions": 0,
         "submission_rate": None},
    ]
    subjects = rollup.add_homework([rollup.UsageBySubject(subject="math", lessons=1)], hw)
    assert [(u.subject, u.lessons, u.assignments, u.submissions) for u in subjects] == [
        ("art", 0, 1, 0), ("math", 1, 2, 2)]


def test_live_lessons_count_only_what_a_summary_reports_live() -> None:
    base_doc = {"date": "2026-09-07", "subject": "math", "recording": {}}
    rows = rollup.by_subject([
        base_doc,  # a summary from before live lessons
        {**base_doc, "live": {"minutes": 40.0, "counted": True}},
        {**base_doc, "live": {"minutes": 12.0, "counted": False}},  # under live.min_minutes
        {**base_doc, "live": {}}])
    assert (rows[0].lessons, rows[0].live_lessons) == (4, 1)
