"""Helpers for the recording tests: a real RTSP server process and ffprobe."""

from __future__ import annotations

import json
import select
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import free_port
from tests.helpers import process
from tests.helpers.wait import wait_for as shared_wait_for

SERVER = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"


class RtspServer:
    """GStreamer's RTSP server (system Python) on a free loopback port. ``kill()`` and
    ``start()`` make a camera outage; the fixture always kills it."""

    def __init__(self, width: int = 320, height: int = 240, fps: int = 25, gop: int = 0,
                 audio: bool = False, port: int | None = None) -> None:
        self.port = port or free_port()
        self.args = ["--width", str(width), "--height", str(height), "--fps", str(fps),
                     "--gop", str(gop)] + (["--audio"] if audio else [])
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self, timeout: float = 15.0) -> None:
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER), "--port", str(self.port), *self.args],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                line = self.proc.stdout.readline()
                if line.startswith(b"READY"):
                    return
            if self.proc.poll() is not None:
                break
        self.kill()
        raise RuntimeError(f"RTSP server did not start: {line!r}")

    def kill(self) -> None:
        process.kill(self.proc)


def ffprobe(path: Path | str) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
         str(path)], capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, f"ffprobe cannot read {path}: {out.stderr}"
    return json.loads(out.stdout)


def video_stream(probe: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in probe["streams"] if s["codec_type"] == "video")


def count_frames(path: Path | str) -> int:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0", "-show_entries",
         "stream=nb_read_packets", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip().split(",")[0])


async def wait_for(pred: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """The shared wait (tests/helpers/wait.py), polling a little slower: these conditions
    read files and processes."""
    return await shared_wait_for(pred, timeout, what, interval=0.1)


def post_json(url: str, body: bytes = b"{}") -> dict:
    """POST a JSON body to the agent's API as a same-origin client would."""
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"X-Requested-With": "test",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())
