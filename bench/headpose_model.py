"""The 3-D face that head pose is solved against, measured from FaceMesh itself.

    .venv/bin/python bench/headpose_model.py [--fit lfw|opencv]

cv2.solvePnP needs the 3-D positions of the landmarks it is given. A generic
anthropometric face (the 6 points used before) does not match where FaceMesh puts its
vertices: on real portrait photos of people facing the camera it read a median pitch of
-9 to -11 deg, and 11 % of those faces as bowed past -20 deg. This script measures the mean
FaceMesh shape (468 vertices, x/y/z in the crop's pixels, nose tip at the origin, scaled
to 86.6 mm between the outer eye corners) over one group of real faces, then reads the
pitch of every face of the OTHER group with the old and the new model: the held-out
figures are the check (docs/ENGAGEMENT.md "Head pose"). Faces: the 100 lfw_subset crops
of scikit-image and the 41 opencv-doc/astronaut faces of synth.face_bank, each pasted
unmodified at 60 px on a grey 1280x720 frame. ``--fit lfw`` (default) prints the points
agent/engagement/headpose.py ships.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from agent.engagement import headpose, synth
from agent.engagement.pipeline import Analyzer, AnalyzerSettings

# FaceMesh vertices on the rigid part of the face (chosen by anatomy before measuring):
# eye corners, nose bridge to tip, forehead, cheekbones/temples, chin, mouth corners
RIGID = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 10, 151, 9, 234, 454, 127, 356,
         152, 199, 61, 291)
OLD_IDX = (1, 152, 33, 263, 61, 291)
OLD_MODEL = np.array([[0.0, 0.0, 0.0], [0.0, 63.6, 12.5], [-43.3, -32.7, 26.0],
                      [43.3, -32.7, 26.0], [-28.9, 28.9, 24.1], [28.9, 28.9, 24.1]])


def meshes(an: Analyzer, bank: list) -> list[tuple[str, np.ndarray, float]]:
    out = []
    for b in bank:
        canvas = np.full((720, 1280, 3), 128, np.uint8)
        synth.paste(canvas, b.image, 640, 360, 60 * synth.MARGIN)
        f = an.faces.detect(canvas)
        if not len(f):
            continue
        j = int(np.argmax(f.scores))
        rgb = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)
        crops, _rolls, sides = an.pose.crops(rgb, f.boxes[j:j + 1], f.landmarks[j:j + 1])
        mesh, _flag = an.pose.session.run(None, {an.pose.input_name: crops[0][None]})
        out.append((b.source, mesh.reshape(-1, 3).astype(np.float64), sides[0]))
    return out


def mean_shape(ms: list[np.ndarray]) -> np.ndarray:
    norm = []
    for m in ms:
        p = m - m[1]  # nose tip at the origin
        norm.append(p * 86.6 / np.linalg.norm(p[33, :2] - p[263, :2]))
    return np.mean(norm, axis=0)


def pitch(mesh: np.ndarray, side: float, idx, model: np.ndarray) -> float:
    f = 1280 * headpose.CROP / max(side, 1.0)
    cam = np.array([[f, 0, headpose.CROP / 2], [0, f, headpose.CROP / 2], [0, 0, 1]])
    _ok, rvec, _t = cv2.solvePnP(model, mesh[list(idx), :2], cam, None,
                                 flags=cv2.SOLVEPNP_ITERATIVE)
    r, _ = cv2.Rodrigues(rvec)
    fwd = r @ np.array([0.0, 0.0, -1.0])
    return -math.degrees(math.atan2(fwd[1], -fwd[2]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", choices=("lfw", "opencv"), default="lfw")
    args = ap.parse_args()
    import engagement_accuracy

    engagement_accuracy.ensure_skimage_data()
    an = Analyzer(AnalyzerSettings(intra_threads=2, hand_raise=False))
    all_ms = meshes(an, synth.face_bank(an.faces, lfw=True))
    fit = [m for s, m, _ in all_ms if s.startswith("lfw") == (args.fit == "lfw")]
    model = mean_shape(fit)
    for group, held in (("held out", True), ("fitted on", False)):
        rows = [(m, side) for s, m, side in all_ms
                if s.startswith("lfw") != (args.fit == "lfw") if held] if held else \
            [(m, side) for s, m, side in all_ms if s.startswith("lfw") == (args.fit == "lfw")]
        for name, idx, pts in (("old 6-point generic face", OLD_IDX, OLD_MODEL),
                               ("FaceMesh mean shape, 22 rigid points", RIGID,
                                model[list(RIGID)])):
            ps = np.array([pitch(m, side, idx, pts) for m, side in rows])
            print(f"{group:9s} faces ({len(ps):3d}), {name:38s}: pitch median "
                  f"{np.median(ps):6.1f} mean {ps.mean():6.1f} sd {ps.std():5.1f}; "
                  f"read below -20 deg: {(ps < -20).sum()}")
    print(f"# fitted on {len(fit)} {args.fit} faces: (vertex, x, y, z) in mm")
    for v in RIGID:
        x, y, z = model[v]
        print(f"    ({v}, {x:.1f}, {y:.1f}, {z:.1f}),")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
