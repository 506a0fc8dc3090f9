"""The live service: the ONE place a live remote lesson is started and stopped.

HTTP (/api/live/*), MQTT commands (live/start, live/stop), the CLI (through HTTP) and the
timetable (periods with ``live = true``) all end up in ``start_live`` / ``stop_live``.

Live rides on the recording: the camera connection is the recording's capture thread,
which hands its packets to the push (agent/live/push.py); there is never a second RTSP
session to the camera. Going live while nothing is recorded starts the recording (trigger
``live``) and stopping live stops that recording again; a recording that ends while live
ends the live lesson too. A live failure never touches the recording. See docs/live.md.
"""

# ctx.service(Protocol) looks services up by their protocol in agent/interfaces.py; mypy
# only lets concrete classes stand for type[T] (python/mypy#4717)
# mypy: disable-error-code="type-abstract"

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec

from agent.commands import CommandError
from agent.events import Event, LiveEvent, LiveOutage, RecordingEvent
from agent.interfaces import CameraTaps, LivePusher
from agent.live.push import LivePush, PushEvent
from agent.live.target import Target, TargetError, resolve
from agent.runtime.service import AgentContext, Service

log = logging.getLogger(__name__)

Ident = Annotated[str, msgspec.Meta(max_length=100)]
STOP_JOIN_S = 5.0


class LiveStartArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    trigger: Ident | None = None  # who asked (timetable ...); default: the transport


class LiveStopArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    trigger: Ident | None = None


class _Session:
    def __init__(self, live_id: str, target: Target, camera: str, trigger: str,
                 push: LivePush, recording_id: str, owns_recording: bool, lesson_id: str,
                 started: datetime, started_mono: float) -> None:
        self.live_id = live_id
        self.target = target
        self.camera = camera
        self.trigger = trigger
        self.push = push
        self.recording_id = recording_id
        self.owns_recording = owns_recording
        self.lesson_id = lesson_id
        self.started = started
        self.started_mono = started_mono
        self.outages: list[LiveOutage] = []
        self.state = "connecting"  # connecting | live | outage
        self.reason = ""

    def open_outage(self) -> LiveOutage | None:
        return next((o for o in self.outages if o.end is None), None)


