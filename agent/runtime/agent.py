"""One agent instance: builds the shared context and the services the config asks for,
runs them under the supervisor, and handles signals and systemd notification."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from agent import __version__
from agent.bus import Bus
from agent.clock import Clock
from agent.commands import CommandRegistry
from agent.config import Config
from agent.metrics import Metrics
from agent.runtime.looplag import LoopLagMonitor
from agent.runtime.service import AgentContext, Service
from agent.runtime.supervisor import Supervisor
from agent.runtime.systemd import Notifier
from agent.state import State

log = logging.getLogger(__name__)


def service_factories() -> list[Callable[[AgentContext], Service | None]]:
    """Services in start order (stopped in reverse). A factory returns None when the room's
    config does not use that capability. Producers start after the uplink so their events
    have a durable sink; the web layer starts last so it never serves half an agent."""
    from agent.engagement.service import EngagementService
    from agent.health import HealthService
    from agent.lessons.service import LessonService
    from agent.live.service import LiveService
    from agent.panel.service import PanelService
    from agent.recording.service import RecordingService
    from agent.runtime.errorlog import ErrorLogService
    from agent.tablets.service import TabletService
    from agent.uplink.service import UplinkService
    from agent.web.app import WebService

    return [
        ErrorLogService.create,  # first: catches warnings from every later start
        UplinkService.create,
        # capabilities (drivers, recording, engagement, tablets, lessons) go here
        PanelService.create,
        RecordingService.create,
        LiveService.create,  # rides on the recording's camera connection
        EngagementService.create,
        TabletService.create,
        LessonService.create,  # after the services it drives (tablets, recording)
        HealthService.create,
        WebService.create,
    ]


def make_context(config: Config, clock: Clock | None = None, demo: bool = False) -> AgentContext:
    from datetime import UTC, datetime

    metrics = Metrics()
    outcomes = metrics.counter(
        "classroom_commands_total", "Commands handled, by name and outcome", ["command", "outcome"]
    )
    ctx = AgentContext(
        config=config,
        bus=Bus(),
        state=State(),
        commands=CommandRegistry(lambda n, o: outcomes.labels(n, o).inc()),
        metrics=metrics,
        clock=clock or Clock(),
        looplag=LoopLagMonitor(),
        started=datetime.now(UTC),
        version=__version__,
        demo=demo,
    )
    ctx.bus.add_listener(ctx.state.on_event)
    return ctx


class Agent:
    def __init__(
        self,
        config: Config,
        clock: Clock | None = None,
        demo: bool = False,
        config_path: str | None = None,
    ) -> None:
        self.ctx = make_context(config, clock, demo)
        self.ctx.config_path = config_path
        self.ctx.request_stop = self.request_stop
        services = [s for f in service_factories() if (s := f(self.ctx)) is not None]
        self.ctx.services = {s.name: s for s in services}
        crashes = self.ctx.metrics.counter(
            "classroom_service_restarts_total", "Service crashes restarted", ["service"]
        )
        self.supervisor = Supervisor(services, on_crash=lambda n: crashes.labels(n).inc())
        self.notifier = Notifier()
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self, on_ready: Callable[[AgentContext], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.request_stop)
            except (NotImplementedError, RuntimeError):  # not the main thread (tests)
                pass
        lag_task = asyncio.create_task(self.ctx.looplag.run(), name="looplag")
        try:
            await self.supervisor.start()
            self.notifier.ready(f"running: {', '.join(self.ctx.services)}")
            log.info("agent %s ready (%s)", __version__, ", ".join(self.ctx.services))
            if on_ready:
                on_ready(self.ctx)
            await self._wait_for_stop()
        finally:
            self.notifier.stopping()
            log.info("agent stopping")
            await self.supervisor.stop()
            lag_task.cancel()
            await asyncio.gather(lag_task, return_exceptions=True)
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    loop.remove_signal_handler(sig)
                except (NotImplementedError, RuntimeError):
                    pass

    async def _wait_for_stop(self) -> None:
        # systemd: WATCHDOG=1 at half of WATCHDOG_USEC, and a one-line STATUS= that
        # `systemctl status` shows, refreshed at least every 10 s
        interval = min(self.notifier.watchdog_interval_s or 10.0, 10.0)
        while not self._stop.is_set():
            try:
                async with asyncio.timeout(interval):
                    await self._stop.wait()
            except TimeoutError:
                if self.notifier.watchdog_interval_s:
                    self.notifier.watchdog()  # the loop is alive enough to get here
                self.notifier.status(self.status_line())

    def status_line(self) -> str:
        up = self.ctx.services.get("uplink")
        st = up.status() if up else {}
        link = ("connected" if st.get("connected") else "offline") if st.get("enabled") \
            else "disabled"
        parts = [f"uplink {link}, outbox {st.get('outbox_depth', 0)} queued"]
        rec = self.ctx.services.get("recording")
        if rec and (rs := rec.status()):
            parts.append(f"recording {rs.get('state', '?')}")
        lesson = self.ctx.state.get("lesson")
        if isinstance(lesson, dict) and lesson.get("lesson_id"):
            parts.append(f"lesson {lesson['lesson_id']}")
        return "; ".join(parts)
