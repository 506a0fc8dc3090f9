"""The seated set's dev split only (for tuning; the test split is reported by
bench/engagement_accuracy.py --only seated). Prints recall / false raises of the
pipeline's top-down flags, by pose and row, and the sparse diagnosis layout.

.venv/bin/python bench/seated_dev.py [--set hand_crop_above=3 ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engagement_accuracy import (
    ensure_matplotlib_sample_data,
    ensure_skimage_data,
    top_down_detect,
    tuning_settings,
)

from agent.engagement import seated
from agent.engagement.pipeline import Analyzer, AnalyzerSettings


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", action="append", default=[],
                    help="an AnalyzerSettings field, e.g. hand_crop_above=3")
    args = ap.parse_args()
    ensure_skimage_data()
    ensure_matplotlib_sample_data()
    kw = tuning_settings(args.set)
    an = Analyzer(AnalyzerSettings(**kw))
    detect = top_down_detect(an)
    out = {"settings": {k: v for k, v in kw.items()}}
    out["dev"] = seated.score(seated.seated_scenes("dev", n=30, seed=0).scenes, detect)
    out["dev_sparse"] = seated.score(
        seated.seated_scenes("dev", n=10, seed=0, layout="sparse").scenes, detect)
    for k in ("dev", "dev_sparse"):
        out[k] = {x: out[k][x] for x in ("raised_people", "not_raised_people", "recall",
                                         "recall_ci95", "false_raise_rate", "false_raises",
                                         "stray_raised_detections", "people_without_detection",
                                         "flagged_rate_by_pose", "by_row_back_first")}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
