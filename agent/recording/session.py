"""One recording in progress: its directory, manifest, capture threads and gaps.

All methods run on the event loop; capture threads only ``post`` events into a queue that
``consume`` applies in order (manifest, gaps, device states via callbacks).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import msgspec

from agent.events import RecordingGap
from agent.recording import manifest as mf
from agent.recording.capture import CameraCapture, CaptureEvent

log = logging.getLogger(__name__)


class Session:
    def __init__(self, m: mf.Manifest, directory: Path, rel_dir: str) -> None:
        self.m = m
        self.dir = directory
        self.rel_dir = rel_dir
        self.captures: dict[str, CameraCapture] = {}
        self.queue: asyncio.Queue[CaptureEvent] = asyncio.Queue()
        self.started_mono = time.monotonic()
        self.ever_online: set[str] = set()
        self._save_lock = asyncio.Lock()
        self._dirty = False
        self.event_errors = 0  # capture events whose application failed (logged)

    # ------------------------------------------------------------------ manifest

    async def save(self) -> None:
        """Write recording.json (coalesces: one write covers every change before it)."""
        self._dirty = True
        async with self._save_lock:
            if not self._dirty:
                return
            self._dirty = False
            snapshot = msgspec.convert(msgspec.to_builtins(self.m), mf.Manifest)
            await asyncio.to_thread(mf.write, self.dir, snapshot)

    # ------------------------------------------------------------------ gaps

    def open_gap(self, cam: str, start: datetime, reason: str) -> None:
        if any(g.camera == cam and g.end is None for g in self.m.gaps):
            return
        self.m.gaps.append(RecordingGap(camera=cam, start=start, reason=reason))

    def close_gap(self, cam: str, end: datetime) -> None:
        for g in self.m.gaps:
            if g.camera == cam and g.end is None:
                g.end = max(end, g.start)

    def close_all_gaps(self, end: datetime) -> None:
        for g in self.m.gaps:
            if g.end is None:
                g.end = max(end, g.start)

    # ------------------------------------------------------------------ events

    async def consume(self, on_event: Callable[[CaptureEvent], Awaitable[None]],
                      on_error: Callable[[CaptureEvent], None] | None = None) -> None:
        """Apply posted events in order until cancelled. One event that fails (disk full
        while saving the manifest, the bus refusing a device state) is logged and counted;
        the next ones are still applied - a consumer that died would leave the capture
        threads posting into a queue nobody reads and ``stop`` waiting on it."""
        while True:
            ev = await self.queue.get()
            try:
                await self.apply(ev, on_event, on_error)
            finally:
                self.queue.task_done()

    async def drain(self, on_event: Callable[[CaptureEvent], Awaitable[None]],
                    on_error: Callable[[CaptureEvent], None] | None = None) -> int:
        """Apply what is queued right now, without waiting for more (the consumer is
        gone); returns how many events were applied."""
        n = 0
        while True:
            try:
                ev = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                return n
            try:
                n += await self.apply(ev, on_event, on_error)
            finally:
                self.queue.task_done()

    async def apply(self, ev: CaptureEvent, on_event: Callable[[CaptureEvent], Awaitable[None]],
                    on_error: Callable[[CaptureEvent], None] | None = None) -> bool:
        """Apply one event; False (logged, counted) when that failed."""
        try:
            await on_event(ev)
            return True
        except Exception:
            self.event_errors += 1
            log.exception("recording %s: applying the %s event of %s failed",
                          self.m.recording_id, ev.kind, ev.camera)
            if on_error is not None:
                try:
                    on_error(ev)
                except Exception:  # a metrics hiccup must not undo the catch above
                    log.exception("counting a failed recording event failed")
            return False

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started_mono

    def bytes_written(self) -> int:
        return sum(c.bytes_written for c in self.captures.values())
