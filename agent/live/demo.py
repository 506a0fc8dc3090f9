"""The demo's live lesson: with ``classroom-agent demo --live-url URL`` the demo's first
timetabled lesson is a live one (``live = true``), pushed to that streaming server; late
in the evening (no timetabled lesson fits) the demo goes live at once instead. A demo
``Part`` (see agent/demo.py); without a URL it does nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

log = logging.getLogger("agent.demo")


async def go_live(ready: asyncio.Future[Any]) -> None:
    from agent.commands import CommandError
    from agent.live.service import LiveService

    ctx = await ready
    svc = ctx.service(LiveService)
    if svc is None:
        return
    await asyncio.sleep(2.0)  # the ad-hoc demo recording starts first
    try:
        await svc.start_live(trigger="demo")
    except CommandError as e:
        log.warning("demo: not live: %s", e)


@contextlib.asynccontextmanager
async def live_part(data: dict[str, Any], work: Path, ready: Any) -> AsyncIterator[None]:
    task: asyncio.Task[None] | None = None
    if (data.get("live") or {}).get("url"):
        periods = ((data.get("lessons") or {}).get("timetable") or {}).get("periods") or []
        if periods:
            periods[0]["live"] = True
        else:
            task = asyncio.create_task(go_live(ready))
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
