"""Engagement speed on one core, side by side with an earlier pipeline: fps, RSS, ratios.

    .venv/bin/python bench/engagement.py [--frames 40] [--faces 40] [--rounds 3]
                                         [--baseline REV | --no-baseline]

The machine is shared, so absolute figures drift with its load: every mode runs in a
fresh child process pinned to one CPU (ONNX Runtime intra_op threads = 1), alternating
the current code and the baseline (``git archive REV agent models`` unpacked in a temp
dir; default fd6265d, the pipeline before issue 15) round after round on the same
frames; the medians and the ratio current/baseline are printed. ``--baseline 609f12c``
compares with the pipeline before top-down hand raise (multipose tiles). The input is a
1280x720 H.264 clip of a synthetic classroom (agent/engagement/demo.py; real faces from
package images). RSS is the child's (medians over the rounds): after the agent's imports,
after loading all three models, after three frames, after all frames (models opened and
frames analysed in a worker thread as the service does, the body model on every 5th
frame) and the peak (VmHWM). Prints one JSON document; docs/BENCHMARKS.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BASELINE = "fd6265d"

# name -> (settings, run the body model every Nth frame; 0 = never)
MODES = {
    "faces_only": ({"head_pose": False, "hand_raise": False, "verify_faces": False}, 0),
    "faces_headpose_all": ({"hand_raise": False, "max_pose_faces": 0}, 0),
    "faces_headpose_all_hands_every_5th": ({"max_pose_faces": 0}, 5),
    # the same with the multipose tiles (the method before top-down; the baseline's only)
    "faces_headpose_all_hands_every_5th_tiles": ({"max_pose_faces": 0, "hand_method": "tiles"},
                                                 5),
    "service_default_hands_every_20th": ({}, 20),
}


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def child(root: str, clip: str, mode: str, frames_n: int) -> int:
    """Runs in a fresh process with ``root`` first on sys.path (current or baseline)."""
    sys.path.insert(0, root)
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import dataclasses

    import av
    import psutil

    from agent.engagement.pipeline import Analyzer, AnalyzerSettings

    known = {f.name for f in dataclasses.fields(AnalyzerSettings)}
    if mode == "rss":
        import threading

        import agent.runtime.agent  # noqa: F401 - the daemon's own imports

        proc = psutil.Process()
        out = {"rss_mb_agent_imports": round(proc.memory_info().rss / 2**20, 1)}

        def work() -> None:
            # as the service runs it: models opened and frames analysed in a worker thread
            # (its own malloc arena), the body model on every 5th frame
            an = Analyzer(AnalyzerSettings(intra_threads=1))
            out["rss_mb_models_loaded"] = round(proc.memory_info().rss / 2**20, 1)
            with av.open(clip) as c:
                for i, f in enumerate(c.decode(video=0)):
                    an.analyze(f.to_ndarray(format="bgr24"), hands=i % 5 == 0)
                    if i == 2:
                        out["rss_mb_all_models_used"] = round(proc.memory_info().rss / 2**20, 1)
                    if i + 1 >= frames_n:
                        break
            out["rss_mb_after_frames"] = round(proc.memory_info().rss / 2**20, 1)

        t = threading.Thread(target=work)
        t.start()
        t.join()
        with open("/proc/self/status") as st:  # VmHWM: the peak resident set
            hwm = next(int(line.split()[1]) for line in st if line.startswith("VmHWM:"))
        out["rss_mb_peak"] = round(hwm / 1024, 1)
        out["frames"] = frames_n
        print(json.dumps(out))
        return 0
    kw, hands_every = MODES[mode]
    settings = AnalyzerSettings(intra_threads=1, inter_threads=1,
                                **{k: v for k, v in kw.items() if k in known})
    frames = []
    with av.open(clip) as c:
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="bgr24"))
            if len(frames) >= frames_n:
                break
    an = Analyzer(settings)
    an.analyze(frames[0], hands=bool(hands_every))  # warm-up
    wall, counts = [], []
    t_all, c_all = time.perf_counter(), cpu_s()
    for i, f in enumerate(frames):
        t = time.perf_counter()
        r = an.analyze(f, hands=bool(hands_every) and i % hands_every == 0)
        wall.append(time.perf_counter() - t)
        # the head count: people now, faces in the baseline (whose "people" were bodies)
        counts.append(r.people if hasattr(r, "bodies") else r.faces)
    span = time.perf_counter() - t_all
    print(json.dumps({
        "fps": round(len(frames) / span, 2),
        "cpu_s_per_frame": round((cpu_s() - c_all) / len(frames), 4),
        "ms_per_frame_median": round(1000 * statistics.median(wall), 1),
        "ms_per_frame_p95": round(1000 * sorted(wall)[int(0.95 * (len(wall) - 1))], 1),
        "head_count_median": statistics.median(counts),
    }))
    return 0


def run_child(root: Path, clip: Path, mode: str, frames: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(root), str(clip), mode,
                          str(frames)], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--faces", type=int, default=40, help="students in the clip")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision to compare")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--modes", help="comma-separated subset of: " + ", ".join(MODES))
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child[0], args.child[1], args.child[2], int(args.child[3]))
    sys.path.insert(0, str(ROOT))
    from agent.engagement.demo import demo_clip

    tmp = Path(tempfile.gettempdir()) / "classroom-agent-bench"
    clip = demo_clip(tmp, students=args.faces)
    impls = {"current": ROOT}
    if not args.no_baseline:
        base = Path(tempfile.mkdtemp(prefix="engagement-baseline-"))
        subprocess.run(f"git -C {ROOT} archive {args.baseline} agent models | "
                       f"tar -x -C {base}", shell=True, check=True)
        impls["baseline"] = base
    modes = [m for m in (args.modes or "").split(",") if m] or list(MODES)
    runs: dict[str, dict[str, list[dict]]] = {m: {k: [] for k in impls} for m in modes}
    for _ in range(args.rounds):
        for m in modes:
            for name, root in impls.items():  # alternate: both see the same load
                runs[m][name].append(run_child(root, clip, m, args.frames))
    out: dict = {"resolution": "1280x720", "frames": args.frames, "students_in_clip": args.faces,
                 "rounds": args.rounds, "cpus": 1, "ort_intra_threads": 1,
                 "baseline": None if args.no_baseline else args.baseline,
                 "load_avg_1m_at_end": round(os.getloadavg()[0], 2)}
    for m in modes:
        row = {}
        for name in impls:
            rs = runs[m][name]
            row[name] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        if "baseline" in row:
            row["fps_ratio_current_over_baseline"] = round(
                row["current"]["fps"] / row["baseline"]["fps"], 2)
        out[m] = row
    rss_runs: dict[str, list[dict]] = {k: [] for k in impls}
    for _ in range(args.rounds):
        for name, root in impls.items():
            rss_runs[name].append(run_child(root, clip, "rss", args.frames))
    out["rss"] = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
                  for name, rs in rss_runs.items()}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
