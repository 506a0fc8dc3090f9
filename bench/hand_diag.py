"""Diagnosis of the top-down hand raise on the seated set (dev split): where a raised
student is lost (no crop, wrist below the shoulder, low keypoint score, the ownership
checks), by pose, row, layout, JPEG. Scratch tool for tuning; tune on dev only.

.venv/bin/python bench/hand_diag.py [--split dev] [--layout class|sparse] [--no-jpeg]
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engagement_accuracy import (
    SEATED_SHOULDER_BELOW_FACE,
    ensure_matplotlib_sample_data,
    ensure_skimage_data,
    tuning_settings,
)

from agent.engagement import seated
from agent.engagement.hands import crop_squares, raised_top_down
from agent.engagement.pipeline import Analyzer, AnalyzerSettings

# the scenes and the people the pipeline finds in them (faces do not depend on the hand
# settings): computed once
CACHE = Path("/tmp/hand_diag_cache")


def scenes_and_anchors(an: Analyzer, split: str, layout: str, jpeg: bool, n: int):
    CACHE.mkdir(exist_ok=True)
    f = CACHE / f"{split}-{layout}-{int(jpeg)}-{n}.pkl"
    if f.exists():
        return pickle.loads(f.read_bytes())
    if jpeg:
        s = seated.seated_scenes(split, n=n, seed=0, layout=layout)
    else:
        orig = seated.compose_seated
        seated.compose_seated = lambda *a, **k: orig(*a, **{**k, "jpeg": False})
        try:
            s = seated.seated_scenes(split, n=n, seed=0, layout=layout)
        finally:
            seated.compose_seated = orig
    out = []
    for sc in s.scenes:
        an.reset()
        r = an.analyze(sc.image, hands=True, details=True, now=0.0)
        heads = np.array([b["head"] for b in r.details["bodies"]], np.float32).reshape(-1, 3)
        out.append((sc, heads))
    f.write_bytes(pickle.dumps(out))
    return out


def evaluate(an: Analyzer, data, crop=None, rule=raised_top_down, kp_score=None,
             collect=False):
    """Recall / false raises of the top-down step on cached (scene, heads) pairs; crop
    and keypoint score default to the analyser's settings."""
    st = an.settings
    crop = crop or (st.hand_crop_above, st.hand_crop_below, st.hand_crop_sideways)
    kp_score = st.hand_kp_score if kp_score is None else kp_score
    rows = []
    for sc, heads in data:
        rgb = cv2.cvtColor(sc.image, cv2.COLOR_BGR2RGB)
        crops = crop_squares(heads, *crop)
        kp = an.hand_pose.estimate(rgb, crops) if len(heads) else \
            np.zeros((0, 17, 3), np.float32)
        flags = rule(kp, heads, kp_score) if len(heads) else np.zeros(0, bool)
        anchors = heads[:, :2] + np.outer(heads[:, 2], (0.0, SEATED_SHOULDER_BELOW_FACE))
        m = seated.match_people(sc.people, anchors)
        for p, j in zip(sc.people, m, strict=True):
            rows.append((sc, p, int(j), heads[j] if j >= 0 else None,
                         kp[j] if j >= 0 else None, crops[j] if j >= 0 else None,
                         bool(j >= 0 and flags[j])))
    pos = [r for r in rows if r[1].raised]
    neg = [r for r in rows if not r[1].raised]
    res = {"recall": round(sum(r[6] for r in pos) / max(1, len(pos)), 3),
           "false": round(sum(r[6] for r in neg) / max(1, len(neg)), 4),
           "n_pos": len(pos), "n_neg": len(neg)}
    return (res, rows) if collect else res


def why(p, head, kp, thr=0.35):
    """The first check of ``hands.raised_top_down`` that fails for the labelled raised
    arm (COCO side as labelled)."""
    if head is None:
        return "no_crop"
    x, y, s = head
    reasons = []
    for a in np.nonzero(p.arm_raised)[0]:
        wi, ei, si = (9, 7, 5) if a == 0 else (10, 8, 6)
        w, e, sh = kp[wi], kp[ei], kp[si]
        nose = kp[0]
        checks = (
            ("wrist_score_low", w[2] >= thr),
            ("wrist_below_shoulder", w[1] < sh[1]),
            ("nose_off_face", nose[2] < thr or np.hypot(nose[0] - x, nose[1] - y) <= s),
            ("wrist_far_sideways", abs(w[0] - x) <= 3 * s),
            ("shoulder_score_low", sh[2] >= thr),
            ("shoulder_misplaced", abs(sh[0] - x) <= 2 * s and y <= sh[1] <= y + 2.5 * s),
            ("elbow_above_wrist", e[2] < thr or w[1] < e[1]),
            ("beside_head_without_elbow_or_on_face",
             w[1] < y - 0.75 * s or (abs(w[0] - x) >= 0.75 * s and e[2] >= thr)),
            ("too_high", sh[1] - w[1] <= 4 * s),
        )
        reasons.append(next((name for name, ok in checks if not ok), "other_side"))
    return reasons[0] if reasons else "?"


