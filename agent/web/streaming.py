"""HTTP for live lessons: ``POST /api/live/start`` / ``POST /api/live/stop`` (the same
service the MQTT commands and the timetable use). Auth and CSRF are the app's middlewares,
as for recording. Refusals are 409 with ``{"error": {"code", "message"}}`` (``already_live``,
``not_live``, ``not_configured`` ...); bad bodies are 400."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent.runtime.service import AgentContext
from agent.web.recording import _trigger, control


def _service(request: web.Request) -> Any:
    from agent.live.service import LiveService
    from agent.web.app import CTX

    return request.app[CTX].service(LiveService)


async def _control(request: web.Request, args_type: type, act: Any) -> web.Response:
    return await control(request, _service(request), args_type, act)


async def start(request: web.Request) -> web.Response:
    from agent.live.service import LiveStartArgs

    return await _control(request, LiveStartArgs, lambda svc, a: svc.start_live(
        a.trigger or _trigger(request)))


async def stop(request: web.Request) -> web.Response:
    from agent.live.service import LiveStopArgs

    return await _control(request, LiveStopArgs, lambda svc, a: svc.stop_live(
        a.trigger or _trigger(request)))


def setup(app: web.Application, ctx: AgentContext) -> None:
    app.router.add_post("/api/live/start", start)
    app.router.add_post("/api/live/stop", stop)
