"""A fleet of rooms, built from the agent's own payload types, envelope and route table.

``build(...)`` returns every message N rooms would publish over D school days, in publish
order, and the ground truth (the final version of every lesson and day) a test can compute
the figures from independently. What real fleets do is in it:
- rooms offline for hours that then flush their backlog at once (original ``ts``, late);
- at-least-once duplicates (same envelope id, same seq) and, after an agent crash, a
  summary sent again with a NEW envelope id and a new seq;
- a lesson that closes after the day's usage was sent: the day is sent again with the
  next ``revision``; and a lesson summary re-sent with a higher ``revision`` when the
  payload type has that field;
- showcase and quality (精品) recordings, some marked after the summary was sent (the
  summary again as the next ``revision``); tablet classes (tablet activity in lessons)
  and tablet homework per class and subject in the daily usage, handed in on tablets.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec

from agent import events as ev
from agent.uplink.envelope import SCHEMA_VERSION, Envelope, encode, uuid7
from agent.uplink.topics import ROUTES, root

SUBJECTS = ["chinese", "math", "english", "physics", "chemistry", "biology", "history",
            "geography"]
PERIODS = [(time(8, 0), 40), (time(8, 50), 40), (time(9, 50), 40), (time(10, 40), 40),
           (time(14, 0), 40), (time(14, 50), 40), (time(15, 40), 40), (time(16, 30), 40)]
HAS_LESSON_REVISION = "revision" in ev.LessonSummary.__struct_fields__


@dataclass
class Message:
    topic: str
    payload: bytes
    retain: bool
    at: datetime  # when the room would publish it (UTC)


@dataclass
class Truth:
    lessons: dict[tuple[str, str, str], ev.LessonSummary] = field(default_factory=dict)
    usage: dict[tuple[str, str, str], ev.UsageDaily] = field(default_factory=dict)
    recording_rooms: set[tuple[str, str]] = field(default_factory=set)
    tablet_rooms: set[tuple[str, str]] = field(default_factory=set)  # a tablet class each
    rooms: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class Plan:
    messages: list[Message]
    truth: Truth
    stats: dict[str, int]


def school_days(start: date, days: int) -> Iterator[date]:
    d, n = start, 0
    while n < days:
        if d.weekday() < 5:
            yield d
            n += 1
        d += timedelta(days=1)


class _Room:
    def __init__(self, prefix: str, school: str, room: str) -> None:
        self.school, self.room = school, room
        self.root = root(prefix, school, room)
        self.seq: dict[str, int] = defaultdict(int)
        # homework of the ISO week so far per (class, subject): [assignments, submissions]
        self.week: str = ""
        self.week_hw: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])

    def envelope(self, event: ev.Event, at: datetime) -> Message:
        route = ROUTES[type(event)]
        sub = route.topic_for(event)
        if route.retained:
            seq = 0  # like the agent: status is sent at connect, outside the outbox's seq
        else:
            self.seq[sub] += 1
            seq = self.seq[sub]
        env = Envelope(v=SCHEMA_VERSION, id=uuid7(), seq=seq, ts=event.ts,
                       school=self.school, room=self.room, type=route.type, data=event)
        return Message(f"{self.root}/{sub}", encode(env), route.retained, at)


def _usage(day: date, lessons: list[ev.LessonSummary], revision: int,
           at: datetime, homework: list[ev.HomeworkUsage] | None = None,
           week_homework: list[ev.HomeworkUsage] | None = None) -> ev.UsageDaily:
    by: dict[str, ev.UsageBySubject] = {}
    for s in lessons:
        u = by.setdefault(s.subject, ev.UsageBySubject(subject=s.subject))
        u.lessons += 1
        u.smart_lessons += s.smart_classroom_use
        rec = s.recording.minutes > 0
        u.recorded_lessons += rec
        u.recordings += len(s.recording.recordings)
        u.recorded_minutes += s.recording.minutes
        u.showcase_recordings += len(s.recording.showcase_recordings)
        u.quality_recordings += len(s.recording.quality_recordings)
    for h in homework or []:
        u = by.setdefault(h.subject, ev.UsageBySubject(subject=h.subject))
        u.assignments += h.assignments
        u.submissions += h.submissions
    y, w, _ = day.isocalendar()
    return ev.UsageDaily(
        ts=at, date=day.isoformat(), week=f"{y}-W{w:02d}", revision=revision,
        lessons=len(lessons), smart_lessons=sum(s.smart_classroom_use for s in lessons),
        recordings=sum(len(s.recording.recordings) for s in lessons),
        recorded_lessons=sum(s.recording.minutes > 0 for s in lessons),
        recording_room_used=any(s.recording.minutes > 0 for s in lessons),
        subjects=sorted(by.values(), key=lambda u: u.subject),
        homework=homework or [], week_homework=week_homework or [])


def build(rooms: int, schools: int, days: int, start: date, *, seed: int = 1,
          prefix: str = "classroom", tz: str = "Asia/Shanghai", faults: bool = True,
          health_every_min: int = 0, lessons_per_day: int = 8) -> Plan:
    rnd = random.Random(seed)
    zone = ZoneInfo(tz)
    truth = Truth()
    stats: dict[str, int] = defaultdict(int)
    out: list[Message] = []
    fleet: list[_Room] = []
    for i in range(rooms):
        school = f"s{i % schools + 1:03d}"
        fleet.append(_Room(prefix, school, f"r{i // schools + 1:04d}"))
    for r in fleet:
        truth.rooms.add((r.school, r.room))
        if rnd.random() < 0.35:
            truth.recording_rooms.add((r.school, r.room))
        if rnd.random() < 0.5:
            truth.tablet_rooms.add((r.school, r.room))
    day_list = list(school_days(start, days))
    first_at = datetime.combine(day_list[0], time(7, 30), zone).astimezone(UTC)
    for r in fleet:
        caps = ["lessons", "panel", "health", "uplink", "commands"]
        if (r.school, r.room) in truth.recording_rooms:
            caps += ["recording", "cameras"]
        st = ev.AgentStatus(ts=first_at, state="online", version="0.1.0", capabilities=caps)
        out.append(r.envelope(st, first_at))
    for day in day_list:
        day_msgs: list[Message] = []
        for r in fleet:
            day_msgs.extend(_room_day(r, day, zone, rnd, truth, stats, faults,
                                      health_every_min, lessons_per_day))
        day_msgs.sort(key=lambda m: m.at)
        out.extend(day_msgs)
    stats["messages"] = len(out)
    return Plan(out, truth, dict(stats))


def _marks(rec: ev.LessonRecording, rec_id: str, showcase: bool,
           quality: bool) -> ev.LessonRecording:
    return msgspec.structs.replace(
        rec, showcase=showcase, quality=quality,
        showcase_recordings=[rec_id] if showcase else [],
        quality_recordings=[rec_id] if quality else [],
        quality_rule="finished and minutes >= 35 and gap_s < 30 and all_cameras")


def _homework(r: _Room, day: date, lessons: list[ev.LessonSummary], tablets: bool,
              rnd: random.Random) -> list[ev.HomeworkUsage]:
    """Homework set today per class and subject taught (tablet classes hand in on
    tablets: 40 students; others have no submissions and no known rate)."""
    y, w, _ = day.isocalendar()
    week = f"{y}-W{w:02d}"
    if week != r.week:
        r.week, r.week_hw = week, defaultdict(lambda: [0, 0])
    out = []
    for class_id, subject in sorted({(s.class_id, s.subject) for s in lessons}):
        if rnd.random() < 0.5:
            continue
        n = rnd.randint(1, 2)
        handed = rnd.randint(25, 40) * n if tablets else 0
        out.append(ev.HomeworkUsage(class_id=class_id, subject=subject, assignments=n,
                                    submissions=handed,
                                    submission_rate=round(handed / (n * 40), 3)
                                    if tablets else None))
        acc = r.week_hw[(class_id, subject)]
        acc[0] += n
        acc[1] += handed
    return out


def _room_day(r: _Room, day: date, zone: ZoneInfo, rnd: random.Random, truth: Truth,
              stats: dict[str, int], faults: bool, health_every_min: int,
              lessons_per_day: int) -> list[Message]:
    recording = (r.school, r.room) in truth.recording_rooms
    tablets = (r.school, r.room) in truth.tablet_rooms
    subjects = rnd.sample(SUBJECTS, 5)
    msgs: list[Message] = []
    lessons: list[ev.LessonSummary] = []
    late: ev.LessonSummary | None = None
    for p, (t0, length) in enumerate(PERIODS[:lessons_per_day]):
        if rnd.random() < 0.1:
            continue  # a free period
        start = datetime.combine(day, t0, zone).astimezone(UTC)
        end = start + timedelta(minutes=length)
        rec = recording and rnd.random() < 0.3
        lesson_id = f"{day.isoformat()}-p{p + 1}"
        rec_id = f"rec-{lesson_id}"
        showcase = rec and rnd.random() < 0.2
        quality = showcase and rnd.random() < 0.7
        later = showcase and rnd.random() < 0.3  # marked after the summary was sent
        s = ev.LessonSummary(
            ts=end, lesson_id=lesson_id, kind="scheduled", date=day.isoformat(),
            period=f"p{p + 1}", subject=subjects[p % len(subjects)], class_id=f"c{r.room}",
            teacher=f"t{p % 4}", start=start, end=end, minutes=float(length),
            smart_classroom_use=rnd.random() < 0.8, smart_use_rule="panel_on_ratio >= 0.5",
            panel=ev.LessonPanel(on_minutes=30.0, on_ratio=0.75),
            recording=_marks(ev.LessonRecording(
                minutes=float(length) if rec else 0.0, recordings=[rec_id] if rec else [],
                files=4 if rec else 0), rec_id, showcase and not later, quality and not later),
            tablets=ev.LessonTablets(active=38, checkins=38, answers=rnd.randint(5, 60))
            if tablets else ev.LessonTablets())
        if faults and p == lessons_per_day - 1 and rnd.random() < 0.05:
            late = s  # closes after the day's usage was sent
            continue
        lessons.append(s)
        truth.lessons[(r.school, r.room, lesson_id)] = s
        summary_msg = r.envelope(s, end)
        msgs.append(summary_msg)
        if rec:
            re = ev.RecordingEvent(ts=end, recording_id=f"rec-{lesson_id}", action="finished",
                                   lesson_id=lesson_id, subject=s.subject, started=start,
                                   ended=end, duration_s=length * 60.0)
            msgs.append(r.envelope(re, end))
        att = ev.AttendanceEvent(ts=start + timedelta(minutes=10), lesson_id=lesson_id,
                                 class_id=s.class_id, started=start, late_after_min=5,
                                 enrolled=40, present=38, late=1, absent=1)
        msgs.append(r.envelope(att, start + timedelta(minutes=10)))
        if faults and rnd.random() < 0.01:  # at-least-once: the very same message again
            msgs.append(summary_msg)
            stats["same_id_duplicates"] += 1
        if faults and rnd.random() < 0.01:  # agent crashed before deleting it: new id
            msgs.append(r.envelope(s, end + timedelta(minutes=2)))
            stats["new_id_duplicates"] += 1
        if faults and HAS_LESSON_REVISION and rnd.random() < 0.01:
            revised = ev.LessonSummary(**{**{f: getattr(s, f) for f in s.__struct_fields__},
                                          "revision": 1, "smart_classroom_use": True})
            truth.lessons[(r.school, r.room, lesson_id)] = revised
            lessons[-1] = revised
            msgs.append(r.envelope(revised, end + timedelta(minutes=5)))
            stats["lesson_revisions"] += 1
        if later:  # a showcase marked after the summary went: the next revision
            cur = lessons[-1]
            marked = msgspec.structs.replace(
                cur, revision=cur.revision + 1, ts=end + timedelta(minutes=8),
                recording=_marks(cur.recording, rec_id, True, quality))
            truth.lessons[(r.school, r.room, lesson_id)] = marked
            lessons[-1] = marked
            msgs.append(r.envelope(marked, end + timedelta(minutes=8)))
            stats["showcase_later"] += 1
        stats["quality_recordings"] += quality
    report_at = datetime.combine(day, time(17, 30), zone).astimezone(UTC)
    homework = _homework(r, day, lessons, tablets, rnd)
    week_hw = [ev.HomeworkUsage(class_id=c, subject=s, assignments=a, submissions=n)
               for (c, s), (a, n) in sorted(r.week_hw.items())]
    u = _usage(day, lessons, 0, report_at, homework, week_hw)
    msgs.append(r.envelope(u, report_at))
    truth.usage[(r.school, r.room, day.isoformat())] = u
    if late is not None:
        at = report_at + timedelta(minutes=20)
        late_s = ev.LessonSummary(**{**{f: getattr(late, f) for f in late.__struct_fields__},
                                     "ts": at, "end": at, "ended_by": "teacher"})
        lessons.append(late_s)
        truth.lessons[(r.school, r.room, late_s.lesson_id)] = late_s
        msgs.append(r.envelope(late_s, at))
        u1 = _usage(day, lessons, 1, at, homework, week_hw)
        msgs.append(r.envelope(u1, at + timedelta(seconds=1)))
        truth.usage[(r.school, r.room, day.isoformat())] = u1
        stats["late_lessons"] += 1
    if health_every_min:
        t = datetime.combine(day, time(7, 30), zone).astimezone(UTC)
        while t < report_at:
            h = ev.Health(ts=t, cpu_percent=12.0, load_1m=0.3, memory_percent=40.0,
                          disk_free_bytes=10**10, disk_total_bytes=10**11, temperature_c=None,
                          rss_bytes=10**8, uptime_s=3600.0, loop_lag_ms=1.0,
                          loop_lag_max_ms=5.0, outbox_depth=0, outbox_bytes=0,
                          outbox_oldest_age_s=0.0, sent_total=1, dropped_total=0)
            msgs.append(r.envelope(h, t))
            t += timedelta(minutes=health_every_min)
    if faults and rnd.random() < 0.05:
        # offline from mid-morning: everything after 10:00 arrives at 15:00 in one burst
        cut = datetime.combine(day, time(10, 0), zone).astimezone(UTC)
        back = datetime.combine(day, time(15, 0), zone).astimezone(UTC)
        for m in msgs:
            if cut <= m.at < back:
                m.at = back
        stats["offline_rooms"] += 1
    return msgs
