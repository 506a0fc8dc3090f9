"""A service task that swallows a cancel (as asyncio.wait_for does on Python 3.11 when the
cancel races with its result, CPython gh-86296) must not hang the agent's shutdown: the
supervisor cancels again, and gives up on a task that never ends after its budget."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from agent.runtime.service import Service
from agent.runtime.supervisor import Supervisor


class _Swallows(Service):
    name = "swallows"

    def __init__(self, times: int) -> None:  # no context needed
        self.times = times
        self.swallowed = 0
        self.stopped = False

    async def run(self) -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if self.swallowed >= self.times:
                    raise
                self.swallowed += 1
                asyncio.current_task().uncancel()  # what the 3.11 race amounts to

    async def stop(self) -> None:
        self.stopped = True


class _Stubborn(_Swallows):
    name = "stubborn"
    stop_timeout_s: ClassVar[float | None] = 0.3


async def test_a_swallowed_cancel_is_repeated() -> None:
    svc = _Swallows(times=2)
    sup = Supervisor([svc])
    await sup.start()
    await asyncio.sleep(0)
    await asyncio.wait_for(sup.stop(), 60)  # a guard against a hang, not a timing claim
    assert svc.swallowed == 2 and svc.stopped


async def test_a_task_that_never_ends_is_given_up_after_its_budget(caplog) -> None:
    svc = _Stubborn(times=10**9)
    sup = Supervisor([svc], stop_timeout_s=3600.0)
    await sup.start()
    await asyncio.sleep(0)
    await asyncio.wait_for(sup.stop(), 60)
    assert svc.stopped  # stop() still ran: the outbox and files still get closed
    assert "ignored cancellation" in caplog.text
    svc.times = 0  # let the orphan go so the test's loop closes cleanly
    for t in asyncio.all_tasks():
        if t.get_name() == "stubborn":
            t.cancel()
            await asyncio.gather(t, return_exceptions=True)


class _FailsWhenCancelled(Service):
    """Like aiomqtt's client, whose clean disconnect may time out and raise its own error
    while the task is being cancelled."""

    name = "fails-when-cancelled"

    def __init__(self) -> None:
        pass

    async def run(self) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("disconnect timed out") from None


async def test_an_error_while_stopping_is_not_a_crash_to_restart() -> None:
    sup = Supervisor([_FailsWhenCancelled()])
    await sup.start()
    await asyncio.sleep(0)
    await asyncio.wait_for(sup.stop(), 60)
    assert sup.restarts == {}


class _GroupCrashes(Service):
    """A run() built on a TaskGroup whose child fails: on Python 3.11 this leaves the
    task's cancelling() count raised for good, which must not read as "stopping"."""

    name = "group-crashes"

    def __init__(self) -> None:
        self.runs = 0
        self.again = asyncio.Event()

    async def run(self) -> None:
        self.runs += 1
        if self.runs > 1:
            self.again.set()
            await asyncio.sleep(3600)

        async def fail() -> None:
            raise RuntimeError("link lost")

        async with asyncio.TaskGroup() as tg:
            tg.create_task(fail())
            tg.create_task(asyncio.sleep(3600))


async def test_a_crash_inside_a_task_group_is_restarted(monkeypatch) -> None:
    import drivers.backoff as backoff_mod

    monkeypatch.setattr(backoff_mod.random, "uniform", lambda a, b: 0.0)  # no backoff wait
    svc = _GroupCrashes()
    sup = Supervisor([svc])
    await sup.start()
    await asyncio.wait_for(svc.again.wait(), 60)
    assert sup.restarts == {"group-crashes": 1}
    await asyncio.wait_for(sup.stop(), 60)


class _SlowCleanup(Service):
    name = "slow-cleanup"

    def __init__(self) -> None:
        self.cleaned = False

    async def run(self) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(1.0)  # e.g. the MQTT goodbye waiting for its PUBACK
            self.cleaned = True
            raise


async def test_the_first_cancel_leaves_time_for_clean_up() -> None:
    svc = _SlowCleanup()
    sup = Supervisor([svc])  # default budget 10 s: half of it for the clean-up
    await sup.start()
    await asyncio.sleep(0)
    await asyncio.wait_for(sup.stop(), 60)
    assert svc.cleaned