def draw(sc, p, head, kp, crop, path):
    x0, y0, side = crop
    n = 384
    k = n / side
    m = np.array([[k, 0, -k * x0], [0, k, -k * y0]], np.float32)
    img = cv2.warpAffine(sc.image, m, (n, n))
    pts = kp[:, :2] * k + np.array([-k * x0, -k * y0])
    for a, b in ((5, 7), (7, 9), (6, 8), (8, 10), (5, 6), (0, 5), (0, 6)):
        cv2.line(img, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]),
                 (0, 255, 255), 1)
    for i, (q, sc_) in enumerate(zip(pts, kp[:, 2], strict=True)):
        c = (0, 255, 0) if sc_ >= 0.35 else (0, 0, 255)
        cv2.circle(img, (int(q[0]), int(q[1])), 3, c, -1)
        if i in (9, 10):
            cv2.putText(img, f"{sc_:.2f}", (int(q[0]) + 4, int(q[1])),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, c, 1)
    for a in range(2):  # true joints in magenta
        for q in (p.shoulders[a], p.elbows[a], p.wrists[a]):
            if np.isfinite(q).all():
                qq = q * k + np.array([-k * x0, -k * y0])
                cv2.drawMarker(img, (int(qq[0]), int(qq[1])), (255, 0, 255),
                               cv2.MARKER_CROSS, 8, 1)
    cv2.imwrite(str(path), img)


def breakdown(rows, thr=0.35):
    pos = [r for r in rows if r[1].raised]
    out = {}
    by_pose = defaultdict(list)
    by_row = defaultdict(list)
    reasons = Counter()
    for _sc, p, _j, head, kp, _crop, f in pos:
        by_pose[p.pose].append(f)
        by_row[p.row].append(f)
        if not f:
            reasons[why(p, head, kp, thr)] += 1
    out["by_pose"] = {k: f"{sum(v)}/{len(v)}" for k, v in sorted(by_pose.items())}
    out["by_row"] = {k: f"{sum(v)}/{len(v)}" for k, v in sorted(by_row.items())}
    out["fail_reasons"] = dict(reasons.most_common())
    neg = [r for r in rows if not r[1].raised]
    fp = Counter(r[1].pose for r in neg if r[6])
    out["false_by_pose"] = dict(fp)
    out["sizes_found_vs_missed"] = {
        "found_median_sw": float(np.median([r[1].shoulder_w for r in pos if r[6]] or [0])),
        "missed_median_sw": float(np.median([r[1].shoulder_w for r in pos if not r[6]] or [0]))}
    out["hand_visible"] = f"{sum(r[6] for r in pos if r[1].hand_visible)}/" \
        f"{sum(1 for r in pos if r[1].hand_visible)}"
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="dev")
    ap.add_argument("--layout", default="class")
    ap.add_argument("--no-jpeg", action="store_true")
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--draw", type=int, default=0, help="save this many failing crops")
    ap.add_argument("--set", action="append", default=[],
                    help="an AnalyzerSettings field, e.g. hand_crop_above=3")
    a = ap.parse_args()
    ensure_skimage_data()
    ensure_matplotlib_sample_data()
    an = Analyzer(AnalyzerSettings(**tuning_settings(a.set)))
    data = scenes_and_anchors(an, a.split, a.layout, not a.no_jpeg, a.n)
    res, rows = evaluate(an, data, collect=True)
    res.update(breakdown(rows))
    print(json.dumps(res, indent=1))
    if a.draw:
        out = Path("test-artifacts/handtune")
        out.mkdir(parents=True, exist_ok=True)
        k = 0
        for sc, p, _j, head, kp, crop, f in rows:
            if p.raised and not f and head is not None and k < a.draw:
                draw(sc, p, head, kp, crop, out / f"fail-{a.layout}-{k:02d}-{p.pose}-"
                     f"{why(p, head, kp)}.png")
                k += 1


if __name__ == "__main__":
    main()
