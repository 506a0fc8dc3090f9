"""The OpenAPI 3.1 document of the collector's HTTP API; response schemas are generated
from the KPI engine's structs, so they cannot drift from what the handlers return."""

from __future__ import annotations

from typing import Any

import msgspec

from district.kpi.engine import Report, WeekFigures

_TERM = {"name": "term", "in": "query", "schema": {"type": "string"},
         "description": "term name from the config (default: the term containing today)"}
_AS_OF = {"name": "as_of", "in": "query", "schema": {"type": "string", "format": "date"},
          "description": "count school weeks up to this day (default today)"}
_FORMAT = {"name": "format", "in": "query",
           "schema": {"type": "string", "enum": ["json", "csv", "xlsx"]}}
_SCHOOL_Q = {"name": "school", "in": "query", "schema": {"type": "string"}}
_ROOM_Q = {"name": "room", "in": "query", "schema": {"type": "string"}}
_SCHOOL_P = {"name": "school", "in": "path", "required": True, "schema": {"type": "string"}}
_ROOM_P = {"name": "room", "in": "path", "required": True, "schema": {"type": "string"}}


def _ok(ref: str | None, summary: str, params: list[dict[str, Any]] | None = None,
        array: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    if ref:
        schema = {"$ref": f"#/components/schemas/{ref}"}
        if array:
            schema = {"type": "array", "items": schema}
    return {"get": {"summary": summary, "parameters": params or [],
                    "responses": {"200": {"description": "OK", "content": {
                        "application/json": {"schema": schema}}},
                        "401": {"description": "credentials required (off loopback)"}}}}


def document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components([Report, WeekFigures],
                                                   ref_template="#/components/schemas/{name}")
    report_params = [_TERM, _AS_OF, _FORMAT]
    return {
        "openapi": "3.1.0",
        "info": {"title": "classroom-district", "version": "1",
                 "description": "District collector: compliance figures per term, school "
                                "and room; presence and data loss. Read-only."},
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "basic": {"type": "http", "scheme": "basic"}}},
        "security": [{}, {"bearer": []}, {"basic": []}],
        "paths": {
            "/healthz": _ok(None, "liveness (no auth)"),
            "/api/status": _ok(None, "collector status: ingest tallies, schema version"),
            "/api/terms": _ok(None, "configured terms"),
            "/api/report": _ok("Report", "the term report (district, schools, rooms)",
                               [*report_params, _SCHOOL_Q, _ROOM_Q]),
            "/api/schools/{school}/report": _ok("Report", "one school's report",
                                                [_SCHOOL_P, *report_params]),
            "/api/schools/{school}/rooms/{room}/report": _ok(
                "Report", "one room's report", [_SCHOOL_P, _ROOM_P, *report_params]),
            "/api/weekly": _ok("WeekFigures", "per-week series of the term",
                               [_TERM, _AS_OF, _SCHOOL_Q, _ROOM_Q], array=True),
            "/api/rooms": _ok(None, "presence, data loss and latest health per room",
                              [_SCHOOL_Q]),
            "/api/data-loss": _ok(None, "seq gaps per room and topic, dead-letter counters",
                                  [_SCHOOL_Q]),
            "/api/dead-letters": _ok(None, "latest dead letters with the reason", [
                {"name": "limit", "in": "query", "schema": {"type": "integer"}}]),
            "/api/openapi.json": _ok(None, "this document"),
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {
                "200": {"description": "text exposition format"}}}},
        },
    }
