"""The status page and the teacher panel in a real headless Chromium."""

from __future__ import annotations

import asyncio
import importlib.util
import re
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from playwright.async_api import expect

from agent.events import DeviceState
from tests import web_samples
from tests.browser.conftest import open_page
from tests.conftest import free_port

pytestmark = pytest.mark.browser


async def _status(url: str) -> dict:
    async with aiohttp.ClientSession() as http, http.get(url + "/api/status") as r:
        return await r.json()


async def test_status_page_shows_device_going_offline_live(
    browser, make_config, run_agent, artifacts
) -> None:
    async with run_agent(make_config(site={"name": "Room 101"})) as agent:
        bus = agent.ctx.bus
        now = datetime.now(UTC)
        await bus.publish(DeviceState(device_id="panel-1", kind="panel", status="online",
                                      last_seen=now))
        await bus.publish(DeviceState(device_id="cam-teacher", kind="camera", status="online",
                                      last_seen=now))
        page = await open_page(browser, agent.web_url + "/")
        row = page.locator('#devices tr[data-device="cam-teacher"]')
        await expect(row).to_contain_text("online", timeout=10_000)
        await expect(page.locator("#live")).not_to_have_class("live off", timeout=10_000)
        # a marker that a reload would wipe out
        await page.evaluate("window.__noReload = 42")
        await page.screenshot(path=artifacts / "status-en-online.png", full_page=True)

        await bus.publish(DeviceState(device_id="cam-teacher", kind="camera", status="offline",
                                      reason="no packets for 10 s", last_seen=now))
        await expect(row).to_contain_text("offline", timeout=10_000)
        await expect(row).to_contain_text("no packets for 10 s")
        assert await page.evaluate("window.__noReload") == 42, "the page reloaded"
        # offline devices sort first, so IT staff see them at the top
        first = page.locator("#devices tr").first
        await expect(first).to_have_attribute("data-device", "cam-teacher")
        await page.screenshot(path=artifacts / "status-en-offline.png", full_page=True)
        assert page.js_errors == []


async def test_status_page_in_chinese(browser, make_config, run_agent, artifacts) -> None:
    async with run_agent(make_config(site={"name": "初二（3）班", "timezone": "Asia/Shanghai"})
                         ) as agent:
        ctx = agent.ctx
        now = datetime.now(UTC)
        await ctx.bus.publish(DeviceState(device_id="cam-students", kind="camera",
                                          status="offline", reason="RTSP 连接超时",
                                          last_seen=now - timedelta(seconds=30)))
        await ctx.bus.publish(DeviceState(device_id="panel", kind="panel", status="online",
                                          last_seen=now))
        ctx.state.set("tablets", web_samples.tablets(connected=38, checked_in=36, hands_up=2))
        ctx.state.set("engagement", web_samples.engagement(
            faces=37, head_up_rate=0.81, last_window=web_samples.engagement_window()))
        # Accept-Language from the browser's locale picks the language
        page = await open_page(browser, agent.web_url + "/", locale="zh-CN")
        await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        await expect(page.locator("#card-devices h2")).to_have_text("设备")
        row = page.locator('#devices tr[data-device="cam-students"]')
        await expect(row).to_contain_text("离线", timeout=10_000)
        await expect(page.locator("#card-tablets")).to_contain_text("台在线")
        await expect(page.locator("#card-engagement")).to_contain_text("81%")
        await page.screenshot(path=artifacts / "status-zh-CN.png", full_page=True)

        # the lesson ends: analysis pauses and the card says so instead of showing old
        # numbers as live; the last window stays, labelled as such
        ctx.state.set("engagement", web_samples.engagement(
            active=False, active_reason="idle", fps=0.0, faces=None, head_up_rate=None,
            hands_raised=None, last_window=web_samples.engagement_window(head_up_rate=0.64)))
        card = page.locator("#card-engagement")
        await expect(card).to_contain_text("已暂停（无课程）", timeout=10_000)
        await expect(card).not_to_contain_text("81%")
        await expect(card).to_contain_text("上一时段")
        await expect(card).to_contain_text("64%")
        await page.screenshot(path=artifacts / "status-zh-CN-paused.png", full_page=True)
        assert page.js_errors == []


async def test_status_page_engagement_paused_in_english(
    browser, make_config, run_agent, artifacts
) -> None:
    async with run_agent(make_config(site={"name": "Room 101"})) as agent:
        agent.ctx.state.set("engagement", web_samples.engagement(
            active=False, active_reason="idle", fps=0.0, faces=None, head_up_rate=None,
            hands_raised=None, last_window=web_samples.engagement_window(head_up_rate=0.64)))
        page = await open_page(browser, agent.web_url + "/")
        card = page.locator("#card-engagement")
        await expect(card).to_contain_text("Paused — no lesson", timeout=10_000)
        await expect(card).to_contain_text("Last window")
        await expect(card).to_contain_text("64%")
        await expect(card).not_to_contain_text("heads up")  # no live headline
        await page.screenshot(path=artifacts / "status-en-engagement-paused.png",
                              full_page=True)
        assert page.js_errors == []


