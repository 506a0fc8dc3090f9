"""Accuracy of the engagement pipeline on sets with exact ground truth (docs/ENGAGEMENT.md).

    .venv/bin/python bench/engagement_accuracy.py [--quick] [--json out.json]

1. Head count: 1280x720 scenes of 20-60 "students" whose faces (24-60 px) are real faces
   from package images (Debian opencv-doc; scikit-image's astronaut and lfw_subset if
   found) composited on a plain room (agent/engagement/synth.py).
2. Head-up: the same kind of scenes, each face re-posed by rotating its textured FaceMesh
   mesh: label "up" = pitch -5..+10 deg, "down" = pitch -60..-35 deg, yaw -25..+25 deg.
3. Hand raise: people in opencv-doc's vtest.avi / basketball / messi images; for each
   person whose arm keypoints are visible, a copy with that arm cut out, inpainted and
   pasted back turned up about the shoulder. Originals are the negatives.

scikit-image is not a dependency: its data folder is read from an installed skimage, from
$SKIMAGE_DATA, or from a wheel fetched once with `pip download --no-deps scikit-image`
into ~/.cache/classroom-agent/eval (pass --no-skimage to use opencv-doc faces only).
Nothing here is written except that cache and --json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.engagement import synth
from agent.engagement.hands import raised_hands
from agent.engagement.headpose import is_head_up
from agent.engagement.pipeline import Analyzer, AnalyzerSettings
from models.registry import open_session

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "classroom-agent/eval"


def ensure_skimage_data() -> Path | None:
    if synth.skimage_data_dir():
        return synth.skimage_data_dir()
    target = CACHE / "skimage/data"
    if not (target / "lfw_subset.npy").is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d",
                            str(CACHE), "scikit-image"], check=True)
        except (subprocess.CalledProcessError, OSError) as e:
            print(f"# scikit-image wheel not available ({e}); opencv-doc faces only")
            return None
        wheel = sorted(CACHE.glob("scikit_image-*.whl"))[-1]
        with zipfile.ZipFile(wheel) as z:
            for name in ("skimage/data/astronaut.png", "skimage/data/lfw_subset.npy"):
                z.extract(name, CACHE)
    os.environ["SKIMAGE_DATA"] = str(target)
    return target


def match(gt: np.ndarray, det: np.ndarray, thr: float = 0.3) -> np.ndarray:
    """For each true box, the index of the best detection with IoU >= thr, or -1."""
    out = np.full(len(gt), -1)
    used: set[int] = set()
    for i, g in enumerate(gt):
        if len(det) == 0:
            break
        ix1 = np.maximum(g[0], det[:, 0])
        iy1 = np.maximum(g[1], det[:, 1])
        ix2 = np.minimum(g[2], det[:, 2])
        iy2 = np.minimum(g[3], det[:, 3])
        inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
        union = (g[2] - g[0]) * (g[3] - g[1]) + (det[:, 2] - det[:, 0]) * \
            (det[:, 3] - det[:, 1]) - inter
        iou = inter / np.maximum(union, 1e-6)
        for j in np.argsort(-iou):
            if iou[j] < thr:
                break
            if j not in used:
                used.add(int(j))
                out[i] = j
                break
    return out


NON_FACE_IMAGES = ("building.jpg", "fruits.jpg", "baboon.jpg", "home.jpg", "board.jpg",
                   "apple.jpg", "orange.jpg", "box_in_scene.png", "smarties.png",
                   "butterfly.jpg", "graf1.png", "aero1.jpg", "stuff.jpg", "starry_night.jpg",
                   "sudoku.png", "pic1.png", "LinuxLogo.jpg", "left01.jpg", "chicky_512.png",
                   "HappyFish.jpg", "squirrel_cls.jpg", "notes.png")


def false_faces(an: Analyzer) -> dict:
    """Detections on opencv-doc images that show no face (clutter, animals, text)."""
    n = hits = 0
    for name in NON_FACE_IMAGES:
        img = cv2.imread(str(synth.OPENCV_DOC / "examples/data" / name))
        if img is None:
            continue
        n += 1
        hits += len(an.faces.detect(img))
    return {"images": n, "false_faces": hits, "per_image": round(hits / max(1, n), 2)}


def head_count(an: Analyzer, bank, seeds: int, sizes=(24, 60)) -> dict:
    rows = []
    for n in (20, 30, 40, 50, 60):
        errs = []
        for seed in range(seeds):
            scene = synth.compose(bank, n, sizes, np.random.default_rng(1000 * n + seed))
            img, k = scene.image, 1.0
            if an.settings.detect_width and img.shape[1] != an.settings.detect_width:
                k = an.settings.detect_width / img.shape[1]
                img = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_LINEAR)
            found = an.faces.detect(img)
            m = match(scene.boxes, found.boxes / k)
            errs.append((len(found), int((m >= 0).sum())))
        counted = [c for c, _ in errs]
        mae = statistics.fmean(abs(c - n) for c in counted)
        rows.append({"true": n, "mean_counted": round(statistics.fmean(counted), 2),
                     "mae": round(mae, 2), "mae_pct": round(100 * mae / n, 1),
                     "recall": round(statistics.fmean(h / n for _, h in errs), 3),
                     "false_pos": round(statistics.fmean(c - h for c, h in errs), 2)})
    big = [r for r in rows if r["true"] >= 30]
    return {"sizes_px": list(sizes), "scenes_per_count": seeds, "rows": rows,
            "mae_pct_30_60": round(statistics.fmean(r["mae_pct"] for r in big), 1)}


def head_up(an: Analyzer, bank, renderer, seeds: int) -> dict:
    s = an.settings
    by_size: dict[str, list[int]] = {}
    conf = {"up_up": 0, "up_down": 0, "down_up": 0, "down_down": 0}
    missed = {"up": 0, "down": 0}
    total = {"up": 0, "down": 0}
    for seed in range(seeds):
        scene = synth.compose(bank, 30, (24, 60), np.random.default_rng(seed + 77),
                              down_fraction=0.5, pose_renderer=renderer)
        found = an.faces.detect(scene.image)
        rgb = cv2.cvtColor(scene.image, cv2.COLOR_BGR2RGB)
        poses = an.pose.estimate(rgb, found.boxes, found.landmarks)
        m = match(scene.boxes, found.boxes)
        for i, j in enumerate(m):
            label = "down" if scene.down[i] else "up"
            total[label] += 1
            if j < 0:
                missed[label] += 1
                continue
            p = poses[j]
            p.pitch += s.pitch_offset_deg
            pred = "up" if is_head_up(p, s.pitch_down_deg, s.max_yaw_deg) else "down"
            conf[f"{label}_{pred}"] += 1
            side = scene.boxes[i, 2] - scene.boxes[i, 0]
            bucket = "24-35" if side < 35 else "35-48" if side < 48 else "48-60"
            by_size.setdefault(bucket, []).append(int(pred == label))
    n = sum(conf.values())
    return {
        "faces": sum(total.values()), "detected": n,
        "accuracy": round((conf["up_up"] + conf["down_down"]) / max(1, n), 3),
        "confusion": conf, "not_detected": missed, "labelled": total,
        "accuracy_by_face_px": {k: round(statistics.fmean(v), 3)
                                for k, v in sorted(by_size.items())},
        "pitch_down_deg": s.pitch_down_deg,
    }


def person_sources(quick: bool) -> list[tuple[str, np.ndarray]]:
    import av

    data = synth.OPENCV_DOC / "examples/data"
    out = []
    for name in ("basketball1.png", "basketball2.png", "messi5.jpg"):
        img = cv2.imread(str(data / name))
        if img is not None:
            out.append((name, cv2.cvtColor(img, cv2.COLOR_BGR2RGB)))
    vt = data / "vtest.avi"
    if vt.is_file():
        with av.open(str(vt)) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i % (160 if quick else 40) == 0:
                    out.append((f"vtest.avi#{i}", f.to_ndarray(format="rgb24")))
    return out


def hand_raise(an: Analyzer, quick: bool) -> dict:
    det = an.bodies
    tp = fn = fp_mod = 0
    neg_people = neg_fp = 0
    images = 0
    for _name, rgb in person_sources(quick):
        base = det.detect(rgb)
        r0 = raised_hands(base)
        neg_people += len(base)
        neg_fp += int(r0.sum())
        for k in range(len(base)):
            for side in ("left", "right"):
                mod = synth.raise_arm(rgb, base.keypoints[k], side)
                if mod is None:
                    continue
                images += 1
                people = det.detect(mod)
                r = raised_hands(people)
                sh = base.keypoints[k, 5:7, :2].mean(0)
                if len(people):
                    d = np.hypot(*(people.keypoints[:, 5:7, :2].mean(1) - sh).T)
                    j = int(np.argmin(d))
                    hit = d[j] < 0.75 * max(20.0, float(np.ptp(base.keypoints[k, 5:7, 0])) + 20)
                else:
                    hit, j = False, -1
                if hit and r[j]:
                    tp += 1
                else:
                    fn += 1
                fp_mod += int(r.sum()) - int(hit and r[j])
                break  # one arm per person is enough
    return {"raised_images": images, "recall": round(tp / max(1, tp + fn), 3),
            "tp": tp, "fn": fn,
            "false_pos_other_people_in_raised_images": fp_mod,
            "negatives_people": neg_people, "negatives_flagged": neg_fp,
            "false_positive_rate": round(neg_fp / max(1, neg_people), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer scenes (about a minute)")
    ap.add_argument("--no-skimage", action="store_true")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    if not synth.opencv_doc_images():
        print("needs Debian opencv-doc (/usr/share/doc/opencv-doc)", file=sys.stderr)
        return 2
    if not args.no_skimage:
        ensure_skimage_data()
    an = Analyzer(AnalyzerSettings(intra_threads=2, max_pose_faces=0))
    bank = synth.face_bank(an.faces, lfw=not args.no_skimage)
    renderer = synth.PoseRenderer(open_session("face_landmarks"))
    seeds = 2 if args.quick else 6
    wide = Analyzer(AnalyzerSettings(intra_threads=2, detect_width=1920, head_pose=False,
                                     hand_raise=False))
    res = {"face_sources": len(bank),
           "sources": sorted({b.source.split("[")[0] for b in bank}),
           "face_score": an.settings.face_score,
           "head_count": head_count(an, bank, seeds),
           "head_count_30_48px": head_count(an, bank, seeds, (30, 48)),
           "head_count_detect_width_1920": head_count(wide, bank, seeds),
           "false_faces_on_non_face_images": false_faces(an),
           "head_up": head_up(an, bank, renderer, seeds),
           "hand_raise": hand_raise(an, args.quick)}
    print(json.dumps(res, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
