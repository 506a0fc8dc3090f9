"""Aggregation: per-frame results -> windows (EngagementWindow) and a per-minute timeline.

Only counts enter here; a window holds a few numbers per analysed frame and is dropped
once it is published.
"""

from __future__ import annotations

import statistics
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agent.events import EngagementWindow


@dataclass
class _Sample:
    faces: int
    head_up_rate: float | None
    hands: int | None


@dataclass
class WindowAggregator:
    camera_id: str
    samples: list[_Sample] = field(default_factory=list)
    start: datetime | None = None
    start_mono: float | None = None

    def add(self, now: datetime, mono: float, faces: int, head_up_rate: float | None,
            hands: int | None) -> None:
        if self.start is None:
            self.start, self.start_mono = now, mono
        self.samples.append(_Sample(faces, head_up_rate, hands))

    def close(self, now: datetime, mono: float, lesson_id: str | None,
              start: datetime | None = None, start_mono: float | None = None
              ) -> EngagementWindow | None:
        """The window's event (None if no frame was analysed) and a fresh start."""
        start = self.start or start
        start_mono = self.start_mono if self.start_mono is not None else start_mono
        samples, self.samples = self.samples, []
        self.start = self.start_mono = None
        if not samples or start is None:
            return None
        span = max(1e-6, mono - (start_mono if start_mono is not None else mono))
        faces = [s.faces for s in samples]
        rates = [s.head_up_rate for s in samples if s.head_up_rate is not None]
        hands = [s.hands for s in samples if s.hands is not None]
        return EngagementWindow(
            ts=now, camera_id=self.camera_id, window_start=start, window_end=now,
            lesson_id=lesson_id,
            head_count_median=float(statistics.median(faces)),
            head_count_max=max(faces),
            head_up_rate=round(statistics.fmean(rates), 4) if rates else None,
            hands_raised=int(statistics.median_high(hands)) if hands else None,
            hands_raised_max=max(hands) if hands else None,
            fps=round(len(samples) / span, 3),
            frames=len(samples),
        )


@dataclass
class Minute:
    start: datetime
    lesson_id: str | None
    windows: int = 0
    head_count: list[float] = field(default_factory=list)
    head_up: list[float] = field(default_factory=list)
    hands: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "minute": self.start.isoformat(),
            "lesson_id": self.lesson_id,
            "head_count": round(statistics.median(self.head_count), 1)
            if self.head_count else None,
            "head_up_rate": round(statistics.fmean(self.head_up), 3) if self.head_up else None,
            "hands_raised": max(self.hands) if self.hands else None,
            "windows": self.windows,
        }


class Timeline:
    """Per-minute numbers of the last ``keep_minutes`` minutes, from windows."""

    def __init__(self, keep_minutes: int = 300) -> None:
        self.keep = keep_minutes
        self.minutes: OrderedDict[datetime, Minute] = OrderedDict()

    def add(self, w: EngagementWindow) -> None:
        key = w.window_end.replace(second=0, microsecond=0)
        m = self.minutes.get(key)
        if m is None:
            m = self.minutes[key] = Minute(key, w.lesson_id)
            while len(self.minutes) > self.keep:
                self.minutes.popitem(last=False)
        m.windows += 1
        m.lesson_id = m.lesson_id or w.lesson_id
        m.head_count.append(w.head_count_median)
        if w.head_up_rate is not None:
            m.head_up.append(w.head_up_rate)
        if w.hands_raised is not None:
            m.hands.append(w.hands_raised)

    def query(self, t0: datetime | None = None, t1: datetime | None = None,
              lesson_id: str | None = None) -> list[dict[str, Any]]:
        """Minutes whose start lies in [t0, t1) (and of ``lesson_id`` if given)."""
        out = []
        for start, m in self.minutes.items():
            if t0 is not None and start < t0.replace(second=0, microsecond=0):
                continue
            if t1 is not None and start >= t1:
                continue
            if lesson_id is not None and m.lesson_id != lesson_id:
                continue
            out.append(m.to_dict())
        return out

    def lesson_minutes(self, lesson_id: str, start: datetime, minutes: int
                       ) -> list[float | None]:
        """Mean head-up rate per lesson minute (index 0 = the minute ``start`` is in)."""
        base = start.replace(second=0, microsecond=0)
        out: list[float | None] = []
        for i in range(minutes):
            m = self.minutes.get(base + timedelta(minutes=i))
            if m is None or m.lesson_id != lesson_id or not m.head_up:
                out.append(None)
            else:
                out.append(round(statistics.fmean(m.head_up), 3))
        return out
