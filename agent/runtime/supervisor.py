"""Owns every service task: ordered start, crash restart with backoff, ordered shutdown."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from agent.runtime.service import Service
from drivers.backoff import Backoff

log = logging.getLogger(__name__)


class Supervisor:
    def __init__(
        self, services: list[Service], stop_timeout_s: float = 10.0,
        on_crash: Callable[[str], object] | None = None,
    ) -> None:
        self.services = services
        self.stop_timeout_s = stop_timeout_s
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._started: list[Service] = []
        self._stopping: set[str] = set()
        self.restarts: dict[str, int] = {}
        self._on_crash = on_crash or (lambda name: None)

    async def start(self) -> None:
        """Start services in order; if one refuses, stop the ones already started."""
        for s in self.services:
            try:
                await s.start()
            except BaseException:
                await self.stop()
                raise
            self._started.append(s)
        for s in self._started:
            self._tasks[s.name] = asyncio.create_task(self._keep_running(s), name=s.name)

    async def _keep_running(self, s: Service) -> None:
        backoff = Backoff(1.0, 60.0)
        while True:
            started = time.monotonic()
            try:
                await s.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                # failing while being stopped (a disconnect that times out) is no crash.
                # Not task.cancelling(): on 3.11 a TaskGroup whose child failed leaves it
                # raised for good, and a crashed service would never be restarted.
                if s.name in self._stopping:
                    raise asyncio.CancelledError from None
                if time.monotonic() - started > 300:
                    backoff.reset()  # it ran well for a while: this is a new failure
                self.restarts[s.name] = self.restarts.get(s.name, 0) + 1
                self._on_crash(s.name)
                wait = backoff.next()
                log.exception("service %s crashed; restarting in %.1f s", s.name, wait)
                await asyncio.sleep(wait)

    async def stop(self) -> None:
        """Cancel and stop services in reverse start order; each gets a bounded time."""
        while self._started:
            s = self._started.pop()
            task = self._tasks.pop(s.name, None)
            budget = getattr(s, "stop_timeout_s", None) or self.stop_timeout_s
            self._stopping.add(s.name)
            if task is not None and not await _cancel(task, budget):
                log.error("service %s ignored cancellation for %.0f s", s.name, budget)
            t0 = time.monotonic()
            # a task and asyncio.wait, not asyncio.timeout: on Python < 3.11.3 (Debian 12
            # ships 3.11.2) a timeout in a task being cancelled raises CancelledError, which
            # would end this loop and leave the remaining services running
            stopping = asyncio.create_task(s.stop(), name=f"stop-{s.name}")
            await asyncio.wait({stopping}, timeout=budget)
            if not stopping.done():
                log.error("service %s did not stop within %.0f s", s.name, budget)
                await _cancel(stopping, budget)
            elif not stopping.cancelled() and stopping.exception() is not None:
                log.error("service %s failed while stopping", s.name,
                          exc_info=stopping.exception())
            elif (took := time.monotonic() - t0) > 1.0:
                log.info("service %s took %.1f s to stop", s.name, took)


async def _cancel(task: asyncio.Task[None], budget: float) -> bool:
    """Cancel until the task ends, within budget. The first cancel gets half the budget for
    the task's own clean-up (the MQTT goodbye, flushing acks). Cancelling once is not
    enough on Python 3.11: asyncio.wait_for (used by aiomqtt, among others) swallows a
    cancel that races with its result (CPython gh-86296) and the task runs on as if never
    cancelled, so it is cancelled again until it ends."""
    deadline = time.monotonic() + budget
    task.cancel()
    await asyncio.wait({task}, timeout=budget / 2)
    while not task.done():
        if (left := deadline - time.monotonic()) <= 0:
            return False
        task.cancel()
        await asyncio.wait({task}, timeout=min(0.5, left))
    if not task.cancelled():
        task.exception()  # retrieved: a crash while stopping was already logged by run
    return True
