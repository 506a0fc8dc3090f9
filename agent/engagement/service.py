"""EngagementService: camera frames -> Analyzer (worker thread) -> windows on the bus.

Threads: a reader (PyAV decode), one worker (ONNX Runtime), the event loop (aggregation,
publishing). Between reader and worker sits a bounded queue that drops the oldest frame,
so analysis never falls behind the camera; the fps it achieves is measured and reported.
Only numbers leave: ``EngagementWindow`` events, ``status()`` and the per-minute timeline.

Gating (``engagement.active``): with "lessons" the reader and worker run only while a
lesson is current (state section "lesson" non-empty) or a recording runs. Otherwise the
camera is closed and the service sleeps on state changes / recording events (plus a slow
fallback poll): an idle room decodes nothing. A room with neither a LessonService nor a
RecordingService analyses always.
"""

# ctx.service(Protocol) looks services up by their protocol in agent/interfaces.py; mypy
# only lets concrete classes stand for type[T] (python/mypy#4717)
# mypy: disable-error-code="type-abstract"

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from datetime import datetime
from typing import Any

from agent.config import ConfigError
from agent.engagement.config_check import select_camera
from agent.engagement.frames import FrameReader, LatestQueue
from agent.engagement.pipeline import Analyzer, AnalyzerSettings, FrameResult
from agent.engagement.window import Timeline, WindowAggregator
from agent.events import Event, RecordingEvent
from agent.interfaces import Recorder
from agent.runtime.service import AgentContext, Service
from models.registry import ModelError

log = logging.getLogger(__name__)

# Idle: state changes (lesson opened/closed) and recording events wake the service at once;
# this poll only catches a change nothing announced. Active: how often the gate is
# re-checked when no frame result arrives.
IDLE_POLL_S = 5.0
ACTIVE_CHECK_S = 1.0


def settings_from_config(e: Any) -> AnalyzerSettings:
    return AnalyzerSettings(
        intra_threads=e.intra_threads, inter_threads=e.inter_threads,
        providers=list(e.providers) or ["CPUExecutionProvider"], face_score=e.face_score,
        detect_width=e.detect_width, min_face_px=e.min_face_px, head_pose=e.head_pose,
        max_pose_faces=e.max_pose_faces, pitch_down_deg=e.pitch_down_deg,
        pitch_offset_deg=e.pitch_offset_deg, max_yaw_deg=e.max_yaw_deg,
        hand_raise=e.hand_raise, hand_method=e.hand_method, hand_crop_above=e.hand_crop_above,
        hand_crop_below=e.hand_crop_below, hand_crop_sideways=e.hand_crop_sideways,
        hand_kp_score=e.hand_kp_score, pose_tile=e.pose_tile, pose_upscale=e.pose_upscale,
        hold_frames=e.hold_frames,
        face_detector_model=e.face_detector_model,
        face_landmarks_model=e.face_landmarks_model, pose_model=e.pose_model,
        hand_pose_model=e.hand_pose_model,
    )


