"""Compute one LessonSummary from a lesson's stored signals (a pure function).

Signals carry ``at``: seconds on the lesson's own timeline (offset 0 = session start),
advanced by the monotonic clock, so durations are right even if the wall clock stepped.
The summary covers ``[begin, end]`` of that timeline.
"""

from __future__ import annotations

import math
import statistics
from datetime import datetime, timedelta
from typing import Any

from agent.events import (
    LessonAttendance,
    LessonEngagement,
    LessonLive,
    LessonPanel,
    LessonRecording,
    LessonSummary,
    LessonTablets,
    LiveOutage,
)
from agent.lessons.rollup import homework_usage
from agent.lessons.rule import Rule
from agent.lessons.store import LessonRow

Signal = tuple[float, str, dict[str, Any]]


def _union(intervals: list[tuple[float, float]]) -> float:
    total, cur_a, cur_b = 0.0, None, None
    for a, b in sorted(intervals):
        if cur_b is None or a > cur_b:
            if cur_b is not None:
                total += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    if cur_b is not None:
        total += cur_b - cur_a
    return total


def _clip(a: float, b: float, lo: float, hi: float) -> tuple[float, float] | None:
    a, b = max(a, lo), min(b, hi)
    return (a, b) if b > a else None


def _minutes(seconds: float) -> float:
    return round(seconds / 60.0, 2)


def panel_usage(signals: list[Signal], begin: float, end: float) -> LessonPanel:
    """Each panel's state holds from one signal to its next (or the end)."""
    by_dev: dict[str, list[tuple[float, bool, str | None]]] = {}
    for at, kind, d in signals:
        if kind == "panel":
            by_dev.setdefault(d["dev"], []).append((at, bool(d["on"]), d.get("input")))
    on_intervals: list[tuple[float, float]] = []
    by_input: dict[str, float] = {}
    for changes in by_dev.values():
        changes.sort(key=lambda c: c[0])
        for i, (at, on, inp) in enumerate(changes):
            nxt = changes[i + 1][0] if i + 1 < len(changes) else end
            span = _clip(at, nxt, begin, end) if on else None
            if span:
                on_intervals.append(span)
                key = inp or "unknown"
                by_input[key] = by_input.get(key, 0.0) + span[1] - span[0]
    on_s = _union(on_intervals)
    length = end - begin
    return LessonPanel(
        on_minutes=_minutes(on_s),
        on_ratio=round(min(1.0, on_s / length), 3) if length > 0 else 0.0,
        minutes_by_input={k: _minutes(v) for k, v in sorted(by_input.items()) if v > 0},
    )


def recording_usage(
    signals: list[Signal],
    begin: float,
    end: float,
    counted: tuple[float, float] | None = None,
) -> LessonRecording:
    """A recording runs from its start signal to its end signal, or to an agent gap (the
    recorder lives in this process: it stopped when the agent did), or to the end.
    ``counted``: the lesson proper (scheduled start to end + extensions): only minutes
    recorded inside it count, so pre-/post-roll never inflate ``minutes``."""
    if counted is not None:
        begin, end = max(begin, counted[0]), min(end, counted[1])
    open_at: dict[str, float] = {}
    intervals: list[tuple[float, float]] = []
    ids: list[str] = []
    files = 0
    for at, kind, d in signals:
        if kind == "rec_start":
            open_at[d["id"]] = at
            if d["id"] not in ids:
                ids.append(d["id"])
        elif kind == "rec_end":
            start = open_at.pop(d["id"], None)
            if start is None and d.get("duration_s"):
                # started before the lesson: count the part inside it
                start = at - float(d["duration_s"])
            if start is not None and (span := _clip(start, at, begin, end)):
                intervals.append(span)
                if d["id"] not in ids:
                    ids.append(d["id"])
            files += int(d.get("files") or 0)
        elif kind == "gap":
            for rid, start in list(open_at.items()):
                if span := _clip(start, float(d["from"]), begin, end):
                    intervals.append(span)
                del open_at[rid]
    for start in open_at.values():
        if span := _clip(start, end, begin, end):
            intervals.append(span)
    marks: dict[str, tuple[bool, bool]] = {}  # recording id -> (showcase, quality), last wins
    for _at, kind, d in signals:
        if kind == "mark":
            marks[d["id"]] = (bool(d.get("showcase")), bool(d.get("quality")))
            if d["id"] not in ids:
                ids.append(d["id"])  # kept (e.g. after a restart) though its start was lost
    showcase = [r for r in ids if marks.get(r, (False, False))[0]]
    quality = [r for r in showcase if marks[r][1]]
    return LessonRecording(minutes=_minutes(_union(intervals)), recordings=ids, files=files,
                           showcase=bool(showcase), quality=bool(quality),
                           showcase_recordings=showcase, quality_recordings=quality)


