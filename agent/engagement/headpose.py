"""Head pose per face: FaceMesh landmarks on a roll-corrected crop, then cv2.solvePnP
against FaceMesh's mean 3-D face, giving yaw and pitch relative to the camera's line of sight.

Pitch is negative when the head is bowed (looking at the desk); a face is "up" when it is
not bowed past a threshold and not turned too far sideways.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

CROP = 192  # FaceMesh input side
ROI_SCALE = 1.5  # FaceMesh was trained on detection boxes grown by half
CROP_GROUP = 8  # crops made at a time (each is 442 KB as float)

# The 3-D face solvePnP fits: FaceMesh's own mean shape at 22 vertices on the rigid part
# of the face (eye corners, nose bridge to tip, forehead, cheekbones, chin, mouth corners),
# in millimetres (86.6 between the outer eye corners), OpenCV axes (x right, y down, z away
# from the camera), nose tip at the origin. Measured by bench/headpose_model.py on the 100
# lfw_subset faces; on the 41 other real faces it was not measured on, portraits facing
# the camera read a median pitch of -1.5 deg (the 6-point generic face before: -10.7).
_POINTS = (
    (33, -41.4, -37.8, 38.3), (133, -15.5, -36.4, 33.0), (362, 18.3, -36.3, 32.0),
    (263, 45.0, -37.6, 35.9), (168, 0.8, -41.4, 17.7), (6, 0.6, -33.6, 13.9),
    (197, 0.4, -26.7, 9.5), (195, 0.2, -20.5, 4.8), (5, 0.1, -13.8, 0.0),
    (4, -0.1, -5.9, -1.9), (1, 0.0, 0.0, 0.0), (10, 0.8, -87.6, 21.1),
    (151, 0.7, -72.4, 18.3), (9, 0.7, -56.9, 16.4), (234, -60.4, -23.8, 86.5),
    (454, 68.4, -23.5, 82.6), (127, -61.7, -37.0, 82.3), (356, 69.2, -36.8, 78.4),
    (152, 2.2, 68.5, 36.2), (199, 1.7, 57.7, 26.9), (61, -23.3, 24.7, 33.4),
    (291, 26.5, 25.1, 32.0),
)
_IDX = np.array([p[0] for p in _POINTS])
_MODEL = np.array([p[1:] for p in _POINTS], dtype=np.float64)


@dataclass
class Pose:
    yaw: float  # degrees, + = turned to the image right
    pitch: float  # degrees, - = bowed down
    roll: float  # degrees, in-plane tilt (from the eye line)
    confidence: float  # FaceMesh face presence, 0..1


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


class HeadPoseEstimator:
    def __init__(self, session: Any, focal_frame_widths: float = 1.0) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        # camera focal length in units of the frame width (1.0 ~ 53 degrees horizontal)
        self.focal_frame_widths = focal_frame_widths

    def crops(self, rgb: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray
              ) -> tuple[np.ndarray, list[float], list[float]]:
        """Upright 192x192 float crops (N,3,192,192) in 0..1, with each crop's roll and
        side length in frame pixels."""
        crops = []
        rolls, sides = [], []
        for box, pts in zip(boxes, landmarks, strict=True):
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            side = max(box[2] - box[0], box[3] - box[1]) * ROI_SCALE
            dx, dy = pts[1] - pts[0]
            roll = math.atan2(dy, dx)
            c, s = math.cos(roll), math.sin(roll)
            k = side / CROP
            # crop pixel (u, v) -> frame: centre + R(roll) * k * (u - 96, v - 96)
            m = np.array([[k * c, -k * s, cx - k * (c - s) * CROP / 2],
                          [k * s, k * c, cy - k * (s + c) * CROP / 2]])
            crop = cv2.warpAffine(rgb, m, (CROP, CROP), flags=cv2.WARP_INVERSE_MAP |
                                  cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            crops.append(crop)
            rolls.append(math.degrees(roll))
            sides.append(float(side))
        out = cv2.dnn.blobFromImages(crops, 1.0 / 255.0, swapRB=False, crop=False) if crops \
            else np.empty((0, 3, CROP, CROP), np.float32)
        return out, rolls, sides

    def estimate(self, rgb: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray
                 ) -> list[Pose]:
        """One Pose per face box (frame pixels) in an RGB frame."""
        frame_w = rgb.shape[1]
        poses = []
        # crops in small groups: 40 faces as one float blob are 18 MB of peak memory
        for g in range(0, len(boxes), CROP_GROUP):
            crops, rolls, sides = self.crops(rgb, boxes[g:g + CROP_GROUP],
                                             landmarks[g:g + CROP_GROUP])
            for crop, roll, side in zip(crops, rolls, sides, strict=True):
                mesh, flag = self.session.run(None, {self.input_name: crop[None]})
                pts = mesh.reshape(-1, 3)[_IDX, :2].astype(np.float64)
                # the crop sees the face through the real camera: focal scaled to crop px
                f = self.focal_frame_widths * frame_w * CROP / max(side, 1.0)
                yaw, pitch = solve_pose(pts, f)
                poses.append(Pose(yaw, pitch, roll, _sigmoid(float(flag.ravel()[-1]))))
        return poses


def solve_pose(image_pts: np.ndarray, focal: float) -> tuple[float, float]:
    """Yaw and pitch (degrees) of the model face seen at ``image_pts`` (len(_IDX),2) in a
    192-pixel crop through a pinhole camera of focal length ``focal`` pixels."""
    cam = np.array([[focal, 0, CROP / 2], [0, focal, CROP / 2], [0, 0, 1]], np.float64)
    ok, rvec, _t = cv2.solvePnP(_MODEL, image_pts, cam, None, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return 0.0, 0.0
    r, _ = cv2.Rodrigues(rvec)
    fwd = r @ np.array([0.0, 0.0, -1.0])  # out of the face, toward the camera when frontal
    yaw = math.degrees(math.atan2(fwd[0], -fwd[2]))
    pitch = -math.degrees(math.atan2(fwd[1], -fwd[2]))
    return yaw, pitch


MIN_MESH_CONFIDENCE = 0.5


def is_head_up(pose: Pose, pitch_down_deg: float, max_yaw_deg: float) -> bool:
    """Facing the front: not bowed past the threshold, not turned away. A face the
    detector found but FaceMesh does not recognise as a face is almost always a bowed
    head or the top of one, so it counts as not up."""
    if pose.confidence < MIN_MESH_CONFIDENCE:
        return False
    return pose.pitch >= pitch_down_deg and abs(pose.yaw) <= max_yaw_deg
