"""The web endpoints of a running in-process agent: pages, assets, SSE, metrics, errors."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from agent.events import DeviceState
from tests import web_samples

STATIC = Path(__file__).resolve().parents[2] / "agent" / "web" / "static"


async def _sse_events(resp: aiohttp.ClientResponse):
    """Yield the decoded ``data`` of each ``status`` event."""
    event, data = None, []
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            if event == "status":
                yield json.loads("\n".join(data))
            event, data = None, []


async def test_pages_language_and_assets(make_config, run_agent) -> None:
    async with run_agent(make_config()) as agent, aiohttp.ClientSession() as http:
        base = agent.web_url
        r = await http.get(base + "/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
        page = await r.text()
        assert r.status == 200 and '<html lang="zh-CN">' in page
        assert r.headers["Content-Language"] == "zh-CN"
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
        r = await http.get(base + "/?lang=en", headers={"Accept-Language": "zh-CN"})
        assert '<html lang="en">' in await r.text()
        r = await http.get(base + "/panel", headers={"Accept-Language": "fr, en;q=0.5"})
        panel = await r.text()
        assert '<html lang="en">' in panel
        # every asset the pages reference is served by the agent itself
        refs = set(re.findall(r'(?:src|href)="(/[^"?]+)', page + panel))
        assert {"/static/style.css", "/static/status.js", "/static/panel.js"} <= refs
        for ref in refs:
            assert (await http.get(base + ref)).status == 200, ref
        assert (await http.get(base + "/static/../auth.py")).status in (403, 404)


def test_no_external_urls_in_static_files() -> None:
    """No CDN, no web fonts: the room may have no internet."""
    for f in STATIC.iterdir():
        text = f.read_text(encoding="utf-8")
        text = text.replace("http://www.w3.org/2000/svg", "")
        assert not re.search(r"https?://", text), f.name


async def test_configured_language_wins(make_config, run_agent) -> None:
    async with run_agent(make_config(web={"language": "zh-CN"})) as agent:
        async with aiohttp.ClientSession() as http:
            r = await http.get(agent.web_url + "/panel", headers={"Accept-Language": "en"})
            assert '<html lang="zh-CN">' in await r.text()


async def test_live_stream_pushes_changes(make_config, run_agent) -> None:
    async with run_agent(make_config()) as agent, aiohttp.ClientSession() as http:
        resp = await http.get(agent.web_url + "/api/events/stream")
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        events = _sse_events(resp)
        first = await asyncio.wait_for(anext(events), 10)
        assert first["status"]["agent"]["school"] == "test-school"
        assert {"status", "view", "history"} <= set(first)
        await agent.ctx.bus.publish(
            DeviceState(device_id="cam9", kind="camera", status="offline", reason="unplugged"))

        async def until_device() -> dict:
            async for doc in events:
                if any(d["device_id"] == "cam9" for d in doc["status"]["devices"]):
                    return doc
            raise AssertionError("stream ended")

        doc = await asyncio.wait_for(until_device(), 10)
        assert doc["view"]["devices"]["cameras_down"] == ["cam9"]
        assert "camera_offline" in doc["view"]["problems"]
        resp.close()


async def test_metrics_from_status(make_config, run_agent) -> None:
    async with run_agent(make_config()) as agent, aiohttp.ClientSession() as http:
        ctx = agent.ctx
        await ctx.bus.publish(DeviceState(device_id="p1", kind="panel", status="online"))
        await ctx.bus.publish(DeviceState(device_id="c1", kind="camera", status="fault",
                                          reason="bad codec"))
        ctx.state.set("tablets", web_samples.tablets(connected=7))
        ctx.state.set("engagement", web_samples.engagement(
            last_window=web_samples.engagement_window(head_up_rate=0.5)))
        ctx.state.set("recording", web_samples.recording(free_bytes=10 * 1024**3))
        r = await http.get(agent.web_url + "/metrics")
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
        fams = {f.name: f for f in text_string_to_metric_families(text)}
        names = [f.name for f in text_string_to_metric_families(text)]
        assert len(names) == len(set(names)), "a metric family is exported twice"
        up = {s.labels["device_id"]: s.value for s in fams["classroom_device_up"].samples}
        assert up == {"p1": 1.0, "c1": 0.0}
        assert fams["classroom_tablets_connected"].samples[0].value == 7
        assert fams["classroom_engagement_head_up_ratio"].samples[0].value == 0.5
        assert fams["classroom_recording_active"].samples[0].value == 0
        assert fams["classroom_recording_disk_free_bytes"].samples[0].value == 10 * 1024**3
        # paused (no lesson): no engagement numbers exported as if current
        ctx.state.set("engagement", web_samples.engagement(
            active=False, active_reason="idle", faces=None, head_up_rate=None,
            hands_raised=None, last_window=web_samples.engagement_window()))
        text = await (await http.get(agent.web_url + "/metrics")).text()
        assert "classroom_engagement_head_up_ratio" not in text
        assert "classroom_loop_lag_seconds" in fams
        assert "classroom_agent_info" in fams  # version and site as labels
        if "uplink" in agent.ctx.services:
            assert "classroom_outbox_depth_messages" in fams or any(
                n.startswith("classroom_outbox") for n in fams)


async def test_recent_errors_in_status(make_config, run_agent) -> None:
    async with run_agent(make_config()) as agent, aiohttp.ClientSession() as http:
        logging.getLogger("drivers.test").warning("projector lamp hours exceeded: %d", 5000)
        logging.getLogger("drivers.test").info("not shown: below WARNING")
        doc = await (await http.get(agent.web_url + "/api/status")).json()
        msgs = [e["message"] for e in doc["errors"]["recent"]]
        assert "projector lamp hours exceeded: 5000" in msgs
        assert not any("not shown" in m for m in msgs)
        assert "system" in doc and "cpu_percent" in doc["system"]


async def test_engagement_history_for_the_sparkline(make_config, run_agent, monkeypatch) -> None:
    from agent.web import live

    monkeypatch.setattr(live, "HISTORY_INTERVAL_S", 0.05)
    async with run_agent(make_config()) as agent, aiohttp.ClientSession() as http:
        if "engagement" not in agent.ctx.services:
            agent.ctx.state.set("engagement", web_samples.engagement(faces=30,
                                                                     head_up_rate=0.75))
        resp = await http.get(agent.web_url + "/api/events/stream")
        events = _sse_events(resp)

        async def until_history() -> list:
            async for doc in events:
                if len(doc["history"]["engagement"]) >= 2:
                    return doc["history"]["engagement"]
            raise AssertionError("stream ended")

        hist = await asyncio.wait_for(until_history(), 20)
        assert hist[-1][1:] == [0.75, 30]
        resp.close()
