"""Typed events: what happens in the room, as it travels on the bus.

These structs are also the ``data`` of the MQTT payloads: they are defined once, here, and
the JSON Schemas / AsyncAPI document in docs/ are generated from them. Only the uplink
knows which topic each one goes to (``agent/uplink/topics.py``).

Conventions: times are UTC ``datetime`` (RFC 3339 on the wire); durations in seconds;
identifiers are strings. Add new event types at the bottom of the section they belong to.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import msgspec


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(msgspec.Struct, kw_only=True, omit_defaults=False):
    """Base of every bus event. ``ts`` is when it happened (UTC)."""

    ts: datetime = msgspec.field(default_factory=utcnow)


# --------------------------------------------------------------------------- agent


class AgentStatus(Event):
    """Birth / death of the agent (retained ``status``)."""

    state: Literal["online", "offline"]
    version: str = ""
    capabilities: list[str] = msgspec.field(default_factory=list)
    started: datetime | None = None


class Health(Event):
    """Periodic system telemetry (``health``)."""

    cpu_percent: float
    load_1m: float
    memory_percent: float
    disk_free_bytes: int
    disk_total_bytes: int
    temperature_c: float | None
    rss_bytes: int
    uptime_s: float
    loop_lag_ms: float
    loop_lag_max_ms: float
    outbox_depth: int
    outbox_bytes: int
    outbox_oldest_age_s: float
    sent_total: int
    dropped_total: int
    dropped_by_priority: dict[str, int] = msgspec.field(default_factory=dict)


# --------------------------------------------------------------------------- devices


DeviceStatusValue = Literal["online", "offline", "fault"]


class DeviceState(Event):
    """Current state of one device (retained ``devices/{id}``).

    ``kind`` is the device class (panel, camera, ptz, tablet_gateway ...); ``attrs`` holds
    what that class can report (power, input, volume, codec, resolution ...).
    """

    device_id: str
    kind: str
    status: DeviceStatusValue
    reason: str = ""
    attrs: dict[str, Any] = msgspec.field(default_factory=dict)
    last_seen: datetime | None = None


class DeviceFault(Event):
    """A device went to ``fault`` or ``offline`` (``events/device``)."""

    device_id: str
    kind: str
    status: DeviceStatusValue
    reason: str


# --------------------------------------------------------------------------- engagement


class EngagementWindow(Event, kw_only=True):
    """Aggregate engagement numbers for one analysis window of one camera (``engagement``).

    Only numbers: no image, no face crop, no per-person data ever leaves the engagement
    component. ``ts`` is the window end. ``head_count_*`` count people, not
    faces: a student whose face cannot be read (bowed, turned) still counts where they were
    seen. ``head_up_rate`` is people looking up divided by people counted, averaged over the
    window's frames (None when nobody was counted).
    ``hands_raised`` is the median over the window of people holding a hand up (None when
    hand-raise detection is off). ``fps`` is frames actually analysed per second.
    """

    camera_id: str
    window_start: datetime
    window_end: datetime
    lesson_id: str | None = None
    head_count_median: float
    head_count_max: int
    head_up_rate: float | None
    hands_raised: int | None = None
    hands_raised_max: int | None = None
    fps: float
    frames: int


# --------------------------------------------------------------------------- recording


RecordingAction = Literal["started", "finished", "failed", "partial", "deleted"]


class RecordingCamera(msgspec.Struct, kw_only=True):
    """One camera of a recording as it was recorded (from the source, not the config)."""

    id: str
    role: str = ""  # teacher | students | board
    codec: str = ""  # h264, hevc ... (the stored video codec)
    profile: str = ""
    width: int = 0
    height: int = 0
    fps: float = 0.0
    audio: str = ""  # stored audio codec, "" when the source has none
    mode: str = ""  # "remux" (packets copied) or "encode" (raw/MJPEG -> libx264)
    segments: int = 0
    bytes: int = 0


class RecordingGap(msgspec.Struct, kw_only=True):
    """A stretch of time one camera delivered nothing (source lost, restart ...)."""

    camera: str
    start: datetime
    end: datetime | None = None  # None while the camera is still away
    reason: str = ""


class RecordingEvent(Event, kw_only=True):
    """A lesson recording started / finished / failed / was found partial / was deleted
    (``events/recording``). ``partial`` = interrupted (agent crash, power loss) and found
    on restart; ``deleted`` = removed by retention (``reason`` says why)."""

    recording_id: str
    action: RecordingAction
    lesson_id: str
    title: str = ""
    subject: str = ""
    teacher: str = ""
    trigger: str = ""  # panel | http | mqtt | cli | timetable | demo ...
    started: datetime
    ended: datetime | None = None
    duration_s: float = 0.0
    bytes: int = 0
    cameras: list[RecordingCamera] = msgspec.field(default_factory=list)
    gaps: list[RecordingGap] = msgspec.field(default_factory=list)
    reason: str = ""  # failed / partial / deleted: why


# --------------------------------------------------------------------------- live lessons


LiveAction = Literal["started", "stopped", "failed", "outage", "resumed"]


class LiveOutage(msgspec.Struct, kw_only=True):
    """A stretch of a live lesson the district's server did not receive (server down,
    network lost, camera reconnecting); ``end`` None while it lasts."""

    start: datetime
    end: datetime | None = None
    reason: str = ""


class LiveEvent(Event, kw_only=True):
    """A live remote lesson (同步课堂) pushed to the district's streaming server
    (``events/live``): ``started``, ``stopped`` (with its outages), ``failed`` (the server
    refused the stream, or the camera cannot be streamed: ``reason`` says which), and
    ``outage`` / ``resumed`` while it runs. ``url_host`` is the server's host: never the
    stream key. ``live_s``: seconds the server received, outages excluded."""

    live_id: str
    action: LiveAction
    lesson_id: str = ""
    camera: str = ""
    url_host: str = ""
    protocol: str = ""  # rtmp | rtmps | srt
    trigger: str = ""  # panel | http | mqtt | cli | timetable | demo ...
    started: datetime
    ended: datetime | None = None
    live_s: float = 0.0
    outages: list[LiveOutage] = msgspec.field(default_factory=list)
    reason: str = ""


# --------------------------------------------------------------------------- tablets / attendance


AttendanceStatus = Literal["present", "late", "absent"]


class AttendanceRecord(msgspec.Struct, kw_only=True):
    """One enrolled student's attendance in one lesson (roster ``sourcedId``, never a name)."""

    student_id: str
    status: AttendanceStatus
    checked_in: datetime | None = None  # when the check-in counted (None = absent)
    device_id: str | None = None


