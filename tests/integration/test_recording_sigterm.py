"""SIGTERM (systemd stop) of an agent subprocess mid-recording: it exits 0, the open
fragment and segment are finished, every file plays, the recording is ``partial`` with
the shutdown reason, and its event is in the outbox before the process is gone."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from drivers.emulators.camera import ensure_demo_clip
from tests.agentproc import AgentProcess, write_toml
from tests.conftest import free_port
from tests.recording_helpers import ffprobe, post_json, video_stream


def test_sigterm_finishes_the_fragment_and_marks_partial(tmp_path: Path) -> None:
    clip = ensure_demo_clip(tmp_path / "clips")  # 640x360 25 fps, keyframe every second
    port = free_port()
    data = tmp_path / "data"
    cfg = write_toml(tmp_path / "agent.toml", {
        "site": {"school": "s1", "room": "r1"},
        "storage": {"data_dir": str(data)},
        "web": {"listen": f"127.0.0.1:{port}"},
        "recording": {"segment_s": 2.0, "probe_interval_s": 3600.0},
        "cameras": [{"id": "teacher", "url": str(clip), "loop": True}],
    })
    with AgentProcess(cfg) as agent:
        agent.wait_http(f"http://127.0.0.1:{port}/api/status", timeout=30)
        started = post_json(f"http://127.0.0.1:{port}/api/recording/start", b'{"title": "Forces"}')
        cam_dir = Path(started["dir"]) / "teacher"
        deadline = time.monotonic() + 40
        while len(list(cam_dir.glob("*.mp4"))) < 3:  # two closed, the third being written
            assert time.monotonic() < deadline, agent.output()
            time.sleep(0.1)
        time.sleep(1.3)  # mid-fragment
        rc = agent.terminate(timeout=30)
        assert rc == 0, agent.output()
    m = json.loads((Path(started["dir"]) / "recording.json").read_text())
    assert m["state"] == "partial", m
    assert "stopped during the recording" in m["reason"]
    assert m["ended"] and m["duration_s"] > 3
    [cam] = m["cameras"]
    files = sorted(cam_dir.glob("*.mp4"))
    assert [s["file"] for s in cam["segments"]] == [f.name for f in files]
    for seg, f in zip(cam["segments"], files, strict=True):
        assert seg["closed"], seg  # the open segment was finished, not abandoned
        probe = ffprobe(f)
        v = video_stream(probe)
        assert v["codec_name"] == "h264" and (v["width"], v["height"]) == (640, 360)
        assert seg["bytes"] == f.stat().st_size
        # the whole segment is in the file: nothing of the last fragment was lost
        assert abs(float(probe["format"]["duration"]) - seg["duration_s"]) < 0.2, (seg, probe)
    assert cam["segments"][-1]["duration_s"] > 0.5  # the part recorded after the last cut
    # the `partial` event reached the durable outbox before the process exited
    db = sqlite3.connect(data / "outbox.sqlite3")
    try:
        rows = [p for (t, p) in db.execute("SELECT topic, payload FROM messages")
                if t.endswith("events/recording")]
    finally:
        db.close()
    actions = [json.loads(p)["data"]["action"] for p in rows]
    assert actions == ["started", "partial"], actions
    assert json.loads(rows[-1])["data"]["recording_id"] == started["recording_id"]
