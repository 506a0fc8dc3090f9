"""The district topic tree and which event goes where. Only the uplink imports this.

Root: ``{topic_prefix}/{school}/{room}``. A Route says, for one event type, the sub-topic,
the payload ``type`` name, whether it is retained state, and its outbox priority.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent import events as ev

# Outbox priorities: when the outbox is full the lowest is dropped first.
HEALTH = 0  # periodic telemetry: the next sample replaces it
TELEMETRY = 1  # engagement windows, device state changes
EVENTS = 2  # recording, interaction, device faults
RECORDS = 3  # lesson summaries, attendance, daily usage: never dropped before the rest

PRIORITY_NAMES = {HEALTH: "health", TELEMETRY: "telemetry", EVENTS: "events", RECORDS: "records"}


@dataclass(frozen=True)
class Route:
    type: str  # the envelope's "type"
    topic: str  # sub-topic template under the room root; {field} takes the event's field
    priority: int
    retained: bool = False  # latest value kept by the broker; re-sent after reconnect
    # Records (one per lesson, per day) are identified by these ``data`` fields (with school
    # and room) plus ``revision``: the envelope id is derived from them, so a record sent
    # again after a crash keeps its id; everything else is identified by its id alone.
    key: tuple[str, ...] = ()

    def idempotency_key(self, data: dict) -> str | None:
        """The record's identity (``revision`` counts as 0 where a type has none yet)."""
        if not self.key:
            return None
        parts = [self.type, *(str(data.get(k, "")) for k in self.key),
                 str(data.get("revision", 0))]
        return "/".join(parts)

    def describe_key(self) -> str:
        if not self.key:
            return "Idempotency key: `id`."
        return (f"Idempotency key: (school, room, {', '.join(self.key)}); count one record "
                "per key, the highest `revision` wins. A record sent again has the same key "
                "and revision; a revision is a new message (new `id`) that replaces it.")

    def topic_for(self, event: ev.Event) -> str:
        return self.topic.format_map(_Fields(event)) if "{" in self.topic else self.topic


class _Fields(dict):
    def __init__(self, event: ev.Event) -> None:
        super().__init__()
        self.event = event

    def __missing__(self, key: str) -> str:
        # an id must stay one topic level and never become a wildcard
        return str(getattr(self.event, key)).translate(_TOPIC_UNSAFE)


_TOPIC_UNSAFE = str.maketrans({"/": "_", "+": "_", "#": "_", "\0": "_"})


ROUTES: dict[type[ev.Event], Route] = {
    ev.AgentStatus: Route("status", "status", RECORDS, retained=True),
    ev.Health: Route("health", "health", HEALTH),
    ev.DeviceState: Route(
        "device_state", "devices/{device_id}", TELEMETRY, retained=True
    ),
    ev.DeviceFault: Route("device_fault", "events/device", EVENTS),
    ev.RecordingEvent: Route("recording", "events/recording", EVENTS),
    ev.LiveEvent: Route("live", "events/live", EVENTS),
    ev.AttendanceEvent: Route("attendance", "events/attendance", RECORDS),
    ev.InteractionEvent: Route("interaction", "events/interaction", EVENTS),
    ev.EngagementWindow: Route("engagement_window", "engagement", TELEMETRY),
    ev.LessonSummary: Route("lesson_summary", "lessons", RECORDS, key=("lesson_id",)),
    ev.UsageDaily: Route("usage_daily", "usage", RECORDS, key=("date",)),
    ev.ShowcaseEvent: Route("showcase", "events/showcase", EVENTS),
    ev.AssignmentEvent: Route("assignment", "events/assignment", EVENTS),
}


def root(prefix: str, school: str, room: str) -> str:
    return f"{prefix}/{school}/{room}"


CMD_FILTER = "cmd/#"
REPLY_SUFFIX = "/reply"


def command_name(sub_topic: str) -> str | None:
    """``cmd/record/start`` -> ``record/start``; replies and other topics -> None."""
    if not sub_topic.startswith("cmd/") or sub_topic.endswith(REPLY_SUFFIX):
        return None
    name = sub_topic[4:]
    return name or None


def reply_topic(name: str) -> str:
    return f"cmd/{name}{REPLY_SUFFIX}"
