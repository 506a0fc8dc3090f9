"""engagement.active = "lessons": frames are decoded and analysed only while a lesson is
current or a recording runs; an idle room analyses nothing.

An in-process agent with a file source; the lesson is faked by setting the state section
LessonService owns (``ctx.state.set("lesson", ...)``; LessonService itself sets None when
no lesson is current). No timing is asserted: every wait is for a condition, with a
generous timeout; "stays flat" is checked over a pause long enough for several frames at
the configured rate.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from agent.config import ConfigError, from_dict
from agent.engagement.demo import _encode
from agent.events import EngagementWindow
from tests.helpers.wait import wait_for

FLAT_PAUSE_S = 2.5  # at analysis_fps 8 a running pipeline would analyse ~20 frames here


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small plain clip: gating does not need faces, only frames."""
    path = tmp_path_factory.mktemp("gating") / "room.mp4"
    img = np.full((180, 320, 3), 150, np.uint8)
    img[60:120, 140:180] = (40, 80, 160)  # something in the picture besides a flat wall
    _encode(path, img, 320, 180, seconds=2.0, fps=10)
    return path


def _engagement(clip: Path, **kw) -> dict:
    return {"enabled": True, "source": str(clip), "loop": True, "analysis_fps": 8.0,
            "hand_raise": False, "detect_width": 0, "window_s": 1.0, **kw}


async def assert_flat(svc, what: str) -> None:
    before = svc.analysed
    await asyncio.sleep(FLAT_PAUSE_S)
    assert svc.analysed == before, f"frames analysed while {what}"
    reader = svc._reader
    assert reader is None or not reader._thread.is_alive(), "reader still decoding"
    assert svc._worker is None or not svc._worker.is_alive(), "worker still running"


def _lesson(lesson_id: str) -> dict:
    return {"lesson_id": lesson_id, "kind": "scheduled", "subject": "math"}


async def test_analysis_only_during_a_lesson(clip: Path, make_config, run_agent) -> None:
    cfg = make_config(engagement=_engagement(clip))  # lessons enabled by default: gated
    async with run_agent(cfg) as agent:
        ctx = agent.ctx
        svc = ctx.services["engagement"]
        assert ctx.state.get("lesson") is None  # what LessonService sets with no lesson
        await wait_for(lambda: svc.active_reason == "idle", 30, "idle")
        await assert_flat(svc, "idle before the lesson")
        assert svc.analysed == 0 and svc.windows == 0
        st = svc.status()
        assert st["active"] is False and st["active_reason"] == "idle"
        assert st["active_mode"] == "lessons" and st["connected"] is False
        assert ctx.state.snapshot()["engagement"]["active"] is False

        with ctx.bus.subscribe(EngagementWindow) as sub:
            ctx.state.set("lesson", _lesson("L1"))
            w = await asyncio.wait_for(sub.get(), 60)  # published during the lesson
        assert w.lesson_id == "L1" and w.frames >= 1
        assert svc.status()["active"] is True
        assert svc.status()["active_reason"] == "lesson"
        assert svc.analysed >= 1

        ctx.state.set("lesson", None)
        await wait_for(lambda: not svc.active, 30, "paused after the lesson")
        assert svc.status()["active_reason"] == "idle"
        await assert_flat(svc, "idle after the lesson")

        # and again: a second lesson restarts reader and worker cleanly
        before = svc.analysed
        ctx.state.set("lesson", _lesson("L2"))
        await wait_for(lambda: svc.analysed >= before + 2, 60, "analysis in lesson 2")
        assert svc.activations == 2
        ctx.state.set("lesson", None)
        await wait_for(lambda: not svc.active, 30, "paused after lesson 2")
        await assert_flat(svc, "idle after lesson 2")


async def test_partial_window_is_published_when_the_lesson_ends(clip: Path, make_config,
                                                                run_agent) -> None:
    cfg = make_config(engagement=_engagement(clip, window_s=3600.0))
    async with run_agent(cfg) as agent:
        ctx = agent.ctx
        svc = ctx.services["engagement"]
        await wait_for(lambda: svc.active_reason == "idle", 30, "idle")
        with ctx.bus.subscribe(EngagementWindow) as sub:
            ctx.state.set("lesson", _lesson("L1"))
            await wait_for(lambda: svc.analysed >= 3, 60, "three frames analysed")
            assert svc.windows == 0  # the hour-long window is still open
            ctx.state.set("lesson", None)  # the lesson ends mid-window
            w = await asyncio.wait_for(sub.get(), 30)
            await wait_for(lambda: not svc.active, 30, "paused")
        assert w.lesson_id == "L1"  # the lesson it belonged to, though it has ended
        assert w.frames == svc.analysed >= 3
        assert svc.windows == 1


async def test_a_running_recording_activates_analysis(clip: Path, make_config,
                                                      run_agent) -> None:
    cfg = make_config(
        lessons={"enabled": False},  # so the reason is the recording, not an ad-hoc lesson
        cameras=[{"id": "students", "role": "students", "url": str(clip), "loop": True}],
        engagement=_engagement(clip, camera="students", source=None),
    )
    async with run_agent(cfg) as agent:
        svc = agent.ctx.services["engagement"]
        rec = agent.ctx.services["recording"]
        await wait_for(lambda: svc.active_reason == "idle", 30, "idle")
        await assert_flat(svc, "idle before recording")
        await rec.start_recording(title="gating", trigger="test")
        await wait_for(lambda: svc.analysed >= 2, 60, "analysis while recording")
        assert svc.status()["active_reason"] == "recording"
        await rec.stop_recording(trigger="test")
        await wait_for(lambda: not svc.active, 30, "paused after recording")
        await assert_flat(svc, "idle after recording")


async def test_always_and_rooms_without_lessons_or_recording(clip: Path, make_config,
                                                             run_agent, tmp_path: Path) -> None:
    # no LessonService and no RecordingService in the room: behaves as "always"
    cfg = make_config(lessons={"enabled": False}, engagement=_engagement(clip))
    async with run_agent(cfg) as agent:
        svc = agent.ctx.services["engagement"]
        await wait_for(lambda: svc.analysed >= 2, 60, "analysis with nothing to gate on")
        assert svc.status()["active"] is True
        assert svc.status()["active_reason"] == "always"
    # active = "always" analyses with lessons present and none current
    cfg = make_config(engagement=_engagement(clip, active="always"),
                      storage={"data_dir": str(tmp_path / "data2")})
    async with run_agent(cfg) as agent:
        svc = agent.ctx.services["engagement"]
        assert agent.ctx.state.get("lesson") is None
        await wait_for(lambda: svc.analysed >= 2, 60, "analysis with active = always")
        assert svc.status()["active_reason"] == "always"


def test_active_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"engagement\.active"):
        from_dict({"site": {"school": "s", "room": "r"},
                   "storage": {"data_dir": str(tmp_path)},
                   "engagement": {"active": "sometimes"}})
