"""The tablet service: the agent side of the tablet gateway (``/ws/tablet``).

It owns the gateway (drivers/tablets), the roster, per-lesson tallies and attendance,
and turns counted tablet messages into bus events: ``InteractionEvent`` (every counted
check-in, answer, hand, focus change, broadcast ack) and ``AttendanceEvent`` (when a
lesson ends). Optional xAPI statements go to an LRS (agent/tablets/xapi.py).

API for other components (all synchronous, call on the event loop)::

    svc = ctx.service(TabletService)          # None when tablets are disabled
    svc.set_lesson(lesson_id, start, class_id)   # a lesson began (start: aware datetime)
    svc.end_lesson(lesson_id=None) -> AttendanceEvent | None
                                              # it ended: final attendance is published
    svc.lesson_tally(lesson_id) -> dict | None
        {"lesson_id", "class_id", "start", "ended", "tablets_active", "checkins",
         "answers", "questions", "hands", "focus_lost", "broadcast_acks",
         "attendance": {"enrolled", "present", "late", "absent", "unknown_checkins",
                        "head_count"}}
    svc.current_lesson -> LessonContext | None
    svc.ask(prompt, choices=[], kind="choice", question_id=None, correct=None) -> dict
    svc.broadcast(title, body="", url=None, needs_ack=True) -> dict

``set_lesson`` for a new lesson while another is open ends the open one first. Check-ins
up to ``early_checkin_min`` before ``set_lesson`` count for the lesson (students check in
at the door). Tallies of the last 50 lessons are kept in memory; check-ins and the current
lesson are also in SQLite (``{data_dir}/tablets.sqlite``), so an agent restart in the
middle of a lesson keeps its attendance. Early check-ins (before ``set_lesson``) are stored
before they are acknowledged, so a restart between the check-in and the lesson keeps them.

Commands: ``tablets/question``, ``tablets/broadcast``, ``tablets/lesson``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import msgspec

from agent import events as ev
from agent.commands import CommandError
from agent.config import read_secret
from agent.interfaces import ClassTablets
from agent.runtime.service import AgentContext, Service
from agent.runtime.sqlite import GroupCommitWriter
from agent.tablets.attendance import LessonContext, LessonTally
from agent.tablets.roster import Roster, RosterError, load_devices
from drivers.tablets import protocol as p
from drivers.tablets.dedupe import SeenStore
from drivers.tablets.gateway import (
    AuthError,
    Gateway,
    GatewaySettings,
    Observer,
    Reject,
    Session,
)

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS checkins (
    lesson_id TEXT NOT NULL,
    student_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (lesson_id, student_id)
) WITHOUT ROWID;
-- checked in (and acked) outside a lesson, waiting for the next one: the ack marks the
-- message id done, so a resend after a restart is a duplicate and only this row remembers it
CREATE TABLE IF NOT EXISTS pending_checkin (
    student_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    at TEXT NOT NULL
) WITHOUT ROWID;
-- tablet homework: assignments (from a teacher tablet or the school platform) and one
-- submission per student and assignment; kept ASSIGNMENT_KEEP_DAYS for late submissions
CREATE TABLE IF NOT EXISTS assignments (
    assignment_id TEXT PRIMARY KEY,
    class_id TEXT NOT NULL, subject TEXT NOT NULL, kind TEXT NOT NULL,
    due TEXT, title TEXT NOT NULL DEFAULT '', source TEXT NOT NULL,
    device_id TEXT NOT NULL DEFAULT '', created TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS submissions (
    assignment_id TEXT NOT NULL, student_id TEXT NOT NULL,
    device_id TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (assignment_id, student_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lesson (
    k INTEGER PRIMARY KEY CHECK (k = 1),
    lesson_id TEXT NOT NULL, class_id TEXT NOT NULL, start TEXT NOT NULL,
    late_after_min REAL NOT NULL
);
"""

KEEP_TALLIES = 50
ASSIGNMENT_KEEP_DAYS = 200  # a term and a bit: submissions may come weeks after
MAX_PENDING = 5000  # early check-ins kept for the next lesson, bounded even without a roster


