"""What the lessons ask of the room's other services, each optional: the recorder (a
timetabled ``record`` period), the live push (a ``live`` period), the panels (power with
the lessons) and the tablets (which lesson check-ins count for, and its tally at the end).

Every call is by the protocols of agent/interfaces.py; a service the room does not run is
skipped, and a call that fails is logged and never stops the lesson."""

# ctx.service(Protocol) looks services up by their protocol in agent/interfaces.py; mypy
# only lets concrete classes stand for type[T] (python/mypy#4717)
# mypy: disable-error-code="type-abstract"

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from agent.commands import CommandError
from agent.interfaces import ClassTablets, LivePusher, PanelHooks, Recorder
from agent.lessons.signals import to_signal
from agent.lessons.store import LessonRow
from agent.lessons.timetable import PlannedLesson, Timetable
from agent.metrics import Metrics
from agent.runtime.service import AgentContext

log = logging.getLogger(__name__)

# a timetabled live period: none | started | teacher (was live first) | failed | done
AutoLive = str


class Peers:
    def __init__(self, ctx: AgentContext, timetable: Timetable | None, tz: ZoneInfo,
                 metrics: Metrics) -> None:
        self.ctx = ctx
        self.timetable = timetable
        self.tz = tz
        self._m_autorec = metrics.counter(
            "classroom_lessons_autorecord_total", "Scheduled recording actions", ["outcome"]
        )

    # ------------------------------------------------------------------ recorder

    async def start_recording(self, row: LessonRow) -> None:
        title = row.title or " ".join(x for x in (row.subject, row.class_id, row.period) if x)
        args = {
            "title": title,
            "subject": row.subject,
            "lesson_id": row.lesson_id,
            "teacher": row.teacher,
            "trigger": "timetable",
        }
        ok = await self._call_recorder("start", args)
        row.autorec = "started" if ok else "failed"
        self._m_autorec.labels("started" if ok else "start_failed").inc()

    async def stop_recording(self, row: LessonRow) -> None:
        ok = await self._call_recorder("stop", {"trigger": "timetable"})
        row.autorec = "done"
        self._m_autorec.labels("stopped" if ok else "stop_failed").inc()

    async def _call_recorder(self, what: Literal["start", "stop"], args: dict[str, Any]) -> bool:
        """Through the recording service (works offline: it is local)."""
        command = f"record/{what}"
        svc = self.ctx.service(Recorder)
        if svc is None:
            log.warning("no recording service: %s skipped", command)
            return False
        try:
            if what == "start":
                await svc.start_recording(**args)
            else:
                await svc.stop_recording(**args)
            return True
        except CommandError as e:
            log.warning("%s refused: %s", command, e)
        except Exception:
            log.exception("%s failed", command)
        return False

    # ------------------------------------------------------------------ live

    async def timetable_live(self, plan: PlannedLesson, row: LessonRow, state: AutoLive,
                             now: datetime) -> AutoLive:
        """A ``live = true`` period is pushed live from its start to its (extended) end;
        returns the period's new live state."""
        proper_end = plan.end + timedelta(seconds=row.extend_s)
        if state == "none" and plan.start <= now < proper_end:
            return await self.call_live("start_live")
        if state == "started" and now >= proper_end:
            return await self.call_live("stop_live")
        return state

    async def call_live(self, method: Literal["start_live", "stop_live"]) -> AutoLive:
        svc = self.ctx.service(LivePusher)
        starting = method == "start_live"
        if svc is None:
            log.warning("no live service: timetabled %s skipped", method)
            return "failed" if starting else "done"
        try:
            if starting:
                await svc.start_live(trigger="timetable")
            else:
                await svc.stop_live(trigger="timetable")
            return "started" if starting else "done"
        except CommandError as e:
            log.warning("timetabled %s refused: %s", method, e)
            # already live: the teacher was first, and keeps it (never stopped by us)
            return "teacher" if e.code == "already_live" else (
                "failed" if starting else "done")
        except Exception:
            log.exception("timetabled %s failed", method)
            return "failed" if starting else "done"

    # ------------------------------------------------------------------ panels

    def panel_hook(self, plan: PlannedLesson | None, start: bool,
                   switch_on: bool = True) -> None:
        """Panel automation (power on at lesson start, off after the day's last one). Every
        running lesson is announced, ad-hoc and resumed ones too, so ``idle_off_min`` never
        switches the panel off mid-lesson; only a timetabled start switches it on."""
        svc = self.ctx.service(PanelHooks)
        if svc is None:
            return
        try:
            if start:
                # ad-hoc lessons begin with the panel already in use
                svc.on_lesson_start(switch_on=switch_on and plan is not None)
            else:
                now = self.ctx.clock.now()
                day = plan.date if plan else now.astimezone(self.tz).date()
                rest = [
                    p
                    for p in (self.timetable.lessons_on(day) if self.timetable else [])
                    if p.start > now
                ]
                svc.on_lesson_end(last=not rest)
        except Exception:
            log.exception("panel lesson hook failed")

    # ------------------------------------------------------------------ tablets

    def notify_tablets(self, row: LessonRow) -> None:
        svc = self.ctx.service(ClassTablets)
        if svc is None:
            return
        try:
            # tablets count late check-ins from the lesson proper, not the pre-roll
            start = row.scheduled_start or (row.origin + timedelta(seconds=row.begin_s))
            svc.set_lesson(row.lesson_id, start, row.class_id)
        except Exception:
            log.exception("tablets set_lesson failed")

    def tablet_tally(self, lesson_id: str) -> list[tuple[str, dict[str, Any]]]:
        """End the tablets' lesson: its final attendance and its counters, as signals."""
        svc = self.ctx.service(ClassTablets)
        if svc is None:
            return []
        out: list[tuple[str, dict[str, Any]]] = []
        try:
            if (att := svc.end_lesson(lesson_id)) is not None and (sig := to_signal(att)):
                out.append(sig)
            if (res := svc.lesson_tally(lesson_id)) is not None:
                out.append(("tally", {k: res.get(k) for k in
                                      ("tablets_active", "checkins", "answers", "hands")}))
        except Exception:
            log.exception("tablets end_lesson/lesson_tally failed")
        return out
