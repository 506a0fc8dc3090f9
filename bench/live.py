"""Recording and live push cost: the agent vs the ffmpeg CLI, side by side in one run.

    .venv/bin/python bench/live.py [--window 40] [--repeat 2] [--keep DIR]

One 1080p30 ~4 Mbit/s H.264 RTSP/TCP stream (the recording bench's clip, served
pre-encoded by GStreamer's RTSP server, tests/rtsp_server.py --file) and a local nginx
with the RTMP module (tests/stream_servers.py) as the district's server. Neither server is
counted. Paths, alternating in each round so drifting load on shared cores hits all:

  1. agent recording: one ``CameraCapture`` (fragmented-MP4 segments), CPU of this process;
  2. ``ffmpeg -rtsp_transport tcp -i URL -c copy -f segment -segment_time 10`` (how Frigate
     and pyCA record), CPU of that process from /proc;
  3. agent recording + live push: the same capture with ``LivePush`` tapped in, pushing
     FLV to nginx over RTMP (one RTSP session); the CPU of the child ffmpeg the push
     feeds (it makes the connection, docs/live.md) is added;
  4. ffmpeg writing both outputs: ``... -c copy -f segment ... -c copy -f flv rtmp://...``;
  5. bare PyAV receive (demux only, the agent's options): the floor of a PyAV recorder.

Each path is measured over ``--window`` seconds starting ``--warmup`` s after its first
packet; seconds of video from the packets' timestamps (ffmpeg: ``-progress`` out_time).
Prints CPU-seconds per second of video and the ratios agent / ffmpeg.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.live.push import LivePush
from agent.live.target import parse
from bench.recording import (
    FPS,
    BareReceiver,
    H,
    Row,
    W,
    agent_caps,
    cpu,
    make_clip,
    window,
)

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class FfmpegCli:
    """The ffmpeg CLI recording (and optionally pushing) one RTSP camera; ``media`` is
    its ``-progress`` out_time in seconds."""

    def __init__(self, url: str, out: Path, rtmp: str | None) -> None:
        out.mkdir(parents=True, exist_ok=True)
        cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-progress",
               "pipe:1", "-stats_period", "0.5", "-rtsp_transport", "tcp", "-i", url,
               "-map", "0", "-c", "copy", "-f", "segment", "-segment_time", "10",
               str(out / "seg%03d.mp4")]
        if rtmp:
            cmd += ["-map", "0", "-c", "copy", "-f", "flv", rtmp]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.media: float | None = None
        self.frames = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            k, _, v = line.strip().partition("=")
            if k == "out_time_us" and v.isdigit() and int(v) > 0:
                self.media = int(v) / 1e6
            elif k == "frame" and v.isdigit():
                self.frames = int(v)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def ffmpeg_row(name: str, url: str, out: Path, rtmp: str | None, warmup: float,
               length: float) -> Row:
    f = FfmpegCli(url, out, rtmp)
    try:
        deadline = time.monotonic() + 30
        while f.media is None:
            if time.monotonic() > deadline or f.proc.poll() is not None:
                raise RuntimeError(f"{name}: no progress from ffmpeg")
            time.sleep(0.05)
        time.sleep(warmup)
        c0, m0, f0, t0 = proc_cpu(f.proc.pid), f.media, f.frames, time.monotonic()
        time.sleep(length)
        c1, m1, f1, t1 = proc_cpu(f.proc.pid), f.media, f.frames, time.monotonic()
        return Row(name, c1 - c0, m1 - m0, t1 - t0, f1 - f0)
    finally:
        f.stop()


def child_cpu(push: LivePush | None) -> float:
    """CPU of the push's child ffmpeg (the process that talks to the server)."""
    out = push._current if push is not None else None
    proc = out.proc if out is not None else None
    if proc is None or proc.poll() is not None:
        return 0.0
    try:
        return proc_cpu(proc.pid)
    except OSError:
        return 0.0


def agent_row(name: str, url: str, out: Path, rtmp: str | None, warmup: float,
              length: float) -> Row:
    """The agent's capture (and live push): CPU of this process plus, when pushing, of
    the child ffmpeg it feeds (one connection over the window: checked)."""
    [cap] = agent_caps(url, out, 1, True, lambda ev: None)
    push = None
    if rtmp:
        push = LivePush(parse(rtmp), audio=False, post=lambda ev: None)
        push.start()
        cap.tap = push
    cap.start()
    try:
        deadline = time.monotonic() + 30
        while cap.media_end_s is None or (push is not None and not push.connected):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: no packets within 30 s")
            time.sleep(0.05)
        time.sleep(warmup)
        connects = push.connects if push is not None else 0
        c0, m0, f0, t0 = (cpu() + child_cpu(push), cap.media_end_s or 0.0, cap.packets,
                          time.monotonic())
        time.sleep(length)
        c1, m1, f1, t1 = (cpu() + child_cpu(push), cap.media_end_s or 0.0, cap.packets,
                          time.monotonic())
        if push is not None and (push.connects != connects or push.dropped):
            print(f"  ({name}: reconnected or dropped packets: figures not comparable)")
        return Row(name, c1 - c0, m1 - m0, t1 - t0, f1 - f0)
    finally:
        cap.request_stop()
        cap.join(30)
        if push is not None:
            push.request_stop()
            push.join(15)


