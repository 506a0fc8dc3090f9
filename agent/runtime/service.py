"""The unit the supervisor owns: every long-running part of the agent is a Service."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if TYPE_CHECKING:
    from agent.bus import Bus
    from agent.clock import Clock
    from agent.commands import CommandRegistry
    from agent.config import Config
    from agent.metrics import Metrics
    from agent.runtime.looplag import LoopLagMonitor
    from agent.state import State

T = TypeVar("T")


@dataclass
class AgentContext:
    """What every service gets: the shared parts of one agent instance."""

    config: Config
    bus: Bus
    state: State
    commands: CommandRegistry
    metrics: Metrics
    clock: Clock
    looplag: LoopLagMonitor
    started: datetime
    version: str
    services: dict[str, Service] = field(default_factory=dict)
    demo: bool = False
    config_path: str | None = None  # the file ``reload`` re-reads
    exit_code: int = 0  # set by a command that asks for a restart (75 = restart me)
    request_stop: Callable[[], None] | None = None

    def service(self, cls: type[T]) -> T | None:
        """The running service of a class or of a protocol in agent/interfaces.py
        (``ctx.service(Recorder)``), if this room has one."""
        for s in self.services.values():
            if isinstance(s, cls):
                return s
        return None

    def capabilities(self) -> list[str]:
        caps: list[str] = []
        for s in self.services.values():
            caps.extend(c for c in s.capabilities if c not in caps)
        return caps


class Service:
    """Lifecycle: ``start`` (before READY; raise to refuse to start), ``run`` (until
    cancelled; a crash is logged and run is restarted with backoff), ``stop`` (after run is
    cancelled, in reverse start order: finish and flush)."""

    name: ClassVar[str] = "service"
    capabilities: ClassVar[tuple[str, ...]] = ()
    # seconds the supervisor gives ``stop``; None: the supervisor's default
    stop_timeout_s: ClassVar[float | None] = None

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx

    async def start(self) -> None:
        return None

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def stop(self) -> None:
        return None

    def status(self) -> Any:
        """A JSON-able summary for /api/status, or None."""
        return None
