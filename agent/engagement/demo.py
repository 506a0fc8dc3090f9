"""A short synthetic classroom clip for the demo: real faces from package-shipped images
(see synth.py) on a plain room, a few of them bowed, everyone moving slightly.

``demo_clip()`` encodes it once with PyAV (H.264, ~10 s) and caches it; the demo points
``engagement.source`` at it with ``loop = true`` so the pipeline shows live numbers (while
the demo timetable's lesson runs; ``active = "always"`` when the demo starts outside one).

The faces come from Debian ``opencv-doc`` (FACE_IMAGES_PACKAGE), which ``scripts/setup.sh``
installs for the demo, not only for the tests. A clip is cached only when it shows what
it should (the face detector finds most of the students in it): without the images the
demo runs without engagement and says why, instead of caching a clip of an empty room.
The cache file's name carries a digest of everything the clip is made from (the face
images' bytes, the models, the parameters), so a clip made from other inputs is never
taken for this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import os
import tempfile
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)

CLIP_VERSION = 2
# the Debian package the demo's faces come from; scripts/setup.sh installs it for the
# demo (a test checks both)
FACE_IMAGES_PACKAGE = "opencv-doc"
# a clip in which the detector finds fewer of the students is not cached
MIN_FACES_FOUND = 0.8


class DemoClipError(RuntimeError):
    """The demo clip cannot be made as it should be (missing face images, few faces)."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "classroom-agent"


def clip_key(images: Sequence[Path], width: int, height: int, seconds: float, fps: int,
             students: int) -> str:
    """Digest of what the clip is made from: parameters, models and face images."""
    # lazy: the demo's heavy parts (models, OpenCV, PyAV) load only when it runs
    from models.registry import MODELS

    h = hashlib.sha256()
    h.update(f"v{CLIP_VERSION} {width}x{height} {seconds}s {fps}fps {students}".encode())
    for name in ("face_detector", "face_landmarks"):
        h.update(f" {name}={MODELS[name].sha256}".encode())
    for p in sorted(images, key=lambda p: p.name):
        h.update(f" {p.name}=".encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:16]


def demo_clip(cache_dir: str | Path | None = None, width: int = 1280, height: int = 720,
              seconds: float = 10.0, fps: int = 10, students: int = 30,
              face_images: Sequence[Path] | None = None) -> Path:
    """Path of the cached demo clip, made on first use (a few seconds of CPU).

    ``face_images`` defaults to the opencv-doc images of synth.py. Raises DemoClipError
    (nothing cached) when there are none or the clip would show too few faces."""
    # lazy: the synthetic class (OpenCV) loads only when a clip is made
    from agent.engagement import synth

    images = [Path(p) for p in (face_images if face_images is not None
                                else synth.opencv_doc_images()) if Path(p).is_file()]
    if not images:
        raise DemoClipError(
            f"no face images for the engagement demo clip: Debian {FACE_IMAGES_PACKAGE} is "
            f"not installed ({synth.OPENCV_DOC} is missing); run scripts/setup.sh")
    d = Path(cache_dir) if cache_dir else default_cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    key = clip_key(images, width, height, seconds, fps, students)
    path = d / f"engagement-demo-{width}x{height}-{students}-{key}.mp4"
    if path.is_file() and path.stat().st_size > 0:
        return path
    # lazy: the demo's heavy parts (models, OpenCV) load only when a clip is made
    from agent.engagement.faces import FaceDetector
    from agent.engagement.synth import PoseRenderer, compose, face_bank
    from models.registry import open_session

    detector = FaceDetector(open_session("face_detector"))
    bank = face_bank(detector, images=images, lfw=False)
    if not bank:
        raise DemoClipError(f"no face found in the demo's face images ({len(images)} files)")
    renderer = PoseRenderer(open_session("face_landmarks"))
    # the class faces the front for the first third, then a quarter bows over the desks:
    # the demo shows the head-up rate falling while the head count holds
    bowed = np.random.default_rng(8).random(students) < 0.25
    scenes = [compose(bank, students, (34, 64), np.random.default_rng(7), width, height,
                      pose_renderer=renderer, down_mask=mask)
              for mask in (np.zeros(students, bool), bowed)]
    found = len(detector.detect(scenes[0].image))
    if found < MIN_FACES_FOUND * students:
        raise DemoClipError(f"demo clip would show {found} faces of {students} students; "
                            "not cached")
    fd, tmp = tempfile.mkstemp(prefix=".partial-", suffix=".mp4", dir=d)
    os.close(fd)
    try:
        _encode(Path(tmp), [sc.image for sc in scenes], width, height, seconds, fps,
                 split=1 / 3)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _drop_stale(d, path)
    return path


def _drop_stale(d: Path, keep: Path) -> None:
    """Clips of this size made from other inputs (older versions: possibly an empty room
    cached before this check existed) are never read again: remove them."""
    prefix = keep.name.rsplit("-", 1)[0]
    for old in [*d.glob(f"{prefix}-*.mp4"), *d.glob("engagement-demo-v1-*.mp4")]:
        if old != keep:
            with contextlib.suppress(OSError):
                old.unlink()


def _encode(path: Path, base: np.ndarray | list[np.ndarray], width: int, height: int,
            seconds: float, fps: int, split: float = 0.5) -> None:
    """H.264 clip of ``base`` swaying; with two images, the second from ``split`` on."""
    # lazy: PyAV loads only when a clip is written
    import av

    bases = base if isinstance(base, list) else [base]

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
            m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
            src = bases[-1] if len(bases) > 1 and i >= split * n else bases[0]
            img = cv2.warpAffine(src, m, (width, height), borderMode=cv2.BORDER_REFLECT)
            frame = av.VideoFrame.from_ndarray(np.asarray(img, np.uint8), format="bgr24")
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
        log.warning("engagement demo off: %s", e)
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

    # lazy: the lessons part loads only when the demo asks about its timetable
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
