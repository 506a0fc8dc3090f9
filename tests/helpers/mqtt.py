"""MQTT in tests: a room's topic root, fast reconnects, a subscriber and a collector."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiomqtt

ROOT = "classroom/test-school/r1"


def fast_mqtt(url: str) -> dict[str, Any]:
    return {"url": url, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0, "keepalive_s": 5}


@contextlib.asynccontextmanager
async def subscriber(port: int, *topics: str, persistent_id: str | None = None,
                     v5: bool = True) -> AsyncIterator[aiomqtt.Client]:
    kw: dict[str, Any] = {"identifier": persistent_id} if persistent_id else {}
    if persistent_id:  # a district consumer with a session that outlives the connection
        kw.update(protocol=aiomqtt.ProtocolVersion.V311, clean_session=False)
    elif v5:
        kw.update(protocol=aiomqtt.ProtocolVersion.V5)
    async with aiomqtt.Client("127.0.0.1", port, **kw) as c:
        for t in topics:
            await c.subscribe(t, qos=1)
        yield c


async def collect(client: aiomqtt.Client, until: Callable[[list[aiomqtt.Message]], bool],
                  timeout: float = 30.0) -> list[aiomqtt.Message]:
    got: list[aiomqtt.Message] = []

    async def loop() -> None:
        async for m in client.messages:
            got.append(m)
            if until(got):
                return

    async with asyncio.timeout(timeout):
        await loop()
    return got
