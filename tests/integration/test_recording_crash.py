"""SIGKILL of the agent mid-recording: every file stays readable, and after a restart the
interrupted recording is `partial` (in recording.json, the catalog and an event)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from agent.config import load
from agent.events import RecordingEvent
from agent.runtime.agent import Agent
from tests.conftest import free_port, wait_port
from tests.recording_helpers import RtspServer, ffprobe, post_json, video_stream, wait_for

ROOT = Path(__file__).resolve().parents[2]



async def test_sigkill_mid_recording_then_partial_after_restart(tmp_path: Path) -> None:
    rtsp = RtspServer(width=320, height=240, fps=25, gop=25)
    rtsp.start()
    port = free_port()
    data = tmp_path / "data"
    cfg_path = tmp_path / "agent.toml"
    cfg_path.write_text(f"""
[site]
school = "s1"
room = "r1"
[storage]
data_dir = "{data}"
[web]
listen = "127.0.0.1:{port}"
[recording]
segment_s = 2.0
stall_s = 3.0
[[cameras]]
id = "teacher"
url = "{rtsp.url}"
""")
    log = tmp_path / "agent.log"
    proc = subprocess.Popen(  # noqa: ASYNC220 - the agent under test, started once
        [sys.executable, "-m", "agent", "run", "-c", str(cfg_path)],
        cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_port(port, timeout=30)
        started = await asyncio.to_thread(post_json, f"http://127.0.0.1:{port}/api/recording/start")
        cam_dir = Path(started["dir"]) / "teacher"
        # two closed segments and the third being written
        try:
            await wait_for(lambda: len(list(cam_dir.glob("*.mp4"))) >= 3, 40, "3 segment files")
        except AssertionError as e:
            files = sorted(p.name for p in cam_dir.glob("*"))
            raise AssertionError(f"{e}; files {files}; agent log:\n"
                                 f"{log.read_text(errors='replace')[-4000:]}") from None
        await asyncio.sleep(1.3)  # into the third segment, mid-fragment
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        rtsp.kill()
    rec_dir = Path(started["dir"])
    assert json.loads((rec_dir / "recording.json").read_text())["state"] == "recording"
    files = sorted(cam_dir.glob("*.mp4"))
    assert len(files) >= 3
    for f in files:  # every file on disk opens, the last one too
        v = video_stream(ffprobe(f))
        assert v["codec_name"] == "h264" and (v["width"], v["height"]) == (320, 240)
    # restart (camera now gone): the interrupted recording is found and reported
    cfg = load(cfg_path)
    agent = Agent(cfg)
    events: list[RecordingEvent] = []
    agent.ctx.bus.add_listener(lambda e: isinstance(e, RecordingEvent) and events.append(e))
    ready = asyncio.Event()
    task = asyncio.create_task(agent.run(on_ready=lambda ctx: ready.set()))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        rows = await agent.ctx.services["recording"].recordings()
    finally:
        agent.request_stop()
        await asyncio.wait_for(task, 30)
    [ev] = events
    assert ev.action == "partial" and ev.recording_id == started["recording_id"]
    assert ev.bytes > 0 and ev.cameras[0].segments == len(files) and ev.duration_s > 3
    m = json.loads((rec_dir / "recording.json").read_text())
    assert m["state"] == "partial" and "interrupted" in m["reason"]
    assert m["ended"] and len(m["cameras"][0]["segments"]) == len(files)
    [row] = rows
    assert row["id"] == started["recording_id"] and row["state"] == "partial"
