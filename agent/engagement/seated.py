"""A seated-classroom hand-raise set composed from real people in package images.

Issue 15 part 3. The old hand-raise set (``synth.raise_arm``) is standing pedestrians with
one arm turned up. A class sits: only head, shoulders and arms show above the desk, the
row in front hides the lower torso, a raised arm is often bent. This module makes such
scenes with exact labels:

1. **Bodies.** Each person MoveNet finds (score >= 0.3, head and both shoulders seen,
   shoulders >= 45 px apart) in a short list of package images (``SOURCES``: Debian
   opencv-doc, scikit-image's data folder, matplotlib's sample data) is cut out down to
   the waist: GrabCut seeded from the keypoints and limited to a head/torso/arm shape.
   Where a side's shoulder, elbow and wrist are all seen (score >= 0.3) the arm is cut
   into two rigid pieces (upper arm; forearm with the hand) and removed from the body
   (inpainted where it lay over the torso).
2. **Poses.** Re-posable arms are put back at a chosen shoulder/elbow/wrist geometry: the
   upper arm turned about the shoulder, the forearm turned about the elbow and moved with
   it (``POSES``). Bodies whose arms cannot be cut keep them as they are (a negative).
3. **Scenes.** 1280x720, a wall, rows of students from small (back) to large (front),
   each row's desk band drawn over its students' lower torso and the next row drawn over
   that, so every row is partly hidden by the one in front. Per student: body, flip,
   scale, width (+-10 %), lean (+-6 deg), brightness/colour, position and pose drawn
   from a seeded generator.
4. **Labels** (``is_raised``): an arm is raised when its wrist is above its shoulder and
   above its elbow, and either above the top of the head or beside the head without
   touching it (a gap of at least a quarter of the head width). A hand at the chin or on
   the head, hands on the desk, crossed arms are not raised. Computed from the placed
   joints, not from the pose name (the unit test checks both agree).
5. **Splits.** ``dev`` and ``test`` use disjoint source images (``SOURCES``) and seeds
   (``SPLIT_SEED``): tune on dev, report on test.

Everything here is synthetic: see docs/ENGAGEMENT.md ("Seated hand-raise set") for what
that means for the figures.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from agent.engagement import synth
from agent.engagement.faces import FaceDetector
from agent.engagement.hands import L_SHOULDER, R_SHOULDER, People, PoseDetector, raised_hands

if TYPE_CHECKING:
    from agent.engagement.pipeline import Analyzer

NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SH, R_SH, L_EL, R_EL, L_WR, R_WR, L_HIP, R_HIP = 5, 6, 7, 8, 9, 10, 11, 12
ARM = {"left": (L_SH, L_EL, L_WR), "right": (R_SH, R_EL, R_WR)}
KP_MIN = 0.3


@dataclass(frozen=True)
class Source:
    key: str  # where it comes from: "<package>:<file>"
    split: str  # "dev" or "test"
    licence: str


# Which images, which split. basketball1/2 are two frames of the same man: same split.
# Checked by eye; other people in these images are too small, turned away, or cut by the
# frame. (opencv-doc's inpaint_result.jpg, a damaged photo, and imgs.jpg's right half, the
# same man from a second camera, are left out.)
SOURCES: tuple[Source, ...] = (
    Source("opencv-doc:examples/data/basketball1.png", "test",
           "Debian opencv-doc (OpenCV sample data, Apache-2.0/BSD-3-Clause)"),
    Source("opencv-doc:examples/data/basketball2.png", "test",
           "Debian opencv-doc (OpenCV sample data, Apache-2.0/BSD-3-Clause)"),
    Source("skimage:astronaut.png", "test",
           "scikit-image data, NASA photograph of Eileen Collins, public domain"),
    Source("opencv-doc:examples/data/messi5.jpg", "dev",
           "Debian opencv-doc (OpenCV sample data, Apache-2.0/BSD-3-Clause)"),
    Source("opencv-doc:opencv4/html/imgs.jpg", "dev",
           "Debian opencv-doc (OpenCV documentation image, Apache-2.0/BSD-3-Clause)"),
    Source("matplotlib:grace_hopper.jpg", "dev",
           "matplotlib sample data, US Navy photograph of Grace Hopper, public domain"),
)
# Joints placed by eye (source pixels) where MoveNet misses or misplaces one that is
# plainly visible: the astronaut's shoulders (it takes the neck ring for one), Grace
# Hopper's head and shoulders (not found at all), Messi's outstretched right arm (wrist
# score 0.15). A person is matched by the nose, or added when none is near.
JOINTS_BY_EYE: dict[str, tuple[dict[int, tuple[float, float]], ...]] = {
    "skimage:astronaut.png": ({NOSE: (222, 125), L_SH: (345, 278), R_SH: (78, 268)},),
    "matplotlib:grace_hopper.jpg": ({NOSE: (262, 255), L_EYE: (308, 196), R_EYE: (218, 198),
                                     L_SH: (430, 405), R_SH: (92, 410)},),
    "opencv-doc:examples/data/messi5.jpg": ({NOSE: (247, 113), R_SH: (205, 131),
                                             R_EL: (157, 122), R_WR: (102, 99)},),
}
# the part of an image used (x0, y0, x1, y1): imgs.jpg is two cameras' views side by side
REGION = {"opencv-doc:opencv4/html/imgs.jpg": (300, 0, 1100, 800)}
SPLIT_SEED = {"dev": 10_000, "test": 20_000}


# where bench/engagement_accuracy.py unpacks the wheels' sample images once
EVAL_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / \
    "classroom-agent/eval"


def matplotlib_sample_dir() -> Path | None:
    """matplotlib's sample_data folder: $MPL_SAMPLE_DATA, the bench's cache, or an
    installed matplotlib."""
    env = os.environ.get("MPL_SAMPLE_DATA")
    if env and Path(env).is_dir():
        return Path(env)
    cached = EVAL_CACHE / "matplotlib/mpl-data/sample_data"
    if (cached / "grace_hopper.jpg").is_file():
        return cached
    # found, not imported: matplotlib is optional and only its sample image is wanted
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        return None
    d = Path(spec.origin).parent / "mpl-data/sample_data"
    return d if d.is_dir() else None


def source_path(src: Source) -> Path | None:
    pkg, name = src.key.split(":", 1)
    base: Path | None
    if pkg == "opencv-doc":
        base = synth.OPENCV_DOC
    elif pkg == "skimage":
        base = synth.skimage_data_dir()
        if base is None and (EVAL_CACHE / "skimage/data" / name).is_file():
            base = EVAL_CACHE / "skimage/data"
    elif pkg == "matplotlib":
        base = matplotlib_sample_dir()
    else:
        raise ValueError(f"unknown package in source {src.key!r}")
    if base is None or not (base / name).is_file():
        return None
    return base / name


# --- bodies -------------------------------------------------------------------------------


@dataclass
class ArmPiece:
    image: np.ndarray  # BGR, body-crop size
    alpha: np.ndarray  # float32 0..1, body-crop size


@dataclass
class Body:
    """One person cut out of a source image; all coordinates in this crop's pixels."""

    source: str
    image: np.ndarray  # BGR with re-posable arms removed
    alpha: np.ndarray  # float32 0..1
    kp: np.ndarray  # (17,3) MoveNet keypoints x, y, score
    head: np.ndarray  # head box x1, y1, x2, y2 (face box, its top raised to the hair)
    arms: dict[str, tuple[ArmPiece, ArmPiece]] = field(default_factory=dict)  # upper, fore
    hand: dict[str, float] = field(default_factory=dict)  # wrist to fingertip length

    @property
    def shoulder_w(self) -> float:
        return float(np.hypot(*(self.kp[L_SH, :2] - self.kp[R_SH, :2])))


