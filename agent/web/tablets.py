"""``GET /ws/tablet``: the tablet gateway's WebSocket endpoint (docs/tablet-protocol.md).

Only the transport lives here: aiohttp's WebSocket wrapped as a gateway ``Connection``.
Tablets authenticate inside the protocol (join code or device token in ``hello``), not
with the web API's credentials. aiohttp answers WebSocket pings and sends its own every
``heartbeat_s`` so a half-open TCP connection is noticed even if the tablet app stays
silent; frames above 4x ``max_message_bytes`` are cut by aiohttp (close 1009), smaller
oversized frames get a ``too_big`` error from the gateway and the connection stays.
"""

from __future__ import annotations

import asyncio

from aiohttp import WSCloseCode, WSMsgType, web

from agent.runtime.service import AgentContext
from drivers.tablets import protocol as p
from drivers.tablets.gateway import Incoming

PATH = "/ws/tablet"


class AiohttpConnection:
    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.ws = ws
        self.remote = request.remote or "?"
        self._transport = request.transport

    async def receive(self, timeout: float) -> Incoming:
        try:
            # an outer timeout: aiohttp's own receive timeout restarts on every pong, and
            # the protocol wants the *tablet* to speak within heartbeat_timeout_s
            async with asyncio.timeout(timeout):
                msg = await self.ws.receive()
        except TimeoutError:
            return Incoming("timeout")
        except RuntimeError:  # receive after close / concurrent receive
            return Incoming("closed")
        if msg.type == WSMsgType.TEXT:
            return Incoming("text", msg.data)
        if msg.type == WSMsgType.BINARY:
            return Incoming("binary")
        too_big = getattr(msg.data, "code", None) == WSCloseCode.MESSAGE_TOO_BIG
        if msg.type == WSMsgType.ERROR and too_big:
            return Incoming("too_big")
        return Incoming("closed")

    async def send_text(self, text: str) -> None:
        await self.ws.send_str(text)

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code=code, message=reason.encode())

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


async def tablet_ws(request: web.Request) -> web.StreamResponse:
    from agent.tablets.service import TabletService
    from agent.web.app import CTX

    svc = request.app[CTX].service(TabletService)
    if svc is None:
        raise web.HTTPNotFound(text="tablets are not enabled on this agent")
    cfg = svc.cfg
    ws = web.WebSocketResponse(
        heartbeat=cfg.heartbeat_s,
        max_msg_size=cfg.max_message_bytes * 4,
        autoping=True,
        timeout=5.0,  # waiting for the tablet's close reply
    )
    await ws.prepare(request)
    await svc.gateway.serve(AiohttpConnection(ws, request))
    if not ws.closed:
        await ws.close()
    return ws


async def tablet_command(request: web.Request) -> web.Response:
    """``POST /api/tablets/{question|broadcast|lesson|assignments}``: the same validated commands as
    MQTT ``cmd/tablets/...`` (behind the web API's auth, unlike /ws/tablet)."""
    from agent.web.app import CTX

    name = f"tablets/{request.match_info['action']}"
    try:
        body = await request.json() if request.can_read_body else {}
    except (ValueError, RecursionError):  # deeply nested JSON overflows json.loads' stack
        return web.json_response({"ok": False, "error": {"code": "bad_json",
                                                         "message": "body is not JSON"}},
                                 status=400)
    res = await request.app[CTX].commands.dispatch(name, body)
    status = 200 if res.ok else 404 if res.error and res.error["code"] == "unknown_command" \
        else 400
    return web.json_response({"ok": res.ok, "result": res.result, "error": res.error},
                             status=status)


async def _close_tablets(app: web.Application) -> None:
    # aiohttp waits for open WebSocket handlers when the server stops: tell the tablets
    # we are going away (they reconnect later) instead of holding the shutdown
    from agent.tablets.service import TabletService
    from agent.web.app import CTX

    svc = app[CTX].service(TabletService)
    if svc is not None:
        await svc.gateway.close_all(p.CLOSE_GOING_AWAY)


def setup(app: web.Application, ctx: AgentContext) -> None:
    app.on_shutdown.append(_close_tablets)
    app.router.add_get(PATH, tablet_ws)
    app.router.add_post("/api/tablets/{action:question|broadcast|lesson|assignments}",
                        tablet_command)
