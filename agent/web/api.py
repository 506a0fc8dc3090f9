"""JSON API: health and status."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from agent.runtime.service import AgentContext

log = logging.getLogger(__name__)


def status_document(ctx: AgentContext) -> dict[str, Any]:
    """The one status snapshot behind /api/status and the status page."""
    now = datetime.now(UTC)
    doc: dict[str, Any] = {
        "agent": {
            "version": ctx.version,
            "started": ctx.started.isoformat(),
            "uptime_s": round((now - ctx.started).total_seconds(), 1),
            "school": ctx.config.site.school,
            "room": ctx.config.site.room,
            "name": ctx.config.site.name,
            "timezone": ctx.config.site.timezone,
            "capabilities": ctx.capabilities(),
            "loop_lag_ms": round(ctx.looplag.last_ms, 2),
            "demo": ctx.demo,
        },
    }
    doc.update(ctx.state.snapshot())
    for name, s in ctx.services.items():
        try:
            st = s.status()
        except Exception as e:  # one broken section must not take the whole page down
            log.warning("status() of service %s failed: %s", name, e)
            st = {"error": f"{type(e).__name__}: {e}"}
        if st is not None:
            doc[name] = st
    if "system" not in doc:
        from agent.web.system import sample

        doc["system"] = sample(ctx)
    return doc


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def api_status(request: web.Request) -> web.Response:
    from agent.web.app import CTX

    return web.json_response(status_document(request.app[CTX]))


def setup(app: web.Application, ctx: AgentContext) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/status", api_status)