class AttendanceEvent(Event, kw_only=True):
    """Attendance of one lesson (``events/attendance``): roster vs tablet check-ins.

    Published when a lesson ends (``final=True``) and may be published earlier as an
    interim snapshot (``final=False``; the last one for a lesson wins). ``head_count`` is
    the anonymous peak head count from the engagement vision (None when unavailable).
    ``unknown_checkins`` counts check-ins from students not enrolled in the class.
    """

    lesson_id: str
    class_id: str
    started: datetime
    late_after_min: float
    enrolled: int
    present: int
    late: int
    absent: int
    unknown_checkins: int = 0
    head_count: int | None = None
    final: bool = True
    students: list[AttendanceRecord] = msgspec.field(default_factory=list)


InteractionKind = Literal["checkin", "answer", "hand", "focus", "broadcast_ack"]


class InteractionEvent(Event, kw_only=True):
    """One counted tablet interaction (``events/interaction``).

    ``device_id`` + ``message_id`` identify the tablet message: a replayed message is
    never counted twice by the agent, and consumers can dedupe on the pair too. Fields not
    relevant to ``kind`` are None. ``state`` is raise|lower (hand) or
    foreground|background (focus); ``late`` is set for check-ins inside a lesson.
    """

    kind: InteractionKind
    device_id: str
    student_id: str
    message_id: str
    lesson_id: str | None = None
    class_id: str | None = None
    question_id: str | None = None
    choice: str | None = None
    text: str | None = None
    correct: bool | None = None
    time_to_answer_s: float | None = None
    state: str | None = None
    broadcast_id: str | None = None
    late: bool | None = None


# --------------------------------------------------------------------------- lessons / usage


class LessonPanel(msgspec.Struct, kw_only=True):
    """Panel use during one lesson. ``on_ratio`` = on-minutes / lesson minutes (0..1)."""

    on_minutes: float = 0.0
    on_ratio: float = 0.0
    minutes_by_input: dict[str, float] = msgspec.field(default_factory=dict)


