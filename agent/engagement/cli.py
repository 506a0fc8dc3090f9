"""``classroom-agent analyze FILE``: engagement numbers of an image or a clip, as JSON.

For an installer checking a camera's placement and for rerunning the accuracy figures.
Nothing is written: the output is numbers (and, with --details, boxes and angles) on
stdout. Unreadable or unsupported files exit non-zero with one clear line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.engagement.pipeline import Analyzer, AnalyzerSettings

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}


class AnalyzeError(Exception):
    pass


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("analyze", help="print engagement metrics of an image or clip as JSON")
    sp.add_argument("file", help="an image (jpg, png ...) or a video clip (mp4, avi, mkv ...)")
    sp.add_argument("--fps", type=float, default=2.0,
                    help="clip: frames analysed per second of video (default 2; 0 = all)")
    sp.add_argument("--max-frames", type=int, default=0, help="clip: stop after N frames")
    sp.add_argument("--no-hands", action="store_true", help="skip hand-raise detection")
    sp.add_argument("--no-pose", action="store_true", help="skip head pose (faces only)")
    sp.add_argument("--details", action="store_true", help="include per-face boxes and angles")
    sp.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads")
    sp.add_argument("-c", "--config", help="take [engagement] settings (models, thresholds) "
                    "from this config file")
    sp.set_defaults(func=cmd_analyze)


def _settings(args: argparse.Namespace) -> AnalyzerSettings:
    # lazy: OpenCV and onnxruntime load only when a command analyses
    from agent.engagement.pipeline import AnalyzerSettings

    if args.config:
        # lazy: the agent's config only with --config
        from agent.config import load
        from agent.engagement.service import settings_from_config

        s = settings_from_config(load(args.config).engagement)
    else:
        s = AnalyzerSettings()
    s.intra_threads = max(1, args.threads)
    s.hand_raise = s.hand_raise and not args.no_hands
    s.head_pose = s.head_pose and not args.no_pose
    s.max_pose_faces = 0  # offline: every face gets a head pose
    s.hold_frames = 1 if Path(args.file).suffix.lower() in IMAGE_SUFFIXES else s.hold_frames
    return s


def analyze_file(path: str, args: argparse.Namespace) -> dict[str, Any]:
    # lazy: OpenCV and onnxruntime load only when a command analyses
    import cv2

    from agent.engagement.pipeline import Analyzer

    p = Path(path)
    if not p.is_file():
        raise AnalyzeError(f"{path}: no such file")
    try:
        with open(p, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise AnalyzeError(f"{path}: cannot read: {e.strerror or e}") from None
    if not head:
        raise AnalyzeError(f"{path}: empty file")
    analyzer = Analyzer(_settings(args))
    if p.suffix.lower() in IMAGE_SUFFIXES:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise AnalyzeError(f"{path}: not a readable image")
        r = analyzer.analyze(img, hands=not args.no_hands, details=args.details)
        return {"file": str(p), "kind": "image", "width": img.shape[1],
                "height": img.shape[0], **r.to_dict()}
    return _analyze_clip(p, analyzer, args)


def _analyze_clip(p: Path, analyzer: Analyzer, args: argparse.Namespace) -> dict[str, Any]:
    # lazy: PyAV loads only for a clip
    import av

    try:
        container = av.open(str(p))
    except (av.FFmpegError, OSError, ValueError) as e:
        raise AnalyzeError(f"{p}: not a readable image or video ({e})") from None
    frames = []
    with container:
        if not container.streams.video:
            raise AnalyzeError(f"{p}: no video stream")
        stream = container.streams.video[0]
        step = 1.0 / args.fps if args.fps > 0 else 0.0
        next_t = 0.0
        try:
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else len(frames) * step
                if step and t + 1e-6 < next_t:
                    continue
                next_t = t + step
                img = frame.to_ndarray(format="bgr24")
                # the clip's own time: places are remembered in video time
                r = analyzer.analyze(img, hands=not args.no_hands, details=args.details, now=t)
                frames.append({"t": round(t, 3), **r.to_dict()})
                if args.max_frames and len(frames) >= args.max_frames:
                    break
        except av.FFmpegError as e:
            if not frames:
                raise AnalyzeError(f"{p}: cannot decode video: {e}") from None
    if not frames:
        raise AnalyzeError(f"{p}: no frame could be decoded")
    rates = [f["head_up_rate"] for f in frames if f["head_up_rate"] is not None]
    hands = [f["hands_raised"] for f in frames if f["hands_raised"] is not None]
    summary = {
        "frames": len(frames),
        "people_median": statistics.median(f["people"] for f in frames),
        "people_max": max(f["people"] for f in frames),
        "faces_median": statistics.median(f["faces"] for f in frames),
        "faces_max": max(f["faces"] for f in frames),
        "head_up_rate": round(statistics.fmean(rates), 4) if rates else None,
        "hands_raised_max": max(hands) if hands else None,
        "ms_per_frame": round(statistics.fmean(f["ms"] for f in frames), 1),
    }
    return {"file": str(p), "kind": "video", "summary": summary, "frames": frames}


def cmd_analyze(args: argparse.Namespace) -> int:
    # lazy: the model registry loads only when a command analyses
    from models.registry import ModelError

    try:
        doc = analyze_file(args.file, args)
    except (AnalyzeError, ModelError) as e:
        print(f"analyze: {e}", file=sys.stderr)
        return 2
    print(json.dumps(doc, indent=2))
    return 0
