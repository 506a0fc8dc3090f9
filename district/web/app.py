"""The collector's HTTP API (aiohttp): the report per term / school / room, weekly series,
room presence, data-loss counters, dead letters, /metrics and the OpenAPI document.

Every handler is a thin shell over the KPI engine and the store (run in a thread: both
block); a dashboard builds on the same functions. Auth follows the agent's rules
(docs/http-api.md): loopback peers naming a loopback Host are trusted; anyone else needs
``Authorization: Bearer <web.token>`` or basic auth against ``web.password_hash``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from agent.config import parse_listen, read_secret
from agent.web.credentials import is_loopback_host, verify_password
from district import report as report_mod
from district.config import ConfigError, DistrictConfig
from district.kpi.engine import term_report, weekly_series
from district.store.store import Store
from district.web.keys import CFG, COLLECTOR, STORE
from district.web.keys import as_of as _as_of
from district.web.keys import term as _term
from district.web.metrics import render as render_metrics
from district.web.openapi import document as openapi_document
from district.web.pages import add_routes

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
EXEMPT = ("/healthz",)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(data), status=status,
                        content_type="application/json")


def _error(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.Response(body=msgspec.json.encode({"ok": False, "error": {
        "code": code, "message": message}}), status=status, content_type="application/json",
        headers=headers)


def _host_only(host: str) -> str:
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Auth:
    def __init__(self, cfg: DistrictConfig) -> None:
        w = cfg.web
        token = read_secret(w.token, w.token_file)
        self.token = token.encode() if token else None
        self.username, self.password_hash = w.username, w.password_hash
        self.failures = 0
        self._ok: set[str] = set()  # verified basic headers (pbkdf2 is slow on purpose)

    async def allowed(self, request: web.Request) -> bool:
        if request.path in EXEMPT:
            return True
        if is_loopback_host(request.remote or "") and is_loopback_host(
                _host_only(request.host or "")):
            return True
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and self.token:
            return hmac.compare_digest(value.encode(), self.token)
        if scheme.lower() == "basic" and self.username and self.password_hash:
            if value in self._ok:
                return True
            try:
                user, sep, pw = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return False
            if sep and hmac.compare_digest(user.encode(), self.username.encode()) and \
                    await asyncio.to_thread(verify_password, pw, self.password_hash):
                if len(self._ok) < 64:
                    self._ok.add(value)
                return True
        return False


AUTH = web.AppKey("auth", Auth)


def make_app(cfg: DistrictConfig, store: Store, collector: Any = None) -> web.Application:
    auth = Auth(cfg)

    @web.middleware
    async def auth_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not await auth.allowed(request):
            auth.failures += 1
            return _error(401, "unauthorized", "credentials required",
                          **{"WWW-Authenticate": 'Basic realm="classroom-district"'})
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            return _error(405, "method_not_allowed", "the API is read-only")
        try:
            return await handler(request)
        except ConfigError as e:
            return _error(404, "not_found", str(e))
        except ValueError as e:
            return _error(400, "bad_request", str(e))

    app = web.Application(middlewares=[auth_mw])
    app[CFG], app[STORE], app[COLLECTOR] = cfg, store, collector
    app[AUTH] = auth
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/status", status)
    app.router.add_get("/api/terms", terms)
    app.router.add_get("/api/report", report)
    app.router.add_get("/api/schools/{school}/report", report)
    app.router.add_get("/api/schools/{school}/rooms/{room}/report", report)
    app.router.add_get("/api/weekly", weekly)
    app.router.add_get("/api/rooms", rooms)
    app.router.add_get("/api/data-loss", data_loss)
    app.router.add_get("/api/dead-letters", dead_letters)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/metrics", metrics)
    add_routes(app)  # the dashboard (pages + their JSON)
    return app


async def healthz(request: web.Request) -> web.Response:
    return _json({"ok": True})


async def status(request: web.Request) -> web.Response:
    col = request.app[COLLECTOR]
    store = request.app[STORE]
    version = await asyncio.to_thread(store.schema_version)
    return _json({"district": request.app[CFG].district.name, "schema_version": version,
                  "ingest": msgspec.to_builtins(col.stats) if col else None,
                  "web_auth_failures": request.app[AUTH].failures})


async def terms(request: web.Request) -> web.Response:
    return _json(request.app[CFG].terms)


async def report(request: web.Request) -> web.StreamResponse:
    cfg, store = request.app[CFG], request.app[STORE]
    school = request.match_info.get("school") or request.query.get("school")
    room = request.match_info.get("room") or request.query.get("room")
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv", "xlsx"):
        raise ValueError("format: json, csv or xlsx")
    rep = await asyncio.to_thread(term_report, cfg, store, _term(request), school=school,
                                  room=room, as_of=_as_of(request))
    if school is not None and not rep.rooms:
        return _error(404, "not_found", f"no room known for {school}/{room or '*'}")
    body = await asyncio.to_thread(report_mod.render, rep, fmt)
    types = {"json": "application/json", "csv": "text/csv",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    headers = {}
    if fmt != "json":
        headers["Content-Disposition"] = f'attachment; filename="district-report.{fmt}"'
    return web.Response(body=body, content_type=types[fmt], headers=headers)


async def weekly(request: web.Request) -> web.Response:
    cfg, store = request.app[CFG], request.app[STORE]
    rows = await asyncio.to_thread(weekly_series, cfg, store, _term(request),
                                   school=request.query.get("school"),
                                   room=request.query.get("room"), as_of=_as_of(request))
    return _json(rows)


async def rooms(request: web.Request) -> web.Response:
    store = request.app[STORE]
    school = request.query.get("school")

    def load() -> list[dict[str, Any]]:
        loss: dict[tuple[str, str], dict[str, int]] = {}
        for r in store.seq_state(school):
            d = loss.setdefault((r["school"], r["room"]), {"missing": 0, "gaps": 0})
            d["missing"] += r["missing"]
            d["gaps"] += r["gaps"]
        health = {(h["school"], h["room"]): h for h in store.health(school)}
        out = []
        for r in store.rooms(school):
            key = (r["school"], r["room"])
            h = health.get(key)
            out.append({**r, "silent": r["first_seen"] is None,
                        "data_loss": loss.get(key, {"missing": 0, "gaps": 0}),
                        "health": {"ts": h["ts"], "samples": h["samples"], **h["data"]}
                        if h else None})
        return out

    return _json(await asyncio.to_thread(load))


async def data_loss(request: web.Request) -> web.Response:
    store = request.app[STORE]

    def load() -> dict[str, Any]:
        rows = [r for r in store.seq_state(request.query.get("school"))
                if r["missing"] or r["gaps"] or r["resets"]]
        counters = store.counters()
        return {"rooms": rows,
                "missing_total": sum(r["missing"] for r in rows),
                "dead_letters": {k.split(":", 1)[1]: v for k, v in counters.items()
                                 if k.startswith("dead_letters:")},
                "counters": counters}

    return _json(await asyncio.to_thread(load))


async def dead_letters(request: web.Request) -> web.Response:
    limit = int(request.query.get("limit", "100"))
    if not 1 <= limit <= 1000:
        raise ValueError("limit: 1..1000")
    return _json(await asyncio.to_thread(request.app[STORE].dead_letters, limit))


async def metrics(request: web.Request) -> web.Response:
    body = await asyncio.to_thread(render_metrics, request.app[STORE], request.app[COLLECTOR])
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())


async def start_web(cfg: DistrictConfig, store: Store, collector: Any) -> web.AppRunner:
    host, port = parse_listen(cfg.web.listen)
    runner = web.AppRunner(make_app(cfg, store, collector), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("web: listening on %s", cfg.web.listen)
    return runner
