"""The demo's live lesson (``demo --live-url``): its first timetabled lesson is pushed to
the given server. The demo's own parts (timetable, live, camera clip) with a real
nginx-rtmp; the arguments go through the demo's own config building."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

import pytest

from agent.demo import base_config
from agent.lessons.demo import demo_part as lessons_part
from agent.live.demo import live_part
from agent.recording.demo import camera_part
from tests.conftest import free_port, zone_at_mid_morning
from tests.recording_helpers import ffprobe, wait_for
from tests.stream_servers import NginxRtmp, have_nginx_rtmp

pytestmark = pytest.mark.skipif(not have_nginx_rtmp(), reason="nginx-rtmp not installed")


async def test_demo_live_url_makes_the_first_lesson_live(make_config, run_agent,
                                                         tmp_path) -> None:
    nginx = NginxRtmp(tmp_path / "nginx")
    nginx.start()
    try:
        args = argparse.Namespace(listen=f"127.0.0.1:{free_port()}", mqtt=None,
                                  live_url=nginx.url("demo-key"))
        data: dict[str, Any] = base_config(args, tmp_path / "data")
        data["site"] = {**data.get("site", {}), "timezone": zone_at_mid_morning()}
        for key in ("engagement", "tablets", "panels"):
            data.pop(key, None)
        work = tmp_path / "demo"
        work.mkdir()
        ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        async with contextlib.AsyncExitStack() as stack:
            for part in (lessons_part, live_part, camera_part):
                await stack.enter_async_context(part(data, work, ready))
            assert data["lessons"]["timetable"]["periods"][0]["live"] is True
            async with run_agent(make_config(**data)) as agent:
                ready.set_result(agent.ctx)
                live = agent.ctx.services["live"]
                await wait_for(lambda: live.status()["state"] == "live", 60, "demo live")
                assert live.status()["url_host"] == f"127.0.0.1:{nginx.port}"
                await wait_for(lambda: live.session.push.live_s > 4, 40, "4 s live")
        [flv] = nginx.recordings()
        assert float(ffprobe(flv)["format"]["duration"]) > 3
    finally:
        nginx.kill()