def homework(signals: list[Signal], roster_size: int | None, class_id: str
             ) -> tuple[int, int, list[Any]]:
    """(assignments, submissions, per class and subject) of the tablet homework records
    made during the lesson (the lesson's roster size stands in for its own class)."""
    rows = [d for _at, kind, d in signals if kind == "hw"]
    submitted: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    for r in rows:
        if r.get("a") == "submitted" and (r.get("aid"), r.get("st")) not in seen:
            seen.add((r.get("aid"), r.get("st")))
            submitted[str(r.get("aid"))] = submitted.get(str(r.get("aid")), 0) + 1
    hw = homework_usage(rows, submitted, lambda c: roster_size if c == class_id else None)
    return sum(h.assignments for h in hw), sum(h.submissions for h in hw), hw


def _intersect(a: list[tuple[float, float]], b: list[tuple[float, float]]
               ) -> list[tuple[float, float]]:
    return [span for x0, x1 in a for y0, y1 in b if (span := _clip(x0, x1, y0, y1))]


def live_usage(signals: list[Signal], begin: float, end: float, origin: datetime,
               min_minutes: float = 20.0) -> LessonLive:
    """Live from each start signal to its end (or an agent gap, or the lesson's end),
    minus its outages; outages from the end signal's wall times when it has them, else
    from the outage/back signals."""
    open_at: dict[str, float] = {}
    live: list[tuple[float, float]] = []
    down: list[tuple[float, float, str]] = []
    pending: dict[str, tuple[float, str]] = {}  # outage signals of a live still running
    host = ""
    for at, kind, d in signals:
        lid = d.get("id", "")
        if kind == "live_start":
            open_at[lid] = at
            host = d.get("host") or host
        elif kind == "live_out" and lid in open_at:
            pending.setdefault(lid, (at, d.get("reason") or ""))
        elif kind == "live_back" and lid in pending:
            a, why = pending.pop(lid)
            down.append((a, at, why))
        elif kind == "live_end":
            start = open_at.pop(lid, None)
            if start is None:
                continue
            live.append((start, at))
            listed = d.get("outages")
            if listed:  # exact times: replace what the outage signals said
                down = [x for x in down if not start <= x[0] <= at]
                for a_iso, b_iso, why in listed:
                    a = (datetime.fromisoformat(a_iso) - origin).total_seconds()
                    b = ((datetime.fromisoformat(b_iso) - origin).total_seconds()
                         if b_iso else at)
                    down.append((max(a, start), min(b, at), why))
            elif lid in pending:
                a, why = pending.pop(lid)
                down.append((a, at, why))
            pending.pop(lid, None)
        elif kind == "gap":
            for lid2, start in list(open_at.items()):
                live.append((start, float(d["from"])))
                del open_at[lid2]
    for lid, start in open_at.items():
        live.append((start, end))
        if lid in pending:
            a, why = pending[lid]
            down.append((a, end, why))
    live = [s for a, b in live if (s := _clip(a, b, begin, end))]
    spans = [(a, b) for a, b, _ in down if b > a]
    lost = _union(_intersect(live, spans))
    minutes = _minutes(max(0.0, _union(live) - lost))
    outages = []
    for a, b, why in sorted(down):
        if (span := _clip(a, b, begin, end)) and any(_clip(*span, x0, x1) for x0, x1 in live):
            outages.append(LiveOutage(start=origin + timedelta(seconds=span[0]),
                                      end=origin + timedelta(seconds=span[1]), reason=why))
    return LessonLive(minutes=minutes, outages=outages, url_host=host,
                      counted=bool(live) and minutes >= min_minutes)


