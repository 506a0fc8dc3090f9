"""The contract between the services' ``status()`` and the pages' view (agent/web/view.py).

A real in-process agent with every capability (the demo's parts: a timetable with a lesson
now, an emulated SMART panel, a camera clip with a PTZ emulator, tablet bots, engagement on
the synthetic classroom clip) plus a real broker. Once everything has produced data,
``summarize(/api/status)`` must fill every field of every section: a field a service
renames breaks this test instead of silently blanking the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.engagement.demo import demo_part as engagement_part
from agent.lessons.demo import demo_part as lessons_part
from agent.panel.demo import demo_part as panel_part
from agent.recording.demo import camera_part
from agent.tablets.demo import demo_part as tablets_part
from agent.web.view import summarize
from tests import web_samples
from tests.conftest import zone_at_mid_morning

# view fields that are None by contract even in a busy room (dotted paths)
MAY_BE_NONE = {
    "uplink.last_error": "no error since connecting",
    "recording.last_reason": "the last recording ended normally",
    "system.temperature_c": "containers and VMs expose no sensor",
    "engagement.source_error": "the camera works",
    # no streaming server in this room: live is idle (tests/integration/test_live_*.py)
    **{f"live.{k}": "not live" for k in ("reason", "url_host", "protocol", "elapsed_s",
                                         "live_s", "bitrate_bps", "last_state",
                                         "last_reason")},
}


def _none_leaves(view: Any, path: str = "") -> list[str]:
    if isinstance(view, dict):
        return [p for k, v in view.items() for p in _none_leaves(v, f"{path}.{k}".lstrip("."))]
    if isinstance(view, list):
        return [p for i, v in enumerate(view) for p in _none_leaves(v, f"{path}[{i}]")]
    return [path] if view is None else []


async def _status(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(url + "/api/status") as r:
        assert r.status == 200
        return await r.json()


async def _until(http: aiohttp.ClientSession, url: str, what: str,
                 ok: Callable[[dict[str, Any]], bool], timeout: float = 120.0) -> dict:
    """Poll /api/status until ``ok(doc)`` (a bounded wait, not a timing assertion)."""
    deadline = asyncio.get_running_loop().time() + timeout
    doc: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        doc = await _status(http, url)
        with contextlib.suppress(KeyError, TypeError, IndexError):
            if ok(doc):
                return doc
        await asyncio.sleep(0.3)
    raise AssertionError(f"never saw {what}: {doc}")


@pytest.fixture
async def full_room(mosquitto, make_config, run_agent, tmp_path: Path):
    """An agent with every capability, running against emulators; yields (agent, http)."""
    data: dict[str, Any] = {
        "site": {"name": "Contract room", "timezone": zone_at_mid_morning()},
        "mqtt": {"url": mosquitto.url},
        # small and slow: enough for windows to close on 2 shared cores
        "engagement": {"window_s": 2.0, "analysis_fps": 2.0, "detect_width": 640,
                       "hands_every_s": 1.0, "hold_frames": 1},
    }
    work = tmp_path / "demo"
    work.mkdir()
    ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    parts = [lessons_part, panel_part, camera_part, functools.partial(tablets_part, count=4),
             engagement_part]
    async with contextlib.AsyncExitStack() as stack:
        for part in parts:
            await stack.enter_async_context(part(data, work, ready))
        assert data["engagement"].get("active") != "always", "no lesson now: analysis ungated"
        async with run_agent(make_config(**data)) as agent, aiohttp.ClientSession() as http:
            ready.set_result(agent.ctx)
            yield agent, http


async def test_the_view_fills_every_field_from_real_services(full_room) -> None:
    agent, http = full_room
    ctx, url = agent.ctx, agent.web_url
    assert {"uplink", "system", "recording", "panels", "tablets", "engagement", "lessons",
            "errors"} <= set(ctx.services), sorted(ctx.services)

    # the demo timetable's first lesson records itself; let it write video, then stop and
    # start by hand so the "last recording" fields have a real outcome too
    await _until(http, url, "the lesson's recording writing video",
                 lambda d: d["lessons"]["current"] and d["recording"]["bytes"] > 0)
    rec = ctx.services["recording"]
    await rec.stop_recording(trigger="test")
    doc = await _status(http, url)
    if doc["recording"]["state"] != "recording":
        await rec.start_recording(title="Contract test", trigger="test")

    tablets = ctx.services["tablets"]
    await _until(http, url, "tablets checked in", lambda d: d["tablets"]["checked_in"] > 0)
    tablets.ask("7 x 8 = ?", ["54", "56"], correct="56")
    logging.getLogger("drivers.contract").warning("lamp hours exceeded")  # for "errors"

    doc = await _until(http, url, "every capability producing data", lambda d: (
        d["uplink"]["connected"]
        and d["recording"]["state"] == "recording" and d["recording"]["last"]
        and d["tablets"]["question"]["answers"] > 0
        and d["engagement"]["active"] and d["engagement"]["last_window"]
        and d["engagement"]["faces"] is not None
        and d["engagement"]["head_up_rate"] is not None
        and d["engagement"]["hands_raised"] is not None
        and d["lessons"]["next"]
        and {x["kind"]: x["status"] for x in d["devices"]}
        == {"camera": "online", "panel": "online", "tablet_gateway": "online"}
        and d["errors"]["recent"]
    ), timeout=180)
    view = summarize(doc)

    broken = {k: v["error"] for k, v in view.items() if isinstance(v, dict) and "error" in v}
    assert broken == {}, broken
    blank = [p for p in _none_leaves(view) if p not in MAY_BE_NONE]
    assert blank == [], (blank, view)
    assert view["engagement"]["active_reason"] in ("lesson", "recording")
    assert view["recording"]["active"] and view["recording"]["last_state"] in (
        "finished", "partial", "failed")
    assert view["devices"]["by_status"]["online"] == 3 and view["problems"] == []

    # the hand-written samples other web tests use have exactly the services' keys
    assert set(web_samples.recording()) == set(doc["recording"])
    assert set(web_samples.tablets()) == set(doc["tablets"])
    assert set(web_samples.engagement()) == set(doc["engagement"])
    assert set(web_samples.engagement_window()) == set(doc["engagement"]["last_window"])

    # lesson over, recording stopped: analysis pauses, the page shows no live numbers
    assert (await ctx.commands.dispatch("lesson/end", {})).ok
    if ctx.services["recording"].session is not None:
        await rec.stop_recording(trigger="test")
    doc = await _until(http, url, "engagement paused",
                       lambda d: d["engagement"]["active_reason"] == "idle")
    eng = summarize(doc)["engagement"]
    assert eng["active"] is False and eng["now"] is None and eng["fps"] is None
    assert eng["last_window"]["head_count"] is not None  # kept, labelled as the last window
