"""A service may ask the supervisor for its own stop budget (``stop_timeout_s``): the
recording service needs more than the default to finish a recording at SIGTERM, and a
service that overruns its own budget is still cut off at it."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from agent.recording.service import RecordingService
from agent.runtime.service import Service
from agent.runtime.supervisor import Supervisor


class _Slow(Service):
    name = "slow"
    stop_timeout_s: ClassVar[float | None] = 0.2

    def __init__(self) -> None:  # no context needed
        self.cancelled = False

    async def stop(self) -> None:
        try:
            await asyncio.Event().wait()  # never finishes by itself
        except asyncio.CancelledError:
            self.cancelled = True
            raise


class _Plain(Service):
    name = "plain"

    def __init__(self) -> None:
        self.stopped = False

    async def stop(self) -> None:
        self.stopped = True


async def test_per_service_stop_timeout_is_used() -> None:
    slow, plain = _Slow(), _Plain()
    sup = Supervisor([plain, slow], stop_timeout_s=3600.0)  # the default would hang
    await sup.start()
    await asyncio.wait_for(sup.stop(), 60)  # a guard against a hang, not a timing claim
    assert slow.cancelled and plain.stopped


def test_default_is_kept_without_the_attribute() -> None:
    assert Service.stop_timeout_s is None
    # the recording service asks for more than the supervisor's default of 10 s, and
    # keeps part of it for the final writes (see agent/recording/service.py)
    assert RecordingService.stop_timeout_s is not None
    assert RecordingService.stop_timeout_s > 10.0
