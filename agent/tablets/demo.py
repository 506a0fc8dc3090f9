"""The demo's tablets: a roster, a join code and 30 tablet bots against ``/ws/tablet``.

``demo_part`` follows the ``agent.demo`` part contract: it adds the ``tablets`` section
(and a roster file in the demo work dir) before the agent starts, then runs the bots
in-process once the agent is ready, and asks the class a question now and then so the
live counters move. ``start_demo_bots(ctx, count)`` is the reusable piece.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

DEMO_JOIN_CODE = "DEMO-7A"
DEMO_CLASS = "class-7a"
QUESTIONS = [
    ("Which planet is closest to the Sun?", ["Mercury", "Venus", "Mars"], "Mercury"),
    ("7 x 8 = ?", ["54", "56", "64"], "56"),
    ("H2O is ...", ["salt", "water", "oxygen"], "water"),
]


def demo_class_id(data: dict[str, Any]) -> str:
    classes = (((data.get("lessons") or {}).get("timetable") or {}).get("classes") or {})
    return next(iter(classes), DEMO_CLASS)


def write_roster(path: Path, class_id: str, n: int) -> list[str]:
    ids = [f"stu-{i + 1:03d}" for i in range(n)]
    path.write_text("classSourcedId,userSourcedId,role\n"
                    + "".join(f"{class_id},{s},student\n" for s in ids))
    return ids


def tablet_url(ctx: Any) -> str:
    from agent.web.app import WebService

    web = ctx.service(WebService)
    base = web.url if web else "http://127.0.0.1:8080/"
    return base.replace("http://", "ws://").replace("https://", "wss://") + "ws/tablet"


async def start_demo_bots(ctx: Any, count: int = 30, students: list[str] | None = None,
                          join_code: str = DEMO_JOIN_CODE, **kw: Any):
    """Run bots against this agent in the background: returns (task, stop event)."""
    from drivers.emulators.tablets import start_bots

    kw.setdefault("late_delay_s", 45.0)
    kw.setdefault("drop_every_s", 180.0)
    return start_bots(tablet_url(ctx), count=count, join_code=join_code, students=students,
                      **kw)


async def _quizmaster(ctx: Any, every_s: float) -> None:
    from agent.tablets.service import TabletService

    i = 0
    while True:
        await asyncio.sleep(every_s)
        svc = ctx.service(TabletService)
        if svc is not None:
            prompt, choices, correct = QUESTIONS[i % len(QUESTIONS)]
            svc.ask(prompt, choices, correct=correct)
            i += 1


@contextlib.asynccontextmanager
async def demo_part(data: dict[str, Any], work: Path, ready: Any,
                    count: int = 30) -> AsyncIterator[None]:
    class_id = demo_class_id(data)
    roster = work / "roster.csv"
    students = write_roster(roster, class_id, count + 2)  # two enrolled never show up
    t = data.setdefault("tablets", {})
    t.setdefault("enabled", True)
    t.setdefault("join_code", DEMO_JOIN_CODE)
    t.setdefault("roster_file", str(roster))

    async def run() -> None:
        ctx = await ready
        task, stop = await start_demo_bots(ctx, count, students[:count],
                                           join_code=t["join_code"])
        quiz = asyncio.create_task(_quizmaster(ctx, 60.0))
        try:
            await task
        finally:
            stop.set()
            quiz.cancel()
            with contextlib.suppress(BaseException):
                async with asyncio.timeout(10):
                    await task

    runner = asyncio.create_task(run())
    try:
        yield
    finally:
        runner.cancel()
        with contextlib.suppress(BaseException):
            await runner
