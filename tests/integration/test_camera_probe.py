"""Idle camera probing: with no recording, a camera's online/offline state follows the
real RTSP camera (GStreamer server killed and restarted), as DeviceState events (one per
change, a DeviceFault when it fails) and in /api/status."""

from __future__ import annotations

import aiohttp

from agent.events import DeviceFault, DeviceState
from tests.recording_helpers import RtspServer, wait_for


async def test_idle_camera_state_follows_the_camera(make_config, run_agent) -> None:
    rtsp = RtspServer(width=160, height=120, fps=10, gop=10)
    rtsp.start()
    cfg = make_config(
        cameras=[{"id": "teacher", "url": rtsp.url, "connect_timeout_s": 2.0,
                  "read_timeout_s": 2.0}],
        recording={"probe_interval_s": 0.5},
    )
    states: list[DeviceState] = []
    faults: list[DeviceFault] = []

    def listen(e: object) -> None:
        if isinstance(e, DeviceState) and e.device_id == "teacher":
            states.append(e)
        elif isinstance(e, DeviceFault) and e.device_id == "teacher":
            faults.append(e)

    try:
        async with run_agent(cfg) as agent:
            agent.ctx.bus.add_listener(listen)
            await wait_for(lambda: states and states[-1].status == "online", 20, "online")
            assert states[-1].attrs["codec"] == "h264"
            assert (states[-1].attrs["width"], states[-1].attrs["height"]) == (160, 120)
            async with aiohttp.ClientSession() as http:
                st = await (await http.get(f"{agent.web_url}/api/status")).json()
            [cam] = st["recording"]["cameras"]
            assert cam["status"] == "online" and cam["recording"] is False
            n_online, svc = len(states), agent.ctx.services["recording"]
            n_probes = svc.probe_count
            await wait_for(lambda: svc.probe_count >= n_probes + 3, 20, "a few more probes")
            assert len(states) == n_online  # unchanged state: nothing re-published

            rtsp.kill()
            await wait_for(lambda: states[-1].status == "offline", 20, "offline")
            assert states[-1].reason and faults and faults[-1].status == "offline"
            async with aiohttp.ClientSession() as http:
                st = await (await http.get(f"{agent.web_url}/api/status")).json()
            assert st["recording"]["cameras"][0]["status"] == "offline"

            rtsp.start()
            await wait_for(lambda: states[-1].status == "online", 20, "back online")
            assert [s.status for s in states] == ["online", "offline", "online"]
            assert len(faults) == 1
    finally:
        rtsp.kill()
