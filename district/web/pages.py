"""The dashboard: four HTML pages (district, school, room, term report), their JSON and
their static assets, on the collector's aiohttp app (``add_routes(app)``).

Everything is served from district/web/static (ECharts is vendored under static/vendor):
the pages work without internet. The language is the browser's ``Accept-Language``
(zh-CN or en), ``?lang=en|zh-CN`` overrides it, as on the agent's pages. The pages fetch
``/api/dashboard/...`` (built by district.kpi.views on the KPI engine) and poll it, so the
numbers follow ingest live. Bad parameters are 400/404 JSON from the app's middleware.
"""

from __future__ import annotations

import asyncio
import html
from pathlib import Path

import msgspec
from aiohttp import web

from agent.web.pages import negotiate
from district.kpi import views
from district.web.app import CFG, STORE, _as_of, _term

STATIC = Path(__file__).parent / "static"
REFRESH_S = 15  # how often a page polls its data (?refresh=SECONDS overrides)

# ECharts writes style attributes into its tooltips: 'unsafe-inline' for styles only
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; connect-src 'self'; frame-ancestors 'none'")


def language(request: web.Request) -> str:
    q = request.query.get("lang", "").strip().lower()
    if q.startswith("zh"):
        return "zh-CN"
    if q.startswith("en"):
        return "en"
    return negotiate(request.headers.get("Accept-Language", "")) or "en"


def _json(data: object) -> web.Response:
    return web.Response(body=msgspec.json.encode(data), content_type="application/json",
                        headers={"Cache-Control": "no-store"})


def _ids(request: web.Request) -> tuple[str | None, str | None]:
    school = request.match_info.get("school")
    room = request.match_info.get("room")
    if school is not None:
        views.check_id("school", school)
    if room is not None:
        views.check_id("room", room)
    return school, room


async def _page(request: web.Request, template: str) -> web.Response:
    cfg, store = request.app[CFG], request.app[STORE]
    school, room = _ids(request)
    if request.query.get("school"):  # the report page takes ?school=
        school = views.check_id("school", request.query["school"])
    term = _term(request)
    cfg.term(term)  # unknown term -> 404 before a page that could only show an error
    as_of = _as_of(request)
    if school is not None:
        known = await asyncio.to_thread(store.rooms, school, room)
        if not known:
            raise views.NotFound(f"{school}/{room or '*'}: not known")
    refresh = REFRESH_S
    if request.query.get("refresh"):
        try:
            refresh = int(request.query["refresh"])
        except ValueError:
            refresh = -1
        if not 1 <= refresh <= 3600:
            raise ValueError("refresh: seconds between updates, 1..3600")
    lang = language(request)
    esc = lambda v: html.escape(v or "", quote=True)  # noqa: E731
    text = (STATIC / template).read_text(encoding="utf-8")
    for key, value in (("lang", lang), ("district", cfg.district.name), ("term", term),
                       ("school", school), ("room", room),
                       ("as_of", as_of.isoformat() if as_of else ""),
                       ("refresh", str(refresh))):
        text = text.replace("{{" + key + "}}", esc(value))
    return web.Response(text=text, content_type="text/html", headers={
        "Cache-Control": "no-cache", "Content-Language": lang,
        "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin"})


async def district_page(request: web.Request) -> web.Response:
    return await _page(request, "district.html")


async def school_page(request: web.Request) -> web.Response:
    return await _page(request, "school.html")


async def room_page(request: web.Request) -> web.Response:
    return await _page(request, "room.html")


async def report_page(request: web.Request) -> web.Response:
    return await _page(request, "report.html")


async def district_data(request: web.Request) -> web.Response:
    cfg, store = request.app[CFG], request.app[STORE]
    return _json(await asyncio.to_thread(views.district_view, cfg, store, _term(request),
                                         as_of=_as_of(request)))


async def school_data(request: web.Request) -> web.Response:
    cfg, store = request.app[CFG], request.app[STORE]
    school, _ = _ids(request)
    return _json(await asyncio.to_thread(views.school_view, cfg, store, _term(request),
                                         school, as_of=_as_of(request)))


async def room_data(request: web.Request) -> web.Response:
    cfg, store = request.app[CFG], request.app[STORE]
    school, room = _ids(request)
    return _json(await asyncio.to_thread(views.room_view, cfg, store, _term(request), school,
                                         room, as_of=_as_of(request)))


async def favicon(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "favicon.svg")


@web.middleware
async def json_errors(request: web.Request, handler) -> web.StreamResponse:
    """aiohttp's own 404/405 (no such route, a path with %2F) as JSON like the API's."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return web.Response(body=msgspec.json.encode({"ok": False, "error": {
            "code": e.reason.lower().replace(" ", "_"), "message": e.reason}}),
            status=e.status, content_type="application/json")


def add_routes(app: web.Application) -> None:
    app.middlewares.append(json_errors)
    app.router.add_get("/", district_page)
    app.router.add_get("/schools/{school}", school_page)
    app.router.add_get("/schools/{school}/rooms/{room}", room_page)
    app.router.add_get("/report", report_page)
    app.router.add_get("/api/dashboard/district", district_data)
    app.router.add_get("/api/dashboard/schools/{school}", school_data)
    app.router.add_get("/api/dashboard/schools/{school}/rooms/{room}", room_data)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_static("/static/", STATIC, name="static")