class LiveService(Service, LivePusher):
    name = "live"
    capabilities = ("live",)

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        self.cfg = ctx.config.live
        self.session: _Session | None = None
        self._last: dict[str, Any] | None = None
        self._lock = asyncio.Lock()
        self._bitrate_bps = 0.0
        self._listening = False
        self._ending: set[asyncio.Task[None]] = set()
        m = ctx.metrics
        self.m_active = m.gauge("classroom_live_active", "1 while a live lesson is pushed")
        self.m_sessions = m.counter("classroom_live_sessions_total",
                                    "Live lessons ended, by outcome", ["outcome"])
        self.m_outages = m.counter("classroom_live_outages_total",
                                   "Outages of the live push (server or network away)")
        self.m_refused = m.counter("classroom_live_refused_total",
                                   "Live start/stop requests refused", ["code"])
        self.m_bytes = m.counter("classroom_live_bytes_total",
                                 "Bytes of media pushed to the streaming server")
        self.m_dropped = m.counter("classroom_live_dropped_packets_total",
                                   "Packets dropped before the push (server too slow or away)")
        self.m_bitrate = m.gauge("classroom_live_bitrate_bps", "Bit rate of the live push")
        self._counted_bytes = 0
        self._counted_dropped = 0

    @classmethod
    def create(cls, ctx: AgentContext) -> LiveService | None:
        if not any(c.enabled for c in ctx.config.cameras):
            return None
        return cls(ctx)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.ctx.commands.register("live/start", self._cmd_start, LiveStartArgs,
                                   "Push the lesson live to the district's streaming server")
        self.ctx.commands.register("live/stop", self._cmd_stop, LiveStopArgs,
                                   "Stop the live push")
        if not self._listening:
            self.ctx.bus.add_listener(self._on_event)
            self._listening = True

    async def run(self) -> None:
        prev, prev_t = 0, asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(2.0)
            s = self.session
            now = asyncio.get_running_loop().time()
            if s is None:
                self._bitrate_bps, prev = 0.0, 0
                self.m_bitrate.set(0)
                continue
            sent = s.push.bytes_sent
            self._bitrate_bps = max(0.0, (sent - prev) * 8 / max(now - prev_t, 1e-3))
            prev, prev_t = sent, now
            self.m_bitrate.set(round(self._bitrate_bps))
            self._count(s.push)
            async with self._lock:
                if self.session is s:
                    await self._check_stall(s)

    async def stop(self) -> None:
        async with self._lock:
            if self.session is not None:
                await self._end("stopped", "shutdown", "agent stopped")

    # ------------------------------------------------------------------ public API

    def configured(self) -> Target | None:
        try:
            return resolve(self.cfg.url, self.cfg.url_file)
        except TargetError:
            return None

    def camera_id(self) -> str | None:
        cams = [c for c in self.ctx.config.cameras if c.enabled]
        if self.cfg.camera:
            return self.cfg.camera if any(c.id == self.cfg.camera for c in cams) else None
        teacher = [c.id for c in cams if c.role == "teacher"]
        return (teacher or [c.id for c in cams] or [None])[0]

    async def start_live(self, trigger: str = "api") -> dict[str, Any]:
        """Go live (CommandError already_live / not_configured / ...)."""
        async with self._lock:
            if self.session is not None:
                return self._refuse("already_live", f"already live ({self.session.live_id}) "
                                    f"to {self.session.target.host}; stop it first")
            try:
                target = resolve(self.cfg.url, self.cfg.url_file)
            except TargetError as e:
                return self._refuse("bad_config", f"live.url: {e}")
            if target is None:
                return self._refuse("not_configured", "no streaming server is configured "
                                    "(live.url or live.url_file)")
            cam = self.camera_id()
            rec = self.ctx.service(CameraTaps)
            if cam is None or rec is None:
                return self._refuse("no_camera", "no enabled camera to stream")
            owns = False
            if rec.recording_now() is None:
                await rec.start_recording(trigger="live")
                owns = True
            recording = rec.recording_now()
            if recording is None or cam not in recording.cameras:
                return self._refuse("camera_not_recorded", f"camera {cam!r} is not part of the "
                                    "recording in progress; stop it or record that camera")
            now = self.ctx.clock.now().astimezone(UTC)
            live_id = f"live-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
            loop = asyncio.get_running_loop()
            push = self._new_push(live_id, target)
            self.session = s = _Session(
                live_id, target, cam, trigger, push, recording.recording_id, owns,
                recording.lesson_id, now, loop.time())
            push.start()
            rec.set_tap(cam, push)
            self.m_active.set(1)
            log.info("live %s started to %s (camera %s, %s)", live_id, target.shown, cam,
                     trigger)
            await self._publish(s, "started")
            return {"live_id": live_id, "camera": cam, "url_host": target.host,
                    "protocol": target.protocol, "recording_id": s.recording_id,
                    "started": now.isoformat()}

    async def stop_live(self, trigger: str = "api", reason: str = "") -> dict[str, Any]:
        async with self._lock:
            if self.session is None:
                return self._refuse("not_live", "nothing is being pushed live")
            return await self._end("stopped", trigger, reason)

    def status(self) -> dict[str, Any]:
        s = self.session
        target = s.target if s else self.configured()
        doc: dict[str, Any] = {
            "configured": target is not None,
            "state": s.state if s else "idle",
            "live_id": s.live_id if s else None,
            "camera": s.camera if s else self.camera_id(),
            "url_host": target.host if target else "",
            "protocol": target.protocol if target else "",
            "started": s.started.isoformat() if s else None,
            "elapsed_s": round(asyncio.get_running_loop().time() - s.started_mono, 1)
            if s else 0.0,
            "bitrate_bps": round(self._bitrate_bps),
            "live_s": round(s.push.live_s, 1) if s else 0.0,
            "bytes": s.push.bytes_sent if s else 0,
            "dropped": s.push.dropped if s else 0,
            "audio": s.push.audio_mode if s else "",
            "reason": s.reason if s else "",
            "outages": [msgspec.to_builtins(o) for o in s.outages] if s else [],
            "last": self._last,
        }
        return doc

    # ------------------------------------------------------------------ internals

    def _new_push(self, live_id: str, target: Target) -> LivePush:
        loop = asyncio.get_running_loop()
        holder: list[LivePush] = []

        def post(ev: PushEvent) -> None:  # from the push thread
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._on_push, live_id, ev, holder[0])

        c = self.cfg
        push = LivePush(target, c.audio, post, c.backoff_min_s, c.backoff_max_s,
                        c.write_timeout_s, c.ffmpeg_command)
        holder.append(push)
        return push

    async def _check_stall(self, s: _Session) -> None:
        """A server that stopped reading (or never answers the handshake) blocks the push
        thread inside FFmpeg: after ``write_timeout_s`` it is an outage, and a fresh push
        takes over the tap (the blocked thread is left to its socket)."""
        stalled = s.push.stalled_s()
        if stalled < self.cfg.write_timeout_s:
            return
        reason = f"the server stopped taking the stream ({stalled:.0f} s without progress)"
        log.warning("live %s: %s; reconnecting", s.live_id, reason)
        old = s.push
        self._count(old)
        self._counted_bytes = self._counted_dropped = 0
        new = self._new_push(s.live_id, s.target)
        new.media_s = old.live_s
        rec = self.ctx.service(CameraTaps)
        old.request_stop()
        s.push = new
        new.start()
        if rec is not None:
            rec.set_tap(s.camera, new, replacing=old)
        self._on_push(s.live_id, PushEvent("outage", reason=reason), new)

    def _refuse(self, code: str, message: str) -> Any:
        self.m_refused.labels(code).inc()
        raise CommandError(code, message)

    async def _cmd_start(self, args: LiveStartArgs) -> dict[str, Any]:
        return await self.start_live(args.trigger or "mqtt")

    async def _cmd_stop(self, args: LiveStopArgs) -> dict[str, Any]:
        return await self.stop_live(args.trigger or "mqtt")

    def _count(self, push: LivePush) -> None:
        b, d = push.bytes_sent, push.dropped
        if b > self._counted_bytes:
            self.m_bytes.inc(b - self._counted_bytes)
        if d > self._counted_dropped:
            self.m_dropped.inc(d - self._counted_dropped)
        self._counted_bytes, self._counted_dropped = b, d

    async def _end(self, action: str, trigger: str, reason: str) -> dict[str, Any]:
        """End the live session (the lock is held). The recording goes on unless live
        started it and this is a deliberate stop."""
        s = self.session
        assert s is not None
        self.session = None
        rec = self.ctx.service(CameraTaps)
        if rec is not None:
            rec.set_tap(s.camera, None, replacing=s.push)
        s.push.request_stop()
        await asyncio.to_thread(s.push.join, STOP_JOIN_S)
        self._count(s.push)
        self._counted_bytes = self._counted_dropped = 0
        end = self.ctx.clock.now().astimezone(UTC)
        if (o := s.open_outage()) is not None:
            o.end = max(end, o.start)
        self.m_active.set(0)
        self.m_sessions.labels(action).inc()
        live_s = round(s.push.media_s, 3)
        self._last = {"live_id": s.live_id, "state": action, "reason": reason,
                      "ended": end.isoformat(), "live_s": live_s,
                      "outages": len(s.outages), "url_host": s.target.host}
        log.info("live %s %s (%s, %.0f s live, %d outages%s)", s.live_id, action, trigger,
                 live_s, len(s.outages), f", {reason}" if reason else "")
        await self._publish(s, action, ended=end, reason=reason, live_s=live_s)
        if (action == "stopped" and s.owns_recording and trigger not in ("recording",
                                                                          "shutdown")
                and rec is not None and (now_rec := rec.recording_now()) is not None
                and now_rec.recording_id == s.recording_id):
            with contextlib.suppress(CommandError):
                await rec.stop_recording(trigger="live")
        return {"live_id": s.live_id, "state": action, "live_s": live_s,
                "outages": len(s.outages), "url_host": s.target.host, "reason": reason}

    def _on_push(self, live_id: str, ev: PushEvent, push: LivePush) -> None:
        s = self.session
        if s is None or s.live_id != live_id or s.push is not push:
            return  # an ended session, or a stalled push that was replaced
        # the push thread dates by the real clock; the agent's clock may differ (tests
        # run it fast): keep how long ago it happened, on the agent's clock
        ev.at = self.ctx.clock.now().astimezone(UTC) - max(
            datetime.now(UTC) - ev.at, timedelta(0))
        if ev.kind == "connected":
            s.state, s.reason = "live", ""
            if (o := s.open_outage()) is not None:
                o.end = max(ev.at, o.start)
                self._spawn(self._publish(s, "resumed"))
        elif ev.kind == "outage":
            s.state, s.reason = "outage", ev.reason
            if s.open_outage() is None:
                s.outages.append(LiveOutage(start=ev.at, reason=ev.reason))
                self.m_outages.inc()
                self._spawn(self._publish(s, "outage", reason=ev.reason))
        elif ev.kind in ("refused", "fault"):
            log.error("live %s failed: %s", live_id, ev.reason)
            self._spawn(self._fail(live_id, ev.reason))

    async def _fail(self, live_id: str, reason: str) -> None:
        async with self._lock:
            s = self.session
            if s is not None and s.live_id == live_id:
                await self._end("failed", "push", reason)

    def _on_event(self, e: Event) -> None:
        """A recording that ends takes the live lesson with it (its camera connection)."""
        s = self.session
        if (isinstance(e, RecordingEvent) and s is not None and e.recording_id ==
                s.recording_id and e.action in ("finished", "failed", "partial")):
            self._spawn(self._recording_ended(s.live_id))

    async def _recording_ended(self, live_id: str) -> None:
        async with self._lock:
            s = self.session
            if s is not None and s.live_id == live_id:
                await self._end("stopped", "recording", "the recording stopped")

    def _spawn(self, coro: Any) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self._ending.add(t)
        t.add_done_callback(self._ending.discard)

    async def _publish(self, s: _Session, action: str, ended: datetime | None = None,
                       reason: str = "", live_s: float | None = None) -> None:
        await self.ctx.bus.publish(LiveEvent(
            ts=self.ctx.clock.now(), live_id=s.live_id, action=action,  # type: ignore[arg-type]
            lesson_id=s.lesson_id, camera=s.camera, url_host=s.target.host,
            protocol=s.target.protocol, trigger=s.trigger, started=s.started, ended=ended,
            live_s=round(s.push.live_s, 3) if live_s is None else live_s,
            outages=[LiveOutage(start=o.start, end=o.end, reason=o.reason)
                     for o in s.outages], reason=reason,
        ))