def _capsule(mask: np.ndarray, a: np.ndarray, b: np.ndarray, width: float,
             value: int = 255) -> None:
    pa, pb = tuple(round(float(v)) for v in a), tuple(round(float(v)) for v in b)
    cv2.line(mask, pa, pb, value, max(1, round(width)), cv2.LINE_8)
    cv2.circle(mask, pa, max(1, round(width / 2)), value, -1)
    cv2.circle(mask, pb, max(1, round(width / 2)), value, -1)


def _seg_dist(pts: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((pts - a) @ ab) / max(1e-6, float(ab @ ab)), 0, 1)
    return np.asarray(np.hypot(*(pts - (a + t[:, None] * ab)).T))


def _head_box(kp: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """The face box of the face whose centre is nearest the nose (from the face detector),
    else one from the keypoints; its top raised by a quarter for the hair."""
    sw = float(np.hypot(*(kp[L_SH, :2] - kp[R_SH, :2])))
    nose = kp[NOSE, :2]
    best = None
    for f in faces:
        c = np.array([(f[0] + f[2]) / 2, (f[1] + f[3]) / 2])
        if np.hypot(*(c - nose)) < 0.5 * (f[2] - f[0]) + 0.1 * sw and (
                best is None or f[2] - f[0] > best[2] - best[0]):
            best = f
    if best is None:
        side = 0.5 * sw
        best = np.array([nose[0] - side / 2, nose[1] - 0.55 * side,
                         nose[0] + side / 2, nose[1] + 0.45 * side])
    b = np.asarray(best, np.float32).copy()
    b[1] -= 0.25 * (b[3] - b[1])
    return b


def _cut_person(img: np.ndarray, kp: np.ndarray, head: np.ndarray, source: str
                ) -> Body | None:
    sw = float(np.hypot(*(kp[L_SH, :2] - kp[R_SH, :2])))
    sh_y = float(kp[[L_SH, R_SH], 1].mean())
    # waist: the hips when seen, else 1.3 shoulder widths below the shoulders; the
    # scene's desk hides everything below about 1.0
    hips = [kp[i, 1] for i in (L_HIP, R_HIP) if kp[i, 2] >= KP_MIN]
    waist = max(float(np.mean(hips)) if hips else 0.0, sh_y + 1.3 * sw)
    visible = [k for k in range(17) if kp[k, 2] >= KP_MIN and kp[k, 1] <= waist]
    xs = [*kp[visible, 0], head[0], head[2]]
    x0 = int(max(0, min(xs) - 0.45 * sw))
    x1 = int(min(img.shape[1], max(xs) + 0.45 * sw))
    y0 = int(max(0, min(head[1], *kp[visible, 1]) - 0.25 * sw))
    y1 = round(waist)
    pad_bottom = max(0, y1 - img.shape[0])
    crop = img[y0:min(y1, img.shape[0]), x0:x1]
    if pad_bottom:  # the photo ends above the waist (portraits): continue the clothes
        crop = cv2.copyMakeBorder(crop, 0, pad_bottom, 0, 0, cv2.BORDER_REPLICATE)
    crop = np.ascontiguousarray(crop)
    k = kp.copy()
    k[:, 0] -= x0
    k[:, 1] -= y0
    hb = head - np.array([x0, y0, x0, y0], np.float32)
    h, w = crop.shape[:2]
    # GrabCut seeds: the skeleton and the face core are sure foreground; a generous
    # head/torso/arm shape is probable foreground; the rest probable background
    shape = np.zeros((h, w), np.uint8)
    hc = ((hb[0] + hb[2]) / 2, (hb[1] + hb[3]) / 2)
    hr = ((hb[2] - hb[0]) / 2, (hb[3] - hb[1]) / 2)
    cv2.ellipse(shape, (round(hc[0]), round(hc[1])), (round(hr[0] * 1.35), round(hr[1] * 1.2)),
                0, 0, 360, 255, -1)
    ls, rs = k[L_SH, :2], k[R_SH, :2]
    torso = np.array([ls + np.array([np.sign(ls[0] - rs[0]) * 0.2 * sw, -0.1 * sw]),
                      rs + np.array([np.sign(rs[0] - ls[0]) * 0.2 * sw, -0.1 * sw]),
                      [rs[0] + np.sign(rs[0] - ls[0]) * 0.25 * sw, h],
                      [ls[0] + np.sign(ls[0] - rs[0]) * 0.25 * sw, h]], np.int32)
    cv2.fillConvexPoly(shape, torso, 255)
    neck = np.array([(ls + rs) / 2, [hc[0], hc[1]]])
    _capsule(shape, neck[0], neck[1], 0.45 * sw)
    for s_i, e_i, w_i in ARM.values():
        if k[[s_i, e_i], 2].min() >= KP_MIN:
            _capsule(shape, k[s_i, :2], k[e_i, :2], 0.4 * sw)
            if k[w_i, 2] >= KP_MIN:
                _capsule(shape, k[e_i, :2], k[w_i, :2], 0.36 * sw)
                d = k[w_i, :2] - k[e_i, :2]
                _capsule(shape, k[w_i, :2], k[w_i, :2] + 0.45 * d, 0.4 * sw)
    gc = np.where(shape > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    sure = np.zeros((h, w), np.uint8)
    _capsule(sure, neck[0], neck[1], 0.12 * sw)
    _capsule(sure, ls, rs, 0.1 * sw)
    cv2.ellipse(sure, (round(hc[0]), round(hc[1] + 0.1 * hr[1])),
                (max(1, round(hr[0] * 0.55)), max(1, round(hr[1] * 0.55))), 0, 0, 360, 255, -1)
    mid = (ls + rs) / 2
    _capsule(sure, mid, np.array([mid[0], h - 1]), 0.3 * sw)
    gc[sure > 0] = cv2.GC_FGD
    border = np.zeros((h, w), bool)
    border[:, :2] = border[:, -2:] = border[:2, :] = True
    gc[border & (shape == 0)] = cv2.GC_BGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(15)  # GrabCut's k-means draws from OpenCV's global generator
    try:
        cv2.grabCut(crop, gc, (0, 0, 0, 0), bgd, fgd, 4, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return None
    fg = ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)).astype(np.uint8) * 255
    fg &= cv2.dilate(shape, np.ones((3, 3), np.uint8))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(fg)
    if n > 1:  # the largest piece: stray background blobs dropped
        fg = np.where(lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])), 255, 0
                      ).astype(np.uint8)
    # arms that cannot be re-posed stay only where they lie over the torso: an arm held
    # out in the photo (a footballer's) must not become an unlabelled half-raise
    core = np.zeros((h, w), np.uint8)
    cv2.ellipse(core, (round(hc[0]), round(hc[1])), (round(hr[0] * 1.35), round(hr[1] * 1.2)),
                0, 0, 360, 255, -1)
    cv2.fillConvexPoly(core, torso, 255)
    _capsule(core, neck[0], neck[1], 0.45 * sw)
    fg &= core
    alpha = cv2.GaussianBlur(fg.astype(np.float32) / 255.0, (0, 0), max(0.8, sw * 0.012))
    body = Body(source, crop, alpha, k, hb)
    _cut_arms(body)
    return body


