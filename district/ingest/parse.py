"""One MQTT message -> one typed record, or a dead letter with the reason. Never raises.

The payload types are the agent's own (``agent.events``) and the topic of each type comes
from the agent's route table (``agent.uplink.topics.ROUTES``): the collector knows rooms
only through that published contract.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

import msgspec

from agent import events as ev
from agent.uplink.envelope import SCHEMA_VERSION
from agent.uplink.topics import ROUTES

_ID = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
_SEQ = Annotated[int, msgspec.Meta(ge=0, le=2**53)]


class RawEnvelope(msgspec.Struct, kw_only=True):
    """``agent.uplink.envelope.Envelope`` with ``data`` left undecoded until the type is
    known (a test keeps the fields in step with the agent's)."""

    v: int
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    seq: _SEQ
    ts: datetime
    school: _ID
    room: _ID
    type: str
    data: msgspec.Raw


class _Extras(msgspec.Struct):
    """Optional fields a newer agent may send; absent ones stay None."""

    revision: int | None = None  # re-sent revisions of one lesson summary
    live: Any = None  # LessonSummary.live, present from agents that push live lessons


# the types the collector stores; others on subscribed topics are dead-lettered as unknown
KINDS: dict[str, tuple[type[ev.Event], str]] = {
    r.type: (cls, r.topic) for cls, r in ROUTES.items()
    if cls in (ev.LessonSummary, ev.UsageDaily, ev.AgentStatus, ev.Health,
               ev.RecordingEvent, ev.AttendanceEvent)
}
SUB_TOPICS = sorted(t for _, t in KINDS.values())


class Record(msgspec.Struct, kw_only=True):
    topic: str  # full MQTT topic
    sub: str  # the room's sub-topic (lessons, usage ...)
    id: str
    seq: int
    ts: str
    school: str
    room: str
    type: str
    event: Any  # the agent's typed payload
    raw: bytes  # the data JSON as received
    revision: int = 0
    live: bool | None = None  # None = this summary does not say


class DeadLetter(msgspec.Struct, kw_only=True):
    topic: str
    reason: str  # bad_topic | bad_json | bad_envelope | newer_schema | unknown_type | ...
    detail: str
    payload: bytes
    school: str | None = None
    room: str | None = None


_dec_env = msgspec.json.Decoder(RawEnvelope)
_dec_extras = msgspec.json.Decoder(_Extras)
_decoders = {t: msgspec.json.Decoder(cls) for t, (cls, _) in KINDS.items()}
_ISO_WEEK = re.compile(r"^\d{4}-W\d{2}$")


def _live_flag(event: Any, sent: Any) -> bool | None:
    """A lesson is a live lesson when its summary says ``live.counted`` (live for at least
    the room's ``live.min_minutes``); None when the summary has no ``live`` at all (an
    agent older than live lessons), so the figure is unknown rather than 0."""
    if sent is None or not isinstance(event, ev.LessonSummary):
        return None
    return event.live.counted


def parse(topic: str, payload: bytes, prefix: str) -> Record | DeadLetter:
    def dead(reason: str, detail: str, school: str | None = None,
             room: str | None = None) -> DeadLetter:
        return DeadLetter(topic=topic, reason=reason, detail=detail[:500], payload=payload,
                          school=school, room=room)

    if not topic.startswith(prefix + "/"):
        return dead("bad_topic", f"not under {prefix}/")
    parts = topic[len(prefix) + 1:].split("/", 2)
    if len(parts) != 3:
        return dead("bad_topic", "expected {prefix}/{school}/{room}/{sub}")
    t_school, t_room, sub = parts
    try:
        env = _dec_env.decode(payload)
    except msgspec.DecodeError as e:
        reason = "bad_envelope" if isinstance(e, msgspec.ValidationError) else "bad_json"
        if reason == "bad_envelope" and "$.v" not in str(e):
            # a newer schema may change anything; say so when it announces itself
            try:
                v = msgspec.json.decode(payload).get("v")
                if isinstance(v, int) and v > SCHEMA_VERSION:
                    return dead("newer_schema", f"v={v}", t_school, t_room)
            except (msgspec.DecodeError, AttributeError):
                pass
        return dead(reason, str(e), t_school, t_room)
    if env.v > SCHEMA_VERSION:
        return dead("newer_schema", f"v={env.v} > {SCHEMA_VERSION}", t_school, t_room)
    if env.v < 1:
        return dead("bad_envelope", f"v={env.v}", t_school, t_room)
    if (env.school, env.room) != (t_school, t_room):
        return dead("topic_mismatch", f"envelope says {env.school}/{env.room}", t_school, t_room)
    kind = KINDS.get(env.type)
    if kind is None:
        return dead("unknown_type", f"type {env.type[:64]!r}", t_school, t_room)
    if kind[1] != sub:
        return dead("topic_mismatch", f"type {env.type} on {sub}", t_school, t_room)
    try:
        event = _decoders[env.type].decode(env.data)
        extras = _dec_extras.decode(env.data)
    except msgspec.DecodeError as e:
        return dead("bad_data", str(e), t_school, t_room)
    problem = _semantic_problem(event)
    if problem:
        return dead("bad_data", problem, t_school, t_room)
    revision = extras.revision or 0
    if not 0 <= revision <= 2**53:
        return dead("bad_data", "revision: out of range", t_school, t_room)
    ts = env.ts if env.ts.tzinfo else env.ts.replace(tzinfo=UTC)
    return Record(topic=topic, sub=sub, id=env.id, seq=env.seq, ts=_iso(ts), school=env.school,
                  room=env.room, type=env.type, event=event, raw=bytes(env.data),
                  revision=revision,
                  live=_live_flag(event, extras.live))


def _semantic_problem(event: Any) -> str | None:
    match event:
        case ev.LessonSummary():
            if not event.lesson_id or len(event.lesson_id) > 200:
                return "lesson_id: must be 1-200 characters"
            if _bad_date(event.date):
                return f"date: expected YYYY-MM-DD, got {event.date[:40]!r}"
            if len(event.subject) > 200:
                return "subject: longer than 200 characters"
            if not 0 <= event.minutes < 24 * 60:
                return "minutes: out of range"
        case ev.UsageDaily():
            if _bad_date(event.date):
                return f"date: expected YYYY-MM-DD, got {event.date[:40]!r}"
            if event.revision < 0 or event.lessons < 0 or event.smart_lessons < 0:
                return "revision/lessons: must not be negative"
            if max(event.revision, event.lessons, event.smart_lessons, event.recordings,
                   event.recorded_lessons) > 2**31:
                return "revision/lessons: out of range"
        case ev.RecordingEvent() | ev.AttendanceEvent():
            if len(event.lesson_id) > 200:
                return "lesson_id: longer than 200 characters"
    return None


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _bad_date(text: str) -> bool:
    try:
        return date.fromisoformat(text).isoformat() != text
    except ValueError:
        return True
