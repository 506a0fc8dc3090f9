"""HTTP for recording: start / stop (the same service the MQTT commands use) and the
catalog. Refusals are 409 with ``{"error": {"code", "message"}}``; bad bodies are 400."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from aiohttp import web

from agent.commands import CommandError
from agent.runtime.service import AgentContext

# who pressed the button: the CLI and the teacher panel say so in X-Requested-With
TRIGGERS = {"classroom-agent-cli": "cli", "classroom-agent-panel": "panel"}


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _service(request: web.Request) -> Any:
    from agent.recording.service import RecordingService
    from agent.web.app import CTX

    return request.app[CTX].service(RecordingService)


async def _body(request: web.Request, args_type: type) -> Any:
    raw = await request.read()
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting: not a 500
            raise _Bad("bad_request", "body is not JSON") from None
    if not isinstance(data, dict):
        raise _Bad("bad_request", "body must be a JSON object")
    try:
        return msgspec.convert(data, args_type, strict=True)
    except msgspec.ValidationError as e:
        raise _Bad("bad_args", str(e).replace("$.", "")) from None


class _Bad(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message


def _trigger(request: web.Request) -> str:
    return TRIGGERS.get(request.headers.get("X-Requested-With", ""), "http")


async def _control(request: web.Request, args_type: type, act: Any) -> web.Response:
    return await control(request, _service(request), args_type, act)


async def control(request: web.Request, svc: Any, args_type: type, act: Any) -> web.Response:
    """Validate the body into ``args_type``, call ``act(svc, args)``, map refusals (400 bad
    body, 409 refused or no such service here). Recording and live control share it."""
    if svc is None:
        return _error(409, "not_configured", "no camera is configured on this agent")
    try:
        args = await _body(request, args_type)
        result = await act(svc, args)
    except _Bad as e:
        return _error(400, e.code, e.message)
    except CommandError as e:
        return _error(409, e.code, e.message)
    return web.json_response(result)


async def start(request: web.Request) -> web.Response:
    from agent.recording.service import RecordStartArgs

    return await _control(request, RecordStartArgs, lambda svc, a: svc.start_recording(
        a.title, a.subject, a.lesson_id, a.teacher, a.trigger or _trigger(request), a.cameras))


async def stop(request: web.Request) -> web.Response:
    from agent.recording.service import RecordStopArgs

    return await _control(request, RecordStopArgs, lambda svc, a: svc.stop_recording(
        trigger=a.trigger or _trigger(request)))


async def recordings(request: web.Request) -> web.Response:
    svc = _service(request)
    if svc is None:
        return web.json_response({"recordings": [], "enabled": False})
    try:
        limit = max(1, min(5000, int(request.query.get("limit", "200"))))
    except ValueError:
        return _error(400, "bad_request", "limit must be a number")
    deleted = request.query.get("deleted", "") in ("1", "true", "yes")
    rows = await svc.recordings(limit, include_deleted=deleted)
    return web.json_response({"recordings": rows, "enabled": True})


async def _showcase(request: web.Request, keep: bool) -> web.Response:
    svc = _service(request)
    if svc is None:
        return _error(409, "not_configured", "no camera is configured on this agent")
    rec_id = request.match_info["rec_id"]
    try:
        result = await svc.mark_showcase(rec_id, keep, _trigger(request))
    except CommandError as e:
        return _error(404 if e.code == "unknown_recording" else 409, e.code, e.message)
    return web.json_response(result)


async def showcase(request: web.Request) -> web.Response:
    """Keep the recording as a showcase lesson."""
    return await _showcase(request, True)


async def showcase_undo(request: web.Request) -> web.Response:
    """Take the showcase marking back (the local day it was made)."""
    return await _showcase(request, False)


def setup(app: web.Application, ctx: AgentContext) -> None:
    app.router.add_post("/api/recording/start", start)
    app.router.add_post("/api/recording/stop", stop)
    app.router.add_get("/api/recordings", recordings)
    rec = r"/api/recordings/{rec_id:[A-Za-z0-9_.:-]{1,100}}/showcase"
    app.router.add_post(rec, showcase)
    app.router.add_delete(rec, showcase_undo)
