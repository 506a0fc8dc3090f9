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
    recording: Any = None  # LessonSummary.recording: quality marks from agents that send them
    homework: Any = None  # UsageDaily.homework, present from agents that count homework


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
    quality: int | None = None  # quality (精品) recordings of the lesson; None = not sent
    homework: list[ev.HomeworkUsage] | None = None  # the day's homework; None = not sent


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


def quality_count(event: Any, sent: Any) -> int | None:
    """Quality (精品) recordings of one lesson: its ``recording.quality_recordings`` (ids),
    at least 1 when ``recording.quality`` says so; None when the summary's ``recording``
    has neither field (an agent older than showcase marking: unknown, not 0)."""
    if not isinstance(event, ev.LessonSummary) or not isinstance(sent, dict) or not (
            "quality" in sent or "quality_recordings" in sent):
        return None
    r = event.recording
    return max(len(set(r.quality_recordings)), int(r.quality))


def homework_of(event: Any, sent: Any) -> list[ev.HomeworkUsage] | None:
    """The day's homework per class and subject; None when the usage message has no
    ``homework`` (an agent older than tablet homework)."""
    if not isinstance(event, ev.UsageDaily) or sent is None:
        return None
    return event.homework


_dec_stored_lesson = msgspec.json.Decoder(ev.LessonSummary)
_dec_stored_usage = msgspec.json.Decoder(ev.UsageDaily)


def stored_quality(data: str | bytes) -> int | None:
    """``quality_count`` of a lesson summary as stored (None if unreadable)."""
    try:
        return quality_count(_dec_stored_lesson.decode(data), _dec_extras.decode(data).recording)
    except msgspec.DecodeError:
        return None


def stored_homework(data: str | bytes) -> list[ev.HomeworkUsage] | None:
    """``homework_of`` a daily usage message as stored (None if unreadable)."""
    try:
        return homework_of(_dec_stored_usage.decode(data), _dec_extras.decode(data).homework)
    except msgspec.DecodeError:
        return None


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
                  live=_live_flag(event, extras.live),
                  quality=quality_count(event, extras.recording),
                  homework=homework_of(event, extras.homework))


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
            if len(event.recording.quality_recordings) > 1000:
                return "recording.quality_recordings: more than 1000"
        case ev.UsageDaily():
            if _bad_date(event.date):
                return f"date: expected YYYY-MM-DD, got {event.date[:40]!r}"
            if event.revision < 0 or event.lessons < 0 or event.smart_lessons < 0:
                return "revision/lessons: must not be negative"
            if max(event.revision, event.lessons, event.smart_lessons, event.recordings,
                   event.recorded_lessons) > 2**31:
                return "revision/lessons: out of range"
            for h in event.homework:
                if len(h.class_id) > 200 or len(h.subject) > 200:
                    return "homework: class_id/subject longer than 200 characters"
                if not (0 <= h.assignments <= 2**31 and 0 <= h.submissions <= 2**31):
                    return "homework: assignments/submissions out of range"
                if h.submission_rate is not None and not 0 <= h.submission_rate <= 1e6:
                    return "homework: submission_rate out of range"
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
