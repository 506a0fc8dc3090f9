"""The teacher panel's "Go live" button in headless Chromium, against a real camera (RTSP
server) and a real streaming server (nginx-rtmp): state, host and elapsed time come back
from the agent; the status page's live card shows it too."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
from playwright.async_api import expect

from tests.browser.conftest import open_page
from tests.recording_helpers import RtspServer
from tests.stream_servers import NginxRtmp, have_nginx_rtmp

pytestmark = pytest.mark.skipif(not have_nginx_rtmp(), reason="nginx-rtmp not installed")


async def _live(url: str) -> dict:
    async with aiohttp.ClientSession() as s, s.get(url + "/api/status") as r:
        return (await r.json()).get("live") or {}


async def _until(url: str, ok) -> dict:
    for _ in range(300):  # a bounded wait, not a timing assertion
        live = await _live(url)
        if ok(live):
            return live
        await asyncio.sleep(0.1)
    raise AssertionError(live)


async def test_panel_goes_live_and_back(browser, make_config, run_agent, artifacts,
                                        tmp_path) -> None:
    rtsp = RtspServer(width=320, height=240, fps=25, gop=25, audio=True)
    nginx = NginxRtmp(tmp_path / "nginx")
    rtsp.start()
    nginx.start()
    try:
        cfg = make_config(cameras=[{"id": "cam-teacher", "url": rtsp.url}],
                          site={"name": "Room 101"}, live={"url": nginx.url("secret-key")})
        async with run_agent(cfg) as agent:
            url = agent.web_url
            page = await open_page(browser, url + "/panel", width=1920, height=1080)
            button = page.locator("#live-button")
            await expect(page.locator("#live-control")).to_be_visible(timeout=15_000)
            await expect(button).to_be_enabled(timeout=15_000)
            await expect(button).to_contain_text("Go live")
            await button.click()
            await expect(button).to_contain_text("End live lesson", timeout=15_000)
            await _until(url, lambda v: v.get("state") == "live")
            state = page.locator("#live-state")
            await expect(state).to_contain_text(f"127.0.0.1:{nginx.port}", timeout=15_000)
            elapsed = page.locator("#live-elapsed")
            await expect(elapsed).to_have_text(re.compile(r"^\d\d:\d\d$"), timeout=10_000)
            await expect(elapsed).not_to_have_text("00:00", timeout=10_000)
            # going live records the lesson too: the Record button says so
            await expect(page.locator("#rec-button")).to_contain_text("Stop recording")
            await page.screenshot(path=artifacts / "panel-en-live.png")
            status = await open_page(browser, url + "/")
            card = status.locator("#card-live")
            await expect(card).to_contain_text("Live", timeout=15_000)
            await expect(card).to_contain_text(f"rtmp://127.0.0.1:{nginx.port}")
            assert "secret-key" not in await status.content()
            await status.screenshot(path=artifacts / "status-en-live.png")

            await button.click()
            await expect(button).to_contain_text("Go live", timeout=15_000)
            await _until(url, lambda v: v.get("state") == "idle")
            await expect(page.locator("#rec-button")).to_contain_text("Start recording",
                                                                     timeout=15_000)
            assert page.js_errors == [] and status.js_errors == []
    finally:
        nginx.kill()
        rtsp.kill()


async def test_panel_without_a_streaming_server_has_no_live_button(
        browser, make_config, run_agent, tmp_path) -> None:
    from drivers.emulators.camera import ensure_demo_clip

    clip = ensure_demo_clip(tmp_path / "clips")
    cfg = make_config(cameras=[{"id": "cam-teacher", "url": str(clip), "loop": True}])
    async with run_agent(cfg) as agent:
        page = await open_page(browser, agent.web_url + "/panel", width=1920, height=1080)
        await expect(page.locator("#rec-button")).to_be_enabled(timeout=15_000)
        await expect(page.locator("#live-control")).to_be_hidden()
        assert page.js_errors == []
