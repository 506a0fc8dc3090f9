"""The two HTML pages (status ``/`` and teacher panel ``/panel``) and their static assets.

Everything is served from agent/web/static: the rooms have no internet, so no CDN. The
page language is ``web.language`` from config, or with ``auto`` the browser's
``Accept-Language``; ``?lang=en|zh-CN`` overrides both (handy on a shared kiosk).
"""

from __future__ import annotations

import html
from pathlib import Path

from aiohttp import web

from agent.runtime.service import AgentContext

STATIC = Path(__file__).parent / "static"
LANGUAGES = ("en", "zh-CN")


def _normalize(tag: str) -> str | None:
    t = tag.strip().lower()
    if t.startswith("zh"):
        return "zh-CN"
    if t.startswith("en"):
        return "en"
    return None


def negotiate(accept_language: str) -> str | None:
    """Best of our languages for an Accept-Language header (q-values honoured)."""
    best: tuple[float, int, str] | None = None
    for i, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        lang = _normalize(tag)
        if lang and q > 0 and (best is None or (q, -i) > (best[0], best[1])):
            best = (q, -i, lang)
    return best[2] if best else None


def page_language(request: web.Request, configured: str) -> str:
    override = _normalize(request.query.get("lang", ""))
    if override:
        return override
    if configured in LANGUAGES:
        return configured
    return negotiate(request.headers.get("Accept-Language", "")) or "en"


def _render(request: web.Request, template: str) -> web.Response:
    from agent.web.app import CTX

    ctx = request.app[CTX]
    lang = page_language(request, ctx.config.web.language)
    text = (STATIC / template).read_text(encoding="utf-8")
    room = ctx.config.site.name or f"{ctx.config.site.school} / {ctx.config.site.room}"
    text = (
        text.replace("{{lang}}", lang)
        .replace("{{room}}", html.escape(room))
        .replace("{{v}}", html.escape(ctx.version))
    )
    return web.Response(
        text=text,
        content_type="text/html",
        headers={
            "Cache-Control": "no-cache",
            "Content-Language": lang,
            # only our own files; no inline scripts, nothing from the network
            "Content-Security-Policy": (
                "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )


async def status_page(request: web.Request) -> web.Response:
    return _render(request, "status.html")


async def panel_page(request: web.Request) -> web.Response:
    return _render(request, "panel.html")


async def favicon(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "favicon.svg")


def setup(app: web.Application, ctx: AgentContext) -> None:
    app.router.add_get("/", status_page)
    app.router.add_get("/panel", panel_page)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_static("/static/", STATIC, name="static")