def tablet_usage(signals: list[Signal]) -> LessonTablets:
    """The tablet service's own counters when it gave them at the end (its dedupe rules:
    one check-in per student, a changed answer is not a second answer); otherwise counted
    here from the interaction events."""
    tally = next((d for _a, k, d in reversed(signals) if k == "tally"), None)
    if tally is not None:
        return LessonTablets(
            active=int(tally.get("tablets_active") or 0),
            checkins=int(tally.get("checkins") or 0),
            answers=int(tally.get("answers") or 0),
            hand_raises=int(tally.get("hands") or 0),
        )
    devices: set[str] = set()
    checked_in: set[str] = set()
    answers = hands = 0
    for _at, kind, d in signals:
        if kind != "ix":
            continue
        if d.get("dev"):
            devices.add(d["dev"])
        k = d.get("k")
        if k == "checkin":
            checked_in.add(d.get("st") or d.get("dev") or "")
        elif k == "answer":
            answers += 1
        elif k == "hand" and d.get("state") in (None, "raise", "up"):
            hands += 1
    return LessonTablets(
        active=len(devices), checkins=len(checked_in), answers=answers, hand_raises=hands
    )


def attendance(
    signals: list[Signal],
    lesson_id: str,
    roster_size: int | None,
    late_at: float,
) -> LessonAttendance:
    """The tablet service's own attendance for this lesson when it sent one (last wins,
    a final one over an interim one); otherwise counted from check-ins here."""
    tally = None
    for _at, kind, d in signals:
        if kind == "att" and d.get("lesson") in (lesson_id, "", None):
            if tally is None or d.get("final") or not tally.get("final"):
                tally = d
    heads_med = [d["hc_med"] for _a, k, d in signals if k == "eng" and d.get("hc_med") is not None]
    heads_max = [d["hc_max"] for _a, k, d in signals if k == "eng" and d.get("hc_max") is not None]
    median = round(float(statistics.median(heads_med)), 1) if heads_med else None
    peak = int(max(heads_max)) if heads_max else None
    if tally is not None:
        if peak is None and tally.get("head_count") is not None:
            peak = int(tally["head_count"])
        enrolled = tally.get("enrolled") or roster_size
        present, late = int(tally.get("present") or 0), int(tally.get("late") or 0)
        return LessonAttendance(
            roster_size=enrolled or None,
            present=present,
            late=late,
            absent=max(0, enrolled - present - late) if enrolled else None,
            head_count_median=median,
            head_count_max=peak,
        )
    first: dict[str, tuple[float, bool | None]] = {}
    for at, kind, d in signals:
        if kind == "ix" and d.get("k") == "checkin":
            who = d.get("st") or d.get("dev") or ""
            if who not in first:
                first[who] = (at, d.get("late"))
    late = sum(1 for at, flag in first.values() if (flag if flag is not None else at > late_at))
    present = len(first) - late  # on time; present + late + absent = roster
    return LessonAttendance(
        roster_size=roster_size,
        present=present,
        late=late,
        absent=max(0, roster_size - present - late) if roster_size else None,
        head_count_median=median,
        head_count_max=peak,
    )


