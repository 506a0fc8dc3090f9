"""The engagement path writes no file and puts nothing but numbers on the bus.

Three layers of evidence: a ``sys.addaudithook`` counting every Python-level open for
writing (and renames/removals), the process's open file descriptors sampled from /proc
while analysis runs (catches C-level writers such as FFmpeg or OpenCV that keep a file
open), and OpenCV/PyAV writers patched to fail. The bus is checked for event types and
for any bytes/array payload.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from agent.engagement import synth
from agent.engagement.demo import _encode
from agent.events import EngagementWindow, Event

needs_faces = pytest.mark.skipif(not synth.opencv_doc_images(),
                                 reason="Debian opencv-doc not installed")

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class WriteAudit:
    """Counts file writes made while ``active`` (by any thread, or engagement threads)."""

    def __init__(self) -> None:
        self.active = False
        self.only_engagement_threads = False
        self.writes: list[tuple[str, str, str]] = []
        sys.addaudithook(self._hook)  # hooks cannot be removed: gated by ``active``

    def _hook(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        thread = threading.current_thread().name
        if self.only_engagement_threads and not thread.startswith("engagement"):
            return
        if event == "open":
            path, mode, flags = ([*list(args), None, None, None])[:3]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (isinstance(flags, int) and flags & _WRITE_FLAGS)
            if writes:
                self.writes.append((event, str(path), thread))
        elif event in ("os.rename", "os.remove", "os.truncate", "shutil.copyfile",
                       "os.mkdir", "os.symlink", "os.link"):
            self.writes.append((event, str(args[0]), thread))


_AUDIT: WriteAudit | None = None


def audit() -> WriteAudit:
    global _AUDIT
    if _AUDIT is None:
        _AUDIT = WriteAudit()
    return _AUDIT


def _fds_open_for_writing() -> set[str]:
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            with open(f"/proc/self/fdinfo/{fd}") as f:  # reading: not counted as a write
                info = dict(line.split(":", 1) for line in f if ":" in line)
            flags = int(info["flags"].strip(), 8)
        except (OSError, KeyError, ValueError):
            continue
        if target.startswith("/") and flags & (os.O_WRONLY | os.O_RDWR) and \
                not target.startswith(("/dev/", "/proc/")):
            out.add(target)
    return out


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    detector = __import__("agent.engagement.faces", fromlist=["FaceDetector"]).FaceDetector(
        __import__("models.registry", fromlist=["open_session"]).open_session("face_detector"))
    bank = synth.face_bank(detector, lfw=False)
    scene = synth.compose(bank, 12, (30, 44), np.random.default_rng(5), 640, 360)
    path = tmp_path / "room.mp4"
    _encode(path, scene.image, 640, 360, seconds=2.0, fps=10)
    return path


@pytest.fixture
def no_image_writers(monkeypatch):
    import av
    import cv2

    def refuse(*a, **k):
        raise AssertionError("an image/video writer was called on the engagement path")

    monkeypatch.setattr(cv2, "imwrite", refuse)
    monkeypatch.setattr(cv2, "VideoWriter", refuse)
    real_open = av.open

    def av_open(file, mode="r", *a, **k):
        if "w" in str(mode):
            refuse()
        return real_open(file, mode, *a, **k)

    monkeypatch.setattr(av, "open", av_open)


@needs_faces
def test_analysis_path_writes_no_file(clip: Path, no_image_writers):
    """Reader thread + analyser on a clip, the whole process audited."""
    from agent.engagement.frames import FrameReader, LatestQueue
    from agent.engagement.pipeline import Analyzer, AnalyzerSettings

    analyzer = Analyzer(AnalyzerSettings(hold_frames=1, detect_width=0))  # native 640 px
    q = LatestQueue(2)
    before = _fds_open_for_writing()
    a = audit()
    a.only_engagement_threads = False
    a.writes.clear()
    seen_fds: set[str] = set()
    results = []
    a.active = True
    try:
        reader = FrameReader(str(clip), lambda t, f: q.put((t, f)), max_fps=20,
                             keyframes_only=False, loop=True, realtime=False)
        reader.start()
        deadline = time.monotonic() + 60
        while len(results) < 6 and time.monotonic() < deadline:
            try:
                _t, frame = q.get(timeout=1)
            except Exception:
                continue
            results.append(analyzer.analyze(frame))
            seen_fds |= _fds_open_for_writing()
        reader.stop()
    finally:
        a.active = False
    assert len(results) >= 6
    assert all(r.faces >= 10 for r in results)
    assert a.writes == []
    assert seen_fds - before == set()


@needs_faces
async def test_service_publishes_only_numbers(clip: Path, make_config, run_agent,
                                              no_image_writers):
    cfg = make_config(engagement={
        "enabled": True, "active": "always",  # no lesson runs in this test
        "source": str(clip), "loop": True, "window_s": 1.0,
        "analysis_fps": 4.0, "hands_every_s": 0.5, "hold_frames": 1, "detect_width": 0,
    })
    a = audit()
    a.writes.clear()
    a.only_engagement_threads = True
    a.active = True
    events: list[Event] = []
    try:
        async with run_agent(cfg) as agent:
            agent.ctx.bus.add_listener(events.append)
            svc = agent.ctx.services["engagement"]
            with agent.ctx.bus.subscribe(EngagementWindow) as sub:
                windows = [await asyncio.wait_for(sub.get(), 30) for _ in range(2)]
            status = svc.status()
            timeline = svc.timeline()
    finally:
        a.active = False
    assert a.writes == []
    for w in windows:
        assert w.camera_id and w.frames >= 1 and w.fps > 0
        assert 8 <= w.head_count_median <= 13 and w.head_count_max <= 14
        assert w.head_up_rate is not None and 0 <= w.head_up_rate <= 1
        assert w.hands_raised == 0
    assert status["frames"] >= 2 and status["faces"] is not None
    assert timeline and timeline[0]["head_count"] is not None
    # nothing on the bus carries pixels: only known scalar types in engagement events
    for e in events:
        if isinstance(e, EngagementWindow):
            for v in (getattr(e, f) for f in e.__struct_fields__):
                assert isinstance(v, (int, float, str, datetime, type(None))), v
        assert not any(isinstance(getattr(e, f, None), (bytes, bytearray, np.ndarray))
                       for f in getattr(e, "__struct_fields__", ()))


def test_audit_sees_a_write(tmp_path: Path):
    """The audit is not vacuous: a write from an engagement thread is seen."""
    a = audit()
    a.writes.clear()
    a.only_engagement_threads = True
    a.active = True
    try:
        t = threading.Thread(target=(tmp_path / "x.bin").write_bytes, args=(b"1",),
                             name="engagement-test")
        t.start()
        t.join()
        (tmp_path / "y.bin").write_bytes(b"1")  # main thread: not counted in this mode
    finally:
        a.active = False
    assert [w[1] for w in a.writes] == [str(tmp_path / "x.bin")]


async def test_corrupt_model_refuses_start(make_config, run_agent, tmp_path: Path):
    from agent.config import ConfigError

    junk = tmp_path / "face.onnx"
    junk.write_bytes(b"not a model")
    cfg = make_config(engagement={"enabled": True, "source": str(tmp_path / "none.mp4"),
                                  "face_detector_model": str(junk)})
    with pytest.raises(ConfigError, match=r"engagement: model face_detector: .*cannot be loaded"):
        async with run_agent(cfg):
            pass
