"""The recording service: the ONE place recordings are started and stopped.

HTTP (/api/recording/*), MQTT commands (record/start, record/stop), the CLI (through HTTP)
and the lessons timetable all end up in ``start_recording`` / ``stop_recording`` here.
It owns the capture threads, recording.json, the catalog, camera device states and crash
recovery; retention (cleanup.py) and upload (uploads.py) are classes of their own that it
runs and wakes. See docs/recording.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar
from zoneinfo import ZoneInfo

import msgspec

from agent.commands import CommandError
from agent.config import CameraConfig, read_secret
from agent.events import DeviceFault, DeviceState, RecordingEvent, ShowcaseEvent
from agent.interfaces import CameraTaps, RecordingFiles, RecordingNow
from agent.recording import manifest as mf
from agent.recording.capture import CameraCapture, CaptureEvent, PacketTap
from agent.recording.catalog import Catalog
from agent.recording.cleanup import Retention
from agent.recording.quality import quality_values
from agent.recording.session import Session
from agent.recording.uploads import Uploads
from agent.runtime.service import AgentContext, Service
from drivers.camera.source import SourceError, SourceOptions, StreamInfo, probe, redact

log = logging.getLogger(__name__)

Text = Annotated[str, msgspec.Meta(max_length=200)]
Ident = Annotated[str, msgspec.Meta(max_length=100)]


class RecordStartArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Text | None = None
    subject: Text | None = None
    teacher: Text | None = None
    lesson_id: Ident | None = None
    cameras: list[Ident] | None = None  # a subset of the configured cameras (default all)
    trigger: Ident | None = None  # who asked (timetable ...); default: the transport


class RecordStopArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    trigger: Ident | None = None


class ShowcaseArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    recording_id: Ident
    undo: bool = False  # take the showcase marking back (the same local day only)
    trigger: Ident | None = None


FreeSpace = Callable[[Path], int]


def disk_free(path: Path) -> int:
    return shutil.disk_usage(path).free


def _safe_name(value: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", value).strip("._")[:64]
    return name or "lesson"


def source_options(cam: CameraConfig, stall_s: float) -> SourceOptions:
    return SourceOptions(
        url=cam.url, loop=cam.loop, transport=cam.transport,
        connect_timeout_s=cam.connect_timeout_s,
        read_timeout_s=min(cam.read_timeout_s, stall_s),
        input_format=cam.input_format, input_options=dict(cam.input_options), audio=cam.audio,
    )


# A SIGTERM mid-lesson must end with recording.json saying ``partial`` and the catalog
# closed, however the cameras behave. The supervisor gives ``stop`` STOP_TIMEOUT_S; the
# capture threads get all of it but FINAL_RESERVE_S, which is kept for the final writes.
STOP_TIMEOUT_S = 15.0
FINAL_RESERVE_S = 4.0
# once the threads are joined, how long the consumer may take to apply what they posted
# before ``_finish`` applies the rest itself (a consumer stuck on a hung publish)
EVENTS_SETTLE_S = 5.0


class RecordingService(Service, CameraTaps, RecordingFiles):
    name = "recording"
    capabilities = ("recording", "cameras")
    stop_timeout_s: ClassVar[float | None] = STOP_TIMEOUT_S

    def __init__(self, ctx: AgentContext, free_space: FreeSpace = disk_free) -> None:
        super().__init__(ctx)
        self.cfg = ctx.config.recording
        self.cameras = {c.id: c for c in ctx.config.cameras if c.enabled}
        self.root = Path(self.cfg.dir) if self.cfg.dir else ctx.config.data_dir / "recordings"
        self.tz = ZoneInfo(ctx.config.site.timezone)
        self.free_space: FreeSpace = free_space  # injectable (tests)
        self.catalog: Catalog | None = None
        self.session: Session | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._op_lock = asyncio.Lock()  # start/stop never interleave
        self._devices: dict[str, tuple[str, str]] = {}
        self._stream_info: dict[str, StreamInfo] = {}
        self._bitrate_bps = 0.0  # of the current (or last) recording
        self._last: dict[str, Any] | None = None  # outcome of the last recording ended
        self._bg: set[asyncio.Task[None]] = set()
        # monotonic deadline of the capture-thread joins under way (a list: the joining
        # thread reads it, so shutdown can shorten a join another stop already began)
        self._join_until: list[float] = [0.0]
        self._closing: Session | None = None  # ended, final state not yet on disk
        self.probe_count = 0  # idle-camera probes done (tests, status)
        m = ctx.metrics
        self.m_recordings = m.counter("classroom_recording_recordings_total",
                                      "Recordings ended, by outcome", ["outcome"])
        self.m_gaps = m.counter("classroom_recording_gaps_total",
                                "Camera gaps during recordings", ["camera"])
        self.m_segments = m.counter("classroom_recording_segments_total",
                                    "Segment files closed", ["camera"])
        self.m_bytes = m.gauge("classroom_recording_bytes", "Bytes of the current recording")
        self.m_ptz = m.counter("classroom_recording_ptz_total",
                               "PTZ preset recalls, by outcome", ["camera", "outcome"])
        self.m_refused = m.counter("classroom_recording_refused_total",
                                   "Start/stop requests refused", ["code"])
        self.m_event_errors = m.counter(
            "classroom_recording_event_errors_total",
            "Capture events (segment, online, offline) whose application failed", ["kind"])
        self.m_stuck = m.counter(
            "classroom_recording_stuck_captures_total",
            "Capture threads that did not stop in time when a recording ended", ["camera"])
        self.retention = Retention(self.cfg, self.root, ctx.clock, m, self._measure_free,
                                   self._busy, lambda: self._bitrate_bps,
                                   self._published_deleted)
        self.uploads = Uploads(self.cfg.upload, ctx.config.site, self.root, ctx.clock, m,
                               self.retention)

    @classmethod
    def create(cls, ctx: AgentContext) -> RecordingService | None:
        if not any(c.enabled for c in ctx.config.cameras):
            return None
        return cls(ctx)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        from agent.recording.segments import SYNCER

        SYNCER.interval_s = self.cfg.fsync_interval_s  # one syncer for the process
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        self.catalog = await asyncio.to_thread(Catalog, self.root / "catalog.sqlite")
        self.retention.catalog = self.uploads.catalog = self.catalog
        await self._recover()
        self.ctx.commands.register(
            "record/start", self._cmd_start, RecordStartArgs,
            "Start recording the lesson (optional title, subject, teacher, lesson_id, cameras)",
        )
        self.ctx.commands.register(
            "record/stop", self._cmd_stop, RecordStopArgs, "Stop the recording in progress"
        )
        self.ctx.commands.register(
            "record/showcase", self._cmd_showcase, ShowcaseArgs,
            "Keep a recording as a showcase lesson (undo: true takes it back the same day)",
        )
        await self.retention.measure()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._probe_loop(), name="recording-probe")
            tg.create_task(self._watchdog_loop(), name="recording-watchdog")
            tg.create_task(self.retention.loop(), name="recording-retention")
            if self.cfg.upload.url:
                tg.create_task(self.uploads.loop(), name="recording-upload")

    async def stop(self) -> None:
        # SIGTERM mid-lesson: finish the open fragment and say honestly it was cut short.
        # The capture threads get a share of the stop budget, never more: a camera frozen
        # mid-read must not keep recording.json at ``recording`` (see STOP_TIMEOUT_S).
        join_s = max(1.0, (self.stop_timeout_s or STOP_TIMEOUT_S) - FINAL_RESERVE_S)
        # a stop cut short (an HTTP request, the max-duration watchdog) may have left its
        # join running in a worker thread; asyncio.run waits for those at exit
        self._join_until[0] = min(self._join_until[0], time.monotonic() + join_s)
        try:
            async with self._op_lock:  # a start/stop in flight ends first (bounded too)
                if self.session is not None:
                    await self._finish(trigger="shutdown",
                                       reason="agent stopped during the recording",
                                       join_timeout_s=join_s)
                elif self._closing is not None:  # an earlier stop was cut short
                    self._abandon_sync("agent stopped during the recording")
        except asyncio.CancelledError:
            # the supervisor's budget ran out anyway (a disk that stalls): write the final
            # state synchronously - blocking the loop is fine, it is being shut down
            self._abandon_sync("agent stopped during the recording; the stop ran out of time")
            raise
        except Exception:
            log.exception("finishing the recording at shutdown failed")
            self._abandon_sync("agent stopped during the recording; finishing it failed")
        finally:
            if self.catalog is not None:
                catalog, self.catalog = self.catalog, None
                try:
                    await asyncio.to_thread(catalog.close)
                except asyncio.CancelledError:
                    catalog.close()
                    raise

    # ------------------------------------------------------------------ public API

    @property
    def recordings_dir(self) -> Path:
        return self.root

    async def start_recording(
        self, title: str | None = None, subject: str | None = None,
        lesson_id: str | None = None, teacher: str | None = None, trigger: str = "api",
        cameras: list[str] | None = None,
    ) -> dict[str, Any]:
        """Start recording every enabled camera (or ``cameras``); CommandError if already
        recording or a camera id is unknown."""
        async with self._op_lock:
            if self.session is not None:
                self.m_refused.labels("already_recording").inc()
                raise CommandError(
                    "already_recording",
                    f"already recording {self.session.m.recording_id} "
                    f"(lesson {self.session.m.lesson_id}); stop it first",
                )
            chosen = list(self.cameras) if not cameras else list(dict.fromkeys(cameras))
            unknown = [c for c in chosen if c not in self.cameras]
            if unknown:
                self.m_refused.labels("unknown_camera").inc()
                raise CommandError(
                    "unknown_camera",
                    f"unknown camera {', '.join(map(repr, unknown))}; configured: "
                    f"{', '.join(self.cameras) or 'none'}",
                )
            # a teacher pressing Record during a timetabled lesson records *that* lesson
            lesson = self.ctx.state.get("lesson") if lesson_id is None else None
            if isinstance(lesson, dict) and lesson.get("lesson_id"):
                lesson_id = lesson["lesson_id"]
                title = title or lesson.get("title") or ""
                subject = subject or lesson.get("subject") or ""
                teacher = teacher or lesson.get("teacher") or ""
            return await self._begin(title or "", subject or "", lesson_id, teacher or "",
                                     trigger or "api", chosen)

    def recording_now(self) -> RecordingNow | None:
        s = self.session
        if s is None:
            return None
        return RecordingNow(s.m.recording_id, s.m.lesson_id, frozenset(s.captures))

    def set_tap(self, camera: str, tap: PacketTap | None,
                replacing: PacketTap | None = None) -> bool:
        s = self.session
        cap = s.captures.get(camera) if s is not None else None
        if cap is None or (replacing is not None and cap.tap is not replacing):
            return False
        cap.tap = tap
        return True

    async def stop_recording(self, trigger: str = "api", reason: str = "") -> dict[str, Any]:
        """Stop the recording in progress; CommandError when idle."""
        async with self._op_lock:
            if self.session is None:
                self.m_refused.labels("not_recording").inc()
                raise CommandError("not_recording", "nothing is being recorded")
            return await self._finish(trigger=trigger or "api", reason=reason)

    async def mark_showcase(self, recording_id: str, showcase: bool = True,
                            trigger: str = "api") -> dict[str, Any]:
        """Keep ``recording_id`` as a showcase lesson (or undo that, on the local day it
        was kept); judges it by ``recording.quality_rule`` and publishes a ShowcaseEvent.
        CommandError: unknown, still recording, deleted, or an undo on a later day."""
        from agent.lessons.rule import QUALITY_VARIABLES, compile_rule

        async with self._op_lock:
            assert self.catalog is not None
            row = await asyncio.to_thread(self.catalog.get, recording_id)
            if row is None:
                self.m_refused.labels("unknown_recording").inc()
                raise CommandError("unknown_recording", f"no recording {recording_id!r}")
            if row["state"] == "recording":
                self.m_refused.labels("still_recording").inc()
                raise CommandError("still_recording", "stop the recording first")
            if row["state"] == "deleted":
                self.m_refused.labels("deleted").inc()
                raise CommandError("deleted", "the recording was deleted")
            now = self.ctx.clock.now().astimezone(UTC)
            today = now.astimezone(self.tz).date()
            result = {"recording_id": recording_id, "lesson_id": row["lesson_id"],
                      "showcase": showcase, "quality": False, "changed": False}
            if bool(row["showcase"]) == showcase:
                result["quality"] = bool(row["quality"])
                return result  # already so: nothing to re-send
            if not showcase:
                kept = datetime.fromisoformat(row["showcase_at"]) if row["showcase_at"] else now
                if kept.astimezone(self.tz).date() != today:
                    self.m_refused.labels("too_late").inc()
                    raise CommandError("too_late", "a showcase can only be undone on the day "
                                                   "it was kept")
            quality = False
            directory = self.root / row["path"]
            try:
                # recording.json is the record on disk (the catalog can be rebuilt from it)
                m = await asyncio.to_thread(mf.read, directory)
                if showcase:
                    values = quality_values(m, list(self.cameras))
                    quality = compile_rule(self.cfg.quality_rule, QUALITY_VARIABLES)(values)
                m.showcase, m.quality = showcase, quality
                m.showcase_at = now if showcase else None
                await asyncio.to_thread(mf.write, directory, m, ".showcase.tmp")
            except (OSError, msgspec.DecodeError) as e:
                log.warning("recording %s: cannot read or update recording.json (quality not "
                            "judged): %s", recording_id, e)
            await asyncio.to_thread(self.catalog.update, recording_id, showcase=int(showcase),
                                    showcase_at=now.isoformat() if showcase else None,
                                    quality=int(quality))
            if self._last and self._last.get("recording_id") == recording_id:
                self._last["showcase"] = showcase
            result.update(quality=quality, changed=True)
            if showcase:
                midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(),
                                            tzinfo=self.tz)
                result["undo_until"] = midnight.astimezone(UTC).isoformat()
            await self.ctx.bus.publish(ShowcaseEvent(
                ts=now, recording_id=recording_id, lesson_id=row["lesson_id"],
                subject=row["subject"], showcase=showcase, quality=quality,
                rule=self.cfg.quality_rule, trigger=trigger))
            log.info("recording %s %s (quality %s, %s)", recording_id,
                     "kept as a showcase lesson" if showcase else "showcase undone", quality,
                     trigger)
            return result

    # the lessons service and tests may use these names too
    record_start = start_recording
    record_stop = stop_recording

    async def recordings(self, limit: int = 200, include_deleted: bool = False) -> list[dict]:
        if self.catalog is None:
            return []
        rows = await asyncio.to_thread(self.catalog.list, include_deleted, limit)
        for r in rows:
            r["upload"] = None if r["upload_state"] is None else {
                "state": r.pop("upload_state"), "reason": r.pop("upload_reason"),
                "attempts": r.pop("upload_attempts"), "bytes": r.pop("uploaded_bytes"),
                "next_attempt": (datetime.fromtimestamp(r["upload_next"], UTC).isoformat()
                                 if r["upload_next"] else None),
            }
            for k in ("upload_state", "upload_reason", "upload_attempts", "uploaded_bytes"):
                r.pop(k, None)
            r.pop("upload_next", None)
        return rows

    def status(self) -> dict[str, Any]:
        s = self.session
        cams = []
        for cam_id, cam in self.cameras.items():
            st, reason = self._devices.get(cam_id, ("unknown", ""))
            info = self._stream_info.get(cam_id)
            entry: dict[str, Any] = {"id": cam_id, "role": cam.role, "status": st,
                                     "reason": reason, "recording": False}
            if info:
                entry.update(codec=info.codec, width=info.width, height=info.height,
                             fps=info.fps, audio=info.audio_codec)
            if s is not None and cam_id in s.captures:
                cap = s.captures[cam_id]
                ce = s.m.camera(cam_id)
                entry.update(recording=True, bytes=cap.bytes_written,
                             segments=len(ce.segments) if ce else 0,
                             mode=ce.mode if ce else "")
            cams.append(entry)
        doc: dict[str, Any] = {
            "state": "recording" if s else "idle",
            "recording_id": s.m.recording_id if s else None,
            "lesson_id": s.m.lesson_id if s else None,
            "title": s.m.title if s else None,
            "subject": s.m.subject if s else None,
            "started": s.m.started.isoformat() if s else None,
            "elapsed_s": round(s.elapsed_s(), 1) if s else 0.0,
            "last": self._last,  # finished | partial | failed, since the agent started
            "bytes": s.bytes_written() if s else 0,
            "bitrate_bps": round(self._bitrate_bps),
            "cameras": cams,
            "free_bytes": self.retention.free,
            "keep_free_bytes": self.retention.keep_free,
            "disk_low": 0 <= self.retention.free < self.retention.keep_free,
            "dir": str(self.root),
            "upload": "off" if not self.cfg.upload.url else self.uploads.status(),
        }
        return doc

    # ------------------------------------------------------------------ commands

    async def _cmd_start(self, args: RecordStartArgs) -> dict[str, Any]:
        return await self.start_recording(args.title, args.subject, args.lesson_id,
                                          args.teacher, args.trigger or "mqtt", args.cameras)

    async def _cmd_stop(self, args: RecordStopArgs) -> dict[str, Any]:
        return await self.stop_recording(trigger=args.trigger or "mqtt")

    async def _cmd_showcase(self, args: ShowcaseArgs) -> dict[str, Any]:
        return await self.mark_showcase(args.recording_id, not args.undo,
                                        args.trigger or "mqtt")

    # ------------------------------------------------------------------ start / stop

    async def _begin(self, title: str, subject: str, lesson_id: str | None, teacher: str,
                     trigger: str, chosen: list[str]) -> dict[str, Any]:
        now = self.ctx.clock.now().astimezone(UTC)
        local = now.astimezone(self.tz)
        rec_id = f"rec-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        lesson = lesson_id or f"adhoc-{local:%H%M%S}"
        date_dir = self.root / local.date().isoformat()
        directory = await asyncio.to_thread(_new_dir, date_dir, _safe_name(lesson))
        rel = f"{local.date().isoformat()}/{directory.name}"
        site = self.ctx.config.site
        m = mf.Manifest(
            recording_id=rec_id, lesson_id=lesson, title=title, subject=subject,
            teacher=teacher, trigger=trigger, school=site.school, room=site.room,
            started=now, segment_s=self.cfg.segment_s,
            cameras=[mf.CameraEntry(id=c, role=self.cameras[c].role,
                                    source=redact(self.cameras[c].url)) for c in chosen],
        )
        session = Session(m, directory, rel)
        await session.save()
        assert self.catalog is not None
        await asyncio.to_thread(self.catalog.upsert, self._row(session))
        self.session = session
        loop = asyncio.get_running_loop()

        def post(ev: CaptureEvent) -> None:  # called from capture threads
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(session.queue.put_nowait, ev)

        self._consumer = asyncio.create_task(
            session.consume(self._on_capture, self._count_event_error),
            name="recording-events")
        for cam_id in chosen:
            cam = self.cameras[cam_id]
            cap = CameraCapture(
                cam_id, source_options(cam, self.cfg.stall_s), directory / cam_id,
                self.cfg.segment_s, self.cfg.stall_s, self.cfg.reconnect_max_s,
                cam.encode_bitrate, post,
            )
            session.captures[cam_id] = cap
            cap.start()
        for cam_id in chosen:
            if self.cameras[cam_id].ptz is not None:
                t = asyncio.create_task(self._recall_preset(cam_id), name=f"ptz-{cam_id}")
                self._bg.add(t)
                t.add_done_callback(self._bg.discard)
        log.info("recording %s started (lesson %s, %s, cameras %s)", rec_id, lesson, trigger,
                 ", ".join(chosen))
        await self._publish_recording(session, "started")
        return {"recording_id": rec_id, "lesson_id": lesson, "dir": str(directory),
                "cameras": chosen, "started": now.isoformat()}

    def _count_event_error(self, ev: CaptureEvent) -> None:
        self.m_event_errors.labels(ev.kind).inc()

    async def _finish(self, trigger: str, reason: str = "",
                      join_timeout_s: float | None = None) -> dict[str, Any]:
        """End the recording in progress. Bounded whatever the cameras and the consumer do,
        and the session always ends: the final state is written (or tried) and the
        service is idle afterwards, even when a step of the way fails."""
        session = self.session
        assert session is not None
        try:
            stuck = await self._stop_captures(session, join_timeout_s)
        except Exception:  # never keep the service "recording" because stopping failed
            log.exception("recording %s: stopping the captures failed", session.m.recording_id)
            stuck = [c for c, cap in session.captures.items() if not cap.join(0)]
        m = session.m
        end = self.ctx.clock.now().astimezone(UTC)
        try:
            await asyncio.to_thread(_sync_segments, m, session.dir)
        except Exception:
            log.exception("recording %s: reading segment sizes failed", m.recording_id)
        if stuck:
            note = (f"camera {', '.join(stuck)} did not stop in time; its last segment may "
                    "be incomplete")
            reason = f"{reason}; {note}" if reason else note
        self._settle(session, end, reason)
        if m.duration_s > 0:
            self._bitrate_bps = m.bytes * 8 / m.duration_s
        self.session = None
        self._last = {"recording_id": m.recording_id, "state": m.state, "reason": m.reason,
                      "ended": end.isoformat(), "showcase": False}
        self.m_recordings.labels(m.state).inc()
        self.m_bytes.set(0)
        self._closing = session  # a stop cut short here still writes it (_abandon_sync)
        try:
            await session.save()
        except Exception:  # the catalog row still says how it ended; recovery re-settles
            log.exception("recording %s: writing the final recording.json failed",
                          m.recording_id)
        row = self._row(session)
        if self.cfg.upload.url and m.state in ("finished", "partial"):
            row.update(upload_state="pending", upload_next=0.0, upload_attempts=0)
        try:
            assert self.catalog is not None
            await asyncio.to_thread(self.catalog.upsert, row)
        except Exception:
            log.exception("recording %s: updating the catalog failed", m.recording_id)
        self._closing = None
        log.info("recording %s %s (%s, %.0f s, %d bytes%s)", m.recording_id, m.state, trigger,
                 m.duration_s, m.bytes, f", {m.reason}" if m.reason else "")
        try:
            await self._publish_recording(session, m.state, reason=m.reason)
            for cam_id in session.captures:
                await self._set_device(cam_id, *self._devices.get(cam_id, ("online", "")),
                                       force=True)
        except Exception:
            log.exception("recording %s: publishing its end failed", m.recording_id)
        self.uploads.wake.set()
        self.retention.wake.set()
        return {"recording_id": m.recording_id, "state": m.state, "lesson_id": m.lesson_id,
                "duration_s": m.duration_s, "bytes": m.bytes, "dir": str(session.dir),
                "gaps": len(m.gaps), "reason": m.reason}

    async def _stop_captures(self, session: Session, join_timeout_s: float | None
                             ) -> list[str]:
        """Stop the capture threads and apply every event they posted; returns the cameras
        whose thread is still running after the (bounded) wait."""
        for cap in session.captures.values():
            cap.request_stop()
        limit = max((max(cap.opts.connect_timeout_s, cap.opts.read_timeout_s)
                     for cap in session.captures.values()),
                    default=0.0) + 10
        if join_timeout_s is not None:
            limit = min(limit, join_timeout_s)
        caps = dict(session.captures)
        self._join_until = until = [time.monotonic() + limit]
        stuck = await asyncio.to_thread(_join_all, caps, until)
        for cam_id in stuck:
            self.m_stuck.labels(cam_id).inc()
            log.error("recording %s: capture of %s did not stop within %.0f s; leaving it",
                      session.m.recording_id, cam_id, limit)
        # the consumer applies what the threads posted; if it is stuck on one event, this
        # does not wait for it forever: it is cancelled and the rest is applied here
        consumer, self._consumer = self._consumer, None
        if consumer is not None and not consumer.done():
            try:
                async with asyncio.timeout(EVENTS_SETTLE_S):
                    await session.queue.join()
            except TimeoutError:
                log.error("recording %s: capture events not applied within %.0f s",
                          session.m.recording_id, EVENTS_SETTLE_S)
        if consumer is not None:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
        try:
            async with asyncio.timeout(EVENTS_SETTLE_S):
                await session.drain(self._on_capture, self._count_event_error)
        except TimeoutError:
            log.error("recording %s: left capture events unapplied", session.m.recording_id)
        return stuck

    def _settle(self, session: Session, end: datetime, reason: str) -> None:
        """The final state of the manifest, in memory (no I/O)."""
        m = session.m
        session.close_all_gaps(end)
        m.ended = end
        m.duration_s = round(max(0.0, (end - m.started).total_seconds()), 3)
        m.bytes = sum(s.bytes for c in m.cameras for s in c.segments)
        recorded = any(c.segments for c in m.cameras)
        if not recorded:
            why = "; ".join(f"{c.id}: {c.reason or c.status}" for c in m.cameras)
            m.state, m.reason = "failed", f"no camera delivered video ({why})"
            if reason:
                m.reason += f"; {reason}"
        elif reason:
            m.state, m.reason = "partial", reason
        else:
            m.state, m.reason = "finished", ""

    def _abandon_sync(self, reason: str) -> None:
        """Last resort at shutdown when ``_finish`` could not run to its end: settle the
        manifest and the catalog row synchronously. Capture threads are left to die with
        the process (daemon threads)."""
        session = self.session or self._closing
        if session is None:
            return
        settled = self.session is None  # _finish got as far as the final state
        self.session = self._closing = None
        for cap in session.captures.values():
            cap.request_stop()
        try:
            if not settled:
                _sync_segments(session.m, session.dir)
                self._settle(session, self.ctx.clock.now().astimezone(UTC), reason)
            mf.write(session.dir, session.m, tmp_suffix=".final.tmp")
            if self.catalog is not None:
                row = self._row(session)
                if self.cfg.upload.url and session.m.state in ("finished", "partial"):
                    row.update(upload_state="pending", upload_next=0.0, upload_attempts=0)
                self.catalog.upsert(row)
            log.warning("recording %s marked %s at shutdown: %s", session.m.recording_id,
                        session.m.state, session.m.reason)
        except Exception:  # recovery at the next start settles it from the disk
            log.exception("recording %s: final state not written", session.m.recording_id)

    def _row(self, s: Session) -> dict[str, Any]:
        m = s.m
        return {
            "id": m.recording_id, "lesson_id": m.lesson_id, "title": m.title,
            "subject": m.subject, "teacher": m.teacher, "trigger": m.trigger,
            "state": m.state, "reason": m.reason, "started": m.started.isoformat(),
            "ended": m.ended.isoformat() if m.ended else None, "duration_s": m.duration_s,
            "bytes": m.bytes, "path": s.rel_dir,
            "cameras": [msgspec.to_builtins(c.summary()) for c in m.cameras],
            "gaps": len(m.gaps), "showcase": int(m.showcase), "quality": int(m.quality),
            "showcase_at": m.showcase_at.isoformat() if m.showcase_at else None,
        }

    async def _publish_recording(self, s: Session | None, action: str, reason: str = "",
                                 m: mf.Manifest | None = None) -> None:
        m = m or (s.m if s else None)
        assert m is not None
        await self.ctx.bus.publish(RecordingEvent(
            ts=self.ctx.clock.now(),
            recording_id=m.recording_id, action=action, lesson_id=m.lesson_id,  # type: ignore[arg-type]
            title=m.title, subject=m.subject, teacher=m.teacher, trigger=m.trigger,
            started=m.started, ended=m.ended, duration_s=m.duration_s, bytes=m.bytes,
            cameras=[c.summary() for c in m.cameras], gaps=list(m.gaps), reason=reason,
        ))

    # ------------------------------------------------------------------ capture events

    async def _on_capture(self, ev: CaptureEvent) -> None:
        s = self.session
        if s is None:
            return
        ce = s.m.camera(ev.camera)
        if ce is None:
            return
        if ev.kind == "online":
            info = ev.info
            assert info is not None
            self._stream_info[ev.camera] = info
            ce.source_codec = info.codec
            ce.codec = ev.out_codec
            ce.profile = info.profile if ev.mode == "remux" else "High"
            ce.width, ce.height, ce.fps = info.width, info.height, info.fps
            ce.audio, ce.mode = ev.out_audio, ev.mode
            ce.status, ce.reason = "online", ""
            s.ever_online.add(ev.camera)
            s.close_gap(ev.camera, ev.at)
            await s.save()
            await self._set_device(ev.camera, "online", "")
        elif ev.kind in ("offline", "fault"):
            ce.status, ce.reason = ev.kind, ev.reason
            start = ev.last_packet or s.m.started
            if not any(g.camera == ev.camera and g.end is None for g in s.m.gaps):
                self.m_gaps.labels(ev.camera).inc()
            s.open_gap(ev.camera, start, ev.reason)
            await s.save()
            await self._set_device(ev.camera, ev.kind, ev.reason)
        elif ev.kind == "segment_open" and ev.segment is not None:
            ce.segments.append(mf.SegmentEntry(file=ev.segment.file, started=ev.at))
            await s.save()
        elif ev.kind == "segment_closed" and ev.segment is not None:
            for seg in ce.segments:
                if seg.file == ev.segment.file:
                    seg.duration_s, seg.bytes, seg.closed = (
                        ev.segment.duration_s, ev.segment.bytes, True)
            self.m_segments.labels(ev.camera).inc()
            s.m.bytes = sum(x.bytes for c in s.m.cameras for x in c.segments)
            await s.save()
            self.retention.wake.set()

    # ------------------------------------------------------------------ device states

    async def _set_device(self, cam_id: str, status: str, reason: str,
                          force: bool = False) -> None:
        prev = self._devices.get(cam_id)
        if prev == (status, reason) and not force:
            return
        self._devices[cam_id] = (status, reason)
        cam = self.cameras[cam_id]
        info = self._stream_info.get(cam_id)
        attrs: dict[str, Any] = {"role": cam.role, "source": redact(cam.url),
                                 "recording": bool(self.session and cam_id in
                                                   self.session.captures)}
        if info is not None:
            attrs.update(codec=info.codec, width=info.width, height=info.height, fps=info.fps,
                         audio=info.audio_codec)
        now = self.ctx.clock.now()
        await self.ctx.bus.publish(DeviceState(
            ts=now, device_id=cam_id, kind="camera", status=status, reason=reason,  # type: ignore[arg-type]
            attrs=attrs, last_seen=now if status == "online" else None,
        ))
        if status in ("offline", "fault") and prev is not None and prev[0] != status:
            await self.ctx.bus.publish(DeviceFault(ts=now, device_id=cam_id, kind="camera",
                                                   status=status, reason=reason))  # type: ignore[arg-type]

    async def _probe_loop(self) -> None:
        """Idle cameras are opened now and then so the status page and the district see
        a camera die before the next lesson, not during it."""
        while True:
            for cam_id, cam in self.cameras.items():
                if self.session is not None and cam_id in self.session.captures:
                    continue
                self.probe_count += 1
                try:
                    info = await asyncio.to_thread(probe, source_options(cam, self.cfg.stall_s))
                except SourceError as e:
                    await self._set_device(cam_id, e.status, e.reason)
                    continue
                except Exception as e:  # a probe bug must not kill the loop
                    log.exception("probe of %s failed", cam_id)
                    await self._set_device(cam_id, "fault", f"probe failed: {e}")
                    continue
                self._stream_info[cam_id] = info
                await self._set_device(cam_id, "online", "")
            await asyncio.sleep(self.cfg.probe_interval_s)

    async def _recall_preset(self, cam_id: str) -> None:
        from drivers.camera.ptz import PtzError, PtzTarget, recall_preset

        p = self.cameras[cam_id].ptz
        assert p is not None
        target = PtzTarget(
            protocol=p.protocol, address=p.address, preset=p.preset, baudrate=p.baudrate,
            visca_address=p.visca_address, username=p.username,
            password=read_secret(p.password, p.password_file), timeout_s=p.timeout_s,
        )
        try:
            await recall_preset(target)
        except PtzError as e:
            log.warning("%s: PTZ preset %s not recalled: %s", cam_id, p.preset, e)
            self.m_ptz.labels(cam_id, "failed").inc()
            return
        self.m_ptz.labels(cam_id, "ok").inc()
        log.info("%s: PTZ preset %s recalled", cam_id, p.preset)

    # ------------------------------------------------------------------ watchdog

    async def _watchdog_loop(self) -> None:
        """Backstop for the capture threads' own timeouts, the bitrate estimate, and the
        maximum duration (a recording nobody stopped ends by itself)."""
        while True:
            await asyncio.sleep(1.0)
            s = self.session
            if s is None:
                continue
            elapsed = s.elapsed_s()
            written = s.bytes_written()
            self.m_bytes.set(written)
            if elapsed > 10:
                self._bitrate_bps = written * 8 / elapsed
            now = time.monotonic()
            for cam_id, cap in s.captures.items():
                silent = now - cap.last_packet_mono
                if cap.online and silent > self.cfg.stall_s * 2 + 5:
                    await self._set_device(cam_id, "offline", f"no packets for {silent:.0f} s")
            if elapsed > self.cfg.max_duration_s:
                async with self._op_lock:
                    if self.session is s:
                        log.warning("recording %s reached max_duration_s; stopping",
                                    s.m.recording_id)
                        await self._finish(trigger="max_duration")

    # ------------------------------------------------------------------ retention

    def _measure_free(self) -> int:
        try:
            return int(self.free_space(self.root))
        except OSError:
            return -1

    async def enforce_retention(self) -> list[str]:
        """One retention pass: returns the ids deleted."""
        return await self.retention.enforce()

    def _busy(self) -> set[str]:
        """Recordings retention must not touch: the one in progress, the one uploading."""
        return {i for i in (self.session.m.recording_id if self.session else None,
                            self.uploads.active) if i}

    async def _published_deleted(self, m: mf.Manifest, why: str) -> None:
        await self._publish_recording(None, "deleted", reason=why, m=m)

    # ------------------------------------------------------------------ crash recovery

    async def _recover(self) -> None:
        """Recordings left in state ``recording`` by a crash become ``partial`` (and are
        reported); manifests missing from the catalog are indexed again."""
        assert self.catalog is not None
        known = await asyncio.to_thread(self.catalog.ids)
        found = await asyncio.to_thread(lambda: sorted(self.root.glob("*/*/" + mf.MANIFEST)))
        seen: set[str] = set()
        for path in found:
            directory = path.parent
            rel = directory.relative_to(self.root).as_posix()
            try:
                m = await asyncio.to_thread(mf.read, directory)
            except Exception as e:
                log.error("unreadable %s: %s", path, e)
                continue
            seen.add(m.recording_id)
            s = Session(m, directory, rel)
            if m.state == "recording":
                await asyncio.to_thread(_settle_from_disk, m, directory)
                m.state = "partial"
                m.reason = ("interrupted: the agent stopped without finishing the recording "
                            "(crash or power loss); recovered at restart")
                s.close_all_gaps(m.ended or m.started)
                await s.save()
                row = self._row(s)
                if self.cfg.upload.url:
                    row.update(upload_state="pending", upload_next=0.0)
                await asyncio.to_thread(self.catalog.upsert, row)
                self.m_recordings.labels("partial").inc()
                log.warning("recording %s was interrupted; marked partial (%d bytes kept)",
                            m.recording_id, m.bytes)
                await self._publish_recording(s, "partial", reason=m.reason)
            elif m.recording_id not in known:
                row = self._row(s)
                if self.cfg.upload.url and m.state in ("finished", "partial"):
                    # a lost catalog must not lose uploads: files the server already holds
                    # are recognised by size and checksum and not sent again
                    row.update(upload_state="pending", upload_next=0.0)
                await asyncio.to_thread(self.catalog.upsert, row)
        for row in await asyncio.to_thread(self.catalog.by_state, "recording"):
            if row["id"] not in seen:
                await asyncio.to_thread(self.catalog.update, row["id"], state="failed",
                                        reason="recording.json missing after restart")
        for row in await asyncio.to_thread(self.catalog.list, False, 100000):
            if row["upload_state"] == "uploading":
                await asyncio.to_thread(self.catalog.update, row["id"], upload_state="pending")


def _new_dir(date_dir: Path, base: str) -> Path:
    """A fresh directory ``date_dir/base`` (``base-2``, ``base-3`` ... when taken)."""
    name, n = base, 1
    while (date_dir / name).exists():
        n += 1
        name = f"{base}-{n}"
    directory = date_dir / name
    directory.mkdir(parents=True)
    return directory


def _join_all(caps: dict[str, CameraCapture], until: list[float]) -> list[str]:
    """Join every thread until the monotonic deadline ``until[0]`` (which may be moved
    closer meanwhile); the ids still running."""
    for cap in caps.values():
        while (left := until[0] - time.monotonic()) > 0 and not cap.join(min(left, 0.25)):
            pass
    return [cam_id for cam_id, cap in caps.items() if not cap.join(0)]


def _sync_segments(m: mf.Manifest, directory: Path) -> None:
    """Segment sizes from the files, and files the manifest does not list (an event that
    was lost) added, so the manifest describes what is on the disk."""
    for ce in m.cameras:
        cam_dir = directory / ce.id
        listed = {s.file: s for s in ce.segments}
        for f in sorted(cam_dir.glob("*.mp4")) if cam_dir.is_dir() else []:
            try:
                st = f.stat()
            except OSError:
                continue
            seg = listed.get(f.name)
            if seg is None:
                seg = mf.SegmentEntry(file=f.name,
                                      started=datetime.fromtimestamp(st.st_mtime, UTC))
                ce.segments.append(seg)
            seg.bytes = st.st_size
        ce.segments.sort(key=lambda s: s.file)


def _settle_from_disk(m: mf.Manifest, directory: Path) -> None:
    """Fill in what a crashed recording could not write: segments, sizes, end time."""
    last = m.started
    for ce in m.cameras:
        cam_dir = directory / ce.id
        listed = {s.file: s for s in ce.segments}
        for f in sorted(cam_dir.glob("*.mp4")) if cam_dir.is_dir() else []:
            st = f.stat()
            mtime = datetime.fromtimestamp(st.st_mtime, UTC)
            seg = listed.get(f.name)
            if seg is None:
                seg = mf.SegmentEntry(file=f.name, started=mtime)
                ce.segments.append(seg)
            seg.bytes = st.st_size
            if not seg.closed:
                seg.duration_s = round(max(0.0, (mtime - seg.started).total_seconds()), 3)
            last = max(last, mtime)
    m.ended = last
    m.duration_s = round((last - m.started).total_seconds(), 3)
    m.bytes = sum(s.bytes for c in m.cameras for s in c.segments)