class QuestionArgs(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    prompt: str
    choices: list[str] = []
    kind: Literal["choice", "text"] = "choice"
    question_id: str | None = None
    correct: str | None = None


class BroadcastArgs(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: str
    body: str = ""
    url: str | None = None
    needs_ack: bool = True


class AssignArgs(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``tablets/assignments`` (MQTT, ``POST /api/tablets/assignments``): the school
    platform sets an assignment for a class's tablets."""

    class_id: p.Ident
    subject: p.Subject
    kind: p.AssignmentKind = "homework"
    due: datetime | None = None
    title: p.ShortText = ""
    assignment_id: p.Ident | None = None  # default: a new unique id


class LessonArgs(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    action: Literal["start", "end"]
    lesson_id: str | None = None
    class_id: str | None = None


class _Metrics(Observer):
    def __init__(self, ctx: AgentContext) -> None:
        m = ctx.metrics
        self._msg = m.counter("classroom_tablets_messages_total",
                              "Tablet messages received, by type", ["type"])
        self._err = m.counter("classroom_tablets_errors_total",
                              "Tablet messages/connections refused, by error code", ["code"])
        self._close = m.counter("classroom_tablets_closes_total",
                                "Tablet connections closed, by reason", ["reason"])
        self._dup = m.counter("classroom_tablets_duplicates_total",
                              "Replayed tablet messages acknowledged without counting")
        self._ack = m.histogram(
            "classroom_tablets_ack_seconds", "Receive-to-ack time of tablet messages",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5))
        self.connected = m.gauge("classroom_tablets_connected", "Tablets connected now")

    def message(self, type_: str) -> None:
        self._msg.labels(type_).inc()

    def error(self, code: str) -> None:
        self._err.labels(code).inc()

    def closed(self, reason: str) -> None:
        self._close.labels(reason).inc()

    def ack(self, seconds: float, duplicate: bool) -> None:
        if duplicate:
            self._dup.inc()
        self._ack.observe(seconds)


class TabletService(Service, ClassTablets):
    name = "tablets"
    capabilities = ("tablets",)

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        t = ctx.config.tablets
        self.cfg = t
        self.tz = ZoneInfo(ctx.config.site.timezone)
        self.late_after_min = (t.late_after_min if t.late_after_min is not None
                               else ctx.config.lessons.late_after_s / 60.0)
        try:
            self.roster = Roster.load(t.roster_file) if t.roster_file else Roster()
            tokens, roles = (load_devices(t.device_tokens_file) if t.device_tokens_file
                             else ({}, {}))
        except RosterError as e:
            from agent.config import ConfigError

            raise ConfigError(f"tablets: {e}") from None
        settings = GatewaySettings(
            max_message_bytes=t.max_message_bytes, rate_per_s=t.rate_per_s,
            rate_burst=t.rate_burst, heartbeat_s=t.heartbeat_s,
            heartbeat_timeout_s=t.heartbeat_timeout_s, hello_timeout_s=t.hello_timeout_s,
            send_queue_max=t.send_queue_max, max_sessions=t.max_tablets,
            join_code=read_secret(t.join_code, t.join_code_file), device_tokens=tokens,
            device_roles=roles,
        )
        self.db_path = str(Path(ctx.config.storage.data_dir) / "tablets.sqlite")
        # synchronous=NORMAL: survives an agent crash; a power cut may lose the last commits,
        # which tablets resend (unacknowledged) and the dedupe ids then recognise
        self.db = GroupCommitWriter(self.db_path, SCHEMA, synchronous="NORMAL", name="tablets")
        self.seen = SeenStore(self.db, self._today, keep_days=t.dedupe_keep_days)
        self.observer = _Metrics(ctx)
        self.gateway = Gateway(settings, self, self.seen, self.observer)
        self.gateway.now = ctx.clock.now
        self.current: LessonTally | None = None
        self.tallies: OrderedDict[str, LessonTally] = OrderedDict()
        self.pending: dict[str, tuple[datetime, str]] = {}  # checked in outside a lesson
        self.question: p.QuestionMsg | None = None
        self.question_correct: str | None = None
        self.question_answers: dict[str, str] = {}  # student -> answer (current question)
        self.hands_up: set[str] = set()
        self.background: set[str] = set()
        self.broadcasts: dict[str, set[str]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.xapi: Any = None

    @classmethod
    def create(cls, ctx: AgentContext) -> TabletService | None:
        return cls(ctx) if ctx.config.tablets.enabled else None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.db.open()
        await self.seen.prune()
        await self._prune_checkins()
        await self._restore()
        reg = self.ctx.commands.register
        reg("tablets/question", self._cmd_question, QuestionArgs,
            "Push a question to every connected tablet")
        reg("tablets/broadcast", self._cmd_broadcast, BroadcastArgs,
            "Push a message (and optional URL) to every connected tablet")
        reg("tablets/lesson", self._cmd_lesson, LessonArgs,
            "Start or end the tablets' lesson context by hand (the timetable usually does)")
        reg("tablets/assignments", self._cmd_assign, AssignArgs,
            "Set an assignment (homework, quiz, practice) for a class's tablets")
        x = self.cfg.xapi
        if x.enabled and x.endpoint:
            from agent.tablets.xapi import XapiSender

            self.xapi = XapiSender(self.ctx, x)
        self._publish_state("online", "")

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._follow_engagement())
            if self.xapi is not None:
                tg.create_task(self.xapi.run())

    async def stop(self) -> None:
        await self.gateway.close_all(p.CLOSE_GOING_AWAY)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)
        if self.xapi is not None:
            await self.xapi.close()
        await self.db.close()

    async def _prune_checkins(self) -> None:
        # check-ins are kept only to survive a restart mid-lesson (attendance itself goes
        # out as AttendanceEvent): same retention as the dedupe ids
        cutoff = (self.ctx.clock.now().astimezone(UTC)
                  - timedelta(days=self.cfg.dedupe_keep_days)).isoformat()
        old = (self.ctx.clock.now().astimezone(UTC)
               - timedelta(days=ASSIGNMENT_KEEP_DAYS)).isoformat()

        def work(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM checkins WHERE at < ?", (cutoff,))
            c.execute("DELETE FROM pending_checkin WHERE at < ?", (cutoff,))
            c.execute("DELETE FROM submissions WHERE assignment_id IN (SELECT assignment_id "
                      "FROM assignments WHERE created < ?)", (old,))
            c.execute("DELETE FROM assignments WHERE created < ?", (old,))

        await self.db.call(work)

    async def _restore(self) -> None:
        def work(c: sqlite3.Connection) -> tuple[Any, list[Any], list[Any]]:
            row = c.execute("SELECT lesson_id, class_id, start, late_after_min FROM lesson")
            row = row.fetchone()
            rows = []
            if row:
                rows = c.execute("SELECT student_id, device_id, at FROM checkins "
                                 "WHERE lesson_id = ?", (row[0],)).fetchall()
            pending = c.execute("SELECT student_id, device_id, at FROM pending_checkin "
                                "ORDER BY at DESC LIMIT ?", (MAX_PENDING,)).fetchall()
            return row, rows, pending

        row, rows, pending = await self.db.call(work)
        for sid, dev, at in reversed(pending):  # oldest first: eviction order
            self.pending[sid] = (datetime.fromisoformat(at), dev)
        if row:
            lc = LessonContext(row[0], row[1], datetime.fromisoformat(row[2]), row[3])
            self.current = self._tally(lc)
            for sid, dev, at in rows:
                self.current.add_checkin(sid, dev, datetime.fromisoformat(at))
            log.info("tablets: resumed lesson %s with %d check-ins", lc.lesson_id, len(rows))
            if self.pending:  # stored while the lesson was being opened: count them now
                self._spawn(self.db.call(self._drain_pending(self.current)))
        elif pending:
            log.info("tablets: %d early check-ins wait for the next lesson", len(pending))

    # ------------------------------------------------------------------ lesson API

    @property
    def current_lesson(self) -> LessonContext | None:
        return self.current.ctx if self.current and not self.current.ended else None

    def set_lesson(self, lesson_id: str, start: datetime, class_id: str) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=self.tz)
        if self.current and not self.current.ended:
            if self.current.ctx.lesson_id == lesson_id:
                return
            self.end_lesson()
        lc = LessonContext(lesson_id, class_id, start.astimezone(UTC), self.late_after_min)
        tally = self._tally(lc)
        self.current = tally
        self.question, self.question_answers = None, {}
        drain = self._drain_pending(tally)

        def work(c: sqlite3.Connection) -> None:
            # one transaction: the early check-ins move to the lesson together with it
            c.execute("INSERT OR REPLACE INTO lesson VALUES (1, ?, ?, ?, ?)",
                      (lesson_id, class_id, lc.start.isoformat(), lc.late_after_min))
            drain(c)

        self._spawn(self.db.call(work))
        self._spawn(self._load_checkins(tally))
        self.gateway.broadcast(p.LessonMsg(lesson=self._lesson_info(lc)))

    def end_lesson(self, lesson_id: str | None = None) -> ev.AttendanceEvent | None:
        tally = self.current
        if tally is None or tally.ended or (lesson_id and tally.ctx.lesson_id != lesson_id):
            return None
        tally.ended = self.ctx.clock.now()
        event = tally.attendance(self.roster, final=True)
        self._spawn(self.ctx.bus.publish(event))
        self._spawn(self.db.call(lambda c: c.execute("DELETE FROM lesson")))
        self.question, self.question_answers = None, {}
        self.gateway.broadcast(p.LessonMsg(lesson=None))
        return event

    def lesson_tally(self, lesson_id: str) -> dict[str, Any] | None:
        t = self.tallies.get(lesson_id)
        return t.summary(self.roster) if t else None

    def _tally(self, lc: LessonContext) -> LessonTally:
        t = self.tallies.get(lc.lesson_id)
        if t is None or t.ctx != lc:
            t = LessonTally(lc)
            self.tallies[lc.lesson_id] = t
            while len(self.tallies) > KEEP_TALLIES:
                self.tallies.popitem(last=False)
        t.ended = None
        return t

    def _drain_pending(self, tally: LessonTally) -> Callable[[sqlite3.Connection], None]:
        """Count the early check-ins for the lesson (those within ``early_checkin_min``
        of its start; older ones are dropped) and return the DB work moving them from
        ``pending_checkin`` to ``checkins``."""
        lc = tally.ctx
        early = lc.start - timedelta(minutes=self.cfg.early_checkin_min)
        moved = [(sid, dev, at) for sid, (at, dev) in self.pending.items()
                 if at >= early and tally.add_checkin(sid, dev, at)]
        drained = list(self.pending)
        self.pending.clear()

        def work(c: sqlite3.Connection) -> None:
            for sid, dev, at in moved:
                _insert_checkin(lc.lesson_id, sid, dev, at)(c)
            c.executemany("DELETE FROM pending_checkin WHERE student_id = ?",
                          [(sid,) for sid in drained])

        return work

    async def _load_checkins(self, tally: LessonTally) -> None:
        lid = tally.ctx.lesson_id
        rows = await self.db.call(lambda c: c.execute(
            "SELECT student_id, device_id, at FROM checkins WHERE lesson_id = ?",
            (lid,)).fetchall())
        for sid, dev, at in rows:
            tally.add_checkin(sid, dev, datetime.fromisoformat(at))

    def _lesson_info(self, lc: LessonContext) -> p.LessonInfo:
        return p.LessonInfo(lesson_id=lc.lesson_id, class_id=lc.class_id, start=lc.start,
                            late_after=lc.late_after)

    # ------------------------------------------------------------------ pushes

    def ask(self, prompt: str, choices: list[str] | None = None, kind: str = "choice",
            question_id: str | None = None, correct: str | None = None) -> dict[str, Any]:
        qid = question_id or f"q-{uuid.uuid4().hex[:10]}"
        lc = self.current_lesson
        self.question = p.QuestionMsg(question_id=qid, prompt=prompt, kind=kind,  # type: ignore[arg-type]
                                      choices=list(choices or []),
                                      lesson_id=lc.lesson_id if lc else None)
        self.question_correct = correct
        self.question_answers = {}
        sent = self.gateway.broadcast(self.question)
        return {"question_id": qid, "sent_to": sent}

    def broadcast(self, title: str, body: str = "", url: str | None = None,
                  needs_ack: bool = True) -> dict[str, Any]:
        bid = f"b-{uuid.uuid4().hex[:10]}"
        self.broadcasts[bid] = set()
        while len(self.broadcasts) > 100:
            self.broadcasts.pop(next(iter(self.broadcasts)))
        sent = self.gateway.broadcast(p.BroadcastMsg(broadcast_id=bid, title=title, body=body,
                                                     url=url, needs_ack=needs_ack))
        return {"broadcast_id": bid, "sent_to": sent}

    async def _cmd_question(self, a: QuestionArgs) -> dict[str, Any]:
        if not a.prompt.strip():
            raise CommandError("bad_args", "prompt is empty")
        if a.kind == "choice" and len(a.choices) < 2:
            raise CommandError("bad_args", "a choice question needs at least 2 choices")
        if a.correct is not None and a.kind == "choice" and a.correct not in a.choices:
            raise CommandError("bad_args", "correct must be one of the choices")
        return self.ask(a.prompt, a.choices, a.kind, a.question_id, a.correct)

    async def _cmd_broadcast(self, a: BroadcastArgs) -> dict[str, Any]:
        if not a.title.strip():
            raise CommandError("bad_args", "title is empty")
        return self.broadcast(a.title, a.body, a.url, a.needs_ack)

    async def _cmd_lesson(self, a: LessonArgs) -> dict[str, Any]:
        if a.action == "end":
            event = self.end_lesson(a.lesson_id)
            if event is None:
                raise CommandError("no_lesson", "no open lesson with that id")
            return {"lesson_id": event.lesson_id, "present": event.present,
                    "late": event.late, "absent": event.absent}
        class_id = a.class_id or next(iter(self.roster.classes), "")
        if not class_id:
            raise CommandError("bad_args", "class_id needed (no roster loaded)")
        now = self.ctx.clock.now()
        lesson_id = a.lesson_id or f"adhoc-{now.astimezone(self.tz):%Y%m%d-%H%M%S}"
        self.set_lesson(lesson_id, now, class_id)
        return {"lesson_id": lesson_id, "class_id": class_id}

    # ------------------------------------------------------------------ gateway handler

    def authorize(self, session: Session, hello: p.Hello) -> None:
        # a teacher device names its teacher in student_id: not on the class roster
        if session.role != "teacher" and self.roster and not self.roster.knows(
                hello.student_id):
            raise AuthError("unknown_student",
                            f"student {hello.student_id!r} is not on the roster")

    def welcome(self, session: Session) -> dict[str, Any]:
        lc = self.current_lesson
        checked = bool(self.current and session.student_id in self.current.checkins)
        return {"lesson": self._lesson_info(lc) if lc else None, "question": self.question,
                "checked_in": checked}

    def connected(self, session: Session) -> None:
        self.observer.connected.set(len(self.gateway.sessions))

    def disconnected(self, session: Session) -> None:
        if session.device_id not in self.gateway.sessions:
            # a hand left up on a tablet that went away is not a hand up any more
            self.hands_up.discard(session.student_id)
            self.background.discard(session.student_id)
        self.observer.connected.set(len(self.gateway.sessions))

    async def handle(self, s: Session, msg: p.ClientMessage) -> None:
        now = self.ctx.clock.now()
        tally = self.current if self.current and not self.current.ended else None
        event: ev.InteractionEvent | None
        match msg:
            case p.Assignment():
                await self._on_assignment(s, msg)
                return
            case p.Submission():
                await self._submit(s, msg, now, tally.ctx.lesson_id if tally else None)
                if tally:
                    tally.devices_active.add(s.device_id)
                return
            case p.Checkin():
                tally, event = await self._on_checkin(s, msg, now, tally)
            case p.Answer():
                event = self._on_answer(s, msg, now, tally)
            case p.Hand():
                event = self._on_hand(s, msg, now, tally)
            case p.Focus():
                event = self._on_focus(s, msg, now, tally)
            case p.BroadcastAck():
                event = self._on_broadcast_ack(s, msg, now, tally)
            case _:  # pragma: no cover - the gateway only hands over the types above
                raise Reject("unknown_type", "not handled")
        if event is None:
            return  # acked, nothing counted
        if tally:
            tally.devices_active.add(s.device_id)
        # durable in the outbox before the tablet gets its ack
        await self.ctx.bus.publish(event)

    @staticmethod
    def _base(s: Session, msg: p.ClientMessage, tally: LessonTally | None) -> dict[str, Any]:
        """The fields every interaction event of this message carries."""
        lc = tally.ctx if tally else None
        return {"device_id": s.device_id, "student_id": s.student_id, "message_id": msg.id,
                "lesson_id": lc.lesson_id if lc else None,
                "class_id": lc.class_id if lc else None}

    async def _on_assignment(self, s: Session, msg: p.Assignment) -> None:
        if s.role != "teacher":
            raise Reject("forbidden", "only a teacher device (a device token with role "
                                      "teacher) may send an assignment")
        await self.assign(msg.assignment_id, msg.class_id, msg.subject, msg.kind,
                          msg.due, msg.title, source="tablet", device_id=s.device_id,
                          message_id=msg.id)

    async def _on_checkin(
        self, s: Session, msg: p.Checkin, now: datetime, tally: LessonTally | None
    ) -> tuple[LessonTally | None, ev.InteractionEvent | None]:
        """(the lesson it counted for, its event); no event: a duplicate, acked only."""
        at = self._checkin_time(msg.at, now)
        if tally is None:
            if s.student_id in self.pending:
                return None, None  # already waiting for the next lesson: count nothing
            # stored before the ack (which marks the id done): a restart before the
            # lesson must not lose it, since the resend would only be a duplicate
            await self.db.call(_insert_pending(s.student_id, s.device_id, at))
            if self.current and not self.current.ended:
                # a lesson opened while we were writing; it has drained pending
                # already, so count this one for it directly
                tally = self.current
                sid = s.student_id
                self.db.submit(lambda c: c.execute(
                    "DELETE FROM pending_checkin WHERE student_id = ?", (sid,)))
            elif s.student_id in self.pending:
                return None, None  # the same student from a second tablet meanwhile
            else:
                if len(self.pending) >= MAX_PENDING:
                    old = next(iter(self.pending))
                    self.pending.pop(old)
                    self.db.submit(lambda c: c.execute(
                        "DELETE FROM pending_checkin WHERE student_id = ?", (old,)))
                self.pending[s.student_id] = (at, s.device_id)
                return None, ev.InteractionEvent(kind="checkin", ts=at,
                                                 **self._base(s, msg, None))
        if s.student_id in tally.checkins:
            return tally, None  # already checked in for this lesson: count nothing
        # stored first: a failed write leaves nothing half-counted (resend retries)
        await self.db.call(_insert_checkin(tally.ctx.lesson_id, s.student_id,
                                           s.device_id, at))
        c = tally.add_checkin(s.student_id, s.device_id, at)
        if c is None:
            return tally, None
        return tally, ev.InteractionEvent(kind="checkin", ts=at, late=c.late,
                                          **self._base(s, msg, tally))

    def _on_answer(self, s: Session, msg: p.Answer, now: datetime,
                   tally: LessonTally | None) -> ev.InteractionEvent:
        answer = msg.choice if msg.choice is not None else (msg.text or "")
        correct = None
        if self.question and msg.question_id == self.question.question_id:
            self.question_answers[s.student_id] = answer
            if self.question_correct is not None:
                correct = answer == self.question_correct
        if tally:
            tally.add_answer(msg.question_id, s.student_id, answer)
        return ev.InteractionEvent(
            kind="answer", ts=now, question_id=msg.question_id, choice=msg.choice,
            text=msg.text, correct=correct, time_to_answer_s=msg.time_to_answer_s,
            **self._base(s, msg, tally))

    def _on_hand(self, s: Session, msg: p.Hand, now: datetime,
                 tally: LessonTally | None) -> ev.InteractionEvent:
        was_up = s.student_id in self.hands_up
        if msg.state == "raise":
            self.hands_up.add(s.student_id)
            if tally and not was_up:
                tally.hand_raises += 1
        else:
            self.hands_up.discard(s.student_id)
        return ev.InteractionEvent(kind="hand", ts=now, state=msg.state,
                                   **self._base(s, msg, tally))

    def _on_focus(self, s: Session, msg: p.Focus, now: datetime,
                  tally: LessonTally | None) -> ev.InteractionEvent:
        if msg.state == "background":
            if tally and s.student_id not in self.background:
                tally.focus_lost += 1
            self.background.add(s.student_id)
        else:
            self.background.discard(s.student_id)
        return ev.InteractionEvent(kind="focus", ts=now, state=msg.state,
                                   **self._base(s, msg, tally))

    def _on_broadcast_ack(self, s: Session, msg: p.BroadcastAck, now: datetime,
                          tally: LessonTally | None) -> ev.InteractionEvent:
        self.broadcasts.setdefault(msg.broadcast_id, set()).add(s.device_id)
        if tally:
            tally.broadcast_acks.setdefault(msg.broadcast_id, set()).add(s.device_id)
        return ev.InteractionEvent(kind="broadcast_ack", ts=now,
                                   broadcast_id=msg.broadcast_id, **self._base(s, msg, tally))

    # ------------------------------------------------------------------ homework

    async def assign(self, assignment_id: str, class_id: str, subject: str, kind: str,
                     due: datetime | None, title: str, source: str, device_id: str = "",
                     message_id: str = "") -> dict[str, Any]:
        """Store an assignment, relay it to the class's tablets and publish it (once: the
        same id again only relays it again). Reject on an id used for another class or
        subject."""
        now = self.ctx.clock.now()
        if due is not None and due.tzinfo is None:
            due = due.replace(tzinfo=self.tz)
        row = (assignment_id, class_id, subject, kind,
               due.astimezone(UTC).isoformat() if due else None, title, source, device_id,
               now.astimezone(UTC).isoformat())

        def work(c: sqlite3.Connection) -> tuple[bool, Any]:
            old = c.execute("SELECT class_id, subject FROM assignments WHERE assignment_id = ?",
                            (assignment_id,)).fetchone()
            if old is not None:
                return False, old
            c.execute("INSERT INTO assignments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            return True, None

        new, old = await self.db.call(work)
        if not new and tuple(old) != (class_id, subject):
            raise Reject("assignment_conflict", f"assignment {assignment_id!r} is already "
                         f"set for class {old[0]!r}, subject {old[1]!r}")
        members = set(self.roster.students(class_id)) if self.roster.has_class(class_id) \
            else None
        relay = p.AssignmentMsg(assignment_id=assignment_id, class_id=class_id,
                                subject=subject, kind=kind, due=due, title=title)
        sent = self.gateway.send_to(relay, lambda t: t.role != "teacher" and (
            members is None or t.student_id in members))
        if new:
            tally = self.current if self.current and not self.current.ended else None
            await self.ctx.bus.publish(ev.AssignmentEvent(
                ts=now, action="assigned", assignment_id=assignment_id, class_id=class_id,
                subject=subject, kind=kind, due=due, title=title, source=source,  # type: ignore[arg-type]
                device_id=device_id, message_id=message_id,
                lesson_id=tally.ctx.lesson_id if tally else None,
                enrolled=len(members) if members else None))
        return {"assignment_id": assignment_id, "sent_to": sent, "new": new}

    async def _submit(self, s: Session, msg: p.Submission, now: datetime,
                      lesson_id: str | None) -> None:
        sid, dev, aid = s.student_id, s.device_id, msg.assignment_id

        def work(c: sqlite3.Connection) -> tuple[Any, bool]:
            a = c.execute("SELECT class_id, subject, kind FROM assignments "
                          "WHERE assignment_id = ?", (aid,)).fetchone()
            if a is None:
                return None, False
            cur = c.execute("INSERT OR IGNORE INTO submissions VALUES (?, ?, ?, ?)",
                            (aid, sid, dev, now.astimezone(UTC).isoformat()))
            return a, cur.rowcount == 1

        a, new = await self.db.call(work)
        if a is None:
            raise Reject("unknown_assignment", f"no assignment {aid!r} was set on this agent")
        if not new:
            return  # this student handed it in already: ack, count nothing
        await self.ctx.bus.publish(ev.AssignmentEvent(
            ts=now, action="submitted", assignment_id=aid, class_id=a[0], subject=a[1],
            kind=a[2], source="tablet", device_id=dev, student_id=sid, message_id=msg.id,
            lesson_id=lesson_id))

    async def _cmd_assign(self, a: AssignArgs) -> dict[str, Any]:
        aid = a.assignment_id or f"a-{uuid.uuid4().hex[:12]}"
        try:
            return await self.assign(aid, a.class_id, a.subject, a.kind, a.due, a.title,
                                     source="http")
        except Reject as r:
            raise CommandError(r.code, r.message) from None

    def _checkin_time(self, at: datetime | None, now: datetime) -> datetime:
        """The tablet's own tap time if plausible (offline check-ins resent later keep
        their time), else the time the agent received it."""
        if at is None:
            return now
        if at.tzinfo is None:
            return now
        if at > now + timedelta(seconds=5) or at < now - timedelta(
                seconds=self.cfg.max_backdate_s):
            return now
        return at.astimezone(UTC)

    # ------------------------------------------------------------------ engagement, state

    async def _follow_engagement(self) -> None:
        with self.ctx.bus.subscribe(ev.EngagementWindow) as sub:
            async for w in sub:
                tally = self.current
                if not isinstance(w, ev.EngagementWindow) or tally is None or tally.ended:
                    continue
                if w.lesson_id and w.lesson_id != tally.ctx.lesson_id:
                    continue
                tally.add_head_count(w.head_count_median)

    def _publish_state(self, status: str, reason: str) -> None:
        now = self.ctx.clock.now()
        self.ctx.bus.publish_nowait(ev.DeviceState(
            ts=now, device_id="tablet-gateway", kind="tablet_gateway", status=status,  # type: ignore[arg-type]
            reason=reason, attrs={"path": "/ws/tablet", "protocol": p.PROTOCOL_VERSION},
            last_seen=now))

    def _today(self) -> date:
        return self.ctx.clock.now().astimezone(self.tz).date()

    def _spawn(self, coro: Any) -> None:
        async def guarded() -> None:
            try:
                await coro
            except Exception:
                log.exception("tablets: background task failed")

        t = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    def status(self) -> dict[str, Any]:
        tally = self.current if self.current and not self.current.ended else None
        att = tally.summary(self.roster)["attendance"] if tally else None
        q = self.question
        counters = self.gateway.counters
        return {
            "connected": len(self.gateway.sessions),
            "lesson": ({"lesson_id": tally.ctx.lesson_id, "class_id": tally.ctx.class_id,
                        "start": tally.ctx.start.isoformat()} if tally else None),
            "checked_in": len(tally.checkins) if tally else len(self.pending),
            "attendance": att,
            "question": ({"question_id": q.question_id, "prompt": q.prompt,
                          "answers": len(self.question_answers)} if q else None),
            "answers_current_question": len(self.question_answers),
            "hands_up": len(self.hands_up),
            "in_background": len(self.background),
            "duplicates": counters.get("duplicate", 0),
            "errors": {k[6:]: v for k, v in counters.items() if k.startswith("error.")},
            "closes": {k[6:]: v for k, v in counters.items() if k.startswith("close.")},
            "xapi": self.xapi.status() if self.xapi is not None else None,
            "db_recovered_from": self.db.recovered_from,
        }


def _insert_pending(sid: str, dev: str, at: datetime) -> Callable[[sqlite3.Connection], None]:
    def work(c: sqlite3.Connection) -> None:
        c.execute("INSERT OR IGNORE INTO pending_checkin VALUES (?, ?, ?)",
                  (sid, dev, at.isoformat()))

    return work


def _insert_checkin(lesson_id: str, sid: str, dev: str, at: datetime):
    def work(c: sqlite3.Connection) -> None:
        c.execute("INSERT OR IGNORE INTO checkins VALUES (?, ?, ?, ?)",
                  (lesson_id, sid, dev, at.isoformat()))

    return work

