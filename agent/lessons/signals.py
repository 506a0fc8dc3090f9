"""Turn bus events into the small signals a lesson keeps (stored as JSON rows).

Only what a summary needs is kept: never names, images or answers' text. One ``match`` on
the event type; an event no lesson counts gives None.
"""

from __future__ import annotations

from typing import Any

from agent.events import (
    AssignmentEvent,
    AttendanceEvent,
    DeviceState,
    EngagementWindow,
    Event,
    InteractionEvent,
    LiveEvent,
    RecordingEvent,
    ShowcaseEvent,
)

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
    match e:
        case DeviceState():
            d = panel_signal(e)
            return ("panel", d) if d else None
        case RecordingEvent():
            return recording_signal(e)
        case LiveEvent():
            return live_signal(e)
        case InteractionEvent():
            return "ix", {"k": e.kind, "dev": e.device_id, "st": e.student_id,
                          "state": e.state, "late": e.late}
        case AttendanceEvent():
            return "att", {"lesson": e.lesson_id, "enrolled": e.enrolled,
                           "present": e.present, "late": e.late, "absent": e.absent,
                           "head_count": e.head_count, "final": e.final}
        case ShowcaseEvent():
            return "mark", {"id": e.recording_id, "lesson": e.lesson_id,
                            "showcase": e.showcase, "quality": e.quality,
                            "rule": e.rule[:500]}
        case AssignmentEvent():
            return assignment_signal(e)
        case EngagementWindow():
            return "eng", {"cam": e.camera_id, "up": e.head_up_rate,
                           "hc_med": e.head_count_median, "hc_max": e.head_count_max}
    return None


def recording_signal(e: RecordingEvent) -> tuple[str, dict[str, Any]] | None:
    match e.action:
        case "started":
            # what the teacher typed names an ad-hoc lesson (subject counts per semester)
            return "rec_start", {"id": e.recording_id, "lesson": e.lesson_id,
                                 "title": e.title[:200], "subject": e.subject[:200],
                                 "teacher": e.teacher[:200]}
        case "finished" | "failed" | "partial":
            return "rec_end", {"id": e.recording_id, "action": e.action,
                               "files": sum(c.segments for c in e.cameras),
                               "duration_s": float(e.duration_s)}
    return None


def assignment_signal(e: AssignmentEvent) -> tuple[str, dict[str, Any]]:
    return "hw", {
        "a": e.action,
        "aid": e.assignment_id,
        "cls": e.class_id or "",
        "subj": e.subject or "",
        "kind": e.kind or "",
        "st": e.student_id or "",
        "enr": e.enrolled,
        "due": e.due.isoformat() if e.due is not None else None,
    }


def live_signal(e: LiveEvent) -> tuple[str, dict[str, Any]] | None:
    """Live lessons: start, outage, back, end. The end carries every outage with its wall
    times (the push knows when the server was lost better than when the event arrived)."""
    match e.action:
        case "started":
            return "live_start", {"id": e.live_id, "host": e.url_host[:200]}
        case "outage":
            return "live_out", {"id": e.live_id, "reason": e.reason[:200]}
        case "resumed":
            return "live_back", {"id": e.live_id}
        case "stopped" | "failed":
            outages = [[o.start.isoformat(), o.end.isoformat() if o.end else None,
                        o.reason[:200]] for o in e.outages][:100]
            return "live_end", {"id": e.live_id, "outages": outages}
    return None
