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
import contextlib
import html
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import msgspec
from aiohttp import web

from agent.web.pages import negotiate
from district.kpi import views
from district.kpi.engine import today
from district.store.store import Store
from district.web.keys import CFG, STORE
from district.web.keys import as_of as _as_of
from district.web.keys import term as _term

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
REFRESH_S = 15  # how often a page polls its data (?refresh=SECONDS overrides)

# ECharts writes style attributes into its tooltips: 'unsafe-inline' for styles only
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; connect-src 'self'; frame-ancestors 'none'")


class ViewCache:
    """The encoded JSON of a view, per (view, school, room, term, as_of), reused while the
    store's data version is unchanged, and for at most ``stale_s`` after it changed: a
    district under constant ingest recomputes a view at most every ``stale_s`` however
    many people watch it (the pages poll every ``REFRESH_S``)."""

    def __init__(self, size: int = 64, stale_s: float = 5.0, watch_s: float = 120.0) -> None:
        self.size, self.stale_s, self.watch_s = size, stale_s, watch_s
        self._watch: dict[tuple[Any, ...], tuple[float, Callable[[], object]]] = {}
        self._d: OrderedDict[tuple[Any, ...], tuple[int, float, bytes]] = OrderedDict()
        self._lock = threading.Lock()  # handlers run in threads
        self.hits = self.misses = 0

    def clear(self) -> None:
        with self._lock:
            self._d.clear()

    def watched(self, key: tuple[Any, ...], build: Callable[[], object]) -> None:
        """Keep ``key`` warm while someone watches it (pages poll every REFRESH_S)."""
        with self._lock:
            self._watch[key] = (time.monotonic(), build)

    def warm(self, store: Store) -> int:
        """Recompute the watched views whose data changed; returns how many."""
        now = time.monotonic()
        with self._lock:
            for k in [k for k, (t, _) in self._watch.items() if now - t > self.watch_s]:
                del self._watch[k]
            todo = list(self._watch.items())
        if not todo:
            return 0
        version = views.data_version(store)
        n = 0
        for key, (_, build) in todo:
            with self._lock:
                hit = self._d.get(key)
            if hit and (hit[0] == version or now - hit[1] < self.stale_s):
                continue
            try:
                body = msgspec.json.encode(build())
            except Exception as e:  # e.g. a term removed from the config: stop watching
                log.warning("dashboard: cannot refresh %s: %s", key[0], e)
                with self._lock:
                    self._watch.pop(key, None)
                continue
            with self._lock:
                self._d[key] = (version, time.monotonic(), body)
            n += 1
        return n

    def get(self, store: Store, key: tuple[Any, ...], build: Callable[[], object]) -> bytes:
        version = views.data_version(store)
        now = time.monotonic()
        with self._lock:
            hit = self._d.get(key)
            if hit and (hit[0] == version or now - hit[1] < self.stale_s):
                self._d.move_to_end(key)
                self.hits += 1
                return hit[2]
            self.misses += 1
        body = msgspec.json.encode(build())  # outside the lock: other views go on
        with self._lock:
            self._d[key] = (version, now, body)
            self._d.move_to_end(key)
            while len(self._d) > self.size:
                self._d.popitem(last=False)
        return body


CACHE = web.AppKey("dashboard_cache", ViewCache)


def language(request: web.Request) -> str:
    q = request.query.get("lang", "").strip().lower()
    if q.startswith("zh"):
        return "zh-CN"
    if q.startswith("en"):
        return "en"
    return negotiate(request.headers.get("Accept-Language", "")) or "en"


async def _view(request: web.Request, fn: Callable[..., object], *ids: str | None
                ) -> web.Response:
    cfg, store = request.app[CFG], request.app[STORE]
    term = _term(request)
    as_of = _as_of(request) or today(cfg)  # in the key: "today" moves at midnight
    key = (fn.__name__, *ids, term, as_of)

    def build() -> object:
        return fn(cfg, store, term, *ids, as_of=as_of)

    cache = request.app[CACHE]
    body = await asyncio.to_thread(cache.get, store, key, build)
    cache.watched(key, build)  # only views that could be built
    return web.Response(body=body, content_type="application/json",
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
    # the page's first data request, exactly as dash.js's query() builds it, so the
    # browser fetches it while it still loads the scripts (<link rel=preload>)
    params = [("term", term)] + ([("as_of", as_of.isoformat())] if as_of else [])
    match template:
        case "district.html":
            data = "/api/dashboard/district"
        case "school.html":
            data = f"/api/dashboard/schools/{school}"
        case "room.html":
            data = f"/api/dashboard/schools/{school}/rooms/{room}"
        case _:
            data = "/api/report"
            params += [("school", school)] if school else []
    data += "?" + urlencode([*params, ("lang", lang)], quote_via=quote, safe="*")
    def esc(v: str | None) -> str:
        return html.escape(v or "", quote=True)
    text = (STATIC / template).read_text(encoding="utf-8")
    for key, value in (("lang", lang), ("district", cfg.district.name), ("term", term),
                       ("school", school), ("room", room),
                       ("as_of", as_of.isoformat() if as_of else ""),
                       ("refresh", str(refresh)), ("data_url", data)):
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
    return await _view(request, views.district_view)


async def school_data(request: web.Request) -> web.Response:
    school, _ = _ids(request)
    return await _view(request, views.school_view, school)


async def room_data(request: web.Request) -> web.Response:
    return await _view(request, views.room_view, *_ids(request))


async def favicon(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "favicon.svg")


@web.middleware
async def json_errors(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
    """aiohttp's own 404/405 (no such route, a path with %2F) as JSON like the API's."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return web.Response(body=msgspec.json.encode({"ok": False, "error": {
            "code": e.reason.lower().replace(" ", "_"), "message": e.reason}}),
            status=e.status, content_type="application/json")


async def _warmer(app: web.Application) -> AsyncIterator[None]:
    """While a page is open, its view is recomputed in the background when the data
    changes (at most every ``stale_s``), so a page load finds it ready."""

    async def loop() -> None:
        cache, store = app[CACHE], app[STORE]
        while True:
            await asyncio.sleep(1.0)
            try:
                await asyncio.to_thread(cache.warm, store)
            except Exception as e:  # a store error must not end the warming
                log.warning("dashboard: warming a view failed: %s", e)

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def add_routes(app: web.Application) -> None:
    app.middlewares.append(json_errors)
    app[CACHE] = ViewCache()
    app.cleanup_ctx.append(_warmer)
    app.router.add_get("/", district_page)
    app.router.add_get("/schools/{school}", school_page)
    app.router.add_get("/schools/{school}/rooms/{room}", room_page)
    app.router.add_get("/report", report_page)
    app.router.add_get("/api/dashboard/district", district_data)
    app.router.add_get("/api/dashboard/schools/{school}", school_data)
    app.router.add_get("/api/dashboard/schools/{school}/rooms/{room}", room_data)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_static("/static/", STATIC, name="static")
