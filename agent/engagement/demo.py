"""A short synthetic classroom clip for the demo: real faces from package-shipped images
(see synth.py) on a plain room, a few of them bowed, everyone moving slightly.

``demo_clip()`` encodes it once with PyAV (H.264, ~10 s) and caches it; the demo points
``engagement.source`` at it with ``loop = true`` so the pipeline shows live numbers (while
the demo timetable's lesson runs; ``active = "always"`` when the demo starts outside one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)

CLIP_VERSION = 1


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "classroom-agent"


def demo_clip(cache_dir: str | Path | None = None, width: int = 1280, height: int = 720,
              seconds: float = 10.0, fps: int = 10, students: int = 30) -> Path:
    """Path of the cached demo clip, made on first use (a few seconds of CPU)."""
    d = Path(cache_dir) if cache_dir else default_cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"engagement-demo-v{CLIP_VERSION}-{width}x{height}-{students}.mp4"
    if path.is_file() and path.stat().st_size > 0:
        return path
    from agent.engagement.faces import FaceDetector
    from agent.engagement.synth import PoseRenderer, compose, face_bank, paste  # noqa: F401
    from models.registry import open_session

    rng = np.random.default_rng(7)
    detector = FaceDetector(open_session("face_detector"))
    bank = face_bank(detector, lfw=False)
    if not bank:
        log.warning("no face images found (install Debian opencv-doc): demo clip has no faces")
        frames = [np.full((height, width, 3), 160, np.uint8)]
    else:
        renderer = PoseRenderer(open_session("face_landmarks"))
        scene = compose(bank, students, (34, 64), rng, width, height, down_fraction=0.25,
                        pose_renderer=renderer)
        frames = [scene.image]
    base = frames[0]
    fd, tmp = tempfile.mkstemp(suffix=".mp4", dir=d)
    os.close(fd)
    try:
        _encode(Path(tmp), base, width, height, seconds, fps)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _encode(path: Path, base: np.ndarray, width: int, height: int, seconds: float,
            fps: int) -> None:
    import av

    n = max(1, int(seconds * fps))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "26", "g": str(fps)}
        for i in range(n):
            # the whole class sways a little: the camera sees motion, counts stay true
            dx = 6 * math.sin(2 * math.pi * i / n)
            dy = 3 * math.sin(4 * math.pi * i / n)
            m = np.float32([[1, 0, dx], [0, 1, dy]])
            img = cv2.warpAffine(base, m, (width, height), borderMode=cv2.BORDER_REFLECT)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@contextlib.asynccontextmanager
async def demo_part(data: dict[str, Any], work: Path, ctx_future: Any) -> AsyncIterator[None]:
    """Demo part (agent/demo.py contract): the engagement pipeline on the cached clip."""
    try:
        clip = await asyncio.to_thread(demo_clip)
    except Exception as e:  # the demo runs without engagement rather than not at all
        log.warning("engagement demo clip unavailable: %s", e)
        yield
        return
    section = data.setdefault("engagement", {})
    section.update({"enabled": True, "source": str(clip), "loop": True})
    section.setdefault("window_s", 10.0)
    if "active" not in section and not _lesson_now(data):
        # analysis follows lessons (engagement.active = "lessons"); a demo started when its
        # timetable has no lesson (late in the day, a custom timetable) still shows numbers
        section["active"] = "always"
    yield


def _lesson_now(data: dict[str, Any]) -> bool:
    """Whether the demo's timetable (the lessons part runs first) has a lesson now."""
    from datetime import UTC, datetime

    from agent.config import from_dict
    from agent.lessons.timetable import build

    try:
        cfg = from_dict(data)
        if not cfg.lessons.enabled:
            return False
        tt = build(cfg)
    except Exception:  # a best-effort probe: the demo reports config errors itself
        return False
    if tt is None:
        return False
    now = datetime.now(UTC)
    return any(p.start <= now < p.end for p in tt.lessons_around(now))
