"""docs/openapi.json and the app's routes describe the same API."""

from __future__ import annotations

import json
import re
from pathlib import Path

from aiohttp import web

from agent.config import from_dict
from agent.runtime.agent import make_context
from agent.web.app import build_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def app_routes() -> set[tuple[str, str]]:
    """(METHOD, OpenAPI path) for every route every web module registers."""
    app = build_app(make_context(from_dict({})))
    out = set()
    for route in app.router.routes():
        if route.method == "HEAD":  # added by aiohttp next to every GET
            continue
        res = route.resource
        if isinstance(res, web.StaticResource):
            path = res.canonical.rstrip("/") + "/{path}"
        else:
            # aiohttp's {name:regex} is OpenAPI's {name}
            path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", res.canonical)
        out.add((route.method.upper(), path))
    return out


def doc_routes() -> set[tuple[str, str]]:
    doc = json.loads(DOC.read_text(encoding="utf-8"))
    return {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops
            if m in ("get", "post", "put", "patch", "delete")}


def test_openapi_is_well_formed() -> None:
    doc = json.loads(DOC.read_text(encoding="utf-8"))
    assert doc["openapi"].startswith("3.")
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    refs = set(re.findall(r'"#/components/(\w+)/(\w+)"', DOC.read_text()))
    for kind, name in refs:
        assert name in doc["components"][kind], f"dangling $ref {kind}/{name}"


def test_every_route_is_documented() -> None:
    missing = app_routes() - doc_routes()
    assert not missing, f"routes missing from docs/openapi.json: {sorted(missing)}"


def test_every_documented_path_exists() -> None:
    extra = doc_routes() - app_routes()
    assert not extra, f"docs/openapi.json documents routes the app lacks: {sorted(extra)}"