class EngagementService(Service):
    name = "engagement"
    capabilities = ("engagement",)

    @classmethod
    def create(cls, ctx: AgentContext) -> EngagementService | None:
        e = ctx.config.engagement
        if not e.enabled:
            return None
        return cls(ctx)

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        e = self.cfg = ctx.config.engagement
        cam = select_camera(ctx.config)
        if e.source:
            self.camera_id, self.url, self.keyframes_only = (cam.id if cam else "source"), \
                e.source, False
        else:
            assert cam is not None  # the config check refuses this
            self.camera_id = cam.id
            self.url = cam.sub_stream or cam.url
            self.keyframes_only = not cam.sub_stream
        self.loop_source = e.loop or bool(cam and cam.loop and not e.source)
        self.analyzer: Analyzer | None = None
        self._timeline = Timeline(e.timeline_minutes)
        self.window = WindowAggregator(self.camera_id)
        self.last: FrameResult | None = None
        self.last_window: dict[str, Any] | None = None
        self.windows = 0
        self.analysed = 0
        self.errors = 0
        self._times: deque[float] = deque(maxlen=50)  # monotonic times of analysed frames
        self._queue = LatestQueue(e.queue_size)
        self._reader: FrameReader | None = None
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()  # of the running reader/worker pair
        self.active = False
        self.active_reason = "starting"
        self._gate_lessons: Service | None = None
        self._gate_recording = False  # the room records: a recording opens the gate
        self._recording: str | None = None  # the recording in progress, from its events
        self._gated = e.active == "lessons"
        self._window_lesson: str | None = None  # last lesson seen while analysing
        self._wake = asyncio.Event()
        self._listening = False
        self.activations = 0
        m = ctx.metrics
        self.m_frames = m.counter("classroom_engagement_frames_total", "Frames analysed")
        self.m_dropped = m.gauge("classroom_engagement_dropped_frames",
                                 "Frames dropped because analysis was busy")
        self.m_seconds = m.histogram("classroom_engagement_frame_seconds",
                                     "Analysis time per frame")
        self.m_fps = m.gauge("classroom_engagement_fps", "Frames analysed per second")
        self.m_faces = m.gauge("classroom_engagement_faces",
                               "People in the last frame (faces, bodies, recent places)")
        self.m_errors = m.counter("classroom_engagement_errors_total",
                                  "Frames whose analysis failed")
        self.m_active = m.gauge("classroom_engagement_active",
                                "1 while frames are analysed, 0 while paused (no lesson)")

    async def start(self) -> None:
        # loads and verifies the models: a missing/corrupt one stops the agent's start
        # with one line (the CLI prints ConfigErrors without a traceback, exit status 2)
        try:
            self.analyzer = await asyncio.to_thread(Analyzer, settings_from_config(self.cfg))
        except ModelError as e:
            raise ConfigError(f"engagement: {e}") from None
        if not self._listening:
            self.ctx.bus.add_listener(self._on_event)
            self._listening = True

    def _on_event(self, e: Event) -> None:
        # a recording start/stop does not change the state snapshot: follow its events
        # and wake the gate directly
        if isinstance(e, RecordingEvent):
            if e.action == "started":
                self._recording = e.recording_id
            elif e.action != "deleted" and e.recording_id == self._recording:
                self._recording = None
            self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        results: asyncio.Queue[tuple[float, FrameResult]] = asyncio.Queue(100)

        def deliver(item: tuple[float, FrameResult]) -> None:
            if not results.full():
                results.put_nowait(item)

        self._resolve_gate()
        try:
            while True:
                await self._wait_until_active()
                await self._analyse_while_active(loop, results, deliver)
        finally:
            self._halt()

    # ------------------------------------------------------------------ gating

    def _resolve_gate(self) -> None:
        """Which services decide "a lesson runs": none in this room -> analyse always."""
        # lazy: concrete services (PyAV with recording); issue 16 item 1 makes these Protocols
        from agent.lessons.service import LessonService
        self._gate_lessons = self.ctx.service(LessonService)
        self._gate_recording = self.ctx.service(Recorder) is not None
        self._gated = self.cfg.active == "lessons" and (
            self._gate_lessons is not None or self._gate_recording)

    def _gate(self) -> tuple[bool, str]:
        """(analyse now?, why): "always", "lesson", "recording" or "idle"."""
        if not self._gated:
            return True, "always"
        if self.ctx.state.get("lesson"):  # LessonService sets None when no lesson is current
            self._window_lesson = self._lesson_id() or self._window_lesson
            return True, "lesson"
        if self._gate_recording and self._recording is not None:
            return True, "recording"
        return False, "idle"

    def _set_active(self, active: bool, reason: str) -> None:
        if (active, reason) == (self.active, self.active_reason):
            return
        was = self.active
        self.active, self.active_reason = active, reason
        self.m_active.set(1 if active else 0)
        if active != was:
            log.info("engagement analysis %s (%s)", "running" if active else "paused", reason)
        self.ctx.state.set("engagement", self.status())  # live pages see the switch

    async def _wait_until_active(self) -> None:
        while True:
            self._wake.clear()
            active, reason = self._gate()
            self._set_active(active, reason)
            if active:
                return
            await self._wait_change(self.ctx.state.version, IDLE_POLL_S)

    async def _wait_change(self, since: int, timeout: float) -> None:
        """Until the state changes, a recording event arrives, or ``timeout``: no busy loop."""
        changed = asyncio.ensure_future(self.ctx.state.wait_changed(since, timeout))
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({changed, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            changed.cancel()
            woken.cancel()

    async def _analyse_while_active(self, loop: asyncio.AbstractEventLoop,
                                    results: asyncio.Queue[tuple[float, FrameResult]],
                                    deliver: Any) -> None:
        self._start_pipeline(loop, deliver)
        self.activations += 1
        clock = self.ctx.clock
        w_start, w_mono = clock.now(), clock.monotonic()
        while True:
            remaining = self.cfg.window_s - (clock.monotonic() - w_mono)
            try:
                if results.empty():
                    async with asyncio.timeout(max(0.0, min(remaining, ACTIVE_CHECK_S))):
                        _t, r = await results.get()
                else:
                    _t, r = results.get_nowait()
                self._on_result(r)
            except TimeoutError:
                pass
            active, reason = self._gate()
            if not active:
                break
            self._set_active(True, reason)
            if clock.monotonic() - w_mono >= self.cfg.window_s:
                await self._close_window(self._lesson_id(), w_start, w_mono)
                w_start, w_mono = clock.now(), clock.monotonic()
        # the lesson ended: close the camera first, then publish what was analysed so far
        await asyncio.to_thread(self._halt)
        while not results.empty():
            self._on_result(results.get_nowait()[1])
        await self._close_window(self._lesson_id() or self._window_lesson, w_start, w_mono)
        self._window_lesson = None
        self.last, self._held_hands = None, None  # no stale "live" numbers while paused
        self._times.clear()
        self.m_fps.set(0)
        self._set_active(False, "idle")

    async def _close_window(self, lesson_id: str | None, w_start: datetime,
                            w_mono: float) -> None:
        clock = self.ctx.clock
        ev = self.window.close(clock.now(), clock.monotonic(), lesson_id, w_start, w_mono)
        if ev is None:
            return
        self._timeline.add(ev)
        self.windows += 1
        self.last_window = {"head_count_median": ev.head_count_median,
                            "head_up_rate": ev.head_up_rate,
                            "hands_raised": ev.hands_raised, "fps": ev.fps,
                            "frames": ev.frames, "end": ev.window_end.isoformat(),
                            "lesson_id": ev.lesson_id}
        self.ctx.state.set("engagement", self.status())
        await self.ctx.bus.publish(ev)

    def _start_pipeline(self, loop: asyncio.AbstractEventLoop, deliver: Any) -> None:
        """A fresh reader + worker pair (threads cannot be restarted)."""
        self._stop = stop = threading.Event()
        self._queue.clear()
        if self.analyzer is not None:
            self.analyzer.reset()  # places and hand tracks of a past lesson do not carry over
        self._worker = threading.Thread(target=self._work, args=(stop, loop, deliver),
                                        name="engagement-worker", daemon=True)
        self._worker.start()
        self._reader = FrameReader(self.url, lambda t, f: self._queue.put((t, f)),
                                   self.cfg.analysis_fps, self.keyframes_only,
                                   loop=self.loop_source)
        self._reader.start()

    def _on_result(self, r: FrameResult) -> None:
        self.last = r
        self.analysed += 1
        self._times.append(time.monotonic())
        self.m_frames.inc()
        self.m_seconds.observe(r.seconds)
        self.m_faces.set(r.people)
        self.m_fps.set(self.fps())
        self.m_dropped.set(self._queue.dropped)
        hands = r.hands_raised if r.hands_raised is not None else self._held_hands
        if r.hands_raised is not None:
            self._held_hands = r.hands_raised
        # the head count is people (faces + bodies + places seen recently), not faces
        self.window.add(self.ctx.clock.now(), self.ctx.clock.monotonic(), r.people,
                        r.head_up_rate, hands)

    _held_hands: int | None = None

    def _work(self, stop: threading.Event, loop: asyncio.AbstractEventLoop, deliver: Any) -> None:
        """Worker thread: analyse the newest frame, hand numbers to the loop."""
        last_hands = -1e9
        while not stop.is_set():
            try:
                t, frame = self._queue.get(timeout=0.2)
            except Exception:
                continue
            now = time.monotonic()
            hands = self.cfg.hand_raise and now - last_hands >= self.cfg.hands_every_s
            try:
                assert self.analyzer is not None
                r = self.analyzer.analyze(frame, hands=hands)
            except Exception:
                self.errors += 1
                self.m_errors.inc()
                log.exception("engagement analysis failed on a frame")
                continue
            finally:
                del frame  # pixels never outlive their analysis
            if hands:
                last_hands = now
            r.seconds = time.monotonic() - t  # end-to-end: decode hand-over to result
            try:
                loop.call_soon_threadsafe(deliver, (t, r))
            except RuntimeError:  # loop closed during shutdown
                return

    def _halt(self) -> None:
        """Stop reader and worker (closes the camera); safe to call twice."""
        self._stop.set()
        if self._reader:
            self._reader.stop()
        if self._worker:
            self._worker.join(10)
        self._queue.clear()

    async def stop(self) -> None:
        await asyncio.to_thread(self._halt)

    def _lesson_id(self) -> str | None:
        # the lessons service keeps its current lesson (a dict) or None in the state
        lesson = self.ctx.state.get("lesson")
        return lesson.get("lesson_id") if isinstance(lesson, dict) else None

    def fps(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        if time.monotonic() - self._times[-1] > 5 * max(span / len(self._times), 1.0):
            return 0.0
        return round((len(self._times) - 1) / span, 2) if span > 0 else 0.0

    def timeline(self, t0: datetime | None = None, t1: datetime | None = None,
                 lesson_id: str | None = None) -> list[dict[str, Any]]:
        """Per-minute numbers (head count, head-up rate, hands) for minutes in [t0, t1)."""
        return self._timeline.query(t0, t1, lesson_id)

    def lesson_timeline(self, lesson_id: str, start: datetime, minutes: int
                        ) -> list[float | None]:
        """Mean head-up rate per lesson minute (LessonEngagement.timeline's shape)."""
        return self._timeline.lesson_minutes(lesson_id, start, minutes)

    def status(self) -> dict[str, Any]:
        r = self.last
        reader = self._reader
        return {
            "active": self.active,
            "active_reason": self.active_reason,  # lesson | recording | always | idle
            "active_mode": self.cfg.active,
            "camera": self.camera_id,
            "mode": "file/url" if self.cfg.source else (
                "keyframes" if self.keyframes_only else "sub_stream"),
            "connected": bool(reader and reader.connected),
            "source_error": reader.error if reader else None,
            "fps": self.fps(),
            "target_fps": self.cfg.analysis_fps,
            "frames": self.analysed,
            "dropped": self._queue.dropped,
            "errors": self.errors,
            # the head count: people (faces + bodies + places seen recently); the key keeps
            # its name for the status page and /api/status consumers
            "faces": r.people if r else None,
            "head_up_rate": round(r.head_up_rate, 3) if r and r.head_up_rate is not None
            else None,
            "hands_raised": self._held_hands,
            "latency_ms": round(r.seconds * 1000, 1) if r else None,
            "hand_raise": self.cfg.hand_raise,
            "windows": self.windows,
            "last_window": self.last_window,
        }