class LessonRecording(msgspec.Struct, kw_only=True):
    """``minutes``: recorded inside the lesson proper (scheduled start to scheduled end
    plus extensions; pre-/post-roll never counted). ``showcase``: a recording of the lesson
    was kept by the teacher as a showcase lesson; ``quality``: one of those also passes
    ``quality_rule`` (config ``recording.quality_rule``) - a quality (精品) recording."""

    minutes: float = 0.0
    recordings: list[str] = msgspec.field(default_factory=list)  # recording ids
    files: int = 0  # segment files written, all cameras
    showcase: bool = False
    quality: bool = False
    showcase_recordings: list[str] = msgspec.field(default_factory=list)
    quality_recordings: list[str] = msgspec.field(default_factory=list)
    quality_rule: str = ""


class LessonLive(msgspec.Struct, kw_only=True):
    """Live push during one lesson: ``minutes`` the district's server received inside the
    lesson (outages excluded); ``counted`` = at least ``live.min_minutes`` (a live lesson
    in the rollups); ``url_host`` never carries the stream key."""

    minutes: float = 0.0
    outages: list[LiveOutage] = msgspec.field(default_factory=list)
    url_host: str = ""
    counted: bool = False


class LessonTablets(msgspec.Struct, kw_only=True):
    active: int = 0  # distinct tablets that sent anything counted
    checkins: int = 0
    answers: int = 0
    hand_raises: int = 0
    assignments: int = 0  # assignments set during the lesson (any class/subject)
    submissions: int = 0  # submissions received during the lesson


class HomeworkUsage(msgspec.Struct, kw_only=True):
    """Tablet assignments of one class and subject over a lesson, a day, a week or a term.
    ``assignments``: set in the period; ``submissions``: received in the period (to any
    assignment of that class and subject); ``submission_rate``: submissions received so far
    to the assignments set in the period / (those assignments x students enrolled), None
    when the class's roster size is unknown."""

    class_id: str
    subject: str
    assignments: int = 0
    submissions: int = 0
    submission_rate: float | None = None


class LessonAttendance(msgspec.Struct, kw_only=True):
    """``roster_size``/``absent`` are None when the class roster size is unknown;
    head counts are None when no camera counted heads."""

    roster_size: int | None = None
    present: int = 0
    late: int = 0
    absent: int | None = None
    head_count_median: float | None = None
    head_count_max: int | None = None


class LessonEngagement(msgspec.Struct, kw_only=True):
    """``timeline``: mean head-up rate per lesson minute (index 0 = first minute; None
    where nothing was measured)."""

    mean_head_up_rate: float | None = None
    timeline: list[float | None] = msgspec.field(default_factory=list)


LessonKind = Literal["scheduled", "adhoc"]


class LessonSummary(Event, kw_only=True):
    """One record per lesson (``lessons``), published when the lesson ends.

    ``date`` is the lesson's local date in the room's time zone; ``start``/``end`` are the
    UTC bounds of the lesson session (pre-/post-roll included for recorded periods);
    ``minutes`` is its length measured on the monotonic clock (a wall-clock step does not
    change it). ``smart_classroom_use`` is the result of ``smart_use_rule`` (config
    ``lessons.smart_use``) on this summary. ``ended_by``: schedule | teacher | idle |
    next_lesson | max_length. ``restarts``: agent restarts the lesson survived."""

    lesson_id: str
    kind: LessonKind
    date: str
    period: str = ""
    subject: str = ""
    class_id: str = ""
    teacher: str = ""
    title: str = ""
    scheduled_start: datetime | None = None
    scheduled_end: datetime | None = None
    start: datetime
    end: datetime
    minutes: float
    extended_min: int = 0
    ended_by: str = "schedule"
    restarts: int = 0
    panel: LessonPanel = msgspec.field(default_factory=LessonPanel)
    recording: LessonRecording = msgspec.field(default_factory=LessonRecording)
    live: LessonLive = msgspec.field(default_factory=LessonLive)
    tablets: LessonTablets = msgspec.field(default_factory=LessonTablets)
    attendance: LessonAttendance = msgspec.field(default_factory=LessonAttendance)
    engagement: LessonEngagement = msgspec.field(default_factory=LessonEngagement)
    smart_classroom_use: bool = False
    smart_use_rule: str = ""
    # what the programmes count: the scheduled minutes (ad-hoc: observed minutes), never
    # the pre-/post-roll; ``revision`` > 0 re-sends this lesson after a later change
    # (a showcase marking): the district keeps the highest revision of a lesson_id
    class_minutes: float = 0.0
    revision: int = 0
    term: str = ""  # timetable term the lesson's date falls in ("" = none)
    homework: list[HomeworkUsage] = msgspec.field(default_factory=list)


