"""Synthetic classroom scenes from real faces in package-shipped images.

Used by the accuracy script, the benchmark, the tests and the demo clip. Faces come from
images that ship with Debian's ``opencv-doc`` and, when given, scikit-image's data folder
(``astronaut.png``, ``lfw_subset.npy``). A scene is a plain room (wall, desks) with
"students" (a torso and a real face pasted with a soft edge) in rows, back rows smaller:
the ground truth (face boxes, who looks down) is exact because we placed them.

``render_pose`` turns one face crop to a chosen pitch/yaw by texturing the FaceMesh
3-D mesh of that face and rotating it: a real face at a known pose, but one whose depth
is what FaceMesh believes (see docs/ENGAGEMENT.md for what that means for the figures).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

if TYPE_CHECKING:
    from agent.engagement.faces import FaceDetector

OPENCV_DOC = Path("/usr/share/doc/opencv-doc")
# images with several clear, roughly frontal faces (Apache-2.0/BSD OpenCV docs)
OPENCV_FACE_IMAGES = (
    "examples/data/messi5.jpg",
    "opencv4/html/2.jpg",
    "opencv4/html/3.jpg",
    "opencv4/html/facereg.jpg",
)


@dataclass
class FaceCrop:
    image: np.ndarray  # BGR square crop, face centred, side = face side * MARGIN
    source: str


MARGIN = 1.6  # crop side / face box side


def opencv_doc_images() -> list[Path]:
    return [OPENCV_DOC / p for p in OPENCV_FACE_IMAGES if (OPENCV_DOC / p).is_file()]


def skimage_data_dir() -> Path | None:
    """scikit-image's data folder: installed package, or $SKIMAGE_DATA (an unpacked wheel)."""
    env = os.environ.get("SKIMAGE_DATA")
    if env and Path(env).is_dir():
        return Path(env)
    try:
        import skimage  # lazy: optional and heavy, only for the face bank's sample images
    except ImportError:
        return None
    d = Path(skimage.__file__).parent / "data"
    return d if d.is_dir() else None


