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
from agent.engagement.hands import (
    HandRaiseTracker,
    PoseDetector,
    TopDownPose,
    crop_squares,
    raised_hands,
    raised_top_down,
)
from agent.engagement.headpose import HeadPoseEstimator, Pose, is_head_up
from agent.engagement.heap import release_free_heap, tune_malloc
from agent.engagement.people import Check, SeatMap, body_heads, confirm_body
from models.registry import open_session


@dataclass
class AnalyzerSettings:
    intra_threads: int = 1
    inter_threads: int = 1
    providers: list[str] = field(default_factory=lambda: ["CPUExecutionProvider"])
    face_score: float = 0.15  # FaceMesh verifies each detection, so the detector can be lenient
    face_tile: int = 0  # 0 = whole frame at native size
    detect_width: int = 1280  # frames are scaled to this width first (0 = native size)
    min_face_px: float = 10.0
    head_pose: bool = True
    max_pose_faces: int = 16  # head pose for at most this many faces a frame (rotating)
    pitch_down_deg: float = -20.0
    pitch_offset_deg: float = 0.0
    max_yaw_deg: float = 60.0
    # a detection counts only when FaceMesh's face-presence agrees (or a known place or a
    # body backs it): posters, clutter and animals give no people
    verify_faces: bool = True
    min_face_presence: float = 0.95
    seat_memory_s: float = 120.0  # a place where someone was seen counts this long
    body_score: float = 0.3  # pose-model people below this add no person
    hand_raise: bool = True
    # "top_down": MoveNet SinglePose on a crop around each known person (faces, places);
    # "tiles": MoveNet MultiPose on frame tiles (also finds bodies without a face)
    hand_method: str = "top_down"
    hand_crop_above: float = 2.0  # crop: face sizes above the face top (the raised hand)
    hand_crop_below: float = 3.0  # face sizes below the face bottom (shoulders, elbows)
    hand_crop_sideways: float = 1.6  # at least this many face sizes each side of the face
    hand_kp_score: float = 0.35  # keypoint score a wrist/shoulder/elbow needs (top_down)
    pose_tile: int = 384
    pose_upscale: float = 1.0
    hold_frames: int = 3
    face_detector_model: str | None = None
    face_landmarks_model: str | None = None
    pose_model: str | None = None
    hand_pose_model: str | None = None
    # give freed C-heap pages back after loading and after every frame, and fixed glibc
    # thresholds so a thread's heap top is returned too (heap.py): 23-40 MB less RSS
    # between frames for 0-2.4 % more CPU
    release_heap: bool = True


@dataclass
class FrameResult:
    faces: int  # face detections counted as people (upright or bowed)
    head_up: int | None  # people facing the front (None when head pose is off)
    head_up_rate: float | None  # head_up / people (None when nobody or head pose off)
    people: int  # people in the room: faces + bodies + recently seen places (people.py)
    # bodies found by the pose model (tiles), or people whose crop shows both shoulders
    # (top_down); None when off or skipped
    bodies: int | None
    hands_up: int | None  # raised in this frame
    hands_raised: int | None  # held for hold_frames (the reported number)
    seconds: float  # analysis time of this frame
    phantoms: int = 0  # face detections rejected as not a person
    details: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("people", "faces", "head_up", "head_up_rate",
                                          "bodies", "hands_up", "hands_raised", "phantoms")}
        d["ms"] = round(self.seconds * 1000, 1)
        if self.details is not None:
            d["details"] = self.details
        return d


