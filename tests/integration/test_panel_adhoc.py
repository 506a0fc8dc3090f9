"""Panel automation sees every lesson, not only timetabled ones: an ad-hoc lesson (the
teacher pressed Record, no timetable) keeps ``idle_off_min`` from switching the panel off
mid-lesson; once that lesson has ended, the idle rule switches it off again.

A real in-process agent: an emulated SMART Board on a pty, a file camera recording for real.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.panel.service import PanelService
from drivers.emulators.camera import ensure_demo_clip
from drivers.emulators.smart import SmartEmulator
from tests.helpers.panel import panel_entry
from tests.helpers.wait import wait_for

IDLE_OFF_MIN = 0.05  # 3 s


async def test_adhoc_lesson_keeps_the_panel_on(make_config, run_agent, tmp_path: Path) -> None:
    clip = ensure_demo_clip(tmp_path / "clip")
    emu = SmartEmulator()
    path = await emu.start_pty()
    cfg = make_config(
        panels=[panel_entry(path, idle_off_min=IDLE_OFF_MIN)],
        cameras=[{"id": "teacher", "url": str(clip), "loop": True}],
        lessons={"tick_s": 0.2, "idle_end_s": 1},
    )
    try:
        async with run_agent(cfg) as agent:
            ctx = agent.ctx
            svc = ctx.service(PanelService)
            assert svc is not None
            await wait_for(lambda: ctx.state.devices.get("front") is not None
                           and ctx.state.devices["front"].status == "online", what="online")
            assert emu.values["powerstate"] == "on"
            res = await ctx.commands.dispatch("record/start", {"title": "extra lesson"})
            assert res.ok, res.error
            lessons = ctx.services["lessons"]
            await wait_for(lambda: lessons.current is not None, what="ad-hoc lesson open")
            assert lessons.current.row.kind == "adhoc"
            await wait_for(lambda: svc.panels["front"].policy.lesson_active,
                           what="the panel knows a lesson runs")

            # well past idle_off_min with the panel on and the ad-hoc lesson running
            await asyncio.sleep(IDLE_OFF_MIN * 60 * 2.5)
            assert emu.values["powerstate"] == "on", svc.panels["front"].policy.status(0)
            assert lessons.current is not None

            # the lesson ends (recording stopped + idle_end_s): now the idle rule applies
            res = await ctx.commands.dispatch("record/stop", {})
            assert res.ok, res.error
            await wait_for(lambda: lessons.current is None, timeout=30, what="lesson closed")
            assert not svc.panels["front"].policy.lesson_active
            await wait_for(lambda: emu.values["powerstate"] == "ready", timeout=30,
                           what="idle off after the ad-hoc lesson")
            assert svc.panels["front"].policy.last_action == "idle"
    finally:
        await emu.stop()


async def test_lesson_resumed_after_a_restart_keeps_the_panel_on_untouched(
        make_config, run_agent) -> None:
    """The agent restarts mid-lesson: the resumed lesson is announced to the panel (no idle
    "off" meanwhile) without switching it on again or changing the input the teacher chose."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from tests.conftest import zone_at_mid_morning

    tz = zone_at_mid_morning()
    now = datetime.now(ZoneInfo(tz))
    emu = SmartEmulator()
    path = await emu.start_pty()
    cfg = make_config(
        site={"timezone": tz},
        panels=[panel_entry(path, idle_off_min=IDLE_OFF_MIN, power_on_at_lesson_start=True,
                            lesson_input="OPS")],
        lessons={"tick_s": 0.2, "timetable": {"periods": [{
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "id": "p1",
            "start": f"{now - timedelta(minutes=10):%H:%M}",
            "end": f"{now + timedelta(minutes=50):%H:%M}"}]}},
    )
    try:
        async with run_agent(cfg) as agent:  # 1st life: the lesson opens, panel set up
            lessons = agent.ctx.services["lessons"]
            await wait_for(lambda: lessons.current is not None, what="lesson open")
            await wait_for(lambda: emu.values["input"] == "ops1", what="lesson input")
        emu.values["input"] = "hdmi1"  # the teacher switched to the laptop meanwhile
        async with run_agent(cfg) as agent:  # 2nd life: the lesson is resumed
            ctx = agent.ctx
            lessons = ctx.services["lessons"]
            svc = ctx.service(PanelService)
            assert lessons.current is not None and lessons.current.row.restarts == 1
            assert svc.panels["front"].policy.lesson_active
            await wait_for(lambda: ctx.state.devices.get("front") is not None
                           and ctx.state.devices["front"].status == "online", what="online")
            await asyncio.sleep(IDLE_OFF_MIN * 60 * 2.5)
            assert emu.values["powerstate"] == "on"
            assert emu.values["input"] == "hdmi1"  # not switched back to the lesson input
    finally:
        await emu.stop()
