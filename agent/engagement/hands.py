"""Hand raise from body keypoints: MoveNet MultiPose Lightning (ONNX) on frame tiles.

The model finds at most 6 people per input, so a classroom frame is cut into overlapping
tiles. A person's hand is raised when a wrist is above the shoulder on its side (and above
the elbow); a raise counts once it has been held over several analysed frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from agent.engagement.faces import nms

# COCO keypoint order used by MoveNet
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 5, 6, 7, 8, 9, 10


@dataclass
class People:
    """Per person: keypoints (P,17,3) as x, y (frame pixels), score; boxes (P,4); scores."""

    keypoints: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def _tile_starts(size: int, tile: int, overlap: float) -> list[int]:
    if size <= tile:
        return [0]
    n = int(np.ceil((size - tile) / (tile * (1 - overlap)))) + 1
    return [round(i * (size - tile) / (n - 1)) for i in range(n)]


class PoseDetector:
    def __init__(self, session: Any, tile: int = 384, overlap: float = 0.25,
                 person_score: float = 0.2, upscale: float = 1.0) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.tile = max(64, (tile // 32) * 32)
        # small people: each tile is a region of tile/upscale frame pixels, enlarged
        self.upscale = max(1.0, upscale)
        self.overlap = overlap
        self.person_score = person_score

    def _run(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        # model input sides must be multiples of 32: pad at the bottom/right
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        if (ph, pw) != (h, w):
            rgb = cv2.copyMakeBorder(rgb, 0, ph - h, 0, pw - w, cv2.BORDER_CONSTANT)
        out = self.session.run(None, {self.input_name: rgb[None].astype(np.int32)})[0][0]
        kp = out[:, :51].reshape(-1, 17, 3)  # y, x, score normalised to the padded input
        res = np.empty((len(out), 17 + 2, 3), np.float32)
        res[:, :17, 0] = kp[:, :, 1] * pw
        res[:, :17, 1] = kp[:, :, 0] * ph
        res[:, :17, 2] = kp[:, :, 2]
        box = out[:, 51:56]  # ymin, xmin, ymax, xmax, score
        res[:, 17, 0] = box[:, 1] * pw
        res[:, 17, 1] = box[:, 0] * ph
        res[:, 17, 2] = box[:, 4]
        res[:, 18, 0] = box[:, 3] * pw
        res[:, 18, 1] = box[:, 2] * ph
        res[:, 18, 2] = box[:, 4]
        return res

    def detect(self, rgb: np.ndarray) -> People:
        h, w = rgb.shape[:2]
        region = round(self.tile / self.upscale)
        found = []
        for y0 in _tile_starts(h, region, self.overlap):
            for x0 in _tile_starts(w, region, self.overlap):
                crop = rgb[y0:y0 + region, x0:x0 + region]
                if self.upscale > 1.0:
                    crop = cv2.resize(crop, None, fx=self.upscale, fy=self.upscale,
                                      interpolation=cv2.INTER_LINEAR)
                r = self._run(crop)
                r = r[r[:, 17, 2] >= self.person_score]
                r[:, :, :2] /= self.upscale
                r[:, :, 0] += x0
                r[:, :, 1] += y0
                found.append(r)
        allp = np.concatenate(found) if found else np.zeros((0, 19, 3), np.float32)
        if len(allp) == 0:
            return People(np.zeros((0, 17, 3), np.float32), np.zeros((0, 4), np.float32),
                          np.zeros(0, np.float32))
        boxes = np.concatenate([allp[:, 17, :2], allp[:, 18, :2]], 1)
        scores = allp[:, 17, 2]
        keep = nms(boxes, scores, 0.5)
        return People(allp[keep, :17], boxes[keep], scores[keep])


def raised_hands(people: People, min_kp_score: float = 0.2) -> np.ndarray:
    """Boolean per person: a wrist is above its shoulder and above its elbow."""
    kp = people.keypoints
    out = np.zeros(len(people), bool)
    for wrist, elbow, shoulder in ((L_WRIST, L_ELBOW, L_SHOULDER),
                                   (R_WRIST, R_ELBOW, R_SHOULDER)):
        ok = (kp[:, wrist, 2] >= min_kp_score) & (kp[:, shoulder, 2] >= min_kp_score)
        above_shoulder = kp[:, wrist, 1] < kp[:, shoulder, 1]
        # a missing elbow does not veto; a visible one must be below the wrist
        elbow_ok = (kp[:, elbow, 2] < min_kp_score) | (kp[:, wrist, 1] < kp[:, elbow, 1])
        out |= ok & above_shoulder & elbow_ok
    return out


@dataclass
class _Track:
    x: float
    y: float
    streak: int


@dataclass
class HandRaiseTracker:
    """Counts hands held up for ``hold`` consecutive analysed frames. People are matched
    between frames by the position of their shoulders (nothing about who they are)."""

    hold: int = 3
    tracks: list[_Track] = field(default_factory=list)

    def update(self, people: People, raised: np.ndarray) -> int:
        kp = people.keypoints
        new: list[_Track] = []
        for i in np.nonzero(raised)[0]:
            sx = float(kp[i, [L_SHOULDER, R_SHOULDER], 0].mean())
            sy = float(kp[i, [L_SHOULDER, R_SHOULDER], 1].mean())
            reach = max(20.0, float(abs(kp[i, L_SHOULDER, 0] - kp[i, R_SHOULDER, 0])))
            best, best_d = None, reach
            for t in self.tracks:
                d = float(np.hypot(t.x - sx, t.y - sy))
                if d < best_d and t not in [n for n in new]:
                    best, best_d = t, d
            new.append(_Track(sx, sy, (best.streak + 1) if best else 1))
        self.tracks = new
        return sum(1 for t in self.tracks if t.streak >= self.hold)

    def reset(self) -> None:
        self.tracks = []
