"""The xAPI queue overflowing while a batch is on its way to the LRS: what is counted sent
is exactly what the LRS stored, and every statement is either sent or counted dropped.

A real LRS stand-in (aiohttp server on loopback) holds its answer to the first POST until
the queue has overflowed behind it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from agent import events as ev
from agent.runtime.agent import make_context
from agent.tablets.xapi import XapiSender, render
from tests.conftest import free_port
from tests.helpers.wait import wait_for

HOME, BASE = "https://sis.example.org", "https://x.example/xapi"


def hand(i: int) -> ev.InteractionEvent:
    return ev.InteractionEvent(kind="hand", device_id="tab-1", student_id=f"stu-{i:03d}",
                               message_id=f"m{i}", lesson_id="L1", state="raise")


async def test_overflow_during_a_post_never_counts_unsent_statements_as_sent(
        make_config: Any) -> None:
    stored: list[str] = []
    first_in = asyncio.Event()
    release = asyncio.Event()

    async def statements(request: web.Request) -> web.Response:
        batch = await request.json()
        if not first_in.is_set():
            first_in.set()
            await release.wait()  # the LRS is slow with the first batch
        stored.extend(s["id"] for s in batch)
        return web.json_response([s["id"] for s in batch])

    app = web.Application()
    app.router.add_post("/xapi/statements", statements)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    cfg = make_config(tablets={"xapi": {"enabled": True, "batch_max": 2, "queue_max": 3,
                                        "endpoint": f"http://127.0.0.1:{port}/xapi/",
                                        "home_page": HOME, "activity_base": BASE}})
    sender = XapiSender(make_context(cfg), cfg.tablets.xapi)
    task = asyncio.create_task(sender.run())
    try:
        events = [hand(i) for i in range(6)]
        ids = [render(e, HOME, BASE)[0]["id"] for e in events]
        sender.offer(events[0])
        sender.offer(events[1])
        await asyncio.wait_for(first_in.wait(), 10)  # [0, 1] on their way
        for e in events[2:]:
            sender.offer(e)  # 4 more into a queue of 3 while the POST hangs
        release.set()
        await wait_for(lambda: not sender.status()["queued"], 10, "queue drained")
        st = sender.status()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sender.close()
        await runner.cleanup()

    # the two on their way were stored; of the four waiting, the oldest was dropped
    assert stored == [ids[0], ids[1], ids[3], ids[4], ids[5]]
    assert st["sent"] == len(stored) == 5
    assert st["dropped"] == 1
    assert st["sent"] + st["dropped"] == len(events)