async def test_panel_shows_problems_in_plain_language(
    browser, make_config, run_agent, artifacts
) -> None:
    # an uplink pointed at a port where no broker listens: "no network"
    cfg = make_config(mqtt={"url": f"mqtt://127.0.0.1:{free_port()}"},
                      site={"name": "Room 101"})
    async with run_agent(cfg) as agent:
        ctx = agent.ctx
        await ctx.bus.publish(DeviceState(device_id="cam-teacher", kind="camera",
                                          status="offline", reason="unplugged"))
        if "recording" not in ctx.services:  # stand in for the recording service's section
            ctx.state.set("recording", web_samples.recording(
                free_bytes=300 * 1024**2, keep_free_bytes=2 * 1024**3, disk_low=True))
        page = await open_page(browser, agent.web_url + "/panel", width=1920, height=1080)
        problems = page.locator("#problems")
        await expect(problems.locator('[data-problem="camera_offline"]')).to_be_visible(
            timeout=10_000)
        await expect(problems.locator('[data-problem="no_network"]')).to_contain_text(
            "recording continues", timeout=10_000)
        if "recording" not in ctx.services:
            await expect(problems.locator('[data-problem="disk_low"]')).to_be_visible()
        await page.screenshot(path=artifacts / "panel-en-problems.png")

        zh = await open_page(browser, agent.web_url + "/panel?lang=zh-CN", width=1920,
                             height=1080)
        await expect(zh.locator('#problems [data-problem="no_network"]')).to_contain_text(
            "录制照常进行", timeout=10_000)
        await zh.screenshot(path=artifacts / "panel-zh-CN-problems.png")
        assert page.js_errors == [] and zh.js_errors == []


@pytest.mark.skipif(
    importlib.util.find_spec("agent.web.recording") is None,
    reason="recording routes (agent/web/recording.py, issue 3) not in the tree yet",
)
async def test_panel_start_and_stop_recording(
    browser, make_config, run_agent, artifacts, tmp_path
) -> None:
    from drivers.emulators.camera import ensure_demo_clip

    clip = ensure_demo_clip(tmp_path / "clips")
    cfg = make_config(cameras=[{"id": "cam-teacher", "url": str(clip), "loop": True}],
                      site={"name": "Room 101"})
    async with run_agent(cfg) as agent:
        url = agent.web_url
        page = await open_page(browser, url + "/panel", width=1920, height=1080)
        button = page.locator("#rec-button")
        await expect(button).to_be_enabled(timeout=15_000)
        await expect(button).to_contain_text("Start recording")
        await page.screenshot(path=artifacts / "panel-en-idle.png")

        await button.click()
        await expect(button).to_contain_text("Stop recording", timeout=15_000)
        for _ in range(100):  # the API reports it too (no timing asserted: bounded wait)
            rec = (await _status(url)).get("recording") or {}
            if rec.get("state") == "recording":
                break
            await asyncio.sleep(0.1)
        assert rec.get("state") == "recording", rec
        elapsed = page.locator("#rec-elapsed")
        await expect(elapsed).to_have_text(re.compile(r"^\d\d:\d\d$"), timeout=10_000)
        await expect(elapsed).not_to_have_text("00:00", timeout=10_000)  # the clock runs
        await page.screenshot(path=artifacts / "panel-en-recording.png")

        await button.click()
        await expect(button).to_contain_text("Start recording", timeout=15_000)
        for _ in range(100):
            rec = (await _status(url)).get("recording") or {}
            if rec.get("state") != "recording":
                break
            await asyncio.sleep(0.1)
        assert rec.get("state") == "idle", rec
        await page.screenshot(path=artifacts / "panel-en-stopped.png")

        # after Stop: keep it as a showcase lesson, then undo (the same day)
        showcase = page.locator("#showcase-button")
        await expect(showcase).to_be_visible(timeout=10_000)
        await expect(showcase).to_have_text("Keep as showcase lesson")

        async def catalog() -> dict:
            async with aiohttp.ClientSession() as http, http.get(
                    url + "/api/recordings") as r:
                return (await r.json())["recordings"][0]

        await showcase.click()
        await expect(showcase).to_contain_text("Undo", timeout=10_000)
        kept = await catalog()
        assert kept["showcase"] is True and kept["quality"] is False  # far under 35 min
        await page.screenshot(path=artifacts / "panel-en-showcase.png")
        await showcase.click()
        await expect(showcase).to_have_text("Keep as showcase lesson", timeout=10_000)
        assert (await catalog())["showcase"] is False
        assert page.js_errors == []


async def test_status_page_shows_emulated_projector_unplugged(
    browser, make_config, run_agent, artifacts
) -> None:
    """The real path: PJLink emulator -> panel driver -> bus -> state -> SSE -> page."""
    from drivers.emulators.pjlink import PjlinkEmulator

    emu = PjlinkEmulator()
    port = await emu.start_tcp("127.0.0.1", 0)
    try:
        cfg = make_config(panels=[{"id": "projector", "protocol": "pjlink", "host": "127.0.0.1",
                                   "port": port, "poll_s": 0.5, "timeout_s": 0.5,
                                   "connect_timeout_s": 0.5}])
        async with run_agent(cfg) as agent:
            page = await open_page(browser, agent.web_url + "/")
            row = page.locator('#devices tr[data-device="projector"]')
            await expect(row).to_contain_text("online", timeout=15_000)
            await page.evaluate("window.__noReload = 7")
            await emu.unplug()
            await expect(row).not_to_contain_text("online", timeout=20_000)
            await expect(row.locator(".pill")).to_have_text(re.compile("offline|fault"))
            assert await page.evaluate("window.__noReload") == 7, "the page reloaded"
            await page.screenshot(path=artifacts / "status-en-projector-unplugged.png",
                                  full_page=True)
            assert page.js_errors == []
    finally:
        await emu.stop()
