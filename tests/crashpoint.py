"""Run ``classroom-agent`` and SIGKILL it at one named step of a lesson summary's way out.

    python -m tests.crashpoint POINT run -c agent.toml

POINT is one of ``POINTS``. The real agent runs; only the moment of death is chosen: the
named function is wrapped so the process kills itself (SIGKILL, no clean-up, like a power
cut of the process) just before or just after the real call.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

POINTS = ("before-store", "after-store", "after-enqueue", "after-publish")


def _die() -> None:
    sys.stderr.write("crashpoint: SIGKILL\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str) -> None:
    from agent import events as ev
    from agent.lessons.store import LessonStore
    from agent.uplink.outbox import Outbox
    from agent.uplink.service import UplinkService

    if point in ("before-store", "after-store"):
        close = LessonStore.close_lesson

        def close_lesson(self: LessonStore, *a: Any, **kw: Any) -> None:
            if point == "before-store":
                _die()
            close(self, *a, **kw)
            _die()  # committed to lessons.sqlite, not yet handed to the outbox

        LessonStore.close_lesson = close_lesson  # type: ignore[method-assign]
    elif point == "after-enqueue":
        store = UplinkService.store

        async def store_event(self: UplinkService, event: ev.Event) -> None:
            await store(self, event)
            if isinstance(event, ev.LessonSummary):
                _die()  # committed to the outbox, not yet published nor marked published

        UplinkService.store = store_event  # type: ignore[method-assign]
    elif point == "after-publish":
        fetch, ack = Outbox.fetch, Outbox.ack
        lesson_rows: set[int] = set()

        async def fetch_rows(self: Outbox, after_id: int, limit: int) -> Any:
            rows = await fetch(self, after_id, limit)
            lesson_rows.update(r.id for r in rows if r.topic == "lessons")
            return rows

        async def ack_rows(self: Outbox, ids: list[int]) -> None:
            if lesson_rows.intersection(ids):
                _die()  # the broker has it (PUBACK came); the outbox never recorded it
            await ack(self, ids)

        Outbox.fetch = fetch_rows  # type: ignore[method-assign]
        Outbox.ack = ack_rows  # type: ignore[method-assign]
    else:
        raise SystemExit(f"crashpoint: unknown point {point!r}; one of {', '.join(POINTS)}")


def main() -> int:
    point, *argv = sys.argv[1:]
    install(point)
    from agent.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
