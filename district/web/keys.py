"""What the collector's web handlers share: the app keys and the term / as-of query
parameters (one module, so the API and the dashboard pages need not import each other)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from aiohttp import web

from district.config import ConfigError, DistrictConfig
from district.kpi.engine import today
from district.store.store import Store

if TYPE_CHECKING:
    from district.ingest.collector import Collector

CFG = web.AppKey("cfg", DistrictConfig)
STORE = web.AppKey("store", Store)
COLLECTOR: web.AppKey[Collector | None] = web.AppKey("collector")


def as_of(request: web.Request) -> date | None:
    v = request.query.get("as_of")
    return date.fromisoformat(v) if v else None


def term(request: web.Request) -> str:
    cfg = request.app[CFG]
    name = request.query.get("term")
    if not name:
        if not cfg.terms:
            raise ConfigError("no term configured")
        # default: the term containing today, else the latest one

        t = today(cfg)
        name = next((x.name for x in cfg.terms if x.start <= t <= x.end), cfg.terms[-1].name)
    return name
