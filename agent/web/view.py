"""A small, stable summary of the status document for the pages and /metrics.

Each section is read by the exact field names its service's ``status()`` produces
(uplink, system, recording, lessons, tablets, engagement, errors; devices from
agent/state.py). Tolerated are only what is genuinely optional: a whole section absent
(the room lacks that capability) and values a service documents as possibly None.

A section that does not have the expected shape (a service renamed a field, or its
``status()`` raised and /api/status holds ``{"error": ...}`` instead) becomes
``{"error": "..."}`` for that card alone and is logged once: contract drift shows up on
the page and in tests (tests/integration/test_web_contract.py) instead of blanking it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

_logged: set[str] = set()  # drift messages already logged (the stream re-renders every 2 s)


def number(v: Any) -> float | None:
    """A JSON number (or bool) as float; anything else (None) None."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    return None


def uplink_view(up: dict[str, Any]) -> dict[str, Any]:
    return {
        "enabled": bool(up["enabled"]),
        "connected": bool(up["connected"]),
        "broker": up["broker"],  # None with no broker configured
        "outbox_depth": up["outbox_depth"],
        "outbox_oldest_age_s": up["outbox_oldest_age_s"],
        "sent_total": up["sent_total"],
        "dropped_total": up["dropped_total"],
        "last_error": up["last_error"] or None,  # "" = no error
    }


def recording_view(rec: dict[str, Any]) -> dict[str, Any]:
    active = rec["state"] == "recording"
    free = rec["free_bytes"]
    last = rec["last"]
    return {
        "state": rec["state"],
        "active": active,
        "started": rec["started"],
        "elapsed_s": rec["elapsed_s"] if active else None,
        "title": rec["title"],
        "subject": rec["subject"],
        "lesson_id": rec["lesson_id"],
        "disk_free_bytes": free if free >= 0 else None,  # -1: not measured (yet)
        "keep_free_bytes": rec["keep_free_bytes"],
        # below the retention floor the agent is already deleting old recordings
        "disk_low": bool(rec["disk_low"]),
        # the outcome of the last recording that ended (None before the first one)
        "last_state": last["state"] if last else None,
        "last_reason": (last["reason"] or None) if last else None,
        "last_id": last["recording_id"] if last else None,
        "last_showcase": bool(last.get("showcase")) if last else False,
    }


def live_view(sec: dict[str, Any]) -> dict[str, Any]:
    """The live push (agent/live): ``active`` while live (connecting, live or in an
    outage); ``outage`` while the server is not receiving; never the stream key."""
    state = sec["state"]
    active = state != "idle"
    last = sec["last"]
    outages = sec["outages"]
    return {
        "configured": bool(sec["configured"]),
        "state": state,
        "active": active,
        "outage": state == "outage",
        "reason": sec["reason"] or None,
        "url_host": sec["url_host"] or None,
        "protocol": sec["protocol"] or None,
        "camera": sec["camera"],
        "elapsed_s": sec["elapsed_s"] if active else None,
        "live_s": sec["live_s"] if active else None,
        "bitrate_bps": sec["bitrate_bps"] if active else None,
        "outages": len(outages),
        "last_state": last["state"] if last else None,
        "last_reason": (last["reason"] or None) if last else None,
    }


def _lesson(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "lesson_id": c["lesson_id"],
        "subject": c["subject"],
        "teacher": c["teacher"],
        "class": c["class"],
        "period": c["period"],
        "start": c["start"],
        "end": c["end"],  # None for an ad-hoc lesson with no planned end
    }


def lesson_view(sec: dict[str, Any]) -> dict[str, Any]:
    cur, nxt = sec["current"], sec["next"]  # either None: no lesson now / none later today
    current = _lesson(cur) if cur is not None else None
    if current is not None:
        current["title"] = cur["title"]
    return {"current": current, "next": _lesson(nxt) if nxt is not None else None}


def tablets_view(sec: dict[str, Any]) -> dict[str, Any]:
    q = sec["question"]  # None while no question is open
    return {
        "connected": sec["connected"],
        "checked_in": sec["checked_in"],
        "hands_up": sec["hands_up"],
        "answers": q["answers"] if q is not None else None,
    }


