"""Head pose per face: FaceMesh landmarks on a roll-corrected crop, then cv2.solvePnP
against a generic 3-D face, giving yaw and pitch relative to the camera's line of sight.

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

# FaceMesh vertex ids: nose tip, chin, outer eye corners, mouth corners (image-left first)
_IDX = np.array([1, 152, 33, 263, 61, 291])
# A generic adult face in millimetres, OpenCV axes (x right, y down, z away from the
# camera), nose tip at the origin. Anthropometric averages, not anyone's face.
_MODEL = np.array([
    [0.0, 0.0, 0.0],  # nose tip
    [0.0, 63.6, 12.5],  # chin
    [-43.3, -32.7, 26.0],  # image-left eye outer corner
    [43.3, -32.7, 26.0],  # image-right eye outer corner
    [-28.9, 28.9, 24.1],  # image-left mouth corner
    [28.9, 28.9, 24.1],  # image-right mouth corner
], dtype=np.float64)


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
    """Yaw and pitch (degrees) of the generic face seen at ``image_pts`` (6,2) in a
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
