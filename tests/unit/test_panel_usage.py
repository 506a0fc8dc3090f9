"""Usage accounting semantics and the automation policy (pure, explicit times)."""

from __future__ import annotations

import time
from datetime import date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from agent.panel.automation import AutomationPolicy
from agent.panel.usage import UsageTracker


def test_usage_integrates_on_time_and_inputs() -> None:
    u = UsageTracker()
    u.observe(0, None, None)  # agent starts: unknown
    u.observe(100, False, "hdmi1")  # off (the input does not count while off)
    u.observe(200, True, "hdmi1")
    u.observe(200, True, "hdmi1")  # repeats are free
    u.observe(500, True, "ops1")
    u.observe(800, None, None)  # contact lost
    u.observe(900, False, None)
    r = u.usage(0, 1000, now=1000)
    assert r == {"on_s": 600.0, "off_s": 200.0, "unknown_s": 200.0,
                 "by_input": {"hdmi1": 300.0, "ops1": 300.0}}
    # a sub-interval (a lesson from 400 to 600)
    assert u.usage(400, 600, now=1000)["by_input"] == {"hdmi1": 100.0, "ops1": 100.0}
    # the future is not counted; the open segment runs to now
    assert u.usage(950, 5000, now=1000) == {"on_s": 0.0, "off_s": 50.0, "unknown_s": 0.0,
                                            "by_input": {}}


def test_usage_persists_and_gap_is_unknown(tmp_path) -> None:
    path = tmp_path / "p.usage.jsonl"
    t0 = time.time() - 3600  # files keep 35 days; stay inside that
    u = UsageTracker(path)
    u.observe(t0, True, "HDMI1")
    u.close(t0 + 600)  # agent stops after 10 min
    path.write_text(path.read_text() + '{"torn": \n')  # power loss mid-write
    u2 = UsageTracker(path)
    u2.observe(t0 + 1200, True, "HDMI1")  # restarted 10 min later
    r = u2.usage(t0, t0 + 1800, now=t0 + 1800)
    assert r["on_s"] == 1200.0 and r["unknown_s"] == 600.0


def test_the_keep_horizon_is_dated_by_the_agents_clock(tmp_path) -> None:
    path = tmp_path / "p.usage.jsonl"
    t0 = 1_788_000_000.0  # 2026-08: far more than 35 days before the real clock
    u = UsageTracker(path)
    u.observe(t0, True, "HDMI1")
    u.close(t0 + 600)
    assert UsageTracker(path, now=t0 + 700).usage(t0, t0 + 700, now=t0 + 700)["on_s"] == 600
    assert UsageTracker(path, now=t0 + 40 * 86400).segments == []  # past keep_days


def test_usage_per_local_day() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    u = UsageTracker()
    # on from 23:00 local on the 1st to 01:00 local on the 2nd
    start = datetime(2026, 3, 1, 23, 0, tzinfo=tz).timestamp()
    u.observe(start, True, "hdmi1")
    u.observe(start + 7200, False, None)
    now = start + 86400
    assert u.day(date(2026, 3, 1), tz, now)["on_s"] == 3600.0
    assert u.day(date(2026, 3, 2), tz, now)["on_s"] == 3600.0


def cfg(**kw):
    base = {"power_on_at_lesson_start": True, "lesson_input": "hdmi1",
            "power_off_after_last_lesson": True, "after_last_lesson_min": 5.0,
            "idle_off_min": 0.0}
    base.update(kw)
    return SimpleNamespace(**base)


def test_lesson_start_powers_on_and_selects_input() -> None:
    p = AutomationPolicy(cfg(), started=0)
    assert p.lesson_start(10) == [("power", True), ("input", "hdmi1")]
    assert AutomationPolicy(cfg(power_on_at_lesson_start=False), 0).lesson_start(10) == []


def test_off_after_last_lesson_grace_only_for_the_panel_left_on() -> None:
    p = AutomationPolicy(cfg(), started=0)
    p.lesson_start(0)
    p.power_seen(1, True)
    p.lesson_end(2700, last=True)
    assert p.decide(2700 + 299) is None
    assert p.decide(2700 + 300) == "off"
    assert p.decide(2700 + 310) is None  # no retry within a minute
    p.power_seen(3100, False)
    p.power_seen(4000, True)  # someone switches it on for an evening meeting
    assert p.decide(5000) is None  # the after-last-lesson rule does not apply again


def test_not_last_lesson_and_lesson_running_never_off() -> None:
    p = AutomationPolicy(cfg(), started=0)
    p.power_seen(0, True)
    p.lesson_start(0)
    assert p.decide(10_000) is None  # lesson running
    p.lesson_end(2700, last=False)
    assert p.decide(10_000) is None  # more lessons today, no idle rule


def test_idle_rule() -> None:
    p = AutomationPolicy(cfg(power_off_after_last_lesson=False, idle_off_min=20), started=0)
    p.power_seen(100, True)  # switched on with no lesson
    assert p.decide(100 + 1199) is None
    assert p.decide(100 + 1200) == "off" and p.last_action == "idle"
    p.power_seen(1400, False)
    p.power_seen(2000, True)
    p.lesson_start(2100)
    p.lesson_end(4800, last=False)
    assert p.decide(4800 + 1199) is None  # idle counts from the lesson end
    assert p.decide(4800 + 1200) == "off"
