"""SIGTERM while a camera is frozen (its RTSP server stopped with SIGSTOP: connected, and
silent): the capture thread is stuck in a read far longer than the agent may take to
stop. The agent must still exit - it does not wait for that thread - and leave
recording.json ``partial`` with a reason naming the camera, and the catalog row closed.

The read timeout is set far beyond the stop budget on purpose, so waiting for the thread
would mean not exiting at all within the test's (generous) wait; no timing is asserted."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

from tests.agentproc import AgentProcess, write_toml
from tests.conftest import free_port
from tests.recording_helpers import RtspServer, post_json

STUCK_S = 600.0  # the capture thread's read timeout: it would block this long



def test_sigterm_with_a_frozen_camera_ends_partial(tmp_path: Path) -> None:
    rtsp = RtspServer(width=160, height=120, fps=10, gop=10)
    rtsp.start()
    port = free_port()
    data = tmp_path / "data"
    cfg = write_toml(tmp_path / "agent.toml", {
        "site": {"school": "s1", "room": "r1"},
        "storage": {"data_dir": str(data)},
        "web": {"listen": f"127.0.0.1:{port}"},
        "recording": {"segment_s": 1.0, "probe_interval_s": 3600.0, "stall_s": STUCK_S},
        "cameras": [{"id": "teacher", "url": rtsp.url, "read_timeout_s": STUCK_S}],
    })
    frozen = False
    try:
        with AgentProcess(cfg) as agent:
            agent.wait_http(f"http://127.0.0.1:{port}/api/status", timeout=30)
            started = post_json(f"http://127.0.0.1:{port}/api/recording/start",
                                b'{"title": "Frozen"}')
            cam_dir = Path(started["dir"]) / "teacher"
            deadline = time.monotonic() + 40
            while len(list(cam_dir.glob("*.mp4"))) < 2:  # recording for real
                assert time.monotonic() < deadline, agent.output()
                time.sleep(0.1)
            assert rtsp.proc is not None
            os.kill(rtsp.proc.pid, signal.SIGSTOP)
            frozen = True
            time.sleep(0.5)  # the thread is now blocked in a read that will not return
            # a hang guard far below STUCK_S, not a timing claim
            rc = agent.terminate(timeout=STUCK_S / 4)
            assert rc == 0, agent.output()
            log = agent.output()
    finally:
        if frozen and rtsp.proc is not None and rtsp.proc.poll() is None:
            os.kill(rtsp.proc.pid, signal.SIGCONT)
        rtsp.kill()
    m = json.loads((Path(started["dir"]) / "recording.json").read_text())
    assert m["state"] == "partial", (m, log)
    assert "stopped during the recording" in m["reason"], m["reason"]
    assert "teacher did not stop in time" in m["reason"], m["reason"]
    assert m["ended"] and m["cameras"][0]["segments"]
    files = sorted(cam_dir.glob("*.mp4"))
    assert [s["file"] for s in m["cameras"][0]["segments"]] == [f.name for f in files]
    db = sqlite3.connect(data / "recordings" / "catalog.sqlite")
    try:
        [(state, reason)] = db.execute("SELECT state, reason FROM recordings WHERE id = ?",
                                       (started["recording_id"],)).fetchall()
    finally:
        db.close()
    assert state == "partial" and reason == m["reason"]
    assert "did not stop within" in log  # the operator is told which thread was left
