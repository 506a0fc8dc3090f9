"""Live updates for the pages: server-sent events carrying the status document.

``GET /api/events/stream`` sends one ``status`` event at once, then another whenever the
agent's state changes (at most every ``MIN_GAP_S``) and at least every ``PERIOD_S`` so
ages, uptime and elapsed times move. Each event is ``{"status", "view", "history"}``:
the raw /api/status document, its summary (agent/web/view.py) and the engagement history
the sparkline draws. EventSource reconnects by itself after a network blip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import web

from agent.runtime.service import AgentContext
from agent.web.api import status_document
from agent.web.view import engagement_view, summarize

log = logging.getLogger(__name__)

PERIOD_S = 2.0
MIN_GAP_S = 0.25
MAX_STREAMS = 32
HISTORY_INTERVAL_S = 5.0
HISTORY_LEN = 360  # 30 minutes at 5 s

HISTORY: web.AppKey[deque[list[Any]]] = web.AppKey("engagement_history", deque)
STOPPING: web.AppKey[asyncio.Event] = web.AppKey("live_stopping", asyncio.Event)
STREAMS: web.AppKey[set[web.StreamResponse]] = web.AppKey("live_streams", set)


def live_document(app: web.Application) -> dict[str, Any]:
    from agent.web.app import CTX

    doc = status_document(app[CTX])
    return {
        "status": doc,
        "view": summarize(doc),
        "history": {"engagement": list(app[HISTORY])},
    }


def _encode(obj: Any) -> bytes:
    # msgspec: datetimes and structs a service may leave in its status() encode as JSON
    return msgspec.json.encode(obj)


async def stream(request: web.Request) -> web.StreamResponse:
    from agent.web.app import CTX

    app = request.app
    ctx: AgentContext = app[CTX]
    if len(app[STREAMS]) >= MAX_STREAMS:
        raise web.HTTPServiceUnavailable(text="too many live pages open")
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # a reverse proxy must not buffer the stream
        }
    )
    await resp.prepare(request)
    app[STREAMS].add(resp)
    stopping = app[STOPPING]
    try:
        await resp.write(b"retry: 2000\n\n")
        while not stopping.is_set():
            seen = ctx.state.version
            try:
                payload = _encode(live_document(app))
            except Exception:  # never kill the stream over one bad snapshot
                log.exception("live status document failed")
                payload = b'{"error": "status unavailable"}'
            await resp.write(b"event: status\ndata: " + payload + b"\n\n")
            await asyncio.sleep(MIN_GAP_S)
            waiter = asyncio.ensure_future(ctx.state.wait_changed(seen, PERIOD_S))
            stop = asyncio.ensure_future(stopping.wait())
            try:
                await asyncio.wait({waiter, stop}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in (waiter, stop):
                    t.cancel()
    except (ConnectionResetError, ConnectionError):
        pass  # the page went away
    finally:
        app[STREAMS].discard(resp)
    return resp


async def _sample_history(app: web.Application) -> None:
    from agent.web.app import CTX

    ctx = app[CTX]
    while True:
        try:
            # only the engagement section: no full status document every few seconds
            svc = ctx.services.get("engagement")
            section = svc.status() if svc is not None else ctx.state.get("engagement")
            if section is not None:
                now = engagement_view(msgspec.to_builtins(section))["now"]
                # None while paused: the sparkline gets no points, not stale ones
                if now and (now["head_up_rate"] is not None or now["head_count"] is not None):
                    ts = datetime.now(UTC).isoformat(timespec="seconds")
                    app[HISTORY].append([ts, now["head_up_rate"], now["head_count"]])
        except Exception:
            log.exception("engagement history sample failed")
        await asyncio.sleep(HISTORY_INTERVAL_S)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_sample_history(app), name="web-history")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _on_shutdown(app: web.Application) -> None:
    # let open streams end now instead of holding the shutdown for its timeout
    app[STOPPING].set()


def setup(app: web.Application, ctx: AgentContext) -> None:
    app[HISTORY] = deque(maxlen=HISTORY_LEN)
    app[STOPPING] = asyncio.Event()
    app[STREAMS] = set()
    app.cleanup_ctx.append(_lifecycle)
    app.on_shutdown.append(_on_shutdown)
    # no HEAD: a stream has no end to send headers for
    app.router.add_get("/api/events/stream", stream, allow_head=False)
