"""The local web server: the only place that knows HTTP.

Each module in ``ROUTE_MODULES`` has ``setup(app: web.Application, ctx: AgentContext)``
that adds its routes. ``ctx`` is reachable in handlers as ``request.app[CTX]``.
"""

from __future__ import annotations

import importlib
import logging

from aiohttp import web

from agent.config import parse_listen
from agent.runtime.service import AgentContext, Service

log = logging.getLogger(__name__)

CTX: web.AppKey[AgentContext] = web.AppKey("ctx", AgentContext)

ROUTE_MODULES = [
    "agent.web.auth",  # first: refuses an open port without credentials; auth + CSRF
    "agent.web.api",
    "agent.web.lessons",
    "agent.web.pages",
    "agent.web.live",
    "agent.web.metrics",
    "agent.web.downloads",
    "agent.web.tablets",
    "agent.web.recording",
    "agent.web.streaming",
]


def build_app(ctx: AgentContext) -> web.Application:
    app = web.Application(client_max_size=ctx.config.web.max_request_bytes)
    app[CTX] = ctx
    for name in ROUTE_MODULES:
        importlib.import_module(name).setup(app, ctx)
    return app


class WebService(Service):
    name = "web"
    capabilities = ("web",)

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        self._runner: web.AppRunner | None = None
        self.url = ""

    @classmethod
    def create(cls, ctx: AgentContext) -> WebService:
        return cls(ctx)

    async def start(self) -> None:
        host, port = parse_listen(self.ctx.config.web.listen)
        self._runner = web.AppRunner(build_app(self.ctx), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        from agent.web.tls import server_context

        # checked when the config loaded; read again here, the files may have been renewed
        tls = server_context(self.ctx.config.web)
        site = web.TCPSite(self._runner, host, port, ssl_context=tls)
        await site.start()
        sock = site._server.sockets[0] if site._server and site._server.sockets else None
        bound = sock.getsockname()[1] if sock else port
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://{'[' + shown + ']' if ':' in shown else shown}:{bound}/"
        log.info("web listening on %s", self.url)

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
