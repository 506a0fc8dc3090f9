"""Engagement memory: RSS and CPU of allocator/arena/thread variants, side by side.

    .venv/bin/python bench/engagement_memory.py [--rounds 2] [--frames 30] [--variants a,b]

Each variant runs in a fresh child process pinned to one CPU (like bench/engagement.py):
the agent's imports, an Analyzer with the service defaults (all three models), then
``--frames`` frames of the 40-student 1280x720 demo clip analysed in a worker thread (as
the service does; a thread has its own malloc arena), FaceMesh on every face, the body
model on every 5th frame. Per variant (medians over the rounds): RSS after loading, RSS
after the frames (between frames: what ``ps`` shows), the peak (VmHWM), CPU-s of the
worker thread per frame, its minor page faults per frame, and the sums of people and
head-up over the frames (the outputs must not change). Ratios are against "default" (the
code as it ships). Prints one JSON document; docs/BENCHMARKS.md quotes it.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "default": "as shipped: malloc_trim after loading and every frame, fixed glibc thresholds",
    "glibc_defaults": "release_heap off: no trim, glibc's dynamic thresholds (before issue 15's "
                      "memory work)",
    "trim_only": "malloc_trim after loading and every frame, glibc's dynamic thresholds",
    "arena_max_1": "default + mallopt(M_ARENA_MAX, 1): the worker thread shares the main arena",
    "mmap_1mb": "default + mallopt(M_MMAP_THRESHOLD, 1 MB): large blocks always mmap'd",
    "ort_arena_off": "default + ONNX Runtime without its memory arena (plain malloc/free)",
    "cv2_one_thread": "default + cv2.setNumThreads(1) and OPENBLAS_NUM_THREADS=1, unpinned",
}


def _status(key: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key)) / 1024


def child(variant: str, clip: str, frames_n: int) -> int:
    sys.path.insert(0, str(ROOT))
    if variant != "cv2_one_thread":
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    libc = ctypes.CDLL("libc.so.6")
    if variant == "arena_max_1":
        libc.mallopt(-8, 1)  # M_ARENA_MAX, before any thread allocates
    import resource

    import av
    import cv2

    import agent.engagement.pipeline as pl
    import agent.runtime.agent  # noqa: F401 - the daemon's own imports
    import models.registry as reg

    if variant == "cv2_one_thread":
        cv2.setNumThreads(1)
    if variant == "trim_only":
        pl.tune_malloc = lambda: False  # type: ignore[assignment]
    if variant == "ort_arena_off":
        reg._use_shared_arena = (  # type: ignore[assignment]
            lambda ort, opts: setattr(opts, "enable_cpu_mem_arena", False))
    out: dict = {}

    def work() -> None:
        kw = {"release_heap": False} if variant == "glibc_defaults" else {}
        an = pl.Analyzer(pl.AnalyzerSettings(intra_threads=1, max_pose_faces=0, **kw))
        if variant == "mmap_1mb":
            libc.mallopt(-3, 1 << 20)
        out["rss_mb_loaded"] = round(_status("VmRSS:"), 1)
        cpu = 0.0
        faults = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        people = up = n = 0
        with av.open(clip) as c:
            for i, f in enumerate(c.decode(video=0)):
                img = f.to_ndarray(format="bgr24")
                t = time.thread_time()
                r = an.analyze(img, hands=i % 5 == 0)
                cpu += time.thread_time() - t
                people += r.people
                up += r.head_up or 0
                n += 1
                if n >= frames_n:
                    break
        out["rss_mb_after_frames"] = round(_status("VmRSS:"), 1)
        out["cpu_s_per_frame"] = round(cpu / n, 4)
        out["minor_faults_per_frame"] = round(
            (resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - faults) / n)
        out["people_sum"], out["head_up_sum"] = people, up

    t = threading.Thread(target=work)
    t.start()
    t.join()
    out["rss_mb_peak"] = round(_status("VmHWM:"), 1)
    print(json.dumps(out))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--variants", help="comma-separated subset of: " + ", ".join(VARIANTS))
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child[0], args.child[1], int(args.child[2]))
    sys.path.insert(0, str(ROOT))
    from agent.engagement.demo import demo_clip

    clip = demo_clip(Path(tempfile.gettempdir()) / "classroom-agent-bench", students=40)
    names = [v for v in (args.variants or "").split(",") if v] or list(VARIANTS)
    if "default" not in names:
        names.insert(0, "default")
    runs: dict[str, list[dict]] = {v: [] for v in names}
    for _ in range(args.rounds):
        for v in names:  # interleaved: every variant sees the same load
            env = dict(os.environ)
            if v == "cv2_one_thread":
                env["OPENBLAS_NUM_THREADS"] = "1"
            res = subprocess.run([sys.executable, __file__, "--child", v, str(clip),
                                  str(args.frames)], check=True, capture_output=True,
                                 text=True, env=env).stdout
            runs[v].append(json.loads(res.strip().splitlines()[-1]))
    med = {v: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for v, rs in runs.items()}
    base = med["default"]
    out: dict = {"frames": args.frames, "rounds": args.rounds, "students_in_clip": 40,
                 "load_avg_1m_at_end": round(os.getloadavg()[0], 2)}
    for v in names:
        row = dict(med[v], what=VARIANTS[v])
        for k in ("rss_mb_after_frames", "rss_mb_peak", "cpu_s_per_frame"):
            row[f"{k}_ratio_to_default"] = round(med[v][k] / base[k], 3)
        out[v] = row
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
