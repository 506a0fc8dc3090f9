"""The in-process event bus.

Producers ``await bus.publish(event)``. That returns once every *durable sink* (the
uplink's outbox) has stored the event, so "published" means "will reach the district";
then every subscriber gets it on its own bounded queue. A slow subscriber loses its oldest
events (counted), never slows the producer or the other subscribers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from agent.events import Event

log = logging.getLogger(__name__)

DurableSink = Callable[[Event], Awaitable[None]]


class Subscription:
    def __init__(self, bus: Bus, types: tuple[type[Event], ...], maxsize: int) -> None:
        self._bus = bus
        self.types = types
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.dropped = 0

    def _offer(self, event: Event) -> None:
        if self.types and not isinstance(event, self.types):
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        self._bus._subs.discard(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Bus:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._sinks: list[DurableSink] = []
        self._listeners: list[Callable[[Event], None]] = []
        self._pending: set[asyncio.Task[None]] = set()
        self.published = 0

    def add_durable_sink(self, sink: DurableSink) -> None:
        self._sinks.append(sink)

    def add_listener(self, fn: Callable[[Event], None]) -> None:
        """A synchronous callback run inline for every event (state keepers, metrics)."""
        self._listeners.append(fn)

    def subscribe(self, *types: type[Event], maxsize: int = 1000) -> Subscription:
        sub = Subscription(self, types, maxsize)
        self._subs.add(sub)
        return sub

    async def publish(self, event: Event) -> None:
        for sink in self._sinks:
            await sink(event)
        self._deliver(event)

    def publish_nowait(self, event: Event) -> None:
        """Publish from sync code on the loop; the durable write completes in a task the
        bus keeps until it is done (a failure is logged, never lost silently)."""
        if not self._sinks:
            self._deliver(event)
            return
        task = asyncio.get_running_loop().create_task(self.publish(event))
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("publishing an event failed", exc_info=task.exception())

    def _deliver(self, event: Event) -> None:
        self.published += 1
        for fn in self._listeners:
            try:
                fn(event)
            except Exception:  # a broken listener must not break producers
                log.exception("bus listener failed on %s", type(event).__name__)
        for sub in list(self._subs):
            sub._offer(event)
