"""A camera emulator: a small looping H.264 (+AAC) test clip the project makes itself.

``ensure_demo_clip(dir)`` writes it once with PyAV's bundled libx264 and returns its path;
a camera configured with ``url = <that path>`` and ``loop = true`` then behaves like an
RTSP camera (paced to real time, endless, keyframe every second).
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CLIP_NAME = "demo-camera-640x360-25fps.mp4"


def make_clip(
    path: Path,
    width: int = 640,
    height: int = 360,
    fps: int = 25,
    seconds: float = 4.0,
    gop: int | None = None,
    audio: bool = True,
    bitrate: int = 600_000,
    profile: str = "main",
    preset: str = "veryfast",
) -> Path:
    """Write an H.264 test clip: a bar sweeping over a gradient, a frame counter as
    colour blocks, and a 440 Hz tone. Written to a temp name and renamed (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    out = av.open(str(tmp), "w", format="mp4")
    v = out.add_stream("libx264", rate=fps)
    v.width, v.height, v.pix_fmt = width, height, "yuv420p"
    v.bit_rate = bitrate
    v.codec_context.gop_size = gop or fps
    v.options = {"preset": preset, "profile": profile, "bf": "0", "sc_threshold": "0"}
    a = None
    if audio:
        a = out.add_stream("aac", rate=48000)
        a.layout = "mono"
        a.bit_rate = 64000
    frames = round(seconds * fps)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack(
        [(xx * 255 // max(1, width - 1)), (yy * 255 // max(1, height - 1)),
         np.full_like(xx, 96)], axis=-1
    ).astype(np.uint8)
    bar_w = max(4, width // 16)
    for i in range(frames):
        img = base.copy()
        x0 = int((i / frames) * (width - bar_w))
        img[:, x0:x0 + bar_w] = 255
        for bit in range(8):  # frame number as blocks: easy to eyeball a loop or a gap
            on = (i >> bit) & 1
            img[8:24, 8 + bit * 20:24 + bit * 20] = 255 if on else 0
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = i
        frame.time_base = Fraction(1, fps)
        for p in v.encode(frame):
            out.mux(p)
    for p in v.encode(None):
        out.mux(p)
    if a is not None:
        rate, n = 48000, 1024
        total = int(seconds * rate)
        for start in range(0, total, n):
            t = (np.arange(start, min(start + n, total)) / rate).astype(np.float32)
            samples = (0.2 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)[None, :]
            af = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            af.sample_rate = rate
            af.pts = start
            af.time_base = Fraction(1, rate)
            for p in a.encode(af):
                out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    out.close()
    os.replace(tmp, path)
    return path


def ensure_demo_clip(directory: str | Path) -> Path:
    """The demo camera's clip in ``directory`` (made on first use, then reused)."""
    path = Path(directory) / CLIP_NAME
    if path.exists() and path.stat().st_size > 0:
        try:
            with av.open(str(path)) as c:
                if c.streams.video:
                    return path
        except av.error.FFmpegError:
            pass  # half-written or corrupt: make it again
    return make_clip(path)
