"""Lessons JSON API: recent lesson summaries, the current lesson, usage rollups.

``GET /api/lessons?limit=N`` -> ``{"current": {...}|null, "next": {...}|null,
"lessons": [summary, ...]}`` (newest first, N 1..500, default 20).
``GET /api/usage?from=YYYY-MM-DD&to=YYYY-MM-DD`` -> per-day and per-ISO-week rollups per
subject (dates are the room's local dates, inclusive; default: the last 7 days; at most
400 days). ``GET /api/usage?term=NAME`` -> the same for a timetable term (its first day up
to today or its last day) plus a ``term`` block (school days, school weeks, weeks the
recording room was used). Bad input -> 400 ``{"error": "..."}``; an unknown term -> 404.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from agent.runtime.service import AgentContext

MAX_RANGE_DAYS = 400
MAX_LIMIT = 500


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def _service(request: web.Request) -> Any:
    from agent.lessons.service import LessonService
    from agent.web.app import CTX

    return request.app[CTX].service(LessonService)


def _disabled() -> web.Response:
    return web.json_response({"error": "lessons are disabled in this room's config"}, status=404)


async def api_lessons(request: web.Request) -> web.Response:
    svc = _service(request)
    if svc is None:
        return _disabled()
    raw = request.query.get("limit", "20")
    # ASCII digits only: str.isdigit() accepts "²" (int() then raises -> 500), and a few
    # thousand digits would trip int()'s digit limit, so bound the length too
    if not re.fullmatch(r"[0-9]{1,6}", raw) or not 1 <= (limit := int(raw)) <= MAX_LIMIT:
        return _bad(f"limit: expected an integer 1..{MAX_LIMIT}, got {raw[:40]!r}")
    return web.json_response(
        {
            "current": svc.current_lesson(),
            "next": svc.next_lesson(),
            "lessons": await svc.recent(limit),
        }
    )


def _parse_day(name: str, raw: str) -> date:
    try:
        if len(raw) != 10:
            raise ValueError
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{name}: expected a date YYYY-MM-DD, got {raw[:40]!r}") from None


async def api_usage(request: web.Request) -> web.Response:
    svc = _service(request)
    if svc is None:
        return _disabled()
    q = request.query
    unknown = sorted(set(q) - {"from", "to", "term"})
    if unknown:
        return _bad(f"unknown parameter {unknown[0]!r} (use from, to or term)")
    if "term" in q:
        if "from" in q or "to" in q:
            return _bad("term: give either term or from/to")
        doc = await svc.term_usage(q["term"])
        if doc is None:
            names = ", ".join(repr(n) for n in svc.term_names()) or "none in the timetable"
            return web.json_response(
                {"error": f"term: unknown term {q['term'][:60]!r} (terms: {names})"},
                status=404)
        return web.json_response(doc)
    try:
        last = _parse_day("to", q["to"]) if "to" in q else svc.today()
        first = _parse_day("from", q["from"]) if "from" in q else last - timedelta(days=6)
    except ValueError as e:
        return _bad(str(e))
    if first > last:
        return _bad(f"from: {first.isoformat()} is after to {last.isoformat()}")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        return _bad(f"range: at most {MAX_RANGE_DAYS} days, got {(last - first).days + 1}")
    return web.json_response(await svc.usage(first, last))


def setup(app: web.Application, ctx: AgentContext) -> None:
    app.router.add_get("/api/lessons", api_lessons)
    app.router.add_get("/api/usage", api_usage)
