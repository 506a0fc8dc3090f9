"""Recording cost: the agent's remux path vs bare PyAV receive and vs OpenCV, in one run.

    .venv/bin/python bench/recording.py [--seconds 20]                   # file, flat out
    .venv/bin/python bench/recording.py --rtsp file [--window 40]        # RTSP, pre-encoded
    .venv/bin/python bench/recording.py --rtsp encode [--window 40]      # RTSP, live x264

Makes a 1080p30 H.264 clip (~4 Mbit/s, GOP 60, a moving bar over a noisy gradient so the
encoder spends its bitrate; cached with ``--keep DIR``) and prints CPU-seconds per second
of video for each path and the ratios.

File mode (default) reads the clip as fast as possible: the agent's capture thread
(``CameraCapture`` -> fragmented-MP4 segments), OpenCV decode + ``VideoWriter`` (mp4v),
and four agent capture threads at once.

RTSP mode streams from GStreamer's RTSP server (``tests/rtsp_server.py``, its own process,
not counted): ``--rtsp file`` sends the pre-encoded clip (filesrc ! qtdemux ! h264parse !
rtph264pay: no x264 in the server, so it holds 30 fps on the shared cores), ``--rtsp
encode`` encodes videotestsrc with x264 live (the old bench; CPU-bound on 2 cores). Each
path is measured over ``--window`` seconds that start ``--warmup`` seconds after its first
packet (connection setup excluded); seconds of video come from the packets' timestamps,
and the server's achieved fps is frames received per wall second. Paths, in one run:
  1. bare PyAV RTSP receive: ``container.demux`` with the agent's options, no writing -
     the floor any PyAV/FFmpeg-based recorder pays;
  2. the agent's capture thread (1 camera);
  3. OpenCV decode + VideoWriter (skip with ``--no-opencv``);
  4. four agent capture threads at once (four RTSP sessions).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av
import numpy as np

from agent.recording.capture import CameraCapture, CaptureEvent
from drivers.camera.source import SourceOptions, open_args, read_callback_timeout

FPS = 30
W, H = 1920, 1080


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------------- the clip

def make_clip(path: Path, seconds: float, bitrate: int) -> Path:
    """1080p30 H.264 High, GOP 60, no B-frames. Noise (from a few precomputed fields) keeps
    the bitrate near ``bitrate`` - a flat synthetic picture would not reach it, and the
    RTSP receive cost grows with the number of RTP packets, i.e. with the bitrate."""
    if path.exists():
        return path
    t0 = time.monotonic()
    tmp = path.with_name(path.name + ".tmp")
    out = av.open(str(tmp), "w", format="mp4")
    v = out.add_stream("libx264", rate=FPS)
    v.width, v.height, v.pix_fmt = W, H, "yuv420p"
    v.bit_rate = bitrate
    v.codec_context.gop_size = 2 * FPS
    v.options = {"preset": "ultrafast", "profile": "high", "bf": "0", "sc_threshold": "0",
                 "maxrate": str(bitrate), "bufsize": str(bitrate)}
    rng = np.random.default_rng(3)
    ramp = (np.arange(W) * 200 // W).astype(np.uint8)[None, :].repeat(H, 0)
    noise = [rng.integers(0, 24, (H, W), dtype=np.uint8) for _ in range(7)]
    chroma = np.full((H // 2, W), 128, np.uint8)
    bar = W // 16
    frames = round(seconds * FPS)
    for i in range(frames):
        y = ramp + noise[i % len(noise)]
        x0 = (i * 8) % (W - bar)
        y[:, x0:x0 + bar] = 235
        frame = av.VideoFrame.from_ndarray(np.vstack([y, chroma]), format="yuv420p")
        frame.pts, frame.time_base = i, Fraction(1, FPS)
        for p in v.encode(frame):
            out.mux(p)
    for p in v.encode(None):
        out.mux(p)
    out.close()
    os.replace(tmp, path)
    mbit = path.stat().st_size * 8 / seconds / 1e6
    print(f"made {path.name} ({mbit:.1f} Mbit/s) in {time.monotonic() - t0:.0f} s",
          flush=True)
    return path


# ---------------------------------------------------------------------- measuring

@dataclass
class Row:
    name: str
    cpu_s: float
    video_s: float
    wall_s: float
    frames: int
    streams: int = 1

    @property
    def per_video_s(self) -> float:
        return self.cpu_s / self.video_s if self.video_s else float("nan")

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s / self.streams if self.wall_s else 0.0


def window(name: str, media_s: Callable[[], float | None], frames: Callable[[], int],
           warmup: float, length: float, streams: int = 1) -> Row:
    """CPU, seconds of video (packet timestamps) and frames over ``length`` seconds that
    start ``warmup`` s after the first packet: connection setup is not counted."""
    deadline = time.monotonic() + 30
    while media_s() is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: no packets within 30 s")
        time.sleep(0.05)
    time.sleep(warmup)
    c0, m0, f0, t0 = cpu(), media_s() or 0.0, frames(), time.monotonic()
    time.sleep(length)
    c1, m1, f1, t1 = cpu(), media_s() or 0.0, frames(), time.monotonic()
    return Row(name, c1 - c0, m1 - m0, t1 - t0, f1 - f0, streams)


class BareReceiver(threading.Thread):
    """PyAV demux only, opened exactly as the agent opens a camera: the floor."""

    def __init__(self, url: str, callback: bool = False) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.callback = callback  # force PyAV's read-timeout callback (the old options)
        self.media: float | None = None
        self.frames = 0
        self.stop = threading.Event()

    def run(self) -> None:
        opts = SourceOptions(url=self.url, audio=False)
        path, fmt, options = open_args(opts)
        read = opts.read_timeout_s if self.callback else read_callback_timeout(opts)
        c = av.open(path, "r", format=fmt, options=options,
                    timeout=(opts.connect_timeout_s, read))
        try:
            v = c.streams.video[0]
            tb = float(v.time_base)
            first = None
            for pkt in c.demux(v):
                if pkt.pts is None:
                    continue
                if first is None:
                    first = pkt.pts
                self.media = (pkt.pts - first) * tb
                self.frames += 1
                if self.stop.is_set():
                    break
        finally:
            c.close()


def agent_caps(url: str, out: Path, cameras: int, realtime: bool,
               post: Callable[[CaptureEvent], None]) -> list[CameraCapture]:
    caps = []
    for i in range(cameras):
        opts = SourceOptions(url=url, realtime=False if not realtime else None, audio=False)
        caps.append(CameraCapture(f"cam{i}", opts, out / f"cam{i}", 60.0, 10.0, 30.0,
                                  4_000_000, post))
    return caps


def agent_rtsp(url: str, out: Path, cameras: int, warmup: float, length: float) -> Row:
    caps = agent_caps(url, out, cameras, True, lambda ev: None)
    for c in caps:
        c.start()

    def media() -> float | None:
        ends = [c.media_end_s for c in caps]
        return None if None in ends else sum(ends)  # type: ignore[arg-type]

    try:
        name = "agent remux (1 camera)" if cameras == 1 else f"agent remux ({cameras} cameras)"
        return window(name, media, lambda: sum(c.packets for c in caps), warmup, length,
                      cameras)
    finally:
        for c in caps:
            c.request_stop()
        for c in caps:
            c.join(30)


def bare_rtsp(url: str, warmup: float, length: float, callback: bool = False) -> Row:
    r = BareReceiver(url, callback)
    r.start()
    name = ("bare receive + PyAV read callback" if callback
            else "bare PyAV RTSP receive (demux only)")
    try:
        return window(name, lambda: r.media,
                      lambda: r.frames, warmup, length)
    finally:
        r.stop.set()
        r.join(30)


class OpenCvRecorder(threading.Thread):
    def __init__(self, url: str, out: Path, realtime: bool) -> None:
        super().__init__(daemon=True)
        self.url, self.out, self.realtime = url, out, realtime
        self.frames = 0
        self.fps = float(FPS)
        self.started = False
        self.stop = threading.Event()

    def run(self) -> None:
        import cv2

        cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG)
        self.fps = cap.get(cv2.CAP_PROP_FPS) or float(FPS)
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        writer = cv2.VideoWriter(str(self.out / "opencv.mp4"),
                                 cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
        try:
            while not self.stop.is_set():
                ok, frame = cap.read()
                if not ok:
                    break
                writer.write(frame)
                self.frames += 1
                self.started = True
        finally:
            writer.release()
            cap.release()


def opencv_rtsp(url: str, out: Path, warmup: float, length: float) -> Row:
    r = OpenCvRecorder(url, out, True)
    r.start()
    try:
        return window("OpenCV decode + VideoWriter mp4v",
                      lambda: r.frames / r.fps if r.started else None,
                      lambda: r.frames, warmup, length)
    finally:
        r.stop.set()
        r.join(30)


def _total(pairs: list[tuple[Row, Row]], i: int) -> Row:
    rs = [p[i] for p in pairs]
    return Row(rs[0].name, sum(r.cpu_s for r in rs), sum(r.video_s for r in rs),
               sum(r.wall_s for r in rs), sum(r.frames for r in rs))


# ---------------------------------------------------------------------- file mode

def agent_file(url: str, out: Path, cameras: int) -> Row:
    done = threading.Event()
    ended: set[str] = set()
    lock = threading.Lock()
    video_s: dict[str, float] = {}

    def post(ev: CaptureEvent) -> None:
        if ev.kind == "segment_closed" and ev.segment is not None:
            with lock:
                video_s[ev.camera] = video_s.get(ev.camera, 0.0) + ev.segment.duration_s
        if ev.kind in ("offline", "fault"):  # end of the file
            with lock:
                ended.add(ev.camera)
                if len(ended) == cameras:
                    done.set()

    caps = agent_caps(url, out, cameras, False, post)
    c0, t0 = cpu(), time.monotonic()
    for c in caps:
        c.start()
    done.wait(600)
    c1, t1 = cpu(), time.monotonic()
    for c in caps:
        c.request_stop()
    for c in caps:
        c.join(30)
    name = "agent remux (1 camera)" if cameras == 1 else f"agent remux ({cameras} cameras)"
    return Row(name, c1 - c0, sum(video_s.values()), t1 - t0,
               sum(c.packets for c in caps), cameras)


def bare_file(url: str) -> Row:
    c0, t0 = cpu(), time.monotonic()
    c = av.open(url)
    v = c.streams.video[0]
    n, last, first = 0, 0, None
    for pkt in c.demux(v):
        if pkt.pts is None:
            continue
        first = pkt.pts if first is None else first
        last = pkt.pts + (pkt.duration or 0)
        n += 1
    c.close()
    return Row("bare PyAV demux (no writing)", cpu() - c0,
               float((last - (first or 0)) * v.time_base), time.monotonic() - t0, n)


def opencv_file(url: str, out: Path) -> Row:
    r = OpenCvRecorder(url, out, False)
    c0, t0 = cpu(), time.monotonic()
    r.run()
    return Row("OpenCV decode + VideoWriter mp4v", cpu() - c0, r.frames / r.fps,
               time.monotonic() - t0, r.frames)


# ---------------------------------------------------------------------- report

def report(rows: list[Row], header: str) -> None:
    print(f"\n{header}")
    print(f"{'path':40s} {'CPU-s':>7s} {'video-s':>8s} {'fps/stream':>10s} "
          f"{'CPU-s per video-s':>18s}")
    for r in rows:
        per = r.per_video_s if r.streams == 1 else r.cpu_s / r.video_s
        extra = "" if r.streams == 1 else f"  (x{r.streams}: {per * r.streams:.4f} per room)"
        print(f"{r.name:40s} {r.cpu_s:7.3f} {r.video_s:8.1f} {r.fps:10.1f} "
              f"{per:18.4f}{extra}")
    by = {r.name: r for r in rows}
    agent = by["agent remux (1 camera)"].per_video_s
    bare = next((r.per_video_s for r in rows if r.name.startswith("bare")), None)
    cv = by.get("OpenCV decode + VideoWriter mp4v")
    print()
    if bare is not None:
        print(f"agent / bare receive: {agent / bare:.2f}x; the agent's own overhead on top "
              f"of the receive: {agent - bare:+.4f} CPU-s per video-s")
    if cv is not None:
        print(f"agent remux is {cv.per_video_s / agent:.0f}x cheaper than OpenCV decode + "
              f"VideoWriter (target >= 100x)")
    print(f"agent total {agent:.4f} CPU-s per video-s (target <= 0.005)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rtsp", choices=["file", "encode"],
                   help="read from GStreamer's RTSP server: the pre-encoded clip, or x264 live")
    p.add_argument("--seconds", type=float, default=20.0, help="file mode: clip length")
    p.add_argument("--window", type=float, default=40.0, help="RTSP: seconds measured per path")
    p.add_argument("--warmup", type=float, default=3.0,
                   help="RTSP: seconds after the first packet before measuring")
    p.add_argument("--bitrate", type=int, default=4_000_000, help="clip bitrate (bit/s)")
    p.add_argument("--repeat", type=int, default=1,
                   help="RTSP: measure bare receive and agent this many times, alternating")
    p.add_argument("--callback-row", action="store_true",
                   help="RTSP: also measure bare receive with PyAV's read-timeout callback "
                        "(what the agent used before)")
    p.add_argument("--no-opencv", action="store_true", help="skip the OpenCV path")
    p.add_argument("--cameras", type=int, default=4, help="the multi-camera path (0 = skip)")
    p.add_argument("--keep", help="cache the generated clip in this directory")
    a = p.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)  # "end of stream" is how a file run ends
    work = Path(a.keep or tempfile.mkdtemp(prefix="bench-rec-"))
    work.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix="bench-rec-out-"))
    server = None
    try:
        # RTSP: the clip must outlast connection setup + warm-up + window (each path
        # opens a new session; the shared media restarts the file when all have left)
        length = a.seconds if not a.rtsp else a.window + a.warmup + 15
        clip = make_clip(work / f"bench-1080p30-{a.bitrate // 1000}k-{length:g}s.mp4",
                         length, a.bitrate)
        mbit = clip.stat().st_size * 8 / length / 1e6
        rows: list[Row] = []
        if not a.rtsp:
            url = str(clip)
            rows.append(bare_file(url))
            rows.append(agent_file(url, out / "agent", 1))
            if not a.no_opencv:
                rows.append(opencv_file(url, out))
            if a.cameras > 1:
                rows.append(agent_file(url, out / "agentN", a.cameras))
            report(rows, f"source: {W}x{H} {FPS} fps H.264 {mbit:.1f} Mbit/s, {length:g} s "
                         "clip, read from the file as fast as possible")
            return 0
        from tests.recording_helpers import RtspServer

        server = RtspServer(width=W, height=H, fps=FPS, gop=2 * FPS)
        if a.rtsp == "file":
            server.args += ["--file", str(clip)]
        else:
            server.args += ["--bitrate", str(a.bitrate // 1000)]
        server.start()
        w, wu = a.window, a.warmup
        pairs = []
        cb_rows = []
        for _ in range(a.repeat):  # alternate, so drifting load on shared cores hits both
            pairs.append((bare_rtsp(server.url, wu, w),
                          agent_rtsp(server.url, out / "agent", 1, wu, w)))
            if a.callback_row:
                cb_rows.append(bare_rtsp(server.url, wu, w, callback=True))
        if a.repeat > 1:
            for i, (b, g) in enumerate(pairs, 1):
                print(f"pair {i}: bare {b.per_video_s:.4f}  agent {g.per_video_s:.4f}  "
                      f"ratio {g.per_video_s / b.per_video_s:.2f}x  "
                      f"(fps {b.fps:.1f} / {g.fps:.1f})", flush=True)
        rows.append(_total(pairs, 0))
        rows.append(_total(pairs, 1))
        if cb_rows:
            rows.append(_total([(r, r) for r in cb_rows], 0))
        if not a.no_opencv:
            rows.append(opencv_rtsp(server.url, out, wu, w))
        if a.cameras > 1:
            rows.append(agent_rtsp(server.url, out / "agentN", a.cameras, wu, w))
        src = (f"pre-encoded clip ({mbit:.1f} Mbit/s)" if a.rtsp == "file"
               else f"x264 live in the server (target {a.bitrate / 1e6:g} Mbit/s)")
        report(rows, f"source: RTSP/TCP from GStreamer, {W}x{H} {FPS} fps H.264, {src}; "
                     f"{w:g} s window per path after {wu:g} s warm-up")
    finally:
        if server is not None:
            server.kill()
        shutil.rmtree(out, ignore_errors=True)
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