def _cut_arms(body: Body) -> None:
    """Cut each fully seen arm into an upper-arm and a forearm piece and take it off the
    body: inpainted where it lay over the torso, transparent elsewhere."""
    k, sw = body.kp, body.shoulder_w
    h, w = body.image.shape[:2]
    ls, rs = k[L_SH, :2], k[R_SH, :2]
    torso = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(torso, np.array([ls, rs, [rs[0], h], [ls[0], h]], np.int32), 255)
    yy, xx = np.mgrid[0:h, 0:w]
    pts = np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float32)
    removed = np.zeros((h, w), np.uint8)
    for side, (s_i, e_i, w_i) in ARM.items():
        if k[[s_i, e_i, w_i], 2].min() < KP_MIN:
            continue
        s, e, wr = k[s_i, :2], k[e_i, :2], k[w_i, :2]
        if np.hypot(*(e - s)) < 0.25 * sw or np.hypot(*(wr - e)) < 0.2 * sw:
            continue  # foreshortened towards the camera: cannot be turned convincingly
        hand_len = 0.4 * float(np.hypot(*(wr - e)))
        tip = wr + (wr - e) / max(1e-6, float(np.hypot(*(wr - e)))) * hand_len
        m = np.zeros((h, w), np.uint8)
        _capsule(m, s, e, 0.34 * sw)
        _capsule(m, e, wr, 0.3 * sw)
        _capsule(m, wr, tip, 0.34 * sw)
        du = _seg_dist(pts, s, e).reshape(h, w)
        df = np.minimum(_seg_dist(pts, e, wr), _seg_dist(pts, wr, tip)).reshape(h, w)
        # the piece: a narrow capsule along the limb, widened to GrabCut's outline where
        # GrabCut kept the arm (it loses forearms that look like the wall, so it cannot
        # be the piece on its own); the capsule carries a thin rim of background
        piece = np.zeros((h, w), np.uint8)
        _capsule(piece, s, e, 0.19 * sw)
        _capsule(piece, e, wr, 0.16 * sw)
        _capsule(piece, wr, tip, 0.2 * sw)
        arm_alpha = np.maximum(piece.astype(np.float32) / 255, body.alpha * (m > 0))
        arm_alpha = cv2.GaussianBlur(arm_alpha, (0, 0), max(0.8, 0.015 * sw))
        upper = arm_alpha * (du <= df)
        fore = arm_alpha * (du > df)
        body.arms[side] = (ArmPiece(body.image.copy(), upper.astype(np.float32)),
                           ArmPiece(body.image.copy(), fore.astype(np.float32)))
        body.hand[side] = hand_len
        removed |= m
    if not body.arms:
        return
    # keep a shoulder cap on the body so the turned arm joins it
    cap = np.zeros((h, w), np.uint8)
    for side in body.arms:
        cv2.circle(cap, tuple(int(v) for v in k[ARM[side][0], :2]), int(0.12 * sw), 255, -1)
    removed &= ~cap
    inside = cv2.dilate(removed & torso & (body.alpha > 0.5).astype(np.uint8) * 255,
                        np.ones((3, 3), np.uint8))
    # fill with the torso's own colour around the gap (a normalised blur over the pixels
    # left): Telea inpainting drew streaks that read as ghost arms
    keep = ((inside == 0) & (body.alpha > 0.5)).astype(np.float32)
    sigma = max(2.0, 0.12 * sw)
    num = cv2.GaussianBlur(body.image.astype(np.float32) * keep[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(keep, (0, 0), sigma)[..., None]
    fill = num / np.maximum(den, 1e-3)
    grain = cv2.GaussianBlur(body.image.astype(np.float32), (0, 0), 1.0) - \
        cv2.GaussianBlur(body.image.astype(np.float32), (0, 0), 3.0)
    fill = np.clip(fill + 0.5 * np.roll(grain, (int(0.3 * sw), 0), (0, 1)), 0, 255)
    sel = inside > 0
    body.image = body.image.copy()
    body.image[sel] = fill[sel].astype(np.uint8)
    outside = (removed > 0) & (torso == 0)
    a = body.alpha.copy()
    a[outside] = 0.0
    body.alpha = cv2.GaussianBlur(a, (0, 0), max(0.8, sw * 0.01))


def _merge_runs(runs: list[People]) -> list[np.ndarray]:
    """One keypoint set per person from several MoveNet runs (different tile sizes see a
    person at different scales): people matched by shoulder midpoint, and each keypoint
    taken from the run that is surest of it."""
    found = [(float(p.scores[i]), p.keypoints[i]) for p in runs for i in range(len(p))
             if p.scores[i] >= 0.2]
    found.sort(key=lambda t: -t[0])
    merged: list[np.ndarray] = []
    for _score, kp in found:
        mid = kp[[L_SH, R_SH], :2].mean(0)
        sw = max(10.0, float(np.hypot(*(kp[L_SH, :2] - kp[R_SH, :2]))))
        for m in merged:
            if np.hypot(*(m[[L_SH, R_SH], :2].mean(0) - mid)) < 0.5 * sw:
                better = kp[:, 2] > m[:, 2]
                m[better] = kp[better]
                break
        else:
            merged.append(kp.copy())
    return merged


def find_bodies(pose_detectors: list[PoseDetector], face_detector: FaceDetector | None,
                img: np.ndarray, source: str,
                min_shoulder_px: float = 45.0) -> list[Body]:
    """Everyone the pose detectors (hands.PoseDetector, several tile sizes) find with a
    head and both shoulders, cut out (see module doc)."""
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    merged = _merge_runs([d.detect(rgb) for d in pose_detectors])
    for fix in JOINTS_BY_EYE.get(source, ()):
        nose = np.array(fix[NOSE], np.float32)
        near = [m for m in merged if m[NOSE, 2] >= 0.2 and np.hypot(*(m[NOSE, :2] - nose)) < 40]
        if near:
            target = near[0]
        else:
            target = np.zeros((17, 3), np.float32)
            merged.append(target)
        for i, xy in fix.items():
            target[i] = (xy[0], xy[1], 1.0)

    faces = face_detector.detect(img).boxes if face_detector is not None else np.zeros((0, 4))
    out = []
    for i, kp in enumerate(merged):
        if kp[[NOSE, L_SH, R_SH], 2].min() < KP_MIN:
            continue
        if np.hypot(*(kp[L_SH, :2] - kp[R_SH, :2])) < min_shoulder_px:
            continue
        # scenes draw shoulders at most ~140 px: cut larger people at that size (faster
        # GrabCut, and the same pixels a scene would keep)
        sw = float(np.hypot(*(kp[L_SH, :2] - kp[R_SH, :2])))
        k = min(1.0, 140.0 / sw)
        head = _head_box(kp, faces)
        src_img = img
        if k < 1.0:
            src_img = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
            kp = kp.copy()
            kp[:, :2] *= k
            head = head * k
        b = _cut_person(src_img, kp, head, f"{source}#{i}")
        if b is not None:
            out.append(b)
    return out


# --- poses --------------------------------------------------------------------------------


def _ik(s: np.ndarray, target: np.ndarray, lu: float, lf: float, bend: np.ndarray
        ) -> tuple[np.ndarray, np.ndarray]:
    """Elbow and wrist for a wrist ``target`` (two-link arm from shoulder ``s``): the
    elbow on the side of ``bend``; a target out of reach is pulled in."""
    d = target - s
    dist = float(np.hypot(*d))
    reach = 0.98 * (lu + lf)
    if dist > reach:
        target = s + d / dist * reach
        dist = reach
    dist = max(dist, abs(lu - lf) + 1e-3)
    a = (lu * lu - lf * lf + dist * dist) / (2 * dist)
    hgt = math.sqrt(max(0.0, lu * lu - a * a))
    u = (target - s) / dist
    n = np.array([-u[1], u[0]])
    if float(n @ bend) < 0:
        n = -n
    elbow = s + a * u + hgt * n
    return elbow, target


def _dir(deg_from_up: float, out: float) -> np.ndarray:
    """A unit vector ``deg_from_up`` degrees from straight up, leaning outward (+) or
    inward (-); ``out`` is +1 when outward is image-right for this arm."""
    r = math.radians(deg_from_up)
    return np.array([out * math.sin(r), -math.cos(r)])


RAISED_POSES = ("straight", "bent", "lazy", "supported")
OTHER_POSES = ("desk", "chin", "scratch", "crossed")
POSES = RAISED_POSES + OTHER_POSES


@dataclass
class Joints:
    """Placed joints of one arm in body-crop pixels."""

    shoulder: np.ndarray
    elbow: np.ndarray
    wrist: np.ndarray


def pose_arms(body: Body, pose: str, side: str, rng: np.random.Generator
              ) -> dict[str, Joints]:
    """Target joints for the re-posable arms of ``body``. ``side`` is the acting arm for
    one-arm poses (the raised arm, the hand at the chin or head); the other arm rests on
    the desk unless the pose uses both."""
    k, sw = body.kp, body.shoulder_w
    hb = body.head
    head_w = hb[2] - hb[0]
    head_c = np.array([(hb[0] + hb[2]) / 2, (hb[1] + hb[3]) / 2])
    out: dict[str, Joints] = {}
    centre_x = float(k[[L_SH, R_SH], 0].mean())

    def lengths(sd: str) -> tuple[float, float]:
        s_i, e_i, w_i = ARM[sd]
        lu = float(np.hypot(*(k[e_i, :2] - k[s_i, :2])))
        lf = float(np.hypot(*(k[w_i, :2] - k[e_i, :2])))
        # a foreshortened source arm is drawn at least this long (it is stretched by
        # the warp only along its own axis, so keep the lengths near the real ones)
        return max(lu, 0.55 * sw), max(lf, 0.5 * sw)

    def outward(sd: str) -> float:
        return 1.0 if k[ARM[sd][0], 0] > centre_x else -1.0

    def rest(sd: str) -> Joints:
        s = k[ARM[sd][0], :2]
        lu, lf = lengths(sd)
        o = outward(sd)
        e = s + lu * _dir(180 - rng.uniform(0, 15), o)  # hanging, a little outward
        wdir = _dir(rng.uniform(95, 130), -o)  # forearm forward-inward onto the desk
        return Joints(s, e, e + lf * 0.8 * wdir)

    sides = [sd for sd in ("left", "right") if sd in body.arms]
    other = "right" if side == "left" else "left"
    if side not in body.arms:
        return {sd: rest(sd) for sd in sides}
    s = k[ARM[side][0], :2]
    lu, lf = lengths(side)
    o = outward(side)
    if pose == "straight":
        a = rng.uniform(0, 25)
        e = s + lu * _dir(a, o)
        w = e + lf * _dir(a + rng.uniform(-10, 5), o)
    elif pose in ("bent", "supported"):
        e = s + lu * _dir(rng.uniform(35, 65), o)
        w = e + lf * _dir(rng.uniform(-15, 10), o)
    elif pose == "lazy":
        e = s + lu * _dir(rng.uniform(72, 88), o)
        w = e + lf * _dir(rng.uniform(-12, 8), o)
        # the hand must not touch the head: at least a quarter head width beside it
        gap = abs(w[0] - head_c[0]) - head_w / 2
        if gap < 0.35 * head_w:
            w = w + np.array([o * (0.35 * head_w - gap), 0.0])
            e = e + np.array([o * (0.35 * head_w - gap), 0.0])
    elif pose == "chin":
        chin = np.array([head_c[0] + o * rng.uniform(-0.1, 0.25) * head_w,
                         hb[3] + rng.uniform(-0.05, 0.1) * (hb[3] - hb[1])])
        e, w = _ik(s, chin, lu, lf, np.array([o, 1.0]))
    elif pose == "scratch":
        spot = np.array([head_c[0] + o * rng.uniform(0.15, 0.45) * head_w,
                         hb[1] + rng.uniform(0.1, 0.35) * (hb[3] - hb[1])])
        e, w = _ik(s, spot, lu, lf, np.array([o, -0.6]))
    elif pose == "crossed":
        for sd in sides:
            ss = k[ARM[sd][0], :2]
            lu2, lf2 = lengths(sd)
            opp = k[ARM["right" if sd == "left" else "left"][0], :2]
            tgt = np.array([opp[0], ss[1] + rng.uniform(0.45, 0.6) * sw])
            e2, w2 = _ik(ss, tgt, lu2, lf2, np.array([outward(sd), 1.0]))
            out[sd] = Joints(ss, e2, w2)
        return out
    elif pose == "desk":
        return {sd: rest(sd) for sd in sides}
    else:
        raise ValueError(f"unknown pose {pose!r}")
    out[side] = Joints(s, e, w)
    if other in body.arms:
        if pose == "supported":
            # the other hand holds the raised arm's elbow
            so = k[ARM[other][0], :2]
            lu2, lf2 = lengths(other)
            e2, w2 = _ik(so, e + np.array([0.0, 0.1 * sw]), lu2, lf2,
                         np.array([outward(other), 1.0]))
            out[other] = Joints(so, e2, w2)
        else:
            out[other] = rest(other)
    return out


def is_raised(j: Joints, head: np.ndarray) -> bool:
    """The label rule (module doc): wrist above shoulder and elbow, and above the head top
    or beside the head with a gap of at least a quarter head width."""
    if not (j.wrist[1] < j.shoulder[1] and j.wrist[1] < j.elbow[1]):
        return False
    if j.wrist[1] < head[1]:
        return True
    head_w = head[2] - head[0]
    gap = max(head[0] - j.wrist[0], j.wrist[0] - head[2])
    return bool(gap >= 0.25 * head_w)


def _rigid(src_a: np.ndarray, src_b: np.ndarray, dst_a: np.ndarray, dst_b: np.ndarray
           ) -> np.ndarray:
    """2x3 rotation+translation taking a->a' with the direction a->b turned to a'->b'
    (no scaling: a limb keeps its width; its length changes only through the target)."""
    ang = math.atan2(*(dst_b - dst_a)[::-1]) - math.atan2(*(src_b - src_a)[::-1])
    c, s = math.cos(ang), math.sin(ang)
    r = np.array([[c, -s], [s, c]])
    t = dst_a - r @ src_a
    return np.hstack([r, t[:, None]])


def render(body: Body, joints: dict[str, Joints], margin: float = 1.6
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The body with its arms at ``joints``, on a canvas with room above and beside for
    raised arms. Returns BGR, alpha and the (x, y) offset of the body crop in it."""
    sw = body.shoulder_w
    h, w = body.image.shape[:2]
    mx, my = int(margin * sw * 0.8), int(margin * sw)
    ch, cw = h + my, w + 2 * mx
    off = np.array([mx, my], np.float64)
    img = np.zeros((ch, cw, 3), np.float32)
    alpha = np.zeros((ch, cw), np.float32)
    img[my:, mx:mx + w] = body.image
    alpha[my:, mx:mx + w] = body.alpha
    img *= alpha[..., None]
    # arms over the body; the arm nearer the image centre first does not matter here
    for side, j in joints.items():
        upper, fore = body.arms[side]
        s_i, e_i, w_i = ARM[side]
        s, e, wr = (body.kp[i, :2].astype(np.float64) + off for i in (s_i, e_i, w_i))
        for piece, m in ((upper, _rigid(s, e, j.shoulder + off, j.elbow + off)),
                         (fore, _rigid(e, wr, j.elbow + off, j.wrist + off))):
            m = m.copy()
            # the pieces are stored in crop pixels: shift them onto the canvas first
            m[:, 2] += m[:, :2] @ off
            pi = cv2.warpAffine(piece.image.astype(np.float32) * piece.alpha[..., None], m,
                                (cw, ch), flags=cv2.INTER_LINEAR)
            pa = cv2.warpAffine(piece.alpha, m, (cw, ch), flags=cv2.INTER_LINEAR)
            img = pi + img * (1 - pa[..., None])
            alpha = pa + alpha * (1 - pa)
    safe = np.maximum(alpha, 1e-6)[..., None]
    return np.clip(img / safe, 0, 255).astype(np.uint8), alpha, off


# --- scenes -------------------------------------------------------------------------------


@dataclass
class SeatedPerson:
    """Ground truth for one placed student (scene pixels). Left/right are the COCO sides
    of the drawn person (after any flip)."""

    source: str
    pose: str  # a POSES name, or "as-is" (arms as in the photo)
    raised: bool
    shoulders: np.ndarray  # (2,2) left, right
    elbows: np.ndarray  # (2,2), NaN where the arm was not re-posed
    wrists: np.ndarray  # (2,2), NaN where the arm was not re-posed
    head: np.ndarray  # head box (face box with the hair)
    row: int
    arm_raised: np.ndarray = field(default_factory=lambda: np.zeros(2, bool))  # per arm
    # the wrist's pixel shows this student's own arm in the final frame (not covered by
    # a student or a desk drawn later, not outside the frame)
    wrist_visible: np.ndarray = field(default_factory=lambda: np.zeros(2, bool))

    @property
    def hand_visible(self) -> bool:
        """Raised, and a raised arm's wrist is visible."""
        return bool(self.raised and (self.arm_raised & self.wrist_visible).any())

    @property
    def anchor(self) -> np.ndarray:
        """Shoulder midpoint: where a detection of this person is matched."""
        return np.asarray(self.shoulders.mean(0))

    @property
    def shoulder_w(self) -> float:
        return float(np.hypot(*(self.shoulders[0] - self.shoulders[1])))


@dataclass
class SeatedScene:
    image: np.ndarray  # BGR 1280x720
    people: list[SeatedPerson]


@dataclass
class SeatedSet:
    split: str
    scenes: list[SeatedScene]
    sources: list[str]  # source images used
    missing: list[str]  # sources of this split not found on this machine
    bodies: list[str]  # bodies cut from them (source#index)

    @property
    def people(self) -> list[SeatedPerson]:
        return [p for s in self.scenes for p in s.people]


_POSE: list[PoseDetector] = []
_FACE: list[FaceDetector] = []


def _detectors() -> tuple[list[PoseDetector], FaceDetector]:
    """A MoveNet pose detector and a RetinaFace detector for cutting bodies (one pass over
    the whole source image; made once)."""
    if not _POSE:
        from models.registry import open_session  # lazy: only when a set is built

        session = open_session("pose")
        _POSE.extend(PoseDetector(session, tile=t, overlap=0.25) for t in (256, 384, 512))
        _FACE.append(FaceDetector(open_session("face_detector"), score_threshold=0.5))
    return _POSE, _FACE[0]


@lru_cache(maxsize=4)
def body_bank(split: str) -> tuple[tuple[Body, ...], tuple[str, ...], tuple[str, ...]]:
    """Bodies of a split, the sources read and the sources missing on this machine."""
    if split not in SPLIT_SEED:
        raise ValueError(f"split must be one of {sorted(SPLIT_SEED)}, not {split!r}")
    pose, face = _detectors()
    bodies: list[Body] = []
    used, missing = [], []
    for src in SOURCES:
        if src.split != split:
            continue
        p = source_path(src)
        img = cv2.imread(str(p)) if p is not None else None
        if img is None:
            missing.append(src.key)
            continue
        if src.key in REGION:
            x0, y0, x1, y1 = REGION[src.key]
            img = np.ascontiguousarray(img[y0:y1, x0:x1])
        used.append(src.key)
        bodies.extend(find_bodies(pose, face, img, src.key))
    return tuple(bodies), tuple(used), tuple(missing)


def _desk(img: np.ndarray, top: int, height: int, sw: float, rng: np.random.Generator
          ) -> None:
    """A row of desks: a lit top surface, then the darker front panel."""
    h, w = img.shape[:2]
    top = max(0, min(h, top))
    bottom = max(top, min(h, top + height))
    if bottom <= top:
        return
    colour = np.array([rng.uniform(60, 150), rng.uniform(80, 160), rng.uniform(100, 190)])
    band = np.empty((bottom - top, w, 3), np.float32)
    band[:] = colour * 0.8
    band[: max(2, int(0.25 * sw))] = colour * 1.15  # the surface catches the light
    band[: max(1, int(0.04 * sw))] = colour * 1.35  # its front edge
    noise = rng.normal(0, 5, (max(1, (bottom - top) // 4), w // 4, 3)).astype(np.float32)
    band += cv2.resize(noise, (w, bottom - top))
    img[top:bottom] = np.clip(band, 0, 255).astype(np.uint8)


def _flip_pts(p: np.ndarray, width: int) -> np.ndarray:
    q = p.copy()
    q[..., 0] = width - 1 - q[..., 0]
    return q


def compose_seated(bodies: list[Body], rng: np.random.Generator, raised_fraction: float = 0.3,
                   hard_fraction: float = 0.4, width: int = 1280, height: int = 720,
                   shoulder_px: tuple[float, float] = (52, 116), jpeg: bool = True,
                   rows: tuple[int, int] = (5, 6), seat_sw: tuple[float, float] = (2.0, 2.5),
                   fill: bool = False) -> SeatedScene:
    """One seated class (module doc). ``raised_fraction`` of the students raise a hand,
    ``hard_fraction`` of the others take a hard negative pose (hand at the chin, on the
    head, arms crossed); the rest rest their arms on the desk. Shoulder widths go from
    ``shoulder_px[0]`` (back row) to ``shoulder_px[1]`` (front), +-10 % per student. With
    ``jpeg`` the frame goes through JPEG at quality 60-90, as a camera stream would.
    ``rows`` (lowest, highest) rows; ``seat_sw`` seat width in shoulder widths; ``fill``
    spreads the rows down to the bottom of the frame."""
    img = synth.room(width, height, rng)
    owner = np.full((height, width), -1, np.int32)  # who is drawn on top at each pixel
    nrows = int(rng.integers(rows[0], rows[1] + 1))
    sws = np.linspace(shoulder_px[0], shoulder_px[1], nrows)
    # shoulder lines, back row first: room above the back row for a raised hand; rows
    # closer than their own height, so the heads of a row hide part of the row behind
    steps = (sws[:-1] + sws[1:]) / 2 * rng.uniform(1.15, 1.45)
    # the longest raised arm of these bodies (shoulder to fingertip) stays in the frame
    reach = max((_arm_reach(b) for b in bodies if b.arms), default=1.5)
    y_back = (reach + 0.05) * sws[0] * 1.1 + rng.uniform(0, 10)
    ys = y_back + np.concatenate([[0.0], np.cumsum(steps)])
    over = ys[-1] + (1.25 if fill else 0.9) * sws[-1] - height
    if over > 0 or (fill and nrows > 1):  # fit the rows to the frame
        ys = y_back + (ys - y_back) * (1 - over / max(1.0, ys[-1] - y_back))
    desk_tops = [int(y + rng.uniform(0.8, 0.95) * sw) for y, sw in zip(ys, sws, strict=True)]
    with_arms = [b for b in bodies if b.arms]
    people: list[SeatedPerson] = []
    for r in range(nrows):
        sw_row, y_row = float(sws[r]), float(ys[r])
        cell = sw_row * rng.uniform(*seat_sw)
        shift = (0.5 if r % 2 else 0.0) * cell + rng.uniform(-0.2, 0.2) * cell
        drawn = []
        for c in range(-1, int(width // cell) + 2):
            cx = (c + 0.5) * cell + shift
            if cx < 0.35 * cell or cx > width - 0.35 * cell or rng.random() < 0.08:
                continue  # off the frame, or an empty seat
            drawn.append(cx + rng.uniform(-0.12, 0.12) * cell)
        for cx in drawn:
            u = rng.random()
            if with_arms and u < raised_fraction:
                pose = RAISED_POSES[int(rng.integers(len(RAISED_POSES)))]
            elif with_arms and u < raised_fraction + (1 - raised_fraction) * hard_fraction:
                pose = OTHER_POSES[1 + int(rng.integers(len(OTHER_POSES) - 1))]
            else:
                pose = "desk"
            pool = with_arms if pose != "desk" else bodies
            body = pool[int(rng.integers(len(pool)))]
            sw = sw_row * rng.uniform(0.9, 1.1)
            person = _place(img, body, pose, cx, y_row + rng.uniform(-0.06, 0.06) * sw_row,
                            sw, r, rng, owner, len(people))
            if person is not None:
                people.append(person)
        # this row's desk: from under its students' chests to the next row's desk top
        bottom = desk_tops[r + 1] if r + 1 < nrows else height
        _desk(img, desk_tops[r], bottom - desk_tops[r], sw_row, rng)
        owner[max(0, desk_tops[r]):max(0, bottom)] = -1
    for i, p in enumerate(people):
        for a in range(2):
            w = p.wrists[a]
            if np.isfinite(w).all() and 0 <= w[0] < width and 0 <= w[1] < height:
                p.wrist_visible[a] = owner[int(w[1]), int(w[0])] == i
    if jpeg:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 91))])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            img = decoded
    return SeatedScene(img, people)


def _arm_reach(body: Body) -> float:
    """Shoulder to fingertip of the longest re-posable arm, in shoulder widths (the
    lengths pose_arms draws with)."""
    best = 0.0
    for side in body.arms:
        s_i, e_i, w_i = ARM[side]
        lu = max(float(np.hypot(*(body.kp[e_i, :2] - body.kp[s_i, :2]))), 0.55 * body.shoulder_w)
        lf = max(float(np.hypot(*(body.kp[w_i, :2] - body.kp[e_i, :2]))), 0.5 * body.shoulder_w)
        best = max(best, (lu + lf + body.hand[side]) / body.shoulder_w)
    return best


def _place(img: np.ndarray, body: Body, pose: str, cx: float, sh_y: float, sw: float,
           row: int, rng: np.random.Generator, owner: np.ndarray | None = None,
           ident: int = 0) -> SeatedPerson | None:
    side = "left" if rng.random() < 0.5 else "right"
    if body.arms and side not in body.arms:
        side = next(iter(body.arms))
    if not body.arms:
        pose = "as-is"
    joints = pose_arms(body, pose, side, rng) if body.arms else {}
    fg, alpha, off = render(body, joints)
    k = body.kp.astype(np.float64)
    # everything to canvas pixels, then to the scene
    scale = sw / body.shoulder_w
    if not np.isfinite(scale) or scale <= 0:
        return None
    fg = cv2.resize(fg, None, fx=scale, fy=scale,
                    interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    alpha = cv2.resize(alpha, (fg.shape[1], fg.shape[0]),
                       interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    flip = bool(rng.random() < 0.5)
    if flip:
        fg, alpha = fg[:, ::-1], alpha[:, ::-1]
    # brightness and colour of this student (lighting, clothes, camera)
    gain = rng.uniform(0.75, 1.2) * rng.uniform(0.92, 1.08, 3)
    fg = np.clip(fg.astype(np.float32) * gain, 0, 255).astype(np.uint8)

    def to_canvas(p: np.ndarray) -> np.ndarray:
        q = (np.asarray(p, np.float64) + off) * scale
        if flip:
            q = _flip_pts(q, fg.shape[1])
        return np.asarray(q)

    # build and posture: a little broader or narrower, leaning up to 6 degrees, about the
    # shoulder midpoint
    c0 = to_canvas(k[[L_SH, R_SH], :2]).mean(0)
    ax, lean = rng.uniform(0.9, 1.1), math.radians(rng.uniform(-6, 6))
    a = np.array([[ax * math.cos(lean), -math.sin(lean)], [ax * math.sin(lean), math.cos(lean)]])
    m = np.hstack([a, (c0 - a @ c0)[:, None]])
    fg = cv2.warpAffine(np.ascontiguousarray(fg), m, (fg.shape[1], fg.shape[0]),
                        flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(np.ascontiguousarray(alpha), m, (alpha.shape[1], alpha.shape[0]),
                           flags=cv2.INTER_LINEAR)

    def to_scene(p: np.ndarray) -> np.ndarray:
        q = to_canvas(p)
        return np.asarray(q @ a.T + m[:, 2])

    sh = to_scene(k[[L_SH, R_SH], :2])
    mid = sh.mean(0)
    x0, y0 = round(cx - mid[0]), round(sh_y - mid[1])
    shift = np.array([x0, y0], np.float64)
    synth.blend(img, fg, alpha, x0, y0)
    if owner is not None:
        _paste_owner(owner, alpha, x0, y0, ident)
    hb = body.head.astype(np.float64)
    corners = to_scene(np.array([[hb[0], hb[1]], [hb[2], hb[3]]])) + shift
    head = np.array([corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(),
                     corners[:, 1].max()])
    elbows = np.full((2, 2), np.nan)
    wrists = np.full((2, 2), np.nan)
    arm_raised = np.zeros(2, bool)
    for side_name, j in joints.items():
        i = 0 if side_name == "left" else 1
        e = to_scene(j.elbow) + shift
        w = to_scene(j.wrist) + shift
        s = to_scene(j.shoulder) + shift
        elbows[i], wrists[i] = e, w
        arm_raised[i] = is_raised(Joints(s, e, w), head)
        # a hand below the desk top is hidden, never raised: nothing to do
    shoulders = sh + shift
    if flip:  # the drawn person's left is now the photo's right
        shoulders, elbows, wrists = shoulders[::-1], elbows[::-1], wrists[::-1]
        arm_raised = arm_raised[::-1].copy()
    return SeatedPerson(body.source, pose, bool(arm_raised.any()), shoulders, elbows, wrists,
                        head, row, arm_raised)


def _paste_owner(owner: np.ndarray, alpha: np.ndarray, x0: int, y0: int, ident: int) -> None:
    h, w = owner.shape
    fh, fw = alpha.shape
    ax0, ay0, ax1, ay1 = max(0, x0), max(0, y0), min(w, x0 + fw), min(h, y0 + fh)
    if ax1 <= ax0 or ay1 <= ay0:
        return
    a = alpha[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0]
    owner[ay0:ay1, ax0:ax1][a > 0.5] = ident


LAYOUTS: dict[str, dict[str, Any]] = {
    # a class of 30-50 filling the frame, each row partly behind the one in front
    "class": {},
    # diagnosis only: two or three rows of large students with room between them (no
    # crowding, little occlusion): separates "the model cannot see the arm" from "too
    # many people in a tile"
    "sparse": {"rows": (2, 3), "seat_sw": (3.2, 3.8), "shoulder_px": (70.0, 110.0),
               "fill": True},
}


def seated_scenes(split: str, n: int = 20, seed: int = 0, raised_fraction: float = 0.3,
                  layout: str = "class") -> SeatedSet:
    """``n`` seated-class scenes of ``split`` ("dev" or "test") with labels; the same
    arguments give the same scenes. Tune on "dev", report on "test". ``layout``: a key
    of ``LAYOUTS`` ("class" is the set; "sparse" a diagnosis)."""
    bodies, used, missing = body_bank(split)
    if not bodies:
        return SeatedSet(split, [], list(used), list(missing), [])
    rng = np.random.default_rng(SPLIT_SEED[split] + seed)
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {sorted(LAYOUTS)}, not {layout!r}")
    if layout != "class":
        rng = np.random.default_rng([SPLIT_SEED[split] + seed, sorted(LAYOUTS).index(layout)])
    scenes = [compose_seated(list(bodies), rng, raised_fraction, **LAYOUTS[layout])
              for _ in range(n)]
    return SeatedSet(split, scenes, list(used), list(missing), [b.source for b in bodies])


# --- scoring ------------------------------------------------------------------------------


Detect = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def match_people(people: list[SeatedPerson], anchors: np.ndarray, reach: float = 0.6
                 ) -> np.ndarray:
    """For each placed person, the index of the detection (anchor = its shoulder
    midpoint) nearest to their shoulder midpoint within ``reach`` shoulder widths, or -1;
    greedy by distance, each detection used once."""
    out = np.full(len(people), -1)
    if not len(people) or not len(anchors):
        return out
    gt = np.array([p.anchor for p in people])
    d = np.hypot(gt[:, None, 0] - anchors[None, :, 0], gt[:, None, 1] - anchors[None, :, 1])
    lim = np.array([reach * p.shoulder_w for p in people])[:, None]
    d = np.where(d <= lim, d, np.inf)
    used: set[int] = set()
    for flat in np.argsort(d, axis=None):
        i, j = divmod(int(flat), d.shape[1])
        if not np.isfinite(d[i, j]):
            break
        if out[i] >= 0 or j in used:
            continue
        out[i] = j
        used.add(j)
    return out


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k/n (small counts: say how sure)."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (round(max(0.0, c - h), 3), round(min(1.0, c + h), 3))


def score(sets: Iterable[SeatedScene], detect: Detect) -> dict[str, Any]:
    """Per-person recall and false raises of ``detect`` (BGR frame -> (anchors (P,2)
    shoulder midpoints, raised (P,) bools)) over scenes. A raised student counts as found
    when the detection matched to them is flagged; a not-raised student is a false raise
    when theirs is. Flagged detections matched to nobody are counted apart (``stray``)."""
    tp = fn = fp = tn = stray = missed = scenes = 0
    vis_tp = vis_n = 0
    sws: list[float] = []
    heads: list[float] = []
    by_pose: dict[str, list[int]] = {}
    by_row: dict[int, list[list[int]]] = {}  # row -> [[flagged] of raised, of not raised]
    for sc in sets:
        scenes += 1
        anchors, flags = detect(sc.image)
        anchors = np.asarray(anchors, np.float64).reshape(-1, 2)
        flags = np.asarray(flags, bool).reshape(-1)
        m = match_people(sc.people, anchors)
        for p, j in zip(sc.people, m, strict=True):
            sws.append(p.shoulder_w)
            heads.append(float(p.head[2] - p.head[0]))
            flagged = bool(j >= 0 and flags[j])
            missed += int(j < 0)
            if p.raised:
                tp += flagged
                fn += not flagged
                if p.hand_visible:
                    vis_n += 1
                    vis_tp += flagged
            else:
                fp += flagged
                tn += not flagged
            by_pose.setdefault(p.pose, []).append(int(flagged))
            by_row.setdefault(p.row, [[], []])[0 if p.raised else 1].append(int(flagged))
        matched = set(int(j) for j in m if j >= 0)
        stray += sum(1 for j in np.nonzero(flags)[0] if int(j) not in matched)
    pos, neg = tp + fn, fp + tn
    return {
        "scenes": scenes, "raised_people": pos, "not_raised_people": neg,
        "recall": round(tp / max(1, pos), 3), "recall_ci95": wilson(tp, pos), "found": tp,
        "false_raise_rate": round(fp / max(1, neg), 4),
        "false_raise_rate_ci95": wilson(fp, neg), "false_raises": fp,
        "stray_raised_detections": stray,
        "raised_with_hand_visible": vis_n,
        "recall_hand_visible": round(vis_tp / max(1, vis_n), 3),
        "shoulder_px_min_median_max": [round(float(np.percentile(sws, q))) for q in (0, 50, 100)]
        if sws else [],
        "face_px_min_median_max": [round(float(np.percentile(heads, q))) for q in (0, 50, 100)]
        if heads else [],
        "false_raise_rate_with_stray": round((fp + stray) / max(1, neg), 4),
        "people_without_detection": missed,
        "flagged_rate_by_pose": {k: {"n": len(v), "flagged": round(sum(v) / len(v), 3)}
                                 for k, v in sorted(by_pose.items())},
        "by_row_back_first": {
            k: {"raised": len(v[0]), "recall": round(sum(v[0]) / max(1, len(v[0])), 3),
                "not_raised": len(v[1]),
                "false_raise_rate": round(sum(v[1]) / max(1, len(v[1])), 4)}
            for k, v in sorted(by_row.items())},
    }


def pipeline_detect(analyzer: Analyzer) -> Detect:
    """``score``'s detector for an ``Analyzer`` (pipeline.py): its body model and the
    per-frame raised flags (``hands.raised_hands``), exactly as ``Analyzer.analyze``
    computes ``hands_up``; the frame is scaled to ``detect_width`` first as there."""
    def detect(bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = analyzer.settings.detect_width
        scale = 1.0
        if w and bgr.shape[1] != w:
            scale = w / bgr.shape[1]
            bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA
                             if scale < 1 else cv2.INTER_LINEAR)
        if analyzer.bodies is None:
            raise ValueError("the analyser runs no body model (hand_raise = false)")
        people = analyzer.bodies.detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        anchors = people.keypoints[:, [L_SHOULDER, R_SHOULDER], :2].mean(1) / scale
        return anchors, raised_hands(people)

    return detect


def draw_labels(scene: SeatedScene, detect: Detect | None = None) -> np.ndarray:
    """A copy of the scene with the ground truth drawn (red dot: raised, green: not, with
    the pose name) and, given ``detect``, its flagged detections (yellow rings)."""
    img = scene.image.copy()
    for p in scene.people:
        c = (0, 0, 255) if p.raised else (0, 190, 0)
        ax, ay = int(p.anchor[0]), int(p.anchor[1])
        cv2.circle(img, (ax, ay), 4, c, -1)
        cv2.putText(img, p.pose, (ax - 14, ay + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.35, c, 1)
        for w in p.wrists:
            if np.isfinite(w).all():
                cv2.circle(img, (int(w[0]), int(w[1])), 3, c, 1)
    if detect is not None:
        anchors, flags = detect(scene.image)
        for pt, f in zip(np.asarray(anchors).reshape(-1, 2), np.asarray(flags), strict=True):
            if f:
                cv2.circle(img, (int(pt[0]), int(pt[1])), 10, (0, 230, 255), 2)
    return img
