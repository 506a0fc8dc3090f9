"""The lessons service: knows the current lesson, attributes every signal to it, runs
scheduled recordings, and writes one summary per lesson (SQLite, then the bus). What it
asks of the other services is in peers.py; the usage reports are in reports.py.

Time: schedule decisions use the wall clock (``ctx.clock.now()``, UTC, converted to the
room's zone by the timetable); everything measured inside a lesson uses the lesson's own
timeline: seconds since its session start, anchored once by the wall clock when the lesson
is opened (or resumed) and then advanced by ``ctx.clock.monotonic()``. A lesson's identity
is ``{date}-{period}``, so a wall-clock step can close a lesson early or late, but never
splits it or opens it twice; a restart finds the open lesson in SQLite and resumes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from agent.commands import CommandError, NoArgs
from agent.events import DeviceState, Event, LessonSummary, UsageDaily
from agent.lessons.peers import Peers
from agent.lessons.reports import UsageReports
from agent.lessons.rule import compile_rule
from agent.lessons.signals import panel_signal, to_signal
from agent.lessons.store import LessonRow, LessonStore
from agent.lessons.summary import summarize
from agent.lessons.timetable import PlannedLesson, Timetable, build
from agent.runtime.service import AgentContext, Service

log = logging.getLogger(__name__)


class ExtendArgs(msgspec.Struct, forbid_unknown_fields=True):
    minutes: int


@dataclass
class _Live:
    """The open lesson in memory: its row, its plan and its timeline anchor."""

    row: LessonRow
    plan: PlannedLesson | None
    anchor_mono: float
    anchor_offset: float
    last_rec_s: float = 0.0  # ad-hoc: offset of the last recording activity
    buffer: list[tuple[float, str, str]] = field(default_factory=list)  # (at, kind, json)
    stored: bool = True  # False until an ad-hoc lesson's row is inserted
    saved_autorec: str = "none"
    autolive: str = "none"  # timetabled live: none | started | teacher | failed | done
    rec_ids: set[str] = field(default_factory=set)  # recordings seen in this lesson

    def add(self, at: float, kind: str, data: dict[str, Any]) -> None:
        self.buffer.append((at, kind, json.dumps(data, separators=(",", ":"))))

    def offset(self, mono: float) -> float:
        return self.anchor_offset + (mono - self.anchor_mono)

    def window_end(self, pre: float, post: float) -> datetime | None:
        if self.plan is None:
            return None
        return self.plan.window(pre, post, self.row.extend_s)[1]

    def window_len(self, pre: float, post: float) -> float | None:
        end = self.window_end(pre, post)
        return None if end is None else (end - self.row.origin).total_seconds()


class LessonService(Service):
    name = "lessons"
    capabilities = ("lessons",)

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        self.cfg = ctx.config.lessons
        self.timetable: Timetable | None = build(ctx.config)
        self.tz = self.timetable.tz if self.timetable else ZoneInfo(ctx.config.site.timezone)
        self.rule = compile_rule(self.cfg.smart_use)
        self.peers = Peers(ctx, self.timetable, self.tz, ctx.metrics)
        self.reports = UsageReports(self.cfg, self.timetable, self.tz, ctx.clock, ctx.bus,
                                    ctx.metrics)
        self.store: LessonStore | None = None
        self.current: _Live | None = None
        self._pending: deque[tuple[float, datetime, str, dict[str, Any]]] = deque()
        # showcase markings and homework records, stored by the next step (async)
        self._marks: list[dict[str, Any]] = []
        self._homework: list[tuple[datetime, dict[str, Any], str | None]] = []
        self._wake = asyncio.Event()
        self._listening = False
        self._rec_active: set[str] = set()
        self._closed: set[str] = set()
        self._closing = False
        self._last_checkpoint = 0.0
        self._started_wall: datetime | None = None
        # (mono, wall) read together at the start of the last step: the instant it acted on
        self._prev_step: tuple[float, datetime] | None = None
        self._lock = asyncio.Lock()  # one transition at a time (loop vs commands)
        m = ctx.metrics
        self._m_lessons = m.counter(
            "classroom_lessons_total",
            "Lessons closed, by kind and how they ended",
            ["kind", "ended_by"],
        )
        self._m_signals = m.counter(
            "classroom_lessons_signals_total", "Signals attributed to a lesson", ["kind"]
        )
        self._m_unattributed = m.counter(
            "classroom_lessons_signals_unattributed_total",
            "Signals that arrived while no lesson was open",
            ["kind"],
        )
        self._m_revisions = m.counter(
            "classroom_lessons_revisions_total",
            "Lesson summaries sent again as a new revision (showcase marked later)",
        )

    @classmethod
    def create(cls, ctx: AgentContext) -> LessonService | None:
        return cls(ctx) if ctx.config.lessons.enabled else None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._started_wall = self.ctx.clock.now()
        path = self.ctx.config.data_dir / "lessons.sqlite"
        self.store = self.reports.store = await asyncio.to_thread(LessonStore, path)
        if not self._listening:
            self.ctx.bus.add_listener(self._on_event)
            self._listening = True
        self.ctx.commands.register(
            "lesson/extend",
            self._cmd_extend,
            ExtendArgs,
            "Extend the current lesson (and its scheduled recording) by N minutes",
        )
        self.ctx.commands.register(
            "lesson/end",
            self._cmd_end,
            NoArgs,
            "End the current lesson now (stops its scheduled recording)",
        )
        for summary in await asyncio.to_thread(self.store.unpublished):
            await self._publish(summary)
        await self._resume()
        self._publish_state()

    async def run(self) -> None:
        while True:
            async with self._lock:
                await self._step()
            # the deadline is fixed on the monotonic clock *before* the delay is computed
            # from the wall clock, so it never lands past a mark however late the sleep
            # actually starts (at worst it wakes a hair early and steps again)
            mono = self.ctx.clock.monotonic()
            await self._wait(mono + self._next_delay())

    async def stop(self) -> None:
        # the open lesson stays open in SQLite: the next start resumes it
        self._listening = False
        if self.store is None:
            return
        live = self.current
        if live is None:  # homework records and showcase marks are kept without a lesson
            keep = [x for x in self._pending if x[2] in ("hw", "mark")]
            self._pending.clear()
            self._pending.extend(keep)
        self._drain()
        try:
            await self._apply_records()
        except Exception:
            log.exception("storing homework / showcase records at shutdown failed")
        if live is not None:
            await self._checkpoint(force=True)
        await asyncio.to_thread(self.store.close)
        self.store = self.reports.store = None

    # ------------------------------------------------------------------ signals

    def _on_event(self, e: Event) -> None:
        """Bus listener (inline, sync): stamp the event with both clocks now."""
        if not self._listening:
            return
        sig = to_signal(e)
        if sig is None:
            return
        kind, data = sig
        self._pending.append((self.ctx.clock.monotonic(), self.ctx.clock.now(), kind, data))
        self._wake.set()

    def _drain(self) -> None:
        """Attribute stamped events to the current lesson (or open an ad-hoc one)."""
        while self._pending:
            mono, wall, kind, data = self._pending.popleft()
            if kind == "rec_start":
                self._rec_active.add(data["id"])
                if self.current is None and not self._closing:
                    self._open_adhoc(mono, wall, data)
            elif kind == "rec_end":
                self._rec_active.discard(data["id"])
            elif kind == "mark":
                self._marks.append(data)  # its lesson is found (or revised) by the step
                continue
            live = self.current
            if kind == "hw":
                lid = live.row.lesson_id if live is not None else None
                self._homework.append((wall, data, lid))
                if live is None:
                    continue  # counted by day/week/term; no lesson to attribute it to
            if live is None:
                self._m_unattributed.labels(kind).inc()
                continue
            at = max(live.offset(mono), live.row.begin_s)
            if kind in ("rec_start", "rec_end"):
                live.rec_ids.add(data["id"])
                live.last_rec_s = at
                if kind == "rec_end" and live.row.autorec == "started" and not self._closing:
                    # the teacher (or a failure) stopped the scheduled recording early:
                    # do not start it again for this lesson
                    live.row.autorec = "stopped" if data.get("action") == "finished" else "failed"
                    live.add(at, "autorec", {"state": live.row.autorec})
            if kind == "att" and data.get("lesson") not in (live.row.lesson_id, "", None):
                continue  # another lesson's attendance (e.g. a late final for the previous)
            live.add(at, kind, data)
            self._m_signals.labels(kind).inc()

    def _snapshot_signals(self, live: _Live, at: float) -> None:
        """What is already true when a lesson opens: panel state, running recordings."""
        for dev in list(self.ctx.state.devices.values()):
            if isinstance(dev, DeviceState) and (d := panel_signal(dev)):
                live.add(at, "panel", d)
        for rid in sorted(self._rec_active):
            live.rec_ids.add(rid)
            live.add(at, "rec_start", {"id": rid, "lesson": ""})
            live.last_rec_s = at

    # ------------------------------------------------------------------ schedule

    async def _step(self) -> None:
        self._drain()
        await self._apply_records()
        # one instant for the whole step: every decision and every offset below uses this
        # pair, not a later clock reading (the awaits in between may take a while)
        mono = self.ctx.clock.monotonic()
        now = self.ctx.clock.now()
        live = self.current
        pre, post = self.cfg.pre_roll_s, self.cfg.post_roll_s
        due = await self._due(now)
        if live is not None and live.plan is not None:
            end = live.window_end(pre, post)
            assert end is not None
            proper_end = live.plan.end + timedelta(seconds=live.row.extend_s)
            if now >= end:
                await self._close("schedule", at=self._crossing(live, mono, now, end))
            elif due is not None and due.lesson_id != live.row.lesson_id and now >= proper_end:
                # post-roll overlaps the next pre-roll
                await self._close("next_lesson", at=live.offset(mono))
        elif live is not None:  # ad-hoc
            off = live.offset(mono)
            if due is not None:
                await self._close("next_lesson", at=off)
            elif not self._rec_active and off - live.last_rec_s >= self.cfg.idle_end_s:
                # it ended when its recording did; idle_end_s only waits for a restart
                await self._close("idle", at=min(off, live.last_rec_s))
            elif off - live.row.begin_s >= self.cfg.adhoc_max_s:
                await self._close("max_length", at=off)
        if self.current is None and due is not None:
            await self._open_scheduled(due, mono, now)
        live = self.current
        if live is not None and live.plan is not None and live.plan.record:
            if live.row.autorec == "none" and self._rec_active:
                live.row.autorec = "teacher"  # already recording (teacher was first): keep it
            elif live.row.autorec == "none":
                await self.peers.start_recording(live.row)
        if live is not None and live.plan is not None and live.plan.live:
            live.autolive = await self.peers.timetable_live(live.plan, live.row,
                                                            live.autolive, now)
        await self._checkpoint()
        await self.reports.maybe_publish(now)
        self._prev_step = (mono, now)

    def _crossing(self, live: _Live, mono: float, now: datetime, end: datetime) -> float:
        """The lesson offset at which the wall clock passed ``end``: the step's instant
        (``mono``/``now``) minus the overshoot (how late this step runs), but never before
        the previous step (a big forward clock step must not eat what was observed)."""
        over = (now - end).total_seconds()
        if self._prev_step is not None:
            over = min(over, mono - self._prev_step[0])
        return max(live.row.begin_s, live.offset(mono) - max(0.0, over))

    async def _due(self, now: datetime) -> PlannedLesson | None:
        """The planned lesson whose session window holds ``now`` and that was never
        closed (a closed lesson is never reopened: a clock step back is harmless)."""
        if self.timetable is None:
            return None
        pre, post = self.cfg.pre_roll_s, self.cfg.post_roll_s
        for p in self.timetable.lessons_around(now):
            ext = (
                self.current.row.extend_s
                if (self.current and self.current.row.lesson_id == p.lesson_id)
                else 0.0
            )
            a, b = p.window(pre, post, ext)
            if a <= now < b and not await self._is_closed(p.lesson_id):
                return p
        return None

    async def _is_closed(self, lesson_id: str) -> bool:
        if lesson_id in self._closed:
            return True
        if self.current and self.current.row.lesson_id == lesson_id:
            return False
        assert self.store is not None
        row = await asyncio.to_thread(self.store.get, lesson_id)
        if row is not None and row.state == "closed":
            self._closed.add(lesson_id)
            return True
        return False

    def _next_delay(self) -> float:
        """Clock seconds until the next thing the schedule must do (at most tick_s); 0
        when a mark passed while the last step ran (it read the clock before the mark, so
        it did not act on it: step again now, not a whole tick_s later)."""
        now = self.ctx.clock.now()
        acted = self._prev_step[1] if self._prev_step is not None else now
        delay = self.cfg.tick_s
        marks: list[datetime] = []
        pre, post = self.cfg.pre_roll_s, self.cfg.post_roll_s
        if self.timetable is not None:
            for p in self.timetable.lessons_around(now):
                ext = (
                    self.current.row.extend_s
                    if (self.current and self.current.row.lesson_id == p.lesson_id)
                    else 0.0
                )
                a, b = p.window(pre, post, ext)
                marks += [a, b, p.end + timedelta(seconds=ext)]
                if p.live:  # live goes on at the period's start (no pre-roll)
                    marks.append(p.start)
        for m in marks:
            s = (m - now).total_seconds()
            if acted < m <= now:
                return 0.0
            if 0 < s < delay:
                delay = s
        live = self.current
        if live is not None and live.plan is None and not self._rec_active:
            idle_end = live.last_rec_s + self.cfg.idle_end_s
            left = idle_end - live.offset(self.ctx.clock.monotonic())
            seen = self._prev_step is not None and live.offset(self._prev_step[0]) >= idle_end
            if left <= 0 and not seen:
                return 0.0  # passed during the last step, which saw it still ahead
            if 0 < left < delay:
                delay = left
        return max(delay, 1e-6)

    async def _wait(self, deadline: float) -> None:
        """Until the monotonic clock reaches ``deadline`` or something is published."""
        sleeper = asyncio.ensure_future(self._sleep_until(deadline))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)
        self._wake.clear()

    async def _sleep_until(self, deadline: float) -> None:
        await self.ctx.clock.sleep(max(0.0, deadline - self.ctx.clock.monotonic()))

    # ------------------------------------------------------------------ open / close

    async def _open_scheduled(self, p: PlannedLesson, mono: float, now: datetime) -> None:
        """Open ``p`` as of the step's instant (``mono`` and ``now`` read together): the
        timeline is anchored there, however long the store takes meanwhile."""
        assert self.store is not None
        origin = p.window(self.cfg.pre_roll_s, self.cfg.post_roll_s, 0.0)[0]
        begin = max(0.0, (now - origin).total_seconds())
        anchor = begin
        if self._started_wall is not None and self._started_wall <= origin:
            # the agent was up before the lesson began: it saw all of it, however late
            # this step woke up (what happened meanwhile is in the stamped queue)
            begin = 0.0
        row = LessonRow(
            lesson_id=p.lesson_id,
            kind="scheduled",
            date=p.date.isoformat(),
            origin=origin,
            opened=now,
            period=p.period,
            subject=p.subject,
            class_id=p.class_id,
            teacher=p.teacher,
            title=p.title,
            record=p.record,
            scheduled_start=p.start,
            scheduled_end=p.end,
            lesson_start_s=(p.start - origin).total_seconds(),
            begin_s=begin,
            last_alive_s=begin,
        )
        if not await asyncio.to_thread(self.store.insert, row):
            existing = await asyncio.to_thread(self.store.get, p.lesson_id)
            if existing is None or existing.state == "closed":
                self._closed.add(p.lesson_id)
                return
            row = existing  # open in the store but not in memory: resume it
        live = _Live(row, p, mono, max(anchor, row.last_alive_s))
        self.current = live
        self._snapshot_signals(live, live.anchor_offset)
        log.info("lesson %s opened (%s %s)", row.lesson_id, row.subject, row.class_id)
        self.peers.notify_tablets(live.row)
        self.peers.panel_hook(live.plan, start=True)
        self._publish_state()

    def _open_adhoc(self, mono: float, wall: datetime, rec: dict[str, Any]) -> None:
        """A recording started outside any lesson: that is an ad-hoc lesson."""
        local = wall.astimezone(self.tz)
        # adopt the recorder's lesson id so recordings and summaries join up; prefix
        # the date when it has none (the recorder says "adhoc-HHMMSS")
        lid = str(rec.get("lesson") or "")
        if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,90}", lid):
            lid = f"adhoc-{local:%H%M%S}"
        if not re.match(r"\d{4}-\d{2}-\d{2}", lid):
            lid = f"{local.date().isoformat()}-{lid}"
        row = LessonRow(
            lesson_id=lid,
            kind="adhoc",
            date=local.date().isoformat(),
            origin=wall,
            opened=wall,
            title=str(rec.get("title") or ""),
            subject=str(rec.get("subject") or ""),
            teacher=str(rec.get("teacher") or ""),
            record=False,
        )
        # the row is inserted by the next checkpoint (this runs in a sync listener path)
        self.current = _Live(row, None, mono, 0.0, stored=False)
        self._snapshot_signals(self.current, 0.0)
        log.info("ad-hoc lesson %s opened by a recording", lid)
        self.peers.panel_hook(self.current.plan, start=True)
        self._publish_state()

    async def _close(self, ended_by: str, at: float | None = None) -> None:
        live = self.current
        if live is None or self.store is None:
            return
        pre, post = self.cfg.pre_roll_s, self.cfg.post_roll_s
        self._closing = True
        try:
            if live.autolive == "started":
                live.autolive = await self.peers.call_live("stop_live")
            if live.row.autorec == "started":
                await self.peers.stop_recording(live.row)
            await asyncio.sleep(0)  # let events published by stop() be stamped
            self._drain()
            await self._apply_records()
            end = live.offset(self.ctx.clock.monotonic()) if at is None else at
            length = live.window_len(pre, post)
            if length is not None and ended_by in ("schedule", "next_lesson"):
                # never longer than planned: a late wake-up or a clock step back must not
                # stretch it (no signal is lost: they are clipped to the window)
                end = min(end, length)
            for kind, data in self.peers.tablet_tally(live.row.lesson_id):
                live.add(end, kind, data)
            await self._checkpoint(force=True)
            signals = await asyncio.to_thread(self.store.signals, live.row.lesson_id)
            roster = self.timetable.roster_size(live.row.class_id) if self.timetable else None
            summary = summarize(
                live.row,
                signals,
                end,
                ended_by,
                self.rule,
                self.cfg.smart_use,
                roster,
                self.cfg.late_after_s,
                self.ctx.config.live.min_minutes,
            )
            summary.recording.quality_rule = self.ctx.config.recording.quality_rule
            term = self.timetable.term_of(date.fromisoformat(live.row.date)) if (
                self.timetable) else None
            summary.term = term[0] if term else ""
            doc = msgspec.to_builtins(summary)
            await asyncio.to_thread(
                self.store.close_lesson, live.row.lesson_id, self.ctx.clock.now(), doc
            )
            self._closed.add(live.row.lesson_id)
            self.current = None
            self._m_lessons.labels(live.row.kind, ended_by).inc()
            log.info(
                "lesson %s closed (%s): %.1f min, smart use %s",
                live.row.lesson_id,
                ended_by,
                summary.minutes,
                summary.smart_classroom_use,
            )
            self.peers.panel_hook(live.plan, start=False)
            await self._publish(doc)
        finally:
            self._closing = False
            self._publish_state()

    async def _apply_records(self) -> None:
        """Store homework records and apply showcase markings queued by ``_drain``."""
        assert self.store is not None
        hw, self._homework = self._homework, []
        for wall, data, lid in hw:
            day = wall.astimezone(self.tz).date().isoformat()
            try:
                if await asyncio.to_thread(self.store.add_homework, data, day, lid):
                    # counted after the day's usage went out: send the day again
                    await asyncio.to_thread(self.store.usage_stale, day)
            except Exception:
                log.exception("storing a homework record failed")
        marks, self._marks = self._marks, []
        for data in marks:
            try:
                await self._apply_mark(data)
            except Exception:
                log.exception("applying the showcase marking of %s failed", data.get("id"))

    async def _apply_mark(self, data: dict[str, Any]) -> None:
        assert self.store is not None
        rid = data["id"]
        doc = await asyncio.to_thread(self.store.lesson_with_recording, rid)
        live = self.current
        if doc is None:
            if live is not None and (rid in live.rec_ids or data.get("lesson") in (
                    live.row.lesson_id, live.row.lesson_id[11:])):
                live.add(live.offset(self.ctx.clock.monotonic()), "mark", data)
            else:
                self._m_unattributed.labels("mark").inc()
                log.warning("showcase marking of %s: no lesson holds that recording", rid)
            return
        rec = doc.setdefault("recording", {})
        old_sc = list(rec.get("showcase_recordings") or [])
        old_q = list(rec.get("quality_recordings") or [])
        sc = [r for r in old_sc if r != rid] + ([rid] if data.get("showcase") else [])
        q = [r for r in old_q if r != rid] + (
            [rid] if data.get("showcase") and data.get("quality") else [])
        if sorted(sc) == sorted(old_sc) and sorted(q) == sorted(old_q):
            return
        rec.update(showcase_recordings=sc, quality_recordings=q, showcase=bool(sc),
                   quality=bool(q))
        if data.get("rule"):
            rec["quality_rule"] = data["rule"]
        doc["revision"] = int(doc.get("revision") or 0) + 1
        await asyncio.to_thread(self.store.revise, doc["lesson_id"], doc)
        await self._publish(doc)
        await asyncio.to_thread(self.store.usage_stale, doc["date"])
        self._m_revisions.inc()
        log.info("lesson %s sent again as revision %d (showcase of %s)", doc["lesson_id"],
                 doc["revision"], rid)

    async def _publish(self, doc: dict[str, Any]) -> None:
        assert self.store is not None
        summary = msgspec.convert(doc, LessonSummary)
        await self.ctx.bus.publish(summary)
        await asyncio.to_thread(self.store.mark_published, summary.lesson_id)

    async def _checkpoint(self, force: bool = False) -> None:
        live = self.current
        if self.store is None:
            return
        mono = self.ctx.clock.monotonic()
        if live is None:
            return
        if not live.stored:
            await self._insert_adhoc(live)
            self.peers.notify_tablets(live.row)
        if not force and not live.buffer and mono - self._last_checkpoint < self.cfg.tick_s:
            return
        lid = live.row.lesson_id
        n = len(live.buffer)  # signals drained while the write runs stay for the next one
        batch = [(lid, at, kind, data) for at, kind, data in live.buffer[:n]]
        alive = live.offset(mono)
        await asyncio.to_thread(self.store.checkpoint, lid, batch, alive)
        # dropped only once stored: a failed write (disk full) keeps them for the retry
        del live.buffer[:n]
        if live.row.autorec != live.saved_autorec:
            await asyncio.to_thread(self.store.update, lid, autorec=live.row.autorec)
            live.saved_autorec = live.row.autorec
        self._last_checkpoint = mono

    async def _insert_adhoc(self, live: _Live) -> None:
        """Store a new ad-hoc lesson; an id already used (say the recorder reused a
        closed lesson's id) gets a suffix so no stored summary is ever overwritten."""
        assert self.store is not None
        base = live.row.lesson_id
        for n in range(1, 100):
            if n > 1:
                live.row.lesson_id = f"{base}-{n}"
            if await asyncio.to_thread(self.store.insert, live.row):
                live.stored = True
                return
        raise RuntimeError(f"cannot store ad-hoc lesson {base}")

    async def _resume(self) -> None:
        """After a restart: resume the open lesson if it is still on, else close it."""
        assert self.store is not None
        rows = await asyncio.to_thread(self.store.open_lessons)
        mono, now = self.ctx.clock.monotonic(), self.ctx.clock.now()  # one instant for all
        pre, post = self.cfg.pre_roll_s, self.cfg.post_roll_s
        for row in rows:
            plan = (
                self.timetable.find(row.lesson_id)
                if (self.timetable and row.kind == "scheduled")
                else None
            )
            on = False
            if plan is not None:
                on = now < plan.window(pre, post, row.extend_s)[1]
            elif row.kind == "adhoc":
                since = (now - (row.origin + timedelta(seconds=row.last_alive_s))).total_seconds()
                on = since < self.cfg.idle_end_s
            if on and self.current is None:
                offset = max(row.last_alive_s, (now - row.origin).total_seconds())
                row.restarts += 1
                if row.autorec == "started":
                    row.autorec = "none"  # the recorder died with us: start it again
                await asyncio.to_thread(
                    self.store.update, row.lesson_id, restarts=row.restarts, autorec=row.autorec
                )
                live = _Live(row, plan, mono, offset)
                live.last_rec_s = offset
                live.add(offset, "gap", {"from": row.last_alive_s, "to": offset})
                self.current = live
                self._snapshot_signals(live, offset)
                log.info("lesson %s resumed after a restart", row.lesson_id)
                self.peers.notify_tablets(live.row)
                self.peers.panel_hook(live.plan, start=True, switch_on=False)
            else:
                if row.autorec == "started":
                    row.autorec = "done"  # the recorder stopped when we did
                self.current = _Live(row, plan, mono, row.last_alive_s)
                length = self.current.window_len(pre, post)
                end = row.last_alive_s if length is None else min(row.last_alive_s, length)
                await self._close("schedule" if plan else "idle", at=end)

    # ------------------------------------------------------------------ commands / API

    async def _cmd_extend(self, args: ExtendArgs) -> dict[str, Any]:
        async with self._lock:
            live = self.current
            if live is None or live.plan is None:
                raise CommandError("no_lesson", "no scheduled lesson is running")
            if args.minutes < 1:
                raise CommandError("bad_args", "minutes must be at least 1")
            total = live.row.extend_s / 60 + args.minutes
            if total > self.cfg.max_extend_min:
                raise CommandError(
                    "too_long",
                    f"a lesson can be extended by {self.cfg.max_extend_min} min at "
                    f"most ({live.row.extend_s / 60:.0f} already)",
                )
            live.row.extend_s = total * 60
            assert self.store is not None
            await asyncio.to_thread(
                self.store.update, live.row.lesson_id, extend_s=live.row.extend_s
            )
            self._publish_state()
            end = live.plan.end + timedelta(seconds=live.row.extend_s)
            self._wake.set()
            return {
                "lesson_id": live.row.lesson_id,
                "extended_min": round(total),
                "ends": end.isoformat(),
            }

    async def _cmd_end(self, _args: NoArgs) -> dict[str, Any]:
        async with self._lock:
            live = self.current
            if live is None:
                raise CommandError("no_lesson", "no lesson is running")
            self._drain()
            await self._close("teacher")
            return {"lesson_id": live.row.lesson_id, "ended": True}

    def current_lesson(self) -> dict[str, Any] | None:
        """The current lesson for other services (e.g. recording tags) and the API."""
        live = self.current
        if live is None:
            return None
        r = live.row
        pre, post = self.cfg.pre_roll_s, self.cfg.post_roll_s
        end = live.plan.end + timedelta(seconds=r.extend_s) if live.plan else None
        return {
            "lesson_id": r.lesson_id,
            "kind": r.kind,
            "date": r.date,
            "period": r.period,
            "subject": r.subject,
            "class": r.class_id,
            "teacher": r.teacher,
            "title": r.title,
            "start": (r.scheduled_start or r.origin).isoformat(),
            "end": end.isoformat() if end else None,
            "session_end": (live.window_end(pre, post) or end or r.origin).isoformat()
            if live.plan
            else None,
            "extended_min": round(r.extend_s / 60),
            "auto_record": r.record,
            "auto_record_state": r.autorec,
            "restarts": r.restarts,
            "minutes": round((live.offset(self.ctx.clock.monotonic()) - r.begin_s) / 60.0, 2),
        }

    def next_lesson(self) -> dict[str, Any] | None:
        if self.timetable is None:
            return None
        now = self.ctx.clock.now()
        cur = self.current.row.lesson_id if self.current else None
        for p in self.timetable.lessons_around(now):
            if p.start > now and p.lesson_id != cur:
                return {
                    "lesson_id": p.lesson_id,
                    "period": p.period,
                    "subject": p.subject,
                    "class": p.class_id,
                    "teacher": p.teacher,
                    "start": p.start.isoformat(),
                    "end": p.end.isoformat(),
                    "auto_record": p.record,
                }
        return None

    def status(self) -> Any:
        return {
            "current": self.current_lesson(),
            "next": self.next_lesson(),
            "timetable": self.timetable is not None,
            "smart_use_rule": self.cfg.smart_use,
        }

    def _publish_state(self) -> None:
        # the live status page waits on state changes
        self.ctx.state.set("lesson", self.current_lesson())

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        if self.store is None:
            return []
        return await asyncio.to_thread(self.store.summaries, None, None, limit)

    async def usage(self, first: date, last: date) -> dict[str, Any]:
        return await self.reports.usage(first, last)

    async def usage_daily(self, d: date) -> UsageDaily:
        return await self.reports.usage_daily(d)

    def term_names(self) -> list[str]:
        return self.reports.term_names()

    async def term_usage(self, name: str) -> dict[str, Any] | None:
        """/api/usage?term=NAME (reports.py)."""
        return await self.reports.term_usage(name, self.today())

    def today(self) -> date:
        return self.ctx.clock.now().astimezone(self.tz).date()
