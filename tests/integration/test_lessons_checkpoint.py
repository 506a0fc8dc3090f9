"""A checkpoint write that fails (disk full) must not lose the lesson's signals: they stay
buffered and go out with the next checkpoint."""

from __future__ import annotations

import sqlite3
from typing import Any

from agent import events as ev
from tests.integration.test_lessons_day import open_room


async def test_signals_survive_a_failed_checkpoint(make_config: Any, run_agent: Any) -> None:
    room = await open_room(make_config, run_agent)
    try:
        await room.goto("08:55", "2026-09-07-p2")
        store = room.svc.store
        real = store.checkpoint
        failures: list[int] = []

        def flaky(lesson_id: Any, signals: list[Any], alive: float) -> None:
            if signals and not failures:
                failures.append(len(signals))
                raise sqlite3.OperationalError("database or disk is full")
            real(lesson_id, signals, alive)

        store.checkpoint = flaky  # type: ignore[method-assign]
        await room.panel("on", "ops")
        await room.goto("09:05")
        await room.until(lambda: bool(failures), "the failed checkpoint")
        # the service restarts its loop and checkpoints again: the panel signal is there
        await room.until(lambda: len(store.signals("2026-09-07-p2")) >= failures[0],
                         "the buffered signals stored by the next checkpoint")
        await room.goto("09:45", None)
        s = next(e for e in room.published if isinstance(e, ev.LessonSummary))
        assert s.lesson_id == "2026-09-07-p2"
        assert s.panel.on_minutes == 45.0  # on from 08:55 to the end at 09:40
    finally:
        await room.stop()