def engagement_view(sec: dict[str, Any]) -> dict[str, Any]:
    """``now``: the latest analysed frame, only while analysis runs (never stale numbers
    as live); ``last_window``: the last closed window, kept while paused, labelled so."""
    active = bool(sec["active"])
    w = sec["last_window"]
    return {
        "active": active,
        "active_reason": sec["active_reason"],  # lesson | recording | always | idle | starting
        "connected": bool(sec["connected"]),
        "source_error": sec["source_error"] or None,
        "fps": sec["fps"] if active else None,
        "now": {
            "head_count": sec["faces"],
            "head_up_rate": sec["head_up_rate"],
            "hands_raised": sec["hands_raised"],  # None when hand-raise detection is off
        } if active else None,
        "last_window": {
            "end": w["end"],
            "lesson_id": w["lesson_id"],
            "head_count": w["head_count_median"],
            "head_up_rate": w["head_up_rate"],
            "hands_raised": w["hands_raised"],
            "fps": w["fps"],
        } if w is not None else None,
    }


def system_view(sys: dict[str, Any]) -> dict[str, Any]:
    return {
        "cpu_percent": sys["cpu_percent"],
        "memory_percent": sys["memory_percent"],
        "load_1m": sys["load_1m"],
        "disk_free_bytes": sys["disk_free_bytes"],
        "disk_total_bytes": sys["disk_total_bytes"],
        "temperature_c": sys["temperature_c"],  # None where no sensor is exposed
        "loop_lag_ms": sys["loop_lag_ms"],
    }


def errors_view(sec: dict[str, Any]) -> dict[str, Any]:
    return {
        "total": sec["total"],
        "recent": [{"ts": r["ts"], "level": r["level"], "logger": r["logger"],
                    "message": r["message"]} for r in sec["recent"]],
    }


def devices_view(devs: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {"online": 0, "offline": 0, "fault": 0}
    for d in devs:
        counts[d["status"]] += 1
    down = [d["device_id"] for d in devs if d["kind"] == "camera" and d["status"] != "online"]
    return {"total": len(devs), "by_status": counts, "cameras_down": down}


def problems(view: dict[str, Any]) -> list[str]:
    """Plain-language problem codes the teacher panel explains (in order of importance)."""
    out = []
    if view["devices"].get("cameras_down"):
        out.append("camera_offline")
    rec = view["recording"]
    if rec and "error" not in rec:
        if rec["disk_low"]:
            out.append("disk_low")
        if not rec["active"] and rec["last_state"] == "failed":
            out.append("recording_failed")
    live = view.get("live")
    if live and "error" not in live:
        if live["outage"]:
            out.append("live_outage")
        elif not live["active"] and live["last_state"] == "failed":
            out.append("live_failed")
    up = view["uplink"]
    if up and "error" not in up and up["enabled"] and not up["connected"]:
        out.append("no_network")
    return out


def _read(doc: dict[str, Any], key: str, fn: Callable[[Any], dict[str, Any]],
          optional: bool = True) -> dict[str, Any] | None:
    if key not in doc and optional:
        return None  # the room lacks this capability
    sec = doc.get(key)
    if isinstance(sec, dict) and set(sec) == {"error"}:
        return {"error": str(sec["error"])}  # the service's status() raised
    try:
        return fn(sec)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        msg = f"status section {key!r} does not match its contract: {type(e).__name__}: {e}"
        if msg not in _logged and len(_logged) < 100:
            _logged.add(msg)
            log.error("%s", msg)
        return {"error": msg}


def summarize(doc: dict[str, Any]) -> dict[str, Any]:
    """The page/metrics view of one status document (see the module docstring)."""
    view: dict[str, Any] = {
        "uplink": _read(doc, "uplink", uplink_view),
        "recording": _read(doc, "recording", recording_view),
        "live": _read(doc, "live", live_view),
        "lesson": _read(doc, "lessons", lesson_view),
        "tablets": _read(doc, "tablets", tablets_view),
        "engagement": _read(doc, "engagement", engagement_view),
        "system": _read(doc, "system", system_view),
        "errors": _read(doc, "errors", errors_view),
        # agent/state.py always lists devices (possibly empty)
        "devices": _read(doc, "devices", devices_view, optional=False),
    }
    view["problems"] = problems(view)
    return view