def bare_row(url: str, warmup: float, length: float) -> Row:
    r = BareReceiver(url)
    r.start()
    try:
        return window("bare PyAV receive (demux only)", lambda: r.media, lambda: r.frames,
                      warmup, length)
    finally:
        r.stop.set()
        r.join(30)


def total(rows: list[Row]) -> Row:
    return Row(rows[0].name, sum(r.cpu_s for r in rows), sum(r.video_s for r in rows),
               sum(r.wall_s for r in rows), sum(r.frames for r in rows))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--window", type=float, default=40.0, help="seconds measured per path")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--repeat", type=int, default=2, help="rounds, paths alternating")
    p.add_argument("--bitrate", type=int, default=4_000_000)
    p.add_argument("--no-bare", action="store_true", help="skip the bare receive path")
    p.add_argument("--keep", help="cache the generated clip in this directory")
    a = p.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)
    if not shutil.which("ffmpeg"):
        print("needs Debian's ffmpeg (scripts/setup.sh)")
        return 2
    from tests.recording_helpers import RtspServer
    from tests.stream_servers import NginxRtmp, have_nginx_rtmp

    if not have_nginx_rtmp():
        print("needs nginx-light + libnginx-mod-rtmp (scripts/setup.sh --tests)")
        return 2
    work = Path(a.keep or tempfile.mkdtemp(prefix="bench-live-"))
    work.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-out-"))
    length = a.window + a.warmup + 15
    clip = make_clip(work / f"bench-1080p30-{a.bitrate // 1000}k-{length:g}s.mp4", length,
                     a.bitrate)
    mbit = clip.stat().st_size * 8 / length / 1e6
    server = RtspServer(width=W, height=H, fps=FPS, gop=2 * FPS)
    server.args += ["--file", str(clip)]
    nginx = NginxRtmp(tmp / "nginx")
    results: dict[str, list[Row]] = {}
    try:
        server.start()
        nginx.start()
        url = server.url
        paths: list[tuple[str, Callable[[int], Row]]] = [
            ("agent recording", lambda i: agent_row(
                "agent recording", url, tmp / f"a{i}", None, a.warmup, a.window)),
            ("ffmpeg -c copy -f segment", lambda i: ffmpeg_row(
                "ffmpeg -c copy -f segment", url, tmp / f"f{i}", None, a.warmup, a.window)),
            ("agent recording + live", lambda i: agent_row(
                "agent recording + live", url, tmp / f"al{i}", nginx.url(f"a{i}"),
                a.warmup, a.window)),
            ("ffmpeg segment + flv", lambda i: ffmpeg_row(
                "ffmpeg segment + flv", url, tmp / f"fl{i}", nginx.url(f"f{i}"),
                a.warmup, a.window)),
        ]
        if not a.no_bare:
            paths.append(("bare PyAV receive (demux only)",
                          lambda i: bare_row(url, a.warmup, a.window)))
        for i in range(a.repeat):
            for name, run in paths:
                row = run(i)
                results.setdefault(name, []).append(row)
                print(f"round {i + 1}: {name:34s} {row.per_video_s:.4f} CPU-s per video-s "
                      f"({row.fps:.1f} fps)", flush=True)
    finally:
        nginx.kill()
        server.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nsource: RTSP/TCP {W}x{H} {FPS} fps H.264 {mbit:.1f} Mbit/s, {a.repeat} x "
          f"{a.window:g} s per path, alternating")
    print(f"{'path':36s} {'CPU-s':>7s} {'video-s':>8s} {'fps':>6s} {'CPU-s per video-s':>18s}"
          "   per round")
    tot = {}
    for name, rows in results.items():
        t = tot[name] = total(rows)
        rounds = " / ".join(f"{r.per_video_s:.4f}" for r in rows)
        print(f"{name:36s} {t.cpu_s:7.3f} {t.video_s:8.1f} {t.fps:6.1f} "
              f"{t.per_video_s:18.4f}   {rounds}")

    def ratio(x: str, y: str) -> str:
        per = [rx.per_video_s / ry.per_video_s for rx, ry in zip(results[x], results[y],
                                                                   strict=True)]
        each = " / ".join(f"{v:.2f}" for v in per)
        return f"{tot[x].per_video_s / tot[y].per_video_s:.2f}x (rounds {each})"

    print(f"\nrecording:         agent / ffmpeg CLI = "
          f"{ratio('agent recording', 'ffmpeg -c copy -f segment')}")
    print(f"recording + live:  agent / ffmpeg CLI = "
          f"{ratio('agent recording + live', 'ffmpeg segment + flv')}")
    live_cost = tot["agent recording + live"].per_video_s - tot["agent recording"].per_video_s
    ff_live = (tot["ffmpeg segment + flv"].per_video_s
               - tot["ffmpeg -c copy -f segment"].per_video_s)
    print(f"the live output adds: agent {live_cost:+.4f}, ffmpeg {ff_live:+.4f} CPU-s per "
          "video-s")
    if "bare PyAV receive (demux only)" in tot:
        print(f"bare PyAV receive / ffmpeg CLI recording = "
              f"{ratio('bare PyAV receive (demux only)', 'ffmpeg -c copy -f segment')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
