"""Per-lesson tallies and attendance: roster vs check-ins. Pure bookkeeping, no I/O.

A check-in at or before ``late_after`` (lesson start + late_after_min) is ``present``,
later is ``late``; an enrolled student without a check-in is ``absent``. A check-in from a
student not enrolled in the lesson's class is counted in ``unknown_checkins`` and kept out
of present/late. ``head_count`` is the anonymous head count from the engagement vision:
the highest per-window *median* seen during the lesson (medians ignore a passer-by).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agent.events import AttendanceEvent, AttendanceRecord
from agent.tablets.roster import Roster


@dataclass(frozen=True)
class LessonContext:
    lesson_id: str
    class_id: str
    start: datetime
    late_after_min: float

    @property
    def late_after(self) -> datetime:
        return self.start + timedelta(minutes=self.late_after_min)


@dataclass
class Checkin:
    at: datetime
    device_id: str
    late: bool


@dataclass
class LessonTally:
    ctx: LessonContext
    checkins: dict[str, Checkin] = field(default_factory=dict)  # enrolled or not
    devices_active: set[str] = field(default_factory=set)
    answers: dict[str, dict[str, str]] = field(default_factory=dict)  # question -> student
    hand_raises: int = 0
    focus_lost: int = 0
    broadcast_acks: dict[str, set[str]] = field(default_factory=dict)
    head_count: int | None = None
    ended: datetime | None = None

    def add_checkin(self, student_id: str, device_id: str, at: datetime) -> Checkin | None:
        """Record a check-in; None if this student was already checked in (kept first)."""
        if student_id in self.checkins:
            return None
        c = Checkin(at=at, device_id=device_id, late=at > self.ctx.late_after)
        self.checkins[student_id] = c
        return c

    def add_answer(self, question_id: str, student_id: str, answer: str) -> bool:
        """True if this is the student's first answer to the question (a change of mind
        replaces the answer but is not a second answer)."""
        per_q = self.answers.setdefault(question_id, {})
        first = student_id not in per_q
        per_q[student_id] = answer
        return first

    def add_head_count(self, median: float) -> None:
        n = round(median)
        if self.head_count is None or n > self.head_count:
            self.head_count = n

    @property
    def answer_count(self) -> int:
        return sum(len(v) for v in self.answers.values())

    def attendance(self, roster: Roster, final: bool) -> AttendanceEvent:
        c = self.ctx
        enrolled = roster.students(c.class_id)
        records = []
        present = late = 0
        for sid in enrolled:
            ci = self.checkins.get(sid)
            if ci is None:
                records.append(AttendanceRecord(student_id=sid, status="absent"))
            else:
                status = "late" if ci.late else "present"
                late += ci.late
                present += not ci.late
                records.append(AttendanceRecord(student_id=sid, status=status,
                                                checked_in=ci.at, device_id=ci.device_id))
        unknown = sum(1 for sid in self.checkins if not roster.enrolled(c.class_id, sid))
        return AttendanceEvent(
            lesson_id=c.lesson_id, class_id=c.class_id, started=c.start,
            late_after_min=c.late_after_min, enrolled=len(enrolled), present=present,
            late=late, absent=len(enrolled) - present - late, unknown_checkins=unknown,
            head_count=self.head_count, final=final, students=records,
        )

    def summary(self, roster: Roster) -> dict[str, Any]:
        att = self.attendance(roster, final=self.ended is not None)
        return {
            "lesson_id": self.ctx.lesson_id,
            "class_id": self.ctx.class_id,
            "start": self.ctx.start.isoformat(),
            "ended": self.ended.isoformat() if self.ended else None,
            "tablets_active": len(self.devices_active),
            "checkins": len(self.checkins),
            "answers": self.answer_count,
            "questions": len(self.answers),
            "hands": self.hand_raises,
            "focus_lost": self.focus_lost,
            "broadcast_acks": {k: len(v) for k, v in self.broadcast_acks.items()},
            "attendance": {
                "enrolled": att.enrolled, "present": att.present, "late": att.late,
                "absent": att.absent, "unknown_checkins": att.unknown_checkins,
                "head_count": att.head_count,
            },
        }
