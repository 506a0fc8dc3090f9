"""The panels service in a real in-process agent, against an emulated SMART Board on a pty:
state on the bus and in /api/status, commands, usage, automation, faults, MQTT."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import aiohttp

from agent.events import DeviceFault, DeviceState
from agent.panel.service import PanelService
from drivers.emulators.smart import SmartEmulator
from tests.helpers.panel import panel_entry
from tests.helpers.wait import wait_for


async def test_panel_service_end_to_end(make_config, run_agent) -> None:
    emu = SmartEmulator()
    path = await emu.start_pty()
    cfg = make_config(panels=[panel_entry(
        path, power_on_at_lesson_start=True, lesson_input="OPS",
        power_off_after_last_lesson=True, after_last_lesson_min=0.005)])
    t0 = datetime.now(UTC)
    try:
        async with run_agent(cfg) as agent:
            ctx = agent.ctx
            svc = ctx.service(PanelService)
            assert svc is not None and "panel" in ctx.capabilities()
            await wait_for(lambda: ctx.state.devices.get("front") is not None
                           and ctx.state.devices["front"].status == "online", what="online")
            dev = ctx.state.devices["front"]
            assert dev.kind == "panel" and dev.attrs["power"] == "on"
            assert dev.attrs["model"] == "SBID-MX275-V2" and dev.attrs["protocol"] == "smart"

            async with aiohttp.ClientSession() as http:
                async with http.get(agent.web_url + "/api/status") as r:
                    doc = await r.json()
            panel = doc["panels"][0]
            assert panel["id"] == "front" and panel["status"] == "online"
            assert "today" in panel and "OPS" in panel["inputs"]
            assert any(d["device_id"] == "front" for d in doc["devices"])

            res = await ctx.commands.dispatch("panel/power", {"power": "off"})
            assert res.ok, res.error
            assert emu.values["powerstate"] == "ready"
            res = await ctx.commands.dispatch("panel/input", {"input": "nope"})
            assert not res.ok and res.error["code"] == "bad_args"
            res = await ctx.commands.dispatch("panel/power", {"power": "on", "panel": "x"})
            assert not res.ok and res.error["code"] == "not_found"
            res = await ctx.commands.dispatch("panel/power", {"power": "maybe"})
            assert not res.ok and res.error["code"] == "bad_args"

            # automation: a lesson starts -> on + OPS; the last one ends -> off after grace
            svc.on_lesson_start()
            await wait_for(lambda: emu.values["powerstate"] == "on"
                           and emu.values["input"] == "ops1", what="lesson start actions")
            await wait_for(lambda: ctx.state.devices["front"].attrs["input"] == "OPS",
                           what="renamed input in state")
            await asyncio.sleep(0.3)
            svc.on_lesson_end(last=True)
            await wait_for(lambda: emu.values["powerstate"] == "ready", what="off after grace")

            usage = svc.usage(t0, datetime.now(UTC) + timedelta(hours=1))
            assert usage["on_s"] > 0 and usage["by_input"].get("OPS", 0) > 0
            assert set(usage) == {"on_s", "off_s", "unknown_s", "by_input"}
            # summed over the days the test spanned (a run across midnight has two)
            days = {t0.date(), datetime.now(UTC).date()}
            assert sum(svc.usage_day(d)["on_s"] for d in days) >= usage["on_s"]

            # a fault reaches the bus and recovers
            with ctx.bus.subscribe(DeviceFault, DeviceState) as sub:
                await emu.unplug()
                fault = await asyncio.wait_for(_next(sub, DeviceFault), 10)
                assert fault.device_id == "front" and fault.status == "fault"
                await emu.replug()
                await wait_for(lambda: ctx.state.devices["front"].status == "online",
                               what="recovered")

            metrics = ctx.metrics.render().decode()
            assert 'classroom_panel_up{panel="front"} 1.0' in metrics
            assert "classroom_panel_faults_total" in metrics
    finally:
        await emu.stop()


async def _next(sub, cls):
    while True:
        e = await sub.get()
        if isinstance(e, cls):
            return e


async def test_retained_device_state_over_mqtt(make_config, run_agent, mosquitto) -> None:
    import aiomqtt

    emu = SmartEmulator()
    path = await emu.start_pty()
    cfg = make_config(mqtt={"url": mosquitto.url}, panels=[panel_entry(path)])
    try:
        async with run_agent(cfg) as agent:
            await wait_for(lambda: agent.ctx.state.devices.get("front") is not None
                           and agent.ctx.state.devices["front"].status == "online")
            await asyncio.sleep(0.5)  # let the uplink drain
        # the agent is gone; the broker still holds the panel's last state
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            await client.subscribe("classroom/test-school/r1/devices/front", qos=1)
            async with asyncio.timeout(10):
                async for msg in client.messages:
                    doc = json.loads(msg.payload)
                    assert msg.retain
                    break
        data = doc.get("data", doc)
        assert data["device_id"] == "front" and data["kind"] == "panel"
    finally:
        await emu.stop()
