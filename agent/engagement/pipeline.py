"""One frame in, numbers out: faces -> head pose -> head-up; bodies -> hands raised.

``Analyzer`` owns the ONNX sessions. It is used by the live service (one worker thread),
by ``classroom-agent analyze`` and by the accuracy and speed scripts. It never stores,
logs or returns pixels: a ``FrameResult`` holds counts, and optionally boxes and angles
for the local CLI/eval (``details=True``), which never travel on the bus.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from agent.engagement.faces import FaceDetector
from agent.engagement.hands import HandRaiseTracker, PoseDetector, raised_hands
from agent.engagement.headpose import HeadPoseEstimator, is_head_up
from models.registry import open_session


@dataclass
class AnalyzerSettings:
    intra_threads: int = 1
    inter_threads: int = 1
    providers: list[str] = field(default_factory=lambda: ["CPUExecutionProvider"])
    face_score: float = 0.3
    face_tile: int = 0  # 0 = whole frame at native size
    detect_width: int = 1280  # frames are scaled to this width first (0 = native size)
    min_face_px: float = 10.0
    head_pose: bool = True
    max_pose_faces: int = 16  # head pose for at most this many faces a frame (rotating)
    pitch_down_deg: float = -20.0
    pitch_offset_deg: float = 0.0
    max_yaw_deg: float = 60.0
    hand_raise: bool = True
    pose_tile: int = 384
    pose_upscale: float = 1.0
    hold_frames: int = 3
    face_detector_model: str | None = None
    face_landmarks_model: str | None = None
    pose_model: str | None = None


@dataclass
class FrameResult:
    faces: int
    head_up: int | None  # None when head pose is off
    head_up_rate: float | None  # None when no face or head pose off
    people: int | None  # bodies found by the pose model (None when off or skipped)
    hands_up: int | None  # raised in this frame
    hands_raised: int | None  # held for hold_frames (the reported number)
    seconds: float  # analysis time of this frame
    details: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("faces", "head_up", "head_up_rate", "people",
                                          "hands_up", "hands_raised")}
        d["ms"] = round(self.seconds * 1000, 1)
        if self.details is not None:
            d["details"] = self.details
        return d


class Analyzer:
    def __init__(self, settings: AnalyzerSettings | None = None) -> None:
        s = self.settings = settings or AnalyzerSettings()
        kw = {"intra_threads": s.intra_threads, "inter_threads": s.inter_threads,
              "providers": s.providers}
        self.faces = FaceDetector(open_session("face_detector", s.face_detector_model, **kw),
                                  score_threshold=s.face_score, tile=s.face_tile,
                                  min_size=s.min_face_px)
        self.pose = HeadPoseEstimator(
            open_session("face_landmarks", s.face_landmarks_model, **kw)
        ) if s.head_pose else None
        self.bodies = PoseDetector(open_session("pose", s.pose_model, **kw),
                                   tile=s.pose_tile, upscale=s.pose_upscale
                                   ) if s.hand_raise else None
        self.tracker = HandRaiseTracker(hold=s.hold_frames)
        self._turn = 0  # rotates which faces get a head pose when there are too many

    def analyze(self, bgr: np.ndarray, hands: bool = True, details: bool = False
                ) -> FrameResult:
        """Analyse one BGR uint8 frame. ``hands=False`` skips the body model this frame
        (the service runs it at a lower rate)."""
        t0 = time.perf_counter()
        s = self.settings
        scale = 1.0
        if s.detect_width and bgr.shape[1] != s.detect_width:
            # one working width: a 1080p main stream is reduced, a 640 px sub-stream is
            # enlarged so its small faces reach the detector's smallest anchors
            scale = s.detect_width / bgr.shape[1]
            bgr = cv2.resize(bgr, None, fx=scale, fy=scale,
                             interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        found = self.faces.detect(bgr)
        rgb = None
        head_up = rate = None
        poses = []
        if self.pose is not None:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            idx = np.arange(len(found))
            if s.max_pose_faces and len(idx) > s.max_pose_faces:
                # a rotating sample: over a window every face gets its turn
                start = (self._turn * s.max_pose_faces) % len(idx)
                idx = np.roll(idx, -start)[:s.max_pose_faces]
                self._turn += 1
            poses = [None] * len(found)
            for i, p in zip(idx, self.pose.estimate(rgb, found.boxes[idx],
                                                     found.landmarks[idx]), strict=True):
                poses[i] = p
            seen = [p for p in poses if p is not None]
            for p in seen:
                p.pitch += s.pitch_offset_deg
            up = sum(is_head_up(p, s.pitch_down_deg, s.max_yaw_deg) for p in seen)
            rate = up / len(seen) if seen else None
            # head-up count scaled to all faces when only a sample had a pose
            head_up = round(rate * len(found)) if rate is not None else 0
        people = hands_up = held = None
        raised = None
        bodies = None
        if self.bodies is not None and hands:
            if rgb is None:
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            bodies = self.bodies.detect(rgb)
            raised = raised_hands(bodies)
            people = len(bodies)
            hands_up = int(raised.sum())
            held = self.tracker.update(bodies, raised)
        info = None
        if details:
            inv = 1.0 / scale
            info = {
                "faces": [
                    {"box": [round(float(v) * inv, 1) for v in b], "score": round(float(sc), 3),
                     **({"yaw": round(p.yaw, 1), "pitch": round(p.pitch, 1),
                         "up": is_head_up(p, s.pitch_down_deg, s.max_yaw_deg)}
                        if p is not None else {})}
                    for b, sc, p in zip(found.boxes, found.scores,
                                        poses or [None] * len(found), strict=True)
                ],
            }
            if bodies is not None:
                info["people"] = [
                    {"box": [round(float(v) * inv, 1) for v in b], "score": round(float(sc), 3),
                     "hand_up": bool(r)}
                    for b, sc, r in zip(bodies.boxes, bodies.scores, raised, strict=True)
                ]
        return FrameResult(len(found), head_up, rate, people, hands_up, held,
                           time.perf_counter() - t0, info)