class UsageBySubject(msgspec.Struct, kw_only=True):
    """Counts for one subject ("" = lessons without a subject) over a day or a week.
    ``recorded_lessons`` = lessons with any recording (recording-room use)."""

    subject: str
    lessons: int = 0
    smart_lessons: int = 0
    recordings: int = 0
    recorded_lessons: int = 0
    recorded_minutes: float = 0.0
    panel_on_minutes: float = 0.0
    class_minutes: float = 0.0
    showcase_recordings: int = 0
    quality_recordings: int = 0
    live_lessons: int = 0  # lessons live for at least live.min_minutes (LessonLive.counted)
    assignments: int = 0  # tablet assignments set for this subject (all classes)
    submissions: int = 0


class UsageDaily(Event, kw_only=True):
    """The room's usage of one local day (``usage``), published once per day at the report
    time; ``week_*`` is the ISO week (Mon-Sun) up to and including that day. A lesson that
    closes later sends the day again with the next ``revision``: the highest one is the
    day's figure."""

    date: str
    week: str  # ISO week, e.g. 2026-W37
    revision: int = 0  # 0 for the day's first message; each later one replaces it
    lessons: int = 0
    smart_lessons: int = 0
    recordings: int = 0
    recorded_lessons: int = 0
    recording_room_used: bool = False
    live_lessons: int = 0
    subjects: list[UsageBySubject] = msgspec.field(default_factory=list)
    week_subjects: list[UsageBySubject] = msgspec.field(default_factory=list)
    week_recording_room_used: bool = False
    # homework per class and subject, the day and the ISO week
    homework: list[HomeworkUsage] = msgspec.field(default_factory=list)
    week_homework: list[HomeworkUsage] = msgspec.field(default_factory=list)
    # the timetable term the day is in ("" = none) and its term-to-date figures
    # (term start up to and including this day). ``school_day``: the timetable holds
    # lessons that day (not a holiday, inside a term; make-up days count).
    # ``school_week``: 1-based index of this day's week among the term's school weeks
    # (Mon-Sun weeks with at least one school day; None outside a term)
    term: str = ""
    school_day: bool = False
    school_week: int | None = None
    term_subjects: list[UsageBySubject] = msgspec.field(default_factory=list)
    term_homework: list[HomeworkUsage] = msgspec.field(default_factory=list)
    term_school_weeks: int = 0  # school weeks of the term so far
    term_weeks_recording_room_used: int = 0  # ... in which any lesson was recorded


# --------------------------------------------------------------------------- showcase / homework


class ShowcaseEvent(Event, kw_only=True):
    """A teacher kept a recording as a showcase lesson, or undid it (``events/showcase``).
    ``quality``: it is a showcase and passes ``recording.quality_rule`` (``rule``)."""

    recording_id: str
    lesson_id: str
    subject: str = ""
    showcase: bool
    quality: bool = False
    rule: str = ""
    trigger: str = ""  # panel | http | mqtt | cli


AssignmentKind = Literal["homework", "quiz", "practice"]


class AssignmentEvent(Event, kw_only=True):
    """A tablet assignment was set, or a student submitted one (``events/assignment``).

    ``action`` assigned: from a teacher tablet (``source`` tablet, ``device_id``) or the
    school platform (``source`` http); ``enrolled`` = students in ``class_id`` when known.
    ``action`` submitted: ``student_id`` (roster id) from ``device_id``; class, subject and
    kind are the assignment's. One submission per student and assignment is counted."""

    action: Literal["assigned", "submitted"]
    assignment_id: str
    class_id: str
    subject: str
    kind: AssignmentKind = "homework"
    due: datetime | None = None
    title: str = ""
    source: str = "tablet"  # tablet | http
    device_id: str = ""
    student_id: str | None = None
    message_id: str = ""
    lesson_id: str | None = None
    enrolled: int | None = None
