"""Turn bus events into the small signals a lesson keeps (stored as JSON rows).

Only what a summary needs is kept: never names, images or answers' text. Matching is by
the event class *name* and attribute access, so a room without one of the producers (or
a producer that adds fields) changes nothing here.
"""

from __future__ import annotations

from typing import Any

from agent.events import DeviceState, Event

# event class names the lessons service listens to
WATCHED = {"DeviceState", "RecordingEvent", "InteractionEvent", "AttendanceEvent",
           "EngagementWindow", "LiveEvent", "ShowcaseEvent", "AssignmentEvent"}  # fmt: skip

PANEL_KINDS = {"panel", "projector", "display"}


def panel_on(power: Any) -> bool:
    """Power values of drivers/panel (on/off/warming/cooling) or a plain bool."""
    if isinstance(power, bool):
        return power
    return isinstance(power, str) and power.lower() in ("on", "warming")


def panel_signal(e: DeviceState) -> dict[str, Any] | None:
    if e.kind not in PANEL_KINDS:
        return None
    online = e.status == "online"
    on = online and panel_on(e.attrs.get("power"))
    inp = e.attrs.get("input")
    return {"dev": e.device_id, "on": on, "input": str(inp) if on and inp else None}


def to_signal(e: Event) -> tuple[str, dict[str, Any]] | None:
    """(kind, data) for an event a lesson counts, or None."""
    name = type(e).__name__
    if name == "DeviceState":
        d = panel_signal(e)  # type: ignore[arg-type]
        return ("panel", d) if d else None
    if name == "RecordingEvent":
        action = getattr(e, "action", "")
        rid = str(getattr(e, "recording_id", ""))
        if action == "started":
            # what the teacher typed names an ad-hoc lesson (subject counts per semester)
            return "rec_start", {"id": rid, "lesson": getattr(e, "lesson_id", ""),
                                 **{k: str(getattr(e, k, "") or "")[:200]
                                    for k in ("title", "subject", "teacher")}}
        if action in ("finished", "failed", "partial"):
            files = sum(int(getattr(c, "segments", 0) or 0) for c in getattr(e, "cameras", []))
            return "rec_end", {
                "id": rid,
                "action": action,
                "files": files,
                "duration_s": float(getattr(e, "duration_s", 0.0) or 0.0),
            }
        return None
    if name == "LiveEvent":
        return live_signal(e)
    if name == "InteractionEvent":
        return "ix", {
            "k": getattr(e, "kind", ""),
            "dev": getattr(e, "device_id", ""),
            "st": getattr(e, "student_id", ""),
            "state": getattr(e, "state", None),
            "late": getattr(e, "late", None),
        }
    if name == "AttendanceEvent":
        return "att", {
            "lesson": getattr(e, "lesson_id", ""),
            "enrolled": getattr(e, "enrolled", None),
            "present": getattr(e, "present", None),
            "late": getattr(e, "late", None),
            "absent": getattr(e, "absent", None),
            "head_count": getattr(e, "head_count", None),
            "final": bool(getattr(e, "final", True)),
        }
    if name == "ShowcaseEvent":
        return "mark", {
            "id": str(getattr(e, "recording_id", "")),
            "lesson": str(getattr(e, "lesson_id", "")),
            "showcase": bool(getattr(e, "showcase", False)),
            "quality": bool(getattr(e, "quality", False)),
            "rule": str(getattr(e, "rule", "") or "")[:500],
        }
    if name == "AssignmentEvent":
        due = getattr(e, "due", None)
        return "hw", {
            "a": getattr(e, "action", ""),
            "aid": str(getattr(e, "assignment_id", "")),
            "cls": str(getattr(e, "class_id", "") or ""),
            "subj": str(getattr(e, "subject", "") or ""),
            "kind": str(getattr(e, "kind", "") or ""),
            "st": str(getattr(e, "student_id", "") or ""),
            "enr": getattr(e, "enrolled", None),
            "due": due.isoformat() if due is not None else None,
        }
    if name == "EngagementWindow":
        return "eng", {
            "cam": getattr(e, "camera_id", ""),
            "up": getattr(e, "head_up_rate", None),
            "hc_med": getattr(e, "head_count_median", None),
            "hc_max": getattr(e, "head_count_max", None),
        }
    return None


def live_signal(e: Event) -> tuple[str, dict[str, Any]] | None:
    """Live lessons: start, outage, back, end. The end carries every outage with its wall
    times (the push knows when the server was lost better than when the event arrived)."""
    action = getattr(e, "action", "")
    lid = str(getattr(e, "live_id", ""))
    if action == "started":
        return "live_start", {"id": lid, "host": str(getattr(e, "url_host", ""))[:200]}
    if action == "outage":
        return "live_out", {"id": lid, "reason": str(getattr(e, "reason", ""))[:200]}
    if action == "resumed":
        return "live_back", {"id": lid}
    if action in ("stopped", "failed"):
        outages = [[o.start.isoformat(), o.end.isoformat() if o.end else None,
                    str(o.reason)[:200]] for o in getattr(e, "outages", [])][:100]
        return "live_end", {"id": lid, "outages": outages}
    return None