class Analyzer:
    def __init__(self, settings: AnalyzerSettings | None = None) -> None:
        s = self.settings = settings or AnalyzerSettings()
        if s.release_heap:
            tune_malloc()
        kw: dict[str, Any] = {"intra_threads": s.intra_threads, "inter_threads": s.inter_threads,
              "providers": s.providers}
        self.faces = FaceDetector(open_session("face_detector", s.face_detector_model, **kw),
                                  score_threshold=s.face_score, tile=s.face_tile,
                                  min_size=s.min_face_px)
        # FaceMesh gives the head pose and is the second opinion on every detection
        self.pose = HeadPoseEstimator(
            open_session("face_landmarks", s.face_landmarks_model, **kw)
        ) if s.head_pose or s.verify_faces else None
        if s.hand_method not in ("top_down", "tiles"):
            raise ValueError(f"hand_method must be 'top_down' or 'tiles', not {s.hand_method!r}")
        tiles = s.hand_raise and s.hand_method == "tiles"
        # only the model of the chosen method is loaded (the multipose one is 19 MB on
        # disk and about 60 MB in memory)
        self.bodies = PoseDetector(open_session("pose", s.pose_model, **kw),
                                   tile=s.pose_tile, upscale=s.pose_upscale
                                   ) if tiles else None
        self.hand_pose = TopDownPose(open_session("hand_pose", s.hand_pose_model, **kw)
                                     ) if s.hand_raise and not tiles else None
        self.tracker = HandRaiseTracker(hold=s.hold_frames)
        self.seats = SeatMap(memory_s=s.seat_memory_s)
        if s.release_heap:
            release_free_heap()  # parsing the models leaves ~35 MB of freed heap behind

    def reset(self) -> None:
        """Forget places and raised-hand tracks (a new lesson, another camera or image)."""
        self.seats.reset()
        self.tracker.reset()

    def analyze(self, bgr: np.ndarray, hands: bool = True, details: bool = False,
                now: float | None = None) -> FrameResult:
        """Analyse one BGR uint8 frame taken at ``now`` (monotonic seconds; default the
        current time: places are remembered for ``seat_memory_s``). ``hands=False``
        skips the body model this frame (the service runs it at a lower rate)."""
        t0 = time.perf_counter()
        now = time.monotonic() if now is None else now
        s = self.settings
        scale = 1.0
        if s.detect_width and bgr.shape[1] != s.detect_width:
            # one working width: a 1080p main stream is reduced, a 640 px sub-stream is
            # enlarged so its small faces reach the detector's smallest anchors
            scale = s.detect_width / bgr.shape[1]
            bgr = cv2.resize(bgr, None, fx=scale, fy=scale,
                             interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        found = self.faces.detect(bgr)
        n = len(found)
        rgb = None
        poses: list[Pose | None] = [None] * n
        checks = [Check.UNCHECKED] * n
        ups: list[bool | None] = [None] * n
        if self.pose is not None and n:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            seat_of = self.seats.match(found.boxes, now)
            # FaceMesh order: detections at no known place first (they must be verified
            # before they count), then the places checked longest ago
            order = sorted(range(n), key=lambda i: (
                seat_of[i] >= 0,
                self.seats.seats[seat_of[i]].checked if seat_of[i] >= 0 else 0.0))
            idx = np.asarray(order[:s.max_pose_faces] if s.max_pose_faces else order)
            for i, p in zip(idx, self.pose.estimate(rgb, found.boxes[idx],
                                                     found.landmarks[idx]), strict=True):
                p.pitch += s.pitch_offset_deg
                poses[i] = p
                # up/down is read from the pose whenever FaceMesh sees a face at all
                # (presence >= 0.5); a new person needs the stricter min_face_presence
                ups[i] = is_head_up(p, s.pitch_down_deg, s.max_yaw_deg)
                verified = not s.verify_faces or p.confidence >= s.min_face_presence
                checks[i] = Check.VERIFIED if verified else Check.REJECTED
        elif n:
            checks = [Check.VERIFIED] * n  # no second opinion configured
        hands_up = held = None
        raised = None
        bodies = None
        heads = None
        if self.bodies is not None and hands:
            if rgb is None:
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            bodies = self.bodies.detect(rgb)
            raised = raised_hands(bodies)
            hands_up = int(raised.sum())
            held = self.tracker.update(bodies, raised)
            confident = bodies.scores >= s.body_score
            heads = body_heads(bodies.keypoints[confident])
        fused = self.seats.fuse(now, found.boxes, checks, ups, heads)
        people = fused.count
        crops = kp = anchors = None
        bodies_n: int | None = len(bodies) if bodies is not None else None
        if self.hand_pose is not None and hands:
            # top-down: every person counted now (faces, bowed heads, remembered places)
            if rgb is None:
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            anchors = np.asarray([(p.x, p.y, p.size) for p in fused.people],
                                 np.float32).reshape(-1, 3)
            crops = crop_squares(anchors, s.hand_crop_above, s.hand_crop_below,
                                 s.hand_crop_sideways)
            kp = self.hand_pose.estimate(rgb, crops)
            raised = raised_top_down(kp, anchors, s.hand_kp_score)
            hands_up = int(raised.sum())
            # tracks follow the head (matched within one face size per pass)
            held = self.tracker.update_points(
                np.column_stack([anchors[raised, :2], np.maximum(anchors[raised, 2], 8.0)]))
            bodies_n = int(((kp[:, 5, 2] >= s.body_score) & (kp[:, 6, 2] >= s.body_score)).sum())
            for person, k in zip(fused.people, kp, strict=True):
                if person.source == "remembered":
                    confirm_body(person, k, now, s.body_score)
        head_up = rate = None
        if s.head_pose:
            head_up = fused.up
            rate = head_up / people if people else None
        faces = sum(p.source in ("face", "bowed") for p in fused.people)
        info = None
        if details:
            inv = 1.0 / scale
            info = {
                "faces": [
                    {"box": [round(float(v) * inv, 1) for v in b], "score": round(float(sc), 3),
                     **({"yaw": round(p.yaw, 1), "pitch": round(p.pitch, 1),
                         "up": is_head_up(p, s.pitch_down_deg, s.max_yaw_deg)}
                        if p is not None else {})}
                    for b, sc, p in zip(found.boxes, found.scores, poses, strict=True)
                ],
                "people": [{"x": round(p.x * inv, 1), "y": round(p.y * inv, 1),
                            "up": p.up, "source": p.source} for p in fused.people],
            }
            if bodies is not None and raised is not None:  # detected together
                info["bodies"] = [
                    {"box": [round(float(v) * inv, 1) for v in b], "score": round(float(sc), 3),
                     "hand_up": bool(r)}
                    for b, sc, r in zip(bodies.boxes, bodies.scores, raised, strict=True)
                ]
            elif crops is not None and raised is not None and anchors is not None:
                # "head": the person the crop was made for (face or place: x, y, size)
                info["bodies"] = [
                    {"box": [round(float(v) * inv, 1) for v in (x0, y0, x0 + sd, y0 + sd)],
                     "head": [round(float(v) * inv, 1) for v in a], "hand_up": bool(r)}
                    for (x0, y0, sd), a, r in zip(crops, anchors, raised, strict=True)
                ]
        if s.release_heap:
            release_free_heap()
        return FrameResult(faces, head_up, rate, people, bodies_n, hands_up, held,
                           time.perf_counter() - t0, fused.phantoms, info)