def face_bank(detector: FaceDetector, images: list[Path] | None = None, lfw: bool = True,
              min_face: int = 28, min_score: float = 0.9) -> list[FaceCrop]:
    """Square face crops found by ``detector`` (a FaceDetector) in package images."""
    bank: list[FaceCrop] = []
    paths = list(images) if images is not None else opencv_doc_images()
    sk = skimage_data_dir()
    if images is None and sk and (sk / "astronaut.png").is_file():
        paths.append(sk / "astronaut.png")
    for p in paths:
        img = cv2.imread(str(p))
        if img is None:
            continue
        found = detector.detect(img)
        for box, score in zip(found.boxes, found.scores, strict=True):
            side = max(box[2] - box[0], box[3] - box[1])
            if score < min_score or side < min_face:
                continue
            crop = _square(img, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, side * MARGIN)
            bank.append(FaceCrop(crop, p.name))
    if lfw and images is None and sk and (sk / "lfw_subset.npy").is_file():
        # 25x25 grey crops, the first 100 are faces; the crop is about the face box
        faces = np.load(sk / "lfw_subset.npy")[:100]
        for i, f in enumerate(faces):
            g = (np.clip(f, 0, 1) * 255).astype(np.uint8)
            g = cv2.resize(g, (64, 64), interpolation=cv2.INTER_CUBIC)
            pad = int(64 * (MARGIN - 1) / 2)
            g = cv2.copyMakeBorder(g, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
            bank.append(FaceCrop(cv2.cvtColor(g, cv2.COLOR_GRAY2BGR), f"lfw_subset[{i}]"))
    return bank


def _square(img: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray:
    s = round(side)
    x0, y0 = round(cx - s / 2), round(cy - s / 2)
    pad = s
    big = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return big[y0 + pad:y0 + pad + s, x0 + pad:x0 + pad + s].copy()


@dataclass
class Scene:
    image: np.ndarray  # BGR
    boxes: np.ndarray  # (N,4) true face boxes
    down: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # (N,) looking down


def room(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A plain classroom backdrop: wall, floor, rows of desks, mild texture."""
    img = np.empty((height, width, 3), np.uint8)
    wall = rng.integers(150, 210, 3)
    floor = rng.integers(70, 120, 3)
    horizon = int(height * 0.35)
    img[:horizon] = wall
    img[horizon:] = floor
    noise = rng.normal(0, 6, (height // 4, width // 4, 3))
    out: np.ndarray = np.clip(img + cv2.resize(noise, (width, height)), 0, 255).astype(np.uint8)
    return out


def compose(bank: list[FaceCrop], n: int, face_px: tuple[int, int], rng: np.random.Generator,
            width: int = 1280, height: int = 720, down_fraction: float = 0.0,
            pose_renderer: PoseRenderer | None = None, background: np.ndarray | None = None,
            down_mask: np.ndarray | None = None) -> Scene:
    """``n`` students in rows; face sides from face_px[0] (back row) to face_px[1] (front).

    With ``pose_renderer`` (a callable (crop, pitch, yaw) -> crop) a ``down_fraction`` of
    faces is rendered bowed and the rest facing the camera. ``down_mask`` (n bools, back
    row first) chooses who is bowed instead; the random draws are the same either way, so
    two calls with the same seed and different masks show the same class in the same
    seats, once upright and once with some heads down.
    """
    img = room(width, height, rng) if background is None else background.copy()
    # rows from the back (small faces, top) to the front (large faces, bottom); each row
    # leaves room for the torso so nobody's face is hidden behind the row in front
    mean_side = (face_px[0] + face_px[1]) / 2
    rows = max(1, min(round(math.sqrt(n * height / width * 1.2)),
                      int(height * 0.85 / (2.3 * mean_side))))
    per_row = [n // rows + (1 if i < n % rows else 0) for i in range(rows)]
    sides = [face_px[0] + (face_px[1] - face_px[0]) * (r / max(1, rows - 1))
             for r in range(rows)]
    gap = (height - sum(2.3 * s for s in sides)) / (rows + 1)
    placed = []  # (cx, cy, side, crop, down) back row first, drawn in that order
    y = gap
    for count, side in zip(per_row, sides, strict=True):
        cell = width / max(1, count)
        for k in range(count):
            s = float(np.clip(side * rng.uniform(0.92, 1.08), face_px[0], face_px[1]))
            cx = float((k + 0.5) * cell + rng.uniform(-0.1, 0.1) * max(0.0, cell - 2 * s))
            cy = float(y + 0.7 * side + rng.uniform(-0.1, 0.1) * s)
            placed.append((cx, cy, s))
        y += 2.3 * side + gap
    boxes: list[list[float]] = []
    downs: list[bool] = []
    for cx, cy, s in placed:
        crop = bank[int(rng.integers(len(bank)))].image
        down = pose_renderer is not None and rng.random() < down_fraction
        if down_mask is not None:
            down = pose_renderer is not None and bool(down_mask[len(boxes)])
        if pose_renderer is not None:
            pitch = rng.uniform(-60, -35) if down else rng.uniform(-5, 10)
            crop = pose_renderer(crop, pitch, rng.uniform(-25, 25))
        _torso(img, cx, cy + s * 0.5, s, rng)
        paste(img, crop, cx, cy, s * MARGIN)
        boxes.append([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2])
        downs.append(down)
    return Scene(img, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(downs, bool))


def _torso(img: np.ndarray, cx: float, top: float, face: float,
           rng: np.random.Generator) -> None:
    colour = tuple(int(c) for c in rng.integers(30, 230, 3))
    cv2.ellipse(img, (round(cx), round(top + face * 0.9)), (round(face * 0.9), round(face * 0.8)),
                0, 0, 360, colour, -1, cv2.LINE_AA)


def paste(img: np.ndarray, crop: np.ndarray, cx: float, cy: float, side: float) -> None:
    """Paste ``crop`` scaled to ``side`` centred at (cx, cy) with a soft elliptical edge."""
    s = max(4, round(side))
    c = cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA if s < crop.shape[0]
                   else cv2.INTER_LINEAR)
    mask: np.ndarray = np.zeros((s, s), np.float32)
    cv2.ellipse(mask, (s // 2, s // 2), (int(s * 0.42), int(s * 0.48)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(0.5, s * 0.04))
    blend(img, c, mask, round(cx - s / 2), round(cy - s / 2))


def blend(img: np.ndarray, fg: np.ndarray, alpha: np.ndarray, x0: int, y0: int) -> None:
    """Blend ``fg`` (weights ``alpha`` 0..1, same height and width) into ``img`` with its
    top-left corner at (x0, y0); whatever falls outside ``img`` is cut off."""
    h, w = img.shape[:2]
    fh, fw = fg.shape[:2]
    ax0, ay0, ax1, ay1 = max(0, x0), max(0, y0), min(w, x0 + fw), min(h, y0 + fh)
    if ax1 <= ax0 or ay1 <= ay0:
        return
    sub = img[ay0:ay1, ax0:ax1].astype(np.float32)
    f = fg[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0].astype(np.float32)
    a = alpha[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0, None]
    img[ay0:ay1, ax0:ax1] = (sub * (1 - a) + f * a).astype(np.uint8)


class PoseRenderer:
    """Re-poses a face crop by rotating its textured FaceMesh mesh (see module doc)."""

    def __init__(self, landmark_session: Any) -> None:  # an onnxruntime session (untyped)
        self.session = landmark_session
        self.name = landmark_session.get_inputs()[0].name
        self._tri: np.ndarray | None = None

    def _mesh(self, crop192: np.ndarray) -> np.ndarray:
        x = cv2.cvtColor(crop192, cv2.COLOR_BGR2RGB).astype(np.float32).transpose(2, 0, 1)
        mesh = self.session.run(None, {self.name: x[None] / 255.0})[0]
        points: np.ndarray = mesh.reshape(-1, 3).astype(np.float64)
        return points

    def _triangles(self, pts: np.ndarray) -> np.ndarray:
        sub = cv2.Subdiv2D((-1000, -1000, 2200, 2200))
        index = {}
        for i, (x, y) in enumerate(pts):
            sub.insert((float(x), float(y)))
            index[(round(float(x), 2), round(float(y), 2))] = i
        tris = []
        for t in sub.getTriangleList():
            ids = [index.get((round(float(t[j]), 2), round(float(t[j + 1]), 2)))
                   for j in (0, 2, 4)]
            if None not in ids:
                tris.append(ids)
        return np.asarray(tris, np.int64)

    def __call__(self, crop: np.ndarray, pitch: float, yaw: float) -> np.ndarray:
        # the bank's crop (face side * 1.6) is close to FaceMesh's ROI (side * 1.5)
        src = cv2.resize(crop, (192, 192), interpolation=cv2.INTER_LINEAR)
        mesh = self._mesh(src)
        tri = self._triangles(mesh[:, :2])
        face_w = np.ptp(mesh[:, 0])
        centre = np.array([96.0, mesh[:, 1].mean() + 0.15 * face_w, 0.55 * face_w])
        p = mesh - centre
        a, b = math.radians(-pitch), math.radians(yaw)
        rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
        ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
        q = p @ (ry @ rx).T + centre
        # background: the crop with the old face filled in (hair/skin blur), then the mesh
        hull = cv2.convexHull(mesh[:, :2].astype(np.int32))
        mask = np.zeros((192, 192), np.uint8)
        cv2.fillConvexPoly(mask, hull, 255)
        out = cv2.inpaint(src, mask, 5, cv2.INPAINT_TELEA)
        out = np.where(mask[..., None] > 0, cv2.GaussianBlur(out, (0, 0), 6), out)
        depth = q[tri, 2].mean(1)
        for t in tri[np.argsort(-depth)]:  # far first (z grows away from the camera)
            s2, d2 = mesh[t, :2].astype(np.float32), q[t, :2].astype(np.float32)
            area = (d2[1, 0] - d2[0, 0]) * (d2[2, 1] - d2[0, 1]) - \
                (d2[2, 0] - d2[0, 0]) * (d2[1, 1] - d2[0, 1])
            src_area = (s2[1, 0] - s2[0, 0]) * (s2[2, 1] - s2[0, 1]) - \
                (s2[2, 0] - s2[0, 0]) * (s2[1, 1] - s2[0, 1])
            if area * src_area <= 0:  # facing away after the turn
                continue
            _warp_triangle(src, out, s2, d2)
        return cv2.resize(out, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_AREA)


def _warp_triangle(src: np.ndarray, dst: np.ndarray, s: np.ndarray, d: np.ndarray) -> None:
    x, y, w, h = cv2.boundingRect(d)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(dst.shape[1], x + w + 1), min(dst.shape[0], y + h + 1)
    if x1 <= x0 or y1 <= y0:
        return
    m = cv2.getAffineTransform(s, d - np.array([x0, y0], np.float32))
    patch = cv2.warpAffine(src, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillConvexPoly(mask, np.round(d - [x0, y0]).astype(np.int32), 1, cv2.LINE_AA)
    region = dst[y0:y1, x0:x1]
    region[mask > 0] = patch[mask > 0]


def raise_arm(rgb: np.ndarray, kp: np.ndarray, side: str, outward_deg: float = 15.0
              ) -> np.ndarray | None:
    """A copy of ``rgb`` where one arm of the person with keypoints ``kp`` (17,3: x, y,
    score) is cut out, the gap inpainted, and the arm pasted back turned about the
    shoulder to point up. None when that arm's keypoints are not all visible."""
    s_i, e_i, w_i = (5, 7, 9) if side == "left" else (6, 8, 10)
    if kp[[s_i, e_i, w_i], 2].min() < 0.3:
        return None
    s, e, w = kp[s_i, :2], kp[e_i, :2], kp[w_i, :2]
    shoulders = float(np.hypot(*(kp[5, :2] - kp[6, :2])))
    width = max(4, int(0.35 * max(shoulders, 0.4 * float(np.hypot(*(w - s))))))
    mask = np.zeros(rgb.shape[:2], np.uint8)
    pts = [tuple(int(v) for v in p) for p in (s, e, w)]
    cv2.line(mask, pts[0], pts[1], 255, width)
    cv2.line(mask, pts[1], pts[2], 255, width)
    cv2.circle(mask, pts[2], int(width * 0.8), 255, -1)
    arm = cv2.bitwise_and(rgb, rgb, mask=mask)
    out = cv2.inpaint(rgb, cv2.dilate(mask, np.ones((5, 5), np.uint8)), 5, cv2.INPAINT_TELEA)
    # image x of this shoulder relative to the other: "outward" leans away from the body
    other = kp[6 if s_i == 5 else 5, 0]
    out_sign = 1.0 if s[0] > other else -1.0
    current = math.degrees(math.atan2(w[1] - s[1], w[0] - s[0]))
    target = -90.0 + out_sign * outward_deg
    rot = cv2.getRotationMatrix2D((float(s[0]), float(s[1])), -(target - current), 1.0)
    h, wd = rgb.shape[:2]
    arm_r = cv2.warpAffine(arm, rot, (wd, h))
    mask_r = cv2.warpAffine(mask, rot, (wd, h))
    out[mask_r > 127] = arm_r[mask_r > 127]
    return out
