"""Hand raise from body keypoints. Two ways (``AnalyzerSettings.hand_method``):

- **top_down** (default): for every person the pipeline already knows (faces, bowed
  heads, remembered places), a square crop sized from the face, enlarged to the input of
  MoveNet SinglePose Lightning (192 px); its keypoints are mapped back to the frame. A
  hand is raised when a wrist is above its shoulder with the forearm pointing up, on a
  skeleton that is this person's (``raised_top_down``).
- **tiles** (before): MoveNet MultiPose Lightning on overlapping tiles of the frame (at
  most 6 people per input); a wrist above its shoulder and above its elbow.

A raise counts once it has been held over several analysed frames (``HandRaiseTracker``).
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


def crop_squares(heads: np.ndarray, above: float = 2.0, below: float = 3.0,
                 sideways: float = 1.6) -> np.ndarray:
    """Square crop (x0, y0, side) per person from their head (x, y, size: centre and face
    side, frame pixels): ``above`` face sizes above the face top (a raised hand), ``below``
    below its bottom (shoulders, elbows), and at least ``sideways`` face sizes each side
    of the face (an arm raised outward). The person's head is centred horizontally."""
    h = np.asarray(heads, np.float32).reshape(-1, 3)
    x, y, s = h[:, 0], h[:, 1], np.maximum(h[:, 2], 1.0)
    top = y - s / 2 - above * s
    bottom = y + s / 2 + below * s
    side = np.maximum(bottom - top, (1 + 2 * sideways) * s)
    cy = (top + bottom) / 2
    return np.stack([x - side / 2, cy - side / 2, side], 1).astype(np.float32)


class TopDownPose:
    """MoveNet SinglePose on a crop per person (the session's input is [1, S, S, 3] int32
    RGB; its output [1, 1, 17, 3] holds y, x, score normalised to the crop)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        inp = session.get_inputs()[0]
        self.input_name = inp.name
        self.size = int(inp.shape[1]) if isinstance(inp.shape[1], int) else 192

    def estimate(self, rgb: np.ndarray, squares: np.ndarray) -> np.ndarray:
        """Keypoints (P,17,3): x, y in frame pixels and score, one row per crop square.
        Crops reaching outside the frame are padded with black (as MoveNet's own
        cropping does)."""
        n = self.size
        out = np.zeros((len(squares), 17, 3), np.float32)
        for i, (x0, y0, side) in enumerate(np.asarray(squares, np.float32)):
            crop = cv2.warpAffine(rgb, crop_matrix(float(x0), float(y0), float(side), n),
                                  (n, n), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
            res = self.session.run(None, {self.input_name: crop[None].astype(np.int32)})[0]
            out[i] = crop_to_frame(res.reshape(17, 3), float(x0), float(y0), float(side))
        return out


def crop_matrix(x0: float, y0: float, side: float, size: int) -> np.ndarray:
    """The affine map from frame pixels to a ``size`` px model input showing the square
    (x0, y0, side)."""
    k = size / max(side, 1e-6)
    return np.array([[k, 0, -k * x0], [0, k, -k * y0]], np.float32)


def crop_to_frame(yx_score: np.ndarray, x0: float, y0: float, side: float) -> np.ndarray:
    """MoveNet's (17,3) y, x (0..1 of the crop), score -> (17,3) x, y frame pixels, score."""
    out = np.empty((len(yx_score), 3), np.float32)
    out[:, 0] = x0 + yx_score[:, 1] * side
    out[:, 1] = y0 + yx_score[:, 0] * side
    out[:, 2] = yx_score[:, 2]
    return out


def raised_top_down(kp: np.ndarray, heads: np.ndarray, min_kp_score: float = 0.35,
                    reach: float = 3.0) -> np.ndarray:
    """Boolean per person (keypoints (P,17,3) from ``TopDownPose``, heads (P,3) x, y,
    size). Raised: on one side, the wrist (score >= ``min_kp_score``, within ``reach``
    face sizes sideways of the face) is above its shoulder, the forearm points up (the
    elbow, when seen, is below the wrist), the wrist is no further above the shoulder
    than an arm reaches (4 face sizes), and it is above the head or clear of the face
    sideways (a hand at the chin is not raised). The skeleton must be this person's, not a
    neighbour's the crop also shows: the shoulder is seen below the face (0.3 to 2.5 face
    sizes below the face centre) and within 2 face sizes sideways, and a nose, if seen, is on the
    face."""
    kp = np.asarray(kp, np.float32).reshape(-1, 17, 3)
    h = np.asarray(heads, np.float32).reshape(-1, 3)
    x, y, s = h[:, 0], h[:, 1], np.maximum(h[:, 2], 1.0)
    nose = kp[:, 0]
    own = (nose[:, 2] < min_kp_score) | (np.hypot(nose[:, 0] - x, nose[:, 1] - y) <= s)
    out = np.zeros(len(kp), bool)
    for wrist, elbow, shoulder in ((L_WRIST, L_ELBOW, L_SHOULDER),
                                   (R_WRIST, R_ELBOW, R_SHOULDER)):
        w, e, sh = kp[:, wrist], kp[:, elbow], kp[:, shoulder]
        near = (w[:, 2] >= min_kp_score) & (np.abs(w[:, 0] - x) <= reach * s)
        shoulder_ok = (sh[:, 2] >= min_kp_score) & (np.abs(sh[:, 0] - x) <= 2.0 * s) & \
            (sh[:, 1] >= y + 0.3 * s) & (sh[:, 1] <= y + 2.5 * s)
        forearm_up = (e[:, 2] < min_kp_score) | (w[:, 1] < e[:, 1])
        lift = sh[:, 1] - w[:, 1]
        # a hand at the chin or on the head is not raised: the wrist is above the hair
        # (a quarter face above the face box) or clear of the face sideways
        clear = (w[:, 1] < y - 0.75 * s) | (np.abs(w[:, 0] - x) >= 0.75 * s)
        out |= own & near & shoulder_ok & forearm_up & clear & (lift > 0) & (lift <= 4.0 * s)
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
        """Tiles: people with a raised hand, matched by the middle of their shoulders."""
        kp = people.keypoints[np.asarray(raised, bool)]
        sx = kp[:, [L_SHOULDER, R_SHOULDER], 0].mean(1)
        sy = kp[:, [L_SHOULDER, R_SHOULDER], 1].mean(1)
        reach = np.maximum(20.0, np.abs(kp[:, L_SHOULDER, 0] - kp[:, R_SHOULDER, 0]))
        return self.update_points(np.stack([sx, sy, reach], 1))

    def update_points(self, points: np.ndarray) -> int:
        """People with a raised hand as (x, y, reach) rows: each continues the nearest
        track of the last pass within ``reach`` pixels. Returns the hands held."""
        new: list[_Track] = []
        used: set[int] = set()
        for x, y, reach in np.asarray(points, np.float32).reshape(-1, 3):
            best, best_d = -1, float(reach)
            for j, t in enumerate(self.tracks):
                d = float(np.hypot(t.x - x, t.y - y))
                if d < best_d and j not in used:
                    best, best_d = j, d
            if best >= 0:
                used.add(best)
            streak = self.tracks[best].streak + 1 if best >= 0 else 1
            new.append(_Track(float(x), float(y), streak))
        self.tracks = new
        return sum(1 for t in self.tracks if t.streak >= self.hold)

    def reset(self) -> None:
        self.tracks = []
