"""A raw/MJPEG source (what USB cameras send) is encoded to H.264 at the configured
bitrate; segments are cut and every file is playable."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from agent.recording.capture import CameraCapture, CaptureEvent
from drivers.camera.source import SourceOptions
from tests.recording_helpers import ffprobe, video_stream


def _mjpeg_clip(path: Path, seconds: int = 3, fps: int = 15) -> Path:
    out = av.open(str(path), "w", format="matroska")
    s = out.add_stream("mjpeg", rate=fps)
    s.width, s.height, s.pix_fmt = 320, 240, "yuvj420p"
    for i in range(seconds * fps):
        img = np.full((240, 320, 3), (i * 8) % 255, np.uint8)
        f = av.VideoFrame.from_ndarray(img, format="rgb24")
        f.pts, f.time_base = i, Fraction(1, fps)
        for p in s.encode(f):
            out.mux(p)
    for p in s.encode(None):
        out.mux(p)
    out.close()
    return path


def test_mjpeg_source_is_encoded_to_h264(tmp_path: Path) -> None:
    clip = _mjpeg_clip(tmp_path / "usb.mkv")
    events: list[CaptureEvent] = []
    ended = threading.Event()

    def post(ev: CaptureEvent) -> None:
        events.append(ev)
        if ev.kind == "offline":  # end of the (non-looping) file
            ended.set()

    cap = CameraCapture("usb", SourceOptions(url=str(clip), realtime=False),
                        tmp_path / "out", 1.0, 5.0, 5.0, 500_000, post)
    cap.start()
    assert ended.wait(30)
    cap.request_stop()
    assert cap.join(10)
    online = next(e for e in events if e.kind == "online")
    assert online.mode == "encode" and online.out_codec == "h264"
    assert online.info.codec == "mjpeg"
    files = sorted((tmp_path / "out").glob("*.mp4"))
    assert len(files) >= 2  # cut every ~1 s
    total = 0.0
    for f in files:
        p = ffprobe(f)
        v = video_stream(p)
        assert (v["codec_name"], v["width"], v["height"]) == ("h264", 320, 240)
        total += float(p["format"]["duration"])
    assert 2.5 <= total <= 3.5
