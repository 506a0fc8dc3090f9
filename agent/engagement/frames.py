"""Frames for analysis from a camera URL or a file, decoded with PyAV in a thread.

A camera's sub-stream is decoded fully (it is small); without one, only keyframes of the
main stream are decoded (``skip_frame = "NONKEY"``), which is far cheaper than decoding
every frame of a 1080p stream. Frames are handed over at most ``max_fps`` times a second;
the consumer's bounded queue drops the oldest frame rather than falling behind. Pixels stay
in memory: nothing here writes, logs or returns anything but arrays to the analyser.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agent.runtime.worker import ThreadWorker
from drivers.backoff import Backoff
from drivers.redact import redact, scrub

log = logging.getLogger(__name__)


class FrameSourceError(Exception):
    pass


def _open(url: str, timeout_s: float) -> Any:  # an av InputContainer
    # lazy: PyAV loads with the first frame source
    import av

    options = {}
    if url.startswith(("rtsp://", "rtsps://")):
        options = {"rtsp_transport": "tcp"}
    try:
        return av.open(url, options=options, timeout=timeout_s)
    except (av.FFmpegError, OSError) as e:
        # PyAV's message quotes the URL, password included: neither reaches the text that
        # goes to logs, /api/status and the errors ring
        raise FrameSourceError(f"cannot open {redact(url)}: {_why(e, url)}") from None


def _why(e: BaseException, url: str) -> str:
    """An exception's message, safe to show: the URL's password scrubbed."""
    return scrub(getattr(e, "strerror", None) or str(e), url) or type(e).__name__


class FrameReader(ThreadWorker):
    """Reads ``url`` in its own thread and offers BGR frames to ``sink`` (a callable that
    must not block). Reconnects with backoff; ``stop()`` ends it."""

    def __init__(self, url: str, sink: Callable[[float, np.ndarray], None], max_fps: float,
                 keyframes_only: bool, loop: bool = False, timeout_s: float = 5.0,
                 realtime: bool | None = None) -> None:
        self.url = url
        self.sink = sink
        self.min_interval = 1.0 / max_fps if max_fps > 0 else 0.0
        self.keyframes_only = keyframes_only
        self.loop = loop
        self.timeout_s = timeout_s
        # files are paced at their own frame rate, like a camera; live sources already are
        self.realtime = Path(url).is_file() if realtime is None else realtime
        self.decoded = 0
        self.offered = 0
        self.error: str | None = None
        self.connected = False
        super().__init__("engagement-reader")

    def stop(self, timeout: float = 5.0) -> None:
        self.request_stop()
        self.join(timeout)

    def _run(self) -> None:
        backoff = Backoff(1.0, 30.0)
        while not self._stop.is_set():
            try:
                finished = self._read_once()
                backoff.reset()
                if finished and not self.loop:
                    break
            except FrameSourceError as e:
                self.error = str(e)
                self.connected = False
                wait = backoff.next()
                log.warning("engagement source: %s (retry in %.0fs)", e, wait)
                self._stop.wait(wait)
            except Exception as e:  # a decoder hiccup must not end analysis
                self.error = f"{type(e).__name__}: {scrub(str(e), self.url)}"
                self.connected = False
                log.warning("engagement source failed: %s", self.error)
                self._stop.wait(backoff.next())
        self.connected = False

    def _read_once(self) -> bool:
        # lazy: PyAV loads with the first frame source
        import av

        container = _open(self.url, self.timeout_s)
        try:
            if not container.streams.video:
                raise FrameSourceError(f"{redact(self.url)}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if self.keyframes_only:
                stream.codec_context.skip_frame = "NONKEY"
            self.connected = True
            self.error = None
            last = 0.0
            t_start = time.monotonic()
            pts0 = None
            for frame in container.decode(stream):
                if self._stop.is_set():
                    return False
                self.decoded += 1
                if self.realtime and frame.pts is not None and frame.time_base:
                    t = float(frame.pts * frame.time_base)
                    pts0 = t if pts0 is None else pts0
                    delay = (t - pts0) - (time.monotonic() - t_start)
                    if delay > 0 and self._stop.wait(delay):
                        return False
                now = time.monotonic()
                if now - last < self.min_interval:
                    continue
                last = now
                self.offered += 1
                self.sink(now, frame.to_ndarray(format="bgr24"))
            return True
        except av.FFmpegError as e:
            raise FrameSourceError(f"{redact(self.url)}: {_why(e, self.url)}") from None
        finally:
            container.close()


class LatestQueue:
    """A bounded hand-over between threads that drops the oldest item when full."""

    def __init__(self, maxsize: int) -> None:
        self._q: queue.Queue[Any] = queue.Queue(max(1, maxsize))
        self.dropped = 0
        self._lock = threading.Lock()

    def put(self, item: Any) -> None:
        with self._lock:
            while True:
                try:
                    self._q.put_nowait(item)
                    return
                except queue.Full:
                    try:
                        self._q.get_nowait()
                        self.dropped += 1
                    except queue.Empty:
                        pass

    def get(self, timeout: float | None = None) -> Any:
        return self._q.get(timeout=timeout)

    def clear(self) -> None:
        """Drop waiting frames (analysis paused: no stale pixels kept, none analysed later)."""
        with self._lock:
            while True:
                try:
                    self._q.get_nowait()
                except queue.Empty:
                    return