def engagement(signals: list[Signal], begin: float, end: float) -> LessonEngagement:
    n = max(0, math.ceil(round((end - begin) / 60.0, 6)))
    buckets: list[list[float]] = [[] for _ in range(n)]
    rates: list[float] = []
    for at, kind, d in signals:
        if kind != "eng" or d.get("up") is None:
            continue
        if not begin <= at <= end:
            continue
        rates.append(float(d["up"]))
        if n:
            buckets[min(n - 1, int((at - begin) // 60))].append(float(d["up"]))
    return LessonEngagement(
        mean_head_up_rate=round(statistics.fmean(rates), 3) if rates else None,
        timeline=[round(statistics.fmean(b), 3) if b else None for b in buckets],
    )


def rule_values(s: LessonSummary) -> dict[str, Any]:
    t, a = s.tablets, s.attendance
    return {
        "minutes": s.minutes,
        "panel_on_minutes": s.panel.on_minutes,
        "panel_on_ratio": s.panel.on_ratio,
        "recorded": s.recording.minutes > 0 or bool(s.recording.recordings),
        "recorded_minutes": s.recording.minutes,
        "recordings": len(s.recording.recordings),
        "live_minutes": s.live.minutes,
        "live": s.live.counted,
        "tablets_used": (t.checkins + t.answers + t.hand_raises) > 0,
        "tablets_active": t.active,
        "checkins": t.checkins,
        "answers": t.answers,
        "hand_raises": t.hand_raises,
        "present": a.present,
        "late": a.late,
        "roster_size": a.roster_size,
        "head_count_max": a.head_count_max,
        "mean_head_up_rate": s.engagement.mean_head_up_rate,
        "scheduled": s.kind == "scheduled",
        "class_minutes": s.class_minutes,
        "assignments": t.assignments,
        "submissions": t.submissions,
    }


def summarize(
    row: LessonRow,
    signals: list[Signal],
    end: float,
    ended_by: str,
    rule: Rule,
    rule_text: str,
    roster_size: int | None,
    late_after_s: float,
    live_min_minutes: float = 20.0,
) -> LessonSummary:
    begin = row.begin_s
    end = max(end, begin)
    if row.kind == "scheduled" and row.scheduled_start and row.scheduled_end:
        planned = (row.scheduled_end - row.scheduled_start).total_seconds()
        counted = (row.lesson_start_s, row.lesson_start_s + planned + row.extend_s)
        class_minutes = _minutes(planned)
    else:  # ad-hoc: no roll, what was observed is the lesson
        counted, class_minutes = None, _minutes(end - begin)
    assignments, submissions, hw = homework(signals, roster_size, row.class_id)
    s = LessonSummary(
        ts=row.origin + timedelta(seconds=end),
        lesson_id=row.lesson_id,
        kind=row.kind,  # type: ignore[arg-type]
        date=row.date,
        period=row.period,
        subject=row.subject,
        class_id=row.class_id,
        teacher=row.teacher,
        title=row.title,
        scheduled_start=row.scheduled_start,
        scheduled_end=row.scheduled_end,
        start=row.origin + timedelta(seconds=begin),
        end=row.origin + timedelta(seconds=end),
        minutes=_minutes(end - begin),
        extended_min=round(row.extend_s / 60),
        ended_by=ended_by,
        restarts=row.restarts,
        panel=panel_usage(signals, begin, end),
        recording=recording_usage(signals, begin, end, counted),
        live=live_usage(signals, begin, end, row.origin, live_min_minutes),
        tablets=tablet_usage(signals),
        attendance=attendance(
            signals, row.lesson_id, roster_size, row.lesson_start_s + late_after_s
        ),
        engagement=engagement(signals, begin, end),
        smart_use_rule=rule_text,
        class_minutes=class_minutes,
        homework=hw,
    )
    s.tablets.assignments, s.tablets.submissions = assignments, submissions
    s.smart_classroom_use = rule(rule_values(s))
    return s
