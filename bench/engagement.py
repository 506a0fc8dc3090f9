"""Engagement speed on one core: analysed fps, CPU per frame, latency, RSS.

    .venv/bin/python bench/engagement.py [--frames 40] [--faces 40]

Pins itself to one CPU and runs ONNX Runtime with intra_op threads = 1. The input is a
1280x720 H.264 clip of a synthetic classroom (agent/engagement/demo.py; real faces from
package images). Prints one JSON document; docs/BENCHMARKS.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def run_mode(frames, settings, hands_every: int) -> dict:
    from agent.engagement.pipeline import Analyzer

    an = Analyzer(settings)
    an.analyze(frames[0])  # warm-up
    wall, cpu, faces = [], [], []
    t_all, c_all = time.perf_counter(), cpu_s()
    for i, f in enumerate(frames):
        t, c = time.perf_counter(), cpu_s()
        r = an.analyze(f, hands=settings.hand_raise and i % hands_every == 0)
        wall.append(time.perf_counter() - t)
        cpu.append(cpu_s() - c)
        faces.append(r.faces)
    span = time.perf_counter() - t_all
    return {
        "fps": round(len(frames) / span, 2),
        "cpu_s_per_frame": round((cpu_s() - c_all) / len(frames), 4),
        "ms_per_frame_median": round(1000 * statistics.median(wall), 1),
        "ms_per_frame_p95": round(1000 * sorted(wall)[int(0.95 * (len(wall) - 1))], 1),
        "faces_median": statistics.median(faces),
    }


def latency(clip: Path, settings, n: int) -> dict:
    """Decode (PyAV, one thread) + colour conversion + analysis, per frame."""
    import av

    from agent.engagement.pipeline import Analyzer

    an = Analyzer(settings)
    lat = []
    with av.open(str(clip)) as c:
        s = c.streams.video[0]
        s.thread_type = "NONE"
        it = c.decode(s)
        an.analyze(next(it).to_ndarray(format="bgr24"))
        for i, frame in enumerate(it):
            if i >= n:
                break
            t = time.perf_counter()
            an.analyze(frame.to_ndarray(format="bgr24"), hands=False)
            lat.append(time.perf_counter() - t)
    return {"decode_to_result_ms_median": round(1000 * statistics.median(lat), 1),
            "decode_to_result_ms_max": round(1000 * max(lat), 1)}


def rss_child(clip: Path) -> int:
    import av
    import psutil

    import agent.runtime.agent  # noqa: F401 - the daemon's own imports
    from agent.engagement.pipeline import Analyzer, AnalyzerSettings

    proc = psutil.Process()
    before = proc.memory_info().rss
    an = Analyzer(AnalyzerSettings(intra_threads=1))
    with av.open(str(clip)) as c:
        for i, f in enumerate(c.decode(video=0)):
            an.analyze(f.to_ndarray(format="bgr24"), hands=True)
            if i >= 2:
                break
    print(round(before / 2**20, 1), round(proc.memory_info().rss / 2**20, 1))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--faces", type=int, default=40, help="students in the clip")
    ap.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        return rss_child(Path(args.rss_child))
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import av

    from agent.engagement.demo import demo_clip
    from agent.engagement.pipeline import AnalyzerSettings

    clip = demo_clip(Path(tempfile.gettempdir()) / "classroom-agent-bench", students=args.faces)
    frames = []
    with av.open(str(clip)) as c:
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="bgr24"))
            if len(frames) >= args.frames:
                break
    base = dict(intra_threads=1, inter_threads=1)
    out = {"resolution": "1280x720", "frames": len(frames), "students_in_clip": args.faces,
           "cpus": 1, "ort_intra_threads": 1}
    out["faces_only"] = run_mode(frames, AnalyzerSettings(**base, head_pose=False,
                                                          hand_raise=False), 1)
    out["faces_headpose_16"] = run_mode(frames, AnalyzerSettings(**base, hand_raise=False), 1)
    out["faces_headpose_all"] = run_mode(
        frames, AnalyzerSettings(**base, hand_raise=False, max_pose_faces=0), 1)
    out["with_hands_every_frame"] = run_mode(frames[:10], AnalyzerSettings(**base), 1)
    # the service default: body model every 4 s while analysing at up to 5 fps
    out["with_hands_every_20th_frame"] = run_mode(frames, AnalyzerSettings(**base), 20)
    out["latency"] = latency(clip, AnalyzerSettings(**base, hand_raise=False), 20)
    # RSS of a fresh process: the agent's imports, all three models, frames analysed
    del frames
    import subprocess

    rss = subprocess.run([sys.executable, __file__, "--rss-child", str(clip)], check=True,
                         capture_output=True, text=True).stdout.split()
    out["rss_mb_agent_imports"] = float(rss[0])
    out["rss_mb_all_models_loaded"] = float(rss[1])
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
